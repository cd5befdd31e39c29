"""The engine and the pool with many live sandboxes (issue: flat creation cost at scale).

Usage: ``python benchmarks/scale.py [--live N] [--launcher auto|forkserver|bwrap]``
(default 200 live sandboxes, the issue's figure is 1000; the default launcher).

Prints, each beside its baseline from the same run:

* create + first call on an empty host vs with N live sandboxes (target: <= 1.5x); the
  empty host is measured before the N are made and again after they are closed (other
  load on a shared machine moves a single baseline by 2x), the ratio is over their mean;
* the host's CPU use while the N sandboxes idle (2 s of /proc/stat; work the kernel
  does per live process, e.g. a memory monitor's page walks, slows every create);
* host memory per live sandbox (MemAvailable drop / N);
* ``SandboxPool(max_size=N)`` holding N leased keys: one call per key, p50 and p99
  (target: p99 <= 5 ms), and the time to close them all;
* the host's mount table size, the suspected cause of growing creation cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from langchain_daytona_exec import LocalBackend, SandboxPool

PROBES = 15
IDLE_S = 2.0
"""How long the host's CPU use is sampled while the sandboxes idle."""


def mem_available_kb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def mounts() -> int:
    with open("/proc/self/mountinfo") as fh:
        return sum(1 for _ in fh)


def cpu_busy(seconds: float) -> float:
    """The share of all CPUs busy (not idle, not iowait) over ``seconds``, in percent."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return 100 * (busy1 - busy0) / max(total1 - total0, 1)


def probe(backend: LocalBackend) -> float:
    out = []
    for _ in range(PROBES):
        start = time.perf_counter()
        sb = backend.create()
        sb.run_code("x = 1")
        out.append((time.perf_counter() - start) * 1000)
        sb.close()
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", type=int, default=200, help="live sandboxes (1000 in the issue)")
    parser.add_argument(
        "--launcher", default="auto", choices=["auto", "forkserver", "bwrap"], help="root mode"
    )
    args = parser.parse_args()
    n = args.live
    backend = LocalBackend(launcher=args.launcher)
    backend.create().close()
    empty_before = probe(backend)
    idle_empty = cpu_busy(IDLE_S)
    before_kb, mounts_before = mem_available_kb(), mounts()
    start = time.perf_counter()
    live = [backend.create() for _ in range(n)]
    create_all_s = time.perf_counter() - start
    per_sandbox_mb = (before_kb - mem_available_kb()) / 1024 / n
    mounts_live = mounts()
    idle_live = cpu_busy(IDLE_S)
    crowded = probe(backend)
    start = time.perf_counter()
    for sb in live:
        sb.close()
    close_all_s = time.perf_counter() - start
    empty_after = probe(backend)
    empty = (empty_before + empty_after) / 2

    with SandboxPool(backend, max_size=n, idle_ttl_s=None, acquire_timeout=600) as pool:
        keys = [f"k{i}" for i in range(n)]
        for key in keys:
            with pool.session(key) as sb:
                sb.run_code("x = 1")
        calls = []
        for key in keys:
            start = time.perf_counter()
            with pool.session(key) as sb:
                sb.run_code("x += 1")
            calls.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
    pool_close_s = time.perf_counter() - start
    calls.sort()
    p50, p99 = statistics.median(calls), calls[int(len(calls) * 0.99) - 1]

    print(f"## {n} live local sandboxes, launcher={args.launcher} (medians of {PROBES} probes)\n")
    print("| figure | ours | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| create + first call with {n} live | {crowded:.1f} ms | {empty_before:.1f} / "
        f"{empty_after:.1f} ms (empty host, before / after) | {crowded / empty:.2f}x | <= 1.5x |"
    )
    print(f"| host CPU busy while idle | {idle_live:.0f}% with {n} live | {idle_empty:.0f}% | | |")
    print(f"| host memory per live sandbox | {per_sandbox_mb:.1f} MB | | | <= 5 MB |")
    print(
        f"| pool: one call per leased key, p50 / p99 | {p50:.2f} / {p99:.2f} ms | | | p99 <= 5 ms |"
    )
    print(
        f"| create {n} / close {n} / close a pool of {n} | {create_all_s:.1f} / "
        f"{close_all_s:.1f} / {pool_close_s:.1f} s | | | |"
    )
    print(f"| host mount table | {mounts_live} entries | {mounts_before} (empty) | | |")
    print(f"\n(load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
