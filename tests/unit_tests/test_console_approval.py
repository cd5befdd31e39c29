"""The terminal approver of ``daytona-exec agent --approve``."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

from langchain_daytona_exec.agent.console import NO_ANSWER, USER_REFUSED, ask_in_terminal
from langchain_daytona_exec.agent.graph import parse_decision

REQUEST = {"message": "shell: rm -rf data", "calls": []}


def _answers(monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    """Feed ``input()`` these lines, then end of file."""
    feed: Iterator[str] = iter(lines)

    def fake_input(prompt: str = "") -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)


def _ask(monkeypatch: pytest.MonkeyPatch, *lines: str) -> tuple[object, str]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    _answers(monkeypatch, *lines)
    decision = ask_in_terminal(console)(REQUEST)  # type: ignore[arg-type]
    return decision, out.getvalue()


def test_prompt_shows_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    decision, shown = _ask(monkeypatch, "y")
    assert "Run it? [y/N]" in shown
    assert parse_decision(decision) == (True, None)


def test_no_records_the_users_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    decision, shown = _ask(monkeypatch, "n")  # stdin ends at the reason prompt
    assert parse_decision(decision) == (False, USER_REFUSED)
    assert NO_ANSWER not in str(decision)
    assert "Reason for the model (optional):" in shown


def test_no_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    decision, _ = _ask(monkeypatch, "N", "use the python tool instead")
    assert parse_decision(decision) == (False, "use the python tool instead")


def test_closed_stdin_denies_as_unanswered(monkeypatch: pytest.MonkeyPatch) -> None:
    decision, _ = _ask(monkeypatch)
    assert parse_decision(decision) == (False, NO_ANSWER)
