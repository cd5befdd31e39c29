"""The tools on an in-memory fake backend: no sandbox, no network."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_daytona_exec.pool import SandboxPool
from langchain_daytona_exec.tools import (
    LOSS_NOTICE_KEY,
    DaytonaDataAnalysisTool,
    DaytonaListFilesTool,
    DaytonaPythonTool,
    DaytonaReadFileTool,
    DaytonaShellTool,
    DaytonaToolkit,
    DaytonaWriteFileTool,
)
from tests.unit_tests.fakes import FakeBackend

EXAMPLES: dict[type[BaseTool], dict[str, Any]] = {
    DaytonaPythonTool: {"code": "1 + 1"},
    DaytonaShellTool: {"command": "echo hi"},
    DaytonaReadFileTool: {"path": "notes.txt"},
    DaytonaWriteFileTool: {"path": "notes.txt", "content": "hello"},
    DaytonaListFilesTool: {"path": "."},
    DaytonaDataAnalysisTool: {"code": "2 * 21"},
}


class _Standard(ToolsUnitTests):
    cls: type[BaseTool]

    @property
    def tool_constructor(self) -> type[BaseTool]:
        return self.cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"pool": SandboxPool(FakeBackend())}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.cls]


class TestPythonToolStandard(_Standard):
    cls = DaytonaPythonTool


class TestShellToolStandard(_Standard):
    cls = DaytonaShellTool


class TestReadFileToolStandard(_Standard):
    cls = DaytonaReadFileTool


class TestWriteFileToolStandard(_Standard):
    cls = DaytonaWriteFileTool


class TestListFilesToolStandard(_Standard):
    cls = DaytonaListFilesTool


class TestDataAnalysisToolStandard(_Standard):
    cls = DaytonaDataAnalysisTool


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def pool(backend: FakeBackend) -> Iterator[SandboxPool]:
    with SandboxPool(backend) as p:
        yield p


def call(tool: BaseTool, args: dict[str, Any], thread: str | None = "t1") -> ToolMessage:
    config = {"configurable": {"thread_id": thread}} if thread else {}
    msg = tool.invoke({"name": tool.name, "args": args, "id": "c1", "type": "tool_call"}, config)
    assert isinstance(msg, ToolMessage)
    return msg


def test_nothing_touches_a_sandbox_at_construction(backend: FakeBackend) -> None:
    pool = SandboxPool(backend)
    DaytonaToolkit(
        pool=pool,
        include=list(
            EXAMPLES
            and [
                t
                for t in (
                    "python",
                    "shell",
                    "read_file",
                    "write_file",
                    "list_files",
                    "data_analysis",
                )
            ]
        ),
    ).get_tools()
    assert backend.creates == 0
    pool.close()


def test_thread_id_picks_the_sandbox(pool: SandboxPool, backend: FakeBackend) -> None:
    py = DaytonaPythonTool(pool=pool)
    call(py, {"code": "x = 'one'"}, "t1")
    call(py, {"code": "x = 'two'"}, "t2")
    assert call(py, {"code": "x"}, "t1").content == "[result] 'one'"
    assert call(py, {"code": "x"}, "t2").content == "[result] 'two'"
    assert backend.creates == 2


def test_without_thread_id_the_fallback_key_is_used(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)
    call(py, {"code": "y = 5"}, None)
    assert call(py, {"code": "y"}, None).content == "[result] 5"
    assert py.thread_key(None) == "default"
    assert DaytonaPythonTool(pool=pool, fallback_key="solo").thread_key({}) == "solo"


def test_tools_of_a_thread_share_the_workspace(pool: SandboxPool) -> None:
    tools = {t.name: t for t in DaytonaToolkit(pool=pool).get_tools()}
    assert set(tools) == {"python", "shell", "read_file", "write_file", "list_files"}
    call(tools["write_file"], {"path": "d/notes.txt", "content": "line1\nline2\n"})
    assert call(tools["shell"], {"command": "cat d/notes.txt"}).content == (
        "[exit code] 0\nline1\nline2"
    )
    read = call(tools["read_file"], {"path": "d/notes.txt", "offset": 1, "limit": 1})
    assert read.content == "d/notes.txt: lines 2-2 of 2\n2| line2"
    listing = call(tools["list_files"], {"path": "."})
    assert "notes.txt (12 B)" in listing.content


def test_errors_become_messages_not_crashes(pool: SandboxPool) -> None:
    read = call(DaytonaReadFileTool(pool=pool), {"path": "missing.txt"})
    assert read.status == "error"
    assert "list_files shows what exists" in read.content
    failing = call(DaytonaShellTool(pool=pool), {"command": "false"})
    assert failing.status == "success" and failing.content.startswith("[exit code] 1")
    broken = call(DaytonaPythonTool(pool=pool), {"code": "def f(:"})
    assert "SyntaxError" in broken.content
    bad_args = DaytonaPythonTool(pool=pool).invoke(
        {"name": "python", "args": {"cod": "1"}, "id": "x", "type": "tool_call"}
    )
    assert bad_args.status == "error"


def test_a_lost_sandbox_is_announced_once(pool: SandboxPool, backend: FakeBackend) -> None:
    py = DaytonaPythonTool(pool=pool)
    call(py, {"code": "setup = 1"})
    backend.live()[0].kill()
    first = call(py, {"code": "1"})
    second = call(py, {"code": "2"})
    lost = [m for m in (first, second) if "state was lost" in str(m.content)]
    assert len(lost) == 1
    assert "Re-run your setup code" in str(lost[0].content)
    assert (first.artifact[LOSS_NOTICE_KEY], second.artifact[LOSS_NOTICE_KEY]) == (True, False)


def test_charts_are_artifacts_not_text(pool: SandboxPool) -> None:
    msg = call(DaytonaPythonTool(pool=pool), {"code": "emit_chart('Sales')"})
    assert '[chart] chart "Sales"' in msg.content
    assert msg.artifact["charts"][0]["title"] == "Sales"
    assert "png_base64" in msg.artifact["charts"][0]
    assert msg.artifact["charts"][0]["png_base64"] not in msg.content


def test_charts_as_images_for_vision_models(pool: SandboxPool) -> None:
    msg = call(DaytonaPythonTool(pool=pool, charts_as_images=True), {"code": "emit_chart()"})
    assert isinstance(msg.content, list)
    assert msg.content[0]["type"] == "text"
    assert msg.content[1]["type"] == "image" and msg.content[1]["mime_type"] == "image/png"


def test_output_over_budget_is_cut_and_saved(pool: SandboxPool, backend: FakeBackend) -> None:
    py = DaytonaPythonTool(pool=pool, max_output_chars=200)
    msg = call(py, {"code": "print('A' * 150 + 'B' * 150)"})
    assert len(msg.content) < 400
    assert "characters cut" in msg.content
    path = msg.artifact["full_output_path"]
    assert path in msg.content
    saved = call(DaytonaReadFileTool(pool=pool), {"path": path})
    assert "A" * 150 + "B" * 150 in saved.content


def test_data_analysis_copies_datasets_lazily_and_describes_them(
    pool: SandboxPool, backend: FakeBackend
) -> None:
    tool = DaytonaDataAnalysisTool(pool=pool)
    tool.upload_dataset(b"a,b\n1,2\n3,4\n", name="t.csv", description="tiny table")
    assert "data/t.csv: tiny table [2 rows x 2 columns: a (int64), b (int64)]" in (tool.description)
    assert backend.creates == 0
    seen: list[Any] = []
    tool.on_result = seen.append
    msg = call(tool, {"code": "6 * 7"}, "t1")
    assert msg.content == "[result] 42"
    assert len(seen) == 1 and seen[0].result == "42"
    copied = call(DaytonaReadFileTool(pool=pool), {"path": "data/t.csv"}, "t1")
    assert copied.content.endswith("3| 3,4")
    call(tool, {"code": "1"}, "t2")
    assert call(DaytonaShellTool(pool=pool), {"command": "cat data/t.csv"}, "t2").content.endswith(
        "3,4"
    )
    with pytest.raises(ValueError, match="needs name"):
        tool.upload_dataset(b"x")


async def test_async_calls_across_threads_run_concurrently(pool: SandboxPool) -> None:
    py = DaytonaPythonTool(pool=pool)

    async def one(i: int) -> ToolMessage:
        msg = await py.ainvoke(
            {"name": "python", "args": {"code": f"v = {i}\nv"}, "id": str(i), "type": "tool_call"},
            {"configurable": {"thread_id": f"t{i}"}},
        )
        assert isinstance(msg, ToolMessage)
        return msg

    msgs = await asyncio.gather(*(one(i) for i in range(8)))
    assert [m.content for m in msgs] == [f"[result] {i}" for i in range(8)]


def test_cached_injected_arg_filter_matches_langchains() -> None:
    from langchain_core.tools import BaseTool

    from langchain_daytona_exec.tools import DaytonaPythonTool, DaytonaReadFileTool

    for tool in (DaytonaPythonTool(), DaytonaReadFileTool()):
        given = {"code": "1", "path": "a", "callbacks": None, "run_manager": None, "x": 1}
        assert tool._filter_injected_args(given) == BaseTool._filter_injected_args(tool, given)


def test_run_annotations_are_resolved_once() -> None:
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools.base import _get_runnable_config_param

    from langchain_daytona_exec.tools import DaytonaShellTool

    tool = DaytonaShellTool()
    assert tool._run.__annotations__["config"] is RunnableConfig
    assert _get_runnable_config_param(tool._run) == "config"
    assert _get_runnable_config_param(tool._arun) == "config"
