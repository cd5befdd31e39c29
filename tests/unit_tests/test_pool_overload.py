"""Under overload, conversations wait instead of thrashing: pins, protection, FIFO."""

from __future__ import annotations

import asyncio
import threading

import pytest

from langchain_daytona_exec.errors import PoolExhaustedError
from langchain_daytona_exec.pool import SandboxPool
from tests.unit_tests.fakes import FakeBackend
from tests.unit_tests.pool_support import FakeClock, wait_until


def test_a_pinned_key_is_not_evicted_and_unpinning_frees_it_at_once() -> None:
    backend = FakeBackend()
    with SandboxPool(backend, max_size=1, acquire_timeout=0.2, protect_s=3600) as pool:
        with pool.pin("a"):
            with pool.session("a") as sb:
                sb.run_code("x = 1")
            assert pool.stats().pinned == 1
            with pytest.raises(PoolExhaustedError, match="1 pinned") as info, pool.session("b"):
                pass
            assert "protect_s" in str(info.value) and "max_size" in str(info.value)
            with pool.session("a") as sb:  # a kept its sandbox and its state
                assert sb.run_code("x").result == "1"
        # The run ended: no protection window, b gets the slot at once.
        with pool.session("b", timeout=1) as sb:
            assert sb.run_code("x").error is not None  # a's state did not cross over
        s = pool.stats()
        assert (s.pinned, s.evicted, s.reused, backend.creates) == (0, 1, 1, 1)


def test_pins_are_counted() -> None:
    with SandboxPool(FakeBackend(), max_size=1, acquire_timeout=0.1, protect_s=0) as pool:
        with pool.pin("a"):
            with pool.pin("a"), pool.session("a"):
                pass
            assert pool.stats().pinned == 1  # one pin left
            with pytest.raises(PoolExhaustedError), pool.session("b"):
                pass
        with pool.session("b"):
            pass
    with pytest.raises(ValueError, match="non-empty"), pool.pin(""):
        pass


def test_a_recently_used_key_is_protected_then_evicted() -> None:
    clock = FakeClock()
    with SandboxPool(
        FakeBackend(), max_size=1, acquire_timeout=0.1, protect_s=10, clock=clock
    ) as pool:
        with pool.session("a"):
            pass
        clock.advance(9)
        with pytest.raises(PoolExhaustedError, match="1 used in the last 10 s"), pool.session("b"):
            pass
        clock.advance(1)
        with pool.session("b"):  # a is past its protection now
            pass
        s = pool.stats()
        assert (s.evicted, s.evicted_recent) == (1, 1)  # a was used 10 s before: recent
        assert s.wait_ms_total >= 100  # the failed wait counts too


def test_a_waiting_key_wakes_when_a_protection_ends() -> None:
    # Nothing changes in the pool while b waits: it must wake on its own when a's
    # protection (0.3 s of real time here) ends, not at its 10 s deadline.
    with SandboxPool(FakeBackend(), max_size=1, acquire_timeout=10, protect_s=0.3) as pool:
        with pool.session("a"):
            pass
        with pool.session("b"):
            pass
        s = pool.stats()
        assert s.evicted == 1
        assert 0 < s.wait_ms_total < 10_000


def test_new_keys_get_capacity_in_arrival_order() -> None:
    with SandboxPool(FakeBackend(), max_size=1, acquire_timeout=10, protect_s=0) as pool:
        order: list[str] = []
        release = threading.Event()
        held = threading.Event()

        def holder() -> None:
            with pool.session("a"):
                held.set()
                release.wait(10)

        def waiter(key: str) -> None:
            with pool.session(key):
                order.append(key)

        threads = [threading.Thread(target=holder)]
        threads[0].start()
        held.wait(5)
        for n, key in enumerate(["b", "c", "d", "e"], start=1):
            t = threading.Thread(target=waiter, args=(key,))
            t.start()
            threads.append(t)
            wait_until(lambda n=n: pool.stats().waiting == n)  # queued in this order
        release.set()
        for t in threads:
            t.join(10)
        assert order == ["b", "c", "d", "e"]
        assert pool.stats().waiting == 0


async def test_async_waiters_are_fifo_too_and_a_cancelled_one_leaves_the_line() -> None:
    with SandboxPool(FakeBackend(), max_size=1, acquire_timeout=10, protect_s=0) as pool:
        order: list[str] = []

        async def waiter(key: str) -> None:
            async with pool.asession(key):
                order.append(key)

        async with pool.asession("a"):
            tasks = {}
            for n, key in enumerate(["b", "c", "d"], start=1):
                tasks[key] = asyncio.create_task(waiter(key))
                while pool.stats().waiting < n:
                    await asyncio.sleep(0.001)
            tasks["c"].cancel()
            with pytest.raises(asyncio.CancelledError):
                await tasks["c"]
            assert pool.stats().waiting == 2
        await asyncio.gather(tasks["b"], tasks["d"])
        assert order == ["b", "d"]


def test_idle_ttl_skips_pinned_keys() -> None:
    clock = FakeClock()
    with SandboxPool(FakeBackend(), idle_ttl_s=10, clock=clock, reaper_interval_s=3600) as pool:
        with pool.pin("a"):
            with pool.session("a"):
                pass
            clock.advance(100)
            assert pool.reap() == 0
        assert pool.reap() == 1
