"""``DaytonaSandbox``: the ``Sandbox`` interface over one Daytona sandbox (real SDK).

Mapping of the interface onto Daytona 0.226:

* ``run_code``: Python in one interpreter context per sandbox, JavaScript and
  TypeScript through the toolbox ``code-run`` endpoint (``_code.py``).
* ``exec``: ``process.exec``. It is one request, runs each command afresh with the
  given ``cwd``/``env`` (the local backend's contract) and has a server-side
  timeout. Its price: Daytona merges stderr into stdout, so ``CommandResult.stderr``
  is empty. Sessions would separate the streams, but cost a create, an execute and
  a delete per call (or carry shell state from one call to the next) and have no
  per-command timeout.
* files: ``fs.upload_file``, ``fs.download_files``, ``fs.list_files`` (``_files.py``).
* output over the budget: head and tail, the whole stream saved in the sandbox
  (``_output.py``).
* paths: relative ones (files, ``exec``'s ``cwd``) are made absolute against the
  work dir the sandbox reports (``get_work_dir``, asked once), never a fixed folder:
  Daytona's images use ``/home/daytona``, custom images and the emulator may not.
* ``reset``: delete the context (a fresh one is created on next use), empty the
  working folder, and drop the thread label.
* ``close``: delete the sandbox.

Failure handling: every SDK call goes through one boundary, :meth:`DaytonaSandbox._call`
(over :meth:`DaytonaBackend._call`): bounded by the call's deadline, retried on
transient failures when that cannot run it twice (``_retry.py``), raised only as our
errors, and handed to the caller's named error policy (``_errors.py``: file errors,
ignore-404 on delete; here: the code and command timeouts). A call the
sandbox's proxy refused (sandbox stopped, gone) triggers one control-plane look:
a *stopped* sandbox (Daytona's auto-stop) is started again and the call repeated,
with ``state_lost`` reported on the next ``run_code``; a deleted one raises
:class:`~langchain_daytona_exec.errors.SandboxLostError`.
"""

from __future__ import annotations

import contextlib
import posixpath
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from langchain_daytona_exec.backends.daytona import _files
from langchain_daytona_exec.backends.daytona import _python as python
from langchain_daytona_exec.backends.daytona._code import CodeRunner
from langchain_daytona_exec.backends.daytona._config import (
    ALIVE_CACHE_S,
    CALL_MARGIN_S,
    KEY_LABEL,
)
from langchain_daytona_exec.backends.daytona._errors import (
    ErrorInfo,
    ErrorPolicy,
    ignore_not_found,
    info_of,
)
from langchain_daytona_exec.backends.daytona._output import SavedOutputs
from langchain_daytona_exec.backends.daytona._retry import deadline_in, sdk_timeout
from langchain_daytona_exec.errors import (
    SandboxClosedError,
    SandboxError,
    SandboxFileNotFoundError,
    SandboxLostError,
    SandboxTimeoutError,
)
from langchain_daytona_exec.sandbox import Sandbox, check_command_args, check_run_args
from langchain_daytona_exec.types import CommandResult, ExecutionResult, FileInfo

if TYPE_CHECKING:
    from daytona import ExecuteResponse
    from daytona import Sandbox as SdkSandbox

    from langchain_daytona_exec.backends.daytona._backend import DaytonaBackend

__all__ = ["DaytonaSandbox"]

T = TypeVar("T")
R = TypeVar("R")

_GONE_STATES = frozenset({"destroyed", "destroying", "error", "build_failed"})
"""Sandbox states from which no call will ever succeed again."""

_STOPPED_STATES = frozenset({"stopped", "stopping", "archived", "archiving", "paused"})
"""States a sandbox leaves when started again: files kept, interpreter state gone."""


def _state_of(sdk: SdkSandbox) -> str:
    state = getattr(sdk, "state", None)
    return str(getattr(state, "value", state) or "unknown")


