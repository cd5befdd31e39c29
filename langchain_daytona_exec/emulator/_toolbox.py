"""Toolbox routes: info, ``process/execute``, ``process/code-run``, ``env``, basic files."""

from __future__ import annotations

import json
import posixpath
import shlex
import time
import urllib.parse
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._charts_src import (
    BACKEND_MODULE,
    BACKEND_SOURCE,
    RUNNER_SOURCE,
)
from langchain_daytona_exec.emulator._http import (
    SOURCE_DAEMON,
    BadRequest,
    Guard,
    error,
    json_body,
)
from langchain_daytona_exec.emulator._shell import EMU_DIR, env_for, sh
from langchain_daytona_exec.emulator._state import HOME, EmuSandbox
from langchain_daytona_exec.errors import (
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
)

__all__ = ["abs_path", "file_info", "routes"]

DEFAULT_EXEC_TIMEOUT_S = 360
"""Timeout of a command or code run whose request names none."""


def abs_path(sb: EmuSandbox, path: str) -> str:
    """A request's path made absolute against the sandbox's working folder."""
    return posixpath.normpath(posixpath.join(sb.local.workdir, path or "."))


def file_info(name: str, path: str, is_dir: bool, size: int, mtime: float) -> dict[str, Any]:
    """A ``FileInfo`` body."""
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


def _timeout_error(what: str) -> Response:
    return error(408, f"{what} execution timeout", "PROCESS_EXECUTION_TIMEOUT", SOURCE_DAEMON)


