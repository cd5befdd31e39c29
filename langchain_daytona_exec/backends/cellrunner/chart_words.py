"""A chart's data in words: what a model without vision reads (stdlib only).

:func:`describe` turns the ``data`` that :func:`.charts.extract` reads from a figure
into one to three lines, such as ``bar chart "Revenue by region": East 35065, North
31129``, capped at :data:`DESCRIPTION_MAX_CHARS`.
"""

from __future__ import annotations

import sys

from .text import cut_text, number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LISTED = 12
"""Values named in a description before "... and N more"."""

SERIES_DESCRIBED = 4
"""Series of a line or scatter chart named in its description."""

DESCRIPTION_MAX_CHARS = 600
"""The longest description (one to three lines for the model)."""


def _quoted(title: Any) -> str:
    return f' "{title}"' if title else ""


def _axes_note(data: dict[str, Any]) -> str:
    names = [f"{a}: {data[f'{a}_label']}" for a in ("x", "y") if data.get(f"{a}_label")]
    return f" ({', '.join(names)})" if names else ""


def _x(element: dict[str, Any], key: str, data: dict[str, Any]) -> str:
    """An x position of a series in words: its axis label (category, date), else x=N."""
    name = (element.get("x_names") or {}).get(key)
    if name:
        return str(name)
    value = element[key]
    if data.get("x_scale") == "datetime":
        dates = sys.modules.get("matplotlib.dates")
        if dates is not None:
            try:
                return str(dates.num2date(value).date())
            except Exception:
                pass
    return f"x={number(value)}"


def _group(element: dict[str, Any]) -> str:
    return f" [{element['group']}]" if element.get("group") else ""


def _more(shown: int, total: int, what: str) -> str:
    return f", ... and {total - shown} more {what}" if total > shown else ""


def describe(data: dict[str, Any]) -> str:
    """One to three lines a model without vision can reason with."""
    kind = data.get("kind") or "chart"
    text = _describe(kind, data)
    return cut_text(text, DESCRIPTION_MAX_CHARS, "description")


def _describe(kind: str, data: dict[str, Any]) -> str:
    head = {"box": "box plot", "histogram": "histogram", "image": "image"}.get(
        kind, f"{kind} chart"
    )
    head += _quoted(data.get("title"))
    elements = data.get("elements") or []
    if kind == "bar":
        grouped = len({e.get("group") for e in elements}) > 1
        shown = elements[:LISTED]
        items = ", ".join(
            f"{e['label']}{_group(e) if grouped else ''} {number(e['value'])}" for e in shown
        )
        total = len(elements) + data.get("elements_omitted", 0)
        extremes = ""
        if total > len(shown):
            top = max(elements, key=lambda e: e["value"])
            low = min(elements, key=lambda e: e["value"])
            extremes = (
                f"; highest {top['label']}{_group(top) if grouped else ''} "
                f"{number(top['value'])}, lowest {low['label']}"
                f"{_group(low) if grouped else ''} {number(low['value'])}"
            )
        more = _more(len(shown), total, "bars")
        return f"{head}{_axes_note(data)}: {items}{more}{extremes}"
    if kind == "histogram":
        if not elements:
            return f"{head}: empty"
        tallest = max(elements, key=lambda e: e["value"])
        lo = min(e["bin_start"] for e in elements)
        hi = max(e["bin_end"] for e in elements)
        return (
            f"{head}{_axes_note(data)}: {number(data.get('total', 0))} values in "
            f"{data.get('n_bins', len(elements))} bins over {number(lo)} to {number(hi)}; "
            f"tallest bin {tallest['label']} ({number(tallest['value'])})"
        )
    if kind == "pie":
        shown = elements[:LISTED]
        items = ", ".join(f"{e['label']} {e['fraction'] * 100:.1f}%" for e in shown)
        return f"{head}: {items}{_more(len(shown), len(elements), 'slices')}"
    if kind == "box":
        items = "; ".join(
            f"{e.get('label') or 'box'} median {number(e['median'])} (Q1 "
            f"{number(e['first_quartile'])}, Q3 {number(e['third_quartile'])}, whiskers "
            f"{number(e['min'])} to {number(e['max'])}, {e.get('n_outliers', 0)} outliers)"
            for e in elements[:LISTED]
        )
        total = len(elements) + data.get("series_omitted", 0)
        more = _more(min(len(elements), LISTED), total, "boxes")
        return f"{head}{_axes_note(data)}: {items}{more}"
    if kind in ("line", "scatter"):
        total = len(elements) + data.get("series_omitted", 0)
        span = ""
        if kind == "line" and elements and elements[0].get("n_points"):
            first = elements[0]
            start, end = _x(first, "x_min", data), _x(first, "x_max", data)
            if start.startswith("x=") and end.startswith("x="):
                span = f"x {start[2:]} to {end[2:]}"
            else:
                span = f"{start} to {end}"
        parts = []
        for i, e in enumerate(elements[:SERIES_DESCRIBED]):
            name = e.get("label") or f"series {i + 1}"
            name = "" if total == 1 and not e.get("label") else f"{name}: "
            if not e.get("n_points"):
                parts.append(f"{name}no points")
            elif kind == "line":
                over = f" over {span}" if total == 1 and span else ""
                parts.append(
                    f"{name}{number(e['y_first'])} -> {number(e['y_last'])}{over} (min "
                    f"{number(e['y_min'])} at {_x(e, 'x_at_y_min', data)}, max "
                    f"{number(e['y_max'])} at {_x(e, 'x_at_y_max', data)})"
                )
            else:
                corr = f", correlation {e['correlation']:.2f}" if "correlation" in e else ""
                low, high = (_x(e, k, data).removeprefix("x=") for k in ("x_min", "x_max"))
                parts.append(
                    f"{name}{e['n_points']} points, x {low} to {high}, "
                    f"y {number(e['y_min'])} to {number(e['y_max'])}{corr}"
                )
        series = ""
        if total > 1:
            series = f"{total} series over {span}; " if span else f"{total} series; "
        more = _more(min(SERIES_DESCRIBED, len(elements)), total, "series")
        return f"{head}{_axes_note(data)}: {series}{'; '.join(parts)}{more}"
    if kind == "image":
        shape = data.get("image_shape")
        if not shape or len(shape) < 2:
            return f"figure{_quoted(data.get('title'))}: nothing plotted"
        return f"{head}: {shape[1]}x{shape[0]} pixels"
    if kind == "composite":
        share = max(120, DESCRIPTION_MAX_CHARS // max(1, len(elements)))
        subs = []
        for i, sub in enumerate(elements):
            text = _describe(sub.get("kind", "chart"), sub)
            subs.append(f"[{i + 1}] {text if len(text) <= share else text[: share - 3] + '...'}")
        return f"composite chart{_quoted(data.get('title'))} with {len(elements)} panels: " + (
            "; ".join(subs)
        )
    return head
