"""Deep Agents on local sandboxes: what the standard suite does not check.

A command's deadline (exit 124 with the partial output), the order of merged
stdout/stderr, and a real ``create_deep_agent`` graph driven by a scripted model,
with one sandbox per ``thread_id`` (:func:`deep_agent_backend` over a pool), and
large outputs offloaded to a writable folder of the sandbox.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

pytest.importorskip("deepagents")

from deepagents import create_deep_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langgraph.checkpoint.memory import InMemorySaver

from langchain_daytona_exec import LocalBackend, LocalLimits, SandboxPool
from langchain_daytona_exec.deepagents import (
    ARTIFACTS_ROOT,
    DeepAgentsSandbox,
    deep_agent_backend,
)


@pytest.fixture(scope="module")
def local() -> LocalBackend:
    return LocalBackend(limits=LocalLimits(timeout_s=30, grace_s=1.0))


@pytest.fixture(scope="module")
def backend(local: LocalBackend) -> Iterator[DeepAgentsSandbox]:
    with DeepAgentsSandbox(local.create()) as sandbox:
        yield sandbox


def test_timeout_returns_124_with_partial_output(backend: DeepAgentsSandbox) -> None:
    response = backend.execute("echo started; sleep 30; echo never", timeout=1)
    assert response.exit_code == 124
    assert response.output.startswith("started\n")
    assert "never" not in response.output
    assert "timed out after 1 s" in response.output
    assert backend.execute("echo alive").output == "alive\n"


async def test_async_timeout_returns_124_with_partial_output(backend: DeepAgentsSandbox) -> None:
    response = await backend.aexecute("echo started; sleep 30", timeout=1)
    assert response.exit_code == 124
    assert response.output.startswith("started\n")


def test_stdout_and_stderr_keep_their_order(backend: DeepAgentsSandbox) -> None:
    response = backend.execute("echo one; echo two >&2; echo three; ls /nope; exit 3")
    lines = response.output.splitlines()
    assert lines[:3] == ["one", "two", "three"]
    assert "/nope" in lines[3]
    assert response.exit_code == 3


def test_writes_outside_the_writable_folders_fail_per_file(backend: DeepAgentsSandbox) -> None:
    ok, refused = backend.upload_files([("/workspace/ok.txt", b"ok"), ("/usr/evil", b"x")])
    assert ok.error is None
    assert refused.error is not None


class _Scripted(BaseChatModel):
    """Plays tool calls, then a final answer quoting the last tool message."""

    steps: list[list[dict[str, Any]]]
    _count: Any = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        done = sum(isinstance(m, AIMessage) for m in messages)
        if done < len(self.steps):
            ids = itertools.count(1)
            calls = [{**c, "id": f"call_{done}_{next(ids)}"} for c in self.steps[done]]
            message = AIMessage(content="", tool_calls=calls)
        else:
            last = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
            message = AIMessage(content=str(last.content))
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_deep_agent_gets_one_sandbox_per_thread(local: LocalBackend) -> None:
    script = [
        [{"name": "write_file", "args": {"file_path": "/workspace/who.txt", "content": "me"}}],
        [{"name": "execute", "args": {"command": "cat /workspace/who.txt; echo; ls /workspace"}}],
    ]
    with SandboxPool(local, handle_sigterm=False) as pool:
        agent = create_deep_agent(
            model=_Scripted(steps=script),
            backend=deep_agent_backend(pool),
            checkpointer=InMemorySaver(),
        )
        answers = {}
        for thread in ("t1", "t2"):
            state = agent.invoke(
                {"messages": [{"role": "user", "content": "go"}]},
                {"configurable": {"thread_id": thread}},
            )
            answers[thread] = state["messages"][-1].content
        assert pool.stats().live == 2
        with pool.session("t1") as sb:
            assert sb.read_file("/workspace/who.txt") == b"me"
    for answer in answers.values():
        assert answer.startswith("me\nwho.txt")
        assert "exit code 0" in answer


def test_large_outputs_are_offloaded_to_the_artifacts_root(local: LocalBackend) -> None:
    script = [[{"name": "execute", "args": {"command": "head -c 300000 /dev/zero | tr '\\0' x"}}]]
    with local.create() as sb:
        agent = create_deep_agent(model=_Scripted(steps=script), backend=deep_agent_backend(sb))
        state = agent.invoke({"messages": [{"role": "user", "content": "go"}]})
        result = next(m for m in state["messages"] if isinstance(m, ToolMessage))
        assert len(str(result.content)) < 20_000
        assert f"{ARTIFACTS_ROOT}/large_tool_results/" in str(result.content)
        saved = sb.list_files(f"{ARTIFACTS_ROOT}/large_tool_results")
        assert len(saved) == 1 and saved[0].size >= 300_000
