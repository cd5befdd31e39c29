from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

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

HEAVY = ("langchain_core", "langchain_openai", "langgraph", "langsmith", "pydantic", "daytona")
"""Top-level packages the light entry points must not import (LangChain and the SDK)."""


def test_all_is_sorted_and_complete() -> None:
    assert pkg.__all__ == sorted(pkg.__all__)
    assert set(pkg._EXPORTS) == set(pkg.__all__)
    for name in pkg.__all__:  # every export resolves to the object its module defines
        assert getattr(pkg, name) is getattr(importlib.import_module(pkg._EXPORTS[name]), name)


def test_dir_lists_every_export() -> None:
    assert set(pkg.__all__) <= set(dir(pkg))


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = pkg.NoSuchThing  # type: ignore[attr-defined]


def test_design_names_are_exported() -> None:
    assert set(pkg.__all__) >= DESIGN_NAMES


def test_every_error_derives_from_sandbox_error() -> None:
    exported = [getattr(pkg, n) for n in pkg.__all__]
    errors = [e for e in exported if isinstance(e, type) and issubclass(e, BaseException)]
    assert errors and all(issubclass(e, pkg.SandboxError) for e in errors)


def _imported_after(statement: str) -> set[str]:
    """Top-level package names a fresh interpreter has imported after ``statement``."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.split(".")[0] for name in json.loads(out.stdout)}


@pytest.mark.parametrize(
    "statement",
    [
        "import langchain_daytona_exec",
        "import langchain_daytona_exec.errors",
        "from langchain_daytona_exec import LocalBackend, SandboxPool, ExecutionResult",
        "from langchain_daytona_exec import DaytonaBackend",
        "import langchain_daytona_exec.cli",
    ],
)
def test_light_entry_points_import_no_langchain(statement: str) -> None:
    heavy = _imported_after(statement) & set(HEAVY)
    assert not heavy, f"{statement!r} imported {sorted(heavy)}"


def test_the_tools_do_import_langchain() -> None:
    # The check above can fail: naming a tool does pull LangChain in.
    assert "langchain_core" in _imported_after("from langchain_daytona_exec import DaytonaToolkit")


EXEC_PATH_LAZY = ("logging", "secrets", "hmac", "hashlib", "ipaddress", "ctypes", "concurrent")
"""Standard modules the ``daytona-exec exec`` imports leave to first use (a few ms each)."""


def test_exec_path_imports_leave_rarely_used_modules_to_first_use() -> None:
    statement = (
        "import langchain_daytona_exec.cli\n"
        "from langchain_daytona_exec.backends.local import LocalBackend\n"
        "from langchain_daytona_exec.environment import Environment"
    )
    eager = _imported_after(statement) & set(EXEC_PATH_LAZY)
    assert not eager, f"the exec path imports {sorted(eager)} at start"
    # the check can fail: the tools' path does import them
    assert "logging" in _imported_after("from langchain_daytona_exec import DaytonaToolkit")
