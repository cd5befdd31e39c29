"""Lease logic written once, as a generator of steps, and its two drivers.

A *step generator* decides under a lock and yields the blocking work it needs,
never holding that lock across a ``yield``:

* :class:`Call` asks the driver to run a blocking function and send its result
  back (or throw its exception in);
* :class:`Wait` asks the driver to wait until the state changes (its
  :class:`ChangeSignal` version moves on) or a deadline passes.

:func:`drive_sync` runs the steps in the calling thread and waits on a
``threading.Condition``; :func:`drive_async` runs each call on the shared sandbox
I/O threads and waits on an ``asyncio`` future that :meth:`ChangeSignal.notify_locked`
resolves with ``loop.call_soon_threadsafe``, so threads and coroutines wait on the
same state and the event loop never blocks. Both drivers check the rule "never
yield while holding the lock" at every step and raise ``RuntimeError`` when a
generator breaks it (a driver that then blocked would deadlock every other lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_daytona_exec.sandbox import run_blocking

__all__ = ["Call", "ChangeSignal", "OwnedLock", "Steps", "Wait", "drive_async", "drive_sync"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """A step asks its driver to run a blocking function and send back its result."""

    fn: Callable[[], Any]


@dataclass(frozen=True)
class Wait:
    """A step asks its driver to wait for a state change (or the deadline).

    Attributes:
        deadline: ``time.monotonic()`` value at which the wait ends anyway.
        version: The :attr:`ChangeSignal.version` the step saw; a change since then
            ends the wait at once, so no change between the check and the wait is lost.

    """

    deadline: float
    version: int


Steps = Generator[Call | Wait, Any, T]
"""A step generator returning ``T``."""


class OwnedLock:
    """A non-reentrant lock that knows which thread holds it.

    The drivers use :meth:`held_by_me` to enforce "never yield while holding the
    lock"; ``threading.Condition`` uses ``_is_owned`` to check ``wait``/``notify``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock (see ``threading.Lock.acquire``)."""
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._owner = threading.get_ident()
        return got

    def release(self) -> None:
        """Release the lock."""
        self._owner = None
        self._lock.release()

    def held_by_me(self) -> bool:
        """True when the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    _is_owned = held_by_me

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _wake_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class ChangeSignal:
    """The lock guarding some state, and a version that wakes every waiter on change.

    Every state change calls :meth:`notify_locked` (lock held), which bumps
    :attr:`version` and wakes waiting threads and coroutines; they re-check.
    """

    def __init__(self) -> None:
        self.lock = OwnedLock()
        self.cond = threading.Condition(self.lock)  # type: ignore[arg-type]
        self.version = 0
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def notify_locked(self) -> None:
        """Wake every waiter (threads and coroutines) to re-check. Lock held."""
        self.version += 1
        self.cond.notify_all()
        for loop, fut in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(_wake_future, fut)
        self._async_waiters.clear()

    def wait_sync(self, op: Wait) -> None:
        """Block until the version moves past ``op.version`` or ``op.deadline``."""
        with self.cond:
            if self.version != op.version:
                return
            remaining = op.deadline - time.monotonic()
            if remaining > 0:
                self.cond.wait(remaining)

    async def wait_async(self, op: Wait) -> None:
        """Async twin of :meth:`wait_sync`; never blocks the event loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self.lock:
            if self.version != op.version:
                return
            self._async_waiters.add(entry)
        try:
            remaining = op.deadline - time.monotonic()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, remaining)
        finally:
            with self.lock:
                self._async_waiters.discard(entry)


def _next(steps: Steps[T], value: Any, error: BaseException | None, signal: ChangeSignal) -> Any:
    """Advance the generator one step; check the lock rule on what it yields."""
    op = steps.throw(error) if error is not None else steps.send(value)
    if signal.lock.held_by_me():
        steps.close()
        raise RuntimeError(
            f"a lease step yielded {op!r} while holding the pool's lock; blocking work "
            "must run outside the lock (this is a bug in the pool)"
        )
    return op


def drive_sync(steps: Steps[T], signal: ChangeSignal) -> T:
    """Run a step generator in this thread.

    Args:
        steps: The generator.
        signal: Guards the state the steps read; :class:`Wait` steps wait on it.

    Returns:
        The generator's return value.

    Raises:
        RuntimeError: A step yielded while holding ``signal.lock``.

    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = _next(steps, value, error, signal)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(op, Call):
                value = op.fn()
            else:
                signal.wait_sync(op)
        except BaseException as exc:
            error = exc


async def drive_async(steps: Steps[T], signal: ChangeSignal) -> T:
    """Async twin of :func:`drive_sync`: runs the steps without blocking the event loop.

    Each :class:`Call` runs on the shared sandbox I/O threads. A cancellation that
    arrives while a blocking call runs is held until the call returns, then delivered
    to the steps, so their cleanup sees the call's effects (a created sandbox is never
    orphaned). Same arguments, result and errors as :func:`drive_sync`.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = _next(steps, value, error, signal)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        if isinstance(op, Wait):
            try:
                await signal.wait_async(op)
                await asyncio.sleep(0)  # even a wait that ended at once lets others run
            except BaseException as exc:
                error = exc
            continue
        task: asyncio.Future[Any] = asyncio.ensure_future(run_blocking(op.fn))
        cancelled: BaseException | None = None
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError as exc:
                cancelled = exc
        if cancelled is not None:
            error = cancelled
            if not task.cancelled():
                task.exception()  # retrieved: the cancellation wins
        elif task.cancelled():
            error = asyncio.CancelledError()
        elif task.exception() is not None:
            error = task.exception()
        else:
            value = task.result()
