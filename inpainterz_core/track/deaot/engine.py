"""The propagation engine: DeAOT's per-video memories and the frame-by-frame call sequence.

Per frame, as the reference tracker does::

    engine.add_reference_frame(image, labels, obj_nums)    # once, and again for corrected keyframes
    engine.match_propagate_one_frame(image)                # read the memories
    logits = engine.decode_current_logits((H, W))
    engine.update_memory(logits.argmax(1, keepdim=True))  # the prediction becomes memory

Memories, per LSTT layer:

* short-term: the frame ``short_term_mem_skip`` frames back (1 = the previous frame);
* long-term: every reference frame, plus one propagated frame every ``long_term_mem_gap``
  frames. At most ``max_len_long_term`` entries are kept, the oldest dropped first, as the
  reference engine does (``update_long_term_memory`` in aot-benchmark / SAM-Track): the cap
  counts reference frames too, so on a long clip with a small cap the first keyframe goes first.

One network pass carries 10 identities. ``DeAOTEngine`` splits more objects into
groups of 10, each with its own memories, shares the image features between them,
and merges their logits by soft aggregation.
"""

from __future__ import annotations

import math
from collections import deque

import torch
import torch.nn.functional as F

from .layers import LayerMemory
from .model import DeAOT, ImageFeatures


class _MemoryEntry:
    """One frame's memory in every layer."""

    def __init__(self, layers: list[LayerMemory], is_reference: bool):
        self.layers = layers
        self.is_reference = is_reference


