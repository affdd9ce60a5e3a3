"""Frames and label maps in and out of DeAOT, exactly as the reference tracker prepares them.

Network input sides are 16k+1 (the model aligns corners: a 16k+1 image maps onto a
(k+1)-cell feature grid), with the long edge capped at 1040 (800 * 1.3). Images are
resized with bicubic interpolation on uint8 and normalised with ImageNet statistics
in float64; label maps are resized nearest (by the engine). (Logits go back to the image size
bilinearly with aligned corners, in ``DeAOTEngine.decode_current_logits``.)
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

MAX_LONG_EDGE = 1040
STRIDE = 16
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def network_size(
    height: int, width: int, max_long_edge: int = MAX_LONG_EDGE, stride: int = STRIDE
) -> tuple[int, int]:
    """(h, w) the network sees for an image: long edge at most ``max_long_edge``, each side stride*k+1.

    Rounds half to even (``np.around``) like the reference, so sizes match it to the pixel.
    """
    scale = 1.0
    long_edge = max(height, width)
    if long_edge > max_long_edge:
        scale = float(max_long_edge) / long_edge
    sizes = []
    for side in (int(height * scale), int(width * scale)):
        if (side - 1) % stride != 0:
            side = int(np.around((side - 1) / stride) * stride + 1)
        sizes.append(side)
    return sizes[0], sizes[1]


def image_to_tensor(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> normalised float32 (1, 3, h, w) at network ``size``."""
    h, w = size
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    normalised = (image / 255.0 - MEAN) / STD
    return torch.from_numpy(normalised.transpose(2, 0, 1).astype(np.float32))[None]


def labels_to_tensor(labels: np.ndarray) -> torch.Tensor:
    """Integer label map (H, W) -> float (1, 1, H, W); the engine resizes it (nearest) to the network size."""
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))[None, None]
