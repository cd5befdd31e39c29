"""``data_analysis``: Python with pandas, numpy and matplotlib, over registered datasets.

The libraries come with the ``[analysis]`` extra; the first call checks which the
sandbox can import, and the description (and, when one is missing, that call's
result) says so.

A drop-in for users of ``langchain-daytona-data-analysis``: register files with
:meth:`DaytonaDataAnalysisTool.upload_dataset` (or ``upload_file``), and pass
``on_result`` to see every execution result. Datasets are copied lazily into each
conversation's sandbox before its first call, and the tool's description lists them
with a profile (rows, columns, dtypes) so the model starts informed.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from pydantic import BaseModel, Field, PrivateAttr

from langchain_daytona_exec.pool import PooledSandbox
from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.tools.python import DaytonaPythonTool, PythonInput
from langchain_daytona_exec.types import ExecutionResult

__all__ = ["Dataset", "DaytonaDataAnalysisTool", "profile_dataset"]

DATASET_DIR = "data"
"""Datasets land in ``<workdir>/data/<name>`` inside every conversation's sandbox."""

PROFILE_MAX_COLUMNS = 40
"""Columns listed per dataset in the description; wider tables are summarized."""

LIBRARIES = ("pandas", "numpy", "matplotlib")
"""The analysis libraries the description names (the ``[analysis]`` extra installs them
on the host, and a local sandbox sees the host's packages)."""

UNCHECKED_LIBRARIES = (
    "pandas, numpy and matplotlib are used when installed (the first call's result "
    "says if one is missing)"
)
"""The description's library sentence before the first call has checked the sandbox."""

_PROBE = (
    "print(' '.join(m for m in {mods!r} "
    "if __import__('importlib.util').util.find_spec(m) is not None))"
)
"""Prints which of the libraries the sandbox's interpreter can import; it defines no
name in the conversation's namespace."""

BASE_DESCRIPTION = (
    "Run Python for data analysis in a persistent, isolated sandbox. {libraries}; "
    "variables persist between calls; the last expression's value is returned "
    "(DataFrames as compact tables; display(obj) shows more); matplotlib figures come "
    "back as charts described in words (call plt.show() or leave them open). Inspect "
    "data (df.head(), df.dtypes) before analysing it."
)
"""The description; ``{libraries}`` says which analysis libraries are importable."""


def libraries_sentence(installed: list[str] | None) -> str:
    """The description's sentence about the libraries (``None``: not checked yet)."""
    if installed is None:
        return UNCHECKED_LIBRARIES
    missing = [m for m in LIBRARIES if m not in installed]
    if not missing:
        return "pandas, numpy and matplotlib are installed"
    if not installed:
        return "pandas, numpy and matplotlib are NOT installed (only the standard library)"
    return f"{', '.join(installed)} installed; {', '.join(missing)} NOT installed"


@dataclass(frozen=True)
class Dataset:
    """A registered dataset.

    Attributes:
        name: File name inside the sandbox's ``data/`` folder.
        content: The file's bytes.
        description: What the data is, from the user.
        profile: Rows, columns and dtypes, when the format could be read.
    """

    name: str
    content: bytes
    description: str | None
    profile: str | None

    @property
    def sandbox_path(self) -> str:
        """The path relative to the sandbox's working folder."""
        return f"{DATASET_DIR}/{self.name}"


def profile_dataset(name: str, content: bytes) -> str | None:
    """Rows, columns and dtypes of a tabular file (CSV, TSV, JSON, Parquet, Excel).

    Returns ``None`` when pandas is missing or the format is not tabular.
    """
    try:
        import pandas as pd
    except ImportError:
        return None
    ext = os.path.splitext(name)[1].lower()
    readers: dict[str, Callable[[IO[bytes]], Any]] = {
        ".csv": pd.read_csv,
        ".tsv": lambda f: pd.read_csv(f, sep="\t"),
        ".json": pd.read_json,
        ".jsonl": lambda f: pd.read_json(f, lines=True),
        ".parquet": pd.read_parquet,
        ".xlsx": pd.read_excel,
    }
    reader = readers.get(ext)
    if reader is None:
        return None
    try:
        df = reader(io.BytesIO(content))
    except Exception as exc:  # the file is the user's: report, do not fail
        return f"could not be profiled ({type(exc).__name__}: {exc})"
    cols = [f"{c} ({t})" for c, t in zip(df.columns, df.dtypes, strict=True)]
    more = ""
    if len(cols) > PROFILE_MAX_COLUMNS:
        more = f", ... {len(cols) - PROFILE_MAX_COLUMNS} more"
        cols = cols[:PROFILE_MAX_COLUMNS]
    return f"{len(df)} rows x {len(df.columns)} columns: {', '.join(cols)}{more}"


