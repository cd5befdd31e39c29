"""Run one cell the way Jupyter does (stdlib only; runs inside the sandbox).

* The cell's statements run in the session namespace; when the last statement is an
  expression, its value is the cell's main result (``_`` holds it, as in IPython),
  unless a semicolon ends it.
* Top-level ``await`` works: such a cell compiles to a coroutine, run to completion.
* A traceback shows the user's frames only (from the first ``<cell-N>`` frame on),
  with the source of the cells it passes through.
* ``display(obj)`` (a builtin, and ``IPython.display.display`` when IPython is
  installed) adds a display output; so does the main result, and so does every
  matplotlib figure (at ``plt.show()``, ``display(fig)`` or the end of the cell),
  which also becomes a chart: PNG, kind, data and a description.
* Everything is bounded: the result text at :data:`RESULT_MAX_CHARS`, each output
  and the cell's outputs as a whole (see :mod:`.display`), with cuts announced.
"""

from __future__ import annotations

import _ast
import builtins
import sys

from . import charts, display, hooks

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports at kernel start
if TYPE_CHECKING:
    from typing import Any

RESULT_MAX_CHARS = 100_000
"""The longest result text returned; the rest is cut with a notice."""

SOURCES_KEPT = 1000
"""Cells whose source is kept for tracebacks (a long session must not grow forever);
a traceback through an older cell shows its line numbers without the text."""

CHARTS_MAX = 20
"""Figures turned into charts per cell; later ones are closed and counted."""

CELL_PREFIX = "<cell-"
"""Start of every cell's file name: tracebacks are trimmed to frames from here on."""

_CO_COROUTINE = 0x80
_PYCF_ONLY_AST = 0x400
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000

_NODE_ERROR_LINE = r"^(\w*(?:Error|Exception))\b:? ?(.*)$"
"""The exception line of a Node.js error report (``TypeError: x is not a function``)."""


