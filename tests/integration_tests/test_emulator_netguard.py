"""The emulator's network guard keeps its own open-network sandboxes off the host, and
only those: a plain local sandbox with ``network=True`` is never touched by it.

Loopback only: every connection goes to a server this test opens on 127.0.0.1, each
with a 3 s timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daytona import CreateSandboxFromSnapshotParams

from langchain_daytona_exec import LocalBackend, LocalLimits
from langchain_daytona_exec.backends.local._limits import UID_BASE
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.emulator._netguard import GUARD, TAG_PREFIX
from tests.integration_tests.daytona_support import emu, guard_rules, sdk  # noqa: F401
from tests.integration_tests.loopback import PongServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/iptables"),
    reason="the guard needs root and iptables",
)

CONNECT = """
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as s:
        s.sendall(b"ping")
        print(s.recv(4).decode())
except OSError as exc:
    print("ERR", type(exc).__name__)
"""


@pytest.fixture
def pong() -> Iterator[PongServer]:
    server = PongServer(socket.create_server(("127.0.0.1", 0)))
    yield server
    server.close()


def output_rules() -> str:
    """``iptables -S OUTPUT`` now."""
    return subprocess.run(
        ["iptables", "-w", "5", "-S", "OUTPUT"], capture_output=True, text=True, timeout=20
    ).stdout


def test_an_open_emulator_sandbox_leaves_plain_local_sandboxes_alone(
    sdk: Any,
    emu: Emulator,
    pong: PongServer,
) -> None:
    guarded = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=False), timeout=60)
    plain = LocalBackend(network=True, limits=LocalLimits(timeout_s=20)).create()
    try:
        probe = f"python3 -c '{CONNECT.format(port=pong.port)}'"
        # The emulator's sandbox is kept off the host's addresses...
        assert guarded.process.exec(probe, timeout=20).result.split()[0] == "ERR"
        # ...while an open local sandbox made without the emulator reaches the host.
        assert plain.exec(probe, timeout=20).stdout.strip() == "pong"
        assert pong.received == [b"ping"]
    finally:
        plain.close()
        sdk.delete(guarded, timeout=60)


def mine() -> list[str]:
    """The rules of OUTPUT this process's guard installed."""
    return [r for r in output_rules().splitlines() if f":{os.getpid()}:" in r and TAG_PREFIX in r]


def test_the_rule_names_the_sandbox_uid_and_goes_with_the_sandbox(
    sdk: Any, emu: Emulator, pong: PongServer
) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=False), timeout=60)
    try:
        uid = emu.registry.get(sb.id).local.uid
        [rule] = guard_rules(uid)
        assert "REJECT" in rule and "LOCAL" in rule and TAG_PREFIX in rule
        assert f"--uid-owner {UID_BASE}-" not in output_rules()  # never the whole range
        probe = f"python3 -c '{CONNECT.format(port=pong.port)}'"
        assert sb.process.exec(probe, timeout=20).result.split()[0] == "ERR"
    finally:
        sdk.delete(sb, timeout=60)
    assert guard_rules(uid) == []
    assert pong.received == []


def test_opening_the_network_later_installs_the_rule_first(
    sdk: Any, emu: Emulator, pong: PongServer
) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    try:
        uid = emu.registry.get(sb.id).local.uid
        assert guard_rules(uid) == []  # a blocked sandbox needs none: its namespace is empty
        sb.update_network_settings(network_block_all=False)
        assert len(guard_rules(uid)) == 1
        probe = f"python3 -c '{CONNECT.format(port=pong.port)}'"
        assert sb.process.exec(probe, timeout=20).result.split()[0] == "ERR"
        sb.update_network_settings(network_allow_list="192.0.2.0/24")
        assert len(guard_rules(uid)) == 2  # the guard and the jump to the allow-list chain
        assert sb.process.exec(probe, timeout=20).result.split()[0] == "ERR"
    finally:
        sdk.delete(sb, timeout=60)
    assert guard_rules(uid) == []
    assert f"ldx-{uid}" not in output_rules()
    assert pong.received == []


def test_an_emulator_that_closes_leaves_no_rule_behind() -> None:
    with Emulator(limits=LocalLimits(timeout_s=20)) as server:
        opened = server.registry.create({"networkBlockAll": False})
        allowed = server.registry.create(
            {"networkBlockAll": True, "networkAllowList": "192.0.2.0/24"}
        )
        uids = [opened.local.uid, allowed.local.uid]
        assert all(guard_rules(uid) for uid in uids)
    assert [r for uid in uids for r in guard_rules(uid)] == []
    chains = subprocess.run(["iptables", "-w", "5", "-S"], capture_output=True, text=True).stdout
    assert not any(f"ldx-{uid}" in chains for uid in uids)
    assert mine() == []


CHILD = """
import os, sys
from langchain_daytona_exec.emulator._state import Registry
registry = Registry()
sandbox = registry.create({"networkBlockAll": False})
print(sandbox.local.uid, flush=True)
sys.stdin.readline()  # the test looks at the rules meanwhile (or sends SIGTERM)
if sys.argv[1] == "exit":
    sys.exit(0)  # without closing the registry: the guard's exit path removes the rule
os._exit(0)  # a crash: no exit path at all, the rule stays until the next guard sweeps it
"""


def _child(how: str) -> tuple[int, subprocess.Popen[str]]:
    """A process holding one open emulated sandbox, whose rule is in place."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), line
    uid = int(line)
    assert len(guard_rules(uid)) == 1
    return uid, proc


def _end(proc: subprocess.Popen[str], how: str) -> int:
    """End the child as ``how`` says; its exit status."""
    try:
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.communicate("\n", timeout=30)
        return proc.wait(30)
    finally:
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_a_process_that_ends_takes_its_rules_with_it(how: str) -> None:
    uid, proc = _child(how)
    assert _end(proc, how) == (-signal.SIGTERM if how == "sigterm" else 0)
    assert guard_rules(uid) == []


def test_the_rules_of_a_crashed_process_are_swept_by_the_next_guard() -> None:
    uid, proc = _child("crash")
    assert _end(proc, "crash") == 0
    [stale] = guard_rules(uid)
    assert f":{proc.pid}:" in stale
    other = UID_BASE + 12_345  # not the crashed one's: the sweep is what removes its rule

    class _Nothing:
        def close(self) -> None:
            pass

    GUARD.guard(other, _Nothing())
    try:
        assert guard_rules(uid) == []
        assert len(guard_rules(other)) == 1
    finally:
        GUARD.release(other)
    assert guard_rules(other) == []
