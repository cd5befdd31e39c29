"""Benchmark of SandboxPool on the local backend, all in one run.

Run with ``.venv/bin/python benchmarks/pool.py`` (about a minute). Prints one markdown
table. Sections:

1. warm acquire of a new key (``min_idle`` pool) vs a cold create, each followed
   by its first call; and the first *data* call (numpy, pandas, matplotlib) with a
   ``warmup`` pool vs a cold sandbox that pays the imports
2. throughput of 8 keys x 100 calls of ``x += 1`` from 8 threads on this machine's
   cores, and of the same 800 calls on one key (serialized)
3. memory of 200 idle leased sandboxes: the summed PSS of every process in their
   trees (``/proc/PID/smaps_rollup``) and the host's used-memory delta
4. leaks after ``close()``: sandbox processes and host folders left behind
5. the first lease right after ``SandboxPool(min_idle=2, warmup=...)`` is built:
   served on demand (its own create + warmup, the filler waiting meanwhile) vs a
   bare create + the same warmup; and ``wait_ready()`` before the first lease
6. overload: 32 concurrent conversations of the reference agent (scripted model, 4
   python calls each, ``ainvoke`` under ``asyncio.gather``) on ``max_size=8``, beside
   the same 32 run as four waves of eight; both must answer all 32 correctly

Progress goes to stderr, the table (once) to stdout.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langchain_core.messages import HumanMessage

from langchain_daytona_exec import DaytonaToolkit, create_code_interpreter_agent
from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.backends.local._hostdirs import default_base_dir
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.testing import ScriptedChatModel, ai_step

COLD_N = 10
WARM_N = 10
DATA_N = 3
KEYS = 8
CALLS = 100
MEM_N = 200
CREATE_THREADS = 8
DATA_WARMUP = "import numpy, pandas, matplotlib.pyplot"
DATA_CALL = (
    "import numpy, pandas, matplotlib.pyplot\npandas.DataFrame({'a': numpy.arange(3)}).shape"
)
SANDBOX_DIRS = Path(default_base_dir())
CONVERSATIONS = 32
OVERLOAD_SIZE = 8
MB = 1024 * 1024

rows: list[tuple[str, str, str, str, str]] = []


def row(metric: str, ours: str, baseline: str = "", ratio: str = "", target: str = "") -> None:
    rows.append((metric, ours, baseline, ratio, target))
    print(f"  measured: {metric}", file=sys.stderr, flush=True)  # progress, not the table


def progress(section: str) -> None:
    print(f"  {section}...", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median_time(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        time.sleep(0.005)


# -- process accounting ----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def sandbox_pids(root: int) -> set[int]:
    """Every process below ``root`` inside a bwrap tree (bwrap included)."""
    children = _children()
    found: set[int] = set()
    stack = [(root, False)]
    while stack:
        pid, inside = stack.pop()
        for child in children.get(pid, []):
            try:
                argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            child_inside = inside or b"bwrap" in argv0
            if child_inside:
                found.add(child)
            stack.append((child, child_inside))
    return found


def pss_bytes(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def host_used_bytes() -> int:
    info: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            info[name] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


def sandbox_dirs() -> set[str]:
    if not SANDBOX_DIRS.is_dir():
        return set()
    return {p.name for p in SANDBOX_DIRS.iterdir() if p.name.startswith(f"{os.getpid()}-")}


# -- sections ----------------------------------------------------------------------------


def bench_acquire(backend: LocalBackend) -> None:
    def cold() -> None:
        sb = backend.create()
        sb.run_code("x = 1")
        sb.close()

    cold()  # first create pays one-time setup (mode detection, caches)
    cold_s = median_time(cold, COLD_N)

    acquire_times: list[float] = []
    first_call_times: list[float] = []
    with SandboxPool(backend, min_idle=2, max_size=WARM_N + 2) as pool:
        for i in range(WARM_N):
            wait_for(lambda: pool.stats().idle >= 1)
            started = time.perf_counter()
            with pool.session(f"warm-{i}") as sb:
                acquired = time.perf_counter()
                sb.run_code("x = 1")
                done = time.perf_counter()
            acquire_times.append(acquired - started)
            first_call_times.append(done - started)
        stats = pool.stats()
    warm_s = statistics.median(first_call_times)
    acq_s = statistics.median(acquire_times)
    row(
        "new key, ready for its first call (create/acquire + `x = 1`), median",
        f"warm {ms(warm_s)}",
        f"cold {ms(cold_s)}",
        f"{warm_s / cold_s:.3f}x",
        "<= 0.05x",
    )
    row(
        "warm acquire alone, median (pool p50 / p95)",
        ms(acq_s),
        "",
        "",
        f"p50 {stats.acquire_p50_ms:.2f} ms, p95 {stats.acquire_p95_ms:.2f} ms",
    )

    def cold_data() -> None:
        sb = backend.create()
        result = sb.run_code(DATA_CALL, timeout=60)
        assert result.result == "(3, 1)", result
        sb.close()

    cold_data_s = median_time(cold_data, DATA_N)
    times: list[float] = []
    with SandboxPool(backend, min_idle=1, max_size=DATA_N + 1, warmup=DATA_WARMUP) as pool:
        for i in range(DATA_N):
            wait_for(lambda: pool.stats().idle >= 1)
            started = time.perf_counter()
            with pool.session(f"data-{i}") as sb:
                assert sb.run_code(DATA_CALL).result == "(3, 1)"
            times.append(time.perf_counter() - started)
    warm_data_s = statistics.median(times)
    row(
        "new key's first data call (numpy+pandas+matplotlib), median",
        f"warmup pool {ms(warm_data_s)}",
        f"cold {ms(cold_data_s)}",
        f"{warm_data_s / cold_data_s:.3f}x",
        "import cost paid ahead",
    )


def bench_throughput(backend: LocalBackend) -> None:
    with SandboxPool(backend, max_size=KEYS) as pool:
        for k in range(KEYS):
            with pool.session(f"k{k}") as sb:
                sb.run_code("x = 0")

        def run(key: str) -> None:
            for _ in range(CALLS):
                with pool.session(key) as sb:
                    sb.run_code("x += 1")

        started = time.perf_counter()
        with ThreadPoolExecutor(KEYS) as ex:
            list(ex.map(run, [f"k{k}" for k in range(KEYS)]))
        parallel_s = time.perf_counter() - started
        for k in range(KEYS):
            with pool.session(f"k{k}") as sb:
                assert sb.run_code("x").result == str(CALLS)

        with pool.session("one") as sb:
            sb.run_code("x = 0")
        started = time.perf_counter()
        with ThreadPoolExecutor(KEYS) as ex:
            list(ex.map(run, ["one"] * KEYS))
        one_key_s = time.perf_counter() - started
        with pool.session("one") as sb:
            assert sb.run_code("x").result == str(KEYS * CALLS)
    total = KEYS * CALLS
    row(
        f"{KEYS} keys x {CALLS} calls (`x += 1`), {KEYS} threads, {os.cpu_count()} cores",
        f"{total / parallel_s:,.0f} calls/s ({parallel_s:.2f} s)",
        f"same calls on 1 key: {total / one_key_s:,.0f} calls/s",
        "",
        f"per call {parallel_s / total * 1000:.2f} ms",
    )


def bench_memory_and_leaks(backend: LocalBackend) -> None:
    me = os.getpid()
    before_pids = sandbox_pids(me)
    before_dirs = sandbox_dirs()
    before_used = host_used_bytes()
    pool = SandboxPool(backend, max_size=MEM_N, acquire_timeout=120)

    def lease(i: int) -> None:
        with pool.session(f"m{i}") as sb:
            sb.run_code("x = 1")

    started = time.perf_counter()
    with ThreadPoolExecutor(CREATE_THREADS) as ex:
        list(ex.map(lease, range(MEM_N)))
    create_s = time.perf_counter() - started
    time.sleep(0.5)
    stats = pool.stats()
    assert stats.live == MEM_N, stats
    pids = sandbox_pids(me) - before_pids
    pss = pss_bytes(pids)
    used = host_used_bytes() - before_used
    row(
        f"{MEM_N} idle leased sandboxes: PSS of their {len(pids)} processes",
        f"{pss / MB:,.0f} MB ({pss / MEM_N / MB:.1f} MB each)",
        f"host used-memory delta {used / MB:,.0f} MB",
        "",
        f"fits in {host_total_gib():.0f} GiB; ready in {create_s:.1f} s",
    )

    started = time.perf_counter()
    pool.close()
    close_s = time.perf_counter() - started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (sandbox_pids(me) - before_pids):
        time.sleep(0.05)
    left_pids = sandbox_pids(me) - before_pids
    left_dirs = sandbox_dirs() - before_dirs
    row(
        "leaks after close() (processes / host folders)",
        f"{len(left_pids)} / {len(left_dirs)}",
        "",
        "",
        f"0 / 0; close took {close_s:.2f} s",
    )


def bench_first_lease(backend: LocalBackend) -> None:
    def bare() -> None:
        sb = backend.create()
        sb.run_code(DATA_WARMUP, timeout=60)
        assert sb.run_code(DATA_CALL).result == "(3, 1)"
        sb.close()

    bare_s = median_time(bare, DATA_N)
    on_demand: list[float] = []
    ready: list[float] = []
    after_ready: list[float] = []
    for _ in range(DATA_N):
        started = time.perf_counter()
        with SandboxPool(backend, min_idle=2, warmup=DATA_WARMUP) as pool:
            with pool.session("first") as sb:
                assert sb.run_code(DATA_CALL).result == "(3, 1)"
            on_demand.append(time.perf_counter() - started)
        started = time.perf_counter()
        with SandboxPool(backend, min_idle=2, warmup=DATA_WARMUP) as pool:
            assert pool.wait_ready(120)
            ready.append(time.perf_counter() - started)
            leased = time.perf_counter()
            with pool.session("first") as sb:
                assert sb.run_code(DATA_CALL).result == "(3, 1)"
            after_ready.append(time.perf_counter() - leased)
    first_s = statistics.median(on_demand)
    row(
        "first lease + data call right after SandboxPool(min_idle=2, warmup=...), median",
        f"{ms(first_s)} (on demand)",
        f"bare create + warmup + call {ms(bare_s)}",
        f"{first_s / bare_s:.2f}x",
        "one warm-up, not the whole warm pool",
    )
    row(
        "... or wait_ready() first: construction to ready / then lease + data call",
        f"{ms(statistics.median(ready))} / {ms(statistics.median(after_ready))}",
        "",
        "",
        "for servers: warm before taking traffic",
    )


def _conversation(n: int) -> tuple[ScriptedChatModel, int]:
    """Four python calls that need the earlier calls' variables; the answer quotes x."""
    calls = [f"x = {n}", "x = x * 3", "x = x + 7", "print('ANSWER', x)"]
    script: list[object] = [ai_step("", ("python", {"code": code})) for code in calls]
    script.append(lambda messages: str(messages[-1].content))
    return ScriptedChatModel(script=script), n * 3 + 7


