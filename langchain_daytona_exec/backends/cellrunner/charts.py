"""Matplotlib figures as chart data and words a model can reason with (stdlib only).

:func:`extract` reads a figure that has been drawn (saved) and returns its ``kind``
(line, bar, scatter, pie, histogram, box, image or composite), its ``title``, its
``data`` in the shape of Daytona's charts (``type``, ``title``, ``x_label``...,
``elements``; :func:`to_daytona` gives the exact wire form) and a ``description``
such as ``bar chart "Revenue by region": East 35065, North 31129``.

Histograms and box plots cannot be told apart from bars and lines once drawn, so
:mod:`.hooks` tags what ``Axes.hist`` and ``Axes.bxp`` draw; this module reads the
tags. An x value is named as the axis shows it: a text index by its name, a date by
its date (and time, if any: the ticks' text is too coarse), and a period pandas plots
as its ordinal (a ``PeriodIndex``, or a regular ``DatetimeIndex``) as that period,
``2026-04``; what cannot be named stays a number.
Series are capped at :data:`MAX_POINTS` points (evenly sampled, with a summary
of all of them), charts at :data:`MAX_SERIES` series and :data:`MAX_ELEMENTS` bars.
"""

from __future__ import annotations

import sys

from .chart_words import describe
from .text import is_number, number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_POINTS = 100
"""Points kept per series (evenly sampled); the summary covers every point."""

MAX_SERIES = 10
"""Series (lines, scatter sets, boxes) kept per chart; the rest are counted."""

MAX_ELEMENTS = 100
"""Bars, bins or wedges kept per chart; the rest are counted."""

MAX_TICKS = 30
"""Ticks kept per axis."""

DAYTONA_TYPES = {
    "line": "line",
    "scatter": "scatter",
    "bar": "bar",
    "histogram": "bar",
    "pie": "pie",
    "box": "box_and_whisker",
    "composite": "composite_chart",
    "image": "unknown",
}
"""Our kinds and the chart ``type`` Daytona's SDK knows them by."""

HIST_TAG = "_ldx_hist"
"""Attribute ``hooks`` sets on an Axes (list of histograms) and on their bar patches."""

BOX_TAG = "_ldx_box"
"""Attribute ``hooks`` sets on an Axes (list of box stats) and on the boxes' artists."""

X_NAMES_TAG = "_ldx_x_names"
"""Attribute ``hooks`` sets on an Axes pandas drew a text index on: the name at each
position 0..n-1 (pandas plots such an index at positions and labels only some ticks)."""

MAX_X_NAMES = 10_000
"""Index names kept per Axes (a position past them is described as ``x=N``)."""

X_NAME_CHARS = 80
"""Each kept index name is cut to this many characters."""

PERIOD_FORMATTER = "TimeSeries_DateFormatter"
"""Class name of the formatter pandas puts on an axis it plots as period ordinals (a
``PeriodIndex``, or a ``DatetimeIndex`` with a regular frequency): ``x`` there is the
ordinal of a period of the formatter's ``freq``, not a number a reader knows."""

BAR_REACH = 0.5
"""How far from a period's ordinal a bar's centre may sit and still be that period's
(pandas offsets grouped bars by less than half a step)."""


def _label(artist: Any) -> str | None:
    label = artist.get_label()
    return None if not label or str(label).startswith("_") else str(label)


def _ticks(axis: Any) -> tuple[list[float], list[str]]:
    ticks = [float(t) for t in axis.get_ticklocs()][:MAX_TICKS]
    labels = [t.get_text() for t in axis.get_ticklabels()][:MAX_TICKS]
    return ticks, labels


def _axes_fields(ax: Any) -> dict[str, Any]:
    x_ticks, x_tick_labels = _ticks(ax.xaxis)
    y_ticks, y_tick_labels = _ticks(ax.yaxis)
    fields: dict[str, Any] = {
        "x_label": ax.get_xlabel() or None,
        "y_label": ax.get_ylabel() or None,
        "x_ticks": x_ticks,
        "x_tick_labels": x_tick_labels,
        "y_ticks": y_ticks,
        "y_tick_labels": y_tick_labels,
        "x_scale": _scale(ax.xaxis, ax.get_xscale()),
        "y_scale": _scale(ax.yaxis, ax.get_yscale()),
    }
    return fields


def _scale(axis: Any, scale: str) -> str:
    dates = sys.modules.get("matplotlib.dates")
    if dates is not None and isinstance(axis.get_major_formatter(), _date_formatters(dates)):
        return "datetime"
    return str(scale)


