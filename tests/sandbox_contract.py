"""The ``Sandbox`` contract, one suite for every backend (in the style of langchain-tests).

A backend's test module subclasses :class:`SandboxContractTests` and provides a
``sandbox`` fixture yielding a fresh, open sandbox (closed after the test)::

    class TestLocalContract(SandboxContractTests):
        @pytest.fixture
        def sandbox(self) -> Iterator[Sandbox]:
            with LocalBackend().create() as sb:
                yield sb

Subclasses run on ``LocalBackend`` (tests/integration_tests/test_contract_local.py),
``DaytonaBackend`` through the emulator (test_contract_daytona.py) and the in-memory
backend of ``langchain_daytona_exec.testing`` (tests/unit_tests/test_contract_memory.py).
Only what every backend promises is here; what one backend adds (fd-level capture,
separate shell streams, cgroups, websocket counts, timeouts...) stays in its own tests.
The in-memory backend's shell knows a few commands only (see its docstring): the shell
commands used here are among them.
"""

from __future__ import annotations

import posixpath

import pytest

from langchain_daytona_exec.errors import (
    SandboxClosedError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.sandbox import Sandbox

__all__ = ["SandboxContractTests"]


class SandboxContractTests:
    """Every test takes a fresh sandbox from the subclass's ``sandbox`` fixture."""

    @pytest.fixture
    def sandbox(self) -> Sandbox:
        raise NotImplementedError("a subclass provides the `sandbox` fixture")

    # -- identity -----------------------------------------------------------------------

    def test_identity_and_working_folder(self, sandbox: Sandbox) -> None:
        assert sandbox.id and isinstance(sandbox.id, str)
        assert sandbox.backend_name
        assert posixpath.isabs(sandbox.workdir)
        assert sandbox.is_alive()

    # -- Python ---------------------------------------------------------------------------

    def test_state_persists_and_the_last_expression_is_the_result(self, sandbox: Sandbox) -> None:
        first = sandbox.run_code("x = 41\nprint('hello')")
        assert first.ok and first.stdout == "hello\n" and first.result is None
        second = sandbox.run_code("x + 1")
        assert (second.result, second.stdout, second.state_lost) == ("42", "", False)
        assert sandbox.run_code("y = None\ny").result is None
        assert sandbox.run_code("'text'").result == "'text'"  # the repr, as in a REPL
        assert sandbox.run_code("for i in range(2): pass").result is None

    def test_errors_name_the_exception_and_state_survives(self, sandbox: Sandbox) -> None:
        sandbox.run_code("keep = 7")
        failed = sandbox.run_code("def f():\n    return 1 / 0\nf()")
        assert not failed.ok and failed.error is not None
        assert (failed.error.name, failed.error.value) == ("ZeroDivisionError", "division by zero")
        assert "ZeroDivisionError" in failed.error.traceback
        syntax = sandbox.run_code("def broken(:")
        assert syntax.error is not None and syntax.error.name == "SyntaxError"
        assert sandbox.run_code("keep").result == "7"

    def test_output_before_an_error_is_kept(self, sandbox: Sandbox) -> None:
        r = sandbox.run_code("print('partial')\nraise ValueError('bad input')")
        assert r.stdout == "partial\n"
        assert r.error is not None and (r.error.name, r.error.value) == ("ValueError", "bad input")

    def test_an_unknown_language_is_refused(self, sandbox: Sandbox) -> None:
        with pytest.raises(UnsupportedLanguageError):
            sandbox.run_code("print 1", language="cobol")
        assert sandbox.run_code("1 + 1").result == "2"

    # -- shell ----------------------------------------------------------------------------

    def test_exec_returns_exit_codes_and_output(self, sandbox: Sandbox) -> None:
        ok = sandbox.exec("echo out")
        assert (ok.exit_code, ok.stdout, ok.timed_out) == (0, "out\n", False)
        assert sandbox.exec("exit 3").exit_code == 3
        assert sandbox.exec("false").exit_code == 1
        missing = sandbox.exec("no-such-command-here")
        assert missing.exit_code == 127

    def test_exec_runs_in_the_working_folder_or_cwd_with_env(self, sandbox: Sandbox) -> None:
        assert sandbox.exec("pwd").stdout == f"{sandbox.workdir}\n"
        sandbox.exec("mkdir -p sub/dir")
        assert sandbox.exec("pwd", cwd="sub/dir").stdout == f"{sandbox.workdir}/sub/dir\n"
        assert sandbox.exec("echo $GREETING", env={"GREETING": "hi"}).stdout == "hi\n"

    def test_the_shell_sees_written_files(self, sandbox: Sandbox) -> None:
        sandbox.write_file("notes/a.txt", "from write_file")
        assert sandbox.exec("cat notes/a.txt").stdout == "from write_file"
        assert sandbox.exec("cat a.txt", cwd="notes").stdout == "from write_file"

    # -- files ------------------------------------------------------------------------------

    def test_files_round_trip_with_parent_folders(self, sandbox: Sandbox) -> None:
        sandbox.write_file("data/deep/a.csv", "x,y\n1,2\n")
        sandbox.write_file("data/b.bin", bytes(range(256)))
        sandbox.write_file("empty.txt", b"")
        assert sandbox.read_file("data/deep/a.csv") == b"x,y\n1,2\n"
        assert sandbox.read_file(f"{sandbox.workdir}/data/b.bin") == bytes(range(256))
        assert sandbox.read_file("empty.txt") == b""
        sandbox.write_file("empty.txt", "overwritten")
        assert sandbox.read_file("empty.txt") == b"overwritten"

    def test_list_files_shows_names_paths_folders_and_sizes(self, sandbox: Sandbox) -> None:
        assert sandbox.list_files(".") == []  # a fresh working folder is empty
        sandbox.write_file("data/deep/a.csv", "a,b\n1,2\n")
        sandbox.write_file("data/top.txt", "hello")
        top = {f.name: f for f in sandbox.list_files("data")}
        assert set(top) == {"deep", "top.txt"}
        assert top["deep"].is_dir and top["deep"].path == "data/deep"
        assert not top["top.txt"].is_dir and top["top.txt"].size == 5
        assert top["top.txt"].path == "data/top.txt"  # relative, as it was asked
        deep = {(f.path, f.is_dir, f.size) for f in sandbox.list_files(".", depth=3)}
        assert {("data", True, 0), ("data/deep/a.csv", False, 8)} <= deep
        absolute = sandbox.list_files(f"{sandbox.workdir}/data")
        assert {f.path for f in absolute} == {
            f"{sandbox.workdir}/data/deep",
            f"{sandbox.workdir}/data/top.txt",
        }

    def test_file_errors_are_typed(self, sandbox: Sandbox) -> None:
        sandbox.write_file("folder/f.txt", "12345678901")
        with pytest.raises(SandboxFileNotFoundError):
            sandbox.read_file("missing.txt")
        with pytest.raises(FileNotFoundError):  # also the builtin type
            sandbox.read_file("missing.txt")
        with pytest.raises(SandboxIsADirectoryError):
            sandbox.read_file("folder")
        with pytest.raises(SandboxIsADirectoryError):
            sandbox.write_file("folder", "x")
        with pytest.raises(SandboxFileNotFoundError):
            sandbox.list_files("no/such/folder")
        with pytest.raises(SandboxFileTooLargeError):
            sandbox.read_file("folder/f.txt", max_bytes=10)
        assert sandbox.read_file("folder/f.txt", max_bytes=11) == b"12345678901"

    def test_a_file_is_not_a_folder(self, sandbox: Sandbox) -> None:
        sandbox.write_file("f.txt", "x")
        with pytest.raises(SandboxFileError) as listing:
            sandbox.list_files("f.txt")
        assert type(listing.value) is SandboxFileError  # not "not found": it exists
        with pytest.raises(SandboxFileNotFoundError):
            sandbox.exec("pwd", cwd="f.txt")
        with pytest.raises(SandboxFileNotFoundError):
            sandbox.exec("pwd", cwd="missing")
        with pytest.raises(SandboxFileError):
            sandbox.write_file("f.txt/under", "x")
        assert sandbox.read_file("f.txt") == b"x"

    # -- lifecycle ----------------------------------------------------------------------------

    def test_reset_gives_a_fresh_interpreter_and_an_empty_folder(self, sandbox: Sandbox) -> None:
        sandbox.run_code("secret = 1")
        sandbox.write_file("notes.txt", "x")
        sandbox.reset()
        assert sandbox.run_code("'secret' in globals()").result == "False"
        assert sandbox.list_files(".") == []
        assert sandbox.is_alive()

    def test_close_is_final_and_idempotent(self, sandbox: Sandbox) -> None:
        sandbox.close()
        sandbox.close()
        assert not sandbox.is_alive()
        with pytest.raises(SandboxClosedError):
            sandbox.run_code("1")
        with pytest.raises(SandboxClosedError):
            sandbox.exec("true")
        with pytest.raises(SandboxClosedError):
            sandbox.read_file("x")

    def test_a_sandbox_is_a_context_manager(self, sandbox: Sandbox) -> None:
        with sandbox as same:
            assert same is sandbox
            assert same.run_code("2 * 21").result == "42"
        assert not sandbox.is_alive()

    async def test_async_twins(self, sandbox: Sandbox) -> None:
        assert (await sandbox.arun_code("a = 2\na * 21")).result == "42"
        await sandbox.awrite_file("async.txt", "hi")
        assert await sandbox.aread_file("async.txt") == b"hi"
        assert [f.name for f in await sandbox.alist_files(".")] == ["async.txt"]
        assert (await sandbox.aexec("cat async.txt")).stdout == "hi"
        assert await sandbox.ais_alive()
        await sandbox.areset()
        assert (await sandbox.arun_code("'a' in globals()")).result == "False"
        async with sandbox:
            pass
        assert not sandbox.is_alive()
