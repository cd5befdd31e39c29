"""32 conversations of the reference agent on 8 local sandboxes: they wait, not thrash."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from langchain_core.messages import HumanMessage

from langchain_daytona_exec import DaytonaToolkit, SandboxPool, create_code_interpreter_agent
from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step

CONVERSATIONS = 32
MAX_SIZE = 8


def conversation(n: int) -> tuple[ScriptedChatModel, int]:
    """Four python calls that need the variables of the earlier ones; the answer quotes x."""
    calls = [f"x = {n}", "x = x * 3", "x = x + 7", "print('ANSWER', x)"]
    script: list[object] = [ai_step("", ("python", {"code": code})) for code in calls]
    script.append(lambda messages: str(messages[-1].content))
    return ScriptedChatModel(script=script), n * 3 + 7


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(LocalBackend(), max_size=MAX_SIZE, acquire_timeout=120) as p:
        yield p


async def test_32_conversations_on_8_sandboxes_all_answer_right(pool: SandboxPool) -> None:
    async def run(n: int) -> bool:
        model, expected = conversation(n)
        agent = create_code_interpreter_agent(model, toolkit=DaytonaToolkit(pool=pool))
        out = await agent.ainvoke(
            {"messages": [HumanMessage("compute")]}, {"configurable": {"thread_id": f"c{n}"}}
        )
        return re.search(rf"ANSWER {expected}\b", str(out["messages"][-1].content)) is not None

    results = await asyncio.gather(*(run(n) for n in range(CONVERSATIONS)))
    assert sum(results) == CONVERSATIONS
    stats = pool.stats()
    assert stats.live <= MAX_SIZE
    assert stats.evicted >= CONVERSATIONS - MAX_SIZE  # slots were handed on, not added
    assert stats.wait_ms_total > 0  # conversations waited for a slot...
    assert (stats.pinned, stats.waiting, stats.leased) == (0, 0, 0)  # ...and all finished
