"""Retries with exponential backoff and jitter, deadlines, and bounded waits.

One *deadline* (a ``time.monotonic()`` instant) is computed when a public call starts
and threaded through its steps; :func:`remaining` tells each step how long it may
still take, and :func:`call_with_retry` never sleeps past it.

Why not ``tenacity`` (installed with langchain-core): every decision of this policy
reads the failure's facts (retry only what is transient *and* safe to resend, wait
at least its ``Retry-After``, stop when the wait would pass the deadline, log and
count it), so with tenacity each becomes a callback over ``RetryCallState.outcome``
(retry, wait, stop, before_sleep), and the equal-jitter backoff with ``Retry-After``
and the bounded attempt stay ours anyway. A tenacity version that passes the same
unit tests took 55 code lines for ``call_with_retry`` against this loop's 43, parsed
each failure three times, and depended on tenacity computing the wait before the
stop check (8.3 and later). Kept: the loop is shorter and reads top to bottom.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from langchain_daytona_exec.backends.daytona._errors import (
    ErrorInfo,
    attach,
    inspect_error,
    to_sandbox_error,
)
from langchain_daytona_exec.errors import SandboxError, SandboxTimeoutError

__all__ = [
    "RetryPolicy",
    "bounded",
    "call_with_retry",
    "deadline_in",
    "remaining",
    "sdk_timeout",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MIN_SDK_TIMEOUT_S = 1
"""The SDK rounds positive timeouts below one second up to one second (its
``http_timeout``), and ``0`` means *no timeout* to it: never pass less than 1."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        attempts: Tries in total (1 disables retries).
        base_s: First backoff in **seconds**; doubles at each retry.
        max_s: Longest backoff in **seconds** (``Retry-After`` may ask for more,
            within the call's deadline).
        jitter: Fraction of each backoff drawn at random ("equal jitter": the wait
            is ``b * (1 - jitter) + uniform(0, b * jitter)``), so clients that failed
            together do not come back together.
    """

    attempts: int = 6
    base_s: float = 0.25
    max_s: float = 8.0
    jitter: float = 0.5

    def backoff(
        self, retry: int, info: ErrorInfo | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        Args:
            retry: 1 for the first retry.
            info: The failure; its ``Retry-After`` is honoured when longer.
            rng: Random source (tests pass a seeded one).
        """
        b = min(self.max_s, self.base_s * (2 ** (retry - 1)))
        draw: float = (rng or random).random()
        wait: float = b * (1.0 - self.jitter) + b * self.jitter * draw
        if info is not None and info.retry_after is not None:
            wait = max(wait, info.retry_after)
        return wait


def deadline_in(seconds: float) -> float:
    """The ``time.monotonic()`` instant ``seconds`` from now."""
    return time.monotonic() + seconds


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (never negative)."""
    return max(0.0, deadline - time.monotonic())


def sdk_timeout(seconds: float) -> int:
    """A timeout for the SDK: whole seconds, at least :data:`_MIN_SDK_TIMEOUT_S`."""
    return max(_MIN_SDK_TIMEOUT_S, math.ceil(seconds))


def bounded(fn: Callable[[], T], wait_s: float, what: str) -> T:
    """Run ``fn`` on a helper thread and wait at most ``wait_s`` seconds for it.

    Every blocking SDK call goes through here, for two reasons. The SDK's interpreter
    websocket has no client-side read timeout, so a server that never closes it
    would hang the caller; here the caller gets :class:`SandboxTimeoutError` and the
    helper thread ends whenever the socket does. And the SDK's ``with_timeout``
    (on create, start, stop, delete) uses ``SIGALRM`` when called from the main
    thread, replacing any alarm the application (or pytest-timeout) had set; on a
    helper thread it uses a timer instead.

    Args:
        fn: The blocking call.
        wait_s: Seconds to wait.
        what: The operation, for the error message.

    Raises:
        SandboxTimeoutError: ``fn`` did not finish in time.
    """
    fut: Future[T] = Future()

    def run() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=run, name="ldx-daytona-call", daemon=True).start()
    try:
        return fut.result(timeout=max(wait_s, 0.001))
    except TimeoutError:
        raise _abandoned(
            f"Daytona did not finish to {what} within {wait_s:.3g} s; the call was abandoned "
            "(the server may still complete it). Retry, or raise the backend's timeouts."
        ) from None


def _abandoned(message: str) -> SandboxTimeoutError:
    return attach(
        SandboxTimeoutError(message), ErrorInfo(message=message, timeout=True, abandoned=True)
    )


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float,
    idempotent: bool,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[ErrorInfo], None] | None = None,
) -> T:
    """Call ``fn`` (bounded by the deadline), retrying transient failures.

    A failure is retried when it is transient (429, 502, 503, 504, a transport
    error), sending it again cannot run it twice (``idempotent``, or the request
    was refused or never sent), attempts remain, and the backoff ends before the
    deadline. Otherwise it is raised as a :class:`SandboxError` whose
    ``provider_info`` holds the facts (:func:`~.errors.info_of`); the SDK's
    exception is its ``__cause__``.

    Args:
        fn: One attempt.
        what: The operation, for messages.
        deadline: ``time.monotonic()`` instant after which no attempt starts.
        idempotent: Running it twice is harmless.
        policy: Attempts and backoff.
        sleep: Waits between attempts (tests inject a fake).
        rng: Random source for jitter.
        on_retry: Called with each failure that will be retried (counters, logs).

    Raises:
        SandboxTimeoutError: The deadline passed while an attempt ran.
        SandboxError: Any other failure, mapped by :func:`~.errors.to_sandbox_error`.
    """
    retry = 0
    while True:
        left = remaining(deadline)
        if left <= 0:
            raise _abandoned(
                f"ran out of time to {what} (the call's deadline passed); retry later or "
                "raise the backend's timeouts"
            )
        try:
            return bounded(fn, left, what)
        except SandboxError:
            raise
        except Exception as exc:
            info = inspect_error(exc)
            retry += 1
            wait = policy.backoff(retry, info, rng)
            if (
                not (info.retryable and info.safe_to_resend(idempotent))
                or retry >= policy.attempts
                or wait >= remaining(deadline)
            ):
                raise to_sandbox_error(exc, what, info) from exc
            logger.info(
                "Daytona: %s failed (%s); retry %d in %.2fs",
                what,
                info.status or type(exc).__name__,
                retry,
                wait,
            )
            if on_retry is not None:
                on_retry(info)
            sleep(wait)
