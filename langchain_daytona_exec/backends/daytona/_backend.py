"""``DaytonaBackend``: creates, finds and garbage-collects Daytona sandboxes."""

from __future__ import annotations

import datetime as _dt
import getpass
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from langchain_daytona_exec.backends.daytona._config import (
    DEFAULT_AUTO_DELETE_MIN,
    DEFAULT_AUTO_STOP_MIN,
    DEFAULT_CREATE_TIMEOUT_S,
    DEFAULT_FILE_TIMEOUT_S,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_OUTPUT_BYTES,
    DEFAULT_TIMEOUT_S,
    MANAGED_LABEL,
    OWNER_LABEL,
)
from langchain_daytona_exec.backends.daytona._environment import (
    daytona_network,
    ensure_snapshot,
    ensure_warm_pool,
)
from langchain_daytona_exec.backends.daytona._errors import (
    ErrorInfo,
    ErrorPolicy,
    ignore_not_found,
    info_of,
    to_sandbox_error,
)
from langchain_daytona_exec.backends.daytona._retry import (
    RetryPolicy,
    call_with_retry,
    deadline_in,
    remaining,
    sdk_timeout,
)
from langchain_daytona_exec.backends.daytona._sandbox import (
    _GONE_STATES,
    _STOPPED_STATES,
    DaytonaSandbox,
    _state_of,
)
from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.netpolicy import NetworkSetting
from langchain_daytona_exec.sandbox import check_seconds, run_blocking

if TYPE_CHECKING:
    from daytona import (
        CreateSandboxFromImageParams,
        CreateSandboxFromSnapshotParams,
        Daytona,
        Image,
        Resources,
        WarmPool,
    )
    from daytona import Sandbox as SdkSandbox

__all__ = ["DaytonaBackend", "GcEntry"]

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)

_POLLING_ENV = "DAYTONA_USE_DEPRECATED_POLLING"
"""SDK 0.226 waits for state changes through a Socket.IO event stream unless this is
true; servers without the stream (self-hosted builds, our emulator) need polling."""


def _default_owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:63]


def _parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class GcEntry:
    """One sandbox considered by :meth:`DaytonaBackend.gc`.

    Attributes:
        id: The sandbox id.
        state: Its Daytona state.
        idle_s: Seconds since its last activity.
        labels: Its labels.
        deleted: True when ``gc`` deleted it (False in a dry run or when kept).
    """

    id: str
    state: str
    idle_s: float
    labels: dict[str, str]
    deleted: bool


