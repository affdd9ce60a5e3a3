"""SAM 2.1 and EdgeTAM through transformers, with stand-in folders (small configs, random weights, saved with
``save_pretrained``): the whole `inpainterz` run, corrections, the registry's choices, and flat memory.

Quality is meaningless with random weights; what is checked is that the published folders' code path
runs end to end, that a correction changes the masks on both sides of it, and that the tracker's state
does not grow with the clip.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from golden import one_torch_thread  # noqa: E402, F401 (the fixture applies to every test here)

from bench.standins import save_standin  # noqa: E402
from inpainterz_core import backends  # noqa: E402
from inpainterz_core.prompts import ObjectPrompt, Point  # noqa: E402
from inpainterz_core.segment.sam2 import Sam2Segmenter  # noqa: E402
from inpainterz_core.settings import Settings  # noqa: E402
from inpainterz_core.track.sam2 import Sam2Tracker  # noqa: E402
from inpainterz_core.video import read_mask  # noqa: E402

FAMILIES = {"sam2.1-hiera-tiny": "sam2", "edgetam": "edgetam"}


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    """A checkpoint folder holding both stand-ins under their registry names (64 px: fast on a CPU)."""
    folder = tmp_path_factory.mktemp("ckpt")
    for name, family in FAMILIES.items():
        save_standin(folder / name, family, size=64)
    return folder


def run_cli(*args, ckpt_dir, timeout=300):
    env = {**os.environ, "INPAINTERZ_CKPT_DIR": str(ckpt_dir), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "inpainterz_core.cli", *map(str, args), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_remove_end_to_end(name, ckpt_dir, pan_folder, pan_clip, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "remove",
        pan_folder,
        "-o",
        out,
        "--point",
        "90,50",
        "--segmenter",
        name,
        "--tracker",
        name,
        "--device",
        "cpu",
        ckpt_dir=ckpt_dir,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["backends"]["segment"] == {"name": name, "device": "cpu"}
    assert report["backends"]["track"] == {"name": name, "device": "cpu"}
    masks = sorted((out / "masks").iterdir())
    assert len(masks) == pan_clip.frames
    assert read_mask(masks[-1]).shape == (pan_clip.height, pan_clip.width)


@pytest.mark.slow
def test_a_correction_changes_the_masks_on_both_sides(ckpt_dir, pan_folder, tmp_path):
    """Keyframes 0 and 12: frames 7..11 now come backward from 12 and 13.. forward from its correction."""
    first = {"frame": 0, "object_id": 1, "points": [[90, 50, 1]]}
    later = {"frame": 12, "object_id": 1, "points": [[40, 30, 1]], "box": [20, 10, 80, 60]}
    runs = {}
    for label, prompts in (("once", [first]), ("corrected", [first, later])):
        (tmp_path / f"{label}.json").write_text(json.dumps(prompts))
        result = run_cli(
            "track",
            pan_folder,
            "-o",
            tmp_path / label,
            "--prompts",
            tmp_path / f"{label}.json",
            "--segmenter",
            "sam2.1-hiera-tiny",
            "--tracker",
            "sam2.1-hiera-tiny",
            ckpt_dir=ckpt_dir,
        )
        assert result.returncode == 0, result.stderr
        runs[label] = [read_mask(tmp_path / label / "masks" / f"{i:06d}.png") for i in range(20)]
    changed = [i for i in range(20) if not np.array_equal(runs["once"][i], runs["corrected"][i])]
    assert any(7 <= i < 12 for i in changed) and any(i > 12 for i in changed), changed
    assert all(np.array_equal(runs["once"][i], runs["corrected"][i]) for i in range(7)), changed
    # The correction itself is what the segmenter answers for it.
    segment = run_cli(
        "segment",
        pan_folder,
        "-o",
        tmp_path / "seg",
        "--frame",
        12,
        "--point",
        "40,30",
        "--box",
        "20,10,80,60",
        "--segmenter",
        "sam2.1-hiera-tiny",
        ckpt_dir=ckpt_dir,
    )
    assert segment.returncode == 0, segment.stderr
    keyframe = read_mask(next((tmp_path / "seg" / "masks").iterdir()))
    np.testing.assert_array_equal(runs["corrected"][12] > 0, keyframe > 0)


def test_a_correction_on_a_tracked_frame_becomes_a_conditioning_frame(ckpt_dir):
    """SAM 2's known complaint: a click on a frame already propagated is kept as non-conditioning memory."""
    tracker = Sam2Tracker(ckpt_dir / "sam2.1-hiera-tiny", device="cpu")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 40, 56, 3), dtype=np.uint8)
    labels = np.zeros((40, 56), np.uint8)
    labels[10:25, 15:40] = 4
    tracker.reset(frames[0], labels)
    for frame in frames[1:4]:
        tracker.step(frame)
    corrected = np.zeros_like(labels)
    corrected[5:15, 5:20] = 4
    corrected[30:38, 40:50] = 9  # a new object joins at the correction
    tracker.correct(frames[3], corrected)
    outputs = tracker.session.output_dict_per_obj
    assert all(
        3 in outputs[i]["cond_frame_outputs"] and 3 not in outputs[i]["non_cond_frame_outputs"]
        for i in range(2)
    )
    assert tracker._ids == [4, 9] and set(np.unique(tracker.step(frames[4]))) <= {0, 4, 9}
    # one confidence per object, by the user's ids; the frame's is the least of them
    assert sorted(tracker.confidences) == [4, 9]
    assert all(0.0 <= c <= 1.0 for c in tracker.confidences.values())
    assert tracker.confidence == min(tracker.confidences.values())


