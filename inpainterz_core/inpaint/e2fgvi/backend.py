"""E2FGVI as an Inpainter: the reference test.py schedule over a window of frames.

Frames are brought to the model's working size (CVPR22: resized to exactly 432x240;
HQ: native size, mirror-padded to multiples of 108x60 as test.py does), each schedule
step runs the generator on its neighbours + references, overlapping predictions are
averaged, and the result is resized back and pasted into the holes only.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ...checkpoints import resolve_device
from ...crops import resize, resize_hole
from ...errors import InputError
from ..base import Inpainter
from .generator import build_e2fgvi
from .schedule import REF_REACH, plan

#: HQ works on frames padded (by mirroring) to multiples of this (h, w), as test.py does.
HQ_PAD_MULTIPLE = (60, 108)
CVPR22_SIZE = (432, 240)


def _mirror_pad(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Extend ``dim`` to ``size`` by appending the flipped content (repeatedly, if one flip is short)."""
    while x.shape[dim] < size:
        x = torch.cat([x, x.flip(dim)], dim)
    return x.narrow(dim, 0, size)


class E2FGVIInpainter(Inpainter):
    """E2FGVI video inpainting (variant "hq" or "cvpr22").

    ``checkpoint=None`` leaves random weights (tests only). ``device="auto"`` picks CUDA
    when available; ``fp16`` runs the generator under float16 autocast on CUDA.
    """

    reach = REF_REACH  # its reference frames' schedule; --reach does not change it

    def __init__(
        self,
        variant: str = "hq",
        checkpoint: str | os.PathLike | None = None,
        device: str = "auto",
        fp16: bool = False,
    ):
        self.device = resolve_device(device)
        self.model = build_e2fgvi(variant, checkpoint).to(self.device)
        self.variant = variant
        self.name = "e2fgvi_hq" if variant == "hq" else "e2fgvi"
        self.work_size = CVPR22_SIZE if variant == "cvpr22" else None
        self.fp16 = fp16 and self.device.startswith("cuda")

    def _to_work_size(self, frames: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames and masks at the working size; a working pixel is a hole if any part of it was."""
        if self.work_size is None:
            return frames, masks
        small_frames = np.stack([resize(f, self.work_size) for f in frames])
        small_masks = np.stack([resize_hole(m, self.work_size) for m in masks])
        return small_frames, small_masks

    def _predict(self, frames: torch.Tensor, masks: torch.Tensor, n_local: int) -> torch.Tensor:
        """Generator output for the first ``n_local`` of (t, 3, h, w) uint8 frames, as float 0..255."""
        h, w = frames.shape[2:]
        x = frames.to(self.device, torch.float32) / 127.5 - 1.0
        x = x * (1.0 - masks.to(self.device, torch.float32))
        if self.variant == "hq":
            pad_h = -(-h // HQ_PAD_MULTIPLE[0]) * HQ_PAD_MULTIPLE[0]
            pad_w = -(-w // HQ_PAD_MULTIPLE[1]) * HQ_PAD_MULTIPLE[1]
            x = _mirror_pad(_mirror_pad(x, 2, pad_h), 3, pad_w)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            pred, _ = self.model(x[None], n_local)
        pred = pred[:n_local, :, :h, :w].float()
        return (pred + 1.0) * 127.5

    def inpaint(
        self, frames: np.ndarray, masks: np.ndarray, targets: range, before: np.ndarray | None = None
    ) -> np.ndarray:
        # ``before`` is not read: E2FGVI fills each frame from the frames around it, with no state carried
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise InputError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if masks.shape != frames.shape[:3]:
            raise InputError(f"masks must be (T, H, W) = {frames.shape[:3]}, got {masks.shape}")
        t = len(frames)
        if len(targets) == 0 or targets.start < 0 or targets.stop > t or targets.step != 1:
            raise InputError(f"targets {targets} must be a non-empty contiguous range within the {t} frames")

        work_frames, work_masks = self._to_work_size(frames, masks.astype(bool))
        frames_t = torch.from_numpy(np.ascontiguousarray(work_frames)).permute(0, 3, 1, 2)
        masks_t = torch.from_numpy(work_masks)[:, None]

        # Running 0.5/0.5 average of every prediction of each target frame, in schedule order.
        predicted: dict[int, torch.Tensor] = {}
        with torch.inference_mode():
            for step in plan(t, targets):
                ids = torch.tensor(step.frame_ids)
                pred = self._predict(frames_t[ids], masks_t[ids], len(step.neighbors)).cpu()
                for i, idx in enumerate(step.neighbors):
                    if idx in targets:
                        predicted[idx] = (
                            pred[i] if idx not in predicted else 0.5 * predicted[idx] + 0.5 * pred[i]
                        )

        h, w = frames.shape[1:3]
        out = frames[targets.start : targets.stop].copy()
        for k, idx in enumerate(targets):
            pred = predicted[idx].permute(1, 2, 0).numpy()
            pred = np.clip(np.rint(resize(pred, (w, h))), 0, 255).astype(np.uint8)
            hole = masks[idx].astype(bool)
            out[k][hole] = pred[hole]
        return out
