"""The unit tests' names for the in-memory backend shipped in ``langchain_daytona_exec.testing``.

Kept so that test code run in subprocesses (``from tests.unit_tests.fakes import ...``)
and the pool tests read as before; the implementation lives in the package.
"""

from __future__ import annotations

from langchain_daytona_exec.testing import InMemoryBackend as FakeBackend
from langchain_daytona_exec.testing import InMemorySandbox as FakeSandbox

__all__ = ["FakeBackend", "FakeSandbox"]
