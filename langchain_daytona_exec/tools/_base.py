"""What every sandbox tool shares: the pool, the key, the budget and the errors."""

from __future__ import annotations

import functools
import itertools
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from langchain_daytona_exec.errors import (
    PoolExhaustedError,
    SandboxError,
    SandboxFileError,
    SandboxLostError,
    SandboxTimeoutError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.pool import (
    FALLBACK_KEY,
    PooledSandbox,
    SandboxPool,
    default_pool,
    loss_notice,
)
from langchain_daytona_exec.sandbox import MAX_TIMEOUT_S, Sandbox, check_timeout
from langchain_daytona_exec.tools._format import (
    DEFAULT_MAX_OUTPUT_CHARS,
    OUTPUT_DIR,
    cut_middle,
    cut_notice,
)
from langchain_daytona_exec.tools._network import (
    ANALYSIS_PACKAGES,
    NO_NETWORK,
    network_sentence,
    packages_sentence,
)
from langchain_daytona_exec.tools._validation import ValidationMessage

__all__ = ["FALLBACK_KEY", "LOSS_NOTICE_KEY", "SandboxTool", "default_pool"]

LOSS_NOTICE_KEY = "loss_notice"
"""Artifact key, ``True`` when this tool result told the model that the thread's earlier
sandbox state is gone (the pool lost or replaced its sandbox). The reference agent reads
it to avoid telling the model twice; the text itself is :func:`~langchain_daytona_exec.
pool.loss_notice`."""

_output_ids = itertools.count(1)


def _sentence(exc: Exception) -> str:
    """The exception's message as a sentence (ending with a period)."""
    text = str(exc).rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


Content = str | list[str | dict[str, Any]]
Response = tuple[Content, dict[str, Any]]


class SandboxTool(BaseTool):
    """Base class of the sandbox tools: lease the thread's sandbox, call, format.

    Subclasses implement :meth:`_call` (blocking) and :meth:`_acall` (async) on a
    leased sandbox; this class turns every sandbox or provider error into a
    ``ToolException`` the model can act on, and announces a lost sandbox state.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = True
    handle_validation_error: Any = True

    pool: SandboxPool | None = Field(default=None, exclude=True)
    """The pool to lease from; ``None`` uses the process-wide :func:`default_pool`."""
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    """Characters of output the model sees per call; the rest is saved to a file."""
    timeout_s: float | None = None
    """Per-call timeout in **seconds**; ``None`` uses the backend's default."""
    fallback_key: str = FALLBACK_KEY
    """Pool key for calls without ``configurable.thread_id``."""

    _kind: ClassVar[str] = "call"

    def model_post_init(self, context: Any, /) -> None:
        """Adjust the tool to its pool and name bad arguments.

        The description's network sentence is made true for this pool's backend, and
        validation errors name the bad argument (LangChain's default text does not).
        """
        super().model_post_init(context)
        if self.pool is not None and NO_NETWORK in self.description:
            sentence = network_sentence(self.pool.backend)
            self.description = self.description.replace(NO_NETWORK, sentence, 1)
        if self.pool is not None and ANALYSIS_PACKAGES in self.description:
            sentence = packages_sentence(self.pool.backend)
            self.description = self.description.replace(ANALYSIS_PACKAGES, sentence, 1)
        if self.handle_validation_error is True:
            given = self.args_schema
            schema = given if isinstance(given, type) and issubclass(given, BaseModel) else None
            self.handle_validation_error = ValidationMessage(self.name, schema)

    # -- leasing -------------------------------------------------------------------

    def _pool(self) -> SandboxPool:
        return self.pool if self.pool is not None else default_pool()

    def thread_key(self, config: RunnableConfig | None) -> str:
        """The pool key for a call: ``configurable.thread_id`` or the fallback key."""
        configurable = (config or {}).get("configurable") or {}
        key = configurable.get("thread_id")
        return str(key) if key not in (None, "") else self.fallback_key

    def _run(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Response:
        if "timeout" in kwargs:  # refused before a sandbox is even leased
            kwargs["timeout"] = self._seconds(kwargs["timeout"])
        try:
            with self._pool().session(self.thread_key(config)) as sb:
                content, artifact = self._call(sb, *args, **kwargs)
                return self._finish(sb, content, artifact)
        except SandboxError as exc:
            raise ToolException(self._explain(exc)) from exc

    async def _arun(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Response:
        if "timeout" in kwargs:  # refused before a sandbox is even leased
            kwargs["timeout"] = self._seconds(kwargs["timeout"])
        try:
            async with self._pool().asession(self.thread_key(config)) as sb:
                content, artifact = await self._acall(sb, *args, **kwargs)
                return await self._afinish(sb, content, artifact)
        except SandboxError as exc:
            raise ToolException(self._explain(exc)) from exc

    def _seconds(self, timeout: object) -> float | None:
        """The call's timeout (or the tool's default), checked before anything is sent.

        Raises:
            ToolException: Not a number, not finite or not positive (larger than
                :data:`~langchain_daytona_exec.sandbox.MAX_TIMEOUT_S` is clamped).
        """
        try:
            return check_timeout(timeout if timeout is not None else self.timeout_s)
        except (TypeError, ValueError) as exc:
            raise ToolException(
                f"Invalid timeout: {exc}. Pass a positive number of seconds (at most "
                f"{MAX_TIMEOUT_S:g}), or leave it out for the default."
            ) from exc

    def _call(self, sb: Sandbox, *args: Any, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    async def _acall(self, sb: Sandbox, *args: Any, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    # -- output ----------------------------------------------------------------------

    def _budget(self, text: str) -> tuple[str, str | None]:
        """Cut ``text`` to the budget; returns the text and the path to save it at."""
        short, cut = cut_middle(text, self.max_output_chars)
        if not cut:
            return text, None
        return short, f"{OUTPUT_DIR}/{self.name}-{next(_output_ids)}.txt"

    def _finish(self, sb: Sandbox, content: str, artifact: dict[str, Any]) -> Response:
        full = self._with_notice(sb, content, artifact)
        text, path = self._budget(full)
        if path is not None:
            try:
                sb.write_file(path, full)
                artifact["full_output_path"] = path
            except SandboxError:
                path = None
            text += "\n" + cut_notice(path, artifact.get("saved_outputs") or [])
        return self._with_images(text, artifact), artifact

    async def _afinish(self, sb: Sandbox, content: str, artifact: dict[str, Any]) -> Response:
        full = self._with_notice(sb, content, artifact)
        text, path = self._budget(full)
        if path is not None:
            try:
                await sb.awrite_file(path, full)
                artifact["full_output_path"] = path
            except SandboxError:
                path = None
            text += "\n" + cut_notice(path, artifact.get("saved_outputs") or [])
        return self._with_images(text, artifact), artifact

    def _with_notice(self, sb: Sandbox, content: str, artifact: dict[str, Any]) -> str:
        """Prefix the state-lost notice on the first lease after a loss, and flag it."""
        if isinstance(sb, PooledSandbox) and sb.state_lost:
            artifact[LOSS_NOTICE_KEY] = True
            return loss_notice(sb.lost_reason) + "\n" + content
        artifact[LOSS_NOTICE_KEY] = False
        return content

    def _with_images(self, content: str, artifact: dict[str, Any]) -> Content:
        return content

    def _filter_injected_args(self, tool_input: dict[str, Any]) -> dict[str, Any]:
        """LangChain's filter, with the args schema's injected keys found once per schema.

        ``BaseTool`` re-derives them from the schema's annotations on every call (about
        a tenth of a millisecond); our schemas never change, so the answer is cached.
        """
        schema = self.args_schema
        keys = _injected_keys(schema) if isinstance(schema, type) else None
        if keys is None:
            return super()._filter_injected_args(tool_input)
        return {k: v for k, v in tool_input.items() if k not in keys}

    def _explain(self, exc: SandboxError) -> str:
        """An actionable message for the model (it sees this text as the tool result)."""
        if isinstance(exc, SandboxLostError):
            return (
                f"The sandbox died during this {self._kind} and was restarted: variables "
                f"and imports are gone; files in the workspace may remain. Re-run your "
                f"setup code, then retry. ({exc})"
            )
        if isinstance(exc, SandboxFileError):
            return f"{_sentence(exc)} Check the path (list_files shows what exists) and retry."
        if isinstance(exc, SandboxTimeoutError):
            return f"Timed out: {exc}"
        if isinstance(exc, PoolExhaustedError):
            return f"No sandbox is free right now: {exc}"
        if isinstance(exc, UnsupportedLanguageError):
            return str(exc)
        return f"Sandbox error ({type(exc).__name__}): {exc}"


@functools.lru_cache(maxsize=64)
def _injected_keys(schema: type) -> frozenset[str] | None:
    """The keys LangChain filters out of a tool's input for ``schema`` (``None``: unknown)."""
    if not issubclass(schema, BaseModel):
        return None
    from langchain_core.tools.base import (
        FILTERED_ARGS,
        _is_injected_arg_type,
        get_all_basemodel_annotations,
    )

    annotations = get_all_basemodel_annotations(schema)
    injected = {name for name, kind in annotations.items() if _is_injected_arg_type(kind)}
    return frozenset(FILTERED_ARGS) | injected


def _resolve_annotations(*functions: Callable[..., Any]) -> None:
    """Store real types, not strings, in ``__annotations__``.

    ``BaseTool.run`` looks for the ``RunnableConfig`` parameter of ``_run`` with
    ``get_type_hints`` on every call; with postponed annotations that re-evaluates
    every string each time (about a tenth of a millisecond per call).
    """
    for fn in functions:
        fn.__annotations__ = typing.get_type_hints(fn)


_resolve_annotations(SandboxTool._run, SandboxTool._arun)
