"""The :class:`SandboxBackend` protocol, re-exported by :mod:`langchain_daytona_exec.sandbox`.

A module of its own so that ``typing`` (which ``Protocol`` needs) is imported only when
a backend is checked against it, not by every sandbox's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from langchain_daytona_exec.sandbox import Sandbox

__all__ = ["SandboxBackend"]


@runtime_checkable
class SandboxBackend(Protocol):
    """Creates sandboxes of one kind (local bubblewrap, Daytona...)."""

    #: ``"local"`` or ``"daytona"``.
    name: str

    def create(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        """Create and start a sandbox, ready for its first call.

        Args:
            labels: Labels to attach (ownership, thread key).
        """
        ...

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        """Async twin of :meth:`create`."""
        ...

    def find(self, labels: Mapping[str, str]) -> Sandbox | None:
        """Return an existing sandbox carrying all ``labels``, or ``None``.

        Backends whose sandboxes cannot outlive the process (local) return ``None``.
        """
        ...
