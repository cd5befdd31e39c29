"""``LocalBackend``: isolated, stateful sandboxes on this machine (bubblewrap).

It detects the isolation mode, builds the environment's package layer once, and creates
:class:`LocalSandbox` objects (``_sandbox.py``). The module layout of this folder:

* ``_sandbox.py``: one sandbox's lifecycle, its request/reply calls and operations;
* ``_launch.py``: the kernel process's bwrap command line, configuration, environment;
* ``_channel.py``: reading the kernel's replies; ``protocol.py``: the framing;
* ``_spawner.py``: the one thread that forks every sandbox process;
* ``_hostdirs.py``: the host's sandbox folders and the sweep of dead hosts' leftovers;
* ``_prepare.py``: files made once per host (kernel bytecode, matplotlib's font cache);
* ``_isolation.py``: limits, mode detection, the bwrap argv; ``_seccomp.py``: the
  syscall filter; ``_cgroups.py``: cgroups, OOM priorities, memory budget;
  ``_mounts.py``: root mode's workspace tmpfs;
* ``_egress.py``: allow-list proxy; ``_layers.py``: package layers; ``_replies.py``:
  replies into result types.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local._hostdirs import (
    default_base_dir,
    ensure_private_dir,
    install_hygiene,
    protect_host,
)
from langchain_daytona_exec.backends.local._isolation import SandboxPaths
from langchain_daytona_exec.backends.local._limits import LocalLimits
from langchain_daytona_exec.backends.local._prepare import mpl_cache_dir
from langchain_daytona_exec.backends.local._sandbox import LocalSandbox
from langchain_daytona_exec.errors import IsolationUnavailableError
from langchain_daytona_exec.netpolicy import NetworkPolicy, NetworkSetting
from langchain_daytona_exec.sandbox import Sandbox, run_blocking

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:  # the proxy pulls in asyncio: imported when an allow-list needs it
    from typing import Literal

    from langchain_daytona_exec.backends.local._detect import Mode
    from langchain_daytona_exec.backends.local._egress import EgressLimits
    from langchain_daytona_exec.environment import Environment  # (and json) when given

    Launcher = Literal["auto", "forkserver", "bwrap"]


__all__ = ["LocalBackend", "LocalSandbox"]

LAUNCHERS: tuple[Launcher, ...] = ("auto", "forkserver", "bwrap")
"""How root mode starts a sandbox: ``"forkserver"`` forks it from a pre-initialised
zygote (``_zygote.py``: the same namespaces, mounts, capabilities, seccomp filter and
uid as bwrap's, measured faster), ``"bwrap"`` execs bubblewrap, ``"auto"`` uses the
fork-server in root mode and falls back to bwrap for good in this process if it fails.
Outside root mode every sandbox uses bwrap."""

# -- the backend -------------------------------------------------------------------------


class LocalBackend:
    r"""Creates isolated sandboxes on this machine with bubblewrap.

    Args:
        network: ``False`` (the default): no socket other than AF_UNIX can even be
            created. ``True``: the host's network. A list of host patterns
            (``["pypi.org", "*.pythonhosted.org:443", "10.0.0.5:8080"]``) or the preset
            ``"packages"`` (the configured package index): only those hosts, through a
            filtering proxy on the host; everything else stays unreachable. See
            :mod:`langchain_daytona_exec.netpolicy`.
        environment: Packages, variables, files and setup code for every sandbox
            (:class:`~langchain_daytona_exec.Environment`). Packages are built once into
            a cached read-only layer (on the first ``create()``), shared by every
            sandbox and process using the same spec.
        build_log: Called with each line of the environment build's progress.
        layers_dir: Where package layers are cached (default
            ``~/.cache/langchain-daytona-exec/envs``).
        network_limits: Per-sandbox bounds of an allow-list's proxy (requests, bytes,
            connections at once); see :class:`EgressLimits`.
        limits: Resource limits; the defaults are safe for untrusted code.
        env: Extra environment variables for sandboxed code (nothing else from the
            host reaches it).
        extra_ro_paths: Extra host folders to expose read-only (same path inside).
        unsafe_no_isolation: Run code WITHOUT a sandbox when bubblewrap is unusable.
            Only for machines you do not mind losing: the code can read your files.
        base_dir: Where per-sandbox folders live on the host (default: the user's own
            folder, see :func:`default_base_dir`). It must be a folder owned by the
            calling user, never a symlink.
        workdir: The working folder inside the sandbox (default ``/workspace``, which
            stays a symlink to it otherwise). Ignored when unsafe.
        binds: ``{host folder: sandbox folder}`` bound read-write into every sandbox
            (folders shared between sandboxes). Ignored when unsafe.
        launcher: Root mode only: ``"auto"`` (the fork-server, falling back to bwrap),
            ``"forkserver"`` or ``"bwrap"``; see :data:`LAUNCHERS`.

    Example:
        >>> with LocalBackend().create() as sb:
        ...     sb.run_code("x = 41\\nx + 1").result
        '42'
    """

    name = "local"

    def __init__(
        self,
        *,
        network: NetworkSetting = False,
        limits: LocalLimits | None = None,
        env: Mapping[str, str] | None = None,
        extra_ro_paths: tuple[str, ...] = (),
        unsafe_no_isolation: bool = False,
        base_dir: str | None = None,
        workdir: str = isolation.SANDBOX_WORKDIR,
        binds: Mapping[str, str] | None = None,
        environment: Environment | None = None,
        build_log: Callable[[str], None] | None = None,
        layers_dir: str | None = None,
        network_limits: EgressLimits | None = None,
        launcher: Launcher = "auto",
    ) -> None:
        self.policy = NetworkPolicy.parse(network)
        self.network = network
        self.workdir = workdir
        self.binds = dict(binds or {})
        if environment is not None:
            from langchain_daytona_exec.environment import Environment

            if not isinstance(environment, Environment):
                raise TypeError("environment must be an Environment(...)")
        self.environment = environment
        self.build_log = build_log
        self.layers_dir = layers_dir
        self.network_limits = network_limits
        """``None``: the :class:`EgressLimits` defaults, applied when a proxy opens."""
        self._layer: str | None = None
        self._layer_ready = False
        self._layer_lock = threading.Lock()
        self.limits = limits or LocalLimits()
        self.env = dict(env or {})
        self.extra_ro_paths = tuple(extra_ro_paths)
        self.unsafe_no_isolation = unsafe_no_isolation
        self.base_dir = os.path.abspath(base_dir) if base_dir else default_base_dir()
        if launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, not {launcher!r}")
        self.launcher: Launcher = launcher
        if launcher != "bwrap" and os.geteuid() == 0 and not unsafe_no_isolation:
            from langchain_daytona_exec.backends.local import _forkserver

            _forkserver.prestart(self.limits.start_timeout_s)  # the first create rarely waits
        # Here, on the caller's thread: the first create() may run on a pool's thread,
        # where no signal handler can be installed.
        _lifecycle.install_sigterm_handler()

    @functools.cached_property
    def mode(self) -> Mode:
        """``"root"``, ``"userns"`` or ``"unsafe"``; detected on first use."""
        try:
            return detect.detect_mode()
        except IsolationUnavailableError:
            if self.unsafe_no_isolation:
                return "unsafe"
            raise

    def launcher_for(self, mode: Mode) -> Launcher:
        """The launcher a new sandbox uses: ``"forkserver"`` or ``"bwrap"``.

        Raises:
            IsolationUnavailableError: ``launcher="forkserver"`` outside root mode.
        """
        if mode != "root":
            if self.launcher == "forkserver":
                raise IsolationUnavailableError(
                    f"launcher='forkserver' needs root (this is {mode} mode): use "
                    "launcher='auto' or 'bwrap'"
                )
            return "bwrap"
        if self.launcher == "auto":
            from langchain_daytona_exec.backends.local._forkserver import disabled

            return "bwrap" if disabled() else "forkserver"
        return self.launcher

    def create(self, *, labels: Mapping[str, str] | None = None) -> LocalSandbox:
        """Create a sandbox and wait until its interpreter is ready.

        Args:
            labels: Labels to keep on the sandbox object.

        Raises:
            IsolationUnavailableError: No isolation works here (message names the fix).
            SandboxTimeoutError: The sandbox was not ready within ``start_timeout_s``.
        """
        return self._create(labels=labels)

    def _create(
        self,
        *,
        labels: Mapping[str, str] | None = None,
        while_booting: Callable[[], None] | None = None,
    ) -> LocalSandbox:
        """:meth:`create`; ``while_booting`` runs on this thread while the kernel boots.

        The ``daytona-exec`` command parses its arguments and imports what it needs
        next in that time, which it would otherwise spend waiting for the ready frame.
        Whatever ``while_booting`` raises closes the sandbox and propagates.
        """
        mode = self.mode
        if mode == "unsafe" and self.policy.filtered:
            raise IsolationUnavailableError(
                "a network allow-list needs the sandbox's own network namespace, which "
                "unsafe_no_isolation does not have: install bubblewrap, or pass network=True"
            )
        layer = self.layer()
        ensure_private_dir(self.base_dir)
        install_hygiene(self.base_dir)
        if mode == "root":
            protect_host()
        paths = isolation.host_python_paths()
        paths = SandboxPaths(
            python=paths.python,
            prefixes=paths.prefixes,
            site_packages=paths.site_packages,
            mpl_cache=mpl_cache_dir(),
            extra_ro=self.extra_ro_paths + ((layer,) if layer and mode == "unsafe" else ()),
        )
        sb = LocalSandbox(self, mode, paths, dict(labels or {}), layer)
        try:
            sb._start(while_booting)
        except BaseException:
            sb.close()
            raise
        return sb

    def layer(self) -> str | None:
        """Build (once) and return the host folder of the environment's package layer.

        Returns:
            The layer folder, or ``None`` without an environment or packages.

        Raises:
            EnvironmentBuildError: pip failed; the message ends with pip's.
        """
        if self.environment is None:
            return None
        from langchain_daytona_exec.backends.local import _layers as layers

        with self._layer_lock:
            if not self._layer_ready:
                self._layer = layers.build_layer(
                    self.environment, layers_dir=self.layers_dir, log=self.build_log
                )
                self._layer_ready = True
            return self._layer

    def describe_network(self) -> str:
        """What sandboxed code can reach, in one line (for messages and tool text)."""
        return self.policy.describe()

    @property
    def can_install_packages(self) -> bool:
        """Whether ``pip install`` inside a sandbox reaches the configured package index."""
        if self.policy.mode != "allow":
            return self.policy.mode == "open"
        from langchain_daytona_exec.netpolicy import package_index_patterns

        index = package_index_patterns()[:1]
        return bool(index) and self.policy.allows(index[0].host, index[0].port or 443)

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> LocalSandbox:
        """Async twin of :meth:`create`."""
        return await run_blocking(self.create, labels=labels)

    def find(self, labels: Mapping[str, str]) -> Sandbox | None:
        """Local sandboxes never outlive their process: always ``None``."""
        return None

    def describe(self) -> dict[str, str]:
        """Which limits hold for this backend's sandboxes here, and what enforces them.

        They differ between modes: a memory cgroup, a CPU quota and files that survive a
        crash need root (and a writable cgroup tree); without root, rlimits stand in.
        Detects the mode (it may raise ``IsolationUnavailableError``) but starts nothing.

        Returns:
            ``{"mode", "memory", "processes", "cpu", "disk", "files_after_crash",
            "network", "oom"}``, each a sentence. ``LocalBackend().describe()``.
        """
        mode, lim = self.mode, self.limits
        mib = 1024 * 1024
        layout = cgroups.cgroup_layout() if mode == "root" else None
        cg = f"cgroup v{layout[0]}" if layout else None
        info = {
            "mode": {
                "root": "root: bubblewrap's namespaces and mounts"
                + (
                    ", set up by a fork-server"
                    if mode == "root" and self.launcher_for(mode) == "forkserver"
                    else " (bwrap)"
                )
                + ", seccomp, code runs as a per-sandbox uid",
                "userns": "userns (not root): bubblewrap in a user namespace, seccomp, code "
                "runs as your own uid",
                "unsafe": "unsafe: NO isolation (unsafe_no_isolation=True)",
            }[mode],
        }
        if cg:
            info["memory"] = (
                f"{cg} memory limit of {lim.memory_bytes // mib} MiB for the whole sandbox, "
                "its files included"
            )
            info["processes"] = f"{cg} pids limit of {lim.pids}, and RLIMIT_NPROC {lim.nproc}"
        else:
            info["memory"] = (
                f"RLIMIT_DATA of {lim.memory_bytes // mib} MiB per process (no writable "
                "cgroup here): several processes together can use more"
            )
            where = (
                "for the sandbox's own uid"
                if mode != "userns"
                else "counted in the sandbox's user namespace (Linux 5.14+; older kernels "
                "count every process of your uid)"
            )
            info["processes"] = f"RLIMIT_NPROC {lim.nproc}, {where}"
        cpu = bool(layout and lim.cpu_cores and cgroups.cpu_quota_available())
        info["cpu"] = (
            f"{cg} CPU quota of {lim.cpu_cores:g} core(s)"
            if cpu
            else "no CPU quota: per-call timeouts only; processes left running in the "
            "background compete with the host"
        )
        info["disk"] = (
            "none: the code writes to a host folder"
            if mode == "unsafe"
            else f"size-capped tmpfs: workspace {lim.workspace_bytes // mib} MiB, /tmp and "
            f"/dev/shm {lim.tmp_bytes // mib} MiB each (held in memory)"
        )
        info["files_after_crash"] = (
            "lost: the workspace lives inside the sandbox, which ends with its interpreter"
            if mode == "userns"
            else "kept: the workspace is on the host and outlives the interpreter"
        )
        info["network"] = self.describe_network()
        info["oom"] = (
            f"sandbox processes at oom_score_adj {cgroups.SANDBOX_OOM_SCORE_ADJ}: the OOM "
            "killer takes them before the host"
        )
        return info

    def check_memory_budget(self, count: int) -> str | None:
        """Warn when ``count`` sandboxes at their memory limit cannot fit in this machine.

        A pool calls it with its ``max_size``. Each sandbox may use up to
        ``limits.memory_bytes`` (its files included); when all of them together exceed
        the memory still available here (:func:`cgroups.memory_available`: the
        machine's, or a container's cgroup limit), a busy pool would run the machine out
        of memory. The OOM killer then picks sandboxed code first
        (:data:`cgroups.SANDBOX_OOM_SCORE_ADJ`), but every sandbox is at risk.

        Returns:
            The warning's text (also logged at WARNING on ``langchain_daytona_exec``: a
            log line, not a Python warning, because free memory moves with the load of
            the machine), or ``None`` when the budget fits.
        """
        need = count * self.limits.memory_bytes
        available, source = cgroups.memory_available()
        if need <= available:
            return None
        mib = 1024 * 1024
        fits = max(available // self.limits.memory_bytes, 0)
        message = (
            f"{count} sandboxes x {self.limits.memory_bytes // mib} MiB "
            f"(LocalLimits.memory_bytes) = {need // mib} MiB is more than the "
            f"{available // mib} MiB available ({source}): when they all fill their memory, "
            f"sandboxes get OOM-killed. Use max_size={fits} or less, or lower memory_bytes."
        )
        import logging  # on use: a warning is rare, the import is ~3 ms

        logging.getLogger("langchain_daytona_exec").warning("sandbox memory budget: %s", message)
        return message
