"""Volume routes (``daytona.volume``), under ``/api/volumes``.

A volume is a host folder of the emulator, bound read-write at the ``mountPath`` of
each sandbox created with it; it is shared by those sandboxes and outlives them.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._http import Guard, error, json_body

__all__ = ["routes"]


class _Routes:
    def __init__(self, guard: Guard) -> None:
        self.registry = guard.registry
        self.catalog = guard.registry.catalog

    async def list(self, request: Request) -> Response:
        with self.catalog.lock:
            volumes = sorted(self.catalog.volumes.values(), key=lambda v: v.created_at)
        return JSONResponse([v.to_json() for v in volumes])

    async def create(self, request: Request) -> Response:
        name = str((await json_body(request))["name"]).strip()
        if not name or "/" in name:
            return error(400, f"invalid volume name {name!r}", "BAD_REQUEST")
        if self.catalog.volume(name) is not None:
            return error(409, f"Volume with name {name} already exists", "CONFLICT")
        volume = await run_in_threadpool(self.catalog.create_volume, name)
        return JSONResponse(volume.to_json())

    async def get(self, request: Request) -> Response:
        key = request.path_params.get("id") or request.path_params.get("name") or ""
        volume = self.catalog.volume(key)
        if volume is None:
            return error(404, f"Volume {key} not found", "NOT_FOUND")
        return JSONResponse(volume.to_json())

    async def delete(self, request: Request) -> Response:
        volume = self.catalog.volume(request.path_params["id"])
        if volume is None:
            return error(404, f"Volume {request.path_params['id']} not found", "NOT_FOUND")
        users = [
            s.name
            for s in self.registry.all()
            if any(v["volumeId"] == volume.id for v in s.volumes)
        ]
        if users:
            return error(
                409, f"Volume {volume.name} is in use by sandboxes: {', '.join(users)}", "CONFLICT"
            )
        await run_in_threadpool(self.catalog.delete_volume, volume)
        return Response(status_code=200)


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/api``."""
    r = _Routes(guard)
    api = guard.api
    return [
        Route("/volumes", api(r.list), methods=["GET"]),
        Route("/volumes", api(r.create), methods=["POST"]),
        Route("/volumes/by-name/{name}", api(r.get), methods=["GET"]),
        Route("/volumes/{id}", api(r.get), methods=["GET"]),
        Route("/volumes/{id}", api(r.delete), methods=["DELETE"]),
    ]
