"""The ``Sandbox`` contract on ``LocalBackend`` (real bubblewrap sandboxes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_daytona_exec import LocalBackend
from langchain_daytona_exec.sandbox import Sandbox
from tests.sandbox_contract import SandboxContractTests


class TestLocalContract(SandboxContractTests):
    @pytest.fixture
    def sandbox(self, backend: LocalBackend) -> Iterator[Sandbox]:  # conftest: module backend
        sandbox = backend.create()
        yield sandbox
        sandbox.close()
