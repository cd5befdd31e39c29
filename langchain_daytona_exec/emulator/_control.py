"""Control-plane routes for sandboxes, under ``/api/sandbox``."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator import _sessions, _warm_pools
from langchain_daytona_exec.emulator._http import Guard, error, json_body
from langchain_daytona_exec.emulator._state import CreateError, EmuSandbox, local_limits
from langchain_daytona_exec.errors import SandboxError

__all__ = ["ControlPlane"]

_INTERVALS = {
    "autostop": "auto_stop_interval",
    "autodelete": "auto_delete_interval",
    "autoarchive": "auto_archive_interval",
}


class ControlPlane:
    """The sandbox routes, bound to a :class:`Guard` (and through it the registry)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.registry = guard.registry

    def dto(self, request: Request, sb: EmuSandbox, *, full: bool = True) -> dict[str, Any]:
        """The sandbox's body as the API returns it."""
        return sb.to_json(self.guard.toolbox_url(request), full=full)

    async def create(self, request: Request) -> Response:
        body = await json_body(request)
        if body.get("name") and self.registry.get(str(body["name"])) is not None:
            return error(409, f"Sandbox with name {body['name']} already exists", "CONFLICT")
        try:
            sb = await run_in_threadpool(_warm_pools.take, self.registry, body)
            if sb is None:
                sb = await run_in_threadpool(self.registry.create, body)
        except CreateError as exc:
            return error(exc.status, str(exc), exc.code)
        except SandboxError as exc:
            return error(500, f"the emulator could not start a sandbox: {exc}")
        await _sessions.start_entrypoint(sb)
        return JSONResponse(self.dto(request, sb))

    async def list_all(self, request: Request) -> Response:
        query = request.query_params
        labels: dict[str, str] = {}
        if query.get("labels"):
            try:
                labels = {str(k): str(v) for k, v in json.loads(query["labels"]).items()}
            except (ValueError, AttributeError):
                return error(400, "labels must be a JSON object")
        found = self.registry.matching(labels)
        states = query.getlist("states")
        if states:
            found = [s for s in found if s.state in states]
        limit = int(query.get("limit") or 100)
        start = int(query.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return JSONResponse(
            {
                "items": [self.dto(request, s, full=False) for s in page],
                "nextCursor": str(start + limit) if more else None,
            }
        )

    async def get(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        return JSONResponse(self.dto(request, sb))

    async def delete(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        await run_in_threadpool(self.registry.delete, sb)
        return JSONResponse(self.dto(request, sb))

    async def start(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        was = sb.state
        await run_in_threadpool(self.registry.start, sb)
        if was != "started":
            await _sessions.start_entrypoint(sb)
        return JSONResponse(self.dto(request, sb))

    async def stop(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        await run_in_threadpool(self.registry.stop, sb)
        return JSONResponse(self.dto(request, sb))

    async def archive(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        if sb.state not in ("stopped", "archived"):
            return error(400, "Sandbox must be stopped before it can be archived", "BAD_REQUEST")
        await run_in_threadpool(self.registry.stop, sb, "archived")
        return JSONResponse(self.dto(request, sb))

    async def labels(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        labels = (await json_body(request)).get("labels")
        if not isinstance(labels, dict):
            return error(400, "labels must be a JSON object")
        sb.labels = {str(k): str(v) for k, v in labels.items()}
        sb.updated_at = time.time()
        return JSONResponse({"labels": sb.labels})

    async def toolbox_proxy_url(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        return JSONResponse({"url": self.guard.toolbox_url(request)})

    async def set_interval(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        attr = _INTERVALS.get(request.path_params["kind"])
        if attr is None:
            return error(404, f"Cannot POST {request.url.path}", "NOT_FOUND")
        raw = request.path_params["minutes"]
        try:
            minutes = int(raw)
        except ValueError:
            return error(400, f"interval must be an integer number of minutes, not {raw!r}")
        if attr != "auto_delete_interval" and minutes < 0:
            return error(400, f"{request.path_params['kind']} interval cannot be negative")
        setattr(sb, attr, minutes)
        sb.updated_at = time.time()
        return JSONResponse(self.dto(request, sb))

    async def last_activity(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        sb.touch()
        return Response(status_code=201)

    async def resize(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        body = await json_body(request)
        cpu, memory, disk = body.get("cpu"), body.get("memory"), body.get("disk")
        if cpu is None and memory is None and disk is None:
            return error(400, "No resource changes specified", "BAD_REQUEST")
        if disk is not None:
            if sb.state == "started":
                return error(400, "Disk resize requires a stopped sandbox", "BAD_REQUEST")
            if int(disk) < sb.disk:
                return error(400, "Disk size can only be increased", "BAD_REQUEST")
        if sb.state == "started" and (
            (cpu is not None and int(cpu) < sb.cpu)
            or (memory is not None and int(memory) < sb.memory)
        ):
            return error(
                400,
                "Hot resize only supports increasing CPU and memory; stop the sandbox first",
                "BAD_REQUEST",
            )
        limits = local_limits(self.registry.limits, int(cpu or sb.cpu), int(memory or sb.memory))
        await run_in_threadpool(sb.local.set_limits, limits)
        sb.cpu, sb.memory = int(cpu or sb.cpu), int(memory or sb.memory)
        sb.disk = int(disk or sb.disk)
        sb.updated_at = time.time()
        return JSONResponse(self.dto(request, sb))

    async def network_settings(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        body = await json_body(request)
        block = body.get("networkBlockAll")
        block_all = sb.network_block_all if block is None else bool(block)
        raw_allow = body.get("networkAllowList")
        allow_text = sb.network_allow_list if raw_allow is None else raw_allow
        try:
            is_open = self.registry.network_policy(block_all, allow_text)
            allow = self.registry.allow_list(allow_text)
            if is_open:  # before the restart below opens its network
                await run_in_threadpool(self.registry.guard, sb.local)
            if allow or sb.network_allow_list:
                await run_in_threadpool(self.registry.restrict, sb.local, allow)
        except CreateError as exc:
            return error(exc.status, str(exc), exc.code)
        if is_open != bool(sb.engine.network):
            sb.set_network(is_open)
            if sb.state == "started":
                await run_in_threadpool(sb.restart_interpreter)
        sb.network_block_all = block_all if allow else not is_open
        sb.network_allow_list = ",".join(allow) or None
        sb.updated_at = time.time()
        return JSONResponse(self.dto(request, sb))

    async def preview_url(self, request: Request) -> Response:
        sb = self.guard.found(request)
        if isinstance(sb, Response):
            return sb
        port = int(request.path_params["port"])
        if not 1 <= port <= 65535:
            return error(400, f"invalid port {port}")
        token = sb.extras.setdefault("preview_token", secrets.token_urlsafe(24))
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"sandboxId": sb.id, "url": f"{base}/preview/{sb.id}/{port}", "token": token}
        )

    def routes(self) -> list[BaseRoute]:
        """The routes, mounted under ``/api``."""
        api = self.guard.api
        sid = "/sandbox/{sid}"
        return [
            Route("/sandbox", api(self.create), methods=["POST"]),
            Route("/sandbox", api(self.list_all), methods=["GET"]),
            Route(sid, api(self.get), methods=["GET"]),
            Route(sid, api(self.delete), methods=["DELETE"]),
            Route(f"{sid}/start", api(self.start), methods=["POST"]),
            Route(f"{sid}/stop", api(self.stop), methods=["POST"]),
            Route(f"{sid}/archive", api(self.archive), methods=["POST"]),
            Route(f"{sid}/labels", api(self.labels), methods=["PUT"]),
            Route(f"{sid}/toolbox-proxy-url", api(self.toolbox_proxy_url), methods=["GET"]),
            Route(f"{sid}/last-activity", api(self.last_activity), methods=["POST"]),
            Route(f"{sid}/resize", api(self.resize), methods=["POST"]),
            Route(f"{sid}/network-settings", api(self.network_settings), methods=["PUT", "POST"]),
            Route(f"{sid}/ports/{{port:int}}/preview-url", api(self.preview_url), methods=["GET"]),
            Route(f"{sid}/{{kind}}/{{minutes}}", api(self.set_interval), methods=["POST"]),
        ]
