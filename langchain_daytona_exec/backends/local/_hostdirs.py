"""The host's sandbox folders: where they live, who may own them, and sweeping leftovers.

Every sandbox keeps a folder ``<base>/<host pid>-<sandbox id>``; a host that was killed
leaves its folders (and cgroups) behind, and the next host process sweeps them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import threading

from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _mounts as mounts
from langchain_daytona_exec.errors import IsolationUnavailableError

BASE_DIR_NAME = "langchain-daytona-exec"
"""The base folder holds one folder per live sandbox, named ``<host pid>-<sandbox id>``
so leftovers of a killed host can be swept. One base folder per user (see
:func:`default_base_dir`): a shared one is created by whoever runs first and is then
unusable, or worse trusted, by everyone else."""

_hygiene_lock = threading.Lock()
_hygiene_done = False


def install_hygiene(base: str) -> None:
    """Once per process: sweep leftovers of dead hosts (exit cleanup is ``_lifecycle``'s)."""
    global _hygiene_done
    with _hygiene_lock:
        if _hygiene_done:
            return
        _hygiene_done = True
    sweep_stale(base)


def sweep_stale(base: str) -> int:
    """Remove sandbox folders, mounts and cgroups left by host processes that died.

    Returns:
        How many leftovers were removed.
    """
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(base):
            pid = name.split("-", 1)[0]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            folder = os.path.join(base, name)
            remove_sandbox_dir(folder)
            removed += 1
    layout = cgroups.cgroup_layout()
    if layout:
        for parent in layout[1].values():
            with contextlib.suppress(OSError):
                for name in os.listdir(parent):
                    owner = name.split("-")[1] if name.startswith("ldx-") else ""
                    if owner.isdigit() and not pid_alive(int(owner)):
                        cgroups.CgroupSet([os.path.join(parent, name)], layout[0]).destroy(1)
                        removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_sandbox_dir(folder: str) -> None:
    work = os.path.join(folder, "work")
    if mounts.is_mountpoint(work):
        mounts.unmount(work)
    shutil.rmtree(folder, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def protect_host() -> int | None:
    """Once per process: the host is the OOM killer's last choice (see isolation)."""
    return cgroups.protect_host_from_oom()


def traversable_by_others(path: str) -> bool:
    """True when every folder from / down to ``path`` has the o+x bit."""
    current = os.path.abspath(path)
    while True:
        try:
            if not os.stat(current).st_mode & 0o001:
                return False
        except OSError:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def default_base_dir() -> str:
    """The calling user's own base folder.

    ``$XDG_RUNTIME_DIR/langchain-daytona-exec`` when the session has a runtime folder
    (per user, 0700, cleared at logout), else ``<temp dir>/langchain-daytona-exec-<uid>``.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return os.path.join(runtime, BASE_DIR_NAME)
    return os.path.join(temp_dir(), f"{BASE_DIR_NAME}-{os.geteuid()}")


_TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")
"""What ``tempfile.gettempdir()`` reads first, in order."""


def temp_dir() -> str:
    """What ``tempfile.gettempdir()`` returns, without importing ``tempfile`` if plain.

    With none of TMPDIR, TEMP and TMP set, gettempdir's first candidate is /tmp, and a
    writable /tmp is its answer; ``tempfile`` (with ``random``) costs ~1.9 ms of every
    ``daytona-exec exec`` before its sandbox starts. In any other case, or once
    ``tempfile`` is loaded (its ``tempdir`` may have been set), it is asked.
    """
    plain = not any(os.environ.get(name) for name in _TEMP_VARIABLES)
    usable = os.path.isdir("/tmp") and os.access("/tmp", os.W_OK | os.X_OK)
    if plain and "tempfile" not in sys.modules and usable:
        return "/tmp"
    import tempfile

    return tempfile.gettempdir()


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (0700) or check an existing one: a real folder owned by this user.

    The check is made on an fd opened with ``O_NOFOLLOW`` (no race between the check
    and the use of a swapped-in symlink), and group/other write bits are dropped.

    Raises:
        IsolationUnavailableError: ``path`` is a symlink, not a folder, or owned by
            another user (someone else could read or plant files in it).
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if parent != path:
        os.makedirs(parent, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fix = "remove it, or pass LocalBackend(base_dir=...) naming a folder of your own"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        kind = "a symlink" if os.path.islink(path) else "not a usable folder"
        raise IsolationUnavailableError(
            f"the sandbox base folder {path} is {kind} ({exc.strerror}): {fix}"
        ) from exc
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise IsolationUnavailableError(
                f"the sandbox base folder {path} belongs to uid {st.st_uid}, not to you "
                f"(uid {os.geteuid()}); refusing to keep sandboxes where another user can "
                f"reach them: {fix}"
            )
        if st.st_mode & 0o022:
            os.fchmod(fd, st.st_mode & 0o755 & ~0o022)
    finally:
        os.close(fd)


def listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
