"""bench/real_case.py: a real-object case made from published frames and masks is a case `inpainterz eval`
reads and scores, its masks the object's, its prompt on the object."""

import json

import cv2
import numpy as np
import pytest

from bench.keyframe_bound import bound, true_keyframes
from bench.real_case import make_case
from inpainterz_core import evaluate
from inpainterz_core.cli import main

WIDTH, HEIGHT = 1000, 560  # larger than 854x480: scaled to fit, frames and masks alike


def _disc(n: int) -> tuple[int, int]:
    return 300 + 12 * n, 280


def _sequence(tmp_path, frames: int, masks: int, square: bool = True):
    """A folder of frames (a green disc moving right over a grey gradient, and a red square standing still) and
    one of colour label maps marking them in different colours, as a dataset's palette masks do."""
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    ground = np.tile(np.linspace(40, 200, WIDTH, dtype=np.uint8)[None, :, None], (HEIGHT, 1, 3))
    for n in range(max(frames, masks)):
        image, labels = ground.copy(), np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        cv2.circle(image, _disc(n), 60, (60, 170, 60), -1)
        cv2.circle(labels, _disc(n), 60, (0, 0, 128), -1)
        if square:
            cv2.rectangle(image, (700, 100), (780, 180), (0, 0, 255), -1)
            cv2.rectangle(labels, (700, 100), (780, 180), (0, 128, 0), -1)
        if n < frames:
            cv2.imwrite(str(tmp_path / "frames" / f"{n:05d}.jpg"), image)
        if n < masks:
            cv2.imwrite(str(tmp_path / "masks" / f"{n:05d}.png"), labels)


def test_a_case_made_from_frames_and_masks_is_read_by_eval_as_a_real_object(tmp_path):
    _sequence(tmp_path, frames=8, masks=6)  # fewer masks than frames: as many frames as masks
    info = make_case(tmp_path / "frames", tmp_path / "masks", tmp_path / "case")

    (case,) = evaluate.find_cases([tmp_path / "case"])
    assert case.kind == "real" and case.background is None
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (6, 854, 478, 24.0)
    truth = np.stack([case.truth[n] for n in range(len(case.truth))])
    assert truth.shape == (6, 478, 854)
    scale = 854 / WIDTH
    for n in range(6):  # the union of both labels, scaled with the frame
        x, y = _disc(n)
        assert (
            truth[n][round(y * scale), round(x * scale)] and truth[n][round(140 * scale), round(740 * scale)]
        )
        expected_area = np.pi * (60 * scale) ** 2 + (81 * scale) ** 2
        assert abs(truth[n].sum() - expected_area) < 0.05 * expected_area
    x0, y0, x1, y1 = info["prompt"]["box"]  # the box holds both; the click is on the larger, inside it
    assert x0 <= round(240 * scale) and x1 >= round(780 * scale)
    ((px, py, label),) = info["prompt"]["points"]
    assert label == 1 and truth[0][py, px]
    assert np.hypot(px - _disc(0)[0] * scale, py - 280 * scale) < 3  # the disc's centre: its innermost pixel


def test_eval_scores_a_made_case_with_and_without_corrected_keyframes(tmp_path):
    _sequence(tmp_path, frames=20, masks=20, square=False)
    make_case(tmp_path / "frames", tmp_path / "masks", tmp_path / "case", count=20)
    assert main(["eval", str(tmp_path / "case"), "--masks-only", "--out", str(tmp_path / "out")]) in (0, 1)
    (real,) = json.loads((tmp_path / "out" / "table.json").read_text())["cases"]
    assert real["kind"] == "real" and real["corrected_keyframes"] == [0, 15]
    # a disc of its own colour: cut and followed, from the prompt alone and with a keyframe at 15
    assert min(real["J_frames"]) > 0.8 and min(real["J_frames_corrected"]) > 0.8
    assert real["JF"] > 0.8 and real["JF_corrected"] > 0.8


def test_a_folder_without_masks_or_an_empty_first_mask_stops_with_one_line(tmp_path):
    _sequence(tmp_path, frames=3, masks=0)
    with pytest.raises(SystemExit, match="no mask images"):
        make_case(tmp_path / "frames", tmp_path / "masks", tmp_path / "case")
    cv2.imwrite(str(tmp_path / "masks" / "00000.png"), np.zeros((HEIGHT, WIDTH), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "00001.png"), np.full((HEIGHT, WIDTH), 255, np.uint8))
    with pytest.raises(SystemExit, match="the first mask is empty"):
        make_case(tmp_path / "frames", tmp_path / "masks", tmp_path / "case")
    assert not (tmp_path / "case").exists()  # nothing written


def test_the_keyframe_bound_tracks_from_the_true_masks_on_the_corrected_keyframes(tmp_path):
    _sequence(tmp_path, frames=20, masks=20, square=False)
    make_case(tmp_path / "frames", tmp_path / "masks", tmp_path / "case", count=20)
    case = evaluate.load_case(tmp_path / "case")
    keyframes = true_keyframes(case)
    assert sorted(keyframes) == [0, 15]  # where corrected_prompts puts its keyframes
    for frame, labels in keyframes.items():
        assert labels.dtype == np.uint8 and np.array_equal(labels == 1, case.truth[frame])
    scores = bound(case, tmp_path / "bound")
    for run in ("truth", "cut"):
        assert (tmp_path / "bound" / run / "masks").is_dir()
    # a disc of its own colour: the true keyframes score 1 themselves, and the frames after them hold it
    assert scores["truth"] > 0.9 and scores["after"] > 0.9 and scores["cut"] > 0.8
