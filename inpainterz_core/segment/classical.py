"""Classical segmentation from clicks and boxes: GrabCut seeded from the prompts.

No weights, no GPU. ``set_image`` keeps a smoothed copy of the frame (the
"embedding" of this backend); ``predict`` runs GrabCut on a crop around the
prompt, scaled to at most ``work_side`` pixels, so a click costs the same on a
480p and a 4K frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import cv2
import numpy as np

from ..masks import bounding_box, ellipse, padded_box
from ..prompts import ObjectPrompt
from .base import Segmenter


class GrabCutSegmenter(Segmenter):
    name = "grabcut"

    def __init__(self, cache_size: int = 8, work_side: int = 256, iterations: int = 3):
        self.cache_size = cache_size
        self.work_side = work_side
        self.iterations = iterations
        self._images: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        if key in self._images:
            self._images.move_to_end(key)
            return
        # Edge-preserving smoothing takes the compression noise out of the colour models.
        self._images[key] = cv2.bilateralFilter(np.ascontiguousarray(image), 5, 30, 5)
        while len(self._images) > self.cache_size:
            self._images.popitem(last=False)

    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        image = self._images[key]
        self._images.move_to_end(key)
        box = self._region_of_interest(image, prompt)
        mask = self._grabcut(image, box, prompt, None)
        # A click alone only says where the object starts: while the mask fills its box to the
        # edge, the object goes on beyond it, so grow the box around the mask and cut again.
        for _ in range(3 if prompt.box is None else 0):
            found = bounding_box(mask)
            if found is None or not _touches(found, box, image.shape):
                break
            size = max(found[2] - found[0], found[3] - found[1])
            box = padded_box(found, pad=size // 2, width=image.shape[1], height=image.shape[0], min_size=0)
            grown = self._grabcut(image, box, prompt, mask)
            if grown.sum() > 3 * mask.sum():  # leaking into the background, not completing the object
                break
            mask = grown
        return mask

    def _grabcut(self, image, box, prompt: ObjectPrompt, previous: np.ndarray | None) -> np.ndarray:
        """GrabCut in a crop around ``box`` (probable foreground), clicks as certain seeds; ``previous``
        (the cut before the box grew) is probable foreground too."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = padded_box(
            box, pad=max(8, (box[2] - box[0] + box[3] - box[1]) // 4), width=w, height=h
        )
        crop = image[y0:y1, x0:x1]
        scale = min(1.0, self.work_side / max(crop.shape[:2]))
        small = (
            cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
        )

        seeds = np.full(small.shape[:2], cv2.GC_BGD, np.uint8)
        bx0, by0, bx1, by1 = ((np.array(box) - [x0, y0, x0, y0]) * scale).round().astype(int)
        seeds[max(by0, 0) : by1, max(bx0, 0) : bx1] = cv2.GC_PR_FGD
        if previous is not None:
            prev = cv2.resize(
                previous[y0:y1, x0:x1].astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST
            ).astype(bool)
            seeds[prev] = cv2.GC_PR_FGD
        if not (seeds == cv2.GC_BGD).any():  # the box fills the frame: its rim is the only background hint
            rim = np.ones_like(seeds, bool)
            rim[2:-2, 2:-2] = False
            seeds[rim] = cv2.GC_PR_BGD
        radius = max(2, round(3 * scale * max(1.0, max(h, w) / 1000)))
        for p in prompt.points:
            centre = (round((p.x - x0) * scale), round((p.y - y0) * scale))
            cv2.circle(seeds, centre, radius, int(cv2.GC_FGD if p.label else cv2.GC_BGD), -1)

        cv2.setRNGSeed(0)  # GrabCut's k-means init: same prompts, same mask, in every process
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.grabCut(small, seeds, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        fg = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        fg = _keep_prompted_components(fg, prompt, x0, y0, scale)
        if scale < 1:
            fg = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = fg > 0
        return mask

    def _region_of_interest(self, image, prompt: ObjectPrompt) -> tuple[int, int, int, int]:
        """The box GrabCut works in: the user's box, else one grown around the positive clicks."""
        h, w = image.shape[:2]
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            return max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        positives = [p for p in prompt.points if p.label] or list(prompt.points)
        boxes = [_flood_box(image, int(p.x), int(p.y)) for p in positives]
        xs0, ys0, xs1, ys1 = zip(*boxes, strict=True)
        box = min(xs0), min(ys0), max(xs1), max(ys1)
        # Leave a margin around the colour region, so an object that is exactly that region does
        # not touch its search box (which would make ``predict`` grow the box and cut again).
        margin = max(4, max(box[2] - box[0], box[3] - box[1]) // 5)
        return padded_box(box, pad=margin, width=w, height=h, min_size=0)


def _touches(found, box, shape, margin: int = 2) -> bool:
    """Does the mask's box reach an edge of the search box that is not the frame's edge?"""
    h, w = shape[:2]
    return any(
        (
            found[0] <= box[0] + margin and box[0] > 0,
            found[1] <= box[1] + margin and box[1] > 0,
            found[2] >= box[2] - margin and box[2] < w,
            found[3] >= box[3] - margin and box[3] < h,
        )
    )


def _flood_box(image: np.ndarray, x: int, y: int, tolerance: int = 20) -> tuple[int, int, int, int]:
    """Box of the object under a click: the clicked colour region, chained to nearby regions of that colour.

    A logo's letters are separate blobs of one colour: starting from the clicked
    blob, blobs of the same colour closer than half the blob's size are added
    until none is left. If the colour leaks over most of the search window, a
    box of moderate size around the click is used instead.
    """
    h, w = image.shape[:2]
    limit = max(32, min(h, w) // 4)
    x0, y0 = max(0, x - limit), max(0, y - limit)
    x1, y1 = min(w, x + limit + 1), min(h, y + limit + 1)
    # Work on a window of at most ~200 px: the box only needs to be roughly right, and a 4K click costs the same.
    scale = min(1.0, 200 / max(x1 - x0, y1 - y0))
    window = cv2.resize(image[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cx, cy = (
        min(round((x - x0) * scale), window.shape[1] - 1),
        min(round((y - y0) * scale), window.shape[0] - 1),
    )
    similar = np.abs(window.astype(np.int16) - window[cy, cx].astype(np.int16)).max(axis=2) <= tolerance
    _, blobs = cv2.connectedComponents(similar.astype(np.uint8), connectivity=8)
    reach = blobs == blobs[cy, cx]
    for _ in range(16):
        bx0, by0, bx1, by1 = bounding_box(reach)
        gap = max(2, max(bx1 - bx0, by1 - by0) // 2)
        touched = np.unique(blobs[cv2.dilate(reach.astype(np.uint8), ellipse(gap)).astype(bool) & similar])
        grown = np.isin(blobs, touched[touched > 0])
        if grown.sum() == reach.sum():
            break
        reach = grown
    bx0, by0, bx1, by1 = bounding_box(reach)
    if reach.mean() > 0.5 or (bx1 - bx0) * (by1 - by0) > 0.8 * reach.size:
        half = max(16, min(h, w) // 12)
        return max(0, x - half), max(0, y - half), min(w, x + half + 1), min(h, y + half + 1)
    return (
        x0 + int(bx0 / scale),
        y0 + int(by0 / scale),
        min(w, x0 + int(np.ceil(bx1 / scale))),
        min(h, y0 + int(np.ceil(by1 / scale))),
    )


def _keep_prompted_components(
    fg: np.ndarray, prompt: ObjectPrompt, x0: int, y0: int, scale: float
) -> np.ndarray:
    """Drop stray foreground blobs: keep components touching a positive click, or the largest ones."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 2:
        return fg
    keep = set()
    for p in prompt.points:
        if p.label:
            cx = min(max(round((p.x - x0) * scale), 0), fg.shape[1] - 1)
            cy = min(max(round((p.y - y0) * scale), 0), fg.shape[0] - 1)
            if labels[cy, cx]:
                keep.add(int(labels[cy, cx]))
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Letters of a logo are separate blobs: keep every blob of a meaningful size, not just the clicked one.
    keep.update(int(i) + 1 for i in np.flatnonzero(areas >= 0.05 * areas.max()))
    return np.isin(labels, sorted(keep)).astype(np.uint8)
