"""Safe, stateful, fast code execution for LangChain and LangGraph agents.

Sandboxes run on this machine (:class:`LocalBackend`, bubblewrap) or on Daytona.

Every export is imported on first access (PEP 562): ``import langchain_daytona_exec``
costs almost nothing, ``from langchain_daytona_exec import LocalBackend`` imports the
local engine only (no LangChain), and the tools pull in ``langchain_core`` when first
named.

Private modules are named ``_*.py``; see :mod:`langchain_daytona_exec.backends` for
the in-sandbox exceptions.
"""

from __future__ import annotations

TYPE_CHECKING = False
"""Not ``typing.TYPE_CHECKING``: importing ``typing`` (and ``re``, ``enum`` with it) would
be most of this module's cost; type checkers treat any ``TYPE_CHECKING`` as true."""
if TYPE_CHECKING:
    from langchain_daytona_exec.agent import create_code_interpreter_agent
    from langchain_daytona_exec.backends.daytona import DaytonaBackend, DaytonaSandbox, RetryPolicy
    from langchain_daytona_exec.backends.local import (
        EgressLimits,
        LocalBackend,
        LocalLimits,
        LocalSandbox,
    )
    from langchain_daytona_exec.environment import Environment
    from langchain_daytona_exec.errors import (
        EnvironmentBuildError,
        IsolationUnavailableError,
        MissingExtraError,
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
    from langchain_daytona_exec.pool import LossReason, PooledSandbox, SandboxPool, default_backend
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
        DisplayOutput,
        ExecutionError,
        ExecutionResult,
        FileInfo,
        PoolStats,
    )

__version__ = "0.1.0"

_ERRORS = "langchain_daytona_exec.errors"
_TOOLS = "langchain_daytona_exec.tools"
_TYPES = "langchain_daytona_exec.types"
_POOL = "langchain_daytona_exec.pool"
_LOCAL = "langchain_daytona_exec.backends.local"
_DAYTONA = "langchain_daytona_exec.backends.daytona"

_EXPORTS: dict[str, str] = {
    "Chart": _TYPES,
    "CommandResult": _TYPES,
    "DaytonaBackend": _DAYTONA,
    "DaytonaDataAnalysisTool": _TOOLS,
    "DaytonaListFilesTool": _TOOLS,
    "DaytonaPythonTool": _TOOLS,
    "DaytonaReadFileTool": _TOOLS,
    "DaytonaSandbox": _DAYTONA,
    "DaytonaShellTool": _TOOLS,
    "DaytonaToolkit": _TOOLS,
    "DaytonaWriteFileTool": _TOOLS,
    "DisplayOutput": _TYPES,
    "EgressLimits": _LOCAL,
    "Environment": "langchain_daytona_exec.environment",
    "EnvironmentBuildError": _ERRORS,
    "ExecutionError": _TYPES,
    "ExecutionResult": _TYPES,
    "FileInfo": _TYPES,
    "IsolationUnavailableError": _ERRORS,
    "LocalBackend": _LOCAL,
    "LocalLimits": _LOCAL,
    "LocalSandbox": _LOCAL,
    "LossReason": _POOL,
    "MissingExtraError": _ERRORS,
    "NetworkPolicyError": _ERRORS,
    "PoolError": _ERRORS,
    "PoolExhaustedError": _ERRORS,
    "PoolStats": _TYPES,
    "PooledSandbox": _POOL,
    "ProviderError": _ERRORS,
    "ProviderRateLimitError": _ERRORS,
    "RetryPolicy": _DAYTONA,
    "Sandbox": "langchain_daytona_exec.sandbox",
    "SandboxBackend": "langchain_daytona_exec.sandbox",
    "SandboxClosedError": _ERRORS,
    "SandboxError": _ERRORS,
    "SandboxFileError": _ERRORS,
    "SandboxFileNotFoundError": _ERRORS,
    "SandboxFileTooLargeError": _ERRORS,
    "SandboxIsADirectoryError": _ERRORS,
    "SandboxLostError": _ERRORS,
    "SandboxPool": _POOL,
    "SandboxTimeoutError": _ERRORS,
    "UnsupportedLanguageError": _ERRORS,
    "create_code_interpreter_agent": "langchain_daytona_exec.agent",
    "default_backend": _POOL,
}
"""Each public name and the module that defines it, imported on first access: the tools
need LangChain (~0.5 s to import), the agent LangGraph, and the CLI's ``exec`` neither."""

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
    "DisplayOutput",
    "EgressLimits",
    "Environment",
    "EnvironmentBuildError",
    "ExecutionError",
    "ExecutionResult",
    "FileInfo",
    "IsolationUnavailableError",
    "LocalBackend",
    "LocalLimits",
    "LocalSandbox",
    "LossReason",
    "MissingExtraError",
    "NetworkPolicyError",
    "PoolError",
    "PoolExhaustedError",
    "PoolStats",
    "PooledSandbox",
    "ProviderError",
    "ProviderRateLimitError",
    "RetryPolicy",
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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
