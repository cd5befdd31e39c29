"""The lease object: a key's sandbox as handed out by ``SandboxPool.session``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from langchain_daytona_exec.errors import SandboxClosedError, SandboxLostError
from langchain_daytona_exec.pool._records import LossReason, Slot
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.types import CommandResult, EgressEvent, ExecutionResult, FileInfo

if TYPE_CHECKING:
    from langchain_daytona_exec.pool._pool import SandboxPool

__all__ = ["PooledSandbox"]


class PooledSandbox(Sandbox):
    """A key's sandbox as handed out by :meth:`SandboxPool.session`.

    It forwards every call to the pooled sandbox while the lease lasts; after the
    ``with`` block, calls raise :class:`~langchain_daytona_exec.errors.
    SandboxClosedError`. A :class:`~langchain_daytona_exec.errors.SandboxLostError`
    raised by a call is passed on *and* noted, so the pool checks the sandbox at the
    next lease and replaces it without reporting the loss a second time.

    Attributes:
        key: The session key.
        state_lost: True on the first lease after the key's previous sandbox was
            lost, when the caller was not told already. Variables, imports and files
            of earlier calls are gone. Read it once per lease; the next lease of the
            key has it False again.
        lost_reason: Why the state was lost (see :data:`LossReason`), or ``None``.

    """

    def __init__(
        self,
        pool: SandboxPool,
        slot: Slot,
        sandbox: Sandbox,
        lost_reason: LossReason | None,
    ) -> None:
        self._pool = pool
        self._slot = slot
        self._sandbox = sandbox
        self._active = True
        self.key = slot.key
        self.state_lost = lost_reason is not None
        self.lost_reason: LossReason | None = lost_reason
        self.id = sandbox.id
        self.backend_name = sandbox.backend_name
        self.labels = dict(sandbox.labels)

    def __repr__(self) -> str:
        state = "active" if self._active else "ended"
        return f"<PooledSandbox key={self.key!r} id={self.id!r} {state}>"

    @property
    def active(self) -> bool:
        """True while the lease lasts (inside the ``with`` block)."""
        return self._active and not self._pool.closed

    @contextlib.contextmanager
    def _guard(self) -> Iterator[Sandbox]:
        """Yield the pooled sandbox if the lease lasts; note a loss raised through it."""
        if not self._active:
            raise SandboxClosedError(
                f"The session of key {self.key!r} has ended; lease the sandbox again with "
                f"pool.session({self.key!r}) (or asession) and call it inside the block."
            )
        try:
            yield self._sandbox
        except SandboxLostError:
            self._pool._note_lost(self._slot, seen=True)
            raise

    @property
    def workdir(self) -> str:
        """The absolute path of the working folder inside the sandbox."""
        return self._sandbox.workdir

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Run code in the key's sandbox; see :meth:`Sandbox.run_code`."""
        with self._guard() as sb:
            return sb.run_code(code, language, timeout)

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command in the key's sandbox; see :meth:`Sandbox.exec`."""
        with self._guard() as sb:
            return sb.exec(command, cwd, env, timeout)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file; see :meth:`Sandbox.read_file`."""
        with self._guard() as sb:
            return sb.read_file(path, max_bytes=max_bytes)

    def write_file(self, path: str, content: str | bytes) -> None:
        """Write a file; see :meth:`Sandbox.write_file`."""
        with self._guard() as sb:
            sb.write_file(path, content)

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """List a folder; see :meth:`Sandbox.list_files`."""
        with self._guard() as sb:
            return sb.list_files(path, depth=depth)

    def reset(self) -> None:
        """Reset the key's sandbox; the pool runs its warmup again at the next lease."""
        with self._guard() as sb:
            sb.reset()
        self._pool._note_reset(self._slot)

    def close(self) -> None:
        """Give up the key's sandbox: it is closed when the lease ends.

        The next lease of the key gets a fresh sandbox and no ``state_lost`` report
        (the caller asked for it). Idempotent; does nothing after the lease ended.
        """
        if self._active:
            self._pool._note_discard(self._slot)

    def network_log(self) -> list[EgressEvent]:
        """The pooled sandbox's network allow-list log (see :meth:`Sandbox.network_log`)."""
        return self._sandbox.network_log()

    def is_alive(self) -> bool:
        """Return True when the pooled sandbox can serve calls."""
        if not self._active:
            return False
        alive = self._sandbox.is_alive()
        if not alive:
            self._pool._note_lost(self._slot, seen=False)
        return alive

    async def arun_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """Async twin of :meth:`run_code`."""
        with self._guard() as sb:
            return await sb.arun_code(code, language, timeout)

    async def aexec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Async twin of :meth:`exec`."""
        with self._guard() as sb:
            return await sb.aexec(command, cwd, env, timeout)

    async def aread_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Async twin of :meth:`read_file`."""
        with self._guard() as sb:
            return await sb.aread_file(path, max_bytes=max_bytes)

    async def awrite_file(self, path: str, content: str | bytes) -> None:
        """Async twin of :meth:`write_file`."""
        with self._guard() as sb:
            await sb.awrite_file(path, content)

    async def alist_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """Async twin of :meth:`list_files`."""
        with self._guard() as sb:
            return await sb.alist_files(path, depth=depth)

    async def areset(self) -> None:
        """Async twin of :meth:`reset`."""
        with self._guard() as sb:
            await sb.areset()
        self._pool._note_reset(self._slot)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    async def ais_alive(self) -> bool:
        """Async twin of :meth:`is_alive`."""
        if not self._active:
            return False
        alive = await self._sandbox.ais_alive()
        if not alive:
            self._pool._note_lost(self._slot, seen=False)
        return alive
