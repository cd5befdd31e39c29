"""Start-up cost: importing the package and running ``daytona-exec exec`` once.

Prints a markdown table. Every row times whole processes, run in turn with its
baseline (A B A B ...) in the same run, so a ratio holds while the machine's speed
drifts; the ratio columns are medians of the pair-by-pair ratios (CPU time is user +
system of the process and its reaped children: steadier than wall on a busy machine).

Targets (issue 12): ``python -c "import langchain_daytona_exec"`` within 100 ms, and
``daytona-exec exec -c "print(6*7)"`` within 6x ``python3 -c "print(6*7)"``.

A second table shows where ``exec``'s time goes: the same steps as the command (the
imports it needs to start a sandbox, the start, the boot while the arguments are parsed,
the two ``run_code`` calls, the close), timed inside one process per round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

IMPORT_TARGET_MS = 100.0
"""The whole ``python -c "import langchain_daytona_exec"`` process, in milliseconds."""

CLI_TARGET_RATIO = 6.0
"""``daytona-exec exec -c "print(6*7)"`` against ``python3 -c "print(6*7)"``."""


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""The children's environment: bytecode is cached (the warm-up writes it), as in any
installed package; with ``PYTHONDONTWRITEBYTECODE`` an editable install would compile
every module at every start, which no user pays."""


def timed(argv: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its reaped children included) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pair(a: Sequence[str], b: Sequence[str], runs: int) -> tuple[float, float, float, float]:
    """Median wall seconds of ``a`` and ``b``, and the medians of the wall and CPU ratios."""
    for _ in range(2):  # warm-up: page cache, bytecode
        timed(a)
        timed(b)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a))
        tb.append(timed(b))
    wall = [x[0] / y[0] for x, y in zip(ta, tb, strict=True)]
    cpu = [x[1] / max(y[1], 1e-3) for x, y in zip(ta, tb, strict=True)]
    return (
        statistics.median(x[0] for x in ta),
        statistics.median(y[0] for y in tb),
        statistics.median(wall),
        statistics.median(cpu),
    )


FORKSERVER_EXEC = """
import sys
sys.argv = ["daytona-exec", "exec", "-c", "print(6*7)"]
from langchain_daytona_exec.cli import _exec, main
_exec.ONE_SHOT_LAUNCHER = "auto"
main()
"""
"""``daytona-exec exec`` with the launcher a long-lived host uses in root mode: the
zygote starts when the command makes its backend, the sandbox is forked from it. Shows
why the command keeps bwrap (one sandbox per process)."""


PHASES = r"""
import time
t0 = time.perf_counter()
import langchain_daytona_exec.cli
from langchain_daytona_exec.cli._lazy import DEFERRED, defer
defer(DEFERRED)
from langchain_daytona_exec.cli._process import become_subreaper
become_subreaper()
from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.cli import _exec
t1 = time.perf_counter()
marks = {}

def while_booting():
    marks["spawned"] = time.perf_counter()
    args = _exec.parse_exec(["-c", "print(6*7)"])
    _exec._import_run_modules()
    marks["parsed"] = time.perf_counter()

sb = LocalBackend(launcher=_exec.ONE_SHOT_LAUNCHER)._create(while_booting=while_booting)
t2 = time.perf_counter()
sb.run_code(_exec._prelude(["-c"], None))
sb.run_code("print(6*7)")
t3 = time.perf_counter()
sb.close()
t4 = time.perf_counter()
import json
print(json.dumps({
    "imports before the sandbox starts": t1 - t0,
    "start: folders, cgroups, workspace, argv, spawn; the seccomp program (as bwrap starts)": (
        marks["spawned"] - t1
    ),
    "boot: to the ready frame": t2 - marks["spawned"],
    "  of which the parse and result imports, overlapped": marks["parsed"] - marks["spawned"],
    "the two run_code calls (sys.argv prelude, the code)": t3 - t2,
    "close: kill, cgroups, workspace, folder": t4 - t3,
}))
"""
"""One ``exec`` run's steps, timed in one process (what the command does, in order; the
clock starts before the first import, as the command's does after the interpreter's start)."""


