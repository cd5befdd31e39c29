"""Environment specs on the local backend: a package layer built once, reused, mounted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec import (
    Environment,
    EnvironmentBuildError,
    LocalBackend,
    LocalLimits,
)
from langchain_daytona_exec.backends.local import _layers as layers
from tests.integration_tests.package_index import Index, build_wheel, serve_index

LIMITS = LocalLimits(timeout_s=60, grace_s=1.0)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    folder = tmp_path_factory.mktemp("index")
    build_wheel(folder)
    with serve_index(folder) as idx:
        yield idx


def spec(index: Index, **kw: object) -> Environment:
    return Environment(packages=["ldxdemo"], index_url=f"{index.url}/simple/", **kw)  # type: ignore[arg-type]


def test_layer_is_built_once_mounted_read_only_and_importable(index: Index, tmp_path: Path) -> None:
    lines: list[str] = []
    env = spec(index, env={"MODE": "demo"}, files={"data/in.txt": "hello"}, setup="import ldxdemo")
    backend = LocalBackend(environment=env, layers_dir=str(tmp_path), build_log=lines.append)
    with backend.create() as sb:
        r = sb.run_code("ldxdemo.hello()")  # imported by the setup code
        assert r.result == "'hi from ldxdemo'", r
        assert sb.run_code("import os; os.environ['MODE']").result == "'demo'"
        assert sb.read_file("data/in.txt") == b"hello"
        w = sb.exec("touch /opt/ldx-env/site/x 2>&1 || echo READONLY")
        assert "READONLY" in w.stdout
        sb.reset()  # a reset sandbox gets the files and setup again
        assert sb.read_file("data/in.txt") == b"hello"
        assert sb.run_code("ldxdemo.VERSION").result == "'0.1'"
    assert any("installing ldxdemo" in line for line in lines)
    hits = len(index.hits)
    again: list[str] = []
    other = LocalBackend(environment=env, layers_dir=str(tmp_path), build_log=again.append)
    with other.create() as sb:
        assert sb.run_code("import ldxdemo; ldxdemo.VERSION").result == "'0.1'"
    assert again == [] and len(index.hits) == hits  # reused: no pip, no request
    infos = layers.list_layers(str(tmp_path))
    assert len(infos) == 1 and infos[0].packages == ("ldxdemo",)
    assert layers.remove_layer(infos[0].key, str(tmp_path))
    assert layers.list_layers(str(tmp_path)) == []


def test_failed_build_is_clear_and_leaves_nothing(index: Index, tmp_path: Path) -> None:
    env = Environment(packages=["no-such-package-ldx"], index_url=f"{index.url}/simple/")
    backend = LocalBackend(environment=env, layers_dir=str(tmp_path))
    with pytest.raises(EnvironmentBuildError, match="no-such-package-ldx") as info:
        backend.create()
    assert "No matching distribution" in str(info.value) or "ERROR" in info.value.log
    assert [p for p in os.listdir(tmp_path) if not p.endswith(".lock")] == []


def test_concurrent_builds_in_two_processes_build_once(index: Index, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from langchain_daytona_exec import Environment
        from langchain_daytona_exec.backends.local import _layers as layers
        env = Environment(packages=["ldxdemo"], index_url={index.url + "/simple/"!r})
        log = []
        print(layers.build_layer(env, layers_dir={str(tmp_path)!r}, log=log.append))
        print("BUILT" if any("installing" in x for x in log) else "REUSED")
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert outs[0][0] == outs[1][0]  # the same layer folder
    assert sorted(o[1] for o in outs) == ["BUILT", "REUSED"]


def test_failing_setup_code_is_reported(tmp_path: Path) -> None:
    backend = LocalBackend(environment=Environment(setup="1/0"), layers_dir=str(tmp_path))
    with pytest.raises(EnvironmentBuildError, match="ZeroDivisionError"):
        backend.create()
