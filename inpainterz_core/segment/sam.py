"""The SAM segmenter: one image embedding per frame, then each click costs only the small decoder.

segment-anything's ``SamPredictor`` holds a single image; a user clicking back and
forth between keyframes would pay the image encoder (seconds on a CPU) on every
switch. So the embeddings live here, in the segmenters' LRU ``EmbeddingCache`` keyed
by the caller's key, and ``predict`` runs SAM's prompt encoder and mask decoder directly on the
cached features, the same calls ``SamPredictor.predict_torch`` makes.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import torch
from segment_anything import sam_model_registry
from segment_anything.utils.transforms import ResizeLongestSide

from ..checkpoints import load_into, resolve_device
from ..errors import InputError
from ..prompts import ObjectPrompt
from .base import EmbeddingCache, Segmenter, rgb_image


@dataclass(frozen=True)
class _Embedding:
    features: torch.Tensor  # 1x256x64x64, the image encoder's output
    original_size: tuple[int, int]  # (H, W) of the caller's image
    input_size: tuple[int, int]  # (H, W) after resizing the long side to 1024, before padding


class SAMSegmenter(Segmenter):
    """Segment Anything; ``checkpoint=None`` gives random weights (for tests and timing only)."""

    name = "sam"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str = "auto",
        model_type: str = "vit_b",
        cache_size: int = 8,
    ):
        if model_type not in sam_model_registry:
            raise InputError(
                f"unknown SAM model type {model_type!r}: use one of {', '.join(sam_model_registry)}"
            )
        self._embeddings: EmbeddingCache[_Embedding] = EmbeddingCache(cache_size)
        self.device = resolve_device(device)
        model = sam_model_registry[model_type](checkpoint=None)
        if checkpoint is not None:
            load_into(model, checkpoint, f"SAM {model_type}")
        self.model = model.to(self.device).eval()
        self.transform = ResizeLongestSide(model.image_encoder.img_size)
        with torch.inference_mode():  # the decoder's positional encoding never changes: compute it once
            self._dense_pe = self.model.prompt_encoder.get_dense_pe()

    @torch.inference_mode()
    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        """Embed ``image`` under ``key``, unless an image of the same size is already cached there.

        The key names the image (a frame of one video): setting the same image again is free,
        which is what lets a server call ``set_image`` before every click.
        """
        image = rgb_image(image, "SAM")
        self._embeddings.get_or_make(key, image, lambda: self._embed(image))

    def _embed(self, image: np.ndarray) -> _Embedding:
        resized = self.transform.apply_image(image)
        pixels = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        features = self.model.image_encoder(self.model.preprocess(pixels))
        return _Embedding(features, image.shape[:2], resized.shape[:2])

    @torch.inference_mode()
    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        """The object's HxW bool mask on the image under ``key``, from the prompt's points and box alone
        (the prompt carries every click on the object)."""
        embedding = self._embeddings[key]
        points = boxes = None
        if prompt.points:
            coords = np.array([[p.x, p.y] for p in prompt.points], dtype=np.float64)
            coords = self.transform.apply_coords(coords, embedding.original_size)
            labels = [p.label for p in prompt.points]
            points = (
                torch.as_tensor(coords, dtype=torch.float, device=self.device)[None],
                torch.as_tensor(labels, dtype=torch.int, device=self.device)[None],
            )
        if prompt.box is not None:
            box = self.transform.apply_boxes(np.array(prompt.box, dtype=np.float64), embedding.original_size)
            boxes = torch.as_tensor(box, dtype=torch.float, device=self.device)

        # One click is ambiguous (a shirt or the whole person?): ask for three masks and keep
        # the one SAM rates best, as SAM's authors recommend. More prompts: one mask.
        multimask = len(prompt.points) == 1 and prompt.box is None
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=None)
        low_res, iou = self.model.mask_decoder(
            image_embeddings=embedding.features,
            image_pe=self._dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )
        best = int(iou[0].argmax())
        low_res = low_res[:, best : best + 1]
        logits = self.model.postprocess_masks(low_res, embedding.input_size, embedding.original_size)
        return (logits[0, 0] > self.model.mask_threshold).cpu().numpy()
