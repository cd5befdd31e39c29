"""The same emulated behaviours through ``AsyncDaytona`` (the SDK's async tree)."""

from __future__ import annotations

import asyncio
import base64
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from daytona import (
    AsyncDaytona,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaError,
    DaytonaNotFoundError,
    Image,
    PtySize,
    Resources,
    SessionExecuteRequest,
    VolumeMount,
)

from tests.integration_tests.daytona_support import emu, sdk_config  # noqa: F401
from tests.integration_tests.test_emulator_process import CHARTS

HOME = "/home/daytona"


@pytest.fixture
async def client(emu: Any) -> AsyncIterator[AsyncDaytona]:
    with warnings.catch_warnings():  # the SDK calls polling mode deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        daytona = AsyncDaytona(sdk_config(emu))
    async with daytona:
        yield daytona


@pytest.fixture
async def sb(client: AsyncDaytona) -> AsyncIterator[Any]:
    sandbox = await client.create(
        CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60
    )
    yield sandbox
    await client.delete(sandbox, timeout=60)


async def test_dirs_uploads_intervals_and_unknown_snapshot(client: AsyncDaytona, sb: Any) -> None:
    assert await sb.get_user_home_dir() == HOME
    assert await sb.get_work_dir() == HOME
    await sb.fs.upload_file(b"x,y\n", f"{HOME}/d.csv")
    assert (await sb.process.exec("cat d.csv", cwd=HOME)).result == "x,y\n"
    await sb.set_auto_delete_interval(-1)
    await sb.refresh_data()
    assert sb.auto_delete_interval == -1
    with pytest.raises(DaytonaNotFoundError):
        await client.create(CreateSandboxFromSnapshotParams(snapshot="nope"), timeout=30)


async def test_sessions_persist_stream_and_take_input(sb: Any) -> None:
    proc = sb.process
    await proc.create_session("s")
    run = SessionExecuteRequest
    await proc.execute_session_command("s", run(command="cd /tmp && export V=7"))
    res = await proc.execute_session_command("s", run(command="echo $PWD $V"))
    assert res.stdout == "/tmp 7\n"
    started = await proc.execute_session_command(
        "s", run(command='read x; echo "got $x"; echo e >&2', run_async=True)
    )
    assert started.exit_code is None
    await proc.send_session_command_input("s", started.cmd_id, "hi\n")
    out: list[str] = []
    err: list[str] = []
    await proc.get_session_command_logs_async("s", started.cmd_id, out.append, err.append)
    assert ("".join(out), "".join(err)) == ("got hi\n", "e\n")
    await proc.delete_session("s")


async def test_contexts_envs_and_charts(sb: Any) -> None:
    ci = sb.code_interpreter
    await ci.run_code("name = 'default'")
    ctx = await ci.create_context()
    missing = await ci.run_code("print(name)", context=ctx)
    assert missing.error is not None and missing.error.name == "NameError"
    assert (await ci.run_code("print(name)")).stdout == "default\n"
    await ci.delete_context(ctx)
    env = await ci.run_code("import os; print(os.environ['E'])", envs={"E": "1"})
    assert env.stdout == "1\n"
    res = await sb.process.code_run(CHARTS)
    assert [c.type for c in res.artifacts.charts] == ["line", "bar", "pie"]
    assert base64.b64decode(res.artifacts.charts[0].png).startswith(b"\x89PNG")


async def test_files_and_env(sb: Any) -> None:
    await sb.fs.upload_file(b"alpha TODO\n", "p/a.txt")
    assert [m.line for m in await sb.fs.find_files("p", "TODO")] == [1]
    assert (await sb.fs.search_files("p", "*.txt")).files == [f"{HOME}/p/a.txt"]
    [result] = await sb.fs.replace_in_files(["p/a.txt"], "TODO", "DONE")
    assert result.success
    await sb.fs.set_file_permissions("p/a.txt", mode="640")
    await sb.fs.move_files("p/a.txt", "p/b.txt")
    assert await sb.fs.download_file("p/b.txt") == b"alpha DONE\n"
    assert (await sb.process.exec("stat -c %a p/b.txt")).result.strip() == "640"
    await sb.update_env({"MODE": "async"})
    assert (await sb.process.exec("echo $MODE")).result.strip() == "async"


