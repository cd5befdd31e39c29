"""`daytona-exec exec --with/--allow` and `daytona-exec envs`, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration_tests.package_index import Index, build_wheel, serve_index

CLI = [sys.executable, "-m", "langchain_daytona_exec.cli"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    folder = tmp_path_factory.mktemp("index")
    build_wheel(folder)
    with serve_index(folder) as idx:
        yield idx


def run(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def test_exec_with_a_package_builds_once_then_envs_lists_and_removes_it(
    index: Index, tmp_path: Path
) -> None:
    code = "import ldxdemo; print(ldxdemo.hello())"
    args = ["exec", "--with", "ldxdemo", "--index-url", f"{index.url}/simple/", "-c", code]
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "hi from ldxdemo"
    assert "env | installing ldxdemo" in first.stderr  # progress, on stderr
    second = run(args, tmp_path)
    assert second.returncode == 0 and "installing" not in second.stderr  # reused
    listed = run(["envs"], tmp_path)
    assert "ldxdemo" in listed.stdout and "1 layer(s)" in listed.stdout
    key = listed.stdout.split()[0]
    removed = run(["envs", "rm", key], tmp_path)
    assert removed.returncode == 0 and "removed 1 layer(s)" in removed.stdout
    assert "0 layer(s)" in run(["envs"], tmp_path).stdout
    assert run(["envs", "rm", key], tmp_path).returncode == 1


def test_exec_allow_reaches_only_the_allowed_host(index: Index, tmp_path: Path) -> None:
    code = (
        "import urllib.request as u, urllib.error as e\n"
        f"print(u.urlopen('{index.url}/hello').read().decode().strip())\n"
        "try:\n    u.urlopen('http://example.com/')\n"
        "except e.HTTPError as x:\n    print('refused', x.code)\n"
    )
    r = run(["exec", "--allow", f"127.0.0.1:{index.port}", "-c", code], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["hello from the index", "refused 403"]
