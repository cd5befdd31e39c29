"""The notebooks in notebooks/ run top to bottom (nbclient) and show what they promise.

They are stored without outputs; this executes them in a fresh kernel with no model
configured, so 02 uses its clearly labelled scripted model.
"""

from __future__ import annotations

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
        "East     33000  35065.44            6.3",
        '[charts] 1 chart(s) attached: "Sales 2026"',
        "chart written: <charts_dir>/analysis/chart-1.png",
        "East,33000,35065.44,6.3",
    ],
}


def test_notebooks_are_stored_without_outputs() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)  # the kernel inherits the environment
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
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
    joined = "".join(text)
    missing = [s for s in EXPECTED[name] if s not in joined]
    assert not missing, f"{name}: missing {missing}\n--- output ---\n{joined}"
    if name != "02_reference_agent":
        assert images >= 1  # charts are displayed inline
