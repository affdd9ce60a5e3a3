"""DeAOTTracker as a tracking backend, with random weights on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from golden import one_torch_thread  # noqa: F401 (the fixture applies to every test here)

from bench.golden import GOLDEN, recipe_weights
from inpainterz_core.errors import InputError, MissingWeightsError
from inpainterz_core.track.deaot import DeAOTTracker

HEIGHT, WIDTH = 60, 90  # not 16k+1: exercises the resize to 65x97 and back


@pytest.fixture(scope="module")
def tracker():
    torch.manual_seed(0)
    return DeAOTTracker(device="cpu")


def _frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(count)]


def _labels(ids_and_boxes) -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for label_id, (y0, y1, x0, x1) in ids_and_boxes:
        labels[y0:y1, x0:x1] = label_id
    return labels


TWO_OBJECTS = _labels([(3, (5, 25, 5, 40)), (7, (30, 55, 45, 85))])


def test_reset_step_correct_shapes_and_ids(tracker):
    frames = _frames(4)
    assert tracker.name == "deaot" and tracker.device == "cpu"
    tracker.reset(frames[0], TWO_OBJECTS)
    for frame in frames[1:3]:
        out = tracker.step(frame)
        assert out.shape == (HEIGHT, WIDTH) and out.dtype == np.uint8
        assert set(np.unique(out)) <= {0, 3, 7}
    tracker.correct(frames[3], TWO_OBJECTS)
    out = tracker.step(frames[0])
    assert out.shape == (HEIGHT, WIDTH) and set(np.unique(out)) <= {0, 3, 7}


def test_label_ids_round_trip(tracker, monkeypatch):
    """With the decoder replaced by one-hot logits of the reference labels, step() must give them back as-is."""
    frames = _frames(2)
    tracker.reset(frames[0], TWO_OBJECTS)
    contiguous = torch.from_numpy(np.select([TWO_OBJECTS == 3, TWO_OBJECTS == 7], [1, 2], 0))
    one_hot = torch.nn.functional.one_hot(contiguous, 3).permute(2, 0, 1)[None].float()
    monkeypatch.setattr(tracker.engine, "decode_current_logits", lambda output_size=None: one_hot)
    assert np.array_equal(tracker.step(frames[1]), TWO_OBJECTS)


def test_more_than_ten_objects_use_several_groups(tracker):
    frames = _frames(2)
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    ids = [5 + 20 * i for i in range(12)]
    for i, label_id in enumerate(ids):
        labels[:, i * 7 : (i + 1) * 7] = label_id
    tracker.reset(frames[0], labels)
    assert len(tracker.engine.groups) == 2
    out = tracker.step(frames[1])
    assert out.shape == (HEIGHT, WIDTH) and set(np.unique(out)) <= {0, *ids}


def test_long_term_memory_stays_bounded():
    torch.manual_seed(0)
    tracker = DeAOTTracker(device="cpu", long_term_mem_gap=2, max_len_long_term=3)
    frames = _frames(3)
    tracker.reset(frames[0], TWO_OBJECTS)
    group = tracker.engine.groups[0]
    lengths = []
    for step in range(12):
        tracker.step(frames[step % 3])
        lengths.append(group.long_term_len)
    assert max(lengths) == 3  # the cap is reached (so the check can fail) and never exceeded
    # As the reference engine: the cap counts every entry and the oldest goes first, the reference frame too.
    assert sum(entry.is_reference for entry in group.long_term) == 0
    tracker.correct(frames[0], TWO_OBJECTS)
    assert group.long_term_len == 3 and group.long_term[-1].is_reference
    for step in range(6):
        tracker.step(frames[step % 3])
    assert group.long_term_len == 3
    assert sum(entry.is_reference for entry in group.long_term) == 0


def test_bad_input_is_an_input_error(tracker):
    frame = _frames(1)[0]
    with pytest.raises(InputError):
        tracker.reset(frame.astype(np.float32), TWO_OBJECTS)
    with pytest.raises(InputError):
        tracker.reset(frame, TWO_OBJECTS[:-1])


@pytest.mark.skipif(not (GOLDEN / "recipe.py").is_file(), reason=f"golden recipe not found at {GOLDEN}")
def test_checkpoint_loading_and_truncated_file(tmp_path):
    state = recipe_weights("deaot_r50l", seed=3)
    path = tmp_path / "R50_DeAOTL_PRE_YTB_DAV.pth"
    torch.save({"state_dict": {f"module.{name}": value for name, value in state.items()}}, path)

    tracker = DeAOTTracker(checkpoint=path, device="cpu")
    loaded = tracker.model.state_dict()
    assert all(torch.equal(loaded[name], value) for name, value in state.items())

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(MissingWeightsError):
        DeAOTTracker(checkpoint=truncated, device="cpu")
