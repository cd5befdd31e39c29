"""How a local sandbox is isolated: limits, mode detection, bwrap argv, seccomp, cgroups.

Every limit and default is named once, in :class:`LocalLimits`, with its reason.
The bwrap argv is built by a pure function (:func:`bwrap_argv`) so it can be unit
tested; the side effects (cgroups, host mounts, the seccomp program) live in small
helpers below it.

Two modes, detected at runtime (:func:`detect_mode`):

* ``root``: the host process is root. bwrap unshares ipc/pid/net/uts/cgroup, drops
  every capability but CAP_SETUID/CAP_SETGID, and the kernel switches to a per-sandbox
  unprivileged uid before any user code runs. The workspace is a size-capped tmpfs
  mounted on the host, so it survives a restart of the interpreter. cgroup memory and
  pids limits apply where the cgroup tree is writable.
* ``userns``: an ordinary user. bwrap adds ``--unshare-user --disable-userns``; the
  workspace is a size-capped tmpfs inside the sandbox (a hard restart empties it).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from langchain_daytona_exec.backends import cellrunner
from langchain_daytona_exec.errors import IsolationUnavailableError
from langchain_daytona_exec.sandbox import check_seconds

if TYPE_CHECKING:  # ctypes costs a few ms at import; only mounts (root mode) need it
    import ctypes

Mode = Literal["root", "userns", "unsafe"]

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))
"""Folder holding ``kernel.py`` and ``protocol.py``, mounted read-only in the sandbox."""

RUNNER_DIR = os.path.join(os.path.dirname(KERNEL_DIR), "cellrunner")
"""The cell runner package (shared with the Daytona backend), mounted next to the kernel."""

SANDBOX_KERNEL_DIR = "/opt/ldx-kernel"
KERNEL_MODULES = ("kernel", "protocol", "forwarder")
"""The stdlib-only modules of this folder that run inside the sandbox: the kernel, its
framing, and the egress forwarder of network allow-lists."""
KERNEL_SOURCES = (
    *((os.path.join(KERNEL_DIR, f"{name}.py"), f"{name}.py") for name in KERNEL_MODULES),
    *(
        (os.path.join(RUNNER_DIR, f"{name}.py"), f"cellrunner/{name}.py")
        for name in ("__init__", *cellrunner.MODULES)
    ),
)
"""(host path, path under SANDBOX_KERNEL_DIR) of each source that runs in the sandbox:
the modules above and the cell runner."""


def _bytecode(path: str) -> str:
    """Where CPython caches the bytecode of ``path`` (``__pycache__/NAME.TAG.pyc``)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, "__pycache__", f"{name[:-3]}.{sys.implementation.cache_tag}.pyc")


KERNEL_FILES = tuple(
    pair
    for host, inside in KERNEL_SOURCES
    for pair in ((host, inside), (_bytecode(host), _bytecode(inside)))
)
"""What the sandbox sees of this package: those sources and their bytecode, as
(host path, path under SANDBOX_KERNEL_DIR)."""

SANDBOX_PYTHON = f"{SANDBOX_KERNEL_DIR}/python"
"""A symlink to the host's Python runtime, run as the kernel: the sandbox's process
list then names a neutral path, not where the runtime lives on the host."""
SANDBOX_MPL_CACHE = "/opt/ldx-mpl-cache"
SANDBOX_WORKDIR = "/workspace"
SANDBOX_HOME = "/tmp/home"
SANDBOX_LAYER_DIR = "/opt/ldx-env"
"""Where a sandbox sees its environment's package layer (read-only)."""
SANDBOX_PROXY_SOCKET = "/run/ldx-egress.sock"
"""Where the host's filtering proxy socket is mounted (network allow-lists)."""
SANDBOX_PROXY_PORT = 3128
"""The in-sandbox forwarder's port on the sandbox's own loopback."""
SANDBOX_USER_BASE = f"{SANDBOX_WORKDIR}/.local"
"""``PYTHONUSERBASE`` when the sandbox may reach a package index: ``pip install`` puts
packages here (writable, first on ``sys.path``, kept across interpreter restarts)."""

UID_BASE = 1_800_000_000
UID_SPAN = 100_000_000
"""Root mode gives each sandbox its own uid in [UID_BASE, UID_BASE + UID_SPAN): far
from real users and subuid ranges, so RLIMIT_NPROC counts one sandbox's processes only
and one sandbox can never signal or read another's."""

MiB = 1024 * 1024
GiB = 1024 * MiB

