"""The network guard's rules and bookkeeping, against a recorded (fake) iptables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from langchain_daytona_exec.backends.local._limits import UID_BASE
from langchain_daytona_exec.emulator import _netguard
from langchain_daytona_exec.emulator._netguard import (
    TAG_PREFIX,
    GuardUnavailableError,
    NetworkGuard,
)

UID = UID_BASE + 7


class _Sandbox:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _FakeTables:
    """Records every iptables call; ``-I`` of ``fail_tool`` fails."""

    def __init__(self, fail_tool: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.rules: dict[str, list[list[str]]] = {"iptables": [], "ip6tables": []}
        self.fail_tool = fail_tool

    def call(self, tool: str, args: list[str]) -> int:
        self.calls.append((tool, args))
        action, rule = args[0], args[1:]
        if action == "-I":
            if tool == self.fail_tool:
                return 4
            self.rules[tool].append(rule)
        elif action == "-A" and rule[:1] == ["OUTPUT"]:
            self.rules[tool].append(rule)
        elif action == "-D":
            if rule not in self.rules[tool]:
                return 1
            self.rules[tool].remove(rule)
        return 0

    def listing(self, tool: str) -> list[list[str]]:
        return [["-A", *rule] for rule in self.rules[tool]]


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> _FakeTables:
    fake = _FakeTables()
    monkeypatch.setattr(_netguard.shutil, "which", lambda tool: f"/usr/sbin/{tool}")
    monkeypatch.setattr(NetworkGuard, "_call", staticmethod(fake.call))
    monkeypatch.setattr(NetworkGuard, "_rules", lambda self, tool: fake.listing(tool))
    monkeypatch.setattr(_netguard._lifecycle, "register_pool", lambda pool: None)
    monkeypatch.setattr(_netguard._lifecycle, "unregister_pool", lambda pool: None)
    return fake


def test_the_rule_names_one_uid_and_this_process(tables: _FakeTables) -> None:
    guard = NetworkGuard()
    guard.guard(UID, _Sandbox())
    guard.guard(UID, _Sandbox())  # twice: still one rule per family
    assert len(tables.rules["iptables"]) == len(tables.rules["ip6tables"]) == 1
    rule = tables.rules["iptables"][0]
    assert rule[rule.index("--uid-owner") + 1] == str(UID)  # that uid, never a range
    tag = rule[rule.index("--comment") + 1]
    assert tag.startswith(TAG_PREFIX) and f":{os.getpid()}:" in tag
    assert guard.guarded() == [UID]
    guard.release(UID)
    assert tables.rules == {"iptables": [], "ip6tables": []}
    assert guard.guarded() == []


def test_a_rule_that_cannot_be_installed_refuses_and_leaves_nothing(
    tables: _FakeTables,
) -> None:
    tables.fail_tool = "iptables"
    guard = NetworkGuard()
    with pytest.raises(GuardUnavailableError, match=f"uid {UID}"):
        guard.guard(UID, _Sandbox())
    assert guard.guarded() == []
    assert tables.rules == {"iptables": [], "ip6tables": []}


def test_no_ipv6_stack_still_guards_ipv4(tables: _FakeTables) -> None:
    tables.fail_tool = "ip6tables"
    guard = NetworkGuard()
    guard.guard(UID, _Sandbox())
    assert len(tables.rules["iptables"]) == 1 and tables.rules["ip6tables"] == []
    guard.release(UID)
    assert not [c for c in tables.calls if c[0] == "ip6tables" and c[1][0] == "-D"]


def test_releasing_a_uid_never_guarded_calls_no_iptables(tables: _FakeTables) -> None:
    NetworkGuard().release(UID)
    assert tables.calls == []


def test_close_closes_the_guarded_sandboxes_before_their_rules_go(
    tables: _FakeTables,
) -> None:
    guard = NetworkGuard()
    sandbox = _Sandbox()
    guard.guard(UID, sandbox)
    guard.restrict(UID, ["192.0.2.0/24"])
    rules_when_closed: list[int] = []
    sandbox.close = lambda: rules_when_closed.append(len(tables.rules["iptables"]))  # type: ignore[method-assign]
    guard.close()
    assert rules_when_closed == [2]  # the guard rule and the allow-list jump were still there
    assert tables.rules == {"iptables": [], "ip6tables": []}
    assert guard.guarded() == []


def test_only_gone_processes_of_this_pid_namespace_are_stale() -> None:
    namespace = _netguard._pid_namespace()
    assert not _netguard._is_stale(_netguard._tag(), namespace)  # this process lives
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone = int(done.stdout)
    assert _netguard._is_stale(f"{TAG_PREFIX}{namespace}:{gone}:123", namespace)
    # a live pid with another start time is a new process under an old pid: stale too
    assert _netguard._is_stale(f"{TAG_PREFIX}{namespace}:{os.getpid()}:1", namespace)
    # another namespace's processes cannot be seen from here: never swept
    assert not _netguard._is_stale(f"{TAG_PREFIX}1:{gone}:123", namespace)
    assert not _netguard._is_stale(f"{TAG_PREFIX}garbage", namespace)


def test_the_sweep_removes_only_rules_of_gone_processes(tables: _FakeTables) -> None:
    namespace = _netguard._pid_namespace()
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{TAG_PREFIX}{namespace}:{int(done.stdout)}:5"
    elsewhere = f"{TAG_PREFIX}1:{int(done.stdout)}:5"
    stale = _netguard._guard_rule(UID + 1, dead)
    foreign = _netguard._guard_rule(UID + 2, elsewhere)
    tables.rules["iptables"] += [stale, foreign]
    guard = NetworkGuard()
    guard.guard(UID, _Sandbox())
    assert stale not in tables.rules["iptables"]
    assert foreign in tables.rules["iptables"]
    guard.release(UID)
    assert tables.rules["iptables"] == [foreign]
