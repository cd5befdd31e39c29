"""The fork-server's zygote under faults and hostile sandboxes (root mode only).

What ``test_launcher_equivalence.py`` cannot see, because it compares what sandboxed
code observes: the zygote's own fds and those of each sandbox's pid 1; a zygote that
is slow, sent a malformed request or killed (it must keep, or take down, the sandboxes
it forked, and the next start must work); a start its caller gave up on; the host's
boot data in a kernel's frames; signals to pid 1 and a full pids cap; and a sandbox
that plants symlinks in its workspace for the next start's mounts to follow.
Every wait is bounded; nothing touches the network.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_daytona_exec import LocalBackend, LocalLimits, SandboxError, SandboxLostError
from langchain_daytona_exec.backends.local import _forkserver as forkserver
from langchain_daytona_exec.backends.local._spawner import spawner
from tests.integration_tests.modes import FORKSERVER_ONLY

pytestmark = FORKSERVER_ONLY

MiB = 1024 * 1024
LIMITS = LocalLimits(memory_bytes=256 * MiB, workspace_bytes=16 * MiB, tmp_bytes=16 * MiB)


@pytest.fixture
def server() -> Iterator[forkserver.ForkServer]:
    """This process's fork-server, with a zygote of the test's own (retired after)."""
    fs = forkserver.fork_server()
    spawner().call(fs.retire, 10)
    yield fs
    spawner().call(fs.retire, 10)


def _fds(pid: int) -> dict[int, str]:
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return out


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_the_zygote_and_each_pid_1_hold_no_fd_of_another_sandbox(
    server: forkserver.ForkServer,
) -> None:
    """fd audit, seen from the host: nothing of one sandbox stays in the zygote or a sibling.

    The zygote keeps /dev/null (stdin, stdout), its stderr pipe, its own pid namespace
    and its socket; a pid 1 keeps /dev/null, its stderr and its status pipe; the kernels
    of two sandboxes share no pipe.
    """
    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    with backend.create() as a, backend.create() as b:
        assert a.run_code("1").result == b.run_code("1").result == "1"
        zygote = server._proc
        assert zygote is not None
        fds = _fds(zygote.pid)
        assert fds[0] == fds[1] == "/dev/null" and fds[2].startswith("pipe:"), fds
        kinds = sorted(v.split(":")[0] for fd, v in fds.items() if fd > 2)
        assert kinds == ["pid", "socket"], fds  # the boot data's fd was closed
        pid1s = sorted(_children(zygote.pid))
        assert pid1s == sorted(p.pid for p in (a._proc, b._proc) if p is not None)
        kernel_pipes = []
        for pid1 in pid1s:
            held = _fds(pid1)
            assert sorted(held) == [0, 1, 2, 3], held
            assert held[0] == held[1] == "/dev/null"
            assert held[2].startswith("pipe:") and held[3].startswith("pipe:")
            assert held[2] != fds[2]  # its own stderr, not the zygote's
            (kernel,) = _children(pid1)
            kernel_pipes.append({v for v in _fds(kernel).values() if v.startswith("pipe:")})
        assert kernel_pipes[0] and kernel_pipes[1]
        assert not kernel_pipes[0] & kernel_pipes[1]


def test_a_zygote_retired_while_it_forks_keeps_its_sandboxes(
    server: forkserver.ForkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zygote too slow to answer is replaced; when it answers late it must not die.

    Its sandboxes' pid 1 die with it (their death signal), so a crash there would kill
    every sandbox it forked, which retiring promises to keep.
    """
    monkeypatch.setattr(forkserver, "_SEND_TIMEOUT_S", 1.0)
    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    a = backend.create()
    b = None
    try:
        assert a.run_code("x = 41").error is None
        slow = server._proc
        assert slow is not None
        os.kill(slow.pid, signal.SIGSTOP)  # a zygote that cannot answer in time
        resume = threading.Timer(2.0, os.kill, (slow.pid, signal.SIGCONT))
        resume.start()
        try:
            b = backend.create()  # the host gives up on it, a fresh zygote forks b
        finally:
            resume.join(5)
            os.kill(slow.pid, signal.SIGCONT)
        assert server._proc is not None and server._proc.pid != slow.pid
        time.sleep(1.0)  # the slow zygote has now forked the request it was sent
        assert slow.poll() is None, slow.stderr.read() if slow.stderr else ""
        assert a.run_code("x + 1", timeout=10).result == "42"  # alive, state kept
        assert b.run_code("2 + 2", timeout=10).result == "4"
        # the late fork was ended: nothing but a's pid 1 is left of the slow zygote
        assert a._proc is not None
        assert _children(slow.pid) == [a._proc.pid]
    finally:
        a.close()
        if b is not None:
            b.close()
    assert slow.wait(10) == 0  # and it ends with its last sandbox


