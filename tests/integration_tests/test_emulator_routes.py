"""File routes, update_env and PTY sessions, through the real ``daytona`` SDK."""

from __future__ import annotations

import time
from typing import Any

import pytest
from daytona import DaytonaError, DaytonaNotFoundError, FileUpload, PtySize

from tests.integration_tests.daytona_support import emu, sdk, sdk_sandbox  # noqa: F401

# -- files ------------------------------------------------------------------------------------


@pytest.fixture
def tree(sdk_sandbox: Any) -> Any:
    sdk_sandbox.fs.upload_files(
        [
            FileUpload(b"# TODO: one\nx = 1\n", "proj/a.py"),
            FileUpload(b"print('hi')  # TODO: two\n", "proj/sub/b.py"),
            FileUpload(b"nothing here\n", "proj/notes.txt"),
            FileUpload(b"\x00\x01TODO binary", "proj/blob.bin"),
        ]
    )
    yield sdk_sandbox
    sdk_sandbox.fs.delete_file("proj", recursive=True)


def test_find_files_searches_contents_with_line_numbers(tree: Any) -> None:
    matches = tree.fs.find_files("proj", "TODO:")
    found = sorted((m.file, m.line, m.content) for m in matches)
    assert found == [
        ("/home/daytona/proj/a.py", 1, "# TODO: one"),
        ("/home/daytona/proj/sub/b.py", 1, "print('hi')  # TODO: two"),
    ]
    assert tree.fs.find_files("proj", "no such text") == []
    with pytest.raises(DaytonaNotFoundError):
        tree.fs.find_files("missing-folder", "x")


def test_search_files_matches_names(tree: Any) -> None:
    assert sorted(tree.fs.search_files("proj", "*.py").files) == [
        "/home/daytona/proj/a.py",
        "/home/daytona/proj/sub/b.py",
    ]
    assert tree.fs.search_files("/home/daytona/proj", "notes*").files == [
        "/home/daytona/proj/notes.txt"
    ]


def test_replace_in_files_reports_each_file(tree: Any) -> None:
    results = tree.fs.replace_in_files(["proj/a.py", "proj/missing.py"], "TODO", "DONE")
    by_file = {r.file: r for r in results}
    assert by_file["proj/a.py"].success is True
    assert by_file["proj/missing.py"].success is False and by_file["proj/missing.py"].error
    assert tree.fs.download_file("proj/a.py") == b"# DONE: one\nx = 1\n"


def test_set_file_permissions_and_move_files(tree: Any) -> None:
    tree.fs.set_file_permissions("proj/notes.txt", mode="600")
    assert tree.fs.get_file_info("proj/notes.txt").permissions.endswith("600") or (
        tree.process.exec("stat -c %a proj/notes.txt").result.strip() == "600"
    )
    tree.fs.set_file_permissions("proj/sub", mode="700", owner="daytona")
    assert tree.process.exec("stat -c %a proj/sub").result.strip() == "700"
    with pytest.raises(DaytonaError, match="permissions"):
        tree.fs.set_file_permissions("proj/notes.txt", owner="root")
    tree.fs.move_files("proj/notes.txt", "proj/sub/moved.txt")
    assert tree.fs.download_file("proj/sub/moved.txt") == b"nothing here\n"
    with pytest.raises(DaytonaNotFoundError):
        tree.fs.move_files("proj/notes.txt", "proj/again.txt")


# -- environment --------------------------------------------------------------------------------


def test_update_env_reaches_later_processes_and_unset_removes(sdk_sandbox: Any) -> None:
    sdk_sandbox.update_env({"APP_MODE": "test", "OTHER": "1"})
    assert sdk_sandbox.process.exec("echo $APP_MODE-$OTHER").result.strip() == "test-1"
    code = "import os; print(os.environ.get('APP_MODE'))"
    assert sdk_sandbox.code_interpreter.run_code(code).stdout == "test\n"
    sdk_sandbox.update_env({}, unset=["OTHER"])
    assert sdk_sandbox.process.exec("echo ${OTHER:-gone}").result.strip() == "gone"


# -- PTY ----------------------------------------------------------------------------------------


def _read_until(handle: Any, needle: bytes, timeout: float = 15.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    for chunk in handle._handle_events(deadline):
        seen += chunk
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} not seen in {seen!r}")


