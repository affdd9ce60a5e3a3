"""Cast shadows (segment/shadow.py): taken with the object when the prompt's box covers them, and on the frames
a tracker fills in; never on grey ground, never without a box."""

import cv2
import numpy as np
import pytest

from inpainterz_core.pipeline import segment_keyframes, track
from inpainterz_core.pipeline.tracking import Keyframes
from inpainterz_core.prompts import ObjectPrompt, Point, Prompts
from inpainterz_core.segment.classical import GrabCutSegmenter
from inpainterz_core.segment.shadow import ShadowSpan, find_shadow, with_shadow
from inpainterz_core.settings import Settings
from inpainterz_core.video import Mp4Writer, open_video, read_mask

H, W = 120, 200
CLAY, GREY = (190, 100, 60), (120, 120, 120)


def scene(ground=CLAY, x=40, seed=0, k=1):
    """A standing figure (white shirt, dark shorts) at column ``x`` on ``ground``, its shadow a strip of the ground
    at 70 % lightness running from its feet to the frame's right edge, all ``k`` times the size: (image, figure,
    shadow)."""
    rng = np.random.default_rng(seed)
    image = np.clip(np.array(ground, np.float32) + rng.normal(0, 3, (k * H, k * W, 3)), 0, 255)
    figure = np.zeros((k * H, k * W), bool)
    figure[k * 30 : k * 90, k * x : k * (x + 20)] = True
    shadow = np.zeros((k * H, k * W), bool)
    shadow[k * 82 : k * 90, k * (x + 20) :] = True
    image[shadow] *= 0.7
    image[k * 30 : k * 60, k * x : k * (x + 20)] = (235, 235, 235)
    image[k * 60 : k * 90, k * x : k * (x + 20)] = (30, 30, 40)
    return image.astype(np.uint8), figure, shadow


def test_the_shadow_beside_a_figure_on_coloured_ground_is_found_and_nothing_else():
    image, figure, shadow = scene()
    found = find_shadow(image, figure, (0, 0, W - 1, H - 1))
    assert (found & shadow).sum() >= 0.9 * shadow.sum()
    assert (found & ~shadow & ~figure).sum() <= 0.05 * shadow.sum()


@pytest.mark.parametrize("k", [2, 5])
def test_a_larger_frame_finds_the_shadow_as_well(k):
    """The same scene at 2x and 5x the size (past WORK_SIDE: searched smaller) gives the same share of the shadow."""
    image, figure, shadow = scene(k=k)
    found = find_shadow(image, figure, (0, 0, k * W - 1, k * H - 1))
    assert (found & shadow).sum() >= 0.9 * shadow.sum()
    assert (found & ~shadow & ~figure).sum() <= 0.05 * shadow.sum()


def test_a_box_over_the_shadow_gives_a_span_that_runs_off_the_frame_and_a_tight_box_none():
    image, figure, _ = scene()
    span = ShadowSpan.of(image, figure, (38, 28, W - 1, 92))
    assert span is not None and span.off_edges == (False, False, True, False)
    assert ShadowSpan.of(image, figure, (38, 28, 61, 91)) is None  # the box holds the figure alone
    assert ShadowSpan.of(image, figure, None) is None


def test_on_grey_ground_no_shadow_is_looked_for():
    image, figure, _ = scene(GREY)
    assert not find_shadow(image, figure, (0, 0, W - 1, H - 1)).any()
    assert ShadowSpan.of(image, figure, (38, 28, W - 1, 92)) is None


def test_the_span_placed_on_a_moved_figure_covers_its_shadow_there():
    image, figure, _ = scene()
    span = ShadowSpan.of(image, figure, (38, 28, W - 1, 92))
    _, moved, moved_shadow = scene(x=70)
    x0, y0, x1, y1 = span.region(moved)
    ys, xs = np.nonzero(moved_shadow)
    assert x0 <= xs.min() and xs.max() <= x1 and y0 <= ys.min() and ys.max() <= y1


@pytest.fixture
def walking(tmp_path):
    """Ten frames of the figure walking right, 3 px a frame, its shadow with it."""
    path = tmp_path / "walk.mp4"
    writer = Mp4Writer(path, fps=25.0, width=W, height=H, crf=0)
    shadows = []
    for t in range(10):
        image, _, shadow = scene(x=30 + 3 * t, seed=t)
        writer.write(image)
        shadows.append(shadow)
    writer.close()
    return path, shadows


@pytest.mark.parametrize("has_shadow", [True, False])
def test_tracked_masks_take_the_shadow_on_every_frame_when_the_keyframe_box_held_one(
    walking, tmp_path, has_shadow
):
    """The keyframe holds the figure alone (what the tracker follows); ``track`` adds the shadow on every frame
    where the keyframe's box held one, and none where it did not."""
    path, shadows = walking
    image, figure, _ = scene(x=30)
    labels = figure.astype(np.uint8)
    span = ShadowSpan.of(image, figure, (28, 28, W - 1, 92)) if has_shadow else None
    keyframes = Keyframes({0: labels}, shadows={(0, 1): span})
    track(path, keyframes, Settings(backend="classical"), tmp_path / "out")
    for t in (0, 5, 9):
        mask = read_mask(tmp_path / "out" / "masks" / f"{t:06d}.png") > 0
        taken = (mask & shadows[t]).sum() / shadows[t].sum()
        assert taken >= 0.7 if has_shadow else taken <= 0.1


def test_a_cut_from_a_click_alone_says_nothing_of_a_shadow(walking):
    path, _ = walking
    with open_video(path) as source:
        keyframes = segment_keyframes(
            source, Prompts((ObjectPrompt(frame=0, points=(Point(40, 45, 1),)),)), GrabCutSegmenter()
        )
    assert keyframes.shadows == {}


def test_with_shadow_adds_it_to_a_cut_only_when_the_box_holds_it():
    image, figure, shadow = scene()
    assert (with_shadow(image, figure, (38, 28, W - 1, 92)) & shadow).sum() >= 0.9 * shadow.sum()
    assert np.array_equal(with_shadow(image, figure, (38, 28, 61, 91)), figure)
    assert np.array_equal(with_shadow(image, figure, None), figure)


def test_the_servers_click_answer_shows_the_shadow_track_will_paint_out(tmp_path, monkeypatch):
    """The editor sees after a click what tracking will paint out on that frame: the box over the shadow takes it
    (the segmenter here cuts the figure alone, as the classical cut did on real-tennis's frame 45)."""
    from inpainterz_server import segmenters
    from server_harness import client, in_process_server

    image, figure, shadow = scene()

    class FigureOnly(GrabCutSegmenter):
        def predict(self, key, prompt):
            return figure.copy()

    monkeypatch.setattr(segmenters, "make_segmenter", lambda settings: FigureOnly())
    clip = tmp_path / "clip"
    clip.mkdir()
    cv2.imwrite(str(clip / "000000.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    with in_process_server(tmp_path) as server, client.Client(server.address, timeout=60) as c:
        sid = c.open_video(str(clip), settings={"backend": "classical"})["session"]
        object_id = c.add_object(sid)
        for box, taken in (([38, 28, W - 1, 92], True), ([38, 28, 61, 91], False), (None, False)):
            reply = c.segment(sid, object_id, 0, [[50, 45, 1]], box=box)
            mask = np.frombuffer(client.rle_decode(reply["mask"]), np.uint8).reshape(H, W) > 0
            share = (mask & shadow).sum() / shadow.sum()
            assert share >= 0.9 if taken else share == 0, (box, share)
        c.shutdown()
