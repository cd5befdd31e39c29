"""Framing shared by the host and the in-sandbox kernel (stdlib only, import-light).

A frame is an 8-byte header (two big-endian 32-bit lengths: body, blob), a body,
then an optional binary blob (file contents, never decoded).

* Requests (host -> kernel) carry a :mod:`marshal` body: the kernel trusts its host,
  and ``marshal`` is built in, so the kernel starts without importing ``json``/``re``.
* Responses (kernel -> host) carry a UTF-8 JSON body. The host never unmarshals
  anything the sandbox wrote; it parses JSON, with size caps, and a frame it cannot
  parse means a dead or hostile kernel.

The kernel imports this module by path: keep it free of package imports, and keep
module-level imports to built-ins (``_json``, ``marshal``, ``os``).
"""

from __future__ import annotations

import _json
import marshal
import os

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports (re, collections...) at start
if TYPE_CHECKING:
    from typing import Any

HEADER_SIZE = 8

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request body the kernel accepts (code and arguments; file contents
travel in the blob). The host checks its own requests against it before sending."""

MAX_BLOB_BYTES = 1024 * 1024 * 1024
"""The largest blob either side accepts (above the biggest configurable file limit)."""

REPLY_EXTRA_BYTES = 4 * 1024 * 1024
"""Room in a reply body beyond the two output streams: the last expression (at most
100,000 characters), the error and its traceback, charts (base64 PNG), a file listing
and the field names. The kernel fits every reply into :func:`max_reply_body` (dropping
charts, then cutting the longest texts, each with a notice), so a bigger frame can only
be forged by code in the kernel's process."""

MAX_REPLY_VALUES = 100_000
"""The most JSON values (objects, arrays, strings, numbers) a reply may hold. A
10,000-entry file listing needs about 60,000. Without a bound a forged ``[{},{},...]``
frame grows the host ~30 bytes per input byte (a 60 MiB frame: ~1.5 GiB)."""

MAX_REPLY_DEPTH = 16
"""The deepest nesting of a reply (legitimate replies nest 3 deep). Deeper input would
otherwise raise ``RecursionError`` in the parser."""

_MAX_NUMBER_CHARS = 40
"""The longest number literal in a reply (a float repr is at most 24 characters)."""


def max_reply_body(output_budget: int) -> int:
    """The largest reply body a kernel with this per-stream output budget may send.

    Each stream keeps at most ``output_budget`` bytes (head and tail); mostly-ASCII
    output is encoded one byte per byte, and the kernel cuts a reply that would not fit.
    """
    return 2 * output_budget + REPLY_EXTRA_BYTES


class FrameError(Exception):
    """The peer closed the channel or sent a malformed frame."""


class ChannelClosedError(FrameError):
    """The peer closed the channel (on the host: the kernel died)."""


def _header(body_len: int, blob_len: int) -> bytes:
    return body_len.to_bytes(4, "big") + blob_len.to_bytes(4, "big")


def parse_header(
    header: bytes, max_body: int = MAX_REQUEST_BYTES, max_blob: int = MAX_BLOB_BYTES
) -> tuple[int, int]:
    """Split a frame header into (body length, blob length), checking the caps."""
    body_len = int.from_bytes(header[:4], "big")
    blob_len = int.from_bytes(header[4:], "big")
    if body_len > max_body or blob_len > max_blob:
        raise FrameError(f"oversized frame ({body_len} + {blob_len} bytes)")
    return body_len, blob_len


