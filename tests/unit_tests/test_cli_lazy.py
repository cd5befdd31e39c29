"""The stand-in for a deferred standard module behaves as the module once it is used."""

from __future__ import annotations

import json
import subprocess
import sys

USE = """
import json, sys
from langchain_daytona_exec.cli._lazy import defer

defer(["inspect"])
import dataclasses  # imports inspect: gets the stand-in

deferred = "ast" not in sys.modules and "dis" not in sys.modules

@dataclasses.dataclass
class Point:  # no docstring: dataclasses calls inspect.signature for one
    x: int
    y: int = 0

import inspect
from inspect import isclass

print(json.dumps({
    "deferred": deferred,
    "doc": Point.__doc__,
    "isclass": isclass(Point) and inspect.isclass(Point),
    "signature": str(inspect.signature(Point)),
    "file": inspect.__file__.endswith("inspect.py"),
    "one_module": sys.modules["inspect"].getmodule is dataclasses.inspect.getmodule,
    "source": inspect.getsource(isclass).startswith("def isclass"),
}))
"""


def test_a_deferred_module_loads_on_first_use_and_then_is_the_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", USE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert seen == {
        "deferred": True,
        "doc": "Point(x: int, y: int = 0)",
        "isclass": True,
        "signature": "(x: int, y: int = 0) -> None",
        "file": True,
        "one_module": True,
        "source": True,
    }


def test_exec_loads_no_deferred_module_before_its_sandbox_starts() -> None:
    # What the console script imports for `exec` before the spawn, with its deferral.
    code = (
        "import sys, json\n"
        "from langchain_daytona_exec.cli._lazy import DEFERRED, defer\n"
        "defer(DEFERRED)\n"
        "import langchain_daytona_exec.cli\n"
        "from langchain_daytona_exec.cli._process import become_subreaper\n"
        "become_subreaper()\n"
        "from langchain_daytona_exec.backends.local import LocalBackend\n"
        "from langchain_daytona_exec.cli import _exec\n"
        "loaded = [n for n in DEFERRED if vars(sys.modules[n]).get('__spec__') is not None]\n"
        "print(json.dumps([loaded, sorted(sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded, modules = json.loads(out.stdout)
    assert loaded == []
    assert not {"ast", "dis", "tokenize"} & set(modules)
    assert {"dataclasses", "shutil", "subprocess"} <= set(modules)  # their importers ran
