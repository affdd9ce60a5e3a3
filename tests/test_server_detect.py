"""The ``detect`` op: text phrases to checked boxes on one frame, for the user to keep or drop.

The logic runs against a detector whose raw output the test sets (the core's base class checks
it, as it checks Grounding DINO's); the stand-in Grounding DINO folder proves the real backend
answers through the server end to end; a server without weights answers one line and clicks go on.
"""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
from server_harness import (
    ScriptedDetector,
    client,
    in_process_server,
    protocol,
    running_server,
    synthetic_clip,
)

from inpainterz_core import weights
from inpainterz_core.detect.base import Detection

CLASSICAL = {"backend": "classical"}  # the clicks need no weights; detection always needs its own
W, H = 160, 120

#: What the fake model "sees" on every frame, unchecked: the server must answer only what survives the checks.
RAW = [
    Detection((36, 38, 80, 82), "Red  Disc", 0.9),  # the disc on frame 2; phrase normalised
    Detection((37, 39, 80, 82), "red disc", 0.7),  # the same disc again: suppressed
    Detection((-10, 20, 30, 70), "red disc", 0.6),  # clipped to the frame
    Detection((100, 10, 150, 50), "tree", 0.8),  # a phrase nobody asked for
    Detection((200, 200, 260, 260), "red disc", 0.95),  # off the frame
    Detection((10, 10, 50, 50), "red disc", 0.2),  # under the box threshold
]
EXPECTED = [
    {"box": [36.0, 38.0, 80.0, 82.0], "phrase": "red disc", "score": 0.9},
    {"box": [0.0, 20.0, 30.0, 70.0], "phrase": "red disc", "score": 0.6},
]


@pytest.fixture
def served(tmp_path, monkeypatch):
    """An in-process server whose detectors answer RAW; yields (client, session, clip, built)."""
    from inpainterz_server import segmenters

    built = []  # (thread name, detector) of each detector built

    def build(settings):
        detector = ScriptedDetector(RAW)
        built.append((threading.current_thread().name, detector))
        return detector

    monkeypatch.setattr(segmenters, "make_detector", build)
    clip = synthetic_clip(tmp_path / "clip", frames=4)
    with in_process_server(tmp_path) as server, client.Client(server.address, timeout=60) as c:
        sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
        yield c, sid, clip, built
        c.shutdown()


