"""E2FGVIInpainter: the test.py schedule, shapes, hole-only output, and checkpoint loading.

Random weights throughout (the model maths is covered by test_e2fgvi_parity.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from golden import one_torch_thread  # noqa: F401 (the fixture applies to every test here)

from bench.golden import GOLDEN, case
from inpainterz_core.errors import InputError, MissingWeightsError
from inpainterz_core.inpaint.e2fgvi import E2FGVIInpainter
from inpainterz_core.inpaint.e2fgvi.schedule import plan


def _steps(length, targets=None):
    return [(s.center, s.neighbors[0], s.neighbors[-1], s.references) for s in plan(length, targets)]


# Expected values are what the reference test.py (neighbor_stride 5, step 10, num_ref 10) computes:
# (window centre, first neighbour, last neighbour, reference frames).
def test_schedule_matches_reference_short_clips():
    assert _steps(1) == [(0, 0, 0, [])]
    assert _steps(3) == [(0, 0, 2, [])]
    assert _steps(12) == [(0, 0, 5, [10]), (5, 0, 10, []), (10, 5, 11, [0])]
    assert _steps(23) == [
        (0, 0, 5, [10, 20]),
        (5, 0, 10, [20]),
        (10, 5, 15, [0, 20]),
        (15, 10, 20, [0]),
        (20, 15, 22, [0, 10]),
    ]


def test_schedule_matches_reference_61_frames():
    assert _steps(61) == [
        (0, 0, 5, [10, 20, 30, 40, 50]),
        (5, 0, 10, [20, 30, 40, 50]),
        (10, 5, 15, [0, 20, 30, 40, 50, 60]),
        (15, 10, 20, [0, 30, 40, 50, 60]),
        (20, 15, 25, [0, 10, 30, 40, 50, 60]),
        (25, 20, 30, [0, 10, 40, 50, 60]),
        (30, 25, 35, [0, 10, 20, 40, 50, 60]),
        (35, 30, 40, [0, 10, 20, 50, 60]),
        (40, 35, 45, [0, 10, 20, 30, 50, 60]),
        (45, 40, 50, [0, 10, 20, 30, 60]),
        (50, 45, 55, [0, 10, 20, 30, 40, 60]),
        (55, 50, 60, [5, 15, 25, 35, 45]),
        (60, 55, 60, [10, 20, 30, 40, 50]),
    ]


def test_schedule_never_goes_past_the_last_frame():
    """test.py would pick frame 60 of a 60-frame clip (one past the end) as a reference; we stop at 59."""
    steps = _steps(60)
    assert steps[2] == (10, 5, 15, [0, 20, 30, 40, 50])
    assert all(r < 60 for _, _, _, refs in steps for r in refs)
    assert _steps(100)[10] == (50, 45, 55, [0, 10, 20, 30, 40, 60, 70, 80, 90])


def test_schedule_keeps_only_steps_that_predict_targets():
    assert [c for c, *_ in _steps(137, range(60, 63))] == [55, 60, 65]
    assert [c for c, *_ in _steps(137, range(61, 62))] == [60, 65]
    every = _steps(137)
    assert all(step in every for step in _steps(137, range(40, 80)))


def _synthetic_window(t: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
    masks = np.zeros((t, h, w), dtype=bool)
    for i in range(t):
        top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        masks[i, top : top + h // 3, left : left + w // 3] = True
    return frames, masks


@pytest.mark.parametrize("variant,size", [("hq", (37, 70)), ("cvpr22", (48, 64))])
def test_random_weights_fill_only_the_holes(variant, size):
    torch.manual_seed(0)
    inpainter = E2FGVIInpainter(variant, device="cpu")
    assert inpainter.device == "cpu"
    assert inpainter.name == {"hq": "e2fgvi_hq", "cvpr22": "e2fgvi"}[variant]
    assert inpainter.reach == 50
    assert inpainter.work_size == {"hq": None, "cvpr22": (432, 240)}[variant]

    t, targets = (7, range(2, 5)) if variant == "hq" else (3, range(1, 3))
    frames, masks = _synthetic_window(t, *size)
    out = inpainter.inpaint(frames, masks, targets)

    assert out.shape == (len(targets), *size, 3) and out.dtype == np.uint8
    outside = ~masks[targets.start : targets.stop]
    np.testing.assert_array_equal(out[outside], frames[targets.start : targets.stop][outside])
    inside = ~outside
    assert (out[inside] != frames[targets.start : targets.stop][inside]).any()


def test_hq_output_is_the_model_prediction_on_mirror_padded_frames():
    """One step (3 frames): the holes hold the generator's output on the masked frames, mirror-padded
    to 60x108 as test.py pads them (cat with the flipped frames, then crop), cropped back."""
    torch.manual_seed(1)
    inpainter = E2FGVIInpainter("hq", device="cpu")
    frames, masks = _synthetic_window(3, 50, 100, seed=1)
    out = inpainter.inpaint(frames, masks, range(3))

    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255 * 2 - 1
    x = x * (1 - torch.from_numpy(masks)[:, None].float())
    x = torch.cat([x, x.flip(2)], 2)[:, :, :60]
    x = torch.cat([x, x.flip(3)], 3)[:, :, :, :108]
    with torch.inference_mode():
        pred, _ = inpainter.model(x[None], 3)
    expected = np.rint(((pred[:, :, :50, :100] + 1) * 127.5).permute(0, 2, 3, 1).numpy()).clip(0, 255)
    # Rounding of values a float ulp from .5 may differ by one grey level.
    assert np.abs(out[masks].astype(int) - expected[masks].astype(int)).max() <= 1


def test_bad_inputs_are_rejected():
    inpainter = E2FGVIInpainter("hq", device="cpu")
    frames, masks = _synthetic_window(3, 20, 20)
    with pytest.raises(InputError):
        inpainter.inpaint(frames, masks, range(2, 4))
    with pytest.raises(InputError):
        inpainter.inpaint(frames, masks[:, :10], range(3))
    with pytest.raises(InputError):
        inpainter.inpaint(frames.astype(np.float32), masks, range(3))


def _golden_recipe_state(model_dir: str) -> dict[str, torch.Tensor]:
    found = case(model_dir)
    if not found.json_path.is_file():
        pytest.skip(f"golden parity data not found at {GOLDEN}")
    return found.weights()


def test_checkpoint_file_loads_and_truncated_file_is_reported(tmp_path):
    state = _golden_recipe_state("e2fgvi_hq")
    path = tmp_path / "E2FGVI-HQ-CVPR22.pth"
    torch.save(state, path)

    inpainter = E2FGVIInpainter("hq", checkpoint=path, device="cpu")
    loaded = inpainter.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(MissingWeightsError, match="truncated"):
        E2FGVIInpainter("hq", checkpoint=truncated, device="cpu")


def test_checkpoint_of_the_other_variant_is_reported(tmp_path):
    path = tmp_path / "E2FGVI-CVPR22.pth"
    torch.save(_golden_recipe_state("e2fgvi_cvpr22"), path)
    with pytest.raises(MissingWeightsError, match="sc.bias"):
        E2FGVIInpainter("hq", checkpoint=path, device="cpu")
