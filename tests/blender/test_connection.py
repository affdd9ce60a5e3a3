"""The add-on's side of the protocol, against a stand-in server the test steps by hand: what is
sent for clicks and jobs, in which order, and what the panel knows meanwhile."""

import os
import types

import bpy
import numpy as np
import pytest
from conftest import read_png, set_resolution, write_png
from fake_server import FakeServer

W, H, N = 64, 48, 6


@pytest.fixture
def shot(addon, scene, tmp_path):
    """An image-sequence strip 'shot' (source frames 0..5 at timeline frames 10..15), active, at
    timeline frame 12 (source frame 2), and a fake server that may read its folder."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(N):
        write_png(src / f"src_{i:04d}.png", np.full((H, W, 3), 40 * i, np.uint8))
    set_resolution(scene, W, H)
    source = addon.compat.strips(scene.sequence_editor).new_image(
        name="shot", filepath=str(src / "src_0000.png"), channel=1, frame_start=10
    )
    for i in range(1, N):
        source.elements.append(f"src_{i:04d}.png")
    scene.sequence_editor.active_strip = source
    scene.frame_set(12)
    server = FakeServer(addon.remote.protocol, W, H, N, allowed_roots=[tmp_path])
    addon.connection.close()
    addon.props.preferences().address = server.address
    yield source, server
    addon.props.preferences().send_frames = False
    addon.connection.close()
    server.close()


class Layout:
    """Stands in for a panel's UILayout headless: records every text it is given."""

    def __init__(self, texts):
        self.texts = texts

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if kwargs.get("text"):
                self.texts.append(kwargs["text"])
            return Layout(self.texts) if name in ("box", "row", "column") else types.SimpleNamespace()

        return call


def panel_texts(addon):
    """The texts the Inpainterz panel shows now."""
    texts = []
    cls = bpy.types.INPAINTERZ_PT_main
    panel = types.SimpleNamespace(
        layout=Layout(texts),
        draw_server=cls.draw_server,
        draw_find=cls.draw_find,
        draw_prompts=cls.draw_prompts,
        draw_jobs=cls.draw_jobs,
        draw_results=cls.draw_results,
    )
    cls.draw(panel, bpy.context)
    return texts


def exchange(addon, server):
    """Let requests and replies cross until nothing more is sent: poll, answer, poll."""
    quiet = 0
    while quiet < 3:
        addon.connection.poll()
        before = len(server.requests)
        server.step(timeout_ms=50)
        quiet = quiet + 1 if len(server.requests) == before else 0
    addon.connection.poll()


def view(x, y):
    """Preview coordinates of source pixel (x, y) of the untransformed strip on a W x H canvas."""
    return x - W / 2, H / 2 - y


def test_track_at_once_after_clicks_sends_the_prompts_the_panel_shows(addon, shot):
    """Finding 1: a box dragged and Track pressed at once tracks the box, not the earlier point."""
    source, server = shot
    server.hold_segments = True
    assert bpy.ops.inpainterz.add_point(view_x=view(20, 20)[0], view_y=view(20, 20)[1]) == {"FINISHED"}
    exchange(addon, server)
    conn = addon.connection.current()
    (vx0, vy0), (vx1, vy1) = view(10, 8), view(30, 40)
    assert bpy.ops.inpainterz.add_box(view_x0=vx0, view_y0=vy0, view_x1=vx1, view_y1=vy1) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}  # no wait between the box and Track
    exchange(addon, server)
    assert conn.segmenting("shot", 1)
    assert "Object 1: 1 clicks, box, segmenting..." in panel_texts(addon)
    assert server.ops("track") == []  # Track waits until the masks shown are current
    assert "Track starts once the masks shown are current" in panel_texts(addon)

    while server.held:
        server.release()
    exchange(addon, server)
    assert not conn.segmenting("shot")
    assert "Object 1: 1 clicks, box" in panel_texts(addon)
    frame, rle = conn.masks[("shot", 1)]
    shown = np.frombuffer(addon.remote.client.rle_decode(rle), np.uint8).reshape(H, W)
    assert frame == 2 and shown[8:40, 10:30].all()  # the mask shown is the box's
    (track,) = server.ops("track")
    assert track["objects"] == [
        {"object_id": 1, "frame": 2, "points": [[20.0, 20.0, 1]], "box": [10.0, 8.0, 30.0, 40.0]}
    ]
    assert (track["start"], track["stop"]) == (0, N)
    assert server.ops("add_object") == [{"session": "s1"}]  # one preview object, no filler loop


