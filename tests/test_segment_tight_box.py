"""A tightly boxed badge whose colours GrabCut's models give away: the box is told from its ring instead.

A badge shaded from light green into lavender, boxed tightly on dark legs and a white wall with lavender shirts
a little farther off, was cut by GrabCut as the click's disc alone: its models drifted until the object's held
nothing but the sure seeds. The box's colours against those of a ring just outside it still tell the badge.
"""

import cv2
import numpy as np

from inpainterz_core.metrics import jaccard
from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.segment import classical
from inpainterz_core.segment.classical import GrabCutSegmenter

H, W = 160, 240
BOX = (80, 65, 160, 95)  # x0, y0, x1, y1: tight around the badge


def _badge_on_legs() -> tuple[np.ndarray, np.ndarray]:
    """A wall with dark legs across it, lavender shirts above them, and a badge shaded from light green into
    lavender over the legs; the image and the badge's mask."""
    rng = np.random.default_rng(3)
    image = np.full((H, W, 3), (225, 225, 220), np.uint8)  # the wall
    for x in (70, 100, 130, 165):  # legs (dark navy), shirts (lavender) above them
        image[60:H, x : x + 14] = (30, 35, 60)
        image[25:58, x - 6 : x + 20] = (175, 150, 210)
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    badge = np.zeros((H, W), np.uint8)
    cv2.rectangle(badge, (BOX[0] + 1, BOX[1] + 1), (BOX[2] - 2, BOX[3] - 2), 1, -1)
    shade = np.linspace(0, 1, BOX[2] - BOX[0])[None, :, None]
    light_green, lavender = np.array([200, 235, 170]), np.array([175, 150, 210])
    colours = (1 - shade) * light_green + shade * lavender
    face = np.broadcast_to(colours, (BOX[3] - BOX[1], BOX[2] - BOX[0], 3))
    inside = badge[BOX[1] : BOX[3], BOX[0] : BOX[2]] > 0
    image[BOX[1] : BOX[3], BOX[0] : BOX[2]][inside] = face[inside].astype(np.uint8)
    return cv2.GaussianBlur(image, (3, 3), 0), badge > 0


def test_the_box_told_from_its_ring_holds_the_badge_not_the_legs_around_it():
    image, badge = _badge_on_legs()
    x0, y0, x1, y1 = 40, 30, 200, 130  # a crop around the box, as _cut makes one
    inbox = np.zeros((y1 - y0, x1 - x0), bool)
    inbox[BOX[1] - y0 : BOX[3] - y0, BOX[0] - x0 : BOX[2] - x0] = True
    found = classical._unlike_its_ring(image[y0:y1, x0:x1], inbox) > 0
    assert jaccard(found, badge[y0:y1, x0:x1]) > 0.9


def test_a_cut_that_is_the_clicks_seeds_alone_is_made_again_from_the_box_and_its_ring(monkeypatch):
    image, badge = _badge_on_legs()
    prompt = ObjectPrompt(frame=0, points=(Point(90, 80, 1),), box=BOX)

    def seeds(small, clicks, radius):
        disc = np.zeros(small.shape[:2], np.uint8)
        for centre, label in clicks:
            cv2.circle(disc, centre, radius, int(label), -1)
        return disc

    # GrabCut's models drift onto the click, and the edges enclose only the letter around it (25 px on the real
    # badge): the other readings of the box fail as they did there
    monkeypatch.setattr(
        GrabCutSegmenter,
        "_grabcut",
        lambda self, small, inbox, clicks, radius, _: seeds(small, clicks, radius),
    )
    monkeypatch.setattr(
        classical, "_enclosed", lambda small, inbox, clicks, radius: seeds(small, clicks, radius)
    )

    def cut() -> np.ndarray:
        segmenter = GrabCutSegmenter()
        segmenter.set_image(0, image)
        return segmenter.predict(0, prompt) > 0

    assert jaccard(cut(), badge) > 0.9
    monkeypatch.setattr(classical, "_seeds_alone", lambda fg, clicks, radius: False)
    assert jaccard(cut(), badge) < 0.1  # the disc alone, without the ring's reading
