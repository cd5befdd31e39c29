"""The emulator's API key check: Bearer only, the configured key only, constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import pytest

from langchain_daytona_exec.emulator._http import Guard
from langchain_daytona_exec.emulator._state import Registry


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    yield reg
    reg.close()


def test_configured_key_is_compared_in_constant_time(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    guard = Guard(registry, api_key="s3cret")
    assert guard.authorized({"authorization": "Bearer s3cret"})
    assert not guard.authorized({"authorization": "Bearer s3creT"})
    assert not guard.authorized({"authorization": "Bearer s3cret-and-more"})
    assert calls == [
        (b"s3cret", b"s3cret"),
        (b"s3creT", b"s3cret"),
        (b"s3cret-and-more", b"s3cret"),
    ]


def test_bearer_is_required_and_no_key_accepts_any(registry: Registry) -> None:
    strict, open_ = Guard(registry, api_key="k"), Guard(registry, api_key=None)
    for headers in (
        {},
        {"authorization": "k"},
        {"authorization": "Bearer "},
        {"authorization": "Basic k"},
    ):
        assert not strict.authorized(headers)
        assert not open_.authorized(headers)
    assert open_.authorized({"authorization": "Bearer anything"})
