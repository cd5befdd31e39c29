"""``daytona-exec agent``: no model, no backend, and full runs against the local stub."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from langchain_daytona_exec.cli import main
from tests.integration_tests.openai_stub import OpenAIStub, tool_calls

ROOT = Path(__file__).resolve().parents[2]
SALES = str(ROOT / "examples" / "data" / "sales.csv")

ANALYSIS = (
    "import pandas as pd\n"
    "df = pd.read_csv('sales.csv')\n"
    "df['revenue'] = df.units * df.unit_price\n"
    "ax = df.groupby('region').revenue.sum().plot.bar(title='Revenue by region')\n"
    "df.groupby('region').revenue.sum().idxmax()"
)


@pytest.fixture(autouse=True)
def no_model_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAYTONA_EXEC_THREADS_DB", str(tmp_path / "threads.sqlite"))


def test_no_model_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "hello"]) == 2
    err = capsys.readouterr().err
    assert "No model is configured" in err
    assert "OPENAI_API_KEY" in err and "OPENAI_BASE_URL" in err


def test_daytona_backend_missing_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    # As without the [daytona] extra: the SDK cannot be imported, the backend is re-imported.
    monkeypatch.setitem(sys.modules, "daytona", None)
    monkeypatch.delitem(sys.modules, "langchain_daytona_exec.backends.daytona", raising=False)
    assert main(["agent", "hello", "--backend", "daytona"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'langchain-daytona-exec[daytona]'" in err


def test_daytona_backend_without_credentials_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("DAYTONA_API_KEY", raising=False)
    monkeypatch.delenv("DAYTONA_JWT_TOKEN", raising=False)
    assert main(["agent", "hello", "--backend", "daytona"]) == 2
    assert "needs DAYTONA_API_KEY" in capsys.readouterr().err


def test_agent_run_with_file_chart_and_resumed_thread(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = [
        tool_calls(("python", {"code": ANALYSIS}), content="Let me compute revenue."),
        "East has the highest revenue.",
        # Second process run of the same thread: the model sees the history.
        lambda body: f"Earlier you asked: {body['messages'][1]['content'].splitlines()[0]}",
    ]
    charts = tmp_path / "charts"
    with OpenAIStub(script) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        args = ["agent", "Which region sells most?", "--file", SALES, "--thread", "t1"]
        assert main([*args, "--charts-dir", str(charts)]) == 0
        out = capsys.readouterr().out
        assert main(["agent", "What did I ask?", "--thread", "t1"]) == 0
        again = capsys.readouterr().out
    assert stub.errors == []
    first_question = stub.requests[0]["messages"][1]["content"]
    assert "Files in the sandbox's working folder:" in first_question
    assert "sales.csv (48 rows x 4 columns" in first_question
    assert "Let me compute revenue." in out and "df = pd.read_csv('sales.csv')" in out
    assert "[result] 'East'" in out
    chart = charts / "t1" / "chart-1.png"
    assert f"chart written: {chart} (Revenue by region)" in out
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "East has the highest revenue." in out
    assert "2 model step(s), 1 tool call(s)" in out and "tool overhead" in out
    # The resumed thread: history from the SQLite store; the new process has a new
    # sandbox, and the model is told so.
    assert "continuing after" in again
    assert "Earlier you asked: Which region sells most?" in again
    last = stub.requests[-1]["messages"]
    # The thread's files were kept (persist_dir); its variables were not.
    assert (
        last[-1]["role"] == "user"
        and "files in the working folder were kept" in last[-1]["content"]
    )
    assert last[-2] == {"role": "user", "content": "What did I ask?"}


def test_approve_denied_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = [
        tool_calls(("shell", {"command": "echo should-not-run"})),
        lambda body: "Understood: " + str(body["messages"][-1]["content"]),
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\nnot today\n"))
    with OpenAIStub(script) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        assert main(["agent", "run echo", "--approve", "--thread", "ap"]) == 0
    out = capsys.readouterr().out
    assert "approval needed:" in out and "shell" in out
    assert "should-not-run\n" not in out.replace("echo should-not-run", "")
    tool_result = stub.requests[-1]["messages"][-1]
    assert tool_result["role"] == "tool" and "Reason: not today" in tool_result["content"]
    assert "Understood: The user did not approve this shell call" in out


def test_agent_on_the_daytona_backend_through_the_emulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from langchain_daytona_exec.backends.local import LocalLimits
    from langchain_daytona_exec.emulator import Emulator

    script = [tool_calls(("python", {"code": "import os\nprint(os.getcwd())\n6 * 7"})), "42"]
    with Emulator(limits=LocalLimits(timeout_s=20, grace_s=0.5)) as emu, OpenAIStub(script) as stub:
        monkeypatch.setenv("DAYTONA_API_KEY", "test-key")
        monkeypatch.setenv("DAYTONA_API_URL", emu.api_url)
        monkeypatch.setenv("DAYTONA_USE_DEPRECATED_POLLING", "true")
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        args = ["agent", "six times seven?", "--backend", "daytona", "--thread", "d1"]
        assert main([*args, "--charts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert stub.errors == []
    assert "[result] 42" in out and "1 tool call(s)" in out
