"""Benchmark of the local sandbox engine, ours vs a baseline, side by side in one run.

Run with ``make bench`` or ``.venv/bin/python benchmarks/engine.py``. Prints one
markdown table (plus the machine it ran on and notes). Sections:

1. cold sandbox ready (create + first ``run_code("x = 1")``) vs ``python3 -c pass``
2. warm round trip of ``x += 1`` vs a local Jupyter kernel, and vs a raw pipe echo
3. idle memory per sandbox (PSS of its whole process tree) and host-side overhead
4. 50 sandboxes started at once
5. a 200 MB output flood: wall time, truncation and host memory growth
6. a forged reply frame of the maximum size the host accepts, written by the code to
   the kernel's response pipe: host peak memory growth, vs a plain ``json.loads``
7. a Ctrl-C (SIGINT) in the middle of a call, then 100 calls: their time, all right

The flood runs in a fresh host process (``--flood-child``) so its peak memory is
measured on its own, not mixed with what the other sections allocated.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from langchain_daytona_exec import LocalBackend, LocalLimits
from langchain_daytona_exec.backends.local import LocalSandbox, protocol

COLD_N = 30
WARM_N = 2000
JUPYTER_N = 300
PIPE_N = 2000
MEM_N = 20
BURST_N = 50
FLOOD_CODE = (
    "import sys\nchunk = 'x' * 1023 + '\\n'\nfor _ in range(200 * 1024): sys.stdout.write(chunk)"
)
MB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the result table."""

    metric: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: str


def median(xs: list[float]) -> float:
    """Median of a non-empty list."""
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    """95th percentile, nearest-rank (for N=30 the 29th smallest)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def ms(seconds: float) -> str:
    """Seconds formatted as milliseconds."""
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def us(seconds: float) -> str:
    """Seconds formatted as microseconds."""
    return f"{seconds * 1e6:.0f} µs"


def yes(ok: bool) -> str:
    """Checkmark for the met? column."""
    return "yes" if ok else "**NO**"


def status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field (VmRSS, VmHWM...) or a count (Threads) of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, via /proc/PID/task/TID/children."""
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.append(pid)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                todo.extend(int(c) for c in f.read().split())
    return found


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss, Private_* of /proc/PID/smaps_rollup in kB (empty if the pid is gone)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def tree_memory_kb(root: int) -> tuple[int, int, int, int]:
    """(PSS, USS, RSS, process count) summed over ``root``'s process tree, in kB."""
    pss = uss = rss = 0
    pids = process_tree(root)
    for pid in pids:
        m = smaps_rollup(pid)
        pss += m.get("Pss", 0)
        uss += m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)
        rss += m.get("Rss", 0)
    return pss, uss, rss, len(pids)


def time_cmd(argv: list[str], n: int) -> list[float]:
    """Wall times of ``n`` sequential runs of ``argv`` (after one untimed warm-up)."""
    subprocess.run(argv, check=True)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        times.append(time.perf_counter() - t)
    return times


@contextlib.contextmanager
def closing_all(sandboxes: list[LocalSandbox]) -> Iterator[list[LocalSandbox]]:
    """Close every sandbox in the list on the way out, even on error."""
    try:
        yield sandboxes
    finally:
        errors = 0
        for sb in sandboxes:
            try:
                sb.close()
            except Exception:
                errors += 1
        if errors:
            print(f"warning: {errors} sandbox(es) failed to close", file=sys.stderr)


def machine_info(backend: LocalBackend) -> list[str]:
    """Lines describing the machine, the interpreters and bwrap."""
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    bwrap = shutil.which("bwrap")
    bwrap_v = (
        subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
        if bwrap
        else "not found"
    )
    sys_py = "/usr/bin/python3"
    sys_py_v = (
        subprocess.run([sys_py, "-V"], capture_output=True, text=True).stdout.strip()
        if os.path.exists(sys_py)
        else "absent"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{mem_kb / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}, "
        f"load average at start {load}",
        f"- host Python: {platform.python_version()} ({sys.executable}); "
        f"/usr/bin/python3: {sys_py_v}",
        f"- bwrap: {bwrap_v} ({bwrap}); isolation mode: {backend.mode}",
    ]


# -- 1. cold start -----------------------------------------------------------------------------


