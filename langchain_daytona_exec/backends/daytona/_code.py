"""``run_code`` on Daytona: Python in an interpreter context, JavaScript/TypeScript once.

* Python: ``code_interpreter.run_code`` in one interpreter context per sandbox,
  created on first use; the wrapper of ``_python.py`` gives the last expression,
  tracebacks from the user's frames and charts. One websocket exchange per call,
  plus one bulk download when the run record was too big to print.
* JavaScript, TypeScript: the toolbox ``code-run`` endpoint, once (no state).

A code timeout is a result (``timed_out=True``), not an error; a context that
vanished before the code ran is replaced and the code sent once more; a websocket
that broke while the code ran means the interpreter died (``SandboxLostError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_daytona_exec.backends._cell_record import MalformedRecordError, parse_cell_record
from langchain_daytona_exec.backends.daytona import _python as python
from langchain_daytona_exec.backends.daytona._errors import ErrorInfo
from langchain_daytona_exec.backends.daytona._output import cut
from langchain_daytona_exec.backends.daytona._retry import sdk_timeout
from langchain_daytona_exec.errors import (
    SandboxError,
    SandboxLostError,
    SandboxTimeoutError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.types import ExecutionError, ExecutionResult, SavedOutput

if TYPE_CHECKING:
    from daytona import ExecutionResult as SdkRun
    from daytona_toolbox_api_client import CodeRunResponse, InterpreterContext

    from langchain_daytona_exec.backends.daytona._sandbox import DaytonaSandbox

__all__ = ["CodeRunner"]

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


class CodeRunner:
    """Runs code in one Daytona sandbox and owns its interpreter context.

    Called with the sandbox's lock held. Every SDK call goes through the sandbox's
    boundary (``DaytonaSandbox._call``), which revives a stopped sandbox.

    Args:
        sandbox: The sandbox the code runs in.
        state_lost: Report ``state_lost`` on the next Python run (a sandbox found
            stopped and started again).

    Attributes:
        context: The interpreter context of Python runs, or ``None`` (made on first use).
        state_lost_pending: The next Python run (or timeout) reports ``state_lost``.

    """

    def __init__(self, sandbox: DaytonaSandbox, *, state_lost: bool) -> None:
        self._sb = sandbox
        self.context: InterpreterContext | None = None
        # the interpreter context known to hold the cell runner (see python.build_call)
        self._runner_context: str | None = None
        self.state_lost_pending = state_lost

    def forget_context(self, *, lost: bool) -> None:
        """Drop the context (a fresh one is made on next use); ``lost``: report it."""
        self.context = None
        if lost:
            self.state_lost_pending = True

    # -- the interpreter context ------------------------------------------------------

    def ensure_context(self, deadline: float) -> InterpreterContext:
        """The interpreter context, created when there is none."""
        if self.context is None:
            sdk = self._sb.sdk
            self.context = self._sb._call(
                lambda timeout: sdk.code_interpreter.create_context(request_timeout=timeout),
                what="create an interpreter context",
                deadline=deadline,
                idempotent=False,
            )
        return self.context

    def contexts(self, deadline: float) -> list[InterpreterContext]:
        """The sandbox's interpreter contexts."""
        sdk = self._sb.sdk
        return self._sb._call(
            lambda timeout: sdk.code_interpreter.list_contexts(request_timeout=timeout),
            what="list interpreter contexts",
            deadline=deadline,
            idempotent=True,
        )

    def adopt_context(self, deadline: float) -> None:
        """Take over the interpreter context of a running sandbox found by labels.

        Our sandboxes have one context; reusing it keeps the conversation's
        variables when another process (or a restarted one) picks the sandbox up.
        """
        contexts = self.contexts(deadline)
        if contexts:
            self.context = contexts[0]

    def _context_alive(self, deadline: float) -> bool:
        """True when our interpreter context still exists (after a timeout or a drop)."""
        if self.context is None:
            return False
        try:
            contexts = self.contexts(deadline)
        except (SandboxLostError, SandboxTimeoutError):
            raise
        except SandboxError:
            return False
        return any(c.id == self.context.id for c in contexts)

    # -- Python -----------------------------------------------------------------------

    def run_python(self, code: str, seconds: float, deadline: float) -> ExecutionResult:
        """Run Python in the interpreter context; ``seconds``: the code's own timeout."""
        out: list[str] = []
        err: list[str] = []
        ship = self.context is None or self.context.id != self._runner_context
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
        if parsed.complete and self.context is not None:
            self._runner_context = self.context.id
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
        outputs = self._sb._outputs
        budget = self._sb._backend.output_bytes
        call = outputs.next_call()
        stdout, out_cut = outputs.cut(parsed.stdout, budget, "stdout", saved, call)
        stderr, err_cut = outputs.cut(stderr, budget, "stderr", saved, call)
        state_lost, self.state_lost_pending = self.state_lost_pending, False
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
        context = self.ensure_context(deadline)
        out.clear()
        err.clear()
        sdk = self._sb.sdk

        def send(_timeout: int) -> SdkRun:
            # the code's own timeout, not the call's: the server ends the run
            return sdk.code_interpreter.run_code(
                wrapped,
                context=context,
                on_stdout=lambda m: out.append(m.output),
                on_stderr=lambda m: err.append(m.output),
                timeout=sdk_timeout(seconds),
            )

        def on_error(error: SandboxError, info: ErrorInfo) -> SdkRun | ExecutionResult:
            if again and _CONTEXT_GONE_TEXT in info.message:  # it did not run: send again
                self.forget_context(lost=True)
                return self._send_python(wrapped, nonce, out, err, seconds, deadline, again=False)
            return self._python_failed(error, info, out, err, nonce, deadline)

        return self._sb._call(
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
            self.context = None
            return self._timed_out(out, err, nonce, state_lost=True)
        if info.timeout and info.status is None and _CODE_TIMEOUT_TEXT in info.message:
            lost = not self._context_alive(deadline)
            if lost:
                self.context = None
            return self._timed_out(out, err, nonce, state_lost=lost)
        if info.connection and info.status is None and not info.not_sent:
            # the websocket broke while the code ran: the interpreter died
            self.forget_context(lost=True)
            raise SandboxLostError(
                f"the sandbox's interpreter died while running the code ({info.message}); "
                "its variables and imports are gone, files were kept. Re-run your setup code."
            ) from error
        raise error

    def _timed_out(
        self, out: list[str], err: list[str], nonce: str, *, state_lost: bool
    ) -> ExecutionResult:
        budget = self._sb._backend.output_bytes
        text = "".join(out)
        stdout, out_cut = cut(python.parse_output(text, nonce).stdout if nonce else text, budget)
        stderr, err_cut = cut("".join(err), budget)
        pending, self.state_lost_pending = self.state_lost_pending, False
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

        sdk = self._sb.sdk
        responses = self._sb._call(
            lambda timeout: sdk.fs.download_files(
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

    # -- JavaScript, TypeScript ---------------------------------------------------------

    def run_once(
        self, code: str, language: str, seconds: float, deadline: float
    ) -> ExecutionResult:
        """JavaScript or TypeScript through the toolbox ``code-run`` endpoint.

        ``Process.code_run`` of SDK 0.226 always sends the language the sandbox was
        *created* with (its ``code-toolbox-language`` label), so a Python sandbox could
        never run JavaScript through it; we call the same endpoint through the SDK's
        generated ``ProcessApi`` with the language of this call.
        """
        from daytona_toolbox_api_client import CodeRunRequest

        api = self._sb.sdk.process._api_client
        request = CodeRunRequest(code=code, language=language, timeout=sdk_timeout(seconds))

        def on_error(error: SandboxError, info: ErrorInfo) -> ExecutionResult:
            if info.status == 408 or (info.timeout and info.from_daemon):
                return self._timed_out([], [], "", state_lost=False)
            if info.status == 400 and "runtime" in info.message.lower():
                raise UnsupportedLanguageError(info.message) from error
            raise error

        run = self._sb._call(
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
        stdout, cut_bytes, saved = self._sb._outputs.cut_stdout(
            output, self._sb._backend.output_bytes
        )
        return ExecutionResult(
            stdout=stdout,
            error=python.node_error(output, exit_code) if exit_code != 0 else None,
            stdout_truncated_bytes=cut_bytes,
            saved_outputs=saved,
        )
