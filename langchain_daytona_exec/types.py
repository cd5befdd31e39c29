"""Plain result types shared by every backend, the pool and the tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Chart",
    "CommandResult",
    "DisplayOutput",
    "EgressEvent",
    "ExecutionError",
    "ExecutionResult",
    "FileInfo",
    "PoolStats",
    "SavedOutput",
]


CHART_KINDS = ("line", "bar", "scatter", "pie", "histogram", "box", "image", "composite")
"""The values of :attr:`Chart.kind`."""


@dataclass(frozen=True)
class Chart:
    """A matplotlib figure produced by the code: the picture, its data and its words.

    Attributes:
        png: The PNG image.
        title: The figure's title (suptitle or first axes title), if any.
        kind: One of :data:`CHART_KINDS` (``"composite"`` for several panels or
            several kinds in one figure), or ``None`` when the data could not be read.
        data: The chart's data in the shape of Daytona's charts: ``type``, ``title``,
            ``x_label``/``y_label``, ``x_ticks``/``x_tick_labels`` (and ``y_``),
            ``x_scale``/``y_scale`` and ``elements`` (series with ``label`` and
            ``points``, bars with ``label``/``value``/``group``, pie slices, boxes,
            or a composite's sub-charts). Long series are sampled to a few hundred
            points, with a summary (``n_points``, ``y_min``, ``y_max``, ``y_mean``...)
            of all of them.
        description: One to three lines describing the chart in words, for models
            without vision, e.g. ``bar chart "Revenue": East 35065, North 31129``.
    """

    png: bytes
    title: str | None = None
    kind: str | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    description: str | None = None


@dataclass(frozen=True)
class DisplayOutput:
    """One display output of a cell, in the order the cell produced it.

    Attributes:
        data: The output's representations, by mime type (``text/plain``,
            ``text/html``, ``text/markdown``, ``image/png``, ``image/jpeg``,
            ``image/svg+xml``, ``text/latex``, ``application/json``,
            ``application/pdf``, ``application/javascript``...). PNG, JPEG and PDF
            are ``bytes``; everything else is ``str``.
        is_main_result: True for the value of the cell's last expression.
        chart: The chart this output shows (a matplotlib figure), if any.
    """

    data: dict[str, str | bytes] = field(compare=False)
    is_main_result: bool = False
    chart: Chart | None = None

    @property
    def text(self) -> str | None:
        """The ``text/plain`` representation, if any."""
        value = self.data.get("text/plain")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class SavedOutput:
    """A stream that was cut in the result, saved as a file inside the sandbox.

    Attributes:
        stream: ``"stdout"`` or ``"stderr"``.
        path: The file's absolute path inside the sandbox (read it with
            ``read_file`` or the shell).
        bytes: How many bytes the file holds.
        complete: True when the file holds the whole stream; False when saving
            stopped at the sandbox's limit for saved output (or a full disk).
    """

    stream: str
    path: str
    bytes: int
    complete: bool


@dataclass(frozen=True)
class ExecutionError:
    """An exception raised by the executed code.

    Attributes:
        name: The exception class name, such as ``"ZeroDivisionError"``.
        value: ``str()`` of the exception.
        traceback: The formatted traceback, limited to the user's code.
    """

    name: str
    value: str
    traceback: str


@dataclass
class ExecutionResult:
    """What one ``run_code`` call produced.

    Attributes:
        stdout: Captured standard output (head and tail when over budget).
        stderr: Captured standard error (head and tail when over budget).
        result: Text of the last expression, as Jupyter shows it, or ``None``.
        error: The exception raised by the code, or ``None``.
        charts: Matplotlib figures the code produced (shown or left open), with
            their PNG, kind, data and description.
        outputs: Every display output in order: ``display(...)`` calls, the main
            result and the figures.
        timed_out: The call hit its timeout; output is what was produced so far.
        state_lost: The interpreter was restarted; variables and imports are gone.
        duration_ms: Wall time of the call in **milliseconds**.
        stdout_truncated_bytes: Bytes of stdout cut from the middle (0 if none).
        stderr_truncated_bytes: Bytes of stderr cut from the middle (0 if none).
        saved_outputs: Where each cut stream was saved in full (backends that
            save cut output; empty when nothing was cut).
    """

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    error: ExecutionError | None = None
    charts: list[Chart] = field(default_factory=list)
    outputs: list[DisplayOutput] = field(default_factory=list)
    timed_out: bool = False
    state_lost: bool = False
    duration_ms: float = 0.0
    stdout_truncated_bytes: int = 0
    stderr_truncated_bytes: int = 0
    saved_outputs: list[SavedOutput] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the code finished without an error or a timeout."""
        return self.error is None and not self.timed_out


