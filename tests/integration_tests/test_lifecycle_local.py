"""SIGTERM of a host that has a local pool, a loose local sandbox and a Daytona-style pool."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.integration_tests.test_pool_local import (
    REPO,
    sandbox_count,
    sandbox_dirs,
    sandbox_processes,
    still_running,
    wait_until,
)

CHILD = textwrap.dedent(
    """
    import json, os, sys, threading, time
    sys.path.insert(0, {repo!r})
    from langchain_daytona_exec.backends.local import LocalBackend
    from langchain_daytona_exec.pool import SandboxPool
    from tests.unit_tests.fakes import FakeBackend

    class DaytonaLike(FakeBackend):
        name = "daytona"

        def create(self, *, labels=None):
            sb = super().create(labels=labels)
            close = sb.close
            def logged_close():
                with open({marker!r}, "a") as f:
                    f.write(sb.id + " " + threading.current_thread().name + "\\n")
                close()
            sb.close = logged_close
            return sb

    local = LocalBackend()  # made first: it used to own the only SIGTERM handler
    remote = SandboxPool(DaytonaLike())
    pool = SandboxPool(local)
    loose = local.create()
    loose.run_code("x = 1")
    with remote.session("r") as sb:
        sb.run_code("y = 2")
        remote_id = sb.id
    with pool.session("a") as sb:
        sb.run_code("z = 3")
    print(json.dumps({{"pid": os.getpid(), "remote": remote_id}}), flush=True)
    started = threading.Event()

    def busy():  # a worker thread mid-call on the loose sandbox when SIGTERM comes
        started.set()
        loose.run_code("import time; time.sleep(3)")

    threading.Thread(target=busy, daemon=True).start()
    started.wait()
    with pool.session("a"), remote.session("r"):  # the main thread holds both leases
        print("READY", flush=True)
        time.sleep(120)
    """
)


def test_sigterm_closes_local_and_daytona_pools_and_loose_sandboxes(tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    code = CHILD.format(repo=str(REPO), marker=str(marker))
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    ) as child:
        try:
            assert child.stdout is not None
            info = json.loads(child.stdout.readline() or "{}")
            assert child.stdout.readline().strip() == "READY"
            procs = sandbox_processes(child.pid)
            assert sandbox_count(procs) >= 2
            assert len(sandbox_dirs(info["pid"])) == 2
            child.send_signal(signal.SIGTERM)
            assert child.wait(30) == -signal.SIGTERM
            assert wait_until(lambda: not still_running(procs), 10), still_running(procs)
            assert wait_until(lambda: not sandbox_dirs(info["pid"]), 10), sandbox_dirs(info["pid"])
        finally:
            if child.poll() is None:
                child.kill()
    closed = dict(line.split() for line in marker.read_text().splitlines())
    assert list(closed) == [info["remote"]]  # the Daytona-style pool's, leased at the time
    assert "MainThread" not in closed.values()
