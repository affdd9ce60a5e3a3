"""The Segmenter interface: prompts on one image -> a binary mask.

Split like segment-anything's predictor: ``set_image`` does the expensive
per-image work once (an embedding, a colour model) and keeps it in a small LRU
cache keyed by the caller's key (usually the frame index); ``predict`` answers a
click from that cached state and is meant to be fast enough for interactive use.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import numpy as np

from ..errors import InputError
from ..prompts import ObjectPrompt

T = TypeVar("T")


class Segmenter(ABC):
    #: Registry name, e.g. "grabcut" or "sam".
    name: str = ""

    @abstractmethod
    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        """Prepare (and cache under ``key``) the per-image state for an RGB uint8 HxWx3 image."""

    #: Whether the frames around an image are a cue to this segmenter (see ``set_neighbours``).
    uses_neighbours: bool = False

    def set_neighbours(self, key: Hashable, read: Callable[[], Sequence[np.ndarray]]) -> None:
        """Offer the frames around the image set under ``key`` (``read()`` returns them, RGB like it).

        Call it after ``set_image``, wherever the video is at hand, so a click's preview and the
        pipeline's keyframe agree. ``read`` is called only if this segmenter uses them and has not
        already for this image (reading frames costs a decode each). Most segmenters ignore them.
        """
        return None  # a cue only some segmenters use: see ``uses_neighbours``

    def wants_neighbours(self, key: Hashable) -> bool:
        """Would ``set_neighbours`` read the frames now (it uses them, and has none for this image yet)?
        Lets a caller read them outside a lock it holds around the segmenter."""
        return self.uses_neighbours

    @abstractmethod
    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        """The object's mask (HxW bool) on the image set under ``key``.

        The prompt carries every click on the object, so a further click is a new
        prediction from all of them, never a refinement of hidden state.
        """


def rgb_image(image, who: str) -> np.ndarray:
    """``image`` as an array, or one clear line if it is not the RGB uint8 HxWx3 image ``set_image`` takes."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{who} needs an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
    return image


class EmbeddingCache(Generic[T]):
    """The expensive per-image state of the ``size`` most recently used images, keyed by the caller's key.

    A user clicking back and forth between keyframes would otherwise pay the image encoder (seconds on a
    CPU) at every switch. The least recently used entry goes first. An entry holds for the image it was made
    from, not for the key alone: another image under a known key (frame 0 of another clip given to the same
    segmenter) is embedded again, where it was once cut on the first clip's frame 0 when the two were the
    same size. Telling them apart costs a hash of the pixels (SHA-1: 4 ms at 1080p here, BLAKE2 took 9), next to
    an embedding's seconds.
    """

    def __init__(self, size: int = 8):
        if size < 1:
            raise InputError(f"cache_size must be at least 1, got {size}")
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple, T]] = OrderedDict()

    def get_or_make(self, key: Hashable, image: np.ndarray, make: Callable[[], T]) -> T:
        """The entry under ``key`` if it was made from this ``image``, else ``make()``'s, kept."""
        image = np.ascontiguousarray(image)
        identity = (image.shape, image.dtype.str, hashlib.sha1(image.data, usedforsecurity=False).digest())
        cached = self._entries.get(key)
        if cached is not None and cached[0] == identity:
            self._entries.move_to_end(key)
            return cached[1]
        self._entries.pop(key, None)
        value = make()
        self._entries[key] = (identity, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def __getitem__(self, key: Hashable) -> T:
        """The entry under ``key`` (now the most recently used), or one clear line if none is set."""
        if key not in self._entries:
            raise InputError(f"no image is set under key {key!r}: call set_image first")
        self._entries.move_to_end(key)
        return self._entries[key][1]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)
