"""The local engine end to end: real bubblewrap sandboxes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from types import ModuleType

import pytest

from langchain_daytona_exec import (
    IsolationUnavailableError,
    LocalBackend,
    LocalLimits,
    LocalSandbox,
    SandboxClosedError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxLostError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.backends.local import _cgroups as cgroups

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_top_level_await(sb: LocalSandbox) -> None:
    r = sb.run_code("import asyncio\nawait asyncio.sleep(0)\n'done'")
    assert r.error is None and r.result == "'done'"


def test_stdout_and_stderr_are_captured_at_the_fd_level(sb: LocalSandbox) -> None:
    code = (
        "import os, subprocess, sys\n"
        "print('py out'); print('py err', file=sys.stderr)\n"
        "os.write(1, b'fd out\\n'); os.write(2, b'fd err\\n')\n"
        "subprocess.run(['sh', '-c', 'echo child out; echo child err >&2'])\n"
    )
    r = sb.run_code(code)
    assert r.stdout == "py out\nfd out\nchild out\n"
    assert r.stderr == "py err\nfd err\nchild err\n"


def test_errors_come_back_with_a_traceback_and_state_survives(sb: LocalSandbox) -> None:
    sb.run_code("keep = 7")
    r = sb.run_code("def f():\n    return 1 / 0\nf()")
    assert r.error is not None
    assert r.error.name == "ZeroDivisionError"
    assert r.error.value == "division by zero"
    assert 'File "<cell-2>", line 2, in f' in r.error.traceback
    assert "kernel.py" not in r.error.traceback
    syntax = sb.run_code("def broken(:")
    assert syntax.error is not None and syntax.error.name == "SyntaxError"
    assert sb.run_code("keep").result == "7"
    exit_r = sb.run_code("exit(3)")
    assert exit_r.error is not None and exit_r.error.name == "SystemExit"
    assert sb.run_code("keep").result == "7"


def test_input_fails_at_once(sb: LocalSandbox) -> None:
    start = time.monotonic()
    r = sb.run_code("input('name? ')")
    assert time.monotonic() - start < 5
    assert r.error is not None and r.error.name == "EOFError"
    assert "no interactive stdin" in r.error.value


def test_undecodable_bytes_survive(sb: LocalSandbox) -> None:
    r = sb.run_code(
        "import os\nos.write(1, b'a\\xffb\\n')\n'\\udcff'.encode('utf-8', 'surrogateescape')"
    )
    assert r.stdout == "a\\xffb\n"
    assert r.result == "b'\\xff'"
    sb.write_file("bin.dat", bytes(range(256)))
    assert sb.read_file("bin.dat") == bytes(range(256))


def test_output_over_budget_keeps_head_and_tail() -> None:
    with LocalBackend(limits=LocalLimits(output_bytes=1000)).create() as small:
        r = small.run_code("print('START'); print('x' * 5000); print('END')")
        assert r.stdout.startswith("START")
        assert r.stdout.rstrip().endswith("END")
        assert r.stdout_truncated_bytes > 4000
        assert "bytes of output cut" in r.stdout


def test_data_stack_is_importable_and_charts_come_back_as_png(sb: LocalSandbox) -> None:
    code = (
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.DataFrame({'a': np.arange(5)})\n"
        "plt.plot(df['a']); plt.title('line')\n"
        "plt.figure(); plt.bar([1, 2], [3, 4]); plt.show()\n"
        "int(df['a'].sum())"
    )
    r = sb.run_code(code, timeout=60)
    assert r.error is None, r.error
    assert r.result == "10"
    assert len(r.charts) == 2
    assert all(c.png.startswith(PNG_MAGIC) for c in r.charts)
    assert r.charts[0].title == "line"
    assert "non-interactive" not in r.stderr
    assert sb.run_code("1").charts == []  # figures are closed after being returned


def test_timeout_interrupts_and_keeps_state(sb: LocalSandbox) -> None:
    sb.run_code("counter = 1")
    r = sb.run_code("import time\nprint('before', flush=True)\ntime.sleep(30)", timeout=0.5)
    assert r.timed_out and not r.state_lost
    assert r.stdout == "before\n"
    assert r.duration_ms < 5000
    assert sb.run_code("counter").result == "1"


def test_code_ignoring_the_interrupt_is_killed_and_the_sandbox_restarts() -> None:
    limits = LocalLimits(grace_s=0.5)
    with LocalBackend(limits=limits).create() as sb:
        sb.run_code("state = 1")
        sb.write_file("kept.txt", "still here")
        code = (
            "import signal, time\n"
            "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n"
            "    try:\n"
            "        time.sleep(0.01)\n"
            "    except KeyboardInterrupt:\n"
            "        pass\n"
        )
        r = sb.run_code(code, timeout=0.5)
        assert r.timed_out and r.state_lost
        after = sb.run_code("'state' in globals()")
        assert after.result == "False"
        assert not after.state_lost  # reported once, on the result that lost it
        assert sb.read_file("kept.txt") == b"still here"


def test_killed_kernel_is_reported_once_and_revived(sb: LocalSandbox) -> None:
    sb.run_code("v = 1")
    with pytest.raises(SandboxLostError, match="variables and imports are gone"):
        sb.run_code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    r = sb.run_code("'v' in globals()")
    assert r.result == "False" and r.state_lost
    assert not sb.run_code("1").state_lost


def test_forked_child_does_not_become_a_second_kernel(sb: LocalSandbox) -> None:
    r = sb.run_code("import os\npid = os.fork()\n'parent' if pid else 'child'")
    assert r.result == "'parent'"
    assert sb.run_code("21 * 2").result == "42"


def test_exec_separates_streams_and_returns_exit_codes(sb: LocalSandbox) -> None:
    c = sb.exec("echo out; echo err >&2; exit 3")
    assert (c.exit_code, c.stdout, c.stderr, c.timed_out) == (3, "out\n", "err\n", False)
    assert sb.exec("id -un; whoami").stdout == "sandbox\nsandbox\n"
    c = sb.exec("echo $GREETING; pwd", cwd="sub" if False else None, env={"GREETING": "hi"})
    assert c.stdout == "hi\n/workspace\n"
    sb.exec("mkdir -p sub/dir")
    assert sb.exec("pwd", cwd="sub/dir").stdout == "/workspace/sub/dir\n"
    with pytest.raises(SandboxFileNotFoundError):
        sb.exec("pwd", cwd="missing")
    assert sb.exec("kill -9 $$").exit_code == 137


def test_exec_timeout_kills_the_whole_process_group(sb: LocalSandbox) -> None:
    marker = f"ldx-sleep-{os.getpid()}"
    start = time.monotonic()
    c = sb.exec(f"(exec -a {marker} sleep 100) & echo started; sleep 100", timeout=0.5)
    assert c.timed_out and c.exit_code == 124
    assert c.stdout == "started\n"
    assert time.monotonic() - start < 5
    left = sb.exec(f"ps -eo args | grep -c '^{marker}' || true").stdout.strip()
    assert left == "0"


def test_exec_returns_while_background_children_keep_running(sb: LocalSandbox) -> None:
    start = time.monotonic()
    c = sb.exec("sleep 30 & echo bg")
    assert c.exit_code == 0 and c.stdout == "bg\n"
    assert time.monotonic() - start < 5


def test_python_and_shell_share_the_workspace(sb: LocalSandbox) -> None:
    sb.run_code("open('from_py.txt', 'w').write('py')")
    assert sb.exec("cat from_py.txt").stdout == "py"
    sb.exec("echo sh > from_sh.txt")
    assert sb.run_code("open('from_sh.txt').read()").result == "'sh\\n'"


def test_javascript_runs_once_per_call(sb: LocalSandbox) -> None:
    r = sb.run_code("const a = 40; console.log(a + 2)", language="javascript")
    assert r.error is None and r.stdout == "42\n"
    r = sb.run_code("undefinedThing()", language="javascript")
    assert r.error is not None and r.error.name == "ReferenceError"
    r = sb.run_code("while (true) {}", language="javascript", timeout=0.5)
    assert r.timed_out


def test_typescript_is_clear_about_a_missing_runtime(sb: LocalSandbox) -> None:
    try:
        r = sb.run_code("const n: number = 2; console.log(n * 21)", language="typescript")
    except UnsupportedLanguageError as exc:
        assert "tsx" in str(exc) or "22.6" in str(exc)
    else:
        assert r.stdout == "42\n"
    with pytest.raises(UnsupportedLanguageError, match="unsupported language"):
        sb.run_code("x", language="cobol")


def test_file_size_limit_applies_both_ways() -> None:
    with LocalBackend(limits=LocalLimits(max_file_bytes=1000)).create() as small:
        with pytest.raises(SandboxFileTooLargeError):
            small.write_file("big.bin", b"x" * 1001)
        small.exec("head -c 2000 /dev/zero > big.bin")
        with pytest.raises(SandboxFileTooLargeError, match="over the 1000-byte limit"):
            small.read_file("big.bin")


def test_close_leaves_no_process_cgroup_or_folder(backend: LocalBackend) -> None:
    sb = backend.create()
    sb.exec("sleep 1000 &")
    pid = sb.kernel_pid
    assert pid is not None
    host_dir = sb._host_dir
    cgroups = list(sb._cg.dirs) if sb._cg else []
    sb.close()
    sb.close()  # idempotent
    assert not os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(host_dir)
    assert all(not os.path.exists(d) for d in cgroups)
    with pytest.raises(SandboxClosedError):
        sb.run_code("1")
    assert not sb.is_alive()


def test_sandbox_runs_inside_its_cgroups(sb: LocalSandbox) -> None:
    if sb._cg is None:
        pytest.skip("cgroups not writable here")
    inside = sb._cg.pids()
    assert sb.kernel_pid in inside
    # outer bwrap, bwrap as pid 1, the kernel; or the fork-server's pid 1 and kernel
    assert len(inside) >= (3 if sb.launcher == "bwrap" else 2)
    assert os.getpid() not in inside


async def test_concurrent_async_calls_on_one_sandbox() -> None:
    # Each twin alone is in the contract suite (test_contract_local.py).
    backend = LocalBackend()
    sb = await backend.acreate()
    async with sb:
        results = await asyncio.gather(
            sb.arun_code("a = 1"), sb.aexec("echo hi"), sb.awrite_file("f.txt", "x")
        )
        assert results[1].stdout == "hi\n"
        assert (await sb.arun_code("a + 1")).result == "2"
        assert await sb.aread_file("f.txt") == b"x"
    assert not sb.is_alive()


def test_unsafe_mode_is_explicit_and_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_daytona_exec.backends.local import _detect as detect
    from langchain_daytona_exec.backends.local import _isolation as isolation
    from langchain_daytona_exec.backends.local._hostdirs import traversable_by_others

    detect.detect_mode.cache_clear()
    monkeypatch.setattr(detect.shutil, "which", lambda name: None)
    try:
        with pytest.raises(IsolationUnavailableError):
            LocalBackend().create()
        backend = LocalBackend(unsafe_no_isolation=True)
        paths = isolation.host_python_paths()
        readable = all(traversable_by_others(p) for p in (*paths.prefixes, *paths.site_packages))
        if os.geteuid() == 0 and not readable:
            with pytest.raises(IsolationUnavailableError, match="not readable by other users"):
                backend.create()
            return
        with backend.create() as sb:
            assert sb.mode == "unsafe"
            assert sb.run_code("x = 2\nx * 21").result == "42"
            assert sb.run_code("import os\nos.getuid() != 0").result == "True"
            sb.write_file("a.txt", "hi")
            assert sb.exec("cat a.txt").stdout == "hi"
            workdir = sb.workdir
        assert not os.path.exists(workdir)
    finally:
        detect.detect_mode.cache_clear()


def test_cells_run_in_main_so_pickle_finds_their_classes(sb: LocalSandbox) -> None:
    sb.run_code("class Point:\n    def __init__(self, x):\n        self.x = x")
    r = sb.run_code("import pickle\npickle.loads(pickle.dumps(Point(3))).x")
    assert r.error is None and r.result == "3"
    for name in ("kernel", "capture", "fileops", "protocol"):  # kernel internals: not importable
        assert sb.run_code(f"import {name}").error is not None, name


def test_a_forged_response_frame_is_a_lost_sandbox_not_a_crash(sb: LocalSandbox) -> None:
    forge = (
        "import os, json\n"
        "body = json.dumps({'unexpected': True}).encode()\n"
        "def is_pipe(f):\n"
        "    try:\n"
        "        return os.readlink(f'/proc/self/fd/{f}').startswith('pipe:')\n"
        "    except OSError:\n"
        "        return False\n"
        "fds = [int(f) for f in os.listdir('/proc/self/fd')]\n"
        "pipes = [f for f in fds if f > 2 and is_pipe(f) and os.get_blocking(f)]\n"
        "for f in pipes:\n"
        "    try:\n"
        "        os.write(f, len(body).to_bytes(4, 'big') + (0).to_bytes(4, 'big') + body)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    with pytest.raises(SandboxLostError, match="malformed response"):
        sb.run_code(forge)
    r = sb.run_code("21 * 2")
    assert r.result == "42" and r.state_lost


def test_environment_values_never_appear_on_the_host_command_line() -> None:
    backend = LocalBackend(env={"MY_TOKEN": "tok-on-purpose-123"})
    with backend.create() as sb:
        assert sb.run_code("import os\nos.environ['MY_TOKEN']").result == "'tok-on-purpose-123'"
        assert sb.exec("echo $MY_TOKEN").stdout == "tok-on-purpose-123\n"
        pids = sb._cg.pids() if sb._cg else {sb.kernel_pid}
        for pid in pids:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert b"tok-on-purpose-123" not in f.read()


def test_cpu_quota_throttles_busy_code() -> None:

    layout = cgroups.cgroup_layout()
    if layout is None or (layout[0] == 1 and "cpu" not in layout[1]):
        pytest.skip("no writable cpu cgroup here")
    with LocalBackend(limits=LocalLimits(cpu_cores=0.2)).create() as sb:
        assert sb._cg is not None
        cpu_dir = (
            sb._cg.dirs[0]
            if sb._cg.version == 2
            else next(d for d in sb._cg.dirs if d.startswith("/sys/fs/cgroup/cpu/"))
        )
        start = time.monotonic()
        sb.exec("timeout 1 sh -c 'while :; do :; done'", timeout=10)
        assert time.monotonic() - start < 5
        with open(os.path.join(cpu_dir, "cpu.stat")) as f:
            stat = dict(line.split() for line in f)
        assert int(stat["nr_throttled"]) > 0


def test_tracebacks_show_the_source_of_earlier_cells(sb: LocalSandbox) -> None:
    sb.run_code("def fail():\n    raise ValueError('from an earlier cell')")
    r = sb.run_code("fail()")
    assert r.error is not None
    assert "raise ValueError('from an earlier cell')" in r.error.traceback


def test_workspaces_add_no_host_mounts_and_outlive_a_restart(tmp_path: Path) -> None:
    """Each root-mode workspace lives in a mount namespace of its own (not the host's
    table, which every new sandbox would copy), and keeps its files across a restart."""
    base = tmp_path / "base"
    base.mkdir(mode=0o700)
    backend = LocalBackend(base_dir=str(base))
    if backend.mode != "root":
        pytest.skip("root mode only")

    def host_mounts() -> int:  # in the host's table, under our sandboxes' folders
        with open("/proc/self/mountinfo") as fh:
            return sum(1 for line in fh if line.split()[4].startswith(str(base)))

    before = host_mounts()
    assert before == 0
    sandboxes = [backend.create() for _ in range(5)]
    try:
        assert host_mounts() == before
        sb = sandboxes[0]
        sb.write_file("kept.txt", "still here")
        sb.restart_interpreter()
        assert sb.read_file("kept.txt") == b"still here"
        assert sandboxes[1].exec("ls").stdout.strip() == ""  # not shared with others
        sb.reset()
        assert sb.exec("ls").stdout.strip() == ""
    finally:
        for s in sandboxes:
            s.close()
    assert host_mounts() == before


def _own_cgroups() -> set[str]:
    """This process's sandbox cgroups (``ldx-<pid>-<id>``) under every writable parent."""
    layout = cgroups.cgroup_layout()
    found: set[str] = set()
    for parent in layout[1].values() if layout else ():
        with contextlib.suppress(OSError):
            found |= {
                os.path.join(parent, name)
                for name in os.listdir(parent)
                if name.startswith(f"ldx-{os.getpid()}-")
            }
    return found


