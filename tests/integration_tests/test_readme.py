"""Every code block of the README runs as written, and the README stays short.

A block runs unless the line before it is ``<!-- not run: REASON -->``; a block after
``<!-- run with: emulator ... -->`` runs with the Daytona variables pointing at the
offline emulator, as its text says to set them. Python blocks run in a fresh
interpreter, bash blocks with ``bash -e``, both in a temporary folder holding the
repository's ``examples/`` (so paths are the README's), with no model key set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

README_MAX_LINES = 277
README_MAX_CHARS = 15357
"""The README's size when it was last cut down (issue 11): it may shrink, not grow."""

_BLOCK = re.compile(
    r"(?:<!-- (?P<directive>[^\n]*?) -->\n)?```(?P<lang>python|bash)\n(?P<code>.*?)^```",
    re.S | re.M,
)


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    code: str
    directive: str | None

    @property
    def label(self) -> str:
        first = next((ln for ln in self.code.splitlines() if ln.strip()), "")
        return f"L{self.line}-{self.lang}-{first[:40]}"


def blocks() -> list[Block]:
    text = README.read_text()
    return [
        Block(text.count("\n", 0, m.start()) + 1, m["lang"], m["code"], m["directive"])
        for m in _BLOCK.finditer(text)
    ]


@pytest.fixture(scope="module")
def emulator_env() -> Iterator[dict[str, str]]:
    from langchain_daytona_exec.emulator import Emulator

    with Emulator() as emu:
        yield {
            "DAYTONA_API_KEY": "any",
            "DAYTONA_API_URL": emu.api_url,
            "DAYTONA_USE_DEPRECATED_POLLING": "true",
        }


def test_readme_is_not_longer_than_before() -> None:
    text = README.read_text()
    assert text.count("\n") <= README_MAX_LINES
    assert len(text) <= README_MAX_CHARS


def test_every_block_is_run_or_says_why_not() -> None:
    found = blocks()
    assert len(found) >= 10
    for block in found:
        if block.directive is not None:
            assert re.fullmatch(r"not run: .{10,}|run with: emulator.*", block.directive), block


@pytest.mark.parametrize("block", blocks(), ids=lambda b: b.label)
def test_readme_block_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if block.directive and block.directive.startswith("not run:"):
        pytest.skip(block.directive)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DAYTONA_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DAYTONA_EXEC_THREADS_DB"] = str(tmp_path / "threads.sqlite")
    if block.directive and block.directive.startswith("run with: emulator"):
        env.update(request.getfixturevalue("emulator_env"))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    if block.lang == "python":
        (tmp_path / "block.py").write_text(block.code)
        argv = [sys.executable, "block.py"]
    else:
        argv = ["bash", "-e", "-c", block.code]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"README line {block.line}:\n{proc.stdout}\n{proc.stderr}"
