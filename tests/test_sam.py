"""SAMSegmenter with random weights: shapes, the embedding cache, and agreement with SamPredictor.

The image encoder is the slow part (tens of seconds on a small CPU), so this module
runs it for real exactly once; the cache tests swap in a stub encoder.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from segment_anything import SamPredictor  # noqa: E402

from inpainterz_core.errors import InputError, MissingWeightsError  # noqa: E402
from inpainterz_core.prompts import ObjectPrompt, Point  # noqa: E402
from inpainterz_core.segment.sam import SAMSegmenter  # noqa: E402

# Not square, so a mix-up of height and width shows in the mask's shape.
IMAGE = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
CLICK = ObjectPrompt(points=(Point(20, 30),))


@pytest.fixture(scope="module")
def sam():
    """One segmenter with a real (random-weight) embedding of IMAGE under key "frame"."""
    seg = SAMSegmenter(checkpoint=None, device="cpu")
    real_forward = seg.model.image_encoder.forward
    seg.encoder_calls = 0

    def counting_forward(x):
        seg.encoder_calls += 1
        return real_forward(x)

    seg.model.image_encoder.forward = counting_forward
    seg.set_image("frame", IMAGE)
    return seg


def reference(seg, key, prompt, mask_input=None):
    """What segment-anything's own SamPredictor answers on the same cached embedding."""
    predictor = SamPredictor(seg.model)
    embedding = seg._embeddings[key]
    predictor.features = embedding.features
    predictor.original_size, predictor.input_size = embedding.original_size, embedding.input_size
    predictor.is_image_set = True
    coords = np.array([[p.x, p.y] for p in prompt.points]) if prompt.points else None
    labels = np.array([p.label for p in prompt.points]) if prompt.points else None
    box = np.array(prompt.box) if prompt.box is not None else None
    multimask = len(prompt.points) == 1 and prompt.box is None
    masks, scores, _ = predictor.predict(coords, labels, box, mask_input, multimask_output=multimask)
    return masks[int(np.argmax(scores))]


def test_click_gives_a_full_resolution_bool_mask_without_re_embedding(sam):
    mask = sam.predict("frame", CLICK)
    assert mask.shape == IMAGE.shape[:2] and mask.dtype == bool
    sam.predict("frame", ObjectPrompt(points=(Point(5, 5), Point(60, 40, label=0))))
    sam.set_image("frame", IMAGE)  # same key, same size: served from the cache
    assert sam.encoder_calls == 1


@pytest.mark.parametrize(
    "prompt",
    [
        CLICK,
        ObjectPrompt(points=(Point(20, 30), Point(50, 10, label=0))),
        ObjectPrompt(box=(4.0, 6.0, 40.0, 30.0)),
        ObjectPrompt(points=(Point(20, 30),), box=(4.0, 6.0, 40.0, 30.0)),
    ],
    ids=["one click", "positive and negative clicks", "box", "click and box"],
)
def test_matches_sam_predictor(sam, prompt):
    np.testing.assert_array_equal(sam.predict("frame", prompt), reference(sam, "frame", prompt))


def test_unknown_key_and_bad_image_are_input_errors(sam):
    with pytest.raises(InputError, match="set_image"):
        sam.predict("never set", CLICK)
    with pytest.raises(InputError, match="uint8"):
        sam.set_image("float", IMAGE.astype(np.float32))


def test_lru_cache_keeps_the_recently_used_keys(monkeypatch):
    seg = SAMSegmenter(device="cpu", cache_size=2)
    calls = []

    def stub_encoder(x):
        calls.append(x.shape)
        return torch.zeros(1, 256, 64, 64)

    monkeypatch.setattr(seg.model.image_encoder, "forward", stub_encoder)
    seg.set_image(0, IMAGE)
    seg.set_image(1, IMAGE)
    seg.predict(0, CLICK)  # 0 is now more recent than 1
    seg.set_image(2, IMAGE)  # evicts 1
    assert len(calls) == 3
    seg.set_image(0, IMAGE)
    seg.set_image(2, IMAGE)
    assert len(calls) == 3
    with pytest.raises(InputError):
        seg.predict(1, CLICK)

    seg.set_image(2, IMAGE[:32])  # another image size under the same key is a new image
    assert len(calls) == 4
    assert seg.predict(2, CLICK).shape == (32, 64)


def test_bad_checkpoints_give_one_clear_line(tmp_path):
    with pytest.raises(MissingWeightsError, match="not found"):
        SAMSegmenter(checkpoint=tmp_path / "sam_vit_b_01ec64.pth", device="cpu")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MissingWeightsError, match="truncated"):
        SAMSegmenter(checkpoint=truncated, device="cpu")
    wrong = tmp_path / "wrong.pth"
    torch.save({"image_encoder.neck.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(MissingWeightsError, match="not a SAM vit_b checkpoint") as info:
        SAMSegmenter(checkpoint=wrong, device="cpu")
    assert "\n" not in str(info.value)
