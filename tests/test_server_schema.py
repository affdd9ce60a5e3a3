"""protocol.py is the whole contract: every reply, error and event the server sends matches its schema."""

from __future__ import annotations

import pytest
from server_harness import (
    ScriptedDetector,
    client,
    in_process_server,
    protocol,
    running_server,
    synthetic_clip,
)

from inpainterz_core.detect.base import Detection


class CheckingClient(client.Client):
    """A client that checks every message it receives against protocol.py and records what it saw."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: set[tuple[str, str]] = set()

    def _receive(self, frames):
        message = protocol.unpack(frames[1], trusted=True)
        protocol.check_message(message)  # raises ProtocolError naming the field that differs
        self.seen.add((message["kind"], message["op"]))
        super()._receive(frames)


def test_every_handler_reply_and_event_matches_the_schema(tmp_path):
    clip = synthetic_clip(tmp_path / "clip", frames=4)
    frames = [(clip / f"{i:06d}.png").read_bytes() for i in range(4)]
    (tmp_path / "user-out" / "masks").mkdir(parents=True)  # a folder Inpainterz did not write: the job fails
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server:
        with CheckingClient(server.address) as c:
            c.hello()
            uploaded = c.upload_video(
                frames, 160, 120, 4, fps=25.0, chunk=3, settings={"backend": "classical"}
            )
            sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
            c.frame(sid, 1, max_side=64)
            object_id = c.add_object(sid)
            c.segment(sid, object_id, 0, [(50, 60, 1)], box=[30, 40, 70, 80])
            extra = c.add_object(sid)
            c.remove_object(sid, extra)
            tracked = c.track(sid, progress=lambda *p: None)
            tracked.result(120)
            c.job_status(tracked.job_id)
            c.cancel(tracked.job_id)
            c.results(sid)
            c.inpaint(sid).result(120)
            c.results(sid)
            c.call("result_frames", session=sid, kind="masks", start=0, count=2)
            c.call("result_frames", session=sid, kind="inpainted", start=3)
            with pytest.raises(client.ServerError):
                c.track(sid, out_dir=str(tmp_path / "user-out")).result(120)
            cancelled = c.track(sid)
            cancelled.cancel()
            with pytest.raises(client.ServerError):
                cancelled.result(120)
            for call in (
                lambda: c.segment(sid, 99, 0, [(1, 1, 1)]),
                lambda: c.job_status("nope"),
                lambda: c.call("frame", session=sid, frame=0, format="gif"),
            ):
                with pytest.raises(client.ServerError):
                    call()
            c.close_video(uploaded["session"])
            c.close_video(sid)
            c.shutdown()
        assert server.process.wait(timeout=15) == 0
    replies = {op for kind, op in c.seen if kind == "reply"}
    assert replies == set(protocol.REPLIES) - {"detect"}, set(protocol.REPLIES) - replies  # detect: below
    events = {op for kind, op in c.seen if kind == "event"}
    assert events >= {"progress", "job_finished", "job_failed"}  # job_cancelled when the cancel came in time
    assert ("error", "segment") in c.seen


def test_detect_replies_and_errors_match_the_schema(tmp_path, monkeypatch):
    """detect needs a detector's weights, so its detector here is scripted (the core still checks its boxes)."""
    from inpainterz_server import segmenters

    raw = [Detection((30, 40, 70, 80), "red disc", 0.8), Detection((0, 0, 9, 9), "red disc", 0.5)]
    monkeypatch.setattr(segmenters, "make_detector", lambda settings: ScriptedDetector(raw))
    clip = synthetic_clip(tmp_path / "clip", frames=2)
    with in_process_server(tmp_path) as server, CheckingClient(server.address, timeout=60) as c:
        sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
        assert len(c.detect(sid, 1, "red disc. blue square")["detections"]) == 2
        assert c.detect(sid, 0, "nothing")["detections"] == []
        with pytest.raises(client.ServerError):
            c.detect(sid, 5, "red disc")
        c.shutdown()
    assert {("reply", "detect"), ("error", "detect")} <= c.seen


def test_the_schema_refuses_a_reply_that_breaks_it():
    good = protocol.reply("r1", "add_object", {"object_id": 3})
    protocol.check_message(good)
    for bad in (
        protocol.reply(
            "r1",
            "detect",
            {"frame": 0, "detections": [{"box": [0, 0, 1], "phrase": "a", "score": 1}], "missing": []},
        ),
        protocol.reply("r1", "detect", {"frame": 0, "detections": [], "missing": [], "extra": 1}),
        protocol.reply("r1", "add_object", {}),
        protocol.reply("r1", "add_object", {"object_id": "3"}),
        protocol.reply("r1", "nope", {}),
        protocol.error("r1", "hello", "made_up", "x"),
        protocol.event("r1", "progress", {"job": "j1"}),
    ):
        with pytest.raises(protocol.ProtocolError):
            protocol.check_message(bad)
