"""``DaytonaToolkit``: all sandbox tools of one conversation, sharing one pool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field

from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools._base import SandboxTool
from langchain_daytona_exec.tools.data_analysis import DaytonaDataAnalysisTool
from langchain_daytona_exec.tools.files import (
    DaytonaListFilesTool,
    DaytonaReadFileTool,
    DaytonaWriteFileTool,
)
from langchain_daytona_exec.tools.python import DaytonaPythonTool
from langchain_daytona_exec.tools.shell import DaytonaShellTool

__all__ = ["DEFAULT_TOOLS", "DaytonaToolkit"]

_TOOLS: dict[str, type[SandboxTool]] = {
    "python": DaytonaPythonTool,
    "shell": DaytonaShellTool,
    "read_file": DaytonaReadFileTool,
    "write_file": DaytonaWriteFileTool,
    "list_files": DaytonaListFilesTool,
    "data_analysis": DaytonaDataAnalysisTool,
}

DEFAULT_TOOLS = ("python", "shell", "read_file", "write_file", "list_files")
"""Tools returned when ``include`` is not given (``data_analysis`` overlaps ``python``)."""


class DaytonaToolkit(BaseToolkit):
    """The sandbox tools, all leasing from one pool (one sandbox per ``thread_id``).

    Args:
        pool: The pool; ``None`` uses the process-wide default pool.
        include: Tool names to return, from ``python``, ``shell``, ``read_file``,
            ``write_file``, ``list_files`` and ``data_analysis``.
        max_output_chars: Output budget of every tool, in characters.
        timeout_s: Default per-call timeout of the code tools, in **seconds**.
        charts_as_images: Show charts to vision models as image blocks.

    Example:
        >>> tools = DaytonaToolkit(pool=SandboxPool()).get_tools()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: SandboxPool | None = Field(default=None, exclude=True)
    include: Sequence[str] = DEFAULT_TOOLS
    max_output_chars: int | None = None
    timeout_s: float | None = None
    charts_as_images: bool = False

    def get_tools(self) -> list[BaseTool]:
        """Build the tools (no sandbox is touched until the first call).

        Raises:
            ValueError: An unknown tool name in ``include``.
        """
        unknown = [n for n in self.include if n not in _TOOLS]
        if unknown:
            raise ValueError(f"unknown tools {unknown}; choose from {sorted(_TOOLS)}")
        tools: list[BaseTool] = []
        for name in self.include:
            cls = _TOOLS[name]
            kwargs: dict[str, Any] = {"pool": self.pool, "timeout_s": self.timeout_s}
            if self.max_output_chars is not None:
                kwargs["max_output_chars"] = self.max_output_chars
            if issubclass(cls, DaytonaPythonTool):
                kwargs["charts_as_images"] = self.charts_as_images
            tools.append(cls(**kwargs))
        return tools
