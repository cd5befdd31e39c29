r"""A Daytona API emulator: the subset of Daytona's HTTP and websocket API the SDK uses.

It serves the control plane under ``/api`` and each sandbox's toolbox under
``/toolbox/{sandboxId}``, backed by :class:`~langchain_daytona_exec.LocalBackend`
sandboxes, so the real ``daytona`` SDK (and :class:`~langchain_daytona_exec.
DaytonaBackend`) can be tested offline, over the wire. Run it::

    daytona-exec emulator --port 3986
    DAYTONA_API_KEY=any DAYTONA_API_URL=http://127.0.0.1:3986/api \\
        DAYTONA_USE_DEPRECATED_POLLING=true python my_agent.py

or in-process (tests)::

    with Emulator() as emu:              # uvicorn on a thread, a free port
        backend = DaytonaBackend(api_key="test", api_url=emu.api_url)
        emu.inject(429, count=2, retry_after=1)     # the next 2 requests get 429
        emu.drop(sandbox_id)                        # delete a sandbox behind the client's back

Each sandbox is a local bubblewrap sandbox running this machine's Python, with home and
work dir ``/home/daytona`` (``/workspace`` is a symlink to it). Emulated: the sandbox
lifecycle (create, list, start, stop, archive, resize applied to the local limits,
labels, intervals, network settings and CIDR allow-lists), ``exec``, ``code_run`` with
matplotlib charts, sessions (one persistent shell, logs streamed over the websocket,
stdin), isolated interpreter contexts, files (find, search, replace, move,
permissions), ``update_env``, PTY, preview links, volumes, snapshots (images built
offline: ``ENV``, ``WORKDIR``, ``RUN``, pip of installed packages), warm pools, git.

Not emulated, answered by a JSON error naming the feature: LSP, computer use, object
storage (images with local files), forks, backups, SSH, secrets, signed previews, the
Socket.IO event stream (set ``DAYTONA_USE_DEPRECATED_POLLING=true``).

An open network shares the host's network namespace and is firewalled off every address
of the host (root and iptables needed), the sandbox's own servers on 127.0.0.1 included:
reach those through a preview link. The rule names that sandbox's uid only: local
sandboxes made without the emulator keep the network their owner gave them.
"""

from __future__ import annotations

from langchain_daytona_exec._extras import require_extra

require_extra("emulator", "starlette", "uvicorn", "wsproto", feature="The Daytona API emulator")

import contextlib
import json
import socket
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any, Self

from langchain_daytona_exec.backends.local import LocalLimits
from langchain_daytona_exec.emulator._app import build_app
from langchain_daytona_exec.emulator._faults import Fault, Faults
from langchain_daytona_exec.emulator._state import Registry

__all__ = ["Emulator", "Fault", "serve"]

_START_TIMEOUT_S = 15.0
"""How long :meth:`Emulator.start` waits for uvicorn to accept connections."""


