"""Source of the two files ``code-run`` puts in a sandbox to return matplotlib charts.

Daytona's ``process.code_run`` answers with ``artifacts.charts``: each matplotlib figure
the code showed (``plt.show()``) or left open, as a PNG plus its data (type, title, axis
labels and ticks, and elements: points of lines and scatters, bars, pie wedges). The
runner executes the user's script as ``__main__`` with a matplotlib backend whose
``show()`` records the figures, then writes the charts as JSON for the emulator.
These files run INSIDE the sandbox: standard library and matplotlib only.
"""

from __future__ import annotations

__all__ = ["BACKEND_MODULE", "BACKEND_SOURCE", "RUNNER_SOURCE"]

BACKEND_MODULE = "ldx_emu_mpl"
"""Module name of the backend (the runner's folder is on ``sys.path``)."""

BACKEND_SOURCE = r'''
"""matplotlib backend of the Daytona emulator's code-run: show() records figures."""
import base64
import io
import math

from matplotlib.backend_bases import FigureManagerBase as FigureManager  # noqa: F401
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas  # noqa: F401

CHARTS = []


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _points(xy):
    out = []
    for x, y in xy:
        fx, fy = _num(x), _num(y)
        if fx is not None and fy is not None:
            out.append([fx, fy])
    return out


def _axes(ax):
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer
    from matplotlib.patches import Wedge

    chart = {
        "title": ax.get_title() or None,
        "x_label": ax.get_xlabel() or None,
        "y_label": ax.get_ylabel() or None,
    }
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xydata())]
    if wedges:
        texts = [t.get_text() for t in ax.texts]
        chart["type"] = "pie"
        chart["elements"] = [
            {
                "label": w.get_label() if not w.get_label().startswith("_")
                else (texts[i] if i < len(texts) else str(i)),
                "angle": _num(w.theta2 - w.theta1),
                "radius": _num(w.r),
            }
            for i, w in enumerate(wedges)
        ]
        return chart
    ticks = {round(float(t), 6): lab.get_text() for t, lab in
             zip(ax.get_xticks(), ax.get_xticklabels())}
    if bars:
        chart["type"] = "bar"
        elements = []
        for c in bars:
            group = c.get_label() if c.get_label() and not c.get_label().startswith("_") else ""
            for rect in c.patches:
                center = round(rect.get_x() + rect.get_width() / 2, 6)
                elements.append({
                    "label": ticks.get(center, str(_num(center))),
                    "value": str(_num(rect.get_height())),
                    "group": group,
                })
        chart["elements"] = elements
        return chart
    if lines or scatters:
        chart["type"] = "line" if lines and not scatters else "scatter"
        elements = []
        for ln in lines:
            label = ln.get_label()
            elements.append({"label": "" if label.startswith("_") else label,
                             "points": _points(ln.get_xydata())})
        for sc in scatters:
            label = sc.get_label()
            elements.append({"label": "" if label.startswith("_") else label,
                             "points": _points(sc.get_offsets())})
        chart["elements"] = elements
        chart["x_scale"] = ax.get_xscale()
        chart["y_scale"] = ax.get_yscale()
        chart["x_ticks"] = [v for v in (_num(t) for t in ax.get_xticks()) if v is not None]
        chart["x_tick_labels"] = [t.get_text() for t in ax.get_xticklabels()]
        chart["y_ticks"] = [v for v in (_num(t) for t in ax.get_yticks()) if v is not None]
        chart["y_tick_labels"] = [t.get_text() for t in ax.get_yticklabels()]
        return chart
    chart["type"] = "unknown"
    chart["elements"] = []
    return chart


def describe(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode()
    axes = [ax for ax in fig.axes if ax.has_data()]
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else None
    if len(axes) == 1:
        chart = _axes(axes[0])
        chart["title"] = chart.get("title") or title
    elif axes:
        chart = {"type": "composite_chart", "title": title, "elements": [_axes(a) for a in axes]}
    else:
        chart = {"type": "unknown", "title": title, "elements": []}
    chart["png"] = png
    return {k: v for k, v in chart.items() if v is not None}


def capture_all():
    import matplotlib.pyplot as plt

    for num in plt.get_fignums():
        try:
            CHARTS.append(describe(plt.figure(num)))
        except Exception as exc:  # a broken figure must not hide the others
            import sys
            print(f"[emulator] could not save a figure: {exc!r}", file=sys.stderr)
    plt.close("all")


def show(*args, **kwargs):
    capture_all()
'''

RUNNER_SOURCE = r'''
"""Run a script as __main__ and write the matplotlib charts it made as JSON."""
import json
import os
import runpy
import sys
import traceback

out_path, script = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(os.path.abspath(script))
sys.path.append(here)
os.environ["MPLBACKEND"] = "module://BACKEND"
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if not isinstance(exc.code, (int, type(None))):
        print(exc.code, file=sys.stderr)
except BaseException as exc:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
    code = 1
charts = []
if "matplotlib.pyplot" in sys.modules:
    try:
        backend = sys.modules.get("BACKEND")
        if backend is None:
            import BACKEND as backend
        backend.capture_all()
        charts = backend.CHARTS
    except Exception as exc:
        print(f"[emulator] could not collect charts: {exc!r}", file=sys.stderr)
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except Exception:
        pass
with open(out_path, "w") as fh:
    json.dump(charts, fh)
os._exit(code)
'''.replace("BACKEND", BACKEND_MODULE)
