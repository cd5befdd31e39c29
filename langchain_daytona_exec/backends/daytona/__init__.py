"""``DaytonaBackend``: sandboxes on Daytona (cloud or self-hosted) through the real SDK.

Layout: ``backend.py`` (create, find, gc), ``sandbox.py`` (the ``Sandbox``
interface over one Daytona sandbox), ``python.py`` (the wrapper around Python code
and its parser), ``retry.py`` (backoff, deadlines, bounded waits), ``errors.py``
(SDK failures into our error tree), ``environment.py`` (snapshots, warm pools and
allow-lists) and ``config.py`` (defaults and labels).
"""

from __future__ import annotations

from langchain_daytona_exec._extras import require_extra

require_extra("daytona", "daytona", feature="The Daytona backend")

from langchain_daytona_exec.backends.daytona.backend import DaytonaBackend, GcEntry
from langchain_daytona_exec.backends.daytona.config import KEY_LABEL, MANAGED_LABEL, OWNER_LABEL
from langchain_daytona_exec.backends.daytona.retry import RetryPolicy
from langchain_daytona_exec.backends.daytona.sandbox import DaytonaSandbox

__all__ = [
    "KEY_LABEL",
    "MANAGED_LABEL",
    "OWNER_LABEL",
    "DaytonaBackend",
    "DaytonaSandbox",
    "GcEntry",
    "RetryPolicy",
]
