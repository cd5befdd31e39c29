"""HTTP requests per tool call, and latency: DaytonaBackend through the emulator vs LocalBackend.

(Not ``daytona.py``: run as a script, that name would shadow the ``daytona`` SDK.)
Run: ``.venv/bin/python benchmarks/daytona_bench.py [--rounds N]``. Everything stays on
127.0.0.1 (the emulator, in-process). The request counts are what Daytona's cloud
would see; the latency gap is the SDK + HTTP/websocket + emulator overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from langchain_daytona_exec import LocalBackend, Sandbox
from langchain_daytona_exec.backends.daytona import DaytonaBackend
from langchain_daytona_exec.emulator import Emulator

CALLS: dict[str, Callable[[Sandbox], object]] = {
    "python x + 1": lambda sb: sb.run_code("x = 1\nx + 1"),
    "python + chart": lambda sb: sb.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 2]);"),
    "shell echo": lambda sb: sb.exec("echo hi"),
    "write_file 1 KiB": lambda sb: sb.write_file("f.txt", b"x" * 1024),
    "read_file 1 KiB": lambda sb: sb.read_file("f.txt"),
    "list_files": lambda sb: sb.list_files("."),
}


def measure(sb: Sandbox, fn: Callable[[Sandbox], object], rounds: int) -> float:
    fn(sb)  # warm up (imports, context creation)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn(sb)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with Emulator() as emu:
        backend = DaytonaBackend(api_key="bench", api_url=emu.api_url, use_polling=True)
        with backend.create() as remote, LocalBackend().create() as local:
            print(
                "Daytona benchmark: DaytonaBackend through the in-process emulator vs "
                f"LocalBackend (requests per call; median of {args.rounds} rounds)"
            )
            print(f"{'call':<18} {'HTTP':>5} {'WS':>4} {'daytona p50':>12} {'local p50':>10}")
            for name, fn in CALLS.items():
                fn(remote)
                emu.reset_stats()
                fn(remote)
                stats = emu.stats()
                remote_ms = measure(remote, fn, args.rounds)
                local_ms = measure(local, fn, args.rounds)
                print(
                    f"{name:<18} {stats['http_requests']:>5} {stats['websockets']:>4} "
                    f"{remote_ms:>10.1f}ms {local_ms:>8.1f}ms"
                )


if __name__ == "__main__":
    main()
