"""``Environment``: what a sandbox needs, declared once for every backend.

The same spec builds a read-only package layer on this machine (``LocalBackend``)
and a snapshot on Daytona (``DaytonaBackend``). It is immutable and hashable; its
:attr:`~Environment.digest` names the build, so a spec is built once and then reused
by every sandbox, process and host that asks for the same content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_daytona_exec.errors import EnvironmentBuildError

if TYPE_CHECKING:
    from langchain_daytona_exec.sandbox import Sandbox

__all__ = ["Environment"]


@dataclass(frozen=True)
class Environment:
    """Packages, variables, files and setup code for sandboxes.

    Args:
        packages: pip requirement strings (``"scikit-learn>=1.4"``, ``"openpyxl"``).
        index_url: The package index to build from; ``None``: the user's pip
            configuration (``PIP_INDEX_URL``, ``pip.conf``; PyPI by default).
        env: Environment variables the sandboxed code sees.
        files: Files placed in the sandbox's working folder at start: relative path ->
            text or bytes.
        setup: Python code run once in every new sandbox (and after ``reset()``),
            before the sandbox is handed out: imports, downloads from allowed hosts...

    Example:
        >>> env = Environment(packages=["tabulate"], env={"MODE": "demo"})
        >>> env == Environment(packages=("tabulate",), env={"MODE": "demo"})
        True
    """

    packages: tuple[str, ...] = ()
    index_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    setup: str = ""

    def __init__(
        self,
        packages: Iterable[str] = (),
        index_url: str | None = None,
        env: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        setup: str = "",
    ) -> None:
        if isinstance(packages, str):
            raise TypeError("packages must be a list of requirement strings, not one string")
        pkgs = tuple(packages)
        for p in pkgs:
            if not isinstance(p, str) or not p.strip() or p.strip().startswith("-"):
                raise ValueError(
                    f"bad package {p!r}: give pip requirement strings such as 'pandas>=2'"
                    " (no pip options; use index_url= for the index)"
                )
        for name, value in (env or {}).items():
            if not isinstance(name, str) or not isinstance(value, str) or not name:
                raise TypeError(f"env must map names to strings, got {name!r}: {value!r}")
        for path, content in (files or {}).items():
            if (
                not isinstance(path, str)
                or not path
                or path.startswith("/")
                or ".." in (path.split("/"))
            ):
                raise ValueError(f"bad file path {path!r}: give a relative path, no '..'")
            if not isinstance(content, (str, bytes)):
                raise TypeError(f"files[{path!r}] must be str or bytes")
        if not isinstance(setup, str):
            raise TypeError("setup must be Python source code (a string)")
        object.__setattr__(self, "packages", tuple(p.strip() for p in pkgs))
        object.__setattr__(self, "index_url", index_url)
        object.__setattr__(self, "env", _Frozen(env or {}))
        object.__setattr__(self, "files", _Frozen(files or {}))
        object.__setattr__(self, "setup", setup)

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical content (hex): the name of its builds."""
        import hashlib  # on use: ~2 ms of import that `daytona-exec exec` need not pay

        return hashlib.sha256(self._canonical().encode()).hexdigest()

    @property
    def package_digest(self) -> str:
        """SHA-256 of what the package layer depends on (packages and index only)."""
        import hashlib

        blob = json.dumps({"packages": sorted(self.packages), "index_url": self.index_url})
        return hashlib.sha256(blob.encode()).hexdigest()

    def apply(self, sandbox: Sandbox) -> None:
        """Place :attr:`files` in ``sandbox`` and run :attr:`setup` in it (any backend).

        Raises:
            EnvironmentBuildError: The setup code raised or timed out (its traceback in
                the message).
        """
        for rel, content in self.files.items():
            sandbox.write_file(rel, content)
        if self.setup:
            r = sandbox.run_code(self.setup)
            if r.error is not None or r.timed_out:
                detail = r.error.traceback if r.error else "it timed out"
                raise EnvironmentBuildError(f"the environment's setup code failed:\n{detail}")

    def _canonical(self) -> str:
        files = {
            k: (v.hex() if isinstance(v, bytes) else v, isinstance(v, bytes))
            for k, v in sorted(self.files.items())
        }
        doc: dict[str, Any] = {
            "packages": sorted(self.packages),
            "index_url": self.index_url,
            "env": dict(sorted(self.env.items())),
            "files": files,
            "setup": self.setup,
        }
        return json.dumps(doc, sort_keys=True)

    def __hash__(self) -> int:
        return hash(self._canonical())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Environment) and self._canonical() == other._canonical()


class _Frozen(dict[str, Any]):
    """A read-only dict, so a frozen :class:`Environment` cannot change under its hash."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("an Environment is immutable: build a new one")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
