"""Turning sandbox results into concise text for the model, within a budget."""

from __future__ import annotations

import base64
from typing import Any

from langchain_daytona_exec.types import (
    Chart,
    CommandResult,
    DisplayOutput,
    ExecutionResult,
    SavedOutput,
)

DEFAULT_MAX_OUTPUT_CHARS = 20_000
"""Characters of tool output the model sees per call (about 5k tokens). Longer output
is cut in the middle, and the full text is saved to a file in the sandbox."""

OUTPUT_DIR = "/tmp/ldx-outputs"
"""Where full outputs over the budget are saved inside the sandbox (outside the
workspace, so they do not clutter the user's files)."""


def cut_middle(text: str, budget: int) -> tuple[str, int]:
    """Keep the head and the tail of ``text`` within ``budget`` characters.

    Returns:
        The (possibly) shortened text and how many characters were cut.
    """
    if len(text) <= budget:
        return text, 0
    head = budget * 2 // 3
    tail = budget - head
    cut = len(text) - budget
    return (
        f"{text[:head]}\n... [{cut} characters cut] ...\n{text[len(text) - tail :]}",
        cut,
    )


def cut_notice(path: str | None, saved: list[dict[str, Any]]) -> str:
    """The line that tells the model where the output it did not see is.

    Args:
        path: Where the tool saved the text it was given (``None``: saving failed).
        saved: The sandbox's own files of streams it cut (``SavedOutput`` as dicts):
            when there are some, the tool's text lacks their middle, so the notice
            names them instead of calling its own file complete.
    """
    if not saved:
        if path is None:
            return "[output cut: the full output could not be saved]"
        return f"[output cut: the full output is saved at {path}]"
    parts = []
    for f in saved:
        if f["complete"]:
            parts.append(f"the complete {f['stream']} is saved at {f['path']}")
        else:
            parts.append(
                f"only the first {f['bytes']} bytes of {f['stream']} are saved, at "
                f"{f['path']} (the sandbox's limit for saved output)"
            )
    shown = f"; this text is saved at {path}" if path else ""
    return f"[output cut: {'; '.join(parts)}{shown}]"


def saved_artifacts(saved: list[SavedOutput]) -> list[dict[str, Any]]:
    """Saved outputs as JSON-safe dicts for a tool's artifact."""
    return [
        {"stream": f.stream, "path": f.path, "bytes": f.bytes, "complete": f.complete}
        for f in saved
    ]


def chart_line(chart: Chart) -> str:
    """The chart in words for the model: its description, else its title."""
    if chart.description:
        return chart.description
    return f'chart "{chart.title}"' if chart.title else "chart (untitled)"


def chart_summary(charts: list[Chart]) -> str:
    """One line per chart, in words (``[chart] bar chart "Revenue": East 35065, ...``)."""
    return "\n".join(f"[chart] {chart_line(c)}" for c in charts)


def chart_artifacts(charts: list[Chart]) -> list[dict[str, Any]]:
    """Charts as JSON-safe dicts (base64 PNG, kind, data, description)."""
    return [
        {
            "title": c.title,
            "kind": c.kind,
            "description": c.description,
            "data": c.data,
            "mime_type": "image/png",
            "png_base64": base64.b64encode(c.png).decode(),
        }
        for c in charts
    ]


def output_artifacts(result: ExecutionResult) -> list[dict[str, Any]]:
    """Display outputs as JSON-safe dicts: images base64, ``chart`` the chart's index."""
    charts = {id(c): i for i, c in enumerate(result.charts)}
    out = []
    for output in result.outputs:
        data = {
            mime: base64.b64encode(value).decode() if isinstance(value, bytes) else value
            for mime, value in output.data.items()
        }
        item: dict[str, Any] = {"data": data, "is_main_result": output.is_main_result}
        if output.chart is not None:
            item["chart"] = charts.get(id(output.chart))
        out.append(item)
    return out


def _display_line(output: DisplayOutput) -> str:
    others = sorted(m for m in output.data if m != "text/plain")
    text = output.text
    if text is None:
        return f"[display] {', '.join(others)} (in the artifact)"
    note = f" (+ {', '.join(others)} in the artifact)" if others else ""
    return f"[display] {text}{note}" if "\n" not in text else f"[display]{note}\n{text}"


def format_execution(result: ExecutionResult) -> str:
    """The model-facing text of a ``run_code`` result (before the budget)."""
    parts: list[str] = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    for output in result.outputs:
        if not output.is_main_result and output.chart is None:
            parts.append(_display_line(output))
    if result.result is not None:
        parts.append(f"[result] {result.result}")
    if result.error is not None:
        tb = result.error.traceback.rstrip("\n")
        parts.append(
            f"[error]\n{tb}" if tb else f"[error] {result.error.name}: {result.error.value}"
        )
    if result.charts:
        parts.append(chart_summary(result.charts))
    if result.timed_out:
        if result.state_lost:
            parts.append(
                "[timeout] The code did not stop when interrupted and was killed; the "
                "interpreter restarted, so variables and imports are gone."
            )
        else:
            parts.append(
                "[timeout] The code was interrupted at the time limit; variables defined "
                "before the interruption are kept. Make it faster or split the work."
            )
    elif result.state_lost:
        parts.append(
            "[sandbox] The interpreter had restarted before this call: earlier variables "
            "and imports are gone."
        )
    return "\n".join(parts) if parts else "[no output]"


def format_command(result: CommandResult) -> str:
    """The model-facing text of an ``exec`` result (before the budget)."""
    parts = [f"[exit code] {result.exit_code}"]
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if result.timed_out:
        parts.append("[timeout] The command hit the time limit; its processes were killed.")
    return "\n".join(parts)
