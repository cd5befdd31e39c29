"""Kept workspaces: a key's files survive its sandbox (``SandboxPool(persist_dir=...)``).

A local sandbox's disk dies with it, so a conversation continued later (another
lease after an eviction, or another process) would find an empty working folder.
With a ``persist_dir``, the pool wraps each sandbox in a :class:`PersistentSandbox`:

* **Save**: when the key's sandbox is reset for another key or closed (eviction,
  TTL, ``discard``, ``pool.close()``, process exit), the working folder is packed into
  a tar archive *inside the sandbox* (``python3`` there; symbolic links are stored as
  links and never followed, special files are skipped) and read out with
  ``read_file``. The host stores the bytes in ``persist_dir`` (a 0700 folder, files
  created with ``O_EXCL | O_NOFOLLOW`` and renamed into place); it never opens a
  path inside the workspace.
* **Restore**: at the key's next lease on a sandbox, the archive is written into the
  sandbox's ``/tmp`` and unpacked *inside the sandbox* with tarfile's ``data``
  filter: absolute paths, ``..``, links leading outside the working folder and
  special files are skipped. Whatever the archive holds, it is unpacked by the
  sandbox's unprivileged user, inside the sandbox, under the working folder.
* Variables and imports are not kept (as on Daytona, whose stopped sandboxes keep
  their disk): the lease reports ``state_lost`` with reason ``"restored"``.
* Bounded: a workspace over ``max_bytes`` is not kept; the next lease reports
  ``"too_big"`` and the pool logs a warning naming the sizes.
* :func:`gc_workspaces` deletes kept workspaces older than a given age
  (``daytona-exec gc --older-than``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain_daytona_exec.pool._records import logger
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.types import CommandResult, EgressEvent, ExecutionResult, FileInfo

__all__ = [
    "DEFAULT_PERSIST_MAX_BYTES",
    "KeptWorkspace",
    "PersistentSandbox",
    "WorkspaceStore",
    "gc_workspaces",
    "reset_for_handover",
]

DEFAULT_PERSIST_MAX_BYTES = 100 * 1024 * 1024
"""Largest workspace kept between runs (bytes of regular files): the archive is read
out of the sandbox in one ``read_file``, and the local backend's largest file read
(``LocalLimits.max_file_bytes``) is 100 MiB."""

_ARCHIVE_IN_SANDBOX = "/tmp/.ldx-kept-workspace.tar"
"""Where the archive is packed and unpacked inside the sandbox (its own ``/tmp``)."""

_SCRIPT_TIMEOUT_S = 120.0
"""Seconds the pack or unpack command may take inside the sandbox."""

_TOO_BIG_EXIT = 3
"""Exit status of the pack script when the workspace is over the limit."""

_PACK = f"""\
import os, stat, sys, tarfile
root, limit, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
total = 0
for folder, dirs, files in os.walk(root):
    for name in files:
        try:
            st = os.lstat(os.path.join(folder, name))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
if total > limit:
    print(total)
    sys.exit({_TOO_BIG_EXIT})
def keep(info):
    return info if (info.isfile() or info.isdir() or info.issym()) else None
with tarfile.open(out, "w") as tar:
    for name in sorted(os.listdir(root)):
        tar.add(os.path.join(root, name), arcname=name, filter=keep)
print(total)
"""
"""Runs inside the sandbox: pack the working folder (links stored, never followed)."""

_UNPACK = """\
import os, sys, tarfile
root, src = sys.argv[1], sys.argv[2]
def safe(member, path):
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None
try:
    with tarfile.open(src) as tar:
        tar.extractall(root, filter=safe)
finally:
    os.unlink(src)
