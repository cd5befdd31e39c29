from __future__ import annotations

import os
from typing import Any

import pytest

from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _seccomp as seccomp_filter
from langchain_daytona_exec.backends.local._isolation import SandboxPaths
from langchain_daytona_exec.backends.local._limits import GiB, LocalLimits, MiB

PATHS = SandboxPaths(
    python="/opt/py/bin/python3.11",
    prefixes=("/opt/py",),
    site_packages=("/home/me/proj/.venv/lib/python3.11/site-packages",),
    mpl_cache="/home/me/.cache/mpl",
)


def argv(**overrides: object) -> list[str]:
    kwargs: dict[str, object] = {
        "mode": "root",
        "paths": PATHS,
        "limits": LocalLimits(),
        "network": False,
        "host_workspace": "/tmp/ldx/1-abc/work",
        "seccomp_fd": 7,
        "passwd_fd": 8,
        "group_fd": 9,
        "kernel_argv": ["/opt/py/bin/python3.11", "-I", "-S", "k.py", "cfg"],
    }
    kwargs.update(overrides)
    return isolation.bwrap_argv(**kwargs)  # type: ignore[arg-type]


def pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_root_mode_unshares_everything_but_the_user_namespace() -> None:
    args = argv()
    for flag in ("--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup"):
        assert flag in args
    assert "--unshare-net" in args
    assert "--unshare-user" not in args
    assert {"--die-with-parent", "--new-session", "--clearenv"} <= set(args)
    assert pairs(args, "--cap-drop") == ["ALL"]
    assert sorted(pairs(args, "--cap-add")) == ["CAP_SETGID", "CAP_SETUID"]


def test_network_flag_shares_the_network_and_resolver_files() -> None:
    args = argv(network=True)
    assert "--unshare-net" not in args
    assert "/etc/resolv.conf" in pairs(args, "--ro-bind-try")
    assert "/etc/resolv.conf" not in pairs(argv(), "--ro-bind-try")


def test_userns_mode_uses_a_user_namespace_and_an_internal_workspace() -> None:
    args = argv(mode="userns", host_workspace=None)
    assert {"--unshare-all", "--unshare-user", "--disable-userns"} <= set(args)
    assert "--cap-add" not in args
    assert "/workspace" in pairs(args, "--tmpfs")
    assert "--share-net" in argv(mode="userns", host_workspace=None, network=True)


def test_never_binds_the_host_root_and_binds_runtime_read_only() -> None:
    args = argv()
    assert "/" not in pairs(args, "--bind") + pairs(args, "--ro-bind")
    ro = pairs(args, "--ro-bind")
    assert "/usr" in ro and "/opt/py" in ro
    assert "/home/me/proj/.venv/lib/python3.11/site-packages" in ro
    assert pairs(args, "--bind") == ["/tmp/ldx/1-abc/work"]


def test_tmp_and_shm_are_size_capped() -> None:
    limits = LocalLimits(tmp_bytes=12345)
    args = argv(limits=limits)
    sizes = pairs(args, "--size")
    tmpfs = pairs(args, "--tmpfs")
    assert tmpfs == ["/tmp", "/dev/shm", isolation.SANDBOX_KERNEL_DIR]
    assert sizes == ["12345", "12345", str(isolation.KERNEL_DIR_BYTES)]
    ws = argv(mode="userns", host_workspace=None, limits=LocalLimits(workspace_bytes=999))
    assert "999" in pairs(ws, "--size")


def test_no_environment_value_is_on_the_command_line() -> None:
    args = argv()
    assert "--setenv" not in args  # argv is world-readable (ps); env travels via an fd
    assert "--clearenv" in args


def test_only_the_kernel_files_are_mounted() -> None:
    args = argv()
    binds = pairs(args, "--ro-bind-try")
    assert "/opt/ldx-kernel/kernel.py" in [
        args[i + 2] for i, a in enumerate(args) if a == "--ro-bind-try"
    ]
    assert not any(b.endswith("backends/local") for b in pairs(args, "--ro-bind"))
    assert all(not b.endswith(("_backend.py", "_isolation.py")) for b in binds)


def test_fds_and_kernel_command_come_last() -> None:
    args = argv()
    assert pairs(args, "--seccomp") == ["7"]
    assert args[args.index("--ro-bind-data") + 1 : args.index("--ro-bind-data") + 3] == [
        "8",
        "/etc/passwd",
    ]
    sep = args.index("--")
    assert args[sep + 1 :] == ["/opt/py/bin/python3.11", "-I", "-S", "k.py", "cfg"]


