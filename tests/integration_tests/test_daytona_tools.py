"""LangChain's standard tool integration suite, with the tools on DaytonaBackend (emulator)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from langchain_daytona_exec.backends.local import LocalLimits
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools import (
    DaytonaListFilesTool,
    DaytonaPythonTool,
    DaytonaReadFileTool,
    DaytonaShellTool,
    DaytonaWriteFileTool,
)
from tests.integration_tests.daytona_support import make_backend
from tests.integration_tests.standard_tools import StandardToolSuite

_STATE: dict[str, Any] = {}


def shared_pool() -> SandboxPool:
    pool = _STATE.get("pool")
    if pool is None or pool.closed:
        emu = _STATE.get("emu")
        if emu is None:
            emu = _STATE["emu"] = Emulator(limits=LocalLimits(grace_s=0.5)).start()
        pool = _STATE["pool"] = SandboxPool(make_backend(emu), max_size=4, handle_sigterm=False)
    return pool  # type: ignore[no-any-return]


@pytest.fixture(scope="module", autouse=True)
def _close_everything() -> Iterator[None]:
    yield
    if "pool" in _STATE:
        _STATE.pop("pool").close()
    if "emu" in _STATE:
        emu = _STATE.pop("emu")
        assert emu.sandbox_ids() == []  # the pool left nothing behind
        emu.stop()


class TestPythonTool(StandardToolSuite):
    cls = DaytonaPythonTool
    pool_factory = staticmethod(shared_pool)


class TestShellTool(StandardToolSuite):
    cls = DaytonaShellTool
    pool_factory = staticmethod(shared_pool)


class TestWriteFileTool(StandardToolSuite):
    cls = DaytonaWriteFileTool
    pool_factory = staticmethod(shared_pool)


class TestReadFileTool(StandardToolSuite):
    cls = DaytonaReadFileTool
    pool_factory = staticmethod(shared_pool)


class TestListFilesTool(StandardToolSuite):
    cls = DaytonaListFilesTool
    pool_factory = staticmethod(shared_pool)
