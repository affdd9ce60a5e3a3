import numpy as np

from inpainterz_core.metrics import RegionScores, boundary_f, jaccard, psnr


def square(offset=0, size=40, shape=(100, 100)):
    m = np.zeros(shape, bool)
    m[30 + offset : 30 + offset + size, 30 : 30 + size] = True
    return m


def test_jaccard():
    assert jaccard(square(), square()) == 1.0
    assert jaccard(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert abs(jaccard(square(), square(20)) - 20 / 60) < 1e-9


def test_boundary_f_tolerates_a_one_pixel_shift_but_not_a_large_one():
    assert boundary_f(square(), square()) == 1.0
    assert boundary_f(square(), square(1)) > 0.9
    assert boundary_f(square(), square(15)) < 0.6
    assert boundary_f(square(), np.zeros((100, 100), bool)) == 0.0


def test_psnr_in_a_region():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = a.copy()
    region = np.zeros((32, 32), bool)
    region[:8] = True
    b[20:] = 0  # damage outside the region only
    assert psnr(a, b, region) == float("inf")
    assert psnr(a, b) < 20


def test_region_scores_pool_pixels_over_frames():
    scores = RegionScores()
    a = np.full((4, 4, 3), 100, np.uint8)
    region = np.ones((4, 4), bool)
    scores.add_pixels(a, a + 10, region)
    scores.add_masks(region, region)
    s = scores.summary()
    assert abs(s["hole_psnr"] - 20 * np.log10(255 / 10)) < 1e-6
    assert s["JF"] == 1.0
