"""The pooled session manager: one sandbox per conversation key, shared by its tools.

``SandboxPool`` hands out one sandbox per *key* (a LangGraph ``thread_id``)::

    pool = SandboxPool(min_idle=2, warmup="import numpy, pandas")
    with pool.session("thread-1") as sb:          # async: async with pool.asession(...)
        if sb.state_lost:                         # the key's earlier sandbox is gone
            ...                                   # tell the model once
        sb.run_code("x = 1")

What a lease guarantees:

* **Same key, same sandbox.** A key keeps its sandbox until the key is evicted (LRU
  when the pool is full, ``idle_ttl_s``, ``max_lifetime_s``), discarded
  (:meth:`SandboxPool.discard`) or its sandbox dies.
* **One call at a time per key.** A lease holds the key for the whole ``with`` block;
  other sessions of the same key wait in FIFO order. Different keys run in parallel.
* **No data crosses keys.** A sandbox moves to another key only after ``reset()``.
* **Loss is reported once.** When the key's previous sandbox died or was evicted and
  the caller was not already told (by a :class:`~langchain_daytona_exec.errors.
  SandboxLostError` raised through the lease), the next lease has
  ``state_lost=True`` and ``lost_reason`` set; the lease after that does not.
  A *revivable* sandbox (``is_alive()`` stays True, like a local one whose kernel
  was killed) is kept, and reports the restart itself through
  ``ExecutionResult.state_lost`` on its next ``run_code``: callers that must tell
  the model check both ``sb.state_lost`` and ``result.state_lost``.

Concurrency design
------------------
All bookkeeping lives in plain objects guarded by one ``threading.Lock``; nothing
blocking ever runs under it. Leasing is written **once**, as a generator (the
``_acquire`` steps) that decides under the lock and *yields* the blocking work it
needs: a :class:`_Call` (create, reset, ``is_alive``, warmup, close) or a
:class:`_Wait` (the key is busy or the pool is full). Two small drivers run it:

* the sync driver calls the function in the calling thread and waits on a
  ``threading.Condition``;
* the async driver runs the function with :func:`~langchain_daytona_exec.sandbox.
  run_blocking` (the shared sandbox I/O threads) and waits on an ``asyncio`` future
  that the pool resolves with ``loop.call_soon_threadsafe``. The event loop never
  blocks, and threads and coroutines wait on the same state.

Every state change bumps a version number and wakes all waiters, who re-check; a
waiter passes the version it saw, so a change between its check and its wait is
never missed. Every wait has a deadline. When a coroutine is cancelled while a
blocking call runs, the driver lets that call finish (a half-made sandbox must not
leak), then delivers the cancellation to the generator, whose cleanup is
non-blocking: it gives back the key and hands any sandbox it held to the janitor.

Two daemon threads per pool, started on first use and stopped by :meth:`close`,
do the background work: the *filler* keeps ``min_idle`` warm sandboxes (backing
off after failed creations), the *janitor* evicts keys past ``idle_ttl_s`` or
``max_lifetime_s``, resets evicted sandboxes back into the warm pool when it is
short, and closes retired sandboxes. The threads hold only a weak reference to the
pool, and so does the lifecycle registry that closes pools still open at exit. Ending
a lease never blocks: a sandbox to close goes to the janitor.

Shutdown: :meth:`SandboxPool.close` (idempotent) closes every sandbox the pool
created, including those of open sessions and those still being created. Pools
open at exit or on SIGTERM are closed by the process lifecycle
(:mod:`langchain_daytona_exec._lifecycle`), before loose sandboxes, from a helper
thread and within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import threading
import time
import warnings
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.errors import (
    PoolError,
    PoolExhaustedError,
    SandboxClosedError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.sandbox import ClosingContext, Sandbox, SandboxBackend, run_blocking
from langchain_daytona_exec.types import CommandResult, ExecutionResult, FileInfo, PoolStats

__all__ = [
    "KEY_LABEL",
    "LossReason",
    "PooledSandbox",
    "SandboxPool",
    "default_backend",
    "describe_loss",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

LossReason = Literal["died", "idle_ttl", "evicted", "max_lifetime"]
"""Why a key's previous sandbox is gone: it ``died`` (killed, crashed, stopped); it
was idle past ``idle_ttl_s``; it was ``evicted`` (least recently used) to make room
in a full pool; or it reached ``max_lifetime_s``."""

_LOSS_TEXT: dict[str, str] = {
    "died": "the sandbox stopped or crashed",
    "idle_ttl": "it was idle too long and was recycled",
    "evicted": "it was recycled to make room for other conversations",
    "max_lifetime": "it reached its maximum lifetime",
}


def describe_loss(reason: LossReason | None) -> str:
    """Why a key's state is gone, in words for the model ("it was idle too long...")."""
    return _LOSS_TEXT.get(reason or "", "it was replaced")


