"""The whole add-on workflow against a real server process, driven only through the client:
open MG4car.mp4, preview, click the licence plate, track, inpaint, cancel a second job halfway,
fetch the results; then check the files equal what ``inpainterz remove`` writes for the same prompts."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from server_harness import SHARED, client, running_server

from inpainterz_core.pipeline import remove
from inpainterz_core.prompts import ObjectPrompt, Point, Prompts
from inpainterz_core.settings import Settings
from inpainterz_core.video import open_video

CLIP = SHARED / "clips" / "MG4car.mp4"
PLATE = {"frame": 0, "points": [[413, 298, 1]], "box": [372, 284, 455, 312]}  # the licence plate on frame 0
SETTINGS = {"backend": "classical"}  # no weights needed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLIP.exists(), reason=f"needs {CLIP} (../shared clips)"),
]


def wait_for(c, condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        c.poll(0.05)


def test_click_track_inpaint_cancel_results_equal_remove(tmp_path):
    with (
        running_server(tmp_path, "--allow-root", str(CLIP.parent), "--allow-root", str(tmp_path)) as server,
        server.client(timeout=120) as c,
    ):
        video = c.open_video(str(CLIP), settings=SETTINGS)
        sid = video["session"]
        assert (video["width"], video["height"], video["frame_count"]) == (854, 480, 97)

        preview = c.frame(sid, 0, max_side=427)
        image = cv2.imdecode(np.frombuffer(preview["data"], np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (240, 427, 3) == (preview["height"], preview["width"], 3)

        object_id = c.add_object(sid)
        reply = c.segment(sid, object_id, PLATE["frame"], PLATE["points"], PLATE["box"])
        mask = np.frombuffer(client.rle_decode(reply["mask"]), np.uint8).reshape(480, 854)
        x0, y0, x1, y1 = PLATE["box"]
        assert reply["area"] == mask.sum() > 0.3 * (x1 - x0) * (y1 - y0)
        assert mask[y0:y1, x0:x1].sum() > 0.9 * mask.sum()

        progress = []
        served = tmp_path / "served"  # a folder of the user's: kept after the session and the server end
        tracked = c.track(sid, out_dir=str(served), progress=lambda *p: progress.append(p)).result(
            timeout=900
        )
        assert progress and progress[-1][1] == progress[-1][2]
        painted = c.inpaint(sid).result(timeout=900)

        # A second job, cancelled halfway: it ends within a second and leaves nothing under the final name.
        events = []
        second = c.track(
            sid, out_dir=str(tmp_path / "second"), progress=lambda s, d, t: events.append((d, t))
        )
        wait_for(c, lambda: any(t > 1 and d >= t // 2 for d, t in events) or second.done(), timeout=900)
        asked = time.monotonic()
        second.cancel()
        with pytest.raises(client.ServerError) as e:
            second.result(timeout=30)
        assert e.value.code == "cancelled"
        assert time.monotonic() - asked < 1.0
        assert c.job_status(second.job_id)["state"] == "cancelled"
        assert not (tmp_path / "second" / "masks").exists()

        results = c.results(sid)
        assert results["masks"] == tracked["masks"] and results["mask_range"] == [0, 97]
        assert results["inpainted"] == painted["inpainted"] and results["inpaint_range"] == [0, 97]
        assert results["video"].endswith("result.mp4") and results["report"].endswith("report.json")
        assert len(results["hole_radius"]) == 97 and results["hole_radius"] == painted["hole_radius"]

    # The click's mask is the keyframe the track job started from.
    keyframe = cv2.imread(f"{results['masks']}/000000.png", cv2.IMREAD_UNCHANGED)
    assert np.array_equal(keyframe == object_id, mask.astype(bool))

    prompt = ObjectPrompt(frame=0, points=(Point(413, 298, 1),), box=tuple(PLATE["box"]), object_id=object_id)
    with open_video(CLIP) as source:
        removed = remove(source, Prompts((prompt,)), Settings(**SETTINGS), tmp_path / "remove")
    assert removed["hole_radius"] == results["hole_radius"]  # the matte the add-on makes from them
    for kind, folder in (("masks", results["masks"]), ("inpainted", results["inpainted"])):
        expected = sorted((tmp_path / "remove" / kind).glob("*.png"))
        got = sorted(p.name for p in (served / kind).glob("*.png"))
        assert [p.name for p in expected] == got and len(got) == 97
        for path in expected:
            a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(f"{folder}/{path.name}", cv2.IMREAD_UNCHANGED)
            assert np.array_equal(a, b), f"{kind}/{path.name} differs from inpainterz remove"