class DaytonaSandbox(Sandbox):
    """One Daytona sandbox. Create it with :meth:`DaytonaBackend.create` or ``find``.

    Calls are serialized per sandbox (one interpreter context). Async twins run the
    blocking calls on the shared sandbox I/O threads.
    """

    backend_name = "daytona"

    def __init__(
        self, backend: DaytonaBackend, sdk: SdkSandbox, *, state_lost: bool = False
    ) -> None:
        self._backend = backend
        self._sdk = sdk
        self.id = str(sdk.id)
        self.labels = dict(sdk.labels or {})
        self._lock = threading.RLock()
        self._outputs = SavedOutputs(self.write_file)
        self._code = CodeRunner(self, state_lost=state_lost)
        self._workdir: str | None = None
        self._closed = False
        self._lost = False
        self._last_ok = time.monotonic()

    def __repr__(self) -> str:
        return f"<DaytonaSandbox id={self.id!r}>"

    @property
    def sdk(self) -> SdkSandbox:
        """The SDK's ``Sandbox`` object (for features this interface does not cover)."""
        return self._sdk

    # -- plumbing -------------------------------------------------------------------

    def _call(
        self,
        op: Callable[[int], T],
        *,
        what: str,
        deadline: float,
        idempotent: bool,
        on_error: ErrorPolicy[R] | None = None,
    ) -> T | R:
        """:meth:`DaytonaBackend._call` against this sandbox, which it revives if stopped.

        When the call fails in a way that is not the sandbox's own answer, one
        control-plane look decides: still running, the error stands; stopped, the
        sandbox is started and the call sent again (the proxy refused it, so it did
        not run); gone, :class:`SandboxLostError`. Then ``on_error`` has its say.
        """
        for attempt in (1, 2):
            try:
                value = self._backend._call(op, what=what, deadline=deadline, idempotent=idempotent)
            except SandboxError as error:
                info = info_of(error)
                if info.from_daemon:
                    self._last_ok = time.monotonic()
                elif attempt == 1 and _may_be_stopped(info, idempotent) and self._revive(deadline):
                    continue
                if on_error is None:
                    raise
                return on_error(error, info)
            self._last_ok = time.monotonic()
            return value
        raise AssertionError("unreachable")  # pragma: no cover

    def _refresh(self, deadline: float) -> bool:
        """Reload the sandbox's data from the control plane; False (and lost) on 404."""
        return self._backend._call(
            lambda timeout: self._sdk.refresh_data(request_timeout=timeout) or True,
            what="check the sandbox's state",
            deadline=deadline,
            idempotent=True,
            on_error=self._lost_if_gone,
        )

    def _lost_if_gone(self, error: SandboxError, info: ErrorInfo) -> bool:
        """Error policy of the control-plane look: a 404 means the sandbox is gone."""
        if not info.not_found:
            raise error
        self._mark_lost()
        return False

    def _revive(self, deadline: float) -> bool:
        """After a refused call: start a stopped sandbox; raise if it is gone.

        Returns:
            True when the sandbox was stopped and now runs again (send the call again);
            False when it was running all along (the error stands).
        """
        if not self._refresh(deadline):
            raise SandboxLostError(
                f"Daytona sandbox {self.id} no longer exists (deleted, or removed by "
                "auto-delete); its files and state are gone. Create a new sandbox "
                "(a SandboxPool does so by itself and reports state_lost)."
            )
        state = _state_of(self._sdk)
        if state in _GONE_STATES:
            self._mark_lost()
            raise SandboxLostError(
                f"Daytona sandbox {self.id} is {state}; its state is gone. Create a new "
                "sandbox (a SandboxPool does so by itself and reports state_lost)."
            )
        if state in _STOPPED_STATES:
            self._start(deadline)
            return True
        return False

    def _start(self, deadline: float) -> None:
        """Start the stopped sandbox; its interpreter state is gone."""
        self._backend._call(
            lambda timeout: self._sdk.start(timeout=timeout),
            what="start the stopped sandbox",
            deadline=deadline,
            idempotent=True,
        )
        self._code.forget_context(lost=True)
        self._last_ok = time.monotonic()

    def _mark_lost(self) -> None:
        self._lost = True
        self._code.forget_context(lost=False)

    def _check_usable(self) -> None:
        if self._closed:
            raise SandboxClosedError(f"sandbox {self.id} is closed; create a new one")
        if self._lost:
            raise SandboxLostError(
                f"Daytona sandbox {self.id} is gone; its state is lost. Create a new sandbox."
            )

    def _code_timeout(self, timeout: float | None) -> float:
        return timeout if timeout is not None and timeout > 0 else self._backend.timeout

    # -- properties -----------------------------------------------------------------

    @property
    def workdir(self) -> str:
        """The working folder inside the sandbox (asked once, then remembered)."""
        if self._workdir is None:
            deadline = deadline_in(self._backend.file_timeout)
            with self._lock:
                self._check_usable()
                self._workdir = str(
                    self._call(
                        lambda _timeout: self._sdk.get_work_dir(),
                        what="ask for the working folder",
                        deadline=deadline,
                        idempotent=True,
                    )
                )
        return self._workdir

    def _resolve(self, path: str) -> str:
        """``path`` made absolute against :attr:`workdir`, the folder the sandbox reports.

        Daytona's working folder is ``/home/daytona`` on its own images and something
        else on custom ones; asking the sandbox (once) keeps relative paths right on
        every image instead of trusting how each daemon resolves them.
        """
        if posixpath.isabs(path):
            return path
        return posixpath.normpath(posixpath.join(self.workdir, path))

    # -- code -----------------------------------------------------------------------

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code; see :meth:`Sandbox.run_code`."""
        timeout = check_run_args(code, language, timeout)
        seconds = self._code_timeout(timeout)
        deadline = deadline_in(seconds + CALL_MARGIN_S)
        started = time.monotonic()
        with self._lock:
            self._check_usable()
            if language == "python":
                result = self._code.run_python(code, seconds, deadline)
            else:
                result = self._code.run_once(code, language, seconds, deadline)
        result.duration_ms = (time.monotonic() - started) * 1000
        return result

    def _adopt_context(self, deadline: float) -> None:
        """Take over the interpreter context of a running sandbox found by labels."""
        self._code.adopt_context(deadline)

    # -- shell ------------------------------------------------------------------------

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command; see :meth:`Sandbox.exec`.

        Daytona merges the command's stderr into its stdout: ``stderr`` is empty.
        """
        seconds = self._code_timeout(check_command_args(command, cwd, env, timeout))
        deadline = deadline_in(seconds + CALL_MARGIN_S)
        started = time.monotonic()
        envs = {str(k): str(v) for k, v in (env or {}).items()} or None
        with self._lock:
            self._check_usable()
            where = self._resolve(cwd) if cwd else None

            def on_error(error: SandboxError, info: ErrorInfo) -> CommandResult:
                return self._exec_failed(error, info, cwd, seconds, started)

            run = self._call(
                lambda _timeout: self._sdk.process.exec(
                    command, cwd=where, env=envs, timeout=sdk_timeout(seconds)
                ),
                what="run a command",
                deadline=deadline,
                idempotent=False,
                on_error=on_error,
            )
        if isinstance(run, CommandResult):
            return run
        response: ExecuteResponse = run
        stdout, cut, saved = self._outputs.cut_stdout(
            response.result or "", self._backend.output_bytes
        )
        return CommandResult(
            exit_code=int(response.exit_code if response.exit_code is not None else -1),
            stdout=stdout,
            duration_ms=(time.monotonic() - started) * 1000,
            stdout_truncated_bytes=cut,
            saved_outputs=saved,
        )

    def _exec_failed(
        self, error: SandboxError, info: ErrorInfo, cwd: str | None, seconds: float, started: float
    ) -> CommandResult:
        """Error policy of ``exec``: the server's timeout is a result, not an error.

        It gets exit code 124, as ``timeout(1)`` gives; a missing ``cwd`` is the local
        backend's file error.
        """
        if info.status == 408 or (info.timeout and info.status is None and not info.abandoned):
            return CommandResult(
                exit_code=124,
                stderr=f"[sandbox] the command timed out after {seconds:g} s; killed",
                timed_out=True,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        if info.from_daemon and (info.not_found or info.status == 400) and cwd:
            raise SandboxFileNotFoundError(
                f"cannot run the command in {cwd!r}: {info.message}", cwd
            ) from error
        raise error

    # -- files ------------------------------------------------------------------------

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file; see :meth:`Sandbox.read_file`."""
        return _files.read_file(self, path, max_bytes)

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file, creating parent folders; see :meth:`Sandbox.write_file`."""
        _files.write_file(self, path, content)

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        return _files.list_files(self, path, depth)

    # -- lifecycle ----------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh interpreter context, empty working folder, no thread label.

        The next ``run_code`` creates a new context. Processes started in the
        background by ``exec`` keep running.
        """
        deadline = deadline_in(self._backend.create_timeout)
        with self._lock:
            self._check_usable()
            if self._code.context is not None:
                context = self._code.context
                self._code.forget_context(lost=False)
                with contextlib.suppress(SandboxTimeoutError):
                    self._call(
                        lambda timeout: self._sdk.code_interpreter.delete_context(
                            context, request_timeout=timeout
                        ),
                        what="delete the interpreter context",
                        deadline=deadline,
                        idempotent=True,
                        on_error=ignore_not_found,
                    )
            workdir = self.workdir
            script = (
                f"find {shlex.quote(workdir)} -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + ; "
                f"rm -rf {shlex.quote(python.CHART_DIR)}"
            )
            self._call(
                lambda timeout: self._sdk.process.exec(script, timeout=timeout),
                what="empty the working folder",
                deadline=deadline,
                idempotent=True,
            )
            if KEY_LABEL in self.labels:
                labels = {k: v for k, v in self.labels.items() if k != KEY_LABEL}
                self._call(
                    lambda timeout: self._sdk.set_labels(labels, request_timeout=timeout),
                    what="update the sandbox's labels",
                    deadline=deadline,
                    idempotent=True,
                )
                self.labels = labels
            self._code.state_lost_pending = False

    def close(self) -> None:
        """Delete the sandbox in Daytona. Idempotent; a sandbox already gone is fine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._code.forget_context(lost=False)
        self._backend._call(
            lambda timeout: self._sdk.delete(timeout=timeout),
            what="delete the sandbox",
            deadline=deadline_in(self._backend.create_timeout),
            idempotent=True,
            on_error=ignore_not_found,
        )

    def is_alive(self) -> bool:
        """True while the sandbox exists in Daytona (a stopped one restarts on use).

        Answers from memory when the sandbox answered a call in the last few
        seconds; otherwise asks the control plane.
        """
        if self._closed or self._lost:
            return False
        if time.monotonic() - self._last_ok < ALIVE_CACHE_S:
            return True
        if not self._refresh(deadline_in(self._backend.file_timeout)):
            return False
        if _state_of(self._sdk) in _GONE_STATES:
            self._mark_lost()
            return False
        self._last_ok = time.monotonic()
        return True


def _may_be_stopped(info: ErrorInfo, idempotent: bool) -> bool:
    """True for a failure worth one control-plane look (the sandbox may be stopped).

    Not the sandbox's own answer, not a timeout, and not a transient failure that the
    retries already had their turns at.
    """
    retried = info.retryable and info.safe_to_resend(idempotent)
    return not (info.from_daemon or info.timeout or retried)
