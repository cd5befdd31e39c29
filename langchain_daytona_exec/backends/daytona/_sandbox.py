"""``DaytonaSandbox``: the ``Sandbox`` interface over one Daytona sandbox (real SDK).

Mapping of the interface onto Daytona 0.226:

* ``run_code`` (Python): ``code_interpreter.run_code`` in one interpreter context
  per sandbox, created on first use; the wrapper of ``_python.py`` gives the last
  expression, tracebacks from the user's frames and charts. One websocket exchange
  per call, plus one bulk download when the code left figures open.
* ``run_code`` (JavaScript, TypeScript): the toolbox ``code-run`` endpoint, once.
* ``exec``: ``process.exec``. It is one request, runs each command afresh with the
  given ``cwd``/``env`` (the local backend's contract) and has a server-side
  timeout. Its price: Daytona merges stderr into stdout, so ``CommandResult.stderr``
  is empty. Sessions would separate the streams, but cost a create, an execute and
  a delete per call (or carry shell state from one call to the next) and have no
  per-command timeout.
* files: ``fs.upload_file``, ``fs.download_files``, ``fs.list_files``.
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
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_daytona_exec.backends._cell_record import MalformedRecordError, parse_cell_record
from langchain_daytona_exec.backends.daytona import _python as python
from langchain_daytona_exec.backends.daytona._config import (
    ALIVE_CACHE_S,
    CALL_MARGIN_S,
    KEY_LABEL,
)
from langchain_daytona_exec.backends.daytona._errors import (
    SOURCE_DAEMON,
    ErrorInfo,
    ErrorPolicy,
    file_error,
    file_errors,
    ignore_not_found,
    info_of,
)
from langchain_daytona_exec.backends.daytona._retry import deadline_in, sdk_timeout
from langchain_daytona_exec.errors import (
    SandboxClosedError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxLostError,
    SandboxTimeoutError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.sandbox import (
    Sandbox,
    check_command_args,
    check_content,
    check_path,
    check_run_args,
)
from langchain_daytona_exec.types import (
    CommandResult,
    ExecutionError,
    ExecutionResult,
    FileInfo,
    SavedOutput,
)

if TYPE_CHECKING:
    from daytona import ExecuteResponse
    from daytona import ExecutionResult as SdkRun
    from daytona import Sandbox as SdkSandbox
    from daytona_toolbox_api_client import CodeRunResponse, InterpreterContext
    from daytona_toolbox_api_client import FileInfo as SdkFileInfo

    from langchain_daytona_exec.backends.daytona._backend import DaytonaBackend

__all__ = ["DaytonaSandbox"]

T = TypeVar("T")
R = TypeVar("R")

LANGUAGES = ("python", "javascript", "typescript")

_GONE_STATES = frozenset({"destroyed", "destroying", "error", "build_failed"})
"""Sandbox states from which no call will ever succeed again."""

_STOPPED_STATES = frozenset({"stopped", "stopping", "archived", "archiving", "paused"})
"""States a sandbox leaves when started again: files kept, interpreter state gone."""

_CODE_TIMEOUT_TEXT = "Execution timed out"
"""How the SDK words the interpreter websocket's close code 4008 (the code hit its
timeout) in the ``DaytonaTimeoutError`` it raises; a 504 from a gateway is a
``DaytonaTimeoutError`` too, but with a status code."""

_CONTEXT_GONE_TEXT = "context not found"
"""The close reason of an interpreter websocket whose context no longer exists (the
code did not run, so it is safe to create a context and send it again)."""

_CODE_RUN_HTTP_MARGIN_S = 5
"""Seconds the ``code-run`` request may take beyond the code's own timeout (its
server-side timeout ends the code; the reply still has to arrive)."""


def _state_of(sdk: SdkSandbox) -> str:
    state = getattr(sdk, "state", None)
    return str(getattr(state, "value", state) or "unknown")


SAVED_OUTPUT_DIR = "/tmp/ldx-outputs"
"""Where a stream cut to the output budget is saved whole, inside the sandbox (the
local kernel uses the same folder)."""

SAVED_OUTPUT_BYTES = 16 * 1024 * 1024
"""The most bytes of one cut stream saved in the sandbox (the host already holds the
whole stream: Daytona sends all of it)."""

SAVED_OUTPUT_SLOTS = 2
"""Saved files are reused in turn by this many calls, so they take at most
2 streams x this x :data:`SAVED_OUTPUT_BYTES` of the sandbox's disk."""


