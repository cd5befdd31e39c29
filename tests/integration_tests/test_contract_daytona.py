"""The ``Sandbox`` contract on ``DaytonaBackend``: the real SDK against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_daytona_exec import DaytonaBackend, ProviderError
from langchain_daytona_exec.sandbox import Sandbox
from tests.integration_tests.daytona_support import backend, emu
from tests.sandbox_contract import SandboxContractTests

__all__ = ["backend", "emu"]


class TestDaytonaContract(SandboxContractTests):
    @pytest.fixture
    def sandbox(self, backend: DaytonaBackend) -> Iterator[Sandbox]:
        sandbox = backend.create()
        yield sandbox
        sandbox.close()

    @pytest.mark.xfail(
        strict=True,
        raises=ProviderError,
        reason="DaytonaBackend reports a write under a file as ProviderError (HTTP 400 "
        "from the toolbox), not SandboxFileError as the other backends do",
    )
    def test_a_file_is_not_a_folder(self, sandbox: Sandbox) -> None:
        super().test_a_file_is_not_a_folder(sandbox)
