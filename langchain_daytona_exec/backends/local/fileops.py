"""File requests of the in-sandbox kernel (stdlib only; runs INSIDE the sandbox).

``read``, ``write`` and ``list`` resolve their paths inside the sandbox, so a symlink
can only ever point at sandbox paths; the notes that say which capped file system is
full (workspace, ``/tmp``, ``/dev/shm``) live here too, as a write is where a full disk
shows first. Imported by ``kernel.py`` as a top-level module, as ``protocol`` is.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports (re, collections...) at start
if TYPE_CHECKING:
    from typing import Any

ENOSPC = errno.ENOSPC
ENOSPC_TEXT = "No space left on device"
"""ENOSPC's message: a failed shell command whose output holds it ran out of disk."""
FULL_SLACK = 1 << 20
"""A capped file system with less than this free counts as full (blocks are 4 KiB, and
the write that failed may have left a partial block)."""


def errno_filename(value: str) -> str | None:
    """The file named in an OSError's text (``[Errno 28] ...: '/workspace/x'``), if any."""
    _, sep, tail = value.rpartition(": ")
    if sep and len(tail) > 2 and tail[0] == tail[-1] and tail[0] in "'\"":
        return tail[1:-1]
    return None


def disk_usage(root: str) -> tuple[int, int]:
    """(size, free) of the file system holding ``root``, in bytes; (0, 0) if unknown."""
    try:
        st = os.statvfs(root)
    except OSError:
        return 0, 0
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


class Files:
    """The file handlers and disk-full notes of one kernel."""

    def __init__(self, workdir: str, tmpdir: str, max_file: int, max_body: int) -> None:
        self.workdir = workdir
        self.tmpdir = tmpdir
        self.max_file = max_file
        self.max_body = max_body
        self.pid = os.getpid()

    def full_roots(self) -> list[str]:
        """The capped file systems (workspace, /tmp, /dev/shm) that are full."""
        roots = [self.workdir, self.tmpdir, "/dev/shm"]
        return [r for r in roots if disk_usage(r)[0] > 0 and disk_usage(r)[1] < FULL_SLACK]

    def disk_full_note(self, path: object = None) -> str:
        """Which capped file system is full, in numbers, and what to do about it."""
        roots = [self.workdir, self.tmpdir, "/dev/shm"]
        chosen = []
        if isinstance(path, str) and path:
            full = os.path.abspath(path)
            chosen = [r for r in roots if full == r or full.startswith(r.rstrip("/") + "/")]
        if not chosen:
            chosen = self.full_roots() or [self.workdir]
        parts = []
        for root in chosen:
            total, free = disk_usage(root)
            parts.append(
                f"disk full: {(total - free) // 1_000_000} MB used of "
                f"{total // 1_000_000} MB in {root}"
            )
        return "; ".join(parts) + ": delete files you no longer need"

    def resolve(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.workdir, path))

    @staticmethod
    def error(kind: str, message: str) -> tuple[dict[str, Any], bytes]:
        return {"file_error": kind, "message": message}, b""

    def read(self, req: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        path = self.resolve(req["path"])
        limit = min(req.get("max_bytes") or self.max_file, self.max_file)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return self.error("not_found", f"no such file: {path}")
        except IsADirectoryError:
            return self.error("is_dir", f"is a folder, not a file: {path}")
        except OSError as exc:
            return self.error("os", f"cannot open {path}: {exc.strerror}")
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return self.error("is_dir", f"is a folder, not a file: {path}")
            if not stat.S_ISREG(st.st_mode):
                return self.error("os", f"not a regular file: {path}")
            if st.st_size > limit:
                return self.error(
                    "too_large", f"{path} is {st.st_size} bytes, over the {limit}-byte limit"
                )
            chunks = []
            remaining = limit + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > limit:
            return self.error("too_large", f"{path} grew over the {limit}-byte limit")
        return {"ok": True, "size": len(data)}, data

    def write(self, req: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        path = self.resolve(req["path"])
        if len(blob) > self.max_file:
            return self.error(
                "too_large", f"{len(blob)} bytes is over the {self.max_file}-byte file limit"
            )
        if os.path.isdir(path):
            return self.error("is_dir", f"is a folder, not a file: {path}")
        tmp = f"{path}.ldx-tmp-{self.pid}"
        try:
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except (FileExistsError, NotADirectoryError):
            return self.error("os", f"a parent of {path} is a file, not a folder")
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            kind = "too_large" if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "os"
            note = f" ({self.disk_full_note(path)})" if exc.errno == ENOSPC else ""
            return self.error(kind, f"cannot write {path}: {exc.strerror}{note}")
        return {"ok": True, "path": path}, b""

    def list(self, req: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        given: str = req.get("path") or "."
        root = self.resolve(given)
        depth = max(1, int(req.get("depth", 1)))
        limit = int(req.get("max_entries", 10_000))
        if not os.path.exists(root):
            return self.error("not_found", f"no such folder: {root}")
        if not os.path.isdir(root):
            return self.error("not_dir", f"not a folder: {root}")
        entries: list[dict[str, Any]] = []
        truncated = False
        room = self.max_body // 2  # JSON of an entry: its texts plus ~80 bytes

        def walk(folder: str, shown: str, level: int) -> None:
            nonlocal truncated
            try:
                items = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            nonlocal room
            for entry in items:
                if len(entries) >= limit or room <= 0:
                    truncated = True
                    return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                rel = entry.name if shown in ("", ".") else f"{shown.rstrip('/')}/{entry.name}"
                room -= 6 * (len(entry.name) + len(rel)) + 100
                entries.append(
                    {
                        "name": entry.name,
                        "path": rel,
                        "is_dir": is_dir,
                        "size": 0 if is_dir else st.st_size,
                        "mtime": st.st_mtime,
                    }
                )
                if is_dir and level < depth:
                    walk(entry.path, rel, level + 1)

        walk(root, given, 1)
        return {"entries": entries, "truncated": truncated}, b""
