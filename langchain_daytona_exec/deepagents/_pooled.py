"""``PooledDeepAgentsSandbox``: one sandbox per LangGraph ``thread_id``, from a pool."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, cast

from deepagents.backends.protocol import (
    EditResult,
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    SandboxBackendProtocol,
    WriteResult,
)

from langchain_daytona_exec.deepagents._convert import explain
from langchain_daytona_exec.deepagents._sandbox import DeepAgentsSandbox
from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.pool import (
    FALLBACK_KEY,
    PooledSandbox,
    SandboxPool,
    default_pool,
    loss_notice,
)
from langchain_daytona_exec.sandbox import check_timeout

__all__ = ["PooledDeepAgentsSandbox"]

R = TypeVar("R")

_REMEMBERED_NOTICES: Final = 10_000
"""Threads whose state-lost notice is waiting for an operation that can carry it
(oldest dropped first). Mirrors how many lost keys the pool itself remembers."""

_CARRIES_ERROR: Final = (ReadResult, WriteResult, EditResult, LsResult, GrepResult, GlobResult)
"""Results whose ``error`` text can carry a state-lost notice to the model."""


def _current_thread_id() -> str | None:
    """``configurable.thread_id`` of the LangGraph run calling us, if any."""
    from langgraph.config import get_config

    try:
        config = get_config()
    except RuntimeError:  # called outside a graph run
        return None
    key = (config.get("configurable") or {}).get("thread_id")
    return None if key in (None, "") else str(key)


class PooledDeepAgentsSandbox(SandboxBackendProtocol):
    """A Deep Agents backend giving each LangGraph ``thread_id`` its own sandbox.

    Every operation leases the calling thread's sandbox from ``pool`` for its whole
    duration (a ``read`` or an ``edit`` is one lease, though it runs several
    commands), through a :class:`DeepAgentsSandbox`. These are the lifetime rules
    of our tools, and with the same pool the tools and the agent share one sandbox
    per thread:

    * the key is ``configurable.thread_id`` of the run (``fallback_key`` outside a
      graph run or without one); a thread keeps its sandbox until the pool evicts it
      (``idle_ttl_s``, LRU when full, ``max_lifetime_s``) or it dies;
    * operations of one thread run one at a time, different threads in parallel;
    * when a thread's earlier sandbox is gone, the model is told once: at the start
      of the next ``execute`` output, or in the next operation's error message
      (a read of a file that vanished, for example);
    * pool failures (exhausted, busy past ``acquire_timeout``) come back as error
      results, never as exceptions that would end the run.

    Args:
        pool: The pool to lease from; ``None`` uses the process-wide pool of the
            tools (:func:`~langchain_daytona_exec.pool.default_pool`).
        timeout: Default per-command timeout in **seconds** (see
            :class:`DeepAgentsSandbox`).
        fallback_key: Pool key when the call carries no ``thread_id``.

    Example:
        >>> backend = deep_agent_backend(SandboxPool(LocalBackend()))  # wraps it in this
        >>> agent = create_deep_agent(model=..., backend=backend, checkpointer=...)
        >>> agent.invoke(..., {"configurable": {"thread_id": "t1"}})  # doctest: +SKIP
    """

    def __init__(
        self,
        pool: SandboxPool | None = None,
        *,
        timeout: float | None = None,
        fallback_key: str = FALLBACK_KEY,
    ) -> None:
        self._given_pool = pool
        self._timeout = check_timeout(timeout)
        self._fallback_key = fallback_key
        self._notices: OrderedDict[str, str] = OrderedDict()
        self._notices_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PooledDeepAgentsSandbox pool={self.pool!r}>"

    @property
    def pool(self) -> SandboxPool:
        """The pool sandboxes are leased from."""
        return self._given_pool if self._given_pool is not None else default_pool()

    @property
    def id(self) -> str:
        """``<pool id>/<thread key>``: stable for a thread, without leasing a sandbox."""
        return f"{self.pool.id}/{self.thread_key()}"

    def thread_key(self) -> str:
        """The pool key of the current call: its ``thread_id`` or the fallback key."""
        return _current_thread_id() or self._fallback_key

    # -- leasing ---------------------------------------------------------------------

    def _note_loss(self, key: str, lease: PooledSandbox) -> None:
        if not lease.state_lost:
            return
        with self._notices_lock:
            self._notices[key] = loss_notice(lease.lost_reason)
            self._notices.move_to_end(key)
            while len(self._notices) > _REMEMBERED_NOTICES:
                self._notices.popitem(last=False)

    def _deliver(self, key: str, result: R) -> R:
        """Attach a pending state-lost notice to ``result`` if it can carry one."""
        with self._notices_lock:
            notice = self._notices.get(key)
            if notice is None:
                return result
            delivered: object
            if isinstance(result, ExecuteResponse):
                delivered = dataclasses.replace(result, output=f"{notice}\n{result.output}")
            elif isinstance(result, _CARRIES_ERROR) and result.error:
                delivered = dataclasses.replace(result, error=f"{result.error}\n{notice}")
            else:
                return result
            del self._notices[key]
        return cast("R", delivered)

    def _run(self, op: Callable[[DeepAgentsSandbox], R], fail: Callable[[str], R]) -> R:
        key = self.thread_key()
        try:
            with self.pool.session(key) as lease:
                self._note_loss(key, lease)
                result = op(DeepAgentsSandbox(lease, timeout=self._timeout))
        except SandboxError as exc:
            result = fail(explain(exc))
        return self._deliver(key, result)

    async def _arun(
        self, op: Callable[[DeepAgentsSandbox], Awaitable[R]], fail: Callable[[str], R]
    ) -> R:
        key = self.thread_key()
        try:
            async with self.pool.asession(key) as lease:
                self._note_loss(key, lease)
                result = await op(DeepAgentsSandbox(lease, timeout=self._timeout))
        except SandboxError as exc:
            result = fail(explain(exc))
        return self._deliver(key, result)

    # -- the protocol, one lease per operation ---------------------------------------

    def execute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Run a shell command in the thread's sandbox; see :meth:`DeepAgentsSandbox.execute`."""
        return self._run(
            lambda b: b.execute(command, timeout=timeout),
            lambda msg: ExecuteResponse(output=msg, exit_code=None),
        )

    async def aexecute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Async twin of :meth:`execute`."""
        return await self._arun(
            lambda b: b.aexecute(command, timeout=timeout),
            lambda msg: ExecuteResponse(output=msg, exit_code=None),
        )

    def ls(self, path: str) -> LsResult:
        """List a folder of the thread's sandbox."""
        return self._run(lambda b: b.ls(path), lambda msg: LsResult(error=msg))

    async def als(self, path: str) -> LsResult:
        """Async twin of :meth:`ls`."""
        return await self._arun(lambda b: b.als(path), lambda msg: LsResult(error=msg))

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        """Read lines of a file of the thread's sandbox."""
        return self._run(
            lambda b: b.read(file_path, offset, limit), lambda msg: ReadResult(error=msg)
        )

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        """Async twin of :meth:`read`."""
        return await self._arun(
            lambda b: b.aread(file_path, offset, limit), lambda msg: ReadResult(error=msg)
        )

    def write(self, file_path: str, content: str) -> WriteResult:
        """Write a text file in the thread's sandbox."""
        return self._run(lambda b: b.write(file_path, content), lambda msg: WriteResult(error=msg))

    async def awrite(self, file_path: str, content: str) -> WriteResult:
        """Async twin of :meth:`write`."""
        return await self._arun(
            lambda b: b.awrite(file_path, content), lambda msg: WriteResult(error=msg)
        )

    def edit(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
    ) -> EditResult:
        """Replace exact text in a file of the thread's sandbox."""
        return self._run(
            lambda b: b.edit(file_path, old_string, new_string, replace_all),
            lambda msg: EditResult(error=msg),
        )

    async def aedit(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
    ) -> EditResult:
        """Async twin of :meth:`edit`."""
        return await self._arun(
            lambda b: b.aedit(file_path, old_string, new_string, replace_all),
            lambda msg: EditResult(error=msg),
        )

    def delete(self, file_path: str) -> Any:
        """Delete a path (recursively) in the thread's sandbox (deepagents >= 0.7)."""
        from deepagents.backends.protocol import DeleteResult

        return self._run(lambda b: b.delete(file_path), lambda msg: DeleteResult(error=msg))

    async def adelete(self, file_path: str) -> Any:
        """Async twin of :meth:`delete`."""
        from deepagents.backends.protocol import DeleteResult

        return await self._arun(lambda b: b.adelete(file_path), lambda msg: DeleteResult(error=msg))

    def grep(
        self,
        pattern: str,
        path: str | None = None,
        glob: str | None = None,
        *,
        max_count: int | None = None,
    ) -> GrepResult:
        """Search files of the thread's sandbox for a literal string."""
        extra: dict[str, Any] = {} if max_count is None else {"max_count": max_count}
        return self._run(
            lambda b: b.grep(pattern, path, glob, **extra), lambda msg: GrepResult(error=msg)
        )

    async def agrep(
        self,
        pattern: str,
        path: str | None = None,
        glob: str | None = None,
        *,
        max_count: int | None = None,
    ) -> GrepResult:
        """Async twin of :meth:`grep`."""
        extra: dict[str, Any] = {} if max_count is None else {"max_count": max_count}
        return await self._arun(
            lambda b: b.agrep(pattern, path, glob, **extra), lambda msg: GrepResult(error=msg)
        )

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        """Find files of the thread's sandbox matching a glob pattern."""
        return self._run(lambda b: b.glob(pattern, path), lambda msg: GlobResult(error=msg))

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:
        """Async twin of :meth:`glob`."""
        return await self._arun(lambda b: b.aglob(pattern, path), lambda msg: GlobResult(error=msg))

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write files into the thread's sandbox; one response per file."""
        return self._run(
            lambda b: b.upload_files(files),
            lambda msg: [FileUploadResponse(path=p, error=msg) for p, _ in files],
        )

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Async twin of :meth:`upload_files`."""
        return await self._arun(
            lambda b: b.aupload_files(files),
            lambda msg: [FileUploadResponse(path=p, error=msg) for p, _ in files],
        )

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Read files from the thread's sandbox; one response per path."""
        return self._run(
            lambda b: b.download_files(paths),
            lambda msg: [FileDownloadResponse(path=p, error=msg) for p in paths],
        )

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Async twin of :meth:`download_files`."""
        return await self._arun(
            lambda b: b.adownload_files(paths),
            lambda msg: [FileDownloadResponse(path=p, error=msg) for p in paths],
        )
