"""Attack suite: hostile code in a LocalBackend sandbox must stay contained.

Every attack is bounded in count, size and time, and the network attacks only ever
touch loopback (127.0.0.1) and Unix sockets that the test itself creates. Where a
negative result could come from a broken test rather than from the sandbox, a
control shows that the same probe succeeds when the barrier is absent.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_daytona_exec import (
    LocalBackend,
    LocalLimits,
    LocalSandbox,
    SandboxError,
    SandboxFileError,
    SandboxLostError,
)
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.errors import IsolationUnavailableError
from tests.integration_tests.loopback import PongServer

MiB = 1024 * 1024

LIMITS = LocalLimits(
    memory_bytes=256 * MiB,
    pids=64,
    nproc=64,
    workspace_bytes=64 * MiB,
    tmp_bytes=32 * MiB,
    timeout_s=20,
    grace_s=1.0,
)

REPO = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def _isolation_available() -> bool:
    try:
        detect.detect_mode()
    except IsolationUnavailableError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _isolation_available(), reason="bubblewrap isolation is unavailable here"
)


LAUNCHERS = ["auto", "bwrap"] if IS_ROOT else ["auto"]
"""Root mode runs every attack through both launchers: the default (the fork-server) and
bubblewrap, so both stay tested."""


@pytest.fixture(params=LAUNCHERS)
def make_sandbox(request: pytest.FixtureRequest) -> Iterator[Callable[..., LocalSandbox]]:
    """Create sandboxes with tight limits; every one is closed at the end."""
    made: list[LocalSandbox] = []

    def make(**kwargs: Any) -> LocalSandbox:
        kwargs.setdefault("limits", LIMITS)
        kwargs.setdefault("launcher", request.param)
        sandbox = LocalBackend(**kwargs).create()
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()


@pytest.fixture
def box(make_sandbox: Callable[..., LocalSandbox]) -> LocalSandbox:
    return make_sandbox()


# -- helpers ---------------------------------------------------------------------------


def probe(sb: LocalSandbox, code: str, timeout: float = 15) -> Any:
    """Run ``code`` whose last expression is a literal; return it as a Python value."""
    r = sb.run_code(code, timeout=timeout)
    assert r.error is None, r.error
    assert r.result is not None, (r.stdout, r.stderr)
    return ast.literal_eval(r.result)


def survive(call: Callable[[], Any]) -> tuple[Any, bool]:
    """Run an attacking call; return (its result or None, whether the kernel was lost)."""
    try:
        return call(), False
    except SandboxLostError:
        return None, True


def host_pids_with(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker``."""
    found = []
    needle = marker.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{name}/cmdline", "rb") as f:
            if needle in f.read():
                found.append(int(name))
    return found


