"""The client never blocks on a send: Blender's UI thread calls it, and a refused or absent
server must cost a timeout, not a frozen editor (a CI run once hung 18 minutes in a send)."""

from __future__ import annotations

import threading

import pytest
import zmq
from server_harness import client, free_port, protocol


def _finishes_within(seconds: float, work) -> bool:
    """Run ``work`` on a thread; whether it returned in time (a blocked send never does)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_requests_to_a_server_that_is_not_there_never_block_the_caller():
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens here
    c = client.Client(address)
    sent = []

    def send_many():
        # More than zmq's queue holds (1000 by default): a blocking send stopped at the 1001st.
        for _ in range(1500):
            sent.append(c.send("hello"))
        sent.append(c.health(timeout=0.2))

    # A blocked thread keeps the socket: closing it under a send would abort the test process.
    assert _finishes_within(10.0, send_many), f"blocked after {len(sent)} requests"
    c.close()
    assert sent[-1] is None


def _ids_a_server_gets(c: client.Client, address: str, last: str) -> list[str]:
    """Bind a bare server socket at ``address``; the request ids ``c`` delivers to it, up to ``last``."""
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(address)
    received = []
    try:
        for _ in range(200):
            c.poll(0.05)  # empties the client's outbox as the connection allows
            while router.poll(0, zmq.POLLIN):
                received.append(protocol.unpack(router.recv_multipart()[-1])["id"])
            if received and received[-1] == last:
                break
    finally:
        router.close()
    return received


def test_requests_made_before_the_server_is_up_reach_it_in_order_once_it_is():
    address = f"tcp://127.0.0.1:{free_port()}"
    with client.Client(address) as c:
        ids = [c.send("hello")._request_id for _ in range(3)]
        assert _ids_a_server_gets(c, address, ids[-1]) == ids


def test_a_request_given_up_before_it_left_is_never_sent():
    address = f"tcp://127.0.0.1:{free_port()}"
    with client.Client(address) as c:
        queued = []
        while not c._outbox:  # fill zmq's own queue: what comes next waits in ours
            queued.append(c.send("hello"))
            assert len(queued) < 100_000
        given_up = c.send("hello")
        with pytest.raises(TimeoutError):
            given_up.result(timeout=0.1)
        kept = c.send("hello")
        received = _ids_a_server_gets(c, address, kept._request_id)
        assert given_up._request_id not in received
        assert received == [f._request_id for f in (*queued, kept)]
