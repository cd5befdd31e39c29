"""``SandboxPool``: leases one sandbox per key (the package docstring has the design)."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.errors import (
    PoolError,
    PoolExhaustedError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.pool import _defaults
from langchain_daytona_exec.pool._background import Filler, Janitor, run_loop
from langchain_daytona_exec.pool._defaults import (
    CLOSE_WAIT_S,
    DEFAULT_ACQUIRE_TIMEOUT_S,
    DEFAULT_IDLE_TTL_S,
    DEFAULT_MAX_SIZE,
    DEFAULT_PROTECT_S,
    KEY_LABEL,
    LATENCY_SAMPLES,
    POOL_LABEL,
    READY_TIMEOUT_S,
    REAPER_INTERVAL_MAX_S,
    REAPER_INTERVAL_MIN_S,
    RECENT_USE_S,
    REMEMBERED_LOSSES,
    THREAD_JOIN_S,
)
from langchain_daytona_exec.pool._lease import PooledSandbox
from langchain_daytona_exec.pool._records import (
    LossReason,
    Slot,
    Spare,
    close_quietly,
    logger,
    percentile,
)
from langchain_daytona_exec.pool._steps import (
    Call,
    ChangeSignal,
    Steps,
    Wait,
    drive_async,
    drive_sync,
)
from langchain_daytona_exec.pool._workspaces import (
    DEFAULT_PERSIST_MAX_BYTES,
    PersistentSandbox,
    WorkspaceStore,
    reset_for_handover,
)
from langchain_daytona_exec.sandbox import ClosingContext, Sandbox, SandboxBackend
from langchain_daytona_exec.types import PoolStats

__all__ = ["SandboxPool"]

_pool_ids = itertools.count(1)


class SandboxPool(ClosingContext):
    """Leases one sandbox per key; keeps a warm pool; evicts, replaces and cleans up.

    Thread-safe and asyncio-safe: see the module docstring for the design. Use it
    as a context manager (``with`` / ``async with``) or call :meth:`close`; pools
    still open at interpreter exit are closed by an ``atexit`` hook.

    Args:
        backend: Creates the sandboxes. ``None`` uses :func:`default_backend`,
            resolved on first need (not in the constructor).
        min_idle: Warm sandboxes kept ready for new keys, created in the background.
        max_size: Most sandboxes alive at once (assigned, warm, being created or
            being closed).
        idle_ttl_s: **Seconds** a key may go unused before its sandbox is evicted;
            ``None`` never evicts for idleness.
        max_lifetime_s: **Seconds** after which a sandbox is replaced at its next
            lease (or evicted when unleased); ``None`` for no limit.
        acquire_timeout: **Seconds** a lease waits for a busy key or a full pool,
            unless :meth:`session` is given its own ``timeout``. New keys waiting
            for a full pool are served in arrival order (FIFO).
        protect_s: **Seconds** after a lease ends during which the key's sandbox is
            not evicted to make room for another key (a model thinking between two
            tool calls). Keys pinned with :meth:`pin` are never evicted; a key's
            protection ends when its last pin is released. 0 turns it off.
        warmup: Python code run in every sandbox before a key first gets it, such
            as ``"import numpy, pandas, matplotlib.pyplot"``; warm-pool sandboxes
            run it ahead of time. Errors in it are logged, not raised. A lease that
            finds no warm sandbox ready creates one and runs the warmup itself (it
            never waits for the warm pool; :meth:`wait_ready` does).
        labels: Extra labels attached to every sandbox the pool creates.
        clock: Monotonic clock in **seconds** for TTL and lifetime bookkeeping
            (tests inject a fake one). Waits and latencies use real time.
        reaper_interval_s: **Seconds** between the janitor's eviction rounds;
            ``None`` derives it from ``idle_ttl_s`` (a tenth, within 0.05..30 s).
        health_check_interval_s: ``is_alive()`` is called at a lease when the last
            check is older than this many **seconds** (0: at every lease), and
            always after a call raised ``SandboxLostError``.
        persist_dir: Keep each key's files there between its sandboxes: saved when
            the key's sandbox is evicted, reset for another key or closed (also at
            exit), restored when the key is leased again, in this process or another.
            Variables are not kept: that lease reports ``state_lost`` with reason
            ``"restored"``. ``None`` (the default) keeps nothing. See
            :mod:`langchain_daytona_exec.pool._workspaces`.
        persist_max_bytes: Largest workspace kept (bytes of files); a bigger one is
            not kept and its next lease reports reason ``"too_big"``.
        handle_sigterm: Install the package's SIGTERM handler (if not yet done),
            which closes open pools, then loose sandboxes, before the process dies
            of the signal. Installed once per process, from the main thread, and
            only while SIGTERM has its default action (an application's handler is
            kept). With False the pool is still closed at exit, and on SIGTERM if
            the handler was installed by someone else.

    Raises:
        ValueError: Inconsistent sizes or negative durations.

    """

    def __init__(
        self,
        backend: SandboxBackend | None = None,
        *,
        min_idle: int = 0,
        max_size: int = DEFAULT_MAX_SIZE,
        idle_ttl_s: float | None = DEFAULT_IDLE_TTL_S,
        max_lifetime_s: float | None = None,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S,
        protect_s: float = DEFAULT_PROTECT_S,
        warmup: str | None = None,
        labels: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reaper_interval_s: float | None = None,
        health_check_interval_s: float = 0.0,
        handle_sigterm: bool = True,
        persist_dir: str | os.PathLike[str] | None = None,
        persist_max_bytes: int = DEFAULT_PERSIST_MAX_BYTES,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if not 0 <= min_idle <= max_size:
            raise ValueError(f"min_idle must be within 0..max_size ({max_size}), got {min_idle}")
        for name, value in (
            ("idle_ttl_s", idle_ttl_s),
            ("max_lifetime_s", max_lifetime_s),
            ("acquire_timeout", acquire_timeout),
            ("protect_s", protect_s),
            ("reaper_interval_s", reaper_interval_s),
            ("health_check_interval_s", health_check_interval_s),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if reaper_interval_s is None:
            base = idle_ttl_s if idle_ttl_s is not None else REAPER_INTERVAL_MAX_S * 10
            if max_lifetime_s is not None:
                base = min(base, max_lifetime_s)
            reaper_interval_s = min(REAPER_INTERVAL_MAX_S, max(REAPER_INTERVAL_MIN_S, base / 10))

        self.id = f"{os.getpid()}-{next(_pool_ids)}"
        self._backend = backend
        self._backend_lock = threading.Lock()
        self._budget_checked = False
        self._min_idle = min_idle
        self._max_size = max_size
        self._idle_ttl_s = idle_ttl_s
        self._max_lifetime_s = max_lifetime_s
        self._acquire_timeout = acquire_timeout
        self._protect_s = protect_s
        self._warmup = warmup
        self._labels = {**(labels or {}), POOL_LABEL: self.id}
        self._adopted: set[str] = set()  # ids of sandboxes found by labels (never twice)
        self._workspaces = (
            WorkspaceStore(persist_dir, persist_max_bytes) if persist_dir is not None else None
        )
        self._clock = clock
        self._reaper_interval_s = max(reaper_interval_s, REAPER_INTERVAL_MIN_S)
        self._health_check_interval_s = health_check_interval_s

        self._signal = ChangeSignal()
        self._lock = self._signal.lock
        self._cond = self._signal.cond
        self._closed = False
        self._slots: dict[str, Slot] = {}
        self._idle: deque[Spare] = deque()
        self._retiring: list[Sandbox] = []
        self._lost: OrderedDict[str, LossReason] = OrderedDict()
        self._pins: dict[str, int] = {}  # key -> pin count (keys pinned now)
        self._capacity_queue: deque[object] = deque()  # new keys waiting, FIFO
        self._filling = 0  # creations by the filler under way
        self._creating = 0  # creations by leases under way
        self._in_hand = 0  # sandboxes the janitor or a lease is resetting or closing
        self._cold_leases = 0  # leases creating or warming up their own sandbox
        self._filler = Filler(min_idle)
        self._janitor = Janitor(self._reaper_interval_s)
        self._warmup_warned = False
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._created = 0
        self._reused = 0
        self._evicted = 0
        self._replaced = 0
        self._failures = 0
        self._evicted_recent = 0
        self._wait_s_total = 0.0

        self._stop = threading.Event()
        self._fill_wake = threading.Event()
        self._janitor_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._threads_started = False
        _lifecycle.register_pool(self)
        if handle_sigterm:
            _lifecycle.install_sigterm_handler()
        if min_idle > 0:
            self._ensure_threads()

    # -- public API ------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SandboxPool {self.id} {state} keys={len(self._slots)} idle={len(self._idle)}>"

    @property
    def backend(self) -> SandboxBackend:
        """The backend; resolves :func:`default_backend` on first access."""
        with self._backend_lock:
            if self._backend is None:
                self._backend = _defaults.default_backend()
            if not self._budget_checked:  # once: can max_size sandboxes fit in memory?
                self._budget_checked = True
                check = getattr(self._backend, "check_memory_budget", None)
                if callable(check):
                    check(self._max_size)
            return self._backend

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @contextlib.contextmanager
    def session(self, key: str, *, timeout: float | None = None) -> Iterator[PooledSandbox]:
        """Lease the sandbox of ``key`` for the ``with`` block.

        The block holds the key: other sessions of the same key wait (FIFO) until it
        ends. Check ``state_lost`` on the yielded sandbox to learn, once, that the
        key's earlier state is gone.

        Args:
            key: The session key, such as a LangGraph ``thread_id``.
            timeout: **Seconds** to wait for a busy key or a full pool; ``None``
                uses the pool's ``acquire_timeout``.

        Yields:
            The key's sandbox, valid until the block ends.

        Raises:
            PoolExhaustedError: The pool stayed full past the timeout.
            SandboxTimeoutError: Another session held the key past the timeout.
            PoolError: The pool is closed.
            SandboxError: Creating the sandbox failed (from the backend).

        """
        lease = drive_sync(self._acquire(key, timeout), self._signal)
        error: BaseException | None = None
        try:
            yield lease
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._release(lease, error)

    @contextlib.asynccontextmanager
    async def asession(
        self, key: str, *, timeout: float | None = None
    ) -> AsyncIterator[PooledSandbox]:
        """Async twin of :meth:`session`; waits never block the event loop."""
        lease = await drive_async(self._acquire(key, timeout), self._signal)
        error: BaseException | None = None
        try:
            yield lease
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._release(lease, error)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the warm pool holds ``min_idle`` sandboxes with ``warmup`` run.

        Leases never need this: with no warm sandbox ready, a lease creates one on
        demand (and runs ``warmup`` in it, so it waits for that one warm-up, never
        for the whole warm pool). Call it at start-up when every first lease should
        be served from the warm pool, such as before a server takes traffic.

        Args:
            timeout: **Seconds** to wait; ``None`` waits up to ``READY_TIMEOUT_S``.

        Returns:
            True when ready (at once with ``min_idle=0`` or when the provider keeps
            the warm pool); False at the timeout (see ``stats().failures``: a broken
            backend, or leased keys leaving no room for ``min_idle`` idle ones).

        Raises:
            PoolError: The pool is closed.

        """
        return drive_sync(self._until_ready(timeout), self._signal)

    async def await_ready(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`wait_ready`; never blocks the event loop."""
        return await drive_async(self._until_ready(timeout), self._signal)

    def _until_ready(self, timeout: float | None) -> Steps[bool]:
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout}")
        deadline = time.monotonic() + (READY_TIMEOUT_S if timeout is None else timeout)
        self._ensure_threads()
        while True:
            with self._lock:
                self._ensure_open_locked()
                if self._filler.server_side or len(self._idle) >= self._min_idle:
                    return True
                version = self._signal.version
            if time.monotonic() >= deadline:
                return False
            yield Wait(deadline, version)

    @contextlib.contextmanager
    def pin(self, key: str) -> Iterator[None]:
        """Keep the sandbox of ``key`` from eviction while the block runs.

        For a conversation in the middle of a run: between its tool calls it holds
        no lease, and without a pin a full pool could give its sandbox (and its
        variables) to another key. Pins are counted: the key stays protected until
        its last pin ends, and then it may be evicted at once (no ``protect_s``).
        Pinning never blocks and does not create a sandbox; use it from sync or
        async code alike (``with pool.pin(key):``). Idle-TTL eviction skips
        pinned keys too; ``max_lifetime_s`` still applies.

        Args:
            key: The session key.

        Yields:
            Nothing; the pin lasts for the block.

        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"a session key must be a non-empty string, got {key!r}")
        with self._lock:
            self._pins[key] = self._pins.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._pins[key] - 1
                if left:
                    self._pins[key] = left
                else:
                    del self._pins[key]
                    slot = self._slots.get(key)
                    if slot is not None:
                        slot.protect_until = float("-inf")
                    self._notify_locked()

    def discard(self, key: str) -> bool:
        """Drop the sandbox of ``key`` (the conversation ended); never blocks.

        A leased key's sandbox is dropped when its lease ends. The next session of
        the key gets a fresh sandbox without a ``state_lost`` report.

        Args:
            key: The session key.

        Returns:
            True when the key had a sandbox.

        """
        with self._lock:
            self._lost.pop(key, None)
            slot = self._slots.get(key)
            if slot is None:
                return False
            if slot.claimed:
                slot.discard = True
            else:
                self._drop_slot_locked(slot)
            self._notify_locked()
        self._janitor_wake.set()
        return True

    def reap(self) -> int:
        """Run one janitor round now: evict expired keys, refill or close sandboxes.

        The janitor thread calls this every ``reaper_interval_s``; tests with an
        injected clock call it directly.

        Returns:
            The number of keys evicted.

        """
        return self._janitor.reap(self)

    def stats(self) -> PoolStats:
        """Return a snapshot of the pool's counters and lease latency."""
        with self._lock:
            assigned = sum(1 for s in self._slots.values() if s.sandbox is not None)
            leased = sum(1 for s in self._slots.values() if s.lease is not None)
            latencies = sorted(self._latencies)
            return PoolStats(
                live=assigned + len(self._idle) + len(self._retiring) + self._in_hand,
                idle=len(self._idle),
                leased=leased,
                created=self._created,
                reused=self._reused,
                evicted=self._evicted,
                evicted_recent=self._evicted_recent,
                replaced=self._replaced,
                failures=self._failures,
                acquire_p50_ms=percentile(latencies, 0.50),
                acquire_p95_ms=percentile(latencies, 0.95),
                pinned=len(self._pins),
                waiting=len(self._capacity_queue) + sum(len(x.queue) for x in self._slots.values()),
                wait_ms_total=self._wait_s_total * 1000.0,
            )

    def close(self) -> None:
        """Close every sandbox the pool created and stop its threads. Idempotent.

        Sessions still open lose their sandbox (their next call fails); waiting
        leases raise :class:`~langchain_daytona_exec.errors.PoolError`.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            doomed = [s.sandbox for s in self._slots.values() if s.sandbox is not None]
            doomed += [spare.sandbox for spare in self._idle]
            doomed += self._retiring
            self._slots.clear()
            self._idle.clear()
            self._retiring = []
            self._notify_locked()
        _lifecycle.unregister_pool(self)
        self._stop.set()
        self._fill_wake.set()
        self._janitor_wake.set()
        _lifecycle.close_sandboxes(doomed, CLOSE_WAIT_S)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(THREAD_JOIN_S)
        deadline = time.monotonic() + CLOSE_WAIT_S
        with self._cond:
            while self._creating or self._filling or self._in_hand:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning(
                        "SandboxPool.close: sandbox work still under way after %gs", CLOSE_WAIT_S
                    )
                    break
                self._cond.wait(remaining)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

    # -- the lease logic (one implementation, two drivers) -----------------------------

    def _acquire(self, key: str, timeout: float | None) -> Steps[PooledSandbox]:
        """Lease ``key``: the steps, run by a sync or an async driver (module docstring)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"a session key must be a non-empty string, got {key!r}")
        started = time.perf_counter()
        wait_s = self._acquire_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait_s
        token = object()
        slot: Slot | None = None
        waited: Slot | None = None
        victim: Spare | None = None
        self._ensure_threads()
        waiting_since: float | None = None
        try:
            # 1. Own the key (per-key lock) and a unit of capacity, or wait.
            while True:
                with self._lock:
                    self._ensure_open_locked()
                    slot, victim, waited = self._claim_locked(key, token)
                    version = self._signal.version
                    now_m = time.monotonic()
                    if slot is not None:
                        if waiting_since is not None:
                            self._wait_s_total += now_m - waiting_since
                        break
                    if now_m >= deadline:
                        if waiting_since is not None:
                            self._wait_s_total += now_m - waiting_since
                        raise self._timeout_error_locked(key, wait_s, waited is not None)
                    wake = deadline
                    queue = self._capacity_queue
                    if waited is None and queue and queue[0] is token:
                        # First in line for capacity: a protection may end before any
                        # state change wakes us. (The others wait for their turn.)
                        ends = self._protection_ends_locked()
                        if ends is not None:
                            wake = min(deadline, now_m + max(0.0, ends - self._clock()))
                if waiting_since is None:
                    waiting_since = now_m
                yield Wait(wake, version)

            # 2. A sandbox taken from an evicted key is reset before it changes hands.
            if victim is not None:
                try:
                    yield Call(functools.partial(reset_for_handover, victim.sandbox))
                except Exception:
                    logger.warning("resetting an evicted sandbox failed; closing it", exc_info=True)
                    bad, victim = victim.sandbox, None
                    yield from self._close_in_hand(bad)
                else:
                    with self._lock:
                        self._assign_locked(slot, victim.sandbox, victim.created_at)
                        self._reused += 1
                    victim = None

            # 3. Health: replace a sandbox that died or outlived max_lifetime_s.
            sandbox = slot.sandbox
            if sandbox is not None:
                now = self._clock()
                with self._lock:
                    reason = self._expiry_locked(slot.created_at, None, now)
                    check = slot.suspect or now - slot.last_check >= self._health_check_interval_s
                if reason is None and check:
                    try:
                        alive = bool((yield Call(sandbox.is_alive)))
                    except Exception:
                        alive = False
                    if alive:
                        with self._lock:
                            slot.suspect = slot.loss_seen = False
                            slot.last_check = self._clock()
                    else:
                        reason = "died"
                if reason is not None:
                    with self._lock:
                        self._detach_locked(slot, reason)
                    yield from self._close_in_hand(sandbox)

            # 4. Create (cold path), then warm up. The filler waits meanwhile, so a
            #    lease never competes with warm-pool work for the host.
            cold = slot.sandbox is None or (self._warmup is not None and not slot.warm)
            if cold:
                with self._lock:
                    self._cold_leases += 1
            try:
                if slot.sandbox is None:
                    yield Call(functools.partial(self._create_for, slot))
                if self._warmup is not None and not slot.warm:
                    sandbox = slot.sandbox
                    assert sandbox is not None
                    try:
                        yield Call(functools.partial(self._run_warmup, sandbox))
                    except SandboxLostError:
                        with self._lock:
                            self._failures += 1
                            self._detach_locked(slot, None)
                        yield from self._close_in_hand(sandbox)
                        raise
                    with self._lock:
                        slot.warm = True
            finally:
                if cold:
                    with self._lock:
                        self._cold_leases -= 1
                    self._fill_wake.set()

            # 5. A kept workspace comes back (files, not variables).
            kept: LossReason | None = None
            if isinstance(slot.sandbox, PersistentSandbox):
                kept = yield Call(functools.partial(slot.sandbox.bind, key))

            # 6. Hand out.
            with self._lock:
                self._ensure_open_locked()
                assert slot.sandbox is not None
                lost = self._lost.pop(key, None)
                lease = PooledSandbox(self, slot, slot.sandbox, kept or lost)
                slot.lease = lease
                slot.uses += 1
                self._latencies.append((time.perf_counter() - started) * 1000.0)
            return lease
        except BaseException:
            self._abort_acquire(slot, waited, victim, token)
            raise

    def _claim_locked(
        self, key: str, token: object
    ) -> tuple[Slot | None, Spare | None, Slot | None]:
        """Decide, under the lock, how a lease of ``key`` proceeds.

        Returns:
            ``(slot, victim, waited)``: the key's slot, now leased by the caller, or
            ``None`` to wait; a sandbox taken from an evicted key, to reset for this
            one; the slot whose queue the caller waits in (``None`` when the caller
            waits for capacity).

        """
        slot = self._slots.get(key)
        queue = self._capacity_queue
        if slot is not None:
            if token in queue:  # another lease of the key made its slot meanwhile
                self._leave_capacity_queue_locked(token)
            if slot.claimed or (slot.queue and slot.queue[0] is not token):
                if token not in slot.queue:
                    slot.queue.append(token)
                return None, None, slot
            if slot.queue:
                slot.queue.popleft()
            slot.claimed = True
            return slot, None, None
        if queue and queue[0] is not token:  # new keys get capacity in arrival order
            if token not in queue:
                queue.append(token)
            return None, None, None
        claimed = self._take_capacity_locked(key)
        if claimed is None:
            if not queue:
                queue.append(token)
            return None, None, None
        self._leave_capacity_queue_locked(token)
        return claimed[0], claimed[1], None

    def _take_capacity_locked(self, key: str) -> tuple[Slot, Spare | None] | None:
        """A new slot for ``key``: a warm sandbox, room to create one, or an evicted key.

        Only keys that are not leased, not waited for, not pinned and past their
        protection are evicted (the least recently used first).

        Returns:
            ``(slot, victim)``, the victim being an evicted key's sandbox to reset
            for this key; ``None`` when every sandbox is in use or protected.

        """
        if self._idle:
            spare = self._idle.popleft()
            slot = Slot(key, claimed=True)
            self._assign_locked(slot, spare.sandbox, spare.created_at)
            slot.warm = spare.warm
            slot.last_check = spare.last_check
            if not spare.fresh:
                self._reused += 1
            self._slots[key] = slot
            self._fill_wake.set()
            return slot, None
        if self._occupancy_locked() < self._max_size:
            slot = self._slots[key] = Slot(key, claimed=True)
            return slot, None
        now = self._clock()
        lru = min(
            (s for s in self._evictable_locked() if s.protect_until <= now),
            key=lambda s: s.last_used,
            default=None,
        )
        if lru is None or lru.sandbox is None:
            return None
        del self._slots[lru.key]
        self._count_eviction_locked(lru, now)
        if lru.uses:
            self._remember_loss_locked(lru.key, "evicted")
        slot = self._slots[key] = Slot(key, claimed=True)
        return slot, Spare(lru.sandbox, lru.created_at, fresh=False)

    def _evictable_locked(self) -> Iterator[Slot]:
        """Slots that may be evicted once their protection ends."""
        for s in self._slots.values():
            if not s.claimed and not s.queue and s.sandbox is not None and s.key not in self._pins:
                yield s

    def _protection_ends_locked(self) -> float | None:
        """The ``clock()`` time the first protected slot becomes evictable, if any."""
        return min((s.protect_until for s in self._evictable_locked()), default=None)

    def _count_eviction_locked(self, slot: Slot, now: float) -> None:
        self._evicted += 1
        if slot.uses and now - slot.last_used < RECENT_USE_S:
            self._evicted_recent += 1

    def _leave_capacity_queue_locked(self, token: object) -> None:
        """Take ``token`` out of the capacity queue; wake the next one in line."""
        queue = self._capacity_queue
        if queue and queue[0] is token:
            queue.popleft()
            if queue:
                self._notify_locked()
        else:
            with contextlib.suppress(ValueError):
                queue.remove(token)

    def _close_in_hand(self, sandbox: Sandbox) -> Steps[None]:
        """Close a sandbox taken off the books, still counted until it is closed."""
        with self._lock:
            self._in_hand += 1
        try:
            yield Call(functools.partial(close_quietly, sandbox))
        finally:
            with self._lock:
                self._in_hand -= 1
                self._notify_locked()

    def _abort_acquire(
        self, slot: Slot | None, waited: Slot | None, victim: Spare | None, token: object
    ) -> None:
        """Undo a lease that failed or was cancelled. Non-blocking."""
        with self._lock:
            self._leave_capacity_queue_locked(token)
            if waited is not None:
                with contextlib.suppress(ValueError):
                    waited.queue.remove(token)
            if victim is not None:
                self._retiring.append(victim.sandbox)
                self._janitor_wake.set()
            if slot is not None:
                slot.claimed = False
                slot.lease = None
                slot.last_used = self._clock()
                if slot.sandbox is None and self._slots.get(slot.key) is slot:
                    del self._slots[slot.key]
            self._notify_locked()

    def _release(self, lease: PooledSandbox, error: BaseException | None) -> None:
        """End a lease. Non-blocking: a discarded sandbox goes to the janitor."""
        slot = lease._slot
        with self._lock:
            lease._active = False
            if slot.lease is lease:
                slot.lease = None
            slot.claimed = False
            slot.last_used = self._clock()
            slot.protect_until = slot.last_used + self._protect_s
            if isinstance(error, SandboxLostError):
                slot.suspect = slot.loss_seen = True
            if slot.discard and self._slots.get(slot.key) is slot:
                self._drop_slot_locked(slot)
            self._notify_locked()

    def _notify_locked(self) -> None:
        """Wake every waiter (threads and coroutines) to re-check. Lock held."""
        self._signal.notify_locked()

    # -- helpers (``_locked``: the caller holds the lock) -------------------------------

    def _ensure_open_locked(self) -> None:
        if self._closed:
            raise PoolError("The sandbox pool is closed; create a new SandboxPool.")

    def _occupancy_locked(self) -> int:
        """Sandboxes counted against ``max_size``, including those being made or closed."""
        return (
            len(self._slots) + len(self._idle) + len(self._retiring) + self._filling + self._in_hand
        )

    def _expiry_locked(
        self, created_at: float, last_used: float | None, now: float
    ) -> LossReason | None:
        if self._max_lifetime_s is not None and now - created_at >= self._max_lifetime_s:
            return "max_lifetime"
        if (
            last_used is not None
            and self._idle_ttl_s is not None
            and now - last_used >= self._idle_ttl_s
        ):
            return "idle_ttl"
        return None

    def _assign_locked(self, slot: Slot, sandbox: Sandbox, created_at: float) -> None:
        slot.sandbox = sandbox
        slot.created_at = created_at
        slot.last_check = self._clock()
        slot.uses = 0
        slot.warm = False
        slot.suspect = slot.loss_seen = False

    def _detach_locked(self, slot: Slot, reason: LossReason | None) -> None:
        """Take a dead or expired sandbox off its slot, recording the loss."""
        if reason == "died":
            self._replaced += 1
        elif reason is not None:
            self._evicted += 1
        if reason is not None and slot.uses and not (reason == "died" and slot.loss_seen):
            self._remember_loss_locked(slot.key, reason)
        slot.sandbox = None
        slot.uses = 0
        slot.suspect = slot.loss_seen = False

    def _drop_slot_locked(self, slot: Slot) -> None:
        del self._slots[slot.key]
        if slot.sandbox is not None:
            self._retiring.append(slot.sandbox)
            slot.sandbox = None
        self._janitor_wake.set()

    def _remember_loss_locked(self, key: str, reason: LossReason) -> None:
        self._lost[key] = reason
        self._lost.move_to_end(key)
        while len(self._lost) > REMEMBERED_LOSSES:
            self._lost.popitem(last=False)

    def _timeout_error_locked(self, key: str, wait_s: float, key_busy: bool) -> Exception:
        if key_busy:
            return SandboxTimeoutError(
                f"The sandbox of session {key!r} stayed in use by another call for more than "
                f"{wait_s:g} s. Calls of one session run one at a time: let the other call "
                "finish, raise acquire_timeout, or use a separate key for independent work."
            )
        leased = sum(1 for s in self._slots.values() if s.claimed)
        now = self._clock()
        idle = list(self._evictable_locked())
        pinned = sum(1 for s in self._slots.values() if not s.claimed and s.key in self._pins)
        protected = sum(1 for s in idle if s.protect_until > now)
        return PoolExhaustedError(
            f"No sandbox could be leased for session {key!r} within {wait_s:g} s: all "
            f"{self._max_size} sandboxes of the pool are in use ({leased} leased, "
            f"{pinned} pinned by running conversations, {protected} used in the last "
            f"{self._protect_s:g} s (protect_s), {self._filling + self._creating} being "
            f"created, {len(self._retiring) + self._in_hand} being closed; "
            f"{max(0, len(self._capacity_queue) - 1)} other sessions waiting). Raise "
            f"max_size (now {self._max_size}), raise acquire_timeout (now "
            f"{self._acquire_timeout:g} s), lower protect_s, or end sessions sooner: leave "
            "`with pool.session(...)` blocks promptly and call pool.discard(key) for "
            "finished conversations."
        )

    def _note_lost(self, slot: Slot, *, seen: bool) -> None:
        with self._lock:
            slot.suspect = True
            if seen:
                slot.loss_seen = True

    def _note_reset(self, slot: Slot) -> None:
        with self._lock:
            slot.warm = False

    def _note_discard(self, slot: Slot) -> None:
        with self._lock:
            slot.discard = True
            if not slot.claimed and self._slots.get(slot.key) is slot:
                self._drop_slot_locked(slot)
                self._notify_locked()

    # -- blocking work -------------------------------------------------------------------

    def _create_for(self, slot: Slot) -> None:
        """Find (another pool's) or create the sandbox of a leased slot (cold path). Blocking."""
        with self._lock:
            self._creating += 1
        try:
            try:
                sandbox = self._find_for(slot.key)
                if sandbox is None:
                    sandbox = self.backend.create(labels={**self._labels, KEY_LABEL: slot.key})
                    with self._lock:
                        self._created += 1
                sandbox = self._keeping(sandbox)
            except Exception:
                with self._lock:
                    self._failures += 1
                raise
            with self._lock:
                closed = self._closed
                if not closed:
                    self._assign_locked(slot, sandbox, self._clock())
            if closed:
                close_quietly(sandbox)
                raise PoolError("The sandbox pool was closed while a sandbox was being created.")
        finally:
            with self._lock:
                self._creating -= 1
                self._notify_locked()

    def _keeping(self, sandbox: Sandbox) -> Sandbox:
        """Wrap a new sandbox so it keeps its key's files (with ``persist_dir``)."""
        if self._workspaces is None:
            return sandbox
        return PersistentSandbox(sandbox, self._workspaces)

    def _find_for(self, key: str) -> Sandbox | None:
        """The key's sandbox left by another pool (another process, or before a restart).

        Asks ``backend.find`` for the key's label (plus the pool's own ``labels``);
        sandboxes of this pool and ones adopted before are never taken again. A
        found sandbox that had to be restarted reports ``state_lost`` on its next
        ``run_code``. Blocking; failures are logged and a new sandbox is created.
        """
        find = getattr(self.backend, "find", None)
        if find is None:
            return None
        labels = {k: v for k, v in self._labels.items() if k != POOL_LABEL}
        labels[KEY_LABEL] = key
        try:
            found: Sandbox | None = find(labels)
        except Exception as exc:
            logger.warning("looking up the sandbox of key %r failed: %s", key, exc)
            return None
        if found is None or found.labels.get(POOL_LABEL) == self.id:
            return None
        with self._lock:
            if found.id in self._adopted:
                return None
            self._adopted.add(found.id)
        return found

    def _run_warmup(self, sandbox: Sandbox) -> None:
        """Run the warmup code; log (once) instead of raising when the code fails."""
        if self._warmup is None:
            return
        result = sandbox.run_code(self._warmup)
        if result.ok:
            return
        with self._lock:
            warned, self._warmup_warned = self._warmup_warned, True
        if not warned:
            what = "timed out" if result.timed_out else f"raised {result.error}"
            logger.warning("the pool's warmup code %s; sandboxes are handed out anyway", what)

    def _ensure_threads(self) -> None:
        """Start the filler (if ``min_idle``) and the janitor, once."""
        if self._threads_started:
            return
        with self._lock:
            if self._threads_started or self._closed:
                return
            self._threads_started = True
            ref = weakref.ref(self)
            specs: list[tuple[str, Callable[[SandboxPool], float], threading.Event]] = [
                ("janitor", self._janitor.step, self._janitor_wake)
            ]
            if self._min_idle > 0:
                specs.append(("filler", self._filler.step, self._fill_wake))
            for name, step, wake in specs:
                thread = threading.Thread(
                    target=run_loop,
                    args=(ref, step, self._stop, wake),
                    name=f"ldx-pool-{self.id}-{name}",
                    daemon=True,
                )
                self._threads.append(thread)
        for thread in self._threads:
            thread.start()
