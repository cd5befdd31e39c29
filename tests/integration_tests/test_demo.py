"""``make demo`` (examples/demo.py): offline through the tools, and with a model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration_tests.openai_stub import OpenAIStub, tool_calls

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_without_a_model_runs_the_analysis_through_the_tools(
    demo: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main(["--charts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "No model is configured" in out
    assert "(48, 4)" in out and "East     35065.44" in out
    assert "Best region: East (35,065.44 total revenue)" in out
    panel = out[out.index("demo's summary") :].replace("\u2502", " ")
    summary = " ".join(panel.split())  # the panel wraps and frames lines
    assert 'in words: line chart "Monthly revenue by region" (x: month, y: revenue)' in summary
    assert "To let a model run this analysis" in out and "OPENAI_API_KEY" in out
    assert (tmp_path / "demo" / "chart-1.png").read_bytes().startswith(b"\x89PNG")
    assert f"charts: 1 written to {tmp_path / 'demo'}/" in out


def test_demo_with_a_model_runs_the_agent(
    demo: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = [
        tool_calls(("list_files", {"path": "."})),
        tool_calls(("python", {"code": demo.ANALYSIS})),
        "East leads with 35,065.44 in revenue.",
    ]
    with OpenAIStub(script) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        assert demo.main(["--charts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert stub.errors == []
    assert "sales.csv (48 rows x 4 columns" in stub.requests[0]["messages"][1]["content"]
    assert "No model is configured" not in out
    assert "East leads with 35,065.44 in revenue." in out
    assert "3 model step(s), 2 tool call(s)" in out
    assert (tmp_path / "demo" / "chart-1.png").exists()
    assert f"charts: 1 written to {tmp_path / 'demo'}/" in out


def test_demo_with_an_unreachable_model_says_so_and_still_runs_the_analysis(
    demo: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    assert demo.main(["--charts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "error: the model call failed" in out
    assert "the configured model failed" in out
    assert (tmp_path / "demo" / "chart-1.png").read_bytes().startswith(b"\x89PNG")
