from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from daytona import DaytonaError, DaytonaNotFoundError

from langchain_daytona_exec import DaytonaBackend, Environment, NetworkPolicyError
from langchain_daytona_exec.backends.daytona import RetryPolicy
from langchain_daytona_exec.backends.daytona._environment import (
    daytona_network,
    ensure_snapshot,
    ensure_warm_pool,
    environment_image,
    snapshot_name,
)


def test_network_mapping() -> None:
    assert daytona_network(False) == (True, None)
    assert daytona_network(True) == (False, None)
    assert daytona_network(False, "10.0.0.0/8") == (True, "10.0.0.0/8")
    assert daytona_network(["203.0.113.7", "10.0.0.0/8", "[::1]"]) == (
        False,
        "203.0.113.7/32,10.0.0.0/8,::1/128",
    )
    with pytest.raises(NetworkPolicyError, match="is not one"):
        daytona_network(["pypi.org"])
    with pytest.raises(NetworkPolicyError, match="without ports"):
        daytona_network(["10.0.0.1:443"])
    with pytest.raises(NetworkPolicyError, match="cannot be expressed"):
        daytona_network("packages")


def test_backend_applies_mapping_without_touching_the_network() -> None:
    b = DaytonaBackend(api_key="k", api_url="http://127.0.0.1:9/api", network=["10.1.2.3"])
    params = b.create_params()
    assert params.network_block_all is False and params.network_allow_list == "10.1.2.3/32"
    assert DaytonaBackend(api_key="k").create_params().network_block_all is True
    with pytest.raises(ValueError, match="drop snapshot"):
        DaytonaBackend(api_key="k", environment=Environment(packages=["x"]), snapshot="s")


def test_image_and_snapshot_name() -> None:
    env = Environment(packages=["tabulate", "openpyxl"], env={"A": "1"}, index_url="https://i/s")
    df = environment_image(env).dockerfile()
    assert "pip install openpyxl tabulate" in df and "--index-url https://i/s" in df
    assert "ENV A=" in df or 'ENV A "1"' in df or "A=1" in df
    same = Environment(packages=["openpyxl", "tabulate"], env={"A": "1"}, index_url="https://i/s")
    assert snapshot_name(env) == snapshot_name(same)
    assert snapshot_name(env) == snapshot_name(
        Environment(
            packages=["openpyxl", "tabulate"],
            env={"A": "1"},
            index_url="https://i/s",
            files={"x": "y"},
            setup="import os",
        )
    )  # files and setup are applied per sandbox, not baked in
    assert snapshot_name(env) != snapshot_name(Environment(packages=["tabulate"]))


def on(client: Any) -> DaytonaBackend:
    """A backend over a fake client: its calls go through the real call boundary."""
    return DaytonaBackend(api_key="k", client=client, retry=RetryPolicy(attempts=1))


class FakeSnapshots:
    def __init__(self, states: list[str | None], create_error: Exception | None = None) -> None:
        self.states = states
        self.created: list[Any] = []
        self.create_error = create_error

    def get(self, name: str) -> Any:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if state is None:
            raise DaytonaNotFoundError("no such snapshot", status_code=404)  # as the SDK maps a 404
        return SimpleNamespace(name=name, state=state)

    def create(self, params: Any, on_logs: Any = None, timeout: Any = None) -> Any:
        self.created.append(params)
        if self.create_error:
            raise self.create_error
        return SimpleNamespace(name=params.name, state="active")


def test_existing_snapshot_is_reused_never_rebuilt() -> None:
    client = SimpleNamespace(snapshot=FakeSnapshots(["active"]))
    env = Environment(packages=["tabulate"])
    assert ensure_snapshot(on(client), env) == snapshot_name(env)
    assert client.snapshot.created == []


def test_missing_snapshot_is_built_with_logs() -> None:
    client = SimpleNamespace(snapshot=FakeSnapshots([None]))
    lines: list[str] = []
    ensure_snapshot(on(client), Environment(packages=["tabulate"]), log=lines.append)
    assert len(client.snapshot.created) == 1 and lines and "building snapshot" in lines[0]


def test_racing_build_waits_for_the_other_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("langchain_daytona_exec.backends.daytona._environment._POLL_S", 0)
    conflict = DaytonaError("exists", status_code=409)
    client = SimpleNamespace(
        snapshot=FakeSnapshots([None, "building", "building", "active"], create_error=conflict)
    )
    env = Environment(packages=["tabulate"])
    assert ensure_snapshot(on(client), env) == snapshot_name(env)


def test_failed_build_is_an_environment_build_error() -> None:
    from langchain_daytona_exec import EnvironmentBuildError

    client = SimpleNamespace(
        snapshot=FakeSnapshots([None], create_error=DaytonaError("pip failed", status_code=400))
    )
    with pytest.raises(EnvironmentBuildError, match="pip failed"):
        ensure_snapshot(on(client), Environment(packages=["nope"]))


def test_warm_pool_is_created_once_and_resized() -> None:
    calls: list[tuple[str, Any]] = []
    pools: list[Any] = []

    class Pools:
        def list(self) -> list[Any]:
            return pools

        def create(self, snapshot: str, pool: int) -> Any:
            calls.append(("create", pool))
            p = SimpleNamespace(id="wp1", snapshot=snapshot, pool=pool)
            pools.append(p)
            return p

        def update(self, pid: str, pool: int) -> Any:
            calls.append(("update", pool))
            pools[0].pool = pool
            return pools[0]

    client = SimpleNamespace(warm_pool=Pools())
    ensure_warm_pool(on(client), "snap", 2)
    ensure_warm_pool(on(client), "snap", 2)
    ensure_warm_pool(on(client), "snap", 4)
    assert calls == [("create", 2), ("update", 4)]


def test_snapshot_and_warm_pool_calls_go_through_the_call_boundary() -> None:
    from daytona.common.errors import DaytonaServiceUnavailableError

    from langchain_daytona_exec import ProviderError

    failures = [DaytonaServiceUnavailableError("busy", status_code=503)]

    class Flaky(FakeSnapshots):
        def get(self, name: str) -> Any:
            if failures:
                raise failures.pop()
            return super().get(name)

    fast = RetryPolicy(attempts=3, base_s=0.01, max_s=0.01)
    client = SimpleNamespace(snapshot=Flaky(["active"]))
    backend = DaytonaBackend(api_key="k", client=client, retry=fast)
    env = Environment(packages=["tabulate"])
    assert ensure_snapshot(backend, env) == snapshot_name(env)
    assert failures == []  # the 503 was met, and retried

    class DownPools:
        def list(self) -> list[Any]:
            raise DaytonaError("bad gateway", status_code=502)

    down = DaytonaBackend(api_key="k", client=SimpleNamespace(warm_pool=DownPools()), retry=fast)
    with pytest.raises(ProviderError) as raised:  # ours, never the SDK's exception
        ensure_warm_pool(down, "snap", 2)
    assert raised.value.status == 502
