"""Argument checks at the API edge: wrong values fail before anything is sent."""

from __future__ import annotations

import math

import pytest

from langchain_daytona_exec.sandbox import (
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
