"""``shell``: shell commands in the conversation's sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.tools._base import SandboxTool
from langchain_daytona_exec.tools._format import format_command, saved_artifacts
from langchain_daytona_exec.types import CommandResult

__all__ = ["DaytonaShellTool", "ShellInput"]


class ShellInput(BaseModel):
    """Arguments of the ``shell`` tool."""

    command: str = Field(description="A shell command line, run with /bin/sh -c.")
    timeout: float | None = Field(
        default=None, description="Optional time limit in seconds for this command."
    )


class DaytonaShellTool(SandboxTool):
    """Run a shell command in the conversation's sandbox (same files as ``python``).

    The artifact carries the exit code and whether the command timed out.
    """

    name: str = "shell"
    description: str = (
        "Run a shell command (/bin/sh -c) in the same isolated sandbox and working "
        "folder as the python tool. Returns the exit code, stdout and stderr. Commands "
        "left running in the background (cmd &) keep running. No network access."
    )
    args_schema: type[BaseModel] = ShellInput

    _kind: ClassVar[str] = "command"

    def _call(
        self, sb: Sandbox, command: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        return self._render(sb.exec(command, timeout=self._seconds(timeout)))

    async def _acall(
        self, sb: Sandbox, command: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        return self._render(await sb.aexec(command, timeout=self._seconds(timeout)))

    @staticmethod
    def _render(result: CommandResult) -> tuple[str, dict[str, Any]]:
        artifact: dict[str, Any] = {
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "duration_ms": round(result.duration_ms, 3),
            "saved_outputs": saved_artifacts(result.saved_outputs),
        }
        return format_command(result), artifact
