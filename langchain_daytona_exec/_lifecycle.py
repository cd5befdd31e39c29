"""The process lifecycle: close what this process opened when it ends.

One registry, one ``atexit`` hook and one SIGTERM handler for the whole package.
Pools (:class:`~langchain_daytona_exec.pool.SandboxPool`) and sandboxes that must not
outlive the process (local ones: their folders, mounts and cgroups stay behind
otherwise) register here. At exit, or on SIGTERM, everything still registered is
closed in two tiers:

1. **pools first**, each from its own thread, so a pool stops its filler and closes
   the sandboxes it is still creating;
2. **then loose sandboxes**, in parallel: those made without a pool, and those of a
   pool whose ``close()`` did not finish in time (closing twice is harmless).

All of it runs on a helper thread, and the caller waits at most a deadline. The
SIGTERM handler never closes anything itself: it runs on the main thread between two
bytecodes, possibly while that thread holds a pool's or a sandbox's lock, and a
close on the same thread would either deadlock or (with a reentrant lock) tear a
sandbox down in the middle of a call. A close that waits for such a lock is simply
abandoned at the deadline; bubblewrap's ``--die-with-parent`` still ends the local
sandbox's processes, and the next process sweeps its folder.

SIGTERM's default action kills the process without running ``atexit``. The handler is
installed once per process, from the main thread (Python's rule), and only while
SIGTERM still has its default action, so an application's own handler is never
replaced. After closing it restores the default action and re-sends SIGTERM, so the
process still dies of it (exit status, supervisors). A second SIGTERM during the
shutdown kills at once.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "SHUTDOWN_DEADLINE_S",
    "close_all",
    "close_sandboxes",
    "install_sigterm_handler",
    "register_pool",
    "register_sandbox",
    "unregister_pool",
    "unregister_sandbox",
]


def _warning(message: str, *args: object, exc_info: bool = False) -> None:
    """Log a warning; ``logging`` (~3 ms of import) is loaded only when one is written."""
    import logging

    logging.getLogger(__name__).warning(message, *args, exc_info=exc_info)


TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    class _Closable(Protocol):
        def close(self) -> None: ...

    C = TypeVar("C", bound=_Closable)

SHUTDOWN_DEADLINE_S = 10.0
"""**Seconds** the SIGTERM handler (and the ``atexit`` hook) wait for the shutdown
before the process goes on dying. Well inside the usual 30 s grace period between a
supervisor's SIGTERM and its SIGKILL."""

_POOL_SHARE = 0.5
"""Part of the deadline given to tier 1 (pools) before loose sandboxes are closed
anyway: a pool stuck on a lock must not keep the sandboxes from being closed."""

CLOSE_WORKERS = 8
"""Threads closing sandboxes in parallel (a Daytona delete is a round trip; 200 of
them one after another would take a minute)."""

_pools: weakref.WeakSet[_Closable] = weakref.WeakSet()
_sandboxes: weakref.WeakSet[_Closable] = weakref.WeakSet()
_install_lock = threading.Lock()
_sigterm_installed = False


def register_pool(pool: _Closable) -> None:
    """Close ``pool`` (tier 1) when the process exits or gets SIGTERM.

    Held by a weak reference: the registry never keeps a pool alive.
    """
    _pools.add(pool)


def unregister_pool(pool: _Closable) -> None:
    """Forget ``pool`` (it was closed). Does nothing if it was not registered."""
    _pools.discard(pool)


def register_sandbox(sandbox: _Closable) -> None:
    """Close ``sandbox`` (tier 2) when the process exits or gets SIGTERM (weakly held)."""
    _sandboxes.add(sandbox)


def unregister_sandbox(sandbox: _Closable) -> None:
    """Forget ``sandbox`` (it was closed). Does nothing if it was not registered."""
    _sandboxes.discard(sandbox)


def _snapshot(registry: weakref.WeakSet[C]) -> list[C]:
    """A list of the registry, without a lock (the signal path must not take one).

    Another thread adding while we iterate makes ``WeakSet`` raise; try again.
    """
    for _ in range(100):
        with contextlib.suppress(RuntimeError):
            return list(registry)
    return []


def _close_quietly(obj: _Closable) -> None:
    try:
        obj.close()
    except Exception:
        _warning("closing %r at shutdown failed", obj, exc_info=True)


