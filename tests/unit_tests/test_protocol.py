from __future__ import annotations

import json
import os

import pytest

from langchain_daytona_exec.backends.local import protocol


def test_request_round_trip_through_a_pipe() -> None:
    r, w = os.pipe()
    try:
        msg = {"op": "write", "path": "a/b.txt", "timeout": 1.5, "env": {"A": "1"}}
        protocol.write_all(w, protocol.encode_request(msg, b"\x00\xffdata"))
        got, blob = protocol.read_request(r)
    finally:
        os.close(r)
        os.close(w)
    assert got == msg
    assert blob == b"\x00\xffdata"


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, False], "b": {"c": "d"}},
        {"text": 'quote " backslash \\ newline \n tab \t é 漢字 \x00'},
        {"surrogate": "\udcff"},
        {"big": 2**70, "neg": -3, "float": 1e-300},
    ],
)
def test_dumps_json_matches_the_json_module(value: dict[str, object]) -> None:
    assert json.loads(protocol.dumps_json(value)) == json.loads(json.dumps(value))


def test_dumps_json_maps_non_finite_floats_to_null() -> None:
    assert protocol.dumps_json([float("nan"), float("inf")]) == "[null,null]"


def test_dumps_json_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        protocol.dumps_json({"x": object()})


def test_response_body_decodes_on_the_host() -> None:
    frame = protocol.encode_response({"ok": True, "n": 3}, b"blob")
    body_len, blob_len = protocol.parse_header(frame[: protocol.HEADER_SIZE])
    body = frame[protocol.HEADER_SIZE : protocol.HEADER_SIZE + body_len]
    assert protocol.decode_response(body) == {"ok": True, "n": 3}
    assert frame[protocol.HEADER_SIZE + body_len :] == b"blob"
    assert blob_len == 4


def test_oversized_header_is_rejected() -> None:
    header = (protocol.MAX_REQUEST_BYTES + 1).to_bytes(4, "big") + (0).to_bytes(4, "big")
    with pytest.raises(protocol.FrameError, match="oversized"):
        protocol.parse_header(header)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_invalid_response_bodies_are_frame_errors(body: bytes) -> None:
    with pytest.raises(protocol.FrameError):
        protocol.decode_response(body)


def test_eof_in_the_middle_of_a_frame_is_a_frame_error() -> None:
    r, w = os.pipe()
    frame = protocol.encode_request({"op": "ping"})
    os.write(w, frame[:-2])
    os.close(w)
    try:
        with pytest.raises(protocol.FrameError, match="closed"):
            protocol.read_request(r)
    finally:
        os.close(r)


def test_a_reply_is_fitted_to_the_cap_with_notices() -> None:
    msg = {
        "stdout": "a" * 100_000,
        "stderr": "\x01" * 50_000,
        "charts": [{"png": "x" * 20_000}] * 3,
        "id": 7,
    }
    frame = protocol.encode_response(msg, b"", 60_000)
    body_len, _ = protocol.parse_header(frame[: protocol.HEADER_SIZE])
    assert body_len <= 60_000
    got = protocol.decode_response(frame[protocol.HEADER_SIZE :])
    assert got["id"] == 7 and got["charts"] == []
    assert "3 image(s) dropped" in got["stderr"]
    assert "characters cut: the reply was over its size limit" in got["stdout"]
    assert got["stdout"].startswith("aaa") and got["stdout"].endswith("aaa")
    assert msg["stdout"] == "a" * 100_000  # the original is untouched


def test_a_reply_that_fits_is_unchanged() -> None:
    msg = {"stdout": "x" * 1000, "id": 1}
    assert protocol.encode_response(msg, b"", 2000) == protocol.encode_response(msg)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"[" + b"{}," * protocol.MAX_REPLY_VALUES + b"{}]", "more than"),
        (b"[" * 100 + b"]" * 100, "nested deeper"),
        (b'{"a": NaN}', "not JSON"),
        (b'{"a": ' + b"1" * 100 + b"}", "character number"),
        ('{"a": "\u00e9"}'.encode(), "not ASCII"),
    ],
)
def test_hostile_reply_bodies_are_refused_at_a_bounded_cost(body: bytes, match: str) -> None:
    with pytest.raises(protocol.FrameError, match=match):
        protocol.decode_response(body)


def test_a_legitimate_listing_fits_the_value_limit() -> None:
    entries = [
        {"name": f"f{i}", "path": f"d/f{i}", "is_dir": False, "size": i, "mtime": 1.5}
        for i in range(10_000)
    ]
    body = protocol.dumps_json({"entries": entries, "truncated": False, "id": 3}).encode()
    assert len(protocol.decode_response(body)["entries"]) == 10_000


def test_fitting_drops_display_images_whole_and_never_cuts_base64() -> None:
    png = "iVBORw0KGgo" + "A" * 40_000
    msg = {
        "stdout": "s" * 10_000,
        "stderr": "",
        "outputs": [{"data": {"text/plain": f"fig {i}", "image/png": png}} for i in range(4)],
        "charts": [],
        "id": 2,
    }
    got = protocol.decode_response(protocol.encode_response(msg, b"", 60_000)[8:])
    kept = [o["data"].get("image/png") for o in got["outputs"]]
    assert all(p in (None, png) for p in kept) and None in kept
    assert [o["data"]["text/plain"] for o in got["outputs"]] == [f"fig {i}" for i in range(4)]
    assert "image(s) dropped" in got["stderr"]


def test_a_reply_with_too_many_values_is_shortened_to_what_the_host_accepts() -> None:
    msg = {"stdout": "", "stderr": "", "outputs": [{"data": {"t": "x"}}] * 60_000, "id": 4}
    frame = protocol.encode_response(msg, b"", protocol.max_reply_body(1 << 20))
    got = protocol.decode_response(frame[8:])  # would raise "more than ... values"
    assert 0 < len(got["outputs"]) < 60_000
    assert "item(s) dropped" in got["stderr"]
