"""The code we send to Daytona's interpreter around the user's code, and its parsing.

Daytona's ``code_interpreter`` streams stdout, stderr and errors over a websocket,
but reports neither the value of the last expression nor matplotlib figures. So
each call sends a small wrapper that, **inside the same websocket exchange**:

1. defines the helper ``__ldx_run`` in the context once (it survives in the
   context's globals, and is defined again if the user deletes it);
2. runs the user's code as a cell: statements, then the last expression evaluated
   and its ``repr`` kept (Jupyter's display rule, as the local kernel does);
3. catches the user's exception and formats its traceback from the user's frames;
4. saves every open figure as PNG into a per-sandbox folder and closes it;
5. prints one record line, ``<marker><nonce><json>``, that the host strips from stdout.

The nonce is random per call, so code that prints a look-alike line cannot forge a
record. Charts are downloaded in one extra request only when the record lists some:
a chart-free call costs exactly one websocket exchange.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from langchain_daytona_exec.types import ExecutionError

__all__ = ["CHART_DIR", "ParsedRun", "build_call", "new_nonce", "parse_output"]

CHART_DIR = "/tmp/.ldx-charts"
"""Folder inside the sandbox where the wrapper saves figures; emptied at each call."""

RESULT_MAX_CHARS = 100_000
"""Longest last-expression ``repr`` returned (the local kernel's limit)."""

MARKER = "\x1eLDX-RECORD:"
"""Starts the record line (an ASCII record separator, then a tag)."""

_HELPER = r"""
def __ldx_run(__ldx_src, __ldx_nonce, __ldx_chart_dir, __ldx_max):
    import ast, base64, json, linecache, os, sys, traceback
    g = globals()
    src = base64.b64decode(__ldx_src).decode("utf-8")
    cell = g.get("__ldx_cell", 0) + 1
    g["__ldx_cell"] = cell
    name = "<cell-%d>" % cell
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    rec = {"result": None, "error": None, "charts": []}
    try:
        for entry in os.listdir(__ldx_chart_dir):
            os.unlink(os.path.join(__ldx_chart_dir, entry))
    except OSError:
        pass
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    try:
        tree = compile(src, name, "exec", flags | ast.PyCF_ONLY_AST)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)

        def run(code):
            value = eval(code, g)
            if code.co_flags & 0x80 and value is not None:
                import asyncio
                value = asyncio.run(value)
            return value

        run(compile(tree, name, "exec", flags))
        if last is not None:
            value = run(compile(last, name, "eval", flags))
            if value is not None:
                g["_"] = value
                text = repr(value)
                if len(text) > __ldx_max:
                    cut = len(text) - __ldx_max
                    text = text[:__ldx_max] + "\n... [%d characters of the result cut]" % cut
                rec["result"] = text
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)
        else:
            lines = traceback.format_exception(type(exc), exc, tb)
        rec["error"] = {"name": type(exc).__name__, "value": str(exc), "traceback": "".join(lines)}
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            nums = plt.get_fignums()
            if nums:
                os.makedirs(__ldx_chart_dir, exist_ok=True)
            for i, num in enumerate(nums):
                fig = plt.figure(num)
                path = os.path.join(__ldx_chart_dir, "%s-%d.png" % (__ldx_nonce, i))
                fig.savefig(path, format="png", bbox_inches="tight")
                title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else None
                if not title:
                    title = next((ax.get_title() for ax in fig.axes if ax.get_title()), None)
                rec["charts"].append({"path": path, "title": title or None})
        except Exception as exc:
            sys.stderr.write("[sandbox] could not save a figure: %r\n" % (exc,))
        finally:
            try:
                plt.close("all")
            except Exception:
                pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    sys.stdout.write(MARKER + __ldx_nonce + json.dumps(rec) + "\n")
    sys.stdout.flush()
""".replace("MARKER", repr(MARKER))


def new_nonce() -> str:
    """A fresh random nonce for one call's record."""
    return secrets.token_hex(8)


def build_call(code: str, nonce: str) -> str:
    """The source sent to the interpreter for one call of ``code``.

    Args:
        code: The user's Python code.
        nonce: This call's nonce (see :func:`new_nonce`).
    """
    src = base64.b64encode(code.encode("utf-8")).decode("ascii")
    return (
        "try:\n"
        "    __ldx_run\n"
        "except NameError:\n"
        f"    exec({_HELPER!r})\n"
        f"__ldx_run({src!r}, {nonce!r}, {CHART_DIR!r}, {RESULT_MAX_CHARS})\n"
    )


@dataclass
class ParsedRun:
    """The user-visible parts of one wrapped call.

    Attributes:
        stdout: Standard output without the record line.
        result: The last expression's text, or ``None``.
        error: The user's exception, or ``None``.
        charts: ``(path inside the sandbox, title)`` of each saved figure.
        complete: The record was found (the wrapper ran to its end).
    """

    stdout: str
    result: str | None = None
    error: ExecutionError | None = None
    charts: list[tuple[str, str | None]] = field(default_factory=list)
    complete: bool = False


def parse_output(stdout: str, nonce: str) -> ParsedRun:
    """Split the record line of call ``nonce`` out of its stdout.

    Args:
        stdout: Everything the interpreter printed.
        nonce: The call's nonce.

    Returns:
        The user's stdout and what the record says; ``complete=False`` when the
        record is missing (the call was interrupted or timed out).
    """
    tag = MARKER + nonce
    at = stdout.rfind(tag)
    if at < 0:
        return ParsedRun(stdout=stdout)
    end = stdout.find("\n", at)
    end = len(stdout) if end < 0 else end
    payload = stdout[at + len(tag) : end]
    rest = stdout[:at] + stdout[end + 1 :]
    try:
        rec: dict[str, Any] = json.loads(payload)
    except ValueError:
        return ParsedRun(stdout=rest)
    err = rec.get("error")
    error = (
        ExecutionError(str(err["name"]), str(err["value"]), str(err["traceback"]))
        if isinstance(err, dict)
        else None
    )
    charts = [
        (str(c["path"]), c.get("title") or None)
        for c in rec.get("charts") or []
        if isinstance(c, dict) and "path" in c
    ]
    result = rec.get("result")
    return ParsedRun(
        stdout=rest,
        result=None if result is None else str(result),
        error=error,
        charts=charts,
        complete=True,
    )


_ERROR_LINE = re.compile(r"^(\w*(?:Error|Exception))\b:? ?(.*)$", re.M)
"""The exception line of a Node.js error report (``TypeError: x is not a function``)."""


def node_error(output: str, exit_code: int) -> ExecutionError:
    """An :class:`ExecutionError` from the output of a failed JavaScript/TypeScript run."""
    match = _ERROR_LINE.search(output)
    name, value = (match.group(1), match.group(2)) if match else ("Error", "")
    return ExecutionError(name, value or f"exit status {exit_code}", output)
