"""Spatial fills: a hole painted from the pixels around it, in one frame.

Where no frame of the window shows what a hole hides (a logo printed on a shirt, a badge riding a
surface), the fill has to be made up from its surroundings, and spatial fills err in different ways:
- Telea (OpenCV) marches inwards from the border, extrapolating colour and gradient: it streaks where
  the border is textured;
- the membrane (``membrane``) is the smoothest surface that meets the border (Laplace's equation): it
  continues no structure, but is the least wrong where the border holds texture nothing can predict;
- the exemplar fill (exemplar.py) copies whole patches of the surroundings: it continues an edge that
  runs into the hole, and is wrong wherever it picks the wrong patch.
The never-revealed fill (classical.py) is the average of the membrane and the exemplar fill, whose errors
differ most. In place of Telea's in that average, with the true masks of 8 attach cases (the badge
rides its surface, so nothing is revealed), the membrane's gained 0.0 to +1.0 dB on every case (mean
+1.43 -> +1.71 dB over per-frame Telea), with the temporal error lower on every case; Telea's and the
membrane's errors are alike, and the three averaged, or weighed by their error on a band around the hole,
scored below the two.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

from .base import rounded

#: Unknowns the membrane is solved for in one direct sparse solve (about 10 ms on one core): a bigger hole is
#: solved smaller for its inside, and at full size along its border (``membrane``).
MEMBRANE_UNKNOWNS = 4_000
#: How deep (in the smaller solve's pixels) the full-size solve along a big hole's border reaches.
MEMBRANE_BORDER = 3


def telea(image: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """cv2.inpaint (Telea) of the non-zero pixels of ``hole`` (uint8), run on the hole's box plus a margin.

    Telea reads only pixels within ``radius`` of the hole (and one further, for the gradient of its
    distance map), so the crop gives the same result as the whole image at a fraction of the cost.
    """
    x, y, w, h = cv2.boundingRect(hole)
    if not w:
        return image.copy()
    m = radius + 3
    box = slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m)
    out = image.copy()
    out[box] = cv2.inpaint(
        np.ascontiguousarray(image[box]), np.ascontiguousarray(hole[box]), radius, cv2.INPAINT_TELEA
    )
    return out


def border_fill(image: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """``image`` (H, W, 3 uint8) with ``hole`` (H, W bool) painted from its border alone, as float32: Telea (of
    ``radius``) and the membrane averaged, the per-frame fill the propagated one leans on.

    Telea continues the border's gradients a little way in, but on plain ground its fronts overshoot where
    they meet: a badge's hole on a plain white wall came out 3-5 levels too bright down its middle (35.9
    dB against the membrane's 49.4), and no band around the hole shows it (it lies deep inside). The membrane
    has no such streak but continues no structure. With the true masks of 42 composites on seven clips
    none of this work was tried on, the average raised the attached ones' mean gain over per-frame Telea
    from +1.10 to +1.83 dB (below it 3 -> 0), and on 46 older composites none fell by more than 0.3 dB.
    """
    return (telea(image, hole.astype(np.uint8), radius).astype(np.float32) + membrane(image, hole)) / 2


def membrane(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C uint8) with ``hole`` (H, W bool) filled by the membrane over its border: each hole
    pixel the mean of its four neighbours (Laplace's equation, the border's pixels fixed; the frame's
    edge holds nothing), solved directly as one sparse system for all channels.

    A direct solve's cost grows faster than the hole (11,000 unknowns: 33 ms; 40,000: 0.15 s), but the surface is
    smooth away from the border: a hole of more than ``MEMBRANE_UNKNOWNS`` pixels is solved smaller for its inside,
    then at full size along its border, ``MEMBRANE_BORDER`` of the smaller solve's pixels deep, against the known
    pixels outside and the smaller solve's inside. On blurred noise (sigma 3-8 px) under discs, bars and a corner of
    5,000-60,000 pixels that is 1.4 times faster at 5,000, 3-4 times at 11,000-25,000 and 9 at 60,000, and within
    0.1-0.9 levels of the one full-size solve on average, 6 at most. On ``make bench``'s 480p clip it took the
    membranes from 15.7 to 7.0 of the inpainter's 65 CPU seconds (200 frames); with the true masks of 18 attached
    composites (where the membrane makes up half of what nothing reveals) the fills' gain over per-frame Telea went
    from +1.723 to +1.711 dB (none by more than 0.1 dB), and on ``make eval``'s five fills from +4.23 to +4.20.
    """
    ys, xs = np.nonzero(hole)
    if not len(ys) or hole.all():  # nothing to fill, or no border to meet
        return image.copy()
    out = image.copy()
    shrink = min(1.0, float(np.sqrt(MEMBRANE_UNKNOWNS / len(ys))))
    # the border the system reads: one pixel at full size; solved smaller, enough that the small image's
    # known pixels around the hole are made of known pixels only
    m = 1 if shrink == 1.0 else int(np.ceil(2 / shrink)) + 1
    y0, x0 = max(0, ys.min() - m), max(0, xs.min() - m)
    box = slice(y0, ys.max() + m + 1), slice(x0, xs.max() + m + 1)
    crop, area = image[box], hole[box]
    filled = _in_two_parts(crop, area, shrink) if shrink < 1.0 else None
    if filled is None:
        filled = _membrane(crop, area)
    out[box][area] = filled[area]
    return out


