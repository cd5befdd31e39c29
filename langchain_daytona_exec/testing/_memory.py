"""An in-memory sandbox backend for unit tests: no isolation, no processes, no network.

.. warning::
    **In-process, trusted code only.** ``run_code`` runs the code with ``exec`` inside
    the test process, with the test process's permissions. Use it for code your tests
    wrote, never for code a model wrote.

``InMemorySandbox`` keeps the ``Sandbox`` contract without any isolation:

* ``run_code`` runs Python **in this process** (``exec`` on a per-sandbox globals
  dict), so state survives between calls exactly like the real kernel; the last
  expression's ``repr`` is the result, ``print`` output is captured per call (a
  ``print`` bound to a buffer, so concurrent calls in other sandboxes never mix),
  exceptions become ``ExecutionError``. ``emit_chart(title)`` in the code adds a
  chart.
* ``exec`` understands a tiny shell: ``echo``, ``pwd``, ``ls``, ``cat``, ``mkdir``,
  ``true``, ``false``, ``exit N``, ``sleep S``, with ``$NAME`` taken from ``env``;
  anything else exits 127 (no pipes, redirections or quoting).
* ``timeout`` is ignored, and code run by ``run_code`` sees this process's files, not
  the sandbox's: use a real backend to test those.
* files live in a dict keyed by absolute path; folders are implied by file paths
  (plus those made with ``mkdir``).
* ``kill()`` makes it die: ``is_alive()`` turns False and every call raises
  ``SandboxLostError``. ``kill(revivable=True)`` models a kernel crash the sandbox
  survives: the next call raises, the one after restarts with empty state and
  reports ``state_lost=True``.
* it does **not** serialize calls: it records the most calls it ever ran at once
  (``max_concurrency``), so tests can prove that the pool does.

``InMemoryBackend`` creates them, counts creations and closes, and can be made slow
(``create_delay_s``) or failing (``fail_creates``).
"""

from __future__ import annotations

import ast
import io
import itertools
import posixpath
import re
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from langchain_daytona_exec.errors import (
    SandboxClosedError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxFileTooLargeError,
    SandboxIsADirectoryError,
    SandboxLostError,
    UnsupportedLanguageError,
)
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.types import (
    Chart,
    CommandResult,
    ExecutionError,
    ExecutionResult,
    FileInfo,
)

