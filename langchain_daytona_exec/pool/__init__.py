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
All bookkeeping lives in plain objects guarded by one lock; nothing blocking ever
runs under it. Leasing is written **once**, as a generator (``_leasing.acquire``)
that decides under the lock and *yields* the blocking work it needs: a ``Call``
(create, reset, ``is_alive``, warmup, close) or a ``Wait`` (the key is busy or the
pool is full). Two small drivers run it (``_steps.py``), and check at every step
that it never yields while holding the lock:

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

Two daemon threads per pool (``_background.py``), started on first use and
stopped by :meth:`SandboxPool.close`,
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

Modules: ``_pool.py`` (:class:`SandboxPool`, the public face that wires the parts),
``_books.py`` (the state under the lock and the rules that place sandboxes: capacity,
FIFO, LRU eviction, pins, expiry, counters), ``_leasing.py`` (the lease steps),
``_lease.py`` (:class:`PooledSandbox`, the lease object), ``_steps.py`` (the step
protocol and its two drivers), ``_background.py`` (filler and janitor),
``_records.py`` (bookkeeping records), ``_workspaces.py`` (kept workspaces),
``_defaults.py`` (defaults, labels, :func:`default_backend`).
"""

from __future__ import annotations

from langchain_daytona_exec.pool._defaults import (
    DEFAULT_ACQUIRE_TIMEOUT_S,
    DEFAULT_IDLE_TTL_S,
    DEFAULT_MAX_SIZE,
    FALLBACK_KEY,
    KEY_LABEL,
    POOL_LABEL,
    default_backend,
    default_pool,
)
from langchain_daytona_exec.pool._lease import PooledSandbox
from langchain_daytona_exec.pool._pool import SandboxPool
from langchain_daytona_exec.pool._records import (
    FILES_KEPT_NOTICE,
    STATE_LOST_NOTICE,
    LossReason,
    describe_loss,
    loss_notice,
)

__all__ = [
    "DEFAULT_ACQUIRE_TIMEOUT_S",
    "DEFAULT_IDLE_TTL_S",
    "DEFAULT_MAX_SIZE",
    "FALLBACK_KEY",
    "FILES_KEPT_NOTICE",
    "KEY_LABEL",
    "POOL_LABEL",
    "STATE_LOST_NOTICE",
    "LossReason",
    "PooledSandbox",
    "SandboxPool",
    "default_backend",
    "default_pool",
    "describe_loss",
    "loss_notice",
]
