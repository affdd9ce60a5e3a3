"""The Inpainter interface: fill the masked pixels of a short window of frames.

The pipeline hands over a window of already-cropped frames with ``reach``
extra frames on each side of the ones it wants back, so an inpainter can borrow
background from neighbours without ever seeing the whole clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


def rounded(values: np.ndarray) -> np.ndarray:
    """Float pixel values as 8-bit ones, each rounded to the nearest level and clipped (converting a fill made in
    floats by ``astype`` alone would truncate it, half a level dark on average)."""
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


class Inpainter(ABC):
    name: str = ""
    #: Frames it reads on each side of a target frame to find the background there (the pipeline loads
    #: that many extra). The classical inpainter takes it from ``--reach``; E2FGVI's is fixed by its
    #: reference-frame schedule.
    reach: int = 0
    #: Preferred working size (width, height) for the crop; None means "any size".
    work_size: tuple[int, int] | None = None

    @abstractmethod
    def inpaint(
        self, frames: np.ndarray, masks: np.ndarray, targets: range, before: np.ndarray | None = None
    ) -> np.ndarray:
        """Fill ``masks`` in ``frames[targets]``.

        frames: (T, H, W, 3) uint8 RGB; masks: (T, H, W) bool, True = fill.
        before: when the pipeline painted the frame just before the targets in the window before this one,
        that output (H, W, 3), so a fill that carries on from frame to frame continues from it rather than
        starting afresh at each window's first target (a jump every window); None otherwise.
        Returns (len(targets), H, W, 3) uint8; pixels outside the mask may be
        returned as-is, the pipeline pastes back only the (feathered) hole.
        """
