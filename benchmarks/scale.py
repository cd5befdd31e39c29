"""The engine and the pool with many live sandboxes (issue: flat creation cost at scale).

Usage: ``python benchmarks/scale.py [--live N] [--launcher auto|forkserver|bwrap]``
(default 200 live sandboxes, the issue's figure is 1000; the default launcher).

Prints, each beside its baseline from the same run:

* create + first call on an empty host vs with N live sandboxes (target: <= 1.5x);
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


def mem_available_kb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def mounts() -> int:
    with open("/proc/self/mountinfo") as fh:
        return sum(1 for _ in fh)


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
    empty = probe(backend)
    before_kb, mounts_before = mem_available_kb(), mounts()
    start = time.perf_counter()
    live = [backend.create() for _ in range(n)]
    create_all_s = time.perf_counter() - start
    per_sandbox_mb = (before_kb - mem_available_kb()) / 1024 / n
    mounts_live = mounts()
    crowded = probe(backend)
    start = time.perf_counter()
    for sb in live:
        sb.close()
    close_all_s = time.perf_counter() - start

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
        f"| create + first call with {n} live | {crowded:.1f} ms | {empty:.1f} ms (empty "
        f"host) | {crowded / empty:.2f}x | <= 1.5x |"
    )
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
