"""The host side of a network allow-list: a filtering HTTP proxy on a Unix socket.

A sandbox with an allow-list keeps its own network namespace (only its loopback) and
a seccomp filter that lets it make TCP sockets, which can reach nothing but that
loopback. Its one way out is a Unix socket bound into it, served here. Inside, a
forwarder (``forwarder.py``) exposes that socket as ``http://127.0.0.1:3128``, the
``HTTP_PROXY``/``HTTPS_PROXY`` every common client honours.

What the proxy decides, per request:

* ``CONNECT host:port`` (HTTPS and any TCP) and absolute-form plain HTTP requests are
  checked against the policy **by the name the client gave**: an IP literal is allowed
  only by an IP pattern, a name only by a name pattern.
* A plain HTTP request whose ``Host`` header disagrees with its URL is refused, and each
  connection carries one request (``Connection: close``), so a second request cannot
  ride on an allowed one.
* A name that resolves to a loopback, link-local, private-LAN or unspecified address is
  refused (DNS rebinding onto the host's own services), unless an IP pattern allows it.
* Redirects are the client's: the redirected request is checked like any other.
* Per sandbox: at most ``max_requests`` requests, ``max_bytes`` bytes both ways and
  ``max_connections`` at once; idle connections close after ``idle_timeout_s``.

Every allowed and refused request is recorded (:class:`EgressEvent`) and available to
the caller through ``LocalSandbox.network_log()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import threading
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from langchain_daytona_exec.netpolicy import NetworkPolicy, normalize_host
from langchain_daytona_exec.types import EgressEvent

__all__ = ["EgressChannel", "EgressEvent", "EgressLimits", "EgressProxy", "egress_proxy"]

T = TypeVar("T")

_LOG_KEEP = 1000
"""Events kept per sandbox (the newest): the log must not grow host memory forever."""

_INTERNAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)
"""Private-LAN and link-local ranges: the host's neighbours, never reached through a
name (only through an IP pattern that names them)."""


@dataclass(frozen=True)
class EgressLimits:
    """Per-sandbox bounds of the proxy. Sizes in **bytes**, times in **seconds**.

    Attributes:
        max_requests: Requests (connections) over the sandbox's life.
        max_bytes: Bytes forwarded both ways over the sandbox's life.
        max_connections: Connections open at once.
        idle_timeout_s: A connection with no traffic this long is closed.
        connect_timeout_s: How long reaching an allowed host may take.
        head_bytes: The largest request head (request line + headers) accepted.
    """

    max_requests: int = 5000
    max_bytes: int = 4 * 1024**3
    max_connections: int = 32
    idle_timeout_s: float = 120.0
    connect_timeout_s: float = 15.0
    head_bytes: int = 64 * 1024


@dataclass
class _Entry:
    """A log entry whose byte counts (out, in) grow while the connection relays."""

    time: float
    method: str
    host: str
    port: int
    allowed: bool
    reason: str = ""
    counts: list[int] = field(default_factory=lambda: [0, 0])


class EgressChannel:
    """One sandbox's socket, policy, counters and log. Made by :class:`EgressProxy`."""

    def __init__(self, proxy: EgressProxy, policy: NetworkPolicy, limits: EgressLimits) -> None:
        self.policy = policy
        self.limits = limits
        self.requests = 0
        self.bytes = 0
        self.open = 0
        self._events: deque[_Entry] = deque(maxlen=_LOG_KEEP)
        self._proxy = proxy
        self._server: asyncio.AbstractServer | None = None
        self._lock = threading.Lock()

    def log(self) -> list[EgressEvent]:
        """The requests so far, oldest first (the newest 1000).

        An allowed request is logged when it is let through; its byte counts are the
        bytes relayed so far (final once the connection closes).
        """
        with self._lock:
            entries = list(self._events)
        return [
            EgressEvent(e.time, e.method, e.host, e.port, e.allowed, e.reason, *e.counts)
            for e in entries
        ]

    def record(self, entry: _Entry) -> None:
        """Add one request to the log."""
        with self._lock:
            self._events.append(entry)

    def close(self) -> None:
        """Stop serving this sandbox (open connections are cut)."""
        server, self._server = self._server, None
        if server is not None:
            self._proxy.call(_close_server(server))


async def _close_server(server: asyncio.AbstractServer) -> None:
    server.close()
    with contextlib.suppress(Exception):
        close_clients = getattr(server, "close_clients", None)
        if close_clients is not None:
            close_clients()


