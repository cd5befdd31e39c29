"""``SandboxPool``: leases one sandbox per key (the package docstring has the design).

The pool wires its parts together and is their public face: the books and their
rules (``_books.py``), the lease steps (``_leasing.py``) run by the sync or async
driver (``_steps.py``), and the filler and janitor threads (``_background.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.errors import PoolError
from langchain_daytona_exec.pool import _defaults, _leasing
from langchain_daytona_exec.pool._background import Filler, Janitor, run_loop
from langchain_daytona_exec.pool._books import Books
from langchain_daytona_exec.pool._defaults import (
    CLOSE_WAIT_S,
    DEFAULT_ACQUIRE_TIMEOUT_S,
    DEFAULT_IDLE_TTL_S,
    DEFAULT_MAX_SIZE,
    DEFAULT_PROTECT_S,
    POOL_LABEL,
    REAPER_INTERVAL_MAX_S,
    REAPER_INTERVAL_MIN_S,
    THREAD_JOIN_S,
)
from langchain_daytona_exec.pool._lease import PooledSandbox
from langchain_daytona_exec.pool._records import Slot, logger
from langchain_daytona_exec.pool._steps import drive_async, drive_sync
from langchain_daytona_exec.pool._workspaces import (
    DEFAULT_PERSIST_MAX_BYTES,
    PersistentSandbox,
    WorkspaceStore,
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
        self._acquire_timeout = acquire_timeout
        self._warmup = warmup
        self._labels = {**(labels or {}), POOL_LABEL: self.id}
        self._adopted: set[str] = set()  # ids of sandboxes found by labels (never twice)
        self._workspaces = (
            WorkspaceStore(persist_dir, persist_max_bytes) if persist_dir is not None else None
        )
        self._reaper_interval_s = max(reaper_interval_s, REAPER_INTERVAL_MIN_S)
        self._health_check_interval_s = health_check_interval_s

        self._books = Books(
            max_size=max_size,
            idle_ttl_s=idle_ttl_s,
            max_lifetime_s=max_lifetime_s,
            protect_s=protect_s,
            clock=clock,
        )
        self._signal = self._books.signal
        self._lock = self._books.lock
        self._closed = False
        self._filler = Filler(min_idle)
        self._janitor = Janitor(self._reaper_interval_s)
        self._warmup_warned = False

        self._stop = threading.Event()
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
        books = self._books
        return f"<SandboxPool {self.id} {state} keys={len(books.slots)} idle={len(books.idle)}>"

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
                    check(self._books.max_size)
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
        lease = drive_sync(_leasing.acquire(self, key, timeout), self._signal)
        with self._held(lease):
            yield lease

    @contextlib.asynccontextmanager
    async def asession(
        self, key: str, *, timeout: float | None = None
    ) -> AsyncIterator[PooledSandbox]:
        """Async twin of :meth:`session`; waits never block the event loop."""
        lease = await drive_async(_leasing.acquire(self, key, timeout), self._signal)
        with self._held(lease):
            yield lease

    @contextlib.contextmanager
    def _held(self, lease: PooledSandbox) -> Iterator[None]:
        """End ``lease`` when the block ends, telling the pool what the block raised."""
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            _leasing.release(self, lease, error)

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
        return drive_sync(_leasing.until_ready(self, timeout), self._signal)

    async def await_ready(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`wait_ready`; never blocks the event loop."""
        return await drive_async(_leasing.until_ready(self, timeout), self._signal)

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
            self._books.pin_locked(key)
        try:
            yield
        finally:
            with self._lock:
                self._books.unpin_locked(key)

    def discard(self, key: str) -> bool:
        """Drop the sandbox of ``key`` (the conversation ended); never blocks.

        A leased key's sandbox is dropped when its lease ends. The next session of
        the key gets a fresh sandbox without a ``state_lost`` report.

        Args:
            key: The session key.

        Returns:
            True when the key had a sandbox.

        """
        books = self._books
        with self._lock:
            books.lost.pop(key, None)
            slot = books.slots.get(key)
            if slot is None:
                return False
            if slot.claimed:
                slot.discard = True
            else:
                books.drop_slot_locked(slot)
            books.notify_locked()
        books.janitor_wake.set()
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
            return self._books.stats_locked()

    def close(self) -> None:
        """Close every sandbox the pool created and stop its threads. Idempotent.

        Sessions still open lose their sandbox (their next call fails); waiting
        leases raise :class:`~langchain_daytona_exec.errors.PoolError`.
        """
        books = self._books
        with self._lock:
            if self._closed:
                return
            self._closed = True
            doomed = [s.sandbox for s in books.slots.values() if s.sandbox is not None]
            doomed += [spare.sandbox for spare in books.idle]
            doomed += books.retiring
            books.slots.clear()
            books.idle.clear()
            books.retiring = []
            books.notify_locked()
        _lifecycle.unregister_pool(self)
        self._stop.set()
        books.fill_wake.set()
        books.janitor_wake.set()
        _lifecycle.close_sandboxes(doomed, CLOSE_WAIT_S)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(THREAD_JOIN_S)
        deadline = time.monotonic() + CLOSE_WAIT_S
        with books.signal.cond:
            while books.creating or books.filling or books.in_hand:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning(
                        "SandboxPool.close: sandbox work still under way after %gs", CLOSE_WAIT_S
                    )
                    break
                books.signal.cond.wait(remaining)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

    # -- helpers -------------------------------------------------------------------------

    def _ensure_open_locked(self) -> None:
        if self._closed:
            raise PoolError("The sandbox pool is closed; create a new SandboxPool.")

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
            if not slot.claimed and self._books.slots.get(slot.key) is slot:
                self._books.drop_slot_locked(slot)
                self._books.notify_locked()

    # -- blocking work -------------------------------------------------------------------

    def _keeping(self, sandbox: Sandbox) -> Sandbox:
        """Wrap a new sandbox so it keeps its key's files (with ``persist_dir``)."""
        if self._workspaces is None:
            return sandbox
        return PersistentSandbox(sandbox, self._workspaces)

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
                ("janitor", self._janitor.step, self._books.janitor_wake)
            ]
            if self._min_idle > 0:
                specs.append(("filler", self._filler.step, self._books.fill_wake))
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