async def work_dir(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse({"dir": sb.local.workdir})


async def home_dir(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse({"dir": HOME if sb.local.mode != "unsafe" else sb.local.workdir})


async def version(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse({"version": "emulator"})


async def execute(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    timeout = float(body.get("timeout") or DEFAULT_EXEC_TIMEOUT_S)
    cwd = body.get("cwd") or sb.local.workdir
    res = await run_in_threadpool(
        sb.local.exec, str(body["command"]), cwd, env_for(sb, body.get("envs")), timeout
    )
    if res.timed_out:
        return _timeout_error("command")
    return JSONResponse({"exitCode": res.exit_code, "result": res.stdout + res.stderr})


async def code_run(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    language = str(body.get("language") or "python")
    timeout = float(body.get("timeout") or DEFAULT_EXEC_TIMEOUT_S)
    code = str(body["code"])
    if language != "python":
        run = await run_in_threadpool(sb.local.run_code, code, language, timeout)
        if run.timed_out:
            return _timeout_error("code")
        out = run.stdout + run.stderr
        exit_code = 1 if run.error is not None else 0
        return JSONResponse({"exitCode": exit_code, "result": out, "artifacts": {"charts": []}})
    tag = uuid.uuid4().hex
    script, charts_out = f"{EMU_DIR}/run-{tag}.py", f"{EMU_DIR}/charts-{tag}.json"
    for path, text in (
        (f"{EMU_DIR}/coderun.py", RUNNER_SOURCE),
        (f"{EMU_DIR}/{BACKEND_MODULE}.py", BACKEND_SOURCE),
        (script, code),
    ):
        await run_in_threadpool(sb.local.write_file, path, text)
    argv = " ".join(shlex.quote(str(a)) for a in body.get("argv") or [])
    command = f"python3 {EMU_DIR}/coderun.py {charts_out} {script} {argv}"
    res = await run_in_threadpool(
        sb.local.exec, command, sb.local.workdir, env_for(sb, body.get("envs")), timeout
    )
    charts: list[Any] = []
    if not res.timed_out:
        try:
            raw = await run_in_threadpool(sb.local.read_file, charts_out)
            loaded = json.loads(raw or b"[]")
            charts = loaded if isinstance(loaded, list) else []
        except (SandboxFileError, ValueError):
            charts = []
    await sh(sb, f"rm -f {script} {charts_out}")
    if res.timed_out:
        return _timeout_error("code")
    return JSONResponse(
        {
            "exitCode": res.exit_code,
            "result": res.stdout + res.stderr,
            "artifacts": {"charts": charts},
        }
    )


_ENV_APPLY = """
import os
for k in a["unset"]:
    os.environ.pop(k, None)
if a["prefix"]:
    for k, v in list(os.environ.items()):
        if v.startswith(a["prefix"]) and k not in a["set"]:
            os.environ.pop(k)
os.environ.update(a["set"])
"""
"""Runs in the sandbox's interpreter (its own globals): applies an ``update_env``."""


async def update_env(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    to_set = {str(k): str(v) for k, v in (body.get("set") or {}).items()}
    to_unset = [str(k) for k in body.get("unset") or []]
    prefix = body.get("unsetValuePrefix")
    for name in to_unset:
        sb.env_updates.pop(name, None)
    if prefix:
        for name, value in list(sb.env_updates.items()):
            if value.startswith(str(prefix)) and name not in to_set:
                sb.env_updates.pop(name)
    sb.env_updates.update(to_set)
    # The interpreter's own environment is what later processes inherit (exec, sessions).
    args = {"set": to_set, "unset": to_unset, "prefix": str(prefix or "")}
    code = f"exec({_ENV_APPLY!r}, {{'a': {args!r}}})"
    await run_in_threadpool(sb.local.run_code, code, "python", 30.0)
    return JSONResponse({})


# -- files ---------------------------------------------------------------------------------


async def list_files(request: Request, sb: EmuSandbox) -> Response:
    path = abs_path(sb, request.query_params.get("path", "."))
    depth = int(request.query_params.get("depth") or 1)
    entries = await run_in_threadpool(sb.local.list_files, path, depth=depth)
    return JSONResponse([file_info(e.name, e.path, e.is_dir, e.size, e.mtime) for e in entries])


async def get_file_info(request: Request, sb: EmuSandbox) -> Response:
    path = abs_path(sb, request.query_params.get("path", ""))
    parent, name = posixpath.split(path)
    if not name:
        return JSONResponse(file_info("/", "/", True, 0, time.time()))
    entries = await run_in_threadpool(sb.local.list_files, parent or "/")
    for e in entries:
        if e.name == name:
            return JSONResponse(file_info(e.name, e.path, e.is_dir, e.size, e.mtime))
    return error(404, f"no such file or directory: {path}", "FILE_NOT_FOUND", SOURCE_DAEMON)


async def create_folder(request: Request, sb: EmuSandbox) -> Response:
    path = abs_path(sb, request.query_params.get("path", ""))
    mode = request.query_params.get("mode") or "755"
    if not mode.isdigit():
        raise BadRequest(f"invalid mode {mode!r}: use octal digits such as 755")
    res = await sh(sb, f"mkdir -p -m {mode} {shlex.quote(path)}")
    if res.exit_code != 0:
        return error(400, res.stderr.strip() or "mkdir failed", None, SOURCE_DAEMON)
    return Response(status_code=201)


async def delete_file(request: Request, sb: EmuSandbox) -> Response:
    path = abs_path(sb, request.query_params.get("path", ""))
    recursive = request.query_params.get("recursive") in ("true", "True", "1")
    quoted = shlex.quote(path)
    flags = "-rf" if recursive else "-f"
    command = (
        f"[ -e {quoted} ] || [ -L {quoted} ] || exit 44; "
        f"if [ -d {quoted} ] && [ ! -L {quoted} ] && [ {int(recursive)} = 0 ]; "
        f"then rmdir {quoted} || exit 45; else rm {flags} {quoted}; fi"
    )
    res = await sh(sb, command, timeout=60.0)
    if res.exit_code == 44:
        return error(404, f"no such file or directory: {path}", "FILE_NOT_FOUND", SOURCE_DAEMON)
    if res.exit_code != 0:
        return error(400, res.stderr.strip() or f"cannot delete {path}", None, SOURCE_DAEMON)
    return Response(status_code=204)


async def bulk_upload(request: Request, sb: EmuSandbox) -> Response:
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
            await run_in_threadpool(sb.local.write_file, abs_path(sb, dest), data)
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


def _part(boundary: str, name: str, disposition: str, ctype: str, data: bytes) -> list[bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; {disposition}\r\n'
        f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return [head.encode(), data, b"\r\n"]


async def bulk_download(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for path in body.get("paths") or []:
        plain = str(path).replace("\\", "\\\\").replace('"', '\\"')
        quoted = urllib.parse.quote(str(path), safe="")
        disposition = f"filename=\"{plain}\"; filename*=UTF-8''{quoted}"
        try:
            data = await run_in_threadpool(sb.local.read_file, abs_path(sb, str(path)))
        except SandboxFileError as exc:
            if isinstance(exc, SandboxFileNotFoundError):
                status, code, message = 404, "FILE_NOT_FOUND", f"file not found: {path}"
            elif isinstance(exc, SandboxIsADirectoryError):
                status, code, message = 400, "INVALID_FILE_PATH", f"is a directory: {path}"
            else:
                status, code, message = 400, "FILE_READ_FAILED", str(exc)
            payload = json.dumps(
                {"message": message, "statusCode": status, "code": code, "source": SOURCE_DAEMON}
            ).encode()
            chunks += _part(boundary, "error", disposition, "application/json", payload)
            continue
        chunks += _part(boundary, "file", disposition, "application/octet-stream", data)
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), media_type=f"multipart/form-data; boundary={boundary}")


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""
    tb = guard.toolbox
    return [
        Route("/work-dir", tb(work_dir), methods=["GET"]),
        Route("/user-home-dir", tb(home_dir), methods=["GET"]),
        Route("/version", tb(version), methods=["GET"]),
        Route("/process/execute", tb(execute), methods=["POST"]),
        Route("/process/code-run", tb(code_run), methods=["POST"]),
        Route("/env", tb(update_env), methods=["POST", "PATCH", "PUT"]),
        Route("/files", tb(list_files), methods=["GET"]),
        Route("/files", tb(delete_file), methods=["DELETE"]),
        Route("/files/info", tb(get_file_info), methods=["GET"]),
        Route("/files/folder", tb(create_folder), methods=["POST"]),
        Route("/files/bulk-upload", tb(bulk_upload), methods=["POST"]),
        Route("/files/bulk-download", tb(bulk_download), methods=["POST"]),
    ]
