"""``deep_agent_backend``: the backend to give ``create_deep_agent``."""

from __future__ import annotations

from typing import Final

from deepagents.backends.composite import CompositeBackend
from deepagents.backends.protocol import BackendProtocol, SandboxBackendProtocol

from langchain_daytona_exec.deepagents._pooled import PooledDeepAgentsSandbox
from langchain_daytona_exec.deepagents._sandbox import DeepAgentsSandbox
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.sandbox import Sandbox

__all__ = ["ARTIFACTS_ROOT", "deep_agent_backend"]

ARTIFACTS_ROOT: Final = "/tmp/deepagents"
"""Where :func:`deep_agent_backend` has Deep Agents keep its artifacts in the sandbox
(tool results too large for the context, offloaded conversation history).

Deep Agents' default root, ``/``, is read-only in a local sandbox: offloading then
fails silently and a megabyte of command output reaches the model whole. Under
``/tmp``, like the tools' saved outputs, so it stays out of the user's files."""


def deep_agent_backend(
    target: Sandbox | SandboxPool | SandboxBackendProtocol,
    *,
    timeout: float | None = None,
    artifacts_root: str = ARTIFACTS_ROOT,
) -> CompositeBackend:
    """The backend to give ``create_deep_agent``, over a sandbox or a pool.

    Args:
        target: A sandbox (wrapped in :class:`DeepAgentsSandbox`; you keep closing
            it), a pool (wrapped in :class:`PooledDeepAgentsSandbox`: one sandbox
            per ``thread_id``), or a backend made already.
        timeout: Default per-command timeout in **seconds** for a sandbox or pool;
            ``None`` uses the sandbox's default.
        artifacts_root: Writable folder of the sandbox for Deep Agents' artifacts
            (see :data:`ARTIFACTS_ROOT`).

    Returns:
        A ``CompositeBackend`` that sends every operation to the sandbox backend and
        tells Deep Agents where its artifacts go.
    """
    backend: BackendProtocol
    if isinstance(target, Sandbox):
        backend = DeepAgentsSandbox(target, timeout=timeout)
    elif isinstance(target, SandboxPool):
        backend = PooledDeepAgentsSandbox(target, timeout=timeout)
    else:
        backend = target
    return CompositeBackend(default=backend, routes={}, artifacts_root=artifacts_root)
