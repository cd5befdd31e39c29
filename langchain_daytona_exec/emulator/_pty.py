"""PTY sessions: an interactive shell on a pseudo-terminal, over Daytona's PTY websocket.

A small stdlib host process in the sandbox runs ``bash`` on a pseudo-terminal. It reads
keystrokes from a FIFO, resize and kill requests from another, and writes the
terminal's output as numbered chunk files that the emulator streams to the websocket
(and removes) in order; when the shell exits it writes its exit code. The websocket
speaks Daytona's protocol: a ``{"type": "control", "status": "connected"}`` text frame,
output as binary frames, input as binary frames, then ``exited`` and a close whose
reason carries the exit code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import shlex
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from langchain_daytona_exec.emulator._http import (
    SOURCE_DAEMON,
    BadRequest,
    Guard,
    error,
    json_body,
    refuse,
)
from langchain_daytona_exec.emulator._shell import EMU_DIR, sh
from langchain_daytona_exec.emulator._state import EmuSandbox, iso_now
from langchain_daytona_exec.errors import SandboxError

__all__ = ["routes"]

POLL_MIN_S = 0.01
POLL_MAX_S = 0.1
"""The websocket polls for output, backing off between these delays while idle."""

START_TIMEOUT_S = 30.0
"""How long a connection to a PTY that is still starting waits for its host to run (the
start itself gives the host 5 s to say so, after writing its script)."""

ENVS_SUBPROTOCOL = "X-Daytona-Pty-Envs~"
"""Prefix of the subprotocol token carrying the session's variables (base64url JSON)."""

_HOST = r"""
import fcntl, json, os, pty, select, signal, struct, sys, termios

d, cols, rows, cwd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pid, fd = pty.fork()
if pid == 0:
    try:
        os.chdir(cwd)
    except OSError:
        pass
    os.environ["TERM"] = "xterm-256color"
    os.execvp("bash", ["bash", "--noprofile", "--norc", "-i"])


def size(r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))


size(rows, cols)
inp = os.open(d + "/in", os.O_RDWR | os.O_NONBLOCK)
ctl = os.open(d + "/ctl", os.O_RDWR | os.O_NONBLOCK)
with open(d + "/pid.tmp", "w") as fh:
    fh.write(str(pid))
os.rename(d + "/pid.tmp", d + "/pid")
seq = 0
while True:
    ready, _, _ = select.select([fd, inp, ctl], [], [])
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        seq += 1
        with open("%s/t-%d" % (d, seq), "wb") as fh:
            fh.write(data)
        os.rename("%s/t-%d" % (d, seq), "%s/o-%d" % (d, seq))
    if inp in ready:
        os.write(fd, os.read(inp, 65536))
    if ctl in ready:
        for line in os.read(ctl, 65536).decode().splitlines():
            msg = json.loads(line)
            if "rows" in msg:
                size(msg["rows"], msg["cols"])
                os.kill(pid, signal.SIGWINCH)
            if msg.get("kill"):
                os.killpg(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
with open(d + "/exit.tmp", "w") as fh:
    fh.write(str(code))
os.rename(d + "/exit.tmp", d + "/exit")
"""
"""The in-sandbox PTY host (stdlib only)."""

_DRAIN = r"""
cd {d} || exit 3
e=; [ -f exit ] && e="EXIT $(cat exit)"
for f in $(ls o-* 2>/dev/null | sort -t- -k2 -n); do base64 -w0 "$f"; echo; rm -f "$f"; done
[ -n "$e" ] && echo "$e"
exit 0
"""
"""One poll: every pending output chunk (base64, in order) and the exit code if any.

The exit file is looked at *before* the chunks are listed: the host writes it after its
last chunk, so once it is seen every chunk is already there. (Looking after the listing
lost the chunks written in between, such as a shell's last line before ``exit``.)
"""