def bench_cold(backend: LocalBackend, rows: list[Row], notes: list[str]) -> None:
    """Create + first call, sequentially, vs interpreter start-up baselines."""
    warm = backend.create()
    try:
        warm.run_code("x = 1")
    finally:
        warm.close()
    times: list[float] = []
    for _ in range(COLD_N):
        sb = None
        try:
            t = time.perf_counter()
            sb = backend.create()
            r = sb.run_code("x = 1")
            times.append(time.perf_counter() - t)
            assert r.ok, r
        finally:
            if sb is not None:
                sb.close()
    sys_py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    base = time_cmd([sys_py, "-c", "pass"], COLD_N)
    venv = time_cmd([sys.executable, "-c", "pass"], COLD_N)
    bare = time_cmd([sys.executable, "-I", "-S", "-c", "pass"], COLD_N)
    ratio = median(times) / median(base)
    rows.append(
        Row(
            f"1. cold ready, median (N={COLD_N})",
            ms(median(times)),
            f"`{sys_py} -c pass` {ms(median(base))}",
            f"{ratio:.2f}x",
            "≤ 4x",
            yes(ratio <= 4),
        )
    )
    rows.append(
        Row(
            "1. cold ready, p95",
            ms(p95(times)),
            f"`{sys_py} -c pass` {ms(p95(base))}",
            f"{p95(times) / p95(base):.2f}x",
            "(info)",
            "",
        )
    )
    for label, xs in (
        ("`sys.executable -c pass`", venv),
        ("`sys.executable -I -S -c pass`", bare),
    ):
        rows.append(
            Row(
                "1. cold ready, median / p95",
                f"{ms(median(times))} / {ms(p95(times))}",
                f"{label} {ms(median(xs))} / {ms(p95(xs))}",
                f"{median(times) / median(xs):.2f}x",
                "(extra baseline)",
                "",
            )
        )
    notes.append(
        "1: one untimed warm-up create came first (one-time costs: seccomp program "
        "compile, Python path discovery, cgroup parent setup); each baseline command "
        "also had one untimed warm-up run. Timed: `create()` + `run_code('x = 1')`; "
        "`close()` is outside the timing. p95 is nearest-rank."
    )


# -- 2. warm round trip ------------------------------------------------------------------------


PIPE_CHILD = """
import os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
while True:
    b = os.read(r, 8)
    if not b:
        break
    os.write(w, b)
"""


