"""SandboxPool(persist_dir=...): a key's files outlive its local sandbox, safely."""

from __future__ import annotations

import io
import logging
import tarfile
import time
from pathlib import Path

import pytest

from langchain_daytona_exec import LocalBackend, SandboxPool
from langchain_daytona_exec.pool._workspaces import KeptWorkspace, WorkspaceStore, gc_workspaces
from langchain_daytona_exec.tools import DaytonaPythonTool


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend()


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    return tmp_path / "kept"


def _pool(backend: LocalBackend, kept: Path, **kw: object) -> SandboxPool:
    return SandboxPool(backend, persist_dir=kept, handle_sigterm=False, **kw)  # type: ignore[arg-type]


def test_files_come_back_in_a_new_pool_variables_do_not(backend: LocalBackend, kept: Path) -> None:
    with _pool(backend, kept) as pool, pool.session("t") as sb:
        sb.run_code("x = 41\nimport os\nos.makedirs('out', exist_ok=True)")
        sb.write_file("out/a.txt", "kept")
        first_id = sb.id
    with _pool(backend, kept) as pool:
        with pool.session("t") as sb:
            assert sb.state_lost and sb.lost_reason == "restored"
            assert sb.id == first_id  # the conversation sees its sandbox again
            assert sb.read_file("out/a.txt") == b"kept"
            r = sb.run_code("x")
            assert r.error is not None and r.error.name == "NameError"
        with pool.session("t") as sb:
            assert not sb.state_lost
        with pool.session("other") as sb:  # no data crosses keys
            assert not sb.state_lost and sb.list_files(".") == []


def test_eviction_keeps_files_in_the_same_process(backend: LocalBackend, kept: Path) -> None:
    with _pool(backend, kept, max_size=1) as pool:
        with pool.session("a") as sb:
            sb.write_file("a.txt", "from a")
        with pool.session("b") as sb:  # evicts a: its files are saved, then the reset
            assert sb.list_files(".") == []
        with pool.session("a") as sb:
            assert sb.lost_reason == "restored" and sb.read_file("a.txt") == b"from a"


def test_the_tool_tells_the_model_files_kept_variables_gone(
    backend: LocalBackend, kept: Path
) -> None:
    with _pool(backend, kept) as pool:
        DaytonaPythonTool(pool=pool).invoke({"code": "open('d.txt', 'w').write('1')"})
    with _pool(backend, kept) as pool:
        text = DaytonaPythonTool(pool=pool).invoke({"code": "print(open('d.txt').read())"})
    assert "files in the working folder were kept, but variables and imports are gone" in text
    assert text.rstrip().endswith("1")


def test_reset_forgets_the_kept_files(backend: LocalBackend, kept: Path) -> None:
    with _pool(backend, kept) as pool, pool.session("r") as sb:
        sb.write_file("a.txt", "x")
        sb.reset()
    with _pool(backend, kept) as pool, pool.session("r") as sb:
        assert not sb.state_lost and sb.list_files(".") == []


def test_planted_links_and_special_files_stay_inside(
    backend: LocalBackend, kept: Path, tmp_path: Path
) -> None:
    host_target = tmp_path / "host-secret.txt"
    host_target.write_text("host")
    plant = f"""
import os
os.symlink({str(host_target)!r}, 'abs-link')
os.symlink('../../etc', 'up-link')
os.mkfifo('fifo')
os.makedirs('d')
open('d/ok.txt', 'w').write('ok')
"""
    with _pool(backend, kept) as pool, pool.session("s") as sb:
        assert sb.run_code(plant).ok
    with _pool(backend, kept) as pool, pool.session("s") as sb:
        names = {f.name for f in sb.list_files(".")}
        assert names == {"d"}  # links leading out and the fifo were skipped
        assert sb.read_file("d/ok.txt") == b"ok"
    assert host_target.read_text() == "host"
    assert sorted(p.suffix for p in kept.iterdir()) == [".json", ".tar"]


def _evil_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("../escape.txt", b"up"), ("/tmp/abs.txt", b"abs"), ("ok.txt", b"ok")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("tmp-link")
        link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
        tar.addfile(link)
        through = tarfile.TarInfo("tmp-link/through.txt")
        through.size = 3
        tar.addfile(through, io.BytesIO(b"via"))
        dev = tarfile.TarInfo("null")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(dev)
    return buf.getvalue()


def test_a_hostile_archive_is_unpacked_inside_the_workspace_only(
    backend: LocalBackend, kept: Path
) -> None:
    store = WorkspaceStore(kept, 1 << 20)
    store.save(KeptWorkspace("h", "evil", time.time(), 10, _evil_archive()))
    with _pool(backend, kept) as pool, pool.session("h") as sb:
        assert sb.lost_reason == "restored"
        # '/tmp/abs.txt' lands under the workspace; the link to /tmp and the device
        # are skipped, so 'tmp-link/through.txt' is a plain folder and file here.
        assert {f.name for f in sb.list_files(".")} == {"ok.txt", "tmp", "tmp-link"}
        assert sb.read_file("tmp/abs.txt") == b"abs"
        assert sb.read_file("tmp-link/through.txt") == b"via"
        check = sb.exec(
            "test ! -L tmp-link && test ! -e /tmp/abs.txt && test ! -e /tmp/through.txt "
            "&& test ! -e ../escape.txt && test ! -e null && echo clean"
        )
        assert check.stdout == "clean\n", check


def test_over_the_size_limit_is_not_kept_and_said(
    backend: LocalBackend, kept: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        _pool(backend, kept, persist_max_bytes=1000) as pool,
        pool.session("big") as sb,
    ):
        sb.write_file("big.bin", b"x" * 5000)
    assert (
        "were not kept: its working folder held 4.9 KiB of files, over the 1000 bytes kept "
        "between runs (persist_max_bytes)"
    ) in caplog.text
    with _pool(backend, kept, persist_max_bytes=1000) as pool:
        text = DaytonaPythonTool(pool=pool, fallback_key="big").invoke({"code": "1"})
    assert "its files were over the size kept between runs" in text


def test_gc_removes_old_workspaces(kept: Path) -> None:
    store = WorkspaceStore(kept, 1 << 20)
    store.save(KeptWorkspace("old", "a", 1000.0, 0, b""))
    store.save(KeptWorkspace("new", "b", 5000.0, 0, b""))
    assert gc_workspaces(kept, 3000, now=6000.0, dry_run=True) == [("old", 5000.0)]
    assert store.load("old") is not None
    assert gc_workspaces(kept, 3000, now=6000.0) == [("old", 5000.0)]
    assert store.load("old") is None and store.load("new") is not None