def _cut(text: str, budget: int, where: str = "") -> tuple[str, int]:
    """Head and tail of ``text`` within ``budget`` UTF-8 bytes, and the bytes cut.

    ``where``: what the cut notice adds about a saved copy (``"; ..."``).
    """
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= budget:
        return text, 0
    head, tail = budget // 2, budget - budget // 2
    dropped = len(data) - head - tail
    note = f"\n... [{dropped} bytes of output cut{where}] ...\n"
    return (
        data[:head].decode("utf-8", "replace") + note + data[-tail:].decode("utf-8", "replace"),
        dropped,
    )


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
        self._saved_calls = 0
        self._context: InterpreterContext | None = None
        # the interpreter context known to hold the cell runner (see python.build_call)
        self._runner_context: str | None = None
        self._workdir: str | None = None
        self._closed = False
        self._lost = False
        self._state_lost_pending = state_lost
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
        self._context = None
        self._state_lost_pending = True
        self._last_ok = time.monotonic()

    def _mark_lost(self) -> None:
        self._lost = True
        self._context = None

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
        if language not in LANGUAGES:
            raise UnsupportedLanguageError(
                f"unsupported language {language!r}: use one of {', '.join(LANGUAGES)}"
            )
        seconds = self._code_timeout(timeout)
        deadline = deadline_in(seconds + CALL_MARGIN_S)
        started = time.monotonic()
        with self._lock:
            self._check_usable()
            if language == "python":
                result = self._run_python(code, seconds, deadline)
            else:
                result = self._run_once(code, language, seconds, deadline)
        result.duration_ms = (time.monotonic() - started) * 1000
        return result

    def _ensure_context(self, deadline: float) -> InterpreterContext:
        if self._context is None:
            self._context = self._call(
                lambda timeout: self._sdk.code_interpreter.create_context(request_timeout=timeout),
                what="create an interpreter context",
                deadline=deadline,
                idempotent=False,
            )
        return self._context

    def _contexts(self, deadline: float) -> list[InterpreterContext]:
        return self._call(
            lambda timeout: self._sdk.code_interpreter.list_contexts(request_timeout=timeout),
            what="list interpreter contexts",
            deadline=deadline,
            idempotent=True,
        )

    def _adopt_context(self, deadline: float) -> None:
        """Take over the interpreter context of a running sandbox found by labels.

        Our sandboxes have one context; reusing it keeps the conversation's
        variables when another process (or a restarted one) picks the sandbox up.
        """
        contexts = self._contexts(deadline)
        if contexts:
            self._context = contexts[0]

    def _context_alive(self, deadline: float) -> bool:
        """True when our interpreter context still exists (after a timeout or a drop)."""
        if self._context is None:
            return False
        try:
            contexts = self._contexts(deadline)
        except (SandboxLostError, SandboxTimeoutError):
            raise
        except SandboxError:
            return False
        return any(c.id == self._context.id for c in contexts)

    def _run_python(self, code: str, seconds: float, deadline: float) -> ExecutionResult:
        out: list[str] = []
        err: list[str] = []
        ship = self._context is None or self._context.id != self._runner_context
        while True:
            nonce = python.new_nonce()
            wrapped = python.build_call(code, nonce, ship=ship)
            run = self._send_python(wrapped, nonce, out, err, seconds, deadline)
            if isinstance(run, ExecutionResult):
                return run
            response: SdkRun = run
            parsed = python.parse_output("".join(out) or response.stdout, nonce)
            if not parsed.missing_runner or ship:
                break
            ship = True  # the context lost the runner (nothing ran): send it this time
        if parsed.complete and self._context is not None:
            self._runner_context = self._context.id
        record = parsed.record
        if parsed.spill_path is not None:
            record = self._download_record(parsed.spill_path, deadline)
        try:
            parts = parse_cell_record(record or {})
        except MalformedRecordError as exc:
            raise SandboxError(f"the sandbox sent a malformed run record ({exc})") from exc
        stderr = "".join(err) or response.stderr
        error = parts.error
        if error is None and response.error is not None:  # an error outside the wrapper
            error = ExecutionError(
                response.error.name, response.error.value, response.error.traceback or ""
            )
        saved: list[SavedOutput] = []
        call = self._next_call()
        stdout, out_cut = self._cut_saved(parsed.stdout, "stdout", saved, call)
        stderr, err_cut = self._cut_saved(stderr, "stderr", saved, call)
        state_lost, self._state_lost_pending = self._state_lost_pending, False
        return ExecutionResult(
            stdout=stdout,
            stderr=stderr,
            result=parts.result,
            error=error,
            charts=parts.charts,
            outputs=parts.outputs,
            state_lost=state_lost,
            stdout_truncated_bytes=out_cut,
            stderr_truncated_bytes=err_cut,
            saved_outputs=saved,
        )

    def _cut_saved(
        self, text: str, stream: str, saved: list[SavedOutput], call: int
    ) -> tuple[str, int]:
        """Cut ``text`` to the output budget, first saving it whole in the sandbox.

        Only a stream over the budget is saved (one upload; none otherwise), up to
        :data:`SAVED_OUTPUT_BYTES`; the cut notice names the file and its bound.
        """
        budget = self._backend.output_bytes
        data = text.encode("utf-8", "surrogateescape")
        if len(data) <= budget:
            return text, 0
        path = f"{SAVED_OUTPUT_DIR}/daytona-{call % SAVED_OUTPUT_SLOTS}.{stream}.txt"
        part = data[:SAVED_OUTPUT_BYTES]
        try:
            self.write_file(path, part)
        except SandboxError as exc:
            return _cut(text, budget, f"; it could not be saved ({exc})")
        complete = len(part) == len(data)
        saved.append(SavedOutput(stream, path, len(part), complete))
        if complete:
            return _cut(text, budget, f"; the complete output is saved at {path}")
        return _cut(
            text,
            budget,
            f"; the first {len(part)} bytes are saved at {path} (the limit for saved "
            f"output is {SAVED_OUTPUT_BYTES} bytes)",
        )

    def _next_call(self) -> int:
        self._saved_calls += 1
        return self._saved_calls

    def _send_python(
        self,
        wrapped: str,
        nonce: str,
        out: list[str],
        err: list[str],
        seconds: float,
        deadline: float,
        *,
        again: bool = True,
    ) -> SdkRun | ExecutionResult:
        """Send the wrapped code over the interpreter websocket.

        A context that vanished before the code ran is replaced and the code sent once
        more (when ``again``).
        """
        context = self._ensure_context(deadline)
        out.clear()
        err.clear()

        def send(_timeout: int) -> SdkRun:
            # the code's own timeout, not the call's: the server ends the run
            return self._sdk.code_interpreter.run_code(
                wrapped,
                context=context,
                on_stdout=lambda m: out.append(m.output),
                on_stderr=lambda m: err.append(m.output),
                timeout=sdk_timeout(seconds),
            )

        def on_error(error: SandboxError, info: ErrorInfo) -> SdkRun | ExecutionResult:
            if again and _CONTEXT_GONE_TEXT in info.message:  # it did not run: send again
                self._context = None
                self._state_lost_pending = True
                return self._send_python(wrapped, nonce, out, err, seconds, deadline, again=False)
            return self._python_failed(error, info, out, err, nonce, deadline)

        return self._call(
            send, what="run code", deadline=deadline, idempotent=False, on_error=on_error
        )

    def _python_failed(
        self,
        error: SandboxError,
        info: ErrorInfo,
        out: list[str],
        err: list[str],
        nonce: str,
        deadline: float,
    ) -> ExecutionResult:
        """Error policy of Python runs: a code timeout is a result, not an error.

        A broken websocket means a lost interpreter; anything else stands.
        """
        if info.abandoned:
            # our deadline passed with the websocket still open: the server did not
            # end the run; give up on the context (its state is unknown)
            self._context = None
            return self._timed_out(out, err, nonce, state_lost=True)
        if info.timeout and info.status is None and _CODE_TIMEOUT_TEXT in info.message:
            lost = not self._context_alive(deadline)
            if lost:
                self._context = None
            return self._timed_out(out, err, nonce, state_lost=lost)
        if info.connection and info.status is None and not info.not_sent:
            # the websocket broke while the code ran: the interpreter died
            self._context = None
            self._state_lost_pending = True
            raise SandboxLostError(
                f"the sandbox's interpreter died while running the code ({info.message}); "
                "its variables and imports are gone, files were kept. Re-run your setup code."
            ) from error
        raise error

    def _timed_out(
        self, out: list[str], err: list[str], nonce: str, *, state_lost: bool
    ) -> ExecutionResult:
        budget = self._backend.output_bytes
        text = "".join(out)
        stdout, out_cut = _cut(python.parse_output(text, nonce).stdout if nonce else text, budget)
        stderr, err_cut = _cut("".join(err), budget)
        pending, self._state_lost_pending = self._state_lost_pending, False
        return ExecutionResult(
            stdout=stdout,
            stderr=stderr,
            timed_out=True,
            state_lost=state_lost or pending,
            stdout_truncated_bytes=out_cut,
            stderr_truncated_bytes=err_cut,
        )

    def _download_record(self, path: str, deadline: float) -> dict[str, Any] | None:
        """The run record the wrapper wrote to ``path`` because it was too big to print."""
        from daytona import FileDownloadRequest

        responses = self._call(
            lambda timeout: self._sdk.fs.download_files(
                [FileDownloadRequest(source=path)], timeout=timeout
            ),
            what="download the run record",
            deadline=deadline,
            idempotent=True,
        )
        for response in responses:
            # bytes, as no local destination was asked for (a str would be a local path)
            if response.source == path and isinstance(response.result, bytes):
                return python.parse_record(response.result)
        return None

    def _run_once(
        self, code: str, language: str, seconds: float, deadline: float
    ) -> ExecutionResult:
        """JavaScript or TypeScript through the toolbox ``code-run`` endpoint.

        ``Process.code_run`` of SDK 0.226 always sends the language the sandbox was
        *created* with (its ``code-toolbox-language`` label), so a Python sandbox could
        never run JavaScript through it; we call the same endpoint through the SDK's
        generated ``ProcessApi`` with the language of this call.
        """
        from daytona_toolbox_api_client import CodeRunRequest

        api = self._sdk.process._api_client
        request = CodeRunRequest(code=code, language=language, timeout=sdk_timeout(seconds))

        def on_error(error: SandboxError, info: ErrorInfo) -> ExecutionResult:
            if info.status == 408 or (info.timeout and info.from_daemon):
                return self._timed_out([], [], "", state_lost=False)
            if info.status == 400 and "runtime" in info.message.lower():
                raise UnsupportedLanguageError(info.message) from error
            raise error

        run = self._call(
            lambda _timeout: api.code_run(
                request=request,
                _request_timeout=float(sdk_timeout(seconds) + _CODE_RUN_HTTP_MARGIN_S),
            ),
            what=f"run {language}",
            deadline=deadline,
            idempotent=False,
            on_error=on_error,
        )
        if isinstance(run, ExecutionResult):
            return run
        response: CodeRunResponse = run
        output = response.result or ""
        exit_code = response.exit_code if response.exit_code is not None else 0
        saved: list[SavedOutput] = []
        stdout, cut = self._cut_saved(output, "stdout", saved, self._next_call())
        return ExecutionResult(
            stdout=stdout,
            error=python.node_error(output, exit_code) if exit_code != 0 else None,
            stdout_truncated_bytes=cut,
            saved_outputs=saved,
        )

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
        saved: list[SavedOutput] = []
        stdout, cut = self._cut_saved(response.result or "", "stdout", saved, self._next_call())
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
        from daytona import FileDownloadRequest

        check_path(path)
        limit = min(max_bytes or self._backend.max_file_bytes, self._backend.max_file_bytes)
        deadline = deadline_in(self._backend.file_timeout)
        with self._lock:
            self._check_usable()
            where = self._resolve(path)
            # Size first: downloading a 5 GB file to refuse it afterwards would cost
            # the host the memory and the network that the limit is there to save.
            stat = self._call(
                lambda timeout: self._sdk.fs.get_file_info(where, request_timeout=timeout),
                what=f"read {path}",
                deadline=deadline,
                idempotent=True,
                on_error=file_errors(path, "read"),
            )
            if stat.is_dir:
                raise SandboxIsADirectoryError(f"is a folder, not a file: {path}", path)
            size = int(stat.size or 0)
            if size > limit:
                raise SandboxFileTooLargeError(
                    f"{path} is {size} bytes, over the {limit}-byte limit", path
                )
            responses = self._call(
                lambda timeout: self._sdk.fs.download_files(
                    [FileDownloadRequest(source=where)], timeout=timeout
                ),
                what=f"read {path}",
                deadline=deadline,
                idempotent=True,
                on_error=file_errors(path, "read"),
            )
        response = responses[0]
        if response.error is not None:
            details = response.error_details
            failure = ErrorInfo(
                status=details.status_code if details else None,
                code=details.code if details else None,
                source=SOURCE_DAEMON,
                message=str(response.error),
            )
            raise file_error(failure, path, "read") or SandboxFileError(
                f"cannot read {path}: {response.error}", path
            )
        data = response.result
        data = data if isinstance(data, bytes) else str(data or "").encode()
        if len(data) > limit:
            raise SandboxFileTooLargeError(
                f"{path} is {len(data)} bytes, over the {limit}-byte limit", path
            )
        return data

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file, creating parent folders; see :meth:`Sandbox.write_file`."""
        check_path(path)
        data = check_content(content)
        if len(data) > self._backend.max_file_bytes:
            raise SandboxFileTooLargeError(
                f"{len(data)} bytes is over the {self._backend.max_file_bytes}-byte file limit "
                "(DaytonaBackend(max_file_bytes=...))",
                path,
            )
        deadline = deadline_in(self._backend.file_timeout)
        with self._lock:
            self._check_usable()
            where = self._resolve(path)
            self._call(
                lambda timeout: self._sdk.fs.upload_file(data, where, timeout=timeout),
                what=f"write {path}",
                deadline=deadline,
                idempotent=True,
                on_error=file_errors(path, "write"),
            )

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        check_path(path)
        depth = max(1, int(depth))
        deadline = deadline_in(self._backend.file_timeout)
        with self._lock:
            self._check_usable()
            where = self._resolve(path)
            entries: list[SdkFileInfo] = self._call(
                lambda timeout: self._sdk.fs.list_files(
                    where, depth=depth if depth > 1 else None, request_timeout=timeout
                ),
                what=f"list {path}",
                deadline=deadline,
                idempotent=True,
                on_error=file_errors(path, "list"),
            )
        return _file_infos(path, entries)

    # -- lifecycle ----------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh interpreter context, empty working folder, no thread label.

        The next ``run_code`` creates a new context. Processes started in the
        background by ``exec`` keep running.
        """
        deadline = deadline_in(self._backend.create_timeout)
        with self._lock:
            self._check_usable()
            if self._context is not None:
                context, self._context = self._context, None
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
            self._state_lost_pending = False

    def close(self) -> None:
        """Delete the sandbox in Daytona. Idempotent; a sandbox already gone is fine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._context = None
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


def _file_infos(requested: str, entries: list[SdkFileInfo]) -> list[FileInfo]:
    """Our ``FileInfo`` list from Daytona's, with paths relative to the listing when it was.

    Daytona returns absolute paths (``FileInfo.path``) and, in older daemons, only
    names. The listed folder is the common parent of the shallowest entries.
    """
    if not entries:
        return []
    absolute = [str(getattr(e, "path", None) or "") for e in entries]
    base = min((posixpath.dirname(p) for p in absolute), key=len) if all(absolute) else ""
    infos: list[FileInfo] = []
    for entry, full in zip(entries, absolute, strict=True):
        if base and requested.startswith("/"):
            shown = full
        elif base:
            rel = posixpath.relpath(full, base)
            shown = rel if requested in ("", ".") else posixpath.join(requested, rel)
        else:
            shown = entry.name if requested in ("", ".") else posixpath.join(requested, entry.name)
        mtime = 0.0
        stamp = getattr(entry, "modified_at", None)
        if stamp:
            with contextlib.suppress(ValueError):
                import datetime as _dt

                mtime = _dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        is_dir = bool(entry.is_dir)
        infos.append(
            FileInfo(
                name=str(entry.name),
                path=shown,
                is_dir=is_dir,
                size=0 if is_dir else int(entry.size or 0),
                mtime=mtime,
            )
        )
    return infos
