"""Interpreter contexts and the ``process/interpreter/execute`` websocket.

The sandbox's interpreter holds every context. The default context is its
``__main__``; each created context is a separate namespace kept in the interpreter
(a module registered under a private name), so variables of one context are invisible
to the others and deleting a context drops only its namespace. Code of a created
context, and code run with ``envs``, goes through a small wrapper that switches the
namespace, working folder and environment variables for the call and restores them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from langchain_daytona_exec.emulator._http import SOURCE_DAEMON, Guard, error, json_body
from langchain_daytona_exec.emulator._state import EmuContext, EmuSandbox
from langchain_daytona_exec.errors import SandboxLostError

__all__ = ["routes"]

WS_TIMEOUT_CODE = 4008
"""Close code when the code hit its timeout (the SDK raises ``DaytonaTimeoutError``)."""

WS_INTERPRETER_DIED_CODE = 1011
"""Close code when the interpreter died while running the code."""

DEFAULT_TIMEOUT_S = 360
"""Timeout of a run whose request names none."""

_STORE = "_ldx_emu_contexts"
"""Name of the module holding the created contexts' namespaces in the interpreter."""

_WRAPPER = """
import os, sys, types, linecache
store = sys.modules.get(STORE)
if store is None:
    store = sys.modules[STORE] = types.ModuleType(STORE)
    store.spaces = {}
if a["drop"]:
    store.spaces.pop(a["id"], None)
else:
    if a["id"] is None:
        ns = sys.modules["__main__"].__dict__
    else:
        ns = store.spaces.get(a["id"])
        if ns is None:
            ns = store.spaces[a["id"]] = {"__name__": "__main__", "__builtins__": __builtins__}
    saved = {k: os.environ.get(k) for k in a["envs"]}
    os.environ.update(a["envs"])
    here = os.getcwd()
    try:
        if a["cwd"]:
            os.chdir(a["cwd"])
        name = "<cell-ctx-" + str(len(linecache.cache)) + ">"
        linecache.cache[name] = (len(a["code"]), None, a["code"].splitlines(True), name)
        exec(compile(a["code"], name, "exec"), ns)
    finally:
        os.chdir(here)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
""".replace("STORE", repr(_STORE))
"""Runs in the interpreter with its own globals: runs (or drops) one context's code."""


def _wrapped(code: str, context_id: str | None, envs: dict[str, str], cwd: str | None) -> str:
    args = {"id": context_id, "code": code, "envs": envs, "cwd": cwd, "drop": False}
    return f"exec({_WRAPPER!r}, {{'a': {args!r}}})"


def _drop(context_id: str) -> str:
    args: dict[str, object] = {"id": context_id, "code": "", "envs": {}, "cwd": None, "drop": True}
    return f"exec({_WRAPPER!r}, {{'a': {args!r}}})"


async def create_context(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    language = str(body.get("language") or "python")
    if language != "python":
        return error(
            400, f"unsupported language {language!r}: contexts run python", None, SOURCE_DAEMON
        )
    context = EmuContext(id=str(uuid.uuid4()), cwd=str(body.get("cwd") or sb.local.workdir))
    sb.contexts[context.id] = context
    return JSONResponse(context.to_json())


async def list_contexts(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse({"contexts": [c.to_json() for c in sb.contexts.values()]})


async def delete_context(request: Request, sb: EmuSandbox) -> Response:
    context_id = request.path_params["context"]
    if sb.contexts.pop(context_id, None) is None:
        return error(404, "context not found", "NOT_FOUND", SOURCE_DAEMON)
    await run_in_threadpool(sb.local.run_code, _drop(context_id), "python", 30.0)
    return JSONResponse({"message": "context deleted"})


def _user_frames(traceback: str) -> str:
    """A wrapped run's traceback without the wrapper's own frames."""
    lines = traceback.splitlines(True)
    first = next((i for i, ln in enumerate(lines) if ln.startswith('  File "<cell-ctx-')), None)
    if first is None or not lines[0].startswith("Traceback"):
        return traceback
    return lines[0] + "".join(lines[first:])


class _Execute:
    """The interpreter websocket: one JSON request in, output chunks out, then a close."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def run(self, ws: WebSocket) -> None:
        sb = await self.guard.ws_sandbox(ws)
        if sb is None:
            return
        try:
            request = json.loads(await ws.receive_text())
            code = str(request["code"])
        except (WebSocketDisconnect, ValueError, KeyError, TypeError):
            await ws.close(code=1003, reason="expected one JSON request with a code field")
            return
        context_id = request.get("contextId")
        context = sb.contexts.get(context_id) if context_id else None
        if context_id and context is None:
            await ws.close(code=4004, reason="context not found")
            return
        envs = {str(k): str(v) for k, v in (request.get("envs") or {}).items()}
        timeout = float(request.get("timeout") or DEFAULT_TIMEOUT_S)
        if context is not None or envs:
            cwd = context.cwd if context is not None else None
            code = _wrapped(code, context.id if context else None, envs, cwd)
        try:
            result = await run_in_threadpool(sb.local.run_code, code, "python", timeout)
        except SandboxLostError as exc:
            sb.contexts.clear()
            await ws.close(code=WS_INTERPRETER_DIED_CODE, reason=f"interpreter died: {exc}"[:120])
            return
        sb.touch()
        chunks: list[dict[str, Any]] = []
        if result.stdout:
            chunks.append({"type": "stdout", "text": result.stdout})
        if result.stderr:
            chunks.append({"type": "stderr", "text": result.stderr})
        if result.error is not None:
            chunks.append(
                {
                    "type": "error",
                    "name": result.error.name,
                    "value": result.error.value,
                    "traceback": result.error.traceback,
                }
            )
        if chunks and chunks[-1]["type"] == "error" and code is not request["code"]:
            chunks[-1]["traceback"] = _user_frames(chunks[-1]["traceback"])
        for chunk in chunks:
            await ws.send_text(json.dumps(chunk))
        if result.timed_out:
            if result.state_lost:
                sb.contexts.clear()
            await ws.close(code=WS_TIMEOUT_CODE, reason="execution timed out")
            return
        await ws.close(code=1000)


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""
    tb = guard.toolbox
    return [
        Route("/process/interpreter/context", tb(create_context), methods=["POST"]),
        Route("/process/interpreter/context", tb(list_contexts), methods=["GET"]),
        Route("/process/interpreter/context/{context}", tb(delete_context), methods=["DELETE"]),
        WebSocketRoute("/process/interpreter/execute", _Execute(guard).run),
    ]
