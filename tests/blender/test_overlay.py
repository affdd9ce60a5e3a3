"""The preview overlay's texture data, built from a mask's RLE without numpy."""

import numpy as np


def test_mask_pixels_match_the_decoded_mask(addon):
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:6] = True
    mask[4, 6] = mask[0, 0] = True
    flat = mask.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat[0]:
        counts.insert(0, 0)
    rle = {"size": [5, 7], "counts": counts}
    decoded = np.frombuffer(addon.remote.client.rle_decode(rle), np.uint8).reshape(5, 7)
    assert (decoded.astype(bool) == mask).all()

    pixels = np.array(addon.overlay.mask_pixels(rle, (1.0, 0.5, 0.25), alpha=0.5), np.float32).reshape(
        5, 7, 4
    )
    assert (pixels[mask] == [1.0, 0.5, 0.25, 0.5]).all()
    assert (pixels[~mask] == 0).all()
