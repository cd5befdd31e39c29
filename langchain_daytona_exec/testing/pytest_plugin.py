"""pytest fixtures: the Daytona API emulator and a ``DaytonaBackend`` on it.

Enable in a ``conftest.py``::

    pytest_plugins = ["langchain_daytona_exec.testing.pytest_plugin"]

then::

    def test_my_agent(daytona_backend):
        with daytona_backend.create() as sb:
            assert sb.run_code("6 * 7").result == "42"

The emulator serves Daytona's API on loopback, backed by local bubblewrap sandboxes
(the code is isolated as with ``LocalBackend``), so the real ``daytona`` SDK runs
offline. Needs the ``[daytona]`` and ``[emulator]`` extras, and bubblewrap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from langchain_daytona_exec.backends.daytona import DaytonaBackend
    from langchain_daytona_exec.emulator import Emulator

__all__ = ["daytona_backend", "daytona_emulator"]

_owners = itertools.count(1)


@pytest.fixture(scope="session")
def daytona_emulator() -> Iterator[Emulator]:
    """The Daytona API emulator on a free loopback port, for the whole test session."""
    from langchain_daytona_exec.emulator import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def daytona_backend(daytona_emulator: Emulator) -> Iterator[DaytonaBackend]:
    """A ``DaytonaBackend`` on the emulator; the sandboxes it made are deleted after the test."""
    from langchain_daytona_exec.backends.daytona import OWNER_LABEL, DaytonaBackend

    owner = f"pytest-{next(_owners)}@emulator"  # labels this test's sandboxes
    backend = DaytonaBackend(
        api_key="test", api_url=daytona_emulator.api_url, use_polling=True, owner=owner
    )
    yield backend
    backend.gc(0, labels={OWNER_LABEL: owner})
