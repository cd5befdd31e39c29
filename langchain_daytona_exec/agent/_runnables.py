"""How the compiled agent graph runs: nodes with two implementations, pinned runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langgraph.graph.state import CompiledStateGraph

from langchain_daytona_exec.agent._state import AgentState

__all__ = ["RunPinningGraph", "node"]


class RunPinningGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """The compiled agent graph; each run pins its thread's key in the pool."""

    #: Pins the thread of a run's config in the pool (set by a subclass per graph).
    _pin: ClassVar[Callable[[RunnableConfig], AbstractContextManager[None]] | None] = None

    def _pin_run(self, config: RunnableConfig | None) -> AbstractContextManager[None]:
        pin = type(self)._pin
        if pin is None:
            return nullcontext()
        return pin(merge_configs(self.config, config))

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


def node(
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
