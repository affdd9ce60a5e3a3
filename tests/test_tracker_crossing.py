"""A badge that crosses a person: the classical tracker must let go of the person once the badge has passed.

The badge is composited on the real tennis clip along a smooth path that passes over the player (frames
about 15-30). While it covers him, bits of his shirt and arm join its mask; the flow then carried them with
the player, apart from the badge, for the rest of the shot, and the removal painted part of the player out.
"""

import math

import cv2
import numpy as np
import pytest

from bench import insert_case
from inpainterz_core.metrics import jaccard
from inpainterz_core.track.classical import FlowTracker


def _composite(frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    badge, alpha = insert_case.badge(86, 28, (183, 189, 221), (115, 23, 34), (209, 241, 63), "PLAY")
    h, w = frames[0].shape[:2]
    out, masks = [], []
    for t, frame in enumerate(frames):
        u = t / (len(frames) - 1)
        cx, cy = 101.4 + 225.6 * u, 101.5 + 25.2 * math.sin(2 * math.pi * u + 0.17)
        m = cv2.getRotationMatrix2D(
            (badge.shape[1] / 2, badge.shape[0] / 2), 15 * math.sin(math.pi * u + 0.17), 1 + 0.2 * u
        )
        m[:, 2] += (cx - badge.shape[1] / 2, cy - badge.shape[0] / 2)
        placed = cv2.warpAffine(badge, m, (w, h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_NEAREST) > 127
        composed = frame.copy()
        composed[mask] = placed[mask]
        out.append(composed)
        masks.append(mask)
    return out, masks


def test_a_badge_that_crossed_the_player_leaves_him_behind(shared_clips):
    av = pytest.importorskip("av")
    with av.open(str(shared_clips / "eval" / "real-tennis" / "input.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    frames, truth = _composite(frames)
    tracker = FlowTracker()
    tracker.reset(frames[0], truth[0].astype(np.uint8))
    j = [1.0]
    for t in range(1, len(frames)):
        mask = tracker.step(frames[t]) > 0
        j.append(jaccard(mask, truth[t]))
        if t >= 35:  # well past the player
            beyond = cv2.distanceTransform((~truth[t]).astype(np.uint8), cv2.DIST_L2, 5)[mask]
            assert beyond.max(initial=0) <= 4, f"frame {t}: mask {beyond.max():.0f} px from the badge"
    assert min(j[35:]) > 0.9, np.round(j, 2)
