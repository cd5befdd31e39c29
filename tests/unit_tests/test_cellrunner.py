"""The cell runner on its own (no sandbox), and the Daytona call that ships it."""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_daytona_exec.backends import cellrunner
from langchain_daytona_exec.backends.cellrunner import remote, run
from langchain_daytona_exec.backends.daytona import _python as python
from langchain_daytona_exec.backends.local import _isolation as isolation


@pytest.fixture
def runner() -> Iterator[run.CellRunner]:
    cell_runner = run.CellRunner({})
    try:
        yield cell_runner
    finally:
        cell_runner.close()
    assert not hasattr(builtins, "display")


def test_last_expression_is_the_result_and_underscore_holds_it(runner: run.CellRunner) -> None:
    assert runner.run("x = 41\nx + 1") == {"result": "42", "error": None}
    assert runner.ns["_"] == 42 and runner.ns["x"] == 41
    assert runner.run("x = 1")["result"] is None
    assert runner.run("None")["result"] is None


def test_a_semicolon_silences_the_last_expression(runner: run.CellRunner) -> None:
    assert runner.run("1 + 1;")["result"] is None
    assert runner.run("x = [1]\nx.append(2);  # comment")["result"] is None
    assert runner.run("'a;b'")["result"] == "'a;b'"
    assert runner.ns["x"] == [1, 2]


def test_top_level_await_runs_to_completion(runner: run.CellRunner) -> None:
    record = runner.run("import asyncio\nawait asyncio.sleep(0)\nawait asyncio.sleep(0, 'done')")
    assert record == {"result": "'done'", "error": None}


def test_traceback_shows_only_the_users_cells_with_their_source(runner: run.CellRunner) -> None:
    runner.run("def f():\n    return 1 / 0")
    error = runner.run("f()")["error"]
    assert error["name"] == "ZeroDivisionError" and error["value"] == "division by zero"
    assert error["traceback"].startswith("Traceback")
    assert '"<cell-1>", line 2' in error["traceback"] and "return 1 / 0" in error["traceback"]
    assert "run.py" not in error["traceback"]  # the runner's own frames are trimmed


def test_syntax_error_and_system_exit_are_reported_not_raised(runner: run.CellRunner) -> None:
    assert runner.run("def (")["error"]["name"] == "SyntaxError"
    assert runner.run("raise SystemExit(3)")["error"]["name"] == "SystemExit"


def test_long_result_is_cut_with_a_notice(runner: run.CellRunner) -> None:
    result = runner.run(f"'a' * {run.RESULT_MAX_CHARS + 50}")["result"]
    assert result.endswith("[52 characters of the result cut]"), result[-80:]
    assert len(result) < run.RESULT_MAX_CHARS + 60


def test_only_the_last_sources_are_kept(runner: run.CellRunner) -> None:
    for _ in range(run.SOURCES_KEPT + 5):
        runner.run("pass")
    assert len(runner.sources) == run.SOURCES_KEPT and "<cell-6>" in runner.sources


def test_node_error_line() -> None:
    err = run.node_error("at x\nTypeError: x is not a function\n    at y", 1)
    assert (err["name"], err["value"]) == ("TypeError", "x is not a function")
    assert run.node_error("segfault", 139) == {
        "name": "Error",
        "value": "exit status 139",
        "traceback": "segfault",
    }


def _shipped_sources(call: str) -> dict[str, str]:
    packed = re.search(r"__ldx_load\('([A-Za-z0-9+/=]+)'", call.encode().decode("unicode_escape"))
    assert packed is not None
    sources: dict[str, str] = json.loads(zlib.decompress(base64.b64decode(packed.group(1))))
    return sources


def test_daytona_ships_the_bytes_the_local_kernel_mounts() -> None:
    shipped = _shipped_sources(python.build_call("1", python.new_nonce()))
    mounted = {
        inside.removeprefix("cellrunner/").removesuffix(".py"): Path(host).read_text("utf-8")
        for host, inside in isolation.KERNEL_SOURCES
        if inside.startswith("cellrunner/")
    }
    every_module = {p.stem for p in Path(cellrunner.__file__).parent.glob("*.py")}
    assert set(shipped) == set(mounted) == every_module
    assert shipped == mounted


def _call(ns: dict[str, Any], code: str) -> python.ParsedRun:
    nonce = python.new_nonce()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(python.build_call(code, nonce), "<call>", "exec"), ns)
    return python.parse_output(buf.getvalue(), nonce)


def test_the_wrapper_loads_the_runner_once_and_keeps_the_session(tmp_path: Path) -> None:
    import sys

    sys.modules.pop(python.PACKAGE, None)
    try:
        ns: dict[str, Any] = {"__name__": "__main__"}
        first = _call(ns, "x = 20\nprint('hi')\nx")
        module = sys.modules[python.PACKAGE]
        second = _call(ns, "x * 2 + 2")
        assert sys.modules[python.PACKAGE] is module  # not loaded again
        assert first.stdout == "hi\n" and first.record == {
            "result": "20",
            "error": None,
            "outputs": [{"data": {"text/plain": "20"}, "main": True}],
            "charts": [],
        }
        assert second.record is not None and second.record["result"] == "42"
        assert ns[remote.RUNNER_NAME].cell == 2
    finally:
        if remote.RUNNER_NAME in ns:
            ns[remote.RUNNER_NAME].close()
        sys.modules.pop(python.PACKAGE, None)
        for name in list(sys.modules):
            if name.startswith(python.PACKAGE + "."):
                del sys.modules[name]


def test_a_forged_or_missing_record_is_not_trusted() -> None:
    nonce = python.new_nonce()
    forged = f'{python.MARKER}{python.new_nonce()}{{"result": "x"}}\nhello\n'
    parsed = python.parse_output(forged, nonce)
    assert not parsed.complete and parsed.record is None
    broken = python.parse_output(f"{python.MARKER}{nonce}not json\n", nonce)
    assert not broken.complete and broken.stdout == ""
    outside = python.parse_output(f'{python.MARKER}{nonce}{{"file": "/etc/passwd"}}\n', nonce)
    assert outside.spill_path is None  # only files in the wrapper's own folder


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (35065.0, "35065"),
        (35065.444, "35065.44"),
        (2.5, "2.5"),
        (0.000123456, "0.0001235"),
        (0.5, "0.5"),
        (1e20, "1e+20"),
        (float("nan"), "nan"),
        (-3.14159, "-3.14"),
    ],
)
def test_numbers_are_rounded_for_reading(value: float, text: str) -> None:
    assert cellrunner.text.number(value) == text


def test_a_call_without_the_runner_runs_nothing_where_it_is_missing() -> None:
    import sys

    sys.modules.pop(python.PACKAGE, None)
    ns: dict[str, Any] = {}
    nonce = python.new_nonce()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(python.build_call("x = 1", nonce, ship=False), "<call>", "exec"), ns)
    parsed = python.parse_output(buf.getvalue(), nonce)
    assert parsed.missing_runner and parsed.complete and "x" not in ns
    assert len(python.build_call("x = 1", nonce, ship=False)) < 600
    assert len(python.build_call("x = 1", nonce)) > 10_000


def test_a_long_bar_chart_names_its_extremes() -> None:
    bars = [{"label": f"b{i}", "value": float(i), "group": None} for i in range(30)]
    bars[17]["value"] = 99.5
    text = cellrunner.charts.describe({"kind": "bar", "title": "Many", "elements": bars})
    assert text.startswith('bar chart "Many": b0 0, b1 1,')
    assert text.endswith("b11 11, ... and 18 more bars; highest b17 99.5, lowest b0 0")
