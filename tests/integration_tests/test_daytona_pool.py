"""SandboxPool on DaytonaBackend: sessions, cleanup, cross-process lookup, gc."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from langchain_daytona_exec import DaytonaBackend, SandboxPool
from langchain_daytona_exec.backends.daytona import KEY_LABEL, MANAGED_LABEL
from langchain_daytona_exec.cli import main
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.tools import DaytonaPythonTool
from tests.integration_tests.daytona_support import backend, clean_emu, emu, make_backend

__all__ = ["backend", "clean_emu", "emu"]

CHILD = textwrap.dedent(
    """
    import os, sys
    from langchain_daytona_exec import DaytonaBackend, SandboxPool
    backend = DaytonaBackend(api_key="test-key", api_url=sys.argv[1], use_polling=True)
    pool = SandboxPool(backend, handle_sigterm=False)
    with pool.session(sys.argv[2]) as sb:
        sb.run_code("answer = 'set by the first process'")
        sb.write_file("notes.txt", "hello")
        print(sb.id, flush=True)
    os._exit(0)  # a crash: the pool is never closed, the sandbox stays
    """
)


def run_child(emu: Emulator, key: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, emu.api_url, key],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    return out.stdout.strip().splitlines()[-1]


def test_sessions_reuse_one_sandbox_per_key_and_close_leaves_nothing(
    clean_emu: Emulator, backend: DaytonaBackend
) -> None:
    with SandboxPool(backend, handle_sigterm=False) as pool:
        with pool.session("a") as sb:
            sb.run_code("n = 1")
            a = sb.id
            assert sb.labels[KEY_LABEL] == "a"
        with pool.session("b") as sb:
            assert sb.id != a
        with pool.session("a") as sb:
            assert sb.id == a and sb.run_code("n").result == "1"
        assert len(clean_emu.sandbox_ids()) == 2
    assert clean_emu.sandbox_ids() == []


async def test_async_sessions_and_tools(clean_emu: Emulator, backend: DaytonaBackend) -> None:
    async with SandboxPool(backend, handle_sigterm=False) as pool:
        async with pool.asession("t") as sb:
            assert (await sb.arun_code("z = 3\nz * 2")).result == "6"
        tool = DaytonaPythonTool(pool=pool)
        message = await tool.ainvoke(
            {
                "type": "tool_call",
                "id": "1",
                "name": "python",
                "args": {"code": "z + 1"},
            },
            config={"configurable": {"thread_id": "t"}},
        )
        assert "4" in str(message.content)
    assert clean_emu.sandbox_ids() == []


def test_another_process_finds_the_threads_sandbox(clean_emu: Emulator) -> None:
    child_id = run_child(clean_emu, "thread-x")
    assert child_id in clean_emu.sandbox_ids()
    backend = make_backend(clean_emu, owner="someone-else")
    with SandboxPool(backend, handle_sigterm=False) as pool:
        with pool.session("thread-x") as sb:
            assert sb.id == child_id and not sb.state_lost
            result = sb.run_code("answer")
            assert result.result == "'set by the first process'" and not result.state_lost
        with pool.session("thread-new") as sb:
            assert sb.id != child_id
    assert clean_emu.sandbox_ids() == []  # the adopted sandbox was closed with the pool


def test_a_stopped_sandbox_is_found_started_and_reports_state_lost(clean_emu: Emulator) -> None:
    child_id = run_child(clean_emu, "thread-y")
    clean_emu.stop_sandbox(child_id)
    with (
        SandboxPool(make_backend(clean_emu), handle_sigterm=False) as pool,
        pool.session("thread-y") as sb,
    ):
        assert sb.id == child_id
        result = sb.run_code("'answer' in globals()")
        assert result.result == "False" and result.state_lost
        assert sb.read_file("notes.txt") == b"hello"


def test_gc_deletes_only_our_idle_sandboxes(
    clean_emu: Emulator,
    backend: DaytonaBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ours = backend.create()
    foreign = backend.client.create()  # made with the bare SDK: no managed label
    try:
        entries = backend.gc(3600)
        assert [e.id for e in entries] == [ours.id] and not entries[0].deleted
        dry = backend.gc(0, dry_run=True)
        assert not dry[0].deleted and ours.id in clean_emu.sandbox_ids()
        record = clean_emu.registry.get(ours.id)
        assert record is not None
        record.last_activity = time.time() - 7200
        monkeypatch.setenv("DAYTONA_API_KEY", "test-key")
        monkeypatch.setenv("DAYTONA_API_URL", clean_emu.api_url)
        monkeypatch.setenv("DAYTONA_USE_DEPRECATED_POLLING", "true")
        monkeypatch.setenv("DAYTONA_EXEC_THREADS_DB", str(tmp_path / "threads.sqlite"))
        assert main(["gc", "--older-than", "1h"]) == 0
        assert clean_emu.sandbox_ids() == [foreign.id]
        assert MANAGED_LABEL not in (foreign.labels or {})
    finally:
        foreign.delete()
        ours.close()
    assert clean_emu.sandbox_ids() == []


def test_auto_stop_and_auto_delete_bound_leaks() -> None:
    with Emulator(minute_s=0.05, reaper_interval_s=0.05) as fast:
        backend = make_backend(fast, auto_stop_interval=1, auto_delete_interval=1)
        sandbox = backend.create()
        deadline = time.monotonic() + 10
        while fast.sandbox_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fast.sandbox_ids() == []
        sandbox.close()  # deleting what is already gone is fine
