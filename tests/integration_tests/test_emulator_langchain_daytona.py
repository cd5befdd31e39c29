"""deepagents' own Daytona package (``langchain-daytona``) on the emulator.

Code nobody here wrote: LangChain's standard sandbox suite drives
``langchain_daytona.DaytonaSandbox`` wrapping a raw SDK sandbox of the emulator, exactly
as it would wrap one of Daytona's cloud.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

pytest.importorskip("langchain_daytona")

from daytona import CreateSandboxFromSnapshotParams, Daytona
from deepagents.backends.protocol import SandboxBackendProtocol
from langchain_daytona import DaytonaSandbox

from langchain_daytona_exec import LocalLimits
from langchain_daytona_exec.emulator import Emulator
from tests.integration_tests.daytona_support import sdk_config
from tests.integration_tests.test_deepagents_standard import _Deepagents07Marks

# The suite's own class-scoped `sandbox_backend` fixture is an instance method,
# which pytest 9 deprecates; nothing here can change that.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")


class TestLangchainDaytonaOnTheEmulator(_Deepagents07Marks):
    """The whole suite on langchain-daytona's DaytonaSandbox, against the emulator."""

    @pytest.fixture(scope="class")
    @classmethod
    def sandbox(cls) -> Iterator[SandboxBackendProtocol]:
        with Emulator(limits=LocalLimits(timeout_s=60, grace_s=1.0)) as emulator:
            with warnings.catch_warnings():  # the SDK calls polling mode deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                client = Daytona(sdk_config(emulator))
            raw = client.create(CreateSandboxFromSnapshotParams(network_block_all=True))
            try:
                yield DaytonaSandbox(sandbox=raw, timeout=60)
            finally:
                client.delete(raw, timeout=60)