def test_parents_of_bound_runtime_are_made_traversable() -> None:
    paths = SandboxPaths(
        python="/root/.pyenv/v/bin/python", prefixes=("/root/.pyenv/v",), site_packages=()
    )
    args = argv(paths=paths)
    dirs = pairs(args, "--dir")
    assert {"/etc", "/root", "/root/.pyenv", "/opt"} <= set(dirs)  # /opt: the kernel's folder
    assert dirs.index("/root") < dirs.index("/root/.pyenv")
    for i, arg in enumerate(args):
        if arg == "--dir":
            assert args[i - 2 : i] == ["--perms", "0755"]


def test_sandbox_env_has_no_host_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    env = isolation.sandbox_env(PATHS, {"EXTRA": "1"})
    assert "OPENAI_API_KEY" not in env
    assert "sk-secret" not in "".join(env.values())
    assert env["EXTRA"] == "1"
    assert env["PATH"].startswith("/opt/py/bin:")
    assert env["PYTHONPATH"] == "/home/me/proj/.venv/lib/python3.11/site-packages"


def test_generated_passwd_names_the_sandbox_uid() -> None:
    passwd, group = isolation.passwd_and_group(1800000001, 1800000001)
    assert b"sandbox:x:1800000001:1800000001:" in passwd
    assert b"sandbox:x:1800000001:" in group


def test_rlimits_disable_core_dumps() -> None:
    limits = LocalLimits(nproc=10, cpu_seconds=None).rlimits()
    assert limits["core"] == 0
    assert limits["nproc"] == 10
    assert limits["cpu"] is None


def test_seccomp_program_is_a_nonempty_bpf_program() -> None:
    prog = seccomp_filter.seccomp_program(False)
    assert len(prog) % 8 == 0 and len(prog) > 8 * len(seccomp_filter._DENIED_SYSCALLS)
    assert seccomp_filter.seccomp_program(True) != prog


def test_tmp_is_mounted_before_binds_so_a_runtime_under_tmp_stays_visible() -> None:
    paths = SandboxPaths(
        python="/tmp/clone/.venv/bin/python",
        prefixes=(),
        site_packages=("/tmp/clone/.venv/lib/python3.11/site-packages",),
    )
    args = argv(paths=paths)
    tmpfs_at = args.index("/tmp", args.index("--tmpfs"))
    bind_at = args.index("/tmp/clone/.venv/lib/python3.11/site-packages")
    assert tmpfs_at < bind_at
    assert "/tmp" not in pairs(args, "--dir")


def test_missing_bubblewrap_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_daytona_exec.errors import IsolationUnavailableError

    detect.detect_mode.cache_clear()
    monkeypatch.setattr(detect.shutil, "which", lambda name: None)
    try:
        with pytest.raises(IsolationUnavailableError, match="apt-get install bubblewrap") as info:
            detect.detect_mode()
        assert "unsafe_no_isolation=True" in str(info.value)
    finally:
        detect.detect_mode.cache_clear()


def test_bwrap_that_cannot_create_namespaces_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    from langchain_daytona_exec.errors import IsolationUnavailableError

    fake = tmp_path / "bwrap"  # type: ignore[operator]
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    detect.detect_mode.cache_clear()
    monkeypatch.setattr(detect.shutil, "which", lambda name: str(fake))
    monkeypatch.setattr(detect.os, "geteuid", lambda: 1000)
    try:
        with pytest.raises(IsolationUnavailableError, match="unprivileged_userns_clone"):
            detect.detect_mode()
    finally:
        detect.detect_mode.cache_clear()


def testtraversable_by_others(tmp_path: pytest.TempPathFactory) -> None:
    from langchain_daytona_exec.backends.local._hostdirs import traversable_by_others

    closed = tmp_path / "closed"  # type: ignore[operator]
    inner = closed / "inner"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    assert not traversable_by_others(str(inner))
    closed.chmod(0o711)
    assert traversable_by_others(str(inner)) == traversable_by_others(str(tmp_path))


def test_workdir_elsewhere_keeps_workspace_as_a_symlink_and_binds_shared_folders() -> None:
    args = argv(workdir="/home/daytona", binds=[("/srv/vol", "/home/daytona/vol")])
    i = args.index("/tmp/ldx/1-abc/work")
    assert args[i - 1 : i + 2] == ["--bind", "/tmp/ldx/1-abc/work", "/home/daytona"]
    j = args.index("--symlink", i)
    assert args[j : j + 3] == ["--symlink", "/home/daytona", "/workspace"]
    k = args.index("/srv/vol")
    assert args[k - 1 : k + 2] == ["--bind", "/srv/vol", "/home/daytona/vol"]
    assert k < args.index("--seccomp")  # shared folders are bound after the workspace
    default = argv()
    assert default[default.index("/tmp/ldx/1-abc/work") + 1] == "/workspace"
    userns = argv(mode="userns", host_workspace=None, workdir="/home/daytona")
    assert "/home/daytona" in pairs(userns, "--tmpfs")


