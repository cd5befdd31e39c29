"""A pool with ``min_idle`` on a backend whose provider keeps warm sandboxes itself."""

from __future__ import annotations

import time
from typing import Any

from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.testing import InMemoryBackend


class ServerWarmBackend(InMemoryBackend):
    """An in-memory backend that says its provider keeps a warm pool (as Daytona can)."""

    uses_server_warm_pool = True

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.warm_requests: list[int] = []

    def ensure_warm_pool(self, size: int) -> Any:
        self.warm_requests.append(size)
        if self.refuse:
            raise RuntimeError("warm pools are not enabled for this organization")
        return {"pool": size}


def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_min_idle_asks_the_provider_and_holds_no_idle_sandboxes() -> None:
    backend = ServerWarmBackend()
    with SandboxPool(backend, min_idle=2) as pool:
        wait_for(lambda: pool._filler.server_side is not None)  # decided before any creation
        assert pool._filler.server_side is True and backend.warm_requests == [2]
        assert backend.creates == 0 and pool.stats().idle == 0
        with pool.session("k") as sb:  # a lease creates on demand (the provider's warm one)
            assert sb.run_code("1 + 1").result == "2"
        assert backend.creates == 1


def test_provider_refusal_falls_back_to_client_side_warm_sandboxes() -> None:
    backend = ServerWarmBackend(refuse=True)
    with SandboxPool(backend, min_idle=2) as pool:
        wait_for(lambda: pool.stats().idle == 2)
        assert backend.warm_requests == [2]


def test_warmup_code_keeps_client_side_warm_sandboxes() -> None:
    backend = ServerWarmBackend()
    with SandboxPool(backend, min_idle=1, warmup="x = 1") as pool:
        wait_for(lambda: pool.stats().idle == 1)
        assert backend.warm_requests == []  # warmup cannot run in the provider's pool
