"""The pool's background work: the filler, the janitor and the loop that runs them.

* The **filler** keeps ``min_idle`` warm sandboxes, backing off exponentially after
  failed creations (:class:`Backoff`) so a broken backend costs one attempt per
  pause, not a busy loop.
* The **janitor** evicts keys past ``idle_ttl_s`` or ``max_lifetime_s``, resets
  evicted sandboxes back into the warm pool when it is short, and closes retired
  sandboxes.

Each runs in :func:`run_loop` on a daemon thread that holds only a weak reference
to the pool. Time is injected: :class:`Backoff` takes a clock and :func:`run_loop`
a ``wait`` function, so tests step them without real sleeps.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from langchain_daytona_exec.pool._records import Spare, close_quietly, logger
from langchain_daytona_exec.pool._workspaces import reset_for_handover
from langchain_daytona_exec.sandbox import Sandbox

if TYPE_CHECKING:
    from langchain_daytona_exec.pool._pool import SandboxPool

__all__ = ["Backoff", "Filler", "Janitor", "run_loop"]

FILL_BACKOFF_MIN_S = 0.5
"""The filler's first pause after a failed creation, in seconds."""

FILL_BACKOFF_MAX_S = 30.0
"""The longest pause between creation attempts, in seconds: a broken backend (no
bubblewrap, Daytona down) costs one attempt per this many seconds, not a busy loop."""

THREAD_TICK_S = 5.0
"""Background threads are woken by events; this is only a safety-net period (s)."""


def _event_wait(event: threading.Event, seconds: float) -> None:
    event.wait(seconds)


def run_loop(
    ref: weakref.ref[SandboxPool],
    step: Callable[[SandboxPool], float],
    stop: threading.Event,
    wake: threading.Event,
    wait: Callable[[threading.Event, float], None] = _event_wait,
) -> None:
    """Run ``step`` until ``stop`` is set or the pool is garbage collected.

    The pool is dereferenced once per round, so the thread never keeps it alive.

    Args:
        ref: Weak reference to the pool.
        step: One round of work; returns the pause in **seconds** before the next.
        stop: Ends the loop.
        wake: Cuts a pause short (``wait`` is given it).
        wait: Pauses: ``wait(wake, seconds)``; tests inject a recording one.

    """
    while not stop.is_set():
        pool = ref()
        if pool is None:
            return
        wake.clear()
        try:
            delay = step(pool)
        except Exception:
            logger.exception("sandbox pool background step failed")
            delay = THREAD_TICK_S
        del pool
        if delay > 0:
            wait(wake, delay)