class ObjectGroupEngine:
    """Memories and propagation for up to ``model.max_objects`` objects (labels 1..obj_nums)."""

    def __init__(
        self, model: DeAOT, long_term_mem_gap: int, short_term_mem_skip: int, max_len_long_term: int
    ):
        self.model = model
        self.long_term_mem_gap = long_term_mem_gap
        self.max_len_long_term = max_len_long_term
        self.obj_nums = 0
        self.frame_step = -1
        self.last_mem_step = -1
        self.long_term: list[_MemoryEntry] = []
        self._long_term_cat: list[LayerMemory] | None = None
        self.short_term: deque[_MemoryEntry] = deque(maxlen=short_term_mem_skip)
        self._current = None  # (features, lstt output, per-layer FrameOutput) of the last propagated frame

    @property
    def long_term_len(self) -> int:
        return len(self.long_term)

    def add_reference_frame(self, features: ImageFeatures, labels: torch.Tensor, obj_nums: int) -> None:
        """A frame with known labels: it joins long-term memory for good and becomes the short-term memory."""
        self.obj_nums = max(self.obj_nums, obj_nums)
        self.frame_step += 1
        id_emb = self.model.identity_embedding(labels, self.obj_nums)
        _, frames = self.model.propagate(features, id_emb=id_emb)
        entry = self._entry(frames, id_emb, is_reference=True)
        self._append_long_term(entry)
        self.last_mem_step = self.frame_step
        self.short_term.clear()
        self.short_term.append(entry)

    def match_propagate_one_frame(self, features: ImageFeatures) -> None:
        self.frame_step += 1
        if self._long_term_cat is None:
            self._long_term_cat = [
                LayerMemory(
                    torch.cat([e.layers[i].key for e in self.long_term]),
                    torch.cat([e.layers[i].value for e in self.long_term]),
                )
                for i in range(len(self.long_term[0].layers))
            ]
        lstt_out, frames = self.model.propagate(features, self._long_term_cat, self.short_term[0].layers)
        self._current = (features, lstt_out, frames)

    def decode_current_logits(self, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits (n, obj_nums + 1, ...) of background and this group's objects.

        The network scores all 10 identities; the reference then sets the unused ones to
        -1e10 and resizes all 11. Dropping them before the resize gives the same logits for
        the used ones and the same argmax, for less work.
        """
        features, lstt_out, _ = self._current
        logits = self.model.decode(lstt_out, features)[:, : self.obj_nums + 1]
        if output_size is not None:
            logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=True)
        return logits

    def update_memory(self, labels: torch.Tensor) -> None:
        """The current frame's labels (n, 1, H, W) at network input size turn its features into memory."""
        _, _, frames = self._current
        entry = self._entry(frames, self.model.identity_embedding(labels, self.obj_nums), is_reference=False)
        self.short_term.append(entry)
        if self.frame_step - self.last_mem_step >= self.long_term_mem_gap:
            self._append_long_term(entry)
            self.last_mem_step = self.frame_step

    def _entry(self, frames, id_emb, is_reference: bool) -> _MemoryEntry:
        layers = [
            layer.memory(frame, id_emb) for layer, frame in zip(self.model.LSTT.layers, frames, strict=True)
        ]
        return _MemoryEntry(layers, is_reference)

    def _append_long_term(self, entry: _MemoryEntry) -> None:
        self.long_term.append(entry)
        del self.long_term[: max(0, len(self.long_term) - self.max_len_long_term)]
        self._long_term_cat = None


class DeAOTEngine:
    """Any number of objects: groups of ``model.max_objects`` sharing the image features."""

    def __init__(
        self,
        model: DeAOT,
        long_term_mem_gap: int = 9999,
        short_term_mem_skip: int = 1,
        max_len_long_term: int = 9999,
    ):
        self.model = model
        self.memory_settings = (long_term_mem_gap, short_term_mem_skip, max_len_long_term)
        self.groups: list[ObjectGroupEngine] = []
        self.obj_nums = 0
        self.input_size: tuple[int, int] | None = None

    def add_reference_frame(self, image: torch.Tensor, labels: torch.Tensor, obj_nums: int) -> None:
        """``image`` (1, 3, H, W) normalised; ``labels`` (1, 1, h, w) with ids 0..obj_nums, any size."""
        self.obj_nums = max(self.obj_nums, obj_nums)
        self.input_size = tuple(image.shape[-2:])
        while len(self.groups) < max(math.ceil(self.obj_nums / self.model.max_objects), 1):
            self.groups.append(ObjectGroupEngine(self.model, *self.memory_settings))
        features = self.model.encode_image(image)
        labels = self._resize_labels(labels)
        for index, group in enumerate(self.groups):
            group.add_reference_frame(
                features, self._group_labels(labels, index), self._group_obj_nums(index)
            )

    def match_propagate_one_frame(self, image: torch.Tensor) -> None:
        features = self.model.encode_image(image)
        for group in self.groups:
            group.match_propagate_one_frame(features)

    def decode_current_logits(self, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits (1, obj_nums + 1, ...): channel i is object i (0 = background)."""
        logits = [group.decode_current_logits(output_size) for group in self.groups]
        return logits[0] if len(logits) == 1 else self._soft_aggregation(logits)

    def update_memory(self, labels: torch.Tensor) -> None:
        """``labels`` (1, 1, h, w) of the current frame, any size (resized nearest to the network input)."""
        labels = self._resize_labels(labels)
        for index, group in enumerate(self.groups):
            group.update_memory(self._group_labels(labels, index))

    def _resize_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return F.interpolate(labels.float(), size=self.input_size, mode="nearest")

    def _group_obj_nums(self, index: int) -> int:
        return min(self.obj_nums - index * self.model.max_objects, self.model.max_objects)

    def _group_labels(self, labels: torch.Tensor, index: int) -> torch.Tensor:
        if len(self.groups) == 1:
            return labels
        offset = index * self.model.max_objects
        inside = (labels > offset) & (labels <= offset + self.model.max_objects)
        return torch.where(inside, labels - offset, torch.zeros_like(labels))

    def _soft_aggregation(self, all_logits: list[torch.Tensor]) -> torch.Tensor:
        """Merge groups: background probability = product of the groups' backgrounds, then back to logits."""
        probs = [torch.softmax(logits.float(), dim=1) for logits in all_logits]
        background = torch.prod(torch.cat([p[:, :1] for p in probs], dim=1), dim=1, keepdim=True)
        merged = torch.cat([background] + [p[:, 1:] for p in probs], dim=1)
        return torch.logit(merged.clamp(1e-5, 1 - 1e-5))