def pipe_round_trips(n: int) -> list[float]:
    """A tiny Python child echoing 8-byte frames over two pipes."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", PIPE_CHILD, str(req_r), str(resp_w)],
        pass_fds=(req_r, resp_w),
    )
    os.close(req_r)
    os.close(resp_w)
    times = []
    try:
        frame = b"\x00" * 8
        for i in range(n + 100):
            t = time.perf_counter()
            os.write(req_w, frame)
            got = 0
            while got < 8:
                got += len(os.read(resp_r, 8 - got))
            if i >= 100:
                times.append(time.perf_counter() - t)
    finally:
        os.close(req_w)
        proc.wait(5)
        os.close(resp_r)
    return times


def jupyter_round_trips(n: int) -> tuple[list[float], int]:
    """``x += 1`` on a local ipykernel: execute, then wait for reply and idle.

    Returns the times and the kernel's idle PSS in kB (process tree, measured alive).
    """
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(stderr=subprocess.DEVNULL)  # hide ipykernel's TCP warning
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)

        def once(code: str) -> None:
            msg_id = kc.execute(code)
            reply = kc.get_shell_msg(timeout=30)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = kc.get_shell_msg(timeout=30)
            assert reply["content"]["status"] == "ok", reply["content"]
            while True:
                msg = kc.get_iopub_msg(timeout=30)
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    return

        once("x = 0")
        for _ in range(30):
            once("x += 1")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            once("x += 1")
            times.append(time.perf_counter() - t)
        pid = km.provisioner.process.pid if km.provisioner else None  # type: ignore[attr-defined]
        pss = tree_memory_kb(pid)[0] if pid else 0
        return times, pss
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def bench_warm(backend: LocalBackend, rows: list[Row], notes: list[str]) -> int:
    """Warm ``x += 1`` vs Jupyter and vs a raw pipe. Returns Jupyter's PSS in kB."""
    times: list[float] = []
    with closing_all([backend.create()]) as (sb,):
        sb.run_code("x = 0")
        for _ in range(100):
            sb.run_code("x += 1")
        for _ in range(WARM_N):
            t = time.perf_counter()
            sb.run_code("x += 1")
            times.append(time.perf_counter() - t)
        check = sb.run_code("x").result
        assert check == str(100 + WARM_N), check
        # The channel alone: a "ping" request answered without running code (private API,
        # used only to split the round trip into channel and run cost).
        ping: list[float] = []
        for i in range(WARM_N + 100):
            t = time.perf_counter()
            sb._call({"op": "ping"}, b"", 5.0)
            if i >= 100:
                ping.append(time.perf_counter() - t)
    jup, jup_pss = jupyter_round_trips(JUPYTER_N)
    pipe = pipe_round_trips(PIPE_N)
    ratio = median(times) / median(jup)
    rows.append(
        Row(
            f"2. warm `x += 1`, median (N={WARM_N}; Jupyter N={JUPYTER_N})",
            us(median(times)),
            f"local Jupyter kernel {us(median(jup))}",
            f"{ratio:.3f}x",
            "≤ 0.05x",
            yes(ratio <= 0.05),
        )
    )
    rows.append(
        Row(
            "2. warm `x += 1`, p95",
            us(p95(times)),
            f"local Jupyter kernel {us(p95(jup))}",
            f"{p95(times) / p95(jup):.3f}x",
            "(info)",
            "",
        )
    )
    rows.append(
        Row(
            f"2. warm round trip vs raw pipe, median (N={PIPE_N})",
            us(median(times)),
            f"8-byte echo over 2 pipes {us(median(pipe))}",
            f"{median(times) / median(pipe):.1f}x",
            "(info: floor)",
            "",
        )
    )
    rows.append(
        Row(
            f"2. channel ping without running code, median (N={WARM_N})",
            us(median(ping)),
            f"8-byte echo over 2 pipes {us(median(pipe))}",
            f"{median(ping) / median(pipe):.1f}x",
            "(info: split)",
            "",
        )
    )
    notes.append(
        "2: ours = `sb.run_code('x += 1')` after 100 untimed warm-up calls; Jupyter = "
        "`execute` via a blocking client, waiting for the execute_reply and the idle "
        "status, after 30 untimed warm-up calls; pipe = a `python -I -S` child echoing "
        "8-byte frames, after 100 untimed round trips."
    )
    return jup_pss


# -- 3. idle memory ----------------------------------------------------------------------------


def count_fds() -> int:
    """Open file descriptors of this host process."""
    return len(os.listdir("/proc/self/fd"))


def bench_memory(
    backend: LocalBackend, rows: list[Row], notes: list[str], jupyter_pss_kb: int
) -> None:
    """Create MEM_N sandboxes, run ``x = 1`` in each, sum PSS over each one's tree."""
    fds0, threads0, rss0 = count_fds(), status_kb("Threads"), status_kb("VmRSS")
    with closing_all([]) as sbs:
        for _ in range(MEM_N):
            sbs.append(backend.create())
        for sb in sbs:
            assert sb.run_code("x = 1").ok
        time.sleep(0.2)
        fds1, threads1, rss1 = count_fds(), status_kb("Threads"), status_kb("VmRSS")
        pss, uss, rss, nprocs = [], [], [], []
        mismatched = 0
        for sb in sbs:
            root = sb.kernel_pid
            assert root is not None, "sandbox has no process"
            p, u, r, n = tree_memory_kb(root)
            pss.append(p)
            uss.append(u)
            rss.append(r)
            nprocs.append(n)
            if sb._cg is not None and set(process_tree(root)) != sb._cg.pids():
                mismatched += 1
    mean_pss = statistics.mean(pss) / 1024
    rows.append(
        Row(
            f"3. idle memory per sandbox, mean PSS (N={MEM_N})",
            f"{mean_pss:.2f} MB",
            f"1 idle Jupyter kernel {jupyter_pss_kb / 1024:.1f} MB",
            f"{mean_pss / (jupyter_pss_kb / 1024):.2f}x" if jupyter_pss_kb else "",
            "≤ 12 MB",
            yes(mean_pss <= 12),
        )
    )
    rows.append(
        Row(
            "3. idle memory per sandbox, mean USS / RSS",
            f"{statistics.mean(uss) / 1024:.2f} MB / {statistics.mean(rss) / 1024:.2f} MB",
            "",
            "",
            "(info)",
            "",
        )
    )
    rows.append(
        Row(
            "3. host-side overhead per sandbox",
            f"{(fds1 - fds0) / MEM_N:.1f} fds, {(threads1 - threads0) / MEM_N:.2f} threads, "
            f"{(rss1 - rss0) / 1024 / MEM_N:.2f} MB host RSS",
            "",
            "",
            "(info)",
            "",
        )
    )
    notes.append(
        f"3: processes per sandbox (outer bwrap and descendants, via "
        f"/proc/PID/task/*/children): {min(nprocs)}-{max(nprocs)}; "
        f"{mismatched} of {MEM_N} trees differed from the sandbox's cgroup process list. "
        "PSS splits shared pages (the Python binary, libraries) among the sharers, so it "
        "is the fair per-sandbox share; USS is what closing the sandbox frees. The "
        "Jupyter kernel's PSS was measured alone (little to share), so it is near its RSS."
    )


