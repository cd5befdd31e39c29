"""LangChain's standard tool integration suite, with the tools on DaytonaBackend (emulator)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests

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


class _Standard(ToolsIntegrationTests):
    cls: type[BaseTool]
    example: ClassVar[dict[str, Any]]

    @property
    def tool_constructor(self) -> type[BaseTool]:
        return self.cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"pool": shared_pool()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return self.example


class TestPythonTool(_Standard):
    cls = DaytonaPythonTool
    example: ClassVar[dict[str, Any]] = {"code": "import math\nmath.sqrt(16)"}


class TestShellTool(_Standard):
    cls = DaytonaShellTool
    example: ClassVar[dict[str, Any]] = {"command": "echo hello && ls"}


class TestWriteFileTool(_Standard):
    cls = DaytonaWriteFileTool
    example: ClassVar[dict[str, Any]] = {"path": "standard/notes.txt", "content": "hello"}


class TestReadFileTool(_Standard):
    cls = DaytonaReadFileTool
    example: ClassVar[dict[str, Any]] = {"path": "/etc/passwd"}


class TestListFilesTool(_Standard):
    cls = DaytonaListFilesTool
    example: ClassVar[dict[str, Any]] = {"path": "."}