__all__ = ["InMemoryBackend", "InMemorySandbox"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG file; ``emit_chart`` returns them plus a marker."""

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
"""``$NAME`` or ``${NAME}``: expanded from the call's ``env`` (the sandbox has no other)."""

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest file read or written (10 MiB), like the real backends' default cap."""


class InMemorySandbox(Sandbox):
    """An in-memory sandbox (in-process, trusted code only); see the module docstring."""

    def __init__(
        self,
        backend: InMemoryBackend,
        sandbox_id: str,
        labels: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
    ) -> None:
        self.id = sandbox_id
        self.backend_name = backend.name
        self.labels = dict(labels or {})
        self.backend = backend
        self._workdir = workdir
        self.globals: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self.dirs: set[str] = {workdir}
        self.closed = False
        self.dead = False
        self.revivable = False
        self._state_lost_pending = False
        self.calls = 0
        self.resets = 0
        self.code_log: list[str] = []
        self._lock = threading.Lock()  # guards the counters only, never a whole call
        self._in_flight = 0
        self.max_concurrency = 0
        self._new_globals()

    def __repr__(self) -> str:
        return f"<InMemorySandbox {self.id} {'closed' if self.closed else 'open'}>"

    # -- test controls ----------------------------------------------------------------

    def kill(self, *, revivable: bool = False) -> None:
        """Make the sandbox die (see the module docstring)."""
        self.dead = True
        self.revivable = revivable

    # -- helpers ----------------------------------------------------------------------

    def _new_globals(self) -> None:
        self.globals = {"__name__": "__main__"}

    def _enter(self) -> None:
        if self.closed:
            raise SandboxClosedError(f"sandbox {self.id} is closed")
        if self.dead:
            if self.revivable:
                # The crash is seen once; the sandbox then restarts empty.
                self.dead = False
                self._new_globals()
                self._state_lost_pending = True
            raise SandboxLostError(f"sandbox {self.id} died; its state is gone")
        with self._lock:
            self.calls += 1
            self._in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _abs(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self._workdir, path))

    def _is_dir(self, path: str) -> bool:
        if path in self.dirs or path == "/":
            return True
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in itertools.chain(self.files, self.dirs))

    # -- Sandbox ----------------------------------------------------------------------

    @property
    def workdir(self) -> str:
        return self._workdir

    def run_code(
        self, code: str, language: str = "python", timeout: float | None = None
    ) -> ExecutionResult:
        if language not in ("python", "javascript", "typescript"):
            raise UnsupportedLanguageError(f"unknown language {language!r}")
        if language != "python":
            raise UnsupportedLanguageError(
                f"the in-memory sandbox runs only Python, not {language}"
            )
        self._enter()
        started = time.perf_counter()
        try:
            self.code_log.append(code)
            out = io.StringIO()
            charts: list[Chart] = []
            g = self.globals

            def captured_print(*args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("file", out)
                print(*args, **kwargs)

            def emit_chart(title: str | None = None) -> None:
                charts.append(Chart(png=PNG_MAGIC + b"fake", title=title))

            g["print"] = captured_print
            g["emit_chart"] = emit_chart
            result: str | None = None
            error: ExecutionError | None = None
            try:
                tree = ast.parse(code, mode="exec")
                last: ast.expr | None = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    last = tree.body[-1].value
                    del tree.body[-1]
                exec(compile(tree, "<cell>", "exec"), g)
                if last is not None:
                    value = eval(compile(ast.Expression(last), "<cell>", "eval"), g)
                    if value is not None:
                        result = repr(value)
            except Exception as exc:
                error = ExecutionError(
                    name=type(exc).__name__,
                    value=str(exc),
                    traceback="".join(
                        traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
                        if exc.__traceback__ is not None
                        else traceback.format_exception_only(exc)
                    ),
                )
            finally:
                g.pop("print", None)
                g.pop("emit_chart", None)
            lost, self._state_lost_pending = self._state_lost_pending, False
            return ExecutionResult(
                stdout=out.getvalue(),
                result=result,
                error=error,
                charts=charts,
                state_lost=lost,
                duration_ms=(time.perf_counter() - started) * 1000.0,
            )
        finally:
            self._leave()

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        self._enter()
        started = time.perf_counter()
        try:
            variables = dict(env or {})
            words = [
                _VARIABLE.sub(lambda m: variables.get(m[1] or m[2], ""), w) for w in command.split()
            ]
            name, args = (words[0], words[1:]) if words else ("true", [])
            here = self._abs(cwd) if cwd else self._workdir
            if not self._is_dir(here):  # as the real backends: before anything runs
                raise SandboxFileNotFoundError(f"no such folder: {here}", cwd or "")
            code, stdout, stderr = 0, "", ""
            if name == "echo":
                stdout = " ".join(args) + "\n"
            elif name == "pwd":
                stdout = here + "\n"
            elif name == "true":
                pass
            elif name == "false":
                code = 1
            elif name == "exit":
                code = int(args[0]) if args else 0
            elif name == "sleep":
                time.sleep(float(args[0]) if args else 0.0)
            elif name == "mkdir":
                for arg in args:
                    if not arg.startswith("-"):
                        self.dirs.add(posixpath.normpath(posixpath.join(here, arg)))
            elif name == "ls":
                target = posixpath.normpath(posixpath.join(here, args[0] if args else "."))
                if not self._is_dir(target):
                    code, stderr = 2, f"ls: cannot access '{target}': No such file or directory\n"
                else:
                    stdout = "".join(f"{info.name}\n" for info in self.list_files(target))
            elif name == "cat":
                for arg in args:
                    path = posixpath.normpath(posixpath.join(here, arg))
                    if path in self.files:
                        stdout += self.files[path].decode("utf-8", "replace")
                    else:
                        code, stderr = 1, f"cat: {arg}: No such file or directory\n"
            else:
                code, stderr = 127, f"sh: 1: {name}: not found\n"
            return CommandResult(
                exit_code=code,
                stdout=stdout,
                stderr=stderr,
                duration_ms=(time.perf_counter() - started) * 1000.0,
            )
        finally:
            self._leave()

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        self._enter()
        try:
            full = self._abs(path)
            if full not in self.files:
                if self._is_dir(full):
                    raise SandboxIsADirectoryError(f"{path} is a folder", path)
                raise SandboxFileNotFoundError(f"no such file: {path}", path)
            data = self.files[full]
            limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
            if len(data) > limit:
                raise SandboxFileTooLargeError(
                    f"{path} has {len(data)} bytes, over the limit of {limit}", path
                )
            return data
        finally:
            self._leave()

    def write_file(self, path: str, content: str | bytes) -> None:
        self._enter()
        try:
            full = self._abs(path)
            if self._is_dir(full):
                raise SandboxIsADirectoryError(f"{path} is a folder", path)
            parent = posixpath.dirname(full)
            while parent not in ("/", ""):
                if parent in self.files:
                    raise SandboxFileError(f"a parent of {path} is a file, not a folder", path)
                parent = posixpath.dirname(parent)
            data = content.encode() if isinstance(content, str) else bytes(content)
            if len(data) > MAX_FILE_BYTES:
                raise SandboxFileTooLargeError(f"{path}: content over the limit", path)
            self.files[full] = data
        finally:
            self._leave()

    def list_files(self, path: str = ".", *, depth: int = 1) -> list[FileInfo]:
        self._enter()
        try:
            root = self._abs(path)
            if root in self.files:
                raise SandboxFileError(f"not a folder: {path}", path)
            if not self._is_dir(root):
                raise SandboxFileNotFoundError(f"no such folder: {path}", path)
            prefix = root.rstrip("/") + "/"
            entries: dict[str, FileInfo] = {}
            for full in itertools.chain(self.files, self.dirs):
                if not full.startswith(prefix):
                    continue
                parts = full[len(prefix) :].split("/")
                for level in range(1, min(depth, len(parts)) + 1):
                    rel = "/".join(parts[:level])
                    is_dir = level < len(parts) or full in self.dirs
                    entry = prefix + rel
                    shown = (
                        entry if posixpath.isabs(path) else posixpath.relpath(entry, self._workdir)
                    )
                    size = 0 if is_dir else len(self.files[full])
                    entries.setdefault(rel, FileInfo(parts[level - 1], shown, is_dir, size))
            return sorted(entries.values(), key=lambda info: info.path)
        finally:
            self._leave()

    def reset(self) -> None:
        if self.closed:
            raise SandboxClosedError(f"sandbox {self.id} is closed")
        if self.dead and not self.revivable:
            raise SandboxLostError(f"sandbox {self.id} died; it cannot be reset")
        self.dead = False
        self._state_lost_pending = False
        self._new_globals()
        self.files.clear()
        self.dirs = {self._workdir}
        self.resets += 1
        self.backend.resets += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self.backend.lock:
            self.backend.closes += 1

    def is_alive(self) -> bool:
        return not self.closed and (not self.dead or self.revivable)


class InMemoryBackend:
    """Creates :class:`InMemorySandbox` objects and counts what happens to them.

    Attributes:
        created: Every sandbox created, in order.
        creates: Successful creations.
        closes: Sandboxes closed.
        resets: Sandbox resets.
        create_attempts: Calls of ``create`` (failed ones included).
        create_delay_s: Seconds each ``create`` sleeps before returning.
        fail_creates: While True, ``create`` raises ``SandboxError``.
    """

    name = "memory"

    def __init__(self, *, create_delay_s: float = 0.0, fail_creates: bool = False) -> None:
        self.lock = threading.Lock()
        self.created: list[InMemorySandbox] = []
        self.create_attempts = 0
        self.closes = 0
        self.resets = 0
        self.create_delay_s = create_delay_s
        self.fail_creates = fail_creates
        self.create_threads: list[str] = []
        self._ids = itertools.count(1)

    @property
    def creates(self) -> int:
        return len(self.created)

    def live(self) -> list[InMemorySandbox]:
        """Sandboxes created and not closed yet."""
        with self.lock:
            return [sb for sb in self.created if not sb.closed]

    def create(self, *, labels: Mapping[str, str] | None = None) -> InMemorySandbox:
        with self.lock:
            self.create_attempts += 1
            self.create_threads.append(threading.current_thread().name)
        if self.create_delay_s:
            time.sleep(self.create_delay_s)
        if self.fail_creates:
            raise SandboxError("the in-memory backend was told to fail (fail_creates=True)")
        sandbox = InMemorySandbox(self, f"mem-{next(self._ids)}", labels)
        with self.lock:
            self.created.append(sandbox)
        return sandbox

    async def acreate(self, *, labels: Mapping[str, str] | None = None) -> InMemorySandbox:
        from langchain_daytona_exec.sandbox import run_blocking

        return await run_blocking(self.create, labels=labels)

    def find(self, labels: Mapping[str, str]) -> InMemorySandbox | None:
        for sandbox in self.live():
            if all(sandbox.labels.get(k) == v for k, v in labels.items()):
                return sandbox
        return None
