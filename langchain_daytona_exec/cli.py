"""The ``daytona-exec`` command.

Subcommands:

* ``daytona-exec exec FILE | -c CODE``: run code in a fresh local sandbox, print the
  output and the last expression, and write charts as PNG files.
* ``daytona-exec agent "question" [--file F] [--thread ID] ...``: ask the reference
  agent; each step is shown live (see :mod:`langchain_daytona_exec.agent.console`).
* ``daytona-exec emulator [--host H] [--port N]``: serve the Daytona API emulator.
* ``daytona-exec gc [--older-than DURATION] [--dry-run]``: delete our Daytona
  sandboxes idle for too long.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.types import ExecutionResult

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daytona-exec", description="Run AI-generated code in isolated sandboxes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exec", help="run code in a fresh local sandbox")
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="a source file to run ('-' reads stdin)")
    src.add_argument("-c", "--code", help="code to run")
    ex.add_argument(
        "-l", "--language", default=None, help="python (default), javascript or typescript"
    )
    ex.add_argument(
        "--file",
        dest="uploads",
        action="append",
        default=[],
        metavar="PATH",
        help="upload a host file into the sandbox's workspace first (repeatable)",
    )
    ex.add_argument("--charts-dir", default="charts", help="where PNG charts are written")
    ex.add_argument("--timeout", type=float, default=None, help="seconds before interrupting")
    ex.add_argument("--network", action="store_true", help="give the sandbox network access")
    ag = sub.add_parser("agent", help="ask the reference code-interpreter agent a question")
    _add_agent_arguments(ag)
    _add_daytona_commands(sub)
    return parser


def _add_daytona_commands(sub: Any) -> None:
    em = sub.add_parser("emulator", help="serve the Daytona API emulator (local sandboxes)")
    em.add_argument("--host", default="127.0.0.1", help="address to listen on (keep loopback)")
    em.add_argument("--port", type=int, default=3986, help="port to listen on")
    em.add_argument("--api-key", default=None, help="the only API key accepted (default: any)")
    gc = sub.add_parser("gc", help="delete our Daytona sandboxes idle for too long")
    gc.add_argument(
        "--older-than",
        default="1h",
        type=_duration,
        help="minimum idle time, such as 90s, 30m, 2h or 1d (default 1h)",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument("--mine", action="store_true", help="only sandboxes created by user@host")


def _duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h`` or ``1d``."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    try:
        seconds = float(value[:-1] if scale else value) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30m or 2h)") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("a duration must not be negative")
    return seconds


def _cmd_emulator(args: argparse.Namespace) -> int:
    from langchain_daytona_exec.emulator import serve

    print(
        f"Daytona API emulator: DAYTONA_API_URL=http://{args.host}:{args.port}/api "
        "DAYTONA_USE_DEPRECATED_POLLING=true",
        file=sys.stderr,
    )
    serve(args.host, args.port, api_key=args.api_key)
    return 0


def _cmd_gc(args: argparse.Namespace) -> int:
    from langchain_daytona_exec.backends.daytona import OWNER_LABEL, DaytonaBackend

    backend = DaytonaBackend()
    labels = {OWNER_LABEL: backend.owner} if args.mine else None
    entries = backend.gc(args.older_than, labels=labels, dry_run=args.dry_run)
    doomed = [e for e in entries if e.idle_s >= args.older_than]
    for e in doomed:
        verb = "would delete" if args.dry_run else ("deleted" if e.deleted else "FAILED to delete")
        print(f"{verb} {e.id} ({e.state}, idle {e.idle_s / 60:.0f} min)")
    print(f"{len(doomed)} of {len(entries)} sandboxes idle for at least {args.older_than:g} s")
    return 0 if all(e.deleted or args.dry_run for e in doomed) else 1


def _add_agent_arguments(ag: argparse.ArgumentParser) -> None:
    # Defined here, not in agent/console.py, so `exec` does not import LangGraph.
    ag.add_argument("question", help="what to ask the agent")
    ag.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="upload a host file into the sandbox's working folder (repeatable)",
    )
    ag.add_argument("--thread", help="conversation id; pass it again to continue the conversation")
    ag.add_argument("--backend", choices=("local", "daytona"), default="local")
    ag.add_argument("--approve", action="store_true", help="ask before every shell command")
    ag.add_argument("--model", help="model name (default: $OPENAI_MODEL, else gpt-4o-mini)")
    ag.add_argument("--charts-dir", default="charts", help="where charts are written")
    ag.add_argument(
        "--threads-db",
        help="SQLite file keeping the threads (default: $DAYTONA_EXEC_THREADS_DB, else "
        "~/.cache/langchain-daytona-exec/threads.sqlite)",
    )
    ag.add_argument("--max-iterations", type=int, default=25, help="most tool rounds per question")
    ag.add_argument("--vision", action="store_true", help="show charts to the model as images")


def _cmd_agent(args: argparse.Namespace) -> int:
    from langchain_daytona_exec.agent.console import run_agent_command

    return run_agent_command(args)


def _language_for(path: str | None) -> str:
    if path and path.endswith((".js", ".mjs", ".cjs")):
        return "javascript"
    if path and path.endswith(".ts"):
        return "typescript"
    return "python"


def _print_result(result: ExecutionResult, charts_dir: str) -> int:
    if result.stdout:
        sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
    if result.stderr:
        sys.stderr.write(result.stderr if result.stderr.endswith("\n") else result.stderr + "\n")
    if result.result is not None:
        print(f"=> {result.result}")
    if result.charts:
        os.makedirs(charts_dir, exist_ok=True)
        for i, chart in enumerate(result.charts, 1):
            path = os.path.join(charts_dir, f"chart-{i}.png")
            with open(path, "wb") as f:
                f.write(chart.png)
            print(f"chart written: {path}" + (f" ({chart.title})" if chart.title else ""))
    if result.timed_out:
        print("timed out" + (" (interpreter restarted)" if result.state_lost else ""))
    if result.error is not None:
        sys.stderr.write(result.error.traceback)
        return 1
    return 2 if result.timed_out else 0


def _cmd_exec(args: argparse.Namespace) -> int:
    from langchain_daytona_exec.backends.local import LocalBackend

    if args.code is not None:
        code = args.code
    elif args.file == "-":
        code = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as f:
            code = f.read()
    language = args.language or _language_for(args.file)
    with LocalBackend(network=args.network).create() as sb:
        for path in args.uploads:
            with open(path, "rb") as f:
                sb.write_file(os.path.basename(path), f.read())
            print(f"uploaded {path} -> {sb.workdir}/{os.path.basename(path)}")
        result = sb.run_code(code, language=language, timeout=args.timeout)
    return _print_result(result, args.charts_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daytona-exec`` console script.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The process exit status.
    """
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "exec":
            return _cmd_exec(args)
        if args.command == "agent":
            return _cmd_agent(args)
        if args.command == "emulator":
            return _cmd_emulator(args)
        if args.command == "gc":
            return _cmd_gc(args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