@dataclass
class CommandResult:
    """What one ``exec`` call produced.

    Attributes:
        exit_code: The command's exit status; 124 on timeout, 128+N on signal N.
        stdout: Captured standard output (head and tail when over budget).
        stderr: Captured standard error. Empty on backends that merge the two.
        timed_out: The command hit its timeout and its process group was killed.
        duration_ms: Wall time of the call in **milliseconds**.
        stdout_truncated_bytes: Bytes of stdout cut from the middle (0 if none).
        stderr_truncated_bytes: Bytes of stderr cut from the middle (0 if none).
        saved_outputs: Where each cut stream was saved in full (backends that
            save cut output; empty when nothing was cut).
    """

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_ms: float = 0.0
    stdout_truncated_bytes: int = 0
    stderr_truncated_bytes: int = 0
    saved_outputs: list[SavedOutput] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class FileInfo:
    """One entry of a sandbox folder.

    Attributes:
        name: The entry's name.
        path: Its path inside the sandbox, relative to the working folder when
            the listing was relative.
        is_dir: True for a folder.
        size: Size in **bytes** (0 for folders).
        mtime: Modification time in seconds since the epoch.
    """

    name: str
    path: str
    is_dir: bool
    size: int
    mtime: float = 0.0


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a :class:`~langchain_daytona_exec.SandboxPool`.

    Attributes:
        live: Sandboxes alive (idle + leased + assigned to a key).
        idle: Warm sandboxes not assigned to any key.
        leased: Sandboxes inside a ``session()`` right now.
        created: Sandboxes created since the pool started.
        reused: Sandboxes reset and moved to another key.
        evicted: Keys evicted (LRU, idle TTL or max lifetime).
        replaced: Dead sandboxes replaced.
        failures: Failed creations.
        acquire_p50_ms: Median lease latency in **milliseconds**.
        acquire_p95_ms: 95th percentile lease latency in **milliseconds**.
        evicted_recent: Evictions of keys used in the last minute: conversations
            that are likely still going and will find their state gone (thrashing).
        pinned: Keys pinned now (``SandboxPool.pin``; running conversations).
        waiting: Leases waiting now, for a busy key or for room in a full pool.
        wait_ms_total: Time leases spent waiting for a busy key or a full pool, in
            **milliseconds**, summed since the pool started.
    """

    live: int
    idle: int
    leased: int
    created: int
    reused: int
    evicted: int
    replaced: int
    failures: int
    acquire_p50_ms: float
    acquire_p95_ms: float
    evicted_recent: int = 0
    pinned: int = 0
    waiting: int = 0
    wait_ms_total: float = 0.0


@dataclass(frozen=True)
class EgressEvent:
    """One request through a sandbox's network allow-list proxy (local backend).

    Attributes:
        time: Unix time of the request.
        method: ``CONNECT``, ``GET``, ...
        host: The host as the client named it.
        port: The port.
        allowed: Whether it went through.
        reason: Why it was refused (empty when allowed).
        bytes_out: Bytes sent from the sandbox (allowed requests, when finished).
        bytes_in: Bytes received by the sandbox.
    """

    time: float
    method: str
    host: str
    port: int
    allowed: bool
    reason: str = ""
    bytes_out: int = 0
    bytes_in: int = 0
