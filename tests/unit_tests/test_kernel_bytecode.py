"""The kernel's bytecode is compiled once per install, not at every process start."""

from __future__ import annotations

import importlib.util
import marshal
import os
import py_compile
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _prepare as prepare


def test_current_bytecode_is_used_and_stale_bytecode_is_not(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    assert prepare.current_bytecode(str(source)) is None  # never compiled
    py_compile.compile(str(source), importlib.util.cache_from_source(str(source)), doraise=True)
    assert prepare.current_bytecode(str(source)) is not None
    source.write_text("x = 22\n")  # edited: another size (and mtime)
    os.utime(source, (1, 1))
    assert prepare.current_bytecode(str(source)) is None


def test_the_sandbox_copies_match_a_fresh_unchecked_hash_compile(tmp_path: Path) -> None:
    prepare.ensure_kernel_bytecode()
    assert all(prepare.current_bytecode(s) is not None for s, _ in isolation.KERNEL_SOURCES)
    prepare.kernel_files.cache_clear()
    files = prepare.kernel_files()
    for source, name in isolation.KERNEL_SOURCES:
        pyc = tmp_path / "fresh.pyc"
        py_compile.compile(
            source,
            cfile=str(pyc),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        key = f"{isolation.SANDBOX_KERNEL_DIR}/{importlib.util.cache_from_source(name)}"
        ours, fresh = files[key], pyc.read_bytes()
        assert ours[:16] == fresh[:16], name  # magic, unchecked-hash flag, source hash
        assert marshal.loads(ours[16:]) == marshal.loads(fresh[16:]), name


def test_stale_bytecode_is_compiled_for_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "current_bytecode", lambda source: None)  # e.g. read-only
    prepare.kernel_files.cache_clear()
    try:
        files = prepare.kernel_files()
    finally:
        prepare.kernel_files.cache_clear()
    for source, name in isolation.KERNEL_SOURCES:
        key = f"{isolation.SANDBOX_KERNEL_DIR}/{importlib.util.cache_from_source(name)}"
        assert files[key][4:8] == (0b01).to_bytes(4, "little"), name  # unchecked hash
        with open(source, "rb") as f:
            assert files[f"{isolation.SANDBOX_KERNEL_DIR}/{name}"] == f.read()
        assert marshal.loads(files[key][16:]).co_filename == source


def test_fresh_bytecode_is_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the package's bytecode current, the sandbox's copies need no compile check
    of their own: ``ensure_kernel_bytecode`` runs only when something is stale."""
    prepare.ensure_kernel_bytecode()  # current now (as after any earlier process)
    calls: list[None] = []
    monkeypatch.setattr(prepare, "ensure_kernel_bytecode", lambda: calls.append(None))
    prepare.kernel_files.cache_clear()
    try:
        files = prepare.kernel_files()
    finally:
        prepare.kernel_files.cache_clear()
    assert calls == []
    assert len(files) == 2 * len(isolation.KERNEL_SOURCES)