def test_pty_shell_is_interactive_resizable_and_killable(sdk_sandbox: Any) -> None:
    proc = sdk_sandbox.process
    handle = proc.create_pty_session("term", envs={"PTY_VAR": "yes"}, pty_size=PtySize(24, 80))
    try:
        handle.wait_for_connection()
        handle.send_input("echo marker-$PTY_VAR; cd /tmp; pwd\n")
        out = _read_until(handle, b"/tmp\r\n")
        assert b"marker-yes" in out
        handle.send_input("stty size\n")
        assert b"24 80" in _read_until(handle, b"24 80")
        info = handle.resize(PtySize(rows=30, cols=100))
        assert (info.rows, info.cols) == (30, 100)
        handle.send_input("stty size\n")
        assert b"30 100" in _read_until(handle, b"30 100")
        assert [s.id for s in proc.list_pty_sessions()] == ["term"]
        assert proc.get_pty_session_info("term").active is True
        handle.send_input("exit 7\n")
        result = handle.wait(timeout=15)
        assert result.exit_code == 7
    finally:
        handle.disconnect()
    proc.kill_pty_session("term")
    assert proc.list_pty_sessions() == []


def test_pty_connect_to_an_existing_session_and_kill_it(sdk_sandbox: Any) -> None:
    proc = sdk_sandbox.process
    first = proc.create_pty_session("shared")
    first.wait_for_connection()
    first.disconnect()
    again = proc.connect_pty_session("shared")
    try:
        again.send_input("echo still-here\n")
        assert b"still-here" in _read_until(again, b"still-here\r\n")
        proc.kill_pty_session("shared")
        result = again.wait(timeout=15)
        assert result.exit_code is not None and result.exit_code != 0
    finally:
        again.disconnect()
    with pytest.raises(DaytonaError):
        proc.connect_pty_session("no-such-pty")


def test_pty_connect_while_the_session_still_starts_waits_for_it(
    sdk_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that arrives before the PTY's host runs (its folder may not exist
    yet) waits for it, instead of taking the missing folder for an exit."""
    import asyncio
    import threading

    from langchain_daytona_exec.emulator import _pty

    gate = threading.Event()
    real = _pty.run_in_threadpool

    async def held(func: Any, *args: Any) -> Any:  # only _start writes through it
        await asyncio.to_thread(gate.wait, 30)
        return await real(func, *args)

    monkeypatch.setattr(_pty, "run_in_threadpool", held)
    proc = sdk_sandbox.process
    first = proc.create_pty_session("held")  # "connected" comes before the start
    first.wait_for_connection()
    first.disconnect()
    again = proc.connect_pty_session("held")
    try:
        gate.set()
        again.send_input("echo started-late\n")
        assert b"started-late" in _read_until(again, b"started-late\r\n")
    finally:
        gate.set()
        again.disconnect()
    proc.kill_pty_session("held")


# -- what Daytona's own e2e suite checks beside the above ------------------------------------


def test_streams_labels_listing_and_small_behaviours(sdk: Any, sdk_sandbox: Any) -> None:
    import io

    from daytona import ListSandboxesQuery

    payload = bytes(range(256)) * 64
    sent: list[int] = []
    sdk_sandbox.fs.upload_file_stream(
        io.BytesIO(payload), "stream.bin", on_progress=lambda p: sent.append(p.bytes_sent)
    )
    assert sent and sent[-1] == len(payload)
    assert b"".join(sdk_sandbox.fs.download_file_stream("stream.bin")) == payload
    with pytest.raises(DaytonaError):
        b"".join(sdk_sandbox.fs.download_file_stream("no-such-file.bin"))
    assert sdk_sandbox.set_labels({"e2e": "true"})["e2e"] == "true"
    assert sdk.get(sdk_sandbox.id).name == sdk_sandbox.name
    assert len(list(sdk.list(ListSandboxesQuery(limit=1)))) >= 1
    assert sdk_sandbox.process.exec("pwd", cwd="/tmp").result.strip() == "/tmp"
    assert sdk_sandbox.process.exec("echo $A", env={"A": "v"}).result.strip() == "v"
    assert sdk_sandbox.process.code_run("def incomplete(").exit_code != 0
    sdk_sandbox.process.create_session("twice")
    with pytest.raises(DaytonaError, match="already exists"):
        sdk_sandbox.process.create_session("twice")
    sdk_sandbox.process.delete_session("twice")
