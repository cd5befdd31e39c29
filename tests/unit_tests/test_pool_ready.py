"""The first lease after construction never waits for the warm pool; wait_ready() does."""

from __future__ import annotations

import pytest

from langchain_daytona_exec.errors import PoolError
from langchain_daytona_exec.pool import SandboxPool
from tests.unit_tests.fakes import FakeBackend
from tests.unit_tests.test_pool_server_warm import ServerWarmBackend


def test_wait_ready_blocks_until_min_idle_warm_sandboxes_are_ready() -> None:
    backend = FakeBackend(create_delay_s=0.05)
    with SandboxPool(backend, min_idle=2, warmup="warm = 1") as pool:
        assert pool.wait_ready(10) is True
        assert pool.stats().idle == 2
        assert all(sb.code_log == ["warm = 1"] for sb in backend.created)


def test_wait_ready_is_immediate_without_min_idle_and_false_on_timeout() -> None:
    with SandboxPool(FakeBackend()) as pool:
        assert pool.wait_ready(0) is True
    with SandboxPool(FakeBackend(fail_creates=True), min_idle=1) as pool:
        assert pool.wait_ready(0.2) is False
        assert pool.stats().failures >= 1
    with pytest.raises(ValueError, match="negative"):
        pool.wait_ready(-1)
    with pytest.raises(PoolError, match="closed"):
        pool.wait_ready(1)


async def test_await_ready() -> None:
    backend = FakeBackend(create_delay_s=0.02)
    with SandboxPool(backend, min_idle=2) as pool:
        assert await pool.await_ready(10) is True
        assert pool.stats().idle == 2


def test_wait_ready_when_the_provider_keeps_the_warm_pool() -> None:
    with SandboxPool(ServerWarmBackend(), min_idle=2) as pool:
        assert pool.wait_ready(5) is True
        assert pool.stats().idle == 0  # nothing held here: the provider has them


def test_first_lease_after_construction_does_not_wait_for_the_warm_pool() -> None:
    backend = FakeBackend(create_delay_s=0.3)
    with SandboxPool(backend, min_idle=3, warmup="warm = 1") as pool:
        with pool.session("k") as sb:  # at once: nothing is warm yet
            assert pool.stats().idle < 3  # served before the warm pool was full
            assert sb.run_code("warm").result == "1"  # the warmup ran for it anyway
        assert pool.wait_ready(10) is True
        with pool.session("k2") as sb:  # now from the warm pool
            assert sb.run_code("warm").result == "1"
