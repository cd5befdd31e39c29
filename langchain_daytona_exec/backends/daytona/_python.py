"""What we send to Daytona's interpreter around the user's code, and its parsing.

Daytona's ``code_interpreter`` streams stdout, stderr and errors over a websocket,
but reports neither the value of the last expression nor matplotlib figures. So
each call sends a small program that, **inside the same websocket exchange**:

1. loads the cell runner (:mod:`langchain_daytona_exec.backends.cellrunner`, the very source
   the local kernel imports) as the package ``_ldx_cellrunner``, unless the
   interpreter already holds this exact version;
2. calls ``cellrunner.remote.run_and_report``: the cell runs with the same rules as
   on the local backend, then one record line is printed for the host to strip.

A chart-free call costs exactly one websocket exchange; a record too big to print
inline is downloaded in one extra request. The runner's source (about 20 kB) travels
only while the host does not know the interpreter context to hold it; a context that
lost it answers "missing" without running anything, and the call is sent again with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_daytona_exec.backends import cellrunner
from langchain_daytona_exec.backends.cellrunner import remote, run
from langchain_daytona_exec.types import ExecutionError

__all__ = [
    "CHART_DIR",
    "ParsedRun",
    "build_call",
    "new_nonce",
    "node_error",
    "parse_output",
    "runner_sources",
]

CHART_DIR = "/tmp/.ldx-charts"
"""Folder inside the sandbox where records too big to print go; emptied at each call."""

PACKAGE = "_ldx_cellrunner"
"""The runner's package name inside the remote interpreter (out of the user's way)."""

MARKER = remote.MARKER

_LOADER = r"""
def __ldx_load(bundle, version):
    import base64, json, sys, types, zlib
    sources = json.loads(zlib.decompress(base64.b64decode(bundle)).decode("utf-8"))
    pkg = types.ModuleType(@PACKAGE@)
    pkg.__path__ = []
    pkg.__package__ = @PACKAGE@
    sys.modules[@PACKAGE@] = pkg
    exec(compile(sources["__init__"], "<ldx __init__>", "exec"), pkg.__dict__)
    for name in pkg.MODULES:
        mod = types.ModuleType(@PACKAGE@ + "." + name)
        mod.__package__ = @PACKAGE@
        sys.modules[mod.__name__] = mod
        exec(compile(sources[name], "<ldx %s>" % name, "exec"), mod.__dict__)
        setattr(pkg, name, mod)
    pkg.SOURCES = sources
    pkg.VERSION = version
__ldx_load(@BUNDLE@, @VERSION@)
del __ldx_load
""".replace("@PACKAGE@", repr(PACKAGE))


def runner_sources() -> dict[str, str]:
    """The runner's module sources, read from the files the local kernel imports."""
    return dict(_bundle()[2])


@lru_cache(maxsize=1)
def _bundle() -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(base64 zlib JSON of the sources, their version hash, the sources)."""
    folder = os.path.dirname(os.path.abspath(cellrunner.__file__))
    sources: dict[str, str] = {}
    for name in ("__init__", *cellrunner.MODULES):
        with open(os.path.join(folder, f"{name}.py"), encoding="utf-8") as f:
            sources[name] = f.read()
    raw = json.dumps(sources, sort_keys=True).encode("utf-8")
    packed = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    return packed, hashlib.sha256(raw).hexdigest()[:16], tuple(sources.items())


def new_nonce() -> str:
    """A fresh random nonce for one call's record."""
    return secrets.token_hex(8)


MISSING = {"missing_runner": True}
"""The record of a call sent without the runner to an interpreter that lacks it."""


def build_call(code: str, nonce: str, *, ship: bool = True) -> str:
    """The source sent to the interpreter for one call of ``code``.

    Args:
        code: The user's Python code.
        nonce: This call's nonce (see :func:`new_nonce`).
        ship: Include the runner's source (about 20 kB), loaded when the interpreter
            lacks this version. Without it, an interpreter that lacks the runner runs
            nothing and answers with the :data:`MISSING` record.
    """
    packed, version, _ = _bundle()
    check = f"getattr(__import__('sys').modules.get({PACKAGE!r}), 'VERSION', None) != {version!r}"
    run = (
        f"__import__('sys').modules[{PACKAGE!r}].remote.run_and_report(\n"
        f"    globals(), {code!r}, {nonce!r}, {CHART_DIR!r})\n"
    )
    if not ship:
        missing = MARKER + nonce + json.dumps(MISSING)
        return f"if {check}:\n    print({missing!r})\nelse:\n    {run}"
    loader = _LOADER.replace("@BUNDLE@", repr(packed)).replace("@VERSION@", repr(version))
    return f"if {check}:\n    exec({loader!r})\n{run}"


@dataclass
class ParsedRun:
    """The user-visible parts of one wrapped call.

    Attributes:
        stdout: Standard output without the record line.
        record: The runner's record, or ``None`` when missing (the call was
            interrupted or timed out) or when it must be downloaded first.
        spill_path: Where the record was written, when too big to print.
    """

    stdout: str
    record: dict[str, Any] | None = None
    spill_path: str | None = None

    @property
    def missing_runner(self) -> bool:
        """The call was sent without the runner, and the interpreter lacked it."""
        return self.record == MISSING

    @property
    def complete(self) -> bool:
        """The wrapper ran to its end (its record line was found)."""
        return self.record is not None or self.spill_path is not None


def parse_output(stdout: str, nonce: str) -> ParsedRun:
    """Split the record line of call ``nonce`` out of its stdout.

    Args:
        stdout: Everything the interpreter printed.
        nonce: The call's nonce.
    """
    tag = MARKER + nonce
    at = stdout.rfind(tag)
    if at < 0:
        return ParsedRun(stdout=stdout)
    end = stdout.find("\n", at)
    end = len(stdout) if end < 0 else end
    rest = stdout[:at] + stdout[end + 1 :]
    record = parse_record(stdout[at + len(tag) : end])
    if record is None:
        return ParsedRun(stdout=rest)
    spill = record.get("file")
    if isinstance(spill, str) and spill.startswith(CHART_DIR + "/"):
        return ParsedRun(stdout=rest, spill_path=spill)
    return ParsedRun(stdout=rest, record=record)


def parse_record(payload: str | bytes) -> dict[str, Any] | None:
    """The record's JSON object, or ``None`` when it is not one."""
    try:
        record = json.loads(payload)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def record_error(record: dict[str, Any]) -> ExecutionError | None:
    """The user's exception from a record."""
    err = record.get("error")
    if not isinstance(err, dict):
        return None
    return ExecutionError(str(err["name"]), str(err["value"]), str(err["traceback"]))


def node_error(output: str, exit_code: int) -> ExecutionError:
    """An :class:`ExecutionError` from the output of a failed JavaScript/TypeScript run."""
    err = run.node_error(output, exit_code)
    return ExecutionError(err["name"], err["value"], err["traceback"])
