"""Git routes (``sandbox.git``): the sandbox's own ``git``, run as its user.

Repositories and remotes are paths inside the sandbox (``/home/daytona/repo``,
``file:///mnt/shared/remote.git``); a bare repository on a volume is shared with the
host and other sandboxes. Network URLs work only when the sandbox's network is open
(and this machine reaches them). Credentials (``username``/``password``) are passed to
git through an ``http.extraHeader`` for that one command, never stored.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Sequence
from typing import Any

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
from langchain_daytona_exec.emulator._shell import sh
from langchain_daytona_exec.emulator._state import EmuSandbox
from langchain_daytona_exec.emulator._toolbox import abs_path

__all__ = ["routes"]

GIT_TIMEOUT_S = 300.0
"""How long one git command may take (a clone of a large repository)."""

_STATUS = {
    " ": "Unmodified",
    "M": "Modified",
    "T": "Modified",
    "A": "Added",
    "D": "Deleted",
    "R": "Renamed",
    "C": "Copied",
    "U": "Updated but unmerged",
    "?": "Untracked",
    "!": "Unmodified",
}
"""Porcelain status letters -> the toolbox's ``Status`` values."""


class GitFailed(Exception):
    """A git command exited with an error; ``response`` is the answer to send."""

    def __init__(self, response: Response) -> None:
        super().__init__("git failed")
        self.response = response


async def _git(
    sb: EmuSandbox,
    args: Sequence[str],
    cwd: str | None = None,
    *,
    auth: tuple[str, str] | None = None,
) -> str:
    """Run ``git args`` in the sandbox; its stdout.

    Raises:
        GitFailed: git exited with an error (the answer carries its message).
    """
    prefix = ["git", "-c", "core.quotepath=off", "-c", "advice.detachedHead=false"]
    if auth is not None and auth[0]:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        prefix += ["-c", f"http.extraHeader=Authorization: Basic {token}"]
    command = " ".join(shlex.quote(a) for a in [*prefix, *args])
    res = await sh(
        sb,
        command,
        cwd=cwd or sb.local.workdir,
        env={"GIT_TERMINAL_PROMPT": "0"},
        timeout=GIT_TIMEOUT_S,
    )
    if res.exit_code == 127:
        raise GitFailed(error(500, "git is not installed in the sandbox", None, SOURCE_DAEMON))
    if res.exit_code != 0 or res.timed_out:
        message = (res.stderr or res.stdout).strip()[-2000:] or f"git {args[0]} failed"
        status, code = 400, "BAD_REQUEST"
        if "not a git repository" in message or "does not exist" in message:
            status, code = 404, "GIT_REPO_NOT_FOUND"
        elif "rejected" in message:
            status, code = 409, "GIT_PUSH_REJECTED"
        elif "already exists" in message and args[0] == "branch":
            status, code = 409, "GIT_BRANCH_EXISTS"
        raise GitFailed(error(status, message, code, SOURCE_DAEMON))
    return res.stdout


def _repo(sb: EmuSandbox, body: dict[str, Any] | None, request: Request) -> str:
    raw = (body or {}).get("path") if body is not None else request.query_params.get("path")
    if not raw:
        raise BadRequest("path (the repository's folder) is required")
    return abs_path(sb, str(raw))


