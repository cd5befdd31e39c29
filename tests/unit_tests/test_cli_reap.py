from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, time
from langchain_daytona_exec.cli._process import reap_children as _reap_children

pids = []
for delay in (0.0, 0.03, 0.12):  # one already ended, two that end while it waits
    pid = os.fork()
    if pid == 0:
        time.sleep(delay)
        os._exit(0)
    pids.append(pid)
_reap_children(timeout=10.0)
try:
    os.waitpid(-1, os.WNOHANG)
    print("a child was left")
except ChildProcessError:
    print("all reaped")
"""


def test_reap_children_waits_until_every_child_has_ended() -> None:
    # In a child interpreter: waitpid(-1) here would reap pytest's own children.
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "all reaped"


def test_reap_children_gives_up_at_its_timeout() -> None:
    script = SCRIPT.replace("(0.0, 0.03, 0.12)", "(30.0,)").replace("timeout=10.0", "timeout=0.1")
    script += "\nos.kill(pids[0], 9)\nos.waitpid(pids[0], 0)\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "a child was left"