@dataclass
class Pty:
    """One PTY session of a sandbox."""

    id: str
    folder: str
    cwd: str
    envs: dict[str, str]
    cols: int
    rows: int
    created_at: str = field(default_factory=iso_now)
    exit_code: int | None = None
    #: Sequence number of the connection that reads the output (the newest one).
    reader: int = 0
    #: Set once the start has ended, either way (``host_runs`` says which).
    started: asyncio.Event = field(default_factory=asyncio.Event)
    host_runs: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``PtySessionInfo`` body."""
        return {
            "id": self.id,
            "cwd": self.cwd,
            "envs": dict(self.envs),
            "cols": self.cols,
            "rows": self.rows,
            "createdAt": self.created_at,
            "active": self.exit_code is None,
            "lazyStart": False,
        }


def _ptys(sb: EmuSandbox) -> dict[str, Pty]:
    found: dict[str, Pty] = sb.extras.setdefault("ptys", {})
    return found


def _size(value: Any, default: int) -> int:
    size = int(value) if value not in (None, "") else default
    if not 1 <= size <= 1000:
        raise BadRequest(f"terminal size {size} is outside 1..1000")
    return size


async def _start(sb: EmuSandbox, body: dict[str, Any]) -> Pty | Response:
    pty_id = str(body.get("id") or uuid.uuid4())
    if pty_id in _ptys(sb):
        return error(409, f"PTY session {pty_id} already exists", "CONFLICT", SOURCE_DAEMON)
    envs = {str(k): str(v) for k, v in (body.get("envs") or {}).items()}
    pty = Pty(
        id=pty_id,
        folder=f"{EMU_DIR}/pty/{uuid.uuid4().hex}",
        cwd=str(body.get("cwd") or sb.local.workdir),
        envs=envs,
        cols=_size(body.get("cols"), 80),
        rows=_size(body.get("rows"), 24),
    )
    _ptys(sb)[pty_id] = pty  # visible at once: a client may connect while it starts
    try:
        await run_in_threadpool(sb.local.write_file, f"{pty.folder}/host.py", _HOST)
    except BaseException:
        _ptys(sb).pop(pty_id, None)
        pty.started.set()
        raise
    d = shlex.quote(pty.folder)
    started = await sh(
        sb,
        f"mkfifo {d}/in {d}/ctl && {{ setsid python3 {d}/host.py {d} {pty.cols} {pty.rows} "
        f"{shlex.quote(pty.cwd)} </dev/null >/dev/null 2>&1 & }} && "
        f"for i in $(seq 500); do [ -f {d}/pid ] && exit 0; sleep 0.01; done; exit 1",
        env=envs,
    )
    pty.host_runs = started.exit_code == 0
    pty.started.set()
    if not pty.host_runs:
        _ptys(sb).pop(pty_id, None)
        return error(500, f"could not start the PTY: {started.stderr}", None, SOURCE_DAEMON)
    return pty


async def _host_runs(pty: Pty) -> bool:
    """Wait (up to ``START_TIMEOUT_S``) for a PTY that is still starting; whether it runs.

    Until then its folder may not exist yet, and a drain would take that for an exit.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(pty.started.wait(), START_TIMEOUT_S)
    return pty.host_runs


def _write_fifo(folder: str, name: str, variable: str) -> str:
    """A script writing ``$variable`` (base64) to a FIFO of a PTY, once its host runs."""
    d = shlex.quote(folder)
    return (
        f"for i in $(seq 500); do [ -f {d}/pid ] && break; sleep 0.01; done; "
        f'exec 4<>{d}/{name} && printf %s "${variable}" | base64 -d >&4'
    )


async def _control(sb: EmuSandbox, pty: Pty, message: dict[str, Any]) -> None:
    line = (json.dumps(message) + "\n").encode()
    await sh(
        sb,
        _write_fifo(pty.folder, "ctl", "EMU_CTL"),
        env={"EMU_CTL": base64.b64encode(line).decode()},
    )


async def create(request: Request, sb: EmuSandbox) -> Response:
    started = await _start(sb, await json_body(request))
    if isinstance(started, Response):
        return started
    return JSONResponse({"sessionId": started.id})


