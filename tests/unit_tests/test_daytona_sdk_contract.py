"""What DaytonaBackend relies on in the installed ``daytona`` SDK, beyond its documented API.

Each test names the SDK detail and the place that uses it, so a new SDK release that
changes it fails here with that message (not deep inside an integration test). The
tested range of the SDK is in ``pyproject.toml`` (the ``daytona`` extra): 0.210.0,
0.214.0, 0.215.0, 0.216.0, 0.226.0 and 0.226.1 passed this file and the Daytona
integration tests against the emulator.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import typing
from typing import Any
from unittest import mock

import pytest
from packaging.version import Version

pytest.importorskip("daytona")

import daytona
import daytona_toolbox_api_client as toolbox

from langchain_daytona_exec.backends.daytona._errors import inspect_error

SDK = f"daytona {importlib.metadata.version('daytona')}"


def _changed(what: str, used_by: str) -> str:
    return (
        f"{SDK} changed {what}, which {used_by} relies on: adapt it, or keep the "
        "`daytona` extra's upper bound below this release"
    )


def test_process_keeps_the_generated_process_api_as_api_client() -> None:
    # CodeRunner.run_once calls sdk.process._api_client.code_run(...) because
    # Process.code_run always sends the language the sandbox was created with.
    try:  # the class behind Sandbox.process (not exported by the SDK)
        process_class = typing.get_type_hints(daytona.Sandbox.process.fget)["return"]
    except (AttributeError, KeyError, NameError) as exc:
        pytest.fail(f"{_changed('the Sandbox.process property', 'DaytonaSandbox')}: {exc!r}")
    api = toolbox.ProcessApi(toolbox.ApiClient())
    params = inspect.signature(process_class.__init__).parameters
    kwargs: dict[str, Any] = {}
    for name, param in list(params.items())[1:]:
        if param.default is not inspect.Parameter.empty:
            continue
        kwargs[name] = api if "ProcessApi" in str(param.annotation) else mock.MagicMock()
    process = process_class(**kwargs)
    assert getattr(process, "_api_client", None) is api, _changed(
        "Process._api_client (the ProcessApi)", "CodeRunner.run_once"
    )


def test_process_api_code_run_takes_a_request_and_a_request_timeout() -> None:
    params = inspect.signature(toolbox.ProcessApi.code_run).parameters
    assert {"request", "_request_timeout"} <= set(params), _changed(
        "ProcessApi.code_run(request=, _request_timeout=)", "CodeRunner.run_once"
    )
    request = toolbox.CodeRunRequest(code="1", language="javascript", timeout=5)
    assert (request.code, request.language, request.timeout) == ("1", "javascript", 5)
    fields = set(toolbox.CodeRunResponse.model_fields)
    assert {"result", "exit_code"} <= fields, _changed(
        "CodeRunResponse.result / .exit_code", "CodeRunner.run_once"
    )


@pytest.mark.parametrize(
    "name",
    [
        "CreateSandboxFromImageParams",
        "CreateSandboxFromSnapshotParams",
        "CreateSnapshotParams",
        "Daytona",
        "DaytonaConfig",
        "DaytonaError",
        "DaytonaNotFoundError",
        "DaytonaRateLimitError",
        "DaytonaTimeoutError",
        "ExecuteResponse",
        "ExecutionResult",
        "FileDownloadRequest",
        "Image",
        "ListSandboxesQuery",
        "Sandbox",
    ],
)
def test_the_sdk_names_we_import_exist(name: str) -> None:
    assert hasattr(daytona, name), _changed(f"daytona.{name}", "backends/daytona/")


def test_errors_carry_status_headers_code_and_source() -> None:
    # errors.inspect_error reads these duck-typed (getattr): a rename would not raise,
    # it would silently turn off Retry-After, 404 and daemon-timeout handling.
    exc = daytona.DaytonaRateLimitError(
        "slow down", status_code=429, headers={"Retry-After": "3"}, code="X", source="api"
    )
    info = inspect_error(exc)
    assert info.status == 429, _changed("DaytonaError.status_code", "errors.inspect_error")
    assert info.retry_after == 3, _changed(
        "DaytonaError.headers", "errors.inspect_error (Retry-After)"
    )
    assert (info.code, info.source) == ("X", "api"), _changed(
        "DaytonaError.code / .source", "errors.inspect_error"
    )


def test_a_create_timeout_names_the_sandbox_it_left_behind() -> None:
    # DaytonaBackend._delete_orphan deletes the sandbox a timed-out create leaves behind,
    # found through DaytonaTimeoutError.sandbox_id (new in 0.226.1). Older SDKs lack it:
    # that sandbox is then removed by its auto-delete interval or `daytona-exec gc`.
    if Version(importlib.metadata.version("daytona")) < Version("0.226.1"):
        pytest.skip(f"{SDK} has no DaytonaTimeoutError.sandbox_id (0.226.1 added it)")
    exc = daytona.DaytonaTimeoutError("too slow")
    assert hasattr(exc, "sandbox_id"), _changed(
        "DaytonaTimeoutError.sandbox_id", "DaytonaBackend._delete_orphan"
    )
