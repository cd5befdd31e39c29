"""Each optional feature names its extra when a dependency is missing.

Every case runs in a fresh interpreter where the dependency is made unimportable
(``sys.modules[name] = None``), as if the extra were not installed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from langchain_daytona_exec._extras import require_extra
from langchain_daytona_exec.errors import MissingExtraError, SandboxError

EXTRA_PACKAGES = (
    "daytona",
    "starlette",
    "uvicorn",
    "wsproto",
    "langgraph",
    "langchain_openai",
    "rich",
)
"""Top-level modules installed only by the daytona, emulator and agent extras."""


def _run(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        ("daytona", "from langchain_daytona_exec import DaytonaBackend", "daytona"),
        ("starlette", "import langchain_daytona_exec.emulator", "emulator"),
        ("wsproto", "import langchain_daytona_exec.emulator", "emulator"),
        ("langgraph", "from langchain_daytona_exec import create_code_interpreter_agent", "agent"),
        ("rich", "import langchain_daytona_exec.agent.console", "agent"),
        ("langchain_openai", "import langchain_daytona_exec.agent.console", "agent"),
    ],
)
def test_a_missing_dependency_names_its_extra(blocked: str, statement: str, extra: str) -> None:
    code = f"""
from langchain_daytona_exec.errors import MissingExtraError
try:
    {statement}
except MissingExtraError as exc:
    assert isinstance(exc, ImportError)
    print(exc.extra, exc.missing, exc)
"""
    out = _run((blocked,), code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{extra} ('{blocked}',)"), out.stdout
    assert f"pip install 'langchain-daytona-exec[{extra}]'" in out.stdout


def test_local_sandboxes_and_tools_need_no_extra() -> None:
    code = """
import langchain_daytona_exec as pkg
from langchain_daytona_exec import LocalBackend, SandboxPool, DaytonaToolkit, default_backend
from langchain_daytona_exec.tools import DaytonaPythonTool
print(len(DaytonaToolkit(pool=SandboxPool(LocalBackend())).get_tools()))
"""
    out = _run(EXTRA_PACKAGES, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"  # the default toolkit: no data_analysis


@pytest.mark.parametrize(("command", "extra"), [("gc", "daytona"), ("emulator", "emulator")])
def test_the_cli_reports_the_extra_to_install(command: str, extra: str) -> None:
    code = (
        "import os\nos.environ['DAYTONA_API_KEY'] = 'k'  # gc cleans Daytona only with a key\n"
        f"from langchain_daytona_exec.cli import main\nsys.exit(main([{command!r}]))"
    )
    out = _run(EXTRA_PACKAGES, code)
    assert out.returncode == 3
    assert f"pip install 'langchain-daytona-exec[{extra}]'" in out.stderr


def test_require_extra_passes_when_installed_and_lists_every_missing_module() -> None:
    require_extra("dev", "json", "pytest", feature="this test")
    with pytest.raises(MissingExtraError) as info:
        require_extra("x", "json", "no_such_mod_a", "no_such_pkg.sub", feature="Thing")
    assert isinstance(info.value, SandboxError)
    assert info.value.missing == ("no_such_mod_a", "no_such_pkg.sub")
    assert str(info.value) == (
        "Thing needs no_such_mod_a, no_such_pkg.sub (not installed): "
        "pip install 'langchain-daytona-exec[x]'"
    )
