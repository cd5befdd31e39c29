"""Records of the emulated sandboxes and interpreter contexts, as the API shows them.

Each emulated Daytona sandbox is one :class:`~langchain_daytona_exec.backends.local.
LocalSandbox` whose working folder and home is ``/home/daytona`` (``/workspace`` stays
a symlink to it). The sandbox's interpreter holds every interpreter context: the
default one is its ``__main__``, each created context a separate namespace in it (see
``_contexts.py``).
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_daytona_exec.backends.local import LocalBackend, LocalSandbox
from langchain_daytona_exec.emulator._catalog import ORGANIZATION_ID
from langchain_daytona_exec.netpolicy import NetworkPolicy

__all__ = ["DEFAULT_TARGET", "HOME", "ORGANIZATION_ID", "EmuContext", "EmuSandbox", "iso_now"]

HOME = "/home/daytona"
"""Home and working folder of every Daytona sandbox (clients hardcode it)."""

DEFAULT_TARGET = "emulator"
"""The region reported when the client asks for none."""


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
    #: The backend that made ``local``; its network, env and binds apply at each
    #: interpreter start, so changing them and restarting the interpreter applies them.
    engine: LocalBackend
    state: str = "started"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    stopped_at: float | None = None
    contexts: dict[str, EmuContext] = field(default_factory=dict)
    #: Serializes lifecycle changes (stop, start, delete) and interpreter restarts.
    lock: threading.RLock = field(default_factory=threading.RLock)
    volumes: list[dict[str, str]] = field(default_factory=list)
    #: Variables set by ``update_env`` (applied to every later process).
    env_updates: dict[str, str] = field(default_factory=dict)
    #: Toolbox-side state of the route modules (sessions' shells, PTYs...), by module.
    extras: dict[str, Any] = field(default_factory=dict)
    error_reason: str | None = None
    #: The snapshot's entrypoint, run as the ``entrypoint`` session at every start.
    entrypoint: str | None = None

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
            "desiredState": (self.state if self.state in ("stopped", "archived") else "started"),
            "errorReason": self.error_reason,
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
            body["volumes"] = [dict(v) for v in self.volumes]
        return body

    # -- the interpreter ----------------------------------------------------------------

    def restart_interpreter(self) -> None:
        """Give the sandbox a fresh interpreter, keeping its files; every context ends."""
        with self.lock:
            self.contexts.clear()
            self.local.restart_interpreter()

    def set_network(self, is_open: bool) -> None:
        """Open or block the network from the next interpreter start."""
        self.engine.network = is_open
        self.engine.policy = NetworkPolicy.parse(is_open)
        self.network_block_all = not is_open

    def stop_interpreter(self) -> None:
        """Kill the interpreter and keep the files (Daytona's *stop*)."""
        with self.lock:
            self.contexts.clear()
            self.local.stop_interpreter()
