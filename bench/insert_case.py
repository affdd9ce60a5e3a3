"""Make an insert or attach case from any clip, in the format of ``shared/clips/eval``.

``inpainterz eval`` scores the classical path on cases whose background is known exactly, and the shared
cases are a handful of clips. This makes more from any footage, so a change to the tracker or the fill can
be checked on clips it was not made on::

    python -m bench.insert_case CLIP OUT_FOLDER [--seed N] [--text WORD] [--frames 60] [--attach] [--speed 2]
    inpainterz eval OUT_FOLDER

An insert case's badge travels a smooth path of its own, so other frames reveal what it hides. An attach
case's badge (``--attach``) rides the surface under it, like a logo printed on it: each frame it moves by
the similarity that carries the clip's features around and under it from the frame before, so what it
hides stays hidden and the fill has to be made up, as on ``shared/clips/eval/attach-desert``. With ``--speed``
the clip is played that many times as fast, forward then back (a ping-pong), for motion as fast and abrupt as
footage with a rally car or a juggler in it.

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


def riding(frames, image, alpha, centre) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The badge (``image``, ``alpha``) composited on ``frames``, placed at ``centre`` on the first and carried
    by the clip's own local motion: corners tracked (pyramidal Lucas-Kanade) on the clean frames in a window
    twice the badge's size, a similarity fitted to them (RANSAC) and composed frame after frame. Where too
    few corners are found the badge stays put for that frame. (composites, masks)."""
    h, w = frames[0].shape[:2]
    bh, bw = alpha.shape
    placing = np.array([[1.0, 0, centre[0] - bw / 2], [0, 1.0, centre[1] - bh / 2], [0, 0, 1]])
    composites, masks = [], []
    previous = None
    for frame in frames:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if previous is not None:
            placing = _local_motion(previous, gray, placing, (bw, bh)) @ placing
        previous = gray
        placed = cv2.warpAffine(image, placing[:2], (w, h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(alpha, placing[:2], (w, h), flags=cv2.INTER_NEAREST) > 127
        composite = frame.copy()
        composite[mask] = placed[mask]
        composites.append(composite)
        masks.append(mask)
    return composites, masks


def _local_motion(previous: np.ndarray, gray: np.ndarray, placing: np.ndarray, size) -> np.ndarray:
    """The 3x3 map that carries the clip's surface around the placed badge from ``previous`` to ``gray``."""
    h, w = gray.shape
    corners = np.array([[0, 0, 1], [size[0], 0, 1], [0, size[1], 1], [size[0], size[1], 1]]) @ placing.T
    (x0, y0), (x1, y1) = corners[:, :2].min(axis=0), corners[:, :2].max(axis=0)
    grow_x, grow_y = (x1 - x0) / 2, (y1 - y0) / 2
    window = np.zeros_like(gray)
    window[
        max(0, int(y0 - grow_y)) : max(0, int(y1 + grow_y)),
        max(0, int(x0 - grow_x)) : max(0, int(x1 + grow_x)),
    ] = 255
    # Corners around the badge; on plain ground (sky, a wall) too few are found or followed, and the whole
    # frame's motion has to do.
    for where in (window, None):
        points = cv2.goodFeaturesToTrack(previous, 200, 0.01, 5, mask=where)
        if points is None or len(points) < 8:
            continue
        moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, gray, points, None)
        kept = status.ravel() == 1
        if kept.sum() >= 8:
            break
    else:
        return np.eye(3)
    # A similarity (move, turn, scale), not a full affine: on motion-blurred frames the corners line up along
    # the blur and a full affine squashed the badge into a line. Where even that turns or scales the badge
    # implausibly for one frame (over 5 degrees or 5 %: blur again), the corners' median move is taken.
    fitted, _ = cv2.estimateAffinePartial2D(
        points[kept], moved[kept], method=cv2.RANSAC, ransacReprojThreshold=1.0
    )
    if fitted is not None:
        scale, turn = np.hypot(fitted[0, 0], fitted[1, 0]), np.degrees(np.arctan2(fitted[1, 0], fitted[0, 0]))
        if abs(scale - 1) <= 0.05 and abs(turn) <= 5:
            return np.vstack([fitted, [0, 0, 1]])
    shift = np.median((moved[kept] - points[kept]).reshape(-1, 2), axis=0)
    return np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]])


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


