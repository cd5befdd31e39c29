"""The reference agent's graph, driven by a scripted model over the in-memory fake pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import langchain_daytona_exec as pkg
from langchain_daytona_exec import DaytonaToolkit, SandboxPool
from langchain_daytona_exec.agent import (
    MARKER_KEY,
    create_code_interpreter_agent,
    parse_decision,
    prompts,
)
from langchain_daytona_exec.errors import PoolExhaustedError
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step
from langchain_daytona_exec.tools import LOSS_NOTICE_KEY
from tests.unit_tests.fakes import FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def pool(backend: FakeBackend) -> Iterator[SandboxPool]:
    with SandboxPool(backend) as p:
        yield p


def cfg(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


def ask(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def python(code: str, text: str = "") -> AIMessage:
    return ai_step(text, ("python", {"code": code}))


def tool_messages(messages: list[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def agent_for(model: ScriptedChatModel, pool: SandboxPool, **kwargs: Any) -> Any:
    kwargs.setdefault("checkpointer", InMemorySaver())
    return create_code_interpreter_agent(model, toolkit=DaytonaToolkit(pool=pool), **kwargs)


def test_exported_from_the_package() -> None:
    assert "create_code_interpreter_agent" in pkg.__all__
    assert pkg.create_code_interpreter_agent is create_code_interpreter_agent


def test_graph_is_explicit_state_graph_with_a_tools_node(pool: SandboxPool) -> None:
    agent = agent_for(ScriptedChatModel(), pool, approve=True)
    nodes = set(agent.get_graph().nodes)
    assert {"prepare", "agent", "approve", "tools", "collect", "finalize"} <= nodes
    assert agent.nodes["tools"].bound.name == "tools"
    assert "approve" not in agent_for(ScriptedChatModel(), pool).get_graph().nodes


def test_system_prompt_names_the_tools_and_is_not_stored(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=["hello"])
    agent = agent_for(model, pool)
    out = agent.invoke(ask("hi"), cfg("p"))
    first = model.seen[0][0]
    assert isinstance(first, SystemMessage)
    assert "`python`, `shell`, `read_file`, `write_file`, `list_files`" in first.text
    assert "inspect it" in first.text and "Check your results" in first.text
    assert not any(isinstance(m, SystemMessage) for m in out["messages"])
    assert out["messages"][-1].text == "hello"

    custom = ScriptedChatModel(script=["ok"])
    agent_for(custom, pool, system_prompt="Only {tools}.").invoke(ask("hi"), cfg("q"))
    assert custom.seen[0][0].text.startswith("Only `python`, `shell`")


def test_multi_turn_state_is_kept_per_thread(pool: SandboxPool, backend: FakeBackend) -> None:
    model = ScriptedChatModel(
        script=[
            python("x = 41"),
            "x is set",
            python("x + 1"),
            "x + 1 is 42",
            python("x"),
            "thread b has no x",
        ]
    )
    agent = agent_for(model, pool)
    agent.invoke(ask("set x"), cfg("a"))
    out = agent.invoke(ask("add one"), cfg("a"))
    results = tool_messages(out["messages"])
    assert [r.text for r in results] == ["[no output]", "[result] 42"]
    # The second turn's model call saw the whole conversation of thread a.
    assert any(m.text == "set x" for m in model.seen[2])
    other = agent.invoke(ask("and in b?"), cfg("b"))
    assert "NameError" in tool_messages(other["messages"])[-1].text
    assert len(backend.created) == 2


def test_errors_reach_the_model(pool: SandboxPool) -> None:
    model = ScriptedChatModel(
        script=[
            ai_step(
                "",
                ("python", {"code": "1 / 0"}),
                ("shell", {"command": "no-such-command"}),
                ("read_file", {"path": "missing.txt"}),
                ("nonexistent_tool", {}),
                ("python", {"wrong_arg": 1}),
            ),
            "I see the errors",
        ]
    )
    out = agent_for(model, pool).invoke(ask("break things"), cfg("e"))
    results = {m.tool_call_id: m for m in tool_messages(out["messages"])}
    texts = [m.text for m in results.values()]
    assert "ZeroDivisionError" in texts[0]
    assert "[exit code] 127" in texts[1]
    assert "missing.txt" in texts[2] and results["call_3"].status == "error"
    assert "nonexistent_tool" in texts[3] and "not a valid tool" in texts[3]
    assert results["call_5"].status == "error"
    # The model's second call was given all five results.
    assert len(tool_messages(model.seen[1])) == 5
    assert out["messages"][-1].text == "I see the errors"


def test_approval_interrupts_before_shell_and_resumes(
    pool: SandboxPool, backend: FakeBackend
) -> None:
    model = ScriptedChatModel(
        script=[
            ai_step("", ("shell", {"command": "echo approved"})),
            "ran it",
            ai_step("", ("shell", {"command": "echo denied"}), ("python", {"code": "1"})),
            "ok, not running it",
        ]
    )
    agent = agent_for(model, pool, approve=True)
    first = agent.invoke(ask("run echo"), cfg("ap"))
    request = first["__interrupt__"][0].value
    assert request["type"] == "approval"
    assert [c["args"] for c in request["tool_calls"]] == [{"command": "echo approved"}]
    assert agent.get_state(cfg("ap")).next == ("approve",)
    done = agent.invoke(Command(resume=True), cfg("ap"))
    assert tool_messages(done["messages"])[-1].text == "[exit code] 0\napproved"
    assert done["messages"][-1].text == "ran it"

    agent.invoke(ask("run another"), cfg("ap"))
    out = agent.invoke(Command(resume={"approved": False, "reason": "too risky"}), cfg("ap"))
    denied, skipped = tool_messages(out["messages"])[-2:]
    assert denied.status == "error" and "did not approve" in denied.text
    assert "too risky" in denied.text
    assert skipped.text == prompts.APPROVAL_SKIPPED
    assert out["messages"][-1].text == "ok, not running it"
    assert all(not sb.code_log for sb in backend.created)  # the python call was skipped


def test_approval_for_chosen_tools_and_predicates(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[python("1 + 1"), "two"])
    agent = agent_for(model, pool, approve=["python"])
    assert "__interrupt__" in agent.invoke(ask("add"), cfg("ap2"))
    assert agent.invoke(Command(resume="yes"), cfg("ap2"))["messages"][-1].text == "two"

    model = ScriptedChatModel(script=[ai_step("", ("shell", {"command": "echo safe"})), "done"])
    agent = agent_for(model, pool, approve=lambda call: "rm " in call["args"].get("command", ""))
    out = agent.invoke(ask("safe"), cfg("ap3"))
    assert "__interrupt__" not in out and out["messages"][-1].text == "done"


def test_a_new_question_instead_of_an_approval_answers_the_pending_call(
    pool: SandboxPool,
) -> None:
    model = ScriptedChatModel(
        script=[ai_step("", ("shell", {"command": "echo never"})), "moved on"]
    )
    agent = agent_for(model, pool, approve=True)
    assert "__interrupt__" in agent.invoke(ask("run it"), cfg("d"))
    out = agent.invoke(ask("something else"), cfg("d"))  # never resumed
    assert out["messages"][-1].text == "moved on"
    seen = model.seen[-1]
    pending = next(i for i, m in enumerate(seen) if isinstance(m, AIMessage) and m.tool_calls)
    result = seen[pending + 1]
    assert isinstance(result, ToolMessage) and result.text.startswith("Not run")
    assert seen[pending + 2].text == "something else"


def test_approval_without_checkpointer_uses_memory(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[ai_step("", ("shell", {"command": "echo x"})), "done"])
    agent = create_code_interpreter_agent(model, toolkit=DaytonaToolkit(pool=pool), approve=True)
    assert "__interrupt__" in agent.invoke(ask("x"), cfg("m"))
    assert agent.invoke(Command(resume=True), cfg("m"))["messages"][-1].text == "done"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, (True, None)),
        (False, (False, None)),
        ("approve", (True, None)),
        ("no", (False, None)),
        ({"approved": False, "reason": "why"}, (False, "why")),
        ({"approved": True}, (True, None)),
    ],
)
def test_parse_decision(value: object, expected: tuple[bool, str | None]) -> None:
    assert parse_decision(value) == expected


def test_step_limit_ends_with_a_graceful_answer(pool: SandboxPool) -> None:
    model = ScriptedChatModel(
        script=[python("a = 1"), python("b = 2"), "I set a and b; c is left to do."]
    )
    out = agent_for(model, pool, max_iterations=2).invoke(ask("loop"), cfg("s"))
    final = out["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.text == "I set a and b; c is left to do."
    assert final.response_metadata["step_limit"] == 2
    last_call = model.seen[-1]
    assert last_call[-1].text == prompts.STEP_LIMIT_REQUEST.format(limit=2)
    # The limit is per turn: the next question starts from zero again.
    model.script += [python("c = 3"), "done"]
    again = agent_for(model, pool, max_iterations=2)
    assert again.invoke(ask("more"), cfg("s2"))["messages"][-1].text == "done"


def test_step_limit_drops_tool_calls_and_falls_back(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[python("1"), python("2")])
    out = agent_for(model, pool, max_iterations=1).invoke(ask("loop"), cfg("f"))
    final = out["messages"][-1]
    assert not final.tool_calls
    assert final.text == prompts.STEP_LIMIT_FALLBACK.format(limit=1)


def test_low_recursion_limit_still_ends_gracefully(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[python(str(i)) for i in range(10)])
    agent = agent_for(model, pool, max_iterations=25)
    out = agent.invoke(ask("loop"), {**cfg("r"), "recursion_limit": 12})
    messages = out["messages"]
    # Every tool call has its result (the API would reject a dangling call).
    calls = {c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    assert calls == {m.tool_call_id for m in tool_messages(messages)}
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls


def test_charts_are_written_per_thread_and_numbered_across_turns(
    pool: SandboxPool, tmp_path: Path
) -> None:
    model = ScriptedChatModel(
        script=[
            python("emit_chart('first'); emit_chart(None)"),
            "two charts",
            python("emit_chart('third')"),
            "one more",
        ]
    )
    agent = agent_for(model, pool, charts_dir=tmp_path)
    out = agent.invoke(ask("plot"), cfg("chat/1"))
    agent.invoke(ask("again"), cfg("chat/1"))
    folder = tmp_path / "chat_1"
    assert sorted(p.name for p in folder.iterdir()) == ["chart-1.png", "chart-2.png", "chart-3.png"]
    assert (folder / "chart-1.png").read_bytes().startswith(b"\x89PNG")
    charts = agent.get_state(cfg("chat/1")).values["charts"]
    assert [c["title"] for c in charts] == ["first", None, "third"]
    assert charts[0]["tool_call_id"] == tool_messages(out["messages"])[0].tool_call_id
    # Without vision, the model gets the text only.
    assert not any(isinstance(m.content, list) for m in model.seen[1])


def test_vision_shows_charts_in_a_user_message(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[python("emit_chart('c')"), "I looked at it"])
    out = agent_for(model, pool, vision=True).invoke(ask("plot"), cfg("v"))
    second = model.seen[1]
    assert isinstance(second[-2], ToolMessage) and isinstance(second[-2].content, str)
    shown = second[-1]
    assert isinstance(shown, HumanMessage)
    assert shown.additional_kwargs[MARKER_KEY] == "charts"
    assert isinstance(shown.content, list)
    assert shown.content[1] == {
        "type": "image",
        "base64": "iVBORw0KGgpmYWtl",
        "mime_type": "image/png",
    }
    assert out["messages"][-1].text == "I looked at it"


def test_lost_sandbox_is_announced_to_the_model(pool: SandboxPool, backend: FakeBackend) -> None:
    model = ScriptedChatModel(script=[python("x = 1"), "set", python("x"), "gone"])
    agent = agent_for(model, pool)
    agent.invoke(ask("set x"), cfg("l"))
    backend.created[0].kill()  # the sandbox dies between turns
    out = agent.invoke(ask("read x"), cfg("l"))
    notices = [m for m in out["messages"] if m.additional_kwargs.get(MARKER_KEY) == "notice"]
    assert len(notices) == 1 and notices[0].text.startswith("[sandbox]")
    # The model saw the notice before its first call of the turn, and only once.
    assert model.seen[2][-1].text.startswith("[sandbox]")
    assert "NameError" in tool_messages(out["messages"])[-1].text
    assert "[sandbox]" not in tool_messages(out["messages"])[-1].text


def test_resumed_thread_in_a_new_pool_is_told_its_state_is_gone() -> None:
    saver = InMemorySaver()
    with SandboxPool(FakeBackend()) as first_pool:
        model = ScriptedChatModel(script=[python("x = 1"), "set"])
        agent_for(model, first_pool, checkpointer=saver).invoke(ask("set x"), cfg("t"))
    # A new process: same thread store, new pool and so a new sandbox (another id).
    second = FakeBackend()
    second.create().close()
    with SandboxPool(second) as second_pool:
        model = ScriptedChatModel(script=["noted"])
        agent_for(model, second_pool, checkpointer=saver).invoke(ask("x?"), cfg("t"))
        notice = model.seen[0][-1]
        assert notice.additional_kwargs[MARKER_KEY] == "notice"
        assert "not the one used earlier" in notice.text


def test_no_notice_when_the_sandbox_is_kept(pool: SandboxPool) -> None:
    model = ScriptedChatModel(script=[python("x = 1"), "set", python("x"), "still 1"])
    agent = agent_for(model, pool)
    agent.invoke(ask("a"), cfg("k"))
    out = agent.invoke(ask("b"), cfg("k"))
    assert not any(m.additional_kwargs.get(MARKER_KEY) for m in out["messages"])
    assert tool_messages(out["messages"])[-1].text == "[result] 1"


async def test_async_invoke(pool: SandboxPool, tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=[python("y = 6 * 7\nemit_chart('a')\ny"), "42", python("y"), "still"]
    )
    agent = agent_for(model, pool, charts_dir=tmp_path)
    out = await agent.ainvoke(ask("compute"), cfg("async"))
    assert tool_messages(out["messages"])[-1].text.startswith("[result] 42")
    assert (tmp_path / "async" / "chart-1.png").exists()
    out = await agent.ainvoke(ask("again"), cfg("async"))
    assert out["messages"][-1].text == "still"


def test_rejects_bad_arguments(pool: SandboxPool) -> None:
    with pytest.raises(ValueError, match="max_iterations"):
        create_code_interpreter_agent(ScriptedChatModel(), pool=pool, max_iterations=0)
    with pytest.raises(ValueError, match="at least one tool"):
        create_code_interpreter_agent(ScriptedChatModel(), toolkit=[])


def test_scripted_model_runs_out_loudly() -> None:
    model = ScriptedChatModel(script=["only"])
    assert model.invoke("x").text == "only"
    with pytest.raises(RuntimeError, match="all were played"):
        model.invoke("again")


# -- a run pins its thread's sandbox ---------------------------------------------------


def _probing_script(pool: SandboxPool, seen: list[object]) -> list[Any]:
    """x = 41; then, between two tool calls, another key tries to take the only slot."""

    def probe(messages: list[BaseMessage]) -> AIMessage:
        seen.append(pool.stats().pinned)
        try:
            with pool.session("intruder"):
                seen.append("leased")
        except PoolExhaustedError:
            seen.append("refused")
        return python("x + 1")

    return [python("x = 41"), probe, lambda m: str(tool_messages(m)[-1].content)]


def test_a_run_pins_its_thread_so_a_full_pool_keeps_its_sandbox(backend: FakeBackend) -> None:
    with SandboxPool(backend, max_size=1, protect_s=0, acquire_timeout=0.2) as pool:
        seen: list[object] = []
        agent = agent_for(ScriptedChatModel(script=_probing_script(pool, seen)), pool)
        out = agent.invoke(ask("go"), cfg("t1"))
        assert seen == [1, "refused"]  # pinned mid-run: the other key had to wait
        assert "42" in out["messages"][-1].content  # x survived between the calls
        assert pool.stats().pinned == 0
        with pool.session("intruder", timeout=1):  # the run is over: the slot is free
            pass


async def test_an_async_run_pins_its_thread_too(backend: FakeBackend) -> None:
    with SandboxPool(backend, max_size=1, protect_s=0, acquire_timeout=0.2) as pool:
        seen: list[object] = []
        agent = agent_for(ScriptedChatModel(script=_probing_script(pool, seen)), pool)
        out = await agent.ainvoke(ask("go"), cfg("t1"))
        assert seen == [1, "refused"]
        assert "42" in out["messages"][-1].content
        assert pool.stats().pinned == 0


def test_a_loss_told_by_a_tool_is_not_told_again(pool: SandboxPool, backend: FakeBackend) -> None:
    def kill_then_read(messages: list[BaseMessage]) -> AIMessage:
        backend.created[0].kill()  # the sandbox dies between two calls of one turn
        return python("x")

    model = ScriptedChatModel(script=[python("x = 1"), kill_then_read, "gone", "ok"])
    agent = agent_for(model, pool)
    out = agent.invoke(ask("x"), cfg("told"))
    told = tool_messages(out["messages"])[-1]
    assert told.artifact[LOSS_NOTICE_KEY] is True and "state was lost" in told.text
    # The graph recorded the new sandbox when the tool told the model: the next turn
    # does not announce the replacement a second time.
    out = agent.invoke(ask("and now?"), cfg("told"))
    assert not [m for m in out["messages"] if m.additional_kwargs.get(MARKER_KEY) == "notice"]


def test_only_the_artifact_flag_says_the_model_was_told() -> None:
    from langchain_daytona_exec.agent._messages import told_of_loss

    # A user's print (or a timeout message) may start with "[sandbox]" too.
    printed = ToolMessage("[sandbox] my own log line", tool_call_id="1", artifact={})
    assert not told_of_loss(printed)
    assert not told_of_loss(ToolMessage("x", tool_call_id="2"))  # no artifact (an error)
    flagged = ToolMessage("notice", tool_call_id="3", artifact={LOSS_NOTICE_KEY: True})
    assert told_of_loss(flagged)


def test_save_charts_writes_images_and_html_outputs_beside_the_charts(tmp_path: Path) -> None:
    import base64

    from langchain_core.messages import ToolMessage

    from langchain_daytona_exec.agent import save_charts

    png = base64.b64encode(b"\x89PNG chart").decode()
    message = ToolMessage(
        "text",
        tool_call_id="t1",
        artifact={
            "charts": [{"title": "T", "description": 'bar chart "T": a 1', "png_base64": png}],
            "outputs": [
                {"data": {"text/plain": "DataFrame", "text/html": "<table/>"}},
                {"data": {"image/png": base64.b64encode(b"\x89PNG pil").decode()}},
                {"data": {"text/plain": "42"}, "is_main_result": True},
                {"data": {"image/png": png}, "chart": 0},
            ],
        },
    )
    files = save_charts([message], tmp_path, "th", start=2, output_start=5)
    names = [Path(f["path"]).name for f in files]
    assert names == ["chart-3.png", "output-6.html", "output-7.png"]
    assert [f.get("kind") for f in files] == ["chart", "output", "output"]
    assert files[0].get("description") == 'bar chart "T": a 1'
    assert (tmp_path / "th" / "output-6.html").read_text() == "<table/>"
    assert (tmp_path / "th" / "output-7.png").read_bytes() == b"\x89PNG pil"


def _state_with(*calls: dict[str, Any]) -> dict[str, Any]:
    from langchain_core.messages import AIMessage

    return {"messages": [AIMessage(content="", tool_calls=list(calls))]}


class _Broken(BaseTool):
    name: str = "broken"
    description: str = "raises something that is not a ToolException"

    def _run(self, *args: Any, **kwargs: Any) -> str:
        raise RuntimeError("boom")


def test_tools_node_handles_errors_as_toolnode_does() -> None:
    from langchain_daytona_exec.agent._run_tools import ToolRunner

    runner = ToolRunner([_Broken()])
    out = runner.run(
        _state_with(
            {"name": "broken", "args": {}, "id": "1", "type": "tool_call"},
            {"name": "nope", "args": {}, "id": "2", "type": "tool_call"},
        ),
        {},
    )["messages"]
    assert [m.tool_call_id for m in out] == ["1", "2"]
    assert all(m.status == "error" for m in out)
    assert "RuntimeError('boom')" in out[0].content
    assert "nope is not a valid tool, try one of [broken]" in out[1].content


async def test_tools_node_async_keeps_call_order() -> None:
    from langchain_daytona_exec.agent._run_tools import ToolRunner

    runner = ToolRunner([_Broken()])
    calls = [{"name": "broken", "args": {}, "id": str(i), "type": "tool_call"} for i in range(3)]
    out = (await runner.arun(_state_with(*calls), {}))["messages"]
    assert [m.tool_call_id for m in out] == ["0", "1", "2"]
