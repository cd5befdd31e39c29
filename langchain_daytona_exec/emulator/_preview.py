"""Preview links: ``/preview/{sandboxId}/{port}/...`` reaches a server the sandbox runs.

``get_preview_link(port)`` answers this URL and a token. A request carrying the token
(``x-daytona-preview-token``) or the API key is forwarded to the sandbox's port, as
Daytona's proxy does, and the answer comes back. The network policy applies: a sandbox
whose network is blocked cannot listen on a TCP port at all, and the emulator forwards
only to a port that a process of *that* sandbox listens on (checked against the
kernel's socket table), never to another service of the host.
"""

from __future__ import annotations

import hmac

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._http import SOURCE_PROXY, Guard, error
from langchain_daytona_exec.emulator._state import EmuSandbox

__all__ = ["routes"]

PREVIEW_TIMEOUT_S = 60.0
"""How long a forwarded request may take."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest answer forwarded (the whole body is buffered)."""

TOKEN_HEADER = "x-daytona-preview-token"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
        TOKEN_HEADER,
    }
)
_LISTEN = "0A"
"""TCP state LISTEN in ``/proc/net/tcp``."""


def listener_uid(port: int) -> set[int]:
    """Uids owning a listening TCP socket on ``port`` (IPv4 and IPv6), from ``/proc/net``."""
    owners: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                owners.add(int(fields[7]))
    return owners


def _refusal(sb: EmuSandbox, port: int) -> Response | None:
    if sb.state != "started":
        return error(502, f"sandbox is not running (state: {sb.state})", None, SOURCE_PROXY)
    if sb.network_block_all:
        return error(
            502,
            f"nothing can listen on port {port}: the sandbox's network is blocked "
            "(networkBlockAll); update its network settings to serve previews",
            "NETWORK_BLOCKED",
            SOURCE_PROXY,
        )
    uid = sb.local.uid
    if uid is None:
        return error(
            501,
            "previews need the emulator to run as root (it checks which sandbox owns a port)",
            "NOT_SUPPORTED_BY_EMULATOR",
            SOURCE_PROXY,
        )
    if uid not in listener_uid(port):
        return error(
            502, f"no server of this sandbox listens on port {port}", "BAD_GATEWAY", SOURCE_PROXY
        )
    return None


def routes(guard: Guard) -> list[BaseRoute]:
    """The forwarding routes, at the top level (``/preview/{sid}/{port}[/...]``)."""

    async def forward(request: Request) -> Response:
        sb = guard.registry.get(request.path_params["sid"])
        if sb is None:
            return error(404, "sandbox not found", "SANDBOX_NOT_FOUND", SOURCE_PROXY)
        token = str(sb.extras.get("preview_token", ""))
        given = request.headers.get(TOKEN_HEADER, "")
        if not (token and hmac.compare_digest(given.encode(), token.encode())) and not (
            guard.authorized(request.headers)
        ):
            return error(401, "a preview token or the API key is required", None, SOURCE_PROXY)
        port = int(request.path_params["port"])
        refused = await run_in_threadpool(_refusal, sb, port)
        if refused is not None:
            return refused
        sb.touch()
        path = "/" + request.path_params.get("rest", "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with httpx.AsyncClient(timeout=PREVIEW_TIMEOUT_S) as client:
            try:
                upstream = await client.request(
                    request.method,
                    f"http://127.0.0.1:{port}{path}"
                    + (f"?{request.url.query}" if request.url.query else ""),
                    headers=headers,
                    content=await request.body(),
                )
            except httpx.HTTPError as exc:
                return error(
                    502, f"the sandbox's server failed: {exc}", "BAD_GATEWAY", SOURCE_PROXY
                )
        if len(upstream.content) > MAX_BODY_BYTES:
            return error(502, "the answer is too large to forward", "BAD_GATEWAY", SOURCE_PROXY)
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        out.pop("content-encoding", None)  # httpx already decoded the body
        return Response(upstream.content, status_code=upstream.status_code, headers=out)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    base = "/preview/{sid}/{port:int}"
    return [
        Route(base, forward, methods=methods),
        Route(base + "/{rest:path}", forward, methods=methods),
    ]
