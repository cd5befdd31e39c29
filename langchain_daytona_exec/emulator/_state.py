"""The registry of emulated sandboxes: create, lifecycle, lookups and the auto-stop reaper.

Daytona's lifecycle is mapped onto each sandbox's local sandbox (see ``_records.py``):

* *started*: the local sandbox runs.
* *stopped* / *archived*: the interpreter and every process are killed, the files stay
  (as a Daytona disk does); the next start revives the interpreter with empty state.
* *destroyed*: the local sandbox is closed and the record forgotten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import os
import posixpath
import shlex
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_daytona_exec.backends.local import LocalBackend, LocalLimits, LocalSandbox
from langchain_daytona_exec.backends.local._limits import GiB
from langchain_daytona_exec.emulator._catalog import DEFAULT_SNAPSHOT, Catalog, Snapshot
from langchain_daytona_exec.emulator._images import BuildError, Recipe, parse_dockerfile
from langchain_daytona_exec.emulator._netguard import GUARD, GuardUnavailableError
from langchain_daytona_exec.emulator._records import (
    DEFAULT_TARGET,
    HOME,
    ORGANIZATION_ID,
    EmuContext,
    EmuSandbox,
    iso_now,
)

__all__ = [
    "DEFAULT_TARGET",
    "HOME",
    "ORGANIZATION_ID",
    "CreateError",
    "EmuContext",
    "EmuSandbox",
    "Registry",
    "iso_now",
    "local_limits",
]

SETUP_TIMEOUT_S = 600.0
"""How long the ``RUN`` steps of an image or snapshot may take in a new sandbox."""

logger = logging.getLogger(__name__)


class CreateError(Exception):
    """A create request the emulator refuses; ``status`` and ``code`` shape the answer."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def local_limits(base: LocalLimits, cpu: int | None, memory_gb: int | None) -> LocalLimits:
    """``base`` with Daytona's cpu (cores) and memory (GiB) applied."""
    changes: dict[str, Any] = {}
    if cpu:
        changes["cpu_cores"] = float(cpu)
    if memory_gb:
        changes["memory_bytes"] = int(memory_gb) * GiB
    return dataclasses.replace(base, **changes) if changes else base


