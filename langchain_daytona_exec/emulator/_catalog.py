"""Named things sandboxes are made from or share: snapshots, volumes, warm pools.

* A **snapshot** is a :class:`~._images.Recipe` (environment, working folder, setup
  commands) over the local runtime: built offline from a Dockerfile, registered from an
  existing image name, or registered in Python with :meth:`Catalog.register_snapshot`.
* A **volume** is a host folder owned by the emulator, bound read-write into every
  sandbox that names it; it outlives the sandboxes and is shared between them.
* A **warm pool** keeps ready sandboxes of one snapshot; ``create`` with that snapshot
  (and nothing that would change the sandbox) hands one out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_daytona_exec.emulator._images import Recipe

__all__ = ["Catalog", "Snapshot", "Volume", "WarmPool"]

ORGANIZATION_ID = "emulator-org"
"""The organization everything emulated belongs to."""

DEFAULT_SNAPSHOT = "daytonaio/sandbox:emulator"
"""The snapshot of sandboxes created without one (Daytona's default is a
``daytonaio/sandbox`` image)."""


def iso(ts: float) -> str:
    """An ISO-8601 UTC timestamp with milliseconds, as Daytona's API writes them."""
    moment = time.gmtime(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(ts * 1000) % 1000:03d}Z"


@dataclass
class Snapshot:
    """A named recipe sandboxes start from."""

    name: str
    recipe: Recipe
    image_name: str | None = None
    dockerfile: str | None = None
    cpu: int = 1
    memory: int = 1
    disk: int = 3
    general: bool = False
    state: str = "active"
    error_reason: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)
    last_used_at: float | None = None
    build_log: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``SnapshotDto`` body."""
        body: dict[str, Any] = {
            "id": self.id,
            "organizationId": ORGANIZATION_ID,
            "general": self.general,
            "name": self.name,
            "imageName": self.image_name or self.name,
            "state": self.state,
            "size": 0,
            "entrypoint": ["sh", "-c", self.recipe.entrypoint] if self.recipe.entrypoint else None,
            "cpu": self.cpu,
            "gpu": 0,
            "mem": self.memory,
            "disk": self.disk,
            "errorReason": self.error_reason,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "lastUsedAt": iso(self.last_used_at) if self.last_used_at else None,
        }
        if self.dockerfile is not None:
            body["buildInfo"] = {
                "dockerfileContent": self.dockerfile,
                "contextHashes": [],
                "createdAt": iso(self.created_at),
                "updatedAt": iso(self.created_at),
                "snapshotRef": self.name,
            }
        return body


@dataclass
class Volume:
    """A host folder bound into the sandboxes that name it."""

    name: str
    host_dir: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "ready"
    created_at: float = field(default_factory=time.time)
    last_used_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``VolumeDto`` body."""
        return {
            "id": self.id,
            "name": self.name,
            "organizationId": ORGANIZATION_ID,
            "state": self.state,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "lastUsedAt": iso(self.last_used_at) if self.last_used_at else None,
            "errorReason": None,
        }


