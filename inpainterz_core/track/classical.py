"""Classical tracking: warp the mask along dense optical flow, then snap it to the object's colours.

Per object and per frame:
1. DIS optical flow from the new frame back to the previous one, on a crop around
   the object (scaled to at most ``work_side`` pixels), warps the previous mask
   into a soft prior;
2. colour histograms of the object and of the ring around it, learnt on the
   reference frame, give a per-pixel likelihood ratio;
3. near the warped boundary the two are combined, so the mask follows the object
   (flow) without drifting off its edges (colour); far from it the prior decides.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..masks import bounding_box, dilate, padded_box
from .base import Tracker

_BINS = 16  # per channel; 4096-bin RGB histograms


def _colour_index(image: np.ndarray) -> np.ndarray:
    q = (image >> 4).astype(np.int32)
    return (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]


class ColourModel:
    """Object vs surroundings colour histograms; ``log_ratio`` says how object-like each pixel is.

    The object's colours are learnt once, on the keyframe. Its surroundings change as it
    moves, so they are re-learnt a little on every frame (``learn_surroundings``): a white
    wall the white logo is about to cross is background by the time they touch.
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray):
        self.fg = self._histogram(image, mask)
        self.bg = self._histogram(image, self._ring(mask))
        self._update_table()

    @staticmethod
    def _ring(mask: np.ndarray) -> np.ndarray:
        size = max(8, int(np.sqrt(mask.sum())) // 2)
        return dilate(mask, size) & ~dilate(mask, 2)

    @staticmethod
    def _histogram(image: np.ndarray, where: np.ndarray) -> np.ndarray:
        counts = np.bincount(_colour_index(image)[where], minlength=_BINS**3).astype(np.float32) + 0.5
        return counts / counts.sum()

    def _update_table(self) -> None:
        self.table = np.log(self.fg) - np.log(self.bg)

    def learn_surroundings(self, image: np.ndarray, mask: np.ndarray, rate: float) -> None:
        if mask.any():
            self.bg = (1 - rate) * self.bg + rate * self._histogram(image, self._ring(mask))
            self._update_table()

    def log_ratio(self, image: np.ndarray) -> np.ndarray:
        return self.table[_colour_index(image)]


class _Object:
    def __init__(self, image: np.ndarray, mask: np.ndarray):
        self.colours = ColourModel(image, mask)
        self.mask = mask


class FlowTracker(Tracker):
    name = "flow"

    def __init__(self, work_side: int = 320, colour_weight: float = 0.8, band: float = 0.2,
                 surroundings_rate: float = 0.1):
        self.work_side = work_side
        self.surroundings_rate = surroundings_rate
        self.colour_weight = colour_weight
        self.band = band  # width of the refinement band, as a fraction of the object's size
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._objects: dict[int, _Object] = {}
        self._gray: np.ndarray | None = None

    def reset(self, image: np.ndarray, labels: np.ndarray) -> None:
        self._gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        self._objects = {int(k): _Object(image, labels == k) for k in np.unique(labels) if k}

    def correct(self, image: np.ndarray, labels: np.ndarray) -> None:
        self.reset(image, labels)

    def step(self, image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        labels = np.zeros(gray.shape, np.uint8)
        for object_id, obj in self._objects.items():
            if obj.mask.any():
                obj.mask = self._propagate(obj, image, gray)
            labels[obj.mask] = object_id
        self._gray = gray
        return labels

    def _propagate(self, obj: _Object, image: np.ndarray, gray: np.ndarray) -> np.ndarray:
        h, w = gray.shape
        box = bounding_box(obj.mask)
        size = max(box[2] - box[0], box[3] - box[1])
        x0, y0, x1, y1 = padded_box(box, pad=max(16, size // 2), width=w, height=h)
        scale = min(1.0, self.work_side / max(x1 - x0, y1 - y0))
        dsize = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))

        def shrink(a, interp=cv2.INTER_AREA):
            return cv2.resize(a, dsize, interpolation=interp) if scale < 1 else a

        cur = np.ascontiguousarray(shrink(gray[y0:y1, x0:x1]))
        prev = np.ascontiguousarray(shrink(self._gray[y0:y1, x0:x1]))
        flow = self._flow.calc(cur, prev, None)  # cur(p) ~ prev(p + flow(p))
        gx, gy = np.meshgrid(np.arange(dsize[0], dtype=np.float32), np.arange(dsize[1], dtype=np.float32))
        prior = cv2.remap(shrink(obj.mask[y0:y1, x0:x1].astype(np.float32), cv2.INTER_LINEAR),
                          gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderValue=0)

        small_image = shrink(image[y0:y1, x0:x1])
        colour = obj.colours.log_ratio(small_image)
        evidence = np.log(np.clip(prior, 0.02, 0.98) / np.clip(1 - prior, 0.02, 0.98))
        evidence += self.colour_weight * np.clip(colour, -6, 6)
        crisp = prior > 0.5
        band_px = max(2, round(self.band * size * scale))
        band = dilate(crisp, band_px) & ~cv2.erode(crisp.astype(np.uint8), np.ones((2 * band_px + 1,) * 2)).astype(bool)
        refined = np.where(band, evidence > 0, crisp).astype(np.uint8)
        refined = cv2.morphologyEx(refined, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        refined = cv2.morphologyEx(refined, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        obj.colours.learn_surroundings(small_image, refined > 0, self.surroundings_rate)
        if scale < 1:
            refined = cv2.resize(refined, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = refined > 0
        return mask
