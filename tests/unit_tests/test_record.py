"""The value classes on the start-up path behave as the frozen dataclasses they replace."""

from __future__ import annotations

import copy
import pickle

import pytest

from langchain_daytona_exec._record import FrozenRecord
from langchain_daytona_exec.backends.local._isolation import SandboxPaths
from langchain_daytona_exec.netpolicy import HostPattern, NetworkPolicy

PATHS = SandboxPaths("/usr/bin/python3", ("/opt/py",), ("/opt/py/site",))
POLICY = NetworkPolicy("allow", (HostPattern("pypi.org", 443), HostPattern("*.example.com")))
VALUES: list[FrozenRecord] = [HostPattern("pypi.org", 443), POLICY, PATHS]


def test_defaults_and_keywords_are_those_of_the_dataclasses() -> None:
    assert HostPattern("pypi.org").port is None
    assert NetworkPolicy("off") == NetworkPolicy(mode="off", allow=(), label="")
    assert (PATHS.mpl_cache, PATHS.extra_ro) == (None, ())
    assert (
        SandboxPaths(
            python="/usr/bin/python3", prefixes=("/opt/py",), site_packages=("/opt/py/site",)
        )
        == PATHS
    )
    with pytest.raises(TypeError):
        HostPattern()  # type: ignore[call-arg]


def test_repr_is_the_dataclass_repr() -> None:
    assert repr(HostPattern("pypi.org", 443)) == "HostPattern(host='pypi.org', port=443)"
    assert repr(NetworkPolicy("off")) == "NetworkPolicy(mode='off', allow=(), label='')"
    assert repr(PATHS).startswith("SandboxPaths(python='/usr/bin/python3', prefixes=(")


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_compared_and_hashed_by_value(value: FrozenRecord) -> None:
    twin = copy.copy(value)
    assert twin == value and twin is not value
    assert hash(twin) == hash(value)
    assert len({value, twin}) == 1
    assert value != ("pypi.org", 443)  # not a tuple
    assert value.__eq__(object()) is NotImplemented


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_fields_cannot_be_assigned_deleted_or_added(value: FrozenRecord) -> None:
    name = type(value).__slots__[0]
    before = getattr(value, name)
    with pytest.raises(AttributeError, match="frozen"):
        setattr(value, name, "other")
    with pytest.raises(AttributeError, match="frozen"):
        delattr(value, name)
    with pytest.raises(AttributeError):
        value.extra = 1  # type: ignore[attr-defined]
    assert getattr(value, name) == before


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_pickle_and_deepcopy_round_trip(value: FrozenRecord) -> None:
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.deepcopy(value) == value


def test_different_values_differ() -> None:
    assert HostPattern("pypi.org", 443) != HostPattern("pypi.org", 80)
    assert NetworkPolicy("off") != NetworkPolicy("open")
    assert list(dict.fromkeys([HostPattern("a.org"), HostPattern("a.org")])) == [
        HostPattern("a.org")
    ]
