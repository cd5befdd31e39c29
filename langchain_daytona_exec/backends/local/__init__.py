"""The local backend: isolated, stateful sandboxes on this machine (bubblewrap)."""

from __future__ import annotations

from langchain_daytona_exec.backends.local.backend import LocalBackend, LocalSandbox
from langchain_daytona_exec.backends.local.isolation import LocalLimits

__all__ = ["LocalBackend", "LocalLimits", "LocalSandbox"]
