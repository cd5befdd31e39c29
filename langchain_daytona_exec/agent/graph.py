"""The reference code-interpreter agent: a LangGraph loop written out node by node.

::

    START -> prepare -> agent -> END                         an answer (no tool calls)
                        agent -> [approve] -> tools -> collect -> agent     a tool round
                                  approve ------(denied)-----> collect
                                                               collect -> finalize -> END
                                                                   (the step limit)

* **prepare** starts a turn: it resets the step counter and, on a thread that ran
  code before, checks that the thread's sandbox is still the one the model used
  (it may have been replaced, for example when ``--thread`` resumes a conversation
  in a new process); if not, the model is told its earlier state is gone.
* **agent** calls the model with the system prompt and the conversation.
* **approve** (only with ``approve=``) pauses the run with :func:`~langgraph.types.
  interrupt` before chosen tools; resume with ``Command(resume=True)`` or
  ``Command(resume={"approved": False, "reason": "..."})``.
* **tools** runs the tool calls in order (``ToolRunner``: what ``ToolNode(tools,
  handle_tool_errors=True)`` does, without a thread pool per round). The tools lease the
  thread's sandbox from the pool by ``configurable.thread_id``; their results (text,
  errors, tracebacks and "[sandbox] ... state was lost" notices) reach the model as
  tool messages.
* **collect** writes the charts of the tool results to ``charts_dir`` and, for
  vision models, shows them to the model in a user message (OpenAI accepts images
  only in user messages, not in tool results).
* **finalize** ends a turn that reached the step limit with a final answer.

Each run (``invoke``, ``ainvoke``, ``stream``, ``astream``) pins the thread's key in
the pool (:meth:`~langchain_daytona_exec.SandboxPool.pin`) from its start to its
end, so a full pool never hands the sandbox of a conversation in the middle of its
run to another one: new conversations wait for a free slot instead.
"""

from __future__ import annotations

import base64
import operator
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any, ClassVar, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.managed import RemainingSteps
from langgraph.types import Checkpointer, Command, interrupt

from langchain_daytona_exec.agent import prompts
from langchain_daytona_exec.agent._run_tools import ToolRunner
from langchain_daytona_exec.pool import PooledSandbox, SandboxPool, default_pool, describe_loss
from langchain_daytona_exec.tools import LOSS_NOTICE_KEY, DaytonaToolkit, SandboxTool

__all__ = [
    "MARKER_KEY",
    "AgentState",
    "ApprovalRequest",
    "ChartFile",
    "create_code_interpreter_agent",
    "parse_decision",
    "save_charts",
]

MARKER_KEY = "daytona_exec"
"""``additional_kwargs`` key marking the user messages the graph adds itself (value
``"charts"`` or ``"notice"``), so user interfaces can tell them from the user's own."""

DEFAULT_APPROVE = ("shell",)
"""Tools that ``approve=True`` pauses before: shell commands."""

_NODES_PER_ROUND = 4
"""Graph steps of one tool round (agent, approve, tools, collect); the recursion
limit is derived from ``max_iterations`` with it, so the step limit is reached
first and ends the turn gracefully."""

NOT_RUN = "Not run: the run stopped before this call (for example, it was never approved)."
"""The result given to a tool call that never ran (see ``_answer_dangling``)."""

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ChartFile(TypedDict):
    """A chart (or another image or HTML output) the agent wrote to ``charts_dir``.

    Attributes:
        path: Where the file was written (``chart-<n>.png``, ``output-<n>.html``...).
        title: The chart's title, if it had one.
        tool_call_id: The tool call that produced it.
        description: The chart in words (or the output's text), when there is one.
        kind: ``"chart"`` or ``"output"`` (an image or HTML display output).
    """

    path: str
    title: str | None
    tool_call_id: str
    description: NotRequired[str | None]
    kind: NotRequired[str]


OUTPUT_FILES = (
    ("image/png", ".png", True),
    ("image/jpeg", ".jpg", True),
    ("image/svg+xml", ".svg", False),
    ("text/html", ".html", False),
)
"""Display outputs written beside the charts: (mime type, file suffix, base64?), the
first one an output has wins."""


