"""The host's side of root mode's fork-server (``_zygote.py`` is the other side).

One zygote process per host process, started lazily (or in the background when a
root-mode ``LocalBackend`` is made) from the spawner thread, so its death signal is
tied to the host. A sandbox start sends it only fds; it answers with the pid of the
sandbox's pid 1 and a pidfd to it. :class:`ForkedProcess` gives ``LocalSandbox`` the
part of ``subprocess.Popen`` it uses (pid, poll, wait, kill, stderr).
"""

from __future__ import annotations

import array
import atexit
import contextlib
import functools
import marshal
import os
import select
import signal
import socket
import subprocess
from typing import IO

from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local._prepare import kernel_files
from langchain_daytona_exec.backends.local._spawner import spawner
from langchain_daytona_exec.errors import IsolationUnavailableError

ZYGOTE_MODULES = ("_zygote_root", "_zygote")
"""The zygote's sources (this package's modules), in the order it runs them: each may
import the ones before it by their full name, the last one serves."""

_BOOT = (
    "import marshal,os,sys;f=int(sys.argv[1]);d=os.pread(f,1<<26,0);os.close(f);"
    "m,b=marshal.loads(d);del d\n"
    "for n,p,s in m:g=sys.modules[n]=type(sys)(n);exec(compile(s,p,'exec'),g.__dict__)\n"
    "for n,p,s in m:del sys.modules[n]\n"
    "del m;b=[b];g.serve(b)"
)
"""The zygote's whole command line after the interpreter: it reads its boot data from the
fd in argv[1], ``marshal``'d: this package's ``ZYGOTE_MODULES`` as (module name, file name,
source), and the payload of the last one's ``serve``. It runs each source as a module
registered under its name in ``sys.modules`` (so ``_zygote.py`` imports
``_zygote_root.py`` as it does in the host, and nothing is looked up on disk), and drops
the names once all ran (forked kernels show the user no module of ours). The payload
goes in a list ``serve`` empties: this frame stays below every forked kernel's. It is the
command line of every sandbox's pid 1 and kernel (forks do not exec), so it names no
host path; file names are under the sandbox's kernel folder and the interpreter is named
by its sandbox path (the real one is passed as the executable)."""


def _zygote_sources() -> list[tuple[str, str, bytes]]:
    """``ZYGOTE_MODULES`` as ``_BOOT`` reads them: (module name, file name, source)."""
    package = __name__.rpartition(".")[0]
    sources = []
    for stem in ZYGOTE_MODULES:
        with open(os.path.join(isolation.KERNEL_DIR, f"{stem}.py"), "rb") as f:
            source = f.read()
        sources.append((f"{package}.{stem}", f"{isolation.SANDBOX_KERNEL_DIR}/{stem}.py", source))
    return sources


ZYGOTE_MAX_FORKS = 500
"""Sandboxes one zygote forks before a fresh one replaces it. Forks share the zygote's
address-space layout (ASLR), ``str`` hash secret and glibc's ``AT_RANDOM`` bytes (the
stack canary and pointer guard: they cannot change under a running process); a fresh
exec renews all of them, so at most this many sandboxes share them. The old zygote
lingers, retired, until the last sandbox it forked has ended (their pid 1 dies with
it). Costs one zygote start (about the time of one bwrap sandbox) per this many
sandboxes."""

_SEND_TIMEOUT_S = 5.0
"""How long a request to the zygote may wait for its answer (a fork and two syscalls)."""


class ForkServerError(IsolationUnavailableError):
    """The fork-server could not be started or could not fork a sandbox."""


