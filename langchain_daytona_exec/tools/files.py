"""``read_file``, ``write_file`` and ``list_files`` in the conversation's sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from langchain_daytona_exec.errors import SandboxFileError
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.tools._base import SandboxTool
from langchain_daytona_exec.types import FileInfo

__all__ = [
    "DaytonaListFilesTool",
    "DaytonaReadFileTool",
    "DaytonaWriteFileTool",
    "describe_binary",
    "render_tree",
]

READ_MAX_BYTES = 50 * 1024 * 1024
"""The largest file ``read_file`` fetches to page through; bigger files are refused
with a hint to use the shell (head, tail, grep)."""

DEFAULT_READ_LINES = 2000
"""Lines shown per ``read_file`` call unless the model asks for another ``limit``."""

MAX_LINE_CHARS = 2000
"""Longer lines are cut (minified JSON, CSV without newlines)."""

LIST_MAX_ENTRIES = 500
"""Entries shown by ``list_files``; the rest are counted."""

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (also xlsx/docx/whl)"),
    (b"\x1f\x8b", "gzip data"),
    (b"PAR1", "Parquet file"),
    (b"\x7fELF", "ELF executable"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x93NUMPY", "NumPy .npy array"),
)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " ...[line cut]"


def describe_binary(data: bytes) -> str | None:
    """A one-line description when ``data`` is not text, else ``None``."""
    kind = next((name for magic, name in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        sample = data[:8192]
        if b"\x00" not in sample:
            try:
                sample.decode("utf-8")
                return None
            except UnicodeDecodeError as exc:
                if exc.start >= len(sample) - 4:  # a character cut by the sample
                    return None
        kind = "binary data"
    return f"{kind}, {_human(len(data))}"


def render_tree(entries: list[FileInfo], root: str) -> str:
    """An indented tree with sizes, from a depth-first listing."""
    if not entries:
        return f"{root}: (empty)"
    lines = [f"{root}:"]
    prefix = "" if root in (".", "") else root.rstrip("/") + "/"
    for entry in entries[:LIST_MAX_ENTRIES]:
        rel = entry.path[len(prefix) :] if entry.path.startswith(prefix) else entry.path
        indent = "  " * rel.count("/")
        size = "" if entry.is_dir else f" ({_human(entry.size)})"
        lines.append(f"{indent}{entry.name}{'/' if entry.is_dir else ''}{size}")
    if len(entries) > LIST_MAX_ENTRIES:
        lines.append(f"... and {len(entries) - LIST_MAX_ENTRIES} more entries")
    return "\n".join(lines)


class ReadFileInput(BaseModel):
    """Arguments of the ``read_file`` tool."""

    path: str = Field(description="File path; relative paths are in the working folder.")
    offset: int = Field(default=0, ge=0, description="First line to show (0-based).")
    limit: int = Field(
        default=DEFAULT_READ_LINES, ge=1, description="How many lines to show at most."
    )


class WriteFileInput(BaseModel):
    """Arguments of the ``write_file`` tool."""

    path: str = Field(description="File path; parent folders are created.")
    content: str = Field(description="The complete text content of the file.")


class ListFilesInput(BaseModel):
    """Arguments of the ``list_files`` tool."""

    path: str = Field(default=".", description="Folder to list (default: working folder).")
    depth: int = Field(default=2, ge=1, le=10, description="How many levels to descend.")


class DaytonaReadFileTool(SandboxTool):
    """Read a text file from the sandbox, a page of lines at a time.

    Binary files are described (type and size), never dumped into the model's text.
    """

    name: str = "read_file"
    description: str = (
        "Read a text file from the sandbox. Shows numbered lines; use offset and limit "
        "to page through big files. Binary files (images, archives...) are described, "
        "not printed."
    )
    args_schema: type[BaseModel] = ReadFileInput

    _kind: ClassVar[str] = "file read"

    def _call(
        self, sb: Sandbox, path: str, offset: int = 0, limit: int = DEFAULT_READ_LINES
    ) -> tuple[str, dict[str, Any]]:
        return self._render(path, sb.read_file(path, max_bytes=READ_MAX_BYTES), offset, limit)

    async def _acall(
        self, sb: Sandbox, path: str, offset: int = 0, limit: int = DEFAULT_READ_LINES
    ) -> tuple[str, dict[str, Any]]:
        data = await sb.aread_file(path, max_bytes=READ_MAX_BYTES)
        return self._render(path, data, offset, limit)

    @staticmethod
    def _render(path: str, data: bytes, offset: int, limit: int) -> tuple[str, dict[str, Any]]:
        binary = describe_binary(data)
        if binary is not None:
            return (
                f"{path}: {binary}. Not shown as text; inspect it with python "
                "(e.g. PIL, pandas, zipfile).",
                {"path": path, "size": len(data), "binary": True},
            )
        lines = data.decode("utf-8", "replace").splitlines()
        page = lines[offset : offset + limit]
        width = len(str(offset + len(page)))
        shown = [f"{n:>{width}}| {_clip(line)}" for n, line in enumerate(page, start=offset + 1)]
        header = f"{path}: lines {offset + 1}-{offset + len(page)} of {len(lines)}"
        if not page:
            header = f"{path}: {len(lines)} lines; nothing at offset {offset}"
        more = offset + len(page) < len(lines)
        footer = [f"[more: call read_file with offset={offset + len(page)}]"] if more else []
        artifact = {"path": path, "size": len(data), "binary": False, "lines": len(lines)}
        return "\n".join([header, *shown, *footer]), artifact


def _where_writable(sb: Sandbox, exc: SandboxFileError) -> SandboxFileError:
    """A refused write (read-only or not permitted), with the folders that take writes."""
    if type(exc) is not SandboxFileError:  # not found, a folder, too large: clear already
        return exc
    text = str(exc).rstrip()
    text = text if text.endswith(".") else text + "."
    return SandboxFileError(
        f"{text} Writable folders include the working folder {sb.workdir} (relative "
        "paths go there) and /tmp.",
        exc.path,
    )


class DaytonaWriteFileTool(SandboxTool):
    """Write a text file in the sandbox, creating its parent folders."""

    name: str = "write_file"
    description: str = (
        "Create or overwrite a text file in the sandbox (parent folders are created). "
        "Relative paths are in the working folder shared with python and shell."
    )
    args_schema: type[BaseModel] = WriteFileInput

    _kind: ClassVar[str] = "file write"

    def _call(self, sb: Sandbox, path: str, content: str) -> tuple[str, dict[str, Any]]:
        try:
            sb.write_file(path, content)
        except SandboxFileError as exc:
            raise _where_writable(sb, exc) from exc
        return self._render(path, content)

    async def _acall(self, sb: Sandbox, path: str, content: str) -> tuple[str, dict[str, Any]]:
        try:
            await sb.awrite_file(path, content)
        except SandboxFileError as exc:
            raise _where_writable(sb, exc) from exc
        return self._render(path, content)

    @staticmethod
    def _render(path: str, content: str) -> tuple[str, dict[str, Any]]:
        size = len(content.encode())
        return f"Wrote {path} ({_human(size)}).", {"path": path, "size": size}


class DaytonaListFilesTool(SandboxTool):
    """List a sandbox folder as a compact tree with sizes."""

    name: str = "list_files"
    description: str = (
        "List files in a sandbox folder as a tree with sizes (default: the working "
        "folder, two levels deep)."
    )
    args_schema: type[BaseModel] = ListFilesInput

    _kind: ClassVar[str] = "listing"

    def _call(self, sb: Sandbox, path: str = ".", depth: int = 2) -> tuple[str, dict[str, Any]]:
        return self._render(path, sb.list_files(path, depth=depth))

    async def _acall(
        self, sb: Sandbox, path: str = ".", depth: int = 2
    ) -> tuple[str, dict[str, Any]]:
        return self._render(path, await sb.alist_files(path, depth=depth))

    @staticmethod
    def _render(path: str, entries: list[FileInfo]) -> tuple[str, dict[str, Any]]:
        artifact = {
            "path": path,
            "entries": [{"path": e.path, "is_dir": e.is_dir, "size": e.size} for e in entries],
        }
        return render_tree(entries, path), artifact
