"""The lease, written once as steps: claim, hand over, check, create, warm up, hand out.

:func:`acquire` is a step generator (``_steps.py``): it decides under the pool's
lock (the rules are in ``_books.py``) and yields the blocking work, so the sync and
the async driver run the same logic. :func:`release` ends a lease without blocking.
The cold path (:func:`create_for`) first looks for the key's sandbox left by another
pool (:func:`find_for`), then creates one.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import TYPE_CHECKING

from langchain_daytona_exec.errors import PoolError, SandboxLostError
from langchain_daytona_exec.pool._defaults import KEY_LABEL, POOL_LABEL, READY_TIMEOUT_S
from langchain_daytona_exec.pool._lease import PooledSandbox
from langchain_daytona_exec.pool._records import LossReason, Slot, Spare, close_quietly, logger
from langchain_daytona_exec.pool._steps import Call, Steps, Wait
from langchain_daytona_exec.pool._workspaces import PersistentSandbox, reset_for_handover
from langchain_daytona_exec.sandbox import Sandbox

if TYPE_CHECKING:
    from langchain_daytona_exec.pool._pool import SandboxPool

__all__ = ["acquire", "create_for", "find_for", "release", "until_ready"]


def acquire(pool: SandboxPool, key: str, timeout: float | None) -> Steps[PooledSandbox]:
    """Lease ``key``: the steps, run by a sync or an async driver (package docstring)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"a session key must be a non-empty string, got {key!r}")
    books = pool._books
    started = time.perf_counter()
    wait_s = pool._acquire_timeout if timeout is None else timeout
    deadline = time.monotonic() + wait_s
    token = object()
    slot: Slot | None = None
    waited: Slot | None = None
    victim: Spare | None = None
    pool._ensure_threads()
    waiting_since: float | None = None
    try:
        # 1. Own the key (per-key lock) and a unit of capacity, or wait.
        while True:
            with books.lock:
                pool._ensure_open_locked()
                slot, victim, waited = books.claim_locked(key, token)
                version = books.signal.version
                now_m = time.monotonic()
                if slot is not None:
                    if waiting_since is not None:
                        books.wait_s_total += now_m - waiting_since
                    break
                if now_m >= deadline:
                    if waiting_since is not None:
                        books.wait_s_total += now_m - waiting_since
                    raise books.timeout_error_locked(
                        key, wait_s, waited is not None, pool._acquire_timeout
                    )
                wake = deadline
                queue = books.capacity_queue
                if waited is None and queue and queue[0] is token:
                    # First in line for capacity: a protection may end before any
                    # state change wakes us. (The others wait for their turn.)
                    ends = books.protection_ends_locked()
                    if ends is not None:
                        wake = min(deadline, now_m + max(0.0, ends - books.clock()))
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
                yield from _close_in_hand(pool, bad)
            else:
                with books.lock:
                    books.assign_locked(slot, victim.sandbox, victim.created_at)
                    books.reused += 1
                victim = None

        # 3. Health: replace a sandbox that died or outlived max_lifetime_s.
        sandbox = slot.sandbox
        if sandbox is not None:
            now = books.clock()
            with books.lock:
                reason = books.expiry_locked(slot.created_at, None, now)
                check = slot.suspect or now - slot.last_check >= pool._health_check_interval_s
            if reason is None and check:
                try:
                    alive = bool((yield Call(sandbox.is_alive)))
                except Exception:
                    alive = False
                if alive:
                    with books.lock:
                        slot.suspect = slot.loss_seen = False
                        slot.last_check = books.clock()
                else:
                    reason = "died"
            if reason is not None:
                with books.lock:
                    books.detach_locked(slot, reason)
                yield from _close_in_hand(pool, sandbox)

        # 4. Create (cold path), then warm up. The filler waits meanwhile, so a
        #    lease never competes with warm-pool work for the host.
        cold = slot.sandbox is None or (pool._warmup is not None and not slot.warm)
        if cold:
            with books.lock:
                books.cold_leases += 1
        try:
            if slot.sandbox is None:
                yield Call(functools.partial(create_for, pool, slot))
            if pool._warmup is not None and not slot.warm:
                sandbox = slot.sandbox
                assert sandbox is not None
                try:
                    yield Call(functools.partial(pool._run_warmup, sandbox))
                except SandboxLostError:
                    with books.lock:
                        books.failures += 1
                        books.detach_locked(slot, None)
                    yield from _close_in_hand(pool, sandbox)
                    raise
                with books.lock:
                    slot.warm = True
        finally:
            if cold:
                with books.lock:
                    books.cold_leases -= 1
                books.fill_wake.set()

        # 5. A kept workspace comes back (files, not variables).
        kept: LossReason | None = None
        if isinstance(slot.sandbox, PersistentSandbox):
            kept = yield Call(functools.partial(slot.sandbox.bind, key))

        # 6. Hand out.
        with books.lock:
            pool._ensure_open_locked()
            assert slot.sandbox is not None
            lost = books.lost.pop(key, None)
            lease = PooledSandbox(pool, slot, slot.sandbox, kept or lost)
            slot.lease = lease
            slot.uses += 1
            books.latencies.append((time.perf_counter() - started) * 1000.0)
        return lease
    except BaseException:
        _abort(pool, slot, waited, victim, token)
        raise


