"""The local backend: isolated, stateful sandboxes on this machine.

They start through bubblewrap or, as root, from a fork-server that builds the same
namespaces and mounts (``_forkserver.py``).

``kernel.py`` (with ``capture.py`` and ``fileops.py``), ``protocol.py`` and
``forwarder.py`` run INSIDE the sandbox, which imports them as top-level modules; the
``_*.py`` modules run on the host.
"""

from __future__ import annotations

from langchain_daytona_exec.backends.local._backend import LocalBackend
from langchain_daytona_exec.backends.local._limits import LocalLimits
from langchain_daytona_exec.backends.local._sandbox import LocalSandbox

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from langchain_daytona_exec.backends.local._egress import EgressLimits

__all__ = ["EgressLimits", "LocalBackend", "LocalLimits", "LocalSandbox"]


def __getattr__(name: str) -> object:
    if name == "EgressLimits":  # on first use: the egress proxy imports asyncio
        from langchain_daytona_exec.backends.local._egress import EgressLimits

        globals()[name] = EgressLimits
        return EgressLimits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
