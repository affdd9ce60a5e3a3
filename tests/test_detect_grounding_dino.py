"""Grounding DINO through transformers with a stand-in folder (a small config of the same classes, random
weights, saved with ``save_pretrained``, a BERT tokenizer over a tiny vocabulary): it loads through the
registry, answers in the image's pixels with the prompt's phrases, and `--text` runs end to end.

Random weights find random boxes: what is checked is the code path, never what is found.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from golden import one_torch_thread  # noqa: E402, F401 (the fixture applies to every test here)

from bench.standins import grounding_dino_standin  # noqa: E402
from inpainterz_core import backends, weights  # noqa: E402
from inpainterz_core.cli import main  # noqa: E402
from inpainterz_core.detect.grounding_dino import GroundingDinoDetector  # noqa: E402
from inpainterz_core.errors import InputError, MissingWeightsError  # noqa: E402
from inpainterz_core.prompts import TextPrompt  # noqa: E402
from inpainterz_core.settings import Settings  # noqa: E402
from inpainterz_core.video import read_mask  # noqa: E402

#: Random weights score boxes anywhere in 0..1: thresholds low enough that something is always found.
LOW = ["--box-threshold", "0.05", "--text-threshold", "0.05"]


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    grounding_dino_standin(folder / "grounding-dino-tiny")
    return folder


@pytest.fixture(scope="module")
def detector(ckpt_dir):
    return backends.make_detector(Settings(ckpt_dir=str(ckpt_dir), device="cpu"))


def test_the_registry_builds_it_from_the_folder(detector, ckpt_dir):
    assert isinstance(detector, GroundingDinoDetector)
    assert detector.name == "grounding-dino-tiny" and detector.device == "cpu"
    assert weights.present("grounding-dino-tiny", ckpt_dir)
    assert weights.verify("grounding-dino-tiny", ckpt_dir) == []
    assert backends.available_backends(str(ckpt_dir))["stages"]["detect"] == ["grounding-dino-tiny"]


def test_raw_answers_are_in_pixels_with_the_prompts_phrases(detector):
    image = np.random.default_rng(0).integers(0, 256, (108, 192, 3), dtype=np.uint8)
    raw = detector._detect_raw(image, ("logo", "boom mic"), 0.05, 0.05)
    assert raw, "random weights score some box above 0.05"
    assert {d.phrase for d in raw} <= {"logo", "boom mic"}
    boxes = np.array([d.box for d in raw])
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    # centres lie in the image (sizes may run over its edges: the checks clip them)
    assert (0 <= (boxes[:, 0] + boxes[:, 2]) / 2).all() and ((boxes[:, 0] + boxes[:, 2]) / 2 <= 192).all()
    assert (0 <= (boxes[:, 1] + boxes[:, 3]) / 2).all() and ((boxes[:, 1] + boxes[:, 3]) / 2 <= 108).all()
    assert all(0.05 < d.score <= 1 for d in raw)

    checked = detector.detect(image, TextPrompt("logo . boom mic", box_threshold=0.05, text_threshold=0.05))
    assert [d.score for d in checked] == sorted((d.score for d in checked), reverse=True)
    assert all(0 <= d.box[0] < d.box[2] <= 192 and 0 <= d.box[1] < d.box[3] <= 108 for d in checked)


def test_higher_thresholds_find_no_more(detector):
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    low = detector._detect_raw(image, ("logo",), 0.05, 0.05)
    high = detector._detect_raw(image, ("logo",), 0.9, 0.9)
    assert len(high) <= len(low)
    assert all(d.score > 0.9 for d in high)


def test_a_text_longer_than_the_model_reads_is_one_input_error(detector):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(InputError, match="at most 32"):  # the stand-in reads 32 tokens
        detector.detect(image, TextPrompt(" . ".join(f"red square {i}" for i in range(20))))


def test_a_broken_folder_is_one_line(tmp_path):
    folder = grounding_dino_standin(tmp_path / "grounding-dino-tiny")
    (folder / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(MissingWeightsError) as info:
        GroundingDinoDetector(folder, device="cpu")
    assert "\n" not in str(info.value) and "weights verify grounding-dino-tiny" in str(info.value)


def test_text_runs_end_to_end(ckpt_dir, pan_folder, pan_clip, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["remove", str(pan_folder), "-o", str(out), "-q", "--backend", "classical", "--ckpt-dir"]
    assert main([*argv, str(ckpt_dir), "--text", "logo . boom mic", *LOW, "--frame", "3"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["backends"]["detect"] == {"name": "grounding-dino-tiny", "device": "cpu"}
    assert report["text"]["text"] == "logo . boom mic" and report["text"]["frame"] == 3
    objects = report["objects"]
    assert objects and [o["object_id"] for o in objects] == list(range(1, len(objects) + 1))
    assert all(o["phrase"] in ("logo", "boom mic") and o["first_frame"] == 3 for o in objects)
    assert json.loads((out / "track.json").read_text())["objects"] == objects
    labels = read_mask(out / "masks" / "000003.png")
    assert set(np.unique(labels[labels > 0])) <= {o["object_id"] for o in objects}
    assert len(list((out / "masks").iterdir())) == pan_clip.frames


def test_segment_and_track_take_text_and_clicks(ckpt_dir, pan_folder, tmp_path, capsys):
    base = ["--backend", "classical", "--ckpt-dir", str(ckpt_dir), "--text", "logo", *LOW, "-q"]
    assert main(["segment", str(pan_folder), "-o", str(tmp_path / "seg"), *base, "--point", "185,100"]) == 0
    printed = capsys.readouterr().out
    assert "'logo'" in printed
    assert main(["track", str(pan_folder), "-o", str(tmp_path / "trk"), *base, "--detect-every", "5"]) == 0
    track = json.loads((tmp_path / "trk" / "track.json").read_text())
    assert track["text"]["detect_every"] == 5 and track["objects"]
