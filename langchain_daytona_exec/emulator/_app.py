"""The emulator's routes: Daytona's control plane, the toolbox, and the admin API.

Paths and bodies follow the ``daytona`` SDK 0.226 (its generated ``daytona_api_client``
and ``daytona_toolbox_api_client``):

* control plane under ``/api``: ``POST/GET /sandbox``, ``GET/DELETE /sandbox/{id}``,
  ``POST /sandbox/{id}/start|stop``, ``PUT /sandbox/{id}/labels``,
  ``GET /sandbox/{id}/toolbox-proxy-url``, ``POST /sandbox/{id}/autostop|autodelete|
  autoarchive/{minutes}``, ``POST /sandbox/{id}/last-activity``;
* toolbox under ``/toolbox/{id}`` (the ``toolboxProxyUrl`` of every sandbox is
  ``<base>/toolbox``): ``process/execute``, ``process/code-run``, ``process/session...``,
  ``process/interpreter/context...`` and the ``process/interpreter/execute`` websocket,
  ``files`` (list, delete), ``files/info``, ``files/folder``, ``files/bulk-upload``,
  ``files/bulk-download``, ``work-dir``, ``user-home-dir``, ``version``;
* admin under ``/_emulator`` (no auth): faults, latency, dropping or stopping a
  sandbox behind the client's back, request counters.

Errors use Daytona's envelope ``{"statusCode", "message", "code", "source"}`` so the
SDK maps them to its typed errors (``FILE_NOT_FOUND`` from ``DAYTONA_DAEMON`` becomes
``DaytonaFileNotFoundError``, and so on).
"""

from __future__ import annotations

import json
import posixpath
import shlex
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from langchain_daytona_exec.emulator._faults import ADMIN_PREFIX, Fault, FaultMiddleware, Faults
from langchain_daytona_exec.emulator._state import EmuContext, EmuSandbox, EmuSession, Registry
from langchain_daytona_exec.errors import (
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxLostError,
    UnsupportedLanguageError,
)

__all__ = ["build_app"]

SOURCE_API = "DAYTONA_API"
SOURCE_PROXY = "DAYTONA_PROXY"
SOURCE_DAEMON = "DAYTONA_DAEMON"

WS_TIMEOUT_CODE = 4008
"""Close code of the interpreter websocket when the code hit its timeout (the SDK
turns it into ``DaytonaTimeoutError``)."""

WS_CONTEXT_NOT_FOUND_CODE = 4004
"""Close code when the requested interpreter context does not exist (the code did
not run)."""

WS_INTERPRETER_DIED_CODE = 1011
"""Close code when the interpreter died while running the code."""

DEFAULT_EXEC_TIMEOUT_S = 360
"""Timeout of a command or code run whose request names none."""


def _error(
    status: int, message: str, code: str | None = None, source: str = SOURCE_API
) -> Response:
    body: dict[str, Any] = {"statusCode": status, "message": message, "source": source}
    if code is not None:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def _file_error_response(exc: SandboxFileError) -> Response:
    if isinstance(exc, SandboxFileNotFoundError):
        return _error(404, str(exc), "FILE_NOT_FOUND", SOURCE_DAEMON)
    if isinstance(exc, SandboxIsADirectoryError):
        return _error(400, f"is a directory: {exc}", "INVALID_FILE_PATH", SOURCE_DAEMON)
    if isinstance(exc, SandboxFileTooLargeError):
        return _error(413, f"file too large: {exc}", "FILE_TOO_LARGE", SOURCE_DAEMON)
    return _error(400, str(exc), "INVALID_FILE_PATH", SOURCE_DAEMON)


Handler = Callable[[Request], Awaitable[Response]]


