"""The reference LangGraph code-interpreter agent (see :mod:`.graph` for the loop).

A scripted model to test it with is :class:`langchain_daytona_exec.testing.ScriptedChatModel`.
"""

from __future__ import annotations

from langchain_daytona_exec._extras import require_extra

require_extra("agent", "langgraph", feature="The reference agent")

from langchain_daytona_exec.agent.graph import (
    MARKER_KEY,
    AgentState,
    ApprovalRequest,
    ChartFile,
    create_code_interpreter_agent,
    parse_decision,
    save_charts,
)

__all__ = [
    "MARKER_KEY",
    "AgentState",
    "ApprovalRequest",
    "ChartFile",
    "create_code_interpreter_agent",
    "parse_decision",
    "save_charts",
]
