"""Keep emulated sandboxes with an open network away from the host's own services.

A local sandbox whose network is open shares the host's network namespace, so without
a guard its code could call the emulator's API (which accepts any key by default) or
any other service listening on the host. The guard is one firewall rule per address
family: packets from the sandbox uid range (each local sandbox runs as its own uid in
``[UID_BASE, UID_BASE + UID_SPAN)``) to any address of this host are rejected. Other
destinations stay reachable, as on Daytona with ``networkBlockAll=false``.

The rule needs root and ``iptables`` (``make install`` adds it). Where it cannot be
installed, sandboxes with an open network are refused: the emulator never opens the
network unguarded.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import threading

from langchain_daytona_exec.backends.local._limits import UID_BASE, UID_SPAN

__all__ = ["GUARD", "GuardUnavailableError", "NetworkGuard"]

_RULE = [
    "OUTPUT",
    "-m",
    "owner",
    "--uid-owner",
    f"{UID_BASE}-{UID_BASE + UID_SPAN - 1}",
    "-m",
    "addrtype",
    "--dst-type",
    "LOCAL",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    "REJECT",
]
"""Reject every connection a sandbox uid opens to an address of this host (loopback
included). Replies on connections the host opened (a preview link reaching a server in
the sandbox) are not new, so they pass."""

_TOOL_TIMEOUT_S = 20.0
"""How long one iptables call may take."""


class GuardUnavailableError(RuntimeError):
    """The firewall rule cannot be installed here (not root, or no iptables)."""


class NetworkGuard:
    """Installs the rule on first need; removes it when its last user releases it.

    One guard serves the whole process (several emulators may run at once).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._installed: list[str] = []
        self._checked = False
        self._users = 0

    def acquire(self) -> None:
        """Count one more user (an emulator); the rule stays until the last release."""
        with self._lock:
            self._users += 1

    def ensure(self) -> None:
        """Make sure the rule is in place for IPv4 and IPv6.

        Raises:
            GuardUnavailableError: It cannot be installed (the message says why).
        """
        with self._lock:
            if self._checked:
                return
            tools = [t for t in ("iptables", "ip6tables") if shutil.which(t)]
            if "iptables" not in tools:
                raise GuardUnavailableError(
                    "an open network needs iptables on the emulator's host to keep sandboxes "
                    "off the host's own services (apt-get install iptables, as root)"
                )
            for tool in tools:
                if self._run(tool, "-C") == 0:
                    continue
                if self._run(tool, "-I") != 0:
                    if tool == "ip6tables":
                        continue  # no IPv6 stack: nothing to guard there
                    raise GuardUnavailableError(
                        f"{tool} could not install the rule that keeps sandboxes off the "
                        "host's services (the emulator must run as root for an open network)"
                    )
                self._installed.append(tool)
            self._checked = True

    def release(self) -> None:
        """One user less; the last one removes the rules this guard installed."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users:
                return
            for tool in self._installed:
                self._run(tool, "-D")
            self._installed.clear()
            self._checked = False

    def restrict(self, uid: int, cidrs: list[str]) -> None:
        """Let sandbox uid ``uid`` reach only ``cidrs`` (Daytona's ``networkAllowList``).

        One chain per uid: the ranges return, everything else is rejected. The host's
        own addresses stay refused by the global rule, which comes first.

        Raises:
            GuardUnavailableError: The rules could not be installed.
        """
        self.unrestrict(uid)
        chain = f"ldx-{uid}"
        for tool, family in (("iptables", 4), ("ip6tables", 6)):
            if not shutil.which(tool):
                continue
            mine = [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == family]
            steps = [["-N", chain]]
            steps += [["-A", chain, "-d", c, "-j", "RETURN"] for c in mine]
            # admin-prohibited: the code sees EHOSTUNREACH, told apart from a remote refusal
            reject = "icmp-admin-prohibited" if family == 4 else "icmp6-adm-prohibited"
            steps += [["-A", chain, "-j", "REJECT", "--reject-with", reject]]
            steps += [["-A", "OUTPUT", "-m", "owner", "--uid-owner", str(uid), "-j", chain]]
            for step in steps:
                if self._call(tool, step) != 0 and family == 4:
                    self.unrestrict(uid)
                    raise GuardUnavailableError(
                        f"{tool} could not install the allow-list of sandbox uid {uid}"
                    )

    def unrestrict(self, uid: int) -> None:
        """Remove the allow-list chain of sandbox uid ``uid`` (if any)."""
        chain = f"ldx-{uid}"
        for tool in ("iptables", "ip6tables"):
            if not shutil.which(tool):
                continue
            jump = ["OUTPUT", "-m", "owner", "--uid-owner", str(uid), "-j", chain]
            while self._call(tool, ["-D", *jump]) == 0:
                pass
            self._call(tool, ["-F", chain])
            self._call(tool, ["-X", chain])

    @staticmethod
    def _run(tool: str, action: str) -> int:
        return NetworkGuard._call(tool, [action, *_RULE])

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
            return 1
        return done.returncode


GUARD = NetworkGuard()
"""The process's one guard."""
