"""The server cannot be wedged, mixed up or made to leak: FIFOs, floods of unread replies, bad settings and
paths, shared output folders, the private work folder and its cleanup, and what an idle server imports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import cv2
import psutil
import pytest
import zmq
from inpainterz_server import security, sessions
from server_harness import REPO, ServerProcess, client, protocol, running_server, synthetic_clip

CLASSICAL = {"backend": "classical"}


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(client.ServerError) as e:
        result = call(*args, **kwargs)
        if hasattr(result, "result"):
            result.result(60)
    return e.value.code


def clicked(c, clip, point=(50, 60)):
    sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
    c.segment(sid, c.add_object(sid), 0, [(*point, 1)])
    return sid


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robust")
    (tmp / "root").mkdir()
    clip = synthetic_clip(tmp / "root" / "clip", frames=4)
    with running_server(tmp, "--allow-root", str(tmp / "root")) as server:
        server.root, server.clip, server.work = tmp / "root", clip, tmp / "work"
        yield server


# -- 3: output folders belong to one session ---------------------------------------------------------------


def test_two_sessions_never_mix_their_results_in_one_output_folder(served):
    shared = served.root / "shared-out"
    long_clip = synthetic_clip(served.root / "long", frames=30)
    with served.client() as c:
        first, second = clicked(c, served.clip), clicked(c, served.clip, point=(70, 60))
        busy = c.open_video(str(long_clip), settings=CLASSICAL)["session"]
        c.segment(busy, c.add_object(busy), 0, [(50, 60, 1)])
        hold = c.track(busy)  # one job at a time: first's job below waits behind this one
        queued = c.track(first, out_dir=str(shared))
        for out_dir in (shared, shared / "inner"):  # first's job will write there: not now
            assert error_code(c.track, second, out_dir=str(out_dir)) == "busy"
        hold.result(120)
        queued.result(120)
        assert c.results(first)["masks"] == str(shared / "masks")

        c.track(second, out_dir=str(shared)).result(120)  # first is idle: second takes the folder over
        assert c.results(second)["masks"] == str(shared / "masks")
        assert c.results(first)["masks"] is None  # first never reads second's masks as its own
        for call in (
            lambda: c.inpaint(first).result(60),
            lambda: c.call("result_frames", session=first, kind="masks", start=0),
        ):
            with pytest.raises(client.ServerError) as e:
                call()
            assert e.value.code == "not_ready" and "another session" in e.value.message
        tracked = [c.track(sid).result(120) for sid in (first, second)]  # the defaults differ per session
        assert tracked[0]["out_dir"] != tracked[1]["out_dir"]
        for sid in (first, second, busy):
            c.close_video(sid)
    assert (shared / "masks").is_dir()  # the user's folder keeps its results after close


# -- 10: FIFOs and other non-files never hang the server ---------------------------------------------------


def test_fifos_are_refused_at_once_and_shutdown_still_exits(tmp_path):
    root = tmp_path / "root"
    clip = synthetic_clip(root / "clip", frames=2)
    os.mkfifo(root / "a.mp4")
    os.mkfifo(root / "b.mp4")
    (root / "fifo-frames").mkdir()
    os.mkfifo(root / "fifo-frames" / "000000.png")
    server = ServerProcess(tmp_path, "--allow-root", str(root))
    try:
        with server.client(timeout=20) as c:
            for path in ("a.mp4", "b.mp4", "fifo-frames", "a.mp4"):
                assert error_code(c.open_video, str(root / path)) == "bad_input"
            assert c.open_video(str(clip))["ready"]
            c.shutdown()
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()


def test_an_open_that_hangs_is_abandoned_at_its_deadline():
    release, closed = threading.Event(), []
    started = time.monotonic()
    with pytest.raises(security.OpenTimeout):
        security.open_with_deadline(lambda: release.wait() and "source", 0.2, on_late=closed.append)
    assert time.monotonic() - started < 2
    release.set()
    deadline = time.monotonic() + 5
    while not closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed == ["source"]  # what the late open returned is handed over to be closed


# -- 13: every request gets exactly one answer --------------------------------------------------------------


def test_thousands_of_pipelined_requests_each_get_one_answer(served):
    count = 40_000
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)  # a client that reads nothing: everything piles up on the server's side
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.connect(served.address)
    try:
        for i in range(count):  # sent without reading a single reply
            sock.send_multipart(protocol.pack(protocol.request(f"p{i}", "hello", {}), None))
        time.sleep(1)  # and still not reading
        answers = {}
        while len(answers) < count and sock.poll(5000):
            message = protocol.unpack(sock.recv_multipart()[1], trusted=True)
            assert message["id"] not in answers
            answers[message["id"]] = message
    finally:
        sock.close()
    assert len(answers) == count  # before: about 35,000 came back, the rest vanished past the high-water mark
    refused = [m for m in answers.values() if m["kind"] == "error"]
    assert all(m["body"]["code"] == "busy" for m in refused)  # told, not left waiting
    if refused:
        assert "unread (busy)" in served.log.read_text()


# -- 14: bad settings and paths are bad requests, and the log stays small -------------------------------------


def test_bad_settings_and_paths_are_bad_requests_naming_the_field(served):
    (served.root / "a-file").write_text("not a folder")
    (served.root / "linked").mkdir()
    (served.root / "linked" / "inpainted").symlink_to(served.root)
    log_before = served.log.stat().st_size
    with served.client() as c:
        for settings in ({"dilate": 2.5}, {"dilate": "x"}, {"dilate": -1}, {"fp16": 1}, {"backend": "gpu"}):
            with pytest.raises(client.ServerError) as e:
                c.open_video(str(served.clip), settings=settings)
            assert e.value.code == "bad_request" and next(iter(settings)) in e.value.message
        sid = clicked(c, served.clip)
        with pytest.raises(client.ServerError) as e:
            c.track(sid, settings={"chunk": 1.5}).result(30)
        assert e.value.code == "bad_request" and "chunk" in e.value.message
        long_name = "x" * 300
        assert error_code(c.open_video, str(served.root / long_name / "clip.mp4")) == "bad_request"
        assert error_code(c.track, sid, out_dir=str(served.root / long_name)) == "bad_request"
        assert error_code(c.track, sid, out_dir=str(served.root / "a-file")) == "bad_request"
        assert error_code(c.track, sid, out_dir=str(served.root / "linked")) == "path_not_allowed"
        for _ in range(300):  # a flood of bad requests: answered, not logged line by line
            c.send("open_video", path=str(served.root / long_name), settings={"dilate": 2.5})
            c.send("track", session=sid, out_dir=str(served.root / "a-file"))
        c.hello()
        c.close_video(sid)
    log = served.log.read_text()
    assert "Traceback" not in log and "internal" not in log
    assert served.log.stat().st_size - log_before < 20_000


# -- 15: an idle server without weights never imports torch --------------------------------------------------


def test_an_idle_server_without_weights_does_not_import_torch(tmp_path):
    script = (
        "import sys; from inpainterz_server.loop import Server; from inpainterz_server.security import AllowedRoots; "
        f"s = Server('tcp://127.0.0.1:*', key=None, roots=AllowedRoots([{str(tmp_path)!r}]), "
        f"work_dir=__import__('pathlib').Path({str(tmp_path / 'work')!r})); "
        "print(s.state.backends['device'], 'torch' in sys.modules)"
    )
    env = {**os.environ, "INPAINTERZ_CKPT_DIR": str(tmp_path / "no-weights"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["cpu", "False"], out.stderr


# -- 16 and 17: the work folder is private, and cleaned -----------------------------------------------------------


def test_the_work_folder_is_private_to_each_session(served):
    frames = [(served.clip / f"{i:06d}.png").read_bytes() for i in range(4)]
    with served.client() as c:
        uploaded = c.upload_video(frames, 160, 120, 4, fps=25.0, settings=CLASSICAL)["session"]
        other = clicked(c, served.clip)
        (run,) = served.work.glob("run-*")
        assert os.stat(run).st_mode & 0o777 == 0o700
        upload_folder = run / uploaded / "uploads"
        assert upload_folder.is_dir()
        for path in (upload_folder, run, served.work):
            assert error_code(c.open_video, str(path)) == "path_not_allowed"
        assert error_code(c.track, other, out_dir=str(run / uploaded / "out")) == "path_not_allowed"
        c.close_video(uploaded)
        c.close_video(other)


def test_a_session_leaves_nothing_in_the_work_folder_and_stale_runs_are_swept(tmp_path):
    work = tmp_path / "work"
    stale = work / "run-0123456789abcdef"
    stale.mkdir(parents=True)
    (stale / sessions.MARKER).write_text("")
    (stale / sessions.LOCK).write_text("")
    (stale / "s0123456789abcdef" / "out" / ".inpainterz-partial-1-x").mkdir(parents=True)
    old_upload = work / "uploads" / "s0123456789abcdef-k2j3h4"
    old_upload.mkdir(parents=True)
    old_results = work / "s0123456789abcdef"  # a killed old-layout run: its results and scratch
    (old_results / "masks").mkdir(parents=True)
    (old_results / ".masks.partial-1a2b").mkdir()
    kept = work / "sfedcba9876543210"  # named like ours but holding a file we never write
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    foreign = [work / "run-fedcba9876543210", work / "notes", work / "uploads" / "mine", kept]
    for folder in foreign:
        folder.mkdir(parents=True, exist_ok=True)
    clip = synthetic_clip(tmp_path / "clip", frames=3)
    with running_server(tmp_path, "--allow-root", str(tmp_path)) as server, server.client() as c:
        assert not stale.exists() and not old_upload.exists() and not old_results.exists()
        assert all(folder.exists() for folder in foreign)
        sid = clicked(c, clip)
        c.track(sid).result(120)
        c.inpaint(sid).result(120)
        c.track(sid, out_dir=str(tmp_path / "mine")).result(120)
        (run,) = [r for r in work.glob("run-*") if (r / sessions.MARKER).exists()]
        assert (run / sid / "out" / "masks").is_dir()
        c.close_video(sid)
        deadline = time.monotonic() + 10
        while (run / sid).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (run / sid).exists()
        c.shutdown()
        assert server.process.wait(timeout=15) == 0
    assert not run.exists()
    assert (tmp_path / "mine" / "masks").is_dir()  # asked for in the user's folder: the user's to keep


# -- 11: closing a session frees its threads and memory ---------------------------------------------------------


def test_closed_sessions_leave_no_threads_behind(tmp_path, pan_mp4):
    with running_server(tmp_path, "--allow-root", str(pan_mp4.parent)) as server, server.client() as c:
        process = psutil.Process(server.process.pid)
        counts = []
        for _ in range(12):
            sid = c.open_video(str(pan_mp4), settings=CLASSICAL)["session"]
            c.segment(sid, c.add_object(sid), 0, [(96, 54, 1)])
            c.track(sid, start=0, stop=3).result(120)
            c.close_video(sid)
            c.hello()
            time.sleep(0.2)  # the session's worker releases it after the reply
            counts.append(process.num_threads())
        assert counts[-1] <= counts[3] + 2, counts  # before: +5 threads per cycle


# -- track.objects: the client's exact prompts ---------------------------------------------------------------------


def test_track_follows_exactly_the_objects_the_client_sends(served):
    with served.client() as c:
        sid = clicked(c, served.clip)  # the session's own prompt: object 1
        out = served.root / "objects-out"
        objects = [{"object_id": 7, "frame": 1, "points": [[54, 60, 1]], "box": None}]
        c.track(sid, out_dir=str(out), objects=objects).result(120)
        mask = cv2.imread(str(out / "masks" / "000001.png"), cv2.IMREAD_UNCHANGED)
        assert set(mask.ravel().tolist()) == {0, 7}
        for bad in (
            [{"object_id": 7, "frame": 0, "points": [[54, 60, 5]]}],  # label 5
            [{"object_id": 7, "frame": 0, "points": [[54, 60, 0]]}],  # only a negative click
            [{"object_id": 7, "frame": 9, "points": [[54, 60, 1]]}],  # past the last frame
            [{"object_id": 7, "frame": 0, "points": [], "box": [9, 9, 2, 2]}],
        ):
            with pytest.raises(client.ServerError) as e:
                c.track(sid, objects=bad).result(30)
            assert e.value.code == "bad_request" and "track.objects[0]" in e.value.message
        c.close_video(sid)


# -- segmenters: shared per (backend, device, checkpoints), built off the socket thread ---------------------------


def test_segmenters_are_shared_across_unrelated_settings_and_built_off_the_socket_thread(
    tmp_path, monkeypatch
):
    from inpainterz_server import loop, segmenters

    from inpainterz_core.segment.classical import GrabCutSegmenter
    from inpainterz_core.settings import Settings

    key = segmenters.segmenter_key
    assert key(Settings(backend="classical", dilate=2)) == key(
        Settings(backend="classical", dilate=8, chunk=4)
    )
    assert key(Settings(backend="model", device="cpu")) != key(Settings(backend="model", device="cuda"))
    assert key(Settings(backend="model", segmenter="sam_vit_b")) != key(
        Settings(backend="model", segmenter="sam2.1-hiera-tiny")
    )

    built_on = []

    def slow_build(settings):  # as slow as loading a model
        built_on.append(threading.current_thread().name)
        time.sleep(2.0)
        return GrabCutSegmenter()

    monkeypatch.setattr(segmenters, "make_segmenter", slow_build)
    clip = synthetic_clip(tmp_path / "clip", frames=3)
    server = loop.Server(
        "tcp://127.0.0.1:*", key=None, roots=security.AllowedRoots([tmp_path]), work_dir=tmp_path / "work"
    )
    thread = threading.Thread(target=server.serve, name="socket-loop", daemon=True)
    thread.start()
    try:
        with client.Client(server.address, timeout=30) as c:
            sid = c.open_video(str(clip), settings=CLASSICAL)["session"]
            c.segment(sid, c.add_object(sid), 0, [(50, 60, 1)])
            segmenters_before = len(built_on)
            job = c.track(
                sid, settings={"backend": "model", "device": "cpu"}
            )  # another segmenter: built by the job
            started = time.monotonic()
            c.hello()
            assert time.monotonic() - started < 1.0  # the socket thread is not building it
            with pytest.raises(client.ServerError):  # no weights here: the job fails with missing_weights
                job.result(60)
            c.shutdown()
    finally:
        thread.join(15)
    assert "socket-loop" not in built_on and segmenters_before == 1
