"""The fork-server (zygote) of root mode: the kernel imported once, a sandbox per fork.

This file runs in a process of its own, never in the host process: the host starts a
FRESH interpreter (``python -I -S``, an empty environment; never a fork of the host,
whose memory holds its API keys) and hands it this source through an fd
(``_forkserver.py``). Standard library only.

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
import ctypes
import errno
import fcntl
import gc
import importlib.util
import marshal
import os
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SANDBOX_KERNEL_DIR = "/opt/ldx-kernel"

REQ_FD, RESP_FD, CFG_FD = 3, 4, 5
"""Where K finds its channel and configuration fds (the host's kernel config says so)."""

_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_SILENT = 32768
_MS_PRIVATE = 1 << 18
_MS_SLAVE = 1 << 19
_MS_RELATIME = 1 << 21
_MNT_DETACH = 2
_ST_TO_MS = ((1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (64, 64), (1024, 1024), (2048, 2048))
_ST_RELATIME = 4096

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_CAP_SETGID = 6
_CAP_SETUID = 7
_CAP_VERSION_3 = 0x20080522
_SIGKILL = 9

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}
"""Syscalls glibc has no wrapper for, by machine (the host refuses other machines)."""

_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_PROC_COVERS = ("sys", "sysrq-trigger", "irq", "bus")
"""As bubblewrap: /proc subfolders made read-only when they are writable at all."""

_libc = ctypes.CDLL(None, use_errno=True)
_NR = _SYSCALLS.get(os.uname().machine, {})


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(src: str | None, dest: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            None if src is None else src.encode(),
            dest.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            None if data is None else data.encode(),
        ),
        f"mount {dest}",
    )


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def _pivot_root(new: str, old: str) -> None:
    _check(_libc.syscall(_NR["pivot_root"], new.encode(), old.encode()), "pivot_root")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _drop_caps(keep: int) -> None:
    """Empty the bounding set; keep only the caps in the ``keep`` mask (low 32 caps)."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _prctl(_PR_CAPBSET_DROP, cap)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(keep, keep, 0), _CapData(0, 0, 0))
    _check(_libc.syscall(_NR["capset"], ctypes.byref(header), data), "capset")


def _seccomp(program: bytes) -> None:
    """no_new_privs, then the filter (the BPF bytes the host compiled for bwrap too)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


# -- the root file system (bubblewrap's steps) -------------------------------------------


def _ensure_dir(path: str, mode: int = 0o755) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)


def _parents(path: str) -> None:
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        _ensure_dir("/" + "/".join(parts[:i]))


def _ensure_file(path: str, mode: int = 0o444) -> None:
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOCTTY, mode))


def _flags_of(path: str) -> int:
    st = os.statvfs(path).f_flag
    flags = _MS_RELATIME if st & _ST_RELATIME else 0
    for st_bit, ms_bit in _ST_TO_MS:
        if st & st_bit:
            flags |= ms_bit
    return flags


def _unescape(field: bytes) -> str:
    r"""A mountinfo path: the kernel writes space, tab, newline and backslash as \\ooo."""
    out = bytearray()
    i = 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return out.decode(errors="surrogateescape")


def _mount_points() -> list[str]:
    """Every mount point of this mount namespace (read once, before the root moves)."""
    with open("/proc/self/mountinfo", "rb") as f:
        return [_unescape(line.split(b" ", 5)[4]) for line in f]


def _bind(src: str, dest: str, *, readonly: bool, devices: bool, below: list[str]) -> None:
    """Bubblewrap's bind: always nosuid, nodev unless a device, read-only if asked.

    ``below``: where the mounts under ``src`` land under ``dest`` (a recursive bind
    brings them along, and each gets the same flags); empty: not recursive.
    """
    _mount(src, dest, None, _MS_BIND | (_MS_REC if below else 0), None)
    add = _MS_NOSUID | (0 if devices else _MS_NODEV) | (_MS_RDONLY if readonly else 0)
    for point in [dest, *below]:
        _remount(point, add)


def _remount(point: str, add: int) -> None:
    """Add the ``add`` flags to the mount at ``point``, keeping the ones it has."""
    current = _flags_of(point)
    if current | add != current:
        _mount("none", point, None, _MS_SILENT | _MS_BIND | _MS_REMOUNT | current | add, None)


