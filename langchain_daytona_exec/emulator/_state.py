"""The emulator's sandboxes: records, lifecycle, lookups and the auto-stop reaper.

Each emulated Daytona sandbox is one :class:`~langchain_daytona_exec.backends.local.
LocalSandbox`. Daytona's lifecycle is mapped onto it:

* *started*: the local sandbox runs; its kernel is the interpreter of every context.
* *stopped*: the kernel is killed, the workspace files stay (as a Daytona disk does);
  the next start revives the kernel with empty state.
* *destroyed*: the local sandbox is closed and the record forgotten.

The emulator gives each sandbox **one** interpreter. Interpreter contexts are names
for it: deleting a context restarts the interpreter, which ends every context of the
sandbox (our client uses exactly one context per sandbox, so it sees Daytona's
behaviour).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_daytona_exec.backends.local import LocalBackend, LocalLimits, LocalSandbox

__all__ = ["EmuContext", "EmuSandbox", "Registry", "iso_now"]

logger = logging.getLogger(__name__)

ORGANIZATION_ID = "emulator-org"
"""The organization every emulated sandbox belongs to."""

DEFAULT_TARGET = "emulator"
"""The region reported when the client asks for none."""

DEFAULT_SNAPSHOT = "emulator-default"
"""The snapshot name reported when the client asks for none."""


def iso_now(ts: float | None = None) -> str:
    """An ISO-8601 UTC timestamp with milliseconds, as Daytona's API writes them."""
    moment = _dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class EmuContext:
    """An interpreter context (a name for the sandbox's one interpreter)."""

    id: str
    cwd: str
    created_at: str = field(default_factory=iso_now)

    def to_json(self) -> dict[str, Any]:
        """The ``InterpreterContext`` body."""
        return {
            "id": self.id,
            "cwd": self.cwd,
            "language": "python",
            "active": True,
            "createdAt": self.created_at,
        }


