"""How a local sandbox is isolated: its limits, the mode detection and the bwrap argv.

Every limit and default is named once, in :class:`LocalLimits`, with its reason.
The bwrap argv is built by a pure function (:func:`bwrap_argv`) so it can be unit
tested; the side effects live beside it: ``_seccomp.py`` (the syscall filter),
``_cgroups.py`` (cgroups, OOM priorities, the memory budget) and ``_mounts.py`` (root
mode's workspace tmpfs).

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
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_daytona_exec.backends import cellrunner
from langchain_daytona_exec.errors import IsolationUnavailableError
from langchain_daytona_exec.sandbox import check_seconds

Mode = Literal["root", "userns", "unsafe"]

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))
"""Folder holding ``kernel.py`` and the other KERNEL_MODULES, copied into the sandbox."""

RUNNER_DIR = os.path.join(os.path.dirname(KERNEL_DIR), "cellrunner")
"""The cell runner package (shared with the Daytona backend), mounted next to the kernel."""

SANDBOX_KERNEL_DIR = "/opt/ldx-kernel"
KERNEL_MODULES = ("kernel", "capture", "fileops", "protocol", "forwarder")
"""The stdlib-only modules of this folder that run inside the sandbox: the kernel, its
output capture, its file requests, its framing, and the egress forwarder of network
allow-lists (``kernel.MODULES`` names the same)."""
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
SANDBOX_HOSTNAME = "sandbox"
"""The host name sandboxed code sees (its own UTS namespace)."""
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


MountOp = tuple[Any, ...]
"""One step of a sandbox's root file system, in order (see :func:`mount_plan`):

