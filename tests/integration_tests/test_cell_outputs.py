"""One cell runner, two backends: the same bytes run, and the same cell gives the same result.

Every test here runs on the local backend and on the Daytona backend (real SDK against
the emulator), through the ``any_sb`` fixture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec import LocalBackend, LocalLimits
from langchain_daytona_exec.backends.daytona import _python
from langchain_daytona_exec.backends.local import isolation
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
        f"pkg = sys.modules[{_python.PACKAGE!r}]\n"
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