DEFAULT_MAX_SIZE = 16
"""Sandboxes per pool. A local sandbox idles at about 8 MB, so this bounds CPU
contention (every leased sandbox may run code at once), not memory."""

DEFAULT_IDLE_TTL_S = 900.0
"""Seconds a key may stay unused before its sandbox is evicted: long enough for a
person to read an answer and reply, short enough that abandoned chats free their slot."""

DEFAULT_ACQUIRE_TIMEOUT_S = 30.0
"""Seconds a lease waits for a busy key or a full pool before it gives up."""

_REAPER_INTERVAL_MAX_S = 30.0
"""Upper bound of the janitor's period: TTL eviction is at most this late."""

_REAPER_INTERVAL_MIN_S = 0.05
"""Lower bound of the janitor's period, so a tiny ``idle_ttl_s`` does not spin."""

_FILL_BACKOFF_MIN_S = 0.5
"""The filler's first pause after a failed creation."""

_FILL_BACKOFF_MAX_S = 30.0
"""The longest pause between creation attempts: a broken backend (no bubblewrap,
Daytona down) costs one attempt per this many seconds, not a busy loop."""

_THREAD_TICK_S = 5.0
"""Background threads are woken by events; this is only a safety-net period."""

_THREAD_JOIN_S = 10.0
"""How long :meth:`SandboxPool.close` waits for each background thread."""

_CLOSE_WAIT_S = 30.0
"""How long :meth:`SandboxPool.close` waits for creations already under way, so a
sandbox that a lease was creating is closed before ``close()`` returns."""

_REMEMBERED_LOSSES = 10_000
"""Evicted keys remembered so that a conversation coming back is told its state is
gone. Oldest first out; an entry is a key and a reason."""

_LATENCY_SAMPLES = 1024
"""Most recent lease latencies kept for the p50/p95 of :meth:`SandboxPool.stats`."""

POOL_LABEL = "langchain-daytona-exec.pool"
"""Label carrying the pool's id on every sandbox it creates."""

KEY_LABEL = "langchain-daytona-exec.key"
"""Label carrying the session key on a sandbox the pool creates *for* that key, so that
a pool in another process, or after a restart, finds the key's sandbox again with
``backend.find`` (backends whose sandboxes die with the process find nothing)."""


# -- the default backend -----------------------------------------------------------