class DaytonaDataAnalysisTool(DaytonaPythonTool):
    """Python data analysis over datasets registered with :meth:`upload_dataset`.

    Args:
        pool: The :class:`~langchain_daytona_exec.SandboxPool` to lease from.
        on_result: Called with every :class:`~langchain_daytona_exec.ExecutionResult`
            (as ``langchain-daytona-data-analysis``'s ``on_result``), for example to
            save or display charts.

    Example:
        >>> tool = DaytonaDataAnalysisTool(pool=pool)
        >>> tool.upload_dataset("sales.csv", description="monthly sales")
        >>> tool.invoke({"code": "import pandas as pd; pd.read_csv('data/sales.csv').shape"})
    """

    name: str = "data_analysis"
    description: str = BASE_DESCRIPTION.format(libraries=UNCHECKED_LIBRARIES)
    args_schema: type[BaseModel] = PythonInput
    on_result: Callable[[ExecutionResult], None] | None = Field(default=None, exclude=True)

    _kind: ClassVar[str] = "analysis"
    _datasets: dict[str, Dataset] = PrivateAttr(default_factory=dict)
    _copied: dict[str, set[str]] = PrivateAttr(default_factory=dict)
    _datasets_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _installed: list[str] | None = PrivateAttr(default=None)

    # -- datasets ------------------------------------------------------------------

    def model_post_init(self, context: Any, /) -> None:
        """Describe what the pool's environment provides from the start."""
        super().model_post_init(context)
        self.description = self._describe()

    def upload_dataset(
        self,
        path_or_bytes: str | os.PathLike[str] | bytes,
        name: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """Register a dataset; it is copied into each thread's sandbox before its first call.

        Args:
            path_or_bytes: A host file path, or the file's bytes.
            name: File name inside the sandbox (``data/<name>``); defaults to the
                path's base name. Required with bytes.
            description: What the data is; shown to the model.

        Raises:
            ValueError: Bytes without a name, or a name with a folder in it.
            OSError: The host file cannot be read.
        """
        if isinstance(path_or_bytes, bytes | bytearray):
            if not name:
                raise ValueError("upload_dataset(bytes) needs name=, e.g. name='sales.csv'")
            content = bytes(path_or_bytes)
        else:
            with open(path_or_bytes, "rb") as f:
                content = f.read()
            name = name or os.path.basename(os.fspath(path_or_bytes))
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"dataset name must be a plain file name, got {name!r}")
        dataset = Dataset(name, content, description, profile_dataset(name, content))
        with self._datasets_lock:
            self._datasets[name] = dataset
            for names in self._copied.values():
                names.discard(name)  # re-copy the new version everywhere
        self.description = self._describe()
        return dataset

    def upload_file(self, file: IO[bytes], description: str | None = None) -> Dataset:
        """``langchain-daytona-data-analysis`` compatible: register an open binary file."""
        name = os.path.basename(getattr(file, "name", "") or "") or "upload.bin"
        return self.upload_dataset(file.read(), name=name, description=description)

    def remove_dataset(self, name: str) -> None:
        """Forget a dataset (files already copied into sandboxes stay there)."""
        with self._datasets_lock:
            self._datasets.pop(name, None)
        self.description = self._describe()

    remove_uploaded_file = remove_dataset

    @property
    def datasets(self) -> list[Dataset]:
        """The registered datasets."""
        with self._datasets_lock:
            return list(self._datasets.values())

    def _describe(self) -> str:
        datasets = self.datasets
        base = BASE_DESCRIPTION.format(libraries=libraries_sentence(self._installed))
        spec = getattr(self.pool.backend, "environment", None) if self.pool else None
        if spec is not None and spec.packages:  # what the pool's Environment provides
            base += f" The environment also provides: {', '.join(spec.packages)}."
        if not datasets:
            return base
        lines = [base, "", "Datasets (already in the sandbox):"]
        for d in datasets:
            line = f"- {d.sandbox_path}"
            if d.description:
                line += f": {d.description}"
            if d.profile:
                line += f" [{d.profile}]"
            lines.append(line)
        return "\n".join(lines)

    def _pending(self, sb: Sandbox) -> list[Dataset]:
        lost = isinstance(sb, PooledSandbox) and sb.state_lost
        with self._datasets_lock:
            done = self._copied.setdefault(sb.id, set())
            if lost:
                done.clear()
            return [d for d in self._datasets.values() if d.name not in done]

    def _mark_copied(self, sb: Sandbox, datasets: list[Dataset]) -> None:
        with self._datasets_lock:
            self._copied.setdefault(sb.id, set()).update(d.name for d in datasets)

    # -- libraries -----------------------------------------------------------------

    @property
    def installed_libraries(self) -> list[str] | None:
        """Which of pandas, numpy and matplotlib the sandbox can import.

        ``None`` until the first call has checked.
        """
        return None if self._installed is None else list(self._installed)

    def _checked(self, probe: ExecutionResult | None) -> str:
        """Record the probe's answer; the note for the model when a library is missing."""
        if probe is None or not probe.ok or self._installed is not None:
            return ""
        self._installed = [m for m in LIBRARIES if m in probe.stdout.split()]
        self.description = self._describe()
        if len(self._installed) == len(LIBRARIES):
            return ""
        return f"[sandbox] In this sandbox {libraries_sentence(self._installed)}.\n"

    def _probe_code(self) -> str | None:
        return _PROBE.format(mods=LIBRARIES) if self._installed is None else None

    # -- calls ---------------------------------------------------------------------

    def _call(
        self, sb: Sandbox, code: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        pending = self._pending(sb)
        for d in pending:
            sb.write_file(d.sandbox_path, d.content)
        self._mark_copied(sb, pending)
        probe = self._probe_code()
        note = self._checked(sb.run_code(probe) if probe else None)
        result = sb.run_code(code, "python", self._seconds(timeout))
        if self.on_result is not None:
            self.on_result(result)
        text, artifact = self._render(result)
        return note + text, artifact

    async def _acall(
        self, sb: Sandbox, code: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        pending = self._pending(sb)
        for d in pending:
            await sb.awrite_file(d.sandbox_path, d.content)
        self._mark_copied(sb, pending)
        probe = self._probe_code()
        note = self._checked(await sb.arun_code(probe) if probe else None)
        result = await sb.arun_code(code, "python", self._seconds(timeout))
        if self.on_result is not None:
            self.on_result(result)
        text, artifact = self._render(result)
        return note + text, artifact