WORKSPACE_SHARE = 3 / 8
"""Default workspace cap, as a share of the memory limit (384 MiB of 1 GiB): the files
the model works with (datasets, outputs) get the biggest part of the file budget."""
TMP_SHARE = 1 / 16
"""Default cap of ``/tmp`` and, separately, of ``/dev/shm`` (64 MiB each of 1 GiB):
scratch space (pip, tempfile, multiprocessing's shared memory) needs little."""
MAX_FILES_SHARE = 3 / 4
"""The workspace, ``/tmp`` and ``/dev/shm`` together may never exceed this share of the
memory limit. Their tmpfs pages are charged to the sandbox's memory cgroup and belong to
no process: with caps as large as the memory limit a disk fill OOM-kills the
interpreter, and every restart dies again because the files stay (the model loops on
"interpreter died"). Below the limit, a fill fails with ENOSPC and the interpreter
keeps at least a quarter of the memory (half with the defaults: 3/8 + 2 x 1/16)."""


@dataclass(frozen=True)
class LocalLimits:
    """Resource limits of one local sandbox. Sizes in **bytes**, times in **seconds**.

    Attributes:
        memory_bytes: cgroup memory limit (RAM + tmpfs pages the sandbox writes).
        pids: cgroup pids limit: a fork bomb stops here.
        cpu_cores: cgroup CPU quota in cores (1.0 = one core's worth of time); a busy
            loop or a fork bomb cannot starve the host and the other sandboxes.
            ``None``: no quota.
        nproc: RLIMIT_NPROC for the sandbox's own uid (second line against fork bombs).
        nofile: RLIMIT_NOFILE.
        fsize_bytes: RLIMIT_FSIZE, the largest single file.
        address_space_bytes: RLIMIT_AS; ``None`` leaves it unset because V8 (node) and
            OpenBLAS reserve many GB of address space they never touch. The cgroup
            memory limit is what bounds real use.
        cpu_seconds: RLIMIT_CPU over the whole life of the interpreter; ``None``: off
            (per-call timeouts bound wall time instead).
        workspace_bytes: size cap of the writable workspace (a tmpfs); ``0``:
            :data:`WORKSPACE_SHARE` of ``memory_bytes``.
        tmp_bytes: size cap of ``/tmp`` and of ``/dev/shm`` (each a tmpfs); ``0``:
            :data:`TMP_SHARE` of ``memory_bytes``. The three together must stay within
            :data:`MAX_FILES_SHARE` of ``memory_bytes`` (``ValueError`` otherwise).
        output_bytes: captured bytes kept per stream per call (head + tail).
        max_file_bytes: largest file ``read_file``/``write_file`` move.
        timeout_s: default per-call timeout.
        grace_s: after a timeout's SIGINT, how long before the sandbox is killed.
        start_timeout_s: how long a new sandbox may take to become ready.
        file_op_timeout_s: how long a file operation may take.
    """

    memory_bytes: int = 1 * GiB
    pids: int = 256
    cpu_cores: float | None = 1.0
    nproc: int = 256
    nofile: int = 1024
    fsize_bytes: int = 1 * GiB
    address_space_bytes: int | None = None
    cpu_seconds: int | None = None
    workspace_bytes: int = 0
    tmp_bytes: int = 0
    output_bytes: int = 1 * MiB
    max_file_bytes: int = 100 * MiB
    timeout_s: float = 60.0
    grace_s: float = 2.0
    start_timeout_s: float = 30.0
    file_op_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.grace_s < float("inf"):  # NaN fails too
            raise ValueError(f"LocalLimits.grace_s must be finite and >= 0, got {self.grace_s!r}")
        for name in ("timeout_s", "start_timeout_s", "file_op_timeout_s"):
            object.__setattr__(
                self, name, check_seconds(getattr(self, name), f"LocalLimits.{name}")
            )
        if not self.workspace_bytes:
            object.__setattr__(self, "workspace_bytes", int(self.memory_bytes * WORKSPACE_SHARE))
        if not self.tmp_bytes:
            object.__setattr__(self, "tmp_bytes", int(self.memory_bytes * TMP_SHARE))
        files = self.files_bytes
        if files > self.memory_bytes * MAX_FILES_SHARE:
            raise ValueError(
                f"workspace_bytes + 2 x tmp_bytes (/tmp and /dev/shm) = {files // MiB} MiB is "
                f"over {MAX_FILES_SHARE:.0%} of memory_bytes ({self.memory_bytes // MiB} MiB): "
                "files are held in the sandbox's memory, so a full disk would OOM-kill the "
                "interpreter. Lower workspace_bytes/tmp_bytes or raise memory_bytes."
            )

    @property
    def files_bytes(self) -> int:
        """What the sandbox's files can hold at most: workspace + ``/tmp`` + ``/dev/shm``."""
        return self.workspace_bytes + 2 * self.tmp_bytes

    def rlimits(self, *, cgroup: bool = True) -> dict[str, int | None]:
        """The rlimits the kernel applies to itself before running code.

        Args:
            cgroup: Whether a memory cgroup bounds the sandbox. Without one (non-root
                mode, or a cgroup tree that is not writable) RLIMIT_DATA is set to
                ``memory_bytes``: it bounds each process's heap and private writable
                mappings (V8's and OpenBLAS's untouched reservations do not count), so a
                large allocation fails with MemoryError instead of taking the machine.
        """
        return {
            "as": self.address_space_bytes,
            "data": None if cgroup else self.memory_bytes,
            "cpu": self.cpu_seconds,
            "fsize": self.fsize_bytes,
            "nofile": self.nofile,
            "nproc": self.nproc,
            "core": 0,
        }


