from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_daytona_exec import LocalBackend, LocalLimits, LocalSandbox


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(limits=LocalLimits(timeout_s=30, grace_s=1.0))


@pytest.fixture
def sb(backend: LocalBackend) -> Iterator[LocalSandbox]:
    sandbox = backend.create()
    try:
        yield sandbox
    finally:
        sandbox.close()
