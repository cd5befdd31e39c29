"""``daytona-exec agent``, ``emulator``, ``gc`` and ``envs``: their arguments and runs.

The arguments are defined here, not beside each command's code, so that ``--help`` and
``exec`` import neither LangGraph nor the emulator.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


def add_daytona_commands(sub: Any) -> None:
    em = sub.add_parser("emulator", help="serve the Daytona API emulator (local sandboxes)")
    em.add_argument("--host", default="127.0.0.1", help="address to listen on (keep loopback)")
    em.add_argument("--port", type=int, default=3986, help="port to listen on")
    em.add_argument("--api-key", default=None, help="the only API key accepted (default: any)")
    envs = sub.add_parser(
        "envs",
        help="list or remove the cached package layers of local environments",
        description="Package layers are built once per Environment (packages + index + "
        "Python) and reused by every sandbox and process. List them, remove one by key, "
        "or remove those built before --older-than.",
    )
    envs.add_argument("action", nargs="?", choices=("list", "rm", "prune"), default="list")
    envs.add_argument("keys", nargs="*", help="layer keys to remove (rm)")
    envs.add_argument(
        "--older-than", type=_duration, default=None, help="prune: built at least this long ago"
    )
    envs.add_argument("--dir", default=None, help="the layers folder (default: the cache)")
    gc = sub.add_parser(
        "gc",
        help="delete kept thread workspaces and Daytona sandboxes idle for too long",
        description="Delete the local threads' kept workspaces (files of `daytona-exec "
        "agent` threads) saved at least --older-than ago, then, when DAYTONA_API_KEY is "
        "set, the Daytona sandboxes this package labelled that have been idle that long. "
        "The Daytona part needs DAYTONA_API_KEY (and DAYTONA_API_URL for a self-hosted "
        "Daytona or the emulator).",
    )
    gc.add_argument(
        "--threads-db",
        help="the threads' SQLite file whose kept workspaces to clean (default: as for `agent`)",
    )
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
    import argparse

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
        f"Daytona API emulator; point the SDK at it with:\n  {_emulator_env(args)}", file=sys.stderr
    )
    serve(args.host, args.port, api_key=args.api_key)
    return 0


def _emulator_env(args: argparse.Namespace) -> str:
    """The environment that points the Daytona SDK at an emulator started with ``args``."""
    key = args.api_key or "any"
    return (
        f"DAYTONA_API_KEY={key} DAYTONA_API_URL=http://{args.host}:{args.port}/api "
        "DAYTONA_USE_DEPRECATED_POLLING=true"
    )


def _cmd_gc(args: argparse.Namespace) -> int:
    from langchain_daytona_exec._paths import default_threads_db, workspaces_dir
    from langchain_daytona_exec.pool._workspaces import gc_workspaces

    folder = workspaces_dir(args.threads_db or default_threads_db())
    kept = gc_workspaces(folder, args.older_than, dry_run=args.dry_run)
    for key, age in kept:
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} the kept files of thread {key!r} (saved {age / 60:.0f} min ago)")
    print(f"{len(kept)} kept workspace(s) older than {args.older_than:g} s in {folder}")
    if not (os.environ.get("DAYTONA_API_KEY") or os.environ.get("DAYTONA_JWT_TOKEN")):
        print("Daytona sandboxes: skipped (set DAYTONA_API_KEY to clean them too)")
        return 0
    return _gc_daytona(args)


def _gc_daytona(args: argparse.Namespace) -> int:
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


def _cmd_envs(args: argparse.Namespace) -> int:
    from langchain_daytona_exec.backends.local import _layers as layers

    found = layers.list_layers(args.dir)
    if args.action == "list":
        for info in found:
            age_h = (time.time() - info.built_at) / 3600
            print(
                f"{info.key}  {info.size_bytes / 1e6:8.1f} MB  {age_h:6.1f} h  "
                f"{' '.join(info.packages)}"
            )
        print(f"{len(found)} layer(s) in {args.dir or layers.default_layers_dir()}")
        return 0
    if args.action == "prune":
        if args.older_than is None:
            print("error: prune needs --older-than (such as 7d)", file=sys.stderr)
            return 2
        keys = [i.key for i in found if time.time() - i.built_at >= args.older_than]
    else:
        keys = list(args.keys)
        if not keys:
            print("error: name the layer keys to remove (see `daytona-exec envs`)", file=sys.stderr)
            return 2
    missing = [k for k in keys if not layers.remove_layer(k, args.dir)]
    print(f"removed {len(keys) - len(missing)} layer(s)")
    for key in missing:
        print(f"error: no layer {key}", file=sys.stderr)
    return 1 if missing else 0


def add_agent_arguments(ag: argparse.ArgumentParser) -> None:
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


COMMANDS = {"agent": _cmd_agent, "emulator": _cmd_emulator, "gc": _cmd_gc, "envs": _cmd_envs}
"""Each subcommand (other than ``exec``) and the function that runs it."""
