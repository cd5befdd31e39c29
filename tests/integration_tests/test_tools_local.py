"""The tools on real local sandboxes, including LangChain's standard integration suite."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool

from langchain_daytona_exec import LocalBackend, LocalLimits
from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools import (
    DaytonaDataAnalysisTool,
    DaytonaListFilesTool,
    DaytonaPythonTool,
    DaytonaReadFileTool,
    DaytonaShellTool,
    DaytonaToolkit,
    DaytonaWriteFileTool,
)
from tests.integration_tests.standard_tools import StandardToolSuite

_POOL: SandboxPool | None = None


def shared_pool() -> SandboxPool:
    global _POOL
    if _POOL is None or _POOL.closed:
        _POOL = SandboxPool(LocalBackend(limits=LocalLimits(grace_s=0.5)), max_size=8)
    return _POOL


@pytest.fixture(scope="module", autouse=True)
def _close_shared_pool() -> Iterator[None]:
    yield
    if _POOL is not None:
        _POOL.close()


class TestPythonTool(StandardToolSuite):
    cls = DaytonaPythonTool
    pool_factory = staticmethod(shared_pool)


class TestShellTool(StandardToolSuite):
    cls = DaytonaShellTool
    pool_factory = staticmethod(shared_pool)


class TestWriteFileTool(StandardToolSuite):
    cls = DaytonaWriteFileTool
    pool_factory = staticmethod(shared_pool)


class TestReadFileTool(StandardToolSuite):
    cls = DaytonaReadFileTool
    pool_factory = staticmethod(shared_pool)


class TestListFilesTool(StandardToolSuite):
    cls = DaytonaListFilesTool
    pool_factory = staticmethod(shared_pool)


class TestDataAnalysisTool(StandardToolSuite):
    cls = DaytonaDataAnalysisTool
    pool_factory = staticmethod(shared_pool)


def call(tool: BaseTool, args: dict[str, Any], thread: str) -> ToolMessage:
    msg = tool.invoke(
        {"name": tool.name, "args": args, "id": "c", "type": "tool_call"},
        {"configurable": {"thread_id": thread}},
    )
    assert isinstance(msg, ToolMessage)
    return msg


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(LocalBackend(limits=LocalLimits(grace_s=0.5)), max_size=8) as p:
        yield p


def test_threads_are_isolated_through_runnable_config(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)
    sh = DaytonaShellTool(pool=pool)
    call(py, {"code": "secret = 'thread-a'\nopen('mine.txt', 'w').write('a')"}, "a")
    other = call(py, {"code": "'secret' in globals()"}, "b")
    assert other.content == "[result] False"
    assert "No such file" in call(sh, {"command": "cat mine.txt"}, "b").content
    assert call(sh, {"command": "cat mine.txt"}, "a").content == "[exit code] 0\na"


def test_errors_reach_the_model_as_messages(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)
    syntax = call(py, {"code": "print('unclosed"}, "e")
    assert "SyntaxError" in syntax.content and syntax.status == "success"
    missing = call(DaytonaReadFileTool(pool=pool), {"path": "nope.csv"}, "e")
    assert missing.status == "error" and "no such file" in missing.content
    failing = call(DaytonaShellTool(pool=pool), {"command": "ls /nonexistent"}, "e")
    assert failing.content.startswith("[exit code] 2") and "No such file" in failing.content
    slow = call(py, {"code": "import time\ntime.sleep(10)", "timeout": 0.5}, "e")
    assert "[timeout]" in slow.content and slow.artifact["timed_out"]
    assert call(py, {"code": "1 + 1"}, "e").content == "[result] 2"


def test_killed_interpreter_is_announced_and_the_session_goes_on(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)
    call(py, {"code": "setup = True"}, "k")
    died = call(py, {"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}, "k")
    assert died.status == "error" and "Re-run your setup code" in died.content
    after = call(py, {"code": "'setup' in globals()"}, "k")
    assert "[result] False" in after.content


def test_chart_artifacts(pool: SandboxPool) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('Trend');"
    msg = call(DaytonaPythonTool(pool=pool), {"code": code}, "c")
    assert msg.content == (
        '[chart] line chart "Trend": 1 -> 2 over x 0 to 2 (min 1 at x=0, max 3 at x=1)'
    )
    png = base64.b64decode(msg.artifact["charts"][0]["png_base64"])
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert msg.artifact["charts"][0]["kind"] == "line"
    assert msg.artifact["charts"][0]["data"]["elements"][0]["points"] == [[0, 1], [1, 3], [2, 2]]
    [output] = msg.artifact["outputs"]
    assert (
        output["chart"] == 0
        and output["data"]["image/png"] == msg.artifact["charts"][0]["png_base64"]
    )


def test_tables_reach_the_model_as_text_and_the_artifact_as_html(pool: SandboxPool) -> None:
    code = (
        "import pandas as pd\ndf = pd.DataFrame({'a': range(1_000_000)})\ndisplay(df.head(2))\ndf"
    )
    msg = call(DaytonaPythonTool(pool=pool), {"code": code}, "t")
    lines = msg.content.splitlines()
    assert lines[:2] == ["[display] (+ text/html in the artifact)", "DataFrame: 2 rows x 1 columns"]
    assert "[result] DataFrame: 1000000 rows x 1 columns" in msg.content
    assert len(msg.content) < 4000
    html = [o["data"]["text/html"] for o in msg.artifact["outputs"]]
    assert len(html) == 2 and all("<table" in h for h in html)


def test_budget_cut_keeps_the_full_output_in_the_sandbox(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool, max_output_chars=1000)
    msg = call(py, {"code": "for i in range(3000): print(f'line {i}')"}, "o")
    assert "line 0" in msg.content and "line 2999" in msg.content
    assert len(msg.content) < 1200
    path = msg.artifact["full_output_path"]
    count = call(DaytonaShellTool(pool=pool), {"command": f"grep -c '^line ' {path}"}, "o")
    assert count.content == "[exit code] 0\n3000"


def test_data_analysis_end_to_end(pool: SandboxPool) -> None:
    tool = DaytonaDataAnalysisTool(pool=pool)
    tool.upload_dataset("examples/data/sales.csv", description="monthly unit sales")
    assert "48 rows x 4 columns" in tool.description
    code = (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('data/sales.csv')\n"
        "df.groupby('region').units.sum().plot(kind='bar', title='Units by region')\n"
        "int(df.units.sum())"
    )
    msg = call(tool, {"code": code}, "d")
    assert msg.content.startswith("[result] ")
    assert len(msg.artifact["charts"]) == 1


def test_toolkit_tools_share_one_sandbox_per_thread(pool: SandboxPool) -> None:
    tools = {t.name: t for t in DaytonaToolkit(pool=pool).get_tools()}
    call(tools["shell"], {"command": "mkdir -p out && echo 1,2 > out/x.csv"}, "s")
    assert call(tools["python"], {"code": "open('out/x.csv').read()"}, "s").content == (
        "[result] '1,2\\n'"
    )
    assert "x.csv (4 B)" in call(tools["list_files"], {"path": "out"}, "s").content
    assert pool.stats().live == 1


async def test_concurrent_ainvoke_across_threads(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)

    async def one(i: int) -> str:
        msg = await py.ainvoke(
            {
                "name": "python",
                "args": {"code": f"n = {i}\nn * n"},
                "id": f"{i}",
                "type": "tool_call",
            },
            {"configurable": {"thread_id": f"async-{i}"}},
        )
        assert isinstance(msg, ToolMessage)
        return str(msg.content)

    results = await asyncio.gather(*(one(i) for i in range(6)))
    assert results == [f"[result] {i * i}" for i in range(6)]


def test_data_analysis_description_says_what_the_sandbox_can_import() -> None:
    from langchain_daytona_exec import DaytonaDataAnalysisTool, LocalBackend, SandboxPool
    from langchain_daytona_exec.tools.data_analysis import UNCHECKED_LIBRARIES

    with SandboxPool(LocalBackend(), handle_sigterm=False) as pool:
        tool = DaytonaDataAnalysisTool(pool=pool)
        assert UNCHECKED_LIBRARIES in tool.description and tool.installed_libraries is None
        out = tool.invoke({"code": "import pandas; 1 + 1"})
        assert out == "[result] 2"  # all three are there: no note
        assert tool.installed_libraries == ["pandas", "numpy", "matplotlib"]
        assert "pandas, numpy and matplotlib are installed;" in tool.description
