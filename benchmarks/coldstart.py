"""Where a new local sandbox's start-up time goes, step by step, beside ``python3 -c pass``.

Each step adds one thing to the one before, so the differences attribute the cost:

1. ``python3 -c pass`` (the baseline the targets are stated against) and
   ``python3 -I -S -c pass`` (no ``site``: how the kernel starts);
2. ``bwrap`` with the namespaces and read-only mounts of a sandbox, running ``true``;
3. the same running ``python3 -I -S -c pass``;
4. the same importing the kernel from cached bytecode (what the sandbox runs);
5. ``LocalBackend(launcher="bwrap").create()`` + the first ``run_code`` reply, measured
   in process (adds cgroups, the workspace tmpfs, seccomp, the uid switch, the config
   fd, the pipes);
6. the same with ``launcher="forkserver"`` (the root-mode default): the sandbox is forked
   from a zygote with the kernel already imported, which then sets up the same
   namespaces, mounts, capabilities, seccomp filter and uid itself;
7. the zygote's own start (a fresh ``python -I -S`` importing the kernel), paid once per
   host process, usually in the background while the backend is constructed.

Steps 1-4 are whole processes (fork + exec + wait), interleaved round by round so a
busy machine slows them alike. Run as root (the sandbox's root mode).
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import time

from langchain_daytona_exec import LocalBackend
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local._forkserver import fork_server
from langchain_daytona_exec.backends.local._spawner import spawner

ROUNDS = 30


def bwrap_prefix() -> list[str]:
    """Namespaces and mounts close to a sandbox's (without limits, seccomp or uid switch)."""
    paths = isolation.host_python_paths()
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session"]
    argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup"]
    argv += ["--unshare-net", "--clearenv", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib64"):
        host = f"/{top}"
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    backends = os.path.dirname(isolation.KERNEL_DIR)
    for ro in (*paths.prefixes, *paths.site_packages, backends):
        argv += ["--ro-bind", ro, ro]
    return argv


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    python = os.path.realpath(sys.executable)
    backends = os.path.dirname(isolation.KERNEL_DIR)  # holds cellrunner/
    kernel = (
        f"import sys; sys.path[:0] = [{isolation.KERNEL_DIR!r}, {backends!r}]; "
        "import kernel, protocol"
    )
    bw = bwrap_prefix()
    steps = {
        "python3 -c pass": ["/usr/bin/python3", "-c", "pass"],
        "python3 -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
        "bwrap + true": [*bw, "--", "/usr/bin/true"],
        "bwrap + python -I -S -c pass": [*bw, "--", python, "-I", "-S", "-c", "pass"],
        "bwrap + python + kernel import": [*bw, "--", python, "-I", "-S", "-c", kernel],
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    backends = {
        "LocalBackend create + first reply (bwrap)": LocalBackend(launcher="bwrap"),
        "LocalBackend create + first reply (fork-server)": LocalBackend(launcher="forkserver"),
    }
    for name, backend in backends.items():
        samples[name] = []
        backend.create().close()  # detection, bytecode, font cache, the zygote
    zygote = "fork-server start (once per process)"
    samples[zygote] = []
    for argv in steps.values():
        timed(argv)
    for _ in range(ROUNDS):
        for name, argv in steps.items():
            samples[name].append(timed(argv))
        for name, backend in backends.items():
            start = time.perf_counter()
            sb = backend.create()
            sb.run_code("x = 1")
            samples[name].append((time.perf_counter() - start) * 1000)
            sb.close()
    server = fork_server()  # after the rounds: a fresh zygote's first fork is not timed
    for _ in range(ROUNDS):
        spawner().call(server.stop, 10)
        start = time.perf_counter()
        spawner().call(functools.partial(server.ensure, 30), 30)
        samples[zygote].append((time.perf_counter() - start) * 1000)
    base = statistics.median(samples["python3 -c pass"])
    print(f"## Cold start, step by step (median of {ROUNDS} interleaved rounds, ms)\n")
    print("| step | median | p90 | vs `python3 -c pass` | added by this step |")
    print("|---|---|---|---|---|")
    previous: float | None = None
    for name, xs in samples.items():
        med = statistics.median(xs)
        p90 = sorted(xs)[int(len(xs) * 0.9) - 1]
        alone = name.startswith(
            ("python3 -I", "fork-server", "LocalBackend create + first reply (f")
        )
        added = "" if previous is None or alone else f"{med - previous:+.1f}"
        print(f"| {name} | {med:.1f} | {p90:.1f} | {med / base:.2f}x | {added} |")
        if not name.startswith("python3 -c"):
            previous = med
    print(f"\n(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
