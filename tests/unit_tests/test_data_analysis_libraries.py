"""The data-analysis tool says which analysis libraries the sandbox really has."""

from __future__ import annotations

from langchain_daytona_exec import DaytonaDataAnalysisTool
from langchain_daytona_exec.types import ExecutionResult


def test_missing_library_is_named_in_the_description_and_the_first_result() -> None:
    tool = DaytonaDataAnalysisTool()
    note = tool._checked(ExecutionResult(stdout="pandas numpy\n"))
    assert note == "[sandbox] In this sandbox pandas, numpy installed; matplotlib NOT installed.\n"
    assert "pandas, numpy installed; matplotlib NOT installed;" in tool.description
    assert tool._checked(ExecutionResult(stdout="")) == ""  # checked once


def test_nothing_installed() -> None:
    tool = DaytonaDataAnalysisTool()
    tool._checked(ExecutionResult(stdout="\n"))
    assert "NOT installed (only the standard library)" in tool.description
    assert tool.installed_libraries == []


def test_a_failed_probe_leaves_the_description_unchecked() -> None:
    tool = DaytonaDataAnalysisTool()
    before = tool.description
    assert tool._checked(ExecutionResult(stdout="", timed_out=True)) == ""
    assert tool.description == before and tool.installed_libraries is None