class Emulator:
    """The emulator as an in-process server: uvicorn on a daemon thread.

    Args:
        host: Address to listen on. Keep it on loopback: the emulator runs code.
        port: Port; 0 picks a free one.
        api_key: The only API key accepted; ``None`` accepts any Bearer token.
        limits: Limits of the local sandboxes behind the emulated ones.
        unsafe_no_isolation: Passed to ``LocalBackend`` (hosts without bubblewrap).
        minute_s: Seconds in an emulated *minute* (auto-stop and auto-delete).
        reaper_interval_s: Seconds between auto-stop/auto-delete rounds.
        seed: Seed for rate-based faults.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        limits: LocalLimits | None = None,
        unsafe_no_isolation: bool = False,
        minute_s: float = 60.0,
        reaper_interval_s: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = Registry(
            limits=limits,
            unsafe_no_isolation=unsafe_no_isolation,
            minute_s=minute_s,
            reaper_interval_s=reaper_interval_s,
        )
        self.faults = Faults(seed)
        self.app = build_app(self.registry, self.faults, api_key=api_key)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- addresses --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The ``DAYTONA_API_URL`` to point the SDK at."""
        return f"{self.base_url}/api"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on a daemon thread; returns once connections are accepted."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit TCP_NODELAY from this one. uvicorn sets it only on
        # sockets it binds itself; without it every keep-alive request after the first
        # waited ~40 ms (Nagle meeting the client's delayed ACK), measured here.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", ws="wsproto", lifespan="off", access_log=False
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="ldx-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Daytona emulator did not start")
            time.sleep(0.01)
        self.registry.start_reaper()
        return self

    def stop(self) -> None:
        """Stop serving and destroy every sandbox."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.registry.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test controls --------------------------------------------------------------------

    def inject(
        self,
        status: int,
        *,
        count: int | None = 1,
        rate: float = 1.0,
        retry_after: float | None = None,
        path: str = "",
        method: str | None = None,
    ) -> None:
        """Answer matching requests with ``status`` instead of serving them.

        Args:
            status: HTTP status (429, 500, 502, 503, 504...).
            count: How many requests get it; ``None`` for no limit.
            rate: Probability per matching request.
            retry_after: ``Retry-After`` header value in **seconds**.
            path: Only paths containing this text.
            method: Only this HTTP method.
        """
        self.faults.add(Fault(status, count, rate, retry_after, path, method))

    def set_latency(self, seconds: float) -> None:
        """Delay every API request by ``seconds``."""
        self.faults.latency_s = seconds

    def clear_faults(self) -> None:
        """Remove every fault and the latency."""
        self.faults.clear()

    def drop(self, sandbox_id: str) -> None:
        """Destroy a sandbox behind the client's back (a crash, a manual delete)."""
        sb = self.registry.get(sandbox_id)
        if sb is not None:
            self.registry.delete(sb)

    def stop_sandbox(self, sandbox_id: str) -> None:
        """Stop a sandbox behind the client's back (as Daytona's auto-stop does)."""
        sb = self.registry.get(sandbox_id)
        if sb is not None:
            self.registry.stop(sb)

    def register_snapshot(
        self,
        name: str,
        *,
        env: dict[str, str] | None = None,
        setup: list[str] | None = None,
        workdir: str | None = None,
    ) -> None:
        """Register a snapshot over the local runtime; ``create(snapshot=name)`` uses it.

        Args:
            name: The snapshot's name.
            env: Environment variables of its sandboxes.
            setup: Shell commands run in each new sandbox before it is handed out.
            workdir: A folder created in each new sandbox.
        """
        self.registry.catalog.register_snapshot(name, env=env, setup=setup, workdir=workdir)

    def sandbox_ids(self) -> list[str]:
        """Ids of every existing sandbox."""
        return [s.id for s in self.registry.all()]

    def stats(self) -> dict[str, Any]:
        """Request counters: ``http_requests``, ``websockets``, ``by_route``, ``injected``."""
        snapshot = self.faults.snapshot()
        snapshot["sandboxes"] = self.registry.count()
        return snapshot

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.faults.reset_counters()


def serve(
    host: str = "127.0.0.1",
    port: int = 3986,
    *,
    api_key: str | None = None,
    unsafe_no_isolation: bool = False,
) -> None:
    """Run the emulator in the foreground until interrupted (the CLI's entry point).

    Args:
        host: Address to listen on.
        port: Port to listen on.
        api_key: The only API key accepted; ``None`` accepts any.
        unsafe_no_isolation: Passed to ``LocalBackend``.
    """
    import uvicorn

    registry = Registry(unsafe_no_isolation=unsafe_no_isolation)
    app = build_app(registry, Faults(), api_key=api_key)
    registry.start_reaper()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", ws="wsproto", lifespan="off")
    finally:
        registry.close()


def admin(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call an admin route of a running emulator (out-of-process tests, scripts).

    Args:
        base_url: ``http://host:port`` of the emulator.
        path: The route under ``/_emulator``, such as ``"/faults"``.
        body: JSON to POST; ``None`` sends a GET.

    Returns:
        The decoded JSON answer.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base_url}/_emulator{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"content-type": "application/json"},
    )
    with contextlib.closing(urllib.request.urlopen(request, timeout=30)) as response:
        return json.loads(response.read() or b"null")
