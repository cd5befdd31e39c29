"""Output capture of the in-sandbox kernel (stdlib only; runs INSIDE the sandbox).

:class:`Capture` keeps a byte budget of one stream (head and tail) and saves a stream
that outgrows it to a file; :class:`FdCapture` points fd 1 or 2 at a pipe drained by a
thread, so output of the code *and* of its child processes is captured. Imported by
``kernel.py`` as a top-level module, as ``protocol`` is.
"""

from __future__ import annotations

import _thread
import os
import select
import time

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports (re, collections...) at start
if TYPE_CHECKING:
    from typing import Any

FINISH_DRAIN_S = 0.2
"""How long the end of a call keeps draining output that is still arriving (a child
that outlives the call and floods would otherwise hold the reply forever)."""


def decode(data: bytes) -> str:
    """Output bytes as text; bytes that are not UTF-8 stay visible as escapes."""
    return data.decode("utf-8", "backslashreplace")


class Capture:
    """Keeps the first half and the last half of a byte budget of one stream.

    With a ``path``, a stream that outgrows the budget is also written, from its first
    byte, to that file (opened only then: a call within budget writes nothing), up to
    ``file_limit`` bytes, so that the complete output can be read afterwards.
    """

    def __init__(self, budget: int, path: str = "", file_limit: int = 0) -> None:
        self.head_budget = budget // 2
        self.tail_budget = budget - self.head_budget
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.path = path
        self.file_limit = file_limit
        self.fd = -1
        self.saved = 0
        self.stopped = ""  # why saving stopped early: "" (it did not), or the reason

    def feed(self, data: bytes) -> None:
        if self.fd >= 0:
            self._save(data)
        room = self.head_budget - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            extra = len(self.tail) - self.tail_budget
            if extra > 0:
                if not self.dropped and self.path:  # nothing lost yet: save it all
                    self._open()
                    self._save(bytes(self.head) + bytes(self.tail))
                del self.tail[:extra]
                self.dropped += extra

    def _open(self) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            self.stopped = f"it could not be saved: {exc.strerror}"

    def _save(self, data: bytes) -> None:
        room = self.file_limit - self.saved
        if len(data) > room:
            data = data[:room]
            self.stopped = f"the limit for saved output is {self.file_limit} bytes"
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                self.saved += n
                view = view[n:]
        except OSError as exc:  # ENOSPC: /tmp is full; EFBIG: RLIMIT_FSIZE
            self.stopped = f"saving stopped: {exc.strerror}"
        if self.stopped:
            self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def saved_file(self, stream: str) -> dict[str, Any] | None:
        """What the reply says about this stream's saved file, if it has one."""
        if not self.saved:
            return None
        return {
            "stream": stream,
            "path": self.path,
            "bytes": self.saved,
            "complete": not self.stopped,
        }

    def text(self) -> tuple[str, int]:
        self._close()
        if not self.dropped:
            return decode(bytes(self.head + self.tail)), 0
        if not self.path:
            where = ""
        elif not self.stopped:
            where = f"; the complete output is saved at {self.path}"
        elif self.saved:
            where = f"; the first {self.saved} bytes are saved at {self.path} ({self.stopped})"
        else:
            where = f"; {self.stopped}"
        note = f"\n... [{self.dropped} bytes of output cut{where}] ...\n"
        return decode(bytes(self.head)) + note + decode(bytes(self.tail)), self.dropped


class FdCapture:
    """fd 1 or 2 pointed at a pipe; a daemon thread drains it into the active Capture.

    Every read happens under the lock, so ``finish`` (which drains what is left until
    the pipe is empty) never misses a chunk that the thread had read but not stored.
    """

    def __init__(self, target_fd: int) -> None:
        r, w = os.pipe()
        os.dup2(w, target_fd)
        os.close(w)
        os.set_blocking(r, False)
        os.set_inheritable(r, False)
        self.fd = r
        self.lock = _thread.allocate_lock()
        self.capture: Capture | None = None
        _thread.start_new_thread(self._drain, ())

    def _read_available(self) -> bool:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        if data and self.capture is not None:
            self.capture.feed(data)
        return bool(data)

    def _drain(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            poller.poll()
            with self.lock:
                self._read_available()

    def start(self, capture: Capture) -> None:
        with self.lock:
            while self._read_available():  # output of daemons between calls: dropped
                pass
            self.capture = capture

    def finish(self) -> tuple[str, int]:
        deadline = time.monotonic() + FINISH_DRAIN_S
        with self.lock:
            while self._read_available() and time.monotonic() < deadline:
                pass
            cap, self.capture = self.capture, None
        return cap.text() if cap else ("", 0)
