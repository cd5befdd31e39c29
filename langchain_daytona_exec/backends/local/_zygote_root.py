"""The root file system of a forked sandbox, and the syscalls the zygote needs.

Half of root mode's fork-server (``_zygote.py`` is the other half, and the host hands
this source to the zygote before it, through the same fd: ``_forkserver._BOOT``). The
syscall wrappers and constants (ctypes: glibc has no Python binding for ``mount``,
``unshare``, ``setns``, ``pivot_root``, ``capset`` or a seccomp filter), and the build of a
sandbox's root from the mount plan (``_isolation.mount_plan``), to bubblewrap's mount
table: a tmpfs base holding the new root, the plan's binds (from a detached copy of the
old root), tmpfs, files, ``/proc`` and ``/dev``, then one pivot into it (bubblewrap makes
two). Runs in the zygote's process only. Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
MS_REC = 16384
_MS_SILENT = 32768
MS_PRIVATE = 1 << 18
_MS_SLAVE = 1 << 19
_MS_RELATIME = 1 << 21
_MNT_DETACH = 2
_OPEN_TREE_CLONE = 1
_AT_RECURSIVE = 0x8000
_O_CLOEXEC = 0o2000000
_ST_TO_MS = ((1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (64, 64), (1024, 1024), (2048, 2048))
_ST_RELATIME = 4096

PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
CAP_SETGID = 6
CAP_SETUID = 7
_CAP_VERSION_3 = 0x20080522
SIGKILL = 9

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126, "open_tree": 428},
    "aarch64": {"pivot_root": 41, "capset": 91, "open_tree": 428},
}
"""Syscalls glibc has no wrapper for, by machine (the host refuses other machines)."""

_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_PROC_COVERS = ("sys", "sysrq-trigger", "irq", "bus")
"""As bubblewrap: /proc subfolders made read-only when they are writable at all."""

_libc = ctypes.CDLL(None, use_errno=True)
NR = _SYSCALLS.get(os.uname().machine, {})


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def mount(src: str | None, dest: str, fstype: str | None, flags: int, data: str | None) -> None:
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


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def _pivot_root(new: str, old: str) -> None:
    _check(_libc.syscall(NR["pivot_root"], new.encode(), old.encode()), "pivot_root")


def _clone_tree(path: str) -> int:
    """A detached recursive copy of the mounts at ``path`` (``open_tree``); its fd."""
    flags = _OPEN_TREE_CLONE | _AT_RECURSIVE | _O_CLOEXEC
    return _check(_libc.syscall(NR["open_tree"], -100, path.encode(), flags), "open_tree")


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


def drop_caps(keep: int) -> None:
    """Empty the bounding set; keep only the caps in the ``keep`` mask (low 32 caps)."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        last = int(f.read())
    for cap in range(last + 1):
        prctl(_PR_CAPBSET_DROP, cap)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(keep, keep, 0), _CapData(0, 0, 0))
    _check(_libc.syscall(NR["capset"], ctypes.byref(header), data), "capset")


def seccomp(program: bytes) -> None:
    """no_new_privs, then the filter (the BPF bytes the host compiled for bwrap too)."""
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def read_all(fd: int) -> bytes:
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
    mount(src, dest, None, _MS_BIND | (MS_REC if below else 0), None)
    add = MS_NOSUID | (0 if devices else MS_NODEV) | (_MS_RDONLY if readonly else 0)
    for point in [dest, *below]:
        _remount(point, add)


def _remount(point: str, add: int) -> None:
    """Add the ``add`` flags to the mount at ``point``, keeping the ones it has."""
    current = _flags_of(point)
    if current | add != current:
        mount("none", point, None, _MS_SILENT | _MS_BIND | _MS_REMOUNT | current | add, None)


def _tmpfs(dest: str, mode: int, size: int | None) -> None:
    opts = f"mode=0{mode:o}" + (f",size={size}" if size is not None else "")
    mount("tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV, opts)


def _mount_proc(dest: str) -> None:
    _ensure_dir(dest)
    mount("proc", dest, "proc", MS_NOSUID | _MS_NOEXEC | MS_NODEV, None)
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
        _bind(f"{_roots.old}/dev/{name}", node, readonly=False, devices=True, below=[])
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dest}/{name}")
    os.symlink("/proc/self/fd", f"{dest}/fd")
    os.symlink("/proc/kcore", f"{dest}/core")
    _ensure_dir(f"{dest}/shm")
    _ensure_dir(f"{dest}/pts")
    pts_options = "newinstance,ptmxmode=0666,mode=620"
    mount("devpts", f"{dest}/pts", "devpts", MS_NOSUID | _MS_NOEXEC, pts_options)
    os.symlink("pts/ptmx", f"{dest}/ptmx")


