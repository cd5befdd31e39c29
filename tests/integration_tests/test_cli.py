from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from langchain_daytona_exec.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_exec_code_prints_output_and_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exec", "-c", "print('hello')\n6 * 7"]) == 0
    out = capsys.readouterr().out
    assert "hello\n" in out
    assert "=> 42" in out


def test_exec_file_with_upload_writes_charts(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langchain_daytona_exec.cli",
            "exec",
            str(ROOT / "examples" / "analysis.py"),
            "--file",
            str(ROOT / "examples" / "data" / "sales.csv"),
            "--charts-dir",
            str(charts),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENAI_API_KEY": "sk-should-not-leak"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Revenue by region" in proc.stdout
    assert "=> 'Best region: East" in proc.stdout
    png = charts / "chart-1.png"
    assert png.read_bytes().startswith(b"\x89PNG")


def test_exec_error_exit_status_and_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exec", "-c", "raise ValueError('bad input')"]) == 1
    assert "ValueError: bad input" in capsys.readouterr().err


def test_exec_javascript_by_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.js"
    script.write_text("console.log('from node', 1 + 1)")
    assert main(["exec", str(script)]) == 0
    assert "from node 2" in capsys.readouterr().out


def test_exec_timeout_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exec", "-c", "import time; time.sleep(20)", "--timeout", "0.5"]) == 2
    assert "timed out" in capsys.readouterr().out


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exec", "/nonexistent/script.py"]) == 3
    assert "No such file" in capsys.readouterr().err
