"""Attack suite, the host <-> kernel channel: no reply can cost the host memory, and
no fault between a request and its reply can shift later results.

Code in a sandbox shares the kernel's process, so it can write anything on the
response pipe. These tests forge frames from inside the sandbox, interrupt calls
with a real SIGINT, and pass wrong arguments; each then checks that the following
calls return their own, right results. Memory is measured in a child host process
(``VmHWM`` of ``/proc/self/status``), so the test runner's own heap does not blur it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_daytona_exec import (
    DaytonaPythonTool,
    DaytonaShellTool,
    LocalBackend,
    LocalLimits,
    LocalSandbox,
    SandboxLostError,
    SandboxPool,
)
from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.backends.local import protocol
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.errors import IsolationUnavailableError
from langchain_daytona_exec.sandbox import MAX_CODE_CHARS, MAX_TIMEOUT_S
from tests.integration_tests.daytona_support import emu, make_backend

__all__ = ["emu"]

MiB = 1024 * 1024


def _isolation_available() -> bool:
    try:
        detect.detect_mode()
    except IsolationUnavailableError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not _isolation_available(), reason="bubblewrap isolation is unavailable"),
    pytest.mark.attack,
]

LIMITS = LocalLimits(timeout_s=20, grace_s=1.0)


@pytest.fixture
def box() -> Iterator[LocalSandbox]:
    sandbox = LocalBackend(limits=LIMITS).create()
    try:
        yield sandbox
    finally:
        sandbox.close()


# Cell code that finds the response pipe and the id of the request being served.
FORGE_PRELUDE = """
import os, stat, sys
def _is_write_pipe(fd):
    try:
        flags = int(open(f'/proc/self/fdinfo/{fd}').read().split()[3], 8)
        return stat.S_ISFIFO(os.fstat(fd).st_mode) and flags & 3 == 1
    except (OSError, ValueError, IndexError):
        return False
RESP = [fd for fd in map(int, os.listdir('/proc/self/fd')) if fd > 2 and _is_write_pipe(fd)][0]
_f = sys._getframe()
while _f is not None and not isinstance(_f.f_locals.get('req'), dict):
    _f = _f.f_back
REQ_ID = _f.f_locals['req'].get('id') if _f is not None else None
def forge(body, blob=b''):
    os.write(RESP, len(body).to_bytes(4, 'big') + len(blob).to_bytes(4, 'big'))
    view = memoryview(body)
    while view:
        view = view[os.write(RESP, view[: 1 << 20]):]
"""


def _assert_recovers(sb: LocalSandbox, calls: int = 5) -> None:
    """After a lost kernel: the next call reports the loss, then every result is right."""
    first = sb.run_code("40 + 2")
    assert first.result == "42" and first.error is None
    for i in range(calls):
        r = sb.run_code(f"{i} * 3")
        assert r.result == str(i * 3), r
        assert not r.state_lost
    sb.write_file("check.txt", b"right")
    assert sb.read_file("check.txt") == b"right"


# -- 1, 5, 7: forged frames ------------------------------------------------------------

FORGED_BODIES = {
    # ~30 host bytes per input byte with a plain json.loads
    "containers": "b'[' + b'{},' * (({n} - 4) // 3) + b'{}]'",
    # one astral character makes the whole string 4 bytes per character
    "astral": "b'\"' + b'a' * ({n} - 20) + b'\\\\ud83d\\\\ude00\"'",
    "floats": "b'[' + b'1.5,' * (({n} - 5) // 4) + b'1.5]'",
    "nested": "b'[' * ({n} // 2) + b']' * ({n} // 2)",
}

RSS_CHILD = """
import json, sys, time
from langchain_daytona_exec import LocalBackend, SandboxLostError
from langchain_daytona_exec.backends.local import protocol

def hwm():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith('VmHWM:'))

kind, n, control = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'control'
make = {bodies}[kind].replace('{{n}}', str(n))
if control:  # the same body through a plain json.loads: proves the probe can see growth
    body = eval(make)
    before = hwm()
    try:
        json.loads(body)
    except RecursionError:
        pass
    print(json.dumps({{'growth': hwm() - before}}))
    raise SystemExit
