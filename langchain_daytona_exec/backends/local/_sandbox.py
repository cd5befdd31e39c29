"""``LocalSandbox``: one bubblewrap sandbox running the stdlib-only kernel.

Each sandbox is one bubblewrap process tree running the kernel (``kernel.py``),
started by :class:`KernelLauncher` (``_launch.py``) on the spawner thread, and talking
to the host over two pipes (``protocol.py``, read by ``_channel.py``). This module owns
its lifecycle (start, kill, revive, reset, close) and the one rule of the request/reply
channel (:meth:`LocalSandbox._call`), with what a death of the interpreter is told as;
the ``Sandbox`` operations over that channel are :class:`SandboxOperations`
(``_operations.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.backends.local import _mounts as mounts
from langchain_daytona_exec.backends.local import protocol
from langchain_daytona_exec.backends.local._channel import KernelFault, read_reply
from langchain_daytona_exec.backends.local._hostdirs import (
    listdir,
    remove_sandbox_dir,
    traversable_by_others,
)
from langchain_daytona_exec.backends.local._isolation import SandboxPaths
from langchain_daytona_exec.backends.local._launch import KernelLauncher
from langchain_daytona_exec.backends.local._limits import UID_BASE, UID_SPAN, LocalLimits, randbelow
from langchain_daytona_exec.backends.local._operations import SandboxOperations
from langchain_daytona_exec.backends.local._spawner import spawner
from langchain_daytona_exec.errors import (
    IsolationUnavailableError,
    SandboxClosedError,
    SandboxError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.sandbox import Sandbox

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from langchain_daytona_exec.backends.local._backend import LocalBackend
    from langchain_daytona_exec.backends.local._detect import Mode
    from langchain_daytona_exec.backends.local._egress import EgressChannel
    from langchain_daytona_exec.backends.local._launch import KernelProcess
    from langchain_daytona_exec.backends.local._operations import Parse

    T = TypeVar("T")
    from langchain_daytona_exec.types import EgressEvent

__all__ = ["LocalSandbox"]


DEATHS_BEFORE_REPLACEMENT = 3
"""After this many interpreter deaths in a row (no reply in between) the sandbox is
unhealthy: ``is_alive()`` turns False so a pool replaces it with a fresh one, and used
directly it revives with an empty workspace. Something that outlives a restart (files
filling the memory, a setup that always crashes) would otherwise kill every new
interpreter, and the model would loop on "re-run your setup code"."""

_EXIT_STATUS_WAIT_S = 0.5
"""Seconds to wait for the sandbox process's exit status after its channel closed: it
ends right after its interpreter; its status tells a CPU-time kill."""


def _close_late_fd(fd: int | None) -> None:
    """``on_late`` of a workspace namespace made after its caller stopped waiting."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


