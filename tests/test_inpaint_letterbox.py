"""Letterbox and pillarbox bars: what an object hides in a bar is painted the bar's colour, and nothing else."""

import numpy as np

from inpainterz_core.inpaint.letterbox import paint_bars
from inpainterz_core.outputs import write_png
from inpainterz_core.pipeline import inpaint
from inpainterz_core.pipeline.holes import grown
from inpainterz_core.settings import Settings
from inpainterz_core.video import open_video

RNG = np.random.default_rng(7)


def _letterboxed(height=120, width=200, bar=20, bar_colour=(2, 3, 1)):
    """A textured picture between bars of ``bar_colour`` with coding noise of a grey level or two."""
    frame = RNG.integers(40, 220, (height, width, 3), dtype=np.uint8)
    noise = RNG.integers(0, 3, (bar, width, 3), dtype=np.uint8)
    frame[:bar] = np.asarray(bar_colour, np.uint8) + noise
    frame[-bar:] = np.asarray(bar_colour, np.uint8) + noise[::-1]
    return frame


def test_the_part_of_a_hole_in_a_bar_takes_the_bars_colour_and_the_rest_is_left_alone():
    frame = _letterboxed()
    hole = np.zeros(frame.shape[:2], bool)
    hole[10:35, 60:120] = True  # astride the top bar's edge (row 20)
    painted = paint_bars(frame, hole)
    assert (
        np.abs(painted[10:20, 60:120].astype(int) - (3, 4, 2)) <= 1
    ).all()  # the bar's colour, its noise's median
    np.testing.assert_array_equal(painted[20:], frame[20:])  # the picture's part of the hole: the fill's
    np.testing.assert_array_equal(painted[~hole], frame[~hole])


def test_pillarbox_bars_of_any_flat_colour_count():
    frame = np.rot90(
        _letterboxed(height=200, width=120, bar_colour=(60, 60, 60))
    ).copy()  # bars left and right
    hole = np.zeros(frame.shape[:2], bool)
    hole[40:60, 185:200] = True  # in the right bar, to the frame's edge
    painted = paint_bars(frame, hole)
    assert (np.abs(painted[hole].astype(int) - 61) <= 1).all()


def test_without_a_bar_the_frame_comes_back_as_it_was():
    frame = RNG.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    hole = np.zeros(frame.shape[:2], bool)
    hole[0:30, 0:40] = True  # at the corner, where a bar would be
    assert paint_bars(frame, hole) is frame


def test_a_speck_in_the_bar_does_not_end_it_but_a_line_mostly_hidden_does():
    frame = _letterboxed()
    frame[5, 150] = 255  # one stray pixel of the coding
    hole = np.zeros(frame.shape[:2], bool)
    hole[8:18, 20:60] = True
    assert (paint_bars(frame, hole)[hole] <= 5).all()
    hole[0:12, 10:190] = True  # hides nine tenths of the bar's first lines: too little shows to tell
    assert paint_bars(frame, hole) is frame


def test_a_badge_over_a_bar_is_painted_out_to_the_bars_colour(tmp_path):
    """Through the whole inpaint stage: the hole's part in the bar is the bar, the rest is filled, and nothing
    outside the grown hole changes."""
    frames, masks = tmp_path / "frames", tmp_path / "masks"
    frames.mkdir()
    masks.mkdir()
    labels = np.zeros((120, 200), np.uint8)
    originals = []
    for i in range(6):
        frame = _letterboxed()
        labels[:] = 0
        labels[8 + i : 30 + i, 50 + 4 * i : 110 + 4 * i] = 1
        frame[labels > 0] = (30, 200, 30)
        originals.append((frame, labels > 0))
        write_png(frames / f"{i:06d}.png", frame)
        write_png(masks / f"{i:06d}.png", labels)
    settings = Settings(backend="classical", write_video=False)
    radii = inpaint(frames, masks, settings, tmp_path / "out")["hole_radius"]
    with open_video(tmp_path / "out" / "inpainted") as result:
        for (frame, mask), (_, painted), radius in zip(originals, result.frames(), radii, strict=True):
            bar = mask.copy()
            bar[20:] = False
            assert (painted[bar] <= 5).all()
            assert (painted[mask & ~bar][:, 1] < 150).mean() > 0.9  # the green badge is gone from the picture
            hole = grown(mask, radius)
            np.testing.assert_array_equal(painted[~hole], frame[~hole])
