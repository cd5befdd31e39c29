"""Shared fixtures of the Daytona tests: the emulator in-process and a backend on it."""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_daytona_exec.backends.daytona import DaytonaBackend, RetryPolicy
from langchain_daytona_exec.backends.local import LocalLimits
from langchain_daytona_exec.emulator import Emulator


def guard_rules(uid: int) -> list[str]:
    """The firewall rules of OUTPUT naming sandbox uid ``uid`` (the emulator's guard)."""
    listing = subprocess.run(
        ["iptables", "-w", "5", "-S", "OUTPUT"], capture_output=True, text=True, timeout=20
    ).stdout
    return [r for r in listing.splitlines() if f"--uid-owner {uid} " in f"{r} "]


FAST_RETRY = RetryPolicy(attempts=6, base_s=0.02, max_s=0.5, jitter=0.5)


def make_backend(emu: Emulator, **kwargs: object) -> DaytonaBackend:
    params: dict[str, object] = {
        "api_key": "test-key",
        "api_url": emu.api_url,
        "use_polling": True,
        "retry": FAST_RETRY,
        "timeout": 20.0,
        "owner": "tests@emulator",
    }
    params.update(kwargs)
    return DaytonaBackend(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(limits=LocalLimits(timeout_s=20, grace_s=0.5)) as server:
        yield server


@pytest.fixture
def clean_emu(emu: Emulator) -> Iterator[Emulator]:
    """The module's emulator with no faults and zeroed counters; faults cleared after."""
    emu.clear_faults()
    emu.reset_stats()
    yield emu
    emu.clear_faults()


@pytest.fixture(scope="module")
def backend(emu: Emulator) -> DaytonaBackend:
    return make_backend(emu)


def sdk_config(emu: Emulator) -> Any:
    """A ``DaytonaConfig`` for the raw SDK pointed at ``emu``."""
    from daytona import DaytonaConfig

    return DaytonaConfig(api_key="test-key", api_url=emu.api_url, use_deprecated_polling=True)


@pytest.fixture(scope="module")
def sdk(emu: Emulator) -> Any:
    """The raw synchronous SDK client (``daytona.Daytona``) on the module's emulator."""
    from daytona import Daytona

    with warnings.catch_warnings():  # the SDK calls polling mode deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return Daytona(sdk_config(emu))


@pytest.fixture(scope="module")
def sdk_sandbox(sdk: Any) -> Iterator[Any]:
    """One SDK sandbox (network blocked) shared by a module's tests; deleted after."""
    from daytona import CreateSandboxFromSnapshotParams

    sandbox = sdk.create(
        CreateSandboxFromSnapshotParams(network_block_all=True, labels={"test": "emulator"}),
        timeout=60,
    )
    yield sandbox
    sdk.delete(sandbox, timeout=60)
