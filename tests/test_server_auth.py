"""Authentication and confinement, on a signed ("non-loopback-style") server that still binds 127.0.0.1."""

from __future__ import annotations

import json
import os

import pytest
import zmq
from inpainterz_server import security
from server_harness import ServerProcess, client, free_port, protocol, running_server, synthetic_clip


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signed")
    (tmp / "root").mkdir()
    clip = synthetic_clip(tmp / "root" / "clip")
    (tmp / "outside").mkdir()
    synthetic_clip(tmp / "outside" / "clip", frames=2)
    with running_server(tmp, "--allow-root", str(tmp / "root"), connection_file=tmp / "conn.json") as server:
        server.clip = clip
        yield server


def raw_socket(address):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    return sock


def replies(sock, timeout_ms):
    got = []
    while sock.poll(timeout_ms):
        got.append(sock.recv_multipart())
        timeout_ms = 100
    return got


def test_connection_file_is_private_and_signed_clients_work(signed):
    assert os.stat(signed.connection_file).st_mode & 0o777 == 0o600
    with signed.client() as c:
        assert c.hello()["auth"] is True


def test_unsigned_and_wrongly_signed_messages_are_dropped_and_logged(signed):
    with client.Client(signed.address) as unsigned:
        assert unsigned.health(timeout=1.0) is None
    with client.Client(signed.address, key=b"0" * 64) as wrong:
        assert wrong.health(timeout=1.0) is None
    with signed.client() as good:  # the server still serves the right key
        assert good.hello()["protocol"] == protocol.VERSION
    assert "missing or wrong signature" in signed.log.read_text()


def signed_request(sock, key, request_id, op, body, channel=None, seq=None):
    frames = protocol.pack(protocol.request(request_id, op, body, channel, seq), key)
    sock.send_multipart(frames)
    return frames


def open_channel(sock, key) -> str:
    signed_request(sock, key, "hello-0", "hello", {})
    ((signature, payload),) = replies(sock, 5000)
    assert protocol.verify(key, payload, signature)  # replies are signed too
    return protocol.unpack(payload, trusted=True)["body"]["channel"]


def test_a_replayed_signed_message_is_answered_once(signed):
    key = client.Client.from_connection_file(signed.connection_file).key
    sock = raw_socket(signed.address)
    try:
        channel = open_channel(sock, key)
        frames = signed_request(sock, key, "replay-1", "job_status", {"job": "j0"}, channel, 1)
        sock.send_multipart(frames)
        got = replies(sock, 5000)
        signed_request(sock, key, "after", "job_status", {"job": "j0"}, channel, 2)  # the next seq is fine
        got += replies(sock, 5000)
    finally:
        sock.close()
    ids = [protocol.unpack(payload, trusted=True)["id"] for _, payload in got]
    assert ids == ["replay-1", "after"]
    assert "dropped a replayed message" in signed.log.read_text()


def test_a_captured_shutdown_is_worthless_to_a_later_server_with_the_same_key(tmp_path):
    conn = tmp_path / "conn.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    security.write_connection_file(conn, address, security.new_key())  # kept by both runs
    first = ServerProcess(tmp_path, "--allow-root", str(tmp_path), "--bind", address, connection_file=conn)
    key = client.Client.from_connection_file(conn).key
    sock = raw_socket(first.address)
    try:
        channel = open_channel(sock, key)
        captured = signed_request(sock, key, "stop-1", "shutdown", {}, channel, 1)
        assert len(replies(sock, 5000)) == 1
        assert first.process.wait(timeout=15) == 0
    finally:
        sock.close()
        first.stop()
    # A later run on the same connection file and address: the captured message, and an old-style
    # signed shutdown without a channel, are refused with `expired`, and the server keeps serving.
    later = ServerProcess(
        tmp_path, "--allow-root", str(tmp_path), "--bind", first.address, connection_file=conn
    )
    try:
        sock = raw_socket(later.address)
        try:
            sock.send_multipart(captured)
            signed_request(sock, key, "stop-2", "shutdown", {})
            got = [protocol.unpack(p, trusted=True) for _, p in replies(sock, 5000)]
        finally:
            sock.close()
        assert sorted((m["id"], m["kind"], m["body"]["code"]) for m in got) == [
            ("stop-1", "error", "expired"),
            ("stop-2", "error", "expired"),
        ]
        assert later.process.poll() is None
        with later.client() as c:
            assert c.hello()["auth"] is True
    finally:
        later.stop()


