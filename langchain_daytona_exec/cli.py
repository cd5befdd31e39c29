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

import contextlib
import functools
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_daytona_exec import __version__
from langchain_daytona_exec.errors import SandboxError

if TYPE_CHECKING:  # argparse and the result types are imported while the sandbox starts
    import argparse

    from langchain_daytona_exec.backends.local import LocalSandbox
    from langchain_daytona_exec.types import ExecutionResult

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="daytona-exec", description="Run AI-generated code in isolated sandboxes."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # `exec` is parsed by its own parser (see main): this entry serves the command list.
    sub.add_parser("exec", help="run a file or code in a fresh local sandbox, like python")
    ag = sub.add_parser("agent", help="ask the reference code-interpreter agent a question")
    _add_agent_arguments(ag)
    _add_daytona_commands(sub)
    return parser


def _exec_parser() -> argparse.ArgumentParser:
    """``daytona-exec exec``: parsed intermixed, so the script's arguments may follow it."""
    import argparse

    ex = argparse.ArgumentParser(
        prog="daytona-exec exec",
        description="Run a file (or -c CODE) in a fresh local sandbox, like `python FILE "
        "ARGS...`: sys.argv, __file__ and __name__ == '__main__' are set, sys.exit() "
        "sets the exit status. The script's own options go after `--`.",
    )
    ex.add_argument("file", nargs="?", help="a source file to run ('-' reads stdin)")
    ex.add_argument("args", nargs="*", help="arguments for the script (its sys.argv[1:])")
    ex.add_argument("-c", "--code", help="code to run (instead of a file)")
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
    ex.add_argument(
        "--charts-dir",
        default="charts",
        help="where PNG charts are written (chart-<n>.png, never overwriting one)",
    )
    ex.add_argument("--timeout", type=float, default=None, help="seconds before interrupting")
    ex.add_argument("--network", action="store_true", help="give the sandbox network access")
    ex.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow only this host through a filtering proxy (repeatable; *.suffix and IP "
        "literals work; 'packages' allows the configured package index)",
    )
    ex.add_argument(
        "--with",
        dest="packages",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="a package the sandbox needs (repeatable): built once into a cached layer",
    )
    ex.add_argument("--index-url", default=None, help="the package index for --with")
    return ex


def _parse_exec(argv: Sequence[str]) -> argparse.Namespace:
    parser = _exec_parser()
    # The words after `--` are the script's, split off here: argparse's intermixed
    # parse would read options among them when no positional comes before `--`
    # (`-c CODE -- --network` gave the sandbox the network).
    words = list(argv)
    split = words.index("--") if "--" in words else len(words)
    args = parser.parse_intermixed_args(words[:split])
    script_words = words[split + 1 :]
    if args.code is None and args.file is None and script_words:
        args.file, script_words = script_words[0], script_words[1:]
    args.args = [*args.args, *script_words]
    if args.code is not None:
        # Like `python -c CODE ARGS`: every positional word is an argument.
        args.args = [args.file, *args.args] if args.file is not None else list(args.args)
        args.file = None
    elif args.file is None:
        parser.error("give a FILE to run, '-' for stdin, or -c CODE")
    args.command = "exec"
    return args


def _add_daytona_commands(sub: Any) -> None:
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


def _write_chart(charts_dir: str, png: bytes) -> str:
    """Write ``png`` as the first free ``chart-<n>.png``: an earlier run's charts are kept."""
    os.makedirs(charts_dir, exist_ok=True)
    n = 1
    while True:
        path = os.path.join(charts_dir, f"chart-{n}.png")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        return path


def _exit_status(value: str) -> tuple[int, str | None]:
    """Python's exit status for ``SystemExit(value)`` (as text), and what it prints.

    ``sys.exit()`` and ``sys.exit(None)`` exit 0, ``sys.exit(n)`` exits ``n`` (modulo 256,
    as the OS keeps one byte), anything else is printed to stderr and exits 1.
    """
    text = value.strip()
    if text in ("", "None"):
        return 0, None
    try:
        return int(text) % 256, None
    except ValueError:
        return 1, value


def _print_result(result: ExecutionResult, charts_dir: str) -> int:
    if result.stdout:
        sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
    if result.stderr:
        sys.stderr.write(result.stderr if result.stderr.endswith("\n") else result.stderr + "\n")
    for output in result.outputs:  # display(...) calls: tables as text
        if not output.is_main_result and output.chart is None and output.text is not None:
            print(output.text)
    if result.result is not None:
        print(f"=> {result.result}")
    for chart in result.charts:
        path = _write_chart(charts_dir, chart.png)
        print(f"chart written: {path}" + (f" ({chart.title})" if chart.title else ""))
        if chart.description:
            print(f"  {chart.description}")
    if result.timed_out:
        print("timed out" + (" (interpreter restarted)" if result.state_lost else ""))
    if result.error is not None and result.error.name == "SystemExit":
        status, message = _exit_status(result.error.value)
        if message is not None:
            print(message, file=sys.stderr)
        return status
    if result.error is not None:
        sys.stderr.write(result.error.traceback)
        return 1
    return 2 if result.timed_out else 0


