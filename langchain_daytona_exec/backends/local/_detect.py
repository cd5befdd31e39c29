"""Which isolation mode works on this machine (:func:`detect_mode`), remembered per user.

* ``root``: the host process is root; bwrap unshares ipc/pid/net/uts/cgroup and the kernel
  switches to a per-sandbox unprivileged uid.
* ``userns``: an ordinary user; bwrap adds ``--unshare-user --disable-userns``.
* ``unsafe``: no isolation, only on the user's explicit opt-in (never detected).

A missing bubblewrap or a machine that cannot create namespaces raises
:class:`~langchain_daytona_exec.errors.IsolationUnavailableError` naming the fix.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess

from langchain_daytona_exec.errors import IsolationUnavailableError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["root", "userns", "unsafe"]

_INSTALL_HINT = (
    "install bubblewrap (`sudo apt-get install bubblewrap`, `dnf install bubblewrap`), "
    "or run `make install` as root"
)


MODE_CACHE_VERSION = "1"
"""Bumped when the probe or the cache's format changes, so older entries are re-probed."""


def mode_cache_path() -> str:
    """The per-user file remembering a successful probe (``$XDG_CACHE_HOME`` or ~/.cache)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "langchain-daytona-exec", f"isolation-mode-{os.geteuid()}")


def _mode_cache_key(bwrap: str, mode: Mode) -> str | None:
    """What a probe's success depends on: bwrap's file, the kernel release, the euid.

    ``None`` when bwrap cannot be stat'ed (then nothing is cached).
    """
    try:
        st = os.stat(bwrap)
    except OSError:
        return None
    real = os.path.realpath(bwrap)
    release = os.uname().release
    return (
        f"v{MODE_CACHE_VERSION} {mode} euid={os.geteuid()} kernel={release} "
        f"bwrap={real} mtime_ns={st.st_mtime_ns} size={st.st_size}"
    )


def _cached_mode_holds(key: str | None) -> bool:
    if key is None:
        return False
    try:
        with open(mode_cache_path(), encoding="utf-8") as f:
            return f.read() == key
    except (OSError, ValueError):
        return False


def _remember_mode(key: str | None) -> None:
    """Write the key of a successful probe (atomically; a read-only home only costs speed)."""
    if key is None:
        return
    path = mode_cache_path()
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(key)
        os.replace(tmp, path)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def forget_mode() -> None:
    """Drop the remembered probe (file and in-process): the next detection probes again.

    Called when a sandbox fails to start, in case the remembered mode no longer works.
    """
    detect_mode.cache_clear()
    with contextlib.suppress(OSError):
        os.unlink(mode_cache_path())


@functools.lru_cache(maxsize=1)
def detect_mode() -> Mode:
    """Pick the isolation mode that works here, or raise naming the fix.

    A successful probe (bwrap starting ``true`` in new namespaces, ~20 ms) is
    remembered in :func:`mode_cache_path`, keyed by bwrap's path, mtime and size, the
    kernel release and the euid; any change of these probes again, and so does a
    sandbox that fails to start (:func:`forget_mode`). A failed probe is never
    remembered.

    Raises:
        IsolationUnavailableError: bubblewrap is missing or cannot create namespaces.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise IsolationUnavailableError(
            f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}. To run code WITHOUT "
            "isolation on a machine you do not mind losing, pass "
            "LocalBackend(unsafe_no_isolation=True)."
        )
    mode: Mode = "root" if os.geteuid() == 0 else "userns"
    key = _mode_cache_key(bwrap, mode)
    if _cached_mode_holds(key):
        return mode
    probe = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    if mode == "userns":
        probe += ["--unshare-user", "--disable-userns"]
    for top in ("bin", "lib", "lib64"):
        if os.path.islink(f"/{top}"):
            probe += ["--symlink", os.readlink(f"/{top}"), f"/{top}"]
        elif os.path.isdir(f"/{top}"):
            probe += ["--ro-bind", f"/{top}", f"/{top}"]
    probe += ["--", "/usr/bin/true"]
    proc = subprocess.run(probe, capture_output=True, text=True, env={}, timeout=30)
    if proc.returncode != 0:
        fix = (
            "enable unprivileged user namespaces (`sudo sysctl -w "
            "kernel.unprivileged_userns_clone=1`, and on Ubuntu 24.04+ `sudo sysctl -w "
            "kernel.apparmor_restrict_unprivileged_userns=0`), or run as root"
            if mode == "userns"
            else "check that this container may create namespaces (docker: --privileged "
            "or a seccomp profile allowing unshare)"
        )
        raise IsolationUnavailableError(
            f"bubblewrap cannot create a sandbox here ({proc.stderr.strip()}): {fix}. "
            "LocalBackend(unsafe_no_isolation=True) runs code without isolation."
        )
    _remember_mode(key)
    return mode
