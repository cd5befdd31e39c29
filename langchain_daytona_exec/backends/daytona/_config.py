"""Defaults and label names of the Daytona backend, each named once with its reason."""

from __future__ import annotations

from langchain_daytona_exec.pool import KEY_LABEL

__all__ = [
    "DEFAULT_AUTO_DELETE_MIN",
    "DEFAULT_AUTO_STOP_MIN",
    "DEFAULT_CREATE_TIMEOUT_S",
    "DEFAULT_FILE_TIMEOUT_S",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_OUTPUT_BYTES",
    "DEFAULT_TIMEOUT_S",
    "KEY_LABEL",
    "MANAGED_LABEL",
    "OWNER_LABEL",
]

MANAGED_LABEL = "langchain-daytona-exec.managed"
"""Label (value ``"true"``) on every sandbox this package creates: ``daytona-exec gc``
deletes only sandboxes carrying it."""

OWNER_LABEL = "langchain-daytona-exec.owner"
"""Label naming the user and host that created the sandbox (``user@host``), so a
shared Daytona organization can tell whose orphans ``gc`` would delete."""

DEFAULT_AUTO_STOP_MIN = 15
"""Minutes without activity before Daytona stops a sandbox (its files stay, its
interpreter state goes). Matches the pool's default idle TTL."""

DEFAULT_AUTO_DELETE_MIN = 45
"""Minutes a stopped sandbox is kept before Daytona deletes it. With the auto-stop
this caps what a crashed process leaks at about an hour of idle time."""

DEFAULT_CREATE_TIMEOUT_S = 120.0
"""Seconds a sandbox creation (or finding and starting one) may take, retries included."""

DEFAULT_TIMEOUT_S = 60.0
"""Default per-call timeout of ``run_code`` and ``exec``, as the local backend's."""

DEFAULT_FILE_TIMEOUT_S = 120.0
"""Seconds a file operation (upload, download, listing) may take, retries included."""

DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
"""Largest file ``read_file``/``write_file`` move, as the local backend's limit."""

DEFAULT_OUTPUT_BYTES = 1024 * 1024
"""Bytes of each output stream kept per call (head and tail), as the local backend."""

CALL_MARGIN_S = 30.0
"""Seconds a call may take beyond its code timeout: round trips, retries, backoff."""

ALIVE_CACHE_S = 10.0
"""``is_alive()`` answers from memory when the sandbox answered a call this recently:
the pool asks before every lease, and a control-plane round trip per tool call
would double the requests."""
