"""Volumes, snapshots and warm pools, through the real ``daytona`` SDK."""

from __future__ import annotations

import time
from typing import Any

import pytest
from daytona import (
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    DaytonaError,
    DaytonaNotFoundError,
    Image,
    VolumeMount,
)
from daytona_api_client.exceptions import ConflictException, NotFoundException

from tests.integration_tests.daytona_support import emu, guard_rules, sdk  # noqa: F401
from tests.integration_tests.package_index import serve_index


def _create(sdk: Any, **kwargs: Any) -> Any:
    return sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True, **kwargs), timeout=60)


def test_volumes_are_shared_between_sandboxes_and_outlive_them(sdk: Any) -> None:
    volume = sdk.volume.create("shared-data")
    try:
        assert sdk.volume.get("shared-data").id == volume.id
        assert volume.id in [v.id for v in sdk.volume.list()]
        mount = [VolumeMount(volume_id=volume.id, mount_path="/home/daytona/shared")]
        writer = _create(sdk, volumes=mount)
        writer.fs.upload_file(b"from the writer", "shared/note.txt")
        reader = _create(sdk, volumes=[VolumeMount(volume_id=volume.id, mount_path="/mnt/vol")])
        assert reader.fs.download_file("/mnt/vol/note.txt") == b"from the writer"
        with pytest.raises(DaytonaError, match="in use"):
            sdk.volume.delete(volume)
        sdk.delete(writer, timeout=60)
        sdk.delete(reader, timeout=60)
        later = _create(sdk, volumes=mount)
        assert later.fs.download_file("shared/note.txt") == b"from the writer"
        sdk.delete(later, timeout=60)
    finally:
        sdk.volume.delete(volume)
    with pytest.raises(DaytonaNotFoundError):
        sdk.volume.get("shared-data")
    assert sdk.volume.get("made-on-demand", create=True).name == "made-on-demand"


def test_unknown_volume_is_refused(sdk: Any) -> None:
    with pytest.raises(DaytonaNotFoundError):
        _create(sdk, volumes=[VolumeMount(volume_id="nope", mount_path="/mnt/x")])


def test_snapshots_list_get_create_delete_and_create_uses_them(sdk: Any, emu: Any) -> None:
    image = Image.debian_slim("3.12").env({"FROM_SNAPSHOT": "yes"}).run_commands("echo x > /tmp/r")
    snap = sdk.snapshot.create(CreateSnapshotParams(name="analysis", image=image))
    assert snap.state == "active"
    assert sdk.snapshot.get("analysis").id == snap.id
    assert "analysis" in [s.name for s in sdk.snapshot.list().items]
    sb = sdk.create(CreateSandboxFromSnapshotParams(snapshot="analysis", network_block_all=True))
    try:
        assert sb.snapshot == "analysis"
        assert sb.process.exec("echo $FROM_SNAPSHOT; cat /tmp/r").result.split() == ["yes", "x"]
    finally:
        sdk.delete(sb, timeout=60)
    emu.register_snapshot("registered", env={"LOCAL_ENV": "1"}, setup=["touch made"])
    sb = sdk.create(CreateSandboxFromSnapshotParams(snapshot="registered", network_block_all=True))
    try:
        assert sb.process.exec("echo $LOCAL_ENV; ls made").result.split() == ["1", "made"]
    finally:
        sdk.delete(sb, timeout=60)
    sdk.snapshot.delete(snap)
    with pytest.raises(DaytonaNotFoundError):
        sdk.snapshot.get("analysis")


def test_a_snapshot_that_cannot_be_built_offline_fails_with_the_reason(
    sdk: Any, tmp_path: Any
) -> None:
    with serve_index(tmp_path) as index:  # loopback: pip asks nothing outside
        image = Image.debian_slim("3.12").pip_install(
            "surely-not-a-real-package-xyz", index_url=f"{index.url}/simple/"
        )
        with pytest.raises(DaytonaError, match="surely-not-a-real-package-xyz"):
            sdk.snapshot.create(CreateSnapshotParams(name="broken", image=image))
        assert sdk.snapshot.get("broken").state == "build_failed"


def test_warm_pool_hands_out_a_ready_sandbox_and_refills(sdk: Any, emu: Any) -> None:
    emu.register_snapshot("pooled", env={"POOLED": "1"})
    pool = sdk.warm_pool.create("pooled", pool=1)
    try:
        deadline = time.monotonic() + 30
        while sdk.warm_pool.list()[0].current_size < 1:
            assert time.monotonic() < deadline, "the pool never filled"
            time.sleep(0.1)
        ready_id = emu.registry.catalog.pools[pool.id].ready[0].id
        # The SDK's warm pool service passes the API client's errors through (documented).
        with pytest.raises(ConflictException, match="already exists"):
            sdk.warm_pool.create("pooled", pool=2)
        sb = sdk.create(
            CreateSandboxFromSnapshotParams(
                snapshot="pooled", labels={"who": "me"}, env_vars={"MINE": "2"}
            )
        )
        try:
            assert sb.id == ready_id  # the pooled sandbox, not a new one
            assert sb.labels["who"] == "me" and sb.network_block_all is False
            uid = emu.registry.get(sb.id).local.uid
            assert len(guard_rules(uid)) == 1  # its network opened guarded
            assert sb.process.exec("echo $POOLED$MINE").result.strip() == "12"
        finally:
            sdk.delete(sb, timeout=60)
        assert guard_rules(uid) == []
        deadline = time.monotonic() + 30
        while sdk.warm_pool.list()[0].current_size < 1:  # refilled
            assert time.monotonic() < deadline, "the pool never refilled"
            time.sleep(0.1)
        assert sdk.warm_pool.update(pool.id, pool=0).current_size == 0
    finally:
        sdk.warm_pool.delete(pool.id)
    assert sdk.warm_pool.list() == []
    with pytest.raises(NotFoundException):
        sdk.warm_pool.create("no-such-snapshot", pool=1)


def test_a_snapshot_entrypoint_runs_as_the_entrypoint_session(sdk: Any) -> None:
    image = Image.debian_slim("3.12").entrypoint(["sh", "-c", "echo started; sleep 60"])
    sdk.snapshot.create(CreateSnapshotParams(name="with-entrypoint", image=image))
    sb = _create(sdk, snapshot="with-entrypoint")
    try:
        deadline = time.monotonic() + 15
        while "started" not in (sb.process.get_entrypoint_logs().stdout or ""):
            assert time.monotonic() < deadline, "the entrypoint never ran"
            time.sleep(0.1)
        [command] = sb.process.get_entrypoint_session().commands
        assert command.command == "sh -c 'echo started; sleep 60'" and command.exit_code is None
        sb.stop()
        sb.start()  # Daytona runs the entrypoint at every start
        assert len(sb.process.get_entrypoint_session().commands) == 1
    finally:
        sdk.delete(sb, timeout=60)
        sdk.snapshot.delete(sdk.snapshot.get("with-entrypoint"))
    plain = _create(sdk)
    try:
        with pytest.raises(DaytonaNotFoundError, match="no entrypoint"):
            plain.process.get_entrypoint_logs()
    finally:
        sdk.delete(plain, timeout=60)
