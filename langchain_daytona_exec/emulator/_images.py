"""Offline image builds: a Dockerfile (Daytona's declarative ``Image``) becomes a recipe.

Every emulated sandbox runs this machine's Python, so the emulator cannot pull a base
image or reach a package index. It builds what it can offline and refuses the rest by
name, never silently:

* ``FROM``: any base; the sandbox runs the local runtime (its Python and packages).
* ``ENV`` and ``WORKDIR``: applied to the sandbox.
* ``RUN pip install <pkgs> [--index-url URL]``: packages the local runtime already has
  are satisfied; the others are built, like ``LocalBackend(environment=...)`` builds
  them, into a cached read-only package layer (from the index pip is configured with,
  or ``--index-url``) that every sandbox of the image mounts. A failed install fails
  the build with pip's message.
* the preparation lines of ``Image.debian_slim`` (apt-get of the compilers, pip's
  self-upgrade, debconf): already satisfied by the local runtime.
* any other ``RUN``: run in the new sandbox, as its user, before it is handed out; a
  failing step fails the build with its output.
* ``ENTRYPOINT`` (or else ``CMD``): run in the background of each new sandbox as the
  ``entrypoint`` session, as Daytona does.
* ``COPY``/``ADD`` and the rest: refused (they need Daytona's object storage).
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from dataclasses import dataclass, field

from langchain_daytona_exec.environment import Environment

__all__ = ["BuildError", "Recipe", "parse_dockerfile"]

_SATISFIED_RUNS = frozenset(
    {
        "apt-get update",
        "apt-get install -y gcc gfortran build-essential",
        "pip install --upgrade pip",
        "echo 'debconf debconf/frontend select Noninteractive' | debconf-set-selections",
    }
)
"""``Image.debian_slim`` prepares its base with these; the local runtime already has
what they install."""

_PIP = re.compile(r"^(?:python3? -m )?pip3? install\s+(?P<args>.*)$")


class BuildError(ValueError):
    """A Dockerfile step the emulator cannot build offline."""


@dataclass
class Recipe:
    """What an image adds to a sandbox: environment, working folder, setup commands."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    run: list[str] = field(default_factory=list)
    entrypoint: str | None = None
    packages: list[str] = field(default_factory=list)
    index_url: str | None = None

    def environment(self) -> Environment | None:
        """The package layer this recipe needs (``None``: the local runtime suffices)."""
        if not self.packages:
            return None
        return Environment(packages=self.packages, index_url=self.index_url)


def _installed(requirement: str) -> bool:
    name = re.split(r"[<>=!~\[;@ ]", requirement, maxsplit=1)[0].strip()
    if not name:
        return True
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip(args: str, recipe: Recipe) -> None:
    """Record what a ``pip install`` line adds to the recipe's package layer."""
    words = shlex.split(args)
    if any(w.startswith(("-r", "--requirement", "-e", "--editable")) for w in words):
        raise BuildError(
            f"pip install {args}: requirement files and editable installs need "
            "files from the build context, which the emulator cannot receive"
        )
    wanted: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--index-url", "-i") and i + 1 < len(words):
            recipe.index_url = words[i + 1]
            i += 2
            continue
        if word.startswith("--index-url="):
            recipe.index_url = word.split("=", 1)[1]
        elif word.startswith("-"):
            raise BuildError(
                f"pip install option {word} is not supported by the emulator's offline builds"
            )
        else:
            wanted.append(word)
        i += 1
    recipe.packages += [w for w in wanted if not _installed(w)]


def _command_line(rest: str) -> str:
    """A shell command line from ``ENTRYPOINT``/``CMD`` (JSON exec form or shell form)."""
    if rest.startswith("["):
        import json

        try:
            words = json.loads(rest)
        except ValueError as exc:
            raise BuildError(f"invalid JSON command {rest!r}: {exc}") from exc
        return shlex.join(str(w) for w in words)
    return rest


def parse_dockerfile(text: str) -> Recipe:
    """Turn a Dockerfile into a :class:`Recipe`.

    Raises:
        BuildError: A step cannot be built offline (the message names it).
    """
    recipe = Recipe()
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "FROM":
            recipe.base = rest.split()[0] if rest else ""
        elif op == "ENV":
            if "=" in rest.split()[0] if rest else False:
                for item in shlex.split(rest):
                    key, _, value = item.partition("=")
                    recipe.env[key] = value
            elif rest:
                key, _, value = rest.partition(" ")
                recipe.env[key] = value.strip()
        elif op == "WORKDIR":
            recipe.workdir = rest
        elif op == "RUN":
            if rest in _SATISFIED_RUNS:
                continue
            pip = _PIP.match(rest)
            if pip:
                _pip(pip.group("args"), recipe)
                continue
            recipe.run.append(rest)
        elif op in ("ENTRYPOINT", "CMD"):
            if op == "ENTRYPOINT" or recipe.entrypoint is None:
                recipe.entrypoint = _command_line(rest)
        elif op in ("LABEL", "ARG", "EXPOSE"):
            continue  # metadata: nothing to build
        else:
            raise BuildError(
                f"{op} is not supported by the Daytona emulator's offline builds "
                "(it needs Daytona's object storage or a registry)"
            )
    return recipe
