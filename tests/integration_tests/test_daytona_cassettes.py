"""DaytonaBackend's control-plane HTTP, replayed from cassettes.

The cassettes in ``tests/cassettes/daytona_emulator/`` were RECORDED AGAINST THE
EMULATOR (``langchain_daytona_exec.emulator``), not Daytona's cloud; the
Authorization header is filtered out. CI replays them with ``--record-mode=none``
(no server at all). ``make record`` records them again: against the emulator by
default, or against any Daytona when ``DAYTONA_API_URL`` and ``DAYTONA_API_KEY`` are set.

Only HTTP is recorded (vcrpy cannot record the interpreter websocket), so these
tests exercise lifecycle and lookup: create, find (list + interpreter contexts),
labels, gc and delete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_daytona_exec import DaytonaBackend
from langchain_daytona_exec.backends.daytona import KEY_LABEL, MANAGED_LABEL
from langchain_daytona_exec.emulator import Emulator
from tests.integration_tests.daytona_support import FAST_RETRY

pytestmark = pytest.mark.vcr  # cassettes recorded against the emulator (see above)

REPLAY_URL = "http://127.0.0.1:3986/api"
"""Placeholder API URL while replaying (requests never leave the process)."""


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(Path(__file__).parent.parent / "cassettes" / "daytona_emulator")


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [("authorization", "REDACTED")],
        # hosts and ports differ between recording (random port) and replay
        "match_on": ["method", "path", "query"],
        "decode_compressed_response": True,
    }


@pytest.fixture(autouse=True)
def _plain_dict_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """vcrpy's urllib3 stand-in response exposes headers as an ``HTTPMessage``, which
    the generated clients' pydantic ``ApiResponse`` rejects (it wants a dict)."""
    import daytona_api_client.rest
    import daytona_toolbox_api_client.rest

    for module in (daytona_api_client.rest, daytona_toolbox_api_client.rest):
        monkeypatch.setattr(
            module.RESTResponse,
            "headers",
            property(lambda self: dict(self.response.headers.items())),
        )


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    if request.config.getoption("--record-mode") == "none":
        yield REPLAY_URL, "replay-key"
    elif os.environ.get("DAYTONA_API_URL") and os.environ.get("DAYTONA_API_KEY"):
        yield os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]
    else:
        with Emulator() as emu:
            yield emu.api_url, "recording-key"


def make(api: tuple[str, str]) -> DaytonaBackend:
    url, key = api
    return DaytonaBackend(
        api_key=key,
        api_url=url,
        use_polling=True,
        retry=FAST_RETRY,
        owner="cassette@recorder",
        labels={"suite": "cassette"},
    )


def test_create_find_and_delete(api: tuple[str, str]) -> None:
    backend = make(api)
    sandbox = backend.create(labels={KEY_LABEL: "thread-cassette"})
    try:
        assert sandbox.labels[MANAGED_LABEL] == "true"
        found = backend.find({KEY_LABEL: "thread-cassette", "suite": "cassette"})
        assert found is not None and found.id == sandbox.id
        assert backend.find({KEY_LABEL: "no-such-thread"}) is None
    finally:
        sandbox.close()


def test_gc_lists_and_deletes_idle_sandboxes(api: tuple[str, str]) -> None:
    backend = make(api)
    sandbox = backend.create()
    entries = backend.gc(0, labels={"suite": "cassette"})
    assert [e.id for e in entries] == [sandbox.id] and entries[0].deleted
    sandbox.close()  # already gone: fine
