"""ZeroMQ CURVE encryption, for a server other machines talk to: unreleased footage crosses the network.

Signing (``protocol.sign``) proves a message came from a holder of the key; CURVE also hides it
from anyone on the way. Both sides' keys live in the connection file beside the HMAC key, so one
0600 file, copied to the studio's workstations, carries everything a client needs::

    "curve": {"server_public": Z85, "server_secret": Z85, "client_public": Z85, "client_secret": Z85}

(Z85 text, 40 characters each, as ``zmq.curve_keypair()`` makes them.) The server encrypts with
its secret key and lets only the client key in (ZeroMQ's ZAP handshake); a client encrypts with
the client pair and checks the server's public key. A server bound off loopback with a connection
file always uses CURVE: it adds keys to a file that has none. This module needs only pyzmq, so
the Blender add-on bundles it with ``client.py``.
"""

from __future__ import annotations

import zmq
from zmq.utils import z85

KEYS = ("server_public", "server_secret", "client_public", "client_secret")


def new_keys() -> dict[str, str]:
    """A fresh server key pair and client key pair, as the connection file stores them."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    return {
        "server_public": server_public.decode("ascii"),
        "server_secret": server_secret.decode("ascii"),
        "client_public": client_public.decode("ascii"),
        "client_secret": client_secret.decode("ascii"),
    }


def check(keys) -> dict[str, str]:
    """The connection file's ``curve`` entry, checked; ValueError naming the problem."""
    if not isinstance(keys, dict) or set(keys) != set(KEYS):
        raise ValueError(f"curve must be a map with exactly {', '.join(KEYS)}")
    for name in KEYS:
        value = keys[name]
        if not isinstance(value, str) or len(value) != 40:
            raise ValueError(f"curve.{name} must be a 40-character Z85 key")
        try:
            z85.decode(value)
        except (ValueError, KeyError):
            raise ValueError(f"curve.{name} is not Z85 text") from None
    if zmq.curve_public(keys["server_secret"].encode("ascii")).decode("ascii") != keys["server_public"]:
        raise ValueError("curve.server_public does not belong to curve.server_secret")
    if zmq.curve_public(keys["client_secret"].encode("ascii")).decode("ascii") != keys["client_public"]:
        raise ValueError("curve.client_public does not belong to curve.client_secret")
    return keys


class _ClientKey:
    """ZAP credentials provider: only the connection file's client key gets in."""

    def __init__(self, client_public: str):
        self.key = client_public.encode("ascii")

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.key


def secure_server(context: zmq.Context, socket: zmq.Socket, keys: dict[str, str]):
    """Make `socket` (not bound yet) a CURVE server that admits only the client key; returns the
    ZAP authenticator thread, to ``stop()`` when the server closes."""
    from zmq.auth.thread import ThreadAuthenticator  # pyzmq's, in the server only

    if not zmq.has("curve"):
        raise RuntimeError("this libzmq has no CURVE support")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=_ClientKey(keys["client_public"]))
    socket.curve_secretkey = keys["server_secret"].encode("ascii")
    socket.curve_publickey = keys["server_public"].encode("ascii")
    socket.curve_server = True
    return auth


def secure_client(socket: zmq.Socket, keys: dict[str, str]) -> None:
    """Make `socket` (not connected yet) a CURVE client of the connection file's server."""
    socket.curve_serverkey = keys["server_public"].encode("ascii")
    socket.curve_publickey = keys["client_public"].encode("ascii")
    socket.curve_secretkey = keys["client_secret"].encode("ascii")
