"""SAM ViT-B: the cost of embedding a 1080p frame, then of each click on it (goal: < 50 ms on a CPU).

Random weights time the same as the real ones, so this needs no checkpoint.
Run alone with ``python -m bench.bench_sam [cpu|cuda]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import torch

from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.segment.sam import SAMSegmenter

GOAL_MS = 50.0
CLICKS = 20
WIDTH, HEIGHT = 1920, 1080


def run(device: str = "cpu") -> dict:
    segmenter = SAMSegmenter(checkpoint=None, device=device)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    if device.startswith("cuda"):  # the first CUDA call pays for kernel loading and autotuning
        segmenter.set_image("warm-up", frame)
        torch.cuda.synchronize()

    start = time.perf_counter()
    segmenter.set_image(0, frame)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    embedding_s = time.perf_counter() - start

    click_s = []
    for _ in range(CLICKS):
        prompt = ObjectPrompt(points=(Point(float(rng.uniform(0, WIDTH)), float(rng.uniform(0, HEIGHT))),))
        start = time.perf_counter()
        segmenter.predict(0, prompt)  # returns a numpy mask, so the GPU work is finished too
        click_s.append(time.perf_counter() - start)
    click_ms = 1000 * statistics.median(click_s)

    return {
        "benchmark": "sam_vit_b",
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch_threads": torch.get_num_threads(),
        "frame": f"{WIDTH}x{HEIGHT}",
        "embedding_s": round(embedding_s, 3),
        "click_to_mask_ms_median": round(click_ms, 1),
        "click_to_mask_ms_max": round(1000 * max(click_s), 1),
        "clicks": CLICKS,
        "goal_ms": GOAL_MS,
        "meets_goal": click_ms < GOAL_MS,
    }


if __name__ == "__main__":
    print(json.dumps(run(*sys.argv[1:]), indent=2))