def test_first_click_is_segmented_once_and_old_answers_never_show(addon, shot):
    """Finding 2: the stored prompts are not replayed when the video opens, and an answer to an
    older prompt is not taken for the current mask."""
    source, server = shot
    item = source.inpainterz.objects.add()  # a prompt saved in the .blend on another frame
    item.object_id = 1
    point = item.points.add()
    point.frame, point.x, point.y = 4, 5.0, 5.0
    assert bpy.ops.inpainterz.add_point(view_x=view(20, 20)[0], view_y=view(20, 20)[1]) == {"FINISHED"}
    exchange(addon, server)
    assert [(b["frame"], b["points"]) for b in server.ops("segment")] == [(2, [[20.0, 20.0, 1]])]

    server.hold_segments = True
    conn = addon.connection.current()
    for x in (30, 40):
        assert bpy.ops.inpainterz.add_point(view_x=view(x, 20)[0], view_y=view(x, 20)[1]) == {"FINISHED"}
        exchange(addon, server)
    server.release()  # the answer for two clicks arrives while three are on the frame: not shown
    exchange(addon, server)
    assert conn.segmenting("shot", 1)
    shown = np.frombuffer(addon.remote.client.rle_decode(conn.masks[("shot", 1)][1]), np.uint8).reshape(H, W)
    assert shown[20, 20] == 1 and shown[20, 30] == 0  # still the first click's mask, marked as segmenting
    server.release()
    exchange(addon, server)
    assert not conn.segmenting("shot", 1)
    shown = np.frombuffer(addon.remote.client.rle_decode(conn.masks[("shot", 1)][1]), np.uint8).reshape(H, W)
    assert shown[20, 20] == shown[20, 30] == shown[20, 40] == 1


def test_track_and_inpaint_are_their_own_operators_and_scripts_keep_working(addon, shot, tmp_path):
    """Finding 6: each action has its operator and label; image-pixel coordinates; old calls work."""
    source, server = shot
    assert bpy.ops.inpainterz.track.get_rna_type().name == "Track"
    assert bpy.ops.inpainterz.inpaint.get_rna_type().name == "Inpaint"
    assert "INTERNAL" in bpy.types.INPAINTERZ_OT_run.bl_options  # not offered as "Run" in search
    for op in (bpy.ops.inpainterz.add_point, bpy.ops.inpainterz.add_box):
        props = [p for p in op.get_rna_type().properties if p.identifier != "rna_type"]
        assert props and all(p.description for p in props), [p.identifier for p in props if not p.description]

    # A moved and scaled strip: image pixels land where they are, without the view transform.
    source.transform.offset_x, source.transform.scale_x, source.transform.scale_y = 7, 0.5, 0.5
    assert bpy.ops.inpainterz.add_point(image_x=12.5, image_y=30.25) == {"FINISHED"}
    assert bpy.ops.inpainterz.add_box(image_x0=40, image_y0=30, image_x1=4, image_y1=2) == {"FINISHED"}
    item = source.inpainterz.objects[0]
    assert (item.points[0].x, item.points[0].y, item.points[0].positive) == (12.5, 30.25, True)
    assert (item.boxes[0].x0, item.boxes[0].y0, item.boxes[0].x1, item.boxes[0].y1) == (4, 2, 40, 30)
    with pytest.raises(RuntimeError, match="misses"):
        bpy.ops.inpainterz.add_point(image_x=W + 1, image_y=3)
    vx, vy = addon.geometry.source_to_view(source, bpy.context.scene, 50.0, 10.0)
    assert bpy.ops.inpainterz.add_point(view_x=vx, view_y=vy, negative=True) == {"FINISHED"}
    assert (round(item.points[1].x, 3), round(item.points[1].y, 3), item.points[1].positive) == (
        50.0,
        10.0,
        False,
    )

    assert bpy.ops.inpainterz.run(kind="track") == {"FINISHED"}  # what scripts already call
    exchange(addon, server)
    (track,) = server.ops("track")
    assert track["objects"][0]["points"] == [[12.5, 30.25, 1], [50.0, 10.0, 0]]


def test_server_errors_become_reports_and_end_what_waited(addon, shot):
    source, server = shot
    server.open_error = ("bad_input", "src_0003.png is not a readable image")
    assert bpy.ops.inpainterz.add_point(image_x=3, image_y=3) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    conn = addon.connection.current()
    assert conn.error == "Could not open src: src_0003.png is not a readable image"
    assert not conn.segmenting("shot") and not conn.jobs  # nothing waits for a video that will not open