class _ScriptError(Exception):
    """The script cannot be read as source text (the message says why and what to do)."""


def _read_source(path: str) -> str:
    """The text of ``path`` ('-' is stdin), decoded as Python would (PEP 263 cookie, BOM)."""
    import io
    import tokenize

    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    name = "stdin" if path == "-" else path
    try:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:  # an unknown cookie, or the first lines are not UTF-8
            if "unknown encoding" in str(exc):
                raise _ScriptError(f"{name}: {exc}; save it as UTF-8") from None
            encoding = "utf-8"
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _ScriptError(
            f"{name} is not valid {exc.encoding} text (byte 0x{data[exc.start]:02x} at "
            f"offset {exc.start}); save it as UTF-8, or declare its encoding on the first "
            "line, e.g. '# -*- coding: latin-1 -*-'"
        ) from None


def _prelude(argv: list[str], file: str | None) -> str:
    """Python code giving the interpreter what ``python FILE ARGS`` gives a script."""
    lines = ["import sys as _ldx_sys", f"_ldx_sys.argv = {argv!r}"]
    if file is not None:
        lines.append(f"__file__ = {file!r}")
    lines.append("del _ldx_sys")
    return "\n".join(lines)


def _build_progress(line: str) -> None:
    """Show an environment build's progress on stderr (stdout is the script's).

    On a terminal, one rich status line follows pip's latest output; otherwise (logs, CI,
    pipes) each line is printed as ``  env | ...``.
    """
    if not line.strip():
        return
    if sys.stderr.isatty():
        status = _status()
        if status is not None:
            status.update(f"building the environment: {line[:100]}")
            if line.startswith("layer ") and line.endswith("ready"):
                status.stop()
            return
    print(f"  env | {line}", file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=1)
def _status() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    status = Console(stderr=True).status("building the environment")
    status.start()
    return status


def _cmd_exec(args: argparse.Namespace) -> int:
    """``exec`` with options that shape the sandbox (network, packages): made as asked."""
    from langchain_daytona_exec.backends.local import LocalBackend
    from langchain_daytona_exec.environment import Environment

    try:
        code = _source(args)
    except _ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    network: bool | list[str] = list(args.allow) or bool(args.network)
    environment = (
        Environment(packages=args.packages, index_url=args.index_url) if args.packages else None
    )
    backend = LocalBackend(network=network, environment=environment, build_log=_build_progress)
    with backend.create() as sb:
        result = _run_script(sb, args, code)
    return _print_result(result, args.charts_dir)


_DEFAULT_SANDBOX_OPTIONS = frozenset(
    {"-c", "--code", "-l", "--language", "--file", "--charts-dir", "--timeout"}
)
"""The ``exec`` options that leave the sandbox as ``LocalBackend()`` makes it. With no
other option the sandbox starts before the arguments are even parsed."""


def _default_sandbox(argv: Sequence[str]) -> bool:
    """Whether ``exec ARGV`` surely runs in a default sandbox (decided before parsing).

    Conservative: any other option word, an abbreviation (``--net``) or ``-h`` says no,
    and the command then parses first; the parsed arguments are checked again anyway.
    """
    for word in argv:
        if word == "--":  # the script's own arguments follow
            return True
        if word.startswith("--"):
            if word.split("=", 1)[0] not in _DEFAULT_SANDBOX_OPTIONS:
                return False
        elif word.startswith("-") and word != "-" and word[:2] not in _DEFAULT_SANDBOX_OPTIONS:
            return False
    return True


def _shapes_sandbox(args: argparse.Namespace) -> bool:
    """Whether the parsed ``exec`` arguments ask for a sandbox other than the default."""
    return bool(args.network or args.allow or args.packages)


def _exec(argv: Sequence[str]) -> int:
    """``daytona-exec exec ARGV``.

    With a default sandbox (the common case) the sandbox starts first: while its
    process boots (bubblewrap, the interpreter, the kernel: most of the command's
    time, in another process), this one parses the arguments and imports what the run
    needs, which it would otherwise do before starting it. Same sandbox, same limits,
    closed the same way.
    """
    if not _default_sandbox(argv):
        return _cmd_exec(_parse_exec(argv))
    from langchain_daytona_exec.backends.local import LocalBackend

    parsed: list[argparse.Namespace | SystemExit] = []

    def while_booting() -> None:
        try:
            parsed.append(_parse_exec(argv))
        except SystemExit as exc:  # a usage error, already printed: raised after the close
            parsed.append(exc)
            return
        _import_run_modules()

    try:
        sandbox = LocalBackend()._create(while_booting=while_booting)
    except SandboxError:
        if not parsed:  # a usage error comes first, as when the arguments are parsed first
            _parse_exec(argv)
        raise
    with sandbox as sb:
        args = parsed[0]
        if isinstance(args, SystemExit):
            raise args
        if _shapes_sandbox(args):  # not expected after _default_sandbox: never run there
            sb.close()
            return _cmd_exec(args)
        try:
            code = _source(args)
        except _ScriptError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        result = _run_script(sb, args, code)
    return _print_result(result, args.charts_dir)


