"""The server's latency budget, measured through the real client against a real server process.

- ``hello`` round trip on loopback: median of 1000 (budget 2 ms).
- A ``segment`` click on an opened 1080p frame whose embedding is cached (budget 100 ms):
  the frame is previewed first, which computes the embedding in the background, as the
  add-on does; the clicks that follow are timed (median of 20, at different points).
  The same clicks are also timed on the segmenter alone, in this process, so the
  server's own share (transport, RLE, msgpack) is reported apart from the segmenter's.

The clip is synthetic (a textured background with a few coloured shapes), so the bench
needs nothing from ``../shared``. Run alone with ``python -m bench.bench_server``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from inpainterz_server import client

from inpainterz_core.backends import make_segmenter
from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
BUDGET = {"hello_rtt_ms": 2.0, "segment_ms": 100.0}


def _clip_1080p(folder: Path, frames: int = 2) -> list[tuple[int, int]]:
    """Write the frames; return click points on its shapes."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(40, 200, (1080, 1920, 3), dtype=np.uint8), (0, 0), 3)
    shapes = [((400, 500), (255, 40, 40)), ((960, 300), (40, 200, 40)), ((1500, 700), (40, 40, 230))]
    for (x, y), colour in shapes:
        cv2.ellipse(image, (x, y), (120, 70), 20, 0, 360, colour, -1)
    for i in range(frames):
        cv2.imwrite(
            str(folder / f"{i:06d}.png"), np.roll(image, 4 * i, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 1]
        )
    return [(x + dx, y + dy) for (x, y), _ in shapes for dx, dy in ((0, 0), (30, 10), (-40, -5))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, idle_timeout: int = 120):
    """A real ``inpainterz serve`` on a free loopback port, allowed ``tmp``: (its address, its process)."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    command = [sys.executable, "-m", "inpainterz_server", "--bind", address, "--allow-root", str(tmp)]
    command += [
        "--work-dir",
        str(tmp / "work"),
        "--idle-timeout",
        str(idle_timeout),
        "--log-level",
        "warning",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    process = client.ensure_local_server(command, address, timeout=120, env=env, log_path=tmp / "server.log")
    return address, process


def _local_segmenter(folder: Path, backend: str):
    """The same segmenter the server uses, in this process, on the same frame."""
    segmenter = make_segmenter(Settings(backend=backend))
    segmenter.set_image(0, cv2.cvtColor(cv2.imread(str(folder / "000000.png")), cv2.COLOR_BGR2RGB))
    return segmenter


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def run(backend: str = "classical", hellos: int = 1000, clicks: int = 20) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        tmp = Path(tmp)
        points = _clip_1080p(tmp / "clip")
        address, process = start_server(tmp)
        try:
            with client.Client(address) as c:
                for _ in range(50):
                    c.hello()
                rtt = []
                for _ in range(hellos):
                    start = time.perf_counter()
                    c.hello()
                    rtt.append(_ms_since(start))

                session = c.open_video(str(tmp / "clip"), settings={"backend": backend})["session"]
                object_id = c.add_object(session)
                c.frame(session, 0, max_side=960)  # computes the embedding in the background
                start = time.perf_counter()
                c.segment(session, object_id, 0, [points[0]])
                first = _ms_since(start)
                # Each click goes to the server and, right after, to the segmenter alone: pairs see the
                # same machine load, so their difference is the server's own share.
                local = _local_segmenter(tmp / "clip", backend)
                served, alone = [], []
                for i in range(clicks):
                    point = points[i % len(points)]
                    start = time.perf_counter()
                    reply = c.segment(session, object_id, 0, [point])
                    served.append(_ms_since(start))
                    assert reply["area"] > 0
                    start = time.perf_counter()
                    local.predict(0, ObjectPrompt(0, (Point(*point),)))
                    alone.append(_ms_since(start))
                c.shutdown()
        finally:
            if process is not None and process.poll() is None:
                process.kill()
    result = {
        "hello_rtt_ms_median": round(statistics.median(rtt), 3),
        "hello_rtt_ms_p99": round(sorted(rtt)[int(0.99 * len(rtt))], 3),
        "segment_ms_median": round(statistics.median(served), 1),
        "segment_ms_p90": round(sorted(served)[int(0.9 * len(served))], 1),
        "segment_first_click_ms": round(first, 1),
        "segmenter_alone_ms_median": round(statistics.median(alone), 1),
        "server_overhead_ms_median": round(
            statistics.median(s - a for s, a in zip(served, alone, strict=True)), 1
        ),
        "frame": "1920x1080",
        "backend": backend,
        "budget": BUDGET,
    }
    result["ok"] = (
        result["hello_rtt_ms_median"] < BUDGET["hello_rtt_ms"]
        and result["segment_ms_median"] < BUDGET["segment_ms"]
    )
    return result


if __name__ == "__main__":
    print(json.dumps(run(*sys.argv[1:2]), indent=2))