# -- 4. burst ----------------------------------------------------------------------------------


def bench_burst(backend: LocalBackend, rows: list[Row], notes: list[str]) -> None:
    """BURST_N sandboxes created at once by BURST_N threads, until all answered."""
    made: queue.SimpleQueue[LocalSandbox] = queue.SimpleQueue()

    def one() -> None:
        sb = backend.create()
        made.put(sb)
        assert sb.run_code("x=1").ok

    def drain() -> list[LocalSandbox]:
        out = []
        while not made.empty():
            out.append(made.get())
        return out

    failures: list[str] = []
    with closing_all([]) as sbs:
        try:
            with ThreadPoolExecutor(BURST_N) as pool:
                t = time.perf_counter()
                futs = [pool.submit(one) for _ in range(BURST_N)]
                for f in futs:
                    exc = f.exception()
                    if exc is not None:
                        failures.append(f"{type(exc).__name__}: {exc}")
                wall = time.perf_counter() - t
        finally:
            sbs.extend(drain())
    sys_py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    with ThreadPoolExecutor(BURST_N) as pool:
        t = time.perf_counter()
        list(pool.map(lambda _: subprocess.run([sys_py, "-c", "pass"], check=True), range(50)))
        base = time.perf_counter() - t
    ok = not failures
    rows.append(
        Row(
            f"4. {BURST_N} sandboxes at once, wall until all ready",
            f"{wall:.2f} s" + ("" if ok else f" ({len(failures)} FAILED)"),
            f"{BURST_N}x `{sys_py} -c pass` at once {base:.2f} s",
            f"{wall / base:.2f}x",
            "≤ 2 s",
            yes(ok and wall <= 2),
        )
    )
    if failures:
        notes.append(f"4: failures: {sorted(set(failures))[:3]}")
    notes.append(
        f"4: {BURST_N} threads each call `create()` then `run_code('x=1')`; the clock "
        "stops when the last has answered. Closing is not timed."
    )


# -- 5. flood ----------------------------------------------------------------------------------


def flood_child() -> None:
    """In a fresh host process: peak RSS growth caused by one 200 MB flood call."""
    with closing_all([LocalBackend().create()]) as (sb,):
        sb.run_code("x = 1")
        reset = True
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
        except OSError:
            reset = False
        rss0, hwm0 = status_kb("VmRSS"), status_kb("VmHWM")
        maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        r = sb.run_code(FLOOD_CODE, timeout=120)
        wall = time.perf_counter() - t
        rss1, hwm1 = status_kb("VmRSS"), status_kb("VmHWM")
        maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "timed_out": r.timed_out,
                "ok": r.ok,
                "stdout_len": len(r.stdout),
                "cut": r.stdout_truncated_bytes,
                "rss0": rss0,
                "hwm0": hwm0,
                "rss1": rss1,
                "hwm1": hwm1,
                "reset": reset,
                "maxrss0": maxrss0,
                "maxrss1": maxrss1,
            }
        )
    )


