"""Classical pipeline throughput and memory, on generated clips (no ../shared needed).

- Frames per second of tracking and inpainting at 854x480 and 1920x1080 with the
  same logo (mask) size, the median of three runs: cropping around the mask should
  make 1080p cost about what 480p costs.
- Peak resident memory of a whole `remove` on 100 vs 1000 frames of the same size,
  each in a fresh process: streaming should keep the two within 1.15x.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from inpainterz_core import backends
from inpainterz_core.demo import PanClip, click_prompt
from inpainterz_core.pipeline import inpaint, remove, segment_keyframes, track
from inpainterz_core.prompts import Prompts
from inpainterz_core.segment.classical import GrabCutSegmenter
from inpainterz_core.settings import Settings
from inpainterz_core.video import Mp4Writer, open_video

LOGO_PX = 96


def make_clip(path: Path, frames: int, width: int, height: int) -> PanClip:
    clip = PanClip(frames=frames, width=width, height=height, logo_size=LOGO_PX)
    with Mp4Writer(path, width, height, 25.0, crf=12) as video:
        for i in range(frames):
            video.write(clip.frame(i))
    return clip


def _machine_steal() -> tuple[int, int] | None:
    """The whole machine's CPU time stolen by other guests of its host and its CPU time in all, in ticks
    since boot (Linux's /proc/stat); None where there is no such file."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def _timed(work) -> tuple[float, float, float | None]:
    """Run ``work()``: its wall-clock seconds, this process's CPU seconds (all threads), and the share of the
    machine's CPU time that other guests took meanwhile (None where unknown). A virtual machine on a busy
    host loses time it cannot see as load: a slow run with a high steal share says so."""
    steal0, t0, cpu0 = _machine_steal(), time.perf_counter(), time.process_time()
    work()
    wall, cpu, steal1 = time.perf_counter() - t0, time.process_time() - cpu0, _machine_steal()
    share = None
    if steal0 is not None and steal1 is not None and steal1[1] > steal0[1]:
        share = (steal1[0] - steal0[0]) / (steal1[1] - steal0[1])
    return wall, cpu, share


def stage_speed(tmp: Path, width: int, height: int, frames: int = 100, runs: int = 3) -> dict:
    """Tracking and inpainting speed, each stage timed ``runs`` times (alternating): the median is the
    figure, the spread shows how noisy the machine was (one run of a stage has varied by a third here).
    Each run also records its CPU seconds (all threads) and the CPU time other guests stole meanwhile."""
    clip = make_clip(tmp / f"clip-{height}.mp4", frames, width, height)
    settings = Settings(backend="classical")
    # Built before the clock starts: the first build imports the backend's modules (SciPy for the
    # inpainter's membrane fill: about 1 s, 7 % of 100 frames at 480p), a cost paid once per process.
    tracker, inpainter = backends.make_tracker(settings), backends.make_inpainter(settings)
    timings = {"track": [], "inpaint": []}
    with open_video(tmp / f"clip-{height}.mp4") as source:
        keyframes = segment_keyframes(source, Prompts((click_prompt(clip),)), GrabCutSegmenter())
        for run in range(runs):
            out = tmp / f"out-{height}-{run}"
            timings["track"].append(_timed(partial(track, source, keyframes, settings, out, tracker=tracker)))
            timings["inpaint"].append(
                _timed(partial(inpaint, source, out / "masks", settings, out, inpainter=inpainter))
            )
    figures = {"frames": frames}
    for stage, runs_of in timings.items():
        figures[f"{stage}_fps"] = frames / statistics.median(wall for wall, _, _ in runs_of)
        figures[f"{stage}_fps_runs"] = [round(frames / wall, 2) for wall, _, _ in runs_of]
        figures[f"{stage}_cpu_seconds_runs"] = [round(cpu, 2) for _, cpu, _ in runs_of]
        figures[f"{stage}_steal_runs"] = [None if s is None else round(s, 3) for _, _, s in runs_of]
    return figures


def _remove_in_this_process(frames: int, tmp: Path) -> dict:
    clip = make_clip(tmp / "clip.mp4", frames, 480, 270)
    report = remove(
        tmp / "clip.mp4", Prompts((click_prompt(clip),)), Settings(backend="classical"), tmp / "out"
    )
    return {"frames": frames, "peak_rss_mb": report["peak_rss_mb"], "seconds": report["seconds"]}


def peak_memory(frames: int) -> dict:
    """Run a whole `remove` in a fresh process, so its peak memory is its own."""
    code = f"import json, sys; from bench.bench_pipeline import _memory_main; _memory_main({frames})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_main(frames: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        print(json.dumps(_remove_in_this_process(frames, Path(tmp))))


def run(long_frames: int = 1000) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp = Path(tmp)
        speed = {"854x480": stage_speed(tmp, 854, 480), "1920x1080": stage_speed(tmp, 1920, 1080)}
    short, long = peak_memory(100), peak_memory(long_frames)
    return {
        "classical_speed": speed,
        "memory": {
            "100_frames": short,
            f"{long_frames}_frames": long,
            "ratio": long["peak_rss_mb"] / short["peak_rss_mb"],
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
