"""The classical segmenter closes the bays in a cut that the object's own outline closes.

A badge whose lower part shades into the ground's colour (as the eval's generated badges do over a desert or a
rink) is cut by colour along its letters; the bay between the letters and the badge's lower edge is left out,
though that edge shows, and the fill then paints the ground from the badge's own colours. A concave object's
open side, which runs over ground with no edge, is not closed.
"""

import cv2
import numpy as np
import pytest

from inpainterz_core.metrics import jaccard
from inpainterz_core.segment.classical import GrabCutSegmenter, close_outlined_concavities

H, W = 240, 360
SAND, SHRUB = np.array([215, 190, 165], np.float32), np.array([105, 85, 60], np.float32)


def _ground(seed: int = 0) -> np.ndarray:
    """Pale sand dotted with dark shrubs."""
    rng = np.random.default_rng(seed)
    image = np.tile(SAND, (H, W, 1))
    for _ in range(180):
        x, y, r = rng.integers(0, W), rng.integers(0, H), rng.integers(2, 6)
        cv2.circle(image, (int(x), int(y)), int(r), (SHRUB * rng.uniform(0.85, 1.15)).tolist(), -1)
    return image


def _gradient_badge(
    image: np.ndarray, top=(200, 150, 220), bottom=SHRUB, text: str = "KORA", ink=(150, 120, 20)
) -> tuple[np.ndarray, np.ndarray]:
    """A rounded badge 160x60 px, ``top`` (lilac) at the top shading into ``bottom`` (the shrubs' dark brown)
    over its lowest third, lettered across the middle in ``ink`` (a dark ochre)."""
    badge = np.zeros((H, W), np.uint8)
    x0, y0, x1, y1, r = 100, 90, 260, 150, 18
    cv2.rectangle(badge, (x0 + r, y0), (x1 - r, y1), 1, -1)
    cv2.rectangle(badge, (x0, y0 + r), (x1, y1 - r), 1, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(badge, (cx, cy), r, 1, -1)
    t = np.clip((np.arange(H, dtype=np.float32) - y0) / (0.7 * (y1 - y0)), 0, 1)[:, None, None]
    shade = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    out = np.clip(np.where(badge[..., None] > 0, shade, image), 0, 255).astype(np.uint8)
    cv2.putText(out, text, (x0 + 18, y0 + 44), cv2.FONT_HERSHEY_DUPLEX, 1.4, ink, 4, cv2.LINE_AA)
    return cv2.GaussianBlur(out, (3, 3), 0), badge > 0


def test_the_bay_a_colour_cut_leaves_under_the_letters_is_closed():
    """The colour cut of such a badge, as GrabCut gave it on the generated cases: the badge down to its letters,
    and its lower ends, but not the dark band between them (in the shrubs' colours): the badge's edge runs
    under the band, so the bay is the badge's."""
    image, badge = _gradient_badge(_ground())
    cut = badge.copy()
    cut[132:, 118:242] = False  # the band under the letters, between the badge's rounded ends
    closed = close_outlined_concavities(image, cut, (100, 90, 261, 151))
    assert jaccard(closed, badge) > 0.97 and not (closed & ~badge).any()


def test_a_real_badges_first_cut_takes_its_lower_edge(shared_clips):
    """The eval's city-pan badge: its first cut left out a band along its lower edge (J 0.848); closed, 0.87."""
    from inpainterz_core.evaluate import load_case
    from inpainterz_core.pipeline.tracking import offer_neighbours
    from inpainterz_core.video import open_video

    case = load_case(shared_clips / "eval" / "insert-citypan")
    segmenter = GrabCutSegmenter()
    with open_video(case.input) as clip:
        segmenter.set_image(0, clip.read(0))
        offer_neighbours(segmenter, 0, clip, 0)
    assert jaccard(segmenter.predict(0, case.prompt), case.truth[0]) > 0.865


@pytest.mark.parametrize("opening", ["down", "right"])
def test_the_open_side_of_a_concave_object_is_not_closed(opening):
    """A horseshoe of a plain colour on the earth: its cut is the horseshoe, and the bay between its arms, earth
    with no edge across its mouth, stays out."""
    image = _ground(1)
    shoe = np.zeros((H, W), np.uint8)
    cv2.ellipse(shoe, (180, 120), (70, 60), {"down": 0, "right": 90}[opening], 180, 360, 1, 22)
    image[shoe > 0] = (60, 130, 200)
    image = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)
    inner = np.zeros((H, W), np.uint8)
    cv2.ellipse(inner, (180, 120), (45, 35), {"down": 0, "right": 90}[opening], 180, 360, 1, -1)
    closed = close_outlined_concavities(image, shoe > 0, (99, 49, 262, 192))
    assert not closed[(inner > 0) & (shoe == 0)].any()


def _striped_wall() -> np.ndarray:
    """A dark facade of thin vertical stripes (window columns), textured at every pixel row."""
    image = np.zeros((H, W, 3), np.float32)
    columns = np.where(np.arange(W) % 6 < 3, 55.0, 105.0)
    image[:] = columns[None, :, None] * np.array([1.0, 0.85, 0.8], np.float32)
    return image


def test_a_smooth_band_in_the_walls_colours_along_a_tight_box_is_closed():
    """A badge shading into the facade's mean colour over its lower third, on that striped facade: its lower edge
    is weak (the band's colour is the stripes' mean), so the outline alone does not close the bay, but the bay
    runs along the tight box's bottom, where the cut reaches at both ends, and it is smooth like the badge, not
    striped like the wall beside it: it is the badge's (the city-pan composites' first cuts lost 14-16 %)."""
    band = np.array([80.0, 68.0, 64.0], np.float32)  # the stripes' mean
    image, badge = _gradient_badge(
        _striped_wall(), top=(200, 230, 150), bottom=band, text="RIVA", ink=(190, 40, 150)
    )
    cut = badge.copy()
    cut[136:, 118:242] = False  # the band under the letters, between the badge's rounded ends
    closed = close_outlined_concavities(image, cut, (100, 90, 261, 151))
    assert jaccard(closed, badge) > 0.97 and not (closed & ~badge).any()


def test_the_ground_between_legs_along_the_boxs_bottom_stays_out():
    """Two legs reach the tight box's bottom with the sand between them: a bay along the box's side too, but
    it holds what lies outside it, so it is not the object's."""
    figure = np.zeros((H, W), np.uint8)
    cv2.rectangle(figure, (140, 60), (220, 130), 1, -1)  # a body
    cv2.rectangle(figure, (140, 130), (160, 200), 1, -1)  # two legs
    cv2.rectangle(figure, (200, 130), (220, 200), 1, -1)
    image = np.where(figure[..., None] > 0, np.float32([60, 90, 160]), SAND)  # a blue tracksuit
    image += np.random.default_rng(2).normal(0, 4, (H, W, 3))  # the camera's noise
    image = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)
    closed = close_outlined_concavities(image, figure > 0, (140, 60, 221, 201))
    assert not closed[135:, 165:195].any()
