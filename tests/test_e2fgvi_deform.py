"""Our modulated deformable convolution sums what torchvision's ``deform_conv2d`` does.

The E2FGVI alignment uses it on the CPU in place of torchvision's kernel (several times faster); the golden
parity cases check the whole generator, this checks the convolution on its own where they do not reach:
offsets that run off the image, sizes that are not multiples of anything, and outputs made in bands of rows.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d

from inpainterz_core.inpaint.e2fgvi import alignment
from inpainterz_core.inpaint.e2fgvi.alignment import modulated_deform_conv3x3


def _inputs(batch, channels, out_channels, groups, h, w, reach, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, h, w, generator=g)
    offset = reach * torch.randn(batch, 2 * groups * 9, h, w, generator=g)
    mask = torch.rand(batch, groups * 9, h, w, generator=g)
    weight = 0.1 * torch.randn(out_channels, channels, 3, 3, generator=g)
    bias = torch.randn(out_channels, generator=g)
    return x, offset, weight, bias, mask


@pytest.mark.parametrize(
    "batch, channels, out_channels, groups, h, w, reach",
    [
        (1, 32, 16, 16, 13, 21, 3.0),  # E2FGVI's 16 offset groups, small offsets
        (2, 12, 5, 4, 9, 7, 20.0),  # offsets far off the image: those samples are zero
        (1, 8, 8, 1, 1, 5, 0.5),  # a single row
    ],
)
def test_matches_torchvision(batch, channels, out_channels, groups, h, w, reach):
    x, offset, weight, bias, mask = _inputs(batch, channels, out_channels, groups, h, w, reach)
    expected = deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask)
    ours = modulated_deform_conv3x3(x, offset, weight, bias, mask)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_bands_of_rows_give_the_same_output(monkeypatch):
    x, offset, weight, bias, mask = _inputs(1, 16, 8, 4, 11, 10, 4.0, seed=1)
    whole = modulated_deform_conv3x3(x, offset, weight, bias, mask)
    # room for the columns of 3 rows at a time: 4 bands, the last one shorter
    monkeypatch.setattr(alignment, "COLUMN_BYTES", 16 * 9 * 10 * 4 * 3)
    banded = modulated_deform_conv3x3(x, offset, weight, bias, mask)
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        banded, deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask), atol=1e-4, rtol=1e-4
    )
