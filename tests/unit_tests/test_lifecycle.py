"""The process lifecycle: one registry, one atexit hook, one SIGTERM handler."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.pool import SandboxPool
from tests.unit_tests.fakes import FakeBackend

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """Something closable that records who closed it, from which thread, in order."""

    def __init__(self, name: str, log: list[tuple[str, str]], gate: threading.Event | None = None):
        self.name = name
        self.log = log
        self.gate = gate

    def close(self) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        self.log.append((self.name, threading.current_thread().name))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with an empty registry (the test process may have pools of its own)."""
    import weakref

    monkeypatch.setattr(_lifecycle, "_pools", weakref.WeakSet())
    monkeypatch.setattr(_lifecycle, "_sandboxes", weakref.WeakSet())
    yield


def test_pools_close_before_loose_sandboxes_and_never_on_the_caller(registry: None) -> None:
    log: list[tuple[str, str]] = []
    objs = [Recorder(f"sandbox-{i}", log) for i in range(3)]
    objs += [Recorder(f"pool-{i}", log) for i in range(2)]
    for obj in objs[:3]:
        _lifecycle.register_sandbox(obj)
    for obj in objs[3:]:
        _lifecycle.register_pool(obj)
    assert _lifecycle.close_all(10) is True
    names = [name for name, _ in log]
    assert sorted(names[:2]) == ["pool-0", "pool-1"]
    assert sorted(names[2:]) == ["sandbox-0", "sandbox-1", "sandbox-2"]
    me = threading.current_thread().name
    assert all(thread != me for _, thread in log), log


def test_a_stuck_pool_does_not_keep_loose_sandboxes_open(registry: None) -> None:
    log: list[tuple[str, str]] = []
    gate = threading.Event()
    stuck = Recorder("stuck-pool", log, gate)  # its close waits for a lock nobody frees
    loose = Recorder("sandbox", log)
    _lifecycle.register_pool(stuck)
    _lifecycle.register_sandbox(loose)
    try:
        assert _lifecycle.close_all(0.5) is False  # the deadline ends the wait
        assert [name for name, _ in log] == ["sandbox"]
    finally:
        gate.set()


def test_unregistered_and_collected_objects_are_forgotten(registry: None) -> None:
    log: list[tuple[str, str]] = []
    kept, dropped, gone = Recorder("kept", log), Recorder("dropped", log), Recorder("gone", log)
    for obj in (kept, dropped, gone):
        _lifecycle.register_sandbox(obj)
    _lifecycle.unregister_sandbox(dropped)
    del gone, obj  # the last reference (the loop variable held one too)
    assert _lifecycle.close_all(5)
    assert [name for name, _ in log] == ["kept"]


def test_a_pool_registers_and_unregisters_itself(registry: None) -> None:
    backend = FakeBackend()
    pool = SandboxPool(backend, handle_sigterm=False)
    with pool.session("a"):
        pass
    assert pool in _lifecycle._pools
    _lifecycle._at_exit()  # what atexit runs
    assert pool.closed
    assert backend.live() == []
    assert pool not in _lifecycle._pools


SIGTERM_CHILD = textwrap.dedent(
    """
    import sys, threading, time
    sys.path.insert(0, {repo!r})
    from langchain_daytona_exec import _lifecycle
    from langchain_daytona_exec.backends.local import LocalBackend
    from langchain_daytona_exec.pool import SandboxPool
    from tests.unit_tests.fakes import FakeBackend

    _lifecycle.SHUTDOWN_DEADLINE_S = 3.0
    held = threading.RLock()  # the main thread holds it when SIGTERM arrives

    class Backend(FakeBackend):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def create(self, *, labels=None):
            sb = super().create(labels=labels)
            sb.id = self.name + "-" + sb.id
            close = sb.close
            def logged_close():
                if sb.id == "local-mem-3":  # its close needs the held lock
                    held.acquire()
                with open({marker!r}, "a") as f:
                    f.write(sb.id + " " + threading.current_thread().name + "\\n")
                close()
            sb.close = logged_close
            return sb

    # A LocalBackend made first used to install its own SIGTERM handler, and the
    # Daytona pool's handler was then never installed.
    LocalBackend()
    daytona = SandboxPool(Backend("daytona"), min_idle=1)
    local_like = Backend("local")
    pool = SandboxPool(local_like)
    with daytona.session("a"), pool.session("b"):
        pass
    for _ in range(2):  # loose sandboxes register themselves, as a LocalSandbox does
        _lifecycle.register_sandbox(local_like.create())
    while daytona.stats().idle < 1:
        time.sleep(0.01)
    with pool.session("b"), held:  # mid-lease, holding a lock a close needs
        print("READY", flush=True)
        time.sleep(60)
    """
)


def test_sigterm_closes_pools_and_loose_sandboxes_off_the_main_thread(tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    code = SIGTERM_CHILD.format(repo=str(REPO), marker=str(marker))
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "READY"
            child.send_signal(signal.SIGTERM)
            # It waits at most the deadline for the close stuck on the held lock,
            # then still dies of SIGTERM (no deadlock, no exit status change).
            assert child.wait(30) == -signal.SIGTERM
        finally:
            if child.poll() is None:
                child.kill()
    closed = dict(line.split() for line in marker.read_text().splitlines())
    # Both pools (leased, warm) and the free loose sandbox are closed, although a
    # LocalBackend was made first. The one whose close needs the main thread's lock
    # is left (a close inside the handler would have taken the reentrant lock and
    # torn it down on the main thread).
    assert sorted(closed) == ["daytona-mem-1", "daytona-mem-2", "local-mem-1", "local-mem-2"]
    assert "MainThread" not in closed.values(), closed
