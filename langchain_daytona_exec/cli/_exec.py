"""``daytona-exec exec FILE | -c CODE``: run code in a fresh local sandbox, like ``python``.

It prints the output and the last expression, writes charts as PNG files and exits with
the script's status. With a default sandbox (no option that shapes it) the sandbox
starts first, and the arguments are parsed while it boots (:func:`exec_command`).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence

from langchain_daytona_exec.errors import SandboxError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:  # argparse and the result types are imported while the sandbox starts
    import argparse
    from typing import Any, Literal

    from langchain_daytona_exec.backends.local import LocalSandbox
    from langchain_daytona_exec.types import ExecutionResult


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


def parse_exec(argv: Sequence[str]) -> argparse.Namespace:
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
    backend = LocalBackend(
        network=network,
        environment=environment,
        build_log=_build_progress,
        launcher=ONE_SHOT_LAUNCHER,
    )
    with backend.create() as sb:
        result = _run_script(sb, args, code)
    return _print_result(result, args.charts_dir)


ONE_SHOT_LAUNCHER: Literal["bwrap"] = "bwrap"
"""``exec`` makes one sandbox per process: starting the fork-server's zygote (a Python of
its own) and forking from it costs more than one bwrap sandbox, in wall time and more so
in CPU (``benchmarks/startup.py`` runs the command both ways). Starting the zygote
before the command's own imports, on the other core, was measured too: no faster than
bwrap on a quiet machine, slower on a busy one (see ``benchmarks/README.md``)."""

_DEFAULT_SANDBOX_OPTIONS = frozenset(
    {"-c", "--code", "-l", "--language", "--file", "--charts-dir", "--timeout"}
)
"""The ``exec`` options that leave the sandbox as ``LocalBackend()`` makes it. With no
other option the sandbox starts before the arguments are even parsed."""


def default_sandbox(argv: Sequence[str]) -> bool:
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


def shapes_sandbox(args: argparse.Namespace) -> bool:
    """Whether the parsed ``exec`` arguments ask for a sandbox other than the default."""
    return bool(args.network or args.allow or args.packages)


def exec_command(argv: Sequence[str]) -> int:
    """``daytona-exec exec ARGV``.

    With a default sandbox (the common case) the sandbox starts first: while its
    process boots (bubblewrap, the interpreter, the kernel: most of the command's
    time, in another process), this one parses the arguments and imports what the run
    needs, which it would otherwise do before starting it. Same sandbox, same limits,
    closed the same way.
    """
    if not default_sandbox(argv):
        return _cmd_exec(parse_exec(argv))
    from langchain_daytona_exec.backends.local import LocalBackend

    parsed: list[argparse.Namespace | SystemExit] = []

    def while_booting() -> None:
        try:
            parsed.append(parse_exec(argv))
        except SystemExit as exc:  # a usage error, already printed: raised after the close
            parsed.append(exc)
            return
        _import_run_modules()

    try:
        sandbox = LocalBackend(launcher=ONE_SHOT_LAUNCHER)._create(while_booting=while_booting)
    except (SandboxError, OSError):
        if not parsed:  # a usage error comes first, as when the arguments are parsed first
            parse_exec(argv)
        raise
    with sandbox as sb:
        args = parsed[0]
        if isinstance(args, SystemExit):
            raise args
        if shapes_sandbox(args):  # not expected after default_sandbox: never run there
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
    """Import what reading the sandbox's replies needs (the result types, ``json``)."""
    from langchain_daytona_exec.backends.local import _replies, protocol  # noqa: F401

    protocol.prepare_decoder()


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
