"""Grounding DINO: the time to detect the phrases of a text prompt on one 1080p frame (what ``--text`` pays once
on its frame, and ``--detect-every N`` once every N frames).

The stand-in (a tiny random-weight folder, bench/standins.py) times the code path around the model: the
processor, the tokenizer, the per-phrase scores and the checks. On CUDA, the published architecture (random
weights time like the real ones) is timed too; on a CPU it takes seconds a frame, so only with ``published``.
On the CPU one torch thread is used (on a shared 2-core machine, contended threads mostly measure the
contention); the load average is reported beside the figures.
Run alone with ``python -m bench.bench_detect [cpu|cuda] [published]``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.standins import grounding_dino_standin
from inpainterz_core.detect.grounding_dino import GroundingDinoDetector
from inpainterz_core.prompts import TextPrompt

WIDTH, HEIGHT = 1920, 1080
TEXT = TextPrompt("logo . boom mic . person", box_threshold=0.35, text_threshold=0.25)


def _time(detector: GroundingDinoDetector, frames: int) -> dict:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(2)]
    cuda = detector.device.startswith("cuda")
    detector.detect(images[0], TEXT)  # warm-up: first-call allocations, CUDA kernels
    seconds, found = [], 0
    for i in range(frames):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        found += len(detector.detect(images[i % 2], TEXT))  # numpy boxes out: the device work is done
        seconds.append(time.perf_counter() - start)
    return {
        "detect_ms_per_frame_median": round(1000 * statistics.median(seconds), 1),
        "detect_ms_per_frame_max": round(1000 * max(seconds), 1),
        "frames": frames,
        "detections_per_frame": round(found / frames, 1),
    }


def run(device: str | None = None, published: bool | None = None) -> dict:
    """Every device here (or ``device``); the published architecture on CUDA, or where ``published`` says."""
    devices = [device] if device else ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    results = {
        "frame": f"{WIDTH}x{HEIGHT}",
        "phrases": list(TEXT.phrases),
        "torch_threads": {"cpu": 1, "cuda": torch.get_num_threads()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        standin, full = grounding_dino_standin(Path(tmp) / "standin"), None
        for dev in devices:
            cuda = dev.startswith("cuda")
            folders = {"standin": standin}
            if cuda if published is None else published:
                full = full or grounding_dino_standin(Path(tmp) / "published", published=True)
                folders["published"] = full
            for kind, folder in folders.items():
                detector = GroundingDinoDetector(folder, device=dev)
                threads = torch.get_num_threads()
                torch.set_num_threads(threads if cuda else 1)
                try:
                    timing = _time(detector, 20 if kind == "standin" or cuda else 3)
                finally:
                    torch.set_num_threads(threads)
                results[f"{kind}_{'cuda' if cuda else 'cpu'}"] = {
                    "device": torch.cuda.get_device_name() if cuda else "cpu",
                    **timing,
                    "load_average_1min": round(os.getloadavg()[0], 2),
                }
    return results


if __name__ == "__main__":
    args = sys.argv[1:]
    print(
        json.dumps(
            run(next((a for a in args if a != "published"), None), "published" in args or None), indent=2
        )
    )
