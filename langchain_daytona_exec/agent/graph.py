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

This module holds the loop itself (the builder and the nodes); beside it are the
state (``_state.py``), approval (``_approval.py``), chart files (``_charts.py``),
message helpers (``_messages.py``), the tool runner (``_run_tools.py``) and the
compiled graph's run pinning and node runnables (``_runnables.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Command, interrupt

from langchain_daytona_exec.agent import prompts
from langchain_daytona_exec.agent._approval import ApprovePolicy, approval_policy, parse_decision
from langchain_daytona_exec.agent._charts import charts_of, save_charts
from langchain_daytona_exec.agent._messages import answer_dangling, last_round, marked, told_of_loss
from langchain_daytona_exec.agent._run_tools import ToolRunner
from langchain_daytona_exec.agent._runnables import RunPinningGraph, node
from langchain_daytona_exec.agent._state import (
    MARKER_KEY,
    AgentState,
    ApprovalRequest,
    ChartFile,
)
from langchain_daytona_exec.pool import PooledSandbox, SandboxPool, default_pool, describe_loss
from langchain_daytona_exec.tools import DaytonaToolkit, SandboxTool

__all__ = [
    "MARKER_KEY",
    "AgentState",
    "ApprovalRequest",
    "ChartFile",
    "create_code_interpreter_agent",
    "parse_decision",
    "save_charts",
]


_NODES_PER_ROUND = 4
"""Graph steps of one tool round (agent, approve, tools, collect); the recursion
limit is derived from ``max_iterations`` with it, so the step limit is reached
first and ends the turn gracefully."""


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
    needs_approval = approval_policy(approve)
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
    graph.add_node("prepare", node(nodes.prepare, nodes.aprepare, "prepare"))
    graph.add_node("agent", node(nodes.agent, nodes.aagent, "agent"))
    runner = ToolRunner(tools)
    graph.add_node("tools", node(runner.run, runner.arun, "tools"))
    graph.add_node("collect", node(nodes.collect, nodes.acollect, "collect"))
    graph.add_node("finalize", node(nodes.finalize, nodes.afinalize, "finalize"))
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
    cls = type("CodeInterpreterGraph", (RunPinningGraph,), {"_pin": staticmethod(nodes.pin_run)})
    attrs = {k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"}
    pinning: CompiledStateGraph[Any, Any, Any, Any] = cls(**attrs)
    # The step limit, not LangGraph's recursion limit, should end a long turn.
    return pinning.with_config(recursion_limit=_NODES_PER_ROUND * max_iterations + 8)


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
            update["messages"] = [marked("notice", prompts.SANDBOX_RESTARTED)]
            return update
        if sb.state_lost:
            reason = describe_loss(sb.lost_reason)
        elif recorded and recorded != sb.id and not told:
            reason = "it was replaced since the last turn, for example by a restart"
        else:
            return update
        update["messages"] = [marked("notice", prompts.SANDBOX_REPLACED.format(reason=reason))]
        return update

    def pin_run(self, config: RunnableConfig) -> AbstractContextManager[None]:
        """Pin the thread's key in the pool for a run (nothing without a sandbox tool)."""
        if self.sandbox_tool is None:
            return nullcontext()
        pool, key = self._pool_and_key(config)
        return pool.pin(key)

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
        return [SystemMessage(self.prompt), *answer_dangling(state["messages"])]

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
        round_ = last_round(state["messages"])
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
                for c in charts_of(m)
            ]
            if images:
                text = {"type": "text", "text": prompts.CHARTS_SHOWN}
                update["messages"] = [marked("charts", [text, *images])]
        return update

    def _needs_sandbox_check(self, state: AgentState) -> tuple[bool, bool]:
        """Whether to record the sandbox now, and whether a tool already told of a loss."""
        if self.sandbox_tool is None:
            return False, False
        told = any(told_of_loss(m) for m in last_round(state["messages"]))
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
        history = answer_dangling([*state["messages"], *unanswered])
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
