"""`inpainterz batch` on a local Ray against the same shots one after another with `remove`.

Four generated shots (32 frames at 480x270, classical backends), each run three ways, on a Ray
started beforehand (its start-up is reported on its own):

- sequential: ``pipeline.remove`` on each shot in turn, in this process (twice: the mean);
- batch: ``batch.run`` with one CPU per shot, as many shots at once as the machine has cores
  (twice: the mean);
- batch, one at a time: one shot holding every core, so nothing overlaps: the wall time less the
  shots' own ``remove`` seconds, per shot, is what Ray adds to a shot (scheduling, the task's
  arguments and result, progress messages) once its worker processes are up.

Wall times depend on what else the machine runs; the JSON records the CPU count and load.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from inpainterz_core import batch, pipeline
from inpainterz_core.demo import PanClip, click_prompt
from inpainterz_core.prompts import Prompts
from inpainterz_core.settings import Settings
from inpainterz_core.video import Mp4Writer

SHOTS, FRAMES, WIDTH, HEIGHT = 4, 32, 480, 270


def make_shots(folder: Path, mode: str) -> list[batch.Shot]:
    """The same four clips for every mode, each mode writing its own outputs."""
    shots = []
    for n in range(SHOTS):
        clip = PanClip(frames=FRAMES, width=WIDTH, height=HEIGHT, logo_size=60 + 8 * n)
        source = folder / f"shot{n}.mp4"
        if not source.exists():
            with Mp4Writer(source, WIDTH, HEIGHT, 25.0, crf=18) as video:
                for i in range(FRAMES):
                    video.write(clip.frame(i))
        shots.append(
            batch.Shot(
                f"shot{n}",
                source,
                folder / mode / f"shot{n}",
                Prompts((click_prompt(clip),)),
                Settings(backend="classical"),
            )
        )
    return shots


def _sequential(folder: Path, mode: str) -> float:
    t0 = time.perf_counter()
    for shot in make_shots(folder, mode):
        pipeline.remove(shot.input, shot.prompts, shot.settings, shot.output)
    return time.perf_counter() - t0


def _batch(folder: Path, mode: str, cpus_per_shot: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    records = batch.run(make_shots(folder, mode), cpus_per_shot=cpus_per_shot)
    failed = [r["error"] for r in records if r["status"] != "done"]
    if failed:
        raise RuntimeError(f"batch shots failed: {failed}")
    return time.perf_counter() - t0, records


def run() -> dict:
    import ray

    cpus = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_shots(folder, "clips")
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        ray_start_s = time.perf_counter() - t0
        try:
            # sequential, batch, batch, sequential: a load that others' work raises or lowers meanwhile
            # weighs on both ways alike.
            sequential_s = _sequential(folder, "sequential-1")
            batch_s = _batch(folder, "batch-1", 1)[0]
            batch_s += _batch(folder, "batch-2", 1)[0]
            sequential_s += _sequential(folder, "sequential-2")
            serial_s, serial = _batch(folder, "one-at-a-time", cpus)
        finally:
            ray.shutdown()
    overhead = (serial_s - sum(r["seconds"] for r in serial)) / SHOTS
    return {
        "shots": SHOTS,
        "frames_per_shot": FRAMES,
        "size": f"{WIDTH}x{HEIGHT}",
        "cpus": cpus,
        "sequential_remove_s": round(sequential_s / 2, 2),
        "batch_s": round(batch_s / 2, 2),
        "batch_speedup": round(sequential_s / batch_s, 2),
        "ray_start_s": round(ray_start_s, 2),
        "batch_one_at_a_time_s": round(serial_s, 2),
        "ray_overhead_per_shot_s": round(overhead, 3),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],  # before, after: others' work
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
