"""One cell runner, two backends: the same bytes run, and the same cell gives the same result.

Every test here runs on the local backend and on the Daytona backend (real SDK against
the emulator), through the ``any_sb`` fixture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec import Chart, ExecutionResult, LocalBackend, LocalLimits
from langchain_daytona_exec.backends.cellrunner import chart_words, charts, tables
from langchain_daytona_exec.backends.daytona import _python as python
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.emulator import Emulator
from langchain_daytona_exec.sandbox import Sandbox
from tests.integration_tests.daytona_support import emu, make_backend

__all__ = ["emu"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def local_sb() -> Iterator[Sandbox]:
    with LocalBackend(limits=LocalLimits(timeout_s=30, grace_s=1.0)).create() as sb:
        yield sb


@pytest.fixture(scope="module")
def daytona_sb(emu: Emulator) -> Iterator[Sandbox]:
    with make_backend(emu).create(labels={"suite": "cell-outputs"}) as sb:
        yield sb


@pytest.fixture(params=["local", "daytona"])
def any_sb(request: pytest.FixtureRequest) -> Sandbox:
    sb: Sandbox = request.getfixturevalue(f"{request.param}_sb")
    return sb


def _host_digests() -> dict[str, str]:
    return {
        inside: hashlib.sha256(Path(host).read_bytes()).hexdigest()
        for host, inside in isolation.KERNEL_SOURCES
        if inside.startswith("cellrunner/")
    }


def test_both_backends_run_the_same_runner_bytes(local_sb: Sandbox, daytona_sb: Sandbox) -> None:
    expected = _host_digests()
    # Local: the runner the kernel actually imported, found through its live object.
    local = local_sb.run_code(
        "import gc, hashlib, os\n"
        "runner = next(o for o in gc.get_objects() if type(o).__name__ == 'CellRunner')\n"
        "folder = os.path.dirname(type(runner).run.__code__.co_filename)\n"
        "{'cellrunner/' + n: hashlib.sha256(open(os.path.join(folder, n), 'rb').read())"
        ".hexdigest() for n in sorted(os.listdir(folder)) if n.endswith('.py')}"
    )
    assert local.error is None, local.error
    assert local.result == repr(dict(sorted(expected.items())))
    # Daytona: the sources the wrapper loaded into the remote interpreter.
    remote = daytona_sb.run_code(
        "import hashlib, sys\n"
        f"pkg = sys.modules[{python.PACKAGE!r}]\n"
        "{'cellrunner/' + n + '.py': hashlib.sha256(s.encode()).hexdigest()"
        " for n, s in sorted(pkg.SOURCES.items())}"
    )
    assert remote.error is None, remote.error
    assert remote.result == repr(dict(sorted(expected.items())))


CELLS = [
    "x = 41\nx + 1",
    "import asyncio\nawait asyncio.sleep(0, 'awaited')",
    "def f():\n    return 1 / 0\nf()",
    "print('out')\n'a' * 5",
    "raise SystemExit(2)",
]


@pytest.mark.parametrize("code", CELLS)
def test_the_same_cell_gives_the_same_result(
    local_sb: Sandbox, daytona_sb: Sandbox, code: str
) -> None:
    local, remote = local_sb.run_code(code), daytona_sb.run_code(code)
    assert (local.stdout, local.result) == (remote.stdout, remote.result)
    assert (local.error is None) == (remote.error is None)
    if local.error is not None and remote.error is not None:
        assert (local.error.name, local.error.value) == (remote.error.name, remote.error.value)
        assert local.error.traceback.splitlines()[-1] == remote.error.traceback.splitlines()[-1]
        assert "<cell-" in remote.error.traceback and "_ldx" not in remote.error.traceback


def test_figures_come_back_as_png_with_their_title(any_sb: Sandbox) -> None:
    r = any_sb.run_code(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\nax.plot(range(1000), [i * i for i in range(1000)])\n"
        "ax.set_title('Squares')\nfig2 = plt.figure()\nplt.bar(['a', 'b'], [1, 2])"
    )
    assert r.error is None, r.error
    assert [c.title for c in r.charts] == ["Squares", None]
    assert all(c.png.startswith(PNG_MAGIC) for c in r.charts)
    assert any_sb.run_code("import matplotlib.pyplot as plt\nplt.get_fignums()").result == "[]"


# -- rich outputs: the same suite on both backends ----------------------------------

SETUP = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "import numpy as np\nimport pandas as pd\n"
)


def run(sb: Sandbox, code: str) -> ExecutionResult:
    r = sb.run_code(SETUP + code)
    assert r.error is None, r.error
    return r


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_MAGIC)
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_dataframe_is_a_compact_table_for_the_model_and_html_for_people(any_sb: Sandbox) -> None:
    r = run(any_sb, "pd.DataFrame({'region': ['East', 'North'], 'revenue': [35065.123456, 31129]})")
    assert r.result is not None
    assert r.result.splitlines()[0] == "DataFrame: 2 rows x 2 columns"
    assert r.result.splitlines()[2].split() == ["0", "East", "35065.12"]  # rounded
    assert r.result.splitlines()[3].split() == ["1", "North", "31129"]
    [main] = r.outputs
    assert main.is_main_result and main.text == r.result
    html = main.data["text/html"]
    assert isinstance(html, str) and "<table" in html and "35065.12" in html


def test_series_and_ndarray_show_shape_and_edges(any_sb: Sandbox) -> None:
    r = run(any_sb, "display(pd.Series([1.5, 2.5, 3.5], name='price'))\nnp.arange(10000.0)")
    series, array = r.outputs
    assert series.text is not None and series.text.startswith(
        "Series 'price': 3 rows, dtype float64"
    )
    assert "2.5" in series.text and not series.is_main_result
    assert array.is_main_result and r.result is not None
    assert r.result.startswith("ndarray shape (10000,) dtype float64; min 0, max 9999, mean 4999.5")
    assert "9999" in r.result and "..." in r.result and len(r.result) < 300


def test_pil_images_become_png(any_sb: Sandbox) -> None:
    r = run(any_sb, "from PIL import Image\ndisplay(Image.new('RGB', (31, 17), 'red'))")
    [out] = r.outputs
    png = out.data["image/png"]
    assert isinstance(png, bytes) and png_size(png) == (31, 17)


REPRS = {
    "text/html": ("_repr_html_", "'<b>bold</b>'", "<b>bold</b>"),
    "text/markdown": ("_repr_markdown_", "'# Title'", "# Title"),
    "image/svg+xml": ("_repr_svg_", "'<svg></svg>'", "<svg></svg>"),
    "image/png": ("_repr_png_", "b'\\x89PNG-bytes'", b"\x89PNG-bytes"),
    "image/jpeg": ("_repr_jpeg_", "b'\\xff\\xd8jpeg'", b"\xff\xd8jpeg"),
    "text/latex": ("_repr_latex_", "r'$x^2$'", "$x^2$"),
    "application/json": ("_repr_json_", "{'a': [1, 2]}", '{"a": [1, 2]}'),
    "application/pdf": ("_repr_pdf_", "b'%PDF-1.4'", b"%PDF-1.4"),
    "application/javascript": ("_repr_javascript_", "'alert(1)'", "alert(1)"),
}


@pytest.mark.parametrize("mime", sorted(REPRS))
def test_each_repr_method_gives_its_mime_type(any_sb: Sandbox, mime: str) -> None:
    method, value, expected = REPRS[mime]
    r = run(
        any_sb,
        f"class Thing:\n    def {method}(self):\n        return {value}\n"
        "    def __repr__(self):\n        return 'Thing()'\nThing()",
    )
    [out] = r.outputs
    assert out.is_main_result and out.data[mime] == expected and out.text == "Thing()"


def test_mimebundle_and_failing_repr_methods(any_sb: Sandbox) -> None:
    r = run(
        any_sb,
        "class Bundle:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/html': '<i>b</i>', 'text/plain': 'plain b'}\n"
        "class Broken:\n"
        "    def _repr_html_(self):\n        raise ValueError('no html')\n"
        "    def __repr__(self):\n        return 'Broken()'\n"
        "display(Bundle(), Broken())",
    )
    bundle, broken = r.outputs
    assert bundle.data == {"text/html": "<i>b</i>", "text/plain": "plain b"}
    assert broken.data == {"text/plain": "Broken()"}  # a failing method is skipped


def test_display_several_times_keeps_the_order(any_sb: Sandbox) -> None:
    r = run(any_sb, "for i in range(3):\n    display(f'item {i}')\n'last'")
    assert [o.text for o in r.outputs] == ["'item 0'", "'item 1'", "'item 2'", "'last'"]
    assert [o.is_main_result for o in r.outputs] == [False, False, False, True]


def test_ipython_display_reaches_the_outputs(any_sb: Sandbox) -> None:
    r = run(
        any_sb,
        "from IPython.display import HTML, Markdown, display\n"
        "display(HTML('<p>x</p>'))\ndisplay(Markdown('*y*'))",
    )
    html, markdown = r.outputs
    assert html.data["text/html"] == "<p>x</p>" and markdown.data["text/markdown"] == "*y*"


def test_outputs_before_an_exception_are_kept(any_sb: Sandbox) -> None:
    r = any_sb.run_code("display('before')\n1 / 0\ndisplay('never')")
    assert r.error is not None and r.error.name == "ZeroDivisionError"
    assert [o.text for o in r.outputs] == ["'before'"]
    after = any_sb.run_code("display('after')")
    assert [o.text for o in after.outputs] == ["'after'"]  # nothing left over


def test_each_output_is_bounded_and_cuts_are_announced(any_sb: Sandbox) -> None:
    r = run(
        any_sb,
        "class Huge:\n    def _repr_html_(self):\n        return 'x' * 200_000\n"
        "    def __repr__(self):\n        return 'Huge()'\n"
        "display(Huge())\nfor i in range(60):\n    display(i)",
    )
    assert "text/html" not in r.outputs[0].data
    assert (
        r.outputs[0].text is not None
        and "text/html of 200000 characters dropped" in r.outputs[0].text
    )
    assert len(r.outputs) == 51
    assert r.outputs[-1].text == (
        "[11 more display output(s) dropped: a cell keeps at most 50 outputs and 16777216 bytes]"
    )


# -- charts: one test per kind, the extracted data against what was plotted ----------


def one_chart(sb: Sandbox, code: str) -> Chart:
    r = run(sb, code)
    [chart] = r.charts
    [out] = [o for o in r.outputs if o.chart is not None]
    assert out.chart is chart and out.data["image/png"] == chart.png
    assert out.text == chart.description and png_size(chart.png)[0] > 0
    return chart


def test_bar_chart(any_sb: Sandbox) -> None:
    chart = one_chart(
        any_sb,
        "fig, ax = plt.subplots()\n"
        "ax.bar(['East', 'North', 'West', 'South'], [35065, 31129, 27792, 23453])\n"
        "ax.set_title('Revenue by region'); ax.set_ylabel('USD')",
    )
    assert (chart.kind, chart.title) == ("bar", "Revenue by region")
    assert chart.data["type"] == "bar" and chart.data["y_label"] == "USD"
    assert [(e["label"], e["value"]) for e in chart.data["elements"]] == [
        ("East", 35065),
        ("North", 31129),
        ("West", 27792),
        ("South", 23453),
    ]
    assert chart.description == (
        'bar chart "Revenue by region" (y: USD): East 35065, North 31129, West 27792, South 23453'
    )


def test_line_chart(any_sb: Sandbox) -> None:
    chart = one_chart(
        any_sb,
        "x = np.arange(1000)\nplt.plot(x, x ** 2, label='squares')\n"
        "plt.plot(x, -x, label='negative')\nplt.title('Growth'); plt.xlabel('n'); plt.legend()",
    )
    assert (chart.kind, chart.title, chart.data["x_label"]) == ("line", "Growth", "n")
    squares, negative = chart.data["elements"]
    assert squares["label"] == "squares" and squares["n_points"] == 1000
    assert len(squares["points"]) == 100 and squares["points_sampled"] is True
    assert squares["points"][0] == [0, 0] and squares["points"][-1] == [999, 998001]
    assert (squares["y_max"], squares["x_at_y_max"], negative["y_min"]) == (998001, 999, -999)
    assert chart.description is not None
    assert chart.description == (
        'line chart "Growth" (x: n): 2 series over x 0 to 999; squares: 0 -> 998001 '
        "(min 0 at x=0, max 998001 at x=999); negative: 0 -> -999 (min -999 at x=999, "
        "max 0 at x=0)"
    )


def test_a_pandas_text_index_names_every_point(any_sb: Sandbox) -> None:
    """pandas plots a text index at positions and labels only some ticks: every point that
    a description names still gets its index name, including the unlabelled positions."""
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    values = [5, 1, 4, 6, 3, 7, 2, 8, 6, 9, 7, 10]  # min at 2026-02, max at 2026-12
    chart = one_chart(
        any_sb,
        "import pandas as pd\n"
        f"s = pd.Series({values}, index=pd.Index({months}, name='month'))\n"
        "ax = s.plot(title='Monthly'); ax.set_ylabel('units')",
    )
    r = run(any_sb, "[t.get_text() for t in ax.get_xticklabels()]")  # what pandas labels
    assert "2026-02" not in str(r.result) and "2026-12" not in str(r.result), r.result
    assert chart.description == (
        'line chart "Monthly" (x: month, y: units): 5 -> 10 over 2026-01 to 2026-12 '
        "(min 1 at 2026-02, max 10 at 2026-12)"
    )
    numbered = one_chart(any_sb, "ax = pd.Series([3, 1, 2], index=[10, 20, 30]).plot()")
    assert (
        numbered.description == "line chart: 3 -> 2 over x 10 to 30 (min 1 at x=20, max 3 at x=10)"
    )
    by_column = one_chart(
        any_sb,
        "df = pd.DataFrame({'m': ['a', 'b', 'c'], 'v': [1, 5, 2]})\nax = df.plot(x='m', y='v')",
    )
    assert by_column.description == (
        "line chart (x: m): v: 1 -> 2 over a to c (min 1 at a, max 5 at b)"
    )


TWELVE = [5, 1, 4, 6, 3, 7, 2, 8, 6, 9, 7, 10]
"""Twelve values: the min is the 2nd, the max the 12th."""


@pytest.mark.parametrize(
    ("index", "first", "low", "last"),
    [
        ("pd.period_range('2026-01', periods=12, freq='M')", "2026-01", "2026-02", "2026-12"),
        ("pd.period_range('2026Q1', periods=12, freq='Q')", "2026Q1", "2026Q2", "2028Q4"),
        (
            "pd.period_range('2026-12-25', periods=12, freq='D')",
            "2026-12-25",
            "2026-12-26",
            "2027-01-05",
        ),
        ("pd.date_range('2026-01-01', periods=12, freq='MS')", "2026-01", "2026-02", "2026-12"),
        (
            "pd.date_range('2026-01-01 18:00', periods=12, freq='h')",
            "2026-01-01 18:00",
            "2026-01-01 19:00",
            "2026-01-02 05:00",
        ),
    ],
)
def test_a_pandas_time_index_is_named_not_numbered(
    any_sb: Sandbox, index: str, first: str, low: str, last: str
) -> None:
    """pandas plots a period index (and a date index with a regular frequency) at period
    ordinals: a description names the periods, never the ordinals."""
    chart = one_chart(any_sb, f"ax = pd.Series({TWELVE}, index={index}).plot()")
    drawn = run(any_sb, "float(ax.get_lines()[0].get_xydata()[0][0])").result
    periods = f"i = {index}\np = i if isinstance(i, pd.PeriodIndex) else i.to_period()\n"
    assert drawn == run(any_sb, f"{periods}float(p[0].ordinal)").result  # pandas draws ordinals
    assert chart.description == (
        f"line chart: 5 -> 10 over {first} to {last} (min 1 at {low}, max 10 at {last})"
    )
    element = chart.data["elements"][0]
    assert element["x_names"] == {
        "x_min": first,
        "x_max": last,
        "x_at_y_min": low,
        "x_at_y_max": last,
    }


def test_bars_and_series_of_a_period_index_are_named_by_period(any_sb: Sandbox) -> None:
    months = "pd.period_range('2026-01', periods=3, freq='M')"
    bars = one_chart(any_sb, f"ax = pd.Series([5, 1, 4], index={months}).plot.bar()")
    assert bars.description == "bar chart: 2026-01 5, 2026-02 1, 2026-03 4"
    grouped = one_chart(
        any_sb, f"ax = pd.DataFrame({{'a': [5, 1, 4], 'b': [2, 8, 3]}}, index={months}).plot.bar()"
    )
    assert grouped.description == (
        "bar chart: 2026-01 [a] 5, 2026-02 [a] 1, 2026-03 [a] 4, "
        "2026-01 [b] 2, 2026-02 [b] 8, 2026-03 [b] 3"
    )
    two = one_chart(
        any_sb, f"ax = pd.DataFrame({{'a': [5, 1, 4], 'b': [2, 8, 3]}}, index={months}).plot()"
    )
    assert two.description == (
        "line chart: 2 series over 2026-01 to 2026-03; a: 5 -> 4 (min 1 at 2026-02, max 5 at "
        "2026-01); b: 2 -> 3 (min 2 at 2026-01, max 8 at 2026-02)"
    )


def test_a_period_pandas_cannot_name_stays_a_number(any_sb: Sandbox) -> None:
    """Naming a period must never fail the cell or its chart: the plain ordinal remains."""
    run(any_sb, "real_period = pd.Period\ndef no_period(*a, **k):\n    raise ValueError('x')")
    try:
        chart = one_chart(
            any_sb,
            "pd.Period = no_period\n"
            "months = pd.period_range('2026-01', periods=3, freq='M')\n"
            "ax = pd.Series([3, 1, 2], index=months).plot()",
        )
    finally:
        run(any_sb, "pd.Period = real_period")
    assert (
        chart.description == "line chart: 3 -> 2 over x 672 to 674 (min 1 at x=673, max 3 at x=672)"
    )


def test_dates_are_named_in_full_not_at_the_ticks_resolution(any_sb: Sandbox) -> None:
    """matplotlib's date ticks are coarser than the points (months, or hours without the
    year): a point is named by its own date, and its time when it has one."""
    stamps = one_chart(
        any_sb,
        "months = pd.period_range('2026-01', periods=12, freq='M')\n"
        f"fig, ax = plt.subplots()\nax.plot(months.to_timestamp(), {TWELVE})",
    )
    assert stamps.description == (
        "line chart: 5 -> 10 over 2026-01-01 to 2026-12-01 (min 1 at 2026-02-01, "
        "max 10 at 2026-12-01)"
    )
    days = [f"2026-{m:02d}-{d:02d}" for m, d in [(1, 1), (1, 3), (1, 10), (2, 1), (2, 2)]]
    days += [f"2026-{m:02d}-01" for m in range(3, 10)]
    irregular = one_chart(
        any_sb,
        f"ax = pd.Series({TWELVE}, index=pd.to_datetime({days})).plot()\n"
        "ax.figure.canvas.draw()\nticks = [t.get_text() for t in ax.get_xticklabels()]",
    )
    assert "2026-01-03" not in str(run(any_sb, "ticks").result)  # the ticks say 2026-01
    assert irregular.description == (
        "line chart: 5 -> 10 over 2026-01-01 to 2026-09-01 (min 1 at 2026-01-03, "
        "max 10 at 2026-09-01)"
    )
    hours = one_chart(
        any_sb,
        "when = pd.to_datetime(['2026-01-01 10:00', '2026-01-01 13:30', '2026-01-05 08:00'])\n"
        "ax = pd.Series([2, 5, 1], index=when.tz_localize('US/Eastern')).plot()",
    )
    assert hours.description == (  # in the index's time zone, as the ticks show it
        "line chart: 2 -> 1 over 2026-01-01 10:00 to 2026-01-05 08:00 (min 1 at "
        "2026-01-05 08:00, max 5 at 2026-01-01 13:30)"
    )


def test_bars_and_points_on_a_date_axis_are_named_by_date(any_sb: Sandbox) -> None:
    """Bars between two date ticks were named after the nearer tick (a wrong day)."""
    days = "pd.date_range('2026-01-01', periods=12, freq='D')"
    bars = one_chart(
        any_sb,
        f"fig, ax = plt.subplots()\nax.bar({days}, {TWELVE})\n"
        "fig.canvas.draw()\nticks = [t.get_text() for t in ax.get_xticklabels()]",
    )
    assert "2026-01-02" not in str(run(any_sb, "ticks").result)  # a tick every other day
    assert bars.data["x_scale"] == "datetime"
    named = ", ".join(f"2026-01-{d + 1:02d} {v}" for d, v in enumerate(TWELVE))
    assert bars.description == f"bar chart: {named}"
    points = one_chart(any_sb, f"fig, ax = plt.subplots()\nax.scatter({days}, {TWELVE})")
    assert points.description == (
        "scatter chart: 12 points, x 2026-01-01 to 2026-01-12, y 1 to 10, correlation 0.70"
    )


def test_scatter_chart(any_sb: Sandbox) -> None:
    chart = one_chart(
        any_sb, "plt.scatter([1, 2, 3, 4], [2, 4, 6, 8], label='pts')\nplt.title('Linear')"
    )
    assert chart.kind == "scatter" and chart.data["type"] == "scatter"
    [pts] = chart.data["elements"]
    assert pts["points"] == [[1, 2], [2, 4], [3, 6], [4, 8]] and pts["label"] == "pts"
    assert abs(pts["correlation"] - 1.0) < 1e-9
    assert "4 points, x 1 to 4, y 2 to 8, correlation 1.00" in (chart.description or "")


def test_pie_chart(any_sb: Sandbox) -> None:
    chart = one_chart(any_sb, "plt.pie([1, 1, 2], labels=['a', 'b', 'c'])\nplt.title('Share')")
    assert chart.kind == "pie" and chart.data["type"] == "pie"
    assert [(e["label"], round(e["angle"], 6)) for e in chart.data["elements"]] == [
        ("a", 90),
        ("b", 90),
        ("c", 180),
    ]
    assert chart.description == 'pie chart "Share": a 25.0%, b 25.0%, c 50.0%'


def test_histogram(any_sb: Sandbox) -> None:
    chart = one_chart(any_sb, "plt.hist([1, 2, 2, 3, 3, 3, 4, 4, 4, 4], bins=4)\nplt.title('H')")
    assert chart.kind == "histogram" and chart.data["type"] == "bar"
    assert [e["value"] for e in chart.data["elements"]] == [1, 2, 3, 4]
    assert (
        chart.data["elements"][0]["bin_start"] == 1 and chart.data["elements"][-1]["bin_end"] == 4
    )
    assert chart.description == (
        'histogram "H": 10 values in 4 bins over 1 to 4; tallest bin 3.25 to 4 (4)'
    )


def test_box_plot(any_sb: Sandbox) -> None:
    chart = one_chart(
        any_sb, "plt.boxplot([[1, 2, 3, 4, 5, 100], [10, 20, 30]], tick_labels=['a', 'b'])"
    )
    assert chart.kind == "box" and chart.data["type"] == "box_and_whisker"
    a, b = chart.data["elements"]
    assert (a["label"], a["median"], a["outliers"], a["min"], a["max"]) == ("a", 3.5, [100], 1, 5)
    assert (b["label"], b["median"], b["first_quartile"], b["third_quartile"]) == ("b", 20, 15, 25)


def test_image(any_sb: Sandbox) -> None:
    chart = one_chart(any_sb, "plt.imshow(np.zeros((20, 30)))\nplt.title('Img')")
    assert chart.kind == "image" and chart.data["image_shape"] == [20, 30]
    assert chart.description == 'image "Img": 30x20 pixels'


def test_composite(any_sb: Sandbox) -> None:
    chart = one_chart(
        any_sb,
        "fig, (a, b) = plt.subplots(1, 2)\na.bar(['x', 'y'], [1, 2])\nb.plot([0, 1], [5, 6])\n"
        "fig.suptitle('Both')",
    )
    assert (chart.kind, chart.title) == ("composite", "Both")
    assert chart.data["type"] == "composite_chart"
    assert [e["type"] for e in chart.data["elements"]] == ["bar", "line"]
    assert chart.description is not None
    assert chart.description.startswith(
        'composite chart "Both" with 2 panels: [1] bar chart: x 1, y 2'
    )


def test_show_and_display_emit_figures_in_order(any_sb: Sandbox) -> None:
    r = run(
        any_sb,
        "plt.plot([1, 2]); plt.title('first'); plt.show()\n"
        "display('between')\nfig = plt.figure(); plt.bar(['a'], [1]); plt.title('second')\n"
        "display(fig)\nplt.figure(); plt.plot([3, 4]); plt.title('third');",
    )
    assert [c.title for c in r.charts] == ["first", "second", "third"]
    assert [o.chart.title if o.chart else o.text for o in r.outputs] == [
        "first",
        "'between'",
        "second",
        "third",
    ]


# -- budgets ----------------------------------------------------------------------


def test_a_million_row_dataframe_stays_within_the_text_budget(any_sb: Sandbox) -> None:
    r = run(any_sb, "pd.DataFrame({'a': np.arange(1_000_000), 'b': np.linspace(0, 1, 1_000_000)})")
    assert r.result is not None and r.result.startswith("DataFrame: 1000000 rows x 2 columns")
    assert len(r.result) <= tables.TEXT_BUDGET and "999999" in r.result
    html = r.outputs[0].data["text/html"]
    assert isinstance(html, str) and len(html) < 20_000


def test_a_ten_thousand_series_chart_stays_within_budget(any_sb: Sandbox) -> None:
    chart = one_chart(any_sb, "for i in range(10_000):\n    plt.plot([0, 1], [i, i + 1])")
    assert chart.kind == "line"
    assert len(chart.data["elements"]) == charts.MAX_SERIES
    assert chart.data["series_omitted"] == 10_000 - charts.MAX_SERIES
    assert chart.description is not None
    assert len(chart.description) <= chart_words.DESCRIPTION_MAX_CHARS + 60
    assert chart.description.startswith("line chart: 10000 series over x 0 to 1; series 1: 0 -> 1")
    assert chart.description.endswith("... and 9996 more series")


def test_both_backends_return_the_same_outputs(local_sb: Sandbox, daytona_sb: Sandbox) -> None:
    code = (
        "display(pd.Series([1, 2], name='s'))\nplt.bar(['a', 'b'], [3, 4])\nplt.show()\n"
        "class T:\n    def _repr_markdown_(self):\n        return '**t**'\n"
        "    def __repr__(self):\n        return 'T()'\nT()"
    )
    local, remote = run(local_sb, code), run(daytona_sb, code)

    def shape(r: ExecutionResult) -> list[tuple[bool, dict[str, object]]]:
        return [
            (o.is_main_result, {k: v for k, v in o.data.items() if k != "image/png"})
            for o in r.outputs
        ]

    assert shape(local) == shape(remote) and len(local.outputs) == 3
    assert [(c.kind, c.data, c.description) for c in local.charts] == [
        (c.kind, c.data, c.description) for c in remote.charts
    ]


def test_daytona_ships_the_runner_only_when_the_context_lacks_it(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped: list[bool] = []
    build = python.build_call

    def recording(code: str, nonce: str, *, ship: bool = True) -> str:
        shipped.append(ship)
        return build(code, nonce, ship=ship)

    monkeypatch.setattr(python, "build_call", recording)
    with make_backend(emu).create(labels={"suite": "cell-outputs"}) as sb:
        assert sb.run_code("x = 20\nx + 1").result == "21"
        assert sb.run_code("x * 2").result == "40"
        assert shipped == [True, False]
        forget = f"[m for m in sys.modules if m.startswith({python.PACKAGE!r})]"
        sb.run_code(f"import sys\nfor m in {forget}:\n    del sys.modules[m]")
        again = sb.run_code("x + 2")  # the context lost the runner: nothing ran, then it did
        assert again.result == "22" and again.error is None
        assert shipped == [True, False, False, False, True]


def test_chart_data_is_daytonas_chart_shape(local_sb: Sandbox) -> None:
    from daytona.common import charts as sdk

    r = run(
        local_sb,
        "plt.figure(); plt.plot([1, 2], [3, 4])\nplt.figure(); plt.scatter([1], [2])\n"
        "plt.figure(); plt.bar(['a'], [1])\nplt.figure(); plt.hist([1, 2, 2])\n"
        "plt.figure(); plt.pie([1, 2])\nplt.figure(); plt.boxplot([1, 2, 3])\n"
        "fig, (a, b) = plt.subplots(1, 2); a.plot([1, 2]); b.bar(['x'], [2])",
    )
    expected = [
        sdk.LineChart,
        sdk.ScatterChart,
        sdk.BarChart,
        sdk.BarChart,
        sdk.PieChart,
        sdk.BoxAndWhiskerChart,
        sdk.CompositeChart,
    ]
    parsed = [sdk.Chart.model_validate(charts.to_daytona(c.data)) for c in r.charts]
    assert [type(p) for p in parsed] == expected
    assert parsed[2].elements[0].value == "1" and parsed[0].elements[0].points == [[1, 3], [2, 4]]
