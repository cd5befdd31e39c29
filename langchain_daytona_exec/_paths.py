"""Where the command line keeps its threads and their kept workspaces (no heavy imports)."""

from __future__ import annotations

import os

__all__ = ["THREADS_DB_ENV", "default_threads_db", "workspaces_dir"]

THREADS_DB_ENV = "DAYTONA_EXEC_THREADS_DB"
"""Environment variable naming the SQLite file that keeps the CLI's threads."""


def default_threads_db() -> str:
    """Where the CLI keeps its threads.

    Returns:
        ``$DAYTONA_EXEC_THREADS_DB``, or ``threads.sqlite`` in
        ``$XDG_CACHE_HOME/langchain-daytona-exec`` (``~/.cache`` by default).
    """
    explicit = os.environ.get(THREADS_DB_ENV)
    if explicit:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "langchain-daytona-exec", "threads.sqlite")


def workspaces_dir(threads_db: str) -> str:
    """The folder keeping the working folders of the threads in ``threads_db``.

    Each thread's files are kept beside the thread's conversation, so a conversation
    continued later (in a new process) finds its files again on the local backend.
    """
    return os.path.abspath(threads_db) + ".workspaces"
