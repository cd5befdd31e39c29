"""SandboxPool on the real LocalBackend (bubblewrap sandboxes on this machine)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local._hostdirs import default_base_dir
from langchain_daytona_exec.pool import PooledSandbox, SandboxPool

REPO = Path(__file__).resolve().parents[2]
SANDBOX_DIRS = Path(default_base_dir())  # per user since the base folder moved

Proc = tuple[int, int]  # (pid, start time in clock ticks): immune to pid reuse


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[19]), fields[0]


def _is_sandbox_root(argv0: bytes) -> bool:
    """bwrap, or the fork-server (named by its sandbox path, as all its forks are)."""
    return b"bwrap" in argv0 or argv0 == isolation.SANDBOX_PYTHON.encode()


def sandbox_count(procs: set[Proc]) -> int:
    """How many sandboxes ``procs`` belong to: the pid namespaces other than ours."""
    own = os.readlink("/proc/self/ns/pid")
    spaces = set()
    for pid, _ in procs:
        try:
            spaces.add(os.readlink(f"/proc/{pid}/ns/pid"))
        except OSError:
            continue
    return len(spaces - {own})


def sandbox_processes(root: int) -> set[Proc]:
    """Processes below ``root`` that belong to sandboxes (bwrap and everything under it)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    found: set[Proc] = set()

    def walk(pid: int, inside: bool) -> None:
        for child in children.get(pid, []):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            child_inside = inside or _is_sandbox_root(cmdline.split(b"\0", 1)[0])
            st = _stat(child)
            if child_inside and st is not None:
                found.add((child, st[1]))
            walk(child, child_inside)

    walk(root, False)
    return found


def _state(pid: int) -> str | None:
    st = _stat(pid)
    return None if st is None else st[2]


def still_running(procs: set[Proc]) -> set[Proc]:
    """The recorded processes that still exist (zombies included: unreaped is a leak)."""
    return {(pid, start) for pid, start in procs if (st := _stat(pid)) and st[1] == start}


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def sandbox_dirs(pid: int) -> set[str]:
    if not SANDBOX_DIRS.is_dir():
        return set()
    return {p.name for p in SANDBOX_DIRS.iterdir() if p.name.startswith(f"{pid}-")}


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend()


@pytest.fixture
def pool(backend: LocalBackend) -> Iterator[SandboxPool]:
    with SandboxPool(backend, max_size=6, acquire_timeout=30) as p:
        yield p


def increment(sb: PooledSandbox) -> None:
    value = int(sb.run_code("x").result or "0")
    time.sleep(0)
    sb.run_code(f"x = {value + 1}")


def test_same_key_same_state_and_keys_isolated(pool: SandboxPool) -> None:
    with pool.session("a") as sb:
        sb.run_code("x = 1")
        sb.write_file("mine.txt", "a")
    with pool.session("a") as sb:
        assert sb.run_code("x += 1; x").result == "2"
    with pool.session("b") as sb:
        r = sb.run_code("x")
        assert r.error is not None and r.error.name == "NameError"
        assert [f.name for f in sb.list_files(".")] == []