def _date_formatters(dates: Any) -> tuple[type, ...]:
    return tuple(
        getattr(dates, name)
        for name in ("DateFormatter", "AutoDateFormatter", "ConciseDateFormatter")
        if hasattr(dates, name)
    )


def _period_formatter(axis: Any) -> Any:
    """The axis's formatter when pandas plots periods on it (see :data:`PERIOD_FORMATTER`)."""
    fmt = axis.get_major_formatter()
    is_period = any(cls.__name__ == PERIOD_FORMATTER for cls in type(fmt).__mro__)
    return fmt if is_period and getattr(fmt, "freq", None) is not None else None


def _period_name(fmt: Any, position: float, reach: float) -> str | None:
    """The period at ``position`` on an axis formatted by ``fmt``, e.g. ``2026-04``.

    ``position`` counts when it lies within ``reach`` of a period's ordinal; otherwise,
    or when pandas cannot name it, None (the caller falls back to the number).
    """
    import warnings  # here, not at the top: the kernel imports this module at its start

    pandas = sys.modules.get("pandas")
    try:
        ordinal = round(float(position))
        if pandas is None or abs(float(position) - ordinal) > reach:
            return None
        with warnings.catch_warnings():  # pandas deprecates business-day periods
            warnings.simplefilter("ignore")
            return str(pandas.Period(ordinal=ordinal, freq=fmt.freq))[:X_NAME_CHARS] or None
    except Exception:
        return None


def _date_name(fmt: Any, value: float) -> str | None:
    """The date at ``value`` on a date axis: ``2026-01-03``, ``2026-01-03 14:30``.

    With its time (to the millisecond) when it has one, in the formatter's time zone.
    Not the formatter's own text: that is cut to the tick spacing (``2026-01`` for a
    point on January 3rd, ``01-03 14`` without the year).
    """
    import datetime  # here, not at the top: ~1 ms of every sandbox's start otherwise

    dates = sys.modules.get("matplotlib.dates")
    if dates is None:
        return None
    try:
        tz = getattr(fmt, "tz", None) or getattr(fmt, "_tz", None)
        when: datetime.datetime = dates.num2date(value, tz=tz)
        millis = round(when.microsecond / 1000)
        when = when.replace(microsecond=0) + datetime.timedelta(milliseconds=millis)
    except Exception:  # out of the calendar's range, a broken formatter...
        return None
    if not (when.hour or when.minute or when.second or millis):
        return when.strftime("%Y-%m-%d")
    text = when.strftime("%Y-%m-%d %H:%M")
    if when.second or millis:
        text += f":{when.second:02d}" + (f".{millis:03d}" if millis else "")
    return text


def _time_name(axis: Any, position: float, reach: float) -> str | None:
    """The period or date at ``position`` on a time axis (see :func:`_is_time_axis`).

    None when it cannot be named: the number then stands.
    """
    period = _period_formatter(axis)
    if period is not None:
        return _period_name(period, position, reach)
    return _date_name(axis.get_major_formatter(), position)


def _is_time_axis(axis: Any) -> bool:
    """True for pandas' period axes and matplotlib's date axes.

    Their ticks are too few and too coarse to name a point by: a point is named by its
    own value instead.
    """
    return _period_formatter(axis) is not None or _scale(axis, "") == "datetime"


def _bar_name(ax: Any, axis: str, position: float) -> str:
    """What a bar centred at ``position`` on ``axis`` ("x"/"y") stands for."""
    side = ax.xaxis if axis == "x" else ax.yaxis
    if _is_time_axis(side):
        return _time_name(side, position, BAR_REACH) or number(position)
    return _tick_name(ax, axis, position)


def _tick_name(ax: Any, axis: str, position: float) -> str:
    """The label of the tick nearest ``position`` on ``axis`` ("x"/"y"), else the number.

    Grouped bars sit beside their category's tick: the nearest labelled tick counts
    when it is closer than half the distance between ticks.
    """
    ticks, labels = _ticks(ax.xaxis if axis == "x" else ax.yaxis)
    named = [(t, labels[i]) for i, t in enumerate(ticks) if i < len(labels) and labels[i]]
    if not named:
        return number(position)
    gaps = [ticks[i + 1] - ticks[i] for i in range(len(ticks) - 1) if ticks[i + 1] > ticks[i]]
    reach = min(gaps) / 2 if gaps else 0.5
    tick, label = min(named, key=lambda pair: abs(pair[0] - position))
    return label if abs(tick - position) <= reach * (1 + 1e-9) else number(position)


