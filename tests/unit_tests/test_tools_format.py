from __future__ import annotations

import pytest

from langchain_daytona_exec.tools._format import (
    chart_summary,
    cut_middle,
    format_command,
    format_execution,
    output_artifacts,
)
from langchain_daytona_exec.tools.files import describe_binary, render_tree
from langchain_daytona_exec.types import (
    Chart,
    CommandResult,
    DisplayOutput,
    ExecutionError,
    ExecutionResult,
    FileInfo,
)


def test_cut_middle_keeps_head_and_tail() -> None:
    text = "A" * 100 + "B" * 100
    short, cut = cut_middle(text, 60)
    assert cut == 140
    assert short.startswith("A" * 40) and short.endswith("B" * 20)
    assert "[140 characters cut]" in short
    assert cut_middle("short", 60) == ("short", 0)


def test_a_100kb_chart_adds_under_200_characters() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100 * 1024)
    base = ExecutionResult(stdout="done\n")
    with_chart = ExecutionResult(stdout="done\n", charts=[Chart(png=png, title="Revenue")])
    added = len(format_execution(with_chart)) - len(format_execution(base))
    assert 0 < added < 200
    assert '[chart] chart "Revenue"' in format_execution(with_chart)


def test_execution_text_names_every_part() -> None:
    r = ExecutionResult(
        stdout="out\n",
        stderr="warn\n",
        result="42",
        error=ExecutionError("ValueError", "bad", "Traceback...\nValueError: bad\n"),
    )
    text = format_execution(r)
    assert text.splitlines()[0] == "out"
    assert "[stderr]\nwarn" in text
    assert "[result] 42" in text
    assert "[error]\nTraceback...\nValueError: bad" in text
    assert format_execution(ExecutionResult()) == "[no output]"


@pytest.mark.parametrize(
    ("state_lost", "expected"),
    [(False, "variables defined before the interruption are kept"), (True, "restarted")],
)
def test_timeout_notices(state_lost: bool, expected: str) -> None:
    text = format_execution(ExecutionResult(timed_out=True, state_lost=state_lost))
    assert "[timeout]" in text and expected in text


def test_command_text() -> None:
    text = format_command(CommandResult(exit_code=2, stdout="a\n", stderr="b\n"))
    assert text == "[exit code] 2\na\n[stderr]\nb"
    assert "[timeout]" in format_command(CommandResult(exit_code=124, timed_out=True))


def test_chart_summary_has_the_descriptions_and_no_data() -> None:
    described = Chart(png=b"x" * 1000, title="A", kind="bar", description='bar chart "A": x 1')
    charts = [described, Chart(png=b"y", title="B"), Chart(png=b"z")]
    assert chart_summary(charts) == (
        '[chart] bar chart "A": x 1\n[chart] chart "B"\n[chart] chart (untitled)'
    )


def test_display_outputs_tables_and_charts_in_the_text() -> None:
    chart = Chart(png=b"\x89PNG", title="T", kind="line", description='line chart "T": a 1 -> 2')
    r = ExecutionResult(
        result="42",
        charts=[chart],
        outputs=[
            DisplayOutput(
                {
                    "text/plain": "DataFrame: 2 rows x 1 columns\n   a\n0  1\n1  2",
                    "text/html": "<table/>",
                }
            ),
            DisplayOutput({"image/png": b"\x89PNG"}),
            DisplayOutput({"text/plain": "42"}, is_main_result=True),
            DisplayOutput({"image/png": b"\x89PNG", "text/plain": "x"}, chart=chart),
        ],
    )
    assert format_execution(r).splitlines() == [
        "[display] (+ text/html in the artifact)",
        "DataFrame: 2 rows x 1 columns",
        "   a",
        "0  1",
        "1  2",
        "[display] image/png (in the artifact)",
        "[result] 42",
        '[chart] line chart "T": a 1 -> 2',
    ]
    artifacts = output_artifacts(r)
    assert artifacts[1] == {"data": {"image/png": "iVBORw=="}, "is_main_result": False}
    assert artifacts[3]["chart"] == 0 and artifacts[2]["is_main_result"] is True


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n....", "PNG image"),
        (b"PK\x03\x04rest", "ZIP archive"),
        (b"abc\x00def", "binary data"),
        (b"\xff\xfe\xfa\xfb" * 10, "binary data"),
    ],
)
def test_binary_files_are_described(data: bytes, kind: str) -> None:
    described = describe_binary(data)
    assert described is not None and described.startswith(kind)


def test_text_is_not_binary() -> None:
    assert describe_binary("héllo wörld\n".encode()) is None
    assert describe_binary(b"") is None


def test_render_tree_indents_by_depth_with_sizes() -> None:
    entries = [
        FileInfo("data", "data", True, 0),
        FileInfo("a.csv", "data/a.csv", False, 2048),
        FileInfo("notes.txt", "notes.txt", False, 5),
    ]
    assert render_tree(entries, ".") == ".:\ndata/\n  a.csv (2.0 KB)\nnotes.txt (5 B)"
    sub = [FileInfo("x", "/workspace/d/x", False, 1)]
    assert render_tree(sub, "/workspace/d") == "/workspace/d:\nx (1 B)"
    assert render_tree([], "empty") == "empty: (empty)"
