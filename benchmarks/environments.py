"""Environment layers and network allow-lists: what they cost a new sandbox.

Prints a markdown table, every figure beside its baseline from the same run:

* the first build of a layer (pip, from a package index on loopback) vs reusing it in a
  **new process** (the layer is found on disk, nothing is installed);
* create + first call of a sandbox whose environment has a built layer vs a plain
  sandbox (target: the layer adds < 5 ms);
* the same for a sandbox with a network allow-list (proxy socket + forwarder);
* one HTTP GET through the allow-list proxy vs the same GET from the host.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_daytona_exec import Environment, LocalBackend
from tests.integration_tests.package_index import build_wheel, serve_index

N = 15


def create_ms(backend: LocalBackend, n: int = N) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with backend.create() as sb:
            sb.run_code("x = 1")
            out.append((time.perf_counter() - t) * 1000)
    return out


def fmt(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, serve_index(Path(tmp)) as index:
        build_wheel(Path(tmp))
        layers_dir = os.path.join(tmp, "layers")
        env = Environment(packages=["ldxdemo"], index_url=f"{index.url}/simple/")
        script = textwrap.dedent(
            f"""
            import time
            from langchain_daytona_exec import Environment
            from langchain_daytona_exec.backends.local import _layers as layers
            env = Environment(packages=["ldxdemo"], index_url={index.url + "/simple/"!r})
            t = time.perf_counter()
            layers.build_layer(env, layers_dir={layers_dir!r})
            print((time.perf_counter() - t) * 1000)
            """
        )

        def run() -> float:
            out = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True
            )
            return float(out.stdout.strip())

        first_build = run()
        reuse = [run() for _ in range(5)]

        plain = LocalBackend()
        with_env = LocalBackend(environment=env, layers_dir=layers_dir)
        allow = LocalBackend(network=[f"127.0.0.1:{index.port}"])
        for b in (plain, with_env, allow):  # warm: detection, bytecode, the layer lookup
            create_ms(b, 2)
        rounds: dict[str, list[float]] = {"plain": [], "env": [], "allow": []}
        for _ in range(3):  # interleaved, so load on the machine hits all three alike
            rounds["plain"] += create_ms(plain)
            rounds["env"] += create_ms(with_env)
            rounds["allow"] += create_ms(allow)

        host_get, proxied_get = [], []
        with allow.create() as sb:
            code = f"import urllib.request as u\nu.urlopen({index.url + '/hello'!r}).read()"
            sb.run_code(code)
            for _ in range(50):
                t = time.perf_counter()
                urllib.request.urlopen(f"{index.url}/hello").read()
                host_get.append((time.perf_counter() - t) * 1000)
                r = sb.run_code(
                    f"import time\nt = time.perf_counter()\n{code}\n"
                    "(time.perf_counter() - t) * 1000"
                )
                proxied_get.append(float(r.result or "nan"))

    d_env = statistics.median(rounds["env"]) - statistics.median(rounds["plain"])
    d_allow = statistics.median(rounds["allow"]) - statistics.median(rounds["plain"])
    print("## Environments and network allow-lists (medians, ms)\n")
    print("| figure | ours | baseline | difference |")
    print("|---|---|---|---|")
    print(
        f"| layer: build once vs reuse in a new process | {fmt(reuse)} "
        f"| {first_build:.0f} (first build) | |"
    )
    print(
        f"| create + first call, environment with a layer | {fmt(rounds['env'])} "
        f"| {fmt(rounds['plain'])} (plain) | {d_env:+.1f} (target < 5) |"
    )
    print(
        f"| create + first call, network allow-list | {fmt(rounds['allow'])} "
        f"| {fmt(rounds['plain'])} (plain) | {d_allow:+.1f} |"
    )
    print(
        f"| HTTP GET on loopback through the proxy | {fmt(proxied_get)} "
        f"| {fmt(host_get)} (from the host) | "
        f"{statistics.median(proxied_get) - statistics.median(host_get):+.2f} |"
    )


if __name__ == "__main__":
    main()
