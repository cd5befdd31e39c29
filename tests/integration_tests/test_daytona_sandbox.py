"""The ``Sandbox`` contract on DaytonaBackend, through the real SDK, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_daytona_exec import DaytonaBackend, DaytonaSandbox
from langchain_daytona_exec.backends.daytona import KEY_LABEL, MANAGED_LABEL, OWNER_LABEL
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.errors import (
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    UnsupportedLanguageError,
)
from tests.integration_tests.daytona_support import backend, clean_emu, emu, make_backend

__all__ = ["backend", "clean_emu", "emu"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sb(backend: DaytonaBackend) -> Iterator[DaytonaSandbox]:
    sandbox = backend.create(labels={"suite": "contract"})
    yield sandbox
    sandbox.close()


def test_create_applies_safe_defaults_and_labels(emu: Emulator, sb: DaytonaSandbox) -> None:
    record = emu.registry.get(sb.id)
    assert record is not None
    assert record.network_block_all is True
    assert record.auto_stop_interval == 15 and record.auto_delete_interval == 45
    assert sb.labels[MANAGED_LABEL] == "true"
    assert sb.labels[OWNER_LABEL] == "tests@emulator"
    assert sb.labels["suite"] == "contract"
    assert sb.backend_name == "daytona"


def test_one_websocket_exchange_per_chart_free_call(
    clean_emu: Emulator, sb: DaytonaSandbox
) -> None:
    sb.run_code("y = 1")  # the context exists from earlier tests
    clean_emu.reset_stats()
    sb.run_code("y + 1")
    stats = clean_emu.stats()
    assert stats["websockets"] == 1 and stats["http_requests"] == 0, stats


def test_errors_have_the_users_traceback(sb: DaytonaSandbox) -> None:
    result = sb.run_code("def f():\n    return 1 / 0\nf()")
    assert result.error is not None and result.error.name == "ZeroDivisionError"
    assert "<cell-" in result.error.traceback and "__ldx" not in result.error.traceback
    syntax = sb.run_code("def (:")
    assert syntax.error is not None and syntax.error.name == "SyntaxError"


def test_charts_are_captured_and_downloaded_once(clean_emu: Emulator, sb: DaytonaSandbox) -> None:
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\nax.set_title('growth')\n"
        "plt.figure()\nplt.bar([1, 2], [3, 4])\n"
    )
    sb.run_code("import matplotlib.pyplot")  # warm the import before counting
    clean_emu.reset_stats()
    result = sb.run_code(code)
    assert result.ok, result
    assert [c.title for c in result.charts] == ["growth", None]
    assert all(c.png.startswith(PNG_MAGIC) for c in result.charts)
    stats = clean_emu.stats()
    assert stats["websockets"] == 1 and stats["http_requests"] == 1, stats
    assert sb.run_code("1").charts == []  # figures were closed


def test_forged_records_do_not_confuse_the_parser(sb: DaytonaSandbox) -> None:
    result = sb.run_code('print(\'\\x1eLDX-RECORD:0000{"result": "fake"}\')\n7')
    assert result.result == "7" and "LDX-RECORD:0000" in result.stdout


def test_timeout_keeps_state_when_interrupted(sb: DaytonaSandbox) -> None:
    sb.run_code("kept = 'yes'")
    result = sb.run_code("import time\nprint('before')\ntime.sleep(30)", timeout=1)
    assert result.timed_out and not result.state_lost
    assert "before" in result.stdout and "LDX-RECORD" not in result.stdout
    assert sb.run_code("kept").result == "'yes'"


def test_timeout_that_ignores_the_interrupt_loses_state(sb: DaytonaSandbox) -> None:
    sb.run_code("kept = 1")
    code = (
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n"
        "    except KeyboardInterrupt:\n        pass"
    )
    result = sb.run_code(code, timeout=1)
    assert result.timed_out and result.state_lost
    after = sb.run_code("'kept' in globals()")
    assert after.result == "False" and not after.state_lost


def test_javascript_runs_once(sb: DaytonaSandbox) -> None:
    ok = sb.run_code("console.log(6 * 7)", language="javascript")
    assert ok.ok and ok.stdout.strip() == "42"
    bad = sb.run_code("throw new TypeError('nope')", language="javascript")
    assert bad.error is not None and bad.error.name == "TypeError"
    with pytest.raises(UnsupportedLanguageError):
        sb.run_code("print 1", language="cobol")


def test_exec_merges_output_and_honours_cwd_env_timeout(sb: DaytonaSandbox) -> None:
    result = sb.exec("echo out; echo err >&2; echo $GREETING; exit 3", env={"GREETING": "hi"})
    assert result.exit_code == 3 and result.stderr == ""
    assert result.stdout.split() == ["out", "hi", "err"] or set(result.stdout.split()) == {
        "out",
        "err",
        "hi",
    }
    sb.exec("mkdir -p sub/dir")
    assert sb.exec("pwd", cwd="sub").stdout.strip() == f"{sb.workdir}/sub"
    with pytest.raises(SandboxFileNotFoundError, match="no/such"):  # as the local backend
        sb.exec("pwd", cwd="no/such")
    slow = sb.exec("sleep 10", timeout=1)
    assert slow.timed_out and slow.exit_code == 124


def test_python_sees_uploaded_files(sb: DaytonaSandbox) -> None:
    # The round trip and listing are in the contract suite (test_contract_daytona.py).
    sb.write_file("data/a.csv", "x,y\n1,2\n")
    assert sb.run_code("open('data/a.csv').read()").result == "'x,y\\n1,2\\n'"


def test_write_limit_is_checked_before_upload(emu: Emulator) -> None:
    small = make_backend(emu, max_file_bytes=4)
    with small.create() as sandbox, pytest.raises(SandboxFileTooLargeError):
        sandbox.write_file("big", b"12345")


def test_reset_gives_a_fresh_interpreter_and_folder(emu: Emulator, backend: DaytonaBackend) -> None:
    sandbox = backend.create(labels={KEY_LABEL: "thread-reset"})
    try:
        sandbox.reset()  # state and files: see the contract suite; here, the labels
        assert KEY_LABEL not in sandbox.labels
        record = emu.registry.get(sandbox.id)
        assert record is not None and KEY_LABEL not in record.labels
    finally:
        sandbox.close()
    assert sandbox.id not in emu.sandbox_ids()


def test_read_limit_is_checked_before_download(emu: Emulator, backend: DaytonaBackend) -> None:
    with backend.create() as sandbox:
        sandbox.write_file("big.bin", b"x" * 2000)
        emu.reset_stats()
        with pytest.raises(SandboxFileTooLargeError, match="2000 bytes"):
            sandbox.read_file("big.bin", max_bytes=1000)
        routes = emu.stats()["by_route"]
        assert not any("bulk-download" in route for route in routes), routes
        assert sandbox.read_file("big.bin") == b"x" * 2000
