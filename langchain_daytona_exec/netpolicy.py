"""Network policies of a sandbox: off, open, or an allow-list of hosts.

``LocalBackend(network=...)`` and ``DaytonaBackend(network=...)`` accept:

* ``False``: no network at all (the default).
* ``True``: the full network.
* a list of patterns: only these hosts, through a filtering proxy (local backend) or
  Daytona's ``network_allow_list`` (CIDR ranges only). A pattern is

  - an exact host name (``"pypi.org"``), matched case-insensitively;
  - ``"*.suffix"``: any name *below* ``suffix`` (``"*.pythonhosted.org"`` matches
    ``files.pythonhosted.org``, not ``pythonhosted.org`` itself);
  - an IP literal (``"203.0.113.7"``, ``"[::1]"``), matched only when the client asks
    for that literal: allowing a name never allows its addresses, and the reverse;
  - any of these with ``":port"``; without a port, every port is allowed.
* ``"packages"``: the Python package index pip is configured with on this machine
  (``PIP_INDEX_URL`` / pip's ``index-url``, PyPI by default) and its file host.

This module is pure: parsing and matching only, no sockets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache

from langchain_daytona_exec._record import FrozenRecord
from langchain_daytona_exec.errors import NetworkPolicyError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:  # imported on use: a sandbox without an allow-list needs neither
    import ipaddress

__all__ = [
    "PACKAGES_PRESET",
    "HostPattern",
    "NetworkPolicy",
    "NetworkSetting",
    "package_index_urls",
]

NetworkSetting = bool | str | Sequence[str]
"""What ``network=`` accepts: ``False``, ``True``, ``"packages"`` or host patterns."""

PACKAGES_PRESET = "packages"
"""The preset allowing just the configured Python package index and its file host."""

PYPI_URL = "https://pypi.org/simple"
"""pip's default index; its files are served from ``files.pythonhosted.org``."""

_PYPI_FILE_HOST = "files.pythonhosted.org"


