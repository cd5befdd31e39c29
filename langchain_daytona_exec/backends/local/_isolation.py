"""What a local sandbox sees, and the bwrap command line that builds it.

The sandbox's layout (the kernel's files, its paths), the host paths it needs
read-only (:class:`SandboxPaths`), its environment, passwd and group, and its mounts:
:func:`mount_plan` lists them as ordered steps, rendered as bwrap options by a pure
function (:func:`bwrap_argv`, unit tested) and executed as they are by the fork-server
(``_zygote_root.py``). Around it: ``_limits.py`` (every limit, with its reason),
``_detect.py`` (which mode works here), ``_seccomp.py`` (the syscall filter),
``_cgroups.py`` (cgroups, OOM priorities, the memory budget) and ``_mounts.py`` (root
mode's workspace tmpfs).

In ``root`` mode bwrap unshares ipc/pid/net/uts/cgroup, drops every capability but
CAP_SETUID/CAP_SETGID, and the kernel switches to a per-sandbox unprivileged uid before
any user code runs; the workspace is a size-capped tmpfs mounted on the host, so it
survives a restart of the interpreter. In ``userns`` mode bwrap adds ``--unshare-user
--disable-userns``; the workspace is a size-capped tmpfs inside the sandbox (a hard
restart empties it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from langchain_daytona_exec._record import FrozenRecord
from langchain_daytona_exec.backends import cellrunner

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Any, Literal

    from langchain_daytona_exec.backends.local._limits import LocalLimits

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

KERNEL_DIR_BYTES = 4 * 1024 * 1024
"""Size cap of the kernel's folder (a tmpfs holding its ~0.3 MB of sources and
bytecode; read-only once filled)."""
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


class SandboxPaths(FrozenRecord):
    """Host paths a sandbox needs read-only: the Python runtime and its packages."""

    __slots__ = ("python", "prefixes", "site_packages", "mpl_cache", "extra_ro")  # noqa: RUF023
    python: str
    prefixes: tuple[str, ...]
    site_packages: tuple[str, ...]
    mpl_cache: str | None
    extra_ro: tuple[str, ...]

    def __init__(
        self,
        python: str,
        prefixes: tuple[str, ...],
        site_packages: tuple[str, ...],
        mpl_cache: str | None = None,
        extra_ro: tuple[str, ...] = (),
    ) -> None:
        self._assign(python, prefixes, site_packages, mpl_cache, extra_ro)


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


if TYPE_CHECKING:
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
    * ``("ro-bind-data", fd, dest, perms)``: a read-only file holding what fd holds (a bind
      mount of its own);
    * ``("file", fd, dest, perms)``: a file holding what fd holds, written into the folder
      (no mount); ``("remount-ro", dest)``: the mount at ``dest`` made read-only.

    ``bwrap_argv`` renders the plan to bubblewrap's options; the fork-server's sandbox
    set-up (``_zygote_root.build_root``) executes the same list, so the two launchers
    cannot diverge."""


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
    # The kernel's folder is a tmpfs of its own: its files are copied in (one mount for
    # all of them, not one bind each), then it is made read-only.
    plan.append(("tmpfs", SANDBOX_KERNEL_DIR, 0o755, KERNEL_DIR_BYTES))
    made.add(SANDBOX_KERNEL_DIR)
    for folder in ("/__pycache__", "/cellrunner", "/cellrunner/__pycache__"):
        plan.append(("dir", f"{SANDBOX_KERNEL_DIR}{folder}", 0o755))
        made.add(f"{SANDBOX_KERNEL_DIR}{folder}")
    plan.append(("symlink", paths.python, SANDBOX_PYTHON))
    data = dict(data_files or {})
    for host, name in KERNEL_FILES:  # only the kernel's own files, not the host-side engine
        inside = f"{SANDBOX_KERNEL_DIR}/{name}"
        if inside in data:
            plan.append(("file", data.pop(inside), inside, 0o444))
        else:
            plan.append(("ro-bind-try", host, inside))
    plan.append(("remount-ro", SANDBOX_KERNEL_DIR))
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
    # No sandbox process may write /proc: its oom_score_adj above all, which Linux lets
    # a process lower unless CAP_SYS_RESOURCE set a floor (see SANDBOX_OOM_SCORE_ADJ).
    # The mounts on /proc above keep their own flags (the remount is not recursive).
    plan.append(("remount-ro", "/proc"))
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
        elif kind == "file":
            argv += ["--perms", f"{op[3]:04o}", "--file", str(op[1]), op[2]]
        elif kind == "remount-ro":
            argv += ["--remount-ro", op[1]]
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