def test_detect_answers_the_checked_boxes_and_the_phrases_that_found_nothing(served):
    c, sid, clip, built = served
    reply = c.detect(sid, 2, "red disc. Blue Square")
    protocol.check_message(protocol.reply("r1", "detect", reply))
    assert reply == {"frame": 2, "detections": EXPECTED, "missing": ["blue square"]}

    ((thread, detector),) = built
    assert thread.startswith("session") and thread != "socket-loop"  # built on the session's worker
    image, phrases, threshold = detector.seen[0]
    expected = cv2.cvtColor(cv2.imread(str(clip / "000002.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(image, expected) and phrases == ("red disc", "blue square") and threshold == 0.35

    # Nothing found is said, not an empty silent success; thresholds reach the detector.
    assert c.detect(sid, 0, "unicorn") == {"frame": 0, "detections": [], "missing": ["unicorn"]}
    strict = c.detect(sid, 0, "red disc", box_threshold=0.95, text_threshold=0.5)
    assert strict == {"frame": 0, "detections": [], "missing": ["red disc"]}
    assert detector.seen[-1][2] == 0.95
    assert len(built) == 1  # one detector, shared by every request with the same settings

    # A kept box becomes an object exactly as a drawn box does.
    object_id = c.add_object(sid)
    reply = c.segment(sid, object_id, 2, [], box=reply["detections"][0]["box"])
    mask = np.frombuffer(client.rle_decode(reply["mask"]), np.uint8).reshape(H, W)
    assert mask.sum() > 500 and mask[38:82, 36:80].sum() == mask.sum()  # the disc (about 1,000 px)


def test_bad_detect_requests_are_one_line_each_and_name_the_field(served):
    c, sid, clip, built = served
    cases = [
        ({"frame": 0, "text": ""}, "bad_request", "detect.text"),
        ({"frame": 0, "text": " . . "}, "bad_request", "detect:"),
        ({"frame": 0, "text": "disc", "box_threshold": 1.5}, "bad_request", "detect.box_threshold"),
        ({"frame": 9, "text": "disc"}, "not_found", "frame 9"),
        ({"frame": 0, "text": "disc", "settings": {"detector": "nope"}}, "bad_request", "detector"),
    ]
    for body, code, named in cases:
        future = c._transmit("detect", {"session": sid, **body}, client.Future(c, "detect"))  # unchecked
        with pytest.raises(client.ServerError) as e:
            future.result(30)
        assert e.value.code == code and named in str(e.value) and "\n" not in str(e.value), (body, e.value)
    with pytest.raises(client.ServerError) as e:
        c.detect("s0000000000000000", 0, "disc")
    assert e.value.code == "not_found"


def test_without_weights_detect_says_which_folder_and_how_to_fetch_and_clicks_go_on(tmp_path, monkeypatch):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("INPAINTERZ_CKPT_DIR", str(empty))
    clip = synthetic_clip(tmp_path / "clip", frames=3)
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server, server.client(timeout=60) as c:
        sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
        for _ in range(2):  # a failed build is not kept: asking again says the same
            with pytest.raises(client.ServerError) as e:
                c.detect(sid, 0, "red disc")
            message = str(e.value)
            assert e.value.code == "missing_weights" and "\n" not in message
            assert str(empty) in message and "inpainterz weights fetch grounding-dino" in message
        object_id = c.add_object(sid)
        assert c.segment(sid, object_id, 0, [(50, 60, 1)])["area"] > 0
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_the_stand_in_grounding_dino_answers_detect_end_to_end(tmp_path, monkeypatch):
    """Random weights: the boxes are arbitrary, but every one is checked and the reply keeps the schema."""
    from bench.standins import grounding_dino_standin

    ckpt = tmp_path / "ckpt"
    grounding_dino_standin(weights.path_for("grounding-dino-tiny", str(ckpt)))
    monkeypatch.setenv("INPAINTERZ_CKPT_DIR", str(ckpt))
    clip = synthetic_clip(tmp_path / "clip", frames=2)
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server, server.client(timeout=300) as c:
        sid = c.open_video(str(clip), settings={**CLASSICAL, "device": "cpu"})["session"]
        for threshold in (0.01, 1.0):
            reply = c.detect(sid, 1, "red. square", box_threshold=threshold, text_threshold=0.01)
            protocol.check_message(protocol.reply("r1", "detect", reply))
            assert reply["frame"] == 1
            for d in reply["detections"]:
                x0, y0, x1, y1 = d["box"]
                assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H and d["phrase"] in ("red", "square")
                assert d["score"] >= threshold
            found = {d["phrase"] for d in reply["detections"]}
            assert reply["missing"] == [p for p in ("red", "square") if p not in found]
        assert reply["detections"] == [] and reply["missing"] == ["red", "square"]  # threshold 1: nothing
    assert "Traceback" not in server.log.read_text()


# -- track with text: objects that enter later ---------------------------------------------------------------


def entering_clip(folder, frames=8, enters=4):
    """A red disc on every frame; a blue square enters at frame ``enters`` (BGR PNGs)."""
    folder.mkdir(parents=True)
    for i in range(frames):
        image = np.full((H, W, 3), (70, 110, 80), np.uint8)
        cv2.circle(image, (40, 60), 15, (40, 40, 220), -1)
        if i >= enters:
            image[50:80, 100 + i : 130 + i] = (220, 60, 40)
        cv2.imwrite(str(folder / f"{i:06d}.png"), image)
    return folder


def blue_boxes(image):
    """What a detector of "blue square" would say: the box around the blue pixels, if any."""
    ys, xs = np.nonzero((image[..., 2] > 180) & (image[..., 0] < 100))
    if xs.size == 0:
        return []
    return [Detection((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), "blue square", 0.8)]


def test_track_with_text_finds_objects_that_enter_later(tmp_path, monkeypatch):
    from inpainterz_server import segmenters

    detectors = []

    def build(settings):
        detectors.append(ScriptedDetector(blue_boxes))
        return detectors[-1]

    monkeypatch.setattr(segmenters, "make_detector", build)
    clip = entering_clip(tmp_path / "clip")
    disc = {"object_id": 1, "frame": 0, "points": [[40, 60, 1]], "box": [24, 44, 56, 76]}
    with in_process_server(tmp_path) as server, client.Client(server.address, timeout=120) as c:
        sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
        for text, code, named in (
            (
                {"text": "blue square", "frame": 0, "detect_every": 0},
                "bad_request",
                "track.text.detect_every",
            ),
            ({"text": "blue square", "frame": 8, "detect_every": 2}, "not_found", "frame 8"),
            ({"text": " . ", "frame": 0, "detect_every": 2}, "bad_request", "track.text:"),
        ):
            future = c._transmit(
                "track", {"session": sid, "objects": [disc], "text": text}, client.JobFuture(c, "track", None)
            )
            with pytest.raises(client.ServerError) as e:
                future.result(30)
            assert e.value.code == code and named in str(e.value), (text, e.value)
        assert detectors == []  # refused on arrival: nothing was built

        out = tmp_path / "out"
        text = {"text": "Blue square", "frame": 0, "detect_every": 2}
        results = c.track(sid, objects=[disc], text=text, out_dir=str(out)).result(120)
        assert c.results(sid)["objects"] == results["objects"]
        c.shutdown()

    (detector,) = detectors
    assert [len(blue_boxes(image)) for image, _, _ in detector.seen] == [0, 1, 1]  # frames 2, 4 and 6
    objects = json.loads((out / "track.json").read_text())["objects"]
    assert results["objects"] == objects  # the client learns what each label is
    assert [(o["object_id"], o["phrase"], o["first_frame"]) for o in objects] == [
        (1, None, 0),
        (2, "blue square", 4),
    ]
    for i in range(8):
        labels = cv2.imread(str(out / "masks" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert labels[60, 40] == 1, i  # the disc, tracked from the click
        square = labels[52:78, 102 + i : 128 + i]
        assert ((square == 2).mean() > 0.8) == (i >= 4), i  # the square, from the frame it was found on


def test_track_with_text_never_finds_again_a_box_the_user_dropped(tmp_path, monkeypatch):
    """The blue square is found on frame 0 and dropped (sent as ``text.keep``): re-detection on frames 2, 4
    and 6 sees it, but it is tracked as kept, so it is never a new object and never masked."""
    from inpainterz_server import segmenters

    detectors = []

    def build(settings):
        detectors.append(ScriptedDetector(blue_boxes))
        return detectors[-1]

    monkeypatch.setattr(segmenters, "make_detector", build)
    clip = entering_clip(tmp_path / "clip", enters=0)
    disc = {"object_id": 1, "frame": 0, "points": [[40, 60, 1]], "box": [24, 44, 56, 76]}
    text = {"text": "blue square", "frame": 0, "detect_every": 2}
    with in_process_server(tmp_path) as server, client.Client(server.address, timeout=120) as c:
        sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
        for wrong, named in (
            ({**text, "keep": [[100, 50, 130, 80, 1]]}, "track.text.keep"),
            ({**text, "keep": [[170, 50, 190, 80]]}, "track.text.keep[0]"),
            ({**text, "frame": 3, "keep": [[103, 50, 133, 80]]}, "no object on frame 3"),
            ({**text, "keep": [[100, 50, 130, 80]] * 256}, "track.text.keep"),
        ):
            future = c._transmit(
                "track",
                {"session": sid, "objects": [disc], "text": wrong},
                client.JobFuture(c, "track", None),
            )
            with pytest.raises(client.ServerError) as e:
                future.result(30)
            assert e.value.code in ("bad_request", "too_large") and named in str(e.value), (named, e.value)
        assert detectors == []

        out = tmp_path / "out"
        keep = [[100, 50, 130, 80]]  # the box detect found on frame 0, dropped
        results = c.track(sid, objects=[disc], text={**text, "keep": keep}, out_dir=str(out)).result(120)
        c.shutdown()

    (detector,) = detectors
    assert [len(blue_boxes(image)) for image, _, _ in detector.seen] == [1, 1, 1]  # frames 2, 4 and 6
    assert [(o["object_id"], o["phrase"]) for o in results["objects"]] == [(1, None)]
    for i in range(8):
        labels = cv2.imread(str(out / "masks" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert labels[60, 40] == 1, i  # the disc, tracked from the click
        assert not labels[50:80, 100 + i : 130 + i].any(), i  # the dropped square: never masked