with LocalBackend().create() as sb:
    sb.run_code('1')
    prelude = {prelude!r}
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = hwm()
    start = time.monotonic()
    try:
        sb.run_code(prelude + 'forge(' + make + ')\\nimport time\\ntime.sleep(30)', timeout=60)
        outcome = 'accepted'
    except SandboxLostError as exc:
        outcome = 'lost: ' + str(exc)[:300]
    seconds = time.monotonic() - start
    growth = hwm() - before
    after = sb.run_code('6 * 7')
    print(json.dumps({{'outcome': outcome, 'growth': growth, 'seconds': seconds,
                      'next': after.result, 'state_lost': after.state_lost}}))
"""


def _rss_child(kind: str, size: int, control: bool = False) -> dict[str, Any]:
    script = RSS_CHILD.format(bodies=repr(FORGED_BODIES), prelude=FORGE_PRELUDE)
    proc = subprocess.run(
        [sys.executable, "-c", script, kind, str(size), "control" if control else "run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("kind", sorted(FORGED_BODIES))
def test_a_forged_maximum_size_frame_costs_the_host_under_64_mb(kind: str) -> None:
    size = protocol.max_reply_body(LocalLimits().output_bytes)
    got = _rss_child(kind, size)
    print(f"forged {kind} frame of {size / MiB:.1f} MiB: host grew {got['growth'] / MiB:.1f} MiB")
    assert got["outcome"].startswith("lost"), got
    assert "oversized" not in got["outcome"], "the frame must reach the parser"
    assert got["growth"] < 64 * MiB, f"host grew {got['growth'] / MiB:.1f} MiB"
    assert got["seconds"] < 15
    assert got["next"] == "42" and got["state_lost"]


def test_control_a_plain_json_parse_of_that_frame_grows_the_host() -> None:
    """Without the bounded parser the same probe sees the amplification."""
    size = protocol.max_reply_body(LocalLimits().output_bytes)
    got = _rss_child("containers", size, control=True)
    assert got["growth"] > 100 * MiB, got


def test_an_oversized_frame_is_refused_before_it_is_read(box: LocalSandbox) -> None:
    too_big = protocol.max_reply_body(LIMITS.output_bytes) + 1
    code = FORGE_PRELUDE + (
        f"os.write(RESP, ({too_big}).to_bytes(4, 'big') + bytes(4))\nimport time\ntime.sleep(30)"
    )
    start = time.monotonic()
    with pytest.raises(SandboxLostError, match="oversized"):
        box.run_code(code, timeout=60)
    assert time.monotonic() - start < 10
    _assert_recovers(box)


def test_deeply_nested_json_is_a_lost_sandbox_not_a_recursion_error(box: LocalSandbox) -> None:
    code = FORGE_PRELUDE + "forge(b'[' * 200000 + b']' * 200000)\nimport time\ntime.sleep(30)"
    with pytest.raises(SandboxLostError, match="nested deeper"):
        box.run_code(code, timeout=60)
    _assert_recovers(box)


WRONG_TYPES = [
    {"stdout": 5, "stderr": ""},
    {"stdout": "", "stderr": "", "error": {"name": 1, "value": "", "traceback": ""}},
    {"stdout": "", "stderr": "", "charts": [{"png": 7}]},
    {"stdout": "", "stderr": "", "charts": [{"png": "not base64!"}]},
    {"stdout": "", "stderr": "", "result": ["x"]},
    {"stdout": "", "stderr": "", "stdout_cut": -1},
    {"stdout": "", "stderr": "", "timed_out": "yes"},
]


@pytest.mark.parametrize("fields", WRONG_TYPES, ids=[str(i) for i in range(len(WRONG_TYPES))])
def test_a_reply_with_wrong_field_types_is_a_lost_sandbox(
    box: LocalSandbox, fields: dict[str, Any]
) -> None:
    code = FORGE_PRELUDE + (
        f"import json\nforge(json.dumps({{**{fields!r}, 'id': REQ_ID}}).encode())\n"
        "import time\ntime.sleep(30)"
    )
    with pytest.raises(SandboxLostError, match="malformed response"):
        box.run_code(code, timeout=60)
    _assert_recovers(box)


def test_wrong_field_types_reach_the_tool_as_a_tool_error() -> None:
    pool = SandboxPool(LocalBackend(limits=LIMITS), max_size=1)
    try:
        tool = DaytonaPythonTool(pool=pool)
        code = FORGE_PRELUDE + (
            "import json\nforge(json.dumps({'stdout': 5, 'stderr': '', 'id': REQ_ID}).encode())\n"
            "import time\ntime.sleep(30)"
        )
        text = tool.invoke({"code": code})
        assert "died" in text and "malformed response" in text
        assert "[result] 42" in tool.invoke({"code": "6 * 7"})
    finally:
        pool.close()


def test_a_reply_to_an_earlier_request_is_never_taken(box: LocalSandbox) -> None:
    """A forged reply with the right id is accepted (the code owns that process), but
    the kernel's own reply, now stale, is then refused instead of shifting results."""
    code = FORGE_PRELUDE + (
        "import json\n"
        "forge(json.dumps({'stdout': 'forged', 'stderr': '', 'id': REQ_ID}).encode())\n"
        "'real'"
    )
    forged = box.run_code(code)
    assert forged.stdout == "forged"
    with pytest.raises(SandboxLostError, match="a reply to request"):
        box.run_code("1 + 1")
    _assert_recovers(box)


