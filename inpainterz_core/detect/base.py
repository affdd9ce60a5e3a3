"""The Detector interface: an RGB image and a text prompt -> boxes, each with the phrase it matched.

A concrete detector implements ``_detect_raw`` (what the model says); ``detect`` checks that
output the same way for every detector, a test's fake one included: boxes are clipped to the
image, boxes off it, too thin or covering nearly all of it are dropped, as are phrases the prompt
did not name and scores under the box threshold; duplicates of one phrase are suppressed (NMS).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..prompts import TextPrompt

log = logging.getLogger(__name__)

#: A side shorter than this (pixels, after clipping) is no object.
MIN_SIDE = 2.0
#: A box covering more than this fraction of the image is the scene, not an object in it.
MAX_AREA = 0.9
#: Boxes of one phrase overlapping more than this (IoU) are one object: the best scored is kept.
NMS_IOU = 0.5


@dataclass(frozen=True)
class Detection:
    """One found object: its box (x0, y0, x1, y1 in image pixels, origin top-left), phrase and score."""

    box: tuple[float, float, float, float]
    phrase: str
    score: float

    def __post_init__(self):
        if isinstance(self.box, str | bytes) or len(self.box) != 4:
            raise ValueError(f"a detection's box is 4 numbers x0, y0, x1, y1, not {self.box!r}")
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "score", float(self.score))

    def to_dict(self) -> dict:
        return {"box": list(self.box), "phrase": self.phrase, "score": self.score}


class Detector(ABC):
    #: Registry name, e.g. "grounding-dino-tiny".
    name: str = ""

    def detect(self, image: np.ndarray, text: TextPrompt) -> list[Detection]:
        """The checked detections of ``text``'s phrases on an RGB uint8 HxWx3 image, best score first."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"{self.name} needs an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
        raw = self._detect_raw(image, text.phrases, text.box_threshold, text.text_threshold)
        height, width = image.shape[:2]
        return check_detections(raw, width, height, text.phrases, text.box_threshold)

    @abstractmethod
    def _detect_raw(
        self, image: np.ndarray, phrases: tuple[str, ...], box_threshold: float, text_threshold: float
    ) -> list[Detection]:
        """What the model finds, unchecked: boxes in the image's pixels, each with one of ``phrases``."""


def check_detections(
    detections, width: int, height: int, phrases: tuple[str, ...], box_threshold: float = 0.0
) -> list[Detection]:
    """Clip, filter and de-duplicate raw detections (see the module docstring); best score first."""
    kept, dropped = [], []
    for d in detections:
        x0, y0, x1, y1 = d.box
        phrase = " ".join(str(d.phrase).split()).lower()
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1, d.score)):
            dropped.append((d, "not a finite box or score"))
            continue
        if phrase not in phrases:
            dropped.append((d, "a phrase the prompt did not name"))
            continue
        if d.score < box_threshold:
            dropped.append((d, "scored under the box threshold"))
            continue
        cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
        cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        if cx1 - cx0 < MIN_SIDE or cy1 - cy0 < MIN_SIDE:
            dropped.append((d, "off the frame or under 2 px a side"))
            continue
        if (cx1 - cx0) * (cy1 - cy0) > MAX_AREA * width * height:
            dropped.append((d, f"covers more than {MAX_AREA:.0%} of the frame"))
            continue
        kept.append(Detection((cx0, cy0, cx1, cy1), phrase, d.score))
    for d, why in dropped:
        log.info("detection %s %r (%.2f) dropped: %s", [round(v, 1) for v in d.box], d.phrase, d.score, why)
    result = []
    for phrase in phrases:
        result += _nms([d for d in kept if d.phrase == phrase], NMS_IOU)
    return sorted(result, key=lambda d: -d.score)


def _nms(detections: list[Detection], iou_limit: float) -> list[Detection]:
    """Greedy non-maximum suppression: the best box stays, the boxes overlapping it more than the limit go."""
    remaining = sorted(detections, key=lambda d: -d.score)
    kept = []
    while remaining:
        best = remaining.pop(0)
        kept.append(best)
        remaining = [d for d in remaining if box_iou(best.box, d.box) <= iou_limit]
    return kept


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def missing_phrases(text: TextPrompt, detections) -> list[str]:
    """The prompt's phrases no detection matched, in the prompt's order."""
    found = {d.phrase for d in detections}
    return [p for p in text.phrases if p not in found]
