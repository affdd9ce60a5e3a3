"""The shared schema, signing, bounded decoding, path confinement and the pure-Python RLE decoder."""

from __future__ import annotations

import json
import os
import struct

import msgpack
import numpy as np
import pytest
from inpainterz_server import security
from server_harness import client, protocol

from inpainterz_core.masks import rle_encode

ProtocolError = protocol.ProtocolError


def codes(op, body):
    with pytest.raises(ProtocolError) as e:
        protocol.validate_body(op, body)
    return e.value.code


def test_valid_segment_body_gets_defaults():
    body = protocol.validate_body(
        "segment", {"session": "s1", "object_id": 2, "frame": 0, "points": [[1.5, 2, 1]]}
    )
    assert body == {"session": "s1", "object_id": 2, "frame": 0, "points": [[1.5, 2, 1]], "box": None}


@pytest.mark.parametrize(
    "body",
    [
        {"session": "s1", "object_id": 0, "frame": 0},  # object ids are 1..255
        {"session": "s1", "object_id": 1, "frame": -1},
        {"session": "s1", "object_id": 1, "frame": "0"},
        {"session": "s1", "object_id": True, "frame": 0},  # a bool is not an int here
        {"session": "s1", "object_id": 1, "frame": 0, "points": [[1, float("nan"), 1]]},
        {"session": "s1", "object_id": 1, "frame": 0, "points": [[1]]},
        {"session": "s1", "object_id": 1, "frame": 0, "box": [0, 0, 1]},
        {"session": "s1", "object_id": 1, "frame": 0, "extra": 1},
        {"object_id": 1, "frame": 0},
        [],
    ],
)
def test_bad_bodies_are_bad_requests(body):
    assert codes("segment", body) == "bad_request"


def test_unknown_op():
    assert codes("format_disk", {}) == "unknown_op"


def test_settings_must_be_scalars():
    assert codes("track", {"session": "s", "settings": {"dilate": [1]}}) == "bad_request"
    assert protocol.validate_body("track", {"session": "s", "settings": {"dilate": 4}})["settings"] == {
        "dilate": 4
    }


def test_envelope_errors_keep_the_request_id_when_readable():
    with pytest.raises(ProtocolError) as e:
        protocol.parse_request({"v": 2, "id": "r1", "op": "hello", "body": {}})
    assert (e.value.code, e.value.request_id, e.value.op) == ("unsupported_version", "r1", "hello")
    with pytest.raises(ProtocolError) as e:
        protocol.parse_request({"v": 1, "op": "hello", "body": {}})
    assert (e.value.code, e.value.request_id) == ("bad_message", None)


def test_sign_and_verify():
    payload = msgpack.packb({"a": 1})
    signature = protocol.sign(b"k" * 32, payload)
    assert protocol.verify(b"k" * 32, payload, signature)
    assert not protocol.verify(b"k" * 32, payload + b"x", signature)
    assert not protocol.verify(b"other" * 8, payload, signature)
    assert not protocol.verify(b"k" * 32, payload, b"")
    assert protocol.sign(None, payload) == b""


def test_unpack_bounds_sizes_before_allocating():
    huge_array = b"\xdd" + struct.pack(">I", 2**31)  # an array header claiming 2^31 items, no items
    deep = b"\x91" * 100_000  # nesting far deeper than any request
    for payload in (
        huge_array,
        deep,
        b"\xc1",
        msgpack.packb("x" * 100_000),
        msgpack.packb({"a": 1}) + b"\x00",
    ):
        with pytest.raises(ProtocolError) as e:
            protocol.unpack(payload)
        assert e.value.code == "bad_message"


def test_client_rle_decode_matches_core_encoder():
    rng = np.random.default_rng(1)
    for mask in (rng.random((37, 53)) > 0.6, np.ones((4, 5), bool), np.zeros((3, 3), bool)):
        decoded = client.rle_decode(rle_encode(mask))
        assert decoded == mask.astype(np.uint8).tobytes()
    with pytest.raises(ValueError):
        client.rle_decode({"size": [2, 2], "counts": [1, 2]})


