"""E2FGVI on the CPU: our generator's forward time on the golden cases vs the reference's.

Timed as the reference was (each case json's ``reference_forward_time_s``): the case's
forward call, float32, batch 1, no grad, torch's default two threads on the 2-core
machine; one warm-up call, then the median of 3 timed calls. Goal: ratio (ours /
reference) <= 1.0. The reference was timed on an otherwise idle machine: run this alone.
Run with ``python -m bench.bench_e2fgvi``.
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from bench.golden import cases
from inpainterz_core.inpaint.e2fgvi import build_e2fgvi

MODELS = {"e2fgvi_cvpr22": "cvpr22", "e2fgvi_hq": "hq"}
TIMED_CALLS = 3


def _forward_seconds(model: torch.nn.Module, masked_frames: torch.Tensor, num_local_frames: int) -> float:
    with torch.inference_mode():
        model(masked_frames, num_local_frames)
        times = []
        for _ in range(TIMED_CALLS):
            start = time.perf_counter()
            model(masked_frames, num_local_frames)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(threads: int = 2) -> dict:
    results = {}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for model_dir, variant in MODELS.items():
            for case in cases(model_dir):
                model = case.load_into(build_e2fgvi(variant))
                arrays = case.arrays()
                frames, n_local = torch.from_numpy(arrays["masked_frames"]), int(arrays["num_local_frames"])
                ours = _forward_seconds(model, frames, n_local)
                reference = case.info["reference_forward_time_s"]["median_of_3"]
                results[repr(case)] = {
                    "ours_s": round(ours, 3),
                    "reference_s": round(reference, 3),
                    "ratio": round(ours / reference, 3),
                }
    finally:
        torch.set_num_threads(previous_threads)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
