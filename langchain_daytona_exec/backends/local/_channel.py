"""Reading one reply of the kernel from its response pipe, within a deadline.

The request side and the rule of the channel (any failure before a reply is fully read
kills the interpreter) are :meth:`LocalSandbox._call`'s.
"""

from __future__ import annotations

import os
import select
import time

from langchain_daytona_exec.backends.local import protocol

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Any


class KernelFault(Exception):
    """The kernel reported an internal error: its state is unknown, so it restarts."""


def read_exact(fd: int, n: int, deadline: float) -> bytearray:
    """Read exactly ``n`` bytes from ``fd``.

    Raises:
        TimeoutError: ``deadline`` (``time.monotonic()``) passed first.
        protocol.ChannelClosedError: The kernel closed its end.
    """
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if not poller.poll(remaining * 1000):
            continue
        k = os.readv(fd, [view[got : got + (1 << 20)]])
        if not k:
            raise protocol.ChannelClosedError("the sandbox closed its channel")
        got += k
    view.release()
    return buf


def read_reply(
    fd: int, deadline: float, output_bytes: int, max_blob: int = 0
) -> tuple[dict[str, Any], bytearray]:
    """Read one reply frame: its message and its blob (at most ``max_blob`` bytes).

    ``output_bytes`` is the sandbox's output budget, which bounds the reply's body.
    """
    header = read_exact(fd, protocol.HEADER_SIZE, deadline)
    body_len, blob_len = protocol.parse_header(
        bytes(header), protocol.max_reply_body(output_bytes), max_blob
    )
    body = read_exact(fd, body_len, deadline)
    text = protocol.ascii_text(body)
    del body  # the parse below may hold ~4x the text: keep only one copy besides
    msg = protocol.decode_response(text)
    del text
    blob = read_exact(fd, blob_len, deadline) if blob_len else bytearray()
    return msg, blob
