from __future__ import annotations

import langchain_daytona_exec as pkg

DESIGN_NAMES = {
    "LocalBackend",
    "default_backend",
    "SandboxPool",
    "DaytonaToolkit",
    "DaytonaPythonTool",
    "DaytonaShellTool",
    "DaytonaReadFileTool",
    "DaytonaWriteFileTool",
    "DaytonaListFilesTool",
    "DaytonaDataAnalysisTool",
    "ExecutionResult",
    "CommandResult",
    "FileInfo",
    "Chart",
    "SandboxError",
    "SandboxTimeoutError",
    "SandboxLostError",
    "IsolationUnavailableError",
    "PoolExhaustedError",
}


def test_all_is_sorted_and_complete() -> None:
    assert pkg.__all__ == sorted(pkg.__all__)
    assert all(hasattr(pkg, name) for name in pkg.__all__)


def test_design_names_are_exported() -> None:
    assert set(pkg.__all__) >= DESIGN_NAMES


def test_every_error_derives_from_sandbox_error() -> None:
    exported = [getattr(pkg, n) for n in pkg.__all__]
    errors = [e for e in exported if isinstance(e, type) and issubclass(e, BaseException)]
    assert errors and all(issubclass(e, pkg.SandboxError) for e in errors)
