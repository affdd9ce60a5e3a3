"""End to end through the `inpainterz` command line on the generated clip, and its error contract."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from inpainterz_core.cli import main
from inpainterz_core.demo import click_prompt
from inpainterz_core.metrics import RegionScores
from inpainterz_core.pipeline.holes import grown
from inpainterz_core.settings import Settings
from inpainterz_core.video import open_video, read_mask


def prompt_args(pan_clip):
    p = click_prompt(pan_clip)
    x0, y0, x1, y1 = p.box
    return ["--point", f"{p.points[0].x:g},{p.points[0].y:g}", "--box", f"{x0:g},{y0:g},{x1:g},{y1:g}"]


@pytest.fixture(scope="module")
def removed(tmp_path_factory, pan_folder, pan_clip):
    out = tmp_path_factory.mktemp("remove") / "out"
    assert (
        main(
            [
                "remove",
                str(pan_folder),
                "-o",
                str(out),
                "--quiet",
                "--backend",
                "classical",
                *prompt_args(pan_clip),
            ]
        )
        == 0
    )
    return out


def test_remove_writes_the_documented_outputs(removed, pan_clip):
    masks = sorted((removed / "masks").iterdir())
    frames = sorted((removed / "inpainted").iterdir())
    assert [m.name for m in masks] == [f"{i:06d}.png" for i in range(pan_clip.frames)]
    assert [f.name for f in frames] == [m.name for m in masks]
    assert read_mask(masks[0]).dtype == np.uint8
    with open_video(removed / "inpainted") as result:
        assert (result.width, result.height) == (pan_clip.width, pan_clip.height)
    with open_video(removed / "result.mp4") as video:
        assert video.frame_count == pan_clip.frames
    report = json.loads((removed / "report.json").read_text())
    assert report["frames"] == pan_clip.frames
    assert (report["width"], report["height"]) == (pan_clip.width, pan_clip.height)
    assert set(report["backends"]) == set(report["seconds"]) == {"segment", "track", "inpaint"}
    assert report["backends"]["inpaint"]["name"] == "flow-guided"
    assert report["peak_rss_mb"] > 0
    assert not [p for p in removed.parent.iterdir() if p.name.startswith(".")], "scratch folders left behind"


def test_remove_finds_the_logo_and_leaves_the_rest_untouched(removed, pan_clip):
    radii = json.loads((removed / "report.json").read_text())["hole_radius"]
    scores = RegionScores()
    with open_video(removed / "inpainted") as result:
        for i, painted in result.frames():
            labels = read_mask(removed / "masks" / f"{i:06d}.png")
            assert set(np.unique(labels)) <= {0, 1}
            scores.add_masks(labels > 0, pan_clip.mask(i))
            scores.add_pixels(painted, pan_clip.background(i), pan_clip.mask(i))
            outside = ~grown(labels, radii[i])
            np.testing.assert_array_equal(painted[outside], pan_clip.frame(i)[outside])
    s = scores.summary()
    assert s["JF"] > 0.85
    assert s["hole_psnr"] > 18.0  # the logo's own colours would give ~8 dB


def test_segment_track_and_inpaint_alone_match_remove(tmp_path, removed, pan_folder, pan_clip):
    assert (
        main(
            [
                "segment",
                str(pan_folder),
                "-o",
                str(tmp_path / "seg"),
                "-q",
                "--backend",
                "classical",
                *prompt_args(pan_clip),
            ]
        )
        == 0
    )
    assert [p.name for p in (tmp_path / "seg" / "masks").iterdir()] == ["000000.png"]
    assert (
        main(
            [
                "track",
                str(pan_folder),
                "-o",
                str(tmp_path / "trk"),
                "-q",
                "--backend",
                "classical",
                *prompt_args(pan_clip),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "inpaint",
                str(pan_folder),
                "--masks",
                str(tmp_path / "trk" / "masks"),
                "-o",
                str(tmp_path / "inp"),
                "-q",
                "--backend",
                "classical",
            ]
        )
        == 0
    )
    for i in (0, pan_clip.frames - 1):
        name = f"{i:06d}.png"
        np.testing.assert_array_equal(
            read_mask(tmp_path / "trk" / "masks" / name), read_mask(removed / "masks" / name)
        )
        with open_video(tmp_path / "inp" / "inpainted") as a, open_video(removed / "inpainted") as b:
            np.testing.assert_array_equal(a.read(i), b.read(i))


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "inpainterz_core.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def assert_one_line_error(result, *words):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_error_missing_file(tmp_path):
    assert_one_line_error(
        run_cli("remove", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o"), "--point", "1,1"),
        "does not exist",
    )


def test_error_corrupt_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 1000)
    assert_one_line_error(run_cli("remove", str(bad), "-o", str(tmp_path / "o"), "--point", "1,1"), "bad.mp4")


def test_error_point_outside_the_frame(tmp_path, pan_folder):
    assert_one_line_error(
        run_cli(
            "remove",
            str(pan_folder),
            "-o",
            str(tmp_path / "o"),
            "--point",
            "5000,10",
            "--backend",
            "classical",
        ),
        "outside",
    )
    assert not (tmp_path / "o").exists()


def test_error_frame_out_of_range(tmp_path, pan_folder):
    assert_one_line_error(
        run_cli(
            "remove",
            str(pan_folder),
            "-o",
            str(tmp_path / "o"),
            "--point",
            "5,5",
            "--frame",
            "999",
            "--backend",
            "classical",
        ),
        "out of range",
    )


def test_error_masks_of_the_wrong_count_and_size(tmp_path, pan_folder, removed):
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted((removed / "masks").iterdir())[:3]:
        (few / p.name).write_bytes(p.read_bytes())
    assert_one_line_error(
        run_cli(
            "inpaint",
            str(pan_folder),
            "--masks",
            str(few),
            "-o",
            str(tmp_path / "o"),
            "--backend",
            "classical",
        ),
        "masks",
    )
    import cv2

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for i in range(20):
        cv2.imwrite(str(wrong / f"{i:06d}.png"), np.zeros((10, 10), np.uint8))
    assert_one_line_error(
        run_cli(
            "inpaint",
            str(pan_folder),
            "--masks",
            str(wrong),
            "-o",
            str(tmp_path / "o"),
            "--backend",
            "classical",
        ),
        "10x10",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere: the permission check cannot fail")
def test_error_unwritable_output(tmp_path, pan_folder):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_line_error(
        run_cli(
            "remove", str(pan_folder), "-o", str(locked / "o"), "--point", "5,5", "--backend", "classical"
        ),
        "not writable",
    )


def test_error_output_is_a_file(tmp_path, pan_folder):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(
        run_cli(
            "remove", str(pan_folder), "-o", str(blocker / "o"), "--point", "5,5", "--backend", "classical"
        ),
        "file",
    )


def test_error_model_backend_without_weights(tmp_path, pan_folder):
    result = run_cli(
        "remove",
        str(pan_folder),
        "-o",
        str(tmp_path / "o"),
        "--point",
        "5,5",
        "--backend",
        "model",
        env={"INPAINTERZ_CKPT_DIR": str(tmp_path / "empty")},
    )
    assert_one_line_error(result, "weights fetch")


def test_auto_says_once_that_it_falls_back(tmp_path, pan_folder, pan_clip):
    result = run_cli(
        "remove",
        str(pan_folder),
        "-o",
        str(tmp_path / "o"),
        "-q",
        *prompt_args(pan_clip),
        env={"INPAINTERZ_CKPT_DIR": str(tmp_path / "empty")},
    )
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "classical" in line]
    assert len(notes) == 1 and "weights fetch" in notes[0]


def test_bad_arguments_are_usage_errors(tmp_path, pan_folder):
    result = run_cli("remove", str(pan_folder), "-o", str(tmp_path / "o"), "--point", "1,2,3,4")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_reach_reaches_the_classical_inpainter_and_is_checked(tmp_path, pan_folder, pan_clip):
    from inpainterz_core.backends import make_inpainter

    assert make_inpainter(Settings(backend="classical", reach=24)).reach == 24
    result = run_cli(
        "remove",
        str(pan_folder),
        "-o",
        str(tmp_path / "o"),
        "--backend",
        "classical",
        "--reach",
        "0",
        *prompt_args(pan_clip),
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "reach must be between 1 and 100" in result.stderr.strip().splitlines()[-1]


def test_error_cuda_device_without_a_gpu(tmp_path, pan_folder):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the missing-GPU message cannot be checked")
    from inpainterz_core.backends import device
    from inpainterz_core.errors import InputError

    with pytest.raises(InputError, match="no CUDA GPU"):
        device(Settings(device="cuda"))
    with pytest.raises(InputError, match="cuda:N"):
        device(Settings(device="tpu"))
    assert device(Settings(device="auto")) == "cpu"


def test_remove_never_replaces_a_folder_that_is_not_its_own(tmp_path, pan_folder, pan_clip):
    precious = tmp_path / "footage"
    precious.mkdir()
    (precious / "take1.mov").write_bytes(b"not ours")
    assert_one_line_error(
        run_cli(
            "remove",
            str(pan_folder),
            "-o",
            str(precious),
            "-q",
            "--backend",
            "classical",
            *prompt_args(pan_clip),
        ),
        "not an earlier Inpainterz result",
    )
    assert (precious / "take1.mov").read_bytes() == b"not ours"
    # An earlier result is replaced, not stacked.
    out = tmp_path / "out"
    for _ in range(2):
        assert (
            main(
                [
                    "remove",
                    str(pan_folder),
                    "-o",
                    str(out),
                    "-q",
                    "--backend",
                    "classical",
                    *prompt_args(pan_clip),
                ]
            )
            == 0
        )
    assert sorted(p.name for p in out.iterdir()) == [
        ".inpainterz.json",
        "inpainted",
        "masks",
        "report.json",
        "result.mp4",
        "track.json",
    ]


def test_text_without_detector_weights_is_one_line_naming_the_folder_and_the_fetch(tmp_path, pan_folder):
    for command in ("remove", "segment", "track"):
        result = run_cli(
            command,
            str(pan_folder),
            "-o",
            str(tmp_path / command),
            "--text",
            "logo",
            env={"INPAINTERZ_CKPT_DIR": str(tmp_path / "empty")},
        )
        assert_one_line_error(
            result,
            str(tmp_path / "empty" / "grounding-dino-tiny"),
            "inpainterz weights fetch grounding-dino-tiny",
        )
        assert not (tmp_path / command).exists()


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--box-threshold", "0"], "box_threshold"),
        (["--text-threshold", "1.5"], "text_threshold"),
        (["--detect-every", "-2"], "detect_every"),
    ],
)
def test_text_prompt_values_out_of_range_are_one_line(tmp_path, pan_folder, flags, named):
    result = run_cli("remove", str(pan_folder), "-o", str(tmp_path / "o"), "--text", "logo", *flags)
    assert_one_line_error(result, named)