class Backoff:
    """Exponential pauses after failures, reset by a success.

    Args:
        clock: Monotonic clock in **seconds** (tests inject a fake one).
        first_s: First pause.
        max_s: Longest pause.

    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        first_s: float = FILL_BACKOFF_MIN_S,
        max_s: float = FILL_BACKOFF_MAX_S,
    ) -> None:
        self._clock = clock
        self._first_s = first_s
        self._max_s = max_s
        self.pause_s = 0.0
        self._not_before = float("-inf")

    def remaining(self) -> float:
        """Seconds until the next attempt is allowed (0 when it is)."""
        return max(0.0, self._not_before - self._clock())

    def failed(self) -> float:
        """Note a failure; returns the pause before the next attempt."""
        self.pause_s = min(self._max_s, max(self._first_s, self.pause_s * 2))
        self._not_before = self._clock() + self.pause_s
        return self.pause_s

    def succeeded(self) -> None:
        """Note a success: the next failure pauses ``first_s`` again."""
        self.pause_s = 0.0
        self._not_before = float("-inf")


def _server_warm_pool(pool: SandboxPool, size: int) -> bool:
    """Ask the backend to keep ``size`` sandboxes warm on its server, if it can.

    Daytona keeps warm sandboxes per snapshot (``daytona.warm_pool``), shared by every
    process and host; a backend built on a snapshot or an environment says so with
    ``uses_server_warm_pool``. Warmup code cannot run in the provider's sandboxes, so a
    pool with ``warmup`` keeps its own. Any failure falls back to client-side filling.
    """
    backend = pool.backend
    if pool._warmup is not None or not getattr(backend, "uses_server_warm_pool", False):
        return False
    try:
        backend.ensure_warm_pool(size)  # type: ignore[attr-defined]
    except Exception as exc:
        logger.warning("no server-side warm pool (%s): keeping warm sandboxes here", exc)
        return False
    logger.info("the provider keeps %d warm sandbox(es) for this pool", size)
    return True


class Filler:
    """Creates warm sandboxes until the pool has ``min_idle`` of them.

    Args:
        min_idle: Warm sandboxes to keep.
        clock: Clock of the backoff (tests inject a fake one).

    """

    def __init__(self, min_idle: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_idle = min_idle
        self.backoff = Backoff(clock)
        self.server_side: bool | None = None  # None: not asked yet

    def step(self, pool: SandboxPool) -> float:
        """Create one warm sandbox if the pool is short. Returns the pause (s)."""
        if self.server_side is None:
            self.server_side = _server_warm_pool(pool, self.min_idle)
            with pool._books.lock:
                pool._books.notify_locked()  # wait_ready() may be waiting for this answer
        if self.server_side:
            return THREAD_TICK_S  # the provider keeps them ready: nothing to hold here
        with pool._books.lock:
            if pool._closed:
                return 0.0
            wait_s = self.backoff.remaining()
            if wait_s > 0:
                return wait_s
            if pool._books.cold_leases:  # a lease is making its own sandbox: let it have the host
                return THREAD_TICK_S  # (woken when it is done)
            short = len(pool._books.idle) + pool._books.filling < self.min_idle
            if not short or pool._books.occupancy_locked() >= pool._books.max_size:
                return THREAD_TICK_S
            pool._books.filling += 1
        sandbox: Sandbox | None = None
        ok = False
        created_at = pool._books.clock()
        try:
            sandbox = pool._keeping(pool.backend.create(labels=dict(pool._labels)))
            with pool._books.lock:
                pool._books.created += 1
            pool._run_warmup(sandbox)
            ok = True
        except Exception as exc:
            logger.warning("the pool could not create a warm sandbox: %s", exc)
        finally:
            with pool._books.lock:
                pool._books.filling -= 1
                if ok and sandbox is not None and not pool._closed:
                    spare = Spare(sandbox, created_at, fresh=True)
                    spare.warm = pool._warmup is not None
                    spare.last_check = pool._books.clock()
                    pool._books.idle.append(spare)
                    sandbox = None
                if not ok:
                    pool._books.failures += 1
                pool._books.notify_locked()
            if sandbox is not None:
                close_quietly(sandbox)
        if ok:
            self.backoff.succeeded()
            return 0.0
        return self.backoff.failed()


class Janitor:
    """Evicts expired keys, recycles or closes their sandboxes, closes retired ones."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s

    def step(self, pool: SandboxPool) -> float:
        """One round (:meth:`reap`). Returns the pause (s)."""
        self.reap(pool)
        return self.interval_s

    def reap(self, pool: SandboxPool) -> int:
        """Evict expired keys, refill or close sandboxes; returns the keys evicted."""
        now = pool._books.clock()
        expired: list[Spare] = []
        with pool._books.lock:
            if pool._closed:
                return 0
            for slot in list(pool._books.slots.values()):
                if slot.claimed or slot.queue or slot.sandbox is None:
                    continue
                pinned = slot.key in pool._books.pins
                last_used = None if pinned else slot.last_used  # no idle TTL while pinned
                reason = pool._books.expiry_locked(slot.created_at, last_used, now)
                if reason is None:
                    continue
                del pool._books.slots[slot.key]
                pool._books.count_eviction_locked(slot, now)
                if slot.uses:
                    pool._books.remember_loss_locked(slot.key, reason)
                expired.append(Spare(slot.sandbox, slot.created_at, fresh=False))
            keep: deque[Spare] = deque()
            for spare in pool._books.idle:
                if pool._books.expiry_locked(spare.created_at, None, now) is None:
                    keep.append(spare)
                else:
                    pool._books.retiring.append(spare.sandbox)
            pool._books.idle = keep
            retiring, pool._books.retiring = pool._books.retiring, []
            pool._books.in_hand += len(expired) + len(retiring)
        for spare in expired:
            self._recycle(pool, spare)
        for sandbox in retiring:
            try:
                close_quietly(sandbox)
            finally:
                with pool._books.lock:
                    pool._books.in_hand -= 1
                    pool._books.notify_locked()
        if expired or retiring:
            pool._books.fill_wake.set()
        return len(expired)

    @staticmethod
    def _recycle(pool: SandboxPool, spare: Spare) -> None:
        """Reset an evicted sandbox into the warm pool, or close it."""
        with pool._books.lock:
            want = (
                not pool._closed
                and len(pool._books.idle) + pool._books.filling < pool._min_idle
                and pool._books.expiry_locked(spare.created_at, None, pool._books.clock()) is None
            )
        kept = False
        try:
            if want:
                try:
                    reset_for_handover(spare.sandbox)
                    pool._run_warmup(spare.sandbox)
                    kept = spare.sandbox.is_alive()
                except Exception:
                    logger.warning("resetting an evicted sandbox failed", exc_info=True)
            with pool._books.lock:
                if kept and not pool._closed:
                    spare.warm = pool._warmup is not None
                    spare.last_check = pool._books.clock()
                    pool._books.idle.append(spare)
                else:
                    kept = False
        finally:
            if not kept:
                close_quietly(spare.sandbox)
            with pool._books.lock:
                pool._books.in_hand -= 1
                pool._books.notify_locked()