def test_a_client_says_hello_again_when_its_server_restarted(tmp_path):
    conn = tmp_path / "conn.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    security.write_connection_file(conn, address, security.new_key())
    first = ServerProcess(tmp_path, "--allow-root", str(tmp_path), "--bind", address, connection_file=conn)
    with first.client() as c:
        with pytest.raises(client.ServerError) as e:
            c.job_status("j0")
        assert e.value.code == "not_found"
        first.stop()
        later = ServerProcess(
            tmp_path, "--allow-root", str(tmp_path), "--bind", first.address, connection_file=conn
        )
        try:
            with pytest.raises(client.ServerError) as e:  # refused as `expired`, then resent on a new channel
                c.job_status("j0")
            assert e.value.code == "not_found"
        finally:
            later.stop()


def test_paths_outside_the_allowed_roots_are_refused(signed):
    root = signed.clip.parent
    outside = root.parent / "outside" / "clip"
    (root / "escape").symlink_to(outside)
    with signed.client() as c:
        for path in (str(outside), f"{root}/../outside/clip", str(root / "escape"), "clip", "/etc"):
            with pytest.raises(client.ServerError) as e:
                c.open_video(path)
            assert e.value.code == "path_not_allowed", path
        session = c.open_video(str(signed.clip))["session"]
        c.segment(session, c.add_object(session), 0, [(50, 60, 1)])
        for out_dir in (str(outside.parent / "out"), f"{root}/../out"):
            with pytest.raises(client.ServerError) as e:
                c.track(session, out_dir=out_dir).result(10)
            assert e.value.code == "path_not_allowed"
        with pytest.raises(client.ServerError) as e:
            c.track(session, settings={"ckpt_dir": "/tmp"}).result(10)
        assert e.value.code == "bad_request"
        c.close_video(session)


def test_non_loopback_bind_needs_a_connection_file(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is never a local address: the refusal must come before any bind.
    server = ServerProcess(tmp_path, "--bind", "tcp://192.0.2.1:5557", wait=False)
    server.process.wait(timeout=120)
    assert server.process.returncode == 2
    assert "--connection-file" in server.log.read_text()


def test_a_connection_file_others_can_read_is_refused(tmp_path):
    conn = tmp_path / "conn.json"
    conn.write_text('{"address": "tcp://127.0.0.1:1", "key": "0123456789abcdef0123"}')
    os.chmod(conn, 0o644)
    server = ServerProcess(tmp_path, connection_file=conn, wait=False)
    server.process.wait(timeout=120)
    assert server.process.returncode == 2
    log = server.log.read_text()
    assert "chmod 600" in log and "Traceback" not in log


def test_an_existing_connection_file_keeps_its_key_and_gets_the_bound_address(tmp_path):
    conn = tmp_path / "conn.json"
    security.write_connection_file(conn, "tcp://127.0.0.1:1", "k" * 32)
    with running_server(tmp_path, "--allow-root", str(tmp_path), connection_file=conn) as server:
        info = json.loads(conn.read_text())
        assert info["key"] == "k" * 32 and info["address"] not in ("tcp://127.0.0.1:1", "tcp://127.0.0.1:*")
        with server.client() as c:
            assert c.hello()["auth"] is True
        assert os.stat(conn).st_mode & 0o777 == 0o600
    assert conn.exists()  # the user's file: kept after the server exits