def test_a_refused_folder_says_what_to_do_in_blender(addon, shot):
    """Finding 3's message: a server that refuses a folder is answered with what to do in Blender."""
    source, server = shot
    server.track_error = (
        "path_not_allowed",
        "/x/inpainterz/shot is outside the server's allowed folders "
        "(start the server with --allow-root to add one)",
    )
    assert bpy.ops.inpainterz.add_point(image_x=3, image_y=3) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    error = addon.connection.current().error
    assert error.startswith("Track failed: /x/inpainterz/shot is outside") and "Send frames" in error


def test_frames_go_up_and_results_come_back_in_steps(addon, shot, tmp_path, monkeypatch):
    """Remote mode, chosen by the user: the visible frames are sent as Blender shows them, a few per
    request, the prompts and ranges are those of the uploaded frames, and the masks come back, a few
    per request, into the strip's local result folder under their source frame numbers."""
    source, server = shot
    source.frame_offset_start = 1  # visible: source frames 1..5, uploaded as the server's 0..4
    server.frame_count, server.work = N - 1, tmp_path / "server-side"
    monkeypatch.setattr(addon.connection, "UPLOAD_CHUNK", 2)
    monkeypatch.setattr(addon.connection, "DOWNLOAD_CHUNK", 3)
    addon.props.preferences().send_frames = True
    assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}  # source frame 2
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    conn = addon.connection.current()
    exchange(addon, server)
    assert [len(b["frames"]) for b in server.ops("upload_frames")] == [2, 2, 1]
    for i, png in enumerate(server.uploaded["s1"]):
        (tmp_path / "up.png").write_bytes(png)
        assert (read_png(tmp_path / "up.png")[..., :3] == 40 * (i + 1)).all()
    assert server.ops("segment")[0]["frame"] == 1
    (track,) = server.ops("track")
    assert (track["start"], track["stop"], track["objects"][0]["frame"]) == (0, N - 1, 1)
    assert "out_dir" not in track

    server.finish_track("j1")
    exchange(addon, server)
    assert [b["start"] for b in server.ops("result_frames")] == [0, 3]
    assert not conn.jobs and conn.error is None
    results = addon.strips.results_dir(source)
    assert sorted(os.listdir(os.path.join(results, "from-server", "masks"))) == [
        f"{i:06d}.png" for i in range(1, N)
    ]
    mask = addon.strips.find_result(bpy.context.scene, source, addon.strips.MASK)
    assert mask.elements[0].filename == "000001.png" and mask.frame_final_start == source.frame_final_start


def test_cancel_while_results_come_back_leaves_nothing_half_done(addon, shot, tmp_path, monkeypatch):
    source, server = shot
    source.name = "cancelled"  # its own result folder
    server.work = tmp_path / "server-side"
    monkeypatch.setattr(addon.connection, "DOWNLOAD_CHUNK", 2)
    addon.props.preferences().send_frames = True
    assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    server.finish_track("j1")
    conn = addon.connection.current()
    for _ in range(10):  # until the first frames are back
        addon.connection.poll()
        server.step(timeout_ms=20)
        if conn.progress and conn.progress[0] == "download":
            break
    assert conn.progress == ("download", 2, N)
    assert bpy.ops.inpainterz.cancel() == {"FINISHED"}
    exchange(addon, server)
    received = os.path.join(addon.strips.results_dir(source), "from-server")
    assert not conn.jobs and len(server.ops("result_frames")) < 3
    assert not os.path.exists(received) or os.listdir(received) == []  # no folder that looks complete
    assert addon.strips.find_result(bpy.context.scene, source, addon.strips.MASK) is None


def test_cancel_while_frames_go_up_stops_sending(addon, shot, monkeypatch):
    source, server = shot
    monkeypatch.setattr(addon.connection, "UPLOAD_CHUNK", 2)
    addon.props.preferences().send_frames = True
    assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    conn = addon.connection.current()
    for _ in range(10):  # until the first chunk is answered
        addon.connection.poll()
        server.step(timeout_ms=20)
        if conn.progress[0] == "upload":
            break
    assert conn.progress == ("upload", 2, N)
    assert bpy.ops.inpainterz.cancel() == {"FINISHED"}
    exchange(addon, server)
    sent = len(server.ops("upload_frames"))
    exchange(addon, server)
    assert len(server.ops("upload_frames")) == sent < 3
    assert server.ops("close_video") == [{"session": "s1"}] and not conn.jobs and server.ops("track") == []


