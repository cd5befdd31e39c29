"""Messages a model can act on: bad tool arguments, a model without tool calling,
refused writes, and the cgroup counters that name why an interpreter died."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_daytona_exec import (
    DaytonaPythonTool,
    DaytonaWriteFileTool,
    SandboxPool,
    create_code_interpreter_agent,
)
from langchain_daytona_exec.backends.local._cgroups import CgroupSet
from langchain_daytona_exec.errors import SandboxFileError
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step
from tests.unit_tests.fakes import FakeBackend


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(FakeBackend()) as p:
        yield p


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": "call_1", "name": name, "args": args}


def test_validation_error_names_each_field_and_problem(pool: SandboxPool) -> None:
    reply = DaytonaPythonTool(pool=pool).invoke(_call("python", {"cod": "1", "timeout": "soon"}))
    assert isinstance(reply, ToolMessage) and reply.status == "error"
    text = reply.text
    assert "Tool input validation error" not in text
    assert "Invalid arguments for the python tool, so it did not run" in text
    assert "`code`: Field required" in text
    assert "`timeout`: Input should be a valid number" in text and "(got 'soon')" in text
    assert "It takes: code (str, required), timeout (float | None, optional)." in text


def test_validation_error_reaches_the_model_in_the_agent(pool: SandboxPool) -> None:
    model = ScriptedChatModel(
        script=[ai_step("", ("read_file", {"path": "a.txt", "limit": 0})), "done"]
    )
    agent = create_code_interpreter_agent(model, pool=pool)
    out = agent.invoke({"messages": [("user", "read a.txt")]}, {"configurable": {"thread_id": "v"}})
    (message,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert message.status == "error"
    assert "`limit`: Input should be greater than or equal to 1 (got 0)" in message.text
    assert "read a.txt" in model.seen[1][1].text and message in model.seen[1]


def test_explicit_validation_handler_is_kept(pool: SandboxPool) -> None:
    tool = DaytonaPythonTool(pool=pool, handle_validation_error="bad call")
    assert tool.invoke(_call("python", {})).text == "bad call"


class _NoTools(BaseChatModel):
    """A chat model whose class has no tool calling (bind_tools is not implemented)."""

    @property
    def _llm_type(self) -> str:
        return "no-tools"

    def _generate(self, messages: list[BaseMessage], *a: Any, **k: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("hi"))])


def test_model_without_tool_calling_is_a_clear_error(pool: SandboxPool) -> None:
    with pytest.raises(ValueError, match="needs a chat model with tool calling") as err:
        create_code_interpreter_agent(_NoTools(), pool=pool)
    assert "_NoTools does not implement bind_tools()" in str(err.value)
    assert "ScriptedChatModel" in str(err.value)


def test_refused_write_says_where_writes_go(
    pool: SandboxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Any, path: str, content: Any) -> None:
        raise SandboxFileError(f"cannot write {path}: Permission denied", path)

    from tests.unit_tests import fakes

    monkeypatch.setattr(fakes.FakeSandbox, "write_file", refuse)
    reply = DaytonaWriteFileTool(pool=pool).invoke(
        _call("write_file", {"path": "/usr/x.txt", "content": "x"})
    )
    assert reply.text.startswith("cannot write /usr/x.txt: Permission denied. Writable folders")
    assert "the working folder /workspace (relative paths go there) and /tmp." in reply.text


def test_cgroup_limit_counters(tmp_path: Path) -> None:
    memory, pids = tmp_path / "memory", tmp_path / "pids"
    memory.mkdir()
    pids.mkdir()
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (pids / "pids.events").write_text("max 7\n")
    assert CgroupSet([str(memory), str(pids)], 1).limit_events() == {
        "oom_kill": 2,
        "pids_max": 7,
    }
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert CgroupSet([str(v2)], 2).limit_events() == {"oom_kill": 1}