def until_ready(pool: SandboxPool, timeout: float | None) -> Steps[bool]:
    """Wait until the warm pool holds ``min_idle`` sandboxes (see ``wait_ready``)."""
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must not be negative, got {timeout}")
    books = pool._books
    deadline = time.monotonic() + (READY_TIMEOUT_S if timeout is None else timeout)
    pool._ensure_threads()
    while True:
        with books.lock:
            pool._ensure_open_locked()
            if pool._filler.server_side or len(books.idle) >= pool._min_idle:
                return True
            version = books.signal.version
        if time.monotonic() >= deadline:
            return False
        yield Wait(deadline, version)


def release(pool: SandboxPool, lease: PooledSandbox, error: BaseException | None) -> None:
    """End a lease. Non-blocking: a discarded sandbox goes to the janitor."""
    books = pool._books
    slot = lease._slot
    with books.lock:
        lease._active = False
        if slot.lease is lease:
            slot.lease = None
        slot.claimed = False
        slot.last_used = books.clock()
        slot.protect_until = slot.last_used + books.protect_s
        if isinstance(error, SandboxLostError):
            slot.suspect = slot.loss_seen = True
        if slot.discard and books.slots.get(slot.key) is slot:
            books.drop_slot_locked(slot)
        books.notify_locked()


def _close_in_hand(pool: SandboxPool, sandbox: Sandbox) -> Steps[None]:
    """Close a sandbox taken off the books, still counted until it is closed."""
    books = pool._books
    with books.lock:
        books.in_hand += 1
    try:
        yield Call(functools.partial(close_quietly, sandbox))
    finally:
        with books.lock:
            books.in_hand -= 1
            books.notify_locked()


def _abort(
    pool: SandboxPool, slot: Slot | None, waited: Slot | None, victim: Spare | None, token: object
) -> None:
    """Undo a lease that failed or was cancelled. Non-blocking."""
    books = pool._books
    with books.lock:
        books.leave_capacity_queue_locked(token)
        if waited is not None:
            with contextlib.suppress(ValueError):
                waited.queue.remove(token)
        if victim is not None:
            books.retiring.append(victim.sandbox)
            books.janitor_wake.set()
        if slot is not None:
            slot.claimed = False
            slot.lease = None
            slot.last_used = books.clock()
            if slot.sandbox is None and books.slots.get(slot.key) is slot:
                del books.slots[slot.key]
        books.notify_locked()


def create_for(pool: SandboxPool, slot: Slot) -> None:
    """Find (another pool's) or create the sandbox of a leased slot (cold path). Blocking."""
    books = pool._books
    with books.lock:
        books.creating += 1
    try:
        try:
            sandbox = find_for(pool, slot.key)
            if sandbox is None:
                sandbox = pool.backend.create(labels={**pool._labels, KEY_LABEL: slot.key})
                with books.lock:
                    books.created += 1
            sandbox = pool._keeping(sandbox)
        except Exception:
            with books.lock:
                books.failures += 1
            raise
        with books.lock:
            closed = pool._closed
            if not closed:
                books.assign_locked(slot, sandbox, books.clock())
        if closed:
            close_quietly(sandbox)
            raise PoolError("The sandbox pool was closed while a sandbox was being created.")
    finally:
        with books.lock:
            books.creating -= 1
            books.notify_locked()


def find_for(pool: SandboxPool, key: str) -> Sandbox | None:
    """The key's sandbox left by another pool (another process, or before a restart).

    Asks ``backend.find`` for the key's label (plus the pool's own ``labels``);
    sandboxes of this pool and ones adopted before are never taken again. A
    found sandbox that had to be restarted reports ``state_lost`` on its next
    ``run_code``. Blocking; failures are logged and a new sandbox is created.
    """
    find = getattr(pool.backend, "find", None)
    if find is None:
        return None
    labels = {k: v for k, v in pool._labels.items() if k != POOL_LABEL}
    labels[KEY_LABEL] = key
    try:
        found: Sandbox | None = find(labels)
    except Exception as exc:
        logger.warning("looking up the sandbox of key %r failed: %s", key, exc)
        return None
    if found is None or found.labels.get(POOL_LABEL) == pool.id:
        return None
    with pool._books.lock:
        if found.id in pool._adopted:
            return None
        pool._adopted.add(found.id)
    return found