def _cmdlines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmdline}")
    return out


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def status_field(name: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


@pytest.fixture
def tcp_server() -> Iterator[tuple[PongServer, int]]:
    """A TCP server on 127.0.0.1, random port (loopback only)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = PongServer(sock)
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.close()


# -- 1. environment secrets ------------------------------------------------------------


@pytest.mark.attack
def test_host_secrets_never_reach_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, make_sandbox: Callable[..., LocalSandbox]
) -> None:
    token = secrets.token_hex(12)
    openai_key = f"sk-test-secret-{token}"
    daytona_key = f"dtn-test-secret-{token}"
    monkeypatch.setenv("OPENAI_API_KEY", openai_key)
    monkeypatch.setenv("DAYTONA_API_KEY", daytona_key)
    visible = f"ldx-visible-{token}"
    sb = make_sandbox(env={"LDX_VISIBLE": visible})

    seen: list[str] = []
    r = sb.exec("env", timeout=10)
    assert r.exit_code == 0
    assert f"LDX_VISIBLE={visible}" in r.stdout  # control: the probe does see the env
    seen += [r.stdout, r.stderr]
    r = sb.exec(
        "for f in /proc/1/environ /proc/self/environ /proc/[0-9]*/environ "
        "/proc/[0-9]*/cmdline; do echo \"== $f\"; tr '\\0' '\\n' < \"$f\"; done 2>&1",
        timeout=10,
    )
    assert visible in r.stdout  # control: at least our own environ was readable
    seen += [r.stdout, r.stderr]
    py = sb.run_code(
        "import os, glob\n"
        "blobs = []\n"
        "for p in ['/proc/1/environ', '/proc/self/environ', *glob.glob('/proc/*/environ')]:\n"
        "    try:\n"
        "        blobs.append(open(p, 'rb').read().decode('utf-8', 'replace'))\n"
        "    except OSError as exc:\n"
        "        blobs.append(repr(exc))\n"
        "(dict(os.environ), blobs)"
    )
    assert py.error is None
    assert py.result is not None and visible in py.result
    seen += [py.result, py.stdout, py.stderr]
    # Host side: the bwrap process itself was launched with a scrubbed environment.
    assert sb.kernel_pid is not None
    with open(f"/proc/{sb.kernel_pid}/environ", "rb") as f:
        seen.append(f.read().decode("utf-8", "replace"))

    everything = "\n".join(seen)
    for leaked in (openai_key, daytona_key, "OPENAI_API_KEY", "DAYTONA_API_KEY"):
        assert leaked not in everything


# -- 2. host files ---------------------------------------------------------------------


@pytest.mark.attack
def test_host_files_are_invisible(box: LocalSandbox, tmp_path: Path) -> None:
    token = secrets.token_hex(12)
    secret = f"host-secret-{token}"
    tmp_marker = Path(tempfile.gettempdir()) / f"ldx-attack-{token}"
    tmp_marker.write_text(secret)
    home = Path(os.path.expanduser("~"))
    home_marker = home / f".ldx-attack-{token}"
    home_marker.write_text(secret)
    try:
        host_home_entries = (
            [p.name for p in Path("/home").iterdir()] if Path("/home").is_dir() else []
        )
        targets = [
            "/etc/shadow",
            "/etc/hostname",
            str(tmp_marker),
            str(home_marker),
            str(REPO / "pyproject.toml"),
            str(Path(__file__).resolve()),
            "/proc/1/root/etc/shadow",
            f"/proc/1/root{tmp_marker}",
            f"/proc/1/root{REPO}/pyproject.toml",
            "/proc/1/cwd/etc/shadow",
            *(f"/home/{name}" for name in host_home_entries),
        ]
        code = (
            "import os\n"
            f"targets = {targets!r}\n"
            "out = {}\n"
            "for t in targets:\n"
            "    try:\n"
            "        with open(t, 'rb') as f:\n"
            "            out[t] = f.read(4096).decode('utf-8', 'replace')\n"
            "    except OSError as exc:\n"
            "        out[t] = 'ERR ' + type(exc).__name__\n"
            "def ls(p):\n"
            "    try:\n"
            "        return sorted(os.listdir(p))\n"
            "    except OSError as exc:\n"
            "        return 'ERR ' + type(exc).__name__\n"
            f"(out, ls('/tmp'), ls({str(home)!r}), ls({str(REPO)!r}), ls('/home'),"
            " ls('/proc/1/root'), ls('/'))"
        )
        opened, tmp_ls, home_ls, repo_ls, home_dir_ls, proc1_root_ls, root_ls = probe(box, code)
        for target, content in opened.items():
            assert content.startswith("ERR "), f"sandbox read host file {target}: {content!r}"
        assert tmp_marker.name not in tmp_ls
        assert home_marker.name not in str(home_ls)
        # Only the folder chain down to the read-only Python runtime may show.
        assert not {"pyproject.toml", "tests", "langchain_daytona_exec"} & set(repo_ls or [])
        assert isinstance(home_dir_ls, str) or not set(home_dir_ls) & set(host_home_entries)
        assert isinstance(proc1_root_ls, str)  # bwrap's pid 1 is root-owned: no way in
        assert not {"home", "var", "run", "srv", "mnt", "sys", "boot"} & set(root_ls)

        # No file system backed by host storage is writable: every rw mount is a
        # (size-capped) tmpfs, proc, devpts or one of the standard device nodes.
        mounts = box.exec("cat /proc/self/mountinfo", timeout=10).stdout.splitlines()
        assert mounts
        for line in mounts:
            fields = line.split()
            root, point, options = fields[3], fields[4], fields[5].split(",")
            fstype = fields[fields.index("-") + 1]
            if "rw" not in options:
                continue
            assert "nosuid" in options, line
            if fstype == "devtmpfs":
                assert root in {"/null", "/zero", "/full", "/random", "/urandom", "/tty"}, line
            else:
                assert fstype in {"tmpfs", "proc", "devpts", "mqueue"}, line
            assert point != "/usr"

        # Writes to read-only places fail and never reach the host.
        site = isolation.host_python_paths().site_packages[0]
        kernel_py = Path(isolation.KERNEL_DIR) / "kernel.py"
        kernel_before = kernel_py.read_bytes()
        victims = {
            f"/usr/ldx-attack-{token}": Path(f"/usr/ldx-attack-{token}"),
            f"{site}/ldx-attack-{token}.pth": Path(site) / f"ldx-attack-{token}.pth",
            f"{os.path.dirname(sys.executable)}/ldx-attack-{token}": Path(
                os.path.dirname(sys.executable)
            )
            / f"ldx-attack-{token}",
            f"{isolation.SANDBOX_KERNEL_DIR}/ldx-attack-{token}": Path(isolation.KERNEL_DIR)
            / f"ldx-attack-{token}",
        }
        for inside in [*victims, f"{isolation.SANDBOX_KERNEL_DIR}/kernel.py", "/etc/passwd"]:
            r = box.exec(f"echo pwned >> '{inside}'", timeout=10)
            assert r.exit_code != 0, inside
        for host_path in victims.values():
            assert not host_path.exists(), host_path
        assert kernel_py.read_bytes() == kernel_before
        r = box.exec("echo 1 > /proc/sys/kernel/sysrq || echo h > /proc/sysrq-trigger", timeout=10)
        assert r.exit_code != 0
    finally:
        tmp_marker.unlink(missing_ok=True)
        home_marker.unlink(missing_ok=True)


@pytest.mark.attack
def test_proc_does_not_reveal_the_host_layout(box: LocalSandbox) -> None:
    """/proc/1/cmdline was bwrap's argv: project folder, venv, runtime and host pid."""
    base = box._backend.base_dir
    host_pid_dir = f"{os.getpid()}-{box.id}"
    python_home = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
    leaks = [str(REPO), sys.prefix, python_home, base, host_pid_dir, os.path.expanduser("~")]
    listing = box.exec(
        "for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline; echo; done", timeout=10
    ).stdout
    # control: the probe reads argv (bwrap's, or the fork-server's, which every fork keeps)
    assert isolation.SANDBOX_PYTHON in listing
    assert ("bwrap" in listing) == (box.launcher == "bwrap")
    for leak in leaks:
        assert leak not in listing, leak
    mountinfo = box.exec("cat /proc/self/mountinfo", timeout=10).stdout
    assert " /workspace " in mountinfo and " /opt/ldx-kernel " in mountinfo
    for leak in (base, host_pid_dir, isolation.KERNEL_DIR, os.path.expanduser("~/.cache")):
        assert leak not in mountinfo, leak
    with open("/proc/sys/kernel/random/boot_id") as f:
        host_boot_id = f.read()
    with open("/proc/cmdline") as f:
        host_cmdline = f.read()
    inside = box.exec("cat /proc/sys/kernel/random/boot_id; cat /proc/cmdline", timeout=10)
    boot_id, cmdline = inside.stdout.splitlines()
    assert len(boot_id) == 36 and boot_id != host_boot_id.strip()
    assert cmdline != host_cmdline.strip()
    assert box.run_code("1 + 1").result == "2"


# -- 3. symlinks -------------------------------------------------------------------------


@pytest.mark.attack
def test_symlinks_never_reach_the_host(box: LocalSandbox, tmp_path: Path) -> None:
    token = secrets.token_hex(12)
    secret = f"host-secret-{token}"
    marker = tmp_path / "marker.txt"
    marker.write_text(secret)
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    new_file = tmp_path / f"created-{token}"
    r = box.exec(
        f"ln -s /etc/shadow shadow && ln -s '{marker}' marker && "
        f"ln -s '{new_file}' newfile && ln -s '{host_dir}' dirlink && "
        f"ln -s /proc/1/root root1 && ln -s / slash",
        timeout=10,
    )
    assert r.exit_code == 0, r.stderr

    for path in ("shadow", "marker", "root1/etc/shadow", f"slash{marker}", "../../etc/shadow"):
        try:
            data = box.read_file(path)
        except SandboxFileError:
            continue
        assert secret.encode() not in data and b"root:" not in data, path
    with pytest.raises(SandboxFileError):
        box.read_file(str(marker))
    names = {f.name for f in box.list_files("slash/tmp")}
    assert marker.parent.name not in names

    # Writing through symlinks stays inside the sandbox.
    for path in ("newfile", "marker", "dirlink/planted", f"slash{new_file}"):
        with contextlib.suppress(SandboxFileError):
            box.write_file(path, "pwned")
    assert not new_file.exists()
    assert marker.read_text() == secret
    assert list(host_dir.iterdir()) == []
    r = box.exec("echo pwned > newfile; echo pwned > dirlink/x; echo pwned > marker", timeout=10)
    assert not new_file.exists()
    assert list(host_dir.iterdir()) == []
    assert marker.read_text() == secret

    # Cleaning up (reset, close) never follows the sandbox's links either.
    box.exec(f"ln -s '{host_dir}' d2; ln -s '{marker}' m2", timeout=10)
    box.reset()
    box.exec(f"ln -s '{host_dir}' d3; ln -s '{marker}' m3; ln -s / root", timeout=10)
    box.close()
    assert marker.read_text() == secret
    assert host_dir.is_dir()


# -- 4. loopback network -----------------------------------------------------------------

_CONNECT = (
    "import socket\n"
    "def attempt(family, kind=socket.SOCK_STREAM):\n"
    "    try:\n"
    "        socket.socket(family, kind).close()\n"
    "        return 'created'\n"
    "    except OSError as exc:\n"
    "        return exc.errno\n"
    "def connect(port):\n"
    "    try:\n"
    "        with socket.create_connection(('127.0.0.1', port), timeout=3) as s:\n"
    "            s.sendall(b'ping')\n"
    "            return s.recv(4).decode()\n"
    "    except OSError as exc:\n"
    "        return 'ERR ' + type(exc).__name__\n"
)


@pytest.mark.attack
def test_no_network_not_even_loopback(
    make_sandbox: Callable[..., LocalSandbox], tcp_server: tuple[PongServer, int]
) -> None:
    server, port = tcp_server
    sb = make_sandbox()
    families = {
        "inet": int(socket.AF_INET),
        "inet6": int(socket.AF_INET6),
        "netlink": int(socket.AF_NETLINK),
        "packet": int(socket.AF_PACKET),
    }
    code = _CONNECT + (
        f"({{k: attempt(v, socket.SOCK_DGRAM if k in ('netlink', 'packet') else "
        f"socket.SOCK_STREAM) for k, v in {families!r}.items()}}, connect({port}))"
    )
    created, reply = probe(sb, code)
    assert all(v == errno.EAFNOSUPPORT for v in created.values()), created
    assert reply.startswith("ERR"), reply

    r = sb.exec(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; echo ping >&3'", timeout=10)
    assert r.exit_code != 0
    script = _CONNECT + f"print(connect({port}))"
    r = sb.exec(f"python3 -c {shlex.quote(script)}", timeout=10)
    assert r.stdout.startswith("ERR"), (r.stdout, r.stderr)
    # Second layer: its own network namespace, where the host's listener is absent.
    hex_port = f":{port:04X} "
    r = sb.exec("cat /proc/net/tcp /proc/net/tcp6; cat /proc/net/dev", timeout=10)
    assert hex_port not in r.stdout
    assert "lo:" in r.stdout and "eth" not in r.stdout
    assert server.received == []

    # Control: with network=True the very same probe reaches the server.
    open_sb = make_sandbox(network=True)
    _created, reply = probe(open_sb, _CONNECT + f"(attempt(socket.AF_INET), connect({port}))")
    assert reply == "pong"
    assert wait_until(lambda: server.received == [b"ping"], 3), server.received


# -- 5. host Unix sockets ---------------------------------------------------------------


@pytest.mark.attack
def test_host_unix_sockets_are_unreachable(
    box: LocalSandbox, make_sandbox: Callable[..., LocalSandbox]
) -> None:
    token = secrets.token_hex(12)
    folder = Path(tempfile.mkdtemp(prefix="ldx-attack-", dir=tempfile.gettempdir()))
    folder.chmod(0o755)
    path = str(folder / "s.sock")
    abstract = f"\0ldx-attack-{token}"
    servers = []
    try:
        for address in (path, abstract):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(address)
            servers.append(PongServer(sock))
        os.chmod(path, 0o777)  # permissions are not what keeps the sandbox out
        # Control: both servers answer a host client.
        for address in (path, abstract):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(3)
                c.connect(address)
                c.sendall(b"host")
                assert c.recv(4) == b"pong"
        assert wait_until(lambda: all(s.received == [b"host"] for s in servers), 3)

        code = (
            "import socket, os\n"
            "def connect(addr):\n"
            "    try:\n"
            "        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:\n"
            "            s.settimeout(3)\n"
            "            s.connect(addr)\n"
            "            s.sendall(b'ping')\n"
            "            return s.recv(4).decode()\n"
            "    except OSError as exc:\n"
            "        return 'ERR ' + type(exc).__name__\n"
            # Control inside: AF_UNIX itself works between the sandbox's own sockets.
            "own = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "own.bind('\\0own-' + str(os.getpid()))\n"
            "own.listen(1)\n"
            "c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "c.connect(own.getsockname())\n"
            "peer, _ = own.accept(); c.sendall(b'hi'); got = peer.recv(2).decode()\n"
            "for s in (peer, c, own): s.close()\n"
            f"(got, connect({path!r}), connect({abstract!r}), connect('/proc/1/root' + {path!r}))"
        )
        own, by_path, by_abstract, by_proc = probe(box, code)
        assert own == "hi"
        assert by_path.startswith("ERR"), by_path
        assert by_abstract.startswith("ERR"), by_abstract
        assert by_proc.startswith("ERR"), by_proc
        # No socket of the host's (docker, dbus, systemd...) is anywhere in the tree.
        r = box.exec(
            "find / -type s -not -path '/proc/*' 2>/dev/null; ls -d /run /var/run 2>/dev/null",
            timeout=15,
        )
        assert r.stdout.strip() == ""
        assert all(s.received == [b"host"] for s in servers)

        # Control: a read-only bind of the socket's folder is enough to reach it (why
        # the host's / is never bound wholesale), so the probe above could succeed.
        exposed = make_sandbox(extra_ro_paths=(str(folder),))
        reply = probe(exposed, code.rsplit("\n", 1)[0] + f"\nconnect({path!r})")
        assert reply == "pong"
        assert wait_until(lambda: servers[0].received == [b"host", b"ping"], 3)
    finally:
        for s in servers:
            s.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.attack
def test_sandboxes_cannot_reach_each_other(make_sandbox: Callable[..., LocalSandbox]) -> None:
    token = secrets.token_hex(12)
    a, b = make_sandbox(), make_sandbox()
    b.run_code(
        "import ctypes, os, socket\n"
        f"for d in ('/workspace', '/tmp', '/dev/shm'):\n"
        f"    open(d + '/peer-secret', 'w').write('{token}')\n"
        "peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"peer.bind('\\0ldx-peer-{token}')\n"
        "peer.listen(1)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "shm_id = libc.shmget(0x1D70, 4096, 0o1666)\n"
    )
    assert probe(b, "shm_id") >= 0
    # b's workspace as the host knows it (the sandboxes no longer see host paths).
    host_work = b._host_work
    assert host_work.startswith("/") and host_work != "/workspace"
    code = (
        "import ctypes, os, socket\n"
        "def read(p):\n"
        "    try:\n"
        "        return open(p).read()\n"
        "    except OSError as exc:\n"
        "        return 'ERR ' + type(exc).__name__\n"
        f"peer = {host_work!r} + '/peer-secret'\n"
        "paths = ['/workspace/peer-secret', '/tmp/peer-secret', '/dev/shm/peer-secret',\n"
        "         peer, '/proc/1/root' + peer]\n"
        "files = [read(p) for p in paths]\n"
        "try:\n"
        "    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:\n"
        f"        s.connect('\\0ldx-peer-{token}')\n"
        "    sock = 'connected'\n"
        "except OSError as exc:\n"
        "    sock = 'ERR ' + type(exc).__name__\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "(files, sock, libc.shmget(0x1D70, 0, 0o666))"
    )
    files, sock, shm = probe(a, code)
    assert all(f.startswith("ERR") for f in files), files
    assert sock.startswith("ERR"), sock
    assert shm == -1
    assert token not in a.exec("cat /proc/[0-9]*/cmdline 2>/dev/null", timeout=10).stdout


# -- 6. resource bombs ------------------------------------------------------------------


@pytest.mark.attack
def test_fork_bomb_is_capped_and_the_host_stays_responsive(
    make_sandbox: Callable[..., LocalSandbox],
) -> None:
    victim = make_sandbox()
    bystander = make_sandbox()
    bystander.run_code("kept = 'still here'")

    # Bounded by hand first: fork until refused, count, then clean up.
    code = (
        "import os, time\n"
        "kids, refused = [], None\n"
        "try:\n"
        "    for _ in range(400):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        kids.append(pid)\n"
        "except OSError as exc:\n"
        "    refused = exc.errno\n"
        "for pid in kids:\n"
        "    os.kill(pid, 9)\n"
        "for pid in kids:\n"
        "    os.waitpid(pid, 0)\n"
        "(len(kids), refused)"
    )
    forked, refused = probe(victim, code)
    assert refused == errno.EAGAIN
    assert forked < LIMITS.pids

    # The classic unbounded bomb, stopped by the pids cap and the call's timeout.
    outcome: dict[str, Any] = {}

    def bomb() -> None:
        start = time.monotonic()
        outcome["result"] = victim.exec("bash -c 'b(){ b|b& }; b; sleep 60'", timeout=6)
        outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=bomb)
    thread.start()
    try:
        time.sleep(2)
        start = time.monotonic()
        subprocess.run(["/bin/true"], check=True, timeout=10)
        assert bystander.run_code("kept", timeout=10).result == "'still here'"
        assert time.monotonic() - start < 5
    finally:
        thread.join(30)
    assert not thread.is_alive()
    assert outcome["result"].timed_out
    assert outcome["seconds"] < 15
    # The bomb's process group was killed: the sandbox forks again and keeps state.
    # (While the pids cap is still full, exec fails cleanly with a SandboxError.)
    assert wait_until(lambda: _answers(victim), 5)
    assert victim.run_code("1 + 1").result == "2"

    # A bomb left running in the background outlives its call (like any daemon): it
    # stays under the pids cap, the kernel still answers, and reset() ends it.
    victim.exec("bash -c 'b(){ b|b& }; b' >/dev/null 2>&1", timeout=5)
    time.sleep(1)
    assert _sandbox_pids_current(victim) in (None, *range(LIMITS.pids + 1))
    subprocess.run(["/bin/true"], check=True, timeout=10)
    assert victim.run_code("2 + 2", timeout=10).result == "4"
    victim.reset()
    assert wait_until(lambda: _answers(victim), 5)
    assert bystander.run_code("kept").result == "'still here'"


def _answers(sb: LocalSandbox) -> bool:
    try:
        return sb.exec("echo alive", timeout=10).stdout == "alive\n"
    except SandboxError:
        return False


def _sandbox_pids_current(sb: LocalSandbox) -> int | None:
    """The pids cgroup counter of a sandbox, read on the host (None without cgroups)."""
    layout = cgroups.cgroup_layout()
    parent = layout[1].get("pids") if layout else None
    if parent is None:
        return None
    for name in os.listdir(parent):
        if sb.id in name:
            with open(os.path.join(parent, name, "pids.current")) as f:
                return int(f.read())
    return None


@pytest.mark.attack
def test_memory_bomb_is_killed_and_the_sandbox_recovers(box: LocalSandbox) -> None:
    box.run_code("keep = 41")
    # In a child process: the cgroup OOM-kills the child, the kernel keeps its state.
    r = box.exec("python3 -c \"b = b'x' * (768 << 20); print(len(b))\"", timeout=15)
    assert r.exit_code != 0
    assert r.stdout == ""
    assert box.run_code("keep + 1").result == "42"

    # In the kernel itself: MemoryError, or the kernel is OOM-killed and revived.
    res, lost = survive(lambda: box.run_code("b = b'x' * (768 << 20)", timeout=15))
    if not lost:
        assert res.state_lost or (res.error is not None and res.error.name == "MemoryError")
    after = box.run_code("keep if 'keep' in globals() else 'gone'", timeout=15)
    assert after.error is None
    if lost or (res is not None and res.state_lost):
        assert after.result == "'gone'"
        assert after.state_lost or lost
    assert box.run_code("1 + 1").result == "2"
    assert box.run_code("1 + 1").state_lost is False


@pytest.mark.attack
def test_memory_is_bounded_without_a_cgroup(
    make_sandbox: Callable[..., LocalSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No writable cgroup (non-root, or a read-only tree): RLIMIT_DATA still bounds memory."""
    monkeypatch.setattr(cgroups, "create_cgroups", lambda name, limits: None)
    box = make_sandbox()
    assert box._cg is None
    big = box.run_code("b = b'x' * (512 << 20)\nlen(b)", timeout=30)  # over 256 MiB
    assert big.error is not None and big.error.name == "MemoryError", big
    r = box.exec("python3 -c \"b = b'x' * (512 << 20); print(len(b))\"", timeout=30)
    assert r.exit_code != 0 and "MemoryError" in r.stderr  # child processes too
    ok = box.run_code("s = bytearray(64 << 20)\nlen(s)", timeout=30)  # control
    assert ok.error is None and ok.result == str(64 << 20)


@pytest.mark.attack
def test_disk_bomb_stops_at_the_caps(box: LocalSandbox) -> None:
    before = shutil.disk_usage("/").used
    sizes = {}
    for folder, cap in (("/workspace", LIMITS.workspace_bytes), ("/tmp", LIMITS.tmp_bytes)):
        r = box.exec(
            f"dd if=/dev/zero of={folder}/fill bs=1M count=200 2>&1; stat -c %s {folder}/fill",
            timeout=30,
        )
        assert "No space left" in r.stdout, r.stdout
        sizes[folder] = int(r.stdout.split()[-1])
        assert sizes[folder] <= cap
    r = box.exec("dd if=/dev/zero of=/dev/shm/fill bs=1M count=200 2>&1", timeout=30)
    assert r.exit_code != 0
    assert int(box.exec("stat -c %s /dev/shm/fill", timeout=10).stdout) <= LIMITS.tmp_bytes
    # Python too, through write_file and plain open().
    with pytest.raises(SandboxError):
        box.write_file("more.bin", b"\0" * (8 * MiB))
    res = box.run_code(
        "with open('/workspace/py.bin', 'wb') as f:\n    f.write(b'x' * (16 << 20))", timeout=15
    )
    assert res.error is not None and "No space left" in res.error.value
    assert shutil.disk_usage("/").used - before < 100 * MiB
    # Freed space can be used again.
    box.exec("rm -f /workspace/fill /workspace/py.bin /tmp/fill /dev/shm/fill", timeout=10)
    box.write_file("ok.txt", "fine")
    assert box.read_file("ok.txt") == b"fine"


@pytest.mark.attack
def test_a_full_disk_fails_with_enospc_and_the_interpreter_lives(
    make_sandbox: Callable[..., LocalSandbox],
) -> None:
    """With the default limits: files live in memory, so a fill must not OOM the kernel."""
    box = make_sandbox(limits=LocalLimits())
    box.run_code("keep = 41")
    fill = (
        "def fill(path):\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    with open(path, 'wb') as f:\n"
        "        for _ in range(2048):\n"  # bounded: 2 GiB, far above any cap
        "            f.write(chunk)\n"
        "            f.flush()\n"
    )
    box.run_code(fill)
    for folder in ("/workspace", "/tmp", "/dev/shm"):
        r = box.run_code(f"fill('{folder}/fill')", timeout=60)
        assert r.error is not None and r.error.name == "OSError", (folder, r)
        assert "No space left" in r.error.value and not r.state_lost
        used, total = re.search(
            rf"disk full: (\d+) MB used of (\d+) MB in {folder}", r.error.value
        ).groups()  # type: ignore[union-attr]
        assert int(total) - int(used) <= 2 and int(total) > 0
    shell = box.exec("echo more > /workspace/more.txt", timeout=10)
    assert shell.exit_code != 0 and "disk full:" in shell.stderr
    with pytest.raises(SandboxFileError, match=r"disk full: .* in /workspace"):
        box.write_file("more.bin", b"x" * MiB)
    # Ordinary work still runs in the same interpreter: 3 of 3 allocations of 40 MiB.
    for _ in range(3):
        r = box.run_code("b = bytearray(40 << 20)\nlen(b)", timeout=30)
        assert r.error is None and r.result == str(40 << 20) and not r.state_lost
    assert box.run_code("keep + 1").result == "42"


OOM_HOST = """
import sys
sys.path[:0] = sys.argv[1:]
from langchain_daytona_exec import LocalBackend, LocalLimits, SandboxError
MiB = 1 << 20
limits = LocalLimits(memory_bytes=512 * MiB, workspace_bytes=360 * MiB, tmp_bytes=8 * MiB)
ballast = bytearray(b"x" * (200 * MiB))  # the host's own memory: the largest process
backend = LocalBackend(limits=limits)
budget = getattr(backend, "check_memory_budget", lambda n: None)  # absent: the OOM part runs
print("budget", budget(2), flush=True)
boxes = [backend.create(), backend.create()]
fill = (
    "f = open('/workspace/f', 'wb')\\n"
    "for _ in range(350):\\n    f.write(b'x' * (1 << 20))\\n    f.flush()\\n'filled'"
)
for sb in boxes:  # 2 x 350 MiB of files + the host's 200 MiB > the 900 MiB limit
    try:
        print("fill", sb.run_code(fill, timeout=60).result, flush=True)
    except SandboxError as exc:
        print("fill", type(exc).__name__, flush=True)
print("host alive", len(ballast) // MiB, flush=True)
"""


@pytest.mark.attack
def test_sandbox_files_cannot_get_the_host_oom_killed() -> None:
    """Under a container-like memory limit, the OOM killer must take a sandbox, not us."""
    layout = cgroups.cgroup_layout()
    if not IS_ROOT or layout is None or layout[0] != 1:
        pytest.skip("needs root and a writable cgroup v1 memory tree to build the container")
    container = os.path.join(layout[1]["memory"], f"ldx-oomtest-{secrets.token_hex(4)}")
    os.mkdir(container)
    try:
        with open(os.path.join(container, "memory.limit_in_bytes"), "w") as f:
            f.write(str(900 * MiB))

        def enter() -> None:
            with open(os.path.join(container, "cgroup.procs"), "w") as f:
                f.write("0")

        proc = subprocess.run(
            [sys.executable, "-c", OOM_HOST, str(REPO)],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=enter,
            env={"PATH": "/usr/bin:/bin", "HOME": os.path.expanduser("~")},
        )
        with open(os.path.join(container, "memory.failcnt")) as f:
            failcnt = int(f.read())
    finally:
        cgroups.CgroupSet(
            [os.path.join(container, n) for n in os.listdir(container) if n.startswith("ldx-")]
            + [container],
            1,
        ).destroy(10)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "host alive 200" in lines
    assert failcnt > 0  # control: the container limit was really reached
    assert "fill SandboxLostError" in lines  # ... and a sandbox paid for it
    budget = lines[0]
    assert "2 sandboxes x 512 MiB" in budget and "MiB available" in budget, budget


OOM_LOWER = r"""
import ctypes, errno, os, subprocess
def value(pid="self"):
    with open(f"/proc/{pid}/oom_score_adj") as f:
        return int(f.read())
def write(text):
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(text)
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]
out = {"start": value(), "lower": write("0")}
# After its uid switch the kernel is not dumpable (its /proc files are root's): undo that
out["dumpable"] = ctypes.CDLL(None, use_errno=True).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
out["lower_dumpable"] = write("0")
out["after_lower"] = value()
out["same"] = write(str(out["start"]))
out["forked"] = subprocess.run(
    ["/bin/sh", "-c", "echo 0 > /proc/self/oom_score_adj && echo written; "
     "cat /proc/self/oom_score_adj"], capture_output=True, text=True, timeout=10,
).stdout.split()
out["end"] = value()
out
"""


@pytest.mark.attack
def test_sandboxed_code_cannot_lower_its_oom_score(box: LocalSandbox) -> None:
    """Every sandbox process stays the OOM killer's first choice: nothing in it can lower it."""
    floor = cgroups.SANDBOX_OOM_SCORE_ADJ
    seen = probe(box, OOM_LOWER)
    assert seen["start"] == seen["after_lower"] == seen["end"] == floor, seen
    assert seen["dumpable"] == 0, seen  # the attempt really made the kernel dumpable...
    for key in ("lower", "lower_dumpable", "same"):  # ...and still no write goes through
        assert seen[key] in ("EACCES", "EROFS"), seen
    assert seen["forked"] == [str(floor)], seen  # a child the code starts: refused too
    # `exec`'s shells, and a daemon that tries later, once the call that started it ended
    marker = f"ldx-oom-{secrets.token_hex(6)}"
    r = box.exec(
        "echo 0 > /proc/self/oom_score_adj || echo refused; cat /proc/self/oom_score_adj; "
        "setsid -f sh -c 'sleep 0.3; echo 0 > /proc/self/oom_score_adj || echo refused "
        f"> /tmp/$0; sleep 60' {marker} >/dev/null 2>&1 </dev/null",
        timeout=10,
    )
    assert r.exit_code == 0 and r.stdout.split() == ["refused", str(floor)], r
    tried = lambda: box.exec(f"cat /tmp/{marker}", timeout=10).stdout.strip()  # noqa: E731
    assert wait_until(lambda: tried() != "", 5) and tried() == "refused"
    listing = probe(
        box,
        "import os\n"
        "seen = []\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        oom = int(open(f'/proc/{p}/oom_score_adj').read())\n"
        "        seen.append((oom, open(f'/proc/{p}/cmdline', 'rb').read().decode()))\n"
        "    except (OSError, ValueError):\n"
        "        pass\n"
        "seen",
    )
    assert any(marker in cmd for _, cmd in listing), listing  # the daemon, counted
    assert len(listing) >= 4 and all(oom >= floor for oom, _ in listing), listing
    # From the host: bwrap outside the sandbox's pid namespace too
    if box._cg is not None:
        pids = box._cg.pids()
        assert len(pids) >= len(listing)
        for pid in pids:
            with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/oom_score_adj") as f:
                assert int(f.read()) >= floor, pid


def test_outside_a_sandbox_linux_lets_a_process_lower_its_oom_score() -> None:
    """Control: the refusals above come from the sandbox, not from Linux itself.

    An unprivileged process started at the sandbox's value (by ``cgroups.oom_argv``, as
    a sandbox is) can lower it again, down to the floor it inherited (0 or less here:
    only a writer holding CAP_SYS_RESOURCE raises that floor).
    """
    if not IS_ROOT:
        pytest.skip("needs root to start the probe as another user")
    script = (
        "cat /proc/self/oom_score_adj; echo 0 > /proc/self/oom_score_adj && "
        "cat /proc/self/oom_score_adj; echo 1000 > /proc/self/oom_score_adj && "
        "cat /proc/self/oom_score_adj"
    )
    with open("/proc/self/oom_score_adj") as f:
        if int(f.read()) > 0:
            pytest.skip("this process already runs above oom_score_adj 0")
    out = subprocess.run(
        cgroups.oom_argv(["/bin/sh", "-c", script]),
        capture_output=True,
        text=True,
        timeout=30,
        user=65534,
        group=65534,
        extra_groups=[],
    )
    assert out.stdout.split() == ["1000", "0", "1000"], (out.stdout, out.stderr)


@pytest.mark.attack
def test_a_sandbox_that_keeps_dying_is_replaced_and_the_model_told_why() -> None:
    from langchain_core.messages import ToolMessage

    from langchain_daytona_exec import DaytonaPythonTool, DaytonaWriteFileTool, SandboxPool

    with SandboxPool(LocalBackend(limits=LIMITS), max_size=2) as pool:
        py, write = DaytonaPythonTool(pool=pool), DaytonaWriteFileTool(pool=pool)

        def call(tool: Any, args: dict[str, Any]) -> str:
            msg = tool.invoke(
                {"name": tool.name, "args": args, "id": "c", "type": "tool_call"},
                {"configurable": {"thread_id": "dying"}},
            )
            assert isinstance(msg, ToolMessage)
            return str(msg.content)

        call(write, {"path": "data.csv", "content": "a,b\n1,2\n"})
        with pool.session("dying") as sb:
            first = sb.run_code("import os\nos.getpid()").result
        crash = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
        outs = [call(py, {"code": crash}) for _ in range(3)]
        assert "files in the workspace were kept" in outs[0]  # one death: a plain restart
        assert "3 times in a row" in outs[2] and "replaced by a fresh one" in outs[2]
        assert pool.stats().replaced == 0
        after = call(py, {"code": "import os\nsorted(os.listdir('.'))"})
        assert "[]" in after  # a fresh sandbox: the old files went with the old one
        assert pool.stats().replaced == 1
        with pool.session("dying") as sb:
            assert sb.run_code("1 + 1").result == "2" and first is not None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@pytest.mark.attack
def test_output_flood_is_truncated_quickly_and_cheaply(box: LocalSandbox) -> None:
    box.run_code("1")
    rss_before = status_field("VmRSS") * 1024
    peak_ok = _reset_peak_rss()
    start = time.monotonic()
    r = box.run_code(
        "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(200):\n    sys.stdout.write(chunk)",
        timeout=30,
    )
    e = box.exec("head -c 200000000 /dev/zero | tr '\\0' y; head -c 50000000 /dev/zero >&2")
    v = box.run_code("'z' * (20 << 20)")
    elapsed = time.monotonic() - start
    after = status_field("VmHWM" if peak_ok else "VmRSS") * 1024
    assert r.error is None and not r.timed_out
    assert r.stdout_truncated_bytes > 190 * MiB
    assert len(r.stdout) < 2 * LIMITS.output_bytes + 1000
    assert e.exit_code == 0 and e.stdout_truncated_bytes > 0 and e.stderr_truncated_bytes > 0
    assert len(e.stdout) + len(e.stderr) < 4 * LIMITS.output_bytes + 2000
    assert v.result is not None and len(v.result) < 200_000
    assert elapsed < 30
    assert after - rss_before < 64 * MiB, f"host grew {(after - rss_before) / MiB:.1f} MiB"


@pytest.mark.attack
def test_forged_response_frames_cannot_flood_the_host(box: LocalSandbox) -> None:
    """The code shares the kernel's process, so it can write to the response pipe."""
    box.run_code("1")
    rss_before = status_field("VmRSS") * 1024
    peak_ok = _reset_peak_rss()
    code = (
        "import os, stat\n"
        "fds = [int(n) for n in os.listdir('/proc/self/fd')]\n"
        "def is_write_pipe(fd):\n"
        "    try:\n"
        "        flags = int(open(f'/proc/self/fdinfo/{fd}').read().split()[3], 8)\n"
        "        return stat.S_ISFIFO(os.fstat(fd).st_mode) and flags & 3 == 1\n"
        "    except (OSError, ValueError, IndexError):\n"
        "        return False\n"
        "resp = [fd for fd in fds if fd > 2 and is_write_pipe(fd)][0]\n"
        "blob = 512 << 20\n"
        "os.write(resp, (2).to_bytes(4, 'big') + blob.to_bytes(4, 'big') + b'{}')\n"
        "chunk = bytes(1 << 20)\n"
        "for _ in range(blob >> 20):\n"
        "    os.write(resp, chunk)\n"
    )
    start = time.monotonic()
    with pytest.raises(SandboxLostError):
        box.run_code(code, timeout=30)
    after = status_field("VmHWM" if peak_ok else "VmRSS") * 1024
    assert time.monotonic() - start < 10
    assert after - rss_before < 64 * MiB, f"host grew {(after - rss_before) / MiB:.1f} MiB"
    # The hostile kernel was killed; a fresh one answers.
    r = box.run_code("1 + 1")
    assert r.result == "2" and r.state_lost


# -- 7. daemonized children ---------------------------------------------------------------


@pytest.mark.attack
def test_daemons_die_with_the_sandbox(tmp_path: Path) -> None:
    token = secrets.token_hex(12)
    marker = f"ldx-daemon-{token}"
    base = tmp_path / "sandboxes"
    sb = LocalBackend(limits=LIMITS, base_dir=str(base)).create()
    try:
        r = sb.run_code(
            "import os, signal\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        fd = os.open('/dev/null', os.O_RDWR)\n"
            "        for target in (0, 1, 2):\n"
            "            os.dup2(fd, target)\n"
            "        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
            "            signal.signal(sig, signal.SIG_IGN)\n"
            f"        os.execv('/bin/sleep', ['{marker}-py', '1000'])\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)[1]"
        )
        assert r.result == "0", r
        r = sb.exec(
            f"setsid -f bash -c \"trap '' TERM HUP; exec -a {marker}-sh sleep 1000\" "
            ">/dev/null 2>&1 </dev/null; "
            f"( nohup bash -c 'exec -a {marker}-nohup sleep 1000' >/dev/null 2>&1 & ) &",
            timeout=10,
        )
        assert r.exit_code == 0
        # The daemons outlive the calls that started them...
        daemons = [f"{marker}-{kind}" for kind in ("py", "sh", "nohup")]
        running = lambda: all(host_pids_with(d) for d in daemons)  # noqa: E731
        assert wait_until(running, 5), _cmdlines(host_pids_with(marker))
        assert sb.run_code("2 + 2").result == "4"
        assert running(), _cmdlines(host_pids_with(marker))
        sandbox_id = sb.id
    finally:
        sb.close()
    # ...but not the sandbox: no process, mount, folder or cgroup is left behind.
    assert wait_until(lambda: host_pids_with(marker) == [], 5), _cmdlines(host_pids_with(marker))
    assert not base.exists() or list(base.iterdir()) == []
    with open("/proc/self/mountinfo") as f:
        assert str(base) not in f.read()
    layout = cgroups.cgroup_layout()
    if layout is not None:
        for parent in layout[1].values():
            assert not any(sandbox_id in name for name in os.listdir(parent))


# -- 8. kill(-1) ------------------------------------------------------------------------------


@pytest.mark.attack
@pytest.mark.parametrize("how", ["python", "shell"])
def test_kill_minus_one_hits_only_its_own_sandbox(
    make_sandbox: Callable[..., LocalSandbox], how: str
) -> None:
    victim = make_sandbox()
    neighbour = make_sandbox()
    victim.run_code("x = 1")
    neighbour.run_code("y = 2")
    uid = int(victim.run_code("import os; os.getuid()").result or "0")
    assert uid != 0
    host_children = [subprocess.Popen(["sleep", "60"])]
    if IS_ROOT:  # a host process with the very uid of the sandbox, outside its pid namespace
        host_children.append(subprocess.Popen(["sleep", "60"], user=uid, group=uid))
    try:
        victim.exec("sleep 100 >/dev/null 2>&1 &", timeout=10)
        if how == "python":
            res, lost = survive(lambda: victim.run_code("import os; os.kill(-1, 9)", timeout=10))
        else:
            res, lost = survive(lambda: victim.exec("kill -9 -1; echo survived", timeout=10))
        time.sleep(0.2)
        assert all(p.poll() is None for p in host_children)
        assert neighbour.run_code("y").result == "2"
        assert neighbour.run_code("y", timeout=5).state_lost is False

        after = victim.run_code("x if 'x' in globals() else 'gone'", timeout=10)
        assert after.error is None
        if lost:
            assert after.state_lost and after.result == "'gone'"
        else:
            # Linux spares the caller: the kernel survived and kept its state.
            assert res is not None
            assert after.result == "1" or (after.state_lost and after.result == "'gone'")
        assert victim.run_code("1 + 1").result == "2"
        assert victim.exec("echo ok", timeout=10).stdout == "ok\n"
        # The signal did land inside: the sandbox's own background sleep is gone.
        assert "sleep" not in victim.exec("ps -eo comm", timeout=10).stdout
    finally:
        for p in host_children:
            p.kill()
            p.wait(5)


# -- 9. seccomp and privileges ----------------------------------------------------------------

_SYSCALLS = {
    "x86_64": {
        "keyctl": 250,
        "add_key": 248,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "io_uring_setup": 425,
        "setns": 308,
        "clone": 56,
        "process_vm_readv": 310,
        "init_module": 175,
        "kexec_load": 246,
        "pivot_root": 155,
        "open_by_handle_at": 304,
    },
    "aarch64": {
        "keyctl": 219,
        "add_key": 217,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "io_uring_setup": 425,
        "setns": 268,
        "clone": 220,
        "process_vm_readv": 270,
        "init_module": 105,
        "kexec_load": 104,
        "pivot_root": 41,
        "open_by_handle_at": 265,
    },
}


@pytest.mark.attack
def test_dangerous_syscalls_and_privileges_are_denied(box: LocalSandbox) -> None:
    code = (
        "import ctypes, os, platform\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "out = {}\n"
        "def call(name, fn, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    rc = fn(*args)\n"
        "    if rc == 0 and name == 'clone':\n"
        "        os._exit(0)\n"
        "    out[name] = (rc, ctypes.get_errno())\n"
        "os.makedirs('/tmp/m', exist_ok=True)\n"
        "call('unshare_user', libc.unshare, 0x10000000)\n"
        "call('unshare_mnt', libc.unshare, 0x00020000)\n"
        "call('unshare_net', libc.unshare, 0x40000000)\n"
        "call('mount', libc.mount, b'none', b'/tmp/m', b'tmpfs', 0, None)\n"
        "call('umount', libc.umount2, b'/tmp', 2)\n"
        "call('chroot', libc.chroot, b'/tmp')\n"
        "call('ptrace_traceme', libc.ptrace, 0, 0, None, None)\n"
        "call('ptrace_attach', libc.ptrace, 16, 1, None, None)\n"
        "sys_nr = " + repr(_SYSCALLS) + ".get(platform.machine(), {})\n"
        "ns_fd = os.open('/proc/self/ns/net', os.O_RDONLY)\n"
        "buf = ctypes.create_string_buffer(256)\n"
        "raw = {\n"
        "    'keyctl': (0, -3, 0),\n"
        "    'add_key': (b'user', b'ldx', b'x', 1, -3),\n"
        "    'bpf': (0, buf, 128),\n"
        "    'perf_event_open': (buf, 0, -1, -1, 0),\n"
        "    'userfaultfd': (0,),\n"
        "    'io_uring_setup': (1, buf),\n"
        "    'setns': (ns_fd, 0),\n"
        "    'clone': (0x10000000 | 17, 0, 0, 0, 0),\n"
        "    'process_vm_readv': (1, buf, 1, buf, 1, 0),\n"
        "    'init_module': (buf, 0, b''),\n"
        "    'kexec_load': (0, 0, None, 0),\n"
        "    'pivot_root': (b'/tmp', b'/tmp/m'),\n"
        "    'open_by_handle_at': (ns_fd, buf, 0),\n"
        "}\n"
        "for name, nr in sys_nr.items():\n"
        "    call(name, libc.syscall, nr, *raw[name])\n"
        "try:\n"
        "    os.setuid(0)\n"
        "    out['setuid'] = 'ok'\n"
        "except OSError as exc:\n"
        "    out['setuid'] = exc.errno\n"
        "try:\n"
        "    os.setgroups([0])\n"
        "    out['setgroups'] = 'ok'\n"
        "except OSError as exc:\n"
        "    out['setgroups'] = exc.errno\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
        "status = {k: v.strip() for k, v in status.items()}\n"
        "(out, sorted(sys_nr), os.getresuid(), os.getresgid(), os.getgroups(), status)"
    )
    out, raw_checked, resuid, resgid, groups, status = probe(box, code)
    for name, value in out.items():
        if name in ("setuid", "setgroups"):
            assert value == errno.EPERM, (name, value)
        else:
            rc, err = value
            assert rc == -1 and err in (errno.EPERM, errno.EACCES, errno.ENOSYS), (name, value)
    if raw_checked:  # seccomp answers EPERM before the kernel looks at the arguments
        for name in ("keyctl", "add_key", "bpf", "userfaultfd", "io_uring_setup", "setns"):
            assert out[name] == (-1, errno.EPERM), (name, out[name])
    assert 0 not in resuid and 0 not in resgid and 0 not in groups
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    for cap in ("CapEff", "CapPrm", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])

    # Child processes inherit all of it, and setuid binaries do not elevate.
    r = box.exec(
        "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; "
        "unshare -U -r id 2>&1; unshare -n true 2>&1; "
        "mount -t tmpfs none /tmp/m 2>&1; su -c id root </dev/null 2>&1; "
        "dmesg >/dev/null 2>&1 && echo DMESG-READABLE; id -u",
        timeout=10,
    )
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout
    assert "CapEff:\t0000000000000000" in r.stdout
    assert "uid=0" not in r.stdout and "DMESG-READABLE" not in r.stdout
    assert r.stdout.strip().splitlines()[-1] != "0"


# -- 10. terminal injection ---------------------------------------------------------------

_TIOCSTI_SCRIPT = """
import errno, fcntl, os, termios
master, slave = os.openpty()
name = os.ttyname(slave)
pid = os.fork()
if pid == 0:
    os.setsid()
    fd = os.open(name, os.O_RDWR)  # becomes the controlling terminal
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        result = "injected"
    except OSError as exc:
        result = errno.errorcode[exc.errno]
    os.write(1, result.encode())
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.attack
def test_tiocsti_cannot_inject_keystrokes(box: LocalSandbox, tmp_path: Path) -> None:
    # The sandbox holds no terminal of the host's (and has no controlling terminal).
    r = box.exec(
        "for f in /proc/[0-9]*/fd/*; do readlink $f; done 2>/dev/null | grep -E '/dev/(pts|tty)'; "
        "cut -d' ' -f7 /proc/self/stat",
        timeout=10,
    )
    assert r.stdout.split() == ["0"], r.stdout
    box.write_file("tiocsti.py", _TIOCSTI_SCRIPT)
    r = box.exec("python3 tiocsti.py", timeout=10)
    assert r.stdout == "EPERM", (r.stdout, r.stderr)
    # Control: outside the sandbox the same script does inject (into its own new pty).
    script = tmp_path / "tiocsti.py"
    script.write_text(_TIOCSTI_SCRIPT)
    host = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=10, check=False
    )
    if host.stdout != "injected":
        pytest.skip(f"TIOCSTI is disabled on this host too ({host.stdout or host.stderr})")
