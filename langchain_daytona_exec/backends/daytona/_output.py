"""Output over the budget: cut to head and tail, the whole stream saved in the sandbox.

Daytona sends a call's whole output to the host; the model gets its head and tail
within ``DaytonaBackend(output_bytes=...)``, and the notice in the middle names the
file in the sandbox that holds the whole stream (up to :data:`SAVED_OUTPUT_BYTES`).
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.types import SavedOutput

__all__ = ["SAVED_OUTPUT_BYTES", "SAVED_OUTPUT_DIR", "SAVED_OUTPUT_SLOTS", "SavedOutputs", "cut"]

SAVED_OUTPUT_DIR = "/tmp/ldx-outputs"
"""Where a stream cut to the output budget is saved whole, inside the sandbox (the
local kernel uses the same folder)."""

SAVED_OUTPUT_BYTES = 16 * 1024 * 1024
"""The most bytes of one cut stream saved in the sandbox (the host already holds the
whole stream: Daytona sends all of it)."""

SAVED_OUTPUT_SLOTS = 2
"""Saved files are reused in turn by this many calls, so they take at most
2 streams x this x :data:`SAVED_OUTPUT_BYTES` of the sandbox's disk."""


def cut(text: str, budget: int, where: str = "") -> tuple[str, int]:
    """Head and tail of ``text`` within ``budget`` UTF-8 bytes, and the bytes cut.

    ``where``: what the cut notice adds about a saved copy (``"; ..."``).
    """
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= budget:
        return text, 0
    head, tail = budget // 2, budget - budget // 2
    dropped = len(data) - head - tail
    note = f"\n... [{dropped} bytes of output cut{where}] ...\n"
    return (
        data[:head].decode("utf-8", "replace") + note + data[-tail:].decode("utf-8", "replace"),
        dropped,
    )


class SavedOutputs:
    """Cuts one sandbox's streams to the budget, saving each cut one whole first.

    Args:
        write: Writes a file in the sandbox (``DaytonaSandbox.write_file``).

    """

    def __init__(self, write: Callable[[str, bytes], None]) -> None:
        self._write = write
        self._calls = 0

    def next_call(self) -> int:
        """Number the next call (its streams share one of the rotating file slots)."""
        self._calls += 1
        return self._calls

    def cut(
        self, text: str, budget: int, stream: str, saved: list[SavedOutput], call: int
    ) -> tuple[str, int]:
        """Cut ``text`` to ``budget`` bytes, first saving it whole in the sandbox.

        Only a stream over the budget is saved (one upload; none otherwise), up to
        :data:`SAVED_OUTPUT_BYTES`; the cut notice names the file and its bound.
        """
        data = text.encode("utf-8", "surrogateescape")
        if len(data) <= budget:
            return text, 0
        path = f"{SAVED_OUTPUT_DIR}/daytona-{call % SAVED_OUTPUT_SLOTS}.{stream}.txt"
        part = data[:SAVED_OUTPUT_BYTES]
        try:
            self._write(path, part)
        except SandboxError as exc:
            return cut(text, budget, f"; it could not be saved ({exc})")
        complete = len(part) == len(data)
        saved.append(SavedOutput(stream, path, len(part), complete))
        if complete:
            return cut(text, budget, f"; the complete output is saved at {path}")
        return cut(
            text,
            budget,
            f"; the first {len(part)} bytes are saved at {path} (the limit for saved "
            f"output is {SAVED_OUTPUT_BYTES} bytes)",
        )

    def cut_stdout(self, text: str, budget: int) -> tuple[str, int, list[SavedOutput]]:
        """:meth:`cut` for a call whose only stream is stdout (``exec``, ``code-run``).

        Returns:
            The text to show, the bytes cut, and the saved file (if any).
        """
        saved: list[SavedOutput] = []
        shown, dropped = self.cut(text, budget, "stdout", saved, self.next_call())
        return shown, dropped, saved
