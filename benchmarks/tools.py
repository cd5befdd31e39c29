"""Tool-layer overhead: ``tool.invoke(ToolCall)`` vs ``Sandbox.run_code`` on one warm sandbox.

Prints a markdown table. Both sides run the same code (``x += 1``) in the same
sandbox in the same run; the difference is what the LangChain tool layer costs
(config parsing, pool lease, formatting, ToolMessage building, callbacks).
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time

from langchain_core.messages import ToolMessage

from langchain_daytona_exec import LocalBackend, SandboxPool
from langchain_daytona_exec.tools import DaytonaPythonTool
from langchain_daytona_exec.tools._format import format_execution
from langchain_daytona_exec.types import Chart, ExecutionResult

N = 2000
THREAD = {"configurable": {"thread_id": "bench"}}


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def p95_us(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.95) - 1] * 1e6


def main() -> None:
    with SandboxPool(LocalBackend()) as pool:
        tool = DaytonaPythonTool(pool=pool)
        call = {"name": "python", "args": {"code": "x += 1"}, "id": "b", "type": "tool_call"}
        tool.invoke({**call, "args": {"code": "x = 0"}}, THREAD)
        with pool.session("bench") as sb:
            for _ in range(200):
                sb.run_code("x += 1")
            raw = []
            for _ in range(N):
                t = time.perf_counter()
                sb.run_code("x += 1")
                raw.append(time.perf_counter() - t)
        for _ in range(200):
            tool.invoke(call, THREAD)
        via_tool = []
        for _ in range(N):
            t = time.perf_counter()
            msg = tool.invoke(call, THREAD)
            via_tool.append(time.perf_counter() - t)
        assert isinstance(msg, ToolMessage) and msg.status == "success"

        async def async_calls() -> list[float]:
            out = []
            for _ in range(N // 2):
                t = time.perf_counter()
                await tool.ainvoke(call, THREAD)
                out.append(time.perf_counter() - t)
            return out

        via_ainvoke = asyncio.run(async_calls())

    png = b"\x89PNG\r\n\x1a\n" + bytes(100 * 1024)
    plain = format_execution(ExecutionResult(stdout="done\n"))
    charted = format_execution(ExecutionResult(stdout="done\n", charts=[Chart(png, "Sales")]))
    b64_len = len(base64.b64encode(png))

    overhead = median_us(via_tool) - median_us(raw)
    print("## Tool-layer overhead (local backend, one warm sandbox, `x += 1`)\n")
    print("| measure | median | p95 | target | met? |")
    print("|---|---|---|---|---|")
    raw_row = f"{median_us(raw):.0f} µs | {p95_us(raw):.0f} µs"
    print(f"| `Sandbox.run_code` (baseline), N={N} | {raw_row} | | |")
    print(
        f"| `tool.invoke(ToolCall)`, N={N} | {median_us(via_tool):.0f} µs | "
        f"{p95_us(via_tool):.0f} µs | | |"
    )
    print(
        f"| `await tool.ainvoke(ToolCall)`, N={N // 2} | {median_us(via_ainvoke):.0f} µs | "
        f"{p95_us(via_ainvoke):.0f} µs | | |"
    )
    print(
        f"| tool layer overhead (median difference) | {overhead:.0f} µs | | ≤ 300 µs | "
        f"{'yes' if overhead <= 300 else 'no'} |"
    )
    added = len(charted) - len(plain)
    print(
        f"| characters a 100 KB chart adds to the model's text | {added} | | < 200 | "
        f"{'yes' if added < 200 else 'no'} |"
    )
    print(f"\n(for scale: the same chart as base64 would be {b64_len:,} characters)")


if __name__ == "__main__":
    main()