def _in_two_parts(crop: np.ndarray, area: np.ndarray, shrink: float) -> np.ndarray | None:
    """``crop`` with the hole ``area`` filled by the membrane solved ``shrink`` times as large for its inside, then at
    full size along its border (``membrane``); None where one solve is wanted: a hole so thin that it is all border,
    or all of the picture but a sliver that no small pixel holds alone (the smaller solve would have no border)."""
    depth = cv2.distanceTransform(area.view(np.uint8), cv2.DIST_L2, 3)
    border = area & (depth <= MEMBRANE_BORDER / shrink)
    if border.sum() > area.sum() / 2:
        return None
    size = (max(1, round(area.shape[1] * shrink)), max(1, round(area.shape[0] * shrink)))
    # unknown where the hole covers any of a small pixel (resized as 0/1 bytes, a sliver rounds to known)
    small_area = cv2.resize(area.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    if small_area.all():
        return None
    small = _membrane(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), small_area)
    inside = crop.copy()
    inside[area] = cv2.resize(small, area.shape[::-1], interpolation=cv2.INTER_LINEAR)[area]
    return _membrane(inside, border)  # (the inside stays the smaller solve's)


def _membrane(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    n = len(ys)
    index = np.full((h, w), -1, np.int64)
    index[ys, xs] = np.arange(n)
    values = image.reshape(h, w, -1).astype(np.float64)
    rows, cols, entries = [], [], []
    neighbours = np.zeros(n)
    rhs = np.zeros((n, values.shape[2]))
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        on_image = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        neighbours += on_image
        other = np.full(n, -1, np.int64)
        other[on_image] = index[ny[on_image], nx[on_image]]
        unknown = other >= 0
        rows.append(np.flatnonzero(unknown))
        cols.append(other[unknown])
        entries.append(np.full(int(unknown.sum()), -1.0))
        known = on_image & ~unknown
        rhs[known] += values[ny[known], nx[known]]
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    entries.append(np.maximum(neighbours, 1))
    system = csc_matrix((np.concatenate(entries), (np.concatenate(rows), np.concatenate(cols))), (n, n))
    out = values.copy()
    # The system is symmetric and diagonally dominant: ordered for A + A^T and factored without pivoting,
    # SuperLU fills in about half as much as with its default column ordering (the same solution, half the time).
    factors = splu(system, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    out[ys, xs] = factors.solve(rhs)
    return rounded(out).reshape(image.shape)