def test_options_move_to_an_args_fd_and_only_the_command_stays() -> None:
    full = argv()
    short, payload = isolation.args_fd_argv(full, 42)
    assert short == ["bwrap", "--args", "42", "--", *full[full.index("--") + 1 :]]
    options = payload.split(b"\0")
    assert options[-1] == b""  # NUL-terminated
    assert [o.decode() for o in options[:-1]] == full[1 : full.index("--")]
    assert not any("/home/me" in a or "/tmp/ldx" in a for a in short)


def test_data_files_replace_binds_and_mask_proc() -> None:
    data = {
        "/opt/ldx-kernel/kernel.py": 20,
        "/opt/ldx-mpl-cache/fontlist.json": 21,
        "/proc/sys/kernel/random/boot_id": 22,
    }
    args = argv(data_files=data)
    targets = [args[i + 2] for i, a in enumerate(args) if a == "--ro-bind-data"]
    assert set(data) - {"/opt/ldx-kernel/kernel.py"} <= set(targets)
    # the kernel's own files are written into its folder's tmpfs, then made read-only
    copied = [args[i + 2] for i, a in enumerate(args) if a == "--file"]
    assert copied == ["/opt/ldx-kernel/kernel.py"]
    assert args[args.index("--file") - 2 : args.index("--file")] == ["--perms", "0444"]
    kernel_dir = args.index(isolation.SANDBOX_KERNEL_DIR)
    assert args[kernel_dir - 1] == "--tmpfs"
    assert kernel_dir < args.index("--file") < args.index("--remount-ro")
    assert args[args.index("--remount-ro") + 1] == isolation.SANDBOX_KERNEL_DIR
    tries = [args[i + 2] for i, a in enumerate(args) if a == "--ro-bind-try"]
    assert "/opt/ldx-kernel/kernel.py" not in tries  # the copy, not a bind of the package
    assert "/opt/ldx-kernel/protocol.py" in tries  # not given: still bound
    dirs = pairs(args, "--dir")
    assert "/opt/ldx-mpl-cache" in dirs
    assert not any(d.startswith("/proc") for d in dirs)
    assert args.index("--proc") < args.index("/proc/sys/kernel/random/boot_id")
    assert set(isolation.proc_mask_contents()) == set(isolation.PROC_MASKS)


def test_kernel_runs_from_a_neutral_python_path() -> None:
    args = argv()
    i = args.index(isolation.SANDBOX_PYTHON)
    assert args[i - 2 : i] == ["--symlink", "/opt/py/bin/python3.11"]


def test_file_caps_stay_well_below_the_memory_limit() -> None:
    limits = LocalLimits()
    assert limits.files_bytes == limits.workspace_bytes + 2 * limits.tmp_bytes
    assert limits.files_bytes <= limits.memory_bytes // 2  # the default split: 3/8 + 2 x 1/16
    small = LocalLimits(memory_bytes=256 * MiB)  # caps follow the memory limit
    assert small.workspace_bytes == 96 * MiB and small.tmp_bytes == 16 * MiB
    with pytest.raises(ValueError, match="over 75% of memory_bytes"):
        LocalLimits(workspace_bytes=1 * GiB)  # the old default: a fill OOMs
    LocalLimits(workspace_bytes=512 * MiB, tmp_bytes=64 * MiB)  # 62.5%


def _counting_bwrap(folder: Any, exit_status: int) -> tuple[str, Any]:
    """A fake bwrap that appends a line to ``calls`` each time it is run."""
    calls = folder / "calls"
    fake = folder / "bwrap"
    fake.write_text(f"#!/bin/sh\necho run >> {calls}\nexit {exit_status}\n")
    fake.chmod(0o755)
    return str(fake), calls


