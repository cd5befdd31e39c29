"""Keep emulated sandboxes with an open network away from the host's own services.

A local sandbox whose network is open shares the host's network namespace, so without
a guard its code could call the emulator's API (which accepts any key by default) or
any other service listening on the host. Each local sandbox runs as its own uid (root
mode), so the guard is one firewall rule per guarded sandbox uid and address family:
new connections from that uid to any address of this host are rejected. Other
destinations stay reachable, as on Daytona with ``networkBlockAll=false``.

Only the sandboxes the emulator opened are guarded: a local sandbox made with
``LocalBackend(network=True)`` by anyone else on the host, at the same time, still
reaches the host's services, as its owner asked. A rule is installed before the
sandbox's network opens and removed after the sandbox is closed.

Every rule carries a comment naming the process that installed it (pid namespace, pid
and start time). The rules of a process that died without removing them (SIGKILL) are
swept by the next guard of the same pid namespace, so a later sandbox given the same
uid never inherits them. At exit and on SIGTERM the guard closes the sandboxes it
still guards, then removes their rules (:mod:`langchain_daytona_exec._lifecycle`).

The rules need root and ``iptables`` (``make install`` adds it). Where they cannot be
installed, sandboxes with an open network are refused: the emulator never opens the
network unguarded.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shlex
import shutil
import subprocess
import threading
from typing import Protocol

from langchain_daytona_exec import _lifecycle

__all__ = ["GUARD", "GuardUnavailableError", "NetworkGuard"]

logger = logging.getLogger(__name__)

TAG_PREFIX = "ldx-guard:"
"""Start of the comment on every rule of the guard: ``ldx-guard:<pid ns>:<pid>:<start>``
names the installing process, so a sweep can tell a dead process's rules from live ones."""

CHAIN_PREFIX = "ldx-"
"""Start of the name of a sandbox's allow-list chain, ``ldx-<uid>``."""

_TOOLS = ("iptables", "ip6tables")

_TOOL_TIMEOUT_S = 20.0
"""How long one iptables call may take (it waits up to 5 s for the xtables lock)."""

_CLOSE_TIMEOUT_S = 4.0
"""At exit, how long the guarded sandboxes may take to close (within the lifecycle's share
of the shutdown deadline for its first tier); if they do not, their rules stay for the
next sweep rather than unguard a sandbox that may still run."""

_NOT_FOUND = 1
"""iptables' exit status for ``-D``/``-C`` of a rule that is not there."""


class GuardUnavailableError(RuntimeError):
    """The firewall rule cannot be installed here (not root, or no iptables)."""


class _Closable(Protocol):
    def close(self) -> None: ...


def _guard_rule(uid: int, tag: str) -> list[str]:
    """The rule rejecting every new connection ``uid`` opens to an address of this host.

    Loopback included. Replies on connections the host opened (a preview link reaching a
    server in the sandbox) are not new, so they pass.
    """
    return [
        "OUTPUT",
        *("-m", "owner", "--uid-owner", str(uid)),
        *("-m", "addrtype", "--dst-type", "LOCAL"),
        *("-m", "conntrack", "--ctstate", "NEW"),
        *("-m", "comment", "--comment", tag),
        *("-j", "REJECT"),
    ]


def _jump_rule(uid: int, tag: str) -> list[str]:
    """Send every packet of ``uid`` through its allow-list chain."""
    return [
        "OUTPUT",
        *("-m", "owner", "--uid-owner", str(uid)),
        *("-m", "comment", "--comment", tag),
        *("-j", f"{CHAIN_PREFIX}{uid}"),
    ]


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), ``None`` if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5)


def _pid_namespace() -> str:
    """This process's pid namespace (an inode number), ``"?"`` if unreadable."""
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]") or "?"
    except OSError:
        return "?"


def _tag() -> str:
    """The comment naming this process on the rules it installs."""
    pid = os.getpid()
    return f"{TAG_PREFIX}{_pid_namespace()}:{pid}:{_start_time(pid)}"


