"""``LocalBackend``: isolated, stateful sandboxes on this machine (bubblewrap).

Each :class:`LocalSandbox` is one bubblewrap process tree running the stdlib-only
kernel (``kernel.py``) and talking to the host over two pipes (``protocol.py``).
Isolation details live in ``_isolation.py``.

Processes are always spawned from one long-lived thread (:class:`_Spawner`): bwrap's
``--die-with-parent`` uses PR_SET_PDEATHSIG, which fires when the *thread* that forked
it exits, so a sandbox started from a short-lived thread (a pool filler,
``asyncio.to_thread``) would die with that thread.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import importlib.util
import itertools
import marshal
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_daytona_exec import _lifecycle
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _layers as layers
from langchain_daytona_exec.backends.local import _replies as replies
from langchain_daytona_exec.backends.local import protocol
from langchain_daytona_exec.backends.local._isolation import LocalLimits, Mode, SandboxPaths
from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import (
    EnvironmentBuildError,
    IsolationUnavailableError,
    SandboxClosedError,
    SandboxError,
    SandboxFileTooLargeError,
    SandboxLostError,
    SandboxTimeoutError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.netpolicy import NetworkPolicy, NetworkSetting
from langchain_daytona_exec.sandbox import (
    Sandbox,
    check_command_args,
    check_content,
    check_path,
    check_run_args,
    run_blocking,
)
from langchain_daytona_exec.types import CommandResult, EgressEvent, ExecutionResult, FileInfo

if TYPE_CHECKING:  # the proxy pulls in asyncio: imported when an allow-list needs it
    from langchain_daytona_exec.backends.local._egress import EgressChannel, EgressLimits

__all__ = ["LocalBackend", "LocalSandbox"]


T = TypeVar("T")

BASE_DIR_NAME = "langchain-daytona-exec"
"""The base folder holds one folder per live sandbox, named ``<host pid>-<sandbox id>``
so leftovers of a killed host can be swept. One base folder per user (see
:func:`default_base_dir`): a shared one is created by whoever runs first and is then
unusable, or worse trusted, by everyone else."""

DEATHS_BEFORE_REPLACEMENT = 3
"""After this many interpreter deaths in a row (no reply in between) the sandbox is
unhealthy: ``is_alive()`` turns False so a pool replaces it with a fresh one, and used
directly it revives with an empty workspace. Something that outlives a restart (files
filling the memory, a setup that always crashes) would otherwise kill every new
interpreter, and the model would loop on "re-run your setup code"."""

LANGUAGES = ("python", "javascript", "typescript")

# -- the spawner thread ----------------------------------------------------------------


class _Job:
    """One call handed to the spawner thread, and its outcome.

    (Not ``concurrent.futures.Future``: that module imports ``logging``, ~4 ms of every
    ``daytona-exec`` start, for the one thing done here.)
    """

    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _Spawner:
    """One long-lived daemon thread that forks every sandbox process."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="ldx-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.result = job.fn()
            except BaseException as exc:
                job.error = exc
            finally:
                job.done.set()

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` on the spawner thread; its result, or what it raised.

        Raises:
            TimeoutError: ``fn`` did not finish within ``timeout`` seconds.
        """
        if threading.current_thread() is self._thread:
            return fn()
        job = _Job(fn)
        self._jobs.put(job)
        if not job.done.wait(timeout):
            raise TimeoutError(f"the sandbox was not spawned within {timeout:g} s")
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result


def _randbelow(n: int) -> int:
    """A uniform random int in ``[0, n)`` from the OS's CSPRNG.

    What ``secrets.randbelow`` does, without importing ``secrets`` (it pulls in ``hmac``,
    ``hashlib`` and ``random``: ~4 ms of every ``daytona-exec`` start).
    """
    bits = n.bit_length()
    while True:  # rejection sampling: each try succeeds with probability > 1/2
        x = int.from_bytes(os.urandom((bits + 7) // 8), "big") & ((1 << bits) - 1)
        if x < n:
            return x


@functools.lru_cache(maxsize=1)
def _spawner() -> _Spawner:
    return _Spawner()


_EXIT_STATUS_WAIT_S = 0.5
"""Seconds to wait for the sandbox process's exit status after its channel closed: it
ends right after its interpreter; its status tells a CPU-time kill."""


# -- process-wide hygiene --------------------------------------------------------------

_hygiene_lock = threading.Lock()
_hygiene_done = False


def _install_hygiene(base: str) -> None:
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
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            folder = os.path.join(base, name)
            _remove_sandbox_dir(folder)
            removed += 1
    layout = isolation.cgroup_layout()
    if layout:
        for parent in layout[1].values():
            with contextlib.suppress(OSError):
                for name in os.listdir(parent):
                    owner = name.split("-")[1] if name.startswith("ldx-") else ""
                    if owner.isdigit() and not _pid_alive(int(owner)):
                        isolation.CgroupSet([os.path.join(parent, name)], layout[0]).destroy(1)
                        removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_sandbox_dir(folder: str) -> None:
    work = os.path.join(folder, "work")
    if isolation.is_mountpoint(work):
        isolation.unmount(work)
    shutil.rmtree(folder, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def _mpl_cache_dir() -> str | None:
    """A matplotlib font cache built once per machine, copied into each sandbox.

    Without it every new sandbox rebuilds the font list on its first ``import
    matplotlib.pyplot`` (about a second). Built in the background; until it exists
    sandboxes build their own. The folder is named after the installed matplotlib
    (its path and modification time), found without importing it: the import alone
    costs the host about a second.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    try:
        stamp = os.stat(spec.origin).st_mtime_ns
    except OSError:
        return None
    install = binascii.crc32(f"{spec.origin}:{stamp}".encode())
    cache = os.path.join(os.path.expanduser("~"), ".cache", BASE_DIR_NAME, f"mpl-{install:08x}")
    if not any(n.endswith(".json") for n in _listdir(cache)):

        def build() -> None:
            os.makedirs(cache, exist_ok=True)
            env = {"MPLCONFIGDIR": cache, "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
            subprocess.run(
                [sys.executable, "-c", "import matplotlib.font_manager"],
                env=env,
                capture_output=True,
                timeout=300,
                check=False,
            )

        threading.Thread(target=build, name="ldx-mpl-cache", daemon=True).start()
    return cache


@functools.lru_cache(maxsize=1)
def _ensure_kernel_bytecode() -> None:
    """Compile the kernel's sources (kernel, framing, cell runner) to ``__pycache__`` once.

    The kernel is imported (not run as a script) so that a new sandbox loads cached
    bytecode instead of compiling 700 lines at every start, which measured ~4 ms.
    ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would otherwise leave no cache.
    A read-only install simply keeps compiling from source.
    """
    import py_compile

    for source, _ in isolation.KERNEL_SOURCES:
        if _current_bytecode(source) is not None:
            continue  # compiling ~1,500 lines at every process start cost the CLI ~25 ms
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            py_compile.compile(source, importlib.util.cache_from_source(source), doraise=True)


_PYC_HEADER = 16
"""Bytes before the code in a ``.pyc``: magic, flags, then mtime and size (or a hash)."""


def _current_bytecode(source: str) -> bytes | None:
    """The code part of ``source``'s timestamp ``.pyc`` in ``__pycache__``, if up to date."""
    try:
        st = os.stat(source)
        with open(importlib.util.cache_from_source(source), "rb") as f:
            pyc = f.read()
    except OSError:
        return None
    header = importlib.util.MAGIC_NUMBER + bytes(4)  # flags 0: checked by timestamp
    header += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    header += (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    return pyc[_PYC_HEADER:] if pyc[:_PYC_HEADER] == header else None


@functools.lru_cache(maxsize=1)
def _kernel_files() -> dict[str, bytes]:
    """The kernel's files as the sandbox sees them: sources and unchecked-hash bytecode.

    They are copied into each sandbox from memory rather than bound from the package
    folder, whose host path ``/proc/self/mountinfo`` would show. The bytecode is
    "unchecked hash" so Python trusts it although the copies get fresh mtimes.
    """
    import py_compile

    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="ldx-pyc-") as tmp:
        for source, name in isolation.KERNEL_SOURCES:
            with open(source, "rb") as f:
                files[f"{isolation.SANDBOX_KERNEL_DIR}/{name}"] = text = f.read()
            code = _current_bytecode(source)
            if code is not None:  # the same code under an unchecked-hash header (PEP 552)
                header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")
                cached = importlib.util.cache_from_source(name)
                files[f"{isolation.SANDBOX_KERNEL_DIR}/{cached}"] = (
                    header + importlib.util.source_hash(text) + code
                )
                continue
            pyc = os.path.join(tmp, name.replace("/", "_") + "c")
            with contextlib.suppress(OSError, py_compile.PyCompileError):
                py_compile.compile(
                    source,
                    cfile=pyc,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                with open(pyc, "rb") as f:
                    cached = importlib.util.cache_from_source(name)
                    files[f"{isolation.SANDBOX_KERNEL_DIR}/{cached}"] = f.read()
    return files


def _mpl_cache_files() -> dict[str, bytes]:
    """The matplotlib font cache's files, copied into each sandbox (see _mpl_cache_dir)."""
    cache = _mpl_cache_dir()
    files: dict[str, bytes] = {}
    for name in _listdir(cache) if cache else []:
        if name.endswith(".json"):
            with contextlib.suppress(OSError), open(os.path.join(cache or "", name), "rb") as f:
                files[f"{isolation.SANDBOX_MPL_CACHE}/{name}"] = f.read()
    return files


@functools.lru_cache(maxsize=1)
def _protect_host() -> int | None:
    """Once per process: the host is the OOM killer's last choice (see isolation)."""
    return isolation.protect_host_from_oom()


def _traversable_by_others(path: str) -> bool:
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
    return os.path.join(tempfile.gettempdir(), f"{BASE_DIR_NAME}-{os.geteuid()}")


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


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


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
    ) -> None:
        self.policy = NetworkPolicy.parse(network)
        self.network = network
        self.workdir = workdir
        self.binds = dict(binds or {})
        if environment is not None and not isinstance(environment, Environment):
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
        # Here, on the caller's thread: the first create() may run on a pool's thread,
        # where no signal handler can be installed.
        _lifecycle.install_sigterm_handler()

    @functools.cached_property
    def mode(self) -> Mode:
        """``"root"``, ``"userns"`` or ``"unsafe"``; detected on first use."""
        try:
            return isolation.detect_mode()
        except IsolationUnavailableError:
            if self.unsafe_no_isolation:
                return "unsafe"
            raise

    def create(self, *, labels: Mapping[str, str] | None = None) -> LocalSandbox:
        """Create a sandbox and wait until its interpreter is ready.

        Args:
            labels: Labels to keep on the sandbox object.

        Raises:
            IsolationUnavailableError: No isolation works here (message names the fix).
            SandboxTimeoutError: The sandbox was not ready within ``start_timeout_s``.
        """
        mode = self.mode
        if mode == "unsafe" and self.policy.filtered:
            raise IsolationUnavailableError(
                "a network allow-list needs the sandbox's own network namespace, which "
                "unsafe_no_isolation does not have: install bubblewrap, or pass network=True"
            )
        layer = self.layer()
        ensure_private_dir(self.base_dir)
        _install_hygiene(self.base_dir)
        if mode == "root":
            _protect_host()
        paths = isolation.host_python_paths()
        paths = SandboxPaths(
            python=paths.python,
            prefixes=paths.prefixes,
            site_packages=paths.site_packages,
            mpl_cache=_mpl_cache_dir(),
            extra_ro=self.extra_ro_paths + ((layer,) if layer and mode == "unsafe" else ()),
        )
        sb = LocalSandbox(self, mode, paths, dict(labels or {}), layer)
        try:
            sb._start()
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
        layout = isolation.cgroup_layout() if mode == "root" else None
        cg = f"cgroup v{layout[0]}" if layout else None
        info = {
            "mode": {
                "root": "root: bubblewrap namespaces, seccomp, code runs as a per-sandbox uid",
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
        cpu = bool(layout and lim.cpu_cores and isolation.cpu_quota_available())
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
            f"sandbox processes at oom_score_adj {isolation.SANDBOX_OOM_SCORE_ADJ}: the OOM "
            "killer takes them before the host"
        )
        return info

    def check_memory_budget(self, count: int) -> str | None:
        """Warn when ``count`` sandboxes at their memory limit cannot fit in this machine.

        A pool calls it with its ``max_size``. Each sandbox may use up to
        ``limits.memory_bytes`` (its files included); when all of them together exceed
        the memory still available here (:func:`isolation.memory_available`: the
        machine's, or a container's cgroup limit), a busy pool would run the machine out
        of memory. The OOM killer then picks sandboxed code first
        (:data:`isolation.SANDBOX_OOM_SCORE_ADJ`), but every sandbox is at risk.

        Returns:
            The warning's text (also logged at WARNING on ``langchain_daytona_exec``: a
            log line, not a Python warning, because free memory moves with the load of
            the machine), or ``None`` when the budget fits.
        """
        need = count * self.limits.memory_bytes
        available, source = isolation.memory_available()
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


# -- one sandbox -----------------------------------------------------------------------------


class LocalSandbox(Sandbox):
    """One bubblewrap sandbox with its kernel. Create it with :meth:`LocalBackend.create`."""

    backend_name = "local"

    def __init__(
        self,
        backend: LocalBackend,
        mode: Mode,
        paths: SandboxPaths,
        labels: dict[str, str],
        layer: str | None = None,
    ) -> None:
        self.id = os.urandom(6).hex()
        self.labels = labels
        self.mode: Mode = mode
        self._backend = backend
        self._limits = backend.limits
        self._paths = paths
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._req_w = -1
        self._resp_r = -1
        self._closed = False
        self._state_lost_pending = False
        self._deaths_in_a_row = 0  # interpreter deaths with no reply in between
        self._request_ids = itertools.count(_randbelow(1 << 30) + 1)
        self._uid = isolation.UID_BASE + _randbelow(isolation.UID_SPAN)
        self._host_dir = os.path.join(backend.base_dir, f"{os.getpid()}-{self.id}")
        self._host_work = os.path.join(self._host_dir, "work")
        self._cg: isolation.CgroupSet | None = None
        self._limit_events: dict[str, int] = {}  # the cgroup's counters at the last look
        self._launched_at = time.monotonic()  # when the current interpreter started
        self._layer = layer
        self._egress: EgressChannel | None = None
        self._mntns: int | None = None  # fd of the workspace's mount namespace (root mode)
        _lifecycle.register_sandbox(self)  # closed at exit and on SIGTERM

    # -- properties ------------------------------------------------------------------------

    @property
    def files_after_restart(self) -> str:
        """What a restart of the interpreter leaves of the files, in words for the model.

        Root and unsafe modes keep the workspace on the host, so it outlives the
        interpreter; non-root mode keeps it inside the sandbox, which ends with it.
        """
        if self.mode == "userns":
            return (
                "and the files are gone too: without root the workspace lives inside the "
                "sandbox, which ends with its interpreter"
            )
        return "files in the workspace were kept"

    @property
    def workdir(self) -> str:
        """The working folder inside the sandbox (the backend's; a host folder if unsafe)."""
        return self._host_work if self.mode == "unsafe" else self._backend.workdir

    @property
    def limits(self) -> LocalLimits:
        """The sandbox's resource limits."""
        return self._limits

    @property
    def uid(self) -> int | None:
        """Host uid the sandbox's code runs as (root mode), or ``None``."""
        return self._uid if self.mode == "root" else None

    @property
    def kernel_pid(self) -> int | None:
        """Host pid of the outer bwrap (or of the kernel when unsafe); ``None`` if stopped."""
        return self._proc.pid if self._proc else None

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_workspace(self) -> None:
        """Root mode: the size-capped workspace tmpfs, in a mount namespace of its own.

        Falls back to a mount on the host where that namespace cannot be made.
        """
        args = (self._host_work, self._limits.workspace_bytes, self._uid, self._uid)
        self._mntns = _spawner().call(
            lambda: isolation.workspace_namespace(*args), self._limits.start_timeout_s
        )
        if self._mntns is None:
            isolation.mount_workspace(*args)

    def _drop_workspace(self) -> None:
        """Free the workspace tmpfs (the sandbox's processes are already gone)."""
        fd, self._mntns = self._mntns, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        elif isolation.is_mountpoint(self._host_work):
            isolation.unmount(self._host_work)

    def _start(self) -> None:
        os.makedirs(self._host_work, mode=0o700, exist_ok=True)
        if self.mode == "root":
            self._make_workspace()
        elif self.mode == "unsafe":
            tmp = os.path.join(self._host_dir, "tmp")
            os.makedirs(tmp, exist_ok=True)
            if os.geteuid() == 0:  # the kernel drops to the sandbox uid: let it in
                for path in (*self._paths.prefixes, *self._paths.site_packages):
                    if not _traversable_by_others(path):
                        raise IsolationUnavailableError(
                            "unsafe_no_isolation still runs code as an unprivileged uid, but "
                            f"the Python runtime at {path} is not readable by other users "
                            "(a parent folder lacks o+x, e.g. /root is 0700). Use a Python "
                            "installed outside /root, or run as a normal user."
                        )
                for folder in (self._backend.base_dir, self._host_dir):
                    os.chmod(folder, 0o711)
                for folder in (self._host_work, tmp):
                    os.chown(folder, self._uid, self._uid)
        if self._backend.policy.filtered:
            from langchain_daytona_exec.backends.local._egress import EgressLimits, egress_proxy

            self._egress = egress_proxy().open(
                os.path.join(self._host_dir, "egress.sock"),
                self._backend.policy,
                self._backend.network_limits or EgressLimits(),
            )
        self._launch()
        self._provision()

    def _provision(self) -> None:
        """Place the environment's files and run its setup code (new or reset sandbox)."""
        spec = self._backend.environment
        if spec is None:
            return
        for rel, content in spec.files.items():
            self.write_file(rel, content)
        if spec.setup:
            r = self.run_code(spec.setup)
            if r.error is not None or r.timed_out:
                detail = r.error.traceback if r.error else "it timed out"
                raise EnvironmentBuildError(f"the environment's setup code failed:\n{detail}")

    def network_log(self) -> list[EgressEvent]:
        """Every request through the network allow-list's proxy (newest 1000).

        Empty when the sandbox has no allow-list.
        """
        return self._egress.log() if self._egress is not None else []

    def _recheck_isolation(self, exc: BaseException) -> None:
        """After a failed start, probe bwrap again (the remembered mode may be stale).

        Raises:
            IsolationUnavailableError: The new probe fails (its message names the fix).
        """
        if self.mode == "unsafe":
            return
        isolation.forget_mode()
        try:
            isolation.detect_mode()
        except IsolationUnavailableError as probe_error:
            raise probe_error from exc

    def _launch(self) -> None:
        """Start the kernel process tree and wait for its ready frame."""
        if self.mode == "root" and self._cg is None:
            self._cg = isolation.create_cgroups(f"ldx-{os.getpid()}-{self.id}", self._limits)
            self._limit_events = self._cg.limit_events() if self._cg is not None else {}
        proc, req_w, resp_r = _spawner().call(self._spawn, self._limits.start_timeout_s)
        self._launched_at = time.monotonic()
        self._proc, self._req_w, self._resp_r = proc, req_w, resp_r
        deadline = time.monotonic() + self._limits.start_timeout_s
        try:
            msg, _ = self._read_response(deadline)
        except BaseException as exc:
            if not isinstance(exc, (protocol.FrameError, TimeoutError)):
                self._kill()  # Ctrl-C: the ready frame must never be read as a reply
                raise
            detail = self._startup_stderr()
            self._kill()
            if isinstance(exc, TimeoutError):
                raise SandboxTimeoutError(
                    f"the sandbox was not ready within {self._limits.start_timeout_s:g} s; "
                    "the machine may be overloaded (raise LocalLimits.start_timeout_s)"
                ) from exc
            self._recheck_isolation(exc)
            raise SandboxError(f"the sandbox failed to start: {detail or exc}") from exc
        if not msg.get("ready"):
            self._kill()
            raise SandboxError(f"the sandbox failed to start: {msg}")
        if self._cg is not None:  # bwrap and its pid 1 too (the kernel set its own)
            isolation.set_oom_score_adj(self._cg.pids())

    def _spawn(self) -> tuple[subprocess.Popen[bytes], int, int]:
        """Runs on the spawner thread: fork bwrap (or the bare kernel when unsafe)."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        child_fds = [req_r, resp_w]
        unsafe = self.mode == "unsafe"
        cfg: dict[str, Any] = {
            "fds": [req_r, resp_w],
            "workdir": self.workdir,
            "tmpdir": os.path.join(self._host_dir, "tmp") if unsafe else "/tmp",
            "output_budget": self._limits.output_bytes,
            # a stream over its budget is saved whole to /tmp, up to this size; the
            # kernel keeps the files of its last 2 such calls: at most half of /tmp
            "output_file_bytes": self._limits.tmp_bytes // 8,
            "max_file_bytes": self._limits.max_file_bytes,
            "rlimits": self._limits.rlimits(cgroup=self._cg is not None),
            "oom_score_adj": isolation.SANDBOX_OOM_SCORE_ADJ,
            "uid": self._uid if os.geteuid() == 0 else None,
            "gid": self._uid if os.geteuid() == 0 else None,
            "python_paths": self._python_paths(),
            "mpl_cache": self._paths.mpl_cache if unsafe else isolation.SANDBOX_MPL_CACHE,
        }
        kernel_dir = isolation.KERNEL_DIR if unsafe else isolation.SANDBOX_KERNEL_DIR
        env = isolation.sandbox_env(self._paths, self._environment_vars())
        env["PYTHONPATH"] = ":".join(cfg["python_paths"])
        if self._layer is not None:
            env["PATH"] = f"{self._layer_path()}/site/bin:{env['PATH']}"
        if self._backend.policy.mode != "off":  # pip's user site and its scripts
            env["PATH"] = f"{env['PYTHONUSERBASE']}/bin:{env['PATH']}"
            cfg["make_dirs"] = [self._user_site()]
        if self._egress is not None:
            cfg["egress"] = {
                "port": isolation.SANDBOX_PROXY_PORT,
                "socket": isolation.SANDBOX_PROXY_SOCKET,
            }
        if unsafe:
            env["HOME"] = os.path.join(cfg["tmpdir"], "home")
            env["TMPDIR"] = cfg["tmpdir"]
            env["MPLCONFIGDIR"] = os.path.join(env["HOME"], ".config", "matplotlib")
        cfg["env"] = env
        # The configuration (with the environment, which may hold values the user passed
        # on purpose) goes through an fd, never argv: argv is visible to all (ps).
        cfg_fd = isolation.data_fd(marshal.dumps(cfg))
        child_fds.append(cfg_fd)
        _ensure_kernel_bytecode()
        launcher = f"import sys; sys.path.insert(0, {kernel_dir!r}); import kernel; kernel.main()"
        python = self._paths.python if unsafe else isolation.SANDBOX_PYTHON
        kernel_argv = [python, "-I", "-S", "-c", launcher, str(cfg_fd)]
        launch_env = {"PATH": "/usr/bin:/bin"}
        if unsafe:
            argv, cwd = kernel_argv, self._host_work
        else:
            passwd, group = isolation.passwd_and_group(self._uid, self._uid)
            data_fds = [
                isolation.data_fd(isolation.seccomp_program(self._backend.policy.mode != "off")),
                isolation.data_fd(passwd),
                isolation.data_fd(group),
            ]
            child_fds += data_fds
            files = {**_kernel_files(), **_mpl_cache_files(), **isolation.proc_mask_contents()}
            file_fds = {inside: isolation.data_fd(data) for inside, data in files.items()}
            child_fds += file_fds.values()
            paths = self._paths
            paths = SandboxPaths(
                python=paths.python,
                prefixes=paths.prefixes,
                site_packages=paths.site_packages,
                mpl_cache=None,  # copied in data_files instead
                extra_ro=paths.extra_ro,
            )
            argv = isolation.bwrap_argv(
                mode="root" if self.mode == "root" else "userns",
                paths=paths,
                limits=self._limits,
                network=self._backend.policy.mode == "open",
                host_workspace=self._host_work if self.mode == "root" else None,
                seccomp_fd=data_fds[0],
                passwd_fd=data_fds[1],
                group_fd=data_fds[2],
                kernel_argv=kernel_argv,
                bwrap=shutil.which("bwrap") or "bwrap",
                workdir=self._backend.workdir,
                binds=tuple(self._backend.binds.items()),
                egress_socket=self._egress_socket(),
                layer=self._layer,
                data_files=file_fds,
            )
            # Options through an fd: /proc/1/cmdline in the sandbox is bwrap's argv.
            args_fd = os.memfd_create("ldx-args", 0)
            child_fds.append(args_fd)
            argv, payload = isolation.args_fd_argv(argv, args_fd)
            os.write(args_fd, payload)
            os.lseek(args_fd, 0, os.SEEK_SET)
            if self._mntns is not None:  # bwrap starts inside the workspace's namespace
                argv = isolation.enter_argv(self._mntns, argv)
            cwd = "/"
        cg = self._cg
        old = cg.attach_self_thread() if cg is not None and cg.version == 1 else None
        try:
            proc = subprocess.Popen(
                argv,
                env=launch_env,
                cwd=cwd,
                pass_fds=child_fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_enter_v2(cg) if cg is not None and cg.version == 2 else None,
            )
        finally:
            if old is not None:
                isolation.CgroupSet.detach_self_thread(old)
            for fd in child_fds:
                os.close(fd)
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        return proc, req_w, resp_r

    def _layer_path(self) -> str:
        """The layer folder as the kernel sees it."""
        assert self._layer is not None
        return self._layer if self.mode == "unsafe" else isolation.SANDBOX_LAYER_DIR

    def _user_site(self) -> str:
        """Where ``pip install`` puts packages when an index is reachable."""
        base = (
            os.path.join(self._host_work, ".local")
            if self.mode == "unsafe"
            else isolation.SANDBOX_USER_BASE
        )
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        return f"{base}/lib/{version}/site-packages"

    def _python_paths(self) -> list[str]:
        """``sys.path`` entries before the host's packages: pip's user site, the layer."""
        paths: list[str] = []
        if self._backend.policy.mode != "off":
            paths.append(self._user_site())
        if self._layer is not None:
            paths.append(f"{self._layer_path()}/site")
        return paths + list(self._paths.site_packages)

    def _environment_vars(self) -> dict[str, str]:
        """What the environment spec, the network policy and ``env=`` add to the env."""
        out: dict[str, str] = {}
        if self._backend.policy.mode != "off":
            base = os.path.dirname(os.path.dirname(os.path.dirname(self._user_site())))
            out.update({"PYTHONUSERBASE": base, "PIP_USER": "1", "PIP_NO_INPUT": "1"})
            bundle = "/etc/ssl/certs/ca-certificates.crt"
            if os.path.exists(bundle):  # the system's trust store (mounted via /etc/ssl)
                out.update({"PIP_CERT": bundle, "SSL_CERT_FILE": bundle})
                out["REQUESTS_CA_BUNDLE"] = bundle
            if self._backend.policy.label == "packages":
                from langchain_daytona_exec.netpolicy import package_index_urls

                urls = package_index_urls()
                out["PIP_INDEX_URL"] = urls[0]
                if urls[1:]:
                    out["PIP_EXTRA_INDEX_URL"] = " ".join(urls[1:])
        if self._egress is not None:
            proxy = f"http://127.0.0.1:{isolation.SANDBOX_PROXY_PORT}"
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                out[name] = proxy
            out["NO_PROXY"] = out["no_proxy"] = ""
        spec = self._backend.environment
        if spec is not None:
            out.update(spec.env)
        out.update(self._backend.env)
        return out

    def _egress_socket(self) -> str | None:
        return os.path.join(self._host_dir, "egress.sock") if self._egress is not None else None

    def _startup_stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        with contextlib.suppress(OSError, TypeError):
            return (self._proc.stderr.read() or b"").decode(errors="replace").strip()[-2000:]
        return ""

    def _kill(self) -> None:
        """Kill the process tree and close the channel (the workspace stays)."""
        proc, self._proc = self._proc, None
        for fd in (self._req_w, self._resp_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req_w = self._resp_r = -1
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            if self._cg is not None:
                for pid in self._cg.pids():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()

    def _ensure_running(self) -> None:
        if self._closed:
            raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
        if self._deaths_in_a_row >= DEATHS_BEFORE_REPLACEMENT:  # used without a pool
            self._deaths_in_a_row = 0
            self.reset()
            self._state_lost_pending = True
            return
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                self._kill()
            self._state_lost_pending = True
            self._launch()

    def restart_interpreter(self) -> None:
        """Fresh interpreter now (variables and processes gone, files kept)."""
        with self._lock:
            if self._closed:
                raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
            self._kill()
            self._launch()

    def stop_interpreter(self) -> None:
        """Kill the interpreter and every process; files stay, the next call revives it."""
        with self._lock:
            self._kill()

    def set_limits(self, limits: LocalLimits) -> None:
        """Apply new CPU, memory and process limits from the next interpreter start.

        The interpreter is stopped (its state is lost); the workspace keeps its size.
        """
        with self._lock:
            self._kill()
            if self._cg is not None:
                self._cg.destroy()
                self._cg = None
            self._limits = limits

    def reset(self) -> None:
        """Fresh interpreter, empty workspace and ``/tmp``."""
        with self._lock:
            if self._closed:
                raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
            self._kill()
            if self.mode == "root":
                self._drop_workspace()
                self._make_workspace()
            elif self.mode == "unsafe":
                for name in _listdir(self._host_work):
                    path = os.path.join(self._host_work, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        with contextlib.suppress(OSError):
                            os.unlink(path)
            self._state_lost_pending = False
            self._launch()
            self._provision()

    def close(self) -> None:
        """Kill the sandbox and remove its cgroups, mounts and folders. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._kill()
            self._drop_workspace()
            if self._egress is not None:
                with contextlib.suppress(Exception):
                    self._egress.close()
            if self._cg is not None:
                self._cg.destroy()
                self._cg = None
            _remove_sandbox_dir(self._host_dir)
            _lifecycle.unregister_sandbox(self)

    def is_alive(self) -> bool:
        """True until :meth:`close` or an unhealthy streak (then a pool replaces it).

        Unhealthy: the interpreter died :data:`DEATHS_BEFORE_REPLACEMENT` times in a row.
        A killed kernel is otherwise revived on the next call.
        """
        return not self._closed and self._deaths_in_a_row < DEATHS_BEFORE_REPLACEMENT

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._closed:
                self.close()

    # -- the channel ---------------------------------------------------------------------------

    def _read_exact(self, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        poller = select.poll()
        poller.register(self._resp_r, select.POLLIN)
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not poller.poll(remaining * 1000):
                continue
            k = os.readv(self._resp_r, [view[got : got + (1 << 20)]])
            if not k:
                raise protocol.ChannelClosedError("the sandbox closed its channel")
            got += k
        view.release()
        return buf

    def _read_response(
        self, deadline: float, max_blob: int = 0
    ) -> tuple[dict[str, Any], bytearray]:
        header = self._read_exact(protocol.HEADER_SIZE, deadline)
        body_len, blob_len = protocol.parse_header(
            bytes(header), protocol.max_reply_body(self._limits.output_bytes), max_blob
        )
        body = self._read_exact(body_len, deadline)
        text = protocol.ascii_text(body)
        del body  # the parse below may hold ~4x the text: keep only one copy besides
        msg = protocol.decode_response(text)
        del text
        blob = self._read_exact(blob_len, deadline) if blob_len else bytearray()
        return msg, blob

    def _call(
        self,
        msg: dict[str, Any],
        blob: bytes,
        wait_s: float,
        parse: Callable[[dict[str, Any], bytearray], T],
    ) -> T:
        """Send one request, read its whole reply and parse it (under ``self._lock``).

        The one rule of the channel: once a request is sent, *any* exception before
        its reply is fully read and parsed (a timeout, Ctrl-C, ``MemoryError``, a
        malformed or forged frame, a reply to another request) kills the interpreter,
        so no later call can ever read this reply, and reports its state as lost.
        Errors that a complete, well-formed reply reports (a missing file, an
        unsupported language) pass through and keep the sandbox.

        Raises:
            TimeoutError: No answer in time; the interpreter was killed (the caller
                restarts it and reports the timeout).
            SandboxLostError: The kernel died, misbehaved or sent a malformed reply;
                the sandbox revives on the next call.
            BaseException: ``KeyboardInterrupt`` and the like, after the kill.
        """
        self._ensure_running()
        request_id = next(self._request_ids)
        frame = protocol.encode_request({**msg, "id": request_id}, blob)
        if len(frame) - protocol.HEADER_SIZE - len(blob) > protocol.MAX_REQUEST_BYTES:
            raise ValueError(  # nothing was sent: the sandbox is untouched
                f"the request is over {protocol.MAX_REQUEST_BYTES} bytes; send less code"
            )
        deadline = time.monotonic() + wait_s
        try:
            protocol.write_all(self._req_w, frame)
            max_blob = self._limits.max_file_bytes if msg["op"] == "read" else 0
            resp, out = self._read_response(deadline, max_blob)
            if resp.get("id") != request_id:
                raise protocol.FrameError(
                    f"a reply to request {str(resp.get('id'))[:40]}, expected {request_id}"
                )
            self._deaths_in_a_row = 0  # the interpreter answered
            if "fault" in resp:
                raise _KernelFault(str(resp["fault"])[:2000])
            return parse(resp, out)
        except SandboxError:
            raise  # reported by a complete, well-formed reply
        except BaseException as exc:
            died = isinstance(exc, (protocol.ChannelClosedError, OSError))
            status = self._exit_status() if died and not isinstance(exc, TimeoutError) else None
            self._kill()
            self._state_lost_pending = True
            if isinstance(exc, TimeoutError) or not isinstance(exc, Exception):
                raise
            if isinstance(exc, _KernelFault):
                what = f"hit an internal error ({exc})"
            elif died:
                what = f"died ({self._death_cause(status) or exc})"
                self._deaths_in_a_row += 1
                if self._deaths_in_a_row >= DEATHS_BEFORE_REPLACEMENT:
                    raise SandboxLostError(
                        f"the sandbox's interpreter {what}, {self._deaths_in_a_row} times in "
                        "a row: the sandbox is replaced by a fresh one, so variables, imports "
                        "and files are all gone. Start again from your setup code, and use "
                        "less memory or fewer files if that is what killed it."
                    ) from exc
            elif isinstance(exc, protocol.FrameError):
                what = f"sent a malformed response ({exc})"
            else:
                what = f"sent a malformed response ({type(exc).__name__}: {str(exc)[:200]})"
            raise SandboxLostError(
                f"the sandbox's interpreter {what}; it was restarted: its variables and "
                f"imports are gone, {self.files_after_restart}. Re-run your setup code."
            ) from exc

    def _exit_status(self) -> int | None:
        """The sandbox process's exit status once it has ended, or ``None`` while it runs.

        It ends right after its channel closes, so a short wait suffices.
        """
        if self._proc is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._proc.wait(_EXIT_STATUS_WAIT_S)
        return None

    def _death_cause(self, status: int | None) -> str | None:
        """The limit that most likely killed the interpreter, in words, or ``None``.

        Told by the cgroup's counters growing since the last look, or by a signal death
        with a CPU-time limit the interpreter had time to use up.
        """
        now = self._cg.limit_events() if self._cg is not None else {}
        before, self._limit_events = self._limit_events, now
        if now.get("oom_kill", 0) > before.get("oom_kill", 0):
            mib = self._limits.memory_bytes // (1 << 20)
            return (
                f"it ran out of memory: the sandbox's memory limit is {mib} MiB (files in "
                "the workspace and /tmp count too); use less memory, e.g. process the data "
                "in chunks or free large objects"
            )
        if now.get("pids_max", 0) > before.get("pids_max", 0):
            return (
                f"it hit the sandbox's limit of {self._limits.pids} processes and threads; "
                "start fewer processes or threads"
            )
        killed = {128 + signal.SIGKILL, 128 + signal.SIGXCPU, -signal.SIGKILL, -signal.SIGXCPU}
        cpu_limit = self._limits.cpu_seconds
        cores = self._limits.cpu_cores or os.cpu_count() or 1
        alive_s = time.monotonic() - self._launched_at
        if cpu_limit and status in killed and alive_s * cores >= cpu_limit:
            return (
                f"it was killed by a signal after {alive_s:.0f} s; the sandbox's CPU time "
                f"limit is {cpu_limit} s over the interpreter's whole life, which it may "
                "have used up: make the computation cheaper or split it into smaller steps"
            )
        return None

    def _hard_restart(self) -> None:
        self._kill()
        self._launch()

    # -- code ------------------------------------------------------------------------------------

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code; see :meth:`Sandbox.run_code`."""
        timeout = check_run_args(code, language, timeout)
        if language not in LANGUAGES:
            raise UnsupportedLanguageError(
                f"unsupported language {language!r}: use one of {', '.join(LANGUAGES)}"
            )
        seconds = timeout or self._limits.timeout_s
        start = time.monotonic()
        with self._lock:
            req = {"op": "run", "code": code, "language": language, "timeout": seconds}

            def parse(resp: dict[str, Any], _: bytearray) -> ExecutionResult:
                lost = self._state_lost_pending
                result = replies.execution_result(resp, lost, (time.monotonic() - start) * 1000)
                self._state_lost_pending = False
                return result

            try:
                return self._call(req, b"", seconds + self._limits.grace_s + 1.0, parse)
            except TimeoutError:
                self._hard_restart()
                self._state_lost_pending = False
                return ExecutionResult(
                    stderr=(
                        f"[sandbox] the code ignored the interrupt after {seconds:g} s and "
                        "was killed; the interpreter was restarted (variables and imports "
                        f"are gone, {self.files_after_restart})"
                    ),
                    timed_out=True,
                    state_lost=True,
                    duration_ms=(time.monotonic() - start) * 1000,
                )

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command; see :meth:`Sandbox.exec`."""
        seconds = check_command_args(command, cwd, env, timeout) or self._limits.timeout_s
        start = time.monotonic()
        req = {
            "op": "exec",
            "command": command,
            "cwd": cwd,
            "env": dict(env or {}),
            "timeout": seconds,
        }

        def parse(resp: dict[str, Any], _: bytearray) -> CommandResult:
            return replies.command_result(resp, cwd or ".", (time.monotonic() - start) * 1000)

        with self._lock:
            try:
                return self._call(req, b"", seconds + self._limits.grace_s + 1.0, parse)
            except TimeoutError:
                self._hard_restart()
                self._state_lost_pending = True
                return CommandResult(
                    exit_code=124,
                    stderr="[sandbox] the sandbox stopped answering and was restarted",
                    timed_out=True,
                    duration_ms=(time.monotonic() - start) * 1000,
                )

    # -- files -----------------------------------------------------------------------------------

    def _file_call(
        self,
        msg: dict[str, Any],
        parse: Callable[[dict[str, Any], bytearray], T],
        blob: bytes = b"",
    ) -> T:
        with self._lock:
            try:
                return self._call(msg, blob, self._limits.file_op_timeout_s, parse)
            except TimeoutError as exc:
                self._hard_restart()
                self._state_lost_pending = True
                raise SandboxTimeoutError(
                    f"file operation {msg['op']} on {msg.get('path')!r} took over "
                    f"{self._limits.file_op_timeout_s:g} s; the sandbox was restarted"
                ) from exc

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file; see :meth:`Sandbox.read_file`."""
        check_path(path)
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
        ):
            raise TypeError(f"max_bytes must be a non-negative int or None, not {max_bytes!r}")
        return self._file_call(
            {"op": "read", "path": path, "max_bytes": max_bytes},
            lambda resp, blob: replies.read_blob(resp, blob, path),
        )

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file, creating parents; see :meth:`Sandbox.write_file`."""
        check_path(path)
        data = check_content(content)
        if len(data) > self._limits.max_file_bytes:
            raise SandboxFileTooLargeError(
                f"{len(data)} bytes is over the {self._limits.max_file_bytes}-byte file "
                "limit (LocalLimits.max_file_bytes)",
                path,
            )
        self._file_call(
            {"op": "write", "path": path},
            lambda resp, _: replies.raise_file_error(resp, path),
            data,
        )

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        check_path(path)
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError(f"depth must be an int, not {type(depth).__name__}")
        return self._file_call(
            {"op": "list", "path": path, "depth": depth},
            lambda resp, _: replies.file_infos(resp, path),
        )


class _KernelFault(Exception):
    """The kernel reported an internal error: its state is unknown, so it restarts."""


def _enter_v2(cg: isolation.CgroupSet) -> Callable[[], None]:
    """preexec_fn for cgroup v2: the forked child moves itself in before exec'ing bwrap.

    On v1 the spawner thread visits the sandbox's cgroups around the fork instead
    (``CgroupSet.attach_self_thread``): measured here, that costs ~5 ms per sandbox
    where a preexec_fn migration costs ~11 ms, because the parent waits for the child's
    exec. v2 forbids threads of one process in different cgroups, hence this path.
    """
    procs = os.path.join(cg.dirs[0], "cgroup.procs").encode()

    def enter() -> None:
        fd = os.open(procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    return enter
