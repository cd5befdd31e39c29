"""Snapshot routes (``daytona.snapshot``), under ``/api/snapshots``.

A snapshot made from an image name runs the local runtime (the name is recorded, as
no registry is reachable offline); one made from a declarative ``Image`` is built
offline by ``_images.parse_dockerfile`` or fails with Daytona's ``build_failed`` state
and the reason. Named snapshots can also be registered in Python
(:meth:`Emulator.register_snapshot`).
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._catalog import Snapshot
from langchain_daytona_exec.emulator._http import Guard, error, json_body, unsupported
from langchain_daytona_exec.emulator._images import BuildError, Recipe, parse_dockerfile

__all__ = ["routes"]


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

    async def build_logs(self, request: Request) -> Response:
        return unsupported("streaming snapshot build logs")


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
        Route("/snapshots/{id}/build-logs-url", api(r.build_logs), methods=["GET"]),
    ]
