"""Deep Agents backends over our sandboxes (the optional ``deepagents`` extra).

LangChain's Deep Agents run their ``execute``, ``ls``, ``read_file``, ``write_file``,
``edit_file``, ``glob`` and ``grep`` tools through a *sandbox backend*
(``deepagents.backends.protocol.SandboxBackendProtocol``). Give ``create_deep_agent``
one made by :func:`deep_agent_backend`::

    from deepagents import create_deep_agent
    from langchain_daytona_exec import LocalBackend, SandboxPool
    from langchain_daytona_exec.deepagents import deep_agent_backend

    with LocalBackend().create() as sb:                     # one sandbox
        agent = create_deep_agent(model=..., backend=deep_agent_backend(sb))

    agent = create_deep_agent(                              # one sandbox per thread_id
        model=..., backend=deep_agent_backend(SandboxPool()), checkpointer=...
    )

It wraps the sandbox or pool in one of the two backends below, and puts Deep Agents'
artifacts (large tool results it offloads, offloaded history) in a writable folder
of the sandbox (:data:`ARTIFACTS_ROOT`) instead of the read-only ``/``:

* :class:`DeepAgentsSandbox` wraps one of our sandboxes (local bubblewrap, Daytona,
  or a pool's lease).
* :class:`PooledDeepAgentsSandbox` gives every LangGraph ``thread_id`` its own
  sandbox from a :class:`~langchain_daytona_exec.SandboxPool`, with the lifetime
  rules of our LangChain tools: each operation leases the thread's sandbox for its
  duration, calls of one thread run one at a time, idle threads are evicted after
  the pool's ``idle_ttl_s``, and the model is told once when its earlier files are
  gone. Deep Agents 0.7 dropped backend factories (``backend=lambda runtime: ...``);
  like its ``StateBackend``, this backend reads the run's config when it is called.

Only ``execute`` and the file transfers (``upload_files`` / ``download_files``) are
ours; everything else (``read`` with pagination, ``edit``, ``grep``, ``glob``,
``ls``, ``write``) is Deep Agents' own ``BaseSandbox``, which runs small Python
scripts through ``execute``. So the behaviour of those tools is exactly the one of
the installed ``deepagents`` release (for example, ``write`` refuses to overwrite
on 0.6 and overwrites on 0.7).

Paths: Deep Agents uses absolute paths. In a local sandbox only the working folder
(``/workspace``) and ``/tmp`` are writable; the rest of the filesystem is the host's
read-only runtime. Relative paths given to ``upload_files`` / ``download_files`` are
refused with ``invalid_path``, as the protocol requires.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, cast

try:
    from deepagents.backends.composite import CompositeBackend
    from deepagents.backends.protocol import (
        BackendProtocol,
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
    from deepagents.backends.sandbox import BaseSandbox
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "langchain_daytona_exec.deepagents needs the `deepagents` package: "
        "pip install 'langchain-daytona-exec[deepagents]'"
    ) from exc

from langchain_daytona_exec.errors import (
    PoolExhaustedError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxIsADirectoryError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.pool import (
    FALLBACK_KEY,
    PooledSandbox,
    SandboxPool,
    default_pool,
    loss_notice,
)
from langchain_daytona_exec.sandbox import (
    ClosingContext,
    Sandbox,
    check_command_args,
    check_timeout,
)
from langchain_daytona_exec.types import CommandResult

__all__ = ["ARTIFACTS_ROOT", "DeepAgentsSandbox", "PooledDeepAgentsSandbox", "deep_agent_backend"]

R = TypeVar("R")

MERGE_STDERR: Final = "exec 2>&1; "
"""Prefix that makes the shell send stderr into stdout for the whole command.

Deep Agents wants one combined output. Merging at the source keeps lines in the
order they were written (appending stderr afterwards would move every error below
all the output); it sits on the command's first line so the shell's error messages
keep their line numbers, and an explicit ``2>/dev/null`` in the command still wins."""

NO_TIMEOUT_CAP_S: Final = 3600.0
"""What ``execute(timeout=0)`` ("no timeout, if the backend supports it") gets, in
**seconds**. Every command here runs with a deadline; an hour is Deep Agents' own
default ``max_execute_timeout``, the longest timeout its tool lets a model ask for."""

TIMEOUT_NOTICE: Final = (
    "\n[sandbox] The command timed out after {seconds:.0f} s and was killed; "
    "the output above is partial. Pass a larger timeout or run it in the background."
)
"""Appended to the output of a timed-out command (whose exit code is 124)."""

ARTIFACTS_ROOT: Final = "/tmp/deepagents"
"""Where :func:`deep_agent_backend` has Deep Agents keep its artifacts in the sandbox
(tool results too large for the context, offloaded conversation history).

