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

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest response body the host accepts. Output is cut to the byte budget inside
the sandbox, so a bigger frame means a confused or hostile kernel: the host treats it
as a dead sandbox instead of allocating whatever the frame claims."""

MAX_BLOB_BYTES = 1024 * 1024 * 1024
"""The largest blob either side accepts (above the biggest configurable file limit)."""


class FrameError(Exception):
    """The peer closed the channel or sent a malformed frame."""


def _header(body_len: int, blob_len: int) -> bytes:
    return body_len.to_bytes(4, "big") + blob_len.to_bytes(4, "big")


def parse_header(header: bytes) -> tuple[int, int]:
    """Split a frame header into (body length, blob length), checking the caps."""
    body_len = int.from_bytes(header[:4], "big")
    blob_len = int.from_bytes(header[4:], "big")
    if body_len > MAX_BODY_BYTES or blob_len > MAX_BLOB_BYTES:
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


def encode_response(msg: dict[str, Any], blob: bytes = b"") -> bytes:
    """Encode one kernel -> host frame."""
    body = dumps_json(msg).encode()
    return _header(len(body), len(blob)) + body + blob


def decode_response(body: bytes) -> dict[str, Any]:
    """Parse a response body on the host; raise :class:`FrameError` when invalid."""
    import json

    try:
        msg = json.loads(body)
    except ValueError as exc:
        raise FrameError(f"invalid frame: {exc}") from exc
    if not isinstance(msg, dict):
        raise FrameError("invalid frame: not an object")
    return msg


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
            raise FrameError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_request(fd: int) -> tuple[dict[str, Any], bytes]:
    """Read one host -> kernel frame (kernel side, blocking)."""
    body_len, blob_len = parse_header(read_exact(fd, HEADER_SIZE))
    msg = marshal.loads(read_exact(fd, body_len))
    blob = read_exact(fd, blob_len) if blob_len else b""
    return msg, blob
