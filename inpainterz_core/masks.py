"""Masks: label maps, run-length encoding for transport, dilation and feathering, crop boxes.

A label map is an HxW uint8 array: 0 is background, k is object k.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError

# -- run-length encoding -------------------------------------------------------------------------
# Row-major (C order) runs over a binary mask, starting with a run of zeros (possibly empty):
# {"size": [h, w], "counts": [zeros, ones, zeros, ...]}. Cheap to encode with numpy and to
# decode in pure Python (the Blender add-on has no numpy guarantee).


def rle_encode(mask: np.ndarray) -> dict:
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    h, w = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w or (counts < 0).any():
        raise InputError(f"run-length mask does not add up to {h}x{w} pixels")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(h, w)


# -- morphology -------------------------------------------------------------------------------------


def ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a binary mask by ``radius`` pixels (elliptic structuring element)."""
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), ellipse(radius)).astype(bool)


def to_the_frame_edge(hole: np.ndarray, reach: int, sides: list[bool]) -> np.ndarray:
    """``hole`` with the pixels between it and the frame's edge added, where it comes within ``reach`` of one of
    the ``sides`` (left, top, right, bottom) that the object runs off the picture by.

    Between an object cut off by the frame and the frame's edge, a strip that thin is more likely its rim than
    ground: a badge half out was masked 5 px short of the edge on some rows, the hole grown by 4 px left its last
    column in, and the fill read that column as ground and painted it into the hole (12 dB down on that frame).
    Along a side the object does not reach, the strip is ground, and is kept.
    """
    hole = np.asarray(hole, dtype=bool)
    out = hole.copy()
    r = min(reach, hole.shape[0] - 1, hole.shape[1] - 1)
    if r <= 0:
        return out
    left, top, right, bottom = sides
    # The r + 1 rows or columns along a side: each is set where it, or any further in among them, is.
    if left:
        out[:, : r + 1] |= np.logical_or.accumulate(hole[:, r::-1], axis=1)[:, ::-1]
    if right:
        out[:, -r - 1 :] |= np.logical_or.accumulate(hole[:, -r - 1 :], axis=1)
    if top:
        out[: r + 1] |= np.logical_or.accumulate(hole[r::-1], axis=0)[::-1]
    if bottom:
        out[-r - 1 :] |= np.logical_or.accumulate(hole[-r - 1 :], axis=0)
    return out


def sides_touched(mask: np.ndarray, margin: int = 2) -> list[bool]:
    """Whether ``mask`` reaches (within ``margin`` px) the frame's left, top, right and bottom sides."""
    box = bounding_box(mask)
    if box is None:
        return [False] * 4
    x0, y0, x1, y1 = box
    h, w = mask.shape
    return [x0 <= margin, y0 <= margin, x1 >= w - margin, y1 >= h - margin]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (uint8 0/1) with every region it encloses filled in (a shirt's logo is part of the shirt)."""
    h, w = mask.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside[1:-1, 1:-1] != 2).astype(np.uint8)


def feather(mask: np.ndarray, radius: int) -> np.ndarray:
    """A float32 alpha in [0, 1] that is 1 on ``mask`` and falls to 0 over ``radius`` pixels outside it.

    Used for pasting a filled crop back: the hole itself is fully replaced, and the
    blend happens only in the ring around it, so pixels beyond the ring stay exact.
    """
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return mask.astype(np.float32)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(1.0 - dist / float(radius + 1), 0.0, 1.0).astype(np.float32)


# -- crop boxes ---------------------------------------------------------------------------------------


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive end, of the True pixels, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_side(box: tuple[int, int, int, int]) -> int:
    """A box's longer side: the size of what it bounds."""
    return max(box[2] - box[0], box[3] - box[1])


def padded_box(
    box: tuple[int, int, int, int], pad: int, width: int, height: int, min_size: int = 64
) -> tuple[int, int, int, int]:
    """Grow a box by ``pad`` on each side (and to at least ``min_size``), clipped to the frame."""
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    for lo, hi, limit, axis in ((x0, x1, width, 0), (y0, y1, height, 1)):
        short = max(0, min(min_size, limit) - (hi - lo))
        lo, hi = lo - short // 2, hi + short - short // 2
        shift = max(0, -lo) - max(0, hi - limit)
        lo, hi = max(0, lo + shift), min(limit, hi + shift)
        if axis == 0:
            x0, x1 = lo, hi
        else:
            y0, y1 = lo, hi
    return x0, y0, x1, y1