def test_a_connection_file_with_curve_keys_signs_and_encrypts(addon, shot, tmp_path):
    """The preferences take the server's connection file: the add-on signs every request with its key
    and encrypts with its CURVE keys (a client without them is not answered by such a server)."""
    import json

    import zmq

    source, _ = shot
    keys = addon.remote.curve.new_keys()
    server = FakeServer(addon.remote.protocol, W, H, N, allowed_roots=[tmp_path], key=b"k" * 32, curve=keys)
    conn_file = tmp_path / "server.json"
    conn_file.write_text(json.dumps({"address": server.address, "key": "k" * 32, "curve": keys}))
    conn_file.chmod(0o600)
    prefs = addon.props.preferences()
    prefs.address, prefs.connection_file = "tcp://127.0.0.1:1", str(conn_file)  # the file's address wins
    try:
        assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}
        exchange(addon, server)
        conn = addon.connection.current()
        assert conn.address == server.address and conn.error is None
        assert conn.masks[("shot", 1)][0] == 2
        for signature, payload in server.wire:
            assert signature == addon.remote.protocol.sign(b"k" * 32, payload)
        unencrypted = zmq.Context.instance().socket(zmq.DEALER)
        unencrypted.setsockopt(zmq.LINGER, 0)
        unencrypted.connect(server.address)
        before = len(server.requests)
        unencrypted.send_multipart(
            addon.remote.protocol.pack(addon.remote.protocol.request("x", "hello", {}), None)
        )
        server.step(timeout_ms=300)
        assert len(server.requests) == before  # a plain-text client gets nowhere
        unencrypted.close()
    finally:
        prefs.connection_file = ""
        addon.connection.close()
        server.close()


# -- Find: objects named in words (the server's detect op) -------------------------------------------------


PERSON = {"box": [4.0, 6.0, 20.0, 30.0], "phrase": "person", "score": 0.8}
DOG = {"box": [30.0, 10.0, 50.0, 40.0], "phrase": "dog", "score": 0.5}


def printed_reports(capsys):
    """The reports the poll step has shown since the last call (it prints each one as well)."""
    return [
        line[len("Inpainterz: ") :] for line in capsys.readouterr().out.splitlines() if "Inpainterz: " in line
    ]


def test_find_shows_boxes_to_keep_or_drop_and_the_kept_ones_become_objects(addon, shot, capsys):
    """Panel field -> detect request -> boxes over the preview -> keep/drop -> each kept box segmented as a
    new object, as if drawn; Track then sends it like any other prompt."""
    source, server = shot
    assert bpy.ops.inpainterz.add_point(image_x=40, image_y=40) == {"FINISHED"}  # object 1, clicked
    exchange(addon, server)
    server.detections = [PERSON, DOG]
    prompts = source.inpainterz
    prompts.find_text, prompts.find_threshold = "person. dog. bike", 0.3
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    conn = addon.connection.current()
    assert conn.finding("shot") and "Finding..." in panel_texts(addon)
    capsys.readouterr()
    exchange(addon, server)
    (detect,) = server.ops("detect")
    assert (detect["session"], detect["frame"], detect["text"]) == ("s1", 2, "person. dog. bike")
    assert detect["box_threshold"] == pytest.approx(0.3)
    assert not conn.finding("shot")
    assert printed_reports(capsys) == [
        'Find found 2 box(es), but nothing for "bike": untick the boxes to drop, then Add Found'
    ]

    assert [(f.phrase, round(f.score, 3), f.frame, f.keep) for f in prompts.found] == [
        ("person", 0.8, 2, True),
        ("dog", 0.5, 2, True),
    ]
    texts = panel_texts(addon)
    assert "person 0.80" in texts and "dog 0.50" in texts
    assert "No detector weights on the server: Find says what to fetch" not in texts
    scene = bpy.context.scene
    outlines = addon.overlay.found_outlines(source, scene, 2)
    assert [(rgba, label) for _, rgba, label in outlines] == [
        (addon.overlay.KEPT, "person 0.80"),
        (addon.overlay.KEPT, "dog 0.50"),
    ]
    corners = [addon.geometry.view_to_source(source, scene, x, y) for x, y in outlines[0][0]]
    assert [tuple(round(v, 3) for v in c) for c in corners] == [(4, 6), (20, 6), (20, 30), (4, 30)]
    assert addon.overlay.found_outlines(source, scene, 3) == []  # only on the frame they were found on

    prompts.found[1].keep = False  # the user drops the dog
    assert addon.overlay.found_outlines(source, scene, 2)[1][1:] == (
        addon.overlay.DROPPED,
        "dog 0.50 (dropped)",
    )
    assert bpy.ops.inpainterz.add_found() == {"FINISHED"}
    assert len(prompts.found) == 0 and len(prompts.objects) == 2 and prompts.active_object == 1
    found = prompts.objects[1]
    assert found.object_id == 2 and len(found.points) == 0
    assert [(b.frame, b.x0, b.y0, b.x1, b.y1) for b in found.boxes] == [(2, 4, 6, 20, 30)]
    exchange(addon, server)
    segment = server.ops("segment")[-1]
    assert (segment["frame"], segment["points"], segment["box"]) == (2, [], [4.0, 6.0, 20.0, 30.0])
    frame, rle = conn.masks[("shot", 2)]
    shown = np.frombuffer(addon.remote.client.rle_decode(rle), np.uint8).reshape(H, W)
    assert frame == 2 and shown[6:30, 4:20].all() and shown.sum() == 16 * 24

    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    (track,) = server.ops("track")
    assert [(o["object_id"], o["box"]) for o in track["objects"]] == [(1, None), (2, [4.0, 6.0, 20.0, 30.0])]


