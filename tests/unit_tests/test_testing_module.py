"""``langchain_daytona_exec.testing`` used the way a user's test suite would use it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_daytona_exec import DaytonaToolkit, SandboxPool, create_code_interpreter_agent
from langchain_daytona_exec.errors import SandboxLostError
from langchain_daytona_exec.testing import InMemoryBackend, ScriptedChatModel, ai_step


def test_an_agent_runs_end_to_end_on_the_in_memory_backend() -> None:
    # A user's unit test: scripted model, real graph, real tools, in-memory sandboxes.
    backend = InMemoryBackend()
    model = ScriptedChatModel(
        script=[
            ai_step("", ("python", {"code": "total = sum(range(10))\ntotal"})),
            ai_step("", ("write_file", {"path": "out/total.txt", "content": "45"})),
            lambda messages: f"The total is {messages[-1].text}",
        ]
    )
    with SandboxPool(backend) as pool:
        agent = create_code_interpreter_agent(
            model, toolkit=DaytonaToolkit(pool=pool), checkpointer=InMemorySaver()
        )
        state = agent.invoke(
            {"messages": [HumanMessage("add 0..9")]}, {"configurable": {"thread_id": "u1"}}
        )
        with pool.session("u1") as sb:
            assert sb.read_file("out/total.txt") == b"45"
            assert sb.run_code("total").result == "45"  # state kept for the thread
    tool_texts = [m.text for m in state["messages"] if isinstance(m, ToolMessage)]
    assert "45" in tool_texts[0]
    assert state["messages"][-1].text.startswith("The total is")
    assert model.remaining == 0
    assert backend.creates == 1 and backend.closes == 1


def test_the_in_memory_backend_keeps_state_files_and_reports_errors() -> None:
    backend = InMemoryBackend()
    with backend.create() as sb:
        assert sb.run_code("x = 41\nx + 1").result == "42"
        assert sb.run_code("print('hi')").stdout == "hi\n"
        err = sb.run_code("1 / 0").error
        assert err is not None and err.name == "ZeroDivisionError"
        sb.write_file("data/a.csv", "a,b\n")
        assert [f.path for f in sb.list_files("data")] == ["data/a.csv"]
        assert sb.exec("cat data/a.csv").stdout == "a,b\n"
        sb.kill()
        with pytest.raises(SandboxLostError):
            sb.run_code("x")


def test_a_scripted_model_that_runs_out_says_so() -> None:
    model = ScriptedChatModel(script=["only answer"])
    assert model.invoke("q").text == "only answer"
    with pytest.raises(RuntimeError, match="all were played"):
        model.invoke("q")


def test_the_in_memory_backend_imports_no_langchain() -> None:
    code = (
        "import sys, json\nfrom langchain_daytona_exec.testing import InMemoryBackend\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert not {"langchain_core", "langgraph", "pydantic"} & set(json.loads(out.stdout))


def test_the_testing_exports_are_sorted_and_resolve() -> None:
    import langchain_daytona_exec.testing as testing

    assert testing.__all__ == sorted(testing.__all__)
    assert set(testing._EXPORTS) == set(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None
