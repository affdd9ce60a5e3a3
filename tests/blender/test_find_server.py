"""Find end to end against a real server from the repository's .venv: the Find field's text goes out as
`detect`, the boxes come back over the preview, the kept one is segmented and tracked like a drawn box.
The detector is the Grounding DINO stand-in (random weights: the boxes are arbitrary but checked, which
is all this proves); a server without the detector's weights says so in one line and clicks go on."""

import os
import subprocess
import time

import bpy
import numpy as np
import pytest
from conftest import ROOT, set_resolution, write_png
from test_own_server import free_address, server_env

SERVER_PYTHON = ROOT / ".venv" / "bin" / "python"
W, H, N = 64, 48, 4

pytestmark = pytest.mark.skipif(not SERVER_PYTHON.exists(), reason=f"{SERVER_PYTHON} is absent")

STANDIN = (
    "import sys\n"
    "from bench.standins import grounding_dino_standin\n"
    "from inpainterz_core import weights\n"
    "grounding_dino_standin(weights.path_for('grounding-dino-tiny', sys.argv[1]))\n"
)


def start_server(tmp_path, ckpt):
    """A real server allowed `tmp_path`, reading weights from `ckpt`; returns (process, address)."""
    address = free_address()
    env = {**os.environ, "PYTHONPATH": server_env(tmp_path), "INPAINTERZ_CKPT_DIR": str(ckpt)}
    log = open(tmp_path / f"server-{ckpt.name}.log", "wb")
    command = [
        str(SERVER_PYTHON),
        "-m",
        "inpainterz_server",
        "--bind",
        address,
        "--allow-root",
        str(tmp_path),
    ]
    command += ["--work-dir", str(tmp_path / "work"), "--idle-timeout", "600"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    log.close()
    return process, address


def stop_server(addon, process, address):
    addon.connection.close()
    client = addon.remote.client.Client(address)
    try:
        client.call("shutdown", timeout=10)
        process.wait(timeout=30)
    except (TimeoutError, subprocess.TimeoutExpired, addon.remote.client.ServerError):
        process.kill()
        process.wait()
    finally:
        client.close()


def wait_for(addon, done, timeout=240):
    deadline = time.monotonic() + timeout
    while not done():
        addon.connection.poll()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def strip(addon, scene, tmp_path):
    """An image-sequence strip of a bright square on grey, active at its first frame."""
    src = tmp_path / "media"
    src.mkdir()
    for i in range(N):
        image = np.full((H, W, 3), 90, np.uint8)
        image[10:30, 20 + i : 40 + i] = (250, 40, 40)
        write_png(src / f"shot_{i:04d}.png", image)
    set_resolution(scene, W, H)
    source = addon.compat.strips(scene.sequence_editor).new_image(
        name="found", filepath=str(src / "shot_0000.png"), channel=1, frame_start=1
    )
    for i in range(1, N):
        source.elements.append(f"shot_{i:04d}.png")
    scene.sequence_editor.active_strip = source
    scene.frame_set(1)
    yield source
    addon.props.preferences().send_frames = False


def test_find_keep_segment_and_track_against_a_real_server(addon, strip, tmp_path):
    ckpt = tmp_path / "ckpt"
    made = subprocess.run(
        [str(SERVER_PYTHON), "-c", STANDIN, str(ckpt)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr
    process, address = start_server(tmp_path, ckpt)
    addon.connection.close()
    addon.props.preferences().address = address
    try:
        prompts = strip.inpainterz
        prompts.find_text, prompts.find_threshold = "Red. square", 0.01  # random weights: everything scores
        assert bpy.ops.inpainterz.find() == {"FINISHED"}
        conn = addon.connection.current()
        wait_for(addon, lambda: not conn.finding("found"))
        assert conn.error is None, conn.error
        found = list(prompts.found)
        assert found, "the stand-in found nothing at threshold 0.01"
        for box in found:  # checked by the server: on the frame, named by the text, above the threshold
            assert 0 <= box.x0 < box.x1 <= W and 0 <= box.y0 < box.y1 <= H
            assert box.phrase in ("red", "square") and box.score >= 0.01 and box.frame == 0
        for box in found[1:]:
            box.keep = False
        kept = (found[0].x0, found[0].y0, found[0].x1, found[0].y1)
        assert bpy.ops.inpainterz.add_found() == {"FINISHED"}
        (item,) = prompts.objects
        assert [(b.frame, b.x0, b.y0, b.x1, b.y1) for b in item.boxes] == [(0, *kept)]
        wait_for(addon, lambda: not conn.segmenting("found"))
        assert conn.error is None, conn.error
        assert conn.masks[("found", item.object_id)][0] == 0  # the real server segmented the kept box

        assert bpy.ops.inpainterz.track() == {"FINISHED"}
        wait_for(addon, lambda: not conn.jobs)
        assert conn.error is None, conn.error
        mask = addon.strips.find_result(bpy.context.scene, strip, addon.strips.MASK)
        assert mask is not None and len(mask.elements) == N
    finally:
        stop_server(addon, process, address)


def test_without_weights_find_says_what_to_fetch_and_clicks_go_on(addon, strip, tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    process, address = start_server(tmp_path, empty)
    addon.connection.close()
    addon.props.preferences().address = address
    try:
        strip.inpainterz.find_text = "person"
        assert bpy.ops.inpainterz.find() == {"FINISHED"}
        conn = addon.connection.current()
        wait_for(addon, lambda: not conn.finding("found"))
        assert conn.error.startswith(f"Find failed: {empty}") and "inpainterz weights fetch" in conn.error
        assert "\n" not in conn.error and len(strip.inpainterz.found) == 0
        assert bpy.ops.inpainterz.add_point(image_x=30, image_y=20) == {"FINISHED"}
        wait_for(addon, lambda: ("found", 1) in conn.masks)
        assert conn.masks[("found", 1)][0] == 0
    finally:
        stop_server(addon, process, address)
