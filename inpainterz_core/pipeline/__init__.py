"""remove(): prompts -> masks -> clean frames, streamed in windows, written atomically.

The stages live in their own modules, in pipeline order: ``tracking`` (segment the
prompted frames, track their masks), ``painting`` (paint the masks out) and
``writer`` (the output writer thread); ``common`` holds what they share.

Everything here is a function of its arguments and the files it reads, so a run
can be shipped unchanged to another process or machine (the server's job
threads, a Ray task). Memory stays bounded: tracking holds one frame per
direction, inpainting holds a window of crops around the mask (``chunk`` frames
plus the inpainter's ``reach`` on each side) and one full frame being written.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .. import backends
from ..outputs import RESULT_NAMES, staged
from ..prompts import Prompts
from ..settings import Settings
from .common import Progress, open_source, peak_gpu_mb, peak_rss_mb
from .painting import inpaint
from .tracking import Keyframes, Prompted, find_objects, segment_keyframes, segment_prompts, track

__all__ = [
    "Keyframes",
    "Progress",
    "Prompted",
    "find_objects",
    "inpaint",
    "peak_gpu_mb",
    "peak_rss_mb",
    "remove",
    "segment_keyframes",
    "segment_prompts",
    "track",
]


def remove(
    source, prompts: Prompts, settings: Settings, out_dir, *, progress: Progress | None = None, cancel=None
) -> dict:
    """Remove the prompted objects: ``out_dir`` gets masks/, inpainted/, result.mp4, track.json, report.json.

    ``prompts`` may name objects in words (``prompts.text``): a detector finds them on the text frame
    (and every ``detect_every`` frames, for objects that enter later); report.json's ``objects`` says
    what each mask id is.

    A pure function of (source, prompts, settings): no global state, the outputs
    appear complete or not at all. ``out_dir`` is a new or empty folder or an
    earlier result, whose outputs are replaced; other files in it are kept.
    """
    out_dir = Path(out_dir)
    seconds = {}
    with open_source(source) as src, staged(out_dir, RESULT_NAMES, whole_result=True) as scratch:
        t0 = time.perf_counter()
        stat = os.stat(src.path)  # what a batch's resume compares: the same input, unchanged
        keyframes, segmenter, detector = segment_prompts(src, prompts, settings)
        seconds["segment"] = time.perf_counter() - t0  # with the detection on the text frame
        tracked = track(
            src,
            keyframes,
            settings,
            scratch,
            progress=progress,
            cancel=cancel,
            text=prompts.text,
            detector=detector,
            segmenter=segmenter,
        )
        seconds["track"] = tracked["seconds"]
        painted = inpaint(src, scratch / "masks", settings, scratch, progress=progress, cancel=cancel)
        seconds["inpaint"] = painted["seconds"]
        report = {
            "source": str(src.path),
            "source_stat": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
            "frames": src.frame_count,
            "width": src.width,
            "height": src.height,
            "fps": src.fps,
            "backends": {
                **({"detect": backends.describe(detector)} if detector is not None else {}),
                "segment": backends.describe(segmenter),
                "track": tracked["backend"],
                "inpaint": painted["backend"],
            },
            "seconds": seconds,
            "frames_per_second": {
                k: (src.frame_count / v if v > 0 and k != "segment" else None) for k, v in seconds.items()
            },
            "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb(),
            "video": painted["video"],
            "audio": painted["audio"],
            "hole_radius": painted["hole_radius"],
            "confidence": tracked["confidence"],
            "check_frames": tracked["check_frames"],
            "prompts": [o.to_dict() for o in prompts.objects],
            "text": prompts.text.to_dict() if prompts.text is not None else None,
            "objects": tracked["objects"],
            "settings": settings.to_dict(),
        }
        (scratch / "report.json").write_text(json.dumps(report, indent=2))
    return report
