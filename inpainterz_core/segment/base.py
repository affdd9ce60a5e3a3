"""The Segmenter interface: prompts on one image -> a binary mask.

Split like segment-anything's predictor: ``set_image`` does the expensive
per-image work once (an embedding, a colour model) and keeps it in a small LRU
cache keyed by the caller's key (usually the frame index); ``predict`` answers a
click from that cached state and is meant to be fast enough for interactive use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable

import numpy as np

from ..prompts import ObjectPrompt


class Segmenter(ABC):
    #: Registry name, e.g. "grabcut" or "sam".
    name: str = ""

    @abstractmethod
    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        """Prepare (and cache under ``key``) the per-image state for an RGB uint8 HxWx3 image."""

    @abstractmethod
    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        """The object's mask (HxW bool) on the image set under ``key``.

        The prompt carries every click on the object, so a further click is a new
        prediction from all of them, never a refinement of hidden state.
        """