def default_backend() -> SandboxBackend:
    """Return the backend a pool uses when none is given.

    ``DaytonaBackend()`` when ``DAYTONA_API_KEY`` is set and the Daytona backend can
    be imported; otherwise ``LocalBackend()`` (bubblewrap on this machine). Both are
    imported here, lazily, so that importing the pool costs nothing.

    Returns:
        A ready backend.

    Raises:
        IsolationUnavailableError: No local isolation works on this host (from
            ``LocalBackend``); the message names the fix.

    """
    if os.environ.get("DAYTONA_API_KEY"):
        try:
            from langchain_daytona_exec.backends.daytona import DaytonaBackend
        except ImportError as exc:
            warnings.warn(
                f"DAYTONA_API_KEY is set but the Daytona backend cannot be imported ({exc}); "
                "using the local bubblewrap backend instead. Install the `daytona` package "
                "or unset DAYTONA_API_KEY to silence this warning.",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            daytona: SandboxBackend = DaytonaBackend()
            return daytona
    from langchain_daytona_exec.backends.local import LocalBackend

    local: SandboxBackend = LocalBackend()
    return local


# -- bookkeeping records -------------------------------------------------------------


@dataclass(eq=False)
class _Slot:
    """A key and its sandbox. Guarded by the pool's lock."""

    key: str
    sandbox: Sandbox | None = None
    #: A lease is being prepared or is held (the per-key lock).
    leased: bool = False
    #: The lease handed out, while the ``with`` block runs.
    lease: PooledSandbox | None = None
    #: Tokens of acquirers waiting for this key, in arrival order.
    queue: deque[object] = field(default_factory=deque)
    #: ``clock()`` when the sandbox was created (for ``max_lifetime_s``).
    created_at: float = 0.0
    #: ``clock()`` at the end of the last lease (for LRU and ``idle_ttl_s``).
    last_used: float = 0.0
    #: ``clock()`` of the last successful ``is_alive()`` (or creation).
    last_check: float = float("-inf")
    #: Leases handed out with the current sandbox (0: it holds no state of the key).
    uses: int = 0
    #: The warmup code ran since the sandbox was created or reset.
    warm: bool = False
    #: A call raised ``SandboxLostError``: check health at the next lease.
    suspect: bool = False
    #: That error reached the caller, so the loss was already reported.
    loss_seen: bool = False
    #: ``PooledSandbox.close()`` was called: drop the sandbox when the lease ends.
    discard: bool = False


@dataclass(eq=False)
class _Spare:
    """A sandbox not assigned to any key (warm pool, or an evicted one in hand)."""

    sandbox: Sandbox
    created_at: float
    #: Never assigned to a key (handing out a non-fresh one counts as ``reused``).
    fresh: bool = True
    warm: bool = False
    last_check: float = float("-inf")


@dataclass(frozen=True)
class _Call:
    """A step of the lease logic asks its driver to run a blocking function."""

    fn: Callable[[], Any]


@dataclass(frozen=True)
class _Wait:
    """A step asks its driver to wait for a state change (or the deadline)."""

    deadline: float
    version: int


_Steps = Generator[_Call | _Wait, Any, T]


def _close_quietly(sandbox: Sandbox) -> None:
    """Close a sandbox, logging instead of raising (cleanup paths)."""
    try:
        sandbox.close()
    except Exception:
        logger.warning("closing sandbox %s failed", getattr(sandbox, "id", "?"), exc_info=True)


def _wake_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_ms:
        return 0.0
    rank = max(0, min(len(sorted_ms) - 1, math.ceil(q * len(sorted_ms)) - 1))
    return sorted_ms[rank]


# -- the leased sandbox ------------------------------------------------------------


class PooledSandbox(Sandbox):
    """A key's sandbox as handed out by :meth:`SandboxPool.session`.

    It forwards every call to the pooled sandbox while the lease lasts; after the
    ``with`` block, calls raise :class:`~langchain_daytona_exec.errors.
    SandboxClosedError`. A :class:`~langchain_daytona_exec.errors.SandboxLostError`
    raised by a call is passed on *and* noted, so the pool checks the sandbox at the
    next lease and replaces it without reporting the loss a second time.

    Attributes:
        key: The session key.
        state_lost: True on the first lease after the key's previous sandbox was
            lost, when the caller was not told already. Variables, imports and files
            of earlier calls are gone. Read it once per lease; the next lease of the
            key has it False again.
        lost_reason: Why the state was lost (see :data:`LossReason`), or ``None``.

    """

    def __init__(
        self,
        pool: SandboxPool,
        slot: _Slot,
        sandbox: Sandbox,
        lost_reason: LossReason | None,
    ) -> None:
        self._pool = pool
        self._slot = slot
        self._sandbox = sandbox
        self._active = True
        self.key = slot.key
        self.state_lost = lost_reason is not None
        self.lost_reason: LossReason | None = lost_reason
        self.id = sandbox.id
        self.backend_name = sandbox.backend_name
        self.labels = dict(sandbox.labels)

    def __repr__(self) -> str:
        state = "active" if self._active else "ended"
        return f"<PooledSandbox key={self.key!r} id={self.id!r} {state}>"

    @property
    def active(self) -> bool:
        """True while the lease lasts (inside the ``with`` block)."""
        return self._active and not self._pool.closed

    @contextlib.contextmanager
    def _guard(self) -> Iterator[Sandbox]:
        """Yield the pooled sandbox if the lease lasts; note a loss raised through it."""
        if not self._active:
            raise SandboxClosedError(
                f"The session of key {self.key!r} has ended; lease the sandbox again with "
                f"pool.session({self.key!r}) (or asession) and call it inside the block."
            )
        try:
            yield self._sandbox
        except SandboxLostError:
            self._pool._note_lost(self._slot, seen=True)
            raise

    @property
    def workdir(self) -> str:
        """The absolute path of the working folder inside the sandbox."""
        return self._sandbox.workdir

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code in the key's sandbox; see :meth:`Sandbox.run_code`."""
        with self._guard() as sb:
            return sb.run_code(code, language, timeout)

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command in the key's sandbox; see :meth:`Sandbox.exec`."""
        with self._guard() as sb:
            return sb.exec(command, cwd, env, timeout)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file; see :meth:`Sandbox.read_file`."""
        with self._guard() as sb:
            return sb.read_file(path, max_bytes=max_bytes)

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file; see :meth:`Sandbox.write_file`."""
        with self._guard() as sb:
            sb.write_file(path, content)

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        with self._guard() as sb:
            return sb.list_files(path, depth=depth)

    def reset(self) -> None:
        """Reset the key's sandbox; the pool runs its warmup again at the next lease."""
        with self._guard() as sb:
            sb.reset()
        self._pool._note_reset(self._slot)

    def close(self) -> None:
        """Give up the key's sandbox: it is closed when the lease ends.

        The next lease of the key gets a fresh sandbox and no ``state_lost`` report
        (the caller asked for it). Idempotent; does nothing after the lease ended.
        """
        if self._active:
            self._pool._note_discard(self._slot)

    def is_alive(self) -> bool:
        """Return True when the pooled sandbox can serve calls."""
        if not self._active:
            return False
        alive = self._sandbox.is_alive()
        if not alive:
            self._pool._note_lost(self._slot, seen=False)
        return alive

    async def arun_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Async twin of :meth:`run_code`."""
        with self._guard() as sb:
            return await sb.arun_code(code, language, timeout)

    async def aexec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Async twin of :meth:`exec`."""
        with self._guard() as sb:
            return await sb.aexec(command, cwd, env, timeout)

    async def aread_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Async twin of :meth:`read_file`."""
        with self._guard() as sb:
            return await sb.aread_file(path, max_bytes=max_bytes)

    async def awrite_file(self, path: str, content: str | bytes) -> None:
        """Async twin of :meth:`write_file`."""
        with self._guard() as sb:
            await sb.awrite_file(path, content)

    async def alist_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """Async twin of :meth:`list_files`."""
        with self._guard() as sb:
            return await sb.alist_files(path, depth=depth)

    async def areset(self) -> None:
        """Async twin of :meth:`reset`."""
        with self._guard() as sb:
            await sb.areset()
        self._pool._note_reset(self._slot)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    async def ais_alive(self) -> bool:
        """Async twin of :meth:`is_alive`."""
        if not self._active:
            return False
        alive = await self._sandbox.ais_alive()
        if not alive:
            self._pool._note_lost(self._slot, seen=False)
        return alive


# -- the pool ----------------------------------------------------------------------

_pool_ids = itertools.count(1)


def _background_loop(
    ref: weakref.ref[SandboxPool],
    step: Callable[[SandboxPool], float],
    stop: threading.Event,
    wake: threading.Event,
) -> None:
    """Run ``step`` until ``stop`` is set or the pool is garbage collected.

    The pool is dereferenced once per round, so the thread never keeps it alive.
    ``step`` returns how long to sleep; ``wake`` cuts the sleep short.
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
            delay = _THREAD_TICK_S
        del pool
        if delay > 0:
            wake.wait(delay)


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
            unless :meth:`session` is given its own ``timeout``.
        warmup: Python code run in every sandbox before a key first gets it, such
            as ``"import numpy, pandas, matplotlib.pyplot"``; warm-pool sandboxes
            run it ahead of time. Errors in it are logged, not raised.
        labels: Extra labels attached to every sandbox the pool creates.
        clock: Monotonic clock in **seconds** for TTL and lifetime bookkeeping
            (tests inject a fake one). Waits and latencies use real time.
        reaper_interval_s: **Seconds** between the janitor's eviction rounds;
            ``None`` derives it from ``idle_ttl_s`` (a tenth, within 0.05..30 s).
        health_check_interval_s: ``is_alive()`` is called at a lease when the last
            check is older than this many **seconds** (0: at every lease), and
            always after a call raised ``SandboxLostError``.
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
        warmup: str | None = None,
        labels: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reaper_interval_s: float | None = None,
        health_check_interval_s: float = 0.0,
        handle_sigterm: bool = True,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if not 0 <= min_idle <= max_size:
            raise ValueError(f"min_idle must be within 0..max_size ({max_size}), got {min_idle}")
        for name, value in (
            ("idle_ttl_s", idle_ttl_s),
            ("max_lifetime_s", max_lifetime_s),
            ("acquire_timeout", acquire_timeout),
            ("reaper_interval_s", reaper_interval_s),
            ("health_check_interval_s", health_check_interval_s),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if reaper_interval_s is None:
            base = idle_ttl_s if idle_ttl_s is not None else _REAPER_INTERVAL_MAX_S * 10
            if max_lifetime_s is not None:
                base = min(base, max_lifetime_s)
            reaper_interval_s = min(_REAPER_INTERVAL_MAX_S, max(_REAPER_INTERVAL_MIN_S, base / 10))

        self.id = f"{os.getpid()}-{next(_pool_ids)}"
        self._backend = backend
        self._backend_lock = threading.Lock()
        self._min_idle = min_idle
        self._max_size = max_size
        self._idle_ttl_s = idle_ttl_s
        self._max_lifetime_s = max_lifetime_s
        self._acquire_timeout = acquire_timeout
        self._warmup = warmup
        self._labels = {**(labels or {}), POOL_LABEL: self.id}
        self._adopted: set[str] = set()  # ids of sandboxes found by labels (never twice)
        self._clock = clock
        self._reaper_interval_s = max(reaper_interval_s, _REAPER_INTERVAL_MIN_S)
        self._health_check_interval_s = health_check_interval_s

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._version = 0
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._closed = False
        self._slots: dict[str, _Slot] = {}
        self._idle: deque[_Spare] = deque()
        self._retiring: list[Sandbox] = []
        self._lost: OrderedDict[str, LossReason] = OrderedDict()
        self._filling = 0  # creations by the filler under way
        self._creating = 0  # creations by leases under way
        self._in_hand = 0  # sandboxes the janitor or a lease is resetting or closing
        self._fill_not_before = 0.0
        self._fill_backoff = 0.0
        self._warmup_warned = False
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._created = 0
        self._reused = 0
        self._evicted = 0
        self._replaced = 0
        self._failures = 0

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
                self._backend = default_backend()
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
        lease = self._drive_sync(self._acquire(key, timeout))
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
        lease = await self._drive_async(self._acquire(key, timeout))
        error: BaseException | None = None
        try:
            yield lease
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._release(lease, error)

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
            if slot.leased:
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
        now = self._clock()
        expired: list[_Spare] = []
        with self._lock:
            if self._closed:
                return 0
            for slot in list(self._slots.values()):
                if slot.leased or slot.queue or slot.sandbox is None:
                    continue
                reason = self._expiry_locked(slot.created_at, slot.last_used, now)
                if reason is None:
                    continue
                del self._slots[slot.key]
                self._evicted += 1
                if slot.uses:
                    self._remember_loss_locked(slot.key, reason)
                expired.append(_Spare(slot.sandbox, slot.created_at, fresh=False))
            keep: deque[_Spare] = deque()
            for spare in self._idle:
                if self._expiry_locked(spare.created_at, None, now) is None:
                    keep.append(spare)
                else:
                    self._retiring.append(spare.sandbox)
            self._idle = keep
            retiring, self._retiring = self._retiring, []
            self._in_hand += len(expired) + len(retiring)
        for spare in expired:
            self._recycle(spare)
        for sandbox in retiring:
            try:
                _close_quietly(sandbox)
            finally:
                with self._lock:
                    self._in_hand -= 1
                    self._notify_locked()
        if expired or retiring:
            self._fill_wake.set()
        return len(expired)

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
                replaced=self._replaced,
                failures=self._failures,
                acquire_p50_ms=_percentile(latencies, 0.50),
                acquire_p95_ms=_percentile(latencies, 0.95),
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
        _lifecycle.close_sandboxes(doomed, _CLOSE_WAIT_S)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(_THREAD_JOIN_S)
        deadline = time.monotonic() + _CLOSE_WAIT_S
        with self._cond:
            while self._creating or self._filling or self._in_hand:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning(
                        "SandboxPool.close: sandbox work still under way after %gs", _CLOSE_WAIT_S
                    )
                    break
                self._cond.wait(remaining)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

    # -- the lease logic (one implementation, two drivers) -----------------------------

    def _acquire(self, key: str, timeout: float | None) -> _Steps[PooledSandbox]:
        """Lease ``key``: the steps, run by a sync or an async driver (module docstring)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"a session key must be a non-empty string, got {key!r}")
        started = time.perf_counter()
        wait_s = self._acquire_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait_s
        token = object()
        slot: _Slot | None = None
        waited: _Slot | None = None
        victim: _Spare | None = None
        self._ensure_threads()
        try:
            # 1. Own the key (per-key lock) and a unit of capacity, or wait.
            while True:
                with self._lock:
                    self._ensure_open_locked()
                    slot, victim, waited = self._claim_locked(key, token)
                    version = self._version
                    if slot is None and time.monotonic() >= deadline:
                        raise self._timeout_error_locked(key, wait_s, waited is not None)
                if slot is not None:
                    break
                yield _Wait(deadline, version)

            # 2. A sandbox taken from an evicted key is reset before it changes hands.
            if victim is not None:
                try:
                    yield _Call(victim.sandbox.reset)
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
                        alive = bool((yield _Call(sandbox.is_alive)))
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

            # 4. Create (cold path), then warm up.
            if slot.sandbox is None:
                yield _Call(functools.partial(self._create_for, slot))
            if self._warmup is not None and not slot.warm:
                sandbox = slot.sandbox
                assert sandbox is not None
                try:
                    yield _Call(functools.partial(self._run_warmup, sandbox))
                except SandboxLostError:
                    with self._lock:
                        self._failures += 1
                        self._detach_locked(slot, None)
                    yield from self._close_in_hand(sandbox)
                    raise
                with self._lock:
                    slot.warm = True

            # 5. Hand out.
            with self._lock:
                self._ensure_open_locked()
                assert slot.sandbox is not None
                lease = PooledSandbox(self, slot, slot.sandbox, self._lost.pop(key, None))
                slot.lease = lease
                slot.uses += 1
                self._latencies.append((time.perf_counter() - started) * 1000.0)
            return lease
        except BaseException:
            self._abort_acquire(slot, waited, victim, token)
            raise

    def _claim_locked(
        self, key: str, token: object
    ) -> tuple[_Slot | None, _Spare | None, _Slot | None]:
        """Decide, under the lock, how a lease of ``key`` proceeds.

        Returns:
            ``(slot, victim, waited)``: the key's slot, now leased by the caller, or
            ``None`` to wait; a sandbox taken from an evicted key, to reset for this
            one; the slot whose queue the caller waits in (``None`` when the caller
            waits for capacity).

        """
        slot = self._slots.get(key)
        if slot is not None:
            if slot.leased or (slot.queue and slot.queue[0] is not token):
                if token not in slot.queue:
                    slot.queue.append(token)
                return None, None, slot
            if slot.queue:
                slot.queue.popleft()
            slot.leased = True
            return slot, None, None
        if self._idle:
            spare = self._idle.popleft()
            slot = _Slot(key, leased=True)
            self._assign_locked(slot, spare.sandbox, spare.created_at)
            slot.warm = spare.warm
            slot.last_check = spare.last_check
            if not spare.fresh:
                self._reused += 1
            self._slots[key] = slot
            self._fill_wake.set()
            return slot, None, None
        if self._occupancy_locked() < self._max_size:
            slot = self._slots[key] = _Slot(key, leased=True)
            return slot, None, None
        lru = min(
            (s for s in self._slots.values() if not s.leased and not s.queue and s.sandbox),
            key=lambda s: s.last_used,
            default=None,
        )
        if lru is None or lru.sandbox is None:
            return None, None, None
        del self._slots[lru.key]
        self._evicted += 1
        if lru.uses:
            self._remember_loss_locked(lru.key, "evicted")
        slot = self._slots[key] = _Slot(key, leased=True)
        return slot, _Spare(lru.sandbox, lru.created_at, fresh=False), None

    def _close_in_hand(self, sandbox: Sandbox) -> _Steps[None]:
        """Close a sandbox taken off the books, still counted until it is closed."""
        with self._lock:
            self._in_hand += 1
        try:
            yield _Call(functools.partial(_close_quietly, sandbox))
        finally:
            with self._lock:
                self._in_hand -= 1
                self._notify_locked()

    def _abort_acquire(
        self, slot: _Slot | None, waited: _Slot | None, victim: _Spare | None, token: object
    ) -> None:
        """Undo a lease that failed or was cancelled. Non-blocking."""
        with self._lock:
            if waited is not None:
                with contextlib.suppress(ValueError):
                    waited.queue.remove(token)
            if victim is not None:
                self._retiring.append(victim.sandbox)
                self._janitor_wake.set()
            if slot is not None:
                slot.leased = False
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
            slot.leased = False
            slot.last_used = self._clock()
            if isinstance(error, SandboxLostError):
                slot.suspect = slot.loss_seen = True
            if slot.discard and self._slots.get(slot.key) is slot:
                self._drop_slot_locked(slot)
            self._notify_locked()

    # -- drivers -----------------------------------------------------------------------

    def _drive_sync(self, steps: _Steps[T]) -> T:
        """Run lease steps in this thread."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            try:
                if isinstance(op, _Call):
                    value = op.fn()
                else:
                    self._wait_sync(op)
            except BaseException as exc:
                error = exc

    async def _drive_async(self, steps: _Steps[T]) -> T:
        """Run lease steps without blocking the event loop.

        A cancellation that arrives while a blocking call runs is held until the
        call returns, then delivered to the steps, so their cleanup sees the
        call's effects (a created sandbox is never orphaned).
        """
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            if isinstance(op, _Wait):
                try:
                    await self._wait_async(op)
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

    def _wait_sync(self, op: _Wait) -> None:
        with self._cond:
            if self._version != op.version:
                return
            remaining = op.deadline - time.monotonic()
            if remaining > 0:
                self._cond.wait(remaining)

    async def _wait_async(self, op: _Wait) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            if self._version != op.version:
                return
            self._async_waiters.add(entry)
        try:
            remaining = op.deadline - time.monotonic()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, remaining)
        finally:
            with self._lock:
                self._async_waiters.discard(entry)

    def _notify_locked(self) -> None:
        """Wake every waiter (threads and coroutines) to re-check. Lock held."""
        self._version += 1
        self._cond.notify_all()
        for loop, fut in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(_wake_future, fut)
        self._async_waiters.clear()

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

    def _assign_locked(self, slot: _Slot, sandbox: Sandbox, created_at: float) -> None:
        slot.sandbox = sandbox
        slot.created_at = created_at
        slot.last_check = self._clock()
        slot.uses = 0
        slot.warm = False
        slot.suspect = slot.loss_seen = False

    def _detach_locked(self, slot: _Slot, reason: LossReason | None) -> None:
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

    def _drop_slot_locked(self, slot: _Slot) -> None:
        del self._slots[slot.key]
        if slot.sandbox is not None:
            self._retiring.append(slot.sandbox)
            slot.sandbox = None
        self._janitor_wake.set()

    def _remember_loss_locked(self, key: str, reason: LossReason) -> None:
        self._lost[key] = reason
        self._lost.move_to_end(key)
        while len(self._lost) > _REMEMBERED_LOSSES:
            self._lost.popitem(last=False)

    def _timeout_error_locked(self, key: str, wait_s: float, key_busy: bool) -> Exception:
        if key_busy:
            return SandboxTimeoutError(
                f"The sandbox of session {key!r} stayed in use by another call for more than "
                f"{wait_s:g} s. Calls of one session run one at a time: let the other call "
                "finish, raise acquire_timeout, or use a separate key for independent work."
            )
        leased = sum(1 for s in self._slots.values() if s.leased)
        return PoolExhaustedError(
            f"No sandbox could be leased for session {key!r} within {wait_s:g} s: all "
            f"{self._max_size} sandboxes of the pool are in use ({leased} leased, "
            f"{self._filling + self._creating} being created, "
            f"{len(self._retiring) + self._in_hand} being closed). Raise max_size "
            f"(now {self._max_size}), raise acquire_timeout (now {self._acquire_timeout:g} s), "
            "or end sessions sooner: leave `with pool.session(...)` blocks promptly and "
            "call pool.discard(key) for finished conversations."
        )

    def _note_lost(self, slot: _Slot, *, seen: bool) -> None:
        with self._lock:
            slot.suspect = True
            if seen:
                slot.loss_seen = True

    def _note_reset(self, slot: _Slot) -> None:
        with self._lock:
            slot.warm = False

    def _note_discard(self, slot: _Slot) -> None:
        with self._lock:
            slot.discard = True
            if not slot.leased and self._slots.get(slot.key) is slot:
                self._drop_slot_locked(slot)
                self._notify_locked()

    # -- blocking work -------------------------------------------------------------------

    def _create_for(self, slot: _Slot) -> None:
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
            except Exception:
                with self._lock:
                    self._failures += 1
                raise
            with self._lock:
                closed = self._closed
                if not closed:
                    self._assign_locked(slot, sandbox, self._clock())
            if closed:
                _close_quietly(sandbox)
                raise PoolError("The sandbox pool was closed while a sandbox was being created.")
        finally:
            with self._lock:
                self._creating -= 1
                self._notify_locked()

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

    def _recycle(self, spare: _Spare) -> None:
        """Janitor: reset an evicted sandbox into the warm pool, or close it."""
        with self._lock:
            want = (
                not self._closed
                and len(self._idle) + self._filling < self._min_idle
                and self._expiry_locked(spare.created_at, None, self._clock()) is None
            )
        kept = False
        try:
            if want:
                try:
                    spare.sandbox.reset()
                    self._run_warmup(spare.sandbox)
                    kept = spare.sandbox.is_alive()
                except Exception:
                    logger.warning("resetting an evicted sandbox failed", exc_info=True)
            with self._lock:
                if kept and not self._closed:
                    spare.warm = self._warmup is not None
                    spare.last_check = self._clock()
                    self._idle.append(spare)
                else:
                    kept = False
        finally:
            if not kept:
                _close_quietly(spare.sandbox)
            with self._lock:
                self._in_hand -= 1
                self._notify_locked()

    def _fill_step(self) -> float:
        """Filler: create one warm sandbox if the pool is short. Returns the pause."""
        with self._lock:
            if self._closed:
                return 0.0
            now = time.monotonic()
            if now < self._fill_not_before:
                return self._fill_not_before - now
            short = len(self._idle) + self._filling < self._min_idle
            if not short or self._occupancy_locked() >= self._max_size:
                return _THREAD_TICK_S
            self._filling += 1
        sandbox: Sandbox | None = None
        ok = False
        try:
            created_at = self._clock()
            sandbox = self.backend.create(labels=dict(self._labels))
            with self._lock:
                self._created += 1
            self._run_warmup(sandbox)
            ok = True
        except Exception as exc:
            logger.warning("the pool could not create a warm sandbox: %s", exc)
        finally:
            with self._lock:
                self._filling -= 1
                if ok and sandbox is not None and not self._closed:
                    spare = _Spare(sandbox, created_at, fresh=True)
                    spare.warm = self._warmup is not None
                    spare.last_check = self._clock()
                    self._idle.append(spare)
                    sandbox = None
                if not ok:
                    self._failures += 1
                self._notify_locked()
            if sandbox is not None:
                _close_quietly(sandbox)
        if ok:
            self._fill_backoff = 0.0
            return 0.0
        self._fill_backoff = min(
            _FILL_BACKOFF_MAX_S, max(_FILL_BACKOFF_MIN_S, self._fill_backoff * 2)
        )
        self._fill_not_before = time.monotonic() + self._fill_backoff
        return self._fill_backoff

    def _janitor_step(self) -> float:
        self.reap()
        return self._reaper_interval_s

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
                ("janitor", SandboxPool._janitor_step, self._janitor_wake)
            ]
            if self._min_idle > 0:
                specs.append(("filler", SandboxPool._fill_step, self._fill_wake))
            for name, step, wake in specs:
                thread = threading.Thread(
                    target=_background_loop,
                    args=(ref, step, self._stop, wake),
                    name=f"ldx-pool-{self.id}-{name}",
                    daemon=True,
                )
                self._threads.append(thread)
        for thread in self._threads:
            thread.start()