def composite(
    frames: list[np.ndarray], seed: int, text: str, attach: bool = False
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``frames`` with the badge ``seed`` draws (its colours and path) on them, and its masks: inserted along the
    path, or riding the surface under its starting place (``attach``)."""
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    top, bottom, ink = rng.integers(120, 255, 3), rng.integers(20, 120, 3), rng.integers(0, 255, 3)
    image, alpha = badge(int(w * 0.2), int(w * 0.065), top, bottom, ink, text)
    x0, x1 = rng.uniform(0.15, 0.35) * w, rng.uniform(0.55, 0.8) * w
    y0, amplitude, phase = rng.uniform(0.3, 0.6) * h, rng.uniform(0.05, 0.15) * h, rng.uniform(0, 2 * math.pi)
    if attach:
        return riding(frames, image, alpha, (x0, y0))
    return along_path(frames, image, alpha, (x0, x1), y0, amplitude, phase)


def played_faster(frames: list[np.ndarray], speed: int, count: int) -> list[np.ndarray]:
    """``count`` frames of ``frames`` played ``speed`` times as fast, forward then back and on (a ping-pong):
    the motion a frame grows by ``speed``, and reverses all at once at each end, as a whip pan or a juggler's
    hands do. The frames are the clip's own, so the clip is still the truth."""
    fast = frames[::speed]
    if len(fast) < 2:
        return fast
    there_and_back = fast + fast[-2:0:-1]
    return [there_and_back[i % len(there_and_back)] for i in range(count)]


def prompt_of(mask: np.ndarray) -> dict:
    """The prompt a case gives on frame 0: the mask's innermost pixel (farthest from its border, by the distance
    transform) and its box, as the shared cases' README defines it."""
    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    py, px = np.unravel_index(int(inner.argmax()), inner.shape)
    ys, xs = np.nonzero(mask)
    return {
        "frame": 0,
        "points": [[int(px), int(py), 1]],
        "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
    }


def make_case(
    clip: Path,
    out: Path,
    seed: int = 0,
    text: str = "SALE",
    count: int = 60,
    attach: bool = False,
    speed: int = 1,
) -> dict:
    """Write the case into ``out`` (created); returns its case.json."""
    frames, rate = read_frames(clip, count * speed)
    if speed > 1:
        frames = played_faster(frames, speed, count)
    if len(frames) < 2:
        raise SystemExit(f"{clip}: fewer than 2 frames")
    composites, masks = composite(frames, seed, text, attach)
    h, w = frames[0].shape[:2]
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "input.mp4", composites, rate)
    write_video(out / "background.mp4", frames, rate)
    stack = np.stack(masks)
    np.savez_compressed(out / "gt_masks.npz", masks=np.packbits(stack, axis=-1), shape=np.array(stack.shape))
    case = {
        "source_clip": "background.mp4",
        "frames": len(frames),
        "width": w,
        "height": h,
        "fps": rate,
        "mode": "attach" if attach else "insert",
        "prompt": prompt_of(masks[0]),
        "origin": f"{clip.name}, first {len(frames)} frames"
        + (f" played {speed}x as fast, forward and back" if speed > 1 else "")
        + f"; bench/insert_case.py seed {seed}",
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
    parser.add_argument("--attach", action="store_true", help="the badge rides the surface under it")
    parser.add_argument(
        "--speed", type=int, default=1, help="play the clip this many times as fast, forward and back"
    )
    args = parser.parse_args()
    make_case(args.clip, args.out, args.seed, args.text, args.frames, args.attach, args.speed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