def test_loopback_detection():
    assert security.is_loopback("tcp://127.0.0.1:5557")
    assert security.is_loopback("tcp://localhost:1")
    assert security.is_loopback("tcp://[::1]:1")
    for address in ("tcp://0.0.0.0:1", "tcp://*:1", "tcp://192.168.1.2:1", "tcp://eth0:1", "ipc:///tmp/x"):
        assert not security.is_loopback(address)


def test_paths_are_confined_to_allowed_roots(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "clip.mp4").write_bytes(b"")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"")
    (root / "link.mp4").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path)
    roots = security.AllowedRoots([root])
    assert roots.confine(str(root / "sub" / "clip.mp4")) == (root / "sub" / "clip.mp4").resolve()
    assert (
        roots.confine(str(root / "new" / "out")) == (root / "new" / "out").resolve()
    )  # outputs need not exist
    for bad in (
        str(outside),
        str(root / ".." / "secret.mp4"),
        str(root / "sub" / ".." / "sub" / "clip.mp4"),
        str(root / "link.mp4"),
        str(root / "linkdir" / "secret.mp4"),
        "sub/clip.mp4",
        "/etc/passwd",
        str(root) + "-sibling/x",
    ):
        with pytest.raises(ProtocolError) as e:
            roots.confine(bad)
        assert e.value.code == "path_not_allowed", bad


def test_connection_file_is_created_private_and_refused_when_readable_by_others(tmp_path):
    path = tmp_path / "conn.json"
    security.write_connection_file(path, "tcp://127.0.0.1:5", security.new_key())
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert security.read_connection_file(path)["address"] == "tcp://127.0.0.1:5"
    os.chmod(path, 0o644)
    with pytest.raises(security.ConfigError, match="chmod 600"):
        security.read_connection_file(path)
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps({"key": "short"}))
    os.chmod(weak, 0o600)
    with pytest.raises(security.ConfigError, match="at least 16"):
        security.read_connection_file(weak)
    assert security.read_connection_file(tmp_path / "missing.json") is None


def test_png_size_reads_the_header_only():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", 640, 480)
    assert security.png_size(header) == (640, 480)
    bomb = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", 100_000, 100_000)
    with pytest.raises(ProtocolError) as e:
        security.png_size(bomb)
    assert e.value.code == "too_large"
    with pytest.raises(ProtocolError):
        security.png_size(b"GIF89a" + b"\x00" * 30)


def test_a_channel_refuses_a_replay_however_many_requests_came_between():
    guard = security.ChannelGuard(live=4, unused=2)
    channel = guard.issue()
    assert guard.check(channel, 1) == "ok"
    for seq in range(2, 100_002):  # far more than any signature memory held before
        assert guard.check(channel, seq) == "ok"
    assert guard.check(channel, 1) == "replayed" and guard.check(channel, 100_001) == "replayed"
    assert guard.check("0" * 32, 1) == "expired"  # never issued by this run (e.g. an earlier run's)
    for _ in range(50):  # a flood of hellos evicts only channels nobody used
        guard.issue()
    assert guard.check(channel, 100_002) == "ok"


def test_only_channels_issued_by_this_guard_are_accepted():
    earlier, later = security.ChannelGuard(), security.ChannelGuard()
    channel = earlier.issue()
    assert earlier.check(channel, 1) == "ok"
    assert later.check(channel, 2) == "expired"


def test_signed_envelopes_carry_channel_and_seq_together():
    envelope = protocol.request("r1", "results", {"session": "s"}, "c" * 32, 7)
    parsed = protocol.parse_request(envelope)
    assert (parsed.channel, parsed.seq) == ("c" * 32, 7)
    for channel, seq in (("c", None), (None, 3), ("c", 0), ("c", 1.5), (7, 1)):
        bad = {**protocol.request("r1", "hello", {}), "channel": channel, "seq": seq}
        with pytest.raises(ProtocolError) as e:
            protocol.parse_request(bad)
        assert e.value.code == "bad_message"
