"""The ``daytona-exec`` command.

Subcommands:

* ``daytona-exec exec FILE | -c CODE``: run code in a fresh local sandbox, print the
  output and the last expression, and write charts as PNG files.
* ``daytona-exec agent "question" [--file F] [--thread ID] ...``: ask the reference
  agent; each step is shown live (see :mod:`langchain_daytona_exec.agent.console`).
* ``daytona-exec emulator [--host H] [--port N]``: serve the Daytona API emulator.
* ``daytona-exec gc [--older-than DURATION] [--dry-run]``: delete our Daytona
  sandboxes idle for too long.
* ``daytona-exec envs [list|rm|prune]``: the cached package layers of local environments.

One module per concern: ``_exec.py`` (the ``exec`` command), ``_commands.py`` (the
other commands' arguments and runs), ``_process.py`` (the console script as a process:
its orphans, its exit), ``_lazy.py`` (standard modules ``exec`` never uses, deferred).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from langchain_daytona_exec import __version__
from langchain_daytona_exec.cli._process import become_subreaper, exit_now, reap_children
from langchain_daytona_exec.errors import SandboxError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    import argparse

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    import argparse

    from langchain_daytona_exec.cli._commands import add_agent_arguments, add_daytona_commands

    parser = argparse.ArgumentParser(
        prog="daytona-exec", description="Run AI-generated code in isolated sandboxes."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # `exec` is parsed by its own parser (see main): this entry serves the command list.
    sub.add_parser("exec", help="run a file or code in a fresh local sandbox, like python")
    ag = sub.add_parser("agent", help="ask the reference code-interpreter agent a question")
    add_agent_arguments(ag)
    add_daytona_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daytona-exec`` console script.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv`` and, as
            the console script, also waits for the processes its sandboxes leave behind
            before returning (see :data:`~langchain_daytona_exec.cli._process.REAP_TIMEOUT_S`).

    Returns:
        The process exit status.
    """
    if argv is not None:
        return _run(list(argv))
    if sys.argv[1:2] == ["exec"]:
        from langchain_daytona_exec.cli._lazy import DEFERRED, defer

        defer(DEFERRED)
    become_subreaper()
    try:
        status = _run(sys.argv[1:])
    finally:
        forkserver = sys.modules.get("langchain_daytona_exec.backends.local._forkserver")
        if forkserver is not None:  # its zygote, a child, ends once told (reaped below)
            forkserver.shutdown()
        reap_children()
    exit_now(status)
    return status


def _run(argv: list[str]) -> int:
    try:
        if argv[:1] == ["exec"]:
            from langchain_daytona_exec.cli._exec import exec_command

            return exec_command(argv[1:])
        args = _build_parser().parse_args(argv)
        from langchain_daytona_exec.cli._commands import COMMANDS

        return COMMANDS[args.command](args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
