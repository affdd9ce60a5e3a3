"""A badge that crosses a person: the classical tracker must let go of the person once the badge has passed.

The badge is composited on the real tennis clip along a smooth path that passes over the player (frames
about 15-30). While it covers him, bits of his shirt and arm join its mask; the flow then carried them with
the player, apart from the badge, for the rest of the shot, and the removal painted part of the player out.
"""

import cv2
import numpy as np

from bench import insert_case
from inpainterz_core.metrics import jaccard
from inpainterz_core.track.classical import FlowTracker
from inpainterz_core.video import open_video


def test_a_badge_that_crossed_the_player_leaves_him_behind(shared_clips):
    with open_video(shared_clips / "eval" / "real-tennis" / "input.mp4") as source:
        frames = [image for _, image in source.frames()]
    badge, alpha = insert_case.badge(86, 28, (183, 189, 221), (115, 23, 34), (209, 241, 63), "PLAY")
    frames, truth = insert_case.along_path(frames, badge, alpha, (101.4, 327.0), 101.5, 25.2, 0.17)
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
