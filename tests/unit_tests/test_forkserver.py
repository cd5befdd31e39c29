"""The fork-server's host side and pure helpers, without a sandbox.

What sandboxed code observes under the fork-server is compared with bwrap in
``tests/integration_tests/test_launcher_equivalence.py``.
"""

from __future__ import annotations

import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langchain_daytona_exec import LocalBackend
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _limits as limits
from langchain_daytona_exec.backends.local import _zygote as zygote
from langchain_daytona_exec.backends.local import _zygote_root as zygote_root
from langchain_daytona_exec.backends.local._forkserver import (
    _BOOT,
    ForkedProcess,
    _zygote_sources,
)
from langchain_daytona_exec.backends.local._launch import FORKED_KERNEL_FDS
from langchain_daytona_exec.errors import IsolationUnavailableError


def test_host_and_zygote_agree_on_the_kernel_fds() -> None:
    assert FORKED_KERNEL_FDS == (zygote.REQ_FD, zygote.RESP_FD, zygote.CFG_FD)
    assert zygote.SANDBOX_KERNEL_DIR == isolation.SANDBOX_KERNEL_DIR
    assert zygote.SANDBOX_OOM_SCORE_ADJ == cgroups.SANDBOX_OOM_SCORE_ADJ


def _plan(**overrides: object) -> list[isolation.MountOp]:
    kwargs: dict[str, object] = {
        "paths": isolation.SandboxPaths(
            python="/usr/bin/python3", prefixes=("/opt/py",), site_packages=("/opt/py/site",)
        ),
        "limits": limits.LocalLimits(),
        "network": False,
        "host_workspace": "/host/work",
        "passwd_fd": 11,
        "group_fd": 12,
        "data_files": {"/proc/cmdline": 13},
    }
    kwargs.update(overrides)
    return isolation.mount_plan(**kwargs)  # type: ignore[arg-type]


def test_bwrap_options_are_the_rendered_plan() -> None:
    plan = _plan()
    argv = isolation.bwrap_argv(
        mode="root",
        paths=isolation.SandboxPaths(
            python="/usr/bin/python3", prefixes=("/opt/py",), site_packages=("/opt/py/site",)
        ),
        limits=limits.LocalLimits(),
        network=False,
        host_workspace="/host/work",
        seccomp_fd=10,
        passwd_fd=11,
        group_fd=12,
        kernel_argv=["k"],
        data_files={"/proc/cmdline": 13},
    )
    rendered = isolation.render_plan(plan)
    start = argv.index("--proc")
    assert argv[start : start + len(rendered)] == rendered
    assert argv[start + len(rendered) :] == ["--seccomp", "10", "--", "k"]


def test_plan_steps_are_known_and_ordered() -> None:
    plan = _plan()
    kinds = {op[0] for op in plan}
    known = {"proc", "dev", "tmpfs", "dir", "symlink", "ro-bind", "ro-bind-try", "bind"}
    assert kinds <= known | {"ro-bind-data", "file", "remount-ro"}
    assert plan[:2] == [("proc", "/proc"), ("dev", "/dev")]  # before any bind, as bwrap
    assert ("bind", "/host/work", isolation.SANDBOX_WORKDIR) in plan
    assert ("ro-bind-data", 13, "/proc/cmdline", 0o444) in plan
    # /proc read-only (no process may lower its oom_score_adj), after the mounts on it
    ro_proc = plan.index(("remount-ro", "/proc"))
    assert ro_proc > plan.index(("ro-bind-data", 13, "/proc/cmdline", 0o444))
    assert not any(str(op[2]).startswith("/proc/") for op in plan[ro_proc:] if len(op) > 2)
    with pytest.raises(ValueError, match="unknown mount step"):
        isolation.render_plan([("mystery", "/x")])


def test_boot_runs_the_sources_in_order_as_importable_modules_then_drops_their_names() -> None:
    """``_BOOT`` on toy modules: the second imports the first by its full name although
    no such package is on ``sys.path`` (``-I -S``, nothing read from disk); the last one
    serves the payload, and ``sys.modules`` no longer lists either."""
    first = ("toy.pkg.first", "/opt/ldx-kernel/first.py", b"VALUE = 6\n")
    second = (
        "toy.pkg.second",
        "/opt/ldx-kernel/second.py",
        b"import sys\nfrom toy.pkg.first import VALUE\n"
        b"def serve(payload):\n"
        b"    print(VALUE * int(payload.pop()), [n for n in sys.modules if n.startswith('toy')])\n",
    )
    fd = isolation.data_fd(marshal.dumps(([first, second], b"7")))
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _BOOT, str(fd)],
            pass_fds=[fd],
            env={},
            capture_output=True,
            timeout=60,
        )
    finally:
        os.close(fd)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"42 []\n", b"")


def test_the_zygote_sources_are_this_packages_modules_in_import_order() -> None:
    sources = _zygote_sources()
    assert [name for name, _, _ in sources] == [zygote_root.__name__, zygote.__name__]
    assert [path for _, path, _ in sources] == [
        f"{isolation.SANDBOX_KERNEL_DIR}/_zygote_root.py",
        f"{isolation.SANDBOX_KERNEL_DIR}/_zygote.py",
    ]
    for (_, _, source), module in zip(sources, (zygote_root, zygote), strict=True):
        with open(str(module.__file__), "rb") as f:
            assert source == f.read()