@dataclass(frozen=True)
class SandboxPaths:
    """Host paths a sandbox needs read-only: the Python runtime and its packages."""

    python: str
    prefixes: tuple[str, ...]
    site_packages: tuple[str, ...]
    mpl_cache: str | None = None
    extra_ro: tuple[str, ...] = field(default_factory=tuple)


def host_python_paths() -> SandboxPaths:
    """The running interpreter, its prefix and its site-packages (numpy, pandas...)."""
    import site

    python = os.path.realpath(sys.executable)
    prefixes = {os.path.realpath(sys.base_prefix)}
    if not python.startswith("/usr/"):
        prefixes.add(os.path.dirname(os.path.dirname(python)))
    sites = [p for p in site.getsitepackages() if os.path.isdir(p)]
    return SandboxPaths(
        python=python,
        prefixes=tuple(sorted(p for p in prefixes if not p.startswith("/usr"))),
        site_packages=tuple(os.path.realpath(p) for p in sites),
    )


# -- detection -----------------------------------------------------------------------

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


# -- the bwrap command line ----------------------------------------------------------

_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
)
"""The few /etc entries libc, TLS, fontconfig and Debian's alternatives need."""

_NETWORK_ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/gai.conf")


def sandbox_env(paths: SandboxPaths, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment the sandboxed code sees: nothing comes from the host."""
    path = [os.path.join(p, "bin") for p in paths.prefixes]
    path += ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"]
    env = {
        "PATH": ":".join(path),
        "HOME": SANDBOX_HOME,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "TERM": "dumb",
        "PYTHONPATH": ":".join(paths.site_packages),
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{SANDBOX_HOME}/.config/matplotlib",
        "NO_COLOR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.update(extra or {})
    return env


def passwd_and_group(uid: int, gid: int) -> tuple[bytes, bytes]:
    """Generated /etc/passwd and /etc/group naming the sandbox user."""
    passwd = (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"sandbox:x:{uid}:{gid}:sandbox:{SANDBOX_HOME}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n"
    return passwd.encode(), group.encode()


def bwrap_argv(
    *,
    mode: Literal["root", "userns"],
    paths: SandboxPaths,
    limits: LocalLimits,
    network: bool,
    host_workspace: str | None,
    seccomp_fd: int,
    passwd_fd: int,
    group_fd: int,
    kernel_argv: Iterable[str],
    bwrap: str = "bwrap",
    workdir: str = SANDBOX_WORKDIR,
    binds: Iterable[tuple[str, str]] = (),
    egress_socket: str | None = None,
    layer: str | None = None,
    data_files: Mapping[str, int] | None = None,
) -> list[str]:
    """Build the bubblewrap command line of one sandbox (pure: no side effects).

    Args:
        mode: ``"root"`` or ``"userns"`` (see the module docstring).
        paths: Read-only host paths to expose (Python runtime, packages).
        limits: Size caps for the tmpfs mounts.
        network: Share the host network namespace (off by default).
        host_workspace: Root mode: the host folder bound at the workdir.
        seccomp_fd: fd holding the compiled seccomp BPF program.
        passwd_fd: fd holding the generated /etc/passwd.
        group_fd: fd holding the generated /etc/group.
        kernel_argv: The command to run inside (the kernel).
        bwrap: The bubblewrap executable.
        workdir: Where the workspace is mounted; when it is not ``/workspace``, that
            path stays a symlink to it.
        binds: Extra ``(host folder, sandbox folder)`` pairs bound read-write (shared
            folders such as the emulator's volumes).
        egress_socket: Host path of the filtering proxy's Unix socket (a network
            allow-list), bound at ``SANDBOX_PROXY_SOCKET``; the network namespace stays
            private.
        layer: Host folder of the environment's package layer, bound read-only at
            ``SANDBOX_LAYER_DIR``.
        data_files: ``{sandbox path: fd}``: read-only files copied from an fd rather
            than bound from a host path, so ``/proc/self/mountinfo`` does not name
            where they come from: the kernel's files (else bound from
            :data:`KERNEL_DIR`), the matplotlib cache, and the :data:`PROC_MASKS`.
    """
    argv = [bwrap, "--die-with-parent", "--new-session", "--clearenv"]
    if mode == "root":
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup"]
        if not network:
            argv.append("--unshare-net")
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        if network:
            argv.append("--share-net")
    argv += ["--hostname", "sandbox"]
    # Mounts are applied in order: the tmpfs mounts come before any bind, so a runtime
    # or virtualenv living under the host's /tmp is not hidden by the sandbox's /tmp.
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{top}"
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    etc = _ETC_FILES + (_NETWORK_ETC_FILES if network else ())
    argv += ["--perms", "0755", "--dir", "/etc"]
    for item in etc:
        argv += ["--ro-bind-try", item, item]
    argv += ["--perms", "0644", "--ro-bind-data", str(passwd_fd), "/etc/passwd"]
    argv += ["--perms", "0644", "--ro-bind-data", str(group_fd), "/etc/group"]
    made: set[str] = set()
    for ro in (*paths.prefixes, *paths.site_packages, *paths.extra_ro):
        argv += _traversable_parents(ro, made)
        argv += ["--ro-bind", ro, ro]
    argv += _traversable_parents(SANDBOX_KERNEL_DIR, made)
    for folder in ("", "/__pycache__", "/cellrunner", "/cellrunner/__pycache__"):
        argv += ["--perms", "0755", "--dir", f"{SANDBOX_KERNEL_DIR}{folder}"]
        made.add(f"{SANDBOX_KERNEL_DIR}{folder}")
    argv += ["--symlink", paths.python, SANDBOX_PYTHON]
    data = dict(data_files or {})
    for host, name in KERNEL_FILES:  # only the kernel's own files, not the host-side engine
        inside = f"{SANDBOX_KERNEL_DIR}/{name}"
        if inside not in data:
            argv += ["--ro-bind-try", host, inside]
    if paths.mpl_cache:
        argv += ["--ro-bind-try", paths.mpl_cache, SANDBOX_MPL_CACHE]
    if layer is not None:
        argv += _traversable_parents(SANDBOX_LAYER_DIR, made)
        argv += ["--ro-bind", layer, SANDBOX_LAYER_DIR]
    if egress_socket is not None:
        argv += ["--perms", "0755", "--dir", os.path.dirname(SANDBOX_PROXY_SOCKET)]
        argv += ["--bind", egress_socket, SANDBOX_PROXY_SOCKET]
    for inside, fd in sorted(data.items()):
        if not inside.startswith("/proc/"):
            argv += _traversable_parents(inside, made)
        argv += ["--perms", "0444", "--ro-bind-data", str(fd), inside]
    argv += _traversable_parents(workdir, made)
    if host_workspace is not None:
        argv += ["--bind", host_workspace, workdir]
    else:
        argv += ["--perms", "0777", "--size", str(limits.workspace_bytes)]
        argv += ["--tmpfs", workdir]
    if workdir != SANDBOX_WORKDIR:
        argv += ["--symlink", workdir, SANDBOX_WORKDIR]
    for host, inside in binds:
        argv += _traversable_parents(inside, made)
        argv += ["--bind", host, inside]
    # No --chdir: bwrap still holds uid 0 without CAP_DAC_OVERRIDE here, and the workspace
    # is 0700 for the sandbox user; the kernel enters it after switching uid.
    # No --setenv: the environment travels in the kernel's configuration, read from an
    # fd, because bwrap's argv is visible to every user of the host (ps).
    argv += ["--seccomp", str(seccomp_fd), "--", *kernel_argv]
    return argv


PROC_MASKS: Mapping[str, str] = {
    "/proc/sys/kernel/random/boot_id": "a fresh random id per sandbox (the host's would "
    "link sandboxes of one machine together, and to the host's logs)",
    "/proc/cmdline": "the host kernel's boot line names the host's devices and init",
}
"""Files of the sandbox's /proc that describe the host, covered by a read-only copy
(bwrap ``--ro-bind-data``). Left visible: ``/proc/self/mountinfo`` (it names the host
path of every bind: the Python runtime and its packages, which the sandbox can list
anyway, and an environment layer or a proxy socket when those are used);
``/proc/cpuinfo``, ``meminfo`` and ``uptime`` (the machine's size, which code
legitimately reads to size its work)."""


def random_uuid4() -> str:
    """A random (version 4) UUID in its text form, as ``str(uuid.uuid4())``.

    Without ``uuid``, whose import (it loads ``platform``) cost ~4 ms of every CLI start.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def proc_mask_contents() -> dict[str, bytes]:
    """What each of :data:`PROC_MASKS` reads as inside one sandbox."""
    return {
        "/proc/sys/kernel/random/boot_id": f"{random_uuid4()}\n".encode(),
        "/proc/cmdline": b"sandbox\n",
    }


