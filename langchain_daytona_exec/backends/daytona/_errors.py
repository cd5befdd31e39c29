"""What a failed Daytona call tells us, and its translation into our error tree.

The SDK reports failures in several shapes, depending on the path a call took:

* ``DaytonaError`` subclasses with ``status_code``, ``headers``, ``code`` and
  ``source`` (most calls, through the SDK's ``intercept_errors``);
* a plain ``DaytonaError`` *without* a status whose ``__cause__`` is an
  ``httpx.HTTPStatusError`` (file downloads) or an ``httpx_ws.WebSocketUpgradeError``
  (the interpreter websocket);
* raw generated-client ``OpenApiException`` (when we call a generated API directly);
* transport errors, possibly wrapped in urllib3's ``MaxRetryError``.

:func:`inspect_error` walks the exception chain once and returns an
:class:`ErrorInfo`; :func:`to_sandbox_error` turns it into a
:class:`~langchain_daytona_exec.errors.SandboxError` with a next step, which carries
the facts (``provider_info``, read back with :func:`info_of`).

Callers that expect a failure name an *error policy*: a function of the mapped
error and its facts that returns a value instead, raises a more precise error, or
raises the error again. :func:`ignore_not_found` (deletes) and :func:`file_errors`
(file operations) are the shared ones; what a 404 means is decided by
:attr:`ErrorInfo.not_found` alone.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from langchain_daytona_exec.errors import (
    ProviderError,
    ProviderRateLimitError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxTimeoutError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "ErrorInfo",
    "ErrorPolicy",
    "attach",
    "file_error",
    "file_errors",
    "ignore_not_found",
    "info_of",
    "inspect_error",
    "parse_retry_after",
    "to_sandbox_error",
]

R = TypeVar("R")
E = TypeVar("E", bound=SandboxError)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses worth another try: rate limited, or a proxy/gateway that failed."""

REFUSED_STATUSES = frozenset({429, 503})
"""Statuses that mean the request was *refused*, not processed: a rate limiter or an
overloaded front answers them before anything runs, so even a non-idempotent call
(an ``exec``) may be sent again. A 502 or 504 may come after the sandbox ran it."""

SOURCE_DAEMON = "DAYTONA_DAEMON"
"""``source`` of errors produced inside the sandbox (file not found, timeouts)."""

_MAX_RETRY_AFTER_S = 300.0
"""A ``Retry-After`` beyond this many seconds is capped (a misconfigured proxy must
not park a call for an hour; the call's deadline caps it further)."""

_CHAIN_LIMIT = 16
"""Exception-chain links inspected at most (chains are short; this guards cycles)."""

_IS_DIR_TEXTS = ("is a directory", "is a folder")
"""How Daytona's daemon words a file operation on a folder (it has no error code)."""

_TOO_LARGE_TEXTS = ("too large", "file size", "exceeds")
"""How a size refusal is worded (uploads carry no error code in the SDK's error)."""


@dataclass(frozen=True)
class ErrorInfo:
    """The facts of one failed call.

    Attributes:
        status: HTTP status, when a response was received.
        retry_after: Seconds from a ``Retry-After`` header, if any.
        code: Daytona's machine-readable error code (``FILE_NOT_FOUND``...).
        source: Who produced it: ``DAYTONA_API``, ``DAYTONA_PROXY``, ``DAYTONA_DAEMON``.
        message: The most specific message found.
        connection: A transport failure (no complete response).
        not_sent: The request certainly never reached the server (connection
            refused, websocket upgrade rejected): safe to send again.
        timeout: A timeout (client-side read timeout, 408/504, a code timeout).
        abandoned: Our own deadline passed before any answer: the call was given
            up and its outcome is unknown (the server may still complete it).
    """

    status: int | None = None
    retry_after: float | None = None
    code: str | None = None
    source: str | None = None
    message: str = ""
    connection: bool = False
    not_sent: bool = False
    timeout: bool = False
    abandoned: bool = False

    @property
    def retryable(self) -> bool:
        """Another try may succeed (transient status or transport failure)."""
        return self.status in RETRYABLE_STATUSES or (self.connection and not self.timeout)

    def safe_to_resend(self, idempotent: bool) -> bool:
        """True when sending the request again cannot run it twice."""
        return idempotent or self.not_sent or self.status in REFUSED_STATUSES

    @property
    def from_daemon(self) -> bool:
        """The sandbox itself answered (so the sandbox exists and runs)."""
        return self.source == SOURCE_DAEMON

    @property
    def not_found(self) -> bool:
        """What the call named does not exist: HTTP 404 or a ``*_NOT_FOUND`` code."""
        return self.status == 404 or (self.code or "").endswith("NOT_FOUND")


