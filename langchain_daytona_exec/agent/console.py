"""Running the reference agent in a terminal.

The model from the environment, a live step-by-step display (rich), approval
prompts, the thread store and a time summary.

``daytona-exec agent`` (arguments in :mod:`langchain_daytona_exec.cli._commands`)
runs :func:`run_agent_command`; ``make demo`` (``examples/demo.py``) uses :func:`run_turn`.
"""

from __future__ import annotations

from langchain_daytona_exec._extras import require_extra

require_extra(
    "agent",
    "langchain_openai",
    "rich",
    "langgraph.checkpoint.sqlite",
    feature="The agent console (daytona-exec agent)",
)

import argparse
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from openai import OpenAIError
from pydantic import SecretStr
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from langchain_daytona_exec._paths import THREADS_DB_ENV, default_threads_db, workspaces_dir
from langchain_daytona_exec.agent.graph import (
    MARKER_KEY,
    ApprovalRequest,
    ChartFile,
    create_code_interpreter_agent,
)
from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools import DaytonaToolkit

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from langchain_daytona_exec.sandbox import SandboxBackend

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_HELP",
    "THREADS_DB_ENV",
    "ModelNotConfiguredError",
    "StepPrinter",
    "TurnStats",
    "default_threads_db",
    "describe_files",
    "model_from_env",
    "open_thread_store",
    "run_agent_command",
    "run_turn",
]

DEFAULT_MODEL = "gpt-4o-mini"
"""The model when neither ``--model`` nor ``OPENAI_MODEL`` names one: cheap, fast and
good at tool calling."""

WARMUP = "import numpy, pandas, matplotlib.pyplot"
"""Imported in the thread's sandbox, when files were given, while the model thinks
about its first step, so the first analysis call does not pay for them (~1 s).
Failures are ignored."""

MAX_OUTPUT_LINES = 40
"""Lines of each tool result shown in the terminal (the model gets the whole result)."""

MODEL_HELP = """\
No model is configured, so the agent cannot run. Set one of:
  OPENAI_API_KEY=sk-...                   to use OpenAI (model: --model, $OPENAI_MODEL \
or {default})
  OPENAI_BASE_URL=http://HOST:PORT/v1     to use any OpenAI-compatible server (vLLM, \
Ollama, LM Studio, llama.cpp...)
for example:  export OPENAI_API_KEY=sk-...  then run the command again.\
"""
"""Printed (with exit code 2) when neither ``OPENAI_API_KEY`` nor ``OPENAI_BASE_URL``
is set."""


class ModelNotConfiguredError(RuntimeError):
    """Neither ``OPENAI_API_KEY`` nor ``OPENAI_BASE_URL`` is set (see :data:`MODEL_HELP`)."""


def model_from_env(model: str | None = None) -> BaseChatModel:
    """The CLI's chat model: ``ChatOpenAI`` configured from the environment.

    Args:
        model: The model name; ``None`` reads ``OPENAI_MODEL``, then uses
            :data:`DEFAULT_MODEL`.

    Returns:
        A ``ChatOpenAI`` for OpenAI (``OPENAI_API_KEY``) or for the OpenAI-compatible
        server at ``OPENAI_BASE_URL`` (the key is optional there).

    Raises:
        ModelNotConfiguredError: Neither variable is set.
    """
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    base_url = os.environ.get("OPENAI_BASE_URL", "").strip()
    if not key and not base_url:
        raise ModelNotConfiguredError(MODEL_HELP.format(default=DEFAULT_MODEL))
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL,
        base_url=base_url or None,
        # Local OpenAI-compatible servers accept any key; the client insists on one.
        api_key=SecretStr(key or "not-needed"),
    )