def args_fd_argv(argv: list[str], args_fd: int) -> tuple[list[str], bytes]:
    """Move bwrap's options out of its argv into an ``--args`` fd payload.

    bwrap's argv is the command line of the sandbox's pid 1, readable by the sandboxed
    code in ``/proc/1/cmdline``: its options name host paths (the project, the
    virtualenv, the per-sandbox folder with the host's pid). bwrap reads NUL-separated
    options from ``--args FD``; only the command itself must stay on the command line.

    Returns:
        The short argv (``bwrap --args FD -- command...``) and the payload for the fd.
    """
    split = argv.index("--")
    options, command = argv[1:split], argv[split + 1 :]
    payload = b"".join(arg.encode() + b"\0" for arg in options)
    return [argv[0], "--args", str(args_fd), "--", *command], payload


def _traversable_parents(path: str, made: set[str]) -> list[str]:
    """``--dir`` args making every ancestor of ``path`` traversable (0755).

    bwrap gives the folders it creates for a bind the host's modes, and a runtime under
    ``/root`` (pyenv) would sit behind a 0700 folder the sandbox user cannot enter.
    """
    args: list[str] = []
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        folder = "/" + "/".join(parts[:i])
        if folder in made or folder in ("/usr", "/etc", "/tmp", "/proc", "/dev", "/dev/shm"):
            continue
        made.add(folder)
        args += ["--perms", "0755", "--dir", folder]
    return args


