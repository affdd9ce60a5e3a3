"""CURVE encryption (server/curve.py): off loopback the server encrypts as well as signs, with keys from
its connection file, and talks only to clients that hold them."""

from __future__ import annotations

import json
import os

import pytest
import zmq
from inpainterz_server import curve
from server_harness import client, running_server


def test_off_loopback_the_connection_file_gets_curve_keys_and_only_their_holders_are_answered(tmp_path):
    conn = tmp_path / "conn.json"
    with running_server(tmp_path, "--bind", "tcp://0.0.0.0:*", connection_file=conn) as server:
        info = json.loads(conn.read_text())
        assert curve.check(info["curve"]) == info["curve"]
        assert os.stat(conn).st_mode & 0o777 == 0o600
        with server.client() as c:
            assert c.hello()["auth"] is True
        with client.Client(info["address"], info["key"].encode()) as plain:  # signed but not encrypted
            assert plain.health(timeout=1.0) is None
        stranger = {
            **info["curve"],
            **dict(
                zip(
                    ("client_public", "client_secret"), (k.decode() for k in zmq.curve_keypair()), strict=True
                )
            ),
        }
        with client.Client(
            info["address"], info["key"].encode(), curve=stranger
        ) as other:  # not the file's client
            assert other.health(timeout=1.0) is None
        with server.client() as c:  # still serving its own clients
            assert c.hello()["auth"] is True


def test_a_loopback_server_with_curve_keys_uses_them(tmp_path):
    conn = tmp_path / "conn.json"
    keys = curve.new_keys()
    fd = os.open(conn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"address": "tcp://127.0.0.1:0", "key": "k" * 32, "curve": keys}, f)
    with running_server(tmp_path, connection_file=conn) as server:
        assert json.loads(conn.read_text())["curve"] == keys  # kept as they were
        with server.client() as c:
            assert c.hello()["protocol"] == 1
        with client.Client(server.address, b"k" * 32) as plain:
            assert plain.health(timeout=1.0) is None


def test_bad_curve_keys_are_one_line():
    keys = curve.new_keys()
    with pytest.raises(ValueError, match="exactly"):
        curve.check({**keys, "extra": "x"})
    with pytest.raises(ValueError, match="40-character"):
        curve.check({**keys, "server_secret": "short"})
    with pytest.raises(ValueError, match="does not belong"):
        curve.check({**keys, "client_public": curve.new_keys()["client_public"]})
