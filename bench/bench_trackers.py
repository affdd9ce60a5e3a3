"""Every model tracker on the CPU with stand-ins: frames per second and peak memory, and whether memory stays
flat with clip length (a 1,000-frame run's peak against a 300-frame run's).

SAM 2.1 and EdgeTAM run as stand-in folders (bench/standins.py: small configs, random weights, 128 px);
DeAOT runs its real R50-L architecture with random weights. Each figure comes from a fresh process
(``ru_maxrss`` is a process's peak resident memory), one torch thread, frames of 96x128 streamed from a
generator, as the pipeline streams them from a video. The numbers are for comparing trackers and
clip lengths on this machine, not model quality. Run alone with ``python -m bench.bench_trackers``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEIGHT, WIDTH = 96, 128
TRACKERS = ("sam2.1-stand-in", "edgetam-stand-in", "deaot_r50l")


def _frames(count: int):
    """A drifting textured square over noise, made on the fly (the pipeline never holds the clip either)."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    patch = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for i in range(count):
        frame = background.copy()
        x = 10 + (i * 3) % (WIDTH - 52)
        frame[30:62, x : x + 32] = patch
        yield frame


def _tracker(name: str, workdir: Path):
    if name == "deaot_r50l":
        from inpainterz_core.track.deaot import DeAOTTracker

        return DeAOTTracker(None, device="cpu")
    from bench.standins import save_standin
    from inpainterz_core.track.sam2 import Sam2Tracker

    family = "sam2" if name.startswith("sam2") else "edgetam"
    return Sam2Tracker(save_standin(workdir / name, family, size=128), family=family, device="cpu")


def child(name: str, count: int) -> dict:
    """Track ``count`` frames in this process; its figures as a dict."""
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as workdir:
        tracker = _tracker(name, Path(workdir))
        frames = _frames(count + 1)
        first = next(frames)
        labels = np.zeros((HEIGHT, WIDTH), np.uint8)
        labels[30:62, 10:42] = 1
        tracker.reset(first, labels)
        start = time.perf_counter()
        for frame in frames:
            tracker.step(frame)
        seconds = time.perf_counter() - start
    return {
        "tracker": name,
        "frames": count,
        "fps": round(count / seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _measure(name: str, count: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_trackers", "--child", name, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(short: int = 300, long: int = 1000) -> dict:
    results = {name: _measure(name, short) for name in TRACKERS}
    flat = _measure("sam2.1-stand-in", long)
    results["flat_memory"] = {
        "frames": [short, long],
        "peak_rss_mb": [results["sam2.1-stand-in"]["peak_rss_mb"], flat["peak_rss_mb"]],
        "ratio": round(flat["peak_rss_mb"] / results["sam2.1-stand-in"]["peak_rss_mb"], 3),
    }
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        print(json.dumps(run(), indent=2))
