"""Root mode's host workspace: a size-capped tmpfs in a mount namespace of its own.

Mounts are made with libc's ``mount(2)`` through ctypes, imported on first use.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
import warnings
from collections.abc import Iterator

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:  # ctypes costs a few ms at import; only mounts (root mode) need it
    import ctypes


_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    """The C library this interpreter already links, through ``dlopen(NULL)``.

    Not ``ctypes.util.find_library("c")``: on Linux that runs ``ldconfig -p`` in a
    subprocess (3-4 ms of the first sandbox of every process, ~15 ms when
    ``subprocess`` is not imported yet), to find the library that is loaded already.
    """
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def mount_workspace(target: str, size: int, uid: int, gid: int) -> None:
    """Mount a size-capped tmpfs owned by the sandbox user at ``target`` (root only)."""
    opts = workspace_options(size, uid, gid).encode()
    if _libc().mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount the workspace tmpfs: {os.strerror(err)}")


_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000


def workspace_namespace(target: str, size: int, uid: int, gid: int) -> int | None:
    """A private mount namespace holding the workspace tmpfs at ``target``; an fd to it.

    Why not mount the tmpfs on the host: every sandbox's bwrap copies the host's whole
    mount table into its own namespace, so with N workspace mounts on the host each new
    sandbox copies N mounts and the kernel holds N^2 of them: creation slowed from
    ~65 ms to ~170 ms with 200 live sandboxes here. A namespace of its own per
    workspace, kept alive by this fd (no process, no host mount), keeps the host's
    table constant; the sandbox is started inside it (:func:`entered`, or ``nsenter``).
    Its files outlive interpreter restarts until the fd is closed.

    Called on the spawner thread. Where that thread can enter namespaces
    (:func:`thread_can_enter`) it makes the namespace itself and goes back to its own,
    with no fork (about 0.1 ms instead of 1.9 ms, measured here); elsewhere a forked
    child makes it.

    Returns:
        The fd, or ``None`` when namespaces cannot be made here (the caller then mounts
        on the host as before).
    """
    opts = workspace_options(size, uid, gid).encode()
    path = target.encode()
    if thread_can_enter():
        return _namespace_in_thread(path, opts)
    if shutil.which("nsenter") is None:
        return None
    libc = _libc()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about fork in threaded processes: the
        warnings.simplefilter("ignore", DeprecationWarning)  # child only makes syscalls
        pid = os.fork()
    if pid == 0:  # the child: syscalls only, then exit without running any Python cleanup
        ok = b"0"
        try:
            if libc.unshare(_CLONE_NEWNS) == 0 and _mount_private_workspace(libc, path, opts):
                ok = b"1"
            os.write(ready_w, ok)
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        ok = os.read(ready_r, 1)
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY) if ok == b"1" else None
    finally:
        os.write(go_w, b"x")
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(pid, 0)
    return fd


def _namespace_in_thread(path: bytes, opts: bytes) -> int | None:
    """:func:`workspace_namespace` made by this thread, which then goes back to its own.

    Raises:
        OSError: The thread could not go back to its own namespace (see :func:`entered`).
    """
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        return None
    fd: int | None = None
    try:
        if _mount_private_workspace(libc, path, opts):
            fd = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        try:
            _setns(_thread.home)
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
    return fd


def _mount_private_workspace(libc: ctypes.CDLL, path: bytes, opts: bytes) -> bool:
    """In a mount namespace just unshared: make it private, mount the tmpfs at ``path``."""
    return bool(
        libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
        and libc.mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) == 0
    )


def workspace_options(size: int, uid: int, gid: int) -> str:
    """The workspace tmpfs's mount options."""
    return f"size={size},mode=0700,uid={uid},gid={gid}"


def workspace_namespace_from_zygote(
    target: str, size: int, uid: int, gid: int, timeout: float
) -> int:
    """:func:`workspace_namespace`, made by the fork-server's zygote (root mode).

    Raises:
        ForkServerError: The zygote could not make it.
    """
    from langchain_daytona_exec.backends.local._forkserver import fork_server

    return fork_server().workspace(target, workspace_options(size, uid, gid), timeout)


def enter_argv(namespace_fd: int, argv: list[str]) -> list[str]:
    """``argv`` run inside the mount namespace held by ``namespace_fd`` (in this process).

    The fallback of :func:`entered`, for a thread that cannot enter a namespace itself.
    """
    nsenter = shutil.which("nsenter") or "nsenter"
    return [nsenter, f"--mount=/proc/{os.getpid()}/fd/{namespace_fd}", "--", *argv]


_CLONE_FS = 0x00000200
_thread = threading.local()


def thread_can_enter() -> bool:
    """Whether this thread can enter mount namespaces itself (see :func:`entered`).

    The first call unshares the thread's file-system attributes (root, working folder,
    umask; ``unshare(CLONE_FS)``), which a thread must not share with others to enter a
    mount namespace: from then on this thread keeps its own working folder (``/`` after
    its first :func:`entered`), so it must use absolute paths only, as the spawner
    thread does. False where that is refused (then bwrap is started through nsenter).
    """
    home = getattr(_thread, "home", None)
    if home is None:
        libc = _libc()
        if libc.unshare(_CLONE_FS) != 0:
            home = -1
        else:
            try:
                home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                home = -1
        _thread.home = home
    return bool(home >= 0)


def _setns(fd: int) -> None:
    if _libc().setns(fd, _CLONE_NEWNS) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"cannot enter a mount namespace: {os.strerror(err)}")


@contextlib.contextmanager
def entered(namespace_fd: int) -> Iterator[None]:
    """This thread inside the mount namespace ``namespace_fd`` for the block, then back.

    A process started in the block (bwrap) begins inside that namespace, as under
    ``nsenter``, without exec'ing nsenter first (about 1.2 ms of every sandbox's start,
    measured here). Only after :func:`thread_can_enter` returned True on this thread.

    Raises:
        OSError: The namespace could not be entered (the thread is where it was), or
            left: then the thread's later children would start in the workspace's
            namespace, a copy of the host's mount table with one more tmpfs, which
            sandboxes never bind, so it only keeps that tmpfs alive longer.
    """
    home = _thread.home
    _setns(namespace_fd)
    try:
        yield
    finally:
        _setns(home)


def unmount(target: str) -> None:
    """Lazily unmount ``target``; ignore 'not mounted'."""
    _libc().umount2(target.encode(), _MNT_DETACH)


def is_mountpoint(path: str) -> bool:
    """True when ``path`` is a mount point."""
    with contextlib.suppress(OSError):
        return os.path.ismount(path)
    return False