def test_a_malformed_request_is_refused_and_the_zygote_keeps_serving(
    server: forkserver.ForkServer,
) -> None:
    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    with backend.create() as a:
        assert a.run_code("x = 7").error is None
        zygote = server._proc
        assert zygote is not None
        # a workspace request without its parameters' fd
        with pytest.raises(forkserver.ForkServerError, match="IndexError"):
            spawner().call(lambda: server._request(b"W\0\0\0", [], b"N", 10), 20)
        assert zygote.poll() is None
        assert server._proc is zygote
        assert a.run_code("x", timeout=10).result == "7"
        with backend.create() as b:  # and it still forks
            assert b.run_code("1 + 1").result == "2"
            assert server._proc is zygote


@pytest.mark.parametrize("launcher", ["forkserver", "bwrap", "auto"])
@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_symlinks_planted_in_the_workspace_are_not_followed_onto_the_host(
    tmp_path: Path, launcher: str, link: str
) -> None:
    """A bind two levels below the workspace: the folders above it live in the workspace.

    Sandboxed code swaps the middle folder for a symlink to a host folder and kills its
    kernel; the next start must not create or chmod anything there (both launchers
    make those folders as root before the root moves: the fork-server in the host's
    file system, bwrap with the host's root at /oldroot). Seen before the fix: the
    fork-server made the folder and chmodded it 0755, bwrap made it (relative link).
    """
    shared = tmp_path / "shared"
    shared.mkdir()
    target = Path("/var/tmp") / f"ldx-zygote-target-{os.getpid()}"  # not under the /tmp base
    target.mkdir(mode=0o700)
    planted = str(target) if link == "absolute" else f"../../oldroot{target}"
    try:
        backend = LocalBackend(
            launcher=launcher,  # type: ignore[arg-type]
            limits=LIMITS,
            binds={str(shared): "/workspace/data/x"},
        )
        with backend.create() as sb:
            r = sb.exec(
                f"mv /workspace/data /workspace/old && ln -s {planted} /workspace/data && echo ok",
                timeout=10,
            )
            assert r.stdout == "ok\n", r
            with pytest.raises(SandboxLostError):
                sb.run_code("import os; os.kill(os.getpid(), 9)", timeout=10)
            with pytest.raises(SandboxError, match="/workspace/data/x leads out of the folder"):
                sb.exec("true", timeout=10)
            sb.reset()  # a fresh workspace: the sandbox starts again
            assert sb.exec("ls /workspace/data", timeout=10).stdout == "x\n"
        assert os.listdir(target) == []
        assert os.stat(target).st_mode & 0o777 == 0o700
    finally:
        for name in os.listdir(target):
            os.rmdir(target / name)
        target.rmdir()


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.mark.parametrize("launcher", ["forkserver", "bwrap"])
def test_a_start_that_finishes_after_its_caller_gave_up_leaves_nothing(
    launcher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller stops waiting after ``start_timeout_s``; the spawner thread may still
    start the sandbox later. That late process and its pipes must not be kept."""
    from langchain_daytona_exec.backends.local import _launch

    backend = LocalBackend(
        launcher=launcher,  # type: ignore[arg-type]
        limits=LocalLimits(memory_bytes=256 * MiB, start_timeout_s=1.0),
    )
    backend.create().close()  # the zygote runs, every lazy fd of this process is open
    before = _open_fds()
    spawned: list[int] = []
    original = _launch.KernelLauncher._spawn

    def slow_spawn(self: _launch.KernelLauncher) -> Any:
        time.sleep(2.0)  # a start slower than the caller's patience
        proc, req_w, resp_r = original(self)
        spawned.append(proc.pid)
        return proc, req_w, resp_r

    monkeypatch.setattr(_launch.KernelLauncher, "_spawn", slow_spawn)
    with pytest.raises(TimeoutError):
        backend.create()
    spawner().call(lambda: None, 10)  # the late start has finished by now
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        _open_fds() - before or any(os.path.exists(f"/proc/{p}") for p in spawned)
    ):
        time.sleep(0.05)
    leaked = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in _open_fds() - before}
    assert leaked == {}
    assert [p for p in spawned if os.path.exists(f"/proc/{p}")] == []


BOOT_SCAN = r"""
import gc, marshal, sys
def boot_like(o):
    if isinstance(o, dict):
        return "host_pid" in o
    if isinstance(o, (bytes, bytearray)) and b"host_pid" in o:
        try:
            return isinstance(marshal.loads(o), dict) and "host_pid" in marshal.loads(o)
        except Exception:
            return False
    return False
def values(o):
    if isinstance(o, dict):
        return list(o.values())
    if isinstance(o, (list, tuple)):
        return list(o)
    return []
seen = []
f = sys._getframe()
while f is not None:
    seen += [v for v in list(f.f_locals.values()) + list(f.f_globals.values()) if boot_like(v)]
    f = f.f_back
for o in gc.get_objects():
    seen += [v for v in [o, *values(o)] if boot_like(v)]
"""


def test_the_hosts_boot_data_is_not_reachable_from_sandboxed_code(
    server: forkserver.ForkServer,
) -> None:
    """The zygote's boot data names the host's pid (cgroup names hold it too, which
    is why the mount plan never reaches a kernel). A forked kernel inherits the
    zygote's frames: nothing there may still hold that data."""
    with LocalBackend(launcher="forkserver", limits=LIMITS).create() as sb:
        sb.run_code("import marshal\nplanted = marshal.dumps({'host_pid': 1})")
        r = sb.run_code(
            BOOT_SCAN + "len({id(v) for v in seen if v != planted}), planted in seen",
            timeout=60,
        )
        assert r.error is None, r.error
        leaks, control = ast.literal_eval(r.result or "")
        assert control  # the scan finds boot-like data where it is
        assert leaks == 0


def test_a_zygote_that_dies_takes_its_sandboxes_and_the_next_start_makes_a_new_one(
    server: forkserver.ForkServer,
) -> None:
    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    sb = backend.create()
    try:
        assert sb.run_code("x = 1").error is None
        assert sb._cg is not None
        pids = sb._cg.pids()
        assert len(pids) >= 2  # pid 1 and the kernel
        zygote = server._proc
        assert zygote is not None
        os.kill(zygote.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.05)
        assert not [p for p in pids if os.path.exists(f"/proc/{p}")]  # their death signal
        start = time.monotonic()
        r = sb.run_code("'x' in globals()", timeout=20)
        assert (r.result, r.state_lost) == ("False", True)  # revived on a fresh zygote
        assert time.monotonic() - start < 20
        assert server._proc is not None and server._proc.pid != zygote.pid
        assert sb.launcher == "forkserver" and forkserver.disabled() is None
        with backend.create() as other:
            assert other.run_code("1 + 1").result == "2"
    finally:
        sb.close()


def test_sandboxed_code_cannot_signal_its_pid_1_and_a_full_pids_cap_does_not_stop_a_restart(
    server: forkserver.ForkServer,
) -> None:
    limits = LocalLimits(memory_bytes=256 * MiB, pids=32, nproc=32)
    with LocalBackend(launcher="forkserver", limits=limits).create() as sb:
        code = (
            "import os, signal\n"
            "out = []\n"
            "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
            "    try:\n"
            "        os.kill(1, sig)\n"
            "        out.append('sent')\n"
            "    except OSError as exc:\n"
            "        out.append(exc.errno)\n"
            "out"
        )
        assert sb.run_code(code).result == str([errno.EPERM] * 3)
        r = sb.exec(
            "for i in $(seq 1 40); do (sleep 300 &) 2>/dev/null; done; echo filled", timeout=20
        )
        assert "filled" in r.stdout
        with pytest.raises(SandboxLostError):
            sb.run_code("import os; os.kill(os.getpid(), 9)", timeout=10)
        assert sb.exec("echo alive", timeout=20).stdout == "alive\n"
        assert sb.launcher == "forkserver" and forkserver.disabled() is None


AT_RANDOM = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None)\n"
    "libc.getauxval.restype = ctypes.c_ulong\n"
    "ctypes.string_at(libc.getauxval(25), 16).hex()"  # AT_RANDOM: canary, pointer guard
)


def test_forks_of_one_zygote_share_glibcs_random_bytes_and_a_fresh_zygote_renews_them(
    server: forkserver.ForkServer,
) -> None:
    """What ``ZYGOTE_MAX_FORKS`` says: shared by forks, renewed by a fresh exec."""
    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    with backend.create() as a, backend.create() as b:
        first = a.run_code(AT_RANDOM).result
        assert first is not None and len(first) == 34
        assert b.run_code(AT_RANDOM).result == first
    spawner().call(server.retire, 10)
    with backend.create() as c:
        assert c.run_code(AT_RANDOM).result not in (None, first)
