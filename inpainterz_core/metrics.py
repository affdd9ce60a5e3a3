"""Quality measures: J (region IoU), F (DAVIS boundary F-measure) and PSNR inside a region."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .masks import ellipse


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity J: intersection over union (1 when both masks are empty)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a binary mask, as DAVIS's seg2bmap: a pixel that differs from its E, S or SE neighbour."""
    m = np.asarray(mask, bool)
    east = np.zeros_like(m)
    south = np.zeros_like(m)
    se = np.zeros_like(m)
    east[:, :-1] = m[:, 1:]
    south[:-1, :] = m[1:, :]
    se[:-1, :-1] = m[1:, 1:]
    b = m ^ east | m ^ south | m ^ se
    b[-1, :] = m[-1, :] ^ east[-1, :]
    b[:, -1] = m[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 0.008) -> float:
    """Contour accuracy F: precision/recall of boundary pixels matched within ``tolerance`` x image diagonal."""
    pb, gb = boundary_map(pred), boundary_map(gt)
    if not pb.any() and not gb.any():
        return 1.0
    if not pb.any() or not gb.any():
        return 0.0
    radius = max(1, math.ceil(tolerance * math.hypot(*pb.shape)))
    disk = ellipse(radius)
    gb_dil = cv2.dilate(gb.astype(np.uint8), disk).astype(bool)
    pb_dil = cv2.dilate(pb.astype(np.uint8), disk).astype(bool)
    precision = (pb & gb_dil).sum() / pb.sum()
    recall = (gb & pb_dil).sum() / gb.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


class RegionScores:
    """Accumulates J, F and pooled PSNR over a clip, frame by frame (streaming)."""

    def __init__(self):
        self.j: list[float] = []
        self.f: list[float] = []
        self._sq_err = 0.0
        self._count = 0

    def add_masks(self, pred: np.ndarray, gt: np.ndarray) -> None:
        self.j.append(jaccard(pred, gt))
        self.f.append(boundary_f(pred, gt))

    def add_pixels(self, output: np.ndarray, reference: np.ndarray, region: np.ndarray) -> None:
        region = np.asarray(region, bool)
        diff = output[region].astype(np.float64) - reference[region].astype(np.float64)
        self._sq_err += float((diff**2).sum())
        self._count += diff.size

    def summary(self) -> dict:
        out = {}
        if self.j:
            j, f = float(np.mean(self.j)), float(np.mean(self.f))
            out.update(J=j, F=f, JF=(j + f) / 2)
        if self._count:
            mse = self._sq_err / self._count
            out["hole_psnr"] = float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)
        return out


def psnr(output: np.ndarray, reference: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB over the pixels of ``region`` (all pixels if None)."""
    a, b = output.astype(np.float64), reference.astype(np.float64)
    if region is not None:
        region = np.asarray(region, bool)
        a, b = a[region], b[region]
    mse = float(((a - b) ** 2).mean()) if a.size else 0.0
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)
