"""Text helpers shared by the runner's modules: cutting and rounding (stdlib only)."""

from __future__ import annotations


def cut_text(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters, the cut announced on a last line."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters of the {what} cut]"


def number(value: float) -> str:
    """A number rounded for reading.

    Integers stay whole, numbers from 1 up keep two decimals, smaller ones (and huge
    ones) four significant digits.
    """
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if 1 <= abs(value) < 1e15:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def is_number(text: str) -> bool:
    """Whether a tick label or index name reads as a number (Unicode minus, commas too)."""
    try:
        float(text.replace("\u2212", "-").replace(",", ""))
    except ValueError:
        return False
    return True