def _series(np: Any, xy: Any, label: str | None) -> dict[str, Any]:
    """One line or scatter set: sampled points plus a summary of all of them."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    finite = xy[np.isfinite(xy).all(axis=1)]
    n = len(finite)
    element: dict[str, Any] = {"label": label, "n_points": n}
    if n > MAX_POINTS:
        picks = np.linspace(0, n - 1, MAX_POINTS).round().astype(int)
        element["points"] = finite[picks].tolist()
        element["points_sampled"] = True
    else:
        element["points"] = finite.tolist()
    if n:
        xs, ys = finite[:, 0], finite[:, 1]
        element.update(
            x_min=float(xs.min()),
            x_max=float(xs.max()),
            y_min=float(ys.min()),
            y_max=float(ys.max()),
            y_mean=float(ys.mean()),
            y_first=float(ys[0]),
            y_last=float(ys[-1]),
            x_at_y_min=float(xs[ys.argmin()]),
            x_at_y_max=float(xs[ys.argmax()]),
        )
        if n > 2 and float(xs.std()) > 0 and float(ys.std()) > 0:
            element["correlation"] = float(np.corrcoef(xs, ys)[0, 1])
    return element


X_KEYS = ("x_min", "x_max", "x_at_y_min", "x_at_y_max")
"""The x positions a series summary names (each gets a label when the axis has one)."""


def _x_name(ax: Any, value: float) -> str | None:
    """What the x axis shows at ``value`` (a category, a date, a period), if not a number."""
    import matplotlib.ticker as mticker

    names = ax.__dict__.get(X_NAMES_TAG)
    if names and float(value).is_integer() and 0 <= int(value) < len(names):
        return str(names[int(value)]) or None
    if _is_time_axis(ax.xaxis):
        return _time_name(ax.xaxis, value, 0.0)
    fmt = ax.xaxis.get_major_formatter()
    if isinstance(fmt, (mticker.ScalarFormatter, mticker.LogFormatter)):
        return None
    try:
        if isinstance(fmt, mticker.FixedFormatter):  # labels only at the ticks
            text = _tick_name(ax, "x", value)
        else:
            text = str(fmt(value))
    except Exception:
        return None
    text = text.strip()
    return text if text and not is_number(text) else None


def _name_xs(ax: Any, element: dict[str, Any]) -> None:
    names = {k: _x_name(ax, element[k]) for k in X_KEYS if k in element}
    names = {k: v for k, v in names.items() if v}
    if names:
        element["x_names"] = names


def _capped(items: list[Any], limit: int, data: dict[str, Any], key: str) -> list[Any]:
    if len(items) > limit:
        data[key] = len(items) - limit
    return items[:limit]


def _axes_parts(np: Any, ax: Any) -> list[tuple[str, dict[str, Any]]]:
    """The charts one Axes holds, as (kind, data) pairs; empty for an empty Axes."""
    import matplotlib.collections as mcoll
    import matplotlib.container as mcontainer
    import matplotlib.image as mimage
    import matplotlib.patches as mpatches

    parts: list[tuple[str, dict[str, Any]]] = []
    title = ax.get_title() or None

    wedges = [p for p in ax.patches if isinstance(p, mpatches.Wedge)]
    if wedges:
        data: dict[str, Any] = {"title": title}
        data["elements"] = [
            {
                "label": _label(w) or f"slice {i + 1}",
                "angle": float(w.theta2 - w.theta1),
                "radius": float(w.r),
                "fraction": float(w.theta2 - w.theta1) / 360.0,
            }
            for i, w in enumerate(_capped(wedges, MAX_ELEMENTS, {}, ""))
        ]
        parts.append(("pie", data))

    boxes = getattr(ax, BOX_TAG, None)
    if boxes:
        data = {"title": title, **_axes_fields(ax)}
        data["elements"] = _capped(list(boxes), MAX_SERIES, data, "series_omitted")
        parts.append(("box", data))

    hists = getattr(ax, HIST_TAG, None)
    if hists:
        data = {"title": title, **_axes_fields(ax)}
        elements = []
        for label, counts, edges in hists[:MAX_SERIES]:
            for i, count in enumerate(counts):
                elements.append(
                    {
                        "label": f"{number(edges[i])} to {number(edges[i + 1])}",
                        "value": float(count),
                        "group": label,
                        "bin_start": float(edges[i]),
                        "bin_end": float(edges[i + 1]),
                    }
                )
        data["n_bins"] = sum(len(h[1]) for h in hists)
        data["total"] = float(sum(sum(h[1]) for h in hists))
        data["elements"] = _capped(elements, MAX_ELEMENTS, data, "elements_omitted")
        parts.append(("histogram", data))

    bars = []
    for container in ax.containers:
        if not isinstance(container, mcontainer.BarContainer):
            continue
        rects = [r for r in container.patches if not getattr(r, HIST_TAG, False)]
        horizontal = getattr(container, "orientation", "vertical") == "horizontal"
        group = _label(container)
        for r in rects:
            if horizontal:
                pos, value, axis = r.get_y() + r.get_height() / 2, r.get_width(), "y"
            else:
                pos, value, axis = r.get_x() + r.get_width() / 2, r.get_height(), "x"
            bars.append((pos, axis, {"value": float(value), "group": group}))
    if bars:
        data = {"title": title, **_axes_fields(ax)}
        data["elements"] = [  # only the kept bars are named
            {"label": _bar_name(ax, axis, pos), **bar}
            for pos, axis, bar in _capped(bars, MAX_ELEMENTS, data, "elements_omitted")
        ]
        parts.append(("bar", data))

    scatters = [
        c
        for c in ax.collections
        if isinstance(c, mcoll.PathCollection) and np.shape(c.get_offsets())[0] > 0
    ]
    if scatters:
        parts.append(("scatter", _series_part(np, ax, title, scatters, "get_offsets")))

    lines = [
        line
        for line in ax.lines
        if not getattr(line, BOX_TAG, False) and len(line.get_xydata()) > 1
    ]
    if lines:
        parts.append(("line", _series_part(np, ax, title, lines, "get_xydata")))

    images = [im for im in ax.images if isinstance(im, mimage.AxesImage)]
    if images:
        shape = list(np.shape(images[0].get_array()))
        parts.append(("image", {"title": title, "elements": [], "image_shape": shape}))
    return parts


def _series_part(np: Any, ax: Any, title: Any, artists: list[Any], points: str) -> dict[str, Any]:
    """A scatter or line part: one series per artist (capped), x values named by ticks.

    ``points`` is the artist's method returning its (x, y) pairs.
    """
    data: dict[str, Any] = {"title": title, **_axes_fields(ax)}
    data["elements"] = [
        _series(np, getattr(artist, points)(), _label(artist))
        for artist in _capped(artists, MAX_SERIES, data, "series_omitted")
    ]
    for element in data["elements"]:
        _name_xs(ax, element)
    return data


def extract(fig: Any) -> dict[str, Any]:
    """Kind, title, data and description of a drawn figure.

    Args:
        fig: A matplotlib ``Figure`` that has been drawn (for example saved as PNG),
            so that its tick labels exist.

    Returns:
        ``{"kind", "title", "data", "description"}``.
    """
    import numpy as np

    suptitle = getattr(fig, "_suptitle", None)
    fig_title = suptitle.get_text() if suptitle is not None else None
    parts: list[tuple[str, dict[str, Any]]] = []
    for ax in fig.axes:
        if getattr(ax, "_colorbar", None) is not None:
            continue
        parts.extend(_axes_parts(np, ax))
    if len(parts) == 1:
        kind, data = parts[0]
        title = fig_title or data.get("title")
        data["title"] = title
    elif parts:
        kind = "composite"
        title = fig_title or next((d["title"] for _, d in parts if d.get("title")), None)
        data = {"title": title, "elements": []}
        for sub_kind, sub in _capped(parts, MAX_SERIES, data, "series_omitted"):
            sub["type"] = DAYTONA_TYPES[sub_kind]
            sub["kind"] = sub_kind
            data["elements"].append(sub)
    else:
        kind, title, data = "image", fig_title, {"title": fig_title, "elements": []}
    data["type"] = DAYTONA_TYPES[kind]
    data["kind"] = kind
    return {"kind": kind, "title": title or None, "data": data, "description": describe(data)}


def to_daytona(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` in the exact wire form of Daytona's ``Chart`` (for ``code-run`` replies).

    Daytona's SDK validates strictly: bar values are strings and points are numbers.
    Our extra summary fields travel as additional properties.
    """
    out = dict(data)
    elements = []
    for element in data.get("elements") or []:
        element = dict(element)
        if "type" in element:  # a composite's sub-chart
            element = to_daytona(element)
        elif data.get("type") == "bar" and "value" in element:
            element["value"] = number(element["value"])
        elements.append(element)
    out["elements"] = elements
    return out