Deep Agents' default root, ``/``, is read-only in a local sandbox: offloading then
fails silently and a megabyte of command output reaches the model whole. Under
``/tmp``, like the tools' saved outputs, so it stays out of the user's files."""

_REMEMBERED_NOTICES: Final = 10_000
"""Threads whose state-lost notice is waiting for an operation that can carry it
(oldest dropped first). Mirrors how many lost keys the pool itself remembers."""

_CARRIES_ERROR: Final = (ReadResult, WriteResult, EditResult, LsResult, GrepResult, GlobResult)
"""Results whose ``error`` text can carry a state-lost notice to the model."""

# -- pure helpers --------------------------------------------------------------------


def _check_path(path: str) -> str | None:
    """The protocol's error code for a path that cannot name a sandbox file, or None."""
    if not path.startswith("/") or "\0" in path:
        return "invalid_path"
    return None


def _file_error_code(exc: SandboxError) -> str:
    """Map a sandbox error to a Deep Agents ``FileOperationError`` when one fits.

    Returns:
        ``file_not_found``, ``is_directory`` or ``permission_denied``; otherwise the
        error's own message (the protocol allows backend-specific strings).
    """
    if isinstance(exc, SandboxFileNotFoundError):
        return "file_not_found"
    if isinstance(exc, SandboxIsADirectoryError):
        return "is_directory"
    message = str(exc)
    if isinstance(exc, SandboxFileError) and "permission denied" in message.lower():
        return "permission_denied"
    return message or type(exc).__name__


def _explain(exc: SandboxError) -> str:
    """An actionable sentence for the model about an error outside the command."""
    if isinstance(exc, SandboxLostError):
        return (
            f"[sandbox] The sandbox died during this call and was restarted; files in "
            f"the working folder may remain. Retry the call. ({exc})"
        )
    if isinstance(exc, SandboxTimeoutError):
        return f"[sandbox] Timed out: {exc}"
    if isinstance(exc, PoolExhaustedError):
        return f"[sandbox] No sandbox is free right now: {exc}"
    return f"[sandbox] {type(exc).__name__}: {exc}"


def _to_response(result: CommandResult) -> ExecuteResponse:
    """One ``CommandResult`` as a Deep Agents ``ExecuteResponse``."""
    output = result.stdout
    if result.stderr:  # after MERGE_STDERR, only the engine's own notices land here
        if output and not output.endswith("\n"):
            output += "\n"
        output += result.stderr
    if result.timed_out:
        output += TIMEOUT_NOTICE.format(seconds=result.duration_ms / 1000)
    return ExecuteResponse(
        output=output,
        exit_code=result.exit_code,
        truncated=bool(result.stdout_truncated_bytes or result.stderr_truncated_bytes),
    )


def _invalid_arguments(exc: Exception) -> ExecuteResponse:
    """An ``ExecuteResponse`` for a call refused before anything was sent."""
    return ExecuteResponse(output=f"[sandbox] the command did not run: {exc}", exit_code=None)


def _error_response(exc: SandboxError) -> ExecuteResponse:
    """An ``ExecuteResponse`` for a command that may not have run (exit code unknown)."""
    return ExecuteResponse(output=_explain(exc), exit_code=None)


# -- one sandbox ---------------------------------------------------------------------


