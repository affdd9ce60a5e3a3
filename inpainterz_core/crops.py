"""Working on a crop: a box around what matters, scaled to a working size, and the result brought back.

Segmenting, tracking and inpainting all cost per pixel, so each works on a box around the object
(``masks.bounding_box`` grown by ``masks.padded_box``), scaled down to a working size, and brings its
result back to the box's full resolution. These are the steps they share, done one way.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), exclusive end


def union(boxes: Iterable[Box | None]) -> Box | None:
    """The smallest box holding every given box (None ones are skipped), or None if there is none."""
    present = [b for b in boxes if b is not None]
    if not present:
        return None
    return (
        min(b[0] for b in present),
        min(b[1] for b in present),
        max(b[2] for b in present),
        max(b[3] for b in present),
    )


def fit(width: int, height: int, max_side: int, min_side: int = 8) -> tuple[float, tuple[int, int]]:
    """(scale, (w, h)): the scale, at most 1, that brings a ``width`` x ``height`` crop within
    ``max_side`` on its long side, and the working size it gives (each side at least ``min_side``)."""
    scale = min(1.0, max_side / max(width, height))
    if scale == 1.0:
        return scale, (width, height)
    return scale, (max(min_side, round(width * scale)), max(min_side, round(height * scale)))


def resize(image: np.ndarray, size: tuple[int, int], enlarge: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` at ``size`` (w, h): area averaging when shrinking (no aliasing), ``enlarge`` otherwise."""
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    shrinking = size[0] * size[1] < w * h
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrinking else enlarge)


def resize_hole(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A hole mask at ``size`` (w, h): a working pixel is a hole if any part of it was, so no hole pixel
    is lost on the way down (a thin scratch stays a hole) and the fill covers all of it on the way back."""
    return resize(hole.astype(np.float32), size) > 0


def uncrop_mask(crop: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """A full-frame HxW bool mask from a mask worked out on ``box`` (at any working size): scaled back to
    the box bilinearly (a pixel is in where at least half of its neighbourhood was) and placed there."""
    x0, y0, x1, y1 = box
    crop = crop.astype(np.uint8)
    if crop.shape[:2] != (y1 - y0, x1 - x0):
        crop = cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros(shape[:2], bool)
    mask[y0:y1, x0:x1] = crop > 0
    return mask