async def list_all(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse({"sessions": [p.to_json() for p in _ptys(sb).values()]})


def _found(request: Request, sb: EmuSandbox) -> Pty | Response:
    pty = _ptys(sb).get(request.path_params["pty"])
    if pty is None:
        return error(404, "PTY session not found", "NOT_FOUND", SOURCE_DAEMON)
    return pty


async def info(request: Request, sb: EmuSandbox) -> Response:
    pty = _found(request, sb)
    return pty if isinstance(pty, Response) else JSONResponse(pty.to_json())


async def kill(request: Request, sb: EmuSandbox) -> Response:
    pty = _found(request, sb)
    if isinstance(pty, Response):
        return pty
    if pty.exit_code is None and await _host_runs(pty):
        await _control(sb, pty, {"kill": True})
    _ptys(sb).pop(pty.id, None)
    return JSONResponse({"message": "PTY session deleted"})


async def resize(request: Request, sb: EmuSandbox) -> Response:
    pty = _found(request, sb)
    if isinstance(pty, Response):
        return pty
    body = await json_body(request)
    pty.cols, pty.rows = _size(body.get("cols"), pty.cols), _size(body.get("rows"), pty.rows)
    if not await _host_runs(pty):
        return error(404, "PTY session not found", "NOT_FOUND", SOURCE_DAEMON)
    await _control(sb, pty, {"rows": pty.rows, "cols": pty.cols})
    return JSONResponse(pty.to_json())


class _Socket:
    """The PTY websocket: connect to a session (or create and connect).

    Output chunks are consumed as they are sent, so one connection reads them: the
    newest (numbered when accepted), as a later client takes a terminal over.
    """

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self._numbers = itertools.count(1)

    async def connect(self, ws: WebSocket) -> None:
        sb = self.guard.registry.get(ws.path_params["sid"])
        pty = _ptys(sb).get(ws.path_params["pty"]) if sb is not None else None
        if sb is not None and pty is None and self.guard.authorized(ws.headers):
            await refuse(ws, "PTY session not found", 404, "NOT_FOUND", SOURCE_DAEMON)
            return
        opened = await self.guard.ws_sandbox(ws, self._subprotocol(ws))
        if opened is None or pty is None:
            return
        await self._serve(ws, opened, pty, next(self._numbers))

    @staticmethod
    async def _connected(ws: WebSocket) -> None:
        await ws.send_text(json.dumps({"type": "control", "status": "connected"}))

    async def create_connect(self, ws: WebSocket) -> None:
        opened = await self.guard.ws_sandbox(ws, self._subprotocol(ws))
        if opened is None:
            return
        number = next(self._numbers)
        # "connected" goes out at once, as Daytona's daemon starts the shell lazily: the
        # sync SDK (0.226) gives up if it does not arrive within 0.1 s of the upgrade.
        await self._connected(ws)
        query = ws.query_params
        envs: dict[str, str] = {}
        for token in ws.scope.get("subprotocols", []):
            if token.startswith(ENVS_SUBPROTOCOL):
                raw = token[len(ENVS_SUBPROTOCOL) :]
                with contextlib.suppress(ValueError, binascii.Error):
                    envs = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        body = {
            "id": query.get("id"),
            "cwd": query.get("cwd"),
            "cols": query.get("cols"),
            "rows": query.get("rows"),
            "envs": envs,
        }
        try:
            pty = await _start(opened, body)
        except BadRequest as exc:
            await ws.close(code=1008, reason=str(exc)[:120])
            return
        if isinstance(pty, Response):
            message = json.loads(bytes(pty.body)).get("message", "could not start the PTY")
            await ws.send_text(json.dumps({"type": "control", "status": "error", "error": message}))
            await ws.close(code=1011, reason=json.dumps({"error": message})[:120])
            return
        await self._serve(ws, opened, pty, number, announce=False)

    @staticmethod
    def _subprotocol(ws: WebSocket) -> str | None:
        offered = ws.scope.get("subprotocols", [])
        return "X-Daytona-Pty-Exit-Control" if "X-Daytona-Pty-Exit-Control" in offered else None

    async def _serve(
        self, ws: WebSocket, sb: EmuSandbox, pty: Pty, number: int, *, announce: bool = True
    ) -> None:
        if announce:
            await self._connected(ws)
        if not await _host_runs(pty):  # connected while it started, and it did not
            message = "the PTY session did not start"
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await ws.send_text(
                    json.dumps({"type": "control", "status": "error", "error": message})
                )
                await ws.close(code=1011, reason=json.dumps({"error": message}))
            return
        pty.reader = max(pty.reader, number)
        pump = asyncio.create_task(self._input(ws, sb, pty))
        try:
            code = await self._output(ws, sb, pty, pump, number)
        except (WebSocketDisconnect, SandboxError):  # client gone, or sandbox deleted
            return
        finally:
            pump.cancel()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await ws.send_text(
                json.dumps({"type": "control", "status": "exited", "exitCode": code})
            )
            await ws.close(code=1000, reason=json.dumps({"exitCode": code}))

    async def _output(
        self, ws: WebSocket, sb: EmuSandbox, pty: Pty, pump: asyncio.Task[None], number: int
    ) -> int:
        delay = POLL_MIN_S
        while True:
            if pump.done() or pty.reader != number:  # client gone, or a newer one reads
                raise WebSocketDisconnect(1000)
            res = await sh(sb, _DRAIN.format(d=shlex.quote(pty.folder)))
            exit_code: int | None = None
            for line in res.stdout.splitlines():
                if line.startswith("EXIT "):
                    exit_code = int(line[5:].strip() or 0)
                elif line:
                    await ws.send_bytes(base64.b64decode(line))
                    delay = POLL_MIN_S
            if exit_code is not None or res.exit_code == 3:
                pty.exit_code = exit_code if exit_code is not None else -1
                return pty.exit_code
            sb.touch()
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    async def _input(self, ws: WebSocket, sb: EmuSandbox, pty: Pty) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    await sh(
                        sb,
                        _write_fifo(pty.folder, "in", "EMU_IN"),
                        env={"EMU_IN": base64.b64encode(data).decode()},
                    )
                    sb.touch()


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""
    tb = guard.toolbox
    sock = _Socket(guard)
    one = "/process/pty/{pty}"
    return [
        Route("/process/pty", tb(create), methods=["POST"]),
        Route("/process/pty", tb(list_all), methods=["GET"]),
        WebSocketRoute("/process/pty/create-connect", sock.create_connect),
        Route(one, tb(info), methods=["GET"]),
        Route(one, tb(kill), methods=["DELETE"]),
        Route(f"{one}/resize", tb(resize), methods=["POST"]),
        WebSocketRoute(f"{one}/connect", sock.connect),
    ]
