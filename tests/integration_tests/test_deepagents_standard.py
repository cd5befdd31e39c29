"""LangChain's standard sandbox suite (``SandboxIntegrationTests``) on our backends.

The suite (langchain-tests 1.1.9) was written against deepagents 0.6. Deep Agents 0.7
changed two behaviours of its ``BaseSandbox``, which our adapter inherits on purpose
(the agent's tools then behave as the installed deepagents documents):

* ``write`` creates *or overwrites* (0.6 refused to overwrite);
* ``glob`` returns absolute paths of regular files only (0.6 returned paths relative
  to the search root, folders included). Absolute paths are what 0.7's permission
  rules match against, so returning relative ones would bypass them.

The tests that check the 0.6 behaviour are strict xfails on 0.7 only, so they start
failing loudly if either side changes.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

pytest.importorskip("deepagents")

import deepagents.backends.sandbox as _base_sandbox
from deepagents.backends.protocol import SandboxBackendProtocol
from langchain_tests.integration_tests import SandboxIntegrationTests
from packaging.version import Version

from langchain_daytona_exec import DaytonaBackend, LocalBackend, LocalLimits
from langchain_daytona_exec.deepagents import DeepAgentsSandbox
from langchain_daytona_exec.emulator import Emulator

# The suite's own class-scoped `sandbox_backend` fixture is an instance method,
# which pytest 9 deprecates; nothing here can change that.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")

_deepagents_version = Version(importlib.metadata.version("deepagents"))

_WRITE_OVERWRITES = pytest.mark.xfail(
    _deepagents_version >= Version("0.7.0"),
    reason=(
        "deepagents>=0.7 BaseSandbox.write() creates or overwrites by design; "
        "langchain-tests 1.1.9 still expects 0.6's refusal to overwrite"
    ),
    strict=True,
)

_GLOB_ABSOLUTE = pytest.mark.xfail(
    hasattr(_base_sandbox, "_absolutize_glob_path"),
    reason=(
        "deepagents>=0.7 BaseSandbox.glob() returns absolute paths of regular files "
        "only; langchain-tests 1.1.9 still expects 0.6's relative paths with folders"
    ),
    strict=True,
)


class _Deepagents07Marks(SandboxIntegrationTests):
    """The suite, with the deepagents 0.7 behaviour changes marked (see module doc)."""

    @_WRITE_OVERWRITES
    def test_write_existing_file_fails(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_write_existing_file_fails(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob(self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str) -> None:
        super().test_glob(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob_basic_pattern(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_glob_basic_pattern(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob_with_directories(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_glob_with_directories(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob_hidden_files_explicitly(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_glob_hidden_files_explicitly(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob_with_character_class(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_glob_with_character_class(sandbox_backend, sandbox_test_root)

    @_GLOB_ABSOLUTE
    def test_glob_with_question_mark(
        self, sandbox_backend: SandboxBackendProtocol, sandbox_test_root: str
    ) -> None:
        super().test_glob_with_question_mark(sandbox_backend, sandbox_test_root)


class TestLocalDeepAgentsSandbox(_Deepagents07Marks):
    """The whole suite on one local (bubblewrap) sandbox."""

    @pytest.fixture(scope="class")
    @classmethod
    def sandbox(cls) -> Iterator[SandboxBackendProtocol]:
        backend = LocalBackend(limits=LocalLimits(timeout_s=60, grace_s=1.0))
        with DeepAgentsSandbox(backend.create()) as sandbox:
            yield sandbox


class TestDaytonaDeepAgentsSandbox(_Deepagents07Marks):
    """The whole suite on DaytonaBackend (the real SDK) against the local emulator."""

    @pytest.fixture(scope="class")
    @classmethod
    def sandbox(cls) -> Iterator[SandboxBackendProtocol]:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DAYTONA_USE_DEPRECATED_POLLING", "true")  # no Socket.IO stream
            with Emulator(limits=LocalLimits(timeout_s=60, grace_s=1.0)) as emulator:
                backend = DaytonaBackend(api_key="test", api_url=emulator.api_url)
                with DeepAgentsSandbox(backend.create()) as sandbox:
                    yield sandbox
