"""Soak: 500 open/segment/track/close cycles against a real server process; nothing may accumulate.

Every 50 cycles the server's threads, open files and resident memory are recorded. After
the warm-up (the first 100 cycles: caches and allocator pools fill), all three must stay
flat: a closed session frees its decoder threads, files and frames. The clip is a short
generated MP4 (decoded with PyAV's threads, as a user's video is), so the bench needs
nothing from ``../shared``. Run alone with ``python -m bench.bench_server_soak [CYCLES]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from inpainterz_core.demo import PanClip
from inpainterz_core.video import Mp4Writer

from .bench_server import client, start_server

EVERY = 50
WARM_UP = 100
#: Allowed growth from the end of the warm-up to the last sample.
BUDGET = {"threads": 2, "open_files": 2, "rss_mb": 24.0}


def _clip(path: Path, frames: int = 8) -> Path:
    clip = PanClip(frames=frames, width=192, height=108)
    with Mp4Writer(path, clip.width, clip.height, 25.0) as video:
        for i in range(frames):
            video.write(clip.frame(i))
    return path


def _sample(process: psutil.Process, cycle: int) -> dict:
    return {
        "cycle": cycle,
        "threads": process.num_threads(),
        "open_files": process.num_fds(),
        "rss_mb": round(process.memory_info().rss / 2**20, 1),
    }


def run(cycles: int = 500) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        tmp = Path(tmp)
        clip = _clip(tmp / "clip.mp4")
        address, process = start_server(tmp, idle_timeout=300)
        server = psutil.Process(process.pid)
        samples = [_sample(server, 0)]
        started = time.perf_counter()
        try:
            with client.Client(address, timeout=120) as c:
                for cycle in range(1, cycles + 1):
                    sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
                    c.segment(sid, c.add_object(sid), 0, [(96, 54, 1)])
                    c.track(sid).result(timeout=120)
                    c.close_video(sid)
                    if cycle % EVERY == 0:
                        c.hello()  # the close has been handled; its worker frees the session right after
                        time.sleep(0.3)
                        samples.append(_sample(server, cycle))
                seconds = time.perf_counter() - started
                c.shutdown()
            process.wait(timeout=30)
            leftovers = sorted(p.name for p in (tmp / "work").iterdir())
        finally:
            if process.poll() is None:
                process.kill()
    warm = next(s for s in samples if s["cycle"] >= min(WARM_UP, samples[-1]["cycle"]))
    last = samples[-1]
    growth = {k: round(last[k] - warm[k], 1) for k in BUDGET}
    return {
        "cycles": cycles,
        "seconds_per_cycle": round(seconds / cycles, 3),
        "samples": samples,
        "growth_after_warm_up": growth,
        "work_dir_after_shutdown": leftovers,
        "budget": BUDGET,
        "ok": all(growth[k] <= BUDGET[k] for k in BUDGET) and not leftovers,
    }


if __name__ == "__main__":
    print(json.dumps(run(*(int(a) for a in sys.argv[1:2])), indent=2))
