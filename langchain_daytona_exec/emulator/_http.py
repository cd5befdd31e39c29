"""What every route module shares: Daytona's error envelope, auth, and handler wrappers.

Daytona answers every error with ``{"statusCode", "message", "code", "source"}``; the
SDK maps it to its typed errors (``FILE_NOT_FOUND`` from ``DAYTONA_DAEMON`` becomes
``DaytonaFileNotFoundError``, 404 ``DaytonaNotFoundError``, and so on).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from langchain_daytona_exec.emulator._state import EmuSandbox, Registry, iso_now
from langchain_daytona_exec.errors import (
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxLostError,
    UnsupportedLanguageError,
)

__all__ = [
    "SOURCE_API",
    "SOURCE_DAEMON",
    "SOURCE_PROXY",
    "BadRequest",
    "Guard",
    "error",
    "file_error",
    "json_body",
    "refuse",
    "unsupported",
]

SOURCE_API = "DAYTONA_API"
SOURCE_PROXY = "DAYTONA_PROXY"
SOURCE_DAEMON = "DAYTONA_DAEMON"

WS_POLICY_CLOSE = 1008
"""Close code of a refused websocket (policy violation), after an accept: a bare 403
on the upgrade tells the client nothing, so the reason travels in the close frame."""

Handler = Callable[[Request], Awaitable[Response]]
SandboxHandler = Callable[[Request, EmuSandbox], Awaitable[Response]]


def error(status: int, message: str, code: str | None = None, source: str = SOURCE_API) -> Response:
    """A response in Daytona's error envelope."""
    body: dict[str, Any] = {"statusCode": status, "message": message, "source": source}
    if code is not None:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def unsupported(feature: str, source: str = SOURCE_API) -> Response:
    """A clear JSON 501 for a Daytona feature the emulator does not provide."""
    return error(
        501,
        f"{feature} is not supported by the Daytona emulator (langchain-daytona-exec); "
        "use a real Daytona deployment for it",
        "NOT_SUPPORTED_BY_EMULATOR",
        source,
    )


def file_error(exc: SandboxFileError) -> Response:
    """The daemon's answer for a file error of the local sandbox."""
    if isinstance(exc, SandboxFileNotFoundError):
        return error(404, str(exc), "FILE_NOT_FOUND", SOURCE_DAEMON)
    if isinstance(exc, SandboxIsADirectoryError):
        return error(400, f"is a directory: {exc}", "INVALID_FILE_PATH", SOURCE_DAEMON)
    if isinstance(exc, SandboxFileTooLargeError):
        return error(413, f"file too large: {exc}", "FILE_TOO_LARGE", SOURCE_DAEMON)
    return error(400, str(exc), "INVALID_FILE_PATH", SOURCE_DAEMON)