def _children() -> set[int]:
    """Live sandbox processes started by this process (any of its threads).

    Its children (bwrap), and the children of its fork-server (each sandbox's pid 1),
    not the fork-server itself, which lives as long as this process.
    """

    def children(pid: str) -> set[int]:
        pids: set[int] = set()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                    pids |= {int(p) for p in f.read().split()}
        return pids

    from langchain_daytona_exec.backends.local._forkserver import fork_server

    zygote = fork_server()._proc
    mine = children("self")
    if zygote is not None and zygote.pid in mine:
        mine = (mine - {zygote.pid}) | children(str(zygote.pid))
    return mine


def test_while_booting_runs_as_the_kernel_boots_and_what_it_raises_closes_it(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(base_dir=str(tmp_path))
    before = _children()
    booting: list[set[int]] = []
    with backend._create(while_booting=lambda: booting.append(_children() - before)) as sb:
        assert sb.run_code("6 * 7").result == "42"
    assert len(booting) == 1 and booting[0], "the sandbox's process was not started yet"
    cgroups_before = _own_cgroups()

    def interrupted() -> None:  # Ctrl-C while the command parses its arguments
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend._create(while_booting=interrupted)
    assert _children() <= before  # killed and reaped
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []  # its folder is gone
    assert _own_cgroups() == cgroups_before  # and its cgroups


def test_bwrap_gets_its_seccomp_program_after_it_starts_and_a_failed_compile_kills_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_daytona_exec.backends.local import _seccomp

    backend = LocalBackend(base_dir=str(tmp_path), launcher="bwrap")
    before = _children()
    started: list[set[int]] = []
    real = _seccomp.seccomp_program

    def compile_now(network: bool, cached: bool = False) -> bytes:
        started.append(_children() - before)
        return real(network)  # compiled here, not read from a cache

    monkeypatch.setattr(_seccomp, "seccomp_program", compile_now)
    with backend.create() as sb:
        status = "open('/proc/self/status').read().split('Seccomp:')[1].split()[0]"
        assert sb.run_code(status).result == "'2'"  # filter mode: the program was loaded
        denied = "import ctypes\nctypes.CDLL(None, use_errno=True).unshare(0x20000)"
        assert sb.run_code(denied).result == "-1"
    assert len(started) == 1 and started[0], "compiled before bwrap was started"
    cgroups_before = _own_cgroups()

    def broken(network: bool, cached: bool = False) -> bytes:
        raise IsolationUnavailableError("seccomp is unavailable (test)")

    monkeypatch.setattr(_seccomp, "seccomp_program", broken)
    with pytest.raises(IsolationUnavailableError, match=r"unavailable \(test\)"):
        backend.create()
    assert _children() <= before  # bwrap, waiting for its program, was killed and reaped
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
    assert _own_cgroups() == cgroups_before


def test_bwrap_runs_nothing_when_its_seccomp_pipe_closes_empty() -> None:
    # What a host that dies before writing the program leaves bwrap with.
    import shutil
    import subprocess

    from langchain_daytona_exec.backends.local import _seccomp

    bwrap = shutil.which("bwrap")
    if bwrap is None or os.geteuid() != 0:
        pytest.skip("needs bwrap as root (no user namespace options here)")

    def run(program: bytes) -> subprocess.CompletedProcess[bytes]:
        r, w = os.pipe()
        os.write(w, program)
        os.close(w)
        try:
            argv = [bwrap, "--ro-bind", "/", "/", "--seccomp", str(r), "--", "/bin/echo", "ran"]
            return subprocess.run(argv, pass_fds=[r], capture_output=True, timeout=30)
        finally:
            os.close(r)

    assert run(_seccomp.seccomp_program(True)).stdout == b"ran\n"  # the control
    empty = run(b"")
    assert empty.returncode != 0 and empty.stdout == b""
    assert b"EINVAL" in empty.stderr


def test_bwrap_starts_inside_the_workspace_namespace_and_the_spawner_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_daytona_exec.backends.local import _mounts
    from langchain_daytona_exec.backends.local._spawner import spawner

    def no_nsenter(namespace_fd: int, argv: list[str]) -> list[str]:
        raise AssertionError("bwrap was started through nsenter")

    monkeypatch.setattr(_mounts, "enter_argv", no_nsenter)
    backend = LocalBackend(base_dir=str(tmp_path), launcher="bwrap")
    if backend.mode != "root":
        pytest.skip("root mode only: the workspace's own mount namespace")
    cwd = os.getcwd()
    with backend.create() as sb:
        if sb._mntns is None:
            pytest.skip("no mount namespaces here (the workspace is mounted on the host)")
        bwrap = sb.kernel_pid
        assert bwrap is not None
        assert os.stat(f"/proc/{bwrap}/ns/mnt").st_ino == os.fstat(sb._mntns).st_ino
        sb.write_file("kept.txt", "x")
        sb.restart_interpreter()  # a new bwrap, in the same namespace: the file is there
        assert sb.read_file("kept.txt") == b"x"
        host = os.stat("/proc/self/ns/mnt").st_ino
        on_spawner = spawner().call(lambda: os.stat("/proc/thread-self/ns/mnt").st_ino, 10)
        assert on_spawner == host  # the spawner thread left the namespace again
    assert os.getcwd() == cwd  # this thread's working folder is its own


def test_the_spawner_thread_makes_the_workspace_namespace_without_forking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spawner thread enters a new mount namespace, mounts the workspace there and
    goes back to its own: no child process, and a failed mount leaves it home too."""
    from langchain_daytona_exec.backends.local import _mounts
    from langchain_daytona_exec.backends.local._spawner import spawner

    if os.geteuid() != 0 or not spawner().call(_mounts.thread_can_enter, 10):
        pytest.skip("root, and a thread that can enter mount namespaces")

    def no_fork() -> int:
        raise AssertionError("the workspace namespace was made by a forked child")

    monkeypatch.setattr(_mounts.os, "fork", no_fork)
    host = os.stat("/proc/self/ns/mnt").st_ino

    def spawner_ns() -> int:
        return spawner().call(lambda: os.stat("/proc/thread-self/ns/mnt").st_ino, 10)

    target = tmp_path / "work"
    target.mkdir()
    fd = spawner().call(lambda: _mounts.workspace_namespace(str(target), 1 << 20, 0, 0), 10)
    assert fd is not None
    try:
        assert os.fstat(fd).st_ino != host
        assert spawner_ns() == host
        assert not os.path.ismount(target)  # the host's table is unchanged
        # The tmpfs is in the namespace: a process started there sees it.
        assert spawner().call(lambda: _entered_findmnt(_mounts, fd, str(target)), 10) == "tmpfs"
    finally:
        os.close(fd)
    missing = str(tmp_path / "missing")  # the mount fails: no fd, and the thread is home
    assert spawner().call(lambda: _mounts.workspace_namespace(missing, 1 << 20, 0, 0), 10) is None
    assert spawner_ns() == host


def _entered_findmnt(mounts: ModuleType, fd: int, target: str) -> str:
    """The filesystem type at ``target`` in the namespace ``fd``, read from inside it."""
    with mounts.entered(fd), open("/proc/thread-self/mountinfo") as fh:
        return " ".join(line.split(" - ")[1].split()[0] for line in fh if f" {target} " in line)


def test_a_sandbox_of_a_later_process_loads_the_cached_seccomp_program(tmp_path: Path) -> None:
    """The first process compiles the program and keeps it in the user's cache folder; the
    next one reads it from there (no pyseccomp import) and its sandbox is just as filtered."""
    import json
    import subprocess
    import sys

    base = tmp_path / "base"
    probes = [
        "open('/proc/self/status').read().split('Seccomp:')[1].split()[0]",  # '2': a filter
        "import ctypes\nctypes.CDLL(None, use_errno=True).unshare(0x20000)",  # -1: denied
        "import socket\ndef f():\n    try:\n        socket.socket()\n"
        "    except OSError as e:\n        return e.errno\nf()",  # EAFNOSUPPORT
    ]
    code = (
        "import json, sys\n"
        "from langchain_daytona_exec.backends.local import LocalBackend\n"
        f"with LocalBackend(base_dir={str(base)!r}, launcher='bwrap').create() as sb:\n"
        f"    seen = [sb.run_code(p).result for p in {probes!r}]\n"
        "print(json.dumps([*seen, 'pyseccomp' in sys.modules]))\n"
    )

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run() -> list[object]:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
        )
        assert out.returncode == 0, out.stderr
        result: list[object] = json.loads(out.stdout)
        return result

    first = run()
    if not any((tmp_path / "cache" / "langchain-daytona-exec").glob("seccomp-*.bpf")):
        pytest.skip("this host's mode does not use the seccomp program (not bwrap)")
    assert first == ["'2'", "-1", "97", True]  # compiled; EAFNOSUPPORT for the socket
    assert run() == ["'2'", "-1", "97", False]  # read from the cache: the same filter


def test_the_kernel_starts_on_the_standard_library_it_needs_only(sb: LocalSandbox) -> None:
    """Every module the kernel imports is on each sandbox's start path: the cell
    runner's rarer needs (dates, warnings, JSON's pure-Python parts, typing, re) are
    imported where they are used."""
    from langchain_daytona_exec.backends.local import _isolation as isolation

    probe = (
        f"import sys; sys.path.insert(0, {isolation.SANDBOX_KERNEL_DIR!r}); import kernel; "
        "print(' '.join(sorted(sys.modules)))"
    )
    r = sb.exec(f"python3 -I -S -c {probe!r}", timeout=30)
    assert r.exit_code == 0, r.stderr
    loaded = set(r.stdout.split())
    assert "kernel" in loaded and "cellrunner.charts" in loaded  # the control
    later = {"datetime", "warnings", "json", "typing", "re", "inspect", "ast"}
    assert not loaded & later, sorted(loaded & later)
