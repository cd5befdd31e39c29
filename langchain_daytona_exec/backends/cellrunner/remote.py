"""The cell runner's entry point for an interpreter reached only through its stdout.

Daytona's ``code_interpreter`` returns what the code prints, nothing else. The host
sends (see ``backends/daytona/_python.py``) a call of :func:`run_and_report`, which
runs the cell with the session's :class:`~.run.CellRunner` and prints one record
line, ``<marker><nonce><json>``, that the host strips from stdout. The nonce is random
per call, so code that prints a look-alike line cannot forge a record. A record too
big for one line (charts, images) is written to a file under ``spill_dir`` and the
line names that file instead; the host downloads it in one extra request.
"""

from __future__ import annotations

import sys

from . import run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MARKER = "\x1eLDX-RECORD:"
"""Starts the record line (an ASCII record separator, then a tag)."""

INLINE_MAX_CHARS = 32_768
"""The largest record printed inline; a bigger one goes to a file (a websocket frame
carrying megabytes of base64 would be slow and may hit proxy limits)."""

RUNNER_NAME = "__ldx_runner"
"""Name of the session's runner in the namespace (re-created if the user deletes it)."""


def run_and_report(ns: dict[str, Any], code: str, nonce: str, spill_dir: str) -> None:
    """Run ``code`` in ``ns`` and print the record line of call ``nonce``.

    Args:
        ns: The interpreter context's globals.
        code: The user's code.
        nonce: This call's random nonce.
        spill_dir: Folder for records too big to print (emptied at each call).
    """
    import json
    import os

    runner = ns.get(RUNNER_NAME)
    if not isinstance(runner, run.CellRunner):
        runner = ns[RUNNER_NAME] = run.CellRunner(ns)
    try:
        for entry in os.listdir(spill_dir):
            os.unlink(os.path.join(spill_dir, entry))
    except OSError:
        pass
    record = runner.run(code)
    record.update(runner.finish())
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    text = json.dumps(record)
    if len(text) > INLINE_MAX_CHARS:
        os.makedirs(spill_dir, exist_ok=True)
        path = os.path.join(spill_dir, f"{nonce}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        text = json.dumps({"file": path})
    sys.stdout.write(MARKER + nonce + text + "\n")
    sys.stdout.flush()