def dumps_json(value: Any) -> str:
    """Encode str/int/float/bool/None/list/tuple/dict as JSON with only built-ins."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value) if value == value and abs(value) != float("inf") else "null"
    if isinstance(value, dict):
        items = ",".join(
            _json.encode_basestring_ascii(str(k)) + ":" + dumps_json(v) for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_request(msg: dict[str, Any], blob: bytes = b"") -> bytes:
    """Encode one host -> kernel frame."""
    body = marshal.dumps(msg)
    return _header(len(body), len(blob)) + body + blob


_FIT_VALUES = MAX_REPLY_VALUES * 9 // 10
"""The most values the kernel lets a reply hold (some room below the host's limit)."""


def encode_response(msg: dict[str, Any], blob: bytes = b"", max_body: int = 0) -> bytes:
    """Encode one kernel -> host frame; with ``max_body``, cut the reply to fit it."""
    body = dumps_json(msg).encode()
    # a JSON value takes at least 2 bytes: only a long body can hold too many
    if max_body and (
        len(body) > max_body or (len(body) >= 2 * _FIT_VALUES and _count_values(msg) > _FIT_VALUES)
    ):
        body = dumps_json(fit_reply(msg, max_body)).encode()
    return _header(len(body), len(blob)) + body + blob


_CUT_NOTE = "\n... [{} characters cut: the reply was over its size limit] ...\n"


def fit_reply(msg: dict[str, Any], max_body: int) -> dict[str, Any]:
    """Shrink a reply until its JSON fits ``max_body`` bytes (kernel side).

    Lists too long for the host's value limit are shortened first, then images go
    (charts, then images of display outputs, from the end: an image cannot be cut),
    then the longest text is halved again and again, keeping its head and tail with
    a notice. Returns a new dict; each step adds a notice to ``stderr``.
    """
    msg = dict(msg)
    notes = []
    shortened = 0
    total = _count_values(msg)
    while total > _FIT_VALUES:
        holder, key = _longest_list(msg)
        if holder is None:
            break
        items = holder[key]
        per_item = (_count_values(items) - 1) / len(items)
        keep = max(0, len(items) - int((total - _FIT_VALUES) / per_item) - 1)
        holder[key] = items[:keep]
        shortened += len(items) - keep
        total = _count_values(msg)
    if shortened:
        notes.append(f"{shortened} item(s) dropped: the reply had too many values")
        if isinstance(msg.get("entries"), list):
            msg["truncated"] = True
    dropped = 0
    charts = list(msg["charts"]) if isinstance(msg.get("charts"), list) else []
    given = msg.get("outputs")
    outputs = (
        [dict(o) if isinstance(o, dict) else o for o in given] if isinstance(given, list) else []
    )
    if charts:
        msg["charts"] = charts
    if isinstance(given, list):
        msg["outputs"] = outputs
    while (charts or any(_has_image(o) for o in outputs)) and len(dumps_json(msg)) > max_body:
        if charts:  # the last figure: its chart and the display output showing it
            charts.pop()
            linked = [o for o in outputs if isinstance(o, dict) and o.get("chart") == len(charts)]
        else:
            linked = [next(o for o in reversed(outputs) if _has_image(o))]
        for out in linked:
            if isinstance(out.get("data"), dict):
                out["data"] = {m: v for m, v in out["data"].items() if m not in _IMAGE_MIMES}
            out.pop("chart", None)
        dropped += 1
    if dropped:
        notes.append(f"{dropped} image(s) dropped: the reply was over its size limit")
    if notes and "stderr" in msg:
        msg["stderr"] = str(msg["stderr"]) + "".join(f"\n[sandbox] {n}\n" for n in notes)
    for _ in range(64):
        size = len(dumps_json(msg))
        if size <= max_body:
            return msg
        holder, key = _longest_text(msg)
        if holder is None:
            break
        text = holder[key]
        per_char = len(dumps_json(text)) / len(text)  # 1 for ASCII, up to 12 escaped
        needed = int((size - max_body) / per_char) + 200
        keep = max(len(text) // 2, len(text) - needed)  # halve, or cut just enough
        half = keep // 2
        note = _CUT_NOTE.format(len(text) - 2 * half)
        holder[key] = text[:half] + note + text[len(text) - half :]
    return {"fault": "the reply did not fit its size limit", "id": msg.get("id")}


_IMAGE_MIMES = ("image/png", "image/jpeg")
"""Display data that travels as base64: dropped whole, never cut."""

_BINARY_KEYS = ("png", *_IMAGE_MIMES)
"""Reply fields holding base64 (chart PNGs, display images)."""


def _has_image(output: Any) -> bool:
    data = output.get("data") if isinstance(output, dict) else None
    return isinstance(data, dict) and any(m in data for m in _IMAGE_MIMES)


def _count_values(value: Any) -> int:
    """How many JSON values (as the host counts them) ``value`` holds."""
    if isinstance(value, dict):
        return 1 + sum(_count_values(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 1 + sum(_count_values(v) for v in value)
    return 0 if value is None or isinstance(value, bool) else 1


def _longest_text(value: Any) -> tuple[Any, Any]:
    """The container and key of the longest text in a reply (copying on the way).

    Base64 images (``png`` fields, image mime types) are never chosen: cut, they
    would no longer decode.
    """
    best: tuple[Any, Any] = (None, None)
    best_len = 256  # shorter texts are not worth cutting

    def visit(container: Any) -> None:
        nonlocal best, best_len
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for k in list(keys):
            v = container[k]
            if isinstance(v, str) and len(v) > best_len and k not in _BINARY_KEYS:
                best, best_len = (container, k), len(v)
            elif isinstance(v, (dict, list, tuple)):
                container[k] = v = dict(v) if isinstance(v, dict) else list(v)
                visit(v)

    visit(value)
    return best


def _longest_list(value: Any) -> tuple[Any, Any]:
    """The container and key of the longest list in a reply (copying on the way)."""
    best: tuple[Any, Any] = (None, None)
    best_len = 1

    def visit(container: Any) -> None:
        nonlocal best, best_len
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for k in list(keys):
            v = container[k]
            if isinstance(v, (dict, list, tuple)):
                container[k] = v = dict(v) if isinstance(v, dict) else list(v)
                if isinstance(v, list) and len(v) > best_len:
                    best, best_len = (container, k), len(v)
                visit(v)

    visit(value)
    return best


def decode_response(body: bytes | bytearray | str) -> dict[str, Any]:
    """Parse a response body on the host, at a bounded cost.

    The body must be ASCII JSON (the kernel escapes everything else) with at most
    :data:`MAX_REPLY_VALUES` values nested at most :data:`MAX_REPLY_DEPTH` deep, so
    the parsed reply costs a small multiple of the frame's size whatever it holds.

    Args:
        body: The body, or its text from :func:`ascii_text` (so that the caller can
            free the bytes before the parse).

    Raises:
        FrameError: The body is not such a JSON object.
    """
    text = body if isinstance(body, str) else ascii_text(body)
    del body
    try:
        msg = _new_decoder().decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise FrameError(f"invalid frame: {str(exc)[:200]}") from exc
    if not isinstance(msg, dict):
        raise FrameError("invalid frame: not an object")
    return msg


def ascii_text(body: bytes | bytearray) -> str:
    """The text of a reply body; :class:`FrameError` unless it is ASCII."""
    try:
        return body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError(f"invalid frame: not ASCII at byte {exc.start}") from exc


def _bounded_decoder_class() -> type:
    import json
    import json.scanner

    class BoundedDecoder(json.JSONDecoder):
        """``json`` with a count and depth limit, checked while it parses."""

        def __init__(self) -> None:
            super().__init__(
                parse_float=self._number(float),
                parse_int=self._number(int),
                parse_constant=self._constant,
            )
            self.values_left = MAX_REPLY_VALUES
            self.depth = 0
            hooks = vars(self)  # set by JSONDecoder.__init__ (untyped there)
            hooks["parse_object"] = self._nested(hooks["parse_object"])
            hooks["parse_array"] = self._nested(hooks["parse_array"])
            plain_string = hooks["parse_string"]

            def parse_string(*args: Any) -> Any:
                self._count()
                return plain_string(*args)

            hooks["parse_string"] = parse_string
            # The pure-Python scanner calls the hooks above; the C one would not.
            self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]

        def _count(self) -> None:
            self.values_left -= 1
            if self.values_left < 0:
                raise ValueError(f"more than {MAX_REPLY_VALUES} values")

        def _nested(self, parse: Any) -> Any:
            def nested(*args: Any) -> Any:
                self._count()
                self.depth += 1
                try:
                    if self.depth > MAX_REPLY_DEPTH:
                        raise ValueError(f"nested deeper than {MAX_REPLY_DEPTH}")
                    return parse(*args)
                finally:
                    self.depth -= 1

            return nested

        def _number(self, kind: type) -> Any:
            def parse(literal: str) -> Any:
                self._count()
                if len(literal) > _MAX_NUMBER_CHARS:
                    raise ValueError(f"a {len(literal)}-character number")
                return kind(literal)

            return parse

        @staticmethod
        def _constant(name: str) -> Any:
            raise ValueError(f"{name} is not JSON")

    return BoundedDecoder


_decoder_class: Any = None


def prepare_decoder() -> None:
    """Build the host's decoder now (importing ``json``), not at the first reply.

    ``daytona-exec exec`` calls it while its sandbox boots: otherwise the import runs
    after the ready frame has arrived, on the command's critical path.
    """
    _new_decoder()


def _new_decoder() -> Any:
    """A fresh bounded decoder.

    Its class is built on first use: the kernel imports this module too, and never
    loads ``json``.
    """
    global _decoder_class
    if _decoder_class is None:
        _decoder_class = _bounded_decoder_class()
    return _decoder_class()


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a blocking file descriptor."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes:
    """Read exactly ``n`` bytes from a blocking ``fd``; :class:`FrameError` on EOF."""
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise ChannelClosedError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_request(fd: int) -> tuple[dict[str, Any], bytes]:
    """Read one host -> kernel frame (kernel side, blocking)."""
    body_len, blob_len = parse_header(read_exact(fd, HEADER_SIZE))
    msg = marshal.loads(read_exact(fd, body_len))
    blob = read_exact(fd, blob_len) if blob_len else b""
    return msg, blob
