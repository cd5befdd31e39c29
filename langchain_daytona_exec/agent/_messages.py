"""Reading and adding messages: the last tool round, dangling calls, notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_daytona_exec.agent._state import MARKER_KEY
from langchain_daytona_exec.tools import LOSS_NOTICE_KEY

__all__ = ["NOT_RUN", "answer_dangling", "last_round", "marked", "told_of_loss"]

NOT_RUN = "Not run: the run stopped before this call (for example, it was never approved)."
"""The result given to a tool call that never ran (see ``answer_dangling``)."""


def told_of_loss(message: ToolMessage) -> bool:
    """Whether this tool result told the model its earlier sandbox state is gone.

    Read from the artifact flag the tools set (:data:`~langchain_daytona_exec.tools.
    LOSS_NOTICE_KEY`), not from the text: timeouts and the user's own prints may
    contain the same words.
    """
    artifact = message.artifact
    return isinstance(artifact, dict) and artifact.get(LOSS_NOTICE_KEY) is True


def last_round(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    """The tool messages after the last AI message."""
    found: list[ToolMessage] = []
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            break
        if isinstance(message, ToolMessage):
            found.append(message)
    return found[::-1]


def answer_dangling(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
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
        return [*out, *answer_dangling(messages[j:])]
    return out


def marked(kind: str, content: str | list[str | dict[str, Any]]) -> HumanMessage:
    return HumanMessage(content=content, additional_kwargs={MARKER_KEY: kind})