def _tmpfs(dest: str, mode: int, size: int | None) -> None:
    opts = f"mode=0{mode:o}" + (f",size={size}" if size is not None else "")
    _mount("tmpfs", dest, "tmpfs", _MS_NOSUID | _MS_NODEV, opts)


def _mount_proc(dest: str) -> None:
    _ensure_dir(dest)
    _mount("proc", dest, "proc", _MS_NOSUID | _MS_NOEXEC | _MS_NODEV, None)
    for name in _PROC_COVERS:
        sub = f"{dest}/{name}"
        try:
            os.stat(sub)
            if not os.access(sub, os.W_OK):
                continue
        except OSError:
            continue
        _bind(sub, sub, readonly=True, devices=False, below=[])


def _mount_dev(dest: str) -> None:
    _ensure_dir(dest)
    _tmpfs(dest, 0o755, None)
    for name in _DEV_NODES:
        _ensure_file(f"{dest}/{name}")
        node = f"{dest}/{name}"
        _bind(f"/oldroot/dev/{name}", node, readonly=False, devices=True, below=[])
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dest}/{name}")
    os.symlink("/proc/self/fd", f"{dest}/fd")
    os.symlink("/proc/kcore", f"{dest}/core")
    _ensure_dir(f"{dest}/shm")
    _ensure_dir(f"{dest}/pts")
    pts_options = "newinstance,ptmxmode=0666,mode=620"
    _mount("devpts", f"{dest}/pts", "devpts", _MS_NOSUID | _MS_NOEXEC, pts_options)
    os.symlink("pts/ptmx", f"{dest}/ptmx")


def _run_step(op: tuple[Any, ...], fds: list[int], host_mounts: list[str]) -> None:
    """One step of ``_isolation.mount_plan`` (paths as the sandbox sees them).

    ``host_mounts``: the mount points before the root moved (binds bring those below
    their source along).
    """
    kind = op[0]
    if kind in ("ro-bind", "ro-bind-try", "bind"):
        src, dest = "/oldroot" + op[1], "/newroot" + op[2]
        try:
            is_dir = os.path.isdir(src) if os.path.exists(src) else None
        except OSError:
            is_dir = None
        if is_dir is None:
            if kind == "ro-bind-try":
                return
            raise FileNotFoundError(errno.ENOENT, f"cannot bind {op[1]}: it does not exist")
        _parents(dest)
        if is_dir:
            _ensure_dir(dest)
        else:
            _ensure_file(dest)
        inner = op[1].rstrip("/") + "/"
        below = [dest + p[len(inner) - 1 :] for p in host_mounts if p.startswith(inner)]
        _bind(src, dest, readonly=kind != "bind", devices=False, below=below)
        return
    dest = "/newroot" + (op[2] if kind in ("symlink", "ro-bind-data", "file") else op[1])
    if kind == "file":
        _parents(dest)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, op[3])
        try:
            os.fchmod(fd, op[3])
            data = _read_all(fds[op[1]])
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
    elif kind == "remount-ro":
        _remount(dest, _MS_NOSUID | _MS_NODEV | _MS_RDONLY)
    elif kind == "ro-bind-data":
        _parents(dest)
        _ensure_file(dest)
        name = f"/bindfile{os.urandom(4).hex()}"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, op[3])
        try:
            os.fchmod(fd, op[3])
            data = _read_all(fds[op[1]])
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        _bind(name, dest, readonly=True, devices=False, below=[])
        os.unlink(name)
    elif kind == "proc":
        _mount_proc(dest)
    elif kind == "dev":
        _mount_dev(dest)
    elif kind == "tmpfs":
        _parents(dest)
        _ensure_dir(dest)
        _tmpfs(dest, op[2], op[3])
    elif kind == "dir":
        _parents(dest)
        _ensure_dir(dest, op[2])
        os.chmod(dest, op[2])
    elif kind == "symlink":
        _parents(dest)
        try:
            os.symlink(op[1], dest)
        except FileExistsError:
            if os.readlink(dest) != op[1]:
                raise
    else:
        raise ValueError(f"unknown mount step {kind!r}")


