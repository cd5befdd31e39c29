"""Process sessions: one persistent shell per session, as Daytona's daemon keeps them.

Each command runs in ``bash`` in the background of the sandbox, started from the
session's saved state (working folder, variables, functions) and saving it again when
it ends, so ``cd``, ``export`` and plain assignments carry over between commands. Its
stdout, stderr and exit code go to files under the session's folder, which the routes
read: a synchronous command is waited for, ``runAsync`` returns the command id at
once, and the logs websocket streams output as it is written. Its stdin is a FIFO that
``send_session_command_input`` writes to.
"""

from __future__ import annotations

import asyncio
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
    Guard,
    error,
    json_body,
)
from langchain_daytona_exec.emulator._shell import EMU_DIR, sh
from langchain_daytona_exec.emulator._state import EmuSandbox
from langchain_daytona_exec.errors import SandboxFileError, SandboxFileNotFoundError

__all__ = ["ENTRYPOINT", "routes", "start_entrypoint"]

STDOUT_PREFIX = b"\x01\x01\x01"
STDERR_PREFIX = b"\x02\x02\x02"
"""Markers of the logs websocket (the SDK's ``daytona.common.process``)."""

ENTRYPOINT = "entrypoint"
"""Id of the session running the snapshot's entrypoint."""

POLL_MIN_S = 0.005
POLL_MAX_S = 0.1
"""Waiting for a command polls its exit file, backing off between these delays."""

_SKIPPED_VARS = (
    "BASH*|PWD|OLDPWD|SHLVL|_|PPID|UID|EUID|GROUPS|FUNCNAME|PIPESTATUS|RANDOM|SECONDS|"
    "LINENO|HISTCMD|SRANDOM|EPOCH*|DIRSTACK|COLUMNS|LINES|__emu_*|SHELLOPTS|IFS|OPTIND|"
    "OPTARG|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|PS4|COMP_WORDBREAKS"
)
"""Shell variables that are bash's own, not the session's state."""

RUNNER = f"""\
__emu_C="$1"; __emu_D="${{1%/*}}"
exec 3<>"$__emu_C/in"
echo $$ > "$__emu_C/pid"
cd "$(cat "$__emu_D/cwd" 2>/dev/null || echo ~)" 2>/dev/null
[ -f "$__emu_D/state" ] && . "$__emu_D/state" 2>/dev/null
__emu_save() {{
  __emu_rc=$?
  pwd > "$__emu_D/cwd.tmp" && mv "$__emu_D/cwd.tmp" "$__emu_D/cwd"
  {{ for __emu_n in $(compgen -v); do
      case $__emu_n in {_SKIPPED_VARS}) continue;; esac
      declare -p "$__emu_n" 2>/dev/null
    done | grep -v '^declare -[a-zA-Z]*r'
    declare -f; }} > "$__emu_D/state.tmp" 2>/dev/null && mv "$__emu_D/state.tmp" "$__emu_D/state"
  echo $__emu_rc > "$__emu_C/exit.tmp" && mv "$__emu_C/exit.tmp" "$__emu_C/exit"
}}
trap __emu_save EXIT
. "$__emu_C/cmd" <&3 >"$__emu_C/out" 2>"$__emu_C/err"
"""
"""The session shell's runner (bash): restore state, run the command, save state."""


@dataclass
class Session:
    """A session's folder in the sandbox and its commands (id -> record)."""

    id: str
    folder: str
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)


def _sessions(sb: EmuSandbox) -> dict[str, Session]:
    found: dict[str, Session] = sb.extras.setdefault("sessions", {})
    return found


def _session(request: Request, sb: EmuSandbox) -> Session | Response:
    session = _sessions(sb).get(request.path_params["session"])
    if session is None:
        return error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
    return session


async def _read(sb: EmuSandbox, path: str) -> bytes | None:
    try:
        data: bytes = await run_in_threadpool(sb.local.read_file, path)
    except SandboxFileNotFoundError:
        return None
    return data


async def _exit_code(sb: EmuSandbox, record: dict[str, Any]) -> int | None:
    if record.get("exitCode") is None:
        raw = await _read(sb, f"{record['dir']}/exit")
        if raw is not None and raw.strip().lstrip(b"-").isdigit():
            record["exitCode"] = int(raw.strip())
    code: int | None = record.get("exitCode")
    return code


async def _output(sb: EmuSandbox, record: dict[str, Any]) -> tuple[str, str]:
    out = await _read(sb, f"{record['dir']}/out") or b""
    err = await _read(sb, f"{record['dir']}/err") or b""
    return out.decode(errors="replace"), err.decode(errors="replace")


