"""Environments and network policies on Daytona: snapshots, warm pools, allow-lists.

* An :class:`~langchain_daytona_exec.Environment` becomes a declarative ``daytona.Image``
  (``Image.debian_slim(<our Python>).pip_install(...).env(...)``), built once as a
  snapshot named by the hash of what is baked into it. A snapshot that exists is reused,
  never rebuilt; two processes racing to build it both end up using the one build.
  Files and setup code are applied to each sandbox at creation (they are cheap, and
  keeping them out of the image keeps one snapshot per package set).
* A network allow-list maps to Daytona's ``network_allow_list``, which takes IP ranges
  (CIDR) only: host names, ports and presets are refused with a clear error.
* Daytona keeps warm sandboxes per snapshot on the server (``daytona.warm_pool``):
  :func:`ensure_warm_pool` creates or resizes the one pool of a snapshot.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_daytona_exec.backends.daytona._errors import ErrorInfo, ignore_not_found
from langchain_daytona_exec.backends.daytona._retry import deadline_in
from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import EnvironmentBuildError, NetworkPolicyError, SandboxError
from langchain_daytona_exec.netpolicy import NetworkPolicy, NetworkSetting

if TYPE_CHECKING:
    from daytona import Image, WarmPool

    from langchain_daytona_exec.backends.daytona._backend import DaytonaBackend

__all__ = [
    "SNAPSHOT_PREFIX",
    "daytona_network",
    "ensure_snapshot",
    "ensure_warm_pool",
    "environment_image",
    "snapshot_name",
]

SNAPSHOT_PREFIX = "ldx-env-"
"""Snapshots built from an Environment are named ``ldx-env-<hash>``."""

_SUPPORTED_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
"""The Python series ``Image.debian_slim`` accepts (daytona 0.226)."""

_POLL_S = 1.0
"""How often to look at a snapshot another process is building."""


def daytona_network(
    network: NetworkSetting | NetworkPolicy, legacy_allow_list: str | None = None
) -> tuple[bool, str | None]:
    """``(network_block_all, network_allow_list)`` for Daytona's creation parameters.

    Args:
        network: ``False``, ``True``, or a list of IP literals / CIDR ranges.
        legacy_allow_list: The older ``network_allow_list=`` argument (comma-separated
            CIDRs), used as given.

    Raises:
        NetworkPolicyError: A host name, a port or a preset, which Daytona's
            ``network_allow_list`` cannot express.
    """
    if isinstance(network, (list, tuple)):
        cidrs = [_cidr(item) for item in network]
        return False, ",".join(cidrs)
    policy = NetworkPolicy.parse(network)
    if policy.mode == "allow":  # a preset: names, not ranges
        raise NetworkPolicyError(
            f"Daytona's network_allow_list takes IP ranges (CIDR), so network="
            f"{policy.label!r} ({policy.describe()}) cannot be expressed there: pass the "
            "index's address ranges, network=True, or build the packages into an "
            "Environment instead"
        )
    return policy.mode == "off", legacy_allow_list


def _cidr(item: Any) -> str:
    if not isinstance(item, str):
        raise NetworkPolicyError(f"a network entry must be a string, got {item!r}")
    text = item.strip().strip("[]")
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise NetworkPolicyError(
            f"Daytona's network_allow_list takes IP ranges (CIDR) without ports; "
            f"{item!r} is not one (host names and ports work only on the local backend's "
            "filtering proxy)"
        ) from None


def snapshot_name(env: Environment) -> str:
    """``ldx-env-<hash>`` of what the image bakes in: packages, index, Python, env vars."""
    blob = json.dumps(
        [env.package_digest, _python_series(), sorted(env.env.items())], sort_keys=True
    )
    return SNAPSHOT_PREFIX + hashlib.sha256(blob.encode()).hexdigest()[:20]


def _python_series() -> str:
    series = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return series if series in _SUPPORTED_PYTHONS else _SUPPORTED_PYTHONS[-1]


def environment_image(env: Environment) -> Image:
    """The declarative ``daytona.Image`` of ``env`` (Debian slim with our Python series)."""
    from daytona import Image

    image = Image.debian_slim(_python_series())  # type: ignore[arg-type]
    if env.packages:
        image = image.pip_install(list(env.packages), index_url=env.index_url)
    if env.env:
        image = image.env(dict(env.env))
    return image


def ensure_snapshot(
    backend: DaytonaBackend,
    env: Environment,
    *,
    log: Callable[[str], None] | None = None,
    timeout_s: float = 1800.0,
) -> str:
    """Build ``env``'s snapshot unless it exists; return its name.

    Args:
        backend: The backend whose client and call boundary are used.
        env: The environment.
        log: Called with each line of the build log.
        timeout_s: Longest the build (or the wait for another's build) may take.

    Raises:
        EnvironmentBuildError: The build failed (Daytona's reason in the message) or
            timed out.
    """
    from daytona import CreateSnapshotParams

    client = backend.client
    name = snapshot_name(env)
    deadline = deadline_in(timeout_s)
    say = log or (lambda line: None)

    def build(timeout: int) -> bool:
        image = environment_image(env)
        client.snapshot.create(
            CreateSnapshotParams(name=name, image=image), on_logs=say, timeout=timeout
        )
        return True

    def refused(error: SandboxError, info: ErrorInfo) -> bool:
        if info.status == 409:  # another process builds it: wait for that build
            return False
        if info.retryable:  # rate-limited or unreachable after every retry
            raise error
        raise EnvironmentBuildError(
            f"Daytona could not build snapshot {name}: {info.message}", info.message
        ) from error

    state = _state(backend, name)
    if state is None:
        say(f"building snapshot {name} for {', '.join(env.packages) or 'no packages'}")
        built = backend._call(
            build,
            what=f"build snapshot {name}",
            deadline=deadline,
            idempotent=False,
            on_error=refused,
        )
        if built:
            return name
        state = _state(backend, name)
    while state not in ("active", None):
        if state in ("error", "build_failed"):
            raise EnvironmentBuildError(f"snapshot {name} failed to build (state {state})")
        if time.monotonic() > deadline:
            raise EnvironmentBuildError(f"snapshot {name} was not ready within {timeout_s:g} s")
        say(f"waiting for snapshot {name} ({state})")
        time.sleep(_POLL_S)
        state = _state(backend, name)
    if state is None:
        raise EnvironmentBuildError(f"snapshot {name} disappeared while it was being built")
    return name


def _state(backend: DaytonaBackend, name: str) -> str | None:
    """The snapshot's state (``"active"``, ``"building"``...) or ``None`` if it is absent."""
    client = backend.client
    snap = backend._call(
        lambda _timeout: client.snapshot.get(name),
        what=f"look up snapshot {name}",
        deadline=deadline_in(backend.create_timeout),
        idempotent=True,
        on_error=ignore_not_found,  # none: not built yet
    )
    if snap is None:
        return None
    state = getattr(snap, "state", None)
    return str(getattr(state, "value", state)).lower()


def ensure_warm_pool(backend: DaytonaBackend, snapshot: str, size: int) -> WarmPool:
    """Keep ``size`` warm sandboxes of ``snapshot`` on the server; return the pool.

    Reuses the snapshot's existing pool (resizing it when its size differs), so every
    process and host shares one server-side pool.
    """
    client = backend.client
    deadline = deadline_in(backend.create_timeout)
    pools = backend._call(
        lambda _timeout: client.warm_pool.list(),
        what="list warm pools",
        deadline=deadline,
        idempotent=True,
    )
    current = next((pool for pool in pools if pool.snapshot == snapshot), None)
    if current is not None:
        if current.pool == size:
            return current
        pool_id = current.id
        return backend._call(
            lambda _timeout: client.warm_pool.update(pool_id, size),
            what=f"resize the warm pool of {snapshot}",
            deadline=deadline,
            idempotent=True,
        )
    return backend._call(
        lambda _timeout: client.warm_pool.create(snapshot, size),
        what=f"create a warm pool of {snapshot}",
        deadline=deadline,
        idempotent=False,
    )