def _resolved(plan: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Bind sources with their symlinks resolved in the host's root, as bubblewrap does.

    ``/etc/localtime`` -> ``/usr/share/zoneinfo/...``, resolved before the root moves.
    """
    return [
        (op[0], os.path.realpath(op[1]), *op[2:])
        if op[0] in ("ro-bind", "ro-bind-try", "bind")
        else op
        for op in plan
    ]


def _build_root(plan: list[tuple[Any, ...]], fds: list[int]) -> None:
    """Bubblewrap's sequence: a tmpfs base, the old root beside, the plan, two pivots."""
    _mount(None, "/", None, _MS_SILENT | _MS_SLAVE | _MS_REC, None)
    host_mounts = _mount_points()
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NODEV | _MS_NOSUID, None)
    os.chdir("/tmp")
    _ensure_dir("newroot")
    _mount("newroot", "newroot", None, _MS_SILENT | _MS_BIND | _MS_REC, None)
    _ensure_dir("oldroot")
    _pivot_root("/tmp", "oldroot")
    os.chdir("/")
    for op in plan:
        _run_step(op, fds, host_mounts)
    _mount("oldroot", "/oldroot", None, _MS_SILENT | _MS_REC | _MS_PRIVATE, None)
    _check(_libc.umount2(b"/oldroot", _MNT_DETACH), "umount oldroot")
    os.chdir("/newroot")
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", _MNT_DETACH), "umount base")
    os.chdir("/")


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
        _prctl(_PR_SET_PDEATHSIG, _SIGKILL)
        for fd in fds[CGROUPS_INDEX : CGROUPS_INDEX + n_cgroups]:  # children are born inside
            os.write(fd, b"0")
        if has_mntns:
            _setns(fds[CGROUPS_INDEX + n_cgroups], _CLONE_NEWNS)
        flags = _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWCGROUP
        if not network:
            flags |= _CLONE_NEWNET
        _unshare(flags)
        helper = os.fork()
        if helper == 0:
            _build_sandbox(fds, network)
        _, status = os.waitpid(helper, 0)
        if status != 0:
            os._exit(1)  # H said why on stderr
        os.chdir("/")  # H's pivots moved this process's root and cwd too
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write("1")  # the kernel is pid 2, as under bwrap (H had it)
        program = _read_all(fds[SECCOMP_INDEX])
        os.setsid()
        kernel_pid = os.fork()
        if kernel_pid == 0:
            _sandbox_kernel(fds, program)
        _move_fds([(status_w, 3)], 4)
        status_w = 3
        _drop_caps(0)
        _seccomp(program)
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
        launch = marshal.loads(_read_all(fds[0]))
        os.umask(0)
        _build_root(_resolved(launch["plan"]), fds)
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
        _prctl(_PR_SET_PDEATHSIG, _SIGKILL)
        os.setsid()
        _move_fds([(fds[1], REQ_FD), (fds[2], RESP_FD), (fds[3], CFG_FD)], CFG_FD + 1)
        _drop_caps((1 << _CAP_SETUID) | (1 << _CAP_SETGID))
        _seccomp(program)
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


def serve(payload: bytes) -> None:
    """The zygote's life: load, say ready, fork a sandbox per request until EOF.

    Args:
        payload: The marshalled boot data: the socket's fd, the host's pid and the
            kernel's files (``/opt/ldx-kernel/...`` -> bytes).
    """
    boot = marshal.loads(payload)
    _prctl(_PR_SET_PDEATHSIG, _SIGKILL)  # the host's spawner thread started us
    sock = _socket.socket(fileno=boot["sock"])
    if os.getppid() != boot["host_pid"]:
        os._exit(1)  # the host died before the death signal was armed
    if not _NR:
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
            _unshare(_CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # G waits for K
                sock.close()
                os.close(own_pidns)
                _sandbox_pid1(fds, bool(msg[1]), msg[2], bool(msg[3]))
            _setns(own_pidns, _CLONE_NEWPID)
            _send_fd(sock, b"P" + pid.to_bytes(8, "little"), os.pidfd_open(pid))
        except OSError as exc:
            with contextlib.suppress(OSError):  # the next fork must not land in that one
                _setns(own_pidns, _CLONE_NEWPID)
            sock.sendall(b"E" + f"{type(exc).__name__}: {exc}".encode()[:4000])
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


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
            target, options = marshal.loads(_read_all(params_fd))
            _unshare(_CLONE_NEWNS)
            _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
            _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
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
        os.kill(pid, _SIGKILL)


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
