"""Patches applied to matplotlib and IPython when they are imported (stdlib only).

* ``matplotlib.pyplot.show`` shows the open figures as display outputs, in order,
  and closes them, as a notebook does (on Agg it would do nothing).
* ``Axes.hist`` and ``Axes.bxp`` tag what they draw, so that :mod:`.charts` can
  tell a histogram from bars and a box plot from lines.
* ``IPython.display.display`` becomes our ``display`` (without a running IPython
  shell it would only ``print``).
* ``DataFrame.plot``/``Series.plot`` (pandas' ``PlotAccessor``) keep the names of a
  text index on the Axes: pandas draws such an index at positions 0..n-1 and labels
  only some ticks, so :mod:`.charts` could not otherwise name every point's x.

A module imported before :func:`install` is patched at once; a later import is
patched right after it loads, by a finder at the front of ``sys.meta_path``. The
latest install wins: a patch replaces an earlier one instead of wrapping it.
"""

from __future__ import annotations

import sys

from .charts import (
    BOX_TAG,
    HIST_TAG,
    MAX_POINTS,
    MAX_SERIES,
    MAX_X_NAMES,
    X_NAME_CHARS,
    X_NAMES_TAG,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ORIGINAL = "_ldx_original"
"""Attribute of a patched function holding the function it replaced."""


def _replace(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    current = getattr(owner, name, None)
    if current is None:
        return
    original = getattr(current, ORIGINAL, current)
    patched = make(original)
    setattr(patched, ORIGINAL, original)
    for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(patched, attr, getattr(original, attr))
        except (AttributeError, TypeError):
            pass
    setattr(owner, name, patched)


def _patch_axes(module: Any) -> None:
    axes_cls = getattr(module, "Axes", None)
    if axes_cls is None:
        return

    def make_hist(original: Any) -> Any:
        def hist(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, x, *args, **kwargs)
            try:
                _tag_hist(self, out, kwargs.get("label"))
            except Exception:
                pass
            return out

        return hist

    def make_bxp(original: Any) -> Any:
        def bxp(self: Any, bxpstats: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, bxpstats, *args, **kwargs)
            try:
                _tag_box(self, bxpstats, out)
            except Exception:
                pass
            return out

        return bxp

    _replace(axes_cls, "hist", make_hist)
    _replace(axes_cls, "bxp", make_bxp)


def _tag_hist(ax: Any, out: Any, label: Any) -> None:
    counts, edges, patches = out
    containers = patches if isinstance(patches, list) else [patches]
    counts_list = counts if getattr(counts, "ndim", 1) > 1 or isinstance(counts, list) else [counts]
    labels = label if isinstance(label, (list, tuple)) else [label] * len(containers)
    found = ax.__dict__.setdefault(HIST_TAG, [])
    for i, container in enumerate(containers):
        for patch in getattr(container, "patches", container):
            setattr(patch, HIST_TAG, True)
        if i < len(counts_list) and len(found) < MAX_SERIES:
            name = labels[i] if i < len(labels) else None
            found.append(
                (
                    None if name is None else str(name),
                    [float(c) for c in counts_list[i]],
                    [float(e) for e in edges],
                )
            )


def _tag_box(ax: Any, stats: Any, artists: Any) -> None:
    for group in artists.values():
        for artist in group:
            setattr(artist, BOX_TAG, True)
    found = ax.__dict__.setdefault(BOX_TAG, [])
    for i, s in enumerate(stats):
        fliers = [float(v) for v in s.get("fliers", [])]
        found.append(
            {
                "label": str(s.get("label", "") or f"box {i + 1}"),
                "min": float(s["whislo"]),
                "first_quartile": float(s["q1"]),
                "median": float(s["med"]),
                "third_quartile": float(s["q3"]),
                "max": float(s["whishi"]),
                "outliers": fliers[:MAX_POINTS],
                "n_outliers": len(fliers),
            }
        )


_POSITIONAL_INDEX_TYPES = ("string", "mixed", "categorical", "boolean", "mixed-integer")
"""``Index.inferred_type`` values pandas plots at positions 0..n-1 (numbers and dates are
plotted at their values; periods at their ordinals, which :mod:`.charts` names through
the axis's pandas formatter)."""


def _patch_pandas(module: Any) -> None:
    accessor = getattr(module, "PlotAccessor", None)
    if accessor is None:
        return

    def make(original: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            try:
                _tag_x_names(self, out, args, kwargs)
            except Exception:
                pass
            return out

        return call

    _replace(accessor, "__call__", make)


def _tag_x_names(accessor: Any, out: Any, args: Any, kwargs: Any) -> None:
    """Keep the x names of a pandas plot drawn at positions (index or ``x=`` column)."""
    if args or kwargs.get("use_index") is False:  # positional forms: not worth guessing
        return
    parent: Any = getattr(accessor, "_parent", None)
    if parent is None:
        return
    x = kwargs.get("x")
    values = parent.index if x is None else parent[x]
    index = sys.modules["pandas"].Index(values[:MAX_X_NAMES])
    if index.inferred_type not in _POSITIONAL_INDEX_TYPES:
        return
    names = [str(v)[:X_NAME_CHARS] for v in index]
    for ax in getattr(out, "flat", [out]):
        if hasattr(ax, "xaxis"):
            ax.__dict__[X_NAMES_TAG] = names


class Hooks:
    """Installs the patches, calling back into the runner that installed them.

    Args:
        show: Called by ``pyplot.show()``: display the open figures and close them.
        display: The runner's ``display`` function.
    """

    def __init__(self, show: Callable[[], None], display: Callable[..., None]) -> None:
        self.show = show
        self.display = display
        self.patches: dict[str, Callable[[Any], None]] = {
            "matplotlib.pyplot": self._patch_pyplot,
            "matplotlib.axes._axes": _patch_axes,
            "IPython.core.display_functions": self._patch_ipython,
            "IPython.display": self._patch_ipython,
            "pandas.plotting._core": _patch_pandas,
        }
        self._busy = False

    def install(self) -> None:
        """Patch what is loaded, and put the finder first for what is not."""
        for name, patch in self.patches.items():
            module = sys.modules.get(name)
            if module is not None:
                patch(module)
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Hooks"]
        sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        """Remove the finder and restore every patched function (for tests and reuse)."""
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        targets = {
            "matplotlib.pyplot": ["show"],
            "matplotlib.axes._axes": ["hist", "bxp"],
            "IPython.core.display_functions": ["display"],
            "IPython.display": ["display"],
            "pandas.plotting._core": ["__call__"],
        }
        owners = {"matplotlib.axes._axes": "Axes", "pandas.plotting._core": "PlotAccessor"}
        for name, attrs in targets.items():
            module = sys.modules.get(name)
            owner = getattr(module, owners[name], None) if name in owners else module
            for attr in attrs if owner is not None else []:
                original = getattr(getattr(owner, attr, None), ORIGINAL, None)
                if original is not None:
                    setattr(owner, attr, original)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """Find ``name`` with the other finders; wrap its loader when we patch it."""
        patch = self.patches.get(name)
        if patch is None or self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy = False
        loader: Any = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            try:
                patch(module)
            except Exception:
                pass

        loader.exec_module = exec_module
        return spec

    def _patch_pyplot(self, module: Any) -> None:
        _replace(module, "show", lambda original: lambda *args, **kwargs: self.show())

    def _patch_ipython(self, module: Any) -> None:
        def make(original: Any) -> Any:
            def display(*objs: Any, **kwargs: Any) -> None:
                self.display(*objs, **kwargs)

            return display

        _replace(module, "display", make)
