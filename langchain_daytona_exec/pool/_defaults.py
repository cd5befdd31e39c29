"""The pool's defaults and labels, each with its reason, and the default backend."""

from __future__ import annotations

import os
import threading
import warnings
from typing import TYPE_CHECKING

from langchain_daytona_exec.sandbox import SandboxBackend

if TYPE_CHECKING:
    from langchain_daytona_exec.pool._pool import SandboxPool

DEFAULT_MAX_SIZE = 16
"""Sandboxes per pool. A local sandbox idles at about 8 MB, so this bounds CPU
contention (every leased sandbox may run code at once), not memory."""

DEFAULT_IDLE_TTL_S = 900.0
"""Seconds a key may stay unused before its sandbox is evicted: long enough for a
person to read an answer and reply, short enough that abandoned chats free their slot."""

DEFAULT_ACQUIRE_TIMEOUT_S = 30.0
"""Seconds a lease waits for a busy key or a full pool before it gives up."""

DEFAULT_PROTECT_S = 20.0
"""Seconds after a lease during which the key is not evicted for another key. A
tool-calling model usually thinks a few seconds between two calls; 20 s covers
most, and stays below ``DEFAULT_ACQUIRE_TIMEOUT_S``, so a new key waiting for a
full pool gets the slot of a key gone quiet before its own wait runs out."""

READY_TIMEOUT_S = 300.0
"""Seconds ``SandboxPool.wait_ready()`` waits by default: a warm pool whose warmup
imports numpy, pandas and matplotlib takes seconds per sandbox on a busy host."""

RECENT_USE_S = 60.0
"""An eviction of a key used less than this many seconds before counts in
``PoolStats.evicted_recent``: such a conversation is likely still going and will
find its state gone (thrashing)."""

REAPER_INTERVAL_MAX_S = 30.0
"""Upper bound of the janitor's period: TTL eviction is at most this late."""

REAPER_INTERVAL_MIN_S = 0.05
"""Lower bound of the janitor's period, so a tiny ``idle_ttl_s`` does not spin."""

THREAD_JOIN_S = 10.0
"""How long :meth:`SandboxPool.close` waits for each background thread."""

CLOSE_WAIT_S = 30.0
"""How long :meth:`SandboxPool.close` waits for creations already under way, so a
sandbox that a lease was creating is closed before ``close()`` returns."""

REMEMBERED_LOSSES = 10_000
"""Evicted keys remembered so that a conversation coming back is told its state is
gone. Oldest first out; an entry is a key and a reason."""

LATENCY_SAMPLES = 1024
"""Most recent lease latencies kept for the p50/p95 of :meth:`SandboxPool.stats`."""

POOL_LABEL = "langchain-daytona-exec.pool"
"""Label carrying the pool's id on every sandbox it creates."""

KEY_LABEL = "langchain-daytona-exec.key"
"""Label carrying the session key on a sandbox the pool creates *for* that key, so that
a pool in another process, or after a restart, finds the key's sandbox again with
``backend.find`` (backends whose sandboxes die with the process find nothing)."""


FALLBACK_KEY = "default"
"""The pool key used when a call carries no ``configurable.thread_id``: every such
call (a script calling ``tool.invoke`` directly) shares one sandbox."""

_default_pool: SandboxPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> SandboxPool:
    """The process-wide pool used by tools and adapters created without ``pool=``.

    Created on first use with :func:`default_backend` (and again if it was closed).

    Returns:
        The shared pool.
    """
    from langchain_daytona_exec.pool._pool import SandboxPool  # _pool imports this module

    global _default_pool
    with _default_pool_lock:
        if _default_pool is None or _default_pool.closed:
            _default_pool = SandboxPool()
        return _default_pool


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