"""
"""Runs inside the sandbox: unpack under the working folder, skipping anything the
``data`` filter refuses (absolute paths, ``..``, outside links, special files)."""

SaveOutcome = Literal["saved", "too_big", "skipped", "failed"]


@dataclass(frozen=True)
class KeptWorkspace:
    """A key's kept workspace as stored on the host.

    Attributes:
        key: The pool key.
        sandbox_id: The id of the sandbox it was saved from (a restored sandbox
            takes it again, so a conversation sees the same sandbox).
        saved_at: Epoch **seconds** of the save.
        size: Bytes of regular files in the workspace.
        archive: The tar archive, or ``None`` when it was not kept.
        error: Why it was not kept (over the size limit), or ``None``.
    """

    key: str
    sandbox_id: str
    saved_at: float
    size: int
    archive: bytes | None
    error: str | None = None


class WorkspaceStore:
    """Kept workspaces on the host, one archive and one JSON record per key.

    Args:
        root: The folder (created 0700).
        max_bytes: Largest workspace kept (bytes of regular files).
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"persist_max_bytes must be positive, got {max_bytes}")
        self.root = os.path.abspath(os.fspath(root))
        self.max_bytes = max_bytes
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def _base(self, key: str) -> str:
        return os.path.join(self.root, hashlib.sha256(key.encode()).hexdigest()[:40])

    def _write(self, path: str, data: bytes) -> None:
        """Write ``data`` to a new temporary file (never through a link), then rename."""
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _read(self, path: str, limit: int) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None

    def save(self, kept: KeptWorkspace) -> None:
        """Store a workspace (or the reason it was not kept), replacing the key's last."""
        base = self._base(kept.key)
        if kept.archive is not None:
            self._write(base + ".tar", kept.archive)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + ".tar")
        record = {
            "key": kept.key,
            "sandbox_id": kept.sandbox_id,
            "saved_at": kept.saved_at,
            "size": kept.size,
            "error": kept.error,
        }
        self._write(base + ".json", json.dumps(record).encode())

    def load(self, key: str) -> KeptWorkspace | None:
        """The key's kept workspace, or ``None`` when there is none (or it is unreadable)."""
        base = self._base(key)
        raw = self._read(base + ".json", 64 * 1024)
        if raw is None:
            return None
        try:
            record: dict[str, Any] = json.loads(raw)
            if record["key"] != key:
                return None
            error = record.get("error")
            archive = None
            if error is None:
                archive = self._read(base + ".tar", self.archive_limit)
                if archive is None:
                    return None
            return KeptWorkspace(
                key=key,
                sandbox_id=str(record["sandbox_id"]),
                saved_at=float(record["saved_at"]),
                size=int(record["size"]),
                archive=archive,
                error=str(error) if error is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            return None

    def forget(self, key: str) -> None:
        """Delete the key's kept workspace, if any."""
        base = self._base(key)
        for suffix in (".json", ".tar"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + suffix)

    @property
    def archive_limit(self) -> int:
        """Largest archive accepted: the files' limit plus room for tar's headers.

        Tar adds 512 bytes per member; 10 % and 1 MiB cover many small files.
        """
        return int(self.max_bytes * 1.1) + 1024 * 1024


def gc_workspaces(
    root: str | os.PathLike[str],
    older_than_s: float,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> list[tuple[str, float]]:
    """Delete the kept workspaces in ``root`` saved at least ``older_than_s`` seconds ago.

    Args:
        root: A ``persist_dir``.
        older_than_s: Minimum age in **seconds**.
        dry_run: Report, delete nothing.
        now: The current time (epoch seconds), for tests.

    Returns:
        ``(key, age in seconds)`` of each workspace deleted (or that would be).
    """
    root = os.fspath(root)
    now = time.time() if now is None else now
    found: list[tuple[str, float]] = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read(64 * 1024))
            age = now - float(record["saved_at"])
            key = str(record["key"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if age < older_than_s:
            continue
        found.append((key, age))
        if not dry_run:
            for suffix in (".json", ".tar"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path[: -len(".json")] + suffix)
    return found


def _human(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


def _python(script: str, *args: str) -> str:
    return "python3 -c " + " ".join(shlex.quote(a) for a in (script, *args))


class PersistentSandbox(Sandbox):
    """A pooled sandbox whose working folder is kept per key; see the module docstring.

    The pool calls :meth:`bind` when it hands the sandbox to a key; :meth:`reset`
    and :meth:`close` save the key's files first.

    Args:
        inner: The backend's sandbox.
        store: Where workspaces are kept.
    """

    def __init__(self, inner: Sandbox, store: WorkspaceStore) -> None:
        self._inner = inner
        self._store = store
        self.key: str | None = None
        self.id = inner.id
        self.backend_name = inner.backend_name
        self.labels = inner.labels
        self._used = False  # a call ran since the key was bound: its files may have changed
        self._closed = False

    def __repr__(self) -> str:
        return f"<PersistentSandbox key={self.key!r} id={self.id!r} of {self._inner!r}>"

    # -- binding, saving, restoring ----------------------------------------------------

    def bind(self, key: str) -> Literal["restored", "too_big"] | None:
        """Serve ``key``: restore its kept files, if any. Blocking.

        Returns:
            ``"restored"`` (files back, variables gone), ``"too_big"`` (the last
            workspace was over the limit and was not kept), or ``None`` (nothing kept,
            or the sandbox already serves ``key``).
        """
        if self.key == key:
            return None
        self.key, self._used = key, False
        self.id = f"{self._inner.id}-{secrets.token_hex(3)}"
        kept = self._store.load(key)
        if kept is None:
            return None
        self.id = kept.sandbox_id
        if kept.archive is None:
            return "too_big"
        try:
            self._inner.write_file(_ARCHIVE_IN_SANDBOX, kept.archive)
            done = self._inner.exec(
                _python(_UNPACK, self._inner.workdir, _ARCHIVE_IN_SANDBOX),
                timeout=_SCRIPT_TIMEOUT_S,
            )
        except Exception:
            logger.warning("restoring the kept files of key %r failed", key, exc_info=True)
            return None
        if done.exit_code != 0:
            logger.warning("restoring the kept files of key %r failed: %s", key, done.stderr[-500:])
            return None
        return "restored"

    def save(self) -> SaveOutcome:
        """Keep the bound key's files (when a call may have changed them). Blocking."""
        key = self.key
        if key is None or not self._used:
            return "skipped"
        try:
            limit = str(self._store.max_bytes)
            packed = self._inner.exec(
                _python(_PACK, self._inner.workdir, limit, _ARCHIVE_IN_SANDBOX),
                timeout=_SCRIPT_TIMEOUT_S,
            )
            size = int(packed.stdout.strip() or 0) if packed.exit_code in (0, _TOO_BIG_EXIT) else 0
            if packed.exit_code == _TOO_BIG_EXIT:
                error = (
                    f"its working folder held {_human(size)} of files, over the "
                    f"{_human(self._store.max_bytes)} kept between runs (persist_max_bytes)"
                )
                logger.warning("the files of key %r were not kept: %s", key, error)
                self._store.save(KeptWorkspace(key, self.id, time.time(), size, None, error))
                return "too_big"
            if packed.exit_code != 0:
                raise RuntimeError(packed.stderr[-500:] or f"exit code {packed.exit_code}")
            archive = self._inner.read_file(
                _ARCHIVE_IN_SANDBOX, max_bytes=self._store.archive_limit
            )
            with contextlib.suppress(Exception):
                self._inner.exec(f"rm -f {_ARCHIVE_IN_SANDBOX}", timeout=_SCRIPT_TIMEOUT_S)
            self._store.save(KeptWorkspace(key, self.id, time.time(), size, archive))
        except Exception:
            logger.warning("keeping the files of key %r failed", key, exc_info=True)
            return "failed"
        return "saved"

    # -- the Sandbox interface -----------------------------------------------------------

    @property
    def workdir(self) -> str:
        """The absolute path of the working folder inside the sandbox."""
        return self._inner.workdir

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        """See :meth:`Sandbox.run_code`."""
        self._used = True
        return self._inner.run_code(code, language, timeout)

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """See :meth:`Sandbox.exec`."""
        self._used = True
        return self._inner.exec(command, cwd, env, timeout)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """See :meth:`Sandbox.read_file`."""
        return self._inner.read_file(path, max_bytes=max_bytes)

    def write_file(self, path: str, content: str | bytes) -> None:
        """See :meth:`Sandbox.write_file`."""
        self._used = True
        self._inner.write_file(path, content)

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        """See :meth:`Sandbox.list_files`."""
        return self._inner.list_files(path, depth=depth)

    def network_log(self) -> list[EgressEvent]:
        """See :meth:`Sandbox.network_log`."""
        return self._inner.network_log()

    def reset(self) -> None:
        """Fresh interpreter and empty workspace; the key's kept files are deleted too."""
        self._inner.reset()
        if self.key is not None:
            self._store.forget(self.key)
        self._used = False

    def release(self) -> None:
        """Keep the key's files, then reset the sandbox to serve another key."""
        self.save()
        self.key, self._used = None, False
        self._inner.reset()
        self.id = self._inner.id

    def close(self) -> None:
        """Keep the key's files, then close the sandbox. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._inner.is_alive():
                self.save()
        finally:
            self._inner.close()

    def is_alive(self) -> bool:
        """See :meth:`Sandbox.is_alive`."""
        return self._inner.is_alive()


def reset_for_handover(sandbox: Sandbox) -> None:
    """Reset a sandbox taken from one key for another (keeping the old key's files)."""
    if isinstance(sandbox, PersistentSandbox):
        sandbox.release()
    else:
        sandbox.reset()
