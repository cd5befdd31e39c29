"""Which binds lie below another, and when a symlink leads one out of it (no sandbox)."""

from __future__ import annotations

import os
from pathlib import Path

from langchain_daytona_exec.backends.local import _bindcheck as bindcheck


def test_only_binds_below_an_earlier_writable_bind_are_nested() -> None:
    binds = [
        ("/srv/a", "/workspace/a"),  # directly below the workspace
        ("/srv/b", "/workspace/sub/b"),
        ("/srv/c", "/data"),
        ("/srv/d", "/data/deep/d"),  # below another bind
        ("/srv/e", "/workspacex/e"),  # a sibling that only shares a prefix
    ]
    assert bindcheck.nested_binds("/workspace", "/host/work", binds) == [
        ("/workspace/a", "/host/work", "/host/work/a"),
        ("/workspace/sub/b", "/host/work", "/host/work/sub/b"),
        ("/data/deep/d", "/srv/c", "/srv/c/deep/d"),
    ]
    # without a host workspace (a fresh tmpfs each start) only binds below binds count
    assert bindcheck.nested_binds("/workspace", None, binds) == [
        ("/data/deep/d", "/srv/c", "/srv/c/deep/d")
    ]
    assert bindcheck.nested_binds("/workspace", "/host/work", []) == []


def test_a_symlink_out_of_the_earlier_bind_is_found(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "real").mkdir(parents=True)
    outside.mkdir()
    os.symlink(str(outside), work / "absolute")
    os.symlink("../outside", work / "relative")
    os.symlink("real", work / "within")

    def check(name: str) -> str | None:
        inside = f"/workspace/{name}/x"
        return bindcheck.symlinked_bind([(inside, str(work), str(work / name / "x"))])

    assert check("absolute") == "/workspace/absolute/x"
    assert check("relative") == "/workspace/relative/x"
    assert check("within") is None
    assert check("real") is None
    assert check("missing") is None  # not made yet: made as a folder, nothing to follow
