"""File routes beyond the basics: find, search, replace, permissions and move.

Find looks in file contents, search matches file names.

They run as one small stdlib script inside the sandbox (as its user, so the sandbox's
own permissions and mounts apply), which prints its answer as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._http import (
    SOURCE_DAEMON,
    BadRequest,
    Guard,
    error,
    json_body,
)
from langchain_daytona_exec.emulator._shell import EMU_DIR, sh
from langchain_daytona_exec.emulator._state import EmuSandbox

__all__ = ["routes"]

FSOPS_TIMEOUT_S = 120.0
"""How long one find/search/replace may take (they walk whole trees)."""

MAX_MATCHES = 10_000
"""Matches (find) or paths (search) returned at most."""

_FSOPS = r"""
import fnmatch, json, os, re, shutil, sys

MAX = int(sys.argv[2])
a = json.loads(os.environ["EMU_ARGS"])


def fail(status, message, code="BAD_REQUEST"):
    print(json.dumps({"error": [status, message, code]}))
    sys.exit(0)


def walk(root):
    if os.path.isfile(root):
        yield root
        return
    if not os.path.isdir(root):
        fail(404, "no such file or directory: " + root, "FILE_NOT_FOUND")
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(folder, name)


op = sys.argv[1]
if op == "find":
    try:
        rx = re.compile(a["pattern"])
        hit = rx.search
    except re.error:
        hit = lambda line: a["pattern"] in line
    out = []
    for path in walk(os.path.abspath(a["path"])):
        try:
            with open(path, "r", encoding="utf-8", errors="strict") as fh:
                for no, line in enumerate(fh, 1):
                    if hit(line):
                        out.append({"file": path, "line": no, "content": line.rstrip("\n")})
                        if len(out) >= MAX:
                            break
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # binary or unreadable: skipped, as grep -I does
        if len(out) >= MAX:
            break
    print(json.dumps(out))
elif op == "search":
    root = os.path.abspath(a["path"])
    if not os.path.isdir(root):
        fail(404, "no such directory: " + root, "FILE_NOT_FOUND")
    out = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            if fnmatch.fnmatch(name, a["pattern"]):
                out.append(os.path.join(folder, name))
        if len(out) >= MAX:
            break
    print(json.dumps({"files": out[:MAX]}))
elif op == "replace":
    out = []
    for path in a["files"]:
        full = os.path.abspath(path)
        try:
            with open(full, "r", encoding="utf-8") as fh:
                text = fh.read()
            with open(full, "w", encoding="utf-8") as fh:
                fh.write(text.replace(a["pattern"], a["new"]))
            out.append({"file": path, "success": True})
        except (OSError, UnicodeDecodeError) as exc:
            out.append({"file": path, "success": False, "error": str(exc)})
    print(json.dumps(out))
elif op == "permissions":
    path = os.path.abspath(a["path"])
    if not os.path.lexists(path):
        fail(404, "no such file or directory: " + path, "FILE_NOT_FOUND")
    try:
        if a.get("mode"):
            os.chmod(path, int(a["mode"], 8))
        for key, current, lookup in (
            ("owner", os.stat(path).st_uid, lambda n: __import__("pwd").getpwnam(n).pw_uid),
            ("group", os.stat(path).st_gid, lambda n: __import__("grp").getgrnam(n).gr_gid),
        ):
            want = a.get(key)
            if want:
                wid = int(want) if want.isdigit() else (
                    current if want in ("daytona", "sandbox") else lookup(want))
                if wid != current:
                    os.chown(path, wid if key == "owner" else -1, wid if key == "group" else -1)
    except (OSError, KeyError, ValueError) as exc:
        fail(400, "cannot set permissions of %s: %s" % (path, exc))
    print("{}")
elif op == "move":
    src, dst = os.path.abspath(a["source"]), os.path.abspath(a["destination"])
    if not os.path.lexists(src):
        fail(404, "no such file or directory: " + src, "FILE_NOT_FOUND")
    if os.path.lexists(dst):
        fail(409, "destination already exists: " + dst, "FILE_ALREADY_EXISTS")
    try:
        shutil.move(src, dst)
    except OSError as exc:
        fail(400, "cannot move %s to %s: %s" % (src, dst, exc))
    print("{}")
"""
"""The in-sandbox script (stdlib only); arguments travel as JSON in ``EMU_ARGS``."""


async def _fsops(sb: EmuSandbox, op: str, args: dict[str, Any]) -> Any:
    """Run one operation of the script; its JSON answer, or an error response."""
    script = f"{EMU_DIR}/fsops.py"
    await run_in_threadpool(sb.local.write_file, script, _FSOPS)
    res = await sh(
        sb,
        f"python3 {script} {op} {MAX_MATCHES}",
        cwd=sb.local.workdir,
        env={"EMU_ARGS": json.dumps(args)},
        timeout=FSOPS_TIMEOUT_S,
    )
    if res.timed_out:
        return error(408, f"{op} took over {FSOPS_TIMEOUT_S:g} s", "TIMEOUT", SOURCE_DAEMON)
    try:
        answer = json.loads(res.stdout)
    except ValueError:
        return error(500, f"{op} failed: {res.stderr.strip()[-500:]}", None, SOURCE_DAEMON)
    if isinstance(answer, dict) and "error" in answer:
        status, message, code = answer["error"]
        return error(int(status), str(message), str(code), SOURCE_DAEMON)
    return answer


def _query(request: Request, *names: str) -> dict[str, str]:
    values = {}
    for name in names:
        value = request.query_params.get(name)
        if value is None:
            raise BadRequest(f"the {name} query parameter is required")
        values[name] = value
    return values


async def _answer(result: Any, empty_status: int | None = None) -> Response:
    if isinstance(result, Response):
        return result
    if empty_status is not None:
        return Response(status_code=empty_status)
    return JSONResponse(result)


async def find(request: Request, sb: EmuSandbox) -> Response:
    return await _answer(await _fsops(sb, "find", _query(request, "path", "pattern")))


async def search(request: Request, sb: EmuSandbox) -> Response:
    return await _answer(await _fsops(sb, "search", _query(request, "path", "pattern")))


async def replace(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    files = body.get("files")
    if not isinstance(files, list) or "pattern" not in body or "newValue" not in body:
        raise BadRequest("replace needs files (a list), pattern and newValue")
    args = {"files": [str(f) for f in files], "pattern": str(body["pattern"])}
    args["new"] = str(body["newValue"])
    return await _answer(await _fsops(sb, "replace", args))


async def permissions(request: Request, sb: EmuSandbox) -> Response:
    args = {"path": _query(request, "path")["path"]}
    for name in ("owner", "group", "mode"):
        args[name] = request.query_params.get(name) or ""
    if args["mode"] and not all(c in "01234567" for c in args["mode"]):
        raise BadRequest(f"invalid mode {args['mode']!r}: use octal digits such as 644")
    return await _answer(await _fsops(sb, "permissions", args), 200)


async def move(request: Request, sb: EmuSandbox) -> Response:
    return await _answer(await _fsops(sb, "move", _query(request, "source", "destination")), 200)


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""
    tb = guard.toolbox
    return [
        Route("/files/find", tb(find), methods=["GET"]),
        Route("/files/search", tb(search), methods=["GET"]),
        Route("/files/replace", tb(replace), methods=["POST"]),
        Route("/files/permissions", tb(permissions), methods=["POST"]),
        Route("/files/move", tb(move), methods=["POST"]),
    ]