def test_an_empty_keyframe_tracks_nothing_until_an_object_appears(ckpt_dir):
    tracker = Sam2Tracker(ckpt_dir / "sam2.1-hiera-tiny", device="cpu")
    frames = np.random.default_rng(3).integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    tracker.reset(frames[0], np.zeros((32, 48), np.uint8))
    assert not tracker.step(frames[1]).any()
    labels = np.zeros((32, 48), np.uint8)
    labels[5:20, 5:30] = 2
    tracker.correct(frames[1], labels)
    assert set(np.unique(tracker.step(frames[2]))) <= {0, 2}


def _session_bytes(session) -> int:
    """Bytes of every tensor the inference session holds (frames, memory bank, inputs, cached features)."""
    seen, total, stack = set(), 0, [vars(session), vars(session.cache)]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            if id(item) not in seen:
                seen.add(id(item))
                total += item.numel() * item.element_size()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


def test_the_tracker_state_stays_flat_with_clip_length(tmp_path):
    # A short memory (read from config.json) so the bank fills within a few frames.
    folder = save_standin(
        tmp_path / "short", "sam2", size=64, num_maskmem=3, max_object_pointers_in_encoder=4
    )
    tracker = Sam2Tracker(folder, device="cpu")
    assert tracker.recent == 4
    frames = np.random.default_rng(1).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    labels = np.zeros((32, 48), np.uint8)
    labels[8:20, 10:30] = 1
    tracker.reset(frames[0], labels)
    held = {}
    for i in range(1, 3 * tracker.recent + 1):
        tracker.step(frames[i % 4])
        held[i] = _session_bytes(tracker.session)
    assert held[3 * tracker.recent] == held[2 * tracker.recent] > held[1]
    assert len(tracker.session.processed_frames) == 1


def test_auto_prefers_sam2_when_present_and_falls_back_as_today(ckpt_dir, tmp_path):
    (ckpt_dir / "sam_vit_b_01ec64.pth").write_bytes(b"x")  # present() only looks for the file
    try:
        settings = Settings(ckpt_dir=str(ckpt_dir))
        assert backends.choose_model("segment", settings) == "sam2.1-hiera-tiny"
        assert backends.choose_model("track", settings) == "sam2.1-hiera-tiny"
        assert (
            backends.choose_model("segment", Settings(ckpt_dir=str(ckpt_dir), segmenter="sam_vit_b"))
            == "sam_vit_b"
        )
        available = backends.available_backends(str(ckpt_dir))["stages"]
        assert available["segment"] == ["grabcut", "sam2.1-hiera-tiny", "edgetam", "sam_vit_b"]
        assert available["track"] == ["flow", "sam2.1-hiera-tiny", "edgetam"]
    finally:
        (ckpt_dir / "sam_vit_b_01ec64.pth").unlink()
    empty = Settings(ckpt_dir=str(tmp_path))
    assert backends.choose_model("track", empty) is None  # auto without weights: the classical tracker
    with pytest.raises(Exception, match="deaot_r50l"):
        backends.choose_model("track", Settings(ckpt_dir=str(tmp_path), backend="model"))
    with pytest.raises(Exception, match="weights fetch edgetam"):
        backends.choose_model("track", Settings(ckpt_dir=str(tmp_path), tracker="edgetam"))


def test_segmenter_takes_every_click_and_caches(ckpt_dir):
    segmenter = Sam2Segmenter(ckpt_dir / "edgetam", family="edgetam", device="cpu")
    image = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    segmenter.set_image("a", image)
    first = segmenter.predict("a", ObjectPrompt(points=(Point(20, 30),)))
    assert first.shape == (48, 64) and first.dtype == bool
    refined = segmenter.predict("a", ObjectPrompt(points=(Point(20, 30), Point(50, 10, 0))))
    assert refined.shape == (48, 64)
    cached = segmenter._embeddings["a"]
    segmenter.set_image("a", image)
    assert segmenter._embeddings["a"] is cached


@pytest.mark.slow
def test_a_broken_folder_is_one_clear_line(ckpt_dir, pan_folder, tmp_path):
    broken = tmp_path / "ckpt"
    (broken / "sam2.1-hiera-tiny").mkdir(parents=True)
    for f in (ckpt_dir / "sam2.1-hiera-tiny").iterdir():
        (broken / "sam2.1-hiera-tiny" / f.name).write_bytes(f.read_bytes())
    (broken / "sam2.1-hiera-tiny" / "model.safetensors").write_bytes(b"truncated")
    result = run_cli(
        "remove",
        pan_folder,
        "-o",
        tmp_path / "o",
        "--point",
        "90,50",
        "--segmenter",
        "sam2.1-hiera-tiny",
        ckpt_dir=broken,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sam2.1-hiera-tiny" in lines[0] and "Traceback" not in result.stderr, lines
