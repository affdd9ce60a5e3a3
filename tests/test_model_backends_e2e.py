"""`inpainterz remove --backend model` end to end with stand-in weights in a temporary ckpt/.

The weights are the golden recipe's (DeAOT, E2FGVI) where ../shared/golden is present, else the
models' random initialisation, and SAM's random initialisation: quality is meaningless, the point
is that the real checkpoint files would load and the whole run works and has the right shapes.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench.golden import GOLDEN, recipe_weights
from inpainterz_core import weights
from inpainterz_core.pipeline.holes import grown
from inpainterz_core.video import open_video, read_mask

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    recipes = {"deaot_r50l": "deaot_r50l", "e2fgvi_hq": "e2fgvi_hq", "e2fgvi": "e2fgvi_cvpr22"}
    for name in ("sam_vit_b", "deaot_r50l", "e2fgvi_hq"):
        entry = weights.get(name)
        have_recipe = name in recipes and (GOLDEN / "recipe.py").is_file()
        state = recipe_weights(recipes[name], seed=7, gain=0.5) if have_recipe else None
        if state is None:
            state = entry.build_model().state_dict()
        # DeAOT's official file wraps its weights; the loader must unwrap them as it would the real one.
        torch.save({"state_dict": state} if name == "deaot_r50l" else state, folder / entry.file_name)
    return folder


def test_remove_with_model_backends(tmp_path, ckpt_dir, pan_folder, pan_clip):
    out = tmp_path / "out"
    env = {**os.environ, "INPAINTERZ_CKPT_DIR": str(ckpt_dir)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpainterz_core.cli",
            "remove",
            str(pan_folder),
            "-o",
            str(out),
            "-q",
            "--backend",
            "model",
            "--device",
            "cpu",
            "--point",
            "90,50",
            "--box",
            "60,25,130,85",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert {k: v["name"] for k, v in report["backends"].items()} == {
        "segment": "sam",
        "track": "deaot",
        "inpaint": "e2fgvi_hq",
    }
    assert all(v["device"] == "cpu" for v in report["backends"].values())
    masks = sorted((out / "masks").iterdir())
    assert len(masks) == pan_clip.frames
    assert read_mask(masks[0]).shape == (pan_clip.height, pan_clip.width)
    with open_video(out / "inpainted") as painted, open_video(pan_folder) as given:
        assert (painted.width, painted.height, painted.frame_count) == (
            given.width,
            given.height,
            given.frame_count,
        )
        for i in (0, pan_clip.frames - 1):
            labels = read_mask(out / "masks" / f"{i:06d}.png")
            outside = ~grown(labels, report["hole_radius"][i])
            np.testing.assert_array_equal(painted.read(i)[outside], given.read(i)[outside])


def test_truncated_checkpoint_is_one_clear_line(tmp_path, ckpt_dir, pan_folder):
    broken = tmp_path / "ckpt"
    broken.mkdir()
    for f in ckpt_dir.iterdir():
        (broken / f.name).symlink_to(f)
    sam = broken / weights.get("sam_vit_b").file_name
    sam.unlink()
    sam.write_bytes((ckpt_dir / sam.name).read_bytes()[:1000])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpainterz_core.cli",
            "remove",
            str(pan_folder),
            "-o",
            str(tmp_path / "o"),
            "-q",
            "--backend",
            "model",
            "--point",
            "90,50",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "INPAINTERZ_CKPT_DIR": str(broken)},
        timeout=300,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and sam.name in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
