"""Segment the prompted frames, then track their masks through the range: ``masks/%06d.png``.

Tracking holds one frame per direction; every frame takes its mask from the
nearest keyframe in time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import backends
from ..errors import InputError
from ..outputs import staged, write_png
from ..prompts import Prompts
from ..settings import Settings
from ..video import FrameSource, frame_name
from .common import Progress, check_cancel, frame_range_of, open_source, report_progress


def segment_keyframes(source: FrameSource, prompts: Prompts, segmenter) -> dict[int, np.ndarray]:
    """The label map of every prompted frame: object k's mask painted with k (later objects on top)."""
    if not prompts.objects:
        raise InputError("no prompts: give at least one --point or --box")
    for prompt in prompts.objects:
        prompt.check_inside(source.width, source.height, source.frame_count)
    keyframes = {}
    for frame in prompts.keyframes():
        image = source.read(frame)
        segmenter.set_image(frame, image)
        labels = np.zeros(image.shape[:2], np.uint8)
        for prompt in sorted((o for o in prompts.objects if o.frame == frame), key=lambda o: o.object_id):
            labels[segmenter.predict(frame, prompt)] = prompt.object_id
        keyframes[frame] = labels
    return keyframes


#: A frame whose tracker confidence is below this is listed in ``check_frames``.
LOW_CONFIDENCE = 0.5


# -- track ------------------------------------------------------------------------------------------------


def _merge_keyframe(tracked: np.ndarray, keyframe: np.ndarray) -> np.ndarray:
    """A corrected keyframe wins for the objects it names; the other objects keep their tracked masks."""
    merged = tracked.copy()
    for k in np.unique(keyframe[keyframe > 0]):
        merged[merged == k] = 0
    merged[keyframe > 0] = keyframe[keyframe > 0]
    return merged


def _track_into(
    source, keyframes, tracker, masks_dir: Path, start, stop, progress, cancel
) -> dict[int, float]:
    """Every frame of the range gets its mask from the nearest keyframe (in time).

    Forward from the first keyframe to the end, re-seeding at each later keyframe; backward
    from the first keyframe to the start; then backward from each later keyframe over the
    frames that are nearer to it than to the keyframe before it, overwriting what the
    forward pass wrote there. One frame per direction is held at a time.
    Returns each frame's confidence as the tracker gave it for the mask written (None: it cannot tell).
    """
    keys = sorted(keyframes)
    back_from_later = [(k, (before + k) // 2 + 1) for before, k in zip(keys, keys[1:], strict=False)]
    total = (stop - start) + sum(k - lo for k, lo in back_from_later)
    done = 0
    confidence = {}

    def emit(index, labels, keyframe=False):
        nonlocal done
        check_cancel(cancel)
        write_png(masks_dir / frame_name(index), labels)
        confidence[index] = 1.0 if keyframe else tracker.confidence
        done += 1
        report_progress(progress, "track", done, total)

    def backward(keyframe: int, labels: np.ndarray, lo: int) -> None:
        tracker.reset(source.read(keyframe), labels)
        for index, image in source.frames_reversed(lo, keyframe):
            emit(index, tracker.step(image))

    first = keys[0]
    frames = source.frames(first, stop)
    _, image = next(frames)
    labels = keyframes[first]
    tracker.reset(image, labels)
    emit(first, labels, keyframe=True)
    seeded = {first: labels}
    for index, image in frames:
        labels = tracker.step(image)
        if index in keyframes:
            labels = _merge_keyframe(labels, keyframes[index])
            tracker.correct(image, labels)
            seeded[index] = labels
        emit(index, labels, keyframe=index in keyframes)
    if first > start:
        backward(first, keyframes[first], start)
    for keyframe, lo in back_from_later:
        if lo < keyframe:
            backward(keyframe, seeded[keyframe], lo)
    return confidence


def track(
    source,
    keyframes: dict[int, np.ndarray],
    settings: Settings,
    out_dir,
    *,
    frame_range=None,
    progress: Progress | None = None,
    cancel=None,
    tracker=None,
) -> dict:
    """Propagate keyframe label maps over ``frame_range``; writes ``out_dir/masks/%06d.png`` and ``track.json``.

    ``track.json`` (also returned) holds each frame's confidence and ``check_frames``, the frames
    whose mask is likely wrong: where one corrective click on a keyframe helps most.
    """
    out_dir = Path(out_dir)
    with open_source(source) as src:
        start, stop = frame_range_of(src, frame_range)
        if not keyframes:
            raise InputError("no keyframes to track from")
        outside = [k for k in keyframes if not start <= k < stop]
        if outside:
            raise InputError(f"keyframe {outside[0]} is outside the frame range {start}..{stop}")
        for k, labels in keyframes.items():
            if labels.shape != (src.height, src.width):
                raise InputError(
                    f"keyframe {k} mask is {labels.shape[1]}x{labels.shape[0]}, "
                    f"the video is {src.width}x{src.height}"
                )
        tracker = tracker or backends.make_tracker(settings)
        t0 = time.perf_counter()
        with staged(out_dir, ["masks", "track.json"]) as scratch:
            (scratch / "masks").mkdir()
            confidence = _track_into(
                src, keyframes, tracker, scratch / "masks", start, stop, progress, cancel
            )
            scores = [confidence[i] for i in range(start, stop)]
            report = {
                "stage": "track",
                "backend": backends.describe(tracker),
                "frames": stop - start,
                "range": [start, stop],
                "seconds": time.perf_counter() - t0,
                "masks": str(out_dir / "masks"),
                "keyframes": sorted(keyframes),
                "confidence": scores,
                "check_frames": [
                    i
                    for i, c in zip(range(start, stop), scores, strict=True)
                    if c is not None and c < LOW_CONFIDENCE
                ],
            }
            (scratch / "track.json").write_text(json.dumps(report, indent=2))
    return report
