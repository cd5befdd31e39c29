"""The agent graph's state and the values it hands to its callers."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage, ToolCall
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps

__all__ = ["MARKER_KEY", "AgentState", "ApprovalRequest", "ChartFile"]

MARKER_KEY = "daytona_exec"
"""``additional_kwargs`` key marking the user messages the graph adds itself (value
``"charts"`` or ``"notice"``), so user interfaces can tell them from the user's own."""


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
