"""Helpers for testing agents and tools built on langchain-daytona-exec.

As httpx ships ``MockTransport``, this package ships what our own tests use:

* :class:`InMemoryBackend` / :class:`InMemorySandbox`: the ``Sandbox`` contract in
  memory, for unit tests without bubblewrap, Docker or Daytona. **In-process, trusted
  code only:** ``run_code`` runs Python with ``exec`` inside the test process; never
  give it code a model wrote.
* :class:`ScriptedChatModel` and :func:`ai_step`: a chat model that plays scripted
  messages (tool calls included), so an agent's graph runs for real without an LLM.
* A pytest plugin (:mod:`langchain_daytona_exec.testing.pytest_plugin`) with the
  fixtures ``daytona_emulator`` (the Daytona API emulator, one per test session) and
  ``daytona_backend`` (a ``DaytonaBackend`` pointed at it). Enable it in a
  ``conftest.py``::

      pytest_plugins = ["langchain_daytona_exec.testing.pytest_plugin"]

Names are imported on first use: ``InMemoryBackend`` needs no LangChain, and the
plugin needs the ``[daytona]`` and ``[emulator]`` extras only when its fixtures run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_daytona_exec.testing._memory import InMemoryBackend, InMemorySandbox
    from langchain_daytona_exec.testing._scripted import ScriptedChatModel, ScriptStep, ai_step

_EXPORTS: dict[str, str] = {
    "InMemoryBackend": "langchain_daytona_exec.testing._memory",
    "InMemorySandbox": "langchain_daytona_exec.testing._memory",
    "ScriptStep": "langchain_daytona_exec.testing._scripted",
    "ScriptedChatModel": "langchain_daytona_exec.testing._scripted",
    "ai_step": "langchain_daytona_exec.testing._scripted",
}
"""Each public name and its module (the scripted model imports langchain_core)."""

__all__ = ["InMemoryBackend", "InMemorySandbox", "ScriptStep", "ScriptedChatModel", "ai_step"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
