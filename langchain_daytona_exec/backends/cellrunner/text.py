"""Text helpers shared by the runner's modules: cutting and rounding (stdlib only)."""

from __future__ import annotations


def cut_text(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters, the cut announced on a last line."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters of the {what} cut]"


def number(value: float) -> str:
    """A number rounded for reading: six significant digits, integers as such."""
    value = float(value)
    if value != value:  # NaN
        return "nan"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
