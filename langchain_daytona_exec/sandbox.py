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
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import TracebackType

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:  # imported on first async call: concurrent.futures loads logging
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, Self, TypeVar

    # Annotations only: a backend imports the result types when it builds results, so
    # `daytona-exec exec` can import them while its sandbox starts.
    from langchain_daytona_exec.types import CommandResult, EgressEvent, ExecutionResult, FileInfo

__all__ = [
    "LANGUAGES",
    "MAX_TIMEOUT_S",
    "ClosingContext",
    "Sandbox",
    "SandboxBackend",
    "check_command_args",
    "check_content",
    "check_path",
    "check_run_args",
    "check_seconds",
    "check_timeout",
    "run_blocking",
]

if TYPE_CHECKING:
    T = TypeVar("T")

MAX_TIMEOUT_S = 86_400.0
"""The longest per-call timeout in **seconds** (one day), on every backend, tool and
adapter. A larger value is clamped to it: timeouts can come straight from a model's
tool arguments, and beyond ~2.1e6 s the OS timers (``poll``, ``setitimer``) overflow."""

LANGUAGES = ("python", "javascript", "typescript")
"""The languages of ``run_code`` on every backend (Python stateful, the others run once)."""

MAX_CODE_CHARS = 8 * 1024 * 1024
"""The longest ``code`` or ``command`` accepted (8 Mi characters): a request must fit
the local kernel's 64 MiB request frame even when every character takes 4 bytes."""


def check_timeout(timeout: object, name: str = "timeout") -> float | None:
    """Validate a timeout at the API edge, before anything is sent.

    Args:
        timeout: Seconds, or ``None`` for the backend's default.
        name: The argument's name, for the error message.

    Returns:
        ``None``, or the timeout as a float clamped to :data:`MAX_TIMEOUT_S`.

    Raises:
        TypeError: Not a number.
        ValueError: Not finite, or not positive.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(timeout).__name__}")
    try:
        value = float(timeout)
    except OverflowError:  # an int beyond the float range: finite, hence clamped
        return MAX_TIMEOUT_S
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {timeout!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive (seconds), got {timeout!r}")
    return min(value, MAX_TIMEOUT_S)


def check_seconds(value: object, name: str) -> float:
    """Validate a configured timeout (never ``None``); see :func:`check_timeout`."""
    seconds = check_timeout(value, name)
    if seconds is None:
        raise TypeError(f"{name} must be a number of seconds, not None")
    return seconds


def _check_text(value: object, name: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{name} must not contain NUL characters")


def check_run_args(code: object, language: object, timeout: object) -> float | None:
    """Validate ``run_code`` arguments; returns the checked timeout.

    Raises:
        TypeError: ``code`` or ``language`` is not a str, ``timeout`` not a number.
        ValueError: ``code`` is too long, or ``timeout`` is not finite and positive.
        UnsupportedLanguageError: ``language`` is not one of :data:`LANGUAGES`.
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, not {type(code).__name__}")
    if len(code) > MAX_CODE_CHARS:
        raise ValueError(f"code is {len(code)} characters, over the {MAX_CODE_CHARS} limit")
    if not isinstance(language, str):
        raise TypeError(f"language must be a str, not {type(language).__name__}")
    checked = check_timeout(timeout)
    if language not in LANGUAGES:
        from langchain_daytona_exec.errors import UnsupportedLanguageError

        raise UnsupportedLanguageError(
            f"unsupported language {language!r}: use one of {', '.join(LANGUAGES)}"
        )
    return checked


def check_command_args(command: object, cwd: object, env: object, timeout: object) -> float | None:
    """Validate ``exec`` arguments; returns the checked timeout.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: A NUL character, an ``=`` in a variable name, a command that is
            too long, or a timeout that is not finite and positive.
    """
    _check_text(command, "command")
    assert isinstance(command, str)
    if len(command) > MAX_CODE_CHARS:
        raise ValueError(f"command is {len(command)} characters, over the {MAX_CODE_CHARS} limit")
    _check_text(cwd, "cwd", allow_none=True)
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"env must be a mapping of str to str, not {type(env).__name__}")
        for key, value in env.items():
            _check_text(key, "env name")
            _check_text(value, f"env[{key!r}]")
            if not key or "=" in key:
                raise ValueError(f"env name {key!r} is empty or contains '='")
    return check_timeout(timeout)


def check_path(path: object, name: str = "path") -> str:
    """Validate a path argument (a str without NUL characters); returns it."""
    _check_text(path, name)
    assert isinstance(path, str)
    return path


def check_content(content: object) -> bytes:
    """Validate ``write_file`` content; returns it as bytes (text as UTF-8).

    Raises:
        TypeError: Neither ``str`` nor a bytes-like object.
    """
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise TypeError(f"content must be str or bytes, not {type(content).__name__}")


_IO_WORKERS = 64
"""Threads shared by all async twins. Each blocks on one sandbox round trip, so the
bound is on concurrent sandbox calls, not CPU; asyncio's default executor (cores + 4)
would queue a handful of concurrent conversations behind each other."""

_io_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _io_executor
    if _io_executor is None:
        from concurrent.futures import ThreadPoolExecutor

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

    def network_log(self) -> list[EgressEvent]:
        """Requests through the sandbox's network allow-list, oldest first.

        Empty unless the backend filters the network itself (a local allow-list).
        """
        return []

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


if TYPE_CHECKING:
    from langchain_daytona_exec._backend_protocol import SandboxBackend
else:

    def __getattr__(name: str) -> object:
        """``SandboxBackend``, imported on first use (see :mod:`._backend_protocol`)."""
        if name == "SandboxBackend":
            from langchain_daytona_exec._backend_protocol import SandboxBackend

            return SandboxBackend
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
