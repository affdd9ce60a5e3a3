"""The segmenters' shared EmbeddingCache (SAM and SAM 2.1 / EdgeTAM keep their image embeddings in it)."""

import numpy as np
import pytest

from inpainterz_core.errors import InputError
from inpainterz_core.segment.base import EmbeddingCache, rgb_image


def frame(value: int, height: int = 4) -> np.ndarray:
    return np.full((height, 6, 3), value, np.uint8)


def test_evicts_the_least_recently_used_entry_and_re_embeds_on_a_miss():
    cache = EmbeddingCache(size=2)
    made = []

    def embed(name):
        def make():
            made.append(name)
            return f"embedding of {name}"

        return make

    assert cache.get_or_make(0, frame(0), embed("frame 0")) == "embedding of frame 0"
    cache.get_or_make(1, frame(1), embed("frame 1"))
    assert cache[0] == "embedding of frame 0"  # a click on frame 0: now more recent than frame 1
    cache.get_or_make(2, frame(2), embed("frame 2"))  # full: frame 1 goes
    assert 1 not in cache and len(cache) == 2
    assert made == ["frame 0", "frame 1", "frame 2"]

    assert cache.get_or_make(0, frame(0), embed("frame 0 again")) == "embedding of frame 0"  # a hit
    cache.get_or_make(1, frame(1), embed("frame 1 again"))  # a miss: embedded again, frame 2 goes
    assert made == ["frame 0", "frame 1", "frame 2", "frame 1 again"]
    assert 2 not in cache
    with pytest.raises(InputError, match="set_image"):
        cache[2]


def test_an_image_of_another_size_under_a_known_key_is_embedded_again():
    cache = EmbeddingCache(size=2)
    cache.get_or_make("k", frame(0), lambda: "small")
    assert cache.get_or_make("k", frame(0, height=8), lambda: "large") == "large"
    assert cache["k"] == "large" and len(cache) == 1


def test_another_image_of_the_same_size_under_a_known_key_is_embedded_again():
    """Frame 0 of a second clip, given to the segmenter that cut frame 0 of the first, is not the first's."""
    cache = EmbeddingCache(size=2)
    first = frame(10)
    cache.get_or_make(0, first, lambda: "first clip")
    second = first.copy()
    second[2, 3] = 11  # one pixel is enough
    assert cache.get_or_make(0, second, lambda: "second clip") == "second clip"
    assert cache.get_or_make(0, second.copy(), lambda: "again") == "second clip"  # the same pixels: a hit


def test_bad_size_and_bad_images_are_one_line():
    with pytest.raises(InputError, match="at least 1"):
        EmbeddingCache(size=0)
    with pytest.raises(InputError, match="uint8"):
        rgb_image(np.zeros((4, 6, 3), np.float32), "SAM")
    with pytest.raises(InputError, match="HxWx3"):
        rgb_image(np.zeros((4, 6), np.uint8), "SAM")


def test_one_segmenter_cuts_each_clips_frame_0_from_that_clip():
    """Keys are frame indices (``segment_keyframes``): the same segmenter given two clips must not cut the
    second clip's frame 0 on the first's."""
    from inpainterz_core.prompts import ObjectPrompt, Point
    from inpainterz_core.segment.classical import GrabCutSegmenter

    def clip_frame(x: int) -> np.ndarray:
        image = np.full((90, 160, 3), (40, 90, 40), np.uint8)
        image[30:60, x : x + 30] = (230, 60, 50)
        return image

    segmenter = GrabCutSegmenter()
    for x in (20, 100):
        segmenter.set_image(0, clip_frame(x))
        box = (x - 5, 25, x + 35, 65)
        mask = segmenter.predict(0, ObjectPrompt(frame=0, points=(Point(x + 15, 45, 1),), box=box))
        assert mask[30:60, x : x + 30].mean() > 0.9 and mask.sum() < 1.3 * 900
