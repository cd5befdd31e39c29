"""Retry, backoff, deadlines and error mapping of the Daytona backend (no network)."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest
from daytona import (
    DaytonaConnectionError,
    DaytonaError,
    DaytonaNotFoundError,
    DaytonaRateLimitError,
)
from daytona.common.errors import DaytonaBadGatewayError, DaytonaServiceUnavailableError

from langchain_daytona_exec.backends.daytona import DaytonaBackend, RetryPolicy
from langchain_daytona_exec.backends.daytona._errors import (
    ErrorInfo,
    file_errors,
    ignore_not_found,
    info_of,
    inspect_error,
    parse_retry_after,
    to_sandbox_error,
)
from langchain_daytona_exec.backends.daytona._python import build_call, new_nonce, parse_output
from langchain_daytona_exec.backends.daytona._retry import call_with_retry, deadline_in
from langchain_daytona_exec.errors import (
    ProviderError,
    ProviderRateLimitError,
    SandboxError,
    SandboxFileNotFoundError,
    SandboxIsADirectoryError,
    SandboxTimeoutError,
)


class Flaky:
    def __init__(self, errors: list[Exception], value: Any = "ok") -> None:
        self.errors = errors
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def run(fn: Flaky, *, idempotent: bool, sleeps: list[float], attempts: int = 5) -> Any:
    return call_with_retry(
        fn,
        what="test",
        deadline=deadline_in(30),
        idempotent=idempotent,
        policy=RetryPolicy(attempts=attempts, base_s=0.1, max_s=1.0, jitter=0.5),
        sleep=sleeps.append,
        rng=random.Random(1),
    )


def rate_limited(retry_after: str | None = None) -> DaytonaRateLimitError:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return DaytonaRateLimitError("slow down", status_code=429, headers=headers)


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=8.0, jitter=0.5)
    rng = random.Random(0)
    for retry, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        for _ in range(50):
            wait = policy.backoff(retry, rng=rng)
            assert base * 0.5 <= wait <= base


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    assert run(Flaky([rate_limited("2.5")]), idempotent=False, sleeps=sleeps) == "ok"
    assert sleeps == [2.5]


def test_retry_after_http_date_and_garbage() -> None:
    now = time.time()
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert 28 <= (parse_retry_after(stamp, now=now) or 0) <= 31
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("100000") == 300.0  # capped


def test_503_and_429_are_resent_even_when_not_idempotent() -> None:
    sleeps: list[float] = []
    fn = Flaky([DaytonaServiceUnavailableError("busy", status_code=503), rate_limited()])
    assert run(fn, idempotent=False, sleeps=sleeps) == "ok" and fn.calls == 3


def test_502_is_resent_only_when_idempotent() -> None:
    sleeps: list[float] = []
    fn = Flaky([DaytonaBadGatewayError("bad gateway", status_code=502)])
    with pytest.raises(ProviderError) as raised:
        run(fn, idempotent=False, sleeps=sleeps)
    assert raised.value.status == 502 and info_of(raised.value).status == 502
    assert fn.calls == 1 and sleeps == []
    fn = Flaky([DaytonaBadGatewayError("bad gateway", status_code=502)])
    assert run(fn, idempotent=True, sleeps=sleeps) == "ok" and fn.calls == 2


def test_connection_errors_resent_only_when_not_sent_or_idempotent() -> None:
    refused = DaytonaConnectionError("down")
    refused.__cause__ = httpx.ConnectError("refused")
    dropped = DaytonaConnectionError("reset mid-response")
    dropped.__cause__ = httpx.ReadError("reset")
    sleeps: list[float] = []
    assert run(Flaky([refused]), idempotent=False, sleeps=sleeps) == "ok"
    with pytest.raises(ProviderError, match="reach Daytona") as raised:
        run(Flaky([dropped]), idempotent=False, sleeps=sleeps)
    assert raised.value.__cause__ is dropped and info_of(raised.value).connection
    assert run(Flaky([dropped]), idempotent=True, sleeps=sleeps) == "ok"


def test_non_transient_errors_are_not_retried_and_carry_their_facts() -> None:
    gone = DaytonaNotFoundError("gone", status_code=404)
    fn = Flaky([gone])
    with pytest.raises(ProviderError) as raised:
        run(fn, idempotent=True, sleeps=[])
    assert fn.calls == 1
    assert raised.value.__cause__ is gone and raised.value.status == 404
    info = info_of(raised.value)
    assert info.status == 404 and info.not_found and info.message == "gone"


def test_only_sandbox_errors_leave_call_with_retry() -> None:
    failures: list[Exception] = [
        DaytonaError("odd"),
        ValueError("a bug in the SDK"),
        DaytonaConnectionError("down"),
        DaytonaRateLimitError("slow down", status_code=429),
    ]
    for failure in failures:
        with pytest.raises(SandboxError) as raised:
            run(Flaky([failure] * 6), idempotent=True, sleeps=[], attempts=2)
        assert raised.value.__cause__ is failure
        assert isinstance(raised.value.provider_info, ErrorInfo)


def test_a_timeout_of_ours_is_marked_abandoned() -> None:
    with pytest.raises(SandboxTimeoutError) as raised:
        call_with_retry(
            lambda: time.sleep(1),
            what="hang",
            deadline=deadline_in(0.05),
            idempotent=True,
            policy=RetryPolicy(),
        )
    info = info_of(raised.value)
    assert info.abandoned and info.timeout


def test_error_policies() -> None:
    def mapped(exc: Exception) -> SandboxError:
        return to_sandbox_error(exc, "test")

    missing = mapped(DaytonaNotFoundError("no such file", status_code=404))
    assert ignore_not_found(missing, info_of(missing)) is None
    boom = mapped(DaytonaError("boom", status_code=500))
    with pytest.raises(ProviderError):
        ignore_not_found(boom, info_of(boom))
    read = file_errors("a.txt", "read")
    with pytest.raises(SandboxFileNotFoundError) as not_found:
        read(missing, info_of(missing))
    assert not_found.value.path == "a.txt" and not_found.value.__cause__ is missing
    folder = mapped(DaytonaError("is a directory", status_code=400, source="DAYTONA_DAEMON"))
    with pytest.raises(SandboxIsADirectoryError):
        read(folder, info_of(folder))
    busy = mapped(DaytonaRateLimitError("file size limit exceeds quota", status_code=429))
    with pytest.raises(ProviderRateLimitError):  # not a file error, whatever its words
        read(busy, info_of(busy))


def test_exhausted_rate_limit_maps_to_provider_rate_limit_error() -> None:
    fn = Flaky([rate_limited("0.01") for _ in range(3)])
    with pytest.raises(ProviderRateLimitError) as info:
        run(fn, idempotent=True, sleeps=[], attempts=3)
    assert info.value.status == 429 and fn.calls == 3


def test_a_backoff_past_the_deadline_gives_up() -> None:
    fn = Flaky([rate_limited("60")])
    with pytest.raises(ProviderRateLimitError):
        call_with_retry(
            fn,
            what="test",
            deadline=deadline_in(1.0),
            idempotent=True,
            policy=RetryPolicy(),
            sleep=lambda s: None,
        )
    assert fn.calls == 1


def test_a_hung_call_is_bounded_by_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxTimeoutError):
        call_with_retry(
            lambda: time.sleep(5),
            what="hang",
            deadline=deadline_in(0.2),
            idempotent=True,
            policy=RetryPolicy(),
        )
    assert time.monotonic() - started < 2


def test_status_hidden_in_the_cause_chain_is_found() -> None:
    request = httpx.Request("POST", "http://x/files/bulk-download")
    response = httpx.Response(503, headers={"Retry-After": "1"}, request=request)
    wrapped = DaytonaError("Failed to download files: Server error")
    wrapped.__cause__ = httpx.HTTPStatusError("503", request=request, response=response)
    info = inspect_error(wrapped)
    assert info.status == 503 and info.retry_after == 1.0 and info.retryable


def test_error_mapping() -> None:
    assert isinstance(to_sandbox_error(rate_limited(), "x"), ProviderRateLimitError)
    auth = to_sandbox_error(DaytonaError("no", status_code=401), "create a sandbox")
    assert isinstance(auth, ProviderError) and auth.status == 401 and "DAYTONA_API_KEY" in str(auth)
    server = to_sandbox_error(DaytonaError("boom", status_code=500), "x")
    assert type(server) is ProviderError and server.status == 500
    timeout = DaytonaConnectionError("read timed out")
    timeout.__cause__ = httpx.ReadTimeout("slow")
    assert isinstance(to_sandbox_error(timeout, "x"), SandboxTimeoutError)


def test_the_python_wrapper_record_round_trips() -> None:
    import contextlib
    import io

    ns: dict[str, Any] = {}
    outputs = []
    for code in ("print('hi')\nx = 2\nx * 21", "1/0"):
        nonce = new_nonce()
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(build_call(code, nonce), "<t>", "exec"), ns)
        outputs.append(parse_output(buf.getvalue(), nonce))
    ok, failed = outputs
    assert ok.complete and ok.stdout == "hi\n" and ok.record is not None
    assert ok.record["result"] == "42"
    error = failed.record["error"] if failed.record else None
    assert error is not None and error["name"] == "ZeroDivisionError"
    assert "<cell-2>" in error["traceback"] and "__ldx" not in error["traceback"]


def test_backend_constructor_is_lazy_and_keyword_only() -> None:
    backend = DaytonaBackend(api_key="k", api_url="http://127.0.0.1:9/api")
    assert backend._client is None
    params = backend.create_params({"x": "y"})
    assert params.network_block_all is True
    assert params.auto_stop_interval == 15 and params.auto_delete_interval == 45
    assert params.labels["x"] == "y" and params.labels["langchain-daytona-exec.managed"] == "true"
    with pytest.raises(TypeError):
        DaytonaBackend("k")  # type: ignore[misc]
    open_net = DaytonaBackend(network=True, network_allow_list="10.0.0.0/8")
    assert open_net.create_params().network_block_all is False