class EgressProxy:
    """One asyncio loop on a daemon thread serving every sandbox's proxy socket."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ldx-egress", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the proxy's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def open(
        self, socket_path: str, policy: NetworkPolicy, limits: EgressLimits | None = None
    ) -> EgressChannel:
        """Serve ``socket_path`` for one sandbox under ``policy``.

        The socket is made connectable by any uid (0666): it lives in the sandbox's
        private host folder (0700), so only that sandbox can reach it.
        """
        channel = EgressChannel(self, policy, limits or EgressLimits())

        async def start() -> asyncio.AbstractServer:
            return await asyncio.start_unix_server(
                lambda r, w: _Session(channel, r, w).run(), path=socket_path
            )

        channel._server = self.call(start())
        os.chmod(socket_path, 0o666)
        return channel


_proxy: EgressProxy | None = None
_proxy_lock = threading.Lock()


def egress_proxy() -> EgressProxy:
    """The process's proxy, started on first use."""
    global _proxy
    with _proxy_lock:
        if _proxy is None:
            _proxy = EgressProxy()
        return _proxy


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Session:
    """One client connection: read the head, decide, then relay."""

    def __init__(
        self, channel: EgressChannel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.ch = channel
        self.reader = reader
        self.writer = writer
        self.method = "?"
        self.host = ""
        self.port = 0

    async def run(self) -> None:
        ch = self.ch
        ch.open += 1
        try:
            await self._serve()
        except _Refused as exc:
            ch.record(_Entry(time.time(), self.method, self.host, self.port, False, exc.reason))
            await self._answer(exc.status, exc.reason)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            ch.open -= 1
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _answer(self, status: int, reason: str) -> None:
        phrase = f"Blocked by the sandbox network policy: {reason}"
        phrase = phrase.replace("\r", " ").replace("\n", " ")[:400]
        body = (phrase + "\n").encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(Exception):
            self.writer.write(head.encode("latin-1", "replace") + body)
            await asyncio.wait_for(self.writer.drain(), 5)

    async def _serve(self) -> None:
        ch, lim = self.ch, self.ch.limits
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), lim.idle_timeout_s)
        except asyncio.LimitOverrunError as exc:
            raise _Refused(431, "request head too large") from exc
        if len(head) > lim.head_bytes:
            raise _Refused(431, "request head too large")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _Refused(400, "malformed request line")
        self.method, target = parts[0].upper(), parts[1]
        headers = [line for line in lines[1:] if line]
        if self.method == "CONNECT":
            self.host, self.port = _split_authority(target, default_port=443)
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                raise _Refused(
                    400, "give the proxy an absolute http:// URL (use CONNECT for https)"
                )
            self.host, self.port = _split_authority(url.netloc, default_port=80)
            host_header = _header(headers, "host")
            if host_header is not None:
                h, p = _split_authority(host_header, default_port=80)
                if (normalize_host(h), p) != (normalize_host(self.host), self.port):
                    raise _Refused(
                        403, f"Host header {host_header!r} does not match the URL's host"
                    )
        if ch.open > lim.max_connections:
            raise _Refused(429, f"more than {lim.max_connections} connections at once")
        if ch.requests >= lim.max_requests:
            raise _Refused(429, f"the sandbox's limit of {lim.max_requests} requests is spent")
        if ch.bytes >= lim.max_bytes:
            raise _Refused(429, f"the sandbox's limit of {lim.max_bytes} bytes is spent")
        ch.requests += 1
        pattern = ch.policy.matching(self.host, self.port)
        if pattern is None:
            raise _Refused(403, f"{self.host}:{self.port} is not allowed ({ch.policy.describe()})")
        upstream = await self._connect(trust_internal=pattern.is_ip)
        up_reader, up_writer = upstream
        entry = _Entry(time.time(), self.method, self.host, self.port, True)
        ch.record(entry)
        if self.method == "CONNECT":
            self.writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            request = _origin_form(lines[0], target, headers)
            entry.counts[0] += len(request)
            ch.bytes += len(request)
            up_writer.write(request)
        await self._relay(up_reader, up_writer, entry.counts)

    async def _connect(
        self, *, trust_internal: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        lim = self.ch.limits
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(self.host, self.port, type=1), lim.connect_timeout_s
            )
        except (TimeoutError, OSError) as exc:
            raise _Refused(502, f"cannot resolve {self.host}: {exc}") from exc
        addrs = [str(info[4][0]) for info in infos]
        if not trust_internal:
            addrs = [a for a in addrs if not _internal(a)]
            if not addrs:
                raise _Refused(
                    403,
                    f"{self.host} resolves to a loopback or private address; allow that IP "
                    "literal explicitly if you mean it",
                )
        last: Exception | None = None
        for addr in addrs:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(addr, self.port), lim.connect_timeout_s
                )
            except (TimeoutError, OSError) as exc:
                last = exc
        raise _Refused(502, f"cannot reach {self.host}:{self.port}: {last}")

    async def _relay(
        self,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        counts: list[int],
    ) -> None:
        """Copy both ways until both ends close; bytes are counted before they are sent."""
        ch = self.ch

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, i: int) -> None:
            try:
                while True:
                    data = await asyncio.wait_for(src.read(65536), ch.limits.idle_timeout_s)
                    if not data:
                        break
                    counts[i] += len(data)
                    ch.bytes += len(data)
                    if ch.bytes > ch.limits.max_bytes:
                        break
                    dst.write(data)
                    await dst.drain()
            except (TimeoutError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    if dst.can_write_eof():
                        dst.write_eof()

        tasks = [
            asyncio.ensure_future(pump(self.reader, up_writer, 0)),
            asyncio.ensure_future(pump(up_reader, self.writer, 1)),
        ]
        try:
            _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:  # give the other direction the idle time to finish
                await asyncio.wait(pending, timeout=ch.limits.idle_timeout_s)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                up_writer.close()


def _split_authority(text: str, *, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _Refused(400, f"bad authority {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise _Refused(400, f"bad port in {text!r}")
    if not host:
        raise _Refused(400, f"no host in {text!r}")
    return normalize_host(host), int(port_text) if port_text else default_port


def _header(headers: list[str], name: str) -> str | None:
    for line in headers:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


_HOP_HEADERS = ("proxy-connection", "proxy-authorization", "connection", "keep-alive")


def _origin_form(request_line: str, target: str, headers: list[str]) -> bytes:
    """The request as the origin server expects it: path only, one request, no proxy headers."""
    url = urlsplit(target)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    method, _, version = request_line.split(" ")
    kept = [h for h in headers if h.partition(":")[0].strip().lower() not in _HOP_HEADERS]
    if _header(kept, "host") is None:
        kept.insert(0, f"Host: {url.netloc}")
    lines = [f"{method} {path} {version}", *kept, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _internal(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_link_local
        or any(ip in net for net in _INTERNAL_NETS if net.version == ip.version)
    )
