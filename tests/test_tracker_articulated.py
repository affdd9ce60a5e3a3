"""The classical tracker on a generated articulated figure: a runner whose limbs swing, crossing plain ground.

The ground has little texture, so the optical flow there is interpolated from the runner's own
motion; a tracker that trusts the warped mask everywhere smears it over the ground the runner
uncovers (the case that lost the tennis player).
"""

import cv2
import numpy as np

from inpainterz_core.masks import dilate
from inpainterz_core.track.classical import FlowTracker


class RunnerClip:
    """A stick-and-block figure (white shirt, dark shorts, skin-coloured swinging arms and legs) running left
    at ``speed`` px a frame over faintly grained ground of one colour, while the camera pans slowly right."""

    def __init__(self, frames: int = 30, width: int = 400, height: int = 240, speed: float = 5.0):
        rng = np.random.default_rng(3)
        grain = rng.normal(0, 6, (height, width + frames * 2, 3))
        ground = np.clip(np.array([190, 110, 70]) + cv2.GaussianBlur(grain, (0, 0), 2), 0, 255)
        self.ground = ground.astype(np.uint8)
        self.frames, self.width, self.height, self.speed = frames, width, height, speed

    def _draw(self, i, canvas, colour=None):
        x = int(300 - self.speed * i)
        swing = 0.6 * np.sin(i * 0.5)
        hip, shoulder = (x, 150), (x, 95)

        def limb(start, angle, length, thickness, rgb):
            end = (int(start[0] + length * np.sin(angle)), int(start[1] + length * np.cos(angle)))
            cv2.line(canvas, start, end, colour or rgb, thickness)

        limb(hip, swing, 55, 9, (225, 180, 150))  # legs, in opposite phase
        limb(hip, -swing, 55, 9, (225, 180, 150))
        limb(shoulder, np.pi / 2 + 0.9 * swing, 40, 7, (225, 180, 150))  # arms, swinging forward and back
        limb(shoulder, -np.pi / 2 - 0.9 * swing + np.pi, 40, 7, (225, 180, 150))
        cv2.rectangle(canvas, (x - 16, 132), (x + 16, 156), colour or (30, 30, 35), -1)  # shorts
        cv2.rectangle(canvas, (x - 18, 88), (x + 18, 134), colour or (245, 245, 240), -1)  # shirt
        cv2.circle(canvas, (x, 74), 12, colour or (225, 180, 150), -1)  # head

    def frame(self, i):
        out = np.ascontiguousarray(self.ground[:, 2 * i : 2 * i + self.width])
        self._draw(i, out)
        return out

    def mask(self, i):
        m = np.zeros((self.height, self.width), np.uint8)
        self._draw(i, m, colour=1)
        return m > 0


def test_a_running_figure_does_not_smear_over_the_ground_it_uncovers():
    """From a loose keyframe mask (a margin of ground around the runner, as an editor draws it for removal)
    the mask stays on the runner: it keeps covering him and leaves no trail on the ground behind him."""
    clip = RunnerClip(speed=9)
    tracker = FlowTracker()
    tracker.reset(clip.frame(0), dilate(clip.mask(0), 5).astype(np.uint8))
    stray, cover = [], []
    for i in range(1, clip.frames):
        mask, truth = tracker.step(clip.frame(i)) > 0, clip.mask(i)
        stray.append((mask & ~dilate(truth, 10)).sum() / truth.sum())  # beyond the margin, in runner areas
        cover.append((mask & truth).sum() / truth.sum())
    # The tracker that trusted the warp everywhere left a trail half the runner's size by the last frame.
    assert max(stray) < 0.15
    assert min(cover) > 0.9