class DeepAgentsSandbox(BaseSandbox, ClosingContext):
    """A Deep Agents sandbox backend over one of our sandboxes.

    ``execute`` runs the command with ``/bin/sh -c`` in the sandbox's working folder,
    stdout and stderr merged in order, with a deadline: on timeout the whole process
    group is killed and the response has exit code 124 and the output so far. File
    transfers go through the sandbox's own file API (inside the sandbox, so symlinks
    cannot lead out of it) and report each file separately. Sandbox failures become
    error results the model can read instead of exceptions that would end the run.

    Args:
        sandbox: Any :class:`~langchain_daytona_exec.Sandbox` (local, Daytona, or a
            :class:`~langchain_daytona_exec.PooledSandbox` lease).
        timeout: Default per-command timeout in **seconds** when ``execute`` gets
            none; ``None`` uses the sandbox's default (60 s locally).

    Example:
        >>> with DeepAgentsSandbox(LocalBackend().create()) as backend:
        ...     backend.execute("echo hi").exit_code
        0
    """

    enable_capture_offload = False
    """Off (Deep Agents' default): its capture-at-source shell wrapper would write
    under the artifacts root, which is the read-only ``/`` of a local sandbox unless
    :func:`deep_agent_backend` moved it; the middleware's generic eviction (through
    ``write``) is used instead."""

    def __init__(self, sandbox: Sandbox, *, timeout: float | None = None) -> None:
        self._sandbox = sandbox
        self._timeout = check_timeout(timeout)

    def __repr__(self) -> str:
        return f"<DeepAgentsSandbox {self._sandbox!r}>"

    @property
    def id(self) -> str:
        """The wrapped sandbox's id."""
        return self._sandbox.id

    @property
    def sandbox(self) -> Sandbox:
        """The wrapped sandbox (for ``run_code``, ``reset``...)."""
        return self._sandbox

    def _seconds(self, timeout: float | None) -> float | None:
        """The timeout to pass to the sandbox, in seconds (``None``: its default).

        ``0`` is Deep Agents' "no timeout" (:data:`NO_TIMEOUT_CAP_S`); others are
        checked and clamped like every timeout (:func:`~langchain_daytona_exec.
        sandbox.check_timeout`).

        Raises:
            TypeError: Not a number.
            ValueError: Negative or not finite.
        """
        if timeout is None:
            return self._timeout
        if timeout == 0 and not isinstance(timeout, bool):
            return NO_TIMEOUT_CAP_S
        return check_timeout(timeout)

    # -- commands --------------------------------------------------------------------

    def execute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Run a shell command in the sandbox.

        Args:
            command: The command line, run with ``/bin/sh -c`` in the working folder.
            timeout: **Seconds** before the command's process group is killed;
                ``None`` uses the default, ``0`` means the longest allowed
                (:data:`NO_TIMEOUT_CAP_S`).

        Returns:
            Combined stdout and stderr, the exit code (124 on timeout, ``None`` when
            the sandbox failed before the command could report one) and whether
            output was cut to the sandbox's output budget.
        """
        try:
            check_command_args(command, None, None, None)
            seconds = self._seconds(timeout)
        except (TypeError, ValueError) as exc:
            return _invalid_arguments(exc)
        try:
            result = self._sandbox.exec(MERGE_STDERR + command, timeout=seconds)
        except SandboxError as exc:
            return _error_response(exc)
        return _to_response(result)

    async def aexecute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Async twin of :meth:`execute`."""
        try:
            check_command_args(command, None, None, None)
            seconds = self._seconds(timeout)
        except (TypeError, ValueError) as exc:
            return _invalid_arguments(exc)
        try:
            result = await self._sandbox.aexec(MERGE_STDERR + command, timeout=seconds)
        except SandboxError as exc:
            return _error_response(exc)
        return _to_response(result)

    # -- files -----------------------------------------------------------------------

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write files into the sandbox, creating parent folders; one response per file.

        Args:
            files: ``(absolute path, content)`` pairs.

        Returns:
            Responses in input order; ``error`` is ``invalid_path``,
            ``is_directory``, ``permission_denied`` or the sandbox's message.
        """
        responses = []
        for path, content in files:
            error = _check_path(path)
            if error is None:
                try:
                    self._sandbox.write_file(path, content)
                except SandboxError as exc:
                    error = _file_error_code(exc)
            responses.append(FileUploadResponse(path=path, error=error))
        return responses

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Async twin of :meth:`upload_files`."""
        responses = []
        for path, content in files:
            error = _check_path(path)
            if error is None:
                try:
                    await self._sandbox.awrite_file(path, content)
                except SandboxError as exc:
                    error = _file_error_code(exc)
            responses.append(FileUploadResponse(path=path, error=error))
        return responses

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Read files from the sandbox; one response per path.

        Args:
            paths: Absolute paths.

        Returns:
            Responses in input order, with the bytes or an ``error``:
            ``invalid_path``, ``file_not_found``, ``is_directory``,
            ``permission_denied`` or the sandbox's message (a file over the
            sandbox's size limit, for example).
        """
        responses = []
        for path in paths:
            error = _check_path(path)
            content: bytes | None = None
            if error is None:
                try:
                    content = self._sandbox.read_file(path)
                except SandboxError as exc:
                    error = _file_error_code(exc)
            responses.append(FileDownloadResponse(path=path, content=content, error=error))
        return responses

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Async twin of :meth:`download_files`."""
        responses = []
        for path in paths:
            error = _check_path(path)
            content: bytes | None = None
            if error is None:
                try:
                    content = await self._sandbox.aread_file(path)
                except SandboxError as exc:
                    error = _file_error_code(exc)
            responses.append(FileDownloadResponse(path=path, content=content, error=error))
        return responses

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Close the wrapped sandbox (idempotent)."""
        self._sandbox.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self._sandbox.aclose()


# -- one sandbox per thread ----------------------------------------------------------


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
            result = fail(_explain(exc))
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
            result = fail(_explain(exc))
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


# -- the entry point -----------------------------------------------------------------


def deep_agent_backend(
    target: Sandbox | SandboxPool | SandboxBackendProtocol,
    *,
    timeout: float | None = None,
    artifacts_root: str = ARTIFACTS_ROOT,
) -> CompositeBackend:
    """The backend to give ``create_deep_agent``, over a sandbox or a pool.

    Args:
        target: A sandbox (wrapped in :class:`DeepAgentsSandbox`; you keep closing
            it), a pool (wrapped in :class:`PooledDeepAgentsSandbox`: one sandbox
            per ``thread_id``), or a backend made already.
        timeout: Default per-command timeout in **seconds** for a sandbox or pool;
            ``None`` uses the sandbox's default.
        artifacts_root: Writable folder of the sandbox for Deep Agents' artifacts
            (see :data:`ARTIFACTS_ROOT`).

    Returns:
        A ``CompositeBackend`` that sends every operation to the sandbox backend and
        tells Deep Agents where its artifacts go.
    """
    backend: BackendProtocol
    if isinstance(target, Sandbox):
        backend = DeepAgentsSandbox(target, timeout=timeout)
    elif isinstance(target, SandboxPool):
        backend = PooledDeepAgentsSandbox(target, timeout=timeout)
    else:
        backend = target
    return CompositeBackend(default=backend, routes={}, artifacts_root=artifacts_root)