def _import_run_modules() -> None:
    """Import what reading the sandbox's replies needs (the result types)."""
    from langchain_daytona_exec.backends.local import _replies  # noqa: F401


def _source(args: argparse.Namespace) -> str:
    """The code to run: ``-c CODE``, or the file's (or stdin's) text."""
    return str(args.code) if args.code is not None else _read_source(args.file)


def _run_script(sb: LocalSandbox, args: argparse.Namespace, code: str) -> ExecutionResult:
    """Upload, set ``sys.argv`` and ``__file__`` as ``python FILE ARGS`` would, then run."""
    language = args.language or _language_for(args.file)
    name = os.path.basename(args.file) if args.file not in (None, "-") else None
    if name is not None:  # like `python FILE`: the file exists at __file__
        sb.write_file(name, code)
    for path in args.uploads:
        with open(path, "rb") as f:
            sb.write_file(os.path.basename(path), f.read())
        print(f"uploaded {path} -> {sb.workdir}/{os.path.basename(path)}")
    if language == "python":
        file = f"{sb.workdir}/{name}" if name is not None else None
        argv0 = "-c" if args.code is not None else (file or "-")
        if args.file == "-":
            file = "<stdin>"
        sb.run_code(_prelude([argv0, *args.args], file))
    return sb.run_code(code, language=language, timeout=args.timeout)


REAP_TIMEOUT_S = 5.0
"""Seconds the command waits, before exiting, for the processes its sandboxes left
behind (bwrap helpers that outlive their parent) to end, so none is left running or
unreaped in the caller's process group."""

_REAP_FIRST_PAUSE_S = 0.0005
_REAP_MAX_PAUSE_S = 0.01
"""Polling pauses while waiting for leftover children: the helpers usually end within a
few ms of the sandbox, so the pause starts short (a fixed 10 ms added ~5 ms to every
``exec``) and doubles up to 10 ms (a child that lingers costs little CPU)."""

_PR_SET_CHILD_SUBREAPER = 36
"""prctl(2) option: orphaned descendants are re-parented to this process, not to init."""


def _become_subreaper() -> None:
    """Adopt our orphaned descendants, so :func:`_reap_children` can wait for them."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_children(timeout: float = REAP_TIMEOUT_S) -> None:
    """Wait (at most ``timeout`` seconds) until every child process has ended."""
    import time

    deadline = time.monotonic() + timeout
    pause = _REAP_FIRST_PAUSE_S
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left
        if pid == 0:  # children remain, none has ended yet
            if time.monotonic() >= deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, _REAP_MAX_PAUSE_S)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daytona-exec`` console script.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv`` and, as
            the console script, also waits for the processes its sandboxes leave behind
            before returning (see :data:`REAP_TIMEOUT_S`).

    Returns:
        The process exit status.
    """
    if argv is not None:
        return _run(list(argv))
    _become_subreaper()
    try:
        status = _run(sys.argv[1:])
    finally:
        _reap_children()
    _exit_now(status)
    return status


def _exit_now(status: int) -> None:
    """End the process with ``status`` now, skipping the interpreter's teardown.

    What a one-shot command needs of Python's exit is done here: the ``atexit`` hooks
    run and stdout and stderr are flushed; freeing every module and object one by one
    (~6 ms after the sandbox imports) is skipped. Returns (for the normal exit) when a
    non-daemon thread is still running, which Python's exit would wait for, or when a
    flush fails, so that Python reports it as it always does.
    """
    import atexit
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()) or getattr(
        threading, "_threading_atexits", None
    ):  # a thread (or a concurrent.futures pool) Python's exit would wait for
        return
    atexit._run_exitfuncs()
    atexit._clear()  # ran: a normal exit after a failed flush must not run them again
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)


def _run(argv: list[str]) -> int:
    try:
        if argv[:1] == ["exec"]:
            return _exec(argv[1:])
        args = _build_parser().parse_args(argv)
        if args.command == "agent":
            return _cmd_agent(args)
        if args.command == "emulator":
            return _cmd_emulator(args)
        if args.command == "gc":
            return _cmd_gc(args)
        if args.command == "envs":
            return _cmd_envs(args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
