"""Host-side hygiene of the local backend: the base folder, the memory budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local._hostdirs import default_base_dir, ensure_private_dir
from langchain_daytona_exec.errors import IsolationUnavailableError


def test_default_is_per_user_under_the_runtime_dir_or_temp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_base_dir() == str(tmp_path / "langchain-daytona-exec")
    assert LocalBackend().base_dir == str(tmp_path / "langchain-daytona-exec")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert default_base_dir() == str(tmp_path / f"langchain-daytona-exec-{os.geteuid()}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/path")  # not absolute: ignored
    assert default_base_dir().endswith(f"langchain-daytona-exec-{os.geteuid()}")


def test_explicit_base_dir_is_kept(tmp_path: Path) -> None:
    assert LocalBackend(base_dir=str(tmp_path / "mine")).base_dir == str(tmp_path / "mine")


def test_created_private(tmp_path: Path) -> None:
    base = tmp_path / "a" / "base"
    ensure_private_dir(str(base))
    assert base.is_dir() and (base.stat().st_mode & 0o777) == 0o700
    ensure_private_dir(str(base))  # idempotent


def test_own_world_writable_folder_is_tightened(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    ensure_private_dir(str(base))
    assert base.stat().st_mode & 0o022 == 0


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "base"
    link.symlink_to(target)
    with pytest.raises(IsolationUnavailableError, match="symlink"):
        ensure_private_dir(str(link))
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(IsolationUnavailableError, match="not a usable folder"):
        ensure_private_dir(str(file))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder owned by another uid")
def test_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    os.chown(base, 65534, 65534)
    with pytest.raises(IsolationUnavailableError, match="belongs to uid 65534"):
        ensure_private_dir(str(base))
    with pytest.raises(IsolationUnavailableError, match="belongs to uid 65534"):
        LocalBackend(base_dir=str(base), unsafe_no_isolation=True).create()
    assert os.listdir(base) == []  # nothing was planted in it


def test_memory_budget_warns_when_the_pool_cannot_fit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain_daytona_exec.backends.local import _limits as limits

    mib = 1024 * 1024
    monkeypatch.setattr(cgroups, "memory_available", lambda: (3000 * mib, "the test's cgroup"))
    backend = LocalBackend(limits=limits.LocalLimits(memory_bytes=1024 * mib))
    with caplog.at_level("WARNING", logger="langchain_daytona_exec"):
        assert backend.check_memory_budget(2) is None  # 2 GiB fits in ~2.9 GiB
        assert not caplog.records
        message = backend.check_memory_budget(4)
    assert message is not None and "4 sandboxes x 1024 MiB" in message and "4096 MiB" in message
    assert "3000 MiB available (the test's cgroup)" in message
    assert "max_size=2 or less" in message
    assert [r.getMessage() for r in caplog.records] == [f"sandbox memory budget: {message}"]


def test_memory_available_is_bounded_by_the_machine() -> None:

    available, source = cgroups.memory_available()
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert 0 <= available <= total and source


def test_the_pool_checks_its_memory_budget_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_daytona_exec.backends.local import _limits as limits
    from langchain_daytona_exec.pool import SandboxPool

    mib = 1024 * 1024
    monkeypatch.setattr(cgroups, "memory_available", lambda: (1500 * mib, "the test"))
    backend = LocalBackend(limits=limits.LocalLimits(memory_bytes=512 * mib))
    calls: list[str | None] = []
    check = backend.check_memory_budget
    monkeypatch.setattr(backend, "check_memory_budget", lambda n: calls.append(check(n)))
    pool = SandboxPool(backend, max_size=4)
    try:
        assert calls == []  # nothing at construction (no sandbox, no probing)
        assert pool.backend is backend and pool.backend is backend
        assert len(calls) == 1 and calls[0] is not None
        assert "4 sandboxes x 512 MiB" in calls[0] and "max_size=2 or less" in calls[0]
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("mode", "layout", "memory", "files"),
    [
        ("root", (1, {"memory": "/m", "pids": "/p", "cpu": "/c"}), "cgroup v1 memory", "kept"),
        ("root", None, "RLIMIT_DATA", "kept"),  # root, but the cgroup tree is read-only
        ("userns", None, "RLIMIT_DATA", "lost"),
    ],
)
def test_describe_says_which_limits_hold(
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    layout: tuple[int, dict[str, str]] | None,
    memory: str,
    files: str,
) -> None:

    monkeypatch.setattr(cgroups, "cgroup_layout", lambda: layout)
    backend = LocalBackend()
    backend.__dict__["mode"] = mode  # the detected mode (a cached property)
    info = backend.describe()
    assert set(info) == {
        "mode",
        "memory",
        "processes",
        "cpu",
        "disk",
        "files_after_crash",
        "network",
        "oom",
    }
    assert info["mode"].startswith(mode) and memory in info["memory"]
    assert "RLIMIT_NPROC 256" in info["processes"]
    assert ("user namespace" in info["processes"]) == (mode == "userns")
    assert info["files_after_crash"].startswith(files)
    assert ("quota of 1 core" in info["cpu"]) == (layout is not None)
    assert info["network"] == "no network"
    assert LocalBackend().limits.rlimits(cgroup=layout is not None)["data"] == (
        None if layout else LocalBackend().limits.memory_bytes
    )


def test_host_oom_priority_is_lowered_never_raised() -> None:
    import subprocess
    import sys

    code = (
        "from langchain_daytona_exec.backends.local import _cgroups as cgroups\n"
        "before = int(open('/proc/self/oom_score_adj').read())\n"
        "got = cgroups.protect_host_from_oom()\n"
        "after = int(open('/proc/self/oom_score_adj').read())\n"
        "print(before, got, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    before, got, after = (int(x) for x in out.stdout.split())
    assert got == after <= before  # it reports what holds, and never raises it
    # Lowered when this process may (root with CAP_SYS_RESOURCE), else left alone.
    assert after in (min(before, -500), before)


def test_oom_argv_starts_the_command_at_the_sandbox_value() -> None:
    """The command runs with its own argv (what ``ps`` and the sandbox's /proc/1 show)
    and oom_score_adj, and even when the write is refused it still runs, silently."""
    import subprocess

    from langchain_daytona_exec.backends.local import _cgroups as cgroups

    probe = ["/bin/sh", "-c", 'echo "$0" "$@"; cat /proc/self/oom_score_adj', "p0", "a b"]
    out = subprocess.run(cgroups.oom_argv(probe), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.splitlines() == ["p0 a b", str(cgroups.SANDBOX_OOM_SCORE_ADJ)]
    refused = cgroups.oom_argv(probe, value=-1001)  # out of range: the kernel says EINVAL
    out = subprocess.run(refused, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == ""
    with open("/proc/self/oom_score_adj") as f:
        assert out.stdout.splitlines() == ["p0 a b", f.read().strip()]


def test_cgroup_v2_children_need_delegated_controllers(tmp_path: Path) -> None:

    control = tmp_path / "cgroup.subtree_control"
    control.write_text("cpu memory pids\n")
    assert cgroups._v2_delegates(str(tmp_path), ("memory", "pids"))
    control.write_text("cpu\n")  # a plain file keeps "+memory +pids" as text: not enabled
    assert not cgroups._v2_delegates(str(tmp_path), ("memory", "pids"))
    assert control.read_text() == "+memory +pids"  # it did ask the kernel to enable them
    assert not cgroups._v2_delegates(str(tmp_path / "absent"), ("memory",))


def test_mount_calls_use_the_loaded_libc_without_a_library_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctypes.util

    from langchain_daytona_exec.backends.local import _mounts as mounts

    def no_search(name: str) -> str | None:  # it runs ldconfig -p: 3-15 ms
        raise AssertionError(f"find_library({name!r}) called")

    monkeypatch.setattr(ctypes.util, "find_library", no_search)
    mounts._libc.cache_clear()
    try:
        libc = mounts._libc()
        for symbol in ("mount", "umount2", "unshare"):
            assert callable(getattr(libc, symbol))
        assert libc.getpid() == os.getpid()  # a real libc call answers
    finally:
        mounts._libc.cache_clear()


@pytest.mark.parametrize(
    "env",
    [{}, {"TMPDIR": "{tmp}"}, {"TEMP": "{tmp}"}, {"TMP": "{tmp}"}, {"TMPDIR": ""}],
)
def test_the_temp_dir_is_what_tempfile_says(tmp_path: Path, env: dict[str, str]) -> None:
    """In a fresh interpreter: the same answer as ``tempfile.gettempdir()``, and without
    importing ``tempfile`` when no variable names another folder."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from langchain_daytona_exec.backends.local._hostdirs import temp_dir\n"
        "ours = temp_dir(); loaded = 'tempfile' in sys.modules\n"
        "import tempfile\n"
        "print(json.dumps([ours, tempfile.gettempdir(), loaded]))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    clean.update({k: v.format(tmp=tmp_path) for k, v in env.items()})
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )
    ours, theirs, loaded = json.loads(out.stdout)
    assert ours == theirs
    assert loaded is any(env.values())  # asked only when a variable names a folder
