"""The classical tracker's confidence on masks that are wrong in ways its colours and motion cannot show.

A mask that holds a slab of ground beside the object keeps the colours and the motion it started
with, so the older scores (colours still the keyframe's, flow explains the frame, area steady) stay
at 1.0 on every frame of it: an editor was never pointed at it. Each clip here knows its true
masks; the tests say both that the mask is wrong and that ``confidence`` says so, and that right
masks (including ones whose parts move differently) are not flagged.
"""

import av
import numpy as np
import pytest

from inpainterz_core.metrics import jaccard
from inpainterz_core.track.classical import FlowTracker
from tests.test_tracker_articulated import RunnerClip
from tests.test_tracker_holds_on import GreySlabClip


class OnTheSlab(GreySlabClip):
    """GreySlabClip from frame 20 on: the grey badge is entering the slab of its own grey."""

    def mask(self, i):
        return super().mask(i + 20)

    def frame(self, i):
        out = np.roll(self.ground, -(i + 20), axis=1)
        out[self.mask(i)] = self.badge.reshape(-1, 3)
        return out


def _track(clip, keyframe_mask, frames):
    tracker = FlowTracker()
    tracker.reset(clip.frame(0), keyframe_mask.astype(np.uint8))
    j, confidence = [], []
    for i in range(1, frames):
        j.append(jaccard(tracker.step(clip.frame(i)) > 0, clip.mask(i)))
        confidence.append(tracker.confidence)
    return np.array(j), np.array(confidence)


def test_a_keyframe_mask_with_a_slab_of_ground_is_flagged_on_every_frame():
    """The keyframe mask takes a slab of the grey ground below the moving badge (as a loose cut does). The
    tracker lets go of the part of it the flow shows moving with the ground (J 0.50 -> 0.72); the rest, flat
    grey where the flow cannot tell, stays, and every frame is flagged (the old confidence: 1.0 on all)."""
    clip = OnTheSlab(frames=20)
    keyframe = clip.mask(0).copy()
    keyframe[150:175, 100:260] = True
    j, confidence = _track(clip, keyframe, clip.frames)
    assert jaccard(keyframe, clip.mask(0)) < 0.55
    assert j[-5:].min() > 0.7 and j.max() < 0.8  # part of the slab goes, part stays
    assert confidence.max() < 0.5


def test_ground_taken_above_a_moving_badge_does_not_creep_and_is_flagged():
    """A keyframe mask with some grey ground above the badge. It grew over the slab frame after frame (J 0.59 ->
    0.37, most wrong frames flagged). The part the flow shows staying with the ground while the badge moves on is
    now let go (``_ground_pieces``): it no longer creeps (J 0.62 on the last frame; the flat grey the flow cannot
    tell stays), and every frame it stays on is flagged."""
    clip = OnTheSlab(frames=20)
    keyframe = clip.mask(0).copy()
    keyframe[85:110, 180:300] = True
    j, confidence = _track(clip, keyframe, clip.frames)
    assert j.min() > jaccard(keyframe, clip.mask(0)) - 0.02
    assert (confidence < 0.5).all()


def test_a_still_body_with_swinging_limbs_is_not_flagged():
    """Body standing with the ground, limbs swinging: two motions in one right mask. Alone that is not
    taken for a slab of ground (the mask's colours stop at its edge)."""
    clip = RunnerClip(speed=2)  # the ground pans 2 px a frame and the runner moves with it
    j, confidence = _track(clip, clip.mask(0), clip.frames)
    assert j.min() > 0.95
    assert confidence.min() > 0.5


@pytest.mark.parametrize("case", ["attach-desert", "insert-citypan", "insert-skater"])
def test_well_tracked_objects_on_real_footage_are_not_flagged(shared_clips, case):
    """From the true first-frame mask the tracker follows each composited object well: no frame flagged."""
    folder = shared_clips / "eval" / case
    d = np.load(folder / "gt_masks.npz")
    truth = np.unpackbits(d["masks"], axis=-1, count=int(d["shape"][2])).astype(bool)
    with av.open(str(folder / "input.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    tracker = FlowTracker()
    tracker.reset(frames[0], truth[0].astype(np.uint8))
    j, confidence = [], []
    for i in range(1, len(frames)):
        j.append(jaccard(tracker.step(frames[i]) > 0, truth[i]))
        confidence.append(tracker.confidence)
    assert min(j) > 0.8
    assert min(confidence) > 0.5