async def _conversations(pool: SandboxPool, ids: range) -> int:
    """Run the conversations ``ids`` at once; returns how many answered right."""

    async def run(n: int) -> bool:
        model, expected = _conversation(n)
        agent = create_code_interpreter_agent(model, toolkit=DaytonaToolkit(pool=pool))
        out = await agent.ainvoke(
            {"messages": [HumanMessage("compute")]}, {"configurable": {"thread_id": f"c{n}"}}
        )
        return re.search(rf"ANSWER {expected}\b", str(out["messages"][-1].content)) is not None

    return sum(await asyncio.gather(*(run(n) for n in ids)))


def bench_overload(backend: LocalBackend) -> None:
    wave = OVERLOAD_SIZE

    def fresh_pool() -> SandboxPool:
        return SandboxPool(backend, max_size=OVERLOAD_SIZE, acquire_timeout=300)

    with fresh_pool() as pool:  # baseline: four waves of eight, one after another
        started = time.perf_counter()
        waves_ok = 0
        for first in range(0, CONVERSATIONS, wave):
            waves_ok += asyncio.run(_conversations(pool, range(first, first + wave)))
        waves_s = time.perf_counter() - started
    with fresh_pool() as pool:
        started = time.perf_counter()
        at_once_ok = asyncio.run(_conversations(pool, range(CONVERSATIONS)))
        at_once_s = time.perf_counter() - started
        stats = pool.stats()
    row(
        f"{CONVERSATIONS} agent conversations x 4 python calls at once, max_size={wave}",
        f"{at_once_s:.2f} s, {at_once_ok}/{CONVERSATIONS} right",
        f"4 waves of {wave}: {waves_s:.2f} s, {waves_ok}/{CONVERSATIONS} right",
        f"{at_once_s / waves_s:.2f}x",
        "<= 2x, all right",
    )
    row(
        "... its pool stats: evicted (of keys used < 60 s ago) / time waiting for a slot",
        f"{stats.evicted} ({stats.evicted_recent}) / {stats.wait_ms_total / 1000:.1f} s",
        "",
        "",
        "evictions only of finished runs",
    )


def host_total_gib() -> float:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 1024 / 1024


def main() -> None:
    started = time.perf_counter()
    backend = LocalBackend()
    print(
        f"running on {platform.node()} ({os.cpu_count()} cores), mode {backend.mode}",
        file=sys.stderr,
    )
    sections: list[tuple[str, Callable[[LocalBackend], None]]] = [
        ("acquire", bench_acquire),
        ("throughput", bench_throughput),
        ("memory and leaks", bench_memory_and_leaks),
        ("first lease", bench_first_lease),
        ("overload", bench_overload),
    ]
    only = set(sys.argv[1:])  # e.g. `benchmarks/pool.py overload` runs one section
    for name, section in sections:
        if not only or name.split()[0] in only:
            progress(name)
            section(backend)
    print()
    print("Pool benchmark: SandboxPool on LocalBackend, each number beside its baseline")
    print("| metric | ours | baseline | ratio | target / notes |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{host_total_gib():.0f} GiB, LocalBackend mode {backend.mode}, "
        f"threads alive {threading.active_count()}, total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