* ``("proc", dest)``: a new procfs (of the sandbox's pid namespace);
* ``("dev", dest)``: a minimal /dev (null, zero, full, random, urandom, tty, a new pts);
* ``("tmpfs", dest, perms, size)``: a size-capped tmpfs;
* ``("dir", dest, perms)``: a folder;
* ``("symlink", target, dest)``;
* ``("ro-bind", src, dest)``, ``("ro-bind-try", src, dest)`` (skipped when ``src`` is
  missing), ``("bind", src, dest)`` (read-write): binds of host paths, always nosuid and
  nodev;
* ``("ro-bind-data", fd, dest, perms)``: a read-only file holding what fd holds.

``bwrap_argv`` renders the plan to bubblewrap's options; the fork-server's pid 1
(``_zygote.py``) executes the same list, so the two launchers cannot diverge."""


def mount_plan(
    *,
    paths: SandboxPaths,
    limits: LocalLimits,
    network: bool,
    host_workspace: str | None,
    passwd_fd: int,
    group_fd: int,
    workdir: str = SANDBOX_WORKDIR,
    binds: Iterable[tuple[str, str]] = (),
    egress_socket: str | None = None,
    layer: str | None = None,
    data_files: Mapping[str, int] | None = None,
) -> list[MountOp]:
    """The sandbox's root file system as an ordered list of :data:`MountOp` (pure).

    The arguments are those of :func:`bwrap_argv`.
    """
    plan: list[MountOp] = []
    # Mounts are applied in order: the tmpfs mounts come before any bind, so a runtime
    # or virtualenv living under the host's /tmp is not hidden by the sandbox's /tmp.
    plan += [("proc", "/proc"), ("dev", "/dev")]
    plan.append(("tmpfs", "/tmp", 0o1777, limits.tmp_bytes))
    plan.append(("tmpfs", "/dev/shm", 0o1777, limits.tmp_bytes))
    plan.append(("ro-bind", "/usr", "/usr"))
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{top}"
        if os.path.islink(host):
            plan.append(("symlink", os.readlink(host), host))
        elif os.path.isdir(host):
            plan.append(("ro-bind", host, host))
    etc = _ETC_FILES + (_NETWORK_ETC_FILES if network else ())
    plan.append(("dir", "/etc", 0o755))
    plan += [("ro-bind-try", item, item) for item in etc]
    plan.append(("ro-bind-data", passwd_fd, "/etc/passwd", 0o644))
    plan.append(("ro-bind-data", group_fd, "/etc/group", 0o644))
    made: set[str] = set()
    for ro in (*paths.prefixes, *paths.site_packages, *paths.extra_ro):
        plan += _traversable_parents(ro, made)
        plan.append(("ro-bind", ro, ro))
    plan += _traversable_parents(SANDBOX_KERNEL_DIR, made)
    for folder in ("", "/__pycache__", "/cellrunner", "/cellrunner/__pycache__"):
        plan.append(("dir", f"{SANDBOX_KERNEL_DIR}{folder}", 0o755))
        made.add(f"{SANDBOX_KERNEL_DIR}{folder}")
    plan.append(("symlink", paths.python, SANDBOX_PYTHON))
    data = dict(data_files or {})
    for host, name in KERNEL_FILES:  # only the kernel's own files, not the host-side engine
        inside = f"{SANDBOX_KERNEL_DIR}/{name}"
        if inside not in data:
            plan.append(("ro-bind-try", host, inside))
    if paths.mpl_cache:
        plan.append(("ro-bind-try", paths.mpl_cache, SANDBOX_MPL_CACHE))
    if layer is not None:
        plan += _traversable_parents(SANDBOX_LAYER_DIR, made)
        plan.append(("ro-bind", layer, SANDBOX_LAYER_DIR))
    if egress_socket is not None:
        plan.append(("dir", os.path.dirname(SANDBOX_PROXY_SOCKET), 0o755))
        plan.append(("bind", egress_socket, SANDBOX_PROXY_SOCKET))
    for inside, fd in sorted(data.items()):
        if not inside.startswith("/proc/"):
            plan += _traversable_parents(inside, made)
        plan.append(("ro-bind-data", fd, inside, 0o444))
    plan += _traversable_parents(workdir, made)
    if host_workspace is not None:
        plan.append(("bind", host_workspace, workdir))
    else:
        plan.append(("tmpfs", workdir, 0o777, limits.workspace_bytes))
    if workdir != SANDBOX_WORKDIR:
        plan.append(("symlink", workdir, SANDBOX_WORKDIR))
    for host, inside in binds:
        plan += _traversable_parents(inside, made)
        plan.append(("bind", host, inside))
    return plan


def render_plan(plan: Iterable[MountOp]) -> list[str]:
    """The bubblewrap options of a :func:`mount_plan`."""
    argv: list[str] = []
    for op in plan:
        kind = op[0]
        if kind in ("proc", "dev"):
            argv += [f"--{kind}", op[1]]
        elif kind == "tmpfs":
            argv += ["--perms", f"{op[2]:04o}", "--size", str(op[3]), "--tmpfs", op[1]]
        elif kind == "dir":
            argv += ["--perms", f"{op[2]:04o}", "--dir", op[1]]
        elif kind == "symlink":
            argv += ["--symlink", op[1], op[2]]
        elif kind in ("ro-bind", "ro-bind-try", "bind"):
            argv += [f"--{kind}", op[1], op[2]]
        elif kind == "ro-bind-data":
            argv += ["--perms", f"{op[3]:04o}", "--ro-bind-data", str(op[1]), op[2]]
        else:
            raise ValueError(f"unknown mount step {kind!r}")
    return argv


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

    The mounts come from :func:`mount_plan`, shared with the fork-server launcher.

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
    argv += ["--hostname", SANDBOX_HOSTNAME]
    argv += render_plan(
        mount_plan(
            paths=paths,
            limits=limits,
            network=network,
            host_workspace=host_workspace,
            passwd_fd=passwd_fd,
            group_fd=group_fd,
            workdir=workdir,
            binds=binds,
            egress_socket=egress_socket,
            layer=layer,
            data_files=data_files,
        )
    )
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


def _traversable_parents(path: str, made: set[str]) -> list[MountOp]:
    """``dir`` steps making every ancestor of ``path`` traversable (0755).

    bwrap gives the folders it creates for a bind the host's modes, and a runtime under
    ``/root`` (pyenv) would sit behind a 0700 folder the sandbox user cannot enter.
    """
    steps: list[MountOp] = []
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        folder = "/" + "/".join(parts[:i])
        if folder in made or folder in ("/usr", "/etc", "/tmp", "/proc", "/dev", "/dev/shm"):
            continue
        made.add(folder)
        steps.append(("dir", folder, 0o755))
    return steps


def data_fd(data: bytes) -> int:
    """A read fd (memfd) holding ``data``, to hand to bwrap."""
    fd = os.memfd_create("ldx-data", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
