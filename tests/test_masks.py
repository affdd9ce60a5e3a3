import numpy as np
import pytest

from inpainterz_core.errors import InputError
from inpainterz_core.masks import (
    bounding_box,
    dilate,
    feather,
    padded_box,
    rle_decode,
    rle_encode,
    sides_touched,
    to_the_frame_edge,
)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 33)])
def test_rle_round_trip(shape):
    rng = np.random.default_rng(0)
    for density in (0.0, 0.3, 1.0):
        mask = rng.random(shape) < density
        rle = rle_encode(mask)
        assert rle["size"] == list(shape)
        assert sum(rle["counts"]) == mask.size
        np.testing.assert_array_equal(rle_decode(rle), mask)


def test_rle_starts_with_background_run():
    mask = np.ones((2, 2), bool)
    assert rle_encode(mask)["counts"] == [0, 4]


def test_rle_decode_rejects_counts_that_do_not_add_up():
    with pytest.raises(InputError):
        rle_decode({"size": [2, 2], "counts": [1, 2]})


def test_dilate_grows_by_radius():
    mask = np.zeros((21, 21), bool)
    mask[10, 10] = True
    grown = dilate(mask, 3)
    assert grown[10, 13] and grown[13, 10] and not grown[10, 14]
    assert dilate(mask, 0).sum() == 1


def test_a_hole_within_reach_of_a_side_the_object_runs_off_by_is_taken_to_it():
    hole = np.zeros((40, 50), bool)
    hole[10:20, 3:12] = True  # 3 columns from the left side
    hole[30:33, 40:45] = True  # 5 columns from the right side, 7 rows from the bottom
    out = to_the_frame_edge(hole, 4, [True, True, True, True])
    assert out[10:20, :12].all() and out[:10, :].sum() == 0  # the strip on the left, no further
    np.testing.assert_array_equal(out[20:], hole[20:])  # farther than the reach from every side: as it was
    not_off_the_left = to_the_frame_edge(hole, 4, [False, True, True, True])
    np.testing.assert_array_equal(not_off_the_left, hole)
    corner = np.zeros((40, 50), bool)
    corner[2, 47] = True
    out = to_the_frame_edge(corner, 4, [True, True, True, True])
    assert out[:3, 47].all() and out[2, 47:].all() and out.sum() == 5  # up and right, not the corner between


def test_the_sides_a_mask_touches():
    mask = np.zeros((10, 12), bool)
    mask[0, 5] = mask[4, 11] = mask[6, 2] = True
    assert sides_touched(mask, margin=0) == [False, True, True, False]
    assert sides_touched(mask) == [True, True, True, False]  # within 2 px
    assert sides_touched(np.zeros((10, 12), bool)) == [False] * 4


def test_feather_is_one_inside_and_zero_far_away():
    mask = np.zeros((30, 30), bool)
    mask[10:20, 10:20] = True
    alpha = feather(mask, 4)
    assert (alpha[mask] == 1).all()
    assert alpha[0, 0] == 0
    assert 0 < alpha[10, 8] < 1


def test_bounding_box_and_padding_stay_inside_the_frame():
    mask = np.zeros((50, 100), bool)
    mask[45:50, 95:100] = True
    assert bounding_box(mask) == (95, 45, 100, 50)
    assert bounding_box(np.zeros((3, 3), bool)) is None
    x0, y0, x1, y1 = padded_box((95, 45, 100, 50), 10, 100, 50, min_size=64)
    assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 50
    assert x1 - x0 == 64 and y1 - y0 == 50
