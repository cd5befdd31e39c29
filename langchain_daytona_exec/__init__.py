"""Safe, stateful, fast code execution for LangChain and LangGraph agents.

Sandboxes run on this machine (:class:`LocalBackend`, bubblewrap) or on Daytona.
"""

from __future__ import annotations

from langchain_daytona_exec.backends.local import LocalBackend, LocalLimits, LocalSandbox
from langchain_daytona_exec.errors import (
    IsolationUnavailableError,
    PoolError,
    PoolExhaustedError,
    ProviderError,
    ProviderRateLimitError,
    SandboxClosedError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxLostError,
    SandboxTimeoutError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.pool import PooledSandbox, SandboxPool, default_backend
from langchain_daytona_exec.sandbox import Sandbox, SandboxBackend
from langchain_daytona_exec.tools import (
    DaytonaDataAnalysisTool,
    DaytonaListFilesTool,
    DaytonaPythonTool,
    DaytonaReadFileTool,
    DaytonaShellTool,
    DaytonaToolkit,
    DaytonaWriteFileTool,
)
from langchain_daytona_exec.types import (
    Chart,
    CommandResult,
    ExecutionError,
    ExecutionResult,
    FileInfo,
    PoolStats,
)

__version__ = "0.1.0"

__all__ = [
    "Chart",
    "CommandResult",
    "DaytonaDataAnalysisTool",
    "DaytonaListFilesTool",
    "DaytonaPythonTool",
    "DaytonaReadFileTool",
    "DaytonaShellTool",
    "DaytonaToolkit",
    "DaytonaWriteFileTool",
    "ExecutionError",
    "ExecutionResult",
    "FileInfo",
    "IsolationUnavailableError",
    "LocalBackend",
    "LocalLimits",
    "LocalSandbox",
    "PoolError",
    "PoolExhaustedError",
    "PoolStats",
    "PooledSandbox",
    "ProviderError",
    "ProviderRateLimitError",
    "Sandbox",
    "SandboxBackend",
    "SandboxClosedError",
    "SandboxError",
    "SandboxFileError",
    "SandboxFileNotFoundError",
    "SandboxFileTooLargeError",
    "SandboxIsADirectoryError",
    "SandboxLostError",
    "SandboxPool",
    "SandboxTimeoutError",
    "UnsupportedLanguageError",
    "default_backend",
]