async def test_pty(sb: Any) -> None:
    seen = bytearray()
    handle = await sb.process.create_pty_session(
        "t", on_data=seen.extend, pty_size=PtySize(rows=20, cols=90)
    )
    await handle.wait_for_connection()
    await handle.send_input("stty size; exit 3\n")
    result = await asyncio.wait_for(handle.wait(), 20)
    assert result.exit_code == 3
    assert b"20 90" in bytes(seen)
    await handle.disconnect()


async def test_control_plane(client: AsyncDaytona) -> None:
    sb = await client.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    try:
        await sb.update_network_settings(network_block_all=False)
        assert sb.network_block_all is False
        link = await sb.get_preview_link(9)
        async with httpx.AsyncClient() as http:
            answer = await http.get(link.url, headers={"x-daytona-preview-token": link.token})
        assert answer.status_code == 502 and "no server" in answer.json()["message"]
        await sb.resize(Resources(cpu=2, memory=2))
        assert (sb.cpu, sb.memory) == (2, 2)
        await sb.stop()
        await sb.archive()
        assert sb.state == "archived"
    finally:
        await client.delete(sb, timeout=60)


async def test_volumes_snapshots_warm_pools(client: AsyncDaytona, emu: Any) -> None:
    volume = await client.volume.create("async-vol")
    image = Image.debian_slim("3.12").env({"SNAP": "1"})
    snap = await client.snapshot.create(CreateSnapshotParams(name="async-snap", image=image))
    assert (await client.snapshot.get("async-snap")).id == snap.id
    params = CreateSandboxFromSnapshotParams(
        snapshot="async-snap",
        network_block_all=True,
        volumes=[VolumeMount(volume_id=volume.id, mount_path="/mnt/v")],
    )
    sb = await client.create(params, timeout=60)
    try:
        await sb.fs.upload_file(b"kept", "/mnt/v/f")
        assert (await sb.process.exec("echo $SNAP")).result.strip() == "1"
    finally:
        await client.delete(sb, timeout=60)
    with open(f"{emu.registry.catalog.volume('async-vol').host_dir}/f", "rb") as fh:
        assert fh.read() == b"kept"  # on the volume, after the sandbox is gone
    await client.volume.delete(volume)
    pool = await client.warm_pool.create("async-snap", pool=1)
    deadline = time.monotonic() + 30
    while (await client.warm_pool.list())[0].current_size < 1:
        assert time.monotonic() < deadline, "the pool never filled"
        await asyncio.sleep(0.1)
    pooled = await client.create(CreateSandboxFromSnapshotParams(snapshot="async-snap"))
    assert (await pooled.process.exec("echo $SNAP")).result.strip() == "1"
    await client.delete(pooled, timeout=60)
    await client.warm_pool.delete(pool.id)
    await client.snapshot.delete(snap)


async def test_git_and_errors(sb: Any, emu: Any) -> None:
    setup = (
        "git init -q -b main repo && cd repo && echo a > a && git add a && "
        "git -c user.name=A -c user.email=a@x commit -qm one && git checkout -qb idle"
    )
    assert (await sb.process.exec(setup)).exit_code == 0
    await sb.git.clone(f"{HOME}/repo", "copy", branch="main")
    assert (await sb.git.branches("copy")).branches == ["main"]
    await sb.fs.upload_file(b"b", "copy/b")
    await sb.git.add("copy", ["b"])
    await sb.git.commit("copy", "two", "B", "b@x")
    await sb.git.push("copy")
    assert (await sb.process.exec("git -C repo log --format=%s main")).result.split() == [
        "two",
        "one",
    ]
    with pytest.raises(DaytonaError, match="not supported by the Daytona emulator"):
        await sb.create_lsp_server("python", HOME).start()