@dataclass
class WarmPool:
    """Ready sandboxes of one snapshot; ``ready`` holds them (``EmuSandbox``, unlisted)."""

    snapshot: str
    target: str
    pool: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ready: list[Any] = field(default_factory=list)
    deleted: bool = False
    filling: bool = False
    extras_building: int = 0
    error_reason: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_json(self, snapshot: Snapshot | None) -> dict[str, Any]:
        """The ``WarmPool`` body."""
        return {
            "id": self.id,
            "organizationId": ORGANIZATION_ID,
            "snapshot": self.snapshot,
            "target": self.target,
            "pool": self.pool,
            "currentSize": len(self.ready),
            "cpu": snapshot.cpu if snapshot else 1,
            "mem": snapshot.memory if snapshot else 1,
            "disk": snapshot.disk if snapshot else 3,
            "osUser": "daytona",
            "env": dict(snapshot.recipe.env) if snapshot else {},
            "errorReason": self.error_reason,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


class Catalog:
    """Snapshots, volumes and warm pools of one emulator.

    Args:
        volumes_dir: Host folder holding one folder per volume (default: a new
            temporary folder, removed by :meth:`close`).
    """

    def __init__(self, volumes_dir: str | None = None) -> None:
        self.lock = threading.RLock()
        self._own_dir = volumes_dir is None
        self.volumes_dir = volumes_dir or tempfile.mkdtemp(prefix="ldx-emu-volumes-")
        self.snapshots: dict[str, Snapshot] = {}
        self.volumes: dict[str, Volume] = {}
        self.pools: dict[str, WarmPool] = {}
        self.register_snapshot(DEFAULT_SNAPSHOT, general=True)

    # -- snapshots ------------------------------------------------------------------------

    def register_snapshot(
        self,
        name: str,
        *,
        env: dict[str, str] | None = None,
        setup: list[str] | None = None,
        workdir: str | None = None,
        general: bool = False,
    ) -> Snapshot:
        """Register a snapshot over the local runtime (replaces one of the same name).

        Args:
            name: The snapshot's name (what ``create(snapshot=name)`` passes).
            env: Environment variables of its sandboxes.
            setup: Shell commands run in each new sandbox before it is handed out.
            workdir: A folder created in each new sandbox.
            general: Daytona's flag for snapshots every organization sees.
        """
        recipe = Recipe(base="local", env=dict(env or {}), workdir=workdir, run=list(setup or []))
        snap = Snapshot(name=name, recipe=recipe, general=general)
        with self.lock:
            self.snapshots[snap.id] = snap
        return snap

    def snapshot(self, id_or_name: str) -> Snapshot | None:
        """The snapshot with this id or name."""
        with self.lock:
            found = self.snapshots.get(id_or_name)
            if found is None:
                found = next((s for s in self.snapshots.values() if s.name == id_or_name), None)
            return found

    def add_snapshot(self, snap: Snapshot) -> None:
        """Store a snapshot made by the routes."""
        with self.lock:
            self.snapshots[snap.id] = snap

    def remove_snapshot(self, snap: Snapshot) -> None:
        """Forget a snapshot."""
        with self.lock:
            self.snapshots.pop(snap.id, None)

    # -- volumes --------------------------------------------------------------------------

    def create_volume(self, name: str) -> Volume:
        """Make a volume and its host folder (writable by every sandbox uid)."""
        volume = Volume(name=name, host_dir="")
        volume.host_dir = os.path.join(self.volumes_dir, volume.id)
        os.makedirs(volume.host_dir)
        os.chmod(self.volumes_dir, 0o711)
        os.chmod(volume.host_dir, 0o1777)  # each sandbox runs as its own uid
        with self.lock:
            self.volumes[volume.id] = volume
        return volume

    def volume(self, id_or_name: str) -> Volume | None:
        """The volume with this id or name."""
        with self.lock:
            found = self.volumes.get(id_or_name)
            if found is None:
                found = next((v for v in self.volumes.values() if v.name == id_or_name), None)
            return found

    def delete_volume(self, volume: Volume) -> None:
        """Forget a volume and remove its folder."""
        with self.lock:
            self.volumes.pop(volume.id, None)
        shutil.rmtree(volume.host_dir, ignore_errors=True)

    # -- warm pools -----------------------------------------------------------------------

    def pool_for(self, snapshot: str) -> WarmPool | None:
        """The warm pool of a snapshot (by the name or id the pool was made with)."""
        snap = self.snapshot(snapshot)
        with self.lock:
            for pool in self.pools.values():
                if pool.snapshot == snapshot or (
                    snap is not None and self.snapshot(pool.snapshot) is snap
                ):
                    return pool
        return None

    def close(self) -> None:
        """Remove the volumes' folder when the catalog made it."""
        if self._own_dir:
            shutil.rmtree(self.volumes_dir, ignore_errors=True)