class BadRequest(Exception):
    """A request body of the wrong shape; becomes a 400 envelope."""


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` when the body is empty).

    Raises:
        BadRequest: The body is not a JSON object.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


class Guard:
    """Auth and sandbox lookup around the route handlers.

    Args:
        registry: The sandboxes.
        api_key: The only API key accepted; ``None`` accepts any Bearer token.
    """

    def __init__(self, registry: Registry, api_key: str | None) -> None:
        self.registry = registry
        self.api_key = api_key

    def authorized(self, headers: Any) -> bool:
        """True when the headers carry an accepted ``Bearer`` key (constant-time check)."""
        value = str(headers.get("authorization", ""))
        if not value.startswith("Bearer ") or not value[7:]:
            return False
        if self.api_key is None:
            return True
        return hmac.compare_digest(value[7:].encode(), self.api_key.encode())

    @staticmethod
    def toolbox_url(request: Request | WebSocket) -> str:
        """The ``toolboxProxyUrl`` of every sandbox."""
        return f"{str(request.base_url).rstrip('/')}/toolbox"

    def api(self, fn: Handler) -> Handler:
        """Wrap a control-plane handler: auth check, bad bodies as 400."""

        async def handler(request: Request) -> Response:
            if not self.authorized(request.headers):
                return error(401, "Unauthorized: pass a valid API key as a Bearer token")
            try:
                return await fn(request)
            except BadRequest as exc:
                return error(400, str(exc))
            except (KeyError, TypeError, ValueError) as exc:
                return error(400, f"invalid request: {type(exc).__name__}: {exc}")

        return handler

    def found(self, request: Request) -> EmuSandbox | Response:
        """The sandbox named by the ``sid`` path parameter, or Daytona's 404."""
        sid = request.path_params["sid"]
        sb = self.registry.get(sid)
        if sb is None:
            return error(404, f"Sandbox with ID or name {sid} not found", "NOT_FOUND")
        return sb

    def toolbox(self, fn: SandboxHandler) -> Handler:
        """Wrap a toolbox handler: auth, sandbox lookup, state check, activity, errors.

        Error answers get the daemon's ``path``, ``method`` and ``timestamp`` fields.
        """

        async def handler(request: Request) -> Response:
            response = await answer(request)
            if response.status_code >= 400 and response.media_type == "application/json":
                return _with_request_fields(response, request)
            return response

        async def answer(request: Request) -> Response:
            if not self.authorized(request.headers):
                return error(401, "Unauthorized", source=SOURCE_PROXY)
            sb = self.registry.get(request.path_params["sid"])
            if sb is None:
                return error(404, "sandbox not found", "SANDBOX_NOT_FOUND", SOURCE_PROXY)
            if sb.state != "started":
                return error(
                    400,
                    f"sandbox is not running (state: {sb.state}); start it first",
                    "SANDBOX_NOT_STARTED",
                    SOURCE_PROXY,
                )
            sb.touch()
            try:
                return await fn(request, sb)
            except BadRequest as exc:
                return error(400, str(exc), None, SOURCE_DAEMON)
            except SandboxFileError as exc:
                return file_error(exc)
            except SandboxLostError as exc:
                sb.contexts.clear()
                return error(500, f"the sandbox's process died: {exc}", None, SOURCE_DAEMON)
            except UnsupportedLanguageError as exc:
                return error(400, str(exc), None, SOURCE_DAEMON)
            except SandboxError as exc:
                return error(500, str(exc), None, SOURCE_DAEMON)
            except (KeyError, TypeError, ValueError) as exc:
                return error(
                    400, f"invalid request: {type(exc).__name__}: {exc}", None, SOURCE_DAEMON
                )

        return handler

    async def ws_sandbox(self, ws: WebSocket, subprotocol: str | None = None) -> EmuSandbox | None:
        """Accept a toolbox websocket; ``None`` (refused with a reason) when refused."""
        if not self.authorized(ws.headers):
            await refuse(ws, "Unauthorized: pass a valid API key as a Bearer token")
            return None
        sb = self.registry.get(ws.path_params["sid"])
        if sb is None:
            await refuse(ws, "sandbox not found", 404, "SANDBOX_NOT_FOUND")
            return None
        if sb.state != "started":
            await refuse(ws, f"sandbox is not running (state: {sb.state})", 400)
            return None
        await ws.accept(subprotocol=subprotocol)
        sb.touch()
        return sb


def _with_request_fields(response: Response, request: Request) -> Response:
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return response
    if not isinstance(body, dict) or "statusCode" not in body:
        return response
    body.setdefault("path", request.url.path)
    body.setdefault("method", request.method)
    body.setdefault("timestamp", iso_now())
    return JSONResponse(body, status_code=response.status_code, headers=_extra_headers(response))


def _extra_headers(response: Response) -> dict[str, str]:
    skip = {"content-length", "content-type"}
    return {k: v for k, v in response.headers.items() if k.lower() not in skip}


async def refuse(
    ws: WebSocket,
    reason: str,
    status: int = 401,
    code: str | None = None,
    source: str = SOURCE_PROXY,
) -> None:
    """Refuse a websocket upgrade with an HTTP answer in Daytona's JSON envelope.

    Servers without the ASGI denial-response extension get a policy close with the
    reason instead.
    """
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error(status, reason, code, source))
        return
    await ws.accept()
    await ws.close(code=WS_POLICY_CLOSE, reason=reason[:120])