def test_find_says_when_nothing_is_found_and_what_went_wrong(addon, shot, capsys):
    """Nothing found is a report, not a silent empty list; a server without the detector's weights
    answers one line, shown as the error, and clicks go on working."""
    source, server = shot
    server.stages = {"detect": [], "segment": ["grabcut"]}  # what a server without the weights says
    prompts = source.inpainterz
    with pytest.raises(RuntimeError, match="Type what to remove"):
        bpy.ops.inpainterz.find()  # an empty Find field
    assert server.ops("detect") == []

    server.detections = [PERSON]
    prompts.find_text = "person"
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    assert len(prompts.found) == 1
    server.detections = []
    prompts.find_text = "unicorn"
    capsys.readouterr()
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    assert len(prompts.found) == 0  # the earlier boxes are gone: they answered another text
    assert printed_reports(capsys) == [
        'Find found nothing for "unicorn" on frame 2 of shot: lower the threshold, use other words, '
        "or click the object"
    ]
    with pytest.raises(RuntimeError, match="No found box is ticked"):
        bpy.ops.inpainterz.add_found()

    missing = (
        "missing_weights",
        "/ckpt/grounding-dino-tiny not found: run `inpainterz weights fetch grounding-dino-tiny`",
    )
    server.detect_error = missing
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    conn = addon.connection.current()
    assert conn.error == f"Find failed: {missing[1]}" and not conn.finding("shot")
    texts = panel_texts(addon)
    assert "No detector weights on the server: Find says what to fetch" in texts  # said before Find, too
    assert "Backends: detect: none, segment: grabcut" in texts
    assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}
    exchange(addon, server)
    assert conn.masks[("shot", 1)][0] == 2  # the click is answered as before


def test_a_new_find_forgets_the_boxes_dropped_before(addon, shot):
    """Look Again sends only the boxes dropped from the latest Find, and none when no object is on its frame."""
    source, server = shot
    prompts = source.inpainterz
    server.detections = [PERSON, DOG]
    prompts.find_text, prompts.find_every = "person. dog", 4
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    prompts.found[1].keep = False
    assert bpy.ops.inpainterz.add_found() == {"FINISHED"}
    assert addon.connection.find_again(source)["keep"] == [DOG["box"]]
    prompts.find_frame = 3  # Find's frame holds no object now: the server could not track the kept boxes
    assert "keep" not in addon.connection.find_again(source)
    prompts.find_frame = 2
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    assert len(prompts.dropped) == 0 and "keep" not in addon.connection.find_again(source)


def test_only_the_latest_find_counts(addon, shot):
    """Find pressed twice: the answer to the first text does not fill the list the second asked for."""
    source, server = shot
    prompts = source.inpainterz
    server.detections = [PERSON, DOG]
    prompts.find_text = "person"
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    prompts.find_text = "dog"
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    assert [b["text"] for b in server.ops("detect")] == ["dog"]  # the first never left: the video was opening
    assert [f.phrase for f in prompts.found] == ["dog"]
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    prompts.find_text = "person"
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)  # both go out; the answer to "dog" comes first and is dropped
    assert [b["text"] for b in server.ops("detect")] == ["dog", "dog", "person"]
    assert [f.phrase for f in prompts.found] == ["person"]