def phases(runs: int) -> None:
    """Print the median of each step of ``exec`` over ``runs`` fresh processes."""
    rounds: list[dict[str, float]] = []
    for i in range(runs + 2):
        out = subprocess.run(
            [sys.executable, "-c", PHASES],
            check=True,
            capture_output=True,
            text=True,
            env=ENV,
        ).stdout
        if i >= 2:  # warm-up rounds
            rounds.append(json.loads(out))
    print(f"\n## Where `exec`'s time goes ({runs} processes, median ms per step)\n")
    print("| step | ms |")
    print("|---|---|")
    for step in rounds[0]:
        label = step.replace("  ", "&nbsp;&nbsp;")
        print(f"| {label} | {statistics.median(r[step] for r in rounds) * 1e3:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="counted pairs per row")
    runs = parser.parse_args().runs

    py = sys.executable
    # The baseline is the very interpreter that runs the CLI: a pyenv shim or a
    # site-packages .pth that imports modules would make the baseline slow and the
    # ratio flattering.
    python3 = py
    bindir = os.path.dirname(py)
    cli = os.path.join(bindir, "daytona-exec")
    cli_argv = [cli] if os.access(cli, os.X_OK) else [py, "-m", "langchain_daytona_exec.cli"]
    bare = [py, "-c", "pass"]
    statements = [
        "import langchain_daytona_exec",
        "import langchain_daytona_exec.errors",
        "from langchain_daytona_exec import LocalBackend",
        "from langchain_daytona_exec import DaytonaToolkit",
    ]
    rows = [(f"`{st}`", [py, "-c", st], bare) for st in statements]

    print(f"## Start-up ({runs} pairs per row, whole processes, median wall time)\n")
    print("| command (A) | A | baseline (B) | B | A - B | A / B | CPU A / B | target | met? |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, a, b in rows:
        ma, mb, ratio, cpu = pair(a, b, runs)
        target, met = "", ""
        if a[-1] == "import langchain_daytona_exec":
            target = f"A <= {IMPORT_TARGET_MS:.0f} ms"
            met = "yes" if ma * 1e3 <= IMPORT_TARGET_MS else "no"
        print(
            f"| {label} | {ma * 1e3:.0f} ms | `python -c pass` | {mb * 1e3:.0f} ms | "
            f"{(ma - mb) * 1e3:.0f} ms | {ratio:.2f} | {cpu:.2f} | {target} | {met} |"
        )
    a = [*cli_argv, "exec", "-c", "print(6*7)"]
    b = [python3, "-c", "print(6*7)"]
    ma, mb, ratio, cpu = pair(a, b, runs)
    met = "yes" if ratio <= CLI_TARGET_RATIO else "no"
    print(
        f'| `daytona-exec exec -c "print(6*7)"` | {ma * 1e3:.0f} ms | '
        f'`python3 -c "print(6*7)"` | {mb * 1e3:.0f} ms | {(ma - mb) * 1e3:.0f} ms | '
        f"{ratio:.2f} | {cpu:.2f} | A/B <= {CLI_TARGET_RATIO:g} | {met} |"
    )
    ma, mb, ratio, cpu = pair([py, "-c", FORKSERVER_EXEC], b, runs)
    print(
        f'| the same with the fork-server (`ONE_SHOT_LAUNCHER = "auto"`) | {ma * 1e3:.0f} ms | '
        f'`python3 -c "print(6*7)"` | {mb * 1e3:.0f} ms | {(ma - mb) * 1e3:.0f} ms | '
        f"{ratio:.2f} | {cpu:.2f} | | |"
    )
    print(f"\npython: {py}; python3: {python3}; cli: {' '.join(cli_argv)}")
    phases(runs)


if __name__ == "__main__":
    main()