class DaytonaBackend:
    """Creates sandboxes on Daytona (cloud or self-hosted) through the ``daytona`` SDK.

    Nothing touches the network in the constructor: the SDK client is made on first
    use. Every sandbox gets the ownership labels, blocks the network unless asked,
    and stops and deletes itself when idle, so a crashed process leaks at most about
    an hour of an idle sandbox.

    Args:
        api_key: Daytona API key; ``None`` reads ``DAYTONA_API_KEY``.
        api_url: API URL, such as ``https://app.daytona.io/api`` or a self-hosted or
            emulator URL; ``None`` reads ``DAYTONA_API_URL`` (SDK default: the cloud).
        target: Region; ``None`` reads ``DAYTONA_TARGET`` (SDK default: the
            organization's).
        network: ``False`` (default) sets ``network_block_all``; ``True`` opens the
            network; a list of IP literals or CIDR ranges becomes Daytona's
            ``network_allow_list``. Host names, ports and the ``"packages"`` preset raise
            :class:`NetworkPolicyError` (Daytona filters by address only).
        network_allow_list: Comma-separated CIDRs reachable even when ``network`` is
            False (Daytona's ``network_allow_list``).
        environment: Packages and environment variables baked into a snapshot
            (``ldx-env-<hash>``, built once and then reused by every process), plus files
            and setup code applied to each new sandbox. Not with ``snapshot``/``image``.
        build_log: Called with each line of the snapshot build log.
        build_timeout: **Seconds** a snapshot build may take.
        snapshot: Snapshot to create sandboxes from (``None``: Daytona's default).
        image: Image (a name or a ``daytona.Image``) to build sandboxes from instead
            of a snapshot; slower to create.
        resources: ``daytona.Resources`` for image-based sandboxes.
        language: The sandbox's code-toolbox language label (``"python"``).
        env_vars: Environment variables of every sandbox.
        labels: Extra labels on every sandbox.
        auto_stop_interval: Idle **minutes** before Daytona stops a sandbox (0: never).
        auto_delete_interval: **Minutes** a stopped sandbox is kept (-1: forever).
        timeout: Default timeout of ``run_code``/``exec`` in **seconds**.
        create_timeout: **Seconds** for creating, finding, starting or deleting.
        file_timeout: **Seconds** for a file operation, retries included.
        max_file_bytes: Largest file read or written, in **bytes**.
        output_bytes: **Bytes** of each output stream kept per call (head + tail).
        retry: Retry policy for transient failures.
        owner: Value of the owner label (default ``user@host``).
        use_polling: Wait for state changes by polling (no Socket.IO stream);
            ``None`` reads ``DAYTONA_USE_DEPRECATED_POLLING``.
        client: A ready ``daytona.Daytona`` client; the connection arguments are
            then ignored.
    """

    name = "daytona"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        target: str | None = None,
        network: NetworkSetting = False,
        network_allow_list: str | None = None,
        environment: Environment | None = None,
        build_log: Callable[[str], None] | None = None,
        build_timeout: float = 1800.0,
        snapshot: str | None = None,
        image: str | Image | None = None,
        resources: Resources | None = None,
        language: str = "python",
        env_vars: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        auto_stop_interval: int = DEFAULT_AUTO_STOP_MIN,
        auto_delete_interval: int = DEFAULT_AUTO_DELETE_MIN,
        timeout: float = DEFAULT_TIMEOUT_S,
        create_timeout: float = DEFAULT_CREATE_TIMEOUT_S,
        file_timeout: float = DEFAULT_FILE_TIMEOUT_S,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        output_bytes: int = DEFAULT_OUTPUT_BYTES,
        retry: RetryPolicy | None = None,
        owner: str | None = None,
        use_polling: bool | None = None,
        client: Daytona | None = None,
    ) -> None:
        if image is not None and snapshot is not None:
            raise ValueError("pass either snapshot= or image=, not both")
        if environment is not None and (image is not None or snapshot is not None):
            raise ValueError("environment= builds its own snapshot: drop snapshot=/image=")
        if environment is not None and not isinstance(environment, Environment):
            raise TypeError("environment must be an Environment(...)")
        self.network_block_all, self.network_allow_list = daytona_network(
            network, network_allow_list
        )
        self.environment = environment
        self.build_log = build_log
        self.build_timeout = build_timeout
        self._env_snapshot: str | None = None
        self._env_lock = threading.Lock()
        self.api_key = api_key
        self.api_url = api_url
        self.target = target
        self.network = network
        self.snapshot = snapshot
        self.image = image
        self.resources = resources
        self.language = language
        self.env_vars = dict(env_vars or {})
        self.labels = dict(labels or {})
        self.auto_stop_interval = auto_stop_interval
        self.auto_delete_interval = auto_delete_interval
        self.timeout = check_seconds(timeout, "timeout")
        self.create_timeout = check_seconds(create_timeout, "create_timeout")
        self.file_timeout = check_seconds(file_timeout, "file_timeout")
        self.max_file_bytes = max_file_bytes
        self.output_bytes = output_bytes
        self.retry = retry or RetryPolicy()
        self.owner = owner or _default_owner()
        self.use_polling = use_polling
        self._client = client
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<DaytonaBackend api_url={self.api_url or os.environ.get('DAYTONA_API_URL')!r}>"

    # -- the SDK client -------------------------------------------------------------

    @property
    def client(self) -> Daytona:
        """The ``daytona.Daytona`` client, made on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Daytona:
        from daytona import Daytona, DaytonaConfig

        polling = self.use_polling
        if polling is None:
            polling = os.environ.get(_POLLING_ENV, "").strip().lower() in ("1", "true", "yes")
        config = DaytonaConfig(
            api_key=self.api_key or os.environ.get("DAYTONA_API_KEY"),
            api_url=self.api_url or os.environ.get("DAYTONA_API_URL"),
            target=self.target or os.environ.get("DAYTONA_TARGET"),
            use_deprecated_polling=polling,
        )
        try:
            with warnings.catch_warnings():
                # the SDK warns that polling is deprecated each time a client is made
                warnings.simplefilter("ignore", DeprecationWarning)
                return Daytona(config)
        except Exception as exc:
            raise to_sandbox_error(exc, "connect to Daytona") from exc

    # -- creation ---------------------------------------------------------------------

    def sandbox_labels(self, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        """The labels a new sandbox gets: ownership, the backend's, then ``labels``."""
        return {
            **self.labels,
            **dict(labels or {}),
            MANAGED_LABEL: "true",
            OWNER_LABEL: self.owner,
        }

    def create_params(
        self, labels: Mapping[str, str] | None = None
    ) -> CreateSandboxFromSnapshotParams | CreateSandboxFromImageParams:
        """The SDK's creation parameters for a new sandbox (safe defaults applied)."""
        from daytona import CreateSandboxFromImageParams, CreateSandboxFromSnapshotParams

        common: dict[str, Any] = {
            "language": self.language,
            "env_vars": dict(self.env_vars) or None,
            "labels": self.sandbox_labels(labels),
            "network_block_all": self.network_block_all,
            "network_allow_list": self.network_allow_list,
            "auto_stop_interval": self.auto_stop_interval,
            "auto_delete_interval": self.auto_delete_interval,
        }
        if self.image is not None:
            return CreateSandboxFromImageParams(
                image=self.image, resources=self.resources, **common
            )
        return CreateSandboxFromSnapshotParams(snapshot=self.snapshot_name(), **common)

    def snapshot_name(self) -> str | None:
        """The snapshot new sandboxes start from: the environment's (built on first use).

        Raises:
            EnvironmentBuildError: The environment's snapshot could not be built.
        """
        if self.environment is None:
            return self.snapshot
        with self._env_lock:
            if self._env_snapshot is None:
                self._env_snapshot = ensure_snapshot(
                    self,
                    self.environment,
                    log=self.build_log,
                    timeout_s=self.build_timeout,
                )
            return self._env_snapshot

    def describe_network(self) -> str:
        """What sandboxed code can reach, in one line (for messages and tool text)."""
        if self.network_block_all:
            return "no network"
        if self.network_allow_list:
            return f"only the address ranges {self.network_allow_list}"
        return "full network"

    @property
    def can_install_packages(self) -> bool:
        """Whether ``pip install`` in a sandbox can reach a package index (open network)."""
        return not self.network_block_all and not self.network_allow_list

    @property
    def uses_server_warm_pool(self) -> bool:
        """True when sandboxes come from a snapshot Daytona can keep warm on the server.

        A :class:`~langchain_daytona_exec.SandboxPool` with ``min_idle`` (and no
        ``warmup``) then asks Daytona for a warm pool instead of holding idle
        sandboxes itself.
        """
        return self.environment is not None or self.snapshot is not None

    def ensure_warm_pool(self, size: int) -> WarmPool:
        """Keep ``size`` ready sandboxes of this backend's snapshot on the Daytona server.

        Every process and host using the same environment then shares one server-side
        pool. Needs a snapshot (``environment=`` or ``snapshot=``).

        Raises:
            ValueError: The backend has no snapshot to keep warm.
        """
        name = self.snapshot_name()
        if name is None:
            raise ValueError("a server-side warm pool needs environment= or snapshot=")
        return ensure_warm_pool(self, name, size)

    def create(self, *, labels: Mapping[str, str] | None = None) -> DaytonaSandbox:
        """Create a sandbox and wait until it runs.

        Args:
            labels: Extra labels (a pool adds its id and the conversation key).

        Raises:
            ProviderError: Daytona refused (quota, auth...); ``status`` says why.
            ProviderRateLimitError: Still rate-limited after every retry.
            SandboxTimeoutError: It did not start within ``create_timeout``.
        """
        params = self.create_params(labels)
        client = self.client
        sdk = self._call(
            lambda timeout: client.create(params, timeout=timeout),
            what="create a sandbox",
            deadline=deadline_in(self.create_timeout),
            idempotent=False,
            on_error=self._delete_orphan,
        )
        sandbox = DaytonaSandbox(self, sdk)
        try:
            self._provision(sandbox)
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    def _provision(self, sandbox: DaytonaSandbox) -> None:
        """Place the environment's files and run its setup code in a new sandbox."""
        if self.environment is not None:
            self.environment.apply(sandbox)

    def _delete_orphan(self, error: SandboxError, info: ErrorInfo) -> NoReturn:
        """Error policy of ``create``: a sandbox created but not started in time is deleted."""
        orphan = getattr(error.__cause__, "sandbox_id", None)
        if orphan:
            self._delete_quietly(str(orphan))
        raise error

    def _call(
        self,
        op: Callable[[int], T],
        *,
        what: str,
        deadline: float,
        idempotent: bool,
        on_error: ErrorPolicy[R] | None = None,
    ) -> T | R:
        """The one boundary of every SDK call: retries, the deadline, our errors.

        Args:
            op: The SDK call; it receives the SDK timeout (whole seconds left).
            what: The operation, for messages ("create a sandbox").
            deadline: ``time.monotonic()`` instant the call must end by.
            idempotent: Sending it twice is harmless (decides what is retried).
            on_error: Error policy: given the :class:`SandboxError` and its facts,
                it returns a value instead or raises; ``None`` raises the error.

        Raises:
            SandboxError: Only ever a subclass of it (never an SDK exception).
        """
        try:
            return call_with_retry(
                lambda: op(sdk_timeout(remaining(deadline))),
                what=what,
                deadline=deadline,
                idempotent=idempotent,
                policy=self.retry,
            )
        except SandboxError as error:
            if on_error is None:
                raise
            return on_error(error, info_of(error))

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> DaytonaSandbox:
        """Async twin of :meth:`create` (on the shared sandbox I/O threads)."""
        return await run_blocking(self.create, labels=labels)

    # -- lookup -----------------------------------------------------------------------

    def _list(self, labels: Mapping[str, str], deadline: float) -> list[SdkSandbox]:
        from daytona import ListSandboxesQuery

        client = self.client
        query = ListSandboxesQuery(labels=dict(labels))
        return self._call(
            lambda timeout: list(client.list(query, request_timeout=timeout)),
            what="list sandboxes",
            deadline=deadline,
            idempotent=True,
        )

    def find(self, labels: Mapping[str, str]) -> DaytonaSandbox | None:
        """Find a live sandbox of ours carrying all ``labels`` (another process's, too).

        A stopped one is started; its next ``run_code`` reports ``state_lost=True``
        (files survive a stop, interpreter state does not). A running one keeps its
        interpreter context, so its variables are still there.

        Args:
            labels: Labels the sandbox must carry (such as the conversation key).

        Returns:
            The most recently active match, or ``None``.
        """
        deadline = deadline_in(self.create_timeout)
        wanted = {**dict(labels), MANAGED_LABEL: "true"}
        candidates = [s for s in self._list(wanted, deadline) if _state_of(s) not in _GONE_STATES]
        if not candidates:
            return None
        candidates.sort(
            key=lambda s: (
                _parse_time(getattr(s, "last_activity_at", None))
                or _parse_time(getattr(s, "updated_at", None))
                or 0.0
            ),
            reverse=True,
        )
        sdk = candidates[0]
        sandbox = DaytonaSandbox(self, sdk)
        if _state_of(sdk) in _STOPPED_STATES:
            sandbox._start(deadline)
        else:
            sandbox._adopt_context(deadline)
        return sandbox

    async def afind(self, labels: Mapping[str, str]) -> DaytonaSandbox | None:
        """Async twin of :meth:`find`."""
        return await run_blocking(self.find, labels)

    # -- garbage collection -------------------------------------------------------------

    def gc(
        self,
        older_than_s: float,
        *,
        labels: Mapping[str, str] | None = None,
        dry_run: bool = False,
        now: float | None = None,
    ) -> list[GcEntry]:
        """Delete our sandboxes idle for at least ``older_than_s`` seconds.

        Only sandboxes with the managed label are considered (and, with ``labels``,
        only those carrying them too, such as ``{OWNER_LABEL: "me@host"}``).

        Args:
            older_than_s: Minimum idle time in **seconds** (since the last activity).
            labels: Extra labels to match.
            dry_run: Report what would be deleted, delete nothing.
            now: The current time (epoch seconds), for tests.

        Returns:
            Every sandbox considered, with ``deleted`` set for those removed.
        """
        deadline = deadline_in(self.create_timeout)
        now = time.time() if now is None else now
        entries: list[GcEntry] = []
        for sdk in self._list({**dict(labels or {}), MANAGED_LABEL: "true"}, deadline):
            last = (
                _parse_time(getattr(sdk, "last_activity_at", None))
                or _parse_time(getattr(sdk, "updated_at", None))
                or _parse_time(getattr(sdk, "created_at", None))
                or now
            )
            idle = max(0.0, now - last)
            delete = idle >= older_than_s and not dry_run
            if delete:
                delete = self._delete_quietly(str(sdk.id))
            entries.append(
                GcEntry(str(sdk.id), _state_of(sdk), idle, dict(sdk.labels or {}), delete)
            )
        return entries

    def _delete_quietly(self, sandbox_id: str) -> bool:
        """Delete a sandbox by id; log instead of raising. Returns True when deleted."""
        client = self.client
        try:
            self._call(
                lambda timeout: client.get(sandbox_id, request_timeout=timeout).delete(
                    timeout=timeout
                ),
                what="delete a sandbox",
                deadline=deadline_in(self.create_timeout),
                idempotent=True,
                on_error=ignore_not_found,
            )
        except SandboxError as error:
            logger.warning("could not delete Daytona sandbox %s: %s", sandbox_id, error)
            return False
        return True