# -- seccomp -------------------------------------------------------------------------

_DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "unshare",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "personality",
    "vhangup",
    "quotactl",
    "lookup_dcookie",
    "uselib",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "fanotify_init",
)
"""Syscalls sandboxed code never needs, denied with EPERM (kernel attack surface,
escapes from namespaces, the host's keyring)."""

_CLONE_NEW_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_AF_UNIX = 1


@functools.lru_cache(maxsize=4)
def seccomp_program(network: bool) -> bytes:
    """Compile (once per setting) the seccomp BPF program passed to ``bwrap --seccomp``.

    Args:
        network: When False, sockets other than AF_UNIX fail with EAFNOSUPPORT. True for
            an allow-list too: its TCP sockets reach only the sandbox's own loopback.

    Raises:
        IsolationUnavailableError: libseccomp is missing.
    """
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as exc:  # pyseccomp loads libseccomp.so.2 with ctypes
        raise IsolationUnavailableError(
            f"seccomp is unavailable ({exc}): install libseccomp2 "
            "(`sudo apt-get install libseccomp2`) and `pip install pyseccomp`"
        ) from exc
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    eperm = seccomp.ERRNO(errno.EPERM)
    for name in _DENIED_SYSCALLS:
        with contextlib.suppress(Exception):  # not every syscall exists on every arch
            f.add_rule(eperm, name)
    for flag in _CLONE_NEW_FLAGS:
        f.add_rule(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # flags unreadable: libc falls back
    for request in (_TIOCSTI, _TIOCLINUX):
        f.add_rule(eperm, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    if not network:
        refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
        f.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
        f.add_rule(refuse, "socketpair", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    r, w = os.pipe()
    try:
        with os.fdopen(w, "wb", closefd=False) as out:
            f.export_bpf(out)
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


def data_fd(data: bytes) -> int:
    """A read fd (memfd) holding ``data``, to hand to bwrap."""
    fd = os.memfd_create("ldx-data", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# -- cgroups -------------------------------------------------------------------------


_CGROUP_FIRST_PAUSE_S = 0.0005
_CGROUP_MAX_PAUSE_S = 0.005
"""Pauses between tries to remove a sandbox's cgroups (busy until its killed processes
have exited, usually within a millisecond or two): from 0.5 ms, doubling to 5 ms. A
fixed 5 ms pause added ~3 ms to closing a sandbox."""

_THIS_THREAD = "0"
"""What a v1 ``tasks`` file is given to move the writing thread. Not its tid: the kernel
takes the global threadgroup lock (an RCU grace period, measured 14-15 ms per sandbox
on this host's memory cgroup) for any pid but "0", which moves only the caller."""


@dataclass
class CgroupSet:
    """The per-sandbox cgroups (v1: one per controller; v2: one) and how to enter them."""

    dirs: list[str]
    version: int

    def attach_self_thread(self) -> list[str]:
        """v1: move the calling thread in; its forks are born inside. Returns old dirs."""
        layout = cgroup_layout()
        old = (
            [os.path.dirname(d) for d in self.dirs] if layout is None else list(layout[1].values())
        )
        for d in self.dirs:
            with open(os.path.join(d, "tasks"), "w") as f:
                f.write(_THIS_THREAD)
        return old

    @staticmethod
    def detach_self_thread(old: list[str]) -> None:
        """v1: move the calling thread back to where it was."""
        for d in old:
            with contextlib.suppress(OSError), open(os.path.join(d, "tasks"), "w") as f:
                f.write(_THIS_THREAD)

    def pids(self) -> set[int]:
        """Every process inside (never this host process, whose spawner thread visits)."""
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError), open(os.path.join(d, "cgroup.procs")) as f:
                found.update(int(line) for line in f if line.strip())
        found.discard(os.getpid())
        return found

    def limit_events(self) -> dict[str, int]:
        """How often each limit was hit so far.

        ``oom_kill``: processes the kernel's OOM killer ended at the memory limit;
        ``pids_max``: forks refused at the pids limit. A counter this kernel does not
        keep is left out.
        """
        counters: dict[str, int] = {}
        # v2 keeps memory.events; v1 keeps the same counter in memory.oom_control.
        for d in self.dirs:
            for name, key, label in (
                ("memory.events", "oom_kill", "oom_kill"),
                ("memory.oom_control", "oom_kill", "oom_kill"),
                ("pids.events", "max", "pids_max"),
            ):
                with contextlib.suppress(OSError, ValueError), open(os.path.join(d, name)) as f:
                    for line in f:
                        field, _, value = line.partition(" ")
                        if field == key:
                            counters[label] = counters.get(label, 0) + int(value)
        return counters

    def destroy(self, timeout_s: float = 5.0) -> bool:
        """Kill what is inside and remove the cgroups; True when all are gone."""
        deadline = time.monotonic() + timeout_s
        remaining = list(self.dirs)
        pause = _CGROUP_FIRST_PAUSE_S
        while remaining and time.monotonic() < deadline:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, 9)
            for d in list(remaining):
                try:
                    os.rmdir(d)
                    remaining.remove(d)
                except FileNotFoundError:
                    remaining.remove(d)
                except OSError:
                    pass
            if remaining:
                time.sleep(pause)
                pause = min(pause * 2, _CGROUP_MAX_PAUSE_S)
        return not remaining


@functools.lru_cache(maxsize=1)
def cgroup_layout() -> tuple[int, dict[str, str]] | None:
    """Where per-sandbox cgroups can be created: (version, controller -> parent dir).

    Returns ``None`` when the cgroup tree is not writable (then only rlimits apply).
    """
    if os.geteuid() != 0:
        return None
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    v1 = {c: f"/sys/fs/cgroup/{c}{own.get(c, '/')}".rstrip("/") for c in ("memory", "pids")}
    if all(os.path.isfile(os.path.join(d, "cgroup.procs")) for d in v1.values()) and all(
        os.access(d, os.W_OK) for d in v1.values()
    ):
        cpu = f"/sys/fs/cgroup/cpu{own.get('cpu', '/')}".rstrip("/")  # often cpu,cpuacct
        if os.path.isfile(os.path.join(cpu, "cpu.cfs_quota_us")) and os.access(cpu, os.W_OK):
            v1["cpu"] = cpu
        return 1, v1
    root = "/sys/fs/cgroup"
    with contextlib.suppress(OSError), open(os.path.join(root, "cgroup.controllers")) as f:
        available = f.read().split()
        parent = (root + own.get("", "/")).rstrip("/") or root
        writable = {"memory", "pids"} <= set(available) and os.access(parent, os.W_OK)
        if writable and _v2_delegates(parent, ("memory", "pids")):
            return 2, {"unified": parent}
    return None


def cpu_quota_available() -> bool:
    """Whether per-sandbox cgroups get a CPU quota here (v1 cpu controller, v2 ``cpu``)."""
    layout = cgroup_layout()
    if layout is None:
        return False
    if layout[0] == 1:
        return "cpu" in layout[1]
    return _v2_delegates(layout[1]["unified"], ("cpu",))


def _v2_delegates(parent: str, controllers: tuple[str, ...]) -> bool:
    """Whether children of ``parent`` (cgroup v2) get these controllers; enables them.

    v2 forbids a cgroup that holds processes (other than the root) from handing
    controllers to children, so inside a container whose processes sit in its top cgroup
    this fails: the sandboxes then fall back to rlimits, and ``describe()`` says so.
    """
    control = os.path.join(parent, "cgroup.subtree_control")
    try:
        with open(control) as f:
            enabled = set(f.read().split())
        missing = [c for c in controllers if c not in enabled]
        if missing:
            with open(control, "w") as f:
                f.write(" ".join(f"+{c}" for c in missing))
            with open(control) as f:
                enabled = set(f.read().split())
    except OSError:
        return False
    return all(c in enabled for c in controllers)


SANDBOX_OOM_SCORE_ADJ = 1000
"""oom_score_adj of every sandbox process: the most killable there is. A memory
shortage above the sandboxes (a container limit, the whole machine) then kills
sandboxed code before the host process, whatever their sizes: tmpfs files a sandbox
wrote count against memory but belong to no process, so by size alone the host,
usually the largest process, would be picked. Code may lower its own value back to 0
(Linux allows that unless the host holds CAP_SYS_RESOURCE, which makes the value it
writes a floor), hence :data:`HOST_OOM_SCORE_ADJ`."""

HOST_OOM_SCORE_ADJ = -500
"""oom_score_adj the host process lowers itself to in root mode with CAP_SYS_RESOURCE
(some containers drop it; never raised if it is already lower). Even a sandbox process
that reset its own value to 0 then scores half the memory limit below the host's, so
the host is the OOM killer's last choice, not an impossible one (-1000 would hang a
memory cgroup with nothing else to kill).
Children the host starts later inherit it."""


def set_oom_score_adj(pids: Iterable[int | str], value: int = SANDBOX_OOM_SCORE_ADJ) -> int:
    """Write ``value`` to each pid's oom_score_adj; returns how many took it."""
    done = 0
    for pid in pids:
        try:
            fd = os.open(f"/proc/{pid}/oom_score_adj", os.O_WRONLY)
        except OSError:
            continue
        try:
            os.write(fd, str(value).encode())  # unbuffered: EACCES shows here
            done += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return done


def protect_host_from_oom() -> int | None:
    """Root only: lower this process's oom_score_adj to :data:`HOST_OOM_SCORE_ADJ`.

    Returns:
        The value now in force, or ``None`` when it could not be read or set.
    """
    try:
        with open("/proc/self/oom_score_adj") as f:
            current = int(f.read())
    except (OSError, ValueError):
        return None
    if current <= HOST_OOM_SCORE_ADJ or os.geteuid() != 0:
        return current
    done = set_oom_score_adj(["self"], HOST_OOM_SCORE_ADJ)
    return HOST_OOM_SCORE_ADJ if done else current


def memory_available() -> tuple[int, str]:
    """Memory this process and its sandboxes can still use, and where the bound comes from.

    The smaller of the machine's ``MemAvailable`` and, for each memory cgroup from this
    process's own up to the root, its limit minus its usage (v1 and v2): a container's
    limit binds long before the machine's memory does.
    """
    best, source = _meminfo_available(), "MemAvailable in /proc/meminfo"
    for folder, limit_file, usage_file in _memory_cgroup_chain():
        try:
            with open(os.path.join(folder, limit_file)) as f:
                raw = f.read().strip()
            with open(os.path.join(folder, usage_file)) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if raw == "max" or int(raw) >= 1 << 60:
            continue
        room = max(0, int(raw) - usage)
        if room < best:
            best, source = room, f"the memory limit of cgroup {folder}"
    return best, source


def _meminfo_available() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def _memory_cgroup_chain() -> list[tuple[str, str, str]]:
    """(folder, limit file, usage file) of this process's memory cgroup and its ancestors."""
    chain: list[tuple[str, str, str]] = []
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                root, files = (
                    "/sys/fs/cgroup/memory",
                    ("memory.limit_in_bytes", "memory.usage_in_bytes"),
                )
            elif controllers == "" and os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
                root, files = "/sys/fs/cgroup", ("memory.max", "memory.current")
            else:
                continue
            parts = [p for p in path.split("/") if p]
            for i in range(len(parts), -1, -1):
                chain.append((os.path.join(root, *parts[:i]), *files))
    return chain


_CPU_PERIOD_US = 100_000
"""The CFS period for the CPU quota: 100 ms, the kernel's default."""


def create_cgroups(name: str, limits: LocalLimits) -> CgroupSet | None:
    """Create the sandbox's cgroups (memory, pids, CPU quota), or ``None`` if unavailable."""
    layout = cgroup_layout()
    if layout is None:
        return None
    version, parents = layout
    made: list[str] = []
    try:
        if version == 1:
            mem = os.path.join(parents["memory"], name)
            os.mkdir(mem)
            made.append(mem)
            _write(mem, "memory.limit_in_bytes", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(mem, "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            pids = os.path.join(parents["pids"], name)
            os.mkdir(pids)
            made.append(pids)
            _write(pids, "pids.max", str(limits.pids))
            if limits.cpu_cores and "cpu" in parents:
                cpu = os.path.join(parents["cpu"], name)
                os.mkdir(cpu)
                made.append(cpu)
                _write(cpu, "cpu.cfs_period_us", str(_CPU_PERIOD_US))
                _write(cpu, "cpu.cfs_quota_us", str(int(limits.cpu_cores * _CPU_PERIOD_US)))
        else:
            d = os.path.join(parents["unified"], name)
            os.mkdir(d)
            made.append(d)
            _write(d, "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(d, "memory.swap.max", "0")
            _write(d, "pids.max", str(limits.pids))
            if limits.cpu_cores:
                with contextlib.suppress(OSError):  # the cpu controller may be off here
                    quota = int(limits.cpu_cores * _CPU_PERIOD_US)
                    _write(d, "cpu.max", f"{quota} {_CPU_PERIOD_US}")
    except OSError:
        CgroupSet(made, version).destroy(1.0)
        return None
    return CgroupSet(made, version)


def _write(folder: str, name: str, value: str) -> None:
    with open(os.path.join(folder, name), "w") as f:
        f.write(value)


# -- host workspace (root mode) --------------------------------------------------------

_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def mount_workspace(target: str, size: int, uid: int, gid: int) -> None:
    """Mount a size-capped tmpfs owned by the sandbox user at ``target`` (root only)."""
    opts = f"size={size},mode=0700,uid={uid},gid={gid}".encode()
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
    table constant; the sandbox is started inside it (``nsenter``, :func:`enter_argv`).
    Its files outlive interpreter restarts until the fd is closed.

    Returns:
        The fd, or ``None`` when namespaces cannot be made here (the caller then mounts
        on the host as before).
    """
    if shutil.which("nsenter") is None:
        return None
    libc = _libc()
    opts = f"size={size},mode=0700,uid={uid},gid={gid}".encode()
    path = target.encode()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about fork in threaded processes: the
        warnings.simplefilter("ignore", DeprecationWarning)  # child only makes syscalls
        pid = os.fork()
    if pid == 0:  # the child: syscalls only, then exit without running any Python cleanup
        ok = b"0"
        try:
            if (
                libc.unshare(_CLONE_NEWNS) == 0
                and libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
                and libc.mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) == 0
            ):
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


def enter_argv(namespace_fd: int, argv: list[str]) -> list[str]:
    """``argv`` run inside the mount namespace held by ``namespace_fd`` (in this process)."""
    nsenter = shutil.which("nsenter") or "nsenter"
    return [nsenter, f"--mount=/proc/{os.getpid()}/fd/{namespace_fd}", "--", *argv]


def unmount(target: str) -> None:
    """Lazily unmount ``target``; ignore 'not mounted'."""
    _libc().umount2(target.encode(), _MNT_DETACH)


def is_mountpoint(path: str) -> bool:
    """True when ``path`` is a mount point."""
    with contextlib.suppress(OSError):
        return os.path.ismount(path)
    return False