def test_zygote_resolves_bind_sources_and_unescapes_mountinfo(tmp_path: object) -> None:
    link = os.path.join(str(tmp_path), "link")
    os.symlink("/usr", link)
    plan = [("ro-bind", link, "/x"), ("symlink", link, "/y"), ("dir", "/z", 0o755)]
    assert zygote_root.resolved(plan) == [
        ("ro-bind", os.path.realpath("/usr"), "/x"),
        ("symlink", link, "/y"),
        ("dir", "/z", 0o755),
    ]
    assert zygote_root._unescape(b"/a\\040b\\011c\\134d") == "/a b\tc\\d"


def test_steps_below_a_bind_never_follow_a_symlink_out_of_the_new_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind's folders (the workspace) may hold symlinks the sandbox planted."""
    new, outside = tmp_path / "newroot", tmp_path / "host"
    work = new / "workspace"
    (work / "inner").mkdir(parents=True)
    outside.mkdir(mode=0o700)
    monkeypatch.setattr(zygote_root._roots, "new", str(new))
    monkeypatch.setattr(zygote_root._roots, "bound", (str(work),))
    os.symlink(str(outside), work / "escape")  # absolute: the host's file system
    os.symlink("../../host", work / "relative")  # relative, climbing out
    os.symlink("inner", work / "within")  # stays inside: followed as before
    for link in ("escape", "relative"):
        below = (("dir", f"/workspace/{link}/x", 0o755), ("symlink", "t", f"/workspace/{link}/y"))
        for step in below:
            with pytest.raises(PermissionError, match="leads outside the new root"):
                zygote_root._run_step(step, [], [])
        with pytest.raises(PermissionError, match="leads outside the new root"):
            zygote_root._run_step(("dir", f"/workspace/{link}", 0o755), [], [])
    assert os.listdir(outside) == [] and outside.stat().st_mode & 0o777 == 0o700
    zygote_root._run_step(("dir", "/workspace/within/x", 0o750), [], [])
    assert (work / "inner" / "x").stat().st_mode & 0o777 == 0o750
    # paths the plan made itself (not below a bind) are not resolved
    monkeypatch.setattr(zygote_root._roots, "bound", ())
    zygote_root._run_step(("symlink", "t", "/workspace/escape/y"), [], [])
    assert os.readlink(outside / "y") == "t"  # control: without the check it escapes


def test_launcher_is_validated_and_root_only() -> None:
    with pytest.raises(ValueError, match="launcher must be one of"):
        LocalBackend(launcher="fast")  # type: ignore[arg-type]
    explicit = LocalBackend(launcher="forkserver", unsafe_no_isolation=True)
    with pytest.raises(IsolationUnavailableError, match="needs root"):
        explicit.launcher_for("userns")
    assert LocalBackend(launcher="auto", unsafe_no_isolation=True).launcher_for("userns") == (
        "bwrap"
    )
    assert LocalBackend(launcher="bwrap", unsafe_no_isolation=True).launcher_for("root") == (
        "bwrap"
    )


def _forked(argv: list[str]) -> tuple[subprocess.Popen[bytes], ForkedProcess, int]:
    """A ForkedProcess around an ordinary child, with the status pipe's write end."""
    status_r, status_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    child = subprocess.Popen(argv, stderr=stderr_w)
    os.close(stderr_w)
    return child, ForkedProcess(child.pid, os.pidfd_open(child.pid), status_r, stderr_r), status_w


def test_forked_process_reports_the_status_pid_1_wrote() -> None:
    child, proc, status_w = _forked([sys.executable, "-c", "import sys; sys.exit(3)"])
    os.write(status_w, b"137")  # what pid 1 writes for a kernel killed by SIGKILL
    os.close(status_w)
    assert proc.wait(10) == 137
    assert proc.poll() == 137 and proc.returncode == 137
    child.wait()
    assert proc.stderr is not None
    proc.stderr.close()


def test_forked_process_wait_without_a_timeout_waits_as_popen_does() -> None:
    child, proc, status_w = _forked([sys.executable, "-c", "import time; time.sleep(0.2)"])
    os.write(status_w, b"0")
    os.close(status_w)
    assert proc.wait() == 0  # raised OverflowError (10**9 s in ms overflows poll's int)
    child.wait()
    assert proc.stderr is not None
    proc.stderr.close()


def test_forked_process_wait_times_out_then_kill_reports_sigkill() -> None:
    child, proc, status_w = _forked([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert proc.poll() is None
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.05)
        assert time.monotonic() - start < 5
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL  # killed before it could write a status
        proc.kill()  # harmless once it has ended
    finally:
        os.close(status_w)
        child.kill()
        child.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.mark.parametrize(
    ("launcher", "said"), [("forkserver", "fork-server"), ("bwrap", "(bwrap)")]
)
def test_describe_names_the_launcher(launcher: str, said: str) -> None:
    backend = LocalBackend(launcher=launcher, unsafe_no_isolation=True)  # type: ignore[arg-type]
    backend.__dict__["mode"] = "root"  # as detected on a root host
    assert said in backend.describe()["mode"]


def test_a_fork_of_the_host_forgets_the_fork_server() -> None:
    """The zygote's socket belongs to the process that started it, never to a fork."""
    import warnings

    from langchain_daytona_exec.backends.local._forkserver import fork_server

    server = fork_server()
    with warnings.catch_warnings():  # 3.12+ warns about fork in threaded processes
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: syscalls only, then exit without Python's cleanup
        forgotten = fork_server.cache_info().currsize == 0
        closed = server._sock is None or server._sock.fileno() == -1
        os._exit(0 if forgotten and closed else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fork_server() is server  # the parent keeps its own
