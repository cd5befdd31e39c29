"""Jupyter's display model without IPython: objects become mime bundles (stdlib only).

:func:`mime_bundle` turns any object into ``{mime type: str}`` the way a notebook
would: ``_repr_mimebundle_`` first, then each ``_repr_*_`` method, then our own
renderings for pandas, numpy, PIL images and matplotlib figures, and always a
``text/plain``. Binary types (PNG, JPEG) travel as base64 text, as in Jupyter.
Every value is bounded (:data:`TEXT_MAX_CHARS`, :data:`IMAGE_MAX_BYTES`), and
what is cut or dropped is announced in the bundle's ``text/plain``.
"""

from __future__ import annotations

import sys

from . import tables
from .text import cut_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TEXT_MAX_CHARS = 100_000
"""The longest text value of one output (HTML, markdown, JSON...); longer is cut."""

IMAGE_MAX_BYTES = 4 * 1024 * 1024
"""The largest binary value (image, PDF) of one output; a bigger one is dropped with a
notice (a model cannot use it, and the reply frame must stay small)."""

OUTPUTS_MAX = 50
"""The most display outputs kept per cell; later ones are counted, not kept."""

TOTAL_MAX_BYTES = 16 * 1024 * 1024
"""The most bytes of display data kept per cell (the reply must fit its frame)."""

REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/pdf", "_repr_pdf_"),
    ("application/javascript", "_repr_javascript_"),
)
"""The ``_repr_*_`` methods honoured, and the mime type each one yields."""

BINARY_MIMES = ("image/png", "image/jpeg", "application/pdf")
"""Mime types whose values are bytes (sent as base64 text, bytes again on the host)."""


def _encode(mime: str, value: Any) -> str | None:
    """One ``_repr_*_`` value as the text that travels, or ``None`` when unusable."""
    import base64
    import json

    if isinstance(value, tuple) and len(value) == 2:  # (data, metadata)
        value = value[0]
    if value is None:
        return None
    if mime in BINARY_MIMES:
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(bytes(value)).decode("ascii")
        return value if isinstance(value, str) else None  # already base64, as IPython allows
    if mime == "application/json":
        return value if isinstance(value, str) else json.dumps(value, default=repr)
    return value if isinstance(value, str) else None


def _safe(method: Any, *args: Any) -> Any:
    """Call a user's repr method; a failing one yields nothing, as in IPython."""
    try:
        return method(*args)
    except Exception:
        return None


def _from_methods(obj: Any, bundle: dict[str, str]) -> None:
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(mimebundle) and not isinstance(obj, type):
        got = _safe(mimebundle, None, None)
        if isinstance(got, tuple) and len(got) == 2:
            got = got[0]
        if isinstance(got, dict):
            for mime, value in got.items():
                text = _encode(str(mime), value)
                if text is not None:
                    bundle[str(mime)] = text
    for mime, name in REPR_METHODS:
        method = getattr(obj, name, None)
        if mime not in bundle and callable(method) and not isinstance(obj, type):
            text = _encode(mime, _safe(method))
            if text is not None:
                bundle[mime] = text


def _pil_png(obj: Any) -> str | None:
    """A PIL image as base64 PNG (PIL's own ``_repr_png_`` exists only in new versions)."""
    image_mod = sys.modules.get("PIL.Image")
    if image_mod is None or not isinstance(obj, image_mod.Image):
        return None
    import base64
    import io

    buf = io.BytesIO()
    try:
        obj.save(buf, format="PNG")
    except Exception:
        return None
    return base64.b64encode(buf.getvalue()).decode("ascii")


def mime_bundle(obj: Any, repr_max: int = TEXT_MAX_CHARS, what: str = "output") -> dict[str, str]:
    """Every representation of ``obj`` a notebook would show, bounded.

    Args:
        obj: Any object.
        repr_max: The longest ``text/plain`` (a plain ``repr``) kept.
        what: What a cut calls the text ("output", "result").

    Returns:
        ``{mime type: text}``, always with ``text/plain``.
    """
    bundle: dict[str, str] = {}
    table = tables.render(obj)
    if table is not None:  # our compact table first: pandas' own repr is for humans
        bundle.update(table)
    else:
        _from_methods(obj, bundle)
    if "image/png" not in bundle:
        png = _pil_png(obj)
        if png is not None:
            bundle["image/png"] = png
    if "text/plain" not in bundle:
        try:
            bundle["text/plain"] = repr(obj)
        except Exception as exc:
            bundle["text/plain"] = f"<{type(obj).__name__} object: repr failed: {exc!r}>"
    return bound(bundle, repr_max, what)


def bound(
    bundle: dict[str, str], text_max: int = TEXT_MAX_CHARS, what: str = "output"
) -> dict[str, str]:
    """``bundle`` with each value within its limit, and what was cut announced."""
    notes = []
    out: dict[str, str] = {}
    for mime, value in bundle.items():
        if mime in BINARY_MIMES:
            size = len(value) * 3 // 4
            if size > IMAGE_MAX_BYTES:
                notes.append(f"[{mime} of {size} bytes dropped: over {IMAGE_MAX_BYTES} bytes]")
                continue
            out[mime] = value
        elif mime == "text/plain":
            out[mime] = cut_text(value, text_max, what)
        elif len(value) > text_max:
            notes.append(f"[{mime} of {len(value)} characters dropped: over {text_max}]")
        else:
            out[mime] = value
    if notes:
        out["text/plain"] = out.get("text/plain", "") + "\n" + "\n".join(notes)
    return out


class Outputs:
    """The display outputs of one cell, in order, within the per-cell limits."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.size = 0
        self.dropped = 0

    def add(self, data: dict[str, str], main: bool = False, chart: int | None = None) -> None:
        """Keep one output (``chart``: index of the chart it shows), or count it dropped."""
        size = sum(len(v) for v in data.values())
        if len(self.items) >= OUTPUTS_MAX or self.size + size > TOTAL_MAX_BYTES:
            self.dropped += 1
            return
        self.size += size
        item: dict[str, Any] = {"data": data, "main": main}
        if chart is not None:
            item["chart"] = chart
        self.items.append(item)

    def finish(self) -> list[dict[str, Any]]:
        """The outputs, with a last one announcing how many were dropped."""
        if self.dropped:
            note = (
                f"[{self.dropped} more display output(s) dropped: a cell keeps at most "
                f"{OUTPUTS_MAX} outputs and {TOTAL_MAX_BYTES} bytes]"
            )
            self.items.append({"data": {"text/plain": note}, "main": False})
        return self.items
