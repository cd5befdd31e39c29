"""Fault injection and request accounting for the emulator (an ASGI middleware).

Faults apply to HTTP requests of the Daytona API (control plane and toolbox), never
to the ``/_emulator`` admin routes. A fault answers *instead of* the route, so the
request never reaches a sandbox: exactly what a rate limiter or an overloaded proxy
in front of Daytona does.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "FaultMiddleware", "Faults"]

ADMIN_PREFIX = "/_emulator"
"""Path prefix of the admin routes (fault control, statistics); never faulted."""

_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""Sandbox and context ids (UUIDs), replaced by ``{id}`` in the request counters."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Fault:
    """One injected failure.

    Attributes:
        status: The HTTP status answered (429, 500, 502, 503, 504...).
        count: How many requests get it; ``None`` for no limit.
        rate: Probability that a matching request gets it (0..1).
        retry_after: Seconds sent in a ``Retry-After`` header, if any.
        path: Only requests whose path contains this text match ("" matches all).
        method: Only requests with this HTTP method match (``None``: any).
    """

    status: int
    count: int | None = 1
    rate: float = 1.0
    retry_after: float | None = None
    path: str = ""
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """True when a request with this method and path is subject to the fault."""
        if self.count is not None and self.count <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path in path

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        """Build a fault from the admin route's JSON body."""
        return cls(
            status=int(body["status"]),
            count=None if body.get("count", 1) is None else int(body.get("count", 1)),
            rate=float(body.get("rate", 1.0)),
            retry_after=None if body.get("retry_after") is None else float(body["retry_after"]),
            path=str(body.get("path", "")),
            method=body.get("method"),
        )


class Faults:
    """The fault plan and the request counters, shared by the middleware and admin routes.

    Args:
        seed: Seed of the random generator deciding rate-limited faults.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self.latency_s = 0.0
        self.requests: Counter[str] = Counter()
        self.injected: Counter[int] = Counter()
        self.websockets = 0

    def add(self, fault: Fault) -> None:
        """Add a fault to the plan."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault and the latency."""
        with self._lock:
            self._faults.clear()
            self.latency_s = 0.0

    def reset_counters(self) -> None:
        """Zero the request counters."""
        with self._lock:
            self.requests.clear()
            self.injected.clear()
            self.websockets = 0

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault this request gets, if any (and count it)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and self._rng.random() < fault.rate:
                    if fault.count is not None:
                        fault.count -= 1
                    self.injected[fault.status] += 1
                    return fault
        return None

    def count(self, kind: str) -> None:
        """Count one request of ``kind`` (``"METHOD /path-template"`` or ``"ws"``)."""
        with self._lock:
            self.requests[kind] += 1
            if kind.startswith("WS "):
                self.websockets += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-able data."""
        with self._lock:
            http = {k: v for k, v in self.requests.items() if not k.startswith("WS ")}
            return {
                "http_requests": sum(http.values()),
                "websockets": self.websockets,
                "by_route": dict(sorted(self.requests.items())),
                "injected": {str(k): v for k, v in self.injected.items()},
            }


_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultMiddleware:
    """Adds latency to every API request and answers some with injected errors."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        template = _ID_RE.sub("{id}", scope["path"])
        if scope["type"] == "http":
            self.faults.count(f"{scope['method']} {template}")
        else:
            self.faults.count(f"WS {template}")
        if self.faults.latency_s > 0:
            await asyncio.sleep(self.faults.latency_s)
        if scope["type"] == "http":
            fault = self.faults.pick(scope["method"], scope["path"])
            if fault is not None:
                await _answer(send, fault)
                return
        await self.app(scope, receive, send)


async def _answer(send: Send, fault: Fault) -> None:
    reason = _REASONS.get(fault.status, "Injected Fault")
    body = json.dumps(
        {
            "statusCode": fault.status,
            "message": f"{reason} (injected by the emulator)",
            "code": "EMULATOR_INJECTED_FAULT",
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if fault.retry_after is not None:
        # RFC 9110 delay-seconds is a whole number (urllib3 rejects "0.3" outright)
        headers.append((b"retry-after", str(math.ceil(fault.retry_after)).encode()))
    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