@contextmanager
def open_thread_store(path: str) -> Iterator[BaseCheckpointSaver[Any]]:
    """A SQLite checkpointer at ``path`` (folders created), closed on exit."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


def describe_files(paths: Sequence[str]) -> str:
    """A note for the first message: the uploaded files, with rows, columns and dtypes."""
    from langchain_daytona_exec.tools.data_analysis import profile_dataset

    lines = ["Files in the sandbox's working folder:"]
    for path in paths:
        name = os.path.basename(path)
        with open(path, "rb") as f:
            profile = profile_dataset(name, f.read())
        lines.append(f"- {name}" + (f" ({profile})" if profile else ""))
    return "\n".join(lines)


# -- the live display --------------------------------------------------------------


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


@dataclass
class TurnStats:
    """What one turn cost.

    Attributes:
        model_calls: Model calls (steps).
        tool_calls: Tool calls run.
        total_s: Wall time of the turn in **seconds**, without time spent waiting
            for the user's approval.
        model_s: **Seconds** spent in model calls.
        tools_s: **Seconds** spent in the tools node (sandbox leases included).
        code_s: **Seconds** the code and commands themselves ran in the sandbox.
        sandbox_ready_s: **Seconds** from the start until the sandbox had the files
            and the usual imports (overlapped with the model's first step); the first
            tool call waits for it when the model is faster.
        charts: Chart files written.
        answer: The final answer's text.
    """

    model_calls: int = 0
    tool_calls: int = 0
    total_s: float = 0.0
    model_s: float = 0.0
    tools_s: float = 0.0
    code_s: float = 0.0
    sandbox_ready_s: float | None = None
    charts: list[ChartFile] = field(default_factory=list)
    answer: str = ""

    def summary(self) -> str:
        """One line: steps, then where the time went."""
        overhead = max(self.tools_s - self.code_s, 0.0)
        line = (
            f"{self.model_calls} model step(s), {self.tool_calls} tool call(s) in "
            f"{self.total_s:.2f} s: model {self.model_s:.2f} s, tools {self.tools_s:.2f} s "
            f"(code {self.code_s:.2f} s, tool overhead {overhead:.2f} s)"
        )
        if self.sandbox_ready_s is not None:
            line += f"; sandbox ready (start, files, imports) after {self.sandbox_ready_s:.2f} s"
        return line


class StepPrinter:
    """Renders the agent's steps: tool calls, outputs, charts, notices and the answer.

    Args:
        console: Where to print.
        max_lines: Lines of each tool result to show.
    """

    def __init__(self, console: Console, *, max_lines: int = MAX_OUTPUT_LINES) -> None:
        self.console = console
        self.max_lines = max_lines

    def tool_call(self, call: ToolCall) -> None:
        """Show a call the model made, its code highlighted."""
        args = dict(call["args"])
        body: Any
        if "code" in args:
            body = Syntax(str(args.pop("code")), "python", word_wrap=True)
        elif "command" in args:
            body = Syntax(str(args.pop("command")), "bash", word_wrap=True)
        elif "content" in args:
            content = str(args.pop("content"))
            body = Text(content if len(content) < 400 else content[:400] + " ...")
        else:
            body = None
        extra = ", ".join(f"{k}={v!r}" for k, v in args.items())
        title = f"[bold cyan]{call['name']}[/]" + (f" {extra}" if extra else "")
        if body is None:
            self.console.print(f"[cyan]>[/] {title}")
        else:
            self.console.print(Panel(body, title=title, title_align="left", border_style="cyan"))

    def tool_result(self, message: ToolMessage) -> None:
        """Show a tool's output (the text the model got), cut to ``max_lines``."""
        artifact = message.artifact if isinstance(message.artifact, dict) else {}
        failed = (
            message.status == "error"
            or bool(artifact.get("error"))
            or artifact.get("exit_code") not in (None, 0)
        )
        lines = message.text.splitlines() or ["(no output)"]
        if len(lines) > self.max_lines:
            cut = len(lines) - self.max_lines
            lines = [*lines[: self.max_lines], f"... {cut} more line(s) (the model saw them all)"]
        took = artifact.get("duration_ms")
        title = f"{message.name or 'tool'} output" + (f" ({_seconds(took)})" if took else "")
        self.console.print(
            Panel(
                Text("\n".join(lines)),
                title=title,
                title_align="left",
                border_style="red" if failed else "green",
            )
        )

    def charts(self, charts: Sequence[ChartFile]) -> None:
        """Say where charts were written."""
        for chart in charts:
            title = f" ({chart['title']})" if chart.get("title") else ""
            what = chart.get("kind", "chart")
            line = f"[magenta]{what} written:[/] {chart['path']}{title}"
            self.console.print(line, soft_wrap=True)
            if what == "chart" and chart.get("description"):
                self.console.print(Text(f"  {chart['description']}", style="dim"))

    def notice(self, message: BaseMessage) -> None:
        """Show what the graph told the model (a lost sandbox, charts shown)."""
        kind = message.additional_kwargs.get(MARKER_KEY)
        if kind == "charts":
            self.console.print("[dim]charts shown to the model[/]")
        else:
            self.console.print(Text(message.text, style="yellow"))

    def thinking(self, message: AIMessage) -> None:
        """Text the model wrote alongside tool calls."""
        if message.text.strip():
            self.console.print(Text(message.text.strip(), style="italic"))

    def answer(self, text: str, *, title: str = "answer") -> None:
        """The final answer."""
        body = Markdown(text or "(empty answer)")
        self.console.print(Panel(body, title=title, border_style="bold"))

    def approval(self, request: ApprovalRequest) -> None:
        """Announce an approval request."""
        self.console.print(f"[bold yellow]approval needed:[/] {request['message']}")


Approver = Callable[[ApprovalRequest], object]
"""Decides an approval request; returns the resume value (see ``parse_decision``)."""


def ask_in_terminal(console: Console) -> Approver:
    """An approver that asks on the terminal (y/N, then an optional reason).

    Anything but ``y``/``yes`` is the user's refusal. With no terminal to ask (stdin
    closed before an answer), the calls are denied as not approved by anyone.
    """

    def read(prompt: str) -> str:
        # Text, not markup: rich would take "[y/N]" for a style tag and drop it.
        console.print(Text(prompt, style="bold"), end="")
        return input().strip()

    def ask(request: ApprovalRequest) -> object:
        try:
            answer = read("Run it? [y/N] ").lower()
        except EOFError:
            console.print()
            return {"approved": False, "reason": NO_ANSWER}
        if answer in ("y", "yes"):
            return {"approved": True}
        try:
            reason = read("Reason for the model (optional): ")
        except EOFError:
            console.print()
            reason = ""
        return {"approved": False, "reason": reason or USER_REFUSED}

    return ask


NO_ANSWER = "nobody was there to approve it"
"""The denial's reason when stdin closed before the user answered."""

USER_REFUSED = "the user said no"
"""The denial's reason when the user answered no without giving a reason."""


def run_turn(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    messages: Sequence[BaseMessage],
    config: RunnableConfig,
    printer: StepPrinter,
    *,
    approver: Approver | None = None,
) -> TurnStats:
    """Stream one turn of the agent, printing each step as it finishes.

    Args:
        graph: The compiled agent.
        messages: The new messages of this turn (the user's question).
        config: Must carry ``configurable.thread_id``.
        printer: The display.
        approver: Decides approval requests; ``None`` denies them.

    Returns:
        The turn's statistics and answer.
    """
    from langgraph.types import Command

    view = _TurnView(printer)
    payload: Any = {"messages": list(messages)}
    while True:
        interrupted: ApprovalRequest | None = None
        mark = time.perf_counter()  # restarted after each approval: waiting is not work
        with printer.console.status(THINKING) as status:
            for update in graph.stream(payload, config, stream_mode="updates"):
                now = time.perf_counter()
                spent, mark = now - mark, now
                view.stats.total_s += spent
                for node, value in update.items():
                    if node == "__interrupt__":
                        interrupted = value[0].value
                    else:
                        status.update(view.show(node, value or {}, spent))
        if interrupted is None:
            break
        printer.approval(interrupted)
        payload = Command(resume=approver(interrupted) if approver is not None else False)
    printer.answer(view.stats.answer)
    return view.stats


THINKING = "[dim]the model is thinking...[/]"


class _TurnView:
    """Prints each node's update and adds it to the turn's statistics."""

    def __init__(self, printer: StepPrinter) -> None:
        self.printer = printer
        self.stats = TurnStats()

    def show(self, node: str, update: dict[str, Any], spent: float) -> str:
        """Print one node's update; return what the status line should say next."""
        stats, printer = self.stats, self.printer
        if node in ("agent", "finalize"):
            stats.model_s += spent
            stats.model_calls += 1
        elif node == "tools":
            stats.tools_s += spent
        status = THINKING
        for message in update.get("messages") or []:
            if isinstance(message, AIMessage) and message.tool_calls and node == "agent":
                printer.thinking(message)
                for call in message.tool_calls:
                    printer.tool_call(call)
                status = f"[dim]running {', '.join(c['name'] for c in message.tool_calls)}...[/]"
            elif isinstance(message, AIMessage):
                stats.answer = message.text
            elif isinstance(message, ToolMessage):
                if node == "tools":
                    stats.tool_calls += 1
                    artifact = message.artifact if isinstance(message.artifact, dict) else {}
                    stats.code_s += (artifact.get("duration_ms") or 0.0) / 1000
                printer.tool_result(message)
            elif message.additional_kwargs.get(MARKER_KEY):
                printer.notice(message)
        if update.get("charts"):
            stats.charts.extend(update["charts"])
            printer.charts(update["charts"])
        return status


# -- the `daytona-exec agent` command ------------------------------------------------


def _backend(name: str) -> SandboxBackend:
    if name == "daytona":
        # Without the [daytona] extra this raises MissingExtraError (a SandboxError).
        from langchain_daytona_exec.backends.daytona import DaytonaBackend

        if not (os.environ.get("DAYTONA_API_KEY") or os.environ.get("DAYTONA_JWT_TOKEN")):
            raise SandboxError(
                "--backend daytona needs DAYTONA_API_KEY (and DAYTONA_API_URL for a "
                "self-hosted Daytona); or use --backend local"
            )
        backend: SandboxBackend = DaytonaBackend()
        return backend
    from langchain_daytona_exec.backends.local import LocalBackend

    return LocalBackend()


@dataclass
class _Warmup:
    """Copies the user's files into the thread's sandbox, then imports libraries.

    It runs in a thread, so the sandbox's cold start overlaps the model's first step
    (the pool makes the first tool call wait for it).
    """

    pool: SandboxPool
    key: str
    files: dict[str, bytes]
    error: SandboxError | None = None
    took_s: float | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ldx-agent-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            with self.pool.session(self.key) as sb:
                for name, data in self.files.items():
                    sb.write_file(name, data)
                sb.run_code(WARMUP)
        except SandboxError as exc:
            self.error = exc
        self.took_s = time.perf_counter() - started

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


def run_agent_command(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run ``daytona-exec agent``: one question, streamed; the thread is kept.

    Args:
        args: The ``daytona-exec agent`` arguments (see ``cli/_commands.py``): ``question``,
            ``files``, ``thread``, ``backend``, ``approve``, ``model``, ``charts_dir``,
            ``threads_db``, ``max_iterations``, ``vision``.
        console: Where to print; ``None`` prints to stdout.

    Returns:
        The exit status: 0 answered, 2 not configured (no model, no backend).
    """
    console = console or Console()
    try:
        model = model_from_env(args.model)
    except ModelNotConfiguredError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        backend = _backend(args.backend)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files: dict[str, bytes] = {}
    for path in args.files:
        with open(path, "rb") as f:
            files[os.path.basename(path)] = f.read()
    thread = args.thread or time.strftime("cli-%Y%m%d-%H%M%S")
    question = args.question
    if args.files:
        question += "\n\n" + describe_files(args.files)

    db = args.threads_db or default_threads_db()
    # Local sandboxes die with the process: keep each thread's files beside its
    # conversation, so a later run of the thread finds them (Daytona keeps its disk).
    persist = workspaces_dir(db) if backend.name == "local" else None
    with (
        open_thread_store(db) as store,
        SandboxPool(backend, max_size=4, persist_dir=persist) as pool,
    ):
        graph = create_code_interpreter_agent(
            model,
            toolkit=DaytonaToolkit(pool=pool),
            checkpointer=store,
            max_iterations=args.max_iterations,
            approve=True if args.approve else None,
            charts_dir=args.charts_dir,
            vision=args.vision,
        )
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        earlier = len(graph.get_state(config).values.get("messages", []))
        if earlier:
            console.print(f"[dim]thread {thread}: continuing after {earlier} message(s)[/]")
        else:
            console.print(f"[dim]thread {thread} (continue it with --thread {thread})[/]")
        warmup = _Warmup(pool, thread, files)
        if files:  # data to analyse: start the sandbox and import pandas meanwhile
            warmup.start()
        for path in args.files:
            console.print(f"[dim]uploading {path} -> {os.path.basename(path)}[/]")
        approver = ask_in_terminal(console) if args.approve else None
        try:
            stats = run_turn(
                graph, [HumanMessage(question)], config, StepPrinter(console), approver=approver
            )
        except OpenAIError as exc:
            print(f"error: the model call failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted; continue with --thread {thread}[/]")
            return 130
        warmup.join()
        stats.sandbox_ready_s = warmup.took_s
        if warmup.error is not None:
            console.print(f"[yellow]preparing the sandbox failed: {warmup.error}[/]")
    console.print(f"[dim]{stats.summary()}[/]")
    if stats.charts:
        console.print(
            f"[dim]charts: {os.path.dirname(stats.charts[0]['path'])}/[/]", soft_wrap=True
        )
    console.print(f"[dim]thread {thread} is kept in {db}[/]", soft_wrap=True)
    return 0