@dataclass
class EmuSession:
    """A process session: its commands and their results."""

    id: str
    commands: list[dict[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class EmuSandbox:
    """One emulated Daytona sandbox."""

    id: str
    name: str
    labels: dict[str, str]
    env: dict[str, str]
    target: str
    snapshot: str
    network_block_all: bool
    network_allow_list: str | None
    cpu: int
    memory: int
    disk: int
    auto_stop_interval: int
    auto_archive_interval: int
    auto_delete_interval: int
    local: LocalSandbox
    state: str = "started"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    stopped_at: float | None = None
    contexts: dict[str, EmuContext] = field(default_factory=dict)
    sessions: dict[str, EmuSession] = field(default_factory=dict)
    #: Serializes lifecycle changes (stop, start, delete) and interpreter restarts.
    lock: threading.RLock = field(default_factory=threading.RLock)

    def touch(self) -> None:
        """Record activity (the auto-stop clock restarts)."""
        self.last_activity = time.time()

    def to_json(self, toolbox_url: str, *, full: bool = True) -> dict[str, Any]:
        """The ``Sandbox`` body (``full``) or a ``SandboxListItem`` body."""
        body: dict[str, Any] = {
            "id": self.id,
            "organizationId": ORGANIZATION_ID,
            "name": self.name,
            "snapshot": self.snapshot,
            "user": "daytona",
            "labels": dict(self.labels),
            "public": False,
            "networkBlockAll": self.network_block_all,
            "networkAllowList": self.network_allow_list,
            "target": self.target,
            "cpu": self.cpu,
            "gpu": 0,
            "memory": self.memory,
            "disk": self.disk,
            "state": self.state,
            "desiredState": "stopped" if self.state == "stopped" else "started",
            "autoStopInterval": self.auto_stop_interval,
            "autoArchiveInterval": self.auto_archive_interval,
            "autoDeleteInterval": self.auto_delete_interval,
            "createdAt": iso_now(self.created_at),
            "updatedAt": iso_now(self.updated_at),
            "lastActivityAt": iso_now(self.last_activity),
            "daemonVersion": "emulator",
            "toolboxProxyUrl": toolbox_url,
        }
        if full:
            body["env"] = dict(self.env)
            body["kvm"] = False
            body["volumes"] = []
        return body

    # -- the interpreter ----------------------------------------------------------------

    def restart_interpreter(self) -> None:
        """Give the sandbox a fresh interpreter, keeping its files; every context ends."""
        with self.lock:
            self.contexts.clear()
            self.local.restart_interpreter()

    def stop_interpreter(self) -> None:
        """Kill the interpreter and keep the files (Daytona's *stop*)."""
        with self.lock:
            self.contexts.clear()
            self.sessions.clear()
            self.local.stop_interpreter()


Clock = Callable[[], float]


class Registry:
    """Every emulated sandbox, the engine that makes them, and the reaper.

    Args:
        limits: Limits of the local sandboxes.
        unsafe_no_isolation: Passed to :class:`LocalBackend` (machines without
            bubblewrap).
        minute_s: Seconds in an emulated *minute* for the auto-stop, auto-archive and
            auto-delete intervals (tests shrink it).
        reaper_interval_s: Seconds between two auto-stop/auto-delete rounds.
    """

    def __init__(
        self,
        *,
        limits: LocalLimits | None = None,
        unsafe_no_isolation: bool = False,
        minute_s: float = 60.0,
        reaper_interval_s: float = 1.0,
    ) -> None:
        self.limits = limits or LocalLimits()
        self.unsafe_no_isolation = unsafe_no_isolation
        self.minute_s = minute_s
        self.reaper_interval_s = reaper_interval_s
        self._lock = threading.Lock()
        self._sandboxes: dict[str, EmuSandbox] = {}
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    # -- lookups ------------------------------------------------------------------------

    def get(self, id_or_name: str) -> EmuSandbox | None:
        """The sandbox with this id or name, or ``None``."""
        with self._lock:
            found = self._sandboxes.get(id_or_name)
            if found is None:
                found = next((s for s in self._sandboxes.values() if s.name == id_or_name), None)
            return found

    def all(self) -> list[EmuSandbox]:
        """Every sandbox, oldest first."""
        with self._lock:
            return sorted(self._sandboxes.values(), key=lambda s: s.created_at)

    def count(self) -> int:
        """How many sandboxes exist."""
        with self._lock:
            return len(self._sandboxes)

    def matching(self, labels: Mapping[str, str]) -> list[EmuSandbox]:
        """Sandboxes carrying every label of ``labels``, oldest first."""
        return [s for s in self.all() if all(s.labels.get(k) == v for k, v in labels.items())]

    # -- lifecycle ----------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> EmuSandbox:
        """Create and start a sandbox from a ``CreateSandbox`` body. Blocking."""
        sandbox_id = str(uuid.uuid4())
        block_all = body.get("networkBlockAll")
        allow = body.get("networkAllowList")
        network = block_all is False or bool(allow)
        env = {str(k): str(v) for k, v in (body.get("env") or {}).items()}
        engine = LocalBackend(
            network=network,
            limits=self.limits,
            env=env,
            unsafe_no_isolation=self.unsafe_no_isolation,
        )
        labels = {str(k): str(v) for k, v in (body.get("labels") or {}).items()}
        local = engine.create(labels=labels)

        def interval(key: str, default: int) -> int:
            value = body.get(key)
            return int(value) if value is not None else default

        sandbox = EmuSandbox(
            id=sandbox_id,
            name=str(body.get("name") or sandbox_id),
            labels=labels,
            env=env,
            target=str(body.get("target") or DEFAULT_TARGET),
            snapshot=str(body.get("snapshot") or DEFAULT_SNAPSHOT),
            network_block_all=not network,
            network_allow_list=allow,
            cpu=int(body.get("cpu") or 1),
            memory=int(body.get("memory") or 1),
            disk=int(body.get("disk") or 3),
            auto_stop_interval=interval("autoStopInterval", 15),
            auto_archive_interval=interval("autoArchiveInterval", 10080),
            auto_delete_interval=interval("autoDeleteInterval", -1),
            local=local,
        )
        with self._lock:
            self._sandboxes[sandbox_id] = sandbox
        return sandbox

    def delete(self, sandbox: EmuSandbox) -> None:
        """Destroy a sandbox: close its local sandbox and forget it. Blocking."""
        with self._lock:
            self._sandboxes.pop(sandbox.id, None)
        with sandbox.lock:
            sandbox.state = "destroyed"
            sandbox.updated_at = time.time()
        sandbox.local.close()

    def stop(self, sandbox: EmuSandbox) -> None:
        """Stop a sandbox: its interpreter state is gone, its files stay."""
        with sandbox.lock:
            if sandbox.state == "stopped":
                return
            sandbox.stop_interpreter()
            sandbox.state = "stopped"
            sandbox.stopped_at = sandbox.updated_at = time.time()

    def start(self, sandbox: EmuSandbox) -> None:
        """Start a stopped sandbox (the interpreter launches on its first use)."""
        with sandbox.lock:
            if sandbox.state == "started":
                return
            sandbox.state = "started"
            sandbox.stopped_at = None
            sandbox.updated_at = time.time()
            sandbox.touch()

    def close(self) -> None:
        """Stop the reaper and destroy every sandbox."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(5)
        for sandbox in self.all():
            with contextlib.suppress(Exception):
                self.delete(sandbox)

    # -- the reaper ---------------------------------------------------------------------

    def start_reaper(self) -> None:
        """Start the thread that applies auto-stop and auto-delete intervals."""
        if self._reaper is not None:
            return
        self._reaper = threading.Thread(target=self._reap_loop, name="ldx-emu-reaper", daemon=True)
        self._reaper.start()

    def _reap_loop(self) -> None:
        while not self._stop.wait(self.reaper_interval_s):
            try:
                self.reap()
            except Exception:
                logger.exception("emulator reaper round failed")

    def reap(self, now: float | None = None) -> None:
        """One round: stop idle sandboxes, delete those stopped long enough."""
        now = time.time() if now is None else now
        for sandbox in self.all():
            if (
                sandbox.state == "started"
                and sandbox.auto_stop_interval > 0
                and now - sandbox.last_activity >= sandbox.auto_stop_interval * self.minute_s
            ):
                self.stop(sandbox)
            if (
                sandbox.state == "stopped"
                and sandbox.auto_delete_interval >= 0
                and sandbox.stopped_at is not None
                and now - sandbox.stopped_at >= sandbox.auto_delete_interval * self.minute_s
            ):
                self.delete(sandbox)