class _Api:
    """The route handlers, bound to one registry and fault plan."""

    def __init__(self, registry: Registry, faults: Faults, api_key: str | None) -> None:
        self.registry = registry
        self.faults = faults
        self.api_key = api_key

    # -- helpers ------------------------------------------------------------------------

    def _authorized(self, headers: Any) -> bool:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer ") or not value[7:]:
            return False
        return self.api_key is None or value[7:] == self.api_key

    def _toolbox_url(self, request: Request | WebSocket) -> str:
        base = str(request.base_url).rstrip("/")
        return f"{base}/toolbox"

    def _dto(self, request: Request, sb: EmuSandbox, *, full: bool = True) -> dict[str, Any]:
        return sb.to_json(self._toolbox_url(request), full=full)

    def api(self, fn: Callable[[Request], Awaitable[Response]]) -> Handler:
        """Wrap a control-plane handler: auth check."""

        async def handler(request: Request) -> Response:
            if not self._authorized(request.headers):
                return _error(401, "Unauthorized: pass a valid API key as a Bearer token")
            return await fn(request)

        return handler

    def toolbox(self, fn: Callable[[Request, EmuSandbox], Awaitable[Response]]) -> Handler:
        """Wrap a toolbox handler: auth, sandbox lookup, state check, activity."""

        async def handler(request: Request) -> Response:
            if not self._authorized(request.headers):
                return _error(401, "Unauthorized", source=SOURCE_PROXY)
            sb = self.registry.get(request.path_params["sid"])
            if sb is None:
                return _error(404, "sandbox not found", "SANDBOX_NOT_FOUND", SOURCE_PROXY)
            if sb.state != "started":
                return _error(
                    400,
                    f"sandbox is not running (state: {sb.state}); start it first",
                    "SANDBOX_NOT_STARTED",
                    SOURCE_PROXY,
                )
            sb.touch()
            try:
                return await fn(request, sb)
            except SandboxFileError as exc:
                return _file_error_response(exc)
            except SandboxLostError as exc:
                sb.contexts.clear()
                return _error(500, f"the sandbox's process died: {exc}", None, SOURCE_DAEMON)
            except UnsupportedLanguageError as exc:
                return _error(400, str(exc), None, SOURCE_DAEMON)
            except SandboxError as exc:
                return _error(500, str(exc), None, SOURCE_DAEMON)

        return handler

    def _found(self, request: Request) -> EmuSandbox | Response:
        sb = self.registry.get(request.path_params["sid"])
        if sb is None:
            return _error(404, f"Sandbox with ID or name {request.path_params['sid']} not found")
        return sb

    # -- control plane ------------------------------------------------------------------

    async def create_sandbox(self, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        if body.get("name") and self.registry.get(str(body["name"])) is not None:
            return _error(409, f"Sandbox with name {body['name']} already exists")
        try:
            sb = await run_in_threadpool(self.registry.create, body)
        except SandboxError as exc:
            return _error(500, f"the emulator could not start a sandbox: {exc}")
        return JSONResponse(self._dto(request, sb))

    async def list_sandboxes(self, request: Request) -> Response:
        query = request.query_params
        labels: dict[str, str] = {}
        if query.get("labels"):
            try:
                labels = {str(k): str(v) for k, v in json.loads(query["labels"]).items()}
            except (ValueError, AttributeError):
                return _error(400, "labels must be a JSON object")
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
                "items": [self._dto(request, s, full=False) for s in page],
                "nextCursor": str(start + limit) if more else None,
            }
        )

    async def get_sandbox(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        return JSONResponse(self._dto(request, sb))

    async def delete_sandbox(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        await run_in_threadpool(self.registry.delete, sb)
        return JSONResponse(self._dto(request, sb))

    async def start_sandbox(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        await run_in_threadpool(self.registry.start, sb)
        return JSONResponse(self._dto(request, sb))

    async def stop_sandbox(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        await run_in_threadpool(self.registry.stop, sb)
        return JSONResponse(self._dto(request, sb))

    async def replace_labels(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        body = await request.json()
        labels = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict):
            return _error(400, "labels must be a JSON object")
        sb.labels = {str(k): str(v) for k, v in labels.items()}
        sb.updated_at = time.time()
        return JSONResponse({"labels": sb.labels})

    async def toolbox_proxy_url(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        return JSONResponse({"url": self._toolbox_url(request)})

    async def set_interval(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        kind = request.path_params["kind"]
        minutes = int(request.path_params["minutes"])
        attr = {
            "autostop": "auto_stop_interval",
            "autodelete": "auto_delete_interval",
            "autoarchive": "auto_archive_interval",
        }.get(kind)
        if attr is None:
            return _error(404, f"unknown interval {kind}")
        setattr(sb, attr, minutes)
        return JSONResponse(self._dto(request, sb))

    async def last_activity(self, request: Request) -> Response:
        sb = self._found(request)
        if isinstance(sb, Response):
            return sb
        sb.touch()
        return Response(status_code=201)

    # -- toolbox: info ------------------------------------------------------------------

    async def work_dir(self, request: Request, sb: EmuSandbox) -> Response:
        return JSONResponse({"dir": sb.local.workdir})

    async def version(self, request: Request, sb: EmuSandbox) -> Response:
        return JSONResponse({"version": "emulator"})

    # -- toolbox: process ---------------------------------------------------------------

    async def execute(self, request: Request, sb: EmuSandbox) -> Response:
        body = await request.json()
        timeout = body.get("timeout") or DEFAULT_EXEC_TIMEOUT_S
        result = await run_in_threadpool(
            sb.local.exec, body["command"], body.get("cwd"), body.get("envs"), float(timeout)
        )
        if result.timed_out:
            return _error(
                408, "command execution timeout", "PROCESS_EXECUTION_TIMEOUT", SOURCE_DAEMON
            )
        return JSONResponse({"exitCode": result.exit_code, "result": result.stdout + result.stderr})

    async def code_run(self, request: Request, sb: EmuSandbox) -> Response:
        body = await request.json()
        language = str(body.get("language") or "python")
        timeout = float(body.get("timeout") or DEFAULT_EXEC_TIMEOUT_S)
        code = str(body["code"])
        if language == "python":
            path = f"/tmp/.ldx-code-run-{uuid.uuid4().hex}.py"
            await run_in_threadpool(sb.local.write_file, path, code)
            argv = " ".join(shlex.quote(str(a)) for a in body.get("argv") or [])
            command = f"python3 {path} {argv}; rc=$?; rm -f {path}; exit $rc"
            res = await run_in_threadpool(sb.local.exec, command, None, body.get("envs"), timeout)
            if res.timed_out:
                return _error(
                    408, "code execution timeout", "PROCESS_EXECUTION_TIMEOUT", SOURCE_DAEMON
                )
            out, exit_code = res.stdout + res.stderr, res.exit_code
        else:
            run = await run_in_threadpool(sb.local.run_code, code, language, timeout)
            if run.timed_out:
                return _error(
                    408, "code execution timeout", "PROCESS_EXECUTION_TIMEOUT", SOURCE_DAEMON
                )
            out = run.stdout + run.stderr
            exit_code = 1 if run.error is not None else 0
        return JSONResponse({"exitCode": exit_code, "result": out, "artifacts": {"charts": []}})

    async def create_session(self, request: Request, sb: EmuSandbox) -> Response:
        body = await request.json()
        session_id = str(body["sessionId"])
        if session_id in sb.sessions:
            return _error(409, f"session {session_id} already exists", None, SOURCE_DAEMON)
        sb.sessions[session_id] = EmuSession(session_id)
        return Response(status_code=201)

    def _session_json(self, session: EmuSession) -> dict[str, Any]:
        return {
            "sessionId": session.id,
            "commands": [
                {"id": c["id"], "command": c["command"], "exitCode": c["exitCode"]}
                for c in session.commands
            ],
        }

    async def list_sessions(self, request: Request, sb: EmuSandbox) -> Response:
        return JSONResponse([self._session_json(s) for s in sb.sessions.values()])

    async def get_session(self, request: Request, sb: EmuSandbox) -> Response:
        session = sb.sessions.get(request.path_params["session"])
        if session is None:
            return _error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
        return JSONResponse(self._session_json(session))

    async def delete_session(self, request: Request, sb: EmuSandbox) -> Response:
        if sb.sessions.pop(request.path_params["session"], None) is None:
            return _error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
        return Response(status_code=204)

    async def session_exec(self, request: Request, sb: EmuSandbox) -> Response:
        session = sb.sessions.get(request.path_params["session"])
        if session is None:
            return _error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
        body = await request.json()
        res = await run_in_threadpool(
            sb.local.exec, str(body["command"]), None, None, float(DEFAULT_EXEC_TIMEOUT_S)
        )
        record = {
            "id": uuid.uuid4().hex,
            "command": str(body["command"]),
            "exitCode": res.exit_code,
            "stdout": res.stdout,
            "stderr": res.stderr,
        }
        session.commands.append(record)
        return JSONResponse(
            {
                "cmdId": record["id"],
                "exitCode": res.exit_code,
                "output": res.stdout + res.stderr,
                "stdout": res.stdout,
                "stderr": res.stderr,
            }
        )

    def _command(self, request: Request, sb: EmuSandbox) -> dict[str, Any] | Response:
        session = sb.sessions.get(request.path_params["session"])
        if session is None:
            return _error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
        for command in session.commands:
            if command["id"] == request.path_params["command"]:
                return command
        return _error(404, "command not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)

    async def session_command(self, request: Request, sb: EmuSandbox) -> Response:
        command = self._command(request, sb)
        if isinstance(command, Response):
            return command
        return JSONResponse(
            {"id": command["id"], "command": command["command"], "exitCode": command["exitCode"]}
        )

    async def session_command_logs(self, request: Request, sb: EmuSandbox) -> Response:
        command = self._command(request, sb)
        if isinstance(command, Response):
            return command
        return JSONResponse(
            {
                "output": command["stdout"] + command["stderr"],
                "stdout": command["stdout"],
                "stderr": command["stderr"],
            }
        )

    # -- toolbox: interpreter contexts --------------------------------------------------

    async def create_context(self, request: Request, sb: EmuSandbox) -> Response:
        body = await request.json() if await request.body() else {}
        context = EmuContext(id=str(uuid.uuid4()), cwd=str(body.get("cwd") or sb.local.workdir))
        sb.contexts[context.id] = context
        return JSONResponse(context.to_json())

    async def list_contexts(self, request: Request, sb: EmuSandbox) -> Response:
        return JSONResponse({"contexts": [c.to_json() for c in sb.contexts.values()]})

    async def delete_context(self, request: Request, sb: EmuSandbox) -> Response:
        if request.path_params["context"] not in sb.contexts:
            return _error(404, "context not found", None, SOURCE_DAEMON)
        await run_in_threadpool(sb.restart_interpreter)
        return JSONResponse({"message": "context deleted"})

    async def interpreter_ws(self, ws: WebSocket) -> None:
        if not self._authorized(ws.headers):
            await ws.close(code=1008, reason="unauthorized")
            return
        sb = self.registry.get(ws.path_params["sid"])
        if sb is None or sb.state != "started":
            await ws.close(code=1008, reason="sandbox not found or not running")
            return
        await ws.accept()
        try:
            request = json.loads(await ws.receive_text())
        except (WebSocketDisconnect, ValueError):
            await ws.close(code=1003, reason="expected one JSON request")
            return
        sb.touch()
        context_id = request.get("contextId")
        if context_id is not None and context_id not in sb.contexts:
            await ws.close(code=WS_CONTEXT_NOT_FOUND_CODE, reason="context not found")
            return
        timeout = float(request.get("timeout") or DEFAULT_EXEC_TIMEOUT_S)
        try:
            result = await run_in_threadpool(
                sb.local.run_code, str(request["code"]), "python", timeout
            )
        except SandboxLostError as exc:
            sb.contexts.clear()
            await ws.close(code=WS_INTERPRETER_DIED_CODE, reason=f"interpreter died: {exc}"[:120])
            return
        sb.touch()
        if result.stdout:
            await ws.send_text(json.dumps({"type": "stdout", "text": result.stdout}))
        if result.stderr:
            await ws.send_text(json.dumps({"type": "stderr", "text": result.stderr}))
        if result.error is not None:
            await ws.send_text(
                json.dumps(
                    {
                        "type": "error",
                        "name": result.error.name,
                        "value": result.error.value,
                        "traceback": result.error.traceback,
                    }
                )
            )
        if result.timed_out:
            if result.state_lost:
                sb.contexts.clear()
            await ws.close(code=WS_TIMEOUT_CODE, reason="execution timed out")
            return
        await ws.close(code=1000)

    # -- toolbox: files -----------------------------------------------------------------

    @staticmethod
    def _abs(sb: EmuSandbox, path: str) -> str:
        return posixpath.normpath(posixpath.join(sb.local.workdir, path or "."))

    @staticmethod
    def _file_info(name: str, path: str, is_dir: bool, size: int, mtime: float) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(mtime))
        return {
            "name": name,
            "path": path,
            "isDir": is_dir,
            "size": size,
            "mode": "drwxr-xr-x" if is_dir else "-rw-r--r--",
            "permissions": "0755" if is_dir else "0644",
            "owner": "daytona",
            "group": "daytona",
            "modTime": stamp,
            "modifiedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)),
        }

    async def list_files(self, request: Request, sb: EmuSandbox) -> Response:
        path = self._abs(sb, request.query_params.get("path", "."))
        depth = int(request.query_params.get("depth") or 1)
        entries = await run_in_threadpool(sb.local.list_files, path, depth=depth)
        return JSONResponse(
            [self._file_info(e.name, e.path, e.is_dir, e.size, e.mtime) for e in entries]
        )

    async def file_info(self, request: Request, sb: EmuSandbox) -> Response:
        path = self._abs(sb, request.query_params.get("path", ""))
        parent, name = posixpath.split(path)
        if not name:
            return JSONResponse(self._file_info("/", "/", True, 0, time.time()))
        entries = await run_in_threadpool(sb.local.list_files, parent or "/")
        for e in entries:
            if e.name == name:
                return JSONResponse(self._file_info(e.name, e.path, e.is_dir, e.size, e.mtime))
        return _error(404, f"no such file or directory: {path}", "FILE_NOT_FOUND", SOURCE_DAEMON)

    async def create_folder(self, request: Request, sb: EmuSandbox) -> Response:
        path = self._abs(sb, request.query_params.get("path", ""))
        mode = request.query_params.get("mode") or "755"
        command = f"mkdir -p -m {shlex.quote(mode)} {shlex.quote(path)}"
        res = await run_in_threadpool(sb.local.exec, command, "/", None, 30.0)
        if res.exit_code != 0:
            return _error(400, res.stderr.strip() or "mkdir failed", None, SOURCE_DAEMON)
        return Response(status_code=201)

    async def delete_file(self, request: Request, sb: EmuSandbox) -> Response:
        path = self._abs(sb, request.query_params.get("path", ""))
        recursive = request.query_params.get("recursive") in ("true", "True", "1")
        quoted = shlex.quote(path)
        flags = "-rf" if recursive else "-f"
        command = (
            f"[ -e {quoted} ] || [ -L {quoted} ] || exit 44; "
            f"if [ -d {quoted} ] && [ ! -L {quoted} ] && [ {int(recursive)} = 0 ]; "
            f"then rmdir {quoted} || exit 45; else rm {flags} {quoted}; fi"
        )
        res = await run_in_threadpool(sb.local.exec, command, "/", None, 60.0)
        if res.exit_code == 44:
            return _error(
                404, f"no such file or directory: {path}", "FILE_NOT_FOUND", SOURCE_DAEMON
            )
        if res.exit_code != 0:
            msg = res.stderr.strip() or f"cannot delete {path}"
            return _error(400, msg, None, SOURCE_DAEMON)
        return Response(status_code=204)

    async def bulk_upload(self, request: Request, sb: EmuSandbox) -> Response:
        form = await request.form(max_files=10_000, max_fields=10_000)
        paths: dict[str, str] = {}
        files: dict[str, UploadFile] = {}
        for key, value in form.multi_items():
            if key.endswith(".path") and isinstance(value, str):
                paths[key[: -len(".path")]] = value
            elif key.endswith(".file") and isinstance(value, UploadFile):
                files[key[: -len(".file")]] = value
        errors: list[str] = []
        status = 400
        for slot, dest in paths.items():
            upload = files.get(slot)
            if upload is None:
                errors.append(f"{dest}: no file part")
                continue
            data = await upload.read()
            try:
                await run_in_threadpool(sb.local.write_file, self._abs(sb, dest), data)
            except SandboxIsADirectoryError:
                errors.append(f"{dest}: is a directory")
            except SandboxFileTooLargeError as exc:
                errors.append(f"{dest}: file too large ({exc})")
                status = 413
            except SandboxFileError as exc:
                errors.append(f"{dest}: {exc}")
        await form.close()
        if errors:
            return JSONResponse({"errors": errors}, status_code=status)
        return Response(status_code=200)

    async def bulk_download(self, request: Request, sb: EmuSandbox) -> Response:
        body = await request.json()
        boundary = uuid.uuid4().hex
        chunks: list[bytes] = []
        for path in body.get("paths") or []:
            plain = str(path).replace("\\", "\\\\").replace('"', '\\"')
            disposition = (
                f"filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(str(path), safe='')}"
            )
            try:
                data = await run_in_threadpool(sb.local.read_file, self._abs(sb, str(path)))
            except SandboxFileError as exc:
                if isinstance(exc, SandboxFileNotFoundError):
                    status, code, message = 404, "FILE_NOT_FOUND", f"file not found: {path}"
                elif isinstance(exc, SandboxIsADirectoryError):
                    status, code, message = 400, "INVALID_FILE_PATH", f"is a directory: {path}"
                else:
                    status, code, message = 400, "FILE_READ_FAILED", str(exc)
                payload = json.dumps(
                    {
                        "message": message,
                        "statusCode": status,
                        "code": code,
                        "source": SOURCE_DAEMON,
                    }
                ).encode()
                head = (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="error"; '
                    f"{disposition}\r\nContent-Type: application/json\r\n\r\n"
                )
                chunks += [head.encode(), payload, b"\r\n"]
                continue
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
            )
            chunks += [head.encode(), data, b"\r\n"]
        chunks.append(f"--{boundary}--\r\n".encode())
        return Response(b"".join(chunks), media_type=f"multipart/form-data; boundary={boundary}")

    # -- admin ----------------------------------------------------------------------------

    async def admin_add_fault(self, request: Request) -> Response:
        body = await request.json()
        if "latency_s" in body:
            self.faults.latency_s = float(body["latency_s"])
        if "status" in body:
            self.faults.add(Fault.from_json(body))
        return JSONResponse({"ok": True})

    async def admin_clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return JSONResponse({"ok": True})

    async def admin_drop(self, request: Request) -> Response:
        sb = self.registry.get(request.path_params["sid"])
        if sb is None:
            return _error(404, "sandbox not found")
        await run_in_threadpool(self.registry.delete, sb)
        return JSONResponse({"ok": True})

    async def admin_stop(self, request: Request) -> Response:
        sb = self.registry.get(request.path_params["sid"])
        if sb is None:
            return _error(404, "sandbox not found")
        await run_in_threadpool(self.registry.stop, sb)
        return JSONResponse({"ok": True})

    async def admin_stats(self, request: Request) -> Response:
        stats = self.faults.snapshot()
        stats["sandboxes"] = self.registry.count()
        return JSONResponse(stats)

    async def admin_reset_stats(self, request: Request) -> Response:
        self.faults.reset_counters()
        return JSONResponse({"ok": True})


def build_app(registry: Registry, faults: Faults, *, api_key: str | None = None) -> FaultMiddleware:
    """Build the emulator's ASGI application.

    Args:
        registry: The sandboxes.
        faults: The fault plan and request counters.
        api_key: The only API key accepted; ``None`` accepts any Bearer token.

    Returns:
        The ASGI app (the routes behind the fault-injection middleware).
    """
    a = _Api(registry, faults, api_key)
    tb = a.toolbox
    sid = "/sandbox/{sid}"
    control: list[BaseRoute] = [
        Route("/sandbox", a.api(a.create_sandbox), methods=["POST"]),
        Route("/sandbox", a.api(a.list_sandboxes), methods=["GET"]),
        Route(sid, a.api(a.get_sandbox), methods=["GET"]),
        Route(sid, a.api(a.delete_sandbox), methods=["DELETE"]),
        Route(f"{sid}/start", a.api(a.start_sandbox), methods=["POST"]),
        Route(f"{sid}/stop", a.api(a.stop_sandbox), methods=["POST"]),
        Route(f"{sid}/labels", a.api(a.replace_labels), methods=["PUT"]),
        Route(f"{sid}/toolbox-proxy-url", a.api(a.toolbox_proxy_url), methods=["GET"]),
        Route(f"{sid}/last-activity", a.api(a.last_activity), methods=["POST"]),
        Route(f"{sid}/{{kind}}/{{minutes:int}}", a.api(a.set_interval), methods=["POST"]),
    ]
    session = "/process/session/{session}"
    toolbox: list[BaseRoute] = [
        Route("/work-dir", tb(a.work_dir), methods=["GET"]),
        Route("/user-home-dir", tb(a.work_dir), methods=["GET"]),
        Route("/version", tb(a.version), methods=["GET"]),
        Route("/process/execute", tb(a.execute), methods=["POST"]),
        Route("/process/code-run", tb(a.code_run), methods=["POST"]),
        Route("/process/session", tb(a.create_session), methods=["POST"]),
        Route("/process/session", tb(a.list_sessions), methods=["GET"]),
        Route(session, tb(a.get_session), methods=["GET"]),
        Route(session, tb(a.delete_session), methods=["DELETE"]),
        Route(f"{session}/exec", tb(a.session_exec), methods=["POST"]),
        Route(f"{session}/command/{{command}}", tb(a.session_command), methods=["GET"]),
        Route(f"{session}/command/{{command}}/logs", tb(a.session_command_logs), methods=["GET"]),
        Route("/process/interpreter/context", tb(a.create_context), methods=["POST"]),
        Route("/process/interpreter/context", tb(a.list_contexts), methods=["GET"]),
        Route("/process/interpreter/context/{context}", tb(a.delete_context), methods=["DELETE"]),
        WebSocketRoute("/process/interpreter/execute", a.interpreter_ws),
        Route("/files", tb(a.list_files), methods=["GET"]),
        Route("/files", tb(a.delete_file), methods=["DELETE"]),
        Route("/files/info", tb(a.file_info), methods=["GET"]),
        Route("/files/folder", tb(a.create_folder), methods=["POST"]),
        Route("/files/bulk-upload", tb(a.bulk_upload), methods=["POST"]),
        Route("/files/bulk-download", tb(a.bulk_download), methods=["POST"]),
    ]
    admin: list[BaseRoute] = [
        Route("/faults", a.admin_add_fault, methods=["POST"]),
        Route("/faults", a.admin_clear_faults, methods=["DELETE"]),
        Route("/sandbox/{sid}/drop", a.admin_drop, methods=["POST"]),
        Route("/sandbox/{sid}/stop", a.admin_stop, methods=["POST"]),
        Route("/stats", a.admin_stats, methods=["GET"]),
        Route("/stats/reset", a.admin_reset_stats, methods=["POST"]),
    ]
    app = Starlette(
        routes=[
            Mount("/api", routes=control),
            Mount("/toolbox/{sid}", routes=toolbox),
            Mount(ADMIN_PREFIX, routes=admin),
        ]
    )
    return FaultMiddleware(app, faults)
