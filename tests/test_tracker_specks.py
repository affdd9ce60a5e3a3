"""Specks: small pieces of a tracked mask far from the rest are dropped, pieces near it or of a size are kept.

On motion-blurred or blocky frames the colour re-cut finds a few pixels of a badge's colours some way off;
the flow then carried them on with the mask (212 px past the badge on a fast-pan composite made with
``bench/insert_case.py``), and the fill painted the ground there.
"""

import numpy as np

from inpainterz_core.track.classical import _without_specks


def test_only_small_pieces_far_from_the_mask_are_specks():
    mask = np.zeros((120, 160), np.uint8)
    mask[40:80, 20:100] = 1  # the object: 3200 px
    mask[10:13, 130:133] = 1  # 9 px, 30 px away: a speck
    mask[50:53, 104:107] = 1  # 9 px, 4 px away: a hand beside a body
    mask[95:105, 130:140] = 1  # 100 px (3 %), far away: a second letter
    kept = _without_specks(mask)
    assert not kept[10:13, 130:133].any()
    assert kept[50:53, 104:107].all() and kept[95:105, 130:140].all() and kept[40:80, 20:100].all()
    assert kept.dtype == mask.dtype


def test_a_lone_piece_is_kept_whatever_its_size():
    mask = np.zeros((50, 50), np.uint8)
    mask[5:7, 5:7] = 1
    assert (_without_specks(mask) == mask).all()
