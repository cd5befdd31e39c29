"""pandas and numpy objects as tables a model can read (stdlib only; runs in the sandbox).

A DataFrame or Series becomes a compact ``text/plain`` table (its shape, then head
and tail rows, numbers rounded by ``text.number``) within :data:`TEXT_BUDGET`
characters, plus a bounded ``text/html`` table for people. A numpy array becomes its
shape, dtype, edge items and, for numbers, min/max/mean. Nothing is imported here:
the objects' own modules are found in ``sys.modules``.
"""

from __future__ import annotations

import sys

from .text import cut_text, number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TEXT_BUDGET = 3_000
"""The longest table text: a model reads a few dozen rows, never a million."""

ROWS = 20
"""Rows shown at most (head and tail halves); fewer when the budget needs it."""

COLUMNS = 12
"""Columns shown at most (first and last halves)."""

HTML_ROWS = 60
"""Rows of the HTML table (pandas' own notebook default)."""

HTML_COLUMNS = 20
"""Columns of the HTML table."""

ARRAY_EDGE = 3
"""Items shown at each edge of every numpy dimension."""


def render(obj: Any) -> dict[str, str] | None:
    """The bundle of a DataFrame, Series or ndarray; ``None`` for anything else."""
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return _frame(obj, f"DataFrame: {obj.shape[0]} rows x {obj.shape[1]} columns")
        if isinstance(obj, pd.Series):
            name = "" if obj.name is None else f" {str(obj.name)!r}"
            return _frame(obj, f"Series{name}: {len(obj)} rows, dtype {obj.dtype}")
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"text/plain": _array(np, obj)}
    return None


def _frame(obj: Any, header: str) -> dict[str, str]:
    rows, cols = ROWS, COLUMNS
    text = header
    while True:
        try:
            body = obj.to_string(
                max_rows=rows, min_rows=rows, max_cols=cols, float_format=number, max_colwidth=40
            )
        except TypeError:  # a Series has no max_cols/max_colwidth
            body = obj.to_string(max_rows=rows, min_rows=rows, float_format=number)
        text = f"{header}\n{body}"
        if len(text) <= TEXT_BUDGET or (rows <= 4 and cols <= 2):
            break
        if rows > 4:
            rows //= 2
        else:
            cols = max(2, cols // 2)
    bundle = {"text/plain": cut_text(text, TEXT_BUDGET, "table")}
    frame = obj.to_frame() if not hasattr(obj, "columns") else obj
    try:
        bundle["text/html"] = frame.to_html(
            max_rows=HTML_ROWS, max_cols=HTML_COLUMNS, float_format=number
        )
    except Exception:
        pass
    return bundle


def _array(np: Any, arr: Any) -> str:
    header = f"ndarray shape {tuple(arr.shape)} dtype {arr.dtype}"
    if arr.dtype.kind in "iufb" and arr.size:
        try:
            values = arr.astype(float)
            header += (
                f"; min {number(float(np.nanmin(values)))}, max {number(float(np.nanmax(values)))}"
                f", mean {number(float(np.nanmean(values)))}"
            )
        except Exception:
            pass
    body = np.array2string(
        arr, threshold=100, edgeitems=ARRAY_EDGE, precision=6, max_line_width=100
    )
    return cut_text(f"{header}\n{body}", TEXT_BUDGET, "array")
