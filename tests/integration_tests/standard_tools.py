"""LangChain's standard tool integration suite, shared by every backend's test module.

A backend's module subclasses :class:`StandardToolSuite` once per tool, setting
``cls`` and ``pool_factory`` (returns the module's shared pool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests

from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools import (
    DaytonaDataAnalysisTool,
    DaytonaListFilesTool,
    DaytonaPythonTool,
    DaytonaReadFileTool,
    DaytonaShellTool,
    DaytonaWriteFileTool,
)

EXAMPLES: dict[type[BaseTool], dict[str, Any]] = {
    DaytonaPythonTool: {"code": "import math\nmath.sqrt(16)"},
    DaytonaShellTool: {"command": "echo hello && ls"},
    DaytonaWriteFileTool: {"path": "standard/notes.txt", "content": "hello"},
    DaytonaReadFileTool: {"path": "/etc/passwd"},
    DaytonaListFilesTool: {"path": "."},
    DaytonaDataAnalysisTool: {"code": "import pandas as pd\npd.DataFrame({'a': [1, 2]}).a.sum()"},
}


class StandardToolSuite(ToolsIntegrationTests):
    """One tool under LangChain's standard suite, on the pool the subclass names."""

    cls: ClassVar[type[BaseTool]]
    pool_factory: ClassVar[Callable[[], SandboxPool]]

    @property
    def tool_constructor(self) -> type[BaseTool]:
        return self.cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"pool": type(self).pool_factory()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.cls]
