"""The step protocol and its two drivers, on toy generators (no pool, no sandbox)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from langchain_daytona_exec.pool._steps import (
    Call,
    ChangeSignal,
    Steps,
    Wait,
    drive_async,
    drive_sync,
)


class Counter:
    """Toy shared state: a value guarded by a ChangeSignal."""

    def __init__(self) -> None:
        self.signal = ChangeSignal()
        self.value = 0
        self.calls: list[str] = []

    def bump(self) -> None:
        with self.signal.lock:
            self.value += 1
            self.signal.notify_locked()


def wait_for_value(state: Counter, target: int, timeout: float) -> Steps[int]:
    """Wait (Wait steps) until the value reaches ``target``, then double it in a Call."""
    deadline = time.monotonic() + timeout
    while True:
        with state.signal.lock:
            if state.value >= target:
                value = state.value
                break
            version = state.signal.version
        if time.monotonic() >= deadline:
            raise TimeoutError(f"value stayed below {target}")
        yield Wait(deadline, version)
    doubled = yield Call(
        lambda: (state.calls.append(threading.current_thread().name), value * 2)[1]
    )
    return int(doubled)


def failing_call(state: Counter) -> Steps[str]:
    """A Call that raises: the driver throws the error back into the generator."""
    try:
        yield Call(lambda: 1 / 0)
    except ZeroDivisionError:
        return "caught"
    return "not raised"


def yields_under_the_lock(state: Counter) -> Steps[None]:
    """Breaks the rule: yields a Call while holding the lock."""
    with state.signal.lock:
        yield Call(lambda: None)


def test_sync_driver_runs_calls_and_waits_for_changes() -> None:
    state = Counter()
    threading.Timer(0.05, state.bump).start()
    threading.Timer(0.10, state.bump).start()
    assert drive_sync(wait_for_value(state, 2, timeout=10), state.signal) == 4
    assert state.calls == [threading.current_thread().name]  # sync: calls run here


def test_sync_driver_throws_call_errors_in_and_times_out() -> None:
    state = Counter()
    assert drive_sync(failing_call(state), state.signal) == "caught"
    with pytest.raises(TimeoutError, match="below 1"):
        drive_sync(wait_for_value(state, 1, timeout=0.05), state.signal)


async def test_async_driver_runs_calls_off_the_loop_and_waits_without_blocking() -> None:
    state = Counter()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, state.bump)  # from the loop
    threading.Timer(0.1, state.bump).start()  # and from another thread
    try:
        assert await drive_async(wait_for_value(state, 2, timeout=10), state.signal) == 4
    finally:
        tick_task.cancel()
    assert ticks > 1  # the loop kept running while the steps waited
    assert state.calls and state.calls[0] != threading.current_thread().name
    assert await drive_async(failing_call(state), state.signal) == "caught"


def test_yielding_while_holding_the_lock_is_refused_by_both_drivers() -> None:
    state = Counter()
    with pytest.raises(RuntimeError, match="while holding the pool's lock"):
        drive_sync(yields_under_the_lock(state), state.signal)
    assert not state.signal.lock.held_by_me()  # the generator was closed, lock released

    async def run() -> Any:
        return await drive_async(yields_under_the_lock(state), state.signal)

    with pytest.raises(RuntimeError, match="while holding the pool's lock"):
        asyncio.run(run())
    assert state.signal.lock.acquire(blocking=False)  # nobody holds it
    state.signal.lock.release()


def test_owned_lock_knows_its_owner() -> None:
    state = Counter()
    lock = state.signal.lock
    seen: list[bool] = []
    with lock:
        assert lock.held_by_me()
        other = threading.Thread(target=lambda: seen.append(lock.held_by_me()))
        other.start()
        other.join()
    assert seen == [False]
    assert not lock.held_by_me()


async def test_async_driver_lets_other_tasks_run_even_when_waits_end_at_once() -> None:
    state = Counter()
    other_ran = asyncio.Event()

    def spin_until_the_other_task_ran() -> Steps[int]:
        rounds = 0
        while not other_ran.is_set():
            rounds += 1
            if rounds > 1000:
                raise AssertionError("the driver never yielded to the event loop")
            yield Wait(time.monotonic() - 1, state.signal.version)  # already past
        return rounds

    async def other() -> None:
        other_ran.set()

    task = asyncio.create_task(other())
    rounds = await drive_async(spin_until_the_other_task_ran(), state.signal)
    await task
    assert rounds >= 1
