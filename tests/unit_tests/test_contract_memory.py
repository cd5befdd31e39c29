"""The ``Sandbox`` contract on the in-memory backend of ``langchain_daytona_exec.testing``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.testing import InMemoryBackend
from tests.sandbox_contract import SandboxContractTests


class TestInMemoryContract(SandboxContractTests):
    @pytest.fixture
    def sandbox(self) -> Iterator[Sandbox]:
        sandbox = InMemoryBackend().create()
        yield sandbox
        sandbox.close()
