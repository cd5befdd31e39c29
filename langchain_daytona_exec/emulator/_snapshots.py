"""Snapshot routes (``daytona.snapshot``), under ``/api/snapshots``.

A snapshot made from an image name runs the local runtime (the name is recorded, as
no registry is reachable offline); one made from a declarative ``Image`` is built
offline by ``_images.parse_dockerfile`` (packages the local runtime lacks are built
into a cached package layer in the background: ``building``, then ``active``, or
``build_failed`` with pip's message; the log streams from ``build-logs``) or fails
with Daytona's ``build_failed`` state and the reason. Named snapshots can also be
registered in Python (:meth:`Emulator.register_snapshot`).
"""

from __future__ import annotations

import asyncio
import math
import shlex
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.backends.local._layers import build_layer
from langchain_daytona_exec.emulator._catalog import Snapshot
from langchain_daytona_exec.emulator._http import Guard, error, json_body
from langchain_daytona_exec.emulator._images import BuildError, Recipe, parse_dockerfile
from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import EnvironmentBuildError

__all__ = ["routes"]

_FOLLOW_LIMIT_S = 1800.0
"""The longest a followed build log stays open (a build's own limit)."""


def _build(snap: Snapshot, environment: Environment) -> None:
    """Build the snapshot's package layer (a background thread); set its final state."""
    try:
        build_layer(environment, log=snap.build_log.append)
    except EnvironmentBuildError as exc:
        snap.error_reason = str(exc)
        snap.state = "build_failed"
    except Exception as exc:  # a broken build must still end the snapshot's "building"
        snap.error_reason = f"the build failed: {exc}"
        snap.state = "build_failed"
    else:
        snap.state = "active"


class _Routes:
    def __init__(self, guard: Guard) -> None:
        self.catalog = guard.registry.catalog

    def _found(self, request: Request) -> Snapshot | Response:
        snap = self.catalog.snapshot(request.path_params["id"])
        if snap is None:
            return error(404, f"Snapshot {request.path_params['id']} not found", "NOT_FOUND")
        return snap

    async def list(self, request: Request) -> Response:
        query = request.query_params
        page = max(1, int(query.get("page") or 1))
        limit = max(1, int(query.get("limit") or 100))
        name = query.get("name")
        with self.catalog.lock:
            snaps = sorted(self.catalog.snapshots.values(), key=lambda s: s.created_at)
        if name:
            snaps = [s for s in snaps if name in s.name]
        items = snaps[(page - 1) * limit : page * limit]
        return JSONResponse(
            {
                "items": [s.to_json() for s in items],
                "total": len(snaps),
                "page": page,
                "totalPages": max(1, math.ceil(len(snaps) / limit)),
            }
        )

    async def get(self, request: Request) -> Response:
        snap = self._found(request)
        if isinstance(snap, Response):
            return snap
        return JSONResponse(snap.to_json())

    async def create(self, request: Request) -> Response:
        body = await json_body(request)
        name = str(body["name"])
        if self.catalog.snapshot(name) is not None:
            return error(409, f"Snapshot with name {name} already exists", "CONFLICT")
        build: dict[str, Any] | None = body.get("buildInfo")
        recipe, reason, dockerfile = Recipe(), None, None
        if build:
            dockerfile = str(build.get("dockerfileContent") or "")
            if build.get("contextHashes"):
                reason = "images with local files need Daytona's object storage (not emulated)"
            else:
                try:
                    recipe = parse_dockerfile(dockerfile)
                except BuildError as exc:
                    reason = str(exc)
        elif body.get("imageName"):
            recipe.base = str(body["imageName"])
        else:
            return error(400, "pass imageName or buildInfo", "BAD_REQUEST")
        if body.get("entrypoint") and reason is None:
            recipe.entrypoint = shlex.join(str(w) for w in body["entrypoint"])
        snap = Snapshot(
            name=name,
            recipe=recipe,
            image_name=str(body.get("imageName") or name),
            dockerfile=dockerfile,
            cpu=int(body.get("cpu") or 1),
            memory=int(body.get("memory") or 1),
            disk=int(body.get("disk") or 3),
            state="build_failed" if reason else "active",
            error_reason=reason,
        )
        environment = recipe.environment()
        if environment is not None and not reason:
            snap.state = "building"
            threading.Thread(
                target=_build, args=(snap, environment), name="emu-snapshot-build", daemon=True
            ).start()
        self.catalog.add_snapshot(snap)
        return JSONResponse(snap.to_json())

    async def delete(self, request: Request) -> Response:
        snap = self._found(request)
        if isinstance(snap, Response):
            return snap
        if snap.general:
            return error(403, f"Snapshot {snap.name} is a general snapshot", "FORBIDDEN")
        self.catalog.remove_snapshot(snap)
        return Response(status_code=200)

    async def set_state(self, request: Request) -> Response:
        snap = self._found(request)
        if isinstance(snap, Response):
            return snap
        activate = request.url.path.endswith("/activate")
        if snap.state != "build_failed":
            snap.state = "active" if activate else "inactive"
        return JSONResponse(snap.to_json()) if activate else Response(status_code=204)

    async def build_logs_url(self, request: Request) -> Response:
        snap = self._found(request)
        if isinstance(snap, Response):
            return snap
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"url": f"{base}/api/snapshots/{snap.id}/build-logs"})

    async def build_logs(self, request: Request) -> Response:
        snap = self._found(request)
        if isinstance(snap, Response):
            return snap
        follow = request.query_params.get("follow") in ("true", "1")

        async def lines() -> AsyncIterator[bytes]:
            sent = 0
            deadline = time.monotonic() + _FOLLOW_LIMIT_S
            while True:
                log = snap.build_log
                while sent < len(log):
                    yield (log[sent] + "\n").encode()
                    sent += 1
                if not follow or snap.state != "building" or time.monotonic() > deadline:
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(lines(), media_type="text/plain")


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/api``."""
    r = _Routes(guard)
    api = guard.api
    return [
        Route("/snapshots", api(r.list), methods=["GET"]),
        Route("/snapshots", api(r.create), methods=["POST"]),
        Route("/snapshots/{id}", api(r.get), methods=["GET"]),
        Route("/snapshots/{id}", api(r.delete), methods=["DELETE"]),
        Route("/snapshots/{id}/activate", api(r.set_state), methods=["POST"]),
        Route("/snapshots/{id}/deactivate", api(r.set_state), methods=["POST"]),
        Route("/snapshots/{id}/build-logs", api(r.build_logs), methods=["GET"]),
        Route("/snapshots/{id}/build-logs-url", api(r.build_logs_url), methods=["GET"]),
    ]
