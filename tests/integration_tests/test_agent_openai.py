"""``ChatOpenAI`` drives the agent over real HTTP, against the local scripted stub.

These prove the OpenAI wire round trip: our tool schemas go out, the model's
``tool_calls`` come back and run, the results (and chart images, in a user message)
go back in a form the real API accepts. The ``vcr`` tests replay cassettes recorded
from the stub (see ``tests/cassettes/README.md``); re-record them with
``pytest tests/integration_tests/test_agent_openai.py --record-mode=rewrite``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import SecretStr

from langchain_daytona_exec import DaytonaToolkit, SandboxPool
from langchain_daytona_exec.agent import create_code_interpreter_agent
from tests.integration_tests.openai_stub import OpenAIStub, tool_calls
from tests.unit_tests.fakes import FakeBackend

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [
            "authorization",
            "api-key",
            "x-api-key",
            "openai-organization",
            "openai-project",
            "cookie",
            "set-cookie",
        ],
        # The stub's port changes every run: match what matters, in recorded order.
        "match_on": ["method", "path"],
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES / "test_agent_openai")


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(FakeBackend()) as p:
        yield p


def chat(stub: OpenAIStub, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="stub-model", base_url=stub.url, api_key=SecretStr("test"), max_retries=0, **kwargs
    )


def last_tool_text(body: dict[str, Any]) -> str:
    return str([m for m in body["messages"] if m["role"] == "tool"][-1]["content"])


def test_tool_call_round_trip(pool: SandboxPool) -> None:
    script = [
        tool_calls(("python", {"code": "x = 6 * 7\nprint('computed')\nx"}), content="Computing."),
        lambda body: f"The answer is {last_tool_text(body).split()[-1]}.",
    ]
    with OpenAIStub(script) as stub:
        agent = create_code_interpreter_agent(
            chat(stub), toolkit=DaytonaToolkit(pool=pool), checkpointer=InMemorySaver()
        )
        out = agent.invoke(
            {"messages": [HumanMessage("What is 6 * 7?")]}, {"configurable": {"thread_id": "w"}}
        )
    assert stub.errors == []
    first, second = stub.requests
    names = [t["function"]["name"] for t in first["tools"]]
    assert names == ["python", "shell", "read_file", "write_file", "list_files"]
    python_schema = first["tools"][0]["function"]["parameters"]
    assert python_schema["required"] == ["code"]
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][-1] == {"role": "user", "content": "What is 6 * 7?"}
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_stub_1_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"])["code"].startswith("x =")
    assert tool == {
        "role": "tool",
        "tool_call_id": "call_stub_1_1",
        "content": "computed\n[result] 42",
    }
    assert out["messages"][-1].text == "The answer is 42."
    assert out["messages"][-1].usage_metadata["total_tokens"] == 25


def test_vision_charts_travel_in_a_user_message(pool: SandboxPool, tmp_path: Path) -> None:
    script = [tool_calls(("python", {"code": "emit_chart('Revenue')"})), "A rising line."]
    with OpenAIStub(script) as stub:
        agent = create_code_interpreter_agent(
            chat(stub),
            toolkit=DaytonaToolkit(pool=pool),
            checkpointer=InMemorySaver(),
            charts_dir=tmp_path,
            vision=True,
        )
        out = agent.invoke(
            {"messages": [HumanMessage("plot it")]}, {"configurable": {"thread_id": "v"}}
        )
    assert stub.errors == []  # no image in a tool message: the stub would answer 400
    user = stub.requests[1]["messages"][-1]
    assert user["role"] == "user"
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgpmYWtl"},
    }
    assert out["messages"][-1].text == "A rising line."
    assert (tmp_path / "v" / "chart-1.png").exists()


def test_the_stub_rejects_what_openai_rejects() -> None:
    bad = {
        "messages": [
            {"role": "assistant", "tool_calls": [{"id": "a"}]},
            {"role": "tool", "tool_call_id": "a", "content": [{"type": "image_url"}]},
        ]
    }
    assert len(OpenAIStub.check(bad)) == 1
    dangling = {"messages": [{"role": "assistant", "tool_calls": [{"id": "a"}]}]}
    assert "must be followed" in OpenAIStub.check(dangling)[0]


def test_streaming_round_trip(pool: SandboxPool) -> None:
    script = [tool_calls(("shell", {"command": "echo streamed"})), "done streaming"]
    with OpenAIStub(script) as stub:
        agent = create_code_interpreter_agent(
            chat(stub, streaming=True), toolkit=DaytonaToolkit(pool=pool)
        )
        out = agent.invoke({"messages": [HumanMessage("run echo")]})
    assert stub.errors == [] and stub.requests[0]["stream"] is True
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert results[0].text == "[exit code] 0\nstreamed"
    assert out["messages"][-1].text == "done streaming"


@pytest.mark.vcr
def test_cassette_two_turn_conversation(pool: SandboxPool, record_mode: str) -> None:
    """Replayed from tests/cassettes: two turns, state kept in the thread's sandbox."""
    script = [
        tool_calls(("python", {"code": "total = sum(range(10))"})),
        "Stored the total.",
        tool_calls(("python", {"code": "total * 2"})),
        lambda body: f"Twice the total is {last_tool_text(body).split()[-1]}.",
    ]
    with OpenAIStub(script) as stub:
        agent = create_code_interpreter_agent(
            chat(stub), toolkit=DaytonaToolkit(pool=pool), checkpointer=InMemorySaver()
        )
        config = {"configurable": {"thread_id": "cassette"}}
        agent.invoke({"messages": [HumanMessage("Sum 0..9 and keep it.")]}, config)
        out = agent.invoke({"messages": [HumanMessage("Double it.")]}, config)
    if record_mode == "none":
        assert stub.requests == []  # every answer came from the cassette
    tool_results = [m.text for m in out["messages"] if isinstance(m, ToolMessage)]
    assert tool_results == ["[no output]", "[result] 90"]
    assert out["messages"][-1].text == "Twice the total is 90."


@pytest.mark.vcr
def test_cassette_error_reaches_the_model(pool: SandboxPool, record_mode: str) -> None:
    """Replayed: a traceback goes back to the model, which fixes its code."""
    script = [
        tool_calls(("python", {"code": "1 / 0"})),
        tool_calls(("python", {"code": "1 / 1"}), content="Division by zero; retrying."),
        "Fixed: 1.0",
    ]
    with OpenAIStub(script) as stub:
        agent = create_code_interpreter_agent(chat(stub), toolkit=DaytonaToolkit(pool=pool))
        out = agent.invoke({"messages": [HumanMessage("divide")]})
    if record_mode == "none":
        assert stub.requests == []  # every answer came from the cassette
    first, second = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "ZeroDivisionError" in first.text
    assert second.text == "[result] 1.0"
    assert out["messages"][-1].text == "Fixed: 1.0"
