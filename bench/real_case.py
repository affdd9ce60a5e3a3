"""Make a real-object case from published frames and masks, in the format of ``shared/clips/eval/real-*``.

``inpainterz eval`` scores a real object's masks (J, F, J&F) from the case's prompt alone and with a corrected
keyframe every 15 frames. The shared real case is one clip; video-segmentation datasets publish many more as
a folder of frames (or a video) beside a folder of mask images, one per frame. This turns one into a case, so a
change to the segmenter or the tracker can be checked on objects it was not made on::

    python -m bench.real_case FRAMES MASKS OUT_FOLDER [--frames 60] [--fps 24]
    inpainterz eval OUT_FOLDER --masks-only

FRAMES is a video or a folder of images, MASKS a folder of mask images sorted by name (one per frame, the
first for the first frame). The object is every pixel a mask marks, whatever its value or colour: a dataset
that labels several objects (a palette PNG) gives their union, as an editor removing a group would mask it.
Frames and masks are scaled to fit 854x480 (the masks by nearest neighbour); the input is H.264 at CRF 10.
The prompt is the first mask's innermost pixel and its box (``insert_case.prompt_of``), as the shared cases have.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from bench.insert_case import prompt_of, read_frames, write_video


def read_masks(folder: Path, count: int, size: tuple[int, int]) -> np.ndarray:
    """The first ``count`` mask images in ``folder`` (sorted by name) as booleans (T, H, W), scaled to ``size``
    (w, h): a pixel is the object where any channel is non-zero."""
    lossless = {".png", ".bmp", ".tif", ".tiff"}  # a JPEG mask's edges are noise, not the object
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in lossless)[:count]
    masks = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"{path}: not a readable image")
        if image.ndim == 3:
            image = image[..., :3].max(axis=2)  # a colour label map: any colour but black is an object
        marked = (image > 0).astype(np.uint8)
        if marked.shape[::-1] != size:
            marked = cv2.resize(marked, size, interpolation=cv2.INTER_NEAREST)
        masks.append(marked > 0)
    if not masks:
        raise SystemExit(f"{folder}: no mask images")
    return np.stack(masks)


def make_case(
    frames_from: Path, masks_from: Path, out: Path, count: int = 60, fps: float | None = None
) -> dict:
    """Write the case into ``out`` (created); returns its case.json. ``fps`` for a folder of images, which
    carries no rate (24 assumed, as for the shared tennis case)."""
    frames, rate = read_frames(frames_from, count)
    height, width = frames[0].shape[:2]
    masks = read_masks(masks_from, len(frames), (width, height))
    frames = frames[: len(masks)]  # as many frames as masks
    if len(frames) < 2:
        raise SystemExit(f"{frames_from}: fewer than 2 frames with a mask")
    if not masks[0].any():
        raise SystemExit(f"{masks_from}: the first mask is empty, so there is nothing to prompt")
    rate = fps or (rate if frames_from.is_file() else 24.0)
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "input.mp4", frames, rate)
    np.savez_compressed(out / "gt_masks.npz", masks=np.packbits(masks, axis=-1), shape=np.array(masks.shape))
    case = {
        "source_clip": frames_from.name,
        "frames": len(frames),
        "width": width,
        "height": height,
        "fps": rate,
        "prompt": prompt_of(masks[0]),
        "background_truth": False,
        "origin": f"{frames_from.name} and {masks_from.name}, first {len(frames)} frames; bench/real_case.py",
    }
    (out / "case.json").write_text(json.dumps(case, indent=1))
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("frames", type=Path, help="a video, or a folder of images")
    parser.add_argument("masks", type=Path, help="a folder of mask images, one per frame")
    parser.add_argument("out", type=Path, help="the case's folder (created)")
    parser.add_argument("--frames", dest="count", type=int, default=60)
    parser.add_argument("--fps", type=float, default=None, help="the rate of a folder of images (default 24)")
    args = parser.parse_args()
    make_case(args.frames, args.masks, args.out, args.count, args.fps)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
