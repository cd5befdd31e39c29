"""The agent's tools node: the last AI message's tool calls, run in order.

LangGraph's prebuilt ``ToolNode`` starts a thread pool for every round of tool calls,
which measured 3-10 ms of the graph's own overhead per step here. The tools of one
conversation share one sandbox, whose calls the pool serializes anyway, so running
them one after the other (or gathered, async) loses nothing and costs ~nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp

__all__ = ["ToolRunner"]


class ToolRunner:
    """Runs tool calls like ``ToolNode(tools, handle_tool_errors=True)`` does.

    An unknown tool or an exception a tool did not turn into a message itself becomes
    an error ``ToolMessage`` the model can act on; LangGraph's own control flow
    (interrupts) passes through.
    """

    def __init__(self, tools: Sequence[BaseTool]) -> None:
        self.by_name = {tool.name: tool for tool in tools}

    def run(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """Blocking: each call of the last AI message, in order."""
        return {"messages": [self._one(call, config) for call in _calls(state)]}

    async def arun(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """Async: the calls gathered (the pool still serializes one sandbox's calls)."""
        calls = _calls(state)
        results = await asyncio.gather(*(self._aone(call, config) for call in calls))
        return {"messages": list(results)}

    def _one(self, call: ToolCall, config: RunnableConfig) -> ToolMessage:
        tool = self.by_name.get(call["name"])
        if tool is None:
            return self._unknown(call)
        try:
            return _message(tool.invoke({**call, "type": "tool_call"}, config), call)
        except GraphBubbleUp:
            raise
        except Exception as exc:
            return _error(call, exc)

    async def _aone(self, call: ToolCall, config: RunnableConfig) -> ToolMessage:
        tool = self.by_name.get(call["name"])
        if tool is None:
            return self._unknown(call)
        try:
            return _message(await tool.ainvoke({**call, "type": "tool_call"}, config), call)
        except GraphBubbleUp:
            raise
        except Exception as exc:
            return _error(call, exc)

    def _unknown(self, call: ToolCall) -> ToolMessage:
        names = ", ".join(sorted(self.by_name))
        return ToolMessage(
            content=f"Error: {call['name']} is not a valid tool, try one of [{names}].",
            name=call["name"],
            tool_call_id=call["id"] or "",
            status="error",
        )


def _calls(state: Mapping[str, Any]) -> list[ToolCall]:
    messages: Sequence[AnyMessage] = state["messages"]
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    return list(last.tool_calls) if last is not None else []


def _message(result: Any, call: ToolCall) -> ToolMessage:
    if isinstance(result, ToolMessage):
        return result
    return ToolMessage(content=str(result), name=call["name"], tool_call_id=call["id"] or "")


def _error(call: ToolCall, exc: Exception) -> ToolMessage:
    return ToolMessage(
        content=f"Error: {exc!r}\n Please fix your mistakes.",
        name=call["name"],
        tool_call_id=call["id"] or "",
        status="error",
    )
