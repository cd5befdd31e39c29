"""The ``Sandbox`` operations of :class:`LocalSandbox`: checked arguments in, results out.

:class:`SandboxOperations` is a base class of ``LocalSandbox`` (``_sandbox.py``), which
owns the process, the channel and the attributes it reads. Each operation checks its
arguments on the host, sends one request through ``LocalSandbox._call`` (the channel's
one rule) and turns the reply, or a timeout, into the result or error the
:class:`~langchain_daytona_exec.sandbox.Sandbox` protocol promises. The result types and
``_replies`` are imported on first use, so starting a sandbox does not wait for them
(``daytona-exec exec`` imports them while it starts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from langchain_daytona_exec.errors import SandboxFileTooLargeError, SandboxTimeoutError
from langchain_daytona_exec.sandbox import (
    check_command_args,
    check_content,
    check_path,
    check_run_args,
)

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    import threading
    from typing import Any, NoReturn, TypeVar

    from langchain_daytona_exec.backends.local._limits import LocalLimits
    from langchain_daytona_exec.types import CommandResult, ExecutionResult, FileInfo

    T = TypeVar("T")
    Parse = Callable[[dict[str, Any], bytearray], T]
    """Turns a complete reply (its message and blob) into what the operation returns."""


class SandboxOperations:
    """run_code, exec and the file operations, over the sandbox's channel."""

    _lock: threading.RLock
    _limits: LocalLimits
    _state_lost_pending: bool

    if TYPE_CHECKING:  # LocalSandbox's

        @property
        def files_after_restart(self) -> str: ...

        def _call(self, msg: dict[str, Any], blob: bytes, wait_s: float, parse: Parse[T]) -> T: ...

        def _hard_restart(self) -> None: ...

    def _call_or_restart(
        self,
        msg: dict[str, Any],
        blob: bytes,
        wait_s: float,
        parse: Parse[T],
        timed_out: Callable[[TimeoutError], T],
    ) -> T:
        """One request under the lock; no answer within ``wait_s`` restarts the interpreter.

        ``timed_out`` then says what the caller gets (a result, or an error it raises),
        still under the lock.
        """
        with self._lock:
            try:
                return self._call(msg, blob, wait_s, parse)
            except TimeoutError as exc:
                self._hard_restart()
                return timed_out(exc)

    # -- code ------------------------------------------------------------------------------------

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code; see :meth:`Sandbox.run_code`."""
        from langchain_daytona_exec.backends.local import _replies as replies
        from langchain_daytona_exec.types import ExecutionResult

        timeout = check_run_args(code, language, timeout)  # the language too
        seconds = timeout or self._limits.timeout_s
        start = time.monotonic()
        req = {"op": "run", "code": code, "language": language, "timeout": seconds}

        def parse(resp: dict[str, Any], _: bytearray) -> ExecutionResult:
            lost = self._state_lost_pending
            result = replies.execution_result(resp, lost, (time.monotonic() - start) * 1000)
            self._state_lost_pending = False
            return result

        def timed_out(_: TimeoutError) -> ExecutionResult:
            self._state_lost_pending = False  # this result says so
            return ExecutionResult(
                stderr=(
                    f"[sandbox] the code ignored the interrupt after {seconds:g} s and "
                    "was killed; the interpreter was restarted (variables and imports "
                    f"are gone, {self.files_after_restart})"
                ),
                timed_out=True,
                state_lost=True,
                duration_ms=(time.monotonic() - start) * 1000,
            )

        wait_s = seconds + self._limits.grace_s + 1.0
        return self._call_or_restart(req, b"", wait_s, parse, timed_out)

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command; see :meth:`Sandbox.exec`."""
        from langchain_daytona_exec.backends.local import _replies as replies
        from langchain_daytona_exec.types import CommandResult

        seconds = check_command_args(command, cwd, env, timeout) or self._limits.timeout_s
        start = time.monotonic()
        req = {
            "op": "exec",
            "command": command,
            "cwd": cwd,
            "env": dict(env or {}),
            "timeout": seconds,
        }

        def parse(resp: dict[str, Any], _: bytearray) -> CommandResult:
            return replies.command_result(resp, cwd or ".", (time.monotonic() - start) * 1000)

        def timed_out(_: TimeoutError) -> CommandResult:
            self._state_lost_pending = True  # told by the next run_code
            return CommandResult(
                exit_code=124,
                stderr="[sandbox] the sandbox stopped answering and was restarted",
                timed_out=True,
                duration_ms=(time.monotonic() - start) * 1000,
            )

        wait_s = seconds + self._limits.grace_s + 1.0
        return self._call_or_restart(req, b"", wait_s, parse, timed_out)

    # -- files -----------------------------------------------------------------------------------

    def _file_call(self, msg: dict[str, Any], parse: Parse[T], blob: bytes = b"") -> T:
        wait_s = self._limits.file_op_timeout_s

        def timed_out(exc: TimeoutError) -> NoReturn:
            self._state_lost_pending = True  # told by the next run_code
            raise SandboxTimeoutError(
                f"file operation {msg['op']} on {msg.get('path')!r} took over "
                f"{wait_s:g} s; the sandbox was restarted"
            ) from exc

        return self._call_or_restart(msg, blob, wait_s, parse, timed_out)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file; see :meth:`Sandbox.read_file`."""
        from langchain_daytona_exec.backends.local import _replies as replies

        check_path(path)
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
        ):
            raise TypeError(f"max_bytes must be a non-negative int or None, not {max_bytes!r}")
        return self._file_call(
            {"op": "read", "path": path, "max_bytes": max_bytes},
            lambda resp, blob: replies.read_blob(resp, blob, path),
        )

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file, creating parents; see :meth:`Sandbox.write_file`."""
        from langchain_daytona_exec.backends.local import _replies as replies

        check_path(path)
        data = check_content(content)
        if len(data) > self._limits.max_file_bytes:
            raise SandboxFileTooLargeError(
                f"{len(data)} bytes is over the {self._limits.max_file_bytes}-byte file "
                "limit (LocalLimits.max_file_bytes)",
                path,
            )
        self._file_call(
            {"op": "write", "path": path},
            lambda resp, _: replies.raise_file_error(resp, path),
            data,
        )

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        from langchain_daytona_exec.backends.local import _replies as replies

        check_path(path)
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError(f"depth must be an int, not {type(depth).__name__}")
        return self._file_call(
            {"op": "list", "path": path, "depth": depth},
            lambda resp, _: replies.file_infos(resp, path),
        )