class AgentState(TypedDict):
    """The graph's state: the conversation plus the agent's bookkeeping.

    Attributes:
        messages: The conversation. Invoke the graph with ``{"messages": [...]}``.
        charts: Every chart written to ``charts_dir`` in this thread.
        rounds: Tool rounds in the current turn (reset when a turn starts).
        sandbox_id: The id of the sandbox the model last used in this thread.
        remaining_steps: Graph steps left before LangGraph's recursion limit.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    charts: NotRequired[Annotated[list[ChartFile], operator.add]]
    rounds: NotRequired[int]
    sandbox_id: NotRequired[str | None]
    remaining_steps: NotRequired[RemainingSteps]


class ApprovalRequest(TypedDict):
    """The value of the interrupt raised before tool calls that need approval.

    Attributes:
        type: Always ``"approval"``.
        message: A sentence to show the user.
        tool_calls: The calls waiting for approval (``name``, ``args``, ``id``).
    """

    type: Literal["approval"]
    message: str
    tool_calls: list[ToolCall]


ApprovePolicy = bool | Sequence[str] | Callable[[ToolCall], bool] | None
"""``True`` (shell commands), tool names, a predicate over a tool call, or ``None``."""


def create_code_interpreter_agent(
    model: BaseChatModel,
    *,
    toolkit: DaytonaToolkit | Sequence[BaseTool] | None = None,
    pool: SandboxPool | None = None,
    checkpointer: Checkpointer = None,
    system_prompt: str | None = None,
    max_iterations: int = 25,
    approve: ApprovePolicy = None,
    charts_dir: str | os.PathLike[str] | None = None,
    vision: bool = False,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the reference code-interpreter agent (a compiled LangGraph graph).

    Each conversation (``configurable.thread_id``) gets its own sandbox from the
    pool; variables and files persist across its turns while the sandbox lives.

    Args:
        model: Any LangChain chat model that supports tool calling.
        toolkit: A :class:`~langchain_daytona_exec.DaytonaToolkit` or a list of tools;
            ``None`` builds the default toolkit on ``pool``.
        pool: The :class:`~langchain_daytona_exec.SandboxPool` of the default toolkit
            (ignored when ``toolkit`` is given); ``None`` uses the process-wide pool.
        checkpointer: Keeps each thread's conversation between calls (for example
            ``SqliteSaver``). ``None`` keeps nothing, except that ``approve`` needs
            one, so an in-memory saver is used then.
        system_prompt: Replaces :data:`~langchain_daytona_exec.agent.prompts.
            SYSTEM_PROMPT`; ``{tools}`` in it is replaced by the tool names.
        max_iterations: Most tool rounds (model calls that ran tools) per user
            message; then the model is asked for a final answer without tools.
        approve: Pause for human approval before some tool calls: ``True`` for
            shell commands, a list of tool names, or a predicate over a tool call.
        charts_dir: Folder where charts are written, as
            ``<charts_dir>/<thread_id>/chart-<n>.png``; ``None`` writes none.
        vision: Show the charts to the model as images (a user message after the
            tool results), for vision-capable models.

    Returns:
        The compiled graph; invoke it with ``{"messages": [("user", "...")]}`` and
        ``{"configurable": {"thread_id": "..."}}``.

    Raises:
        ValueError: ``max_iterations`` below 1, no tools, or a model without tool
            calling (no ``bind_tools``).

    Example:
        >>> agent = create_code_interpreter_agent(
        ...     ChatOpenAI(model="gpt-4o-mini"),
        ...     toolkit=DaytonaToolkit(pool=SandboxPool()),
        ...     checkpointer=InMemorySaver(),
        ... )
        >>> agent.invoke({"messages": [("user", "What is 2**100?")]},
        ...              {"configurable": {"thread_id": "t1"}})
    """
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    if toolkit is None:
        tools: list[BaseTool] = DaytonaToolkit(pool=pool).get_tools()
    elif isinstance(toolkit, DaytonaToolkit):
        tools = toolkit.get_tools()
    else:
        tools = list(toolkit)
    if not tools:
        raise ValueError("the agent needs at least one tool")
    needs_approval = _approval_policy(approve)
    if needs_approval is not None and checkpointer is None:
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()  # an interrupt must be saved to be resumed

    prompt = (system_prompt or prompts.SYSTEM_PROMPT).replace(
        "{tools}", ", ".join(f"`{t.name}`" for t in tools)
    )
    nodes = _Nodes(
        model=model,
        tools=tools,
        prompt=prompt,
        max_iterations=max_iterations,
        needs_approval=needs_approval,
        charts_dir=os.fspath(charts_dir) if charts_dir is not None else None,
        vision=vision,
    )

    graph = StateGraph(AgentState)
    graph.add_node("prepare", _node(nodes.prepare, nodes.aprepare, "prepare"))
    graph.add_node("agent", _node(nodes.agent, nodes.aagent, "agent"))
    runner = ToolRunner(tools)
    graph.add_node("tools", _node(runner.run, runner.arun, "tools"))
    graph.add_node("collect", _node(nodes.collect, nodes.acollect, "collect"))
    graph.add_node("finalize", _node(nodes.finalize, nodes.afinalize, "finalize"))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "agent")
    after_agent: list[str] = ["tools", "finalize", END]
    if needs_approval is not None:
        graph.add_node("approve", nodes.approve, destinations=("tools", "collect"))
        after_agent.append("approve")
    graph.add_conditional_edges("agent", nodes.route_after_agent, after_agent)
    graph.add_edge("tools", "collect")
    graph.add_conditional_edges("collect", nodes.route_after_collect, ["agent", "finalize"])
    graph.add_edge("finalize", END)
    compiled = graph.compile(checkpointer=checkpointer, name="code_interpreter")
    # Each run pins its thread's sandbox: the same graph, in a class whose stream and
    # astream (which invoke and ainvoke run) hold the pin (LangGraph's own copy idiom).
    cls = type("CodeInterpreterGraph", (_RunPinningGraph,), {"_nodes": nodes})
    attrs = {k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"}
    pinning: CompiledStateGraph[Any, Any, Any, Any] = cls(**attrs)
    # The step limit, not LangGraph's recursion limit, should end a long turn.
    return pinning.with_config(recursion_limit=_NODES_PER_ROUND * max_iterations + 8)


class _RunPinningGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """The compiled agent graph; each run pins its thread's key in the pool."""

    _nodes: ClassVar[_Nodes | None] = None

    def _pin_run(self, config: RunnableConfig | None) -> AbstractContextManager[None]:
        nodes = self._nodes
        if nodes is None or nodes.sandbox_tool is None:
            return nullcontext()
        pool, key = nodes._pool_and_key(merge_configs(self.config, config))
        return pool.pin(key)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Stream a run (see LangGraph's ``stream``) while pinning the thread's sandbox."""
        with self._pin_run(_config_arg(args, kwargs)):
            yield from super().stream(*args, **kwargs)

    async def astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Async twin of :meth:`stream`."""
        with self._pin_run(_config_arg(args, kwargs)):
            async for chunk in super().astream(*args, **kwargs):
                yield chunk


def _config_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RunnableConfig | None:
    """The ``config`` of a ``stream(input, config, ...)`` call."""
    config: RunnableConfig | None = args[1] if len(args) > 1 else kwargs.get("config")
    return config


def _node(
    func: Callable[[AgentState, RunnableConfig], Any],
    afunc: Callable[[AgentState, RunnableConfig], Any],
    name: str,
) -> Runnable[AgentState, Any]:
    """A node with a blocking and an async implementation (``invoke``/``ainvoke``)."""
    return _Node(func, afunc, name)


class _Node(Runnable[AgentState, Any]):
    """A graph node calling ``func(state, config)`` (or ``afunc`` when awaited).

    ``RunnableLambda`` would do the same but inspects the function's signature on
    every call (about a millisecond per agent step here); LangGraph already traces
    each node as a run of its own, so nothing is lost.
    """

    def __init__(
        self,
        func: Callable[[AgentState, RunnableConfig], Any],
        afunc: Callable[[AgentState, RunnableConfig], Any],
        name: str,
    ) -> None:
        self.func, self.afunc, self.name = func, afunc, name

    def invoke(self, input: AgentState, config: RunnableConfig | None = None, **_: Any) -> Any:
        """Run the blocking implementation."""
        return self.func(input, ensure_config(config))

    async def ainvoke(
        self, input: AgentState, config: RunnableConfig | None = None, **_: Any
    ) -> Any:
        """Run the async implementation."""
        return await self.afunc(input, ensure_config(config))


def _approval_policy(approve: ApprovePolicy) -> Callable[[ToolCall], bool] | None:
    if approve is None or approve is False:
        return None
    if approve is True:
        names = frozenset(DEFAULT_APPROVE)
    elif callable(approve):
        return approve
    elif isinstance(approve, str):
        names = frozenset({approve})
    else:
        names = frozenset(approve)
    return lambda call: call["name"] in names


def parse_decision(decision: object) -> tuple[bool, str | None]:
    """Read the value an approval interrupt was resumed with.

    Accepted: ``True``/``False``, ``"approve"``/``"deny"`` (or yes/no), or
    ``{"approved": bool, "reason": str}``.

    Returns:
        Whether the calls are approved, and the user's reason, if any.
    """
    if isinstance(decision, dict):
        reason = decision.get("reason")
        return bool(decision.get("approved")), str(reason) if reason else None
    if isinstance(decision, str):
        return decision.strip().lower() in ("approve", "approved", "y", "yes", "ok"), None
    return bool(decision), None


def _charts_of(message: ToolMessage) -> list[dict[str, Any]]:
    """The charts in a tool message's artifact (the python tools' ``charts`` list)."""
    artifact = message.artifact if isinstance(message.artifact, dict) else {}
    return [c for c in artifact.get("charts") or [] if c.get("png_base64")]


def _outputs_of(message: ToolMessage) -> list[dict[str, Any]]:
    """Display outputs with a picture or HTML that are not charts (those are saved)."""
    artifact = message.artifact if isinstance(message.artifact, dict) else {}
    return [
        o
        for o in artifact.get("outputs") or []
        if isinstance(o, dict) and o.get("chart") is None and isinstance(o.get("data"), dict)
    ]


def save_charts(
    messages: Sequence[BaseMessage],
    charts_dir: str | os.PathLike[str],
    thread_id: str,
    *,
    start: int = 0,
    output_start: int = 0,
) -> list[ChartFile]:
    """Write the charts carried by tool messages as PNG files, and the images and HTML.

    Args:
        messages: Messages to scan; only tool messages with charts or outputs count.
        charts_dir: The output folder; files go to ``<charts_dir>/<thread_id>/``.
        thread_id: The conversation, used (made file-name safe) as the subfolder.
        start: Charts already written for this thread; numbering continues after it.
        output_start: Outputs already written for this thread (numbered on their own).

    Returns:
        The files written, in order: ``chart-<n>.png`` for charts, and
        ``output-<n>.png/.jpg/.svg/.html`` for display outputs holding an image or HTML.
    """
    written: list[ChartFile] = []
    folder = os.path.join(os.fspath(charts_dir), _thread_dir(thread_id))
    counts = {"chart": start, "output": output_start}

    def write(kind: str, suffix: str, data: bytes, entry: dict[str, Any]) -> None:
        counts[kind] += 1
        name = f"{kind}-{counts[kind]}{suffix}"
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        written.append({"path": path, "kind": kind, **entry})  # type: ignore[typeddict-item]

    for message in messages:
        if not isinstance(message, ToolMessage):
            continue
        for chart in _charts_of(message):
            write(
                "chart",
                ".png",
                base64.b64decode(chart["png_base64"]),
                {
                    "title": chart.get("title"),
                    "tool_call_id": message.tool_call_id,
                    "description": chart.get("description"),
                },
            )
        for output in _outputs_of(message):
            data = output["data"]
            for mime, suffix, binary in OUTPUT_FILES:
                value = data.get(mime)
                if isinstance(value, str):
                    text = data.get("text/plain")
                    write(
                        "output",
                        suffix,
                        base64.b64decode(value) if binary else value.encode("utf-8"),
                        {
                            "title": None,
                            "tool_call_id": message.tool_call_id,
                            "description": text if isinstance(text, str) else None,
                        },
                    )
                    break
    return written


def _thread_dir(key: str) -> str:
    return _SAFE_NAME.sub("_", key).strip("._")[:80] or "default"


def _told_of_loss(message: ToolMessage) -> bool:
    """Whether this tool result told the model its earlier sandbox state is gone.

    Read from the artifact flag the tools set (:data:`~langchain_daytona_exec.tools.
    LOSS_NOTICE_KEY`), not from the text: timeouts and the user's own prints may
    contain the same words.
    """
    artifact = message.artifact
    return isinstance(artifact, dict) and artifact.get(LOSS_NOTICE_KEY) is True


def _last_round(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    """The tool messages after the last AI message."""
    found: list[ToolMessage] = []
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            break
        if isinstance(message, ToolMessage):
            found.append(message)
    return found[::-1]


def _answer_dangling(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Give every tool call a result, as chat APIs require.

    A call stays unanswered when a run stopped between the model and the tools (an
    approval never given before the user asked something else, a crash). The model
    input, not the stored state, gets a "not run" result for it.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    out: list[BaseMessage] = []
    for i, message in enumerate(messages):
        out.append(message)
        if not isinstance(message, AIMessage) or not message.tool_calls:
            continue
        missing = [c for c in message.tool_calls if c["id"] not in answered]
        if not missing:
            continue
        # Results go after the tool messages that follow, before anything else.
        j = i + 1
        while j < len(messages) and isinstance(messages[j], ToolMessage):
            out.append(messages[j])
            j += 1
        out.extend(
            ToolMessage(content=NOT_RUN, tool_call_id=c["id"] or "", name=c["name"], status="error")
            for c in missing
        )
        return [*out, *_answer_dangling(messages[j:])]
    return out


def _marked(kind: str, content: str | list[str | dict[str, Any]]) -> HumanMessage:
    return HumanMessage(content=content, additional_kwargs={MARKER_KEY: kind})


class _Nodes:
    """The node functions, with what they share.

    Blocking and async twins differ only in how they call the model and lease the
    sandbox; everything else is shared.
    """

    def __init__(
        self,
        *,
        model: BaseChatModel,
        tools: list[BaseTool],
        prompt: str,
        max_iterations: int,
        needs_approval: Callable[[ToolCall], bool] | None,
        charts_dir: str | None,
        vision: bool,
    ) -> None:
        try:
            self.model = model.bind_tools(tools)
        except NotImplementedError:
            raise ValueError(
                f"create_code_interpreter_agent needs a chat model with tool calling, and "
                f"{type(model).__name__} does not implement bind_tools(). Use a model "
                "whose LangChain class supports tools (ChatOpenAI, ChatAnthropic, "
                "ChatOllama with a tool-capable model, ...), or ScriptedChatModel from "
                "langchain_daytona_exec.agent for offline runs."
            ) from None
        self.prompt = prompt
        self.max_iterations = max_iterations
        self.needs_approval = needs_approval
        self.charts_dir = charts_dir
        self.vision = vision
        # The first sandbox tool tells the thread's pool and key (all share one pool).
        self.sandbox_tool = next((t for t in tools if isinstance(t, SandboxTool)), None)

    # -- routing ---------------------------------------------------------------------

    def route_after_agent(self, state: AgentState) -> str:
        """Run the requested tools (after approval if needed), or end the turn."""
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return END
        if state.get("remaining_steps", 100) <= _NODES_PER_ROUND:
            return "finalize"  # no room left for a tool round: answer now
        if self.needs_approval is not None and any(map(self.needs_approval, last.tool_calls)):
            return "approve"
        return "tools"

    def route_after_collect(self, state: AgentState) -> str:
        """Another model call, or the final answer once the step limit is reached."""
        if state.get("rounds", 0) >= self.max_iterations:
            return "finalize"
        if state.get("remaining_steps", 100) <= _NODES_PER_ROUND + 1:
            return "finalize"
        return "agent"

    # -- prepare ---------------------------------------------------------------------

    def _ran_code_before(self, state: AgentState) -> bool:
        return self.sandbox_tool is not None and any(
            isinstance(m, ToolMessage) for m in state["messages"]
        )

    def _sandbox_update(
        self, state: AgentState, sb: PooledSandbox, *, told: bool
    ) -> dict[str, Any]:
        """Record the thread's sandbox; tell the model if it lost its state."""
        update: dict[str, Any] = {"sandbox_id": sb.id}
        recorded = state.get("sandbox_id")
        if sb.state_lost and sb.lost_reason == "restored":
            update["messages"] = [_marked("notice", prompts.SANDBOX_RESTARTED)]
            return update
        if sb.state_lost:
            reason = describe_loss(sb.lost_reason)
        elif recorded and recorded != sb.id and not told:
            reason = "it was replaced since the last turn, for example by a restart"
        else:
            return update
        update["messages"] = [_marked("notice", prompts.SANDBOX_REPLACED.format(reason=reason))]
        return update

    def _pool_and_key(self, config: RunnableConfig) -> tuple[SandboxPool, str]:
        assert self.sandbox_tool is not None
        tool = self.sandbox_tool
        pool = tool.pool if tool.pool is not None else default_pool()
        return pool, tool.thread_key(config)

    def prepare(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Start a turn: reset the step count; check the thread's sandbox."""
        update: dict[str, Any] = {"rounds": 0}
        if self._ran_code_before(state):
            pool, key = self._pool_and_key(config)
            with pool.session(key) as sb:
                update.update(self._sandbox_update(state, sb, told=False))
        return update

    async def aprepare(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Async twin of :meth:`prepare`."""
        update: dict[str, Any] = {"rounds": 0}
        if self._ran_code_before(state):
            pool, key = self._pool_and_key(config)
            async with pool.asession(key) as sb:
                update.update(self._sandbox_update(state, sb, told=False))
        return update

    # -- agent -----------------------------------------------------------------------

    def _model_input(self, state: AgentState) -> list[BaseMessage]:
        return [SystemMessage(self.prompt), *_answer_dangling(state["messages"])]

    def agent(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Call the model on the conversation."""
        return {"messages": [self.model.invoke(self._model_input(state), config)]}

    async def aagent(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Async twin of :meth:`agent`."""
        return {"messages": [await self.model.ainvoke(self._model_input(state), config)]}

    # -- approve ---------------------------------------------------------------------

    def approve(self, state: AgentState) -> Command[Literal["tools", "collect"]]:
        """Pause for the user's decision on the calls that need approval."""
        assert self.needs_approval is not None
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        waiting = [c for c in last.tool_calls if self.needs_approval(c)]
        names = ", ".join(sorted({c["name"] for c in waiting}))
        request: ApprovalRequest = {
            "type": "approval",
            "message": f"The agent wants to run {len(waiting)} {names} call(s). Approve?",
            "tool_calls": waiting,
        }
        approved, reason = parse_decision(interrupt(request))
        if approved:
            return Command(goto="tools")
        denied_ids = {c["id"] for c in waiting}
        why = f" Reason: {reason}" if reason else ""
        results = [
            ToolMessage(
                content=(
                    prompts.APPROVAL_DENIED.format(name=c["name"], reason=why)
                    if c["id"] in denied_ids
                    else prompts.APPROVAL_SKIPPED
                ),
                tool_call_id=c["id"] or "",
                name=c["name"],
                status="error",
            )
            for c in last.tool_calls
        ]
        return Command(goto="collect", update={"messages": results})

    # -- collect ---------------------------------------------------------------------

    def _collect(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Write the last round's charts; show them to a vision model."""
        round_ = _last_round(state["messages"])
        update: dict[str, Any] = {"rounds": state.get("rounds", 0) + 1}
        if self.charts_dir is not None:
            key = self.sandbox_tool.thread_key(config) if self.sandbox_tool else "default"
            done = [c.get("kind", "chart") for c in state.get("charts", [])]
            written = save_charts(
                round_,
                self.charts_dir,
                key,
                start=done.count("chart"),
                output_start=done.count("output"),
            )
            if written:
                update["charts"] = written
        if self.vision:
            images: list[str | dict[str, Any]] = [
                {"type": "image", "base64": c["png_base64"], "mime_type": "image/png"}
                for m in round_
                for c in _charts_of(m)
            ]
            if images:
                text = {"type": "text", "text": prompts.CHARTS_SHOWN}
                update["messages"] = [_marked("charts", [text, *images])]
        return update

    def _needs_sandbox_check(self, state: AgentState) -> tuple[bool, bool]:
        """Whether to record the sandbox now, and whether a tool already told of a loss."""
        if self.sandbox_tool is None:
            return False, False
        told = any(_told_of_loss(m) for m in _last_round(state["messages"]))
        return told or not state.get("sandbox_id"), told

    @staticmethod
    def _merge(update: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        messages = [*update.get("messages", []), *extra.pop("messages", [])]
        update.update(extra)
        if messages:
            update["messages"] = messages
        return update

    def collect(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Write and show the charts of the last tool round; count the round."""
        update = self._collect(state, config)
        check, told = self._needs_sandbox_check(state)
        if check:
            pool, key = self._pool_and_key(config)
            with pool.session(key) as sb:
                self._merge(update, self._sandbox_update(state, sb, told=told))
        return update

    async def acollect(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Async twin of :meth:`collect`."""
        update = self._collect(state, config)
        check, told = self._needs_sandbox_check(state)
        if check:
            pool, key = self._pool_and_key(config)
            async with pool.asession(key) as sb:
                self._merge(update, self._sandbox_update(state, sb, told=told))
        return update

    # -- finalize --------------------------------------------------------------------

    def _finalize_input(self, state: AgentState) -> tuple[list[ToolMessage], list[BaseMessage]]:
        """Close calls left without results; ask for an answer without tools."""
        last = state["messages"][-1]
        unanswered = (
            [
                ToolMessage(
                    content="Not run: the step limit was reached.",
                    tool_call_id=c["id"] or "",
                    name=c["name"],
                    status="error",
                )
                for c in last.tool_calls
            ]
            if isinstance(last, AIMessage)
            else []
        )
        request = HumanMessage(prompts.STEP_LIMIT_REQUEST.format(limit=self.max_iterations))
        history = _answer_dangling([*state["messages"], *unanswered])
        return unanswered, [SystemMessage(self.prompt), *history, request]

    def _final_message(self, response: BaseMessage) -> AIMessage:
        text = response.text.strip() or prompts.STEP_LIMIT_FALLBACK.format(
            limit=self.max_iterations
        )
        return AIMessage(
            content=text,
            response_metadata={**response.response_metadata, "step_limit": self.max_iterations},
            usage_metadata=getattr(response, "usage_metadata", None),
        )

    def finalize(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """End a turn at the step limit with the model's answer (tool calls dropped)."""
        unanswered, messages = self._finalize_input(state)
        response = self.model.invoke(messages, config)
        return {"messages": [*unanswered, self._final_message(response)]}

    async def afinalize(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Async twin of :meth:`finalize`."""
        unanswered, messages = self._finalize_input(state)
        response = await self.model.ainvoke(messages, config)
        return {"messages": [*unanswered, self._final_message(response)]}
