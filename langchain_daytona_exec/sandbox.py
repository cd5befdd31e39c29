"""The ``Sandbox`` interface every backend implements, and the backend protocol.

A :class:`Sandbox` is one isolated machine-like environment with a stateful Python
interpreter, a shell and a working folder. The blocking methods are the one
implementation; each async twin (``arun_code``, ``aexec``...) runs it on a shared,
bounded thread pool so that an event loop is never blocked. Backends with a native
async client may override the twins.

Semantics every backend keeps:

* Relative paths resolve against :attr:`Sandbox.workdir`; absolute paths name files
  inside the sandbox.
* A timeout of the code does not raise: the result has ``timed_out=True`` and the
  output produced so far, and ``state_lost=True`` only when the interpreter had to
  be killed.
* When the sandbox died (killed, crashed, stopped), the call that sees it raises
  :class:`~langchain_daytona_exec.errors.SandboxLostError`. A revivable sandbox
  (:meth:`Sandbox.is_alive` still true) restarts on the next call, whose
  ``run_code`` result then reports ``state_lost=True`` once.
"""

from __future__ import annotations

import contextvars
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from langchain_daytona_exec.types import CommandResult, ExecutionResult, FileInfo

__all__ = ["ClosingContext", "Sandbox", "SandboxBackend", "run_blocking"]

T = TypeVar("T")

_IO_WORKERS = 64
"""Threads shared by all async twins. Each blocks on one sandbox round trip, so the
bound is on concurrent sandbox calls, not CPU; asyncio's default executor (cores + 4)
would queue a handful of concurrent conversations behind each other."""

_io_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _io_executor
    if _io_executor is None:
        _io_executor = ThreadPoolExecutor(_IO_WORKERS, thread_name_prefix="ldx-io")
    return _io_executor


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking call on the shared sandbox I/O threads.

    Args:
        fn: The blocking callable.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        What ``fn`` returned; its exception propagates.
    """
    import asyncio  # here, not at the top: the sync path never needs it (~15 ms)

    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(_executor(), call)


class ClosingContext:
    """``with`` / ``async with`` support for objects with ``close()`` and ``aclose()``."""

    def close(self) -> None:
        """Release everything this object holds."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await run_blocking(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Sandbox(ClosingContext, ABC):
    """One isolated, stateful execution environment.

    Use it as a context manager (``with`` or ``async with``) to close it on exit.
    """

    #: A stable identifier, unique among the backend's sandboxes.
    id: str
    #: The backend's name: ``"local"`` or ``"daytona"``.
    backend_name: str
    #: Labels (ownership, thread key) attached at creation.
    labels: dict[str, str]

    @property
    @abstractmethod
    def workdir(self) -> str:
        """The absolute path of the working folder inside the sandbox."""

    @abstractmethod
    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code; Python is stateful, JavaScript and TypeScript run once.

        Args:
            code: The source code.
            language: ``"python"``, ``"javascript"`` or ``"typescript"``.
            timeout: Seconds before the call is interrupted; ``None`` uses the
                backend default.

        Returns:
            The captured output, last-expression result, error and charts.

        Raises:
            SandboxLostError: The sandbox died during or before the call.
            UnsupportedLanguageError: No runtime for ``language``.
        """

    @abstractmethod
    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command (``/bin/sh -c``) in the sandbox.

        Args:
            command: The command line.
            cwd: Working folder; relative to :attr:`workdir`; ``None`` is the workdir.
            env: Extra environment variables for this command only.
            timeout: Seconds before the whole process group is killed.

        Returns:
            Exit code and output; ``timed_out=True`` and exit code 124 on timeout.
        """

    @abstractmethod
    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file from the sandbox.

        Args:
            path: The file; relative paths resolve against :attr:`workdir`.
            max_bytes: Refuse files larger than this many **bytes**; ``None`` uses
                the backend's limit.

        Raises:
            SandboxFileNotFoundError: No such file.
            SandboxIsADirectoryError: The path is a folder.
            SandboxFileTooLargeError: The file is over the limit.
        """

    @abstractmethod
    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file in the sandbox, creating parent folders.

        Args:
            path: The file; relative paths resolve against :attr:`workdir`.
            content: Text (written as UTF-8) or bytes.

        Raises:
            SandboxIsADirectoryError: The path is a folder.
            SandboxFileTooLargeError: The content is over the limit.
        """

    @abstractmethod
    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder of the sandbox.

        Args:
            path: The folder; relative paths resolve against :attr:`workdir`.
            depth: 1 lists the folder itself; larger values descend that many levels.

        Raises:
            SandboxFileNotFoundError: No such folder.
        """

    @abstractmethod
    def reset(self) -> None:
        """Give the sandbox a fresh interpreter and an empty working folder."""

    @abstractmethod
    def close(self) -> None:
        """Destroy the sandbox. Idempotent; leaves no process, cgroup or folder."""

    @abstractmethod
    def is_alive(self) -> bool:
        """Return True when the sandbox exists and can serve calls (maybe after a revive)."""

    # -- async twins -------------------------------------------------------------

    async def arun_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Async twin of :meth:`run_code`."""
        return await run_blocking(self.run_code, code, language, timeout)

    async def aexec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Async twin of :meth:`exec`."""
        return await run_blocking(self.exec, command, cwd, env, timeout)

    async def aread_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Async twin of :meth:`read_file`."""
        return await run_blocking(self.read_file, path, max_bytes=max_bytes)

    async def awrite_file(self, path: str, content: str | bytes) -> None:
        """Async twin of :meth:`write_file`."""
        await run_blocking(self.write_file, path, content)

    async def alist_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """Async twin of :meth:`list_files`."""
        return await run_blocking(self.list_files, path, depth=depth)

    async def areset(self) -> None:
        """Async twin of :meth:`reset`."""
        await run_blocking(self.reset)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await run_blocking(self.close)

    async def ais_alive(self) -> bool:
        """Async twin of :meth:`is_alive`."""
        return await run_blocking(self.is_alive)


@runtime_checkable
class SandboxBackend(Protocol):
    """Creates sandboxes of one kind (local bubblewrap, Daytona...)."""

    #: ``"local"`` or ``"daytona"``.
    name: str

    def create(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        """Create and start a sandbox, ready for its first call.

        Args:
            labels: Labels to attach (ownership, thread key).
        """
        ...

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> Sandbox:
        """Async twin of :meth:`create`."""
        ...

    def find(self, labels: Mapping[str, str]) -> Sandbox | None:
        """Return an existing sandbox carrying all ``labels``, or ``None``.

        Backends whose sandboxes cannot outlive the process (local) return ``None``.
        """
        ...
