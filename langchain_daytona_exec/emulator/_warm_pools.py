"""Warm pools (``daytona.warm_pool``): ready sandboxes of a snapshot, handed out by create.

A pool's sandboxes are built in the background with the network blocked and stay
unlisted until a ``create`` asks for the pool's snapshot with nothing a pooled sandbox
cannot take on afterwards (an image, volumes, resources). The sandbox then gets the
request's name, labels, intervals, variables and network (its interpreter restarts when
the variables or the network change, as nothing has run in it yet) and the pool refills.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._catalog import WarmPool
from langchain_daytona_exec.emulator._http import Guard, error, json_body
from langchain_daytona_exec.emulator._state import DEFAULT_TARGET, CreateError, EmuSandbox, Registry

__all__ = ["routes", "take"]

logger = logging.getLogger(__name__)

_NOT_POOLABLE = (
    "buildInfo",
    "volumes",
    "cpu",
    "memory",
    "disk",
    "gpu",
    "gpuType",
    "networkAllowList",
)
"""Create fields a pooled sandbox cannot take on after it was built."""


def _fill(registry: Registry, pool: WarmPool) -> None:
    """Build sandboxes until the pool has its size (runs on its own thread)."""
    while True:
        with registry.catalog.lock:
            if pool.deleted or len(pool.ready) + pool.extras_building >= pool.pool:
                pool.filling = False
                return
            pool.extras_building += 1
        try:
            sb = registry.build(
                {"snapshot": pool.snapshot, "target": pool.target, "networkBlockAll": True}
            )
        except Exception as exc:  # a failing snapshot: report it on the pool
            logger.warning("warm pool %s could not build a sandbox: %s", pool.id, exc)
            with registry.catalog.lock:
                pool.extras_building -= 1
                pool.error_reason = str(exc)
                pool.filling = False
            return
        with registry.catalog.lock:
            pool.extras_building -= 1
            if pool.deleted:
                registry.discard(sb.local)
                return
            pool.ready.append(sb)
            pool.error_reason = None
            pool.updated_at = time.time()


def refill(registry: Registry, pool: WarmPool) -> None:
    """Start the pool's filler thread unless one runs."""
    with registry.catalog.lock:
        if pool.filling or pool.deleted:
            return
        pool.filling = True
    threading.Thread(
        target=_fill, args=(registry, pool), name="ldx-emu-warm-pool", daemon=True
    ).start()


def _shrink(registry: Registry, pool: WarmPool) -> None:
    with registry.catalog.lock:
        extra = pool.ready[pool.pool :] if not pool.deleted else list(pool.ready)
        del pool.ready[len(pool.ready) - len(extra) :]
    for sb in extra:
        with contextlib.suppress(Exception):
            registry.discard(sb.local)


def take(registry: Registry, body: Mapping[str, Any]) -> EmuSandbox | None:
    """A ready pooled sandbox for this create request, made visible; ``None`` if none fits.

    Raises:
        CreateError: The request's network cannot be granted.
    """
    snapshot = body.get("snapshot")
    if not snapshot or any(body.get(k) for k in _NOT_POOLABLE):
        return None
    pool = registry.catalog.pool_for(str(snapshot))
    target = str(body.get("target") or DEFAULT_TARGET)
    if pool is None or pool.target != target:
        return None
    is_open = registry.network_policy(body.get("networkBlockAll"), body.get("networkAllowList"))
    with registry.catalog.lock:
        if not pool.ready:
            return None
        sb: EmuSandbox = pool.ready.pop(0)
    refill(registry, pool)
    env = {str(k): str(v) for k, v in (body.get("env") or {}).items()}
    restart = bool(env) or is_open
    if is_open:
        try:
            registry.guard(sb.local)  # before the restart below opens its network
        except CreateError:
            registry.discard(sb.local)
            raise
    if env:
        sb.engine.env.update(env)
        sb.env.update(env)
    sb.set_network(is_open)
    sb.name = str(body.get("name") or sb.id)
    sb.labels = {str(k): str(v) for k, v in (body.get("labels") or {}).items()}
    for key, attr in (
        ("autoStopInterval", "auto_stop_interval"),
        ("autoArchiveInterval", "auto_archive_interval"),
        ("autoDeleteInterval", "auto_delete_interval"),
    ):
        if body.get(key) is not None:
            setattr(sb, attr, int(body[key]))
    if restart:
        sb.restart_interpreter()
    sb.created_at = sb.updated_at = time.time()
    sb.touch()
    registry.add(sb)
    return sb


class _Routes:
    def __init__(self, guard: Guard) -> None:
        self.registry = guard.registry
        self.catalog = guard.registry.catalog

    def _json(self, pool: WarmPool) -> dict[str, Any]:
        return pool.to_json(self.catalog.snapshot(pool.snapshot))

    def _found(self, request: Request) -> WarmPool | Response:
        pool = self.catalog.pools.get(request.path_params["id"])
        if pool is None:
            return error(404, f"Warm pool {request.path_params['id']} not found", "NOT_FOUND")
        return pool

    async def list(self, request: Request) -> Response:
        return JSONResponse([self._json(p) for p in list(self.catalog.pools.values())])

    async def create(self, request: Request) -> Response:
        body = await json_body(request)
        snapshot = str(body["snapshot"])
        size = int(body["pool"])
        target = str(body.get("target") or DEFAULT_TARGET)
        if size < 1:
            return error(400, "pool must be at least 1")
        if self.catalog.snapshot(snapshot) is None:
            return error(404, f"Snapshot {snapshot} not found", "NOT_FOUND")
        with self.catalog.lock:
            for other in self.catalog.pools.values():
                if other.snapshot == snapshot and other.target == target:
                    return error(
                        409, f"A warm pool for {snapshot} in {target} already exists", "CONFLICT"
                    )
            pool = WarmPool(snapshot=snapshot, target=target, pool=size)
            self.catalog.pools[pool.id] = pool
        refill(self.registry, pool)
        return JSONResponse(self._json(pool), status_code=201)

    async def get(self, request: Request) -> Response:
        pool = self._found(request)
        if isinstance(pool, Response):
            return pool
        return JSONResponse(self._json(pool))

    async def update(self, request: Request) -> Response:
        pool = self._found(request)
        if isinstance(pool, Response):
            return pool
        size = int((await json_body(request))["pool"])
        if size < 0:
            return error(400, "pool cannot be negative")
        pool.pool = size
        pool.updated_at = time.time()
        await run_in_threadpool(_shrink, self.registry, pool)
        refill(self.registry, pool)
        return JSONResponse(self._json(pool))

    async def delete(self, request: Request) -> Response:
        pool = self._found(request)
        if isinstance(pool, Response):
            return pool
        with self.catalog.lock:
            self.catalog.pools.pop(pool.id, None)
            pool.deleted = True
        await run_in_threadpool(_shrink, self.registry, pool)
        return Response(status_code=204)


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/api``."""
    r = _Routes(guard)
    api = guard.api
    return [
        Route("/warm-pools", api(r.list), methods=["GET"]),
        Route("/warm-pools", api(r.create), methods=["POST"]),
        Route("/warm-pools/{id}", api(r.get), methods=["GET"]),
        Route("/warm-pools/{id}", api(r.update), methods=["PATCH", "PUT"]),
        Route("/warm-pools/{id}", api(r.delete), methods=["DELETE"]),
    ]