def test_track_can_look_again_for_what_find_names(addon, shot, tmp_path, capsys):
    """Look Again Every N: Track sends the Find text with the frame Find ran on (the server's numbering),
    so objects that enter later are found while tracking; at 0 it sends no text."""
    source, server = shot
    prompts = source.inpainterz
    server.detections = [PERSON, DOG]
    prompts.find_text, prompts.find_threshold = "person. dog", 0.4
    assert bpy.ops.inpainterz.find() == {"FINISHED"}
    exchange(addon, server)
    prompts.found[1].keep = False  # the user keeps the dog in the picture
    assert bpy.ops.inpainterz.add_found() == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    assert "text" not in server.ops("track")[0]  # Look Again Every is 0

    server.jobs.clear()
    addon.connection.current().jobs.clear()
    source.frame_offset_start = 1  # the server's frame 0 is source frame 1 once uploaded
    server.frame_count = N - 1
    addon.props.preferences().send_frames = True
    prompts.find_every = 5
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    assert len(server.ops("track")) == 2
    track = server.ops("track")[-1]
    assert track["text"] == {
        "text": "person. dog",
        "frame": 1,
        "detect_every": 5,
        "box_threshold": pytest.approx(0.4),
        "keep": [DOG["box"]],  # the box dropped on the Find frame: not found again as a new object
    }
    assert track["objects"][0]["frame"] == 1

    # The objects the server found while tracking are reported, at their source frame.
    tracked = {"object_id": 1, "phrase": None, "first_frame": 1, "score": None, "box": [4.0, 6.0, 20.0, 30.0]}
    entered = {
        "object_id": 2,
        "phrase": "person",
        "first_frame": 3,
        "score": 0.6,
        "box": [1.0, 1.0, 9.0, 9.0],
    }
    server.track_objects, server.work = [tracked, entered], tmp_path / "server-side"
    capsys.readouterr()
    server.finish_track(sorted(server.jobs)[-1])
    exchange(addon, server)
    assert (
        printed_reports(capsys)[0]
        == "Track found 1 more object(s) entering later: person (object 2, frame 4)"
    )


def test_the_frames_to_check_are_marked_on_the_timeline_and_only_our_markers_are_replaced(
    addon, shot, tmp_path, capsys
):
    """Track's check_frames (the server's numbering) become timeline markers, one per run of doubtful
    frames, at the timeline frames that show them, naming the objects doubted there; the next Track
    replaces those markers and leaves the editor's own alone, even ones named like them (on another
    frame, or a copy on the same frame)."""
    source, server = shot
    source.frame_offset_start = 1  # visible: source frames 1..5 at timeline 11..15, the server's 0..4
    server.frame_count, server.work = N - 1, tmp_path / "server-side"
    addon.props.preferences().send_frames = True
    scene = bpy.context.scene
    scene.timeline_markers.new("cut here", frame=13)
    assert bpy.ops.inpainterz.add_point(image_x=20, image_y=20) == {"FINISHED"}
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    server.track_check_frames = [1, 2, 4]  # source frames 2, 3 and 5
    known = {"phrase": None, "first_frame": 1, "score": None, "box": None}
    server.track_objects = [  # which object each doubt is about
        {"object_id": 1, **known, "check_frames": [1, 2]},
        {"object_id": 2, **known, "check_frames": [2, 4]},
        {"object_id": 3, **known, "check_frames": []},
    ]
    capsys.readouterr()
    server.finish_track("j1")
    exchange(addon, server)
    marked = sorted((m.frame, m.name) for m in scene.timeline_markers)
    assert marked == [
        (12, "check shot: objects 1, 2 (2 frames)"),
        (13, "cut here"),
        (15, "check shot: object 2"),
    ]
    assert "3 frame(s) to check, marked at 2 place(s)" in printed_reports(capsys)[-1]
    assert "3 frame(s) to check (markers)" in panel_texts(addon)

    scene.timeline_markers.new("check shot", frame=14)  # the editor's own, named like ours
    scene.timeline_markers.new("check shot: object 2", frame=15)  # and a copy of one of ours
    assert bpy.ops.inpainterz.track() == {"FINISHED"}
    exchange(addon, server)
    server.track_check_frames, server.track_objects = [], None
    server.finish_track(sorted(server.jobs)[-1])
    exchange(addon, server)
    assert sorted((m.frame, m.name) for m in scene.timeline_markers) == [
        (13, "cut here"),
        (14, "check shot"),
        (15, "check shot: object 2"),
    ]
    assert not any("to check" in text for text in panel_texts(addon))