def flood_baseline() -> float:
    """The same code in a plain interpreter, its stdout piped to us and discarded."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", FLOOD_CODE], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
    proc.wait()
    assert total == 200 * MB, total
    return time.perf_counter() - t


def bench_flood(rows: list[Row], notes: list[str]) -> None:
    """Run the flood in a child host process and report its numbers."""
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--flood-child"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"flood child failed: {out.stderr[-2000:]}")
    d = json.loads(out.stdout.strip().splitlines()[-1])
    base = flood_baseline()
    peak_mb = (d["hwm1"] - d["rss0"]) / 1024
    kept_mb = (d["rss1"] - d["rss0"]) / 1024
    rows.append(
        Row(
            "5. 200 MB output flood, wall time",
            f"{d['wall']:.2f} s" + (" (TIMED OUT)" if d["timed_out"] else ""),
            f"plain python piping 200 MB to the host {base:.2f} s",
            f"{d['wall'] / base:.2f}x",
            "quick (no number set)",
            "",
        )
    )
    rows.append(
        Row(
            "5. 200 MB output flood, stdout kept / cut",
            f"{d['stdout_len'] / 1024:.0f} KiB kept, {d['cut'] / MB:.1f} MB cut",
            "",
            "",
            "truncated",
            yes(d["cut"] > 0 and not d["timed_out"]),
        )
    )
    rows.append(
        Row(
            "5. 200 MB output flood, host peak RSS growth",
            f"{peak_mb:.1f} MB (retained {kept_mb:.1f} MB)",
            "",
            "",
            "< 64 MB",
            yes(peak_mb < 64),
        )
    )
    how = (
        "VmHWM reset via /proc/self/clear_refs just before the call"
        if d["reset"]
        else "VmHWM could NOT be reset; peak includes earlier growth"
    )
    notes.append(
        f"5: measured in a fresh host process ({how}); peak growth = VmHWM after minus VmRSS "
        f"before ({d['rss0'] / 1024:.1f} MB → HWM {d['hwm1'] / 1024:.1f} MB, "
        f"VmRSS after {d['rss1'] / 1024:.1f} MB; ru_maxrss {d['maxrss0'] / 1024:.1f} → "
        f"{d['maxrss1'] / 1024:.1f} MB, which is not reset). Sandbox memory is not "
        "counted here (it is bounded by its cgroup)."
    )


# -- 6. forged frames -------------------------------------------------------------------------

FORGED_BODIES = {
    "containers": "b'[' + b'{},' * ((N - 4) // 3) + b'{}]'",
    "astral string": "b'\"' + b'a' * (N - 20) + b'\\\\ud83d\\\\ude00\"'",
    "nesting": "b'[' * (N // 2) + b']' * (N // 2)",
}
"""Reply bodies that cost a plain JSON parser the most per byte (N: the body cap)."""

FORGE_CODE = """
import os, stat, time
def is_write_pipe(fd):
    try:
        flags = int(open(f'/proc/self/fdinfo/{{fd}}').read().split()[3], 8)
        return stat.S_ISFIFO(os.fstat(fd).st_mode) and flags & 3 == 1
    except (OSError, ValueError, IndexError):
        return False
resp = [fd for fd in map(int, os.listdir('/proc/self/fd')) if fd > 2 and is_write_pipe(fd)][0]
N = {n}
body = {body}
os.write(resp, len(body).to_bytes(4, 'big') + bytes(4))
view = memoryview(body)
while view:
    view = view[os.write(resp, view[: 1 << 20]):]
time.sleep(30)
"""


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def forged_child(kind: str, plain: bool) -> None:
    """In a fresh host process: peak RSS growth from one forged maximum-size frame."""
    n = protocol.max_reply_body(LocalLimits().output_bytes)
    if plain:
        body = eval(FORGED_BODIES[kind], {"N": n})  # our own literal expression
        _reset_hwm()
        before = status_kb("VmRSS")
        with contextlib.suppress(RecursionError):
            json.loads(body)
        print(json.dumps({"growth_kb": status_kb("VmHWM") - before, "bytes": len(body)}))
        return
    with closing_all([LocalBackend().create()]) as (sb,):
        sb.run_code("x = 1")
        _reset_hwm()
        before = status_kb("VmRSS")
        t = time.perf_counter()
        try:
            sb.run_code(FORGE_CODE.format(n=n, body=FORGED_BODIES[kind]), timeout=60)
            outcome = "ACCEPTED"
        except Exception as exc:
            outcome = type(exc).__name__
            if "oversized" in str(exc):
                outcome += " (refused by size: not a parser measurement)"
        wall = time.perf_counter() - t
        growth = status_kb("VmHWM") - before
        right = sb.run_code("6 * 7").result == "42"
    print(json.dumps({"growth_kb": growth, "outcome": outcome, "wall": wall, "right": right}))


def _child(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed: {out.stderr[-2000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_forged(rows: list[Row], notes: list[str]) -> None:
    """Each forged body through the sandbox's channel, and through plain json.loads."""
    cap = protocol.max_reply_body(LocalLimits().output_bytes)
    for kind in FORGED_BODIES:
        ours = _child("--forged-child", kind)
        plain = _child("--forged-child", kind, "--plain")
        growth = float(str(ours["growth_kb"])) / 1024
        base = float(str(plain["growth_kb"])) / 1024
        rows.append(
            Row(
                f"6. forged {cap / MB:.0f} MB reply ({kind}), host peak RSS growth",
                f"{growth:.1f} MB ({ours['outcome']} in {float(str(ours['wall'])):.2f} s)",
                f"plain json.loads {base:.1f} MB",
                f"{growth / base:.2f}x" if base > 0 else "",
                "< 64 MB, next call right",
                yes(growth < 64 and ours["outcome"] == "SandboxLostError" and bool(ours["right"])),
            )
        )
    notes.append(
        f"6: the body cap is {cap / MB:.0f} MB (2 x output budget + 4 MiB); each row runs in "
        "a fresh host process, VmHWM reset via /proc/self/clear_refs before the call"
    )


