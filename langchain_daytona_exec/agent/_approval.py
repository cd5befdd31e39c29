"""Which tool calls wait for a human's approval, and how the decision is read."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.messages import ToolCall

__all__ = ["DEFAULT_APPROVE", "ApprovePolicy", "approval_policy", "parse_decision"]

DEFAULT_APPROVE = ("shell",)
"""Tools that ``approve=True`` pauses before: shell commands."""

ApprovePolicy = bool | Sequence[str] | Callable[[ToolCall], bool] | None
"""``True`` (shell commands), tool names, a predicate over a tool call, or ``None``."""


def approval_policy(approve: ApprovePolicy) -> Callable[[ToolCall], bool] | None:
    """The predicate over tool calls that ``approve=`` names (``None``: approve nothing)."""
    if approve is None or approve is False:
        return None
    if approve is True:
        names = frozenset(DEFAULT_APPROVE)
    elif callable(approve):
        return approve
    elif isinstance(approve, str):
        names = frozenset({approve})
    else:
        names = frozenset(approve)
    return lambda call: call["name"] in names


def parse_decision(decision: object) -> tuple[bool, str | None]:
    """Read the value an approval interrupt was resumed with.

    Accepted: ``True``/``False``, ``"approve"``/``"deny"`` (or yes/no), or
    ``{"approved": bool, "reason": str}``.

    Returns:
        Whether the calls are approved, and the user's reason, if any.
    """
    if isinstance(decision, dict):
        reason = decision.get("reason")
        return bool(decision.get("approved")), str(reason) if reason else None
    if isinstance(decision, str):
        return decision.strip().lower() in ("approve", "approved", "y", "yes", "ok"), None
    return bool(decision), None
