"""Offline image builds: what a Dockerfile becomes, and what is refused by name."""

from __future__ import annotations

import pytest
from daytona import Image

from langchain_daytona_exec.emulator._images import BuildError, parse_dockerfile


def test_declarative_image_becomes_a_recipe() -> None:
    image = (
        Image.debian_slim("3.12")
        .pip_install("pytest")
        .env({"A": "1", "B": "two words"})
        .workdir("/home/daytona/app")
        .run_commands("echo hi > f")
        .entrypoint(["sleep", "infinity"])
    )
    recipe = parse_dockerfile(image.dockerfile())
    assert recipe.base.startswith("python:3.12")
    assert recipe.env == {"A": "1", "B": "two words"}
    assert recipe.workdir == "/home/daytona/app"
    assert recipe.run == ["echo hi > f"]  # debian_slim's apt/pip preparation is satisfied
    assert recipe.entrypoint == "sleep infinity"


def test_old_env_form_and_cmd_when_no_entrypoint() -> None:
    recipe = parse_dockerfile("FROM x\nENV KEY some value\nCMD echo hello\n")
    assert recipe.env == {"KEY": "some value"}
    assert recipe.entrypoint == "echo hello"


@pytest.mark.parametrize(
    ("dockerfile", "named"),
    [
        ("FROM x\nRUN pip install -r requirements.txt\n", "requirement files"),
        ("FROM x\nCOPY a /a\n", "COPY"),
        ("FROM x\nADD a /a\n", "ADD"),
        ("FROM x\nENTRYPOINT [not json\n", "invalid JSON"),
    ],
)
def test_what_cannot_be_built_offline_is_refused_by_name(dockerfile: str, named: str) -> None:
    with pytest.raises(BuildError, match=named):
        parse_dockerfile(dockerfile)
