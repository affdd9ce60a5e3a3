"""Make an insert case from any clip: a badge on its own smooth path, in the format of ``shared/clips/eval``.

``inpainterz eval`` scores the classical path on cases whose background is known exactly, and the shared
cases are a handful of clips. This makes more from any footage, so a change to the tracker or the fill can
be checked on clips it was not made on::

    python -m bench.insert_case CLIP OUT_FOLDER [--seed N] [--text WORD] [--frames 60]
    inpainterz eval OUT_FOLDER

The case holds ``input.mp4`` (the composite), ``background.mp4`` (the clip itself: the truth),
``gt_masks.npz`` (the badge's exact masks) and ``case.json`` (the prompt: the mask's innermost point and
its box on frame 0, as the shared cases have). Frames are scaled to fit 854x480, as the shared cases are;
both videos are H.264 at CRF 10. The seed picks the badge's colours and its path.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

from inpainterz_core.video import Mp4Writer, open_video

MAX_SIZE = (854, 480)


def badge(width: int, height: int, top, bottom, ink, text: str) -> tuple[np.ndarray, np.ndarray]:
    """A rounded badge with a vertical gradient from ``top`` to ``bottom`` (RGB) and ``text`` in ``ink``:
    (RGB, alpha)."""
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    gradient = (1 - rows) * np.asarray(top) + rows * np.asarray(bottom)
    image = np.ascontiguousarray(np.broadcast_to(gradient, (height, width, 3)), np.uint8)
    scale, thickness = height / 40, max(1, round(height / 20))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    colour = tuple(int(c) for c in ink)
    origin = ((width - text_w) // 2, (height + text_h) // 2)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_DUPLEX, scale, colour, thickness, cv2.LINE_AA)
    alpha = np.zeros((height, width), np.uint8)
    r = height // 3
    cv2.rectangle(alpha, (r, 0), (width - 1 - r, height - 1), 255, -1)
    cv2.rectangle(alpha, (0, r), (width - 1, height - 1 - r), 255, -1)
    for cx in (r, width - 1 - r):
        for cy in (r, height - 1 - r):
            cv2.circle(alpha, (cx, cy), r, 255, -1)
    return image, alpha


def along_path(frames, image, alpha, xs, y, amplitude, phase) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The badge (``image``, ``alpha``) composited on ``frames`` as it travels from x = ``xs[0]`` to ``xs[1]``
    at height ``y`` plus a sine of ``amplitude``, turning up to 15 degrees and growing by a fifth:
    (composites, masks)."""
    h, w = frames[0].shape[:2]
    composites, masks = [], []
    for t, frame in enumerate(frames):
        u = t / (len(frames) - 1)
        centre = (xs[0] + (xs[1] - xs[0]) * u, y + amplitude * math.sin(2 * math.pi * u + phase))
        placing = cv2.getRotationMatrix2D(
            (image.shape[1] / 2, image.shape[0] / 2), 15 * math.sin(math.pi * u + phase), 1 + 0.2 * u
        )
        placing[:, 2] += (centre[0] - image.shape[1] / 2, centre[1] - image.shape[0] / 2)
        placed = cv2.warpAffine(image, placing, (w, h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(alpha, placing, (w, h), flags=cv2.INTER_NEAREST) > 127
        composite = frame.copy()
        composite[mask] = placed[mask]
        composites.append(composite)
        masks.append(mask)
    return composites, masks


def read_frames(clip: Path, count: int) -> tuple[list[np.ndarray], float]:
    """The clip's first ``count`` frames, as displayed, scaled (INTER_AREA) to fit MAX_SIZE with even sides,
    and its rate."""
    frames = []
    with open_video(clip) as source:
        for _, image in source.frames(0, count):
            h, w = image.shape[:2]
            s = min(1.0, MAX_SIZE[0] / w, MAX_SIZE[1] / h)
            size = (round(w * s) // 2 * 2, round(h * s) // 2 * 2)
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA) if size != (w, h) else image)
        return frames, float(source.fps)


def write_video(path: Path, frames: list[np.ndarray], rate: float) -> None:
    with Mp4Writer(path, frames[0].shape[1], frames[0].shape[0], rate, crf=10) as video:
        for image in frames:
            video.write(image)


def make_case(clip: Path, out: Path, seed: int = 0, text: str = "SALE", count: int = 60) -> dict:
    """Write the case into ``out`` (created); returns its case.json."""
    frames, rate = read_frames(clip, count)
    if len(frames) < 2:
        raise SystemExit(f"{clip}: fewer than 2 frames")
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    top, bottom, ink = rng.integers(120, 255, 3), rng.integers(20, 120, 3), rng.integers(0, 255, 3)
    image, alpha = badge(int(w * 0.2), int(w * 0.065), top, bottom, ink, text)
    x0, x1 = rng.uniform(0.15, 0.35) * w, rng.uniform(0.55, 0.8) * w
    y0, amplitude, phase = rng.uniform(0.3, 0.6) * h, rng.uniform(0.05, 0.15) * h, rng.uniform(0, 2 * math.pi)
    composites, masks = along_path(frames, image, alpha, (x0, x1), y0, amplitude, phase)
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "input.mp4", composites, rate)
    write_video(out / "background.mp4", frames, rate)
    stack = np.stack(masks)
    np.savez_compressed(out / "gt_masks.npz", masks=np.packbits(stack, axis=-1), shape=np.array(stack.shape))
    inner = cv2.distanceTransform(masks[0].astype(np.uint8), cv2.DIST_L2, 5)
    py, px = np.unravel_index(int(inner.argmax()), inner.shape)
    ys, xs = np.nonzero(masks[0])
    case = {
        "source_clip": "background.mp4",
        "frames": len(frames),
        "width": w,
        "height": h,
        "fps": rate,
        "mode": "insert",
        "prompt": {
            "frame": 0,
            "points": [[int(px), int(py), 1]],
            "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
        },
        "origin": f"{clip.name}, first {len(frames)} frames; bench/insert_case.py seed {seed}",
    }
    (out / "case.json").write_text(json.dumps(case, indent=1))
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("out", type=Path, help="the case's folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="picks the badge's colours and path")
    parser.add_argument("--text", default="SALE")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    make_case(args.clip, args.out, args.seed, args.text, args.frames)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