async def create_session(request: Request, sb: EmuSandbox) -> Response:
    body = await json_body(request)
    session_id = str(body["sessionId"])
    sessions = _sessions(sb)
    if session_id in sessions:
        return error(409, f"session {session_id} already exists", "CONFLICT", SOURCE_DAEMON)
    await _new_session(sb, session_id)
    return Response(status_code=201)


async def _session_json(sb: EmuSandbox, session: Session) -> dict[str, Any]:
    commands = []
    for record in list(session.commands.values()):
        commands.append(
            {
                "id": record["id"],
                "command": record["command"],
                "exitCode": await _exit_code(sb, record),
            }
        )
    return {"sessionId": session.id, "commands": commands}


async def list_sessions(request: Request, sb: EmuSandbox) -> Response:
    return JSONResponse([await _session_json(sb, s) for s in list(_sessions(sb).values())])


async def get_session(request: Request, sb: EmuSandbox) -> Response:
    session = _session(request, sb)
    if isinstance(session, Response):
        return session
    return JSONResponse(await _session_json(sb, session))


async def delete_session(request: Request, sb: EmuSandbox) -> Response:
    session = _sessions(sb).pop(request.path_params["session"], None)
    if session is None:
        return error(404, "session not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
    folder = shlex.quote(session.folder)
    await sh(
        sb,
        f'for p in {folder}/*/pid; do [ -f "$p" ] && kill -9 -"$(cat "$p")" 2>/dev/null; '
        f"done; rm -rf {folder}",
    )
    return Response(status_code=204)


async def _start(sb: EmuSandbox, session: Session, command: str) -> dict[str, Any] | Response:
    """Start ``command`` in the session's shell, in the background; its record."""
    cmd_id = str(uuid.uuid4())
    folder = f"{session.folder}/{cmd_id}"
    record: dict[str, Any] = {"id": cmd_id, "command": command, "dir": folder, "exitCode": None}
    await run_in_threadpool(sb.local.write_file, f"{folder}/cmd", command + "\n")
    quoted = shlex.quote(folder)
    started = await sh(
        sb,
        f"mkfifo {quoted}/in && {{ setsid bash --noprofile --norc "
        f"{shlex.quote(session.folder)}/run.sh {quoted} </dev/null >/dev/null 2>&1 & }} && "
        # Input sent before the shell holds the FIFO open would be lost: wait for it.
        f"for i in $(seq 500); do [ -f {quoted}/pid ] && exit 0; sleep 0.01; done; exit 1",
    )
    if started.exit_code != 0:
        return error(500, f"could not start the command: {started.stderr}", None, SOURCE_DAEMON)
    session.commands[cmd_id] = record
    return record


async def _new_session(sb: EmuSandbox, session_id: str) -> Session:
    folder = f"{EMU_DIR}/sessions/{uuid.uuid4().hex}"
    await run_in_threadpool(sb.local.write_file, f"{folder}/run.sh", RUNNER)
    session = _sessions(sb)[session_id] = Session(session_id, folder)
    return session


async def start_entrypoint(sb: EmuSandbox) -> None:
    """Run the sandbox's entrypoint in the background as the ``entrypoint`` session."""
    if sb.entrypoint:
        session = await _new_session(sb, ENTRYPOINT)
        await _start(sb, session, sb.entrypoint)


async def session_exec(request: Request, sb: EmuSandbox) -> Response:
    session = _session(request, sb)
    if isinstance(session, Response):
        return session
    body = await json_body(request)
    record = await _start(sb, session, str(body["command"]))
    if isinstance(record, Response):
        return record
    cmd_id = record["id"]
    if body.get("runAsync") or body.get("async"):
        return JSONResponse({"cmdId": cmd_id})
    delay = POLL_MIN_S
    while await _exit_code(sb, record) is None:
        if await request.is_disconnected():
            return Response(status_code=499)
        await asyncio.sleep(delay)
        delay = min(delay * 2, POLL_MAX_S)
    stdout, stderr = await _output(sb, record)
    return JSONResponse(
        {
            "cmdId": cmd_id,
            "exitCode": record["exitCode"],
            "output": stdout + stderr,
            "stdout": stdout,
            "stderr": stderr,
        }
    )


def _command(request: Request, sb: EmuSandbox) -> dict[str, Any] | Response:
    session = _session(request, sb)
    if isinstance(session, Response):
        return session
    record = session.commands.get(request.path_params["command"])
    if record is None:
        return error(404, "command not found", "PROCESS_NOT_FOUND", SOURCE_DAEMON)
    return record


async def session_command(request: Request, sb: EmuSandbox) -> Response:
    record = _command(request, sb)
    if isinstance(record, Response):
        return record
    code = await _exit_code(sb, record)
    return JSONResponse({"id": record["id"], "command": record["command"], "exitCode": code})


async def session_command_logs(request: Request, sb: EmuSandbox) -> Response:
    record = _command(request, sb)
    if isinstance(record, Response):
        return record
    stdout, stderr = await _output(sb, record)
    return JSONResponse({"output": stdout + stderr, "stdout": stdout, "stderr": stderr})


def _entrypoint_record(sb: EmuSandbox) -> dict[str, Any] | Response:
    session = _sessions(sb).get(ENTRYPOINT)
    if session is None or not session.commands:
        return error(
            404, "this sandbox's snapshot has no entrypoint", "PROCESS_NOT_FOUND", SOURCE_DAEMON
        )
    return next(iter(session.commands.values()))


async def entrypoint_logs(request: Request, sb: EmuSandbox) -> Response:
    record = _entrypoint_record(sb)
    if isinstance(record, Response):
        return record
    stdout, stderr = await _output(sb, record)
    return JSONResponse({"output": stdout + stderr, "stdout": stdout, "stderr": stderr})


async def send_input(request: Request, sb: EmuSandbox) -> Response:
    record = _command(request, sb)
    if isinstance(record, Response):
        return record
    if await _exit_code(sb, record) is not None:
        return error(400, "the command has already finished", "BAD_REQUEST", SOURCE_DAEMON)
    body = await json_body(request)
    data = str(body.get("data", ""))
    # Opened read-write, the FIFO never blocks the writer (the command holds it open).
    res = await sh(
        sb,
        f'exec 4<>{shlex.quote(record["dir"])}/in && printf %s "$EMU_INPUT" >&4',
        env={"EMU_INPUT": data},
    )
    if res.exit_code != 0:
        return error(500, f"could not send input: {res.stderr.strip()}", None, SOURCE_DAEMON)
    return Response(status_code=200)


class _LogsFollower:
    """Streams a command's logs over a websocket until the command ends."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def run(self, ws: WebSocket) -> None:
        sb = await self.guard.ws_sandbox(ws)
        if sb is None:
            return
        if "command" in ws.path_params:
            session = _sessions(sb).get(ws.path_params["session"])
            record = session.commands.get(ws.path_params["command"]) if session else None
        else:
            found = _entrypoint_record(sb)
            record = None if isinstance(found, Response) else found
        if record is None:
            await ws.close(code=1008, reason="session or command not found")
            return
        sent = [0, 0]
        delay = POLL_MIN_S
        try:
            while True:
                done = await _exit_code(sb, record) is not None
                for i, (name, prefix) in enumerate(
                    (("out", STDOUT_PREFIX), ("err", STDERR_PREFIX))
                ):
                    try:
                        data = await _read(sb, f"{record['dir']}/{name}") or b""
                    except SandboxFileError:
                        data = b""
                    if len(data) > sent[i]:
                        await ws.send_bytes(prefix + data[sent[i] :])
                        sent[i] = len(data)
                        delay = POLL_MIN_S
                if done:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
                sb.touch()
        except WebSocketDisconnect:
            return
        await ws.close(code=1000)


def routes(guard: Guard) -> list[BaseRoute]:
    """The routes of this module, mounted under ``/toolbox/{sid}``."""
    tb = guard.toolbox
    one = "/process/session/{session}"
    command = f"{one}/command/{{command}}"
    follower = _LogsFollower(guard).run
    entry = f"/process/session/{ENTRYPOINT}/logs"
    return [
        Route(entry, tb(entrypoint_logs), methods=["GET"]),
        WebSocketRoute(entry, follower),
        Route("/process/session", tb(create_session), methods=["POST"]),
        Route("/process/session", tb(list_sessions), methods=["GET"]),
        Route(one, tb(get_session), methods=["GET"]),
        Route(one, tb(delete_session), methods=["DELETE"]),
        Route(f"{one}/exec", tb(session_exec), methods=["POST"]),
        Route(command, tb(session_command), methods=["GET"]),
        Route(f"{command}/input", tb(send_input), methods=["POST"]),
        Route(f"{command}/logs", tb(session_command_logs), methods=["GET"]),
        WebSocketRoute(f"{command}/logs", follower),
    ]