def _start(target: Callable[[], None], name: str) -> threading.Thread | None:
    """Start a daemon thread; ``None`` when the interpreter refuses (shutting down)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:
        return None
    return thread


def _join_all(threads: Iterable[threading.Thread], deadline: float) -> bool:
    """Join threads until ``deadline`` (``time.monotonic``); True when all ended."""
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


def close_sandboxes(sandboxes: Sequence[_Closable], timeout: float) -> bool:
    """Close sandboxes, in parallel when there are several (best effort, never raises).

    Args:
        sandboxes: What to close.
        timeout: **Seconds** to wait for the closes.

    Returns:
        True when every close returned within ``timeout``.

    """
    if len(sandboxes) <= 1:
        for sandbox in sandboxes:
            _close_quietly(sandbox)
        return True
    deadline = time.monotonic() + timeout
    workers = min(CLOSE_WORKERS, len(sandboxes))
    threads: list[threading.Thread] = []
    for i in range(workers):
        chunk = sandboxes[i::workers]

        def close_chunk(chunk: Sequence[_Closable] = chunk) -> None:
            for sandbox in chunk:
                _close_quietly(sandbox)

        thread = _start(close_chunk, "ldx-close")
        if thread is None:  # interpreter shutting down: close here, one by one
            close_chunk()
        else:
            threads.append(thread)
    return _join_all(threads, deadline)


def _shutdown(deadline: float) -> bool:
    """Tier 1 (pools, each on its own thread), then tier 2 (loose sandboxes).

    Returns:
        True when every close returned before ``deadline``.

    """
    pool_threads = []
    for pool in _snapshot(_pools):
        thread = _start(functools.partial(_close_quietly, pool), "ldx-close-pool")
        if thread is None:
            _close_quietly(pool)
        else:
            pool_threads.append(thread)
    now = time.monotonic()
    pools_done = _join_all(pool_threads, now + (deadline - now) * _POOL_SHARE)
    if not pools_done:
        _warning("a sandbox pool did not close in time; closing its sandboxes directly")
    sandboxes_done = close_sandboxes(_snapshot(_sandboxes), max(0.0, deadline - time.monotonic()))
    return _join_all(pool_threads, deadline) and sandboxes_done


def close_all(timeout: float = SHUTDOWN_DEADLINE_S) -> bool:
    """Close every registered pool, then every loose sandbox, from a helper thread.

    Never closes anything on the calling thread, which may hold a lock a close needs.

    Args:
        timeout: **Seconds** to wait; the helper (a daemon thread) is abandoned
            after that.

    Returns:
        True when everything was closed within ``timeout``; False otherwise, or when
        the interpreter refused to start the helper.

    """
    return bool(_close_on_helper(time.monotonic() + timeout))


def _close_on_helper(deadline: float) -> bool | None:
    """Run :func:`_shutdown` on a helper thread until ``deadline``; ``None`` if none starts."""
    done = threading.Event()
    outcome: list[bool] = []

    def run() -> None:
        try:
            outcome.append(_shutdown(deadline))
        finally:
            done.set()

    if _start(run, "ldx-shutdown") is None:
        return None
    if not done.wait(max(0.0, deadline - time.monotonic())) or not all(outcome):
        _warning("shutdown: sandboxes were still closing at the deadline; leaving them")
        return False
    return bool(outcome)


def _at_exit() -> None:
    """``atexit``: close what is still open, bounded by the deadline."""
    if not _snapshot(_pools) and not _snapshot(_sandboxes):
        return
    deadline = time.monotonic() + SHUTDOWN_DEADLINE_S
    if _close_on_helper(deadline) is None:
        # No new threads this late in the exit. Closing here is safe: this is not a
        # signal handler, and the main thread's ``with`` blocks have all unwound.
        _shutdown(deadline)


atexit.register(_at_exit)


def install_sigterm_handler() -> bool:
    """Install the SIGTERM handler once, from the main thread, over the default only.

    Safe to call often (every pool and backend constructor does); later calls and
    calls from other threads do nothing.

    Returns:
        True when this process's SIGTERM is handled by this module.

    """
    global _sigterm_installed
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGTERM) is _on_sigterm
    with _install_lock:
        if not _sigterm_installed:
            _sigterm_installed = True
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(signal.SIGTERM, _on_sigterm)
    return signal.getsignal(signal.SIGTERM) is _on_sigterm


def _on_sigterm(signum: int, frame: object) -> None:
    """Close everything from a helper thread (bounded), then die of SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    close_all(SHUTDOWN_DEADLINE_S)
    os.kill(os.getpid(), signal.SIGTERM)