async def clone(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    url, path = str(body["url"]), _repo(sb, body, request)
    args = ["clone"]
    if body.get("branch"):
        args += ["--branch", str(body["branch"])]
    if body.get("depth"):
        args += ["--depth", str(int(body["depth"]))]
    auth = (str(body.get("username") or ""), str(body.get("password") or ""))
    await _git(sb, [*args, "--", url, path], auth=auth)
    if body.get("commit_id"):
        await _git(sb, ["checkout", str(body["commit_id"])], path)
    return Response(status_code=200)


async def status(request: Request, sb: EmuSandbox) -> Response:
    path = _repo(sb, None, request)
    out = await _git(sb, ["status", "--porcelain=v1", "--branch", "-uall"], path)
    lines = out.splitlines()
    head = lines[0][3:] if lines and lines[0].startswith("## ") else ""
    branch, upstream, ahead, behind = head, "", 0, 0
    if "..." in head:
        branch, rest = head.split("...", 1)
        upstream = rest.split(" ", 1)[0]
        if "[" in rest:
            for part in rest.split("[", 1)[1].rstrip("]").split(","):
                word, _, number = part.strip().partition(" ")
                if word == "ahead":
                    ahead = int(number)
                elif word == "behind":
                    behind = int(number)
    detached = branch.startswith("HEAD (no branch)")
    if branch.startswith("No commits yet on "):
        branch = branch[len("No commits yet on ") :]
    files = []
    for line in lines[1:]:
        name = line[3:]
        extra = ""
        if " -> " in name:
            extra, name = name.split(" -> ", 1)
        files.append(
            {
                "name": name,
                "staging": _STATUS.get(line[0], "Unmodified"),
                "worktree": _STATUS.get(line[1], "Unmodified"),
                "extra": extra,
            }
        )
    return JSONResponse(
        {
            "currentBranch": "" if detached else branch,
            "fileStatus": files,
            "ahead": ahead,
            "behind": behind,
            "branchPublished": bool(upstream),
            "upstream": upstream,
            "detached": detached,
        }
    )


async def branches(request: Request, sb: EmuSandbox) -> Response:
    path = _repo(sb, None, request)
    names = (await _git(sb, ["branch", "--format=%(refname:short)"], path)).split()
    current = (await _git(sb, ["branch", "--show-current"], path)).strip()
    return JSONResponse({"branches": names, "current": current})


async def create_branch(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    await _git(sb, ["branch", "--", str(body["name"])], _repo(sb, body, request))
    return Response(status_code=201)


async def delete_branch(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    await _git(sb, ["branch", "-d", "--", str(body["name"])], _repo(sb, body, request))
    return Response(status_code=204)


async def checkout(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    await _git(sb, ["checkout", str(body["branch"]), "--"], _repo(sb, body, request))
    return Response(status_code=200)


async def add(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    files = [str(f) for f in body.get("files") or []]
    if not files:
        raise BadRequest("files is required (use . for all files)")
    await _git(sb, ["add", "--", *files], _repo(sb, body, request))
    return Response(status_code=200)


async def commit(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    path = _repo(sb, body, request)
    author, email = str(body["author"]), str(body["email"])
    args = ["-c", f"user.name={author}", "-c", f"user.email={email}", "commit"]
    args += ["-m", str(body["message"])]
    if body.get("allow_empty"):
        args.append("--allow-empty")
    await _git(sb, args, path)
    commit_hash = (await _git(sb, ["rev-parse", "HEAD"], path)).strip()
    return JSONResponse({"hash": commit_hash})


async def _sync(request: Request, sb: EmuSandbox, verb: str) -> Response:
    body = await json_body(request)
    args = [verb]
    if verb == "push" and body.get("set_upstream"):
        args.append("--set-upstream")
    if body.get("remote") or body.get("branch"):
        args.append(str(body.get("remote") or "origin"))
    if body.get("branch"):
        args.append(str(body["branch"]))
    if verb == "pull":
        args.insert(1, "--no-rebase")
    auth = (str(body.get("username") or ""), str(body.get("password") or ""))
    await _git(sb, args, _repo(sb, body, request), auth=auth)
    return Response(status_code=200)


async def push(request: Request, sb: EmuSandbox) -> Response:
    return await _sync(request, sb, "push")


async def pull(request: Request, sb: EmuSandbox) -> Response:
    return await _sync(request, sb, "pull")


async def init(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    path = _repo(sb, body, request)
    args = ["init"]
    if body.get("bare"):
        args.append("--bare")
    if body.get("initial_branch"):
        args += ["--initial-branch", str(body["initial_branch"])]
    await _git(sb, [*args, "--", path])
    return Response(status_code=201)


async def history(request: Request, sb: EmuSandbox) -> Response:
    path = _repo(sb, None, request)
    fmt = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"
    out = await _git(sb, ["log", fmt], path)
    entries = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 5:
            entries.append(
                dict(zip(("hash", "author", "email", "timestamp", "message"), fields, strict=True))
            )
    return JSONResponse(entries)


async def remotes(request: Request, sb: EmuSandbox) -> Response:
    path = _repo(sb, None, request)
    out = await _git(sb, ["remote", "-v"], path)
    seen: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            seen.setdefault(parts[0], parts[1])
    return JSONResponse({"remotes": [{"name": n, "url": u} for n, u in seen.items()]})


async def add_remote(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    path = _repo(sb, body, request)
    name, url = str(body["name"]), str(body["url"])
    if body.get("overwrite") and name in (await _git(sb, ["remote"], path)).split():
        await _git(sb, ["remote", "remove", name], path)
    await _git(sb, ["remote", "add", "--", name, url], path)
    if body.get("fetch"):
        await _git(sb, ["fetch", name], path)
    return Response(status_code=201)


async def reset(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    mode = str(body.get("mode") or "mixed")
    if mode not in ("soft", "mixed", "hard", "merge", "keep"):
        raise BadRequest(f"invalid reset mode {mode!r}")
    files = [str(f) for f in body.get("files") or []]
    target = str(body.get("target") or "HEAD")
    args = ["reset", target, "--", *files] if files else ["reset", f"--{mode}", target]
    await _git(sb, args, _repo(sb, body, request))
    return Response(status_code=200)


async def restore(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    args = ["restore"]
    if body.get("source"):
        args.append(f"--source={body['source']}")
    if body.get("staged"):
        args.append("--staged")
    if body.get("worktree") or not body.get("staged"):
        args.append("--worktree")
    await _git(sb, [*args, "--", *[str(f) for f in body["files"]]], _repo(sb, body, request))
    return Response(status_code=200)


async def get_config(request: Request, sb: EmuSandbox) -> Response:
    key = request.query_params.get("key")
    if not key:
        raise BadRequest("key is required")
    scope = request.query_params.get("scope") or "local"
    cwd = abs_path(sb, request.query_params.get("path") or ".")
    res = await sh(sb, f"git config --{shlex.quote(scope)} --get {shlex.quote(key)}", cwd=cwd)
    return JSONResponse({"value": res.stdout.rstrip("\n") if res.exit_code == 0 else None})


async def set_config(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    scope = str(body.get("scope") or "local")
    cwd = abs_path(sb, str(body.get("path") or "."))
    pairs = (
        [(str(body["key"]), str(body["value"]))]
        if "key" in body
        else [
            ("user.name", str(body["name"])),
            ("user.email", str(body["email"])),
        ]
    )
    for key, value in pairs:
        await _git(sb, ["config", f"--{scope}", key, value], cwd)
    return Response(status_code=200)


def _guarded(fn: Any) -> Any:
    async def handler(request: Request, sb: EmuSandbox) -> Response:
        try:
            response: Response = await fn(request, sb)
        except GitFailed as exc:
            return exc.response
        return response

    return handler


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""

    def tb(fn: Any) -> Any:
        return guard.toolbox(_guarded(fn))

    return [
        Route("/git/clone", tb(clone), methods=["POST"]),
        Route("/git/status", tb(status), methods=["GET"]),
        Route("/git/branches", tb(branches), methods=["GET"]),
        Route("/git/branches", tb(create_branch), methods=["POST"]),
        Route("/git/branches", tb(delete_branch), methods=["DELETE"]),
        Route("/git/checkout", tb(checkout), methods=["POST"]),
        Route("/git/add", tb(add), methods=["POST"]),
        Route("/git/commit", tb(commit), methods=["POST"]),
        Route("/git/push", tb(push), methods=["POST"]),
        Route("/git/pull", tb(pull), methods=["POST"]),
        Route("/git/init", tb(init), methods=["POST"]),
        Route("/git/history", tb(history), methods=["GET"]),
        Route("/git/remotes", tb(remotes), methods=["GET"]),
        Route("/git/remotes", tb(add_remote), methods=["POST"]),
        Route("/git/reset", tb(reset), methods=["POST"]),
        Route("/git/restore", tb(restore), methods=["POST"]),
        Route("/git/config", tb(get_config), methods=["GET"]),
        Route("/git/config", tb(set_config), methods=["POST"]),
        Route("/git/config/user", tb(set_config), methods=["POST"]),
    ]