class LocalSandbox(KernelLauncher, SandboxOperations, Sandbox):
    """One bubblewrap sandbox with its kernel. Create it with :meth:`LocalBackend.create`."""

    backend_name = "local"

    def __init__(
        self,
        backend: LocalBackend,
        mode: Mode,
        paths: SandboxPaths,
        labels: dict[str, str],
        layer: str | None = None,
    ) -> None:
        self.id = os.urandom(6).hex()
        self.labels = labels
        self.mode: Mode = mode
        self._backend = backend
        self._limits = backend.limits
        self._paths = paths
        self._lock = threading.RLock()
        self._proc: KernelProcess | None = None
        self.launcher = backend.launcher_for(mode)
        """``"forkserver"`` or ``"bwrap"`` (always bwrap outside root mode)."""
        self._req_w = -1
        self._resp_r = -1
        self._closed = False
        self._state_lost_pending = False
        self._deaths_in_a_row = 0  # interpreter deaths with no reply in between
        self._request_ids = itertools.count(randbelow(1 << 30) + 1)
        self._uid = UID_BASE + randbelow(UID_SPAN)
        self._host_dir = os.path.join(backend.base_dir, f"{os.getpid()}-{self.id}")
        self._host_work = os.path.join(self._host_dir, "work")
        self._cg: cgroups.CgroupSet | None = None
        self._limit_events: dict[str, int] = {}  # the cgroup's counters at the last look
        self._launched_at = time.monotonic()  # when the current interpreter started
        self._layer = layer
        self._egress: EgressChannel | None = None
        self._mntns: int | None = None  # fd of the workspace's mount namespace (root mode)
        _lifecycle.register_sandbox(self)  # closed at exit and on SIGTERM

    # -- properties ------------------------------------------------------------------------

    @property
    def files_after_restart(self) -> str:
        """What a restart of the interpreter leaves of the files, in words for the model.

        Root and unsafe modes keep the workspace on the host, so it outlives the
        interpreter; non-root mode keeps it inside the sandbox, which ends with it.
        """
        if self.mode == "userns":
            return (
                "and the files are gone too: without root the workspace lives inside the "
                "sandbox, which ends with its interpreter"
            )
        return "files in the workspace were kept"

    @property
    def workdir(self) -> str:
        """The working folder inside the sandbox (the backend's; a host folder if unsafe)."""
        return self._host_work if self.mode == "unsafe" else self._backend.workdir

    @property
    def limits(self) -> LocalLimits:
        """The sandbox's resource limits."""
        return self._limits

    @property
    def uid(self) -> int | None:
        """Host uid the sandbox's code runs as, or ``None`` when it runs as yours.

        As root (root mode, and unsafe mode started as root) the code drops to the
        sandbox's own uid; otherwise it keeps the caller's.
        """
        return self._uid if os.geteuid() == 0 else None

    @property
    def kernel_pid(self) -> int | None:
        """Host pid of bwrap, of the fork-server's pid 1 or the unsafe kernel; else ``None``."""
        return self._proc.pid if self._proc else None

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_workspace(self) -> None:
        """Root mode: the size-capped workspace tmpfs, in a mount namespace of its own.

        Made by the spawner thread itself where it can enter namespaces (no fork: see
        ``_mounts.workspace_namespace``), else by a child of the fork-server's zygote
        (``launcher="forkserver"``) or of this process. Falls back to a mount on the
        host where that namespace cannot be made.
        """
        args = (self._host_work, self._limits.workspace_bytes, self._uid, self._uid)
        timeout = self._limits.start_timeout_s
        zygote = self.launcher == "forkserver"

        def make() -> int | None:  # on the spawner thread
            if zygote and not mounts.thread_can_enter():  # a fork of the zygote, not ours
                from langchain_daytona_exec.backends.local._forkserver import ForkServerError

                try:
                    return mounts.workspace_namespace_from_zygote(*args, timeout)
                except ForkServerError:
                    pass  # as before: the sandbox's start says whether to fall back
            return mounts.workspace_namespace(*args)

        self._mntns = spawner().call(make, timeout, _close_late_fd)
        if self._mntns is None:
            mounts.mount_workspace(*args)

    def _drop_workspace(self) -> None:
        """Free the workspace tmpfs (the sandbox's processes are already gone)."""
        fd, self._mntns = self._mntns, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        elif mounts.is_mountpoint(self._host_work):
            mounts.unmount(self._host_work)

    def _start(self, while_booting: Callable[[], None] | None = None) -> None:
        os.makedirs(self._host_work, mode=0o700, exist_ok=True)
        if self.mode == "root":
            self._make_workspace()
        elif self.mode == "unsafe":
            tmp = os.path.join(self._host_dir, "tmp")
            os.makedirs(tmp, exist_ok=True)
            if os.geteuid() == 0:  # the kernel drops to the sandbox uid: let it in
                for path in (*self._paths.prefixes, *self._paths.site_packages):
                    if not traversable_by_others(path):
                        raise IsolationUnavailableError(
                            "unsafe_no_isolation still runs code as an unprivileged uid, but "
                            f"the Python runtime at {path} is not readable by other users "
                            "(a parent folder lacks o+x, e.g. /root is 0700). Use a Python "
                            "installed outside /root, or run as a normal user."
                        )
                for folder in (self._backend.base_dir, self._host_dir):
                    os.chmod(folder, 0o711)
                for folder in (self._host_work, tmp):
                    os.chown(folder, self._uid, self._uid)
        if self._backend.policy.filtered:
            from langchain_daytona_exec.backends.local._egress import EgressLimits, egress_proxy

            self._egress = egress_proxy().open(
                os.path.join(self._host_dir, "egress.sock"),
                self._backend.policy,
                self._backend.network_limits or EgressLimits(),
            )
        self._launch(while_booting)
        self._provision()

    def _provision(self) -> None:
        """Place the environment's files and run its setup code (new or reset sandbox)."""
        if self._backend.environment is not None:
            self._backend.environment.apply(self)

    def network_log(self) -> list[EgressEvent]:
        """Every request through the network allow-list's proxy (newest 1000).

        Empty when the sandbox has no allow-list.
        """
        return self._egress.log() if self._egress is not None else []

    def _recheck_isolation(self, exc: BaseException) -> None:
        """After a failed start, probe bwrap again (the remembered mode may be stale).

        Raises:
            IsolationUnavailableError: The new probe fails (its message names the fix).
        """
        if self.mode == "unsafe":
            return
        detect.forget_mode()
        try:
            detect.detect_mode()
        except IsolationUnavailableError as probe_error:
            raise probe_error from exc

    def _launch(self, while_booting: Callable[[], None] | None = None) -> None:
        """Start the kernel process tree and wait for its ready frame.

        Args:
            while_booting: Called on this thread once the process is started, before
                waiting for its ready frame (the caller's own start-up work overlaps the
                sandbox's). Whatever it raises stops the sandbox and propagates.
        """
        if self.mode == "root" and self._cg is None:
            self._cg = cgroups.create_cgroups(f"ldx-{os.getpid()}-{self.id}", self._limits)
            self._limit_events = self._cg.limit_events() if self._cg is not None else {}
        try:
            proc, req_w, resp_r = spawner().call(
                self._spawn, self._limits.start_timeout_s, self._discard_late_spawn
            )
        except IsolationUnavailableError as exc:  # the fork-server could not start or fork
            if not self._fall_back_to_bwrap(exc):
                raise
            proc, req_w, resp_r = spawner().call(
                self._spawn, self._limits.start_timeout_s, self._discard_late_spawn
            )
        self._launched_at = time.monotonic()
        self._proc, self._req_w, self._resp_r = proc, req_w, resp_r
        deadline = time.monotonic() + self._limits.start_timeout_s
        try:
            self._send_seccomp()  # bwrap reads it once its mounts are made
        except BaseException:
            self._kill()
            raise
        if while_booting is not None:
            try:
                while_booting()
            except BaseException:
                self._kill()
                raise
        try:
            msg, _ = read_reply(self._resp_r, deadline, self._limits.output_bytes)
        except BaseException as exc:
            if not isinstance(exc, (protocol.FrameError, TimeoutError)):
                self._kill()  # Ctrl-C: the ready frame must never be read as a reply
                raise
            detail = self._startup_stderr()
            self._kill()
            if isinstance(exc, TimeoutError):
                raise SandboxTimeoutError(
                    f"the sandbox was not ready within {self._limits.start_timeout_s:g} s; "
                    "the machine may be overloaded (raise LocalLimits.start_timeout_s)"
                ) from exc
            if self._fall_back_to_bwrap(SandboxError(detail or str(exc))):
                self._launch()
                return
            self._recheck_isolation(exc)
            raise SandboxError(f"the sandbox failed to start: {detail or exc}") from exc
        if not msg.get("ready"):
            self._kill()
            raise SandboxError(f"the sandbox failed to start: {msg}")

    def _fall_back_to_bwrap(self, exc: BaseException) -> bool:
        """``launcher="auto"``: the fork-server failed, so this process uses bwrap from now.

        Returns False (the caller raises) when the fork-server was asked for explicitly
        or was not in use.
        """
        if self.launcher != "forkserver" or self._backend.launcher != "auto":
            return False
        from langchain_daytona_exec.backends.local._forkserver import disable

        disable(f"{type(exc).__name__}: {exc}")
        self.launcher = "bwrap"
        return True

    def _startup_stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        with contextlib.suppress(OSError, TypeError):
            return (self._proc.stderr.read() or b"").decode(errors="replace").strip()[-2000:]
        return ""

    def _discard_late_spawn(self, spawned: tuple[KernelProcess, int, int]) -> None:
        """A start that finished after ``_launch`` stopped waiting: kill it, free its fds.

        Runs on the spawner thread, before any later start of this sandbox.
        """
        proc, req_w, resp_r = spawned
        for fd in (req_w, resp_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
        seccomp_w, self._seccomp_w = self._seccomp_w, None
        if seccomp_w is not None:  # bwrap's, never filled: bwrap is dead by now
            with contextlib.suppress(OSError):
                os.close(seccomp_w)

    def _kill(self) -> None:
        """Kill the process tree and close the channel (the workspace stays)."""
        proc, self._proc = self._proc, None
        for fd in (self._req_w, self._resp_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req_w = self._resp_r = -1
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            if self._cg is not None:
                for pid in self._cg.pids():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()
        seccomp_w, self._seccomp_w = self._seccomp_w, None
        if seccomp_w is not None:  # never filled (the start failed): bwrap is dead by now
            with contextlib.suppress(OSError):
                os.close(seccomp_w)

    def _ensure_running(self) -> None:
        if self._closed:
            raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
        if self._deaths_in_a_row >= DEATHS_BEFORE_REPLACEMENT:  # used without a pool
            self._deaths_in_a_row = 0
            self.reset()
            self._state_lost_pending = True
            return
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                self._kill()
            self._state_lost_pending = True
            self._launch()

    def restart_interpreter(self) -> None:
        """Fresh interpreter now (variables and processes gone, files kept)."""
        with self._lock:
            if self._closed:
                raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
            self._kill()
            self._launch()

    def stop_interpreter(self) -> None:
        """Kill the interpreter and every process; files stay, the next call revives it."""
        with self._lock:
            self._kill()

    def set_limits(self, limits: LocalLimits) -> None:
        """Apply new CPU, memory and process limits from the next interpreter start.

        The interpreter is stopped (its state is lost); the workspace keeps its size.
        """
        with self._lock:
            self._kill()
            if self._cg is not None:
                self._cg.destroy()
                self._cg = None
            self._limits = limits

    def reset(self) -> None:
        """Fresh interpreter, empty workspace and ``/tmp``."""
        with self._lock:
            if self._closed:
                raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
            self._kill()
            if self.mode == "root":
                self._drop_workspace()
                self._make_workspace()
            elif self.mode == "unsafe":
                for name in listdir(self._host_work):
                    path = os.path.join(self._host_work, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        with contextlib.suppress(OSError):
                            os.unlink(path)
            self._state_lost_pending = False
            self._launch()
            self._provision()

    def close(self) -> None:
        """Kill the sandbox and remove its cgroups, mounts and folders. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._kill()
            self._drop_workspace()
            if self._egress is not None:
                with contextlib.suppress(Exception):
                    self._egress.close()
            if self._cg is not None:
                self._cg.destroy()
                self._cg = None
            remove_sandbox_dir(self._host_dir)
            _lifecycle.unregister_sandbox(self)

    def is_alive(self) -> bool:
        """True until :meth:`close` or an unhealthy streak (then a pool replaces it).

        Unhealthy: the interpreter died :data:`DEATHS_BEFORE_REPLACEMENT` times in a row.
        A killed kernel is otherwise revived on the next call.
        """
        return not self._closed and self._deaths_in_a_row < DEATHS_BEFORE_REPLACEMENT

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._closed:
                self.close()

    def _call(
        self,
        msg: dict[str, Any],
        blob: bytes,
        wait_s: float,
        parse: Parse[T],
    ) -> T:
        """Send one request, read its whole reply and parse it (under ``self._lock``).

        The one rule of the channel: once a request is sent, *any* exception before
        its reply is fully read and parsed (a timeout, Ctrl-C, ``MemoryError``, a
        malformed or forged frame, a reply to another request) kills the interpreter,
        so no later call can ever read this reply, and reports its state as lost.
        Errors that a complete, well-formed reply reports (a missing file, an
        unsupported language) pass through and keep the sandbox.

        Raises:
            TimeoutError: No answer in time; the interpreter was killed (the caller
                restarts it and reports the timeout).
            SandboxLostError: The kernel died, misbehaved or sent a malformed reply;
                the sandbox revives on the next call.
            BaseException: ``KeyboardInterrupt`` and the like, after the kill.
        """
        self._ensure_running()
        request_id = next(self._request_ids)
        frame = protocol.encode_request({**msg, "id": request_id}, blob)
        if len(frame) - protocol.HEADER_SIZE - len(blob) > protocol.MAX_REQUEST_BYTES:
            raise ValueError(  # nothing was sent: the sandbox is untouched
                f"the request is over {protocol.MAX_REQUEST_BYTES} bytes; send less code"
            )
        deadline = time.monotonic() + wait_s
        try:
            protocol.write_all(self._req_w, frame)
            max_blob = self._limits.max_file_bytes if msg["op"] == "read" else 0
            resp, out = read_reply(self._resp_r, deadline, self._limits.output_bytes, max_blob)
            if resp.get("id") != request_id:
                raise protocol.FrameError(
                    f"a reply to request {str(resp.get('id'))[:40]}, expected {request_id}"
                )
            self._deaths_in_a_row = 0  # the interpreter answered
            if "fault" in resp:
                raise KernelFault(str(resp["fault"])[:2000])
            return parse(resp, out)
        except SandboxError:
            raise  # reported by a complete, well-formed reply
        except BaseException as exc:
            died = isinstance(exc, (protocol.ChannelClosedError, OSError))
            status = self._exit_status() if died and not isinstance(exc, TimeoutError) else None
            self._kill()
            self._state_lost_pending = True
            if isinstance(exc, TimeoutError) or not isinstance(exc, Exception):
                raise
            if isinstance(exc, KernelFault):
                what = f"hit an internal error ({exc})"
            elif died:
                what = f"died ({self._death_cause(status) or exc})"
                self._deaths_in_a_row += 1
                if self._deaths_in_a_row >= DEATHS_BEFORE_REPLACEMENT:
                    raise SandboxLostError(
                        f"the sandbox's interpreter {what}, {self._deaths_in_a_row} times in "
                        "a row: the sandbox is replaced by a fresh one, so variables, imports "
                        "and files are all gone. Start again from your setup code, and use "
                        "less memory or fewer files if that is what killed it."
                    ) from exc
            elif isinstance(exc, protocol.FrameError):
                what = f"sent a malformed response ({exc})"
            else:
                what = f"sent a malformed response ({type(exc).__name__}: {str(exc)[:200]})"
            raise SandboxLostError(
                f"the sandbox's interpreter {what}; it was restarted: its variables and "
                f"imports are gone, {self.files_after_restart}. Re-run your setup code."
            ) from exc

    def _exit_status(self) -> int | None:
        """The sandbox process's exit status once it has ended, or ``None`` while it runs.

        It ends right after its channel closes, so a short wait suffices.
        """
        if self._proc is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._proc.wait(_EXIT_STATUS_WAIT_S)
        return None

    def _death_cause(self, status: int | None) -> str | None:
        """The limit that most likely killed the interpreter, in words, or ``None``.

        Told by the cgroup's counters growing since the last look, or by a signal death
        with a CPU-time limit the interpreter had time to use up.
        """
        now = self._cg.limit_events() if self._cg is not None else {}
        before, self._limit_events = self._limit_events, now
        if now.get("oom_kill", 0) > before.get("oom_kill", 0):
            mib = self._limits.memory_bytes // (1 << 20)
            return (
                f"it ran out of memory: the sandbox's memory limit is {mib} MiB (files in "
                "the workspace and /tmp count too); use less memory, e.g. process the data "
                "in chunks or free large objects"
            )
        if now.get("pids_max", 0) > before.get("pids_max", 0):
            return (
                f"it hit the sandbox's limit of {self._limits.pids} processes and threads; "
                "start fewer processes or threads"
            )
        killed = {128 + signal.SIGKILL, 128 + signal.SIGXCPU, -signal.SIGKILL, -signal.SIGXCPU}
        cpu_limit = self._limits.cpu_seconds
        cores = self._limits.cpu_cores or os.cpu_count() or 1
        alive_s = time.monotonic() - self._launched_at
        if cpu_limit and status in killed and alive_s * cores >= cpu_limit:
            return (
                f"it was killed by a signal after {alive_s:.0f} s; the sandbox's CPU time "
                f"limit is {cpu_limit} s over the interpreter's whole life, which it may "
                "have used up: make the computation cheaper or split it into smaller steps"
            )
        return None

    def _hard_restart(self) -> None:
        self._kill()
        self._launch()
