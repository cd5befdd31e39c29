"""``python``: stateful Python in the conversation's sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from langchain_daytona_exec.sandbox import Sandbox
from langchain_daytona_exec.tools._base import Content, SandboxTool
from langchain_daytona_exec.tools._format import (
    chart_artifacts,
    format_execution,
    output_artifacts,
    saved_artifacts,
)
from langchain_daytona_exec.types import ExecutionResult

__all__ = ["DaytonaPythonTool", "PythonInput"]


class PythonInput(BaseModel):
    """Arguments of the ``python`` tool."""

    code: str = Field(description="Python code to run. State persists between calls.")
    timeout: float | None = Field(
        default=None, description="Optional time limit in seconds for this call."
    )


class DaytonaPythonTool(SandboxTool):
    """Run Python in the conversation's sandbox; variables and files persist.

    The content the model sees is stdout, stderr, each ``display(...)`` output's text
    (tables as compact text), the last expression's value, the error with its
    traceback, and one line per chart describing it in words. The artifact carries
    everything else: every display output with all its mime types (HTML, images as
    base64...), the charts as base64 PNG with their data, the error and the flags.

    Args:
        pool: The :class:`~langchain_daytona_exec.SandboxPool` to lease from.
        charts_as_images: Also put the charts in the content as standard image blocks,
            for vision models (Anthropic reads them in tool results; for OpenAI the
            reference agent moves them to a user message).
    """

    name: str = "python"
    description: str = (
        "Run Python code in a persistent, isolated sandbox (like a Jupyter notebook: "
        "variables, imports and files persist between calls). The value of the last "
        "expression is returned (tables as compact text); display(obj) shows more. numpy, "
        "pandas and matplotlib are installed; matplotlib figures come back as charts, "
        "described in words. No network access. Files live in "
        "the working folder, shared with the shell tool."
    )
    args_schema: type[BaseModel] = PythonInput
    charts_as_images: bool = False

    _kind: ClassVar[str] = "Python call"
    _language: ClassVar[str] = "python"

    def _call(
        self, sb: Sandbox, code: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        return self._render(sb.run_code(code, self._language, self._seconds(timeout)))

    async def _acall(
        self, sb: Sandbox, code: str, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        result = await sb.arun_code(code, self._language, self._seconds(timeout))
        return self._render(result)

    @staticmethod
    def _render(result: ExecutionResult) -> tuple[str, dict[str, Any]]:
        artifact: dict[str, Any] = {
            "charts": chart_artifacts(result.charts),
            "outputs": output_artifacts(result),
            "result": result.result,
            "error": (
                {
                    "name": result.error.name,
                    "value": result.error.value,
                    "traceback": result.error.traceback,
                }
                if result.error
                else None
            ),
            "timed_out": result.timed_out,
            "state_lost": result.state_lost,
            "duration_ms": round(result.duration_ms, 3),
            "stdout_truncated_bytes": result.stdout_truncated_bytes,
            "stderr_truncated_bytes": result.stderr_truncated_bytes,
            "saved_outputs": saved_artifacts(result.saved_outputs),
        }
        return format_execution(result), artifact

    def _with_images(self, content: str, artifact: dict[str, Any]) -> Content:
        if not self.charts_as_images or not artifact.get("charts"):
            return content
        blocks: list[str | dict[str, Any]] = [{"type": "text", "text": content}]
        for chart in artifact["charts"]:
            blocks.append(
                {"type": "image", "base64": chart["png_base64"], "mime_type": "image/png"}
            )
        return blocks
