"""10,000 malformed or random messages: every readable request gets an answer, the server keeps serving,
and its memory stays bounded."""

from __future__ import annotations

import random
import struct
import time

import msgpack
import psutil
import pytest
import zmq
from server_harness import client, protocol, running_server, synthetic_clip

MESSAGES = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    clip = synthetic_clip(tmp / "clip")
    with running_server(tmp, "--allow-root", str(tmp)) as server:
        server.clip = clip
        yield server


def random_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(12 if depth < 3 else 9)
    return [
        lambda: None,
        lambda: rng.random() < 0.5,
        lambda: rng.randint(-(2**63), 2**64 - 1),
        lambda: rng.choice([0, 1, -1, 255, 256, 10**9, protocol.MAX_FRAMES]),
        lambda: rng.uniform(-1e9, 1e9),
        lambda: rng.choice([float("nan"), float("inf"), -0.0]),
        lambda: "x" * rng.choice([0, 1, 65, 5000]),
        lambda: rng.randbytes(rng.randrange(64)),
        lambda: "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(8)),
        lambda: [random_value(rng, depth + 1) for _ in range(rng.randrange(5))],
        lambda: {str(rng.randrange(9)): random_value(rng, depth + 1) for _ in range(rng.randrange(4))},
        lambda: [
            [rng.uniform(-10, 500), rng.uniform(-10, 500), rng.randrange(-1, 3)]
            for _ in range(rng.randrange(4))
        ],
    ][choice]()


def templates(session: str) -> dict[str, dict]:
    """A valid body per op; the fuzzer breaks one field at a time. Nothing here starts a job or closes things."""
    fake = "s" + "0" * 16
    return {
        "hello": {},
        "open_video": {"path": "/nonexistent/clip.mp4"},
        "upload_frames": {"session": session, "start": 0, "frames": [b"\x89PNG\r\n\x1a\n" + b"\x00" * 16]},
        "frame": {"session": session, "frame": 1, "max_side": 32},
        "add_object": {"session": fake},
        "segment": {"session": session, "object_id": 1, "frame": 0, "points": [[50, 60, 1]]},
        "remove_object": {"session": fake, "object_id": 1},
        "track": {"session": fake},
        "inpaint": {"session": fake},
        "cancel": {"job": "j0"},
        "job_status": {"job": "j0"},
        "results": {"session": session},
        "close_video": {"session": fake},
        "shutdown": {"nonsense": 1},  # never a valid shutdown
    }


def fuzz_message(rng: random.Random, n: int, session: str) -> tuple[list[bytes], str | None]:
    """One message and, when the server can read its id, that id (it must answer it)."""
    kind = rng.randrange(8)
    request_id = f"f{n}"
    if kind == 0:  # random bytes
        return [b"", rng.randbytes(rng.randrange(200))], None
    if kind == 1:  # wrong number of frames
        return [rng.randbytes(4) for _ in range(rng.choice([1, 3, 4]))], None
    if kind == 2:  # sizes that would need gigabytes: str32, bin32, array32, map32 headers
        header = rng.choice([b"\xdb", b"\xc6", b"\xdd", b"\xdf"]) + struct.pack(
            ">I", rng.randrange(2**20, 2**32)
        )
        return [b"", header + rng.randbytes(rng.randrange(16))], None
    if kind == 3:  # valid msgpack, not an envelope
        return [b"", msgpack.packb(random_value(rng))], None
    if kind == 4:  # a valid request cut short
        payload = msgpack.packb(protocol.request(request_id, "hello", {}))
        return [b"", payload[: rng.randrange(1, len(payload))]], None
    op, body = rng.choice(list(templates(session).items()))
    if kind == 5:  # envelope fields of the wrong type or version
        envelope = protocol.request(request_id, op, body)
        field = rng.choice(["v", "op", "body"])
        envelope[field] = random_value(rng)
        return [b"", msgpack.packb(envelope)], (request_id if envelope["v"] == 1 or field == "v" else None)
    body = dict(body)
    if body and rng.random() < 0.8:  # one field broken
        body[rng.choice(list(body))] = random_value(rng)
    else:  # an unknown field, or a random op name
        body[rng.choice(["extra", "frame", "points"])] = random_value(rng)
        op = rng.choice([op, "x" * rng.randrange(1, 60), "__init__", "op_hello"])
    return [b"", msgpack.packb(protocol.request(request_id, op, body))], request_id


def test_fuzz_then_hello_and_segment_still_work(server):
    with server.client() as c:
        session = c.open_video(str(server.clip))["session"]
        object_id = c.add_object(session)
        c.segment(session, object_id, 0, [(50, 60, 1)])
    process = psutil.Process(server.process.pid)
    rss_before = process.memory_info().rss

    rng = random.Random(1234)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(server.address)
    pending, answered = set(), 0

    def drain(timeout_ms=0):
        nonlocal answered
        while sock.poll(timeout_ms):
            signature, payload = sock.recv_multipart()
            message = protocol.unpack(payload, trusted=True)
            assert message["kind"] in ("reply", "error")
            if message["id"] is not None:  # None: the answer to an unreadable message
                pending.remove(message["id"])  # exactly one answer per request
                answered += 1
            timeout_ms = 0

    started = time.monotonic()
    try:
        for n in range(MESSAGES):
            frames, request_id = fuzz_message(rng, n, session)
            sock.send_multipart(frames)
            if request_id is not None:
                pending.add(request_id)
            drain()
            # Like any client, keep a bounded number of requests in flight (one that reads nothing
            # gets `busy` past limits.max_unread; see test_server_robustness).
            while len(pending) >= 200:
                drain(100)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            drain(100)
    finally:
        sock.close()
    assert time.monotonic() - started < 45
    assert not pending, f"{len(pending)} readable requests got no answer"
    assert answered > MESSAGES // 4

    # A message over MAXMSGSIZE costs its sender the connection, nothing more.
    big = zmq.Context.instance().socket(zmq.DEALER)
    big.setsockopt(zmq.LINGER, 0)
    big.connect(server.address)
    big.send_multipart([b"", b"\x00" * (protocol.MAX_MESSAGE_BYTES + 1)])
    big.close()

    with server.client() as c:
        assert c.hello()["protocol"] == protocol.VERSION
        mask = c.segment(session, object_id, 0, [(50, 60, 1)])
        assert mask["area"] > 500
        with pytest.raises(client.ServerError) as e:
            c.segment(session, object_id, 10_000, [(50, 60, 1)])
        assert e.value.code == "not_found"
    assert server.process.poll() is None
    assert process.memory_info().rss - rss_before < 64 * 1024**2