class ForkedProcess:
    """A sandbox's pid 1 forked by the zygote: what ``LocalSandbox`` uses of ``Popen``.

    Not this process's child: liveness and kill go through a pidfd, the exit status
    through a pipe pid 1 writes before it exits (bubblewrap's convention: the kernel's
    exit code, or 128 + the signal that killed it); killed before it could write, it
    reports ``-SIGKILL`` as ``Popen`` would.
    """

    def __init__(self, pid: int, pidfd: int, status_r: int, stderr_r: int) -> None:
        self.pid = pid
        self.args = ["forkserver"]
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._status_r = status_r
        self.stderr: IO[bytes] | None = os.fdopen(stderr_r, "rb")

    def _collect(self) -> int:
        if self.returncode is None:
            data = b""
            with contextlib.suppress(OSError):
                os.set_blocking(self._status_r, False)
                data = os.read(self._status_r, 32)
            try:
                self.returncode = int(data)
            except ValueError:
                self.returncode = -signal.SIGKILL
            for fd in (self._pidfd, self._status_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
        return self.returncode

    def poll(self) -> int | None:
        """The exit status, or ``None`` while pid 1 runs."""
        return self.wait(0) if self.returncode is None and self._exited(0) else self.returncode

    def _exited(self, timeout: float | None) -> bool:
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        # poll() takes an int of milliseconds (OverflowError past 2**31): None waits
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def wait(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (``None``: until it ends) for pid 1; its status.

        Raises:
            subprocess.TimeoutExpired: It still runs.
        """
        if self.returncode is None and not self._exited(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._collect()

    def kill(self) -> None:
        """SIGKILL pid 1: the kernel ends every process of its pid namespace with it."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


class ForkServer:
    """The zygote process and the socket to it. Used on the spawner thread only."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.error: str | None = None
        self.spawned = 0
        """Sandboxes the current zygote forked."""
        self._retired: list[subprocess.Popen[bytes]] = []

    def _start(self, timeout: float) -> None:
        """Exec a fresh interpreter as the zygote and wait for its ready byte."""
        self.retire()  # a dead one; its sandboxes died with it
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        boot = marshal.dumps(
            {"sock": child.fileno(), "host_pid": os.getpid(), "files": kernel_files()}
        )
        boot_fd = isolation.data_fd(marshal.dumps((_zygote_sources(), boot)))
        python = isolation.host_python_paths().python
        try:
            proc = subprocess.Popen(
                [isolation.SANDBOX_PYTHON, "-I", "-S", "-c", _BOOT, str(boot_fd)],
                executable=python,
                env={},
                cwd="/",
                pass_fds=[boot_fd, child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # no Ctrl-C from the host's terminal
            )
        finally:
            os.close(boot_fd)
            child.close()
        self._proc, self._sock = proc, host
        ready = select.select([host], [], [], timeout)[0]
        answer = host.recv(4096) if ready else b""
        if answer != b"R":
            detail = answer[1:].decode(errors="replace") or self._stderr() or "no answer"
            proc.kill()  # it forked nothing yet
            self.retire()
            raise ForkServerError(f"the fork-server did not start: {detail}")

    def _stderr(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(1)
            return proc.stderr.read().decode(errors="replace").strip()[-2000:]
        return ""

    def ensure(self, timeout: float) -> None:
        """Start the zygote unless it runs (spawner thread)."""
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._start(timeout)
            except (OSError, ForkServerError) as exc:
                self.error = str(exc)
                raise ForkServerError(str(exc)) from exc
            self.error = None

    def spawn(self, header: bytes, fds: list[int], timeout: float) -> tuple[int, int]:
        """Fork a sandbox from ``fds`` (see ``_zygote.py``); its pid 1's (pid, pidfd).

        Args:
            header: 3 bytes: network shared, number of cgroup files, a workspace
                namespace (``_zygote._sandbox_pid1``'s arguments).
            fds: In ``_zygote.SECCOMP_INDEX``'s layout.
            timeout: Seconds to start the zygote if it does not run.

        Raises:
            ForkServerError: The zygote could not be started or did not fork.
        """
        if self.spawned >= ZYGOTE_MAX_FORKS:
            self.retire()
        msg, pidfd = self._request(b"S" + header, fds, b"P", timeout)
        self.spawned += 1
        return int.from_bytes(msg[1:9], "little"), pidfd

    def _request(
        self, request: bytes, fds: list[int], kind: bytes, timeout: float
    ) -> tuple[bytes, int]:
        """Send ``request`` with ``fds``; the answer of type ``kind`` and its one fd.

        A zygote that died is replaced once (its sandboxes died with it).
        """
        for attempt in range(2):
            self.ensure(timeout)
            sock = self._sock
            assert sock is not None
            try:
                sock.sendmsg(
                    [request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                )
                if not select.select([sock], [], [], _SEND_TIMEOUT_S)[0]:
                    raise TimeoutError("the fork-server did not answer")
                msg, ancdata, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(4))
            except OSError as exc:
                self.retire()
                if attempt:
                    raise ForkServerError(f"the fork-server failed: {exc}") from exc
                continue
            received = [
                fd
                for level, kind_, data in ancdata
                if level == socket.SOL_SOCKET and kind_ == socket.SCM_RIGHTS
                for fd in array.array("i", data[: len(data) - len(data) % 4])
            ]
            if msg[:1] == kind and len(received) == 1:
                return msg, received[0]
            for fd in received:
                os.close(fd)
            if not msg:  # the zygote died: start a new one once
                self.retire()
                if attempt:
                    raise ForkServerError("the fork-server exited")
                continue
            raise ForkServerError(f"the fork-server failed: {msg[1:].decode(errors='replace')}")
        raise ForkServerError("the fork-server failed")  # not reached

    def retire(self) -> None:
        """Replace the zygote at the next spawn; the old one ends with its last sandbox."""
        sock, self._sock = self._sock, None
        proc, self._proc = self._proc, None
        self.spawned = 0
        if sock is not None:
            sock.close()  # EOF: the zygote stops forking and waits for its children
        if proc is not None:
            self._retired.append(proc)
        self._retired = [p for p in self._retired if p.poll() is None or _closed(p)]

    def workspace(self, target: str, options: str, timeout: float) -> int:
        """An fd to a new mount namespace with a tmpfs mounted at ``target``.

        Args:
            target: The host folder (it exists).
            options: The tmpfs's options (``size=...,mode=0700,uid=...,gid=...``).
            timeout: Seconds to start the zygote if it does not run.

        Raises:
            ForkServerError: The zygote could not be started or did not answer.
        """
        params = isolation.data_fd(marshal.dumps((target, options)))
        try:
            return self._request(b"W\0\0\0", [params], b"N", timeout)[1]
        finally:
            os.close(params)

    def stop(self) -> None:
        """End the zygote and every retired one (at exit: their sandboxes end too)."""
        self.retire()
        retired, self._retired = self._retired, []
        for proc in retired:
            try:
                proc.wait(1)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(1)
            _closed(proc)


def _closed(proc: subprocess.Popen[bytes]) -> bool:
    """Close an ended zygote's stderr pipe; False (drop it from the list)."""
    if proc.stderr is not None:
        proc.stderr.close()
    return False


@functools.lru_cache(maxsize=1)
def fork_server() -> ForkServer:
    """This process's fork-server (started on first use, retired at exit)."""
    server = ForkServer()
    atexit.register(_at_exit, server)
    return server


def _at_exit(server: ForkServer) -> None:
    """Close the sandboxes first (a zygote waits for those it forked), then the zygotes.

    Registered after the package's own exit hook, so it runs before it: closing twice
    is harmless.
    """
    from langchain_daytona_exec import _lifecycle

    _lifecycle._at_exit()
    server.stop()


def _forget_in_child() -> None:
    """In a fork of the host: the zygote and its socket are the parent's; never use them.

    (The child would answer the parent's requests or read its replies.)
    """
    if fork_server.cache_info().currsize:
        server = fork_server()
        if server._sock is not None:
            server._sock.close()
        fork_server.cache_clear()


os.register_at_fork(after_in_child=_forget_in_child)


def shutdown() -> None:
    """At exit: stop forking; a no-op when this process never started a fork-server.

    Each zygote ends once the sandboxes it forked have ended (closed at exit too), or
    with this process (its death signal); nothing waits here.
    """
    if fork_server.cache_info().currsize:
        fork_server().retire()


def prestart(timeout: float) -> None:
    """Start the zygote in the background on the spawner thread (errors are kept)."""

    def start() -> None:
        with contextlib.suppress(ForkServerError):
            fork_server().ensure(timeout)

    spawner().submit(start)


_disabled: list[str] = []


def disable(reason: str) -> None:
    """Stop using the fork-server in this process (``launcher="auto"`` falls back)."""
    _disabled.append(reason)


def disabled() -> str | None:
    """Why the fork-server is not used in this process, or ``None``."""
    return _disabled[0] if _disabled else None
