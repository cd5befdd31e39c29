"""Reference agent overhead per step, with a scripted model, on a warm local sandbox.

Run with ``.venv/bin/python benchmarks/agent.py`` (about half a minute). Prints one
markdown table.

A *step* is one tool round of the agent loop: a model call that asks for ``python``,
the tool running it, and the graph's bookkeeping around both (nodes ``agent``,
``tools``, ``collect``). The model is a :class:`ScriptedChatModel` and the code is
``x += 1``; the time spent inside the model's ``invoke`` and inside the sandbox's
``run_code`` is measured and subtracted, so what is left is the overhead of
everything else: LangGraph's scheduling and state, the tools node, the tool layer, the
pool lease. The baseline, measured in the same run, is the same model and tool
calls made by a hand-written loop without a graph; the difference between the two
is the graph's own cost. Each agent is built once (building is not a step).

Where the sync time went (cProfile): LangGraph's prebuilt ``ToolNode`` ran the calls
of a round on a new ``ThreadPoolExecutor`` thread, started per round (milliseconds on
a loaded host); the agent's own tools node (``agent/_run_tools.py``) runs them in
order instead. What is left is LangGraph's and LangChain's per-node bookkeeping
(config merging, callbacks, signature checks of each node function).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from langchain_daytona_exec import DaytonaToolkit, SandboxPool, create_code_interpreter_agent
from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step

ROUNDS = 20
RUNS = 7
WARM_RUNS = 3
"""Runs played before measuring (caches, first leases). On a shared, loaded host the
per-step figures still vary by 2-3x from run to run: compare within one run."""
TARGET_MS = 2.0
CONFIG: RunnableConfig = {"configurable": {"thread_id": "bench"}}

timers = {"model": 0.0, "code": 0.0}


class TimedModel(ScriptedChatModel):
    """The scripted model, with the time inside its invoke counted as model time."""

    def invoke(self, *args: Any, **kwargs: Any) -> AIMessage:
        started = time.perf_counter()
        try:
            return super().invoke(*args, **kwargs)
        finally:
            timers["model"] += time.perf_counter() - started

    async def ainvoke(self, *args: Any, **kwargs: Any) -> AIMessage:
        started = time.perf_counter()
        try:
            return await super().ainvoke(*args, **kwargs)
        finally:
            timers["model"] += time.perf_counter() - started


class TimedBackend:
    """LocalBackend whose sandboxes count the time inside ``run_code`` as code time."""

    name = "local"

    def __init__(self) -> None:
        self.inner = LocalBackend()

    def create(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        sb = self.inner.create(labels=labels)
        run_code = sb.run_code

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return run_code(*args, **kwargs)
            finally:
                timers["code"] += time.perf_counter() - started

        sb.run_code = timed  # type: ignore[method-assign]
        return sb

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        return await asyncio.to_thread(self.create, labels=labels)


def script() -> list[Any]:
    """Every run's steps, played in order by one model (the agent is built once)."""
    one = [ai_step("", ("python", {"code": "x += 1"})) for _ in range(ROUNDS)] + ["done"]
    return one * (WARM_RUNS + RUNS)


def measure(run: Any) -> tuple[float, float]:  # run() plays one run's steps
    """Median (overhead per step, total per step) in ms over RUNS runs of ``run()``."""
    overheads, totals = [], []
    for _ in range(WARM_RUNS):
        run()
    for _ in range(RUNS):
        timers["model"] = timers["code"] = 0.0
        started = time.perf_counter()
        run()
        total = time.perf_counter() - started
        overheads.append((total - timers["model"] - timers["code"]) / ROUNDS * 1000)
        totals.append(total / ROUNDS * 1000)
    return statistics.median(overheads), statistics.median(totals)


def main() -> None:
    backend = TimedBackend()
    rows: list[tuple[str, str, str, str, str]] = []
    with SandboxPool(backend, max_size=32) as pool:  # type: ignore[arg-type]
        with pool.session("bench") as sb:
            sb.run_code("x = 0")
        tools = DaytonaToolkit(pool=pool).get_tools()
        python_tool = next(t for t in tools if t.name == "python")

        loop_model = TimedModel(script=script())

        def loop() -> None:  # the baseline: the same calls without a graph
            messages: list[BaseMessage] = [HumanMessage("count")]
            while True:
                reply = loop_model.invoke(messages)
                messages.append(reply)
                if not reply.tool_calls:
                    return
                for call in reply.tool_calls:
                    result = python_tool.invoke({**call, "type": "tool_call"}, CONFIG)
                    assert isinstance(result, ToolMessage)
                    messages.append(result)

        def graph(saver: InMemorySaver | None, prefix: str) -> Any:
            agent = create_code_interpreter_agent(
                TimedModel(script=script()), toolkit=tools, checkpointer=saver
            )
            runs = iter(range(WARM_RUNS + RUNS))
            for i in range(WARM_RUNS + RUNS):  # each thread's sandbox exists beforehand:
                with pool.session(f"{prefix}{i}") as sb:  # creating one is not a step
                    sb.run_code("x = 0")

            def run() -> None:  # a new conversation (thread) each run
                config: RunnableConfig = {"configurable": {"thread_id": f"{prefix}{next(runs)}"}}
                out = agent.invoke({"messages": [HumanMessage("count")]}, config)
                assert out["messages"][-1].content == "done"

            return run

        agent = create_code_interpreter_agent(TimedModel(script=script()), toolkit=tools)

        event_loop = asyncio.new_event_loop()  # one loop, as a server keeps (asyncio.run
        # per run would add the loop's own start and shutdown to every step)

        def agraph() -> None:
            run = agent.ainvoke({"messages": [HumanMessage("count")]}, CONFIG)
            out = event_loop.run_until_complete(run)
            assert out["messages"][-1].content == "done"

        print("  baseline loop...", file=sys.stderr, flush=True)
        base_over, base_total = measure(loop)
        for name, run in (
            ("graph.invoke, no checkpointer", graph(None, "plain")),
            ("graph.invoke, InMemorySaver", graph(InMemorySaver(), "saved")),
            ("graph.ainvoke, no checkpointer", agraph),
        ):
            print(f"  {name}...", file=sys.stderr, flush=True)
            over, total = measure(run)
            graph_ms = over - base_over
            rows.append(
                (
                    f"{name}: overhead per step (step total {total:.2f} ms)",
                    f"{over:.2f} ms",
                    f"loop without graph {base_over:.2f} ms (total {base_total:.2f} ms)",
                    f"graph's own {graph_ms:.2f} ms",
                    f"graph's own <= {TARGET_MS:g} ms: {'yes' if graph_ms <= TARGET_MS else 'NO'}",
                )
            )
        event_loop.close()
    print()
    print("Reference agent: overhead per step (model and code time subtracted)")
    print("| metric | ours | baseline | difference | target |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(
        f"{ROUNDS} python steps per run, median of {RUNS} runs; Python "
        f"{platform.python_version()}, {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
