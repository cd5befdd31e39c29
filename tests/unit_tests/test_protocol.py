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
    header = (protocol.MAX_BODY_BYTES + 1).to_bytes(4, "big") + (0).to_bytes(4, "big")
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
