"""Host side of the cell runner: a runner record (JSON from the sandbox) to result types.

Both backends receive the same record from
:mod:`langchain_daytona_exec.backends.cellrunner` and turn it into the same
:class:`~langchain_daytona_exec.types.ExecutionResult` fields here. The record comes
from the sandbox, so every field is checked: a wrong type raises
:class:`MalformedRecordError`, which each backend turns into its own error.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

from langchain_daytona_exec.backends.cellrunner.display import BINARY_MIMES
from langchain_daytona_exec.types import CHART_KINDS, Chart, DisplayOutput, ExecutionError

__all__ = ["CellParts", "MalformedRecordError", "parse_cell_record"]


class MalformedRecordError(ValueError):
    """A field of a runner record is missing or has the wrong type."""


@dataclass
class CellParts:
    """The parts of an :class:`ExecutionResult` a runner record carries."""

    result: str | None = None
    error: ExecutionError | None = None
    charts: list[Chart] = field(default_factory=list)
    outputs: list[DisplayOutput] = field(default_factory=list)


def _field(obj: Any, key: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
    """``obj[key]``, checked to be one of ``kinds`` (never a bool unless asked)."""
    if not isinstance(obj, dict):
        raise MalformedRecordError(f"expected an object, got {type(obj).__name__}")
    if key not in obj:
        if default is ...:
            raise MalformedRecordError(f"field {key!r} is missing")
        return default
    value = obj[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise MalformedRecordError(f"field {key!r} is a {type(value).__name__}")
    return value


_STR = (str,)
_OPT_STR = (str, type(None))


def parse_cell_record(record: dict[str, Any]) -> CellParts:
    """Check and convert one runner record.

    Args:
        record: ``{"result", "error", "outputs", "charts"}`` as the runner reports
            them (other keys are ignored).

    Raises:
        MalformedRecordError: A field is missing or has the wrong type.
    """
    err = _field(record, "error", (dict, type(None)), None)
    error = None
    if err is not None:
        error = ExecutionError(
            _field(err, "name", _STR), _field(err, "value", _STR), _field(err, "traceback", _STR)
        )
    charts = [_chart(item) for item in _field(record, "charts", (list,), [])]
    outputs = []
    for item in _field(record, "outputs", (list,), []):
        data = {
            str(mime): _b64(value) if mime in BINARY_MIMES else value
            for mime, value in _field(item, "data", (dict,)).items()
            if isinstance(value, str)
        }
        index = _field(item, "chart", (int, type(None)), None)
        chart = charts[index] if index is not None and 0 <= index < len(charts) else None
        outputs.append(
            DisplayOutput(
                data=data, is_main_result=_field(item, "main", (bool,), False), chart=chart
            )
        )
    return CellParts(
        result=_field(record, "result", _OPT_STR, None),
        error=error,
        charts=charts,
        outputs=outputs,
    )


def _b64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text)
    except binascii.Error as exc:
        raise MalformedRecordError(f"an image is not base64: {exc}") from exc


def _chart(item: Any) -> Chart:
    kind = _field(item, "kind", _OPT_STR, None)
    if kind not in (None, *CHART_KINDS):
        raise MalformedRecordError(f"unknown chart kind {kind!r}")
    return Chart(
        png=_b64(_field(item, "png", _STR)),
        title=_field(item, "title", _OPT_STR, None),
        kind=kind,
        data=_field(item, "data", (dict,), {}),
        description=_field(item, "description", _OPT_STR, None),
    )
