"""Per-sandbox cgroups, OOM-killer priorities and the memory budget of the host.

Root mode puts each sandbox in cgroups of its own (memory, pids, CPU quota) where the
cgroup tree is writable; every sandbox process is the OOM killer's first choice.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from langchain_daytona_exec.backends.local._limits import LocalLimits

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
usually the largest process, would be picked. The cgroup memory limit is the first
line; this is the second.

Every sandbox process inherits it (fork copies it), from the first process of the
sandbox: :func:`oom_argv` starts bwrap (or the bare kernel) with it, the fork-server's
sandbox pid 1 sets its own before anything else. Sandboxed code cannot lower it: the
sandbox's /proc is mounted read-only (``_isolation.mount_plan``), so no sandbox process
can write any ``/proc/<pid>/oom_score_adj`` (EROFS). Linux alone would not stop it:
an unprivileged process may lower its value down to a floor (``oom_score_adj_min``)
that only a writer holding CAP_SYS_RESOURCE sets. Where the launching process holds
that capability (root, unless the container dropped it) its write sets the floor too,
inherited the same way."""

HOST_OOM_SCORE_ADJ = -500
"""oom_score_adj the host process lowers itself to in root mode with CAP_SYS_RESOURCE
(some containers drop it; never raised if it is already lower). A sandbox process then
scores half the memory limit below the host's, so the host is the OOM killer's last
choice, not an impossible one (-1000 would hang a memory cgroup with nothing else to
kill). Children the host starts later inherit it; the sandboxes raise theirs."""

_OOM_SHELL = 'echo {value} 2>/dev/null >/proc/self/oom_score_adj; exec "$0" "$@"'
"""Raise this shell's oom_score_adj, then become the command (which inherits it).
Raising needs no privilege; a failed write is left to show in the sandbox's value."""


def oom_argv(argv: list[str], value: int = SANDBOX_OOM_SCORE_ADJ) -> list[str]:
    """``argv`` started by ``/bin/sh`` at oom_score_adj ``value``, before it runs at all.

    bwrap forks the sandbox's processes while it starts, so a value written into them
    from outside would race with their forks (and a sandbox cannot write its own: its
    /proc is read-only). The exec keeps ``argv`` as the process's command line.
    """
    return ["/bin/sh", "-c", _OOM_SHELL.format(value=int(value)), *argv]


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
