"""Charts and display outputs carried by tool results, written to files."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage

from langchain_daytona_exec.agent._state import ChartFile

__all__ = ["OUTPUT_FILES", "charts_of", "save_charts"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


OUTPUT_FILES = (
    ("image/png", ".png", True),
    ("image/jpeg", ".jpg", True),
    ("image/svg+xml", ".svg", False),
    ("text/html", ".html", False),
)
"""Display outputs written beside the charts: (mime type, file suffix, base64?), the
first one an output has wins."""


def charts_of(message: ToolMessage) -> list[dict[str, Any]]:
    """The charts in a tool message's artifact (the python tools' ``charts`` list)."""
    artifact = message.artifact if isinstance(message.artifact, dict) else {}
    return [c for c in artifact.get("charts") or [] if c.get("png_base64")]


def _outputs_of(message: ToolMessage) -> list[dict[str, Any]]:
    """Display outputs with a picture or HTML that are not charts (those are saved)."""
    artifact = message.artifact if isinstance(message.artifact, dict) else {}
    return [
        o
        for o in artifact.get("outputs") or []
        if isinstance(o, dict) and o.get("chart") is None and isinstance(o.get("data"), dict)
    ]


def save_charts(
    messages: Sequence[BaseMessage],
    charts_dir: str | os.PathLike[str],
    thread_id: str,
    *,
    start: int = 0,
    output_start: int = 0,
) -> list[ChartFile]:
    """Write the charts carried by tool messages as PNG files, and the images and HTML.

    Args:
        messages: Messages to scan; only tool messages with charts or outputs count.
        charts_dir: The output folder; files go to ``<charts_dir>/<thread_id>/``.
        thread_id: The conversation, used (made file-name safe) as the subfolder.
        start: Charts already written for this thread; numbering continues after it.
        output_start: Outputs already written for this thread (numbered on their own).

    Returns:
        The files written, in order: ``chart-<n>.png`` for charts, and
        ``output-<n>.png/.jpg/.svg/.html`` for display outputs holding an image or HTML.
    """
    written: list[ChartFile] = []
    folder = os.path.join(os.fspath(charts_dir), _thread_dir(thread_id))
    counts = {"chart": start, "output": output_start}

    def write(kind: str, suffix: str, data: bytes, entry: dict[str, Any]) -> None:
        counts[kind] += 1
        name = f"{kind}-{counts[kind]}{suffix}"
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        written.append({"path": path, "kind": kind, **entry})  # type: ignore[typeddict-item]

    for message in messages:
        if not isinstance(message, ToolMessage):
            continue
        for chart in charts_of(message):
            write(
                "chart",
                ".png",
                base64.b64decode(chart["png_base64"]),
                {
                    "title": chart.get("title"),
                    "tool_call_id": message.tool_call_id,
                    "description": chart.get("description"),
                },
            )
        for output in _outputs_of(message):
            data = output["data"]
            for mime, suffix, binary in OUTPUT_FILES:
                value = data.get(mime)
                if isinstance(value, str):
                    text = data.get("text/plain")
                    write(
                        "output",
                        suffix,
                        base64.b64decode(value) if binary else value.encode("utf-8"),
                        {
                            "title": None,
                            "tool_call_id": message.tool_call_id,
                            "description": text if isinstance(text, str) else None,
                        },
                    )
                    break
    return written


def _thread_dir(key: str) -> str:
    return _SAFE_NAME.sub("_", key).strip("._")[:80] or "default"
