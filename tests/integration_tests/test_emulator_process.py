"""Sessions are one persistent shell, contexts are isolated, code-run returns charts.

Through the real ``daytona`` SDK against the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

import pytest
from daytona import DaytonaError, SessionExecuteRequest

from tests.integration_tests.daytona_support import emu, sdk, sdk_sandbox  # noqa: F401

# -- sessions -----------------------------------------------------------------------------


def test_session_is_one_shell_cd_export_and_variables_carry_over(sdk_sandbox: Any) -> None:
    proc = sdk_sandbox.process
    proc.create_session("shell")
    try:
        run = lambda cmd: proc.execute_session_command("shell", SessionExecuteRequest(command=cmd))  # noqa: E731
        assert run("mkdir -p sub && cd sub && export GREETING=hi && PLAIN=1").exit_code == 0
        res = run('pwd; echo "$GREETING $PLAIN"; sh -c \'echo "child:$GREETING"\'')
        assert res.stdout.splitlines() == ["/home/daytona/sub", "hi 1", "child:hi"]
        assert run("greet() { echo hello $1; }").exit_code == 0
        assert run("greet you").stdout == "hello you\n"
        failed = run("echo to-err >&2; exit 3")
        assert (failed.exit_code, failed.stderr, failed.stdout) == (3, "to-err\n", "")
        assert run("pwd").stdout == "/home/daytona/sub\n"  # exit did not lose the state
        session = proc.get_session("shell")
        assert [c.exit_code for c in session.commands][-2:] == [3, 0]
    finally:
        proc.delete_session("shell")
    with pytest.raises(DaytonaError):
        proc.get_session("shell")


def test_run_async_returns_at_once_and_logs_stream_stdout_and_stderr(sdk_sandbox: Any) -> None:
    proc = sdk_sandbox.process
    proc.create_session("async")
    try:
        # The command waits (bounded) for input that the test sends only once the first
        # line has arrived over the logs websocket: output is streamed, not sent at the end.
        command = 'echo out1; echo err1 >&2; read -t 20 x; echo "out2 $x"; echo err2 >&2'
        res = proc.execute_session_command(
            "async", SessionExecuteRequest(command=command, run_async=True)
        )
        assert res.cmd_id and res.exit_code is None
        assert proc.get_session_command("async", res.cmd_id).exit_code is None
        out: list[str] = []
        err: list[str] = []
        sent: list[threading.Thread] = []

        def on_stdout(text: str) -> None:
            out.append(text)
            if "out1" in text and not sent:
                send = threading.Thread(
                    target=proc.send_session_command_input, args=("async", res.cmd_id, "go\n")
                )
                sent.append(send)
                send.start()

        async def follow() -> None:
            await proc.get_session_command_logs_async("async", res.cmd_id, on_stdout, err.append)

        asyncio.run(follow())
        sent[0].join(10)
        assert "".join(out) == "out1\nout2 go\n"
        assert "".join(err) == "err1\nerr2\n"
        assert proc.get_session_command("async", res.cmd_id).exit_code == 0
        logs = proc.get_session_command_logs("async", res.cmd_id)
        assert (logs.stdout, logs.stderr) == ("out1\nout2 go\n", "err1\nerr2\n")
    finally:
        proc.delete_session("async")


def test_send_session_command_input_feeds_stdin(sdk_sandbox: Any) -> None:
    proc = sdk_sandbox.process
    proc.create_session("input")
    try:
        res = proc.execute_session_command(
            "input",
            SessionExecuteRequest(command='read a; read b; echo "got $a and $b"', run_async=True),
        )
        proc.send_session_command_input("input", res.cmd_id, "first\n")
        proc.send_session_command_input("input", res.cmd_id, "second\n")
        deadline = time.monotonic() + 10
        while proc.get_session_command("input", res.cmd_id).exit_code is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        logs = proc.get_session_command_logs("input", res.cmd_id)
        assert logs.stdout == "got first and second\n"
        with pytest.raises(DaytonaError, match="finished"):
            proc.send_session_command_input("input", res.cmd_id, "late\n")
    finally:
        proc.delete_session("input")


def test_session_request_timeout_is_honoured_and_the_session_still_works(
    sdk_sandbox: Any,
) -> None:
    proc = sdk_sandbox.process
    proc.create_session("slow")
    try:
        with pytest.raises(DaytonaError, match=r"[Tt]ime(d )?out"):
            proc.execute_session_command(
                "slow", SessionExecuteRequest(command="sleep 30"), timeout=1
            )
        res = proc.execute_session_command("slow", SessionExecuteRequest(command="echo alive"))
        assert res.stdout == "alive\n"
    finally:
        proc.delete_session("slow")  # kills the sleep too


# -- interpreter contexts --------------------------------------------------------------------


def test_contexts_are_isolated_namespaces(sdk_sandbox: Any) -> None:
    ci = sdk_sandbox.code_interpreter
    ci.run_code("shared_name = 'default'")
    a = ci.create_context()
    b = ci.create_context(cwd="/tmp")
    try:
        assert ci.run_code("shared_name = 'a'", context=a).error is None
        assert ci.run_code("print(shared_name)", context=a).stdout == "a\n"
        missing = ci.run_code("print(shared_name)", context=b)
        assert missing.error is not None and missing.error.name == "NameError"
        assert 'File "<cell-ctx' in missing.error.traceback
        assert "exec(" not in missing.error.traceback  # no wrapper frames
        assert ci.run_code("import os; print(os.getcwd())", context=b).stdout == "/tmp\n"
        assert ci.run_code("print(shared_name)").stdout == "default\n"
        ci.delete_context(a)
        assert ci.run_code("print(shared_name)").stdout == "default\n"
        assert ci.run_code("x = 1; print(x)", context=b).stdout == "1\n"
        assert a.id not in [c.id for c in ci.list_contexts()]
    finally:
        ci.delete_context(b)


def test_run_code_applies_envs_for_that_call(sdk_sandbox: Any) -> None:
    ci = sdk_sandbox.code_interpreter
    code = "import os; print(os.environ.get('ONLY_HERE'))"
    assert ci.run_code(code, envs={"ONLY_HERE": "yes"}).stdout == "yes\n"
    assert ci.run_code(code).stdout == "None\n"


# -- code-run charts ------------------------------------------------------------------------

CHARTS = """
import matplotlib.pyplot as plt
plt.figure()
plt.plot([1, 2, 3], [2, 4, 8], label="growth")
plt.title("Line")
plt.xlabel("x")
plt.ylabel("y")
plt.legend()
plt.show()
fig, ax = plt.subplots()
ax.bar(["a", "b"], [3, 5])
ax.set_title("Bars")
plt.show()
plt.figure()
plt.pie([1, 3], labels=["small", "big"])
plt.title("Pie")
print("done")
"""


def test_code_run_returns_matplotlib_charts_in_daytona_format(sdk_sandbox: Any) -> None:
    res = sdk_sandbox.process.code_run(CHARTS)
    assert res.exit_code == 0 and "done" in res.result
    charts = res.artifacts.charts
    assert [(c.type, c.title) for c in charts] == [
        ("line", "Line"),
        ("bar", "Bars"),
        ("pie", "Pie"),
    ]
    line, bar, pie = charts
    assert base64.b64decode(line.png).startswith(b"\x89PNG")
    assert (line.x_label, line.y_label) == ("x", "y")
    assert line.elements[0].label == "growth"
    assert line.elements[0].points == [[1.0, 2.0], [2.0, 4.0], [3.0, 8.0]]
    assert [(e.label, e.value) for e in bar.elements] == [("a", "3.0"), ("b", "5.0")]
    assert [e.label for e in pie.elements] == ["small", "big"]
    assert [round(e.angle) for e in pie.elements] == [90, 270]


def test_code_run_without_charts_and_with_errors_and_argv(sdk_sandbox: Any) -> None:
    res = sdk_sandbox.process.code_run("print('plain')")
    assert (res.exit_code, res.result, res.artifacts.charts) == (0, "plain\n", [])
    bad = sdk_sandbox.process.code_run("raise ValueError('boom')")
    assert bad.exit_code == 1 and "ValueError: boom" in bad.result
    assert "runpy" not in bad.result and "coderun" not in bad.result
    from daytona import CodeRunParams

    argv = sdk_sandbox.process.code_run(
        "import sys, os; print(sys.argv[1:], os.environ['K'])",
        params=CodeRunParams(argv=["a", "b"], env={"K": "v"}),
    )
    assert argv.result == "['a', 'b'] v\n"
