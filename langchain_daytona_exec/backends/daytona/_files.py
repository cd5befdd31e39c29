"""File operations on one Daytona sandbox, with the file error policy of ``_errors.py``.

Reads use ``fs.get_file_info`` then ``fs.download_files``; writes ``fs.upload_file``;
listings ``fs.list_files``. Relative paths are made absolute against the work dir
the sandbox reports (``DaytonaSandbox._resolve``). A read asks for the size first
and refuses a file over the limit before downloading it.
"""

from __future__ import annotations

import contextlib
import posixpath
from typing import TYPE_CHECKING

from langchain_daytona_exec.backends.daytona._errors import (
    SOURCE_DAEMON,
    ErrorInfo,
    file_error,
    file_errors,
)
from langchain_daytona_exec.backends.daytona._retry import deadline_in
from langchain_daytona_exec.errors import (
    SandboxFileError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
)
from langchain_daytona_exec.sandbox import check_content, check_path
from langchain_daytona_exec.types import FileInfo

if TYPE_CHECKING:
    from daytona_toolbox_api_client import FileInfo as SdkFileInfo

    from langchain_daytona_exec.backends.daytona._sandbox import DaytonaSandbox

__all__ = ["file_infos", "list_files", "read_file", "write_file"]


def read_file(sb: DaytonaSandbox, path: str, max_bytes: int | None) -> bytes:
    """Read a file of ``sb``; see :meth:`Sandbox.read_file`."""
    from daytona import FileDownloadRequest

    check_path(path)
    backend = sb._backend
    limit = min(max_bytes or backend.max_file_bytes, backend.max_file_bytes)
    deadline = deadline_in(backend.file_timeout)
    sdk = sb.sdk
    with sb._lock:
        sb._check_usable()
        where = sb._resolve(path)
        # Size first: downloading a 5 GB file to refuse it afterwards would cost
        # the host the memory and the network that the limit is there to save.
        stat = sb._call(
            lambda timeout: sdk.fs.get_file_info(where, request_timeout=timeout),
            what=f"read {path}",
            deadline=deadline,
            idempotent=True,
            on_error=file_errors(path, "read"),
        )
        if stat.is_dir:
            raise SandboxIsADirectoryError(f"is a folder, not a file: {path}", path)
        size = int(stat.size or 0)
        if size > limit:
            raise SandboxFileTooLargeError(
                f"{path} is {size} bytes, over the {limit}-byte limit", path
            )
        responses = sb._call(
            lambda timeout: sdk.fs.download_files(
                [FileDownloadRequest(source=where)], timeout=timeout
            ),
            what=f"read {path}",
            deadline=deadline,
            idempotent=True,
            on_error=file_errors(path, "read"),
        )
    response = responses[0]
    if response.error is not None:
        details = response.error_details
        failure = ErrorInfo(
            status=details.status_code if details else None,
            code=details.code if details else None,
            source=SOURCE_DAEMON,
            message=str(response.error),
        )
        raise file_error(failure, path, "read") or SandboxFileError(
            f"cannot read {path}: {response.error}", path
        )
    data = response.result
    data = data if isinstance(data, bytes) else str(data or "").encode()
    if len(data) > limit:
        raise SandboxFileTooLargeError(
            f"{path} is {len(data)} bytes, over the {limit}-byte limit", path
        )
    return data


def write_file(sb: DaytonaSandbox, path: str, content: str | bytes) -> None:
    """Write a file of ``sb``, creating parent folders; see :meth:`Sandbox.write_file`."""
    check_path(path)
    data = check_content(content)
    backend = sb._backend
    if len(data) > backend.max_file_bytes:
        raise SandboxFileTooLargeError(
            f"{len(data)} bytes is over the {backend.max_file_bytes}-byte file limit "
            "(DaytonaBackend(max_file_bytes=...))",
            path,
        )
    deadline = deadline_in(backend.file_timeout)
    sdk = sb.sdk
    with sb._lock:
        sb._check_usable()
        where = sb._resolve(path)
        sb._call(
            lambda timeout: sdk.fs.upload_file(data, where, timeout=timeout),
            what=f"write {path}",
            deadline=deadline,
            idempotent=True,
            on_error=file_errors(path, "write"),
        )


def list_files(sb: DaytonaSandbox, path: str, depth: int) -> list[FileInfo]:
    """List a folder of ``sb``; see :meth:`Sandbox.list_files`."""
    check_path(path)
    depth = max(1, int(depth))
    deadline = deadline_in(sb._backend.file_timeout)
    sdk = sb.sdk
    with sb._lock:
        sb._check_usable()
        where = sb._resolve(path)
        entries: list[SdkFileInfo] = sb._call(
            lambda timeout: sdk.fs.list_files(
                where, depth=depth if depth > 1 else None, request_timeout=timeout
            ),
            what=f"list {path}",
            deadline=deadline,
            idempotent=True,
            on_error=file_errors(path, "list"),
        )
    return file_infos(path, entries)


def file_infos(requested: str, entries: list[SdkFileInfo]) -> list[FileInfo]:
    """Our ``FileInfo`` list from Daytona's, with paths relative to the listing when it was.

    Daytona returns absolute paths (``FileInfo.path``) and, in older daemons, only
    names. The listed folder is the common parent of the shallowest entries.
    """
    if not entries:
        return []
    absolute = [str(getattr(e, "path", None) or "") for e in entries]
    base = min((posixpath.dirname(p) for p in absolute), key=len) if all(absolute) else ""
    infos: list[FileInfo] = []
    for entry, full in zip(entries, absolute, strict=True):
        if base and requested.startswith("/"):
            shown = full
        elif base:
            rel = posixpath.relpath(full, base)
            shown = rel if requested in ("", ".") else posixpath.join(requested, rel)
        else:
            shown = entry.name if requested in ("", ".") else posixpath.join(requested, entry.name)
        mtime = 0.0
        stamp = getattr(entry, "modified_at", None)
        if stamp:
            with contextlib.suppress(ValueError):
                import datetime as _dt

                mtime = _dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        is_dir = bool(entry.is_dir)
        infos.append(
            FileInfo(
                name=str(entry.name),
                path=shown,
                is_dir=is_dir,
                size=0 if is_dir else int(entry.size or 0),
                mtime=mtime,
            )
        )
    return infos
