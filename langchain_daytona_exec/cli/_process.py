"""The console script as a process: it adopts its orphans, reaps them, and exits fast."""

from __future__ import annotations

import contextlib
import os
import sys

REAP_TIMEOUT_S = 5.0
"""Seconds the command waits, before exiting, for the processes its sandboxes left
behind (bwrap helpers that outlive their parent) to end, so none is left running or
unreaped in the caller's process group."""

_REAP_FIRST_PAUSE_S = 0.0005
_REAP_MAX_PAUSE_S = 0.01
"""Polling pauses while waiting for leftover children: the helpers usually end within a
few ms of the sandbox, so the pause starts short (a fixed 10 ms added ~5 ms to every
``exec``) and doubles up to 10 ms (a child that lingers costs little CPU)."""

_PR_SET_CHILD_SUBREAPER = 36
"""prctl(2) option: orphaned descendants are re-parented to this process, not to init."""


def become_subreaper() -> None:
    """Adopt our orphaned descendants, so :func:`reap_children` can wait for them."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_children(timeout: float = REAP_TIMEOUT_S) -> None:
    """Wait (at most ``timeout`` seconds) until every child process has ended."""
    import time

    deadline = time.monotonic() + timeout
    pause = _REAP_FIRST_PAUSE_S
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left
        if pid == 0:  # children remain, none has ended yet
            if time.monotonic() >= deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, _REAP_MAX_PAUSE_S)


def exit_now(status: int) -> None:
    """End the process with ``status`` now, skipping the interpreter's teardown.

    What a one-shot command needs of Python's exit is done here: the ``atexit`` hooks
    run and stdout and stderr are flushed; freeing every module and object one by one
    (~6 ms after the sandbox imports) is skipped. Returns (for the normal exit) when a
    non-daemon thread is still running, which Python's exit would wait for, or when a
    flush fails, so that Python reports it as it always does.
    """
    import atexit
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()) or getattr(
        threading, "_threading_atexits", None
    ):  # a thread (or a concurrent.futures pool) Python's exit would wait for
        return
    atexit._run_exitfuncs()
    atexit._clear()  # ran: a normal exit after a failed flush must not run them again
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)