def _write_data(path: str, flags: int, mode: int, data_fd: int) -> None:
    """Create ``path`` (with ``flags`` added to the open) holding what ``data_fd`` holds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, mode)
    try:
        os.fchmod(fd, mode)
        data = read_all(data_fd)
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def _in_new_root(path: str) -> None:
    """Raise ``OSError`` if a symlink on ``path`` leads out of the new root.

    Until the pivot this process's root is the host's, so a symlink on a step's path
    would be followed into the host's file system, as root. Only folders a bind brought
    in can hold one the plan did not make (the tmpfs mounts and folders are new and
    empty): the workspace (which the sandbox writes, kept across restarts) and the
    binds. So only paths below an earlier bind are resolved, before the step creates
    anything on them. No process of the sandbox runs while its root is built (a bind
    shared with other sandboxes can still be changed meanwhile by those).
    """
    if not any(path.startswith(bound + "/") for bound in _roots.bound):
        return
    real = os.path.realpath(path)
    if real != _roots.new and not real.startswith(_roots.new + "/"):
        inside = path[len(_roots.new) :]
        raise PermissionError(errno.EPERM, f"a symlink on {inside} leads outside the new root")


def _run_step(op: tuple[Any, ...], fds: list[int], host_mounts: list[str]) -> None:
    """One step of ``_isolation.mount_plan`` (paths as the sandbox sees them).

    ``host_mounts``: the mount points before the root moved (binds bring those below
    their source along).
    """
    kind = op[0]
    if kind in ("ro-bind", "ro-bind-try", "bind"):
        src, dest = _roots.old + op[1], _roots.new + op[2]
        _in_new_root(dest)
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
        _roots.bound += (dest,)
        return
    dest = _roots.new + (op[2] if kind in ("symlink", "ro-bind-data", "file") else op[1])
    if kind == "symlink":  # the link itself may exist already (and point anywhere)
        _in_new_root(os.path.dirname(dest))
    else:
        _in_new_root(dest)
    if kind == "file":
        _parents(dest)
        _write_data(dest, os.O_TRUNC | os.O_NOFOLLOW, op[3], fds[op[1]])
    elif kind == "remount-ro":
        _remount(dest, MS_NOSUID | MS_NODEV | _MS_RDONLY)
    elif kind == "ro-bind-data":
        _parents(dest)
        _ensure_file(dest)
        name = f"{_roots.scratch}/bindfile{os.urandom(4).hex()}"
        _write_data(name, os.O_EXCL, op[3], fds[op[1]])
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


def resolved(plan: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Bind sources with their symlinks resolved in the host's root, as bubblewrap does.

    ``/etc/localtime`` -> ``/usr/share/zoneinfo/...``, resolved before the root moves.
    """
    return [
        (op[0], os.path.realpath(op[1]), *op[2:])
        if op[0] in ("ro-bind", "ro-bind-try", "bind")
        else op
        for op in plan
    ]


class _Roots:
    """Where the mount plan's steps find their sources, build the root, keep data files.

    ``old``: the host's root as it was before the base tmpfs covered ``/tmp``;
    ``new``: the sandbox's root being built; ``scratch``: the base tmpfs; ``bound``:
    where binds were mounted so far (under ``new``).
    """

    old = "/oldroot"
    new = "/newroot"
    scratch = ""
    bound: tuple[str, ...] = ()


_roots = _Roots()


def build_root(plan: list[tuple[Any, ...]], fds: list[int]) -> None:
    """Bubblewrap's mounts (a tmpfs base holding the new root, the plan) with one pivot.

    Bubblewrap pivots twice: into the base (the old root beside it as ``/oldroot``,
    where the plan finds its sources) and into the finished root. pivot_root visits
    every thread on the host (``chroot_fs_refs``), ~1.2 ms each with 1,000 sandboxes
    live, so the sources come from a detached copy of the old root instead
    (``open_tree``, reached as ``/proc/self/fd/N``), and the one pivot, into the
    finished root, detaches the old root with every mount on it, the base included.
    The resulting mount table is bubblewrap's (the equivalence test compares them).
    """
    mount(None, "/", None, _MS_SILENT | _MS_SLAVE | MS_REC, None)
    host_mounts = _mount_points()
    old = _clone_tree("/")
    try:
        mount("tmpfs", "/tmp", "tmpfs", MS_NODEV | MS_NOSUID, None)
        os.chdir("/tmp")
        _ensure_dir("newroot")
        mount("newroot", "newroot", None, _MS_SILENT | _MS_BIND | MS_REC, None)
        _roots.old, _roots.new, _roots.scratch = f"/proc/self/fd/{old}", "/tmp/newroot", "/tmp"
        _roots.bound = ()
        for op in plan:
            _run_step(op, fds, host_mounts)
    finally:
        os.close(old)
    os.chdir("/tmp/newroot")
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", _MNT_DETACH), "umount the old root")
    os.chdir("/")
