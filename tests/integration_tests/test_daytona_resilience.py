"""Faults and recovery: rate limits, 5xx, dropped and stopped sandboxes."""

from __future__ import annotations

import time

import pytest

from langchain_daytona_exec import DaytonaBackend, SandboxPool
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.errors import (
    ProviderError,
    ProviderRateLimitError,
    SandboxLostError,
)
from tests.integration_tests.daytona_support import (
    FAST_RETRY,
    backend,
    clean_emu,
    emu,
    make_backend,
)

__all__ = ["backend", "clean_emu", "emu"]


def test_429_with_retry_after_is_retried(clean_emu: Emulator, backend: DaytonaBackend) -> None:
    clean_emu.inject(429, count=1, retry_after=1, path="/api/sandbox", method="POST")
    started = time.monotonic()
    sandbox = backend.create()
    try:
        assert time.monotonic() - started >= 1.0  # waited as long as Retry-After said
        assert clean_emu.stats()["injected"] == {"429": 1}
        clean_emu.inject(429, count=1, retry_after=0, path="/files/bulk-download")
        sandbox.write_file("f.txt", "x")
        assert sandbox.read_file("f.txt") == b"x"
    finally:
        sandbox.close()


def test_503_is_retried_even_for_exec(clean_emu: Emulator, backend: DaytonaBackend) -> None:
    with backend.create() as sandbox:
        clean_emu.inject(503, count=2, path="/process/execute")
        assert sandbox.exec("echo once >> log.txt").ok
        assert sandbox.read_file("log.txt") == b"once\n"  # ran exactly once
        assert clean_emu.stats()["injected"] == {"503": 2}


def test_502_on_exec_is_not_resent(clean_emu: Emulator, backend: DaytonaBackend) -> None:
    with backend.create() as sandbox:
        clean_emu.inject(502, count=1, path="/process/execute")
        with pytest.raises(ProviderError) as info:
            sandbox.exec("echo twice >> log.txt")
        assert info.value.status == 502
        # an idempotent call is retried through the same fault
        clean_emu.inject(502, count=1, path="/files/bulk-upload")
        sandbox.write_file("ok.txt", "ok")
        assert sandbox.read_file("ok.txt") == b"ok"


def test_endless_429_becomes_a_rate_limit_error(clean_emu: Emulator) -> None:
    stubborn = make_backend(clean_emu, create_timeout=5.0)
    clean_emu.inject(429, count=None, retry_after=0, path="/api/sandbox", method="POST")
    with pytest.raises(ProviderRateLimitError) as info:
        stubborn.create()
    assert info.value.status == 429
    assert clean_emu.stats()["injected"]["429"] == FAST_RETRY.attempts


def test_twenty_percent_faults_are_absorbed(clean_emu: Emulator, backend: DaytonaBackend) -> None:
    with backend.create() as sandbox:
        clean_emu.reset_stats()
        clean_emu.inject(429, count=None, rate=0.2, retry_after=0)
        for i in range(15):
            sandbox.write_file(f"f{i}.txt", str(i))
            assert sandbox.read_file(f"f{i}.txt") == str(i).encode()
            assert sandbox.exec(f"cat f{i}.txt").stdout == str(i)
        assert len(sandbox.list_files(".")) == 15
        clean_emu.clear_faults()
        assert int(clean_emu.stats()["injected"].get("429", 0)) > 0


def test_stopped_sandbox_is_started_and_reports_state_lost(
    clean_emu: Emulator, backend: DaytonaBackend
) -> None:
    with backend.create() as sandbox:
        sandbox.run_code("x = 1")
        sandbox.write_file("kept.txt", "files survive a stop")
        clean_emu.stop_sandbox(sandbox.id)  # Daytona's auto-stop, behind our back
        result = sandbox.run_code("'x' in globals()")
        assert result.result == "False" and result.state_lost
        assert not sandbox.run_code("1").state_lost  # reported once
        assert sandbox.read_file("kept.txt") == b"files survive a stop"


def test_dropped_sandbox_raises_lost_and_the_pool_replaces_it(
    clean_emu: Emulator, backend: DaytonaBackend
) -> None:
    with SandboxPool(backend, handle_sigterm=False) as pool:
        with pool.session("thread-drop") as sb:
            sb.run_code("x = 1")
            first = sb.id
        clean_emu.drop(first)
        with pool.session("thread-drop") as sb, pytest.raises(SandboxLostError):
            sb.run_code("x")
        with pool.session("thread-drop") as sb:
            assert sb.id != first
            assert not sb.state_lost  # the caller already saw the SandboxLostError
            assert sb.run_code("'x' in globals()").result == "False"
    assert clean_emu.sandbox_ids() == []


def test_sandbox_dropped_while_idle_is_replaced_with_state_lost(
    clean_emu: Emulator, backend: DaytonaBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_daytona_exec.backends.daytona import _sandbox as sandbox

    monkeypatch.setattr(sandbox, "ALIVE_CACHE_S", 0.0)  # ask the control plane at each lease
    with SandboxPool(backend, handle_sigterm=False) as pool:
        with pool.session("thread-idle") as sb:
            sb.run_code("x = 1")
            first = sb.id
        clean_emu.drop(first)
        with pool.session("thread-idle") as sb:
            assert sb.id != first and sb.state_lost and sb.lost_reason == "died"
        assert pool.stats().replaced == 1
    assert clean_emu.sandbox_ids() == []


def test_interpreter_crash_raises_lost_then_revives(backend: DaytonaBackend) -> None:
    with backend.create() as sandbox:
        sandbox.run_code("x = 1")
        with pytest.raises(SandboxLostError):
            sandbox.run_code("import os\nos._exit(1)")
        assert sandbox.is_alive()
        after = sandbox.run_code("'x' in globals()")
        assert after.result == "False" and after.state_lost


def test_unreachable_api_fails_fast_and_clearly() -> None:
    dead = DaytonaBackend(
        api_key="k", api_url="http://127.0.0.1:9/api", use_polling=True, retry=FAST_RETRY
    )
    with pytest.raises(ProviderError, match="reach Daytona"):
        dead.create()
