"""The hole painted out of a frame: the mask grown over the object's soft edge as far as it shows, and a margin."""

import cv2
import numpy as np
import pytest

from inpainterz_core.pipeline.holes import grown, measured_hole, most_grown, most_soft, soft_edge, soft_reach

H, W = 120, 160
GROUND = 100


def _square(blur: float = 0.0, ground: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A frame with a bright square on ``ground`` (flat grey unless given), blurred by ``blur`` px, and the
    square's own mask."""
    mask = np.zeros((H, W), bool)
    mask[40:70, 50:100] = True
    frame = np.full((H, W, 3), GROUND, np.float32) if ground is None else ground.astype(np.float32)
    frame[mask] = (230, 200, 180)
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8), mask


def test_a_sharp_edge_on_flat_ground_is_no_soft_edge():
    frame, mask = _square()
    assert soft_edge(frame, mask) == 0


def test_a_blurred_edge_is_covered_as_far_as_it_shows():
    frame, mask = _square(blur=1.5)
    width = soft_edge(frame, mask)
    assert width >= 3  # a 1.5 px blur moves the ground by more than 2 levels 3 px out
    painted, radius = measured_hole(mask.astype(np.uint8), frame, margin=2)
    assert radius == width + 2
    # no pixel the smear moved past 2 levels is left for the fill to read as ground
    smeared = np.abs(frame.astype(int) - GROUND).max(axis=2) > 2
    assert not (smeared & ~painted).any()


def test_a_soft_edge_is_taken_at_most_a_quarter_of_the_rings_looked_at():
    frame, mask = _square(blur=5.0)
    assert soft_edge(frame, mask) == most_soft(soft_reach(W, H)) == 4
    assert measured_hole(mask.astype(np.uint8), frame, margin=2)[1] == most_grown(W, H, 2)


def test_texture_around_a_sharp_edge_is_ground():
    rng = np.random.default_rng(1)
    textured = np.clip(GROUND + rng.normal(0, 12, (H, W, 3)), 0, 255)
    frame, mask = _square(ground=textured)
    assert soft_edge(frame, mask) <= 2


def test_the_rim_a_short_mask_leaves_out_is_taken_in():
    frame, square = _square()
    short = cv2.erode(square.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # 3 px short all round
    width = soft_edge(frame, short)
    assert width >= 4
    painted, _ = measured_hole(short.astype(np.uint8), frame, margin=1)
    assert painted[square].all()


def test_a_mask_past_its_object_grows_by_the_margin_alone():
    frame, square = _square()
    loose = cv2.dilate(square.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)  # 4 px of ground
    assert soft_edge(frame, loose) == 0
    painted, radius = measured_hole(loose.astype(np.uint8), frame, margin=2)
    assert radius == 2
    np.testing.assert_array_equal(painted, grown(loose.astype(np.uint8), 2))


def test_no_mask_no_hole():
    frame, square = _square()
    empty = np.zeros_like(square)
    assert soft_edge(frame, empty) == 0
    painted, radius = measured_hole(empty.astype(np.uint8), frame, margin=2)
    assert not painted.any() and radius == 2


def test_an_object_against_the_frames_edge_is_measured_on_the_rings_inside_it():
    frame, _ = _square()
    mask = np.zeros((H, W), bool)
    mask[:, :30] = True  # a flat strip cut off by three sides: only its right side has rings
    frame[:, :30] = (230, 200, 180)
    assert soft_edge(frame, mask) == 0


@pytest.mark.parametrize(("width", "height", "reach"), [(432, 240, 16), (854, 480, 16), (1920, 1080, 36)])
def test_the_rings_looked_at_grow_with_the_frame(width, height, reach):
    assert soft_reach(width, height) == reach
    assert most_grown(width, height, 2) == 2 + reach // 4
