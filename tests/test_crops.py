"""crops: the box, the working size and the way back that segmenting, tracking and inpainting share."""

import cv2
import numpy as np

from inpainterz_core.crops import fit, resize, resize_hole, uncrop_mask, union


def test_union_holds_every_box_and_skips_missing_ones():
    assert union([(10, 20, 30, 40), None, (5, 25, 12, 60)]) == (5, 20, 30, 60)
    assert union([None, None]) is None
    assert union(b for b in [(1, 2, 3, 4)]) == (1, 2, 3, 4)  # any iterable


def test_fit_scales_the_long_side_down_to_the_working_size_only():
    assert fit(300, 200, 640) == (1.0, (300, 200))  # small enough: untouched
    scale, (w, h) = fit(1280, 720, 640)
    assert scale == 0.5 and (w, h) == (640, 360)
    scale, (w, h) = fit(720, 1919, 640)
    assert max(w, h) == 640 and abs(w - 720 * scale) <= 0.5
    assert fit(4000, 10, 640)[1] == (640, 8)  # a sliver keeps a few pixels across


def test_resize_averages_when_shrinking_and_enlarges_as_asked():
    image = np.zeros((4, 4), np.uint8)
    image[:2, :2] = 200  # one 2x2 block bright
    small = resize(image, (2, 2))
    assert small.tolist() == [[200, 0], [0, 0]]  # each output pixel the mean of its block
    assert resize(image, (4, 4)) is image
    ramp = np.tile(np.arange(0, 80, 10, dtype=np.uint8), (8, 1))
    linear, cubic = resize(ramp, (16, 16)), resize(ramp, (16, 16), enlarge=cv2.INTER_CUBIC)
    assert linear.shape == cubic.shape == (16, 16) and not np.array_equal(linear, cubic)


def test_a_thin_hole_survives_the_working_size_and_covers_every_hole_pixel():
    hole = np.zeros((40, 1280), bool)
    hole[21, 100:900] = True  # a one-pixel scratch
    hole[5:9, 1001] = True  # a one-pixel-wide vertical stroke
    work = resize_hole(hole, (320, 10))
    ys, xs = np.nonzero(hole)
    assert work[ys // 4, xs // 4].all()  # every hole pixel falls in a working hole pixel
    assert work.sum() <= 2 * (800 // 4 + 1) + 2  # and the working hole is no more than those pixels
    # The naive way (bilinear on 0/1 bytes) loses the scratch: the reason for resize_hole.
    naive = cv2.resize(hole.astype(np.uint8), (320, 10), interpolation=cv2.INTER_LINEAR) > 0
    assert not naive[ys // 4, xs // 4].all()


def test_uncrop_mask_scales_back_and_places_the_crop_in_its_box():
    full = np.zeros((100, 200), bool)
    full[30:50, 60:100] = True
    box = (40, 20, 140, 80)  # 100x60 around the object
    small = cv2.resize(full[20:80, 40:140].astype(np.uint8), (50, 30), interpolation=cv2.INTER_AREA)
    back = uncrop_mask(small, box, full.shape)
    assert back.shape == full.shape and back.dtype == bool
    assert not back[:20].any() and not back[:, :40].any() and not back[80:].any()
    assert (back != full).sum() <= 2 * (20 + 40)  # at most about the object's outline differs
    assert np.array_equal(uncrop_mask(full[20:80, 40:140], box, full.shape), full)  # full size: exact
