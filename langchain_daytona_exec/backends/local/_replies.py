"""Typed reading of the kernel's replies on the host (everything in them is hostile).

Code in the sandbox shares the kernel's process, so it can write any frame on the
response pipe. :mod:`protocol` bounds what a frame may cost to parse; this module
checks that every field the host uses has the type it must have, and raises
:class:`MalformedReplyError` otherwise. The channel turns that into a restart and a
``SandboxLostError`` (see ``LocalSandbox._call``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from langchain_daytona_exec.backends._cell_record import MalformedRecordError, parse_cell_record
from langchain_daytona_exec.errors import (
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.types import (
    CommandResult,
    ExecutionResult,
    FileInfo,
    SavedOutput,
)

__all__ = [
    "MalformedReplyError",
    "command_result",
    "execution_result",
    "file_infos",
    "raise_file_error",
    "read_blob",
]

T = TypeVar("T")

_MISSING: Any = object()


class MalformedReplyError(ValueError):
    """A reply field is missing or has the wrong type."""


def _get(obj: Any, key: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING) -> Any:
    """``obj[key]`` checked against ``kind`` (``bool`` is never accepted as a number)."""
    if not isinstance(obj, dict):
        raise MalformedReplyError(f"expected an object, got {type(obj).__name__}")
    value = obj.get(key, default)
    if value is _MISSING:
        raise MalformedReplyError(f"field {key!r} is missing")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is default and default is not _MISSING:
        return value
    if isinstance(value, bool) and bool not in kinds:
        raise MalformedReplyError(f"field {key!r} is a bool")
    if not isinstance(value, kinds):
        raise MalformedReplyError(f"field {key!r} is a {type(value).__name__}")
    return value


def _count(obj: Any, key: str) -> int:
    value: int = _get(obj, key, int, 0)
    if value < 0:
        raise MalformedReplyError(f"field {key!r} is negative")
    return value


def raise_file_error(resp: dict[str, Any], path: str) -> None:
    """Raise the file error a reply reports, if any."""
    kind = resp.get("file_error")
    if kind is None:
        return
    if not isinstance(kind, str):
        raise MalformedReplyError("field 'file_error' is not a string")
    message: str = _get(resp, "message", str, kind)
    errors: dict[str, type[SandboxFileError]] = {
        "not_found": SandboxFileNotFoundError,
        "is_dir": SandboxIsADirectoryError,
        "too_large": SandboxFileTooLargeError,
    }
    raise errors.get(kind, SandboxFileError)(message, path)


def _saved_outputs(resp: dict[str, Any]) -> list[SavedOutput]:
    return [
        SavedOutput(
            stream=_get(f, "stream", str),
            path=_get(f, "path", str),
            bytes=_count(f, "bytes"),
            complete=_get(f, "complete", bool),
        )
        for f in _get(resp, "saved", list, [])
    ]


def execution_result(resp: dict[str, Any], state_lost: bool, duration_ms: float) -> ExecutionResult:
    """The :class:`ExecutionResult` of a ``run`` reply."""
    if "unsupported" in resp:
        raise UnsupportedLanguageError(_get(resp, "unsupported", str))
    try:
        parts = parse_cell_record(resp)
    except MalformedRecordError as exc:
        raise MalformedReplyError(str(exc)) from exc
    return ExecutionResult(
        stdout=_get(resp, "stdout", str),
        stderr=_get(resp, "stderr", str),
        result=parts.result,
        error=parts.error,
        charts=parts.charts,
        outputs=parts.outputs,
        timed_out=_get(resp, "timed_out", bool, False),
        state_lost=state_lost,
        duration_ms=duration_ms,
        stdout_truncated_bytes=_count(resp, "stdout_cut"),
        stderr_truncated_bytes=_count(resp, "stderr_cut"),
        saved_outputs=_saved_outputs(resp),
    )


def command_result(resp: dict[str, Any], path: str, duration_ms: float) -> CommandResult:
    """The :class:`CommandResult` of an ``exec`` reply (``path``: the cwd asked for)."""
    raise_file_error(resp, path)
    return CommandResult(
        exit_code=_get(resp, "exit_code", int),
        stdout=_get(resp, "stdout", str),
        stderr=_get(resp, "stderr", str),
        timed_out=_get(resp, "timed_out", bool),
        duration_ms=duration_ms,
        stdout_truncated_bytes=_count(resp, "stdout_cut"),
        stderr_truncated_bytes=_count(resp, "stderr_cut"),
        saved_outputs=_saved_outputs(resp),
    )


def read_blob(resp: dict[str, Any], blob: bytes | bytearray, path: str) -> bytes:
    """The contents a ``read`` reply carries, checked against the size it announces."""
    raise_file_error(resp, path)
    if _count(resp, "size") != len(blob):
        raise MalformedReplyError(f"announced {resp['size']} bytes, sent {len(blob)}")
    return bytes(blob)


def file_infos(resp: dict[str, Any], path: str) -> list[FileInfo]:
    """The entries of a ``list`` reply."""
    raise_file_error(resp, path)
    return [
        FileInfo(
            name=_get(e, "name", str),
            path=_get(e, "path", str),
            is_dir=_get(e, "is_dir", bool),
            size=_count(e, "size"),
            mtime=float(_get(e, "mtime", (int, float), 0.0)),
        )
        for e in _get(resp, "entries", list)
    ]
