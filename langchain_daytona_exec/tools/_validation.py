"""Tool-argument validation errors, in words a model can act on.

LangChain's default for ``handle_validation_error=True`` is the bare text "Tool input
validation error": the model cannot tell which argument was wrong. This module names
each bad argument, what is wrong with it and what the tool expects.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["ValidationMessage"]

_INPUT_SHOWN_CHARS = 80
"""Characters of a rejected value quoted back to the model: enough to recognise it."""


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _INPUT_SHOWN_CHARS else text[:_INPUT_SHOWN_CHARS] + "..."


class ValidationMessage:
    """``handle_validation_error`` callable of one tool: names the field and the problem.

    Args:
        tool_name: The tool's name, as the model calls it.
        schema: The tool's ``args_schema`` (its fields are listed as the expected
            arguments), or ``None``.
    """

    def __init__(self, tool_name: str, schema: type[BaseModel] | None) -> None:
        self.tool_name = tool_name
        self.schema = schema

    def expected(self) -> str:
        """The arguments the tool takes, such as ``code (required), timeout (optional)``."""
        if self.schema is None:
            return ""
        parts = []
        for name, info in self.schema.model_fields.items():
            kind = getattr(info.annotation, "__name__", None) or str(info.annotation)
            need = "required" if info.is_required() else "optional"
            parts.append(f"{name} ({kind}, {need})")
        return ", ".join(parts)

    def __call__(self, error: ValidationError | Exception) -> str:
        problems = []
        details = error.errors() if isinstance(error, ValidationError) else []
        for item in details:
            field = ".".join(str(part) for part in item["loc"]) or "(the arguments)"
            problem = item["msg"]
            if item["type"] != "missing" and "input" in item:
                problem += f" (got {_quote(item['input'])})"
            problems.append(f"`{field}`: {problem}")
        if not problems:
            problems.append(str(error))
        expected = self.expected()
        return (
            f"Invalid arguments for the {self.tool_name} tool, so it did not run: "
            + "; ".join(problems)
            + "."
            + (f" It takes: {expected}." if expected else "")
            + " Fix the arguments and call it again."
        )
