"""``inpainterz serve``: the command line that builds and runs the server.

The server is split along its seams: ``loop.py`` owns the socket (reading, auth,
dispatch, the reply guarantee), ``state.py`` what the handlers share, ``ops_video.py``
and ``ops_jobs.py`` the op handlers, ``sessions.py`` sessions and the private work
folder, ``segmenters.py`` the shared segmenters, ``jobs.py`` the job threads,
``workers.py`` the daemon worker threads, ``security.py`` what the server trusts,
and ``protocol.py`` the message schema.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import zmq

from inpainterz_core.errors import InpainterzError

from . import protocol
from .curve import check as check_curve
from .curve import new_keys as new_curve_keys
from .loop import Server
from .security import (
    AllowedRoots,
    ConfigError,
    is_loopback,
    new_key,
    read_connection_file,
    write_connection_file,
)

log = logging.getLogger("inpainterz.server")


# -- command line ---------------------------------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bind",
        metavar="ADDR",
        help="ZeroMQ endpoint to listen on (default: the connection "
        f"file's address, else {protocol.DEFAULT_ADDRESS}); a non-loopback address needs "
        "--connection-file",
    )
    parser.add_argument(
        "--connection-file",
        metavar="F",
        help="JSON file with the HMAC key (mode 0600); "
        "created with a new key if missing. With it, every message must be signed",
    )
    parser.add_argument(
        "--allow-root",
        metavar="DIR",
        action="append",
        default=[],
        help="folder clients may read videos from and write results to (repeatable; "
        "default: your home folder)",
    )
    parser.add_argument(
        "--work-dir",
        metavar="DIR",
        help="the server's private scratch: uploads, and results "
        "unless a client names a folder; each session's part is deleted when it closes "
        "(default: ~/.cache/inpainterz/server)",
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="S",
        type=float,
        default=0.0,
        help="exit after S seconds without requests or running jobs (default: never)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``inpainterz`` CLI's subparsers; it sets ``func=serve_main``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the local GPU server the Blender add-on talks to",
        description="Run the Inpainterz server (protocol: docs/protocol.md).",
    )
    add_serve_arguments(parser)
    parser.set_defaults(func=serve_main)
    return parser


def build_server(args: argparse.Namespace) -> tuple[Server, Path | None]:
    """The bound server and the connection file it created, to delete at exit (None if it reused one)."""
    info = read_connection_file(args.connection_file) if args.connection_file else None
    address = args.bind or (info or {}).get("address") or protocol.DEFAULT_ADDRESS
    key = info["key"] if info else (new_key() if args.connection_file else None)
    if key is None and not is_loopback(address):
        raise ConfigError(
            f"{address} is not a loopback address: give --connection-file F so that every "
            "message is signed with its key"
        )
    curve = (info or {}).get("curve")
    if curve is not None:
        try:
            curve = check_curve(curve)
        except ValueError as e:
            raise ConfigError(f"connection file {args.connection_file}: {e}") from None
    elif key is not None and not is_loopback(address):
        curve = new_curve_keys()  # off loopback, encrypted as well as signed
    work_dir = Path(args.work_dir or Path.home() / ".cache" / "inpainterz" / "server").expanduser().resolve()
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--work-dir {work_dir}: {e.strerror}") from None
    for root in args.allow_root:
        if not Path(root).expanduser().is_dir():
            raise ConfigError(f"--allow-root {root}: not a folder")
    roots = AllowedRoots(args.allow_root or [Path.home()])
    try:
        server = Server(
            address,
            key=key.encode() if key else None,
            roots=roots,
            work_dir=work_dir,
            idle_timeout=args.idle_timeout,
            curve=curve,
        )
    except zmq.ZMQError as e:
        raise ConfigError(f"cannot listen on {address}: {e} (is another server running there?)") from None
    created = None
    if args.connection_file and (
        info is None or info.get("address") != server.address or info.get("curve") != curve
    ):
        # Write (or correct) the address clients will read, e.g. after binding a random port.
        path = Path(args.connection_file)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        write_connection_file(tmp, server.address, key, curve)
        os.replace(tmp, path)  # readers never see a half-written file
        created = path if info is None else None
    return server, created


def serve_main(args: argparse.Namespace) -> int:
    """``inpainterz serve``: run until shutdown, SIGINT/SIGTERM or the idle timeout; the exit code."""
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server, created = build_server(args)
    except (ConfigError, InpainterzError) as e:
        print(f"inpainterz serve: {e}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    log.info(
        "listening on %s (%s); allowed folders: %s",
        server.address,
        "signed messages only" if server.key else "loopback, unsigned",
        ", ".join(str(r) for r in server.roots.roots),
    )
    try:
        server.serve()
    finally:
        if created is not None:
            created.unlink(missing_ok=True)
    stuck = [
        t.name
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t is not threading.main_thread()
    ]
    if stuck:  # e.g. a library's thread blocked in the kernel: shutdown must still end the process
        log.warning("exiting although threads are still running: %s", ", ".join(stuck[:5]))
        logging.shutdown()
        os._exit(0)
    return 0
