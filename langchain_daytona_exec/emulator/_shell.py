"""Running commands in an emulated sandbox from a route handler (off the event loop)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool

from langchain_daytona_exec.emulator._state import EmuSandbox
from langchain_daytona_exec.types import CommandResult

__all__ = ["EMU_DIR", "env_for", "sh"]

EMU_DIR = "/tmp/.daytona-emulator"
"""Folder inside each sandbox for the emulator's helper files (sessions, code-run)."""

HELPER_TIMEOUT_S = 30.0
"""Timeout of the emulator's own short helper commands."""


def env_for(sb: EmuSandbox, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables every process started for ``sb`` gets: ``update_env``'s, then ``extra``."""
    env = dict(sb.env_updates)
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


async def sh(
    sb: EmuSandbox,
    script: str,
    *,
    cwd: str | None = "/",
    env: Mapping[str, str] | None = None,
    timeout: float = HELPER_TIMEOUT_S,
) -> CommandResult:
    """Run ``script`` with ``/bin/sh`` in the sandbox, in a worker thread."""
    return await run_in_threadpool(sb.local.exec, script, cwd, env_for(sb, env), timeout)
