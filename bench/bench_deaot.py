"""DeAOT on the CPU: our engine's time per propagated frame on the golden cases vs the reference's.

Per frame, as the reference was timed: match_propagate_one_frame + decode_current_logits
+ argmax + update_memory, float32, one torch thread (the reference's conditions on
this 2-core machine, where two contended threads mostly measure the contention).
A warm-up pass, then 3 timed passes over the case; the result is the median of
the passes' median frame times. Goal: ratio (ours / reference) <= 1.0.
The ratio is on wall time, like the reference's figure; with other jobs on the
machine wall time inflates, so the process CPU time and the load average are
reported beside it to tell a slower engine from a busier machine.
Run alone with ``python -m bench.bench_deaot``.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import torch

from bench.golden import cases
from inpainterz_core.track.deaot import build_deaot
from inpainterz_core.track.deaot.engine import DeAOTEngine

PASSES = 3


def _frame_times(model, arrays) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds of each propagated frame of one pass over the case."""
    frames = torch.from_numpy(arrays["frames"])
    obj_nums = int(arrays["obj_nums"])
    engine = DeAOTEngine(model)
    engine.add_reference_frame(frames[0], torch.from_numpy(arrays["ref_mask"])[None, None].float(), obj_nums)
    times = []
    for frame in frames[1:]:
        start, start_cpu = time.perf_counter(), time.process_time()
        engine.match_propagate_one_frame(frame)
        logits = engine.decode_current_logits(tuple(frames.shape[-2:]))
        engine.update_memory(torch.argmax(logits, dim=1, keepdim=True).float())
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return times


def run() -> dict:
    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for case in cases("deaot_r50l"):
            model = case.load_into(build_deaot("r50_deaotl"))
            arrays = case.arrays()
            with torch.inference_mode():
                _frame_times(model, arrays)
                passes = [_frame_times(model, arrays) for _ in range(PASSES)]
            ours = statistics.median(statistics.median(wall for wall, _ in p) for p in passes)
            ours_cpu = statistics.median(statistics.median(cpu for _, cpu in p) for p in passes)
            reference = case.info["cpu_time_per_frame_s_median"]
            results[case.name] = {
                "ours_s": round(ours, 4),
                "reference_s": reference,
                "ratio": round(ours / reference, 3),
                "ours_process_cpu_s": round(ours_cpu, 4),
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
    finally:
        torch.set_num_threads(threads)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
