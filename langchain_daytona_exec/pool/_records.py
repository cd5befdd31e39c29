"""Bookkeeping records of the pool (guarded by its lock) and small pure helpers."""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from langchain_daytona_exec.sandbox import Sandbox

if TYPE_CHECKING:
    from langchain_daytona_exec.pool._lease import PooledSandbox

logger = logging.getLogger("langchain_daytona_exec.pool")

LossReason = Literal["died", "idle_ttl", "evicted", "max_lifetime", "restored", "too_big"]
"""Why a key's previous sandbox is gone: it ``died`` (killed, crashed, stopped); it
was idle past ``idle_ttl_s``; it was ``evicted`` (least recently used) to make room
in a full pool; it reached ``max_lifetime_s``. With a ``persist_dir``: its files
were ``restored`` into a new sandbox (variables and imports are gone, files are
kept), or they were over the size kept between runs (``too_big``)."""

_LOSS_TEXT: dict[str, str] = {
    "died": "the sandbox stopped or crashed",
    "idle_ttl": "it was idle too long and was recycled",
    "evicted": "it was recycled to make room for other conversations",
    "max_lifetime": "it reached its maximum lifetime",
    "restored": "the sandbox was restarted; its files were kept",
    "too_big": "its files were over the size kept between runs",
}


def describe_loss(reason: LossReason | None) -> str:
    """Why a key's state is gone, in words for the model ("it was idle too long...")."""
    return _LOSS_TEXT.get(reason or "", "it was replaced")


STATE_LOST_NOTICE = (
    "[sandbox] Your previous sandbox state was lost ({reason}): variables, imports and "
    "files from earlier calls may be gone. Re-run your setup code before continuing."
)
"""Told on the first call after a key's sandbox was lost (``{reason}``: :func:`describe_loss`)."""

FILES_KEPT_NOTICE = (
    "[sandbox] Your sandbox was restarted since the last call; files in the working "
    "folder were kept, but variables and imports are gone. Re-run your setup code "
    "(imports, loading the data) before continuing."
)
"""Told on the first call after a kept workspace was restored (``persist_dir``)."""


def loss_notice(reason: LossReason | None) -> str:
    """What to tell the model on the first call after its state was lost.

    Used by the tools and the Deep Agents adapter, so the model reads the same words.

    Args:
        reason: The lease's ``lost_reason``.

    Returns:
        ``FILES_KEPT_NOTICE`` when a kept workspace was restored, else
        ``STATE_LOST_NOTICE`` with the reason in words.
    """
    if reason == "restored":
        return FILES_KEPT_NOTICE
    return STATE_LOST_NOTICE.format(reason=describe_loss(reason))


@dataclass(eq=False)
class Slot:
    """A key and its sandbox. Guarded by the pool's lock."""

    key: str
    sandbox: Sandbox | None = None
    #: An acquirer owns the key (the per-key lock): it is preparing a lease or
    #: its lease is out. At most one at a time; the others wait in ``queue``.
    claimed: bool = False
    #: The lease object handed out, while its ``with`` block runs.
    lease: PooledSandbox | None = None
    #: Tokens of acquirers waiting for this key, in arrival order.
    queue: deque[object] = field(default_factory=deque)
    #: ``clock()`` when the sandbox was created (for ``max_lifetime_s``).
    created_at: float = 0.0
    #: ``clock()`` at the end of the last lease (for LRU and ``idle_ttl_s``).
    last_used: float = 0.0
    #: ``clock()`` until which the key is not evicted for another (``protect_s``).
    protect_until: float = float("-inf")
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
class Spare:
    """A sandbox not assigned to any key (warm pool, or an evicted one in hand)."""

    sandbox: Sandbox
    created_at: float
    #: Never assigned to a key (handing out a non-fresh one counts as ``reused``).
    fresh: bool = True
    warm: bool = False
    last_check: float = float("-inf")


def close_quietly(sandbox: Sandbox) -> None:
    """Close a sandbox, logging instead of raising (cleanup paths)."""
    try:
        sandbox.close()
    except Exception:
        logger.warning("closing sandbox %s failed", getattr(sandbox, "id", "?"), exc_info=True)


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_ms:
        return 0.0
    rank = max(0, min(len(sorted_ms) - 1, math.ceil(q * len(sorted_ms)) - 1))
    return sorted_ms[rank]
