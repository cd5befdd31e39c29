"""The README's two-turn CLI example: a thread's files survive to its next run.

Each turn runs ``daytona-exec agent`` in a new process (as a user does), against the
scripted OpenAI-compatible stub. The second turn uploads nothing, yet reads both the
CSV uploaded in the first turn and the file the model wrote there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from langchain_daytona_exec.agent.prompts import SANDBOX_RESTARTED
from tests.integration_tests.openai_stub import OpenAIStub, tool_calls
from tests.integration_tests.test_cli import _process_group

ROOT = Path(__file__).resolve().parents[2]
SALES = str(ROOT / "examples" / "data" / "sales.csv")

FIRST = (
    "import pandas as pd\n"
    "df = pd.read_csv('sales.csv')\n"
    "df['revenue'] = df.units * df.unit_price\n"
    "totals = df.groupby('region').revenue.sum().round(2)\n"
    "totals.to_csv('region_totals.csv')\n"
    "totals.plot.bar(title='Revenue by region')\n"
    "totals.idxmax()"
)
SECOND = (
    "import pandas as pd\n"
    "print(open('region_totals.csv').read())\n"
    "df = pd.read_csv('sales.csv')\n"
    "df['revenue'] = df.units * df.unit_price\n"
    "df.pivot_table(index='month', columns='region', values='revenue', aggfunc='sum').round(0)"
)


def _agent(stub: OpenAIStub, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": stub.url,
        "DAYTONA_EXEC_THREADS_DB": str(tmp / "threads.sqlite"),
        "COLUMNS": "100",
    }
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "langchain_daytona_exec.cli", "agent", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=180)
    # The command closed its sandboxes (and saved the thread's files) before exiting.
    assert _process_group(proc.pid) == []
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _last_tool_output(body: dict[str, Any]) -> str:
    return str([m for m in body["messages"] if m["role"] == "tool"][-1]["content"])


def test_second_turn_in_a_new_process_reads_the_first_turns_files(tmp_path: Path) -> None:
    script = [
        tool_calls(("python", {"code": FIRST}), content="Revenue per region first."),
        "East sells the most; totals are in region_totals.csv.",
        tool_calls(("python", {"code": SECOND}), content="Reusing the saved totals."),
        lambda body: "Per month:\n" + _last_tool_output(body),
    ]
    with OpenAIStub(script) as stub:
        question = "Which region sells the most? Plot it."
        first = _agent(stub, tmp_path, question, "--file", SALES, "--thread", "sales")
        assert first.returncode == 0, first.stderr
        second = _agent(stub, tmp_path, "Now per month, as a table.", "--thread", "sales")
        assert second.returncode == 0, second.stderr
    assert stub.errors == []
    transcript = tmp_path / "transcript.txt"
    transcript.write_text(
        "$ daytona-exec agent 'Which region sells the most? Plot it.' --file "
        f"examples/data/sales.csv --thread sales\n{first.stdout}\n"
        f"$ daytona-exec agent 'Now per month, as a table.' --thread sales\n{second.stdout}"
    )
    if os.environ.get("LDX_TRANSCRIPT"):  # to show the run to a reader
        Path(os.environ["LDX_TRANSCRIPT"]).write_text(transcript.read_text())

    first_result = _last_tool_output(stub.requests[1])
    assert "[result] 'East'" in first_result
    # The second process's model call: the first turn's history and the notice.
    request = stub.requests[2]
    texts = [json.dumps(m.get("content")) for m in request["messages"]]
    assert any("Which region sells the most?" in t for t in texts)
    assert any(json.dumps(SANDBOX_RESTARTED)[1:-1] in t for t in texts)
    # The second turn read the model's own file and the uploaded CSV.
    second_result = _last_tool_output(stub.requests[3])
    assert "region,revenue" in second_result and "East," in second_result
    assert "[error]" not in second_result and "2026-01" in second_result
    assert "Reusing the saved totals." in second.stdout
    assert "region,revenue" in second.stdout


def test_gc_deletes_kept_workspaces(tmp_path: Path) -> None:
    script = [tool_calls(("write_file", {"path": "note.txt", "content": "x"})), "done"]
    with OpenAIStub(script) as stub:
        assert _agent(stub, tmp_path, "write a note", "--thread", "t").returncode == 0
    kept = tmp_path / "threads.sqlite.workspaces"
    assert sorted(p.suffix for p in kept.iterdir()) == [".json", ".tar"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    gc = subprocess.run(
        [sys.executable, "-m", "langchain_daytona_exec.cli", "gc", "--older-than", "0s"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "DAYTONA_EXEC_THREADS_DB": str(tmp_path / "threads.sqlite")},
    )
    assert gc.returncode == 0, gc.stderr
    assert "deleted the kept files of thread 't'" in gc.stdout
    assert "set DAYTONA_API_KEY to clean them too" in gc.stdout
    assert list(kept.iterdir()) == []