def _is_stale(tag: str, namespace: str) -> bool:
    """Whether ``tag`` names a process of ``namespace`` that is gone."""
    parts = tag[len(TAG_PREFIX) :].split(":")
    if len(parts) != 3 or parts[0] != namespace or namespace == "?":
        return False  # another pid namespace: its processes cannot be seen from here
    pid, start = parts[1], parts[2]
    return not pid.isdigit() or _start_time(int(pid)) != start


class NetworkGuard:
    """The firewall rules of the sandbox uids this process guards.

    One guard serves the whole process (several emulators may run at once); each uid
    is guarded at most once, by the sandbox that runs as it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = False
        self._guarded: dict[int, tuple[list[str], _Closable]] = {}
        """uid -> (the tools that hold its rule, the sandbox running as it)."""
        self._restricted: set[int] = set()
        """The uids with an allow-list chain."""

    def ensure(self) -> None:
        """Check that rules can be installed here (root, iptables).

        Raises:
            GuardUnavailableError: They cannot (the message says why).
        """
        with self._lock:
            self._check()

    def _check(self) -> None:
        if self._checked:
            return
        if not shutil.which("iptables"):
            raise GuardUnavailableError(
                "an open network needs iptables on the emulator's host to keep sandboxes "
                "off the host's own services (apt-get install iptables, as root)"
            )
        if self._call("iptables", ["-S", "OUTPUT"]) != 0:
            raise GuardUnavailableError(
                "iptables could not read the firewall, so it cannot keep sandboxes off the "
                "host's services (the emulator must run as root for an open network)"
            )
        self._checked = True

    def guard(self, uid: int, sandbox: _Closable) -> None:
        """Keep sandbox uid ``uid`` off this host's addresses until :meth:`release`.

        Call it before the sandbox's network opens. ``sandbox`` (the one running as
        ``uid``) is closed before its rule goes if the process ends first. Guarding a
        uid twice does nothing.

        Raises:
            GuardUnavailableError: The rule could not be installed.
        """
        with self._lock:
            self._check()
            if uid in self._guarded:
                return
            self._sweep()
            tag = _tag()
            installed: list[str] = []
            for tool in _TOOLS:
                if not shutil.which(tool):
                    continue
                if self._call(tool, ["-I", *_guard_rule(uid, tag)]) == 0:
                    installed.append(tool)
                elif tool == "iptables":
                    for done in installed:
                        self._delete_all(done, _guard_rule(uid, tag))
                    raise GuardUnavailableError(
                        f"{tool} could not install the rule that keeps sandbox uid {uid} off "
                        "the host's services (the emulator must run as root for an open network)"
                    )
                # else: no IPv6 stack, nothing to guard there
            self._guarded[uid] = (installed, sandbox)
            _lifecycle.register_pool(self)

    def release(self, uid: int) -> None:
        """Remove the rules of sandbox uid ``uid`` (its allow-list too), if any.

        Call it once the sandbox is closed: its uid may be given to a later sandbox,
        which must not inherit them.
        """
        self.unrestrict(uid)
        with self._lock:
            entry = self._guarded.pop(uid, None)
            if entry is not None:
                tag = _tag()
                for tool in entry[0]:
                    self._delete_all(tool, _guard_rule(uid, tag))
            if not self._guarded:
                _lifecycle.unregister_pool(self)

    def guarded(self) -> list[int]:
        """The uids this process guards now."""
        with self._lock:
            return list(self._guarded)

    def close(self) -> None:
        """Close every sandbox still guarded, then remove its rules (at exit, SIGTERM)."""
        with self._lock:
            entries = list(self._guarded.items())
        sandboxes = [sandbox for _, (_, sandbox) in entries]
        if not _lifecycle.close_sandboxes(sandboxes, _CLOSE_TIMEOUT_S):
            # never unguard a sandbox that may still run: the next guard sweeps the rules
            logger.warning("guarded sandboxes did not close in time; their rules stay")
            return
        for uid, _ in entries:
            self.release(uid)
        with self._lock:
            restricted = list(self._restricted)
        for uid in restricted:
            self.unrestrict(uid)

    def restrict(self, uid: int, cidrs: list[str]) -> None:
        """Let sandbox uid ``uid`` reach only ``cidrs`` (Daytona's ``networkAllowList``).

        One chain per uid: the ranges return, everything else is rejected. The host's
        own addresses stay refused by the uid's guard rule, which comes first. The chain
        goes with :meth:`release` (or :meth:`unrestrict`).

        Raises:
            GuardUnavailableError: The rules could not be installed.
        """
        self.unrestrict(uid)
        chain = f"{CHAIN_PREFIX}{uid}"
        tag = _tag()
        with self._lock:
            self._restricted.add(uid)
        for tool, family in (("iptables", 4), ("ip6tables", 6)):
            if not shutil.which(tool):
                continue
            mine = [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == family]
            steps = [["-N", chain]]
            steps += [["-A", chain, "-d", c, "-j", "RETURN"] for c in mine]
            # admin-prohibited: the code sees EHOSTUNREACH, told apart from a remote refusal
            reject = "icmp-admin-prohibited" if family == 4 else "icmp6-adm-prohibited"
            steps += [["-A", chain, "-j", "REJECT", "--reject-with", reject]]
            steps += [["-A", *_jump_rule(uid, tag)]]
            for step in steps:
                if self._call(tool, step) != 0 and family == 4:
                    self.unrestrict(uid)
                    raise GuardUnavailableError(
                        f"{tool} could not install the allow-list of sandbox uid {uid}"
                    )

    def unrestrict(self, uid: int) -> None:
        """Remove the allow-list chain of sandbox uid ``uid`` (if any)."""
        with self._lock:
            if uid not in self._restricted:
                return
            self._restricted.discard(uid)
        chain = f"{CHAIN_PREFIX}{uid}"
        tag = _tag()
        for tool in _TOOLS:
            if not shutil.which(tool):
                continue
            self._delete_all(tool, _jump_rule(uid, tag))
            self._drop_chain(tool, chain)

    def _sweep(self) -> None:
        """Remove the rules (and chains) of processes of this pid namespace that are gone."""
        namespace = _pid_namespace()
        for tool in _TOOLS:
            if not shutil.which(tool):
                continue
            chains: set[str] = set()
            for rule in self._rules(tool):
                tag = rule[rule.index("--comment") + 1] if "--comment" in rule else ""
                if not tag.startswith(TAG_PREFIX) or not _is_stale(tag, namespace):
                    continue
                if "-j" in rule and rule[rule.index("-j") + 1].startswith(CHAIN_PREFIX):
                    chains.add(rule[rule.index("-j") + 1])
                if self._call(tool, ["-D", *rule[1:]]) == 0:
                    logger.info("removed the firewall rule of a gone process: %s", rule)
            for chain in chains:
                self._drop_chain(tool, chain)

    def _drop_chain(self, tool: str, chain: str) -> None:
        """Flush and delete ``chain`` unless a rule of OUTPUT still jumps to it."""
        if any(r[r.index("-j") + 1] == chain for r in self._rules(tool) if "-j" in r):
            return  # another live process's sandbox with the same uid uses it
        self._call(tool, ["-F", chain])
        self._call(tool, ["-X", chain])

    def _rules(self, tool: str) -> list[list[str]]:
        """The rules of OUTPUT (as ``-A OUTPUT ...`` word lists)."""
        try:
            done = subprocess.run(
                [tool, "-w", "5", "-S", "OUTPUT"],
                capture_output=True,
                text=True,
                timeout=_TOOL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        rules = []
        for line in done.stdout.splitlines():
            with contextlib.suppress(ValueError):
                words = shlex.split(line)
                if words[:1] == ["-A"]:
                    rules.append(words)
        return rules

    def _delete_all(self, tool: str, rule: list[str]) -> None:
        """Delete every copy of ``rule``; warn if one cannot be deleted."""
        for _ in range(100):  # bounded: a rule is never installed that often
            status = self._call(tool, ["-D", *rule])
            if status == _NOT_FOUND:
                return
            if status != 0:
                logger.warning("%s could not delete the rule %s (status %s)", tool, rule, status)
                return

    @staticmethod
    def _call(tool: str, args: list[str]) -> int:
        try:
            done = subprocess.run(
                [tool, "-w", "5", *args],
                capture_output=True,
                timeout=_TOOL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return -1
        return done.returncode


GUARD = NetworkGuard()
"""The process's one guard."""
