"""What the server trusts: which addresses need a key, which folders it may touch, which uploads it decodes.

- Loopback binds may run without a key; any other address needs a connection file
  (JSON with an HMAC key, mode 0600: the Jupyter kernel convention).
- Paths from clients are confined to allowed root folders, after resolving ``..``
  and symlinks, so a client cannot read or write outside them.
- Uploaded PNGs are checked from their header before anything decompresses them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
import struct
import time
from collections import deque
from pathlib import Path

from .protocol import MAX_SIDE, ProtocolError

SIGNATURE_SCHEME = "hmac-sha256"


class ConfigError(Exception):
    """A server start-up problem the user fixes on the command line (one line, no traceback)."""


# -- addresses ------------------------------------------------------------------------------------


def is_loopback(address: str) -> bool:
    """Whether a ZeroMQ tcp:// endpoint is reachable only from this machine."""
    if not address.startswith("tcp://"):
        return False
    host = address[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or an interface name such as eth0 or *
        return False


# -- connection files ------------------------------------------------------------------------------


def read_connection_file(path: str | os.PathLike) -> dict | None:
    """The connection file's contents, or None if there is none; refuses one that others could read."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if os.name == "posix" and (stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid()):
        raise ConfigError(f"connection file {path} must be yours and readable only by you: chmod 600 {path}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        key = info["key"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"connection file {path} is not a JSON object with a key ({type(e).__name__})") from None
    if not isinstance(key, str) or len(key) < 16:
        raise ConfigError(f"connection file {path}: the key must be a string of at least 16 characters")
    if info.get("signature_scheme", SIGNATURE_SCHEME) != SIGNATURE_SCHEME:
        raise ConfigError(f"connection file {path}: only signature_scheme {SIGNATURE_SCHEME} is supported")
    return info


def new_key() -> str:
    return secrets.token_hex(32)


def write_connection_file(path: str | os.PathLike, address: str, key: str) -> None:
    """Create the file with mode 0600 from the start (never world-readable, even for a moment)."""
    info = {"address": address, "key": key, "signature_scheme": SIGNATURE_SCHEME}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


class ReplayGuard:
    """Remembers recent signatures, so a captured signed message cannot be sent again."""

    def __init__(self, size: int = 65536):
        self._order: deque[bytes] = deque()
        self._seen: set[bytes] = set()
        self._size = size

    def first_time(self, signature: bytes) -> bool:
        if signature in self._seen:
            return False
        self._seen.add(signature)
        self._order.append(signature)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True


class RateLimitedLog:
    """Log a repeated warning at most once per ``interval`` seconds, with how many were suppressed.

    A flood of bad messages must not turn into a flood of log lines.
    """

    def __init__(self, log, interval: float = 5.0):
        self._log = log
        self._interval = interval
        self._last = -float("inf")
        self._suppressed = 0

    def warning(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        more = f" (and {self._suppressed} more since the last report)" if self._suppressed else ""
        self._log.warning(message + more)
        self._last, self._suppressed = now, 0


# -- allowed roots ------------------------------------------------------------------------------------


class AllowedRoots:
    """The folders clients may read videos from and write results to."""

    def __init__(self, roots: list[str | os.PathLike]):
        self.roots = [Path(os.path.realpath(Path(r).expanduser())) for r in roots]

    def confine(self, path: str) -> Path:
        """The resolved path if it lies inside a root; ProtocolError ``path_not_allowed`` otherwise.

        Relative paths are refused (relative to what, on a remote server?), and so
        is any ``..`` component; symlinks are resolved before the check.
        """
        if "\x00" in path or not os.path.isabs(path):
            raise ProtocolError("path_not_allowed", f"{path[:200]!r} is not an absolute path")
        if ".." in Path(path).parts:
            raise ProtocolError("path_not_allowed", f"{path[:200]!r} contains '..'")
        real = Path(os.path.realpath(path))
        for root in self.roots:
            if real == root or root in real.parents:
                return real
        raise ProtocolError("path_not_allowed", f"{path[:200]} is outside the server's allowed folders "
                            "(start the server with --allow-root to add one)")


# -- uploads ----------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, so a small file cannot decompress into a huge image."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ProtocolError("bad_input", "an uploaded frame is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ProtocolError("too_large", f"an uploaded frame is {width}x{height}: at most {MAX_SIDE} a side")
    return width, height
