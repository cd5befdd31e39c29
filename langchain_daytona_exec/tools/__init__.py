"""LangChain tools over sandboxes: one sandbox per conversation (``thread_id``)."""

from __future__ import annotations

from langchain_daytona_exec.tools._base import (
    FALLBACK_KEY,
    LOSS_NOTICE_KEY,
    SandboxTool,
    default_pool,
)
from langchain_daytona_exec.tools.data_analysis import Dataset, DaytonaDataAnalysisTool
from langchain_daytona_exec.tools.files import (
    DaytonaListFilesTool,
    DaytonaReadFileTool,
    DaytonaWriteFileTool,
)
from langchain_daytona_exec.tools.python import DaytonaPythonTool
from langchain_daytona_exec.tools.shell import DaytonaShellTool
from langchain_daytona_exec.tools.toolkit import DaytonaToolkit

__all__ = [
    "FALLBACK_KEY",
    "LOSS_NOTICE_KEY",
    "Dataset",
    "DaytonaDataAnalysisTool",
    "DaytonaListFilesTool",
    "DaytonaPythonTool",
    "DaytonaReadFileTool",
    "DaytonaShellTool",
    "DaytonaToolkit",
    "DaytonaWriteFileTool",
    "SandboxTool",
    "default_pool",
]
