"""Our sandbox results and errors in Deep Agents' terms (pure functions, no I/O)."""

from __future__ import annotations

from typing import Final

from deepagents.backends.protocol import ExecuteResponse

from langchain_daytona_exec.errors import (
    PoolExhaustedError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxIsADirectoryError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.types import CommandResult

__all__ = [
    "MERGE_STDERR",
    "NO_TIMEOUT_CAP_S",
    "TIMEOUT_NOTICE",
    "check_path",
    "error_response",
    "explain",
    "file_error_code",
    "invalid_arguments",
    "to_response",
]

MERGE_STDERR: Final = "exec 2>&1; "
"""Prefix that makes the shell send stderr into stdout for the whole command.

Deep Agents wants one combined output. Merging at the source keeps lines in the
order they were written (appending stderr afterwards would move every error below
all the output); it sits on the command's first line so the shell's error messages
keep their line numbers, and an explicit ``2>/dev/null`` in the command still wins."""

NO_TIMEOUT_CAP_S: Final = 3600.0
"""What ``execute(timeout=0)`` ("no timeout, if the backend supports it") gets, in
**seconds**. Every command here runs with a deadline; an hour is Deep Agents' own
default ``max_execute_timeout``, the longest timeout its tool lets a model ask for."""

TIMEOUT_NOTICE: Final = (
    "\n[sandbox] The command timed out after {seconds:.0f} s and was killed; "
    "the output above is partial. Pass a larger timeout or run it in the background."
)
"""Appended to the output of a timed-out command (whose exit code is 124)."""


def check_path(path: str) -> str | None:
    """The protocol's error code for a path that cannot name a sandbox file, or None."""
    if not path.startswith("/") or "\0" in path:
        return "invalid_path"
    return None


def file_error_code(exc: SandboxError) -> str:
    """Map a sandbox error to a Deep Agents ``FileOperationError`` when one fits.

    Returns:
        ``file_not_found``, ``is_directory`` or ``permission_denied``; otherwise the
        error's own message (the protocol allows backend-specific strings).
    """
    if isinstance(exc, SandboxFileNotFoundError):
        return "file_not_found"
    if isinstance(exc, SandboxIsADirectoryError):
        return "is_directory"
    message = str(exc)
    if isinstance(exc, SandboxFileError) and "permission denied" in message.lower():
        return "permission_denied"
    return message or type(exc).__name__


def explain(exc: SandboxError) -> str:
    """An actionable sentence for the model about an error outside the command."""
    if isinstance(exc, SandboxLostError):
        return (
            f"[sandbox] The sandbox died during this call and was restarted; files in "
            f"the working folder may remain. Retry the call. ({exc})"
        )
    if isinstance(exc, SandboxTimeoutError):
        return f"[sandbox] Timed out: {exc}"
    if isinstance(exc, PoolExhaustedError):
        return f"[sandbox] No sandbox is free right now: {exc}"
    return f"[sandbox] {type(exc).__name__}: {exc}"


def to_response(result: CommandResult) -> ExecuteResponse:
    """One ``CommandResult`` as a Deep Agents ``ExecuteResponse``."""
    output = result.stdout
    if result.stderr:  # after MERGE_STDERR, only the engine's own notices land here
        if output and not output.endswith("\n"):
            output += "\n"
        output += result.stderr
    if result.timed_out:
        output += TIMEOUT_NOTICE.format(seconds=result.duration_ms / 1000)
    return ExecuteResponse(
        output=output,
        exit_code=result.exit_code,
        truncated=bool(result.stdout_truncated_bytes or result.stderr_truncated_bytes),
    )


def invalid_arguments(exc: Exception) -> ExecuteResponse:
    """An ``ExecuteResponse`` for a call refused before anything was sent."""
    return ExecuteResponse(output=f"[sandbox] the command did not run: {exc}", exit_code=None)


def error_response(exc: SandboxError) -> ExecuteResponse:
    """An ``ExecuteResponse`` for a command that may not have run (exit code unknown)."""
    return ExecuteResponse(output=explain(exc), exit_code=None)
