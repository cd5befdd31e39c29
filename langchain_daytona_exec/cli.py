"""The ``daytona-exec`` command.

Subcommands:

* ``daytona-exec exec FILE | -c CODE``: run code in a fresh local sandbox, print the
  output and the last expression, and write charts as PNG files.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    return parser


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
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
