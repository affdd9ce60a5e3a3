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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
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
    host = address[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
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
        raise ConfigError(
            f"connection file {path} is not a JSON object with a key ({type(e).__name__})"
        ) from None
    if not isinstance(key, str) or len(key) < 16:
        raise ConfigError(f"connection file {path}: the key must be a string of at least 16 characters")
    if info.get("signature_scheme", SIGNATURE_SCHEME) != SIGNATURE_SCHEME:
        raise ConfigError(f"connection file {path}: only signature_scheme {SIGNATURE_SCHEME} is supported")
    return info


def new_key() -> str:
    return secrets.token_hex(32)


def write_connection_file(path: str | os.PathLike, address: str, key: str, curve: dict | None = None) -> None:
    """Create the file with mode 0600 from the start (never world-readable, even for a moment)."""
    info = {"address": address, "key": key, "signature_scheme": SIGNATURE_SCHEME}
    if curve:
        info["curve"] = curve  # CURVE keys (curve.py)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


class ChannelGuard:
    """Replay protection for signed requests: channels issued by this run, each with a growing sequence.

    ``hello`` (the only request that may come without a channel) gets a fresh random
    channel token; every other signed request names its channel and a ``seq`` larger
    than the last one seen on it. A request captured once is refused when sent again
    (its seq is not larger), and by any later server run (which never issued its channel),
    however many requests came in between. Memory is bounded: at most ``unused`` channels
    handed out but never used (a flood of replayed hellos evicts only those) and ``live``
    channels in use; a client whose channel was evicted gets ``expired`` and says hello again.
    """

    def __init__(self, live: int = 4096, unused: int = 256):
        self._live: OrderedDict[str, int] = OrderedDict()  # channel -> last seq
        self._unused: OrderedDict[str, None] = OrderedDict()
        self._limits = (live, unused)

    def issue(self) -> str:
        channel = secrets.token_hex(16)
        self._unused[channel] = None
        if len(self._unused) > self._limits[1]:
            self._unused.popitem(last=False)
        return channel

    def check(self, channel: str, seq: int) -> str:
        """ "ok", "replayed" (seq not above the last one: drop it) or "expired" (not a channel of this run)."""
        if channel in self._unused:
            del self._unused[channel]
            self._live[channel] = 0
            if len(self._live) > self._limits[0]:
                self._live.popitem(last=False)
        last = self._live.get(channel)
        if last is None:
            return "expired"
        if seq <= last:
            return "replayed"
        self._live[channel] = seq
        self._live.move_to_end(channel)
        return "ok"


class RateLimitedLog:
    """Log each kind of message at most once per ``interval`` seconds, with how many were suppressed.

    A flood of bad or failing requests must not turn into a flood of log lines (or tracebacks):
    every message whose count is driven by clients goes through here, keyed by its kind.
    """

    def __init__(self, log, interval: float = 5.0):
        self._log = log
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def _due(self, key: str) -> str | None:
        """The suffix to log with, or None while this key is throttled."""
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        if len(self._last) > 1024:  # keys are op names and fixed strings; this is only a backstop
            self._last.clear()
        self._last[key] = now
        n = self._suppressed.pop(key, 0)
        return f" (and {n} more like it since the last report)" if n else ""

    def warning(self, message: str, key: str | None = None) -> None:
        more = self._due(key or message)
        if more is not None:
            self._log.warning(message + more)

    def info(self, message: str, key: str | None = None) -> None:
        more = self._due(key or message)
        if more is not None:
            self._log.info(message + more)

    def exception(self, message: str, key: str | None = None) -> None:
        """A bug's traceback (call from an except block); repeats within the interval are only counted."""
        more = self._due(key or message)
        if more is not None:
            self._log.exception(message + more)


# -- allowed roots ------------------------------------------------------------------------------------


class AllowedRoots:
    """The folders clients may read videos from and write results to, minus the server's private ones."""

    def __init__(self, roots: list[str | os.PathLike], private: list[str | os.PathLike] = ()):
        self.roots = [Path(os.path.realpath(Path(r).expanduser())) for r in roots]
        self.private = [Path(os.path.realpath(Path(p).expanduser())) for p in private]

    def confine(self, path: str, field: str = "path") -> Path:
        """The resolved path if it lies inside a root; ProtocolError ``path_not_allowed`` otherwise.

        Relative paths are refused (relative to what, on a remote server?), and so
        is any ``..`` component; symlinks are resolved before the check. The server's
        work folder (other sessions' uploads and results) is never reachable, even
        when it lies inside a root. A name no file system can hold is a ``bad_request``.
        """
        if "\x00" in path or not os.path.isabs(path):
            raise ProtocolError("path_not_allowed", f"{path[:200]!r} is not an absolute path")
        if ".." in Path(path).parts:
            raise ProtocolError("path_not_allowed", f"{path[:200]!r} contains '..'")
        too_long = next((p for p in Path(path).parts if len(os.fsencode(p)) > NAME_MAX), None)
        if too_long is not None:
            raise ProtocolError(
                "bad_request", f"{field}: the name {too_long[:40]!r}... is over {NAME_MAX} bytes"
            )
        real = Path(os.path.realpath(path))
        if any(real == p or p in real.parents for p in self.private):
            raise ProtocolError(
                "path_not_allowed", f"{path[:200]} is inside the server's private work folder"
            )
        for root in self.roots:
            if real == root or root in real.parents:
                return real
        raise ProtocolError(
            "path_not_allowed",
            f"{path[:200]} is outside the server's allowed folders "
            "(start the server with --allow-root to add one)",
        )


NAME_MAX = 255  # bytes in one path component, on every common file system


# -- opening client-named files ---------------------------------------------------------------------


def check_openable(path: Path, suffixes: set[str]) -> None:
    """Refuse anything but a regular file, or a folder whose images (by suffix) are all regular files.

    Opening a FIFO, a socket or a device can block forever or never end, so it is
    checked with ``os.stat`` (no open) first; ``open_with_deadline`` covers the rest.
    """
    st = os.stat(path)
    if stat.S_ISREG(st.st_mode):
        return
    if not stat.S_ISDIR(st.st_mode):
        raise ProtocolError("bad_input", f"{path.name} is not a regular file or a folder")
    with os.scandir(path) as entries:
        for entry in entries:
            if os.path.splitext(entry.name)[1].lower() in suffixes:
                try:
                    regular = stat.S_ISREG(entry.stat().st_mode)
                except OSError:
                    regular = False
                if not regular:
                    raise ProtocolError("bad_input", f"{path.name}/{entry.name[:80]} is not a regular file")


class OpenTimeout(Exception):
    pass


def open_with_deadline(opener: Callable[[], object], timeout: float, on_late: Callable[[object], None]):
    """``opener()`` in a daemon thread, waiting at most ``timeout`` seconds.

    A hung open (a file swapped for a FIFO after the check, a dead network mount)
    costs one parked daemon thread, not a worker: the caller gets OpenTimeout, and
    whatever the opener returns later is handed to ``on_late`` (to close it).
    """
    done = threading.Event()
    box: dict = {}
    lock = threading.Lock()

    def run():
        try:
            box["value"] = opener()
        except BaseException as e:  # handed to the caller below
            box["error"] = e
        with lock:
            done.set()
            late = box.get("late")
        if late and "value" in box:
            on_late(box["value"])

    threading.Thread(target=run, name="open", daemon=True).start()
    if not done.wait(timeout):
        with lock:
            if not done.is_set():
                box["late"] = True
                raise OpenTimeout(f"opening took over {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- uploads ----------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, so a small file cannot decompress into a huge image."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ProtocolError("bad_input", "an uploaded frame is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ProtocolError("too_large", f"an uploaded frame is {width}x{height}: at most {MAX_SIDE} a side")
    return width, height