# -- 3: an interrupt between a request and its reply -------------------------------------


def _interrupt_main_after(seconds: float) -> threading.Timer:
    """A real SIGINT to the main thread (what Ctrl-C in a terminal or notebook does)."""
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    return timer


def _interrupted(call: Callable[[], Any]) -> None:
    timer = _interrupt_main_after(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()


SLOW = "import time\ntime.sleep(3)\n'the slow result'"


def _hundred_right_calls(run: Callable[[int], str | None]) -> float:
    start = time.monotonic()
    for i in range(100):
        assert run(i) == str(i * 2 + 1), f"call {i} after the interrupt got a wrong result"
    return time.monotonic() - start


def test_ctrl_c_in_run_code_then_100_right_results(box: LocalSandbox) -> None:
    box.run_code("x = 1")
    _interrupted(lambda: box.run_code(SLOW))
    first = box.run_code("'after'")
    assert first.result == "'after'" and first.state_lost
    seconds = _hundred_right_calls(lambda i: box.run_code(f"{i} * 2 + 1").result)
    print(f"100 calls after a Ctrl-C: {seconds * 1000:.0f} ms")
    box.write_file("f.txt", b"content")
    assert box.read_file("f.txt") == b"content"
    assert box.exec("echo shell").stdout == "shell\n"


def test_ctrl_c_in_exec_and_read_file_then_right_results(box: LocalSandbox) -> None:
    _interrupted(lambda: box.exec("sleep 3; echo late"))
    assert box.exec("echo mine").stdout == "mine\n"
    box.write_file("big.bin", os.urandom(1024))
    _interrupted(lambda: box.run_code("import time\ntime.sleep(3)"))
    assert box.read_file("big.bin") != b""
    assert len(box.read_file("big.bin")) == 1024


def test_ctrl_c_through_the_pool_then_100_right_results() -> None:
    with SandboxPool(LocalBackend(limits=LIMITS), max_size=2) as pool:
        with pool.session("t") as sb:
            sb.run_code("1")

        def slow() -> None:
            with pool.session("t") as sb:
                sb.run_code(SLOW)

        _interrupted(slow)

        def run(i: int) -> str | None:
            with pool.session("t") as sb:
                return sb.run_code(f"{i} * 2 + 1").result

        _hundred_right_calls(run)


def test_ctrl_c_through_the_tool_then_100_right_results() -> None:
    with SandboxPool(LocalBackend(limits=LIMITS), max_size=2) as pool:
        tool = DaytonaPythonTool(pool=pool)
        config = {"configurable": {"thread_id": "t"}}
        tool.invoke({"code": "1"}, config)
        _interrupted(lambda: tool.invoke({"code": SLOW}, config))

        def run(i: int) -> str | None:
            text = tool.invoke({"code": f"{i} * 2 + 1"}, config)
            results = [line for line in text.splitlines() if line.startswith("[result] ")]
            return results[-1].removeprefix("[result] ") if results else text

        _hundred_right_calls(run)


@pytest.mark.parametrize(
    ("raised", "seen"),
    [(MemoryError, SandboxLostError), (KeyboardInterrupt, KeyboardInterrupt)],
)
def test_any_exception_while_reading_a_reply_kills_the_kernel(
    box: LocalSandbox,
    monkeypatch: pytest.MonkeyPatch,
    raised: type[BaseException],
    seen: type[BaseException],
) -> None:
    """MemoryError or any BaseException after the request was sent: never a shifted reply."""
    real = protocol.decode_response
    calls = {"n": 0}

    def failing(body: bytes | bytearray | str) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise raised
        return real(body)

    box.run_code("'zero'")
    monkeypatch.setattr(protocol, "decode_response", failing)
    with pytest.raises(seen):
        box.run_code("'first'")
    r = box.run_code("'second'")
    assert r.result == "'second'" and r.state_lost
    assert box.run_code("'third'").result == "'third'"


# -- 4: timeouts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (math.nan, ValueError),
        (-1, ValueError),
        (0, ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
)
def test_bad_timeouts_are_refused_before_anything_is_sent(
    box: LocalSandbox, timeout: Any, error: type[Exception]
) -> None:
    box.run_code("x = 1")
    with pytest.raises(error, match="timeout"):
        box.run_code("x = 2", timeout=timeout)
    with pytest.raises(error, match="timeout"):
        box.exec("echo no", timeout=timeout)
    r = box.run_code("x")
    assert r.result == "1" and not r.state_lost


@pytest.mark.parametrize("timeout", [2.15e6, 1e300, 10**400])
def test_huge_timeouts_are_clamped(box: LocalSandbox, timeout: float) -> None:
    r = box.run_code("'ok'", timeout=timeout)
    assert r.result == "'ok'" and r.error is None
    assert box.exec("echo ok", timeout=timeout).stdout == "ok\n"
    assert box.run_code("'next'").result == "'next'"


async def test_bad_timeouts_are_refused_by_the_async_twins(box: LocalSandbox) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await box.arun_code("1", timeout=math.inf)
    with pytest.raises(ValueError, match="timeout"):
        await box.aexec("true", timeout=-5)
    assert (await box.arun_code("3", timeout=MAX_TIMEOUT_S * 10)).result == "3"


BAD_TOOL_TIMEOUTS = [math.inf, math.nan, -3.0, 0.0]


@pytest.mark.parametrize("timeout", BAD_TOOL_TIMEOUTS)
def test_tools_refuse_bad_timeouts_before_leasing_a_sandbox(timeout: float) -> None:
    with SandboxPool(LocalBackend(limits=LIMITS), max_size=1) as pool:
        python, shell = DaytonaPythonTool(pool=pool), DaytonaShellTool(pool=pool)
        assert "Invalid timeout" in python.invoke({"code": "1", "timeout": timeout})
        assert "Invalid timeout" in shell.invoke({"command": "true", "timeout": timeout})
        assert pool.stats().created == 0  # nothing was leased, let alone sent
        assert "[result] 2" in python.invoke({"code": "1 + 1", "timeout": 1e12})
        assert "big" in shell.invoke({"command": "echo big", "timeout": 1e15})
        assert "[result] 3" in python.invoke({"code": "1 + 2"})


async def test_async_tools_refuse_bad_timeouts() -> None:
    with SandboxPool(LocalBackend(limits=LIMITS), max_size=1) as pool:
        python = DaytonaPythonTool(pool=pool)
        assert "Invalid timeout" in await python.ainvoke({"code": "1", "timeout": math.inf})
        assert "[result] 4" in await python.ainvoke({"code": "2 + 2", "timeout": 2.15e6})


def test_deep_agents_adapter_checks_and_clamps_timeouts(box: LocalSandbox) -> None:
    pytest.importorskip("deepagents")
    from langchain_daytona_exec.deepagents import DeepAgentsSandbox

    adapter = DeepAgentsSandbox(box)
    for bad in (math.inf, math.nan, -1):
        refused = adapter.execute("echo no", timeout=bad)
        assert refused.exit_code is None and "did not run" in refused.output
    assert adapter.execute("echo big", timeout=10**12).output.strip() == "big"
    assert adapter.execute("echo zero", timeout=0).output.strip() == "zero"
    with pytest.raises(ValueError, match="timeout"):
        DeepAgentsSandbox(box, timeout=math.inf)
    assert box.run_code("'after'").result == "'after'"


# -- 8: argument types -------------------------------------------------------------------


def test_wrong_argument_types_are_refused_and_never_poison_the_kernel(box: LocalSandbox) -> None:
    with pytest.raises(TypeError, match="code"):
        box.run_code(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="command"):
        box.exec(["ls", "-la"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        box.read_file(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content"):
        box.write_file("a.txt", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="language"):
        box.run_code("1", language=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        box.exec("echo \0")
    with pytest.raises(ValueError, match="code is"):
        box.run_code("#" * (MAX_CODE_CHARS + 1))
    # every later error is its own, with its own traceback
    for i in range(3):
        r = box.run_code(f"raise ValueError('own error {i}')")
        assert r.error is not None and r.error.name == "ValueError"
        assert f"own error {i}" in r.error.traceback
    t = box.run_code("import time\ntime.sleep(5)", timeout=0.5)
    assert t.timed_out and t.error is None


def test_an_internal_kernel_error_restarts_the_kernel_and_is_never_stale(
    box: LocalSandbox,
) -> None:
    """Even a request that skips the host's checks cannot leave a stale error behind."""
    box.run_code("x = 1")
    with pytest.raises(SandboxLostError, match="internal error"):
        box._call(
            {"op": "run", "code": None, "language": "python", "timeout": 5.0},
            b"",
            10,
            lambda resp, blob: resp,
        )
    for i in range(3):
        r = box.run_code(f"1 / 0  # {i}")
        assert r.error is not None and r.error.name == "ZeroDivisionError"
        assert f"# {i}" in r.error.traceback


def test_a_kernel_reply_never_exceeds_the_cap(box: LocalSandbox) -> None:
    """Legitimate replies are fitted by the kernel: control characters escape to 6
    bytes each, and charts and long results add to the output."""
    r = box.run_code(
        "import sys\nsys.stdout.write('\\x01' * (4 << 20))\nsys.stderr.write('\\x02' * (4 << 20))\n"
        "'\\U0001f600' * 200000",
        timeout=30,
    )
    assert r.error is None
    assert r.stdout.startswith("\x01") and r.stderr.startswith("\x02")
    assert "cut" in r.stdout + r.stderr
    assert box.run_code("2 + 2").result == "4"
    many = box.exec(
        "mkdir -p d && cd d && for i in $(seq 1 3000); do : > $(printf 'f%0200d' $i); done",
        timeout=60,
    )
    assert many.exit_code == 0
    files = box.list_files("d")
    assert 0 < len(files) <= 3000


def test_frame_cap_has_room_for_the_default_output(box: LocalSandbox) -> None:
    r = box.run_code("print('y' * (3 << 20))", timeout=30)
    assert r.stdout_truncated_bytes > 0
    assert len(r.stdout) >= LIMITS.output_bytes


# -- Daytona: the same checks, and a timeout reported as one ----------------------------


def test_daytona_checks_arguments_before_sending(emu: Emulator) -> None:
    with make_backend(emu).create() as sb:
        sb.run_code("x = 5")
        for bad, error in ((math.inf, ValueError), (-1, ValueError), ("1", TypeError)):
            with pytest.raises(error, match="timeout"):
                sb.run_code("x = 6", timeout=bad)
            with pytest.raises(error, match="timeout"):
                sb.exec("true", timeout=bad)
        with pytest.raises(TypeError, match="code"):
            sb.run_code(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="command"):
            sb.exec(["ls"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="content"):
            sb.write_file("a.txt", 5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path"):
            sb.read_file(None)  # type: ignore[arg-type]
        assert sb.run_code("x", timeout=1e12).result == "5"


def test_a_daytona_timeout_is_reported_like_a_local_one(emu: Emulator, box: LocalSandbox) -> None:
    code = "import time\nprint('before')\ntime.sleep(30)"
    with make_backend(emu).create() as sb:
        for result in (sb.run_code(code, timeout=1), box.run_code(code, timeout=1)):
            assert result.timed_out and not result.state_lost
            assert result.error is None
            assert "before" in result.stdout
        assert sb.run_code("'alive'").result == "'alive'"


# -- "the full output is saved" is true ----------------------------------------------------


def test_a_cut_stream_is_saved_whole_while_the_code_runs(box: LocalSandbox) -> None:
    r = box.run_code("for i in range(400000):\n    print(f'line {i}')", timeout=60)
    assert r.stdout_truncated_bytes > 0 and "line 200000\n" not in r.stdout
    [saved] = r.saved_outputs
    assert saved.stream == "stdout" and saved.complete
    assert f"the complete output is saved at {saved.path}" in r.stdout
    data = box.read_file(saved.path)
    assert len(data) == saved.bytes == sum(len(f"line {i}\n") for i in range(400000))
    assert b"\nline 200000\n" in data
    assert box.exec(f"grep -c '^line ' {saved.path}").stdout.strip() == "400000"
    small = box.run_code("print('short')")
    assert small.saved_outputs == [] and small.stdout == "short\n"


def test_saved_output_is_bounded_and_says_so(box: LocalSandbox) -> None:
    limit = LIMITS.tmp_bytes // 8
    e = box.exec("head -c 60000000 /dev/zero | tr '\\0' z; seq 1 10 >&2", timeout=60)
    [saved] = e.saved_outputs
    assert saved.stream == "stdout" and not saved.complete and saved.bytes == limit
    assert f"the first {limit} bytes are saved at {saved.path}" in e.stdout
    assert box.exec(f"wc -c < {saved.path}").stdout.strip() == str(limit)
    for _ in range(4):  # only the files of the last 2 cut calls are kept
        box.exec("head -c 3000000 /dev/zero", timeout=60)
    files = box.exec("ls /tmp/ldx-outputs").stdout.split()
    assert 0 < len(files) <= 4
    assert saved.path.rsplit("/", 1)[1] not in files


def test_the_tool_names_the_file_that_really_holds_the_output() -> None:
    with SandboxPool(LocalBackend(limits=LIMITS), max_size=1) as pool:
        tool = DaytonaPythonTool(pool=pool)
        text = tool.invoke({"code": "for i in range(400000):\n    print(f'line {i}')"})
        notice = text.splitlines()[-1]
        assert notice.startswith("[output cut: the complete stdout is saved at ")
        path = notice.removeprefix("[output cut: the complete stdout is saved at ").split(";")[0]
        with pool.session("default") as sb:
            assert b"\nline 200000\n" in sb.read_file(path)
        shell = DaytonaShellTool(pool=pool).invoke({"command": "seq 1 100000"})
        assert shell.splitlines()[-1].startswith("[output cut: the full output is saved at ")


def test_daytona_saves_a_cut_stream_whole_in_the_sandbox(emu: Emulator) -> None:
    with make_backend(emu, output_bytes=64 * 1024).create() as sb:
        r = sb.run_code("for i in range(20000):\n    print(f'line {i}')")
        [saved] = r.saved_outputs
        assert r.stdout_truncated_bytes > 0 and saved.complete
        assert f"the complete output is saved at {saved.path}" in r.stdout
        assert b"\nline 10000\n" in sb.read_file(saved.path)
        e = sb.exec("seq 1 100000")
        [shell_saved] = e.saved_outputs
        assert b"\n50000\n" in sb.read_file(shell_saved.path)
        small = sb.run_code("print('short')")
        assert small.saved_outputs == [] and small.stdout == "short\n"
