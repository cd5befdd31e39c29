"""The pool's books: which sandbox is where, and the rules that move sandboxes.

Everything here is guarded by one lock (:attr:`Books.lock`) and never blocks: the
lease steps (``_leasing.py``) and the background threads (``_background.py``) read
and change the books under the lock, and do their blocking work outside it.

The rules (methods ending in ``_locked``: the caller holds the lock):

* **capacity**: at most ``max_size`` sandboxes counted at once, whether assigned,
  warm, being created or being closed (:meth:`Books.occupancy_locked`);
* **fairness**: a busy key's leases wait in its FIFO queue; new keys wait for
  capacity in arrival order (:meth:`Books.claim_locked`);
* **eviction**: a full pool takes the least recently used key that is not leased,
  not waited for, not pinned and past its protection (:meth:`Books.take_capacity_locked`);
* **expiry**: ``idle_ttl_s`` and ``max_lifetime_s`` (:meth:`Books.expiry_locked`);
* **loss memory**: a key whose state went is told once (:meth:`Books.remember_loss_locked`);
* **counters**, read by :meth:`Books.stats_locked`.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

from langchain_daytona_exec.errors import PoolExhaustedError, SandboxTimeoutError
from langchain_daytona_exec.pool._defaults import (
    LATENCY_SAMPLES,
    RECENT_USE_S,
    REMEMBERED_LOSSES,
)
from langchain_daytona_exec.pool._records import LossReason, Slot, Spare, percentile
from langchain_daytona_exec.pool._steps import ChangeSignal
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.types import PoolStats

__all__ = ["Books"]


class Books:
    """What a pool holds, under one lock, and the policy that places its sandboxes.

    Args:
        max_size: Most sandboxes counted at once.
        idle_ttl_s: **Seconds** a key may go unused; ``None`` for no limit.
        max_lifetime_s: **Seconds** a sandbox may live; ``None`` for no limit.
        protect_s: **Seconds** after a lease during which its key is not evicted.
        clock: Monotonic clock in **seconds** for TTL, lifetime and LRU.

    """

    def __init__(
        self,
        *,
        max_size: int,
        idle_ttl_s: float | None,
        max_lifetime_s: float | None,
        protect_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.max_size = max_size
        self.idle_ttl_s = idle_ttl_s
        self.max_lifetime_s = max_lifetime_s
        self.protect_s = protect_s
        self.clock = clock

        self.signal = ChangeSignal()
        self.lock = self.signal.lock
        #: Wakes the filler (a warm sandbox was taken, or capacity came free).
        self.fill_wake = threading.Event()
        #: Wakes the janitor (a sandbox waits in ``retiring``).
        self.janitor_wake = threading.Event()

        self.slots: dict[str, Slot] = {}
        self.idle: deque[Spare] = deque()
        self.retiring: list[Sandbox] = []
        self.lost: OrderedDict[str, LossReason] = OrderedDict()
        self.pins: dict[str, int] = {}  # key -> pin count (keys pinned now)
        self.capacity_queue: deque[object] = deque()  # new keys waiting, FIFO
        self.filling = 0  # creations by the filler under way
        self.creating = 0  # creations by leases under way
        self.in_hand = 0  # sandboxes the janitor or a lease is resetting or closing
        self.cold_leases = 0  # leases creating or warming up their own sandbox

        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.created = 0
        self.reused = 0
        self.evicted = 0
        self.replaced = 0
        self.failures = 0
        self.evicted_recent = 0
        self.wait_s_total = 0.0

    def notify_locked(self) -> None:
        """Wake every waiter (threads and coroutines) to re-check. Lock held."""
        self.signal.notify_locked()

    # -- who gets a sandbox ----------------------------------------------------------

    def claim_locked(
        self, key: str, token: object
    ) -> tuple[Slot | None, Spare | None, Slot | None]:
        """Decide how a lease of ``key`` proceeds.

        Returns:
            ``(slot, victim, waited)``: the key's slot, now leased by the caller, or
            ``None`` to wait; a sandbox taken from an evicted key, to reset for this
            one; the slot whose queue the caller waits in (``None`` when the caller
            waits for capacity).

        """
        slot = self.slots.get(key)
        queue = self.capacity_queue
        if slot is not None:
            if token in queue:  # another lease of the key made its slot meanwhile
                self.leave_capacity_queue_locked(token)
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
        claimed = self.take_capacity_locked(key)
        if claimed is None:
            if not queue:
                queue.append(token)
            return None, None, None
        self.leave_capacity_queue_locked(token)
        return claimed[0], claimed[1], None

    def take_capacity_locked(self, key: str) -> tuple[Slot, Spare | None] | None:
        """A new slot for ``key``: a warm sandbox, room to create one, or an evicted key.

        Only keys that are not leased, not waited for, not pinned and past their
        protection are evicted (the least recently used first).

        Returns:
            ``(slot, victim)``, the victim being an evicted key's sandbox to reset
            for this key; ``None`` when every sandbox is in use or protected.

        """
        if self.idle:
            spare = self.idle.popleft()
            slot = Slot(key, claimed=True)
            self.assign_locked(slot, spare.sandbox, spare.created_at)
            slot.warm = spare.warm
            slot.last_check = spare.last_check
            if not spare.fresh:
                self.reused += 1
            self.slots[key] = slot
            self.fill_wake.set()
            return slot, None
        if self.occupancy_locked() < self.max_size:
            slot = self.slots[key] = Slot(key, claimed=True)
            return slot, None
        now = self.clock()
        lru = min(
            (s for s in self.evictable_locked() if s.protect_until <= now),
            key=lambda s: s.last_used,
            default=None,
        )
        if lru is None or lru.sandbox is None:
            return None
        del self.slots[lru.key]
        self.count_eviction_locked(lru, now)
        if lru.uses:
            self.remember_loss_locked(lru.key, "evicted")
        slot = self.slots[key] = Slot(key, claimed=True)
        return slot, Spare(lru.sandbox, lru.created_at, fresh=False)

    def evictable_locked(self) -> Iterator[Slot]:
        """Slots that may be evicted once their protection ends."""
        for s in self.slots.values():
            if not s.claimed and not s.queue and s.sandbox is not None and s.key not in self.pins:
                yield s

    def protection_ends_locked(self) -> float | None:
        """The ``clock()`` time the first protected slot becomes evictable, if any."""
        return min((s.protect_until for s in self.evictable_locked()), default=None)

    def leave_capacity_queue_locked(self, token: object) -> None:
        """Take ``token`` out of the capacity queue; wake the next one in line."""
        queue = self.capacity_queue
        if queue and queue[0] is token:
            queue.popleft()
            if queue:
                self.notify_locked()
        else:
            with contextlib.suppress(ValueError):
                queue.remove(token)

    def occupancy_locked(self) -> int:
        """Sandboxes counted against ``max_size``, including those being made or closed."""
        return len(self.slots) + len(self.idle) + len(self.retiring) + self.filling + self.in_hand

    # -- pins --------------------------------------------------------------------------

    def pin_locked(self, key: str) -> None:
        """Count one more pin of ``key``."""
        self.pins[key] = self.pins.get(key, 0) + 1

    def unpin_locked(self, key: str) -> None:
        """Drop one pin of ``key``; after its last one the key may be evicted at once."""
        left = self.pins[key] - 1
        if left:
            self.pins[key] = left
            return
        del self.pins[key]
        slot = self.slots.get(key)
        if slot is not None:
            slot.protect_until = float("-inf")
        self.notify_locked()

    # -- a sandbox's life on its slot ------------------------------------------------

    def expiry_locked(
        self, created_at: float, last_used: float | None, now: float
    ) -> LossReason | None:
        """Why a sandbox made at ``created_at``, last used at ``last_used``, expired (or None)."""
        if self.max_lifetime_s is not None and now - created_at >= self.max_lifetime_s:
            return "max_lifetime"
        if (
            last_used is not None
            and self.idle_ttl_s is not None
            and now - last_used >= self.idle_ttl_s
        ):
            return "idle_ttl"
        return None

    def assign_locked(self, slot: Slot, sandbox: Sandbox, created_at: float) -> None:
        """Put ``sandbox`` on ``slot``; it holds no state of the key yet."""
        slot.sandbox = sandbox
        slot.created_at = created_at
        slot.last_check = self.clock()
        slot.uses = 0
        slot.warm = False
        slot.suspect = slot.loss_seen = False

    def detach_locked(self, slot: Slot, reason: LossReason | None) -> None:
        """Take a dead or expired sandbox off its slot, recording the loss."""
        if reason == "died":
            self.replaced += 1
        elif reason is not None:
            self.evicted += 1
        if reason is not None and slot.uses and not (reason == "died" and slot.loss_seen):
            self.remember_loss_locked(slot.key, reason)
        slot.sandbox = None
        slot.uses = 0
        slot.suspect = slot.loss_seen = False

    def drop_slot_locked(self, slot: Slot) -> None:
        """Forget the key; its sandbox goes to the janitor to be closed."""
        del self.slots[slot.key]
        if slot.sandbox is not None:
            self.retiring.append(slot.sandbox)
            slot.sandbox = None
        self.janitor_wake.set()

    def count_eviction_locked(self, slot: Slot, now: float) -> None:
        """Count an eviction (and whether the key was used recently)."""
        self.evicted += 1
        if slot.uses and now - slot.last_used < RECENT_USE_S:
            self.evicted_recent += 1

    def remember_loss_locked(self, key: str, reason: LossReason) -> None:
        """Remember that ``key`` lost its state, to tell its next lease (bounded memory)."""
        self.lost[key] = reason
        self.lost.move_to_end(key)
        while len(self.lost) > REMEMBERED_LOSSES:
            self.lost.popitem(last=False)

    # -- reports -----------------------------------------------------------------------

    def timeout_error_locked(
        self, key: str, wait_s: float, key_busy: bool, acquire_timeout: float
    ) -> Exception:
        """The error for a lease that waited ``wait_s`` seconds in vain, with the counts."""
        if key_busy:
            return SandboxTimeoutError(
                f"The sandbox of session {key!r} stayed in use by another call for more than "
                f"{wait_s:g} s. Calls of one session run one at a time: let the other call "
                "finish, raise acquire_timeout, or use a separate key for independent work."
            )
        leased = sum(1 for s in self.slots.values() if s.claimed)
        now = self.clock()
        idle = list(self.evictable_locked())
        pinned = sum(1 for s in self.slots.values() if not s.claimed and s.key in self.pins)
        protected = sum(1 for s in idle if s.protect_until > now)
        return PoolExhaustedError(
            f"No sandbox could be leased for session {key!r} within {wait_s:g} s: all "
            f"{self.max_size} sandboxes of the pool are in use ({leased} leased, "
            f"{pinned} pinned by running conversations, {protected} used in the last "
            f"{self.protect_s:g} s (protect_s), {self.filling + self.creating} being "
            f"created, {len(self.retiring) + self.in_hand} being closed; "
            f"{max(0, len(self.capacity_queue) - 1)} other sessions waiting). Raise "
            f"max_size (now {self.max_size}), raise acquire_timeout (now "
            f"{acquire_timeout:g} s), lower protect_s, or end sessions sooner: leave "
            "`with pool.session(...)` blocks promptly and call pool.discard(key) for "
            "finished conversations."
        )

    def stats_locked(self) -> PoolStats:
        """A snapshot of the counters and the lease latency."""
        assigned = sum(1 for s in self.slots.values() if s.sandbox is not None)
        leased = sum(1 for s in self.slots.values() if s.lease is not None)
        latencies = sorted(self.latencies)
        return PoolStats(
            live=assigned + len(self.idle) + len(self.retiring) + self.in_hand,
            idle=len(self.idle),
            leased=leased,
            created=self.created,
            reused=self.reused,
            evicted=self.evicted,
            evicted_recent=self.evicted_recent,
            replaced=self.replaced,
            failures=self.failures,
            acquire_p50_ms=percentile(latencies, 0.50),
            acquire_p95_ms=percentile(latencies, 0.95),
            pinned=len(self.pins),
            waiting=len(self.capacity_queue) + sum(len(x.queue) for x in self.slots.values()),
            wait_ms_total=self.wait_s_total * 1000.0,
        )
