"""``DaytonaBackend``: sandboxes on Daytona (cloud or self-hosted) through the real SDK.

Layout: ``_backend.py`` (create, find, gc), ``_sandbox.py`` (the ``Sandbox``
interface over one Daytona sandbox: the call boundary that revives a stopped sandbox,
``exec``, reset, close), ``_code.py`` (``run_code``: the interpreter context, Python
and JavaScript/TypeScript runs), ``_files.py`` (file operations), ``_output.py``
(output cut to the budget, saved whole in the sandbox), ``_python.py`` (the wrapper
around Python code and its parser), ``_retry.py`` (backoff, deadlines, bounded
waits), ``_errors.py`` (SDK failures into our error tree), ``_environment.py``
(snapshots, warm pools and allow-lists) and ``_config.py`` (defaults and labels).
"""

from __future__ import annotations

from langchain_daytona_exec._extras import require_extra

require_extra("daytona", "daytona", feature="The Daytona backend")

from langchain_daytona_exec.backends.daytona._backend import DaytonaBackend, GcEntry
from langchain_daytona_exec.backends.daytona._config import KEY_LABEL, MANAGED_LABEL, OWNER_LABEL
from langchain_daytona_exec.backends.daytona._retry import RetryPolicy
from langchain_daytona_exec.backends.daytona._sandbox import DaytonaSandbox

__all__ = [
    "KEY_LABEL",
    "MANAGED_LABEL",
    "OWNER_LABEL",
    "DaytonaBackend",
    "DaytonaSandbox",
    "GcEntry",
    "RetryPolicy",
]
