"""Starting a real ``inpainterz serve`` process for the server tests, on a random loopback port.

The server is the installed package ``inpainterz_server`` (``make`` installs the project).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from inpainterz_core.detect.base import Detector

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

from inpainterz_server import client, protocol  # noqa: E402,F401 (the tests import both from here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess; ``log`` holds its stderr (read it when a test fails)."""

    def __init__(self, tmp: Path, *args: str, connection_file: Path | None = None, wait: bool = True):
        self.tmp = tmp
        self.log = tmp / f"server-{time.monotonic_ns()}.log"
        self.connection_file = connection_file
        if connection_file is not None:
            self.address = None  # the server writes its address into the file
            bind = ["--bind", "tcp://127.0.0.1:*", "--connection-file", str(connection_file)]
        else:
            self.address = f"tcp://127.0.0.1:{free_port()}"
            bind = ["--bind", self.address]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        command = [
            sys.executable,
            "-m",
            "inpainterz_server",
            *bind,
            "--work-dir",
            str(tmp / "work"),
            "--log-level",
            "info",
            *args,
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        if wait:
            self.wait_healthy()

    def client(self, **kwargs):
        if self.connection_file is not None:
            return client.Client.from_connection_file(self.connection_file, **kwargs)
        return client.Client(self.address, **kwargs)

    def wait_healthy(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            if self.connection_file is not None:  # the server writes its bound address there
                if not self.connection_file.exists():
                    time.sleep(0.1)
                    continue
                self.address = client.Client.from_connection_file(self.connection_file).address
            with self.client() as c:
                hello = c.health(timeout=0.5)
            if hello is not None:
                return hello
        raise TimeoutError(f"server did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_server(tmp: Path, *args: str, connection_file: Path | None = None):
    server = ServerProcess(tmp, *args, connection_file=connection_file)
    try:
        yield server
    finally:
        server.stop()


def synthetic_clip(folder: Path, frames: int = 6, width: int = 160, height: int = 120) -> Path:
    """A folder of PNGs: a red disc moving over a grey-green texture (what a click should find)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    background = (rng.integers(60, 120, (height, width, 3))).astype(np.uint8)
    background[..., 1] += 40
    for i in range(frames):
        image = background.copy()
        cv2.circle(image, (50 + 4 * i, height // 2), 18, (40, 40, 220), -1)  # BGR red
        cv2.imwrite(str(folder / f"{i:06d}.png"), image)
    return folder


@contextlib.contextmanager
def in_process_server(tmp: Path):
    """A server in this process, serving on a thread named "socket-loop", allowed ``tmp``: for tests that
    replace a backend (monkeypatch it before entering). Yields the ``loop.Server``; its address is
    ``.address``. Send it ``shutdown`` before leaving, or it is stopped here."""
    from inpainterz_server import loop, security

    server = loop.Server(
        "tcp://127.0.0.1:*", key=None, roots=security.AllowedRoots([tmp]), work_dir=tmp / "work"
    )
    thread = threading.Thread(target=server.serve, name="socket-loop", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(15)


class ScriptedDetector(Detector):
    """A detector whose raw output the test sets: a list of Detections, or a function of the image giving
    one; the core's base class checks it as it checks Grounding DINO's. Records what it was asked:
    (image, phrases, box threshold) per call."""

    name = "scripted"

    def __init__(self, raw=()):
        self.raw = raw if callable(raw) else list(raw)
        self.seen = []

    def _detect_raw(self, image, phrases, box_threshold, text_threshold):
        self.seen.append((image.copy(), phrases, box_threshold))
        return self.raw(image) if callable(self.raw) else self.raw
