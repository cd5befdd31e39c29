"""``DeepAgentsSandbox``: a Deep Agents sandbox backend over one of our sandboxes."""

from __future__ import annotations

from deepagents.backends.protocol import (
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
)
from deepagents.backends.sandbox import BaseSandbox

from langchain_daytona_exec.deepagents._convert import (
    MERGE_STDERR,
    NO_TIMEOUT_CAP_S,
    check_path,
    error_response,
    file_error_code,
    invalid_arguments,
    to_response,
)
from langchain_daytona_exec.errors import SandboxError
from langchain_daytona_exec.sandbox import (
    ClosingContext,
    Sandbox,
    check_command_args,
    check_timeout,
)

__all__ = ["DeepAgentsSandbox"]


class DeepAgentsSandbox(BaseSandbox, ClosingContext):
    """A Deep Agents sandbox backend over one of our sandboxes.

    ``execute`` runs the command with ``/bin/sh -c`` in the sandbox's working folder,
    stdout and stderr merged in order, with a deadline: on timeout the whole process
    group is killed and the response has exit code 124 and the output so far. File
    transfers go through the sandbox's own file API (inside the sandbox, so symlinks
    cannot lead out of it) and report each file separately. Sandbox failures become
    error results the model can read instead of exceptions that would end the run.

    Args:
        sandbox: Any :class:`~langchain_daytona_exec.Sandbox` (local, Daytona, or a
            :class:`~langchain_daytona_exec.PooledSandbox` lease).
        timeout: Default per-command timeout in **seconds** when ``execute`` gets
            none; ``None`` uses the sandbox's default (60 s locally).

    Example:
        >>> with DeepAgentsSandbox(LocalBackend().create()) as backend:
        ...     backend.execute("echo hi").exit_code
        0
    """

    enable_capture_offload = False
    """Off (Deep Agents' default): its capture-at-source shell wrapper would write
    under the artifacts root, which is the read-only ``/`` of a local sandbox unless
    :func:`deep_agent_backend` moved it; the middleware's generic eviction (through
    ``write``) is used instead."""

    def __init__(self, sandbox: Sandbox, *, timeout: float | None = None) -> None:
        self._sandbox = sandbox
        self._timeout = check_timeout(timeout)

    def __repr__(self) -> str:
        return f"<DeepAgentsSandbox {self._sandbox!r}>"

    @property
    def id(self) -> str:
        """The wrapped sandbox's id."""
        return self._sandbox.id

    @property
    def sandbox(self) -> Sandbox:
        """The wrapped sandbox (for ``run_code``, ``reset``...)."""
        return self._sandbox

    def _seconds(self, timeout: float | None) -> float | None:
        """The timeout to pass to the sandbox, in seconds (``None``: its default).

        ``0`` is Deep Agents' "no timeout" (:data:`NO_TIMEOUT_CAP_S`); others are
        checked and clamped like every timeout (:func:`~langchain_daytona_exec.
        sandbox.check_timeout`).

        Raises:
            TypeError: Not a number.
            ValueError: Negative or not finite.
        """
        if timeout is None:
            return self._timeout
        if timeout == 0 and not isinstance(timeout, bool):
            return NO_TIMEOUT_CAP_S
        return check_timeout(timeout)

    # -- commands --------------------------------------------------------------------

    def _prepare(
        self, command: str, timeout: float | None
    ) -> tuple[str, float | None] | ExecuteResponse:
        """The command line to send and its timeout, or the refusal of a bad argument."""
        try:
            check_command_args(command, None, None, None)
            return MERGE_STDERR + command, self._seconds(timeout)
        except (TypeError, ValueError) as exc:
            return invalid_arguments(exc)

    def execute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Run a shell command in the sandbox.

        Args:
            command: The command line, run with ``/bin/sh -c`` in the working folder.
            timeout: **Seconds** before the command's process group is killed;
                ``None`` uses the default, ``0`` means the longest allowed
                (:data:`NO_TIMEOUT_CAP_S`).

        Returns:
            Combined stdout and stderr, the exit code (124 on timeout, ``None`` when
            the sandbox failed before the command could report one) and whether
            output was cut to the sandbox's output budget.
        """
        prepared = self._prepare(command, timeout)
        if isinstance(prepared, ExecuteResponse):
            return prepared
        line, seconds = prepared
        try:
            result = self._sandbox.exec(line, timeout=seconds)
        except SandboxError as exc:
            return error_response(exc)
        return to_response(result)

    async def aexecute(self, command: str, *, timeout: float | None = None) -> ExecuteResponse:
        """Async twin of :meth:`execute`."""
        prepared = self._prepare(command, timeout)
        if isinstance(prepared, ExecuteResponse):
            return prepared
        line, seconds = prepared
        try:
            result = await self._sandbox.aexec(line, timeout=seconds)
        except SandboxError as exc:
            return error_response(exc)
        return to_response(result)

    # -- files -----------------------------------------------------------------------

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write files into the sandbox, creating parent folders; one response per file.

        Args:
            files: ``(absolute path, content)`` pairs.

        Returns:
            Responses in input order; ``error`` is ``invalid_path``,
            ``is_directory``, ``permission_denied`` or the sandbox's message.
        """
        responses = []
        for path, content in files:
            error = check_path(path)
            if error is None:
                try:
                    self._sandbox.write_file(path, content)
                except SandboxError as exc:
                    error = file_error_code(exc)
            responses.append(FileUploadResponse(path=path, error=error))
        return responses

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Async twin of :meth:`upload_files`."""
        responses = []
        for path, content in files:
            error = check_path(path)
            if error is None:
                try:
                    await self._sandbox.awrite_file(path, content)
                except SandboxError as exc:
                    error = file_error_code(exc)
            responses.append(FileUploadResponse(path=path, error=error))
        return responses

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Read files from the sandbox; one response per path.

        Args:
            paths: Absolute paths.

        Returns:
            Responses in input order, with the bytes or an ``error``:
            ``invalid_path``, ``file_not_found``, ``is_directory``,
            ``permission_denied`` or the sandbox's message (a file over the
            sandbox's size limit, for example).
        """
        responses = []
        for path in paths:
            error = check_path(path)
            content: bytes | None = None
            if error is None:
                try:
                    content = self._sandbox.read_file(path)
                except SandboxError as exc:
                    error = file_error_code(exc)
            responses.append(FileDownloadResponse(path=path, content=content, error=error))
        return responses

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Async twin of :meth:`download_files`."""
        responses = []
        for path in paths:
            error = check_path(path)
            content: bytes | None = None
            if error is None:
                try:
                    content = await self._sandbox.aread_file(path)
                except SandboxError as exc:
                    error = file_error_code(exc)
            responses.append(FileDownloadResponse(path=path, content=content, error=error))
        return responses

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Close the wrapped sandbox (idempotent)."""
        self._sandbox.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self._sandbox.aclose()
