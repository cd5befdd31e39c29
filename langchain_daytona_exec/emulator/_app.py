"""The emulator's ASGI application: every route module mounted, JSON errors everywhere.

Paths and bodies follow the ``daytona`` SDK 0.226 (its generated ``daytona_api_client``
and ``daytona_toolbox_api_client``):

* control plane under ``/api`` (``_control``, ``_snapshots``, ``_volumes``,
  ``_warm_pools``);
* each sandbox's toolbox under ``/toolbox/{id}`` (its ``toolboxProxyUrl`` is
  ``<base>/toolbox``): ``_toolbox`` (exec, code-run, env, files), ``_files`` (find,
  search, replace, permissions, move), ``_sessions``, ``_contexts``, ``_pty``, ``_git``;
* preview links under ``/preview/{id}/{port}`` (``_preview``);
* admin under ``/_emulator`` (no auth): faults, latency, dropping or stopping a
  sandbox behind the client's back, request counters (``_admin``).

Unknown routes, unsupported features (LSP, computer use, ...) and refused websockets
answer in Daytona's JSON error envelope (``_http``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from langchain_daytona_exec.emulator import (
    _admin,
    _contexts,
    _files,
    _git,
    _preview,
    _pty,
    _sessions,
    _snapshots,
    _toolbox,
    _volumes,
    _warm_pools,
)
from langchain_daytona_exec.emulator._control import ControlPlane
from langchain_daytona_exec.emulator._faults import ADMIN_PREFIX, FaultMiddleware, Faults
from langchain_daytona_exec.emulator._http import (
    SOURCE_DAEMON,
    Guard,
    error,
    refuse,
    unsupported,
)
from langchain_daytona_exec.emulator._state import Registry

__all__ = ["build_app"]

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_UNSUPPORTED_TOOLBOX = {
    "/lsp": "The language server protocol (sandbox.create_lsp_server)",
    "/computeruse": "Computer use (sandbox.computer_use)",
    "/system/metrics": "System metrics",
    "/port": "Port listings",
    "/files/upload-v2": "Streaming uploads (upload-v2)",
    "/files/download": "Single-file streaming downloads",
    "/init": "Daemon initialisation",
}
"""Toolbox path prefixes of Daytona features the emulator answers with a clear 501."""

_UNSUPPORTED_API = {
    "/api/object-storage": "Daytona's object storage (images with local files)",
    "/api/socket.io": "The Socket.IO event stream (set DAYTONA_USE_DEPRECATED_POLLING=true)",
    "/api/sandbox/{id}/fork": "Forking sandboxes",
    "/api/sandbox/{id}/snapshot": "Snapshotting a sandbox",
    "/api/sandbox/{id}/backup": "Sandbox backups",
    "/api/sandbox/{id}/ssh-access": "SSH access",
    "/api/sandbox/{id}/pause": "Pausing sandboxes",
    "/api/sandbox/{id}/recover": "Recovering sandboxes",
    "/api/sandbox/{id}/public": "Public sandboxes",
    "/api/sandbox/{id}/build-logs": "Sandbox build logs",
    "/api/sandbox/{id}/ports/{port}/signed-preview-url": "Signed preview URLs",
    "/api/secrets": "Secrets",
    "/api/docker-registry": "Docker registries",
}
"""Control-plane path prefixes (``{...}`` is one path segment) answered with a clear 501."""


def _matches(pattern: str, path: str) -> bool:
    want, have = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(have) < len(want):
        return False
    return all(w.startswith("{") or w == h for w, h in zip(want, have, strict=False))


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error(405, f"Cannot {request.method} {request.url.path}", "METHOD_NOT_ALLOWED")
    path = request.url.path
    for pattern, feature in _UNSUPPORTED_API.items():
        if _matches(pattern, path):
            return unsupported(feature)
    if path.startswith("/toolbox/"):
        inner = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
        for prefix, feature in _UNSUPPORTED_TOOLBOX.items():
            if inner.startswith(prefix):
                return unsupported(feature, SOURCE_DAEMON)
    return error(404, f"Cannot {request.method} {path}", "NOT_FOUND")


async def _unknown_ws(ws: WebSocket) -> None:
    await refuse(ws, f"Cannot open a websocket on {ws.url.path}", 404, "NOT_FOUND")


def _with_ws_fallback(routes: list[BaseRoute]) -> list[BaseRoute]:
    return [*routes, WebSocketRoute("/{rest:path}", _unknown_ws)]


def build_app(registry: Registry, faults: Faults, *, api_key: str | None = None) -> FaultMiddleware:
    """Build the emulator's ASGI application.

    Args:
        registry: The sandboxes (and their catalog of snapshots, volumes, warm pools).
        faults: The fault plan and request counters.
        api_key: The only API key accepted; ``None`` accepts any Bearer token.

    Returns:
        The ASGI app (the routes behind the fault-injection middleware).
    """
    guard = Guard(registry, api_key)
    control: list[BaseRoute] = [
        *ControlPlane(guard).routes(),
        *_snapshots.routes(guard),
        *_volumes.routes(guard),
        *_warm_pools.routes(guard),
    ]
    toolbox: list[BaseRoute] = [
        *_toolbox.routes(guard),
        *_files.routes(guard),
        *_sessions.routes(guard),
        *_contexts.routes(guard),
        *_pty.routes(guard),
        *_git.routes(guard),
    ]
    app = Starlette(
        routes=[
            Mount("/api", routes=_with_ws_fallback(control)),
            Mount("/toolbox/{sid}", routes=_with_ws_fallback(toolbox)),
            *_preview.routes(guard),
            Mount(ADMIN_PREFIX, routes=_admin.routes(registry, faults)),
            Route("/{rest:path}", _not_found_route, methods=_ALL_METHODS),
            WebSocketRoute("/{rest:path}", _unknown_ws),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    return FaultMiddleware(app, faults)


async def _not_found_route(request: Request) -> Response:
    return await _not_found(request, HTTPException(404))
