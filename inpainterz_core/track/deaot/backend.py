"""DeAOT as an Inpainterz tracking backend."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from ...checkpoints import resolve_device
from ...errors import InputError
from ..base import Tracker
from .engine import DeAOTEngine
from .model import build_deaot
from .preprocess import image_to_tensor, labels_to_tensor, network_size

MAX_LABEL_ID = 255


class DeAOTTracker(Tracker):
    """R50-DeAOT-L propagation of a label map with up to 255 objects.

    Label ids in the user's maps are arbitrary (1..255); the engine wants contiguous
    1..N, so ids are renumbered on the way in and mapped back on the way out. More
    than 10 objects run as several object groups inside one engine.
    """

    name = "deaot"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str = "auto",
        fp16: bool = False,
        long_term_mem_gap: int = 9999,
        max_len_long_term: int = 9999,
    ):
        self.device = resolve_device(device)
        self.fp16 = fp16 and self.device.startswith("cuda")
        self.long_term_mem_gap = long_term_mem_gap
        self.max_len_long_term = max_len_long_term
        self.model = build_deaot("r50_deaotl", checkpoint).to(self.device)
        self.engine: DeAOTEngine | None = None
        self._object_ids = np.zeros(0, dtype=np.uint8)  # contiguous id i+1 -> user id _object_ids[i]

    def reset(self, image: np.ndarray, labels: np.ndarray) -> None:
        self._check(image, labels)
        self._object_ids = np.zeros(0, dtype=np.uint8)
        self.engine = DeAOTEngine(
            self.model, long_term_mem_gap=self.long_term_mem_gap, max_len_long_term=self.max_len_long_term
        )
        self._add_reference(image, labels)

    def step(self, image: np.ndarray) -> np.ndarray:
        if self.engine is None:
            raise RuntimeError("DeAOTTracker.step() before reset(): give it a reference frame first")
        self._check(image)
        height, width = image.shape[:2]
        with self._inference():
            self.engine.match_propagate_one_frame(self._image(image))
            logits = self.engine.decode_current_logits((height, width))
            contiguous = logits.argmax(dim=1, keepdim=True)
            self.engine.update_memory(contiguous)
        to_user_id = np.concatenate([[0], self._object_ids]).astype(np.uint8)
        return to_user_id[contiguous[0, 0].cpu().numpy()]

    def correct(self, image: np.ndarray, labels: np.ndarray) -> None:
        """A corrected keyframe joins long-term memory as an extra reference; earlier memory is kept."""
        if self.engine is None:
            self.reset(image, labels)
            return
        self._check(image, labels)
        self._add_reference(image, labels)

    def _add_reference(self, image: np.ndarray, labels: np.ndarray) -> None:
        new_ids = np.setdiff1d(np.unique(labels[labels > 0]), self._object_ids)
        self._object_ids = np.concatenate([self._object_ids, new_ids]).astype(np.uint8)
        to_contiguous = np.zeros(MAX_LABEL_ID + 1, dtype=np.uint8)
        to_contiguous[self._object_ids] = np.arange(1, len(self._object_ids) + 1)
        contiguous = labels_to_tensor(to_contiguous[labels]).to(self.device)
        with self._inference():
            self.engine.add_reference_frame(self._image(image), contiguous, obj_nums=len(self._object_ids))

    def _image(self, image: np.ndarray) -> torch.Tensor:
        return image_to_tensor(image, network_size(*image.shape[:2])).to(self.device)

    def _inference(self):
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.fp16:
            stack.enter_context(torch.autocast("cuda", dtype=torch.float16))
        return stack

    @staticmethod
    def _check(image: np.ndarray, labels: np.ndarray | None = None) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"DeAOT wants an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
        if labels is not None and (labels.dtype != np.uint8 or labels.shape != image.shape[:2]):
            raise InputError(
                f"DeAOT wants a uint8 label map of the image's size {image.shape[:2]}, got {labels.dtype} {labels.shape}"
            )
