"""No SDK exception leaves DaytonaSandbox: every failure is one of our errors or a result.

A fake SDK sandbox fails every data-plane call with one exception; each public call
must then return a result (a timeout) or raise a ``SandboxError`` carrying the facts.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from daytona import (
    DaytonaConnectionError,
    DaytonaError,
    DaytonaNotFoundError,
    DaytonaTimeoutError,
)

from langchain_daytona_exec.backends.daytona import (
    KEY_LABEL,
    DaytonaBackend,
    DaytonaSandbox,
    RetryPolicy,
)
from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.types import CommandResult, ExecutionResult


def _dropped() -> DaytonaConnectionError:
    error = DaytonaConnectionError("connection reset")
    error.__cause__ = httpx.ReadError("reset")
    return error


FAILURES: dict[str, Callable[[], Exception]] = {
    "server error": lambda: DaytonaError("boom", status_code=500),
    "proxy 404": lambda: DaytonaNotFoundError("missing", status_code=404),
    "daemon 400": lambda: DaytonaError("no", status_code=400, source="DAYTONA_DAEMON"),
    "dropped connection": _dropped,
    "code timeout": lambda: DaytonaTimeoutError("Execution timed out"),
    "a bug in the SDK": lambda: ValueError("unexpected"),
}


class FailingSdk:
    """A running sandbox whose every data-plane call raises ``failure``."""

    def __init__(self, failure: Exception) -> None:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise failure

        self.id = "sb-fail"
        self.labels = {KEY_LABEL: "thread"}
        self.state = "started"
        self.fs = SimpleNamespace(
            upload_file=fail, get_file_info=fail, download_files=fail, list_files=fail
        )
        self.process = SimpleNamespace(exec=fail, _api_client=SimpleNamespace(code_run=fail))
        self.code_interpreter = SimpleNamespace(
            run_code=fail, create_context=fail, list_contexts=fail, delete_context=fail
        )
        self.set_labels = self.delete = fail

    def get_work_dir(self) -> str:
        return "/home/daytona"

    def refresh_data(self, request_timeout: float | None = None) -> None:
        """The control plane answers: the sandbox runs (so the error stands)."""


CALLS: dict[str, Callable[[DaytonaSandbox], object]] = {
    "run python (new context)": lambda sb: sb.run_code("1"),
    "run python": lambda sb: (setattr(sb, "_context", SimpleNamespace(id="c")), sb.run_code("1")),
    "run javascript": lambda sb: sb.run_code("1", language="javascript"),
    "exec": lambda sb: sb.exec("true", cwd="sub"),
    "read_file": lambda sb: sb.read_file("a.txt"),
    "write_file": lambda sb: sb.write_file("a.txt", "x"),
    "list_files": lambda sb: sb.list_files("."),
    "reset": lambda sb: sb.reset(),
    "close": lambda sb: sb.close(),
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("call", list(CALLS))
def test_only_our_errors_or_results_come_out(failure: str, call: str) -> None:
    backend = DaytonaBackend(
        api_key="k",
        api_url="http://127.0.0.1:9/api",
        client=object(),  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=1),
    )
    sandbox = DaytonaSandbox(backend, FailingSdk(FAILURES[failure]()))  # type: ignore[arg-type]
    try:
        outcome = CALLS[call](sandbox)
    except SandboxError as error:
        assert error.provider_info is not None or error.__cause__ is not None
        return
    results = (ExecutionResult, CommandResult, type(None), tuple)
    assert isinstance(outcome, results), outcome
