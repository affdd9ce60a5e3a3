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


def stage_speed(tmp: Path, width: int, height: int, frames: int = 100, runs: int = 3) -> dict:
    """Tracking and inpainting speed, each stage timed ``runs`` times (alternating): the median is the
    figure, the spread shows how noisy the machine was (one run of a stage has varied by a third here)."""
    clip = make_clip(tmp / f"clip-{height}.mp4", frames, width, height)
    settings = Settings(backend="classical")
    # Built before the clock starts: the first build imports the backend's modules (SciPy for the
    # inpainter's membrane fill: about 1 s, 7 % of 100 frames at 480p), a cost paid once per process.
    tracker, inpainter = backends.make_tracker(settings), backends.make_inpainter(settings)
    track_s, inpaint_s = [], []
    with open_video(tmp / f"clip-{height}.mp4") as source:
        keyframes = segment_keyframes(source, Prompts((click_prompt(clip),)), GrabCutSegmenter())
        for run in range(runs):
            out = tmp / f"out-{height}-{run}"
            t0 = time.perf_counter()
            track(source, keyframes, settings, out, tracker=tracker)
            track_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            inpaint(source, out / "masks", settings, out, inpainter=inpainter)
            inpaint_s.append(time.perf_counter() - t0)
    return {
        "frames": frames,
        "track_fps": frames / statistics.median(track_s),
        "inpaint_fps": frames / statistics.median(inpaint_s),
        "track_fps_runs": [round(frames / s, 2) for s in track_s],
        "inpaint_fps_runs": [round(frames / s, 2) for s in inpaint_s],
    }


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
