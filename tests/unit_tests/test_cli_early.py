"""``daytona-exec exec`` decides from the words alone whether its sandbox can start first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from langchain_daytona_exec.cli._exec import default_sandbox, parse_exec, shapes_sandbox


@pytest.mark.parametrize(
    ("argv", "early"),
    [
        ([], True),
        (["-c", "print(6*7)"], True),
        (["script.py", "a", "b", "--timeout", "5", "--charts-dir=out"], True),
        (["-", "--file", "data.csv", "-l", "python"], True),
        (["-cprint(1)", "--", "--network", "--with", "x"], True),  # the script's own words
        (["-c", "1", "--network"], False),
        (["-c", "1", "--allow=pypi.org"], False),
        (["-c", "1", "--with", "numpy"], False),
        (["-c", "1", "--index-url", "http://x"], False),
        (["-c", "1", "--net"], False),  # an abbreviation argparse would accept
        (["-h"], False),
        (["-c", "1", "-5"], False),  # unknown short words: parse first
    ],
)
def test_default_sandbox_is_decided_conservatively(argv: list[str], early: bool) -> None:
    assert default_sandbox(argv) is early


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "1"],
        ["script.py", "--timeout", "5", "--charts-dir=out", "--file", "a.csv"],
        ["-cprint(1)", "--", "--network", "--with", "x", "--allow", "y"],
    ],
)
def test_every_early_word_list_parses_to_adefault_sandbox(argv: list[str]) -> None:
    assert default_sandbox(argv)
    assert not shapes_sandbox(parse_exec(argv))


def test_starting_a_sandbox_leaves_argparse_and_the_result_types_for_later() -> None:
    # What `exec` imports after starting its sandbox, while the sandbox boots.
    code = (
        "import sys, json\n"
        "import langchain_daytona_exec.cli\n"
        "from langchain_daytona_exec.backends.local import LocalBackend\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    loaded = set(json.loads(out.stdout))
    later = {
        "argparse",
        "langchain_daytona_exec.types",
        "langchain_daytona_exec.backends.local._replies",
        "langchain_daytona_exec.environment",
        "langchain_daytona_exec.backends.local._layers",
        "typing",  # ~3 ms: annotations only (TYPE_CHECKING = False), SandboxBackend on use
        "langchain_daytona_exec._backend_protocol",
        "queue",  # the spawner's jobs: a deque and a semaphore
        "tempfile",  # /tmp, unless TMPDIR or the like names another folder
    }
    assert not loaded & later, sorted(loaded & later)


def test_words_after_double_dash_are_the_scripts_never_our_options() -> None:
    # argparse's intermixed parse read them as options when no positional came first:
    # `-c CODE -- --network` gave the sandbox the network.
    args = parse_exec(["-cprint(1)", "--", "--network", "--with", "x", "--allow", "y"])
    assert (args.network, args.packages, args.allow) == (False, [], [])
    assert args.args == ["--network", "--with", "x", "--allow", "y"]
    args = parse_exec(["--", "tool.py", "--network"])  # FILE after `--`, as before
    assert (args.file, args.args, args.network) == ("tool.py", ["--network"], False)
    args = parse_exec(["tool.py", "5", "--timeout", "60", "--", "--verbose"])
    assert (args.file, args.args, args.timeout) == ("tool.py", ["5", "--verbose"], 60.0)


def test_a_usage_error_comes_before_a_sandbox_that_cannot_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from langchain_daytona_exec.backends.local import LocalBackend
    from langchain_daytona_exec.cli import main
    from langchain_daytona_exec.errors import IsolationUnavailableError

    def unavailable(self: LocalBackend, **kwargs: object) -> object:
        raise IsolationUnavailableError("bubblewrap is missing: apt-get install bubblewrap")

    monkeypatch.setattr(LocalBackend, "_create", unavailable)
    with pytest.raises(SystemExit) as exited:
        main(["exec"])  # started early, failed before the parse: the usage error wins
    assert exited.value.code == 2
    assert "give a FILE to run" in capsys.readouterr().err
    assert main(["exec", "-c", "print(1)"]) == 3  # valid words: the sandbox's error
    assert capsys.readouterr().err == "error: bubblewrap is missing: apt-get install bubblewrap\n"


def test_the_reply_decoder_is_built_while_the_sandbox_boots() -> None:
    # The first reply (the ready frame) needs json and the bounded decoder class: built
    # in while_booting, they are not on the command's path after the sandbox is ready.
    code = (
        "import sys\n"
        "from langchain_daytona_exec.backends.local import protocol\n"
        "from langchain_daytona_exec.cli import _exec\n"
        "before = ('json' in sys.modules, protocol._decoder_class is not None)\n"
        "_exec._import_run_modules()\n"
        "after = ('json' in sys.modules, protocol._decoder_class is not None)\n"
        "print(before, after)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split("\n")[0] == "(False, False) (True, True)"