def test_calls_of_one_key_are_serialized(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 0")

    def worker() -> None:
        for _ in range(25):
            with pool.session("k") as sb:
                increment(sb)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with pool.session("k") as sb:
        assert sb.run_code("x").result == "100"


async def test_threads_and_asyncio_together(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 0")

    def thread_worker() -> None:
        for _ in range(20):
            with pool.session("k") as sb:
                increment(sb)

    async def task_worker(key: str) -> None:
        for _ in range(20):
            async with pool.asession(key) as sb:
                value = int((await sb.arun_code("x")).result or "0")
                await asyncio.sleep(0)
                await sb.arun_code(f"x = {value + 1}")

    async with pool.asession("other") as sb:
        await sb.arun_code("x = 0")
    threads = [threading.Thread(target=thread_worker) for _ in range(2)]
    for t in threads:
        t.start()
    await asyncio.gather(task_worker("k"), task_worker("k"), task_worker("other"))
    for t in threads:
        await asyncio.to_thread(t.join, 60)
    async with pool.asession("k") as sb:
        assert (await sb.arun_code("x")).result == "80"
    async with pool.asession("other") as sb:
        assert (await sb.arun_code("x")).result == "20"


def test_sandbox_outlives_the_thread_that_leased_it_first(pool: SandboxPool) -> None:
    # bwrap --die-with-parent fires when the *thread* that forked it exits.
    def first_use() -> None:
        with pool.session("k") as sb:
            sb.run_code("x = 41")

    thread = threading.Thread(target=first_use)
    thread.start()
    thread.join(60)
    time.sleep(0.2)
    with pool.session("k") as sb:
        r = sb.run_code("x + 1")
        assert (r.result, r.state_lost) == ("42", False)


def test_killed_sandbox_recovers_and_loss_is_reported_once(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
        before = sandbox_processes(os.getpid())
    for pid, _ in before:
        if _stat(pid) is not None:
            os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: all(_state(pid) in (None, "Z") for pid, _ in before))
    reports = 0
    with pool.session("k") as sb:
        reports += sb.state_lost
        r = sb.run_code("x = 2; x")
        reports += r.state_lost
        assert r.result == "2"
    with pool.session("k") as sb:
        r = sb.run_code("x")
        assert not sb.state_lost and not r.state_lost and r.result == "2"
    assert reports == 1


def test_warm_pool_and_warmup(backend: LocalBackend) -> None:
    with SandboxPool(backend, min_idle=1, warmup="import json\nwarm = json.dumps([1])") as pool:
        assert wait_until(lambda: pool.stats().idle == 1, 30)
        started = time.perf_counter()
        with pool.session("k") as sb:
            warm_ms = (time.perf_counter() - started) * 1000
            assert sb.run_code("warm").result == "'[1]'"
        started = time.perf_counter()
        cold = backend.create()
        cold_ms = (time.perf_counter() - started) * 1000
        cold.close()
        assert warm_ms < cold_ms
        assert wait_until(lambda: pool.stats().idle == 1, 30)  # refilled


def test_reuse_across_keys_leaks_no_data(backend: LocalBackend) -> None:
    with SandboxPool(backend, max_size=1) as pool:
        with pool.session("a") as sb:
            sb.run_code("secret = 'a'")
            sb.write_file("secret.txt", "a")
            sb.exec("echo a > /tmp/secret")
        with pool.session("b") as sb:  # full: a is evicted, its sandbox reset for b
            assert sb.run_code("secret").error is not None
            assert sb.list_files(".") == []
            assert sb.exec("cat /tmp/secret").exit_code != 0
        assert pool.stats().reused == 1


def test_no_leaked_processes_or_folders_after_close(backend: LocalBackend) -> None:
    me = os.getpid()
    procs_before = sandbox_processes(me)
    dirs_before = sandbox_dirs(me)
    pool = SandboxPool(backend, min_idle=2, max_size=8)
    for key in ("a", "b", "c"):
        with pool.session(key) as sb:
            sb.run_code("import os; os.system('sleep 60 &')")
    assert wait_until(lambda: pool.stats().idle == 2, 30)
    procs = sandbox_processes(me) - procs_before
    assert sandbox_count(procs) >= 5
    assert len(sandbox_dirs(me) - dirs_before) >= 5
    pool.close()
    assert wait_until(lambda: not still_running(procs), 10), still_running(procs)
    assert sandbox_dirs(me) - dirs_before == set()
    assert pool.stats().live == 0


def _cmd(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {repo!r})
    from langchain_daytona_exec.backends.local import LocalBackend
    from langchain_daytona_exec.pool import SandboxPool

    pool = SandboxPool(LocalBackend(), min_idle={min_idle})
    deadline = time.monotonic() + 30  # warm first: the first sandbox comes from the filler
    while pool.stats().idle < {min_idle} and time.monotonic() < deadline:
        time.sleep(0.05)
    for key in ("a", "b"):
        with pool.session(key) as sb:
            sb.run_code("x = 1")
            sb.exec("sleep 300 > /dev/null 2>&1 &")
    deadline = time.monotonic() + 30
    while pool.stats().idle < {min_idle} and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({{"pid": os.getpid(), "live": pool.stats().live}}), flush=True)
    print("READY", flush=True)
    time.sleep(120)
    """
)


def isolation_has_cgroups() -> bool:

    return cgroups.cgroup_layout() is not None


def _cgroups_of(pid: int) -> list[str]:

    layout = cgroups.cgroup_layout()
    if layout is None:
        return []
    found = []
    for parent in layout[1].values():
        found += [n for n in os.listdir(parent) if n.startswith(f"ldx-{pid}-")]
    return found


@pytest.mark.parametrize(
    ("sig", "min_idle"),
    [(signal.SIGTERM, 0), (signal.SIGTERM, 2), (signal.SIGINT, 0)],
    ids=["sigterm", "sigterm-warm-pool", "ctrl-c"],
)
def test_sigterm_or_ctrl_c_of_the_host_leaves_no_sandbox(sig: int, min_idle: int) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), min_idle=min_idle)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    ) as child:
        try:
            assert child.stdout is not None
            info = json.loads(child.stdout.readline() or "{}")
            assert child.stdout.readline().strip() == "READY"
            assert info["live"] == 2 + min_idle
            procs = sandbox_processes(child.pid)
            assert sandbox_count(procs) >= 2 + min_idle
            assert len(sandbox_dirs(child.pid)) == 2 + min_idle
            cgroups_before = _cgroups_of(child.pid)
            child.send_signal(sig)
            child.wait(30)
            assert wait_until(lambda: not still_running(procs), 10), still_running(procs)
            assert wait_until(lambda: not sandbox_dirs(child.pid), 10), sandbox_dirs(child.pid)
            assert wait_until(lambda: not _cgroups_of(child.pid), 10), _cgroups_of(child.pid)
            if isolation_has_cgroups():
                assert cgroups_before  # the check above looked at real cgroups
        finally:
            if child.poll() is None:
                child.kill()
