"""The reference agent on real local sandboxes, driven by a scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_daytona_exec import DaytonaToolkit, LocalBackend, SandboxPool
from langchain_daytona_exec.agent import create_code_interpreter_agent
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step

ROOT = Path(__file__).resolve().parents[2]
SALES = (ROOT / "examples" / "data" / "sales.csv").read_text()


@pytest.fixture
def pool(backend: LocalBackend) -> Iterator[SandboxPool]:
    with SandboxPool(backend) as p:
        yield p


def test_analysis_with_a_chart_across_two_turns(pool: SandboxPool, tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=[
            ai_step("", ("write_file", {"path": "sales.csv", "content": SALES})),
            ai_step(
                "",
                (
                    "python",
                    {
                        "code": "import pandas as pd, matplotlib.pyplot as plt\n"
                        "df = pd.read_csv('sales.csv')\n"
                        "df['revenue'] = df.units * df.unit_price\n"
                        "by = df.groupby('region').revenue.sum()\n"
                        "by.plot.bar(title='Revenue by region')\n"
                        "by.idxmax()"
                    },
                ),
            ),
            lambda messages: f"Best region: {messages[-1].text.splitlines()[0]}",
            ai_step("", ("python", {"code": "float(round(by.sum(), 2))"})),
            "total computed",
        ]
    )
    agent = create_code_interpreter_agent(
        model,
        toolkit=DaytonaToolkit(pool=pool),
        checkpointer=InMemorySaver(),
        charts_dir=tmp_path,
    )
    config = {"configurable": {"thread_id": "sales"}}
    out = agent.invoke({"messages": [HumanMessage("best region?")]}, config)
    assert out["messages"][-1].text == "Best region: [result] 'East'"
    chart = tmp_path / "sales" / "chart-1.png"
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 5000
    assert out["charts"][0]["title"] == "Revenue by region"

    out = agent.invoke({"messages": [HumanMessage("total?")]}, config)
    result = [m for m in out["messages"] if isinstance(m, ToolMessage)][-1]
    assert result.text == "[result] 117438.78"  # `by` survived in the same sandbox
