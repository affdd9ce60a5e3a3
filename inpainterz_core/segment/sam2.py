"""SAM 2.1 and EdgeTAM as segmenters, through transformers' ``Sam2Model`` / ``EdgeTamModel``.

Like the SAM segmenter, the image embeddings live in the segmenters' LRU ``EmbeddingCache``
keyed by the caller's key, so clicking back and forth between keyframes pays the image encoder once
per frame; each click runs only the prompt encoder and mask decoder (the library's
``forward`` with ``image_embeddings``). The architecture comes from the folder's
config.json, so a small stand-in folder loads and runs like the published one.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import resolve_device
from ..errors import InputError, MissingWeightsError
from ..prompts import ObjectPrompt
from .base import EmbeddingCache, Segmenter, rgb_image

FAMILIES = ("sam2", "edgetam")


def model_classes(family: str):
    """(image model class, video model class) of a family; both load the same Hugging Face folder."""
    if family == "sam2":
        from transformers import Sam2Model, Sam2VideoModel

        return Sam2Model, Sam2VideoModel
    if family == "edgetam":
        from transformers import EdgeTamModel, EdgeTamVideoModel

        return EdgeTamModel, EdgeTamVideoModel
    raise InputError(f"unknown model family {family!r}: use one of {', '.join(FAMILIES)}")


def load_pretrained(cls, folder: str | os.PathLike, what: str):
    """``cls.from_pretrained(folder)`` with transformers' chatter off and any failure as one clear line."""
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "a sam2_video checkpoint into Sam2Model" is expected here
    hf_logging.disable_progress_bar()
    try:
        return cls.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # truncated safetensors, a config of another model, missing files: all one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MissingWeightsError(
            f"{folder} does not load as {what} ({type(e).__name__}: {first}); run `inpainterz weights verify "
            f"{folder.name}` and fetch it again"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


@dataclass(frozen=True)
class _Embedding:
    features: list  # the image model's per-level embeddings
    original_size: tuple[int, int]  # (H, W) of the caller's image


class Sam2Segmenter(Segmenter):
    """Clicks and boxes to a mask with SAM 2.1 or EdgeTAM (``family`` "sam2" or "edgetam")."""

    def __init__(
        self,
        folder: str | os.PathLike,
        family: str = "sam2",
        device: str = "auto",
        name: str | None = None,
        cache_size: int = 8,
    ):
        from transformers import Sam2Processor

        self._embeddings: EmbeddingCache[_Embedding] = EmbeddingCache(cache_size)
        image_class, _ = model_classes(family)
        self.name = name or Path(folder).name
        self.device = resolve_device(device)
        self.model = load_pretrained(image_class, folder, f"a {family} model").to(self.device).eval()
        self.processor = load_pretrained(Sam2Processor, folder, f"a {family} processor")

    @torch.inference_mode()
    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        """Embed ``image`` under ``key``, unless that image is already cached there."""
        image = rgb_image(image, self.name)
        self._embeddings.get_or_make(key, image, lambda: self._embed(image))

    def _embed(self, image: np.ndarray) -> _Embedding:
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device)
        return _Embedding(self.model.get_image_embeddings(pixels), image.shape[:2])

    @torch.inference_mode()
    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        """The object's HxW bool mask on the image under ``key``, from all the prompt's clicks and box."""
        embedding = self._embeddings[key]
        height, width = embedding.original_size
        prompts = {}
        if prompt.points:
            prompts["input_points"] = [[[[p.x, p.y] for p in prompt.points]]]
            prompts["input_labels"] = [[[p.label for p in prompt.points]]]
        if prompt.box is not None:
            prompts["input_boxes"] = [[list(prompt.box)]]
        inputs = self.processor(original_sizes=[[height, width]], return_tensors="pt", **prompts)
        # One click is ambiguous (a shirt or the whole person?): ask for three masks and keep the best rated.
        multimask = len(prompt.points) == 1 and prompt.box is None
        outputs = self.model(
            image_embeddings=embedding.features,
            input_points=_on(inputs.get("input_points"), self.device),
            input_labels=_on(inputs.get("input_labels"), self.device),
            input_boxes=_on(inputs.get("input_boxes"), self.device),
            input_masks=None,
            multimask_output=multimask,
        )
        best = int(outputs.iou_scores[0, 0].argmax())
        low_res = outputs.pred_masks[:, 0, best : best + 1]  # 1x1xhxw
        masks = self.processor.post_process_masks(low_res[:, None].cpu(), [[height, width]], binarize=True)
        return masks[0][0, 0].numpy().astype(bool)


def _on(tensor, device):
    return None if tensor is None else tensor.to(device)
