"""The segmenters' shared EmbeddingCache (SAM and SAM 2.1 / EdgeTAM keep their image embeddings in it)."""

import numpy as np
import pytest

from inpainterz_core.errors import InputError
from inpainterz_core.segment.base import EmbeddingCache, rgb_image


def test_evicts_the_least_recently_used_entry_and_re_embeds_on_a_miss():
    cache = EmbeddingCache(size=2)
    made = []

    def embed(name):
        def make():
            made.append(name)
            return f"embedding of {name}"

        return make

    assert cache.get_or_make(0, (4, 6, 3), embed("frame 0")) == "embedding of frame 0"
    cache.get_or_make(1, (4, 6, 3), embed("frame 1"))
    assert cache[0] == "embedding of frame 0"  # a click on frame 0: now more recent than frame 1
    cache.get_or_make(2, (4, 6, 3), embed("frame 2"))  # full: frame 1 goes
    assert 1 not in cache and len(cache) == 2
    assert made == ["frame 0", "frame 1", "frame 2"]

    assert cache.get_or_make(0, (4, 6, 3), embed("frame 0 again")) == "embedding of frame 0"  # a hit
    cache.get_or_make(1, (4, 6, 3), embed("frame 1 again"))  # a miss: embedded again, frame 2 goes
    assert made == ["frame 0", "frame 1", "frame 2", "frame 1 again"]
    assert 2 not in cache
    with pytest.raises(InputError, match="set_image"):
        cache[2]


def test_an_image_of_another_size_under_a_known_key_is_embedded_again():
    cache = EmbeddingCache(size=2)
    cache.get_or_make("k", (4, 6, 3), lambda: "small")
    assert cache.get_or_make("k", (8, 6, 3), lambda: "large") == "large"
    assert cache["k"] == "large" and len(cache) == 1


def test_bad_size_and_bad_images_are_one_line():
    with pytest.raises(InputError, match="at least 1"):
        EmbeddingCache(size=0)
    with pytest.raises(InputError, match="uint8"):
        rgb_image(np.zeros((4, 6, 3), np.float32), "SAM")
    with pytest.raises(InputError, match="HxWx3"):
        rgb_image(np.zeros((4, 6), np.uint8), "SAM")
