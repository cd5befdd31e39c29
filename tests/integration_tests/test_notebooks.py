"""The notebooks in notebooks/ run top to bottom (nbclient) and show what they promise.

They are stored with their outputs (``make notebooks`` re-runs and saves them), so a
reader on GitHub sees the results; CI checks the stored outputs and executes them again
in a fresh kernel with no model configured, so 02 uses its clearly labelled scripted
model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

EXPECTED = {
    "01_quickstart": [
        "[result] 42",
        "[result] 82",
        "ZeroDivisionError: division by zero",
        "23 notes/hello.txt",
        "A chart made in the sandbox image/png",
        "NameError: name 'x' is not defined",
        "this notebook's folder visible: False",
        "API keys visible: []",
        "running as root: False",
        "network: blocked",
    ],
    "02_reference_agent": [
        "SCRIPTED MODEL:",
        "[result] 1229",
        "(scripted) The code printed: [result] 1229",
        "chart written:",
        "approval needed: The agent wants to run 1 shell call(s)",
        "waiting at: ('approve',)",
        "/workspace",
        "charts: ['chart-1.png']",
    ],
    "03_data_analysis": [
        "data/sales.csv: units sold and unit price per region and month [48 rows x 4 columns",
        "data/targets.csv: yearly revenue target per region [4 rows x 2 columns",
        "(48, 4) (4, 2)",
        "East     33000 35065.44            6.3",  # the compact table the model reads
        "[result] DataFrame: 4 rows x 3 columns",
        '[chart] composite chart "Sales 2026" with 2 panels: [1] line chart',
        "composite chart: ['line', 'bar']",
        "chart written: <charts_dir>/analysis/chart-1.png",
        "East,33000,35065.44,6.3",
    ],
}


CHART_DIR_PREFIXES = ("agent-charts-", "charts-")
"""Temporary chart folders the notebooks make; each must be gone when its notebook ends."""


def execute(name: str) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel with no model configured."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def shown(name: str, nb: nbformat.NotebookNode) -> tuple[str, int]:
    """The text a reader sees in the outputs, and how many images; checks for errors."""
    text: list[str] = []
    images = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{name}: {output.get('ename')}"
            if output.output_type == "stream":
                assert output.name == "stdout", f"{name} wrote to stderr: {output.text}"
                text.append(output.text)
            elif "data" in output:
                images += "image/png" in output.data
                text.append(output.data.get("text/plain", ""))
    return "".join(text), images


def _check(name: str, nb: nbformat.NotebookNode) -> None:
    joined, images = shown(name, nb)
    missing = [s for s in EXPECTED[name] if s not in joined]
    assert not missing, f"{name}: missing {missing}\n--- output ---\n{joined}"
    assert images >= 1  # charts are displayed inline


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebooks_are_stored_with_their_outputs(name: str) -> None:
    """A reader on GitHub sees the results: every code cell ran, in order (`make notebooks`)."""
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{name}: run it with `make notebooks`"
    _check(name, nb)


def _chart_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(CHART_DIR_PREFIXES)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)  # the kernel inherits the environment
    before = _chart_dirs()
    nb = execute(name)
    _check(name, nb)
    assert _chart_dirs() - before == set(), f"{name} left its temporary chart folder"


if __name__ == "__main__":  # `make notebooks`: store the notebooks with fresh outputs
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(var, None)
    for notebook in sorted(EXPECTED):
        executed = execute(notebook)
        _check(notebook, executed)
        nbformat.write(executed, NOTEBOOKS / f"{notebook}.ipynb")
        print(f"notebooks/{notebook}.ipynb: executed and saved")
