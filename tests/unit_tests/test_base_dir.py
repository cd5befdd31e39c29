"""The host-side base folder: one per user, private, never a symlink or someone else's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local.backend import (
    LocalBackend,
    default_base_dir,
    ensure_private_dir,
)
from langchain_daytona_exec.errors import IsolationUnavailableError


def test_default_is_per_user_under_the_runtime_dir_or_temp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_base_dir() == str(tmp_path / "langchain-daytona-exec")
    assert LocalBackend().base_dir == str(tmp_path / "langchain-daytona-exec")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert default_base_dir() == str(tmp_path / f"langchain-daytona-exec-{os.geteuid()}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/path")  # not absolute: ignored
    assert default_base_dir().endswith(f"langchain-daytona-exec-{os.geteuid()}")


def test_explicit_base_dir_is_kept(tmp_path: Path) -> None:
    assert LocalBackend(base_dir=str(tmp_path / "mine")).base_dir == str(tmp_path / "mine")


def test_created_private(tmp_path: Path) -> None:
    base = tmp_path / "a" / "base"
    ensure_private_dir(str(base))
    assert base.is_dir() and (base.stat().st_mode & 0o777) == 0o700
    ensure_private_dir(str(base))  # idempotent


def test_own_world_writable_folder_is_tightened(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    ensure_private_dir(str(base))
    assert base.stat().st_mode & 0o022 == 0


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "base"
    link.symlink_to(target)
    with pytest.raises(IsolationUnavailableError, match="symlink"):
        ensure_private_dir(str(link))
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(IsolationUnavailableError, match="not a usable folder"):
        ensure_private_dir(str(file))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder owned by another uid")
def test_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    os.chown(base, 65534, 65534)
    with pytest.raises(IsolationUnavailableError, match="belongs to uid 65534"):
        ensure_private_dir(str(base))
    with pytest.raises(IsolationUnavailableError, match="belongs to uid 65534"):
        LocalBackend(base_dir=str(base), unsafe_no_isolation=True).create()
    assert os.listdir(base) == []  # nothing was planted in it
