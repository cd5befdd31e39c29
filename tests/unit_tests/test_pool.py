"""Unit tests of SandboxPool on the in-memory FakeBackend."""

from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec.errors import (
    PoolError,
    PoolExhaustedError,
    SandboxClosedError,
    SandboxError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.pool import PooledSandbox, SandboxPool, default_backend
from langchain_daytona_exec.pool import _defaults as pool_defaults
from langchain_daytona_exec.pool._background import THREAD_TICK_S
from tests.unit_tests.fakes import FakeBackend, FakeSandbox
from tests.unit_tests.pool_support import FakeClock, wait_until


def inner(sb: PooledSandbox) -> FakeSandbox:
    """The FakeSandbox behind a lease (tests only)."""
    target = sb._sandbox
    assert isinstance(target, FakeSandbox)
    return target


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def pool(backend: FakeBackend) -> Iterator[SandboxPool]:
    with SandboxPool(backend, max_size=8, acquire_timeout=5) as p:
        yield p
    assert backend.live() == []


def increment(sb: PooledSandbox) -> None:
    """A read-modify-write split over two calls: lost updates show a race."""
    value = int(sb.run_code("x").result or "0")
    time.sleep(0)
    sb.run_code(f"x = {value + 1}")


# -- leasing ---------------------------------------------------------------------------


def test_same_key_same_sandbox_and_keys_isolated(pool: SandboxPool, backend: FakeBackend) -> None:
    with pool.session("a") as sb:
        sb.run_code("x = 'a'")
        first_id = sb.id
    with pool.session("b") as sb:
        assert sb.run_code("x").error is not None  # b cannot see a's variable
        sb.run_code("x = 'b'")
        sb.write_file("only-b.txt", "b")
    with pool.session("a") as sb:
        assert sb.id == first_id
        assert sb.run_code("x").result == "'a'"
        assert [f.name for f in sb.list_files(".")] == []
    assert backend.creates == 2
    assert pool.stats().live == 2


def test_no_lost_increments_with_threads(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 0")

    def worker() -> None:
        for _ in range(50):
            with pool.session("k") as sb:
                increment(sb)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with pool.session("k") as sb:
        assert sb.run_code("x").result == "400"
        assert inner(sb).max_concurrency == 1


async def test_no_lost_increments_threads_and_asyncio_together(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 0")

    def thread_worker() -> None:
        for _ in range(50):
            with pool.session("k") as sb:
                increment(sb)

    async def task_worker() -> None:
        for _ in range(50):
            async with pool.asession("k") as sb:
                value = int((await sb.arun_code("x")).result or "0")
                await asyncio.sleep(0)
                await sb.arun_code(f"x = {value + 1}")

    threads = [threading.Thread(target=thread_worker) for _ in range(4)]
    for t in threads:
        t.start()
    await asyncio.gather(*(task_worker() for _ in range(4)))
    for t in threads:
        await asyncio.to_thread(t.join, 30)
    async with pool.asession("k") as sb:
        assert (await sb.arun_code("x")).result == "400"
        assert inner(sb).max_concurrency == 1


def test_different_keys_run_in_parallel(pool: SandboxPool) -> None:
    barrier = threading.Barrier(3, timeout=5)
    errors: list[BaseException] = []

    def worker(key: str) -> None:
        try:
            with pool.session(key) as sb:
                sb.run_code("y = 1")
                barrier.wait()  # all three leases are held at once
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert pool.stats().leased == 0


async def test_async_wait_does_not_block_the_event_loop(pool: SandboxPool) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with pool.session("k"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def lease() -> str:
        async with pool.asession("k") as sb:
            return sb.key

    tick_task = asyncio.create_task(ticker())
    lease_task = asyncio.create_task(lease())
    deadline = time.monotonic() + 5
    while pool.stats().waiting < 1 or ticks < 5:  # a blocked loop would never tick
        assert time.monotonic() < deadline, (pool.stats(), ticks)
        await asyncio.sleep(0.001)
    assert not lease_task.done()  # waiting for the key while the loop keeps running
    release.set()
    assert await asyncio.wait_for(lease_task, 5) == "k"
    await tick_task
    thread.join(5)


def test_same_key_waiters_are_served_in_arrival_order(pool: SandboxPool) -> None:
    order: list[int] = []
    with pool.session("k") as sb:
        sb.run_code("x = 0")
        threads = []
        for i in range(5):

            def worker(i: int = i) -> None:
                with pool.session("k"):
                    order.append(i)

            t = threading.Thread(target=worker)
            t.start()
            threads.append(t)
            wait_until(lambda i=i: pool.stats().waiting == i + 1)  # queued in this order
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_lease_ends_with_the_block(pool: SandboxPool) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
    with pytest.raises(SandboxClosedError, match="session"):
        sb.run_code("x")
    assert not sb.is_alive()


def test_invalid_key(pool: SandboxPool) -> None:
    with pytest.raises(ValueError), pool.session(""):
        pass


# -- bounds ----------------------------------------------------------------------------


def test_ttl_eviction_with_injected_clock(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(backend, idle_ttl_s=10, clock=clock, reaper_interval_s=3600) as pool:
        with pool.session("k") as sb:
            sb.run_code("x = 1")
        clock.advance(9)
        assert pool.reap() == 0
        with pool.session("k") as sb:  # use refreshes the TTL
            assert sb.run_code("x").result == "1"
        clock.advance(9)
        assert pool.reap() == 0
        clock.advance(2)
        assert pool.reap() == 1
        assert backend.created[0].closed  # min_idle=0: closed, not kept
        assert pool.stats().evicted == 1
        assert pool.stats().live == 0
        with pool.session("k") as sb:
            assert sb.state_lost and sb.lost_reason == "idle_ttl"
            assert sb.run_code("x").error is not None
        with pool.session("k") as sb:
            assert not sb.state_lost


def test_leased_key_is_not_reaped(backend: FakeBackend) -> None:
    clock = FakeClock()
    pool = SandboxPool(backend, idle_ttl_s=10, clock=clock, reaper_interval_s=3600)
    with pool, pool.session("k") as sb:
        sb.run_code("x = 1")
        clock.advance(60)
        assert pool.reap() == 0
        assert sb.run_code("x").result == "1"


def test_reaper_thread_evicts_in_the_background(backend: FakeBackend) -> None:
    with SandboxPool(backend, idle_ttl_s=0.1, reaper_interval_s=0.02) as pool:
        with pool.session("k") as sb:
            sb.run_code("x = 1")
        wait_until(lambda: backend.live() == [])
        assert pool.stats().evicted == 1


def test_max_lifetime(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(
        backend, idle_ttl_s=None, max_lifetime_s=100, clock=clock, reaper_interval_s=3600
    ) as pool:
        with pool.session("k") as sb:
            sb.run_code("x = 1")
        clock.advance(150)
        with pool.session("k") as sb:  # replaced at the lease, even without the reaper
            assert sb.state_lost and sb.lost_reason == "max_lifetime"
            assert backend.creates == 2
        assert backend.created[0].closed
        clock.advance(150)
        assert pool.reap() == 1  # and by the reaper when unleased
        assert backend.live() == []


def test_lru_eviction_resets_and_reuses(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(backend, max_size=2, clock=clock, reaper_interval_s=3600, protect_s=0) as pool:
        for key in ("a", "b"):
            with pool.session(key) as sb:
                sb.run_code(f"x = {key!r}")
                sb.write_file("secret.txt", key)
            clock.advance(1)
        with pool.session("a") as sb:  # a is now the most recently used
            sb.run_code("x")
        clock.advance(1)
        with pool.session("c") as sb:  # full: evicts b, the least recently used
            assert inner(sb) is backend.created[1]
            assert sb.run_code("x").error is not None  # nothing of b's crossed over
            assert sb.list_files(".") == []
            assert not sb.state_lost
        assert backend.creates == 2
        stats = pool.stats()
        assert (stats.evicted, stats.reused, stats.live) == (1, 1, 2)
        with pool.session("a") as sb:
            assert sb.run_code("x").result == "'a'"
        with pool.session("b") as sb:  # b comes back: told once its state is gone
            assert sb.state_lost and sb.lost_reason == "evicted"


def test_exhaustion_message_says_what_to_change(backend: FakeBackend) -> None:
    with SandboxPool(backend, max_size=1, acquire_timeout=0.2, protect_s=0) as pool:
        with pool.session("a"):
            started = time.monotonic()
            with pytest.raises(PoolExhaustedError) as info, pool.session("b"):
                pass
            assert time.monotonic() - started >= 0.2
        message = str(info.value)
        assert "max_size" in message and "acquire_timeout" in message
        assert "discard" in message
        with pool.session("b"):  # the failed wait left nothing behind
            pass


def test_busy_key_times_out(pool: SandboxPool) -> None:
    with (
        pool.session("a"),
        pytest.raises(SandboxTimeoutError, match="one at a time"),
        pool.session("a", timeout=0.1),
    ):
        pass
    with pool.session("a", timeout=0.1):  # the queue entry of the timed-out wait is gone
        pass


def test_waiter_gets_capacity_when_a_session_ends(backend: FakeBackend) -> None:
    with SandboxPool(backend, max_size=1, acquire_timeout=5, protect_s=0) as pool:
        held = threading.Event()

        def holder() -> None:
            with pool.session("a"):
                held.set()
                wait_until(lambda: pool.stats().waiting == 1)  # until b waits for room

        thread = threading.Thread(target=holder)
        thread.start()
        held.wait(5)
        with pool.session("b") as sb:  # waits, then takes a's sandbox after a reset
            assert inner(sb) is backend.created[0]
        thread.join(5)
        assert pool.stats().reused == 1


async def test_async_exhaustion(backend: FakeBackend) -> None:
    pool = SandboxPool(backend, max_size=1, acquire_timeout=0.1)
    async with pool, pool.asession("a"):
        with pytest.raises(PoolExhaustedError):
            async with pool.asession("b"):
                pass


# -- health ----------------------------------------------------------------------------


def test_killed_sandbox_is_replaced_and_loss_reported_once(
    pool: SandboxPool, backend: FakeBackend
) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
        assert not sb.state_lost
    backend.created[0].kill()
    with pool.session("k") as sb:
        assert sb.state_lost and sb.lost_reason == "died"
        assert sb.run_code("x").error is not None
        sb.run_code("x = 2")
    with pool.session("k") as sb:
        assert not sb.state_lost
        assert sb.run_code("x").result == "2"
    assert backend.created[0].closed
    stats = pool.stats()
    assert (stats.created, stats.replaced, stats.live) == (2, 1, 1)


def test_loss_seen_inside_the_session_is_not_reported_again(
    pool: SandboxPool, backend: FakeBackend
) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
        inner(sb).kill()
        with pytest.raises(SandboxLostError):
            sb.run_code("x")  # the caller sees the loss here...
    with pool.session("k") as sb:
        assert not sb.state_lost  # ...so the replacement does not report it twice
        assert sb.run_code("x = 3; x").result == "3"
    assert pool.stats().replaced == 1


def test_loss_raised_out_of_the_block_marks_the_sandbox(
    pool: SandboxPool, backend: FakeBackend
) -> None:
    with pytest.raises(SandboxLostError), pool.session("k") as sb:
        inner(sb).kill()
        raise SandboxLostError("seen by a tool")
    with pool.session("k") as sb:
        assert not sb.state_lost
    assert pool.stats().replaced == 1


def test_revivable_sandbox_is_kept(pool: SandboxPool, backend: FakeBackend) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
        inner(sb).kill(revivable=True)
        with pytest.raises(SandboxLostError):
            sb.run_code("x")
    with pool.session("k") as sb:  # is_alive() is still True: same sandbox
        assert inner(sb) is backend.created[0]
        assert sb.run_code("x").error is not None
    assert pool.stats().replaced == 0


def test_loss_reported_after_a_failed_replacement(pool: SandboxPool, backend: FakeBackend) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
    backend.created[0].kill()
    backend.fail_creates = True
    with pytest.raises(SandboxError, match="told to fail"), pool.session("k"):
        pass
    backend.fail_creates = False
    with pool.session("k") as sb:
        assert sb.state_lost and sb.lost_reason == "died"
    with pool.session("k") as sb:
        assert not sb.state_lost
    assert pool.stats().failures == 1


def test_discard(pool: SandboxPool, backend: FakeBackend) -> None:
    with pool.session("k") as sb:
        sb.run_code("x = 1")
    assert pool.discard("k")
    assert not pool.discard("k")
    wait_until(lambda: backend.created[0].closed)
    with pool.session("k") as sb:
        assert not sb.state_lost  # the caller asked for it: nothing to report
    with pool.session("k") as sb:
        sb.close()  # a lease's close() drops the sandbox when the lease ends
        assert sb.run_code("1").result == "1"
    wait_until(lambda: backend.created[1].closed)


# -- warm pool -------------------------------------------------------------------------


def test_warm_pool_hands_out_at_once_and_refills() -> None:
    backend = FakeBackend(create_delay_s=0.05)
    with SandboxPool(backend, min_idle=2, max_size=4) as pool:
        wait_until(lambda: pool.stats().idle == 2)
        assert backend.creates == 2
        with pool.session("k") as sb:
            assert inner(sb) is backend.created[0]  # handed out, not created
            assert pool.stats().acquire_p50_ms < 50  # a create takes 50 ms
        wait_until(lambda: pool.stats().idle == 2)
        assert backend.creates == 3
        assert all(name.endswith("filler") for name in backend.create_threads)
        assert pool.stats().live == 3


def test_warm_pool_respects_max_size() -> None:
    backend = FakeBackend()
    with SandboxPool(backend, min_idle=2, max_size=2) as pool:
        wait_until(lambda: pool.stats().idle == 2)
        for key in ("a", "b"):
            with pool.session(key):
                pass
        # The filler's next round finds the pool full and creates nothing.
        assert pool._filler.step(pool) == THREAD_TICK_S
        assert pool.stats().live == 2
        assert backend.creates == 2


def test_warmup_runs_before_hand_out() -> None:
    backend = FakeBackend()
    warmup = "import math\nwarm = math.pi"
    with SandboxPool(backend, min_idle=1, warmup=warmup) as pool:
        wait_until(lambda: pool.stats().idle == 1)
        assert backend.created[0].code_log == [warmup]  # ran while idle
        with pool.session("a") as sb:
            assert sb.run_code("round(warm, 2)").result == "3.14"
        with pool.session("b") as sb:  # the refilled or a cold one: warmed either way
            assert sb.run_code("round(warm, 2)").result == "3.14"
        with pool.session("a") as sb:
            sb.reset()
        with pool.session("a") as sb:  # warmed again after a reset
            assert sb.run_code("round(warm, 2)").result == "3.14"


def test_evicted_sandbox_is_closed_when_the_warm_pool_is_full(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(
        backend, min_idle=1, max_size=2, idle_ttl_s=10, clock=clock, reaper_interval_s=3600
    ) as pool:
        wait_until(lambda: pool.stats().idle == 1)
        with pool.session("a") as sb:
            sb.run_code("secret = 1")
            used = inner(sb)
        wait_until(lambda: pool.stats().idle == 1)  # refilled
        clock.advance(11)
        assert pool.reap() == 1
        assert used.closed and used.resets == 0  # idle was at min_idle: closed
        stats = pool.stats()
        assert (stats.live, stats.idle, stats.evicted, stats.reused) == (1, 1, 1, 0)


def test_reused_counted_when_reset_spare_is_handed_out(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(
        backend, min_idle=1, max_size=1, idle_ttl_s=10, clock=clock, reaper_interval_s=3600
    ) as pool:
        wait_until(lambda: pool.stats().idle == 1)
        with pool.session("a") as sb:
            sb.run_code("secret = 1")
        clock.advance(11)
        assert pool.reap() == 1  # max_size=1: the filler could not refill, so keep it
        assert pool.stats().idle == 1
        assert backend.created[0].resets == 1
        with pool.session("b") as sb:
            assert inner(sb) is backend.created[0]
            assert sb.run_code("secret").error is not None
        assert pool.stats().reused == 1


def test_failed_warm_creations_are_counted(backend: FakeBackend) -> None:
    backend.fail_creates = True
    with SandboxPool(backend, min_idle=1) as pool:
        wait_until(lambda: pool.stats().failures >= 1)  # the filler tried and failed
        # (its backoff is tested with an injected clock in test_pool_background.py)
        before = pool.stats().failures
        with pytest.raises(SandboxError, match="told to fail"), pool.session("k"):
            pass
        assert pool.stats().failures >= before + 1
        backend.fail_creates = False
        with pool.session("k") as sb:
            assert sb.run_code("1 + 1").result == "2"


# -- shutdown --------------------------------------------------------------------------


def test_close_closes_every_sandbox_and_is_idempotent() -> None:
    backend = FakeBackend()
    pool = SandboxPool(backend, min_idle=2, max_size=8)
    for key in ("a", "b", "c"):
        with pool.session(key):
            pass
    wait_until(lambda: pool.stats().idle == 2)
    threads = list(pool._threads)
    pool.close()
    pool.close()
    assert backend.live() == []
    assert backend.closes == backend.creates == 5
    assert not any(t.is_alive() for t in threads)
    assert pool.closed
    with pytest.raises(PoolError, match="closed"), pool.session("a"):
        pass


def test_close_during_a_session(backend: FakeBackend) -> None:
    pool = SandboxPool(backend)
    with pool.session("a") as sb:
        pool.close()
        with pytest.raises(SandboxClosedError):
            sb.run_code("1")
    assert backend.live() == []


async def test_aclose_and_async_context_manager(backend: FakeBackend) -> None:
    pool = SandboxPool(backend, min_idle=1)
    async with pool, pool.asession("a") as sb:
        assert (await sb.arun_code("6 * 7")).result == "42"
    assert pool.closed
    assert backend.live() == []
    await pool.aclose()


async def test_cancel_during_creation_leaks_nothing() -> None:
    backend = FakeBackend(create_delay_s=0.3)
    pool = SandboxPool(backend)

    async def lease() -> None:
        async with pool.asession("k"):
            pass

    task = asyncio.create_task(lease())
    while backend.create_attempts < 1:  # cancel while the creation runs
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the creation finished and its sandbox went to the key, not into the void
    assert backend.creates == 1
    stats = pool.stats()
    assert (stats.live, stats.leased) == (1, 0)
    async with pool.asession("k") as sb:
        assert inner(sb) is backend.created[0]
    await pool.aclose()
    assert backend.live() == []


async def test_cancel_while_waiting_for_the_key(pool: SandboxPool) -> None:
    async with pool.asession("k"):
        task = asyncio.create_task(pool.asession("k").__aenter__())
        while pool.stats().waiting < 1:  # cancel once it waits for the key
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with pool.asession("k", timeout=1):  # the cancelled waiter left the queue
        pass


def test_pool_is_not_kept_alive_by_its_threads_or_the_hook() -> None:
    backend = FakeBackend()

    def make() -> tuple[weakref.ref[SandboxPool], list[threading.Thread]]:
        pool = SandboxPool(backend, min_idle=1)
        wait_until(lambda: pool.stats().idle == 1)
        return weakref.ref(pool), list(pool._threads)

    ref, threads = make()
    gc.collect()
    wait_until(lambda: ref() is None)
    wait_until(lambda: backend.live() == [])  # closed on collection
    for t in threads:
        t.join(5)
        assert not t.is_alive()


# -- stats -----------------------------------------------------------------------------


def test_stats_counts(backend: FakeBackend) -> None:
    clock = FakeClock()
    with SandboxPool(backend, max_size=2, clock=clock, reaper_interval_s=3600, protect_s=0) as pool:
        assert pool.stats().acquire_p50_ms == 0.0
        with pool.session("a") as sb:
            sb.run_code("x = 1")
            s = pool.stats()
            assert (s.live, s.idle, s.leased, s.created) == (1, 0, 1, 1)
        clock.advance(1)
        with pool.session("b"):
            pass
        clock.advance(1)
        with pool.session("c"):  # evicts a (LRU) and reuses its sandbox
            pass
        backend.created[1].kill()
        with pool.session("b"):  # replaced
            pass
        s = pool.stats()
        assert (s.live, s.idle, s.leased) == (2, 0, 0)
        assert (s.created, s.reused, s.evicted, s.replaced, s.failures) == (3, 1, 1, 1, 0)
        assert 0 < s.acquire_p50_ms <= s.acquire_p95_ms


# -- default backend -------------------------------------------------------------------


class _StubBackend(FakeBackend):
    pass


def test_default_backend_is_local_without_daytona_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAYTONA_API_KEY", raising=False)
    local = types.ModuleType("langchain_daytona_exec.backends.local")
    local.LocalBackend = _StubBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_daytona_exec.backends.local", local)
    assert isinstance(default_backend(), _StubBackend)


def test_default_backend_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYTONA_API_KEY", "test-key")
    local = types.ModuleType("langchain_daytona_exec.backends.local")
    local.LocalBackend = _StubBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_daytona_exec.backends.local", local)
    monkeypatch.setitem(sys.modules, "langchain_daytona_exec.backends.daytona", None)
    with pytest.warns(RuntimeWarning, match="DAYTONA_API_KEY"):
        assert isinstance(default_backend(), _StubBackend)


def test_default_backend_is_daytona_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    class Daytona(FakeBackend):
        name = "daytona"

    monkeypatch.setenv("DAYTONA_API_KEY", "test-key")
    daytona = types.ModuleType("langchain_daytona_exec.backends.daytona")
    daytona.DaytonaBackend = Daytona  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_daytona_exec.backends.daytona", daytona)
    assert isinstance(default_backend(), Daytona)


def test_backend_is_resolved_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    backend = FakeBackend()

    def fake_default() -> FakeBackend:
        calls.append(1)
        return backend

    monkeypatch.setattr(pool_defaults, "default_backend", fake_default)
    with SandboxPool() as pool:
        assert calls == []
        assert backend.creates == 0
        with pool.session("k") as sb:
            assert sb.run_code("1").result == "1"
        assert calls == [1]
        assert pool.backend is backend
    assert backend.live() == []


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="max_size"):
        SandboxPool(FakeBackend(), max_size=0)
    with pytest.raises(ValueError, match="min_idle"):
        SandboxPool(FakeBackend(), min_idle=3, max_size=2)
    with pytest.raises(ValueError, match="idle_ttl_s"):
        SandboxPool(FakeBackend(), idle_ttl_s=-1)


SIGTERM_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from langchain_daytona_exec.pool import SandboxPool
from tests.unit_tests.fakes import FakeBackend

class Backend(FakeBackend):
    def create(self, *, labels=None):
        sb = super().create(labels=labels)
        close = sb.close
        def logged_close():
            with open({marker!r}, "a") as f:
                f.write(sb.id + "\\n")
            close()
        sb.close = logged_close
        return sb

pool = SandboxPool(Backend(), min_idle=1)
with pool.session("a"):
    pass
while pool.stats().idle < 1:
    time.sleep(0.01)
print("READY", flush=True)
time.sleep(60)
"""


def test_sigterm_closes_open_pools(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    marker = tmp_path / "closed.txt"
    with subprocess.Popen(
        [sys.executable, "-c", SIGTERM_CHILD.format(repo=str(repo), marker=str(marker))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "READY"
            child.send_signal(signal.SIGTERM)
            assert child.wait(10) == -signal.SIGTERM  # still dies of SIGTERM
            assert sorted(marker.read_text().split()) == ["mem-1", "mem-2"]
        finally:
            if child.poll() is None:
                child.kill()