def parse_retry_after(value: object, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    Args:
        value: The header value.
        now: The current time (epoch seconds), for HTTP dates.

    Returns:
        Non-negative seconds, capped, or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _header(headers: Any, name: str) -> Any:
    if headers is None:
        return None
    try:
        value = headers.get(name)
        if value is None and isinstance(headers, Mapping):
            lowered = {str(k).lower(): v for k, v in headers.items()}
            value = lowered.get(name.lower())
        return value
    except Exception:
        return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < _CHAIN_LIMIT and current not in seen:
        seen.append(current)
        reason = getattr(current, "reason", None)  # urllib3 MaxRetryError
        if isinstance(reason, BaseException) and reason not in seen:
            seen.append(reason)
        current = current.__cause__ or current.__context__
    return seen


def _not_sent_types() -> tuple[type[BaseException], ...]:
    # urllib3, httpx and aiohttp are dependencies of the SDK: imported here, when the
    # first error is inspected, not when the package is.
    import aiohttp
    import httpx
    import urllib3.exceptions

    return (
        ConnectionRefusedError,
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.ConnectTimeoutError,
        httpx.ConnectError,
        httpx.ConnectTimeout,
        aiohttp.ClientConnectorError,
    )


def _connection_types() -> tuple[type[BaseException], ...]:
    import httpx
    import urllib3.exceptions

    return (
        ConnectionError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.NewConnectionError,
        httpx.TransportError,
    )


_NOT_SENT: tuple[type[BaseException], ...] | None = None
_CONNECTION: tuple[type[BaseException], ...] | None = None


def inspect_error(exc: BaseException) -> ErrorInfo:
    """Collect status, headers, code, source and transport facts from an exception chain.

    Args:
        exc: What the SDK raised.

    Returns:
        The facts; fields stay ``None``/``False`` when nothing says otherwise.
    """
    global _NOT_SENT, _CONNECTION
    if _NOT_SENT is None or _CONNECTION is None:
        _NOT_SENT, _CONNECTION = _not_sent_types(), _connection_types()
    status: int | None = None
    headers: Any = None
    code: str | None = None
    source: str | None = None
    connection = not_sent = timeout = False
    message = str(exc)
    for link in _chain(exc):
        name = type(link).__name__
        link_status = getattr(link, "status_code", None)
        if link_status is None:
            link_status = getattr(link, "status", None)
        response = getattr(link, "response", None)
        if link_status is None and response is not None:
            link_status = getattr(response, "status_code", None)
            if headers is None:
                headers = getattr(response, "headers", None)
        if isinstance(link_status, int) and status is None:
            status = link_status
            if headers is None:
                headers = getattr(link, "headers", None)
        if code is None and isinstance(getattr(link, "code", None), str):
            code = link.code  # type: ignore[attr-defined]
        if source is None and isinstance(getattr(link, "source", None), str):
            source = link.source  # type: ignore[attr-defined]
        if name == "WebSocketUpgradeError":
            not_sent = True
        if name in ("DaytonaConnectionError", "DaytonaConnectionTimeoutError"):
            connection = True
        if "Timeout" in name or isinstance(link, TimeoutError):
            timeout = True
        if isinstance(link, _NOT_SENT):
            connection = not_sent = True
        elif isinstance(link, _CONNECTION):
            connection = True
    if status in (408, 504):
        timeout = True
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    return ErrorInfo(
        status=status,
        retry_after=retry_after,
        code=code,
        source=source,
        message=message,
        connection=connection,
        not_sent=not_sent,
        timeout=timeout,
    )


def to_sandbox_error(exc: BaseException, what: str, info: ErrorInfo | None = None) -> SandboxError:
    """Translate a Daytona failure into our error tree, with a next step.

    Args:
        exc: What the SDK raised.
        what: The operation, as "create a sandbox" or "run code".
        info: Its :func:`inspect_error` facts, when already computed.

    Returns:
        :class:`ProviderRateLimitError` for 429, :class:`SandboxTimeoutError` for
        timeouts, :class:`ProviderError` (with ``status``) otherwise.
    """
    if isinstance(exc, SandboxError):
        return exc
    info = info or inspect_error(exc)
    return attach(_translate(info, what, type(exc).__name__), info)


def _translate(info: ErrorInfo, what: str, kind: str) -> SandboxError:
    detail = info.message or kind
    where = f" (HTTP {info.status})" if info.status is not None else ""
    if info.status == 429:
        wait = f"; the server asked for {info.retry_after:g} s" if info.retry_after else ""
        return ProviderRateLimitError(
            f"Daytona kept rate-limiting us while trying to {what}{wait}. Slow down (fewer "
            "concurrent sandboxes or calls), raise DaytonaBackend(retry=...) attempts, or "
            f"ask Daytona for a higher limit. Last answer: {detail}",
            status=429,
        )
    if info.status in (401, 403):
        return ProviderError(
            f"Daytona refused to {what}{where}: check DAYTONA_API_KEY (or api_key=) and that "
            f"the key may manage sandboxes in this organization. Server said: {detail}",
            status=info.status,
        )
    if info.timeout and info.status is None:
        return SandboxTimeoutError(
            f"Daytona did not answer in time while trying to {what}; the service may be slow "
            f"or unreachable. Retry later or raise the backend's timeouts. ({detail})"
        )
    if info.connection and info.status is None:
        return ProviderError(
            f"Could not reach Daytona to {what}: {detail}. Check DAYTONA_API_URL and the "
            "network; the call was retried with backoff before giving up."
        )
    return ProviderError(f"Daytona failed to {what}{where}: {detail}", status=info.status)


ErrorPolicy = Callable[[SandboxError, ErrorInfo], R]
"""What a caller does with a failed call: return a value instead, or raise."""


def attach(error: E, info: ErrorInfo) -> E:
    """``error`` carrying ``info`` as its ``provider_info``."""
    error.provider_info = info
    return error


def info_of(error: BaseException) -> ErrorInfo:
    """The facts a mapped error carries (a bare record for any other error)."""
    info = getattr(error, "provider_info", None)
    return info if isinstance(info, ErrorInfo) else ErrorInfo(message=str(error))


def ignore_not_found(error: SandboxError, info: ErrorInfo) -> None:
    """Error policy of deletes and look-ups: what is gone needs no deleting, and is none."""
    if not info.not_found:
        raise error


def file_error(info: ErrorInfo, path: str, verb: str) -> SandboxFileError | None:
    """The file error the local backend would raise for this failure, if it is one.

    Args:
        info: The failure's facts.
        path: The path as the caller gave it.
        verb: What was done to it (``"read"``, ``"write"``, ``"list"``).

    Returns:
        ``None`` when the failure is not about the file (rate limits, timeouts,
        transport failures, server errors): the caller's error stands.
    """
    if info.retryable or info.abandoned:
        return None
    text = info.message.lower()
    if info.not_found or "not found" in text:
        return SandboxFileNotFoundError(f"no such file or folder in the sandbox: {path}", path)
    if any(t in text for t in _IS_DIR_TEXTS):
        return SandboxIsADirectoryError(f"is a folder, not a file: {path}", path)
    if info.status == 413 or any(t in text for t in _TOO_LARGE_TEXTS):
        return SandboxFileTooLargeError(f"{path} is too large: {info.message}", path)
    if info.from_daemon and (info.status is None or 400 <= info.status < 500):
        return SandboxFileError(f"cannot {verb} {path}: {info.message}", path)
    return None


def file_errors(path: str, verb: str) -> ErrorPolicy[NoReturn]:
    """Error policy of file operations: raise :func:`file_error`'s error when there is one."""

    def policy(error: SandboxError, info: ErrorInfo) -> NoReturn:
        precise = file_error(info, path, verb)
        if precise is None:
            raise error
        raise precise from error

    return policy
