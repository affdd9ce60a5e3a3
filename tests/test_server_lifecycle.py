"""Starting, stopping and feeding a server: health check, idle timeout, SIGTERM, uploads, concurrency."""

from __future__ import annotations

import os
import signal
import sys
import time

import av
import cv2
import numpy as np
import pytest
from server_harness import REPO, ServerProcess, client, free_port, running_server, synthetic_clip


def test_health_check_starts_a_server_only_when_none_answers(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    command = [
        sys.executable,
        "-m",
        "inpainterz_server",
        "--bind",
        address,
        "--allow-root",
        str(tmp_path),
        "--work-dir",
        str(tmp_path / "work"),
        "--idle-timeout",
        "60",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    with client.Client(address) as c:
        assert c.health(timeout=0.3) is None
    process = client.ensure_local_server(
        command, address, timeout=120, log_path=tmp_path / "server.log", env=env
    )
    try:
        assert process is not None
        assert (
            client.ensure_local_server(command, address, env=env) is None
        )  # already running: not started again
        with client.Client(address) as c:
            assert c.health()["auth"] is False
            c.shutdown()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_idle_timeout_and_sigterm_end_the_server_cleanly(tmp_path):
    idle = ServerProcess(tmp_path, "--allow-root", str(tmp_path), "--idle-timeout", "1")
    assert idle.process.wait(timeout=15) == 0
    assert "idle-timeout" in idle.log.read_text()

    server = ServerProcess(tmp_path, "--allow-root", str(tmp_path))
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
    assert "server stopped" in server.log.read_text()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def test_upload_in_chunks_then_click(tmp_path):
    clip = synthetic_clip(tmp_path / "clip", frames=5)
    frames = [(tmp_path / "clip" / f"{i:06d}.png").read_bytes() for i in range(5)]
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server, server.client() as c:
        session = c.upload_video(frames, 160, 120, 5, fps=24.0, chunk=2, settings={"backend": "classical"})
        assert session["ready"]
        sid = session["session"]
        with pytest.raises(client.ServerError) as e:  # the upload is complete: no more frames
            c.call("upload_frames", session=sid, start=5, frames=frames[:1])
        assert e.value.code == "not_ready"
        object_id = c.add_object(sid)
        uploaded = client.rle_decode(c.segment(sid, object_id, 2, [(58, 60, 1)])["mask"])
        opened = c.open_video(str(clip))["session"]
        c.add_object(opened)
        direct = client.rle_decode(c.segment(opened, 1, 2, [(58, 60, 1)])["mask"])
        assert uploaded == direct and sum(uploaded) > 500
        c.track(sid).result(timeout=300)
        video = c.inpaint(sid).result(timeout=300)["video"]
        with av.open(video) as container:  # the announced frame rate, not a folder's default
            assert container.streams.video[0].average_rate == 24

        bad = c.call("open_video", upload={"width": 160, "height": 120, "frame_count": 2, "fps": 24.0})[
            "session"
        ]
        for frame, code in (
            (png(np.zeros((60, 80, 3), np.uint8)), "bad_input"),
            (b"GIF89a" * 4, "bad_input"),
        ):
            with pytest.raises(client.ServerError) as e:
                c.call("upload_frames", session=bad, start=0, frames=[frame])
            assert e.value.code == code
        with pytest.raises(client.ServerError) as e:
            c.call("upload_frames", session=bad, start=1, frames=frames[:1])
        assert e.value.code == "bad_request"
        with pytest.raises(client.ServerError) as e:
            c.segment(bad, 1, 0, [(1, 1, 1)])
        assert e.value.code == "not_ready"


def test_clicks_and_status_are_answered_while_a_job_runs_and_clients_come_and_go(tmp_path):
    clip = synthetic_clip(tmp_path / "clip", frames=40)
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server:
        with server.client() as c:
            sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
            c.segment(sid, c.add_object(sid), 1, [(54, 60, 1)])
            job = c.track(sid)
            deadline = time.monotonic() + 120
            while job.state in ("starting", "queued") and time.monotonic() < deadline:
                c.poll(0.05)
            with server.client() as other:  # a second client, while the job runs
                started = time.monotonic()
                assert other.job_status(job.job_id)["state"] in ("running", "finished")
                other.segment(sid, 1, 3, [(62, 60, 1)])
                assert time.monotonic() - started < 5
            job_id = job.job_id
        # the client that started the job is gone; the job runs on and anyone can ask about it
        with server.client() as c:
            deadline = time.monotonic() + 300
            while c.job_status(job_id)["state"] != "finished":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            results = c.results(sid)
            assert results["mask_range"] == [0, 40]
            # each frame's tracker confidence travels too, so a client can show where to look
            assert len(results["confidence"]) == 40 and results["confidence"][1] == 1.0  # the clicked frame
            assert all(0 <= c <= 1 for c in results["confidence"])
            assert results["check_frames"] == [i for i, c in enumerate(results["confidence"]) if c < 0.5]


def test_results_download_byte_for_byte_for_a_client_on_another_machine(tmp_path):
    clip = synthetic_clip(tmp_path / "clip", frames=6)
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server, server.client() as c:
        sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
        with pytest.raises(client.ServerError) as e:  # nothing tracked yet
            c.call("result_frames", session=sid, kind="masks", start=0)
        assert e.value.code == "not_ready"
        c.segment(sid, c.add_object(sid), 1, [(54, 60, 1)])
        c.track(sid, start=1, stop=5).result(timeout=300)
        c.inpaint(sid).result(timeout=300)
        on_server = c.results(sid)
        done = []
        for kind in ("masks", "inpainted"):
            folder = c.download(
                sid, kind, tmp_path / "mine" / kind, progress=lambda d, t: done.append((d, t))
            )
            names = sorted(os.listdir(folder))
            assert names == [f"{i:06d}.png" for i in range(1, 5)] and done[-1] == (4, 4)
            for name in names:
                with open(os.path.join(on_server[kind], name), "rb") as original:
                    assert (tmp_path / "mine" / kind / name).read_bytes() == original.read()
        assert not [p for p in os.listdir(tmp_path / "mine") if ".partial-" in p]
        with pytest.raises(FileExistsError):
            c.download(sid, "masks", tmp_path / "mine" / "masks")
        for body, code in (
            ({"kind": "video", "start": 1}, "bad_request"),
            ({"kind": "masks", "start": 5}, "not_found"),
            ({"kind": "masks", "start": 0}, "not_found"),
        ):
            with pytest.raises(client.ServerError) as e:
                c.call("result_frames", session=sid, **body)
            assert e.value.code == code
        reply = c.call("result_frames", session=sid, kind="inpainted", start=2, count=1)
        assert reply["start"] == 2 and len(reply["frames"]) == 1 and reply["next"] == 3
