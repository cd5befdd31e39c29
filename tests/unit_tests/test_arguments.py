"""Argument checks at the API edge: wrong values fail before anything is sent."""

from __future__ import annotations

import math

import pytest

from langchain_daytona_exec.errors import UnsupportedLanguageError
from langchain_daytona_exec.sandbox import (
    LANGUAGES,
    MAX_TIMEOUT_S,
    check_command_args,
    check_content,
    check_path,
    check_run_args,
    check_timeout,
)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, 0.0, -1, -1e-9])
def test_non_finite_or_non_positive_timeouts_are_value_errors(value: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        check_timeout(value)


@pytest.mark.parametrize("value", ["5", True, [1], b"1"])
def test_non_numbers_are_type_errors(value: object) -> None:
    with pytest.raises(TypeError, match="timeout"):
        check_timeout(value)


@pytest.mark.parametrize("value", [2.15e6, 1e300, 10**400, MAX_TIMEOUT_S + 1])
def test_huge_timeouts_are_clamped_to_the_one_maximum(value: float) -> None:
    assert check_timeout(value) == MAX_TIMEOUT_S


def test_ordinary_timeouts_pass_as_floats() -> None:
    assert check_timeout(None) is None
    assert check_timeout(3) == 3.0 and isinstance(check_timeout(3), float)
    assert check_timeout(0.5) == 0.5


def test_run_arguments_name_the_bad_one() -> None:
    with pytest.raises(TypeError, match="code"):
        check_run_args(None, "python", None)
    with pytest.raises(TypeError, match="language"):
        check_run_args("1", 3, None)
    with pytest.raises(ValueError, match="timeout"):
        check_run_args("1", "python", math.inf)
    assert check_run_args("1", "python", 2) == 2.0


def test_run_arguments_refuse_a_language_no_backend_runs() -> None:
    with pytest.raises(UnsupportedLanguageError, match="use one of python, javascript"):
        check_run_args("1", "cobol", None)
    with pytest.raises(ValueError, match="timeout"):  # a bad timeout is named first
        check_run_args("1", "cobol", math.inf)
    assert [check_run_args("1", lang, None) for lang in LANGUAGES] == [None] * len(LANGUAGES)


def test_command_arguments_name_the_bad_one() -> None:
    with pytest.raises(TypeError, match="command"):
        check_command_args(["ls"], None, None, None)
    with pytest.raises(TypeError, match="cwd"):
        check_command_args("ls", 3, None, None)
    with pytest.raises(TypeError, match="env"):
        check_command_args("ls", None, ["A=1"], None)
    with pytest.raises(TypeError, match="env"):
        check_command_args("ls", None, {"A": 1}, None)
    with pytest.raises(ValueError, match="env name"):
        check_command_args("ls", None, {"A=B": "1"}, None)
    with pytest.raises(ValueError, match="NUL"):
        check_command_args("ls\0", None, None, None)


def test_paths_and_contents() -> None:
    assert check_path("a/b") == "a/b"
    with pytest.raises(TypeError, match="path"):
        check_path(None)
    with pytest.raises(ValueError, match="NUL"):
        check_path("a\0b")
    assert check_content("é") == "é".encode()
    assert check_content(bytearray(b"ab")) == b"ab"
    with pytest.raises(TypeError, match="content"):
        check_content(5)


@pytest.mark.parametrize("field", ["timeout_s", "start_timeout_s", "file_op_timeout_s"])
@pytest.mark.parametrize("value", [math.inf, math.nan, 0, -1])
def test_local_limits_refuse_bad_timeouts(field: str, value: float) -> None:
    from langchain_daytona_exec import LocalLimits

    with pytest.raises(ValueError, match=f"LocalLimits.{field}"):
        LocalLimits(**{field: value})


def test_local_limits_clamp_huge_timeouts_and_allow_no_grace() -> None:
    from langchain_daytona_exec import LocalLimits

    assert LocalLimits(timeout_s=1e12).timeout_s == MAX_TIMEOUT_S
    assert LocalLimits(grace_s=0).grace_s == 0
    with pytest.raises(ValueError, match="grace_s"):
        LocalLimits(grace_s=math.nan)


@pytest.mark.parametrize("field", ["timeout", "create_timeout", "file_timeout"])
def test_daytona_backend_refuses_bad_timeouts(field: str) -> None:
    pytest.importorskip("daytona")
    from langchain_daytona_exec import DaytonaBackend

    with pytest.raises(ValueError, match=field):
        DaytonaBackend(api_key="k", api_url="http://127.0.0.1:9/api", **{field: math.inf})
    backend = DaytonaBackend(api_key="k", api_url="http://127.0.0.1:9/api", **{field: 1e12})
    assert getattr(backend, field) == MAX_TIMEOUT_S
