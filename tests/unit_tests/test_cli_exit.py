"""The console script's exit: status, flushed output and ``atexit`` hooks, no teardown."""

from __future__ import annotations

import subprocess
import sys

EXIT = """
import atexit, sys, threading
from langchain_daytona_exec.cli._process import exit_now as _exit_now

atexit.register(lambda: sys.stderr.write("|atexit ran"))
print("buffered", end=" ")
sys.stderr.write("to stderr")
{before}
_exit_now(7)
print("returned")
"""


def _run(before: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXIT.format(before=before)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_now_keeps_the_status_the_output_and_the_atexit_hooks() -> None:
    done = _run()
    assert done.returncode == 7
    assert done.stdout == "buffered "
    assert done.stderr == "to stderr|atexit ran"  # the hook ran, once


def test_exit_now_leaves_a_running_thread_to_the_normal_exit() -> None:
    # Python's exit waits for non-daemon threads: so must we (it returns, and the
    # script goes on to the normal exit, which runs the hook once).
    thread = "t = threading.Thread(target=lambda: __import__('time').sleep(0.2)); t.start()"
    done = _run(thread)
    assert done.returncode == 0
    assert done.stdout == "buffered returned\n"
    assert done.stderr == "to stderr|atexit ran"


BROKEN_STDOUT = """
class Broken:
    def write(self, text): return len(text)
    def flush(self): raise BrokenPipeError(32, "Broken pipe")
sys.stdout = Broken()
"""


def test_exit_now_leaves_a_failed_flush_to_python() -> None:
    # As Python does: the flush error is reported and the status is 120.
    done = _run(BROKEN_STDOUT)
    assert done.returncode == 120
    assert "BrokenPipeError" in done.stderr
    assert done.stderr.count("|atexit ran") == 1  # not run again by the normal exit
