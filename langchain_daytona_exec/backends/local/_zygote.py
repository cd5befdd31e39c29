"""The fork-server (zygote) of root mode: the kernel imported once, a sandbox per fork.

This file runs in a process of its own, never in the host process: the host starts a
FRESH interpreter (``python -I -S``, an empty environment; never a fork of the host,
whose memory holds its API keys) and hands it this source through an fd
(``_forkserver._BOOT``), after ``_zygote_root.py`` (the syscall wrappers and the build of
the root file system), which this module imports. Standard library only.

The zygote imports the kernel and the cell runner from the same bytecode a bwrap
sandbox loads (served from memory under ``/opt/ldx-kernel``, so code objects name the
same paths), freezes its heap for the garbage collector and then only waits for
requests on a unix socket. A request carries nothing but fds (SCM_RIGHTS): the
zygote never holds any sandbox's configuration or environment in its memory, so no
forked sandbox can find another's in what it inherited.

Per request the zygote unshares a new pid namespace, forks **G** (pid 1 of that
namespace) and returns to its own pid namespace, then sends G's pid and a pidfd back.
G does what bubblewrap does in root mode, from the same mount plan
(``_isolation.mount_plan``): joins the sandbox's cgroups, enters the workspace's mount
namespace, unshares mount/net/ipc/uts/cgroup namespaces, builds the new root and
pivots into it, sets the host name, brings up loopback, forks **K**, drops every
capability, loads the seccomp filter and reaps until K exits; its exit status is K's
(bwrap's convention), also written to a status pipe. K closes every other fd, starts a
new session, keeps only CAP_SETUID/CAP_SETGID (an empty bounding set), sets
no_new_privs and the seccomp filter, and runs ``kernel.main`` (which sets the limits
and switches to the sandbox's uid before any user code runs).
"""

from __future__ import annotations

import _imp
import _signal
import _socket
import contextlib
import errno
import fcntl
import gc
import importlib.util
import marshal
import os
import struct
import sys

