"""Exemplar-based inpainting (Criminisi, Perez & Toyama 2004) at a coarse scale.

A smooth spatial fill (Telea) diffuses the colours around a hole inwards, so an edge that crosses
the hole (a mesa against the sky, a collar on a shirt) is smeared into both sides. The exemplar
fill instead copies whole patches of the known surroundings into the hole, front inwards, and
fills first where the front is most confident and where an edge (isophote) runs into it, so
structure is continued before the texture on either side of it.

It runs on a downscaled copy (at most ``max_side`` pixels a side): the patches it copies carry
the structure, and the search, one masked SSD over the known area per filled patch
(cv2.matchTemplate), stays cheap.

The greedy order is chaotic: one early pick decides what the rest of the fill builds on, and a patch
size or a crop a pixel larger picks otherwise. What the hole hides is as likely any of those fills, so
the fill is the average of the fills made with a few patch sizes (``PATCHES``): where they agree (an
edge all of them continue) it stays sharp, where they do not it tends to their mean, whose squared
error is never above the average of theirs. With the true masks of 77 attached composites (nothing
reveals what the badge hides), on their first frames: one size (9) was below per-frame Telea on 40 and
+1.20 dB over it on average, the three averaged on 20 and +2.45; averaged with the membrane, as the
never-revealed fill is (classical.py), 12 below and +2.00 -> 7 below and +2.43.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import rounded

#: Patch sizes (pixels a side, at the working scale) whose fills are averaged.
PATCHES = (7, 9, 13)


def exemplar_fill(
    image: np.ndarray, hole: np.ndarray, patches: tuple[int, ...] = PATCHES, max_side: int = 128
) -> np.ndarray | None:
    """``image`` (H, W, 3 uint8) with ``hole`` (H, W bool) filled by copying patches of the rest of it, the
    fills made with each of ``patches`` averaged; None when no whole patch of any of those sizes lies
    outside the hole to copy from."""
    h, w = hole.shape
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    # a coarse pixel is unknown as soon as the hole touches it
    unknown = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    fills = [fill for fill in (_criminisi(small, unknown, patch) for patch in patches) if fill is not None]
    if not fills:
        return None
    up = cv2.resize(np.mean(fills, axis=0), (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hole] = rounded(up[hole])
    return out


def _criminisi(image: np.ndarray, unknown: np.ndarray, patch: int) -> np.ndarray | None:
    """Fill ``unknown`` pixels of the float ``image`` in Criminisi's order; None when no source patch exists."""
    r = patch // 2
    pad = ((r, r), (r, r))
    img = np.pad(image, (*pad, (0, 0)), mode="edge")
    todo = np.pad(unknown, pad, constant_values=True)  # off the image counts as unknown
    source = ~todo
    # centres whose whole patch lies in the known area: the only patches copied from
    valid = (
        cv2.erode(source.astype(np.uint8), np.ones((patch, patch), np.uint8), borderValue=0)[r:-r, r:-r] > 0
    )
    if not valid.any():
        return None
    confidence = source.astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    inside = ~np.pad(np.zeros_like(unknown), pad, constant_values=True)  # the real image, not its padding
    while (todo & inside).any():
        known = ~todo
        front = todo & inside & (cv2.dilate(known.astype(np.uint8), kernel) > 0)
        # confidence term: the share of confident pixels in the patch around each front pixel
        c = cv2.boxFilter(confidence, -1, (patch, patch), normalize=True, borderType=cv2.BORDER_CONSTANT)
        # data term: how strongly an edge of the known image runs into the front (isophote . normal)
        grey = img.mean(2)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        solid = cv2.erode(known.astype(np.uint8), kernel) > 0  # gradients not touched by unknown pixels
        gx, gy = np.where(solid, gx, 0), np.where(solid, gy, 0)
        # the patch's dominant edge: its gradient vectors averaged, each weighted by its magnitude
        mag = np.hypot(gx, gy)
        mgx = cv2.boxFilter(gx * mag, -1, (patch, patch), normalize=False)
        mgy = cv2.boxFilter(gy * mag, -1, (patch, patch), normalize=False)
        msum = cv2.boxFilter(mag, -1, (patch, patch), normalize=False) + 1e-6
        ix, iy = -mgy / msum, mgx / msum  # isophote: the gradient turned by 90 degrees
        m = cv2.GaussianBlur(known.astype(np.float32), (5, 5), 1.0)
        nx = cv2.Sobel(m, cv2.CV_32F, 1, 0, ksize=3)
        ny = cv2.Sobel(m, cv2.CV_32F, 0, 1, ksize=3)
        norm = np.hypot(nx, ny) + 1e-6
        data = np.abs(ix * nx + iy * ny) / norm / 255.0
        ys, xs = np.nonzero(front)
        priority = c[ys, xs] * (data[ys, xs] + 1e-3)
        best = int(np.argmax(priority))
        py, px = int(ys[best]), int(xs[best])
        target = img[py - r : py + r + 1, px - r : px + r + 1]
        tknown = known[py - r : py + r + 1, px - r : px + r + 1]
        mask = np.repeat(tknown[..., None], 3, 2).astype(np.float32)
        ssd = cv2.matchTemplate(img, target, cv2.TM_SQDIFF, mask=mask)  # index: patch top-left = centre - r
        ssd = np.where(valid, ssd, np.inf)
        sy, sx = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
        fill = ~tknown
        target[fill] = img[sy : sy + patch, sx : sx + patch][fill]
        confidence[py - r : py + r + 1, px - r : px + r + 1][fill] = c[py, px]
        todo[py - r : py + r + 1, px - r : px + r + 1][fill] = False
    return img[r:-r, r:-r]