class HostPattern(FrozenRecord):
    """One allow-list entry (immutable, compared by value).

    Attributes:
        host: Lower-case name, ``*.suffix``, or an IP literal (IPv6 without brackets).
        port: The one allowed port, or ``None`` for any.
    """

    __slots__ = ("host", "port")  # the fields, in order
    host: str
    port: int | None

    def __init__(self, host: str, port: int | None = None) -> None:
        self._assign(host, port)

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """Parse ``host``, ``host:port``, ``*.suffix[:port]`` or ``[v6][:port]``.

        Raises:
            NetworkPolicyError: The pattern is empty, has a scheme or path, or a bad port.
        """
        if not isinstance(text, str):
            raise NetworkPolicyError(f"a network pattern must be a string, got {text!r}")
        raw = text.strip()
        if not raw or "/" in raw or "@" in raw or " " in raw:
            raise NetworkPolicyError(
                f"bad network pattern {text!r}: give a host, host:port or *.suffix "
                "(no scheme, path or user)"
            )
        host, port = raw, None
        if raw.startswith("["):
            end = raw.find("]")
            if end < 0:
                raise NetworkPolicyError(f"bad network pattern {text!r}: unclosed '['")
            host, rest = raw[1:end], raw[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise NetworkPolicyError(f"bad network pattern {text!r}")
                port = _port(rest[1:], text)
        elif raw.count(":") == 1:
            host, port_text = raw.split(":")
            port = _port(port_text, text)
        host = host.lower().rstrip(".")
        if host.startswith("*."):
            if not _valid_name(host[2:]):
                raise NetworkPolicyError(f"bad network pattern {text!r}: bad suffix")
        elif "*" in host or not (_ip(host) is not None or _valid_name(host)):
            raise NetworkPolicyError(
                f"bad network pattern {text!r}: '*' only as a leading '*.' label"
            )
        return cls(host, port)

    @property
    def is_ip(self) -> bool:
        """True when the pattern is an IP literal."""
        return _ip(self.host) is not None

    def matches(self, host: str, port: int) -> bool:
        """Whether a request for ``host:port`` (as the client named it) is allowed."""
        if self.port is not None and port != self.port:
            return False
        name = normalize_host(host)
        if self.host.startswith("*."):
            return _ip(name) is None and name.endswith(self.host[1:])
        if self.is_ip:
            other = _ip(name)
            return other is not None and other == _ip(self.host)
        return name == self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


class NetworkPolicy(FrozenRecord):
    """A sandbox's network setting, parsed once (immutable, compared by value).

    Attributes:
        mode: ``"off"``, ``"open"`` or ``"allow"``.
        allow: The allow-list (``mode == "allow"`` only).
        label: How the setting was given, for messages (``"packages"``, ``"allow-list"``).
    """

    __slots__ = ("mode", "allow", "label")  # noqa: RUF023 (the fields, in order)
    mode: str
    allow: tuple[HostPattern, ...]
    label: str

    def __init__(self, mode: str, allow: tuple[HostPattern, ...] = (), label: str = "") -> None:
        self._assign(mode, allow, label)

    @classmethod
    def parse(cls, network: NetworkSetting | NetworkPolicy) -> NetworkPolicy:
        """Turn a ``network=`` argument into a policy.

        Raises:
            NetworkPolicyError: An unknown preset, a bad pattern or a wrong type.
        """
        if isinstance(network, NetworkPolicy):
            return network
        if network is False or network is None:
            return cls("off")
        if network is True:
            return cls("open")
        if isinstance(network, str):
            if network == PACKAGES_PRESET:
                return cls("allow", tuple(package_index_patterns()), PACKAGES_PRESET)
            raise NetworkPolicyError(
                f"unknown network preset {network!r}: pass False, True, {PACKAGES_PRESET!r} "
                "or a list of host patterns such as ['pypi.org', '*.pythonhosted.org:443']"
            )
        if isinstance(network, Iterable):
            items = list(network)
            patterns: list[HostPattern] = []
            for item in items:
                if item == PACKAGES_PRESET:
                    patterns += package_index_patterns()
                else:
                    patterns.append(HostPattern.parse(item))
            return cls("allow", tuple(dict.fromkeys(patterns)), "allow-list")
        raise NetworkPolicyError(
            f"network must be False, True, {PACKAGES_PRESET!r} or a list of host patterns, "
            f"got {type(network).__name__}"
        )

    @property
    def filtered(self) -> bool:
        """True for an allow-list (traffic goes through the filtering proxy)."""
        return self.mode == "allow"

    def allows(self, host: str, port: int) -> bool:
        """Whether ``host:port``, as the client named it, is on the allow-list."""
        if self.mode == "open":
            return True
        if self.mode == "off":
            return False
        return any(p.matches(host, port) for p in self.allow)

    def matching(self, host: str, port: int) -> HostPattern | None:
        """The first pattern that allows ``host:port``, or ``None``."""
        return next((p for p in self.allow if p.matches(host, port)), None)

    def describe(self) -> str:
        """One line for messages and tool descriptions."""
        if self.mode == "off":
            return "no network"
        if self.mode == "open":
            return "full network"
        hosts = ", ".join(str(p) for p in self.allow) or "nothing"
        return f"only {hosts} ({self.label})"


def normalize_host(host: str) -> str:
    """Lower-case, no brackets, no trailing dot: the form patterns are compared in."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        import ipaddress

        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return (
        bool(name)
        and len(name) <= 253
        and all(
            0 < len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels
        )
    )


def _port(text: str, pattern: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise NetworkPolicyError(f"bad network pattern {pattern!r}: bad port {text!r}")
    return int(text)


@lru_cache(maxsize=1)
def package_index_urls() -> tuple[str, ...]:
    """The http(s) index URLs pip is configured with here (PyPI when none is set).

    Reads ``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL`` and pip's configuration files
    (``pip config list``); ``file://`` indexes are skipped (nothing to allow).
    """
    from urllib.parse import urlsplit

    urls: list[str] = []
    index = os.environ.get("PIP_INDEX_URL") or _pip_config("index-url")
    urls.append(index or PYPI_URL)
    extra = os.environ.get("PIP_EXTRA_INDEX_URL") or _pip_config("extra-index-url") or ""
    urls += extra.split()
    return tuple(u for u in dict.fromkeys(urls) if urlsplit(u).scheme in ("http", "https"))


def package_index_patterns() -> list[HostPattern]:
    """Allow-list entries for :func:`package_index_urls` (and PyPI's file host)."""
    from urllib.parse import urlsplit

    patterns: list[HostPattern] = []
    for url in package_index_urls():
        parts = urlsplit(url)
        if parts.hostname is None:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        patterns.append(HostPattern.parse(f"{_bracket(parts.hostname)}:{port}"))
        if parts.hostname == "pypi.org":
            patterns.append(HostPattern(_PYPI_FILE_HOST, 443))
    return patterns


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _pip_config(key: str) -> str | None:
    """``global.<key>`` from pip's configuration, or ``None`` (pip missing, unset)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.strip() in (f"global.{key}", f":env:.{key}"):
            return value.strip().strip("'\"")
    return None
