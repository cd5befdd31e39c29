"""Run one cell the way Jupyter does (stdlib only; runs inside the sandbox).

* The cell's statements run in the session namespace; when the last statement is an
  expression, its value is the cell's result (``_`` holds it, as in IPython).
* Top-level ``await`` works: such a cell compiles to a coroutine, run to completion.
* A traceback shows the user's frames only (from the first ``<cell-N>`` frame on),
  with the source of the cells it passes through.
* The result's text is cut at :data:`RESULT_MAX_CHARS`, with the cut announced.
* Figures left open in ``matplotlib.pyplot`` are saved as PNG and closed.
"""

from __future__ import annotations

import _ast
import sys

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports at kernel start
if TYPE_CHECKING:
    from typing import Any

RESULT_MAX_CHARS = 100_000
"""The longest result text returned; the rest is cut with a notice."""

SOURCES_KEPT = 1000
"""Cells whose source is kept for tracebacks (a long session must not grow forever);
a traceback through an older cell shows its line numbers without the text."""

CELL_PREFIX = "<cell-"
"""Start of every cell's file name: tracebacks are trimmed to frames from here on."""

_CO_COROUTINE = 0x80
_PYCF_ONLY_AST = 0x400
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000

_NODE_ERROR_LINE = r"^(\w*(?:Error|Exception))\b:? ?(.*)$"
"""The exception line of a Node.js error report (``TypeError: x is not a function``)."""


def cut_text(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters, the cut announced on a last line."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters of the {what} cut]"


class CellRunner:
    """Runs cells in one namespace and reports each cell as a JSON-ready record.

    Args:
        namespace: The session's globals (the ``__main__`` module's dict locally,
            the interpreter context's globals on Daytona).
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.ns = namespace
        self.sources: dict[str, str] = {}
        self.cell = 0

    def run(self, code: str) -> dict[str, Any]:
        """Run one cell; never raises for the user's errors.

        Returns:
            ``{"result": str | None, "error": {"name", "value", "traceback"} | None}``.
        """
        self.cell += 1
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
            last = _ast.Expression(tree.body.pop().value)
        self._eval(compile(tree, filename, "exec", flags))
        if last is None:
            return None
        value = self._eval(compile(last, filename, "eval", flags))
        if value is None:
            return None
        self.ns["_"] = value
        return cut_text(repr(value), RESULT_MAX_CHARS, "result")

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

    def collect_charts(self) -> list[dict[str, Any]]:
        """Save every open pyplot figure as PNG (base64) with its title, and close it."""
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        import base64
        import io

        charts = []
        try:
            for num in plt.get_fignums():
                fig = plt.figure(num)
                buf = io.BytesIO()
                fig.savefig(buf, format="png", bbox_inches="tight")
                suptitle = getattr(fig, "_suptitle", None)
                title = suptitle.get_text() if suptitle else None
                if not title:
                    title = next((ax.get_title() for ax in fig.axes if ax.get_title()), None)
                png = base64.b64encode(buf.getvalue()).decode("ascii")
                charts.append({"png": png, "title": title or None})
        except Exception as exc:
            print(f"[sandbox] could not save a figure: {exc!r}", file=sys.stderr)
        finally:
            try:
                plt.close("all")
            except Exception:
                pass
        return charts


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