class CellRunner:
    """Runs cells in one namespace and reports each cell as a JSON-ready record.

    Creating a runner installs ``display`` as a builtin and the matplotlib/IPython
    hooks (see :mod:`.hooks`); they report to the runner created last.

    Args:
        namespace: The session's globals (the ``__main__`` module's dict locally,
            the interpreter context's globals on Daytona).
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.ns = namespace
        self.sources: dict[str, str] = {}
        self.cell = 0
        self.outputs = display.Outputs()
        self.charts: list[dict[str, Any]] = []
        self.charts_dropped = 0
        builtins.display = self.display  # type: ignore[attr-defined]
        self.hooks = hooks.Hooks(show=self.show_figures, display=self.display)
        self.hooks.install()

    def close(self) -> None:
        """Undo what creating the runner installed (``display``, the hooks)."""
        self.hooks.uninstall()
        if getattr(builtins, "display", None) == self.display:
            del builtins.display  # type: ignore[attr-defined]

    def run(self, code: str) -> dict[str, Any]:
        """Run one cell; never raises for the user's errors.

        Returns:
            ``{"result": str | None, "error": {"name", "value", "traceback"} | None}``;
            :meth:`finish` adds the outputs and charts.
        """
        self.cell += 1
        self.outputs = display.Outputs()
        self.charts = []
        self.charts_dropped = 0
        filename = f"{CELL_PREFIX}{self.cell}>"
        self.sources[filename] = code
        if len(self.sources) > SOURCES_KEPT:
            del self.sources[next(iter(self.sources))]
        try:
            return {"result": self._execute(code, filename), "error": None}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            return {"result": None, "error": self.format_error(exc)}

    def _execute(self, code: str, filename: str) -> str | None:
        flags = _PYCF_ALLOW_TOP_LEVEL_AWAIT
        tree = compile(code, filename, "exec", flags | _PYCF_ONLY_AST)
        last: Any = None
        if tree.body and isinstance(tree.body[-1], _ast.Expr):
            node = tree.body.pop()
            if _silenced(code, node):  # `expr;` shows nothing, as in a notebook
                tree.body.append(node)
            else:
                last = _ast.Expression(node.value)
        self._eval(compile(tree, filename, "exec", flags))
        if last is None:
            return None
        value = self._eval(compile(last, filename, "eval", flags))
        if value is None:
            return None
        self.ns["_"] = value
        if self._is_figure(value):  # shown as a chart, like a notebook does
            self._add_figure(value)
            return None
        bundle = display.mime_bundle(value, RESULT_MAX_CHARS, "result")
        self.outputs.add(bundle, main=True)
        return bundle["text/plain"]

    def _eval(self, code_obj: Any) -> Any:
        value = eval(code_obj, self.ns)
        if code_obj.co_flags & _CO_COROUTINE and value is not None:  # top-level await
            import asyncio

            value = asyncio.run(value)
        return value

    def format_error(self, exc: BaseException) -> dict[str, str]:
        """The exception as ``{"name", "value", "traceback"}``, user frames only."""
        import linecache
        import traceback

        for name, source in self.sources.items():
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(CELL_PREFIX):
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)
        else:
            lines = traceback.format_exception(type(exc), exc, tb)
        return {"name": type(exc).__name__, "value": str(exc), "traceback": "".join(lines)}

    # -- display ------------------------------------------------------------------

    def display(self, *objs: Any, raw: bool = False, **kwargs: Any) -> None:
        """Show objects as display outputs, as ``IPython.display.display`` does.

        Args:
            *objs: The objects; with ``raw=True``, mime bundles (``{mime: data}``).
            raw: The objects are already mime bundles.
            **kwargs: IPython's other options (``include``, ``metadata``...), ignored.
        """
        for obj in objs:
            if raw and isinstance(obj, dict):
                self.outputs.add(display.bound({str(k): str(v) for k, v in obj.items()}))
            elif self._is_figure(obj):
                self._add_figure(obj)
            else:
                self.outputs.add(display.mime_bundle(obj))

    @staticmethod
    def _is_figure(obj: Any) -> bool:
        figure = sys.modules.get("matplotlib.figure")
        return figure is not None and isinstance(obj, figure.Figure)

    def show_figures(self) -> None:
        """``plt.show()``: every open figure becomes an output and a chart, then closes."""
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for num in plt.get_fignums():
            self._add_figure(plt.figure(num))

    def _add_figure(self, fig: Any) -> None:
        """Save ``fig`` as PNG, extract its chart, add both, and close it."""
        import base64
        import io

        plt = sys.modules.get("matplotlib.pyplot")
        try:
            if len(self.charts) >= CHARTS_MAX:
                self.charts_dropped += 1
                return
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            png = base64.b64encode(buf.getvalue()).decode("ascii")
            try:
                chart = charts.extract(fig)
            except Exception as exc:  # the picture still counts
                chart = {"kind": None, "title": None, "data": {}, "description": None}
                print(f"[sandbox] could not read the chart's data: {exc!r}", file=sys.stderr)
            chart["png"] = png
            self.outputs.add(
                display.bound({"image/png": png, "text/plain": chart["description"] or "<Figure>"}),
                chart=len(self.charts),
            )
            self.charts.append(chart)
        except Exception as exc:
            print(f"[sandbox] could not save a figure: {exc!r}", file=sys.stderr)
        finally:
            if plt is not None:
                try:
                    plt.close(fig)
                except Exception:
                    pass

    def finish(self) -> dict[str, Any]:
        """The cell's display outputs and charts, once the code is done.

        Figures still open become charts (and outputs) here, then close.
        """
        try:
            self.show_figures()
        finally:
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                try:
                    plt.close("all")
                except Exception:
                    pass
        if self.charts_dropped:
            print(
                f"[sandbox] {self.charts_dropped} more figure(s) closed without a chart: "
                f"a cell keeps at most {CHARTS_MAX}",
                file=sys.stderr,
            )
        return {"outputs": self.outputs.finish(), "charts": self.charts}


def _silenced(code: str, node: Any) -> bool:
    """True when the last expression ends with a semicolon (Jupyter's "no output")."""
    lines = code.splitlines()
    end_line = getattr(node, "end_lineno", None)
    if end_line is None or end_line > len(lines):
        return False
    rest = lines[end_line - 1].encode("utf-8")[node.end_col_offset :].decode("utf-8", "replace")
    return bool(rest.lstrip().startswith(";"))


def node_error(output: str, exit_code: int) -> dict[str, str]:
    """The error of a failed JavaScript/TypeScript run, from its output.

    Args:
        output: What the run printed (its stderr, or everything on Daytona).
        exit_code: The process's exit status.

    Returns:
        ``{"name", "value", "traceback"}``; the name defaults to ``Error``.
    """
    import re

    match = re.search(_NODE_ERROR_LINE, output, re.M)
    name, value = (match.group(1), match.group(2)) if match else ("Error", "")
    return {"name": name, "value": value or f"exit status {exit_code}", "traceback": output}
