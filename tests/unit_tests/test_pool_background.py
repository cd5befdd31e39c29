"""The filler and janitor with injected time: no test waits on a real backoff."""

from __future__ import annotations

import threading
import weakref

import pytest

from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.pool._background import (
    FILL_BACKOFF_MAX_S,
    FILL_BACKOFF_MIN_S,
    THREAD_TICK_S,
    Backoff,
    Filler,
    run_loop,
)
from tests.unit_tests.fakes import FakeBackend
from tests.unit_tests.pool_support import FakeClock


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    clock = FakeClock(50.0)
    backoff = Backoff(clock, first_s=0.5, max_s=4.0)
    assert backoff.remaining() == 0.0
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.remaining() == 4.0
    clock.advance(3)
    assert backoff.remaining() == 1.0
    backoff.succeeded()
    assert backoff.remaining() == 0.0
    assert backoff.failed() == 0.5


def test_filler_backs_off_after_failures_and_recovers() -> None:
    clock = FakeClock(50.0)
    backend = FakeBackend(fail_creates=True)
    # min_idle=0: the pool starts no filler thread of its own; this test steps one.
    with SandboxPool(backend, max_size=2, handle_sigterm=False) as pool:
        filler = Filler(min_idle=1, clock=clock)
        pauses = []
        for _ in range(8):
            pauses.append(filler.step(pool))
            assert filler.step(pool) == pauses[-1]  # too early: no new attempt
            clock.advance(pauses[-1])
        assert backend.create_attempts == 8
        assert pool.stats().failures == 8
        assert pauses == [min(FILL_BACKOFF_MAX_S, FILL_BACKOFF_MIN_S * 2**i) for i in range(8)]
        with pytest.raises(SandboxError, match="told to fail"), pool.session("k"):
            pass  # a lease's own creation still reports the failure
        backend.fail_creates = False
        assert filler.step(pool) == 0.0  # success: go on at once
        assert pool.stats().idle == 1
        assert filler.step(pool) == THREAD_TICK_S  # full: sleep until woken
        with pool.session("k") as sb:  # the warm one is handed out
            assert sb.run_code("1 + 1").result == "2"
        assert backend.creates == 1
        assert filler.backoff.remaining() == 0.0


def test_run_loop_pauses_as_told_survives_errors_and_stops() -> None:
    class Target:
        pass

    target = Target()
    stop, wake = threading.Event(), threading.Event()
    script: list[float | Exception] = [0.0, 2.5, RuntimeError("boom"), 7.0]
    waits: list[float] = []

    def step(_: object) -> float:
        item = script.pop(0)
        if not script:
            stop.set()
        if isinstance(item, Exception):
            raise item
        return item

    def wait(event: threading.Event, seconds: float) -> None:
        assert event is wake
        waits.append(seconds)

    run_loop(weakref.ref(target), step, stop, wake, wait)  # type: ignore[arg-type]
    assert waits == [2.5, THREAD_TICK_S, 7.0]  # 0: no pause; an error: the safety tick


def test_run_loop_ends_when_the_pool_is_collected() -> None:
    class Target:
        pass

    target = Target()
    ref = weakref.ref(target)
    steps: list[int] = []

    def step(_: object) -> float:
        steps.append(1)
        return 1.0

    def wait(event: threading.Event, seconds: float) -> None:
        nonlocal target
        del target  # the last strong reference goes away during the pause

    run_loop(ref, step, threading.Event(), threading.Event(), wait)  # type: ignore[arg-type]
    assert steps == [1]
