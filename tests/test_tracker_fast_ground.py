"""The classical tracker on a small, slow object over ground that rushes past (a fast camera pan).

DIS optical flow is coarse to fine: where the ground moves tens of pixels a frame, its coarse levels carry
that motion onto a small object that hardly moves, and the mask is dragged along with the ground.
"""

import cv2
import numpy as np

from inpainterz_core.metrics import jaccard
from inpainterz_core.track.classical import FlowTracker


class RushingGroundClip:
    """A gradient badge with letters drifting right 1 px a frame while smooth, blurred ground of mixed colours
    pans left ``speed`` px a frame."""

    def __init__(self, speed: int, seed: int, frames: int = 30, width: int = 320, height: int = 200):
        rng = np.random.default_rng(seed)
        long = width + speed * frames + 64
        blobs = rng.integers(30, 140, (height // 32 + 1, long // 32 + 1, 3)).astype(np.uint8)
        ground = cv2.resize(blobs, (long, height), interpolation=cv2.INTER_CUBIC)
        self.ground = cv2.blur(ground, (speed // 2, 1))  # motion blur along the pan
        ramp = np.linspace(0, 1, 36)[:, None, None]
        badge = np.array([200, 215, 170]) * (1 - ramp) + np.array([50, 40, 60]) * ramp
        self.badge = np.broadcast_to(badge, (36, 110, 3)).astype(np.uint8).copy()
        cv2.putText(self.badge, "NEWS", (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (140, 135, 150), 3)
        self.frames, self.width, self.height, self.speed = frames, width, height, speed

    def mask(self, i):
        m = np.zeros((self.height, self.width), bool)
        m[80:116, 100 + i : 210 + i] = True
        return m

    def frame(self, i):
        out = self.ground[:, self.speed * i : self.speed * i + self.width].copy()
        out[self.mask(i)] = self.badge.reshape(-1, 3)
        return out


def test_a_slow_badge_over_a_fast_pan_is_not_dragged_with_the_ground():
    """Mean J over 2 grounds x 3 pan speeds: 0.82 when the mask went with the flow only (0.74 to 0.88 per
    clip), 0.88 now that the badge's own pixels are aligned where the flow's rigid fit fails (0.86 to 0.90).
    Parts of the ground still join the mask at times (the leak is not gone), so only the mean is held."""
    means = []
    for seed in (0, 1):
        for speed in (12, 24, 40):
            clip = RushingGroundClip(speed, seed)
            tracker = FlowTracker()
            tracker.reset(clip.frame(0), clip.mask(0).astype(np.uint8))
            j = [jaccard(tracker.step(clip.frame(i)) > 0, clip.mask(i)) for i in range(1, clip.frames)]
            means.append(np.mean(j))
    assert np.mean(means) > 0.85, np.round(means, 3)