from langchain_daytona_exec.backends.local._zygote_root import (
    CAP_SETGID,
    CAP_SETUID,
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    NR,
    PR_SET_PDEATHSIG,
    SIGKILL,
    build_root,
    drop_caps,
    mount,
    prctl,
    read_all,
    resolved,
    seccomp,
    setns,
    unshare,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SANDBOX_KERNEL_DIR = "/opt/ldx-kernel"

REQ_FD, RESP_FD, CFG_FD = 3, 4, 5
"""Where K finds its channel and configuration fds (the host's kernel config says so)."""

SANDBOX_OOM_SCORE_ADJ = 1000
"""``_cgroups.SANDBOX_OOM_SCORE_ADJ`` (this module cannot import it): G sets it on
itself first, so every process of the sandbox inherits it."""


def _loopback_up() -> None:
    """Bring ``lo`` up in the new network namespace (the kernel adds 127.0.0.1, ::1)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 1
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, 0)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), siocgifflags, req))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))
    finally:
        s.close()


# -- G: pid 1 of the sandbox -------------------------------------------------------------


def _move_fds(pairs: list[tuple[int, int]], keep_below: int) -> None:
    """Place each (fd, target) and close every other fd from 3 up to ``keep_below``."""
    # first out of the way (above every target), then into place: a source may sit
    # on another's target
    tmp = [(fcntl.fcntl(fd, fcntl.F_DUPFD, keep_below), target) for fd, target in pairs]
    for fd, target in tmp:
        os.dup2(fd, target)
    os.closerange(keep_below, 1 << 20)
    for fd in range(3, keep_below):
        if fd not in {target for _, target in pairs}:
            with contextlib.suppress(OSError):
                os.close(fd)


SECCOMP_INDEX, CGROUPS_INDEX = 6, 7
"""A request's fds: 0 the launch data (mount plan, host name: read by H only), 1 the
kernel's request pipe, 2 its reply pipe, 3 its configuration, 4 stderr, 5 the status
pipe, 6 the seccomp program, then the sandbox's cgroup files (``tasks`` or
``cgroup.procs``, opened for writing), the workspace's mount namespace if any, and the
data files the plan names by index."""


def _sandbox_pid1(fds: list[int], network: bool, n_cgroups: int, has_mntns: bool) -> None:
    """G: enter the sandbox's cgroups and new namespaces, have H build the root, fork K.

    G never reads the launch data: the mount plan names host paths (the sandbox's host
    folder, with the host's pid) that K, a fork of G, must not find in its memory. H, a
    short-lived child in the same namespaces, executes the plan and exits. Never returns.
    """
    status_w = -1
    try:
        os.dup2(fds[4], 2)  # errors from here on reach the host's start-up report
        status_w = fds[5]
        prctl(PR_SET_PDEATHSIG, SIGKILL)
        # Before the sandbox's /proc (read-only) replaces the host's; with all of root's
        # capabilities, so where they include CAP_SYS_RESOURCE it is also the floor.
        # Refused (never seen), it is left to show in the sandbox's value, as under bwrap.
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(SANDBOX_OOM_SCORE_ADJ))
        for fd in fds[CGROUPS_INDEX : CGROUPS_INDEX + n_cgroups]:  # children are born inside
            os.write(fd, b"0")
        if has_mntns:
            setns(fds[CGROUPS_INDEX + n_cgroups], CLONE_NEWNS)
        flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        if not network:
            flags |= CLONE_NEWNET
        unshare(flags)
        # Opened while /proc is the host's: the sandbox's is read-only. The value written
        # is that of the writer's pid namespace (this one), whichever /proc it came from.
        last_pid = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY | os.O_CLOEXEC)
        helper = os.fork()
        if helper == 0:
            _build_sandbox(fds, network)
        _, status = os.waitpid(helper, 0)
        if status != 0:
            os._exit(1)  # H said why on stderr
        os.chdir("/")  # H's pivot moved this process's root and cwd too
        try:
            os.write(last_pid, b"1")  # the kernel is pid 2, as under bwrap (H had it)
        finally:
            os.close(last_pid)
        program = read_all(fds[SECCOMP_INDEX])
        os.setsid()
        kernel_pid = os.fork()
        if kernel_pid == 0:
            _sandbox_kernel(fds, program)
        _move_fds([(status_w, 3)], 4)
        status_w = 3
        drop_caps(0)
        seccomp(program)
        code = 1
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == kernel_pid:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                break
        os.write(status_w, str(code).encode())
        os._exit(code)
    except BaseException as exc:
        try:
            os.write(2, f"sandbox set-up failed: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(1)


def _build_sandbox(fds: list[int], network: bool) -> None:
    """H: the root file system, host name and loopback of G's namespaces; never returns."""
    code = 1
    try:
        launch = marshal.loads(read_all(fds[0]))
        os.umask(0)
        build_root(resolved(launch["plan"]), fds)
        os.umask(0o022)
        _socket.sethostname(launch["hostname"])
        if not network:
            _loopback_up()
        code = 0
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(2, f"sandbox set-up failed: {type(exc).__name__}: {exc}\n".encode())
    os._exit(code)


def _sandbox_kernel(fds: list[int], program: bytes) -> None:
    """K: the kernel process; never returns."""
    code = 1
    try:
        prctl(PR_SET_PDEATHSIG, SIGKILL)
        os.setsid()
        _move_fds([(fds[1], REQ_FD), (fds[2], RESP_FD), (fds[3], CFG_FD)], CFG_FD + 1)
        drop_caps((1 << CAP_SETUID) | (1 << CAP_SETGID))
        seccomp(program)
        if "random" in sys.modules:  # siblings must not share a random sequence
            sys.modules["random"].seed()
        import kernel

        code = 0
        try:
            kernel.main(CFG_FD)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                os.write(2, f"{exc.code}\n".encode())
        _finish()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(2, f"kernel start failed: {type(exc).__name__}: {exc}\n".encode())
        code = 1
    os._exit(code)


def _finish() -> None:
    """What an interpreter's exit does: non-daemon threads, atexit, flushed streams."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


# -- the zygote ----------------------------------------------------------------------------


class _MemoryFinder:
    """Serves the kernel's modules from the bytecode the host sent.

    Under their sandbox paths (``/opt/ldx-kernel/...``), as a bwrap sandbox would load
    them from disk: code objects name the same files.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        rel = name.replace(".", "/")
        for source, is_package in ((f"{rel}/__init__.py", True), (f"{rel}.py", False)):
            if f"{SANDBOX_KERNEL_DIR}/{source}" in self.files:
                origin = f"{SANDBOX_KERNEL_DIR}/{source}"
                loader: Any = self
                spec = importlib.util.spec_from_loader(
                    name, loader, origin=origin, is_package=is_package
                )
                if spec is not None:
                    spec.has_location = True
                    if is_package:
                        spec.submodule_search_locations = [os.path.dirname(origin)]
                return spec
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        origin = module.__spec__.origin
        folder, name = os.path.split(origin)
        tag = sys.implementation.cache_tag
        pyc = self.files.get(f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc")
        if pyc is not None and pyc[:4] == importlib.util.MAGIC_NUMBER:
            code = marshal.loads(pyc[16:])
            _imp._fix_co_filename(code, origin)  # type: ignore[attr-defined]
        else:
            code = compile(self.files[origin], origin, "exec", dont_inherit=True)
        module.__file__ = origin
        exec(code, module.__dict__)


def _import_kernel(files: dict[str, bytes]) -> None:
    finder = _MemoryFinder(files)
    sys.meta_path.insert(0, finder)
    try:
        import cellrunner
        import forwarder  # noqa: F401
        import kernel  # noqa: F401

        for name in cellrunner.MODULES:
            __import__(f"cellrunner.{name}")
    finally:
        sys.meta_path.remove(finder)


def serve(payload: list[bytes]) -> None:
    """The zygote's life: load, say ready, fork a sandbox per request until EOF.

    Args:
        payload: Holds the marshalled boot data: the socket's fd, the host's pid and
            the kernel's files (``/opt/ldx-kernel/...`` -> bytes). Emptied: every
            forked kernel runs below this frame and its caller's, and sandboxed code
            can read their variables (the host's pid must not reach it).
    """
    boot = marshal.loads(payload.pop())
    prctl(PR_SET_PDEATHSIG, SIGKILL)  # the host's spawner thread started us
    sock = _socket.socket(fileno=boot["sock"])
    if os.getppid() != boot["host_pid"]:
        os._exit(1)  # the host died before the death signal was armed
    if not NR:
        sock.sendall(b"E" + f"unsupported machine {os.uname().machine}".encode())
        os._exit(1)
    _import_kernel(boot["files"])
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    del boot
    gc.collect()
    gc.freeze()  # forked sandboxes share these pages instead of copying them on GC
    # Each sandbox's pid 1 is reaped by the kernel the moment it exits (no zombie
    # left for the host to see); the host learns of the exit through its pidfd.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)
    sock.sendall(b"R")
    while True:
        msg, ancdata, _, _ = sock.recvmsg(16, _socket.CMSG_SPACE(256 * 4))
        if len(msg) != 4 or msg[:1] not in (b"S", b"W"):  # the host closed its end
            _retire(sock)
        fds: list[int] = []
        for level, kind, data in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                usable = len(data) - len(data) % 4
                fds += [
                    int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
                    for i in range(0, usable, 4)
                ]
        try:
            if msg[:1] == b"W":
                _send_fd(sock, b"N", _workspace_namespace(fds[0]))
                continue
            unshare(CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # G waits for K
                sock.close()
                os.close(own_pidns)
                _sandbox_pid1(fds, bool(msg[1]), msg[2], bool(msg[3]))
            setns(own_pidns, CLONE_NEWPID)
            _send_pid1(sock, pid)
        except Exception as exc:  # a malformed request too: the zygote keeps serving
            with contextlib.suppress(OSError):  # the next fork must not land in that one
                setns(own_pidns, CLONE_NEWPID)
            try:
                sock.sendall(b"E" + f"{type(exc).__name__}: {exc}".encode()[:4000])
            except OSError:  # the host closed its end while this request ran: retired
                _retire(sock)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _send_pid1(sock: Any, pid: int) -> None:
    """Send G's pid and a pidfd to it; kill G if the host cannot get them.

    A host that gave up waiting (and retired this zygote) would never own G: it must
    not live on, unseen, until this zygote's last sandbox ends.
    """
    pidfd = os.pidfd_open(pid)
    try:
        sock.sendmsg(
            [b"P" + pid.to_bytes(8, "little")],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pidfd.to_bytes(4, sys.byteorder))],
        )
    except BaseException:
        _signal.pidfd_send_signal(pidfd, SIGKILL)
        raise
    finally:
        os.close(pidfd)


def _send_fd(sock: Any, msg: bytes, fd: int) -> None:
    """Send ``msg`` and ``fd`` to the host, then close this process's copy of ``fd``."""
    try:
        sock.sendmsg(
            [msg], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        )
    finally:
        os.close(fd)


def _workspace_namespace(params_fd: int) -> int:
    """A new mount namespace holding a workspace tmpfs; an fd to it.

    A child W reads the request (the host folder, the tmpfs's options: the zygote does
    not), unshares a mount namespace from this one (the host's), mounts the tmpfs and
    says so; the zygote opens W's namespace, which the fd then keeps alive, and kills W.
    What the host did with a fork of its own (``_mounts.workspace_namespace``), from a
    process a few MB big instead of the host.
    """
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = b"0"
        try:
            _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
            target, options = marshal.loads(read_all(params_fd))
            unshare(CLONE_NEWNS)
            mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
            ok = b"1"
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(ready_w, b"0" + f"{type(exc).__name__}: {exc}".encode()[:2000])
        finally:
            with contextlib.suppress(OSError):
                if ok == b"1":
                    os.write(ready_w, ok)
                _signal.pause()  # until the zygote has opened the namespace and kills it
            os._exit(0)
    os.close(ready_w)
    try:
        answer = os.read(ready_r, 4096)
        if answer[:1] != b"1":
            raise OSError(errno.EIO, answer[1:].decode(errors="replace") or "no answer")
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    finally:
        os.close(ready_r)
        os.kill(pid, SIGKILL)


def _retire(sock: Any) -> None:
    """Outlive the sandboxes forked so far (their pid 1 dies with this process), exit."""
    sock.close()
    while True:  # SIGCHLD is ignored: this returns ECHILD once every child has exited
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    os._exit(0)
