"""``ScriptedChatModel``: a chat model that plays a script instead of thinking.

For tests, offline demos and notebooks: it drives the agent's graph exactly like a
real tool-calling model (``bind_tools`` returns the model itself; each call returns
the next scripted :class:`~langchain_core.messages.AIMessage`), so everything but
the model is real. It is **not** a model: it never reads the question. A step may be
a function of the messages so far, to quote a tool's output in the answer.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

__all__ = ["ScriptStep", "ScriptedChatModel", "ai_step"]

ScriptStep = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]
"""One model turn: a message, plain text, or a function of the messages it is given."""


def ai_step(text: str = "", *calls: tuple[str, dict[str, Any]]) -> AIMessage:
    """An AI message with text and tool calls, e.g. ``ai_step("", ("python", {"code": "1"}))``.

    Args:
        text: The message's text.
        *calls: ``(tool name, arguments)`` pairs; ids are assigned when the step plays.

    Returns:
        The message.
    """
    return AIMessage(
        content=text,
        tool_calls=[ToolCall(name=name, args=args, id=None) for name, args in calls],
    )


class ScriptedChatModel(BaseChatModel):
    """Returns the scripted steps in order, one per call; see the module docstring.

    Args:
        script: The steps. A string is a final answer; a function receives the
            messages of the call and returns the step.

    Attributes:
        seen: The messages of every call so far, for tests to inspect.

    Raises:
        RuntimeError: When called after the last step.
    """

    script: list[Any] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _ids: Any = PrivateAttr(default_factory=lambda: itertools.count(1))

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def remaining(self) -> int:
        """Steps not played yet."""
        return len(self.script) - self._position

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        """Return the model itself: the script already knows which tools it calls."""
        return self

    def _next_step(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            if self._position >= len(self.script):
                raise RuntimeError(
                    f"ScriptedChatModel: the script has {len(self.script)} step(s) and "
                    f"all were played; add steps or expect fewer model calls"
                )
            step = self.script[self._position]
            self._position += 1
            self.seen.append(list(messages))
        if callable(step):
            step = step(list(messages))
        message = AIMessage(content=step) if isinstance(step, str) else step
        if message.tool_calls:
            calls = [
                ToolCall(
                    name=c["name"], args=c["args"], id=c.get("id") or f"call_{next(self._ids)}"
                )
                for c in message.tool_calls
            ]
            message = message.model_copy(update={"tool_calls": calls})
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_step(messages))])
