"""Placeholder."""

from __future__ import annotations

from starlette.routing import BaseRoute

from langchain_daytona_exec.emulator._http import Guard

__all__ = ["routes"]


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module."""
    return []
