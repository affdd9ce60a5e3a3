"""Grounding DINO as a detector, through transformers' ``GroundingDinoForObjectDetection``.

The phrases go to the model as one caption ("logo. boom mic."); each of its boxes scores every
token of the caption, so a box's phrase is the phrase whose tokens score highest on it. That is
the reference model's rule, done per phrase here instead of decoding the tokens above the text
threshold (which can join two phrases into one label). The architecture comes from the folder's
config.json, so a small stand-in folder loads and runs like the published one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import resolve_device
from ..errors import InputError
from ..segment.sam2 import load_pretrained
from .base import Detection, Detector


class GroundingDinoDetector(Detector):
    """Text phrases to boxes with a Grounding DINO folder in the Hugging Face layout."""

    def __init__(self, folder: str | os.PathLike, device: str = "auto", name: str | None = None):
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        self.name = name or Path(folder).name
        self.device = resolve_device(device)
        self.model = load_pretrained(GroundingDinoForObjectDetection, folder, "a Grounding DINO model")
        self.model = self.model.to(self.device).eval()
        self.processor = load_pretrained(GroundingDinoProcessor, folder, "a Grounding DINO processor")

    @torch.inference_mode()
    def _detect_raw(
        self, image: np.ndarray, phrases: tuple[str, ...], box_threshold: float, text_threshold: float
    ) -> list[Detection]:
        caption, spans = _caption(phrases)
        tokens = self.processor.tokenizer(caption, return_offsets_mapping=True)["offset_mapping"]
        if len(tokens) > self.model.config.max_text_len:
            raise InputError(
                f"the text is {len(tokens)} tokens long; {self.name} reads at most "
                f"{self.model.config.max_text_len}: name fewer things"
            )
        inputs = self.processor(images=image, text=caption, return_tensors="pt").to(self.device)
        outputs = self.model(**inputs)
        probs = outputs.logits[0].sigmoid()[:, : len(tokens)].float().cpu()  # queries x caption tokens
        phrase_scores = torch.stack([probs[:, _token_indices(tokens, span)].amax(1) for span in spans], 1)
        box_scores = probs.amax(1)
        best_score, best_phrase = phrase_scores.max(1)
        keep = (box_scores > box_threshold) & (best_score > text_threshold)
        height, width = image.shape[:2]
        cx, cy, w, h = (outputs.pred_boxes[0].float().cpu() * torch.tensor([width, height] * 2)).unbind(1)
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        return [
            Detection(tuple(boxes[i].tolist()), phrases[int(best_phrase[i])], float(box_scores[i]))
            for i in torch.nonzero(keep).flatten().tolist()
        ]


def _caption(phrases: tuple[str, ...]) -> tuple[str, list[tuple[int, int]]]:
    """The caption the model was trained on ("a. b.") and each phrase's character span in it."""
    caption, spans = "", []
    for phrase in phrases:
        spans.append((len(caption), len(caption) + len(phrase)))
        caption += phrase + ". "
    return caption.strip(), spans


def _token_indices(offsets, span: tuple[int, int]) -> list[int]:
    """The tokens inside a character span (special tokens have the empty offset (0, 0) and are skipped)."""
    start, stop = span
    found = [i for i, (a, b) in enumerate(offsets) if b > a and a >= start and b <= stop]
    if not found:  # a phrase the tokenizer cannot place (it should not happen): it scores nothing
        raise RuntimeError(f"no token of the caption falls in characters {start}..{stop}")
    return found