# -- 7. Ctrl-C -----------------------------------------------------------------------------------


def bench_interrupt(backend: LocalBackend, rows: list[Row], notes: list[str]) -> None:
    """SIGINT to the main thread in the middle of run_code, then 100 calls."""
    import signal
    import threading

    main = threading.main_thread().ident
    assert main is not None
    with closing_all([backend.create()]) as (sb,):
        sb.run_code("x = 1")
        timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
        timer.start()
        interrupted = False
        try:
            sb.run_code("import time\ntime.sleep(5)\n'late'")
        except KeyboardInterrupt:
            interrupted = True
        timer.cancel()
        t = time.perf_counter()
        first = sb.run_code("'first'")
        restart = time.perf_counter() - t
        t = time.perf_counter()
        right = sum(sb.run_code(f"{i} * 2").result == str(i * 2) for i in range(100))
        hundred = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(100):
            sb.run_code(f"{i} * 2")
        control = time.perf_counter() - t
    rows.append(
        Row(
            "7. Ctrl-C mid-call, then 100 calls",
            f"{right}/100 right in {ms(hundred)} (first call, with restart, {ms(restart)})",
            f"100 calls, no interrupt {ms(control)}",
            f"{hundred / control:.2f}x",
            "100/100 right, state lost reported",
            yes(interrupted and right == 100 and first.state_lost),
        )
    )


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    """Run every section and print the table."""
    if "--flood-child" in sys.argv:
        flood_child()
        return
    if "--forged-child" in sys.argv:
        forged_child(sys.argv[sys.argv.index("--forged-child") + 1], "--plain" in sys.argv)
        return
    start = time.perf_counter()
    backend = LocalBackend()
    info = machine_info(backend)
    rows: list[Row] = []
    notes: list[str] = []
    sections: list[tuple[str, Callable[[], object]]] = [
        ("cold", lambda: bench_cold(backend, rows, notes)),
    ]
    jupyter_pss = [0]

    def warm() -> None:
        jupyter_pss[0] = bench_warm(backend, rows, notes)

    sections += [
        ("warm", warm),
        ("memory", lambda: bench_memory(backend, rows, notes, jupyter_pss[0])),
        ("burst", lambda: bench_burst(backend, rows, notes)),
        ("flood", lambda: bench_flood(rows, notes)),
        ("forged", lambda: bench_forged(rows, notes)),
        ("interrupt", lambda: bench_interrupt(backend, rows, notes)),
    ]
    for name, fn in sections:
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:
            rows.append(Row(f"{name}: FAILED", f"{type(exc).__name__}: {exc}", "", "", "", ""))
        print(f"[{name}: {time.perf_counter() - t:.1f} s]", file=sys.stderr)

    print("## langchain-daytona-exec engine benchmark\n")
    print("\n".join(info))
    print()
    print("| metric | ours | baseline | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.metric} | {r.ours} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |")
    print()
    for n in notes:
        print(f"- {n}")
    print(
        f"- total benchmark time {time.perf_counter() - start:.1f} s; load average at end "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )


if __name__ == "__main__":
    main()
