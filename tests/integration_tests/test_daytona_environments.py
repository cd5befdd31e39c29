"""Environments on Daytona, through the real SDK and the emulator's offline builds.

The packages come from a package index on loopback; the emulator builds them into a
package layer the way ``LocalBackend(environment=...)`` does. Nothing leaves the host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daytona import CreateSandboxFromSnapshotParams, CreateSnapshotParams, DaytonaError, Image

from langchain_daytona_exec import Environment, EnvironmentBuildError
from langchain_daytona_exec.backends.daytona._environment import snapshot_name
from tests.integration_tests.daytona_support import emu, make_backend, sdk  # noqa: F401
from tests.integration_tests.package_index import Index, build_wheel, serve_index


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    folder = tmp_path_factory.mktemp("index")
    build_wheel(folder)
    with serve_index(folder) as idx:
        yield idx


@pytest.fixture(autouse=True)
def private_layer_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_snapshot_from_an_image_builds_its_packages_offline_and_streams_logs(
    sdk: Any, index: Index
) -> None:
    image = Image.debian_slim("3.11").pip_install("ldxdemo", index_url=f"{index.url}/simple/")
    logs: list[str] = []
    snap = sdk.snapshot.create(
        CreateSnapshotParams(name="with-ldxdemo", image=image), on_logs=logs.append
    )
    try:
        assert snap.state == "active"
        assert any("installing ldxdemo" in line for line in logs), logs
        sb = sdk.create(
            CreateSandboxFromSnapshotParams(snapshot="with-ldxdemo", network_block_all=True),
            timeout=60,
        )
        try:
            out = sb.process.exec("python3 -c 'import ldxdemo; print(ldxdemo.hello())'")
            assert out.exit_code == 0 and out.result.strip() == "hi from ldxdemo"
        finally:
            sdk.delete(sb, timeout=60)
    finally:
        sdk.snapshot.delete(snap)


def test_a_failed_package_build_is_build_failed_with_pips_message(sdk: Any, index: Index) -> None:
    image = Image.debian_slim("3.11").pip_install(
        "no-such-pkg-ldx", index_url=f"{index.url}/simple/"
    )
    with pytest.raises(DaytonaError, match="no-such-pkg-ldx"):
        sdk.snapshot.create(CreateSnapshotParams(name="broken-build", image=image))
    assert sdk.snapshot.get("broken-build").state == "build_failed"
    sdk.snapshot.delete("broken-build")


def test_daytona_backend_environment_builds_once_and_reuses_the_snapshot(
    emu: Any, index: Index
) -> None:
    env = Environment(
        packages=["ldxdemo"],
        index_url=f"{index.url}/simple/",
        env={"STAGE": "test"},
        files={"data/in.txt": "hello"},
        setup="import ldxdemo",
    )
    lines: list[str] = []
    backend = make_backend(emu, environment=env, build_log=lines.append)
    sb = backend.create()
    try:
        assert sb.run_code("ldxdemo.hello()").result == "'hi from ldxdemo'"
        assert sb.run_code("import os; os.environ['STAGE']").result == "'test'"
        assert sb.read_file("data/in.txt") == b"hello"
    finally:
        sb.close()
    assert any("building snapshot" in line for line in lines)
    again: list[str] = []
    other = make_backend(emu, environment=env, build_log=again.append)
    sb = other.create()
    sb.close()
    assert not any("building" in line for line in again)  # reused, never rebuilt
    pool = other.ensure_warm_pool(1)
    assert pool.snapshot == snapshot_name(env) and pool.pool == 1
    assert other.ensure_warm_pool(1).id == pool.id  # one server-side pool per snapshot
    other.client.warm_pool.delete(pool.id)


def test_daytona_backend_environment_build_failure_is_clear(emu: Any, index: Index) -> None:
    env = Environment(packages=["no-such-pkg-ldx2"], index_url=f"{index.url}/simple/")
    with pytest.raises(EnvironmentBuildError, match="no-such-pkg-ldx2"):
        make_backend(emu, environment=env).create()


def test_pool_min_idle_uses_the_servers_warm_pool(emu: Any, index: Index) -> None:
    from langchain_daytona_exec import SandboxPool

    env = Environment(packages=["ldxdemo"], index_url=f"{index.url}/simple/")
    backend = make_backend(emu, environment=env)
    name = snapshot_name(env)
    with SandboxPool(backend, min_idle=1) as pool:
        deadline = time.monotonic() + 120
        while not [p for p in backend.client.warm_pool.list() if p.snapshot == name]:
            assert time.monotonic() < deadline, "no server-side warm pool was made"
            time.sleep(0.1)
        assert pool.stats().idle == 0  # nothing idle is held (and paid for) client-side
        with pool.session("t") as sb:
            assert sb.run_code("import ldxdemo; ldxdemo.VERSION").result == "'0.1'"
    for p in backend.client.warm_pool.list():
        backend.client.warm_pool.delete(p.id)
