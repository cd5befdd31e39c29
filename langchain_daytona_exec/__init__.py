"""Safe, stateful, fast code execution for LangChain and LangGraph agents.

Sandboxes run on this machine (:class:`LocalBackend`, bubblewrap) or on Daytona.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_daytona_exec.backends.daytona import DaytonaBackend, DaytonaSandbox
from langchain_daytona_exec.backends.local import LocalBackend, LocalLimits, LocalSandbox
from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import (
    EnvironmentBuildError,
    IsolationUnavailableError,
    NetworkPolicyError,
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

if TYPE_CHECKING:
    from langchain_daytona_exec.agent import create_code_interpreter_agent

__version__ = "0.1.0"

_LAZY = {"create_code_interpreter_agent": "langchain_daytona_exec.agent"}
"""Names imported on first access: the agent pulls in LangGraph (~0.3 s), which the
tools and ``daytona-exec exec`` do not need."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Chart",
    "CommandResult",
    "DaytonaBackend",
    "DaytonaDataAnalysisTool",
    "DaytonaListFilesTool",
    "DaytonaPythonTool",
    "DaytonaReadFileTool",
    "DaytonaSandbox",
    "DaytonaShellTool",
    "DaytonaToolkit",
    "DaytonaWriteFileTool",
    "Environment",
    "EnvironmentBuildError",
    "ExecutionError",
    "ExecutionResult",
    "FileInfo",
    "IsolationUnavailableError",
    "LocalBackend",
    "LocalLimits",
    "LocalSandbox",
    "NetworkPolicyError",
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
    "create_code_interpreter_agent",
    "default_backend",
]
