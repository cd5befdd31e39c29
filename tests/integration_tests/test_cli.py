from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


SCRIPT = """\
import sys

def main():
    print("argv", sys.argv[1:], __name__, __file__)
    print("source kept at __file__:", open(__file__).read().startswith("import sys"))
    return int(sys.argv[1]) if len(sys.argv) > 1 else 0

if __name__ == "__main__":
    sys.exit(main())
"""


def _cli(*args: str, stdin: str | bytes | None = None, cwd: Path | None = None) -> Any:
    """Run the console script the way a user does (a new process and process group)."""
    return subprocess.run(
        [sys.executable, "-m", "langchain_daytona_exec.cli", *args],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=120,
        cwd=cwd,
        start_new_session=True,
    )


def test_exec_behaves_like_python_file(tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    script.write_text(SCRIPT)
    ok = _cli("exec", str(script))
    assert ok.returncode == 0, ok.stderr  # sys.exit(main()) with main() -> 0
    assert b"SystemExit" not in ok.stderr
    assert b"argv [] __main__ /workspace/tool.py\n" in ok.stdout
    assert b"source kept at __file__: True" in ok.stdout
    five = _cli("exec", str(script), "5", "--timeout", "60", "--", "--verbose")
    assert five.returncode == 5, five.stderr
    assert b"argv ['5', '--verbose'] __main__" in five.stdout


def test_exec_exit_message_and_code_arguments() -> None:
    said = _cli("exec", "-c", "import sys; print(sys.argv); sys.exit('giving up')", "a")
    assert said.returncode == 1
    assert said.stdout == b"['-c', 'a']\n"
    assert said.stderr == b"giving up\n"
    assert _cli("exec", "-c", "raise SystemExit").returncode == 0
    assert _cli("exec", "-c", "import sys; sys.exit(256 + 7)").returncode == 7


def test_exec_reads_stdin() -> None:
    proc = _cli("exec", "-", "x", stdin="import sys\nprint(sys.argv, __file__)\nsys.exit(4)\n")
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == b"['-', 'x'] <stdin>\n"


def test_exec_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin.py"
    bad.write_bytes(b"print('caf\xe9')\n")
    proc = _cli("exec", str(bad))
    assert proc.returncode == 3
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert "is not valid utf-8 text (byte 0xe9 at offset 10)" in err
    assert "coding: latin-1" in err
    declared = tmp_path / "declared.py"
    declared.write_bytes(b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n")
    proc = _cli("exec", str(declared))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "caf\u00e9\n"


def test_exec_keeps_earlier_charts(tmp_path: Path) -> None:
    plot = "import matplotlib.pyplot as plt; plt.plot([1, {}, 2])"
    charts = tmp_path / "charts"
    for n in (3, 5):
        proc = _cli("exec", "-c", plot.format(n), "--charts-dir", str(charts))
        assert proc.returncode == 0, proc.stderr
        assert f"chart written: {charts}/chart-{n // 2}.png".encode() in proc.stdout
    first, second = (charts / "chart-1.png").read_bytes(), (charts / "chart-2.png").read_bytes()
    assert first.startswith(b"\x89PNG") and second.startswith(b"\x89PNG") and first != second


def _process_group(pgid: int) -> list[str]:
    """Processes (zombies included) whose process group is ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:
            found.append(f"{entry} {stat.split(' ')[1]} {fields[0]}")
    return found


def test_exec_leaves_no_process_in_its_process_group() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_daytona_exec.cli",
            "exec",
            "-c",
            "import subprocess; subprocess.Popen(['sleep', '60']); print('started')",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out == b"started\n"
    assert _process_group(proc.pid) == []


def test_version_and_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_daytona_exec import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"daytona-exec {__version__}\n"
    with pytest.raises(SystemExit):
        main(["gc", "--help"])
    assert "The Daytona part needs DAYTONA_API_KEY" in " ".join(capsys.readouterr().out.split())


def test_emulator_banner_names_every_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import langchain_daytona_exec.emulator as emulator

    served: list[tuple[str, int]] = []
    monkeypatch.setattr(emulator, "serve", lambda host, port, **kw: served.append((host, port)))
    assert main(["emulator", "--port", "4000"]) == 0
    assert served == [("127.0.0.1", 4000)]
    banner = capsys.readouterr().err
    assert (
        "DAYTONA_API_KEY=any DAYTONA_API_URL=http://127.0.0.1:4000/api "
        "DAYTONA_USE_DEPRECATED_POLLING=true"
    ) in banner


def test_exec_prints_tables_and_chart_descriptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "display(pd.DataFrame({'region': ['East', 'West'], 'revenue': [35065.44, 27791.67]}))\n"
        "plt.bar(['East', 'West'], [35065.44, 27791.67]); plt.title('Revenue');"
    )
    assert main(["exec", "-c", code, "--charts-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "DataFrame: 2 rows x 2 columns"
    assert lines[2].split() == ["0", "East", "35065.44"]
    assert lines[-2] == f"chart written: {tmp_path}/chart-1.png (Revenue)"
    assert lines[-1] == '  bar chart "Revenue": East 35065.44, West 27791.67'


def _own_sandbox_dirs() -> set[str]:
    """This process's sandbox folders in the default base folder (``<pid>-<id>``)."""
    from langchain_daytona_exec.backends.local._hostdirs import default_base_dir

    base = default_base_dir()
    mine = f"{os.getpid()}-"
    return {n for n in os.listdir(base) if n.startswith(mine)} if os.path.isdir(base) else set()


def test_exec_usage_errors_exit_2_after_closing_the_early_sandbox(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _own_sandbox_dirs()
    with pytest.raises(SystemExit) as exited:
        main(["exec"])  # no option word: its sandbox starts before the parse
    assert exited.value.code == 2
    assert "give a FILE to run, '-' for stdin, or -c CODE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["exec", "-c", "1", "--bogus"])  # an unknown option: parsed first
    assert exited.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert _own_sandbox_dirs() == before


def test_exec_interrupted_while_its_sandbox_boots_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import langchain_daytona_exec.cli._exec as cli

    def interrupted(argv: object) -> object:
        raise KeyboardInterrupt

    before = _own_sandbox_dirs()
    monkeypatch.setattr(cli, "parse_exec", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["exec", "-c", "print(1)"])
    assert _own_sandbox_dirs() == before


def test_exec_options_that_shape_the_sandbox_are_honoured_on_every_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import langchain_daytona_exec.cli._exec as cli

    code = "import socket; socket.socket(socket.AF_INET).close(); print('inet ok')"
    assert main(["exec", "-c", code]) == 1  # the default sandbox has no network
    assert "Address family not supported" in capsys.readouterr().err
    assert main(["exec", "-c", code, "--network"]) == 0  # parsed first
    assert "inet ok" in capsys.readouterr().out
    # Were --network ever taken for a default-sandbox word, the parsed arguments would
    # still replace the early sandbox with the one asked for:
    monkeypatch.setattr(cli, "default_sandbox", lambda argv: True)
    assert main(["exec", "-c", code, "--network"]) == 0
    assert "inet ok" in capsys.readouterr().out
