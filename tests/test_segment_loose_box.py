"""The classical segmenter from a click and a loose box around a real object, as an editor draws one.

A figure (white shirt, dark shorts, skin-coloured limbs) stands on a real photograph (scikit-image's
``rocket``, as the demo clip); the box runs far past it, so most of the box is background, as
around the tennis player of the eval's real case.
"""

import cv2
import numpy as np

from inpainterz_core.metrics import jaccard
from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.segment.classical import GrabCutSegmenter


def _figure_on_photo(x: int, width: int = 432, height: int = 240):
    from skimage import data

    image = cv2.resize(data.rocket(), (width, height), interpolation=cv2.INTER_AREA)
    figure = np.zeros((height, width), np.uint8)

    def part(draw, rgb):
        draw(image, rgb)
        draw(figure, 1)

    skin = (200, 150, 120)
    for dx in (-14, 14):  # legs and arms
        part(lambda c, v, dx=dx: cv2.line(c, (x + dx // 2, 150), (x + dx, 200), v, 9), skin)
        part(lambda c, v, dx=dx: cv2.line(c, (x + dx, 95), (x + 3 * dx, 140), v, 7), skin)
    part(lambda c, v: cv2.rectangle(c, (x - 16, 130), (x + 16, 156), v, -1), (35, 35, 38))  # shorts
    part(lambda c, v: cv2.rectangle(c, (x - 18, 88), (x + 18, 134), v, -1), (240, 240, 235))  # shirt
    part(lambda c, v: cv2.circle(c, (x, 74), 12, v, -1), skin)  # head
    return cv2.GaussianBlur(image, (3, 3), 0), figure > 0


def test_a_loose_box_cuts_the_figure_not_the_background_in_the_box():
    image, figure = _figure_on_photo(x=300)
    segmenter = GrabCutSegmenter()
    segmenter.set_image(0, image)
    prompt = ObjectPrompt(frame=0, points=(Point(300, 110, 1),), box=(50, 55, 350, 205))
    mask = segmenter.predict(0, prompt)
    # GrabCut alone, taking the box as mostly object, cut the sky and the gantry around the rocket: J 0.12.
    assert jaccard(mask, figure) > 0.6