class Registry:
    """Every emulated sandbox, the engine that makes them, and the reaper.

    Args:
        limits: Limits of the local sandboxes (Daytona's ``cpu`` and ``memory`` of a
            create or resize replace its CPU quota and memory limit).
        unsafe_no_isolation: Passed to :class:`LocalBackend` (machines without
            bubblewrap).
        minute_s: Seconds in an emulated *minute* for the auto-stop, auto-archive and
            auto-delete intervals (tests shrink it).
        reaper_interval_s: Seconds between two auto-stop/auto-delete rounds.
        catalog: Snapshots, volumes and warm pools (a new one by default).
    """

    def __init__(
        self,
        *,
        limits: LocalLimits | None = None,
        unsafe_no_isolation: bool = False,
        minute_s: float = 60.0,
        reaper_interval_s: float = 1.0,
        catalog: Catalog | None = None,
    ) -> None:
        self.limits = limits or LocalLimits()
        self.unsafe_no_isolation = unsafe_no_isolation
        self.minute_s = minute_s
        self.reaper_interval_s = reaper_interval_s
        self.catalog = catalog or Catalog()
        self._lock = threading.Lock()
        self._sandboxes: dict[str, EmuSandbox] = {}
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    # -- lookups ------------------------------------------------------------------------

    def get(self, id_or_name: str) -> EmuSandbox | None:
        """The sandbox with this id or name, or ``None`` (pooled ones are hidden)."""
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

    # -- create -------------------------------------------------------------------------

    @staticmethod
    def allow_list(allow: Any) -> list[str]:
        """The CIDR ranges of a ``networkAllowList`` (comma-separated), validated.

        Raises:
            CreateError: A range is not a valid CIDR.
        """
        ranges = [part.strip() for part in str(allow or "").split(",") if part.strip()]
        for cidr in ranges:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise CreateError(400, f"invalid networkAllowList entry {cidr!r}: {exc}") from exc
        return ranges

    def network_policy(self, block_all: Any, allow: Any) -> bool:
        """Whether the sandbox's network namespace is the host's (Daytona's default: open).

        An allow-list needs it too: its ranges are then enforced per sandbox uid. An
        open sandbox must be guarded (:meth:`guard`) before its network opens.

        Raises:
            CreateError: An open network or allow-list that cannot be kept off the
                host's services.
        """
        if block_all is True and not self.allow_list(allow):
            return False
        try:
            GUARD.ensure()
        except GuardUnavailableError as exc:
            raise CreateError(400, str(exc), "NETWORK_GUARD_UNAVAILABLE") from exc
        return True

    @staticmethod
    def guard(local: LocalSandbox) -> None:
        """Keep a sandbox off the host's own addresses; call it before its network opens.

        The rule names the sandbox's uid only, so local sandboxes made without the
        emulator are never touched. It goes with :meth:`discard`.

        Raises:
            CreateError: The rule cannot be installed (the network must stay closed).
        """
        uid = local.uid
        if uid is None:
            raise CreateError(
                400,
                "an open network needs the emulator to run as root: a firewall rule for the "
                "sandbox's own uid keeps it off the host's services",
                "NETWORK_GUARD_UNAVAILABLE",
            )
        try:
            GUARD.guard(uid, local)
        except GuardUnavailableError as exc:
            raise CreateError(400, str(exc), "NETWORK_GUARD_UNAVAILABLE") from exc

    @staticmethod
    def discard(local: LocalSandbox) -> None:
        """Close a local sandbox, then remove its firewall rules.

        In that order: its processes are gone before its network is unguarded. The
        rules must go: its uid may be given to a later sandbox.
        """
        try:
            local.close()
        finally:
            if local.uid is not None:
                GUARD.release(local.uid)

    def recipe_for(self, body: Mapping[str, Any]) -> tuple[str, Recipe, Snapshot | None]:
        """The snapshot name and recipe a ``CreateSandbox`` body asks for.

        Raises:
            CreateError: An unknown or inactive snapshot, or an image that cannot be
                built offline.
        """
        build = body.get("buildInfo")
        if build:
            dockerfile = str(build.get("dockerfileContent") or "")
            if build.get("contextHashes"):
                raise CreateError(
                    400,
                    "images with local files (add_local_file/add_local_dir) need Daytona's "
                    "object storage, which the emulator does not provide",
                    "NOT_SUPPORTED_BY_EMULATOR",
                )
            try:
                recipe = parse_dockerfile(dockerfile)
            except BuildError as exc:
                raise CreateError(400, f"Failed to build the image: {exc}", "BUILD_FAILED") from exc
            return recipe.base or "image", recipe, None
        name = str(body.get("snapshot") or DEFAULT_SNAPSHOT)
        snap = self.catalog.snapshot(name)
        if snap is None:
            raise CreateError(404, f"Snapshot {name} not found", "NOT_FOUND")
        if snap.state != "active":
            raise CreateError(
                400, f"Snapshot {name} is {snap.state}: it cannot be used", "BAD_REQUEST"
            )
        snap.last_used_at = time.time()
        return snap.name, snap.recipe, snap

    def _binds(self, body: Mapping[str, Any]) -> tuple[dict[str, str], list[dict[str, str]]]:
        binds: dict[str, str] = {}
        records: list[dict[str, str]] = []
        for item in body.get("volumes") or []:
            volume = self.catalog.volume(str(item.get("volumeId", "")))
            if volume is None:
                raise CreateError(404, f"Volume {item.get('volumeId')} not found", "NOT_FOUND")
            mount = posixpath.normpath(str(item.get("mountPath") or ""))
            if not mount.startswith("/") or mount == "/":
                raise CreateError(400, f"invalid volume mount path {mount!r}", "BAD_REQUEST")
            host = volume.host_dir
            if item.get("subpath"):
                sub = posixpath.normpath(str(item["subpath"])).lstrip("/")
                if sub.startswith(".."):
                    raise CreateError(400, "invalid volume subpath", "BAD_REQUEST")
                host = os.path.join(volume.host_dir, sub)
                os.makedirs(host, exist_ok=True)
                os.chmod(host, 0o1777)
            binds[host] = mount
            volume.last_used_at = time.time()
            records.append({"volumeId": volume.id, "mountPath": mount})
        return binds, records

    def create(self, body: Mapping[str, Any]) -> EmuSandbox:
        """Create and start a sandbox from a ``CreateSandbox`` body, visible. Blocking.

        Raises:
            CreateError: The request asks for something the emulator refuses.
            SandboxError: The local sandbox did not start.
        """
        sandbox = self.build(body)
        self.add(sandbox)
        return sandbox

    def build(self, body: Mapping[str, Any]) -> EmuSandbox:
        """Create and start a sandbox that is not listed yet (a warm pool's). Blocking.

        Raises:
            CreateError: The request asks for something the emulator refuses.
            SandboxError: The local sandbox did not start.
        """
        snapshot_name, recipe, _ = self.recipe_for(body)
        network = self.network_policy(body.get("networkBlockAll"), body.get("networkAllowList"))
        allow = self.allow_list(body.get("networkAllowList"))
        binds, volume_records = self._binds(body)
        env = {"HOME": HOME, "USER": "daytona", "LOGNAME": "daytona", **recipe.env}
        env.update({str(k): str(v) for k, v in (body.get("env") or {}).items()})
        cpu = body.get("cpu")
        memory = body.get("memory")
        engine = LocalBackend(
            environment=recipe.environment(),  # a package layer, built once and cached
            network=network,
            limits=local_limits(self.limits, cpu, memory),
            env=env,
            unsafe_no_isolation=self.unsafe_no_isolation,
            workdir=HOME,
            binds=binds,
        )
        labels = {str(k): str(v) for k, v in (body.get("labels") or {}).items()}
        local = engine.create(labels=labels)
        try:  # nothing of the request's has run yet: the setup steps come after the guard
            if network:
                self.guard(local)
            if allow:
                self.restrict(local, allow)
            self._prepare(local, recipe)
        except BaseException:
            self.discard(local)
            raise

        def interval(key: str, default: int) -> int:
            value = body.get(key)
            return int(value) if value is not None else default

        sandbox_id = str(uuid.uuid4())
        sandbox = EmuSandbox(
            id=sandbox_id,
            name=str(body.get("name") or sandbox_id),
            labels=labels,
            env={k: v for k, v in env.items() if k not in ("HOME", "USER", "LOGNAME")},
            target=str(body.get("target") or DEFAULT_TARGET),
            snapshot=snapshot_name,
            network_block_all=bool(body.get("networkBlockAll")) if allow else not network,
            network_allow_list=",".join(allow) or None,
            cpu=int(cpu or 1),
            memory=int(memory or 1),
            disk=int(body.get("disk") or 3),
            auto_stop_interval=interval("autoStopInterval", 15),
            auto_archive_interval=interval("autoArchiveInterval", 10080),
            auto_delete_interval=interval("autoDeleteInterval", -1),
            local=local,
            engine=engine,
            volumes=volume_records,
            entrypoint=recipe.entrypoint,
        )
        return sandbox

    @staticmethod
    def _prepare(local: LocalSandbox, recipe: Recipe) -> None:
        """Run a recipe's setup in a new sandbox.

        Raises:
            CreateError: A setup step failed (its output is in the message).
        """
        if recipe.workdir:
            local.exec(f"mkdir -p {shlex.quote(recipe.workdir)}", "/", None, 30.0)
        for step in recipe.run:
            res = local.exec(step, None, None, SETUP_TIMEOUT_S)
            if res.exit_code != 0:
                out = (res.stdout + res.stderr).strip()[-1500:]
                raise CreateError(
                    400,
                    f"Failed to build the image: RUN {step} exited with {res.exit_code}: {out}",
                    "BUILD_FAILED",
                )

    @staticmethod
    def restrict(local: LocalSandbox, allow: list[str]) -> None:
        """Apply an allow-list to a local sandbox (an empty one lifts it).

        Raises:
            CreateError: The sandbox does not run as its own uid (not root mode), or
                the firewall refused the rules.
        """
        uid = local.uid
        if uid is None:
            raise CreateError(
                400,
                "networkAllowList needs the emulator to run as root (rules per sandbox uid)",
                "NOT_SUPPORTED_BY_EMULATOR",
            )
        try:
            if allow:
                GUARD.restrict(uid, allow)
            else:
                GUARD.unrestrict(uid)
        except GuardUnavailableError as exc:
            raise CreateError(400, str(exc), "NETWORK_GUARD_UNAVAILABLE") from exc

    def add(self, sandbox: EmuSandbox) -> None:
        """Make a sandbox visible (a new one, or one taken from a warm pool)."""
        with self._lock:
            self._sandboxes[sandbox.id] = sandbox

    # -- lifecycle ----------------------------------------------------------------------

    def delete(self, sandbox: EmuSandbox) -> None:
        """Destroy a sandbox: close its local sandbox and forget it. Blocking."""
        with self._lock:
            self._sandboxes.pop(sandbox.id, None)
        with sandbox.lock:
            sandbox.state = "destroyed"
            sandbox.updated_at = time.time()
        self.discard(sandbox.local)

    def stop(self, sandbox: EmuSandbox, state: str = "stopped") -> None:
        """Stop (or archive) a sandbox: its processes are gone, its files stay."""
        with sandbox.lock:
            if sandbox.state == state:
                return
            if sandbox.state == "started":
                sandbox.stop_interpreter()
                sandbox.extras.clear()
                sandbox.stopped_at = time.time()
            sandbox.state = state
            sandbox.updated_at = time.time()

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
        """Stop the reaper, destroy every sandbox (their firewall rules go with them)."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(5)
        for sandbox in self.all():
            with contextlib.suppress(Exception):
                self.delete(sandbox)
        with self.catalog.lock:
            pooled = [sb for pool in self.catalog.pools.values() for sb in pool.ready]
            for pool in self.catalog.pools.values():
                pool.ready.clear()
            self.catalog.pools.clear()
        for sandbox in pooled:
            with contextlib.suppress(Exception):
                self.discard(sandbox.local)
        self.catalog.close()

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
                sandbox.state in ("stopped", "archived")
                and sandbox.auto_delete_interval >= 0
                and sandbox.stopped_at is not None
                and now - sandbox.stopped_at >= sandbox.auto_delete_interval * self.minute_s
            ):
                self.delete(sandbox)
