"""The seccomp program kept between processes: used only when it can be trusted."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import _seccomp, _seccomp_cache

FRESH = {net: _seccomp._compile(net) for net in (False, True)}


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    _seccomp.seccomp_program.cache_clear()  # each call below is a new process's first
    yield
    _seccomp.seccomp_program.cache_clear()


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache folder, made by the first store."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "langchain-daytona-exec"


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Count the compiles from here on (each still compiles for real)."""
    calls: list[bool] = []
    real = _seccomp._compile

    def counted(network: bool) -> bytes:
        calls.append(network)
        return real(network)

    monkeypatch.setattr(_seccomp, "_compile", counted)
    return calls


def _next_process_compiles(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A new process's first cached call: the right program, and the compiles it made."""
    _seccomp.seccomp_program.cache_clear()
    calls = _compiles(monkeypatch)
    assert _seccomp.seccomp_program(False, cached=True) == FRESH[False]
    return calls


def _cached(base: Path) -> Path:
    (path,) = base.glob("seccomp-*.bpf")
    return path


def test_a_later_process_reads_the_program_without_the_compiler(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _seccomp.seccomp_program(False, cached=True) == FRESH[False]
    path = _cached(base)
    assert path.stat().st_mode & 0o777 == 0o600
    assert base.stat().st_mode & 0o777 == 0o700
    _seccomp.seccomp_program.cache_clear()

    def no_compiler(*args: object) -> bytes:
        raise AssertionError("compiled although a cached program was there")

    monkeypatch.setattr(_seccomp, "_compile", no_compiler)
    monkeypatch.setattr(_seccomp, "_import_pyseccomp", no_compiler)
    assert _seccomp.seccomp_program(False, cached=True) == FRESH[False]
    with pytest.raises(AssertionError):  # the other setting has its own file
        _seccomp.seccomp_program(True, cached=True)


def test_uncached_calls_always_compile(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _compiles(monkeypatch)
    assert _seccomp.seccomp_program(True) == FRESH[True]
    assert calls == [True]
    assert not base.exists()


def _shared_folder(folder: Path) -> None:
    folder.chmod(0o777)


def _owned_by_nobody(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    os.chown(path, 65534, 65534)


def _symlinked_folder(folder: Path) -> None:
    real = folder.with_name("real")
    folder.rename(real)
    folder.symlink_to(real)


@pytest.mark.parametrize("tamper", [_shared_folder, _owned_by_nobody, _symlinked_folder])
def test_a_cache_folder_others_could_write_is_neither_read_nor_written(
    base: Path, monkeypatch: pytest.MonkeyPatch, tamper: Callable[[Path], None]
) -> None:
    _seccomp.seccomp_program(False, cached=True)
    path = _cached(base)
    tamper(base)
    calls = _next_process_compiles(monkeypatch)
    assert calls == [False]  # not read
    path.unlink()
    _seccomp.seccomp_program.cache_clear()
    assert _seccomp.seccomp_program(False, cached=True) == FRESH[False]
    assert calls == [False, False]
    assert not path.exists()  # not written


def _group_writable(path: Path) -> None:
    path.chmod(0o620)


def _symlink(path: Path) -> None:
    target = path.with_name("elsewhere.bpf")
    target.write_bytes(path.read_bytes())
    target.chmod(0o600)
    path.unlink()
    path.symlink_to(target)


def _other_key(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"network=0", b"network=1", 1))


def _changed_library(path: Path) -> None:  # libseccomp or pyseccomp replaced since
    data = path.read_bytes()
    head, sep, program = data.partition(b"\n\n")
    lines = head.split(b"\n")
    lines[2] = lines[2].rsplit(b" ", 1)[0] + b" 1:1"
    path.write_bytes(b"\n".join(lines) + sep + program)


def _torn_program(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def _no_program(path: Path) -> None:
    path.write_bytes(path.read_bytes().partition(b"\n\n")[0] + b"\n\n")


def _other_format(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"ldx-seccomp 1", b"ldx-seccomp 0", 1))


@pytest.mark.parametrize(
    "tamper",
    [
        _group_writable,
        _owned_by_nobody,
        _symlink,
        _other_key,
        _changed_library,
        _torn_program,
        _no_program,
        _other_format,
    ],
)
def test_a_program_that_is_not_to_be_trusted_is_compiled_again(
    base: Path, monkeypatch: pytest.MonkeyPatch, tamper: Callable[[Path], None]
) -> None:
    _seccomp.seccomp_program(False, cached=True)
    path = _cached(base)
    tamper(path)
    assert _next_process_compiles(monkeypatch) == [False]
    assert not path.is_symlink()  # replaced by the fresh program, as a file of our own
    assert _seccomp_cache.load(_key(False)) == FRESH[False]


def test_a_program_is_read_only_under_its_own_key(base: Path) -> None:
    """The file name is a CRC of the key, but the key itself is compared in full."""
    _seccomp.seccomp_program(False, cached=True)
    forged = base / _seccomp_cache.file_name(_key(True))
    forged.write_bytes(_cached(base).read_bytes())  # the program of the other setting
    forged.chmod(0o600)
    assert _seccomp_cache.load(_key(True)) is None
    assert _seccomp_cache.load(_key(False)) == FRESH[False]


def test_the_key_follows_the_rules_the_setting_and_the_library_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text("DENIED = ('ptrace',)\n")
    key = _seccomp_cache.cache_key(False, str(rules))
    assert key is not None
    assert _seccomp_cache.cache_key(True, str(rules)) != key
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/other-libseccomp")
    assert _seccomp_cache.cache_key(False, str(rules)) != key
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert _seccomp_cache.cache_key(False, str(rules)) == key
    stat = rules.stat()
    rules.write_text("DENIED = ('keyctl',)\n")  # same size, same mtime: only the text differs
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _seccomp_cache.cache_key(False, str(rules)) != key
    assert _seccomp_cache.cache_key(False, str(tmp_path / "missing.py")) is None


def _key(network: bool) -> str:
    key = _seccomp_cache.cache_key(network, _seccomp.__file__)
    assert key is not None
    return key