def _probes(calls: Any) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_detected_mode_is_remembered_until_its_key_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    fake, calls = _counting_bwrap(tmp_path, 0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(detect.shutil, "which", lambda name: fake)
    detect.detect_mode.cache_clear()
    try:
        first = detect.detect_mode()
        assert _probes(calls) == 1 and os.path.exists(detect.mode_cache_path())
        detect.detect_mode.cache_clear()  # a new process: the file answers
        assert detect.detect_mode() == first
        assert _probes(calls) == 1
        # bwrap replaced (size and mtime change): probed again
        os.utime(fake, ns=(1, 1))
        detect.detect_mode.cache_clear()
        assert detect.detect_mode() == first
        assert _probes(calls) == 2
        # another kernel release: probed again
        other = os.uname_result((*os.uname()[:2], "0.0-other", *os.uname()[3:]))
        monkeypatch.setattr(detect.os, "uname", lambda: other)
        detect.detect_mode.cache_clear()
        detect.detect_mode()
        assert _probes(calls) == 3
        # a sandbox that failed to start forgets it: probed again
        detect.forget_mode()
        assert not os.path.exists(detect.mode_cache_path())
        detect.detect_mode()
        assert _probes(calls) == 4
    finally:
        detect.detect_mode.cache_clear()


def test_a_failed_detection_is_not_remembered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from langchain_daytona_exec.errors import IsolationUnavailableError

    fake, calls = _counting_bwrap(tmp_path, 1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(detect.shutil, "which", lambda name: fake)
    detect.detect_mode.cache_clear()
    try:
        for expected_probes in (1, 2):
            with pytest.raises(IsolationUnavailableError):
                detect.detect_mode()
            assert _probes(calls) == expected_probes
            assert not os.path.exists(detect.mode_cache_path())
    finally:
        detect.detect_mode.cache_clear()


def test_a_start_failure_reprobes_and_reports_a_broken_bwrap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from langchain_daytona_exec.backends.local._sandbox import LocalSandbox
    from langchain_daytona_exec.errors import IsolationUnavailableError

    fake, calls = _counting_bwrap(tmp_path, 1)  # bwrap broke since the mode was remembered
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(detect.shutil, "which", lambda name: fake)
    detect.detect_mode.cache_clear()
    sandbox = LocalSandbox.__new__(LocalSandbox)
    sandbox.mode = "root"
    try:
        with pytest.raises(IsolationUnavailableError, match="cannot create a sandbox") as info:
            sandbox._recheck_isolation(OSError("the kernel exited before its ready frame"))
        assert _probes(calls) == 1
        assert isinstance(info.value.__cause__, OSError)
    finally:
        detect.detect_mode.cache_clear()


def test_randbelow_is_in_range_and_reaches_every_value() -> None:
    from langchain_daytona_exec.backends.local._limits import randbelow

    draws = [randbelow(3) for _ in range(300)]
    assert set(draws) == {0, 1, 2}
    assert all(0 <= randbelow(n) < n for n in (1, 2, 255, 256, 257, 1 << 30, 10**8))


def test_spawner_returns_results_raises_errors_and_times_out() -> None:
    import threading

    from langchain_daytona_exec.backends.local._spawner import Spawner

    spawner = Spawner()
    assert spawner.call(lambda: 42, 5.0) == 42

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        spawner.call(fail, 5.0)
    release = threading.Event()
    with pytest.raises(TimeoutError):
        spawner.call(lambda: release.wait(5.0), 0.05)
    release.set()
    assert spawner.call(lambda: "still serving", 5.0) == "still serving"


def test_spawner_hands_a_late_result_to_on_late_and_only_then() -> None:
    import threading

    from langchain_daytona_exec.backends.local._spawner import Spawner

    spawner = Spawner()
    late: list[object] = []
    assert spawner.call(lambda: "in time", 5.0, late.append) == "in time"
    release = threading.Event()
    with pytest.raises(TimeoutError):
        spawner.call(lambda: release.wait(5.0) and "late", 0.05, late.append)
    release.set()

    def broken(result: object) -> None:
        late.append(result)
        raise OSError("cleanup failed")

    release.clear()
    with pytest.raises(TimeoutError):
        spawner.call(lambda: release.wait(5.0) and "late too", 0.05, broken)
    release.set()
    assert spawner.call(lambda: "still serving", 5.0) == "still serving"
    assert late == ["late", "late too"]  # not the result its caller received


def test_random_uuid4_is_a_version_4_uuid_and_random() -> None:
    import uuid

    ids = {isolation.random_uuid4() for _ in range(50)}
    assert len(ids) == 50
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_pyseccomp_imports_without_running_ldconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes.util
    import sys

    from langchain_daytona_exec.backends.local import _seccomp

    asked: list[str] = []
    real = ctypes.util.find_library

    def recording(name: str) -> str | None:
        asked.append(name)
        return real(name)

    monkeypatch.setattr(ctypes.util, "find_library", recording)
    monkeypatch.delitem(sys.modules, "pyseccomp", raising=False)
    module = _seccomp._import_pyseccomp()
    assert module.SyscallFilter is not None
    assert asked == []  # both libraries were found by their sonames, no ldconfig run
    assert ctypes.util.find_library is recording  # the lookup is put back
