"""Text prompts: the checks every detection goes through, how found objects become prompts and ids, and
objects that enter later (``detect_every``), with a detector whose output each test controls.

The detector is a ``Detector`` subclass, so its raw boxes go through the same checks a model's do; the
segmenter and tracker are the classical ones (no weights, no torch).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from inpainterz_core import backends
from inpainterz_core.detect import Detection, Detector, check_detections, missing_phrases
from inpainterz_core.errors import InputError, MissingWeightsError
from inpainterz_core.outputs import write_png
from inpainterz_core.pipeline import find_objects, segment_keyframes, track
from inpainterz_core.prompts import ObjectPrompt, Point, Prompts, TextPrompt
from inpainterz_core.segment.classical import GrabCutSegmenter
from inpainterz_core.settings import Settings
from inpainterz_core.track.base import Tracker
from inpainterz_core.video import frame_name, open_video, read_mask

# -- the text prompt ---------------------------------------------------------------------------------------


def test_phrases_are_split_on_dots_stripped_lower_cased_and_once():
    assert TextPrompt(" Logo .  boom   MIC. logo. ").phrases == ("logo", "boom mic")
    text = TextPrompt("logo", frame=3, box_threshold=0.5, text_threshold=1, detect_every=10)
    assert TextPrompt.from_dict(text.to_dict()) == text


@pytest.mark.parametrize(
    "kwargs, named",
    [
        (dict(text=" . . "), "names nothing"),
        (dict(text="logo", box_threshold=0), "box_threshold"),
        (dict(text="logo", box_threshold=1.01), "box_threshold"),
        (dict(text="logo", text_threshold=-0.1), "text_threshold"),
        (dict(text="logo", text_threshold=float("nan")), "text_threshold"),
        (dict(text="logo", detect_every=-1), "detect_every"),
        (dict(text="logo", frame=1.5), "frame"),
        (dict(text=None), "text"),
    ],
)
def test_a_bad_text_prompt_is_one_input_error_naming_the_field(kwargs, named):
    with pytest.raises(InputError, match=named):
        TextPrompt(**kwargs)


def test_from_dict_refuses_unknown_fields():
    with pytest.raises(InputError, match="unknown text prompt field"):
        TextPrompt.from_dict({"text": "logo", "treshold": 0.3})


# -- the checks --------------------------------------------------------------------------------------------


class FakeDetector(Detector):
    """Answers what the test says: ``boxes[frame]`` (or ``boxes`` itself) as raw detections."""

    name = "fake"

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def _detect_raw(self, image, phrases, box_threshold, text_threshold):
        self.calls.append((image.shape, phrases, box_threshold, text_threshold))
        return list(self.answer(image) if callable(self.answer) else self.answer)


def detect(raw, text="logo . boom mic", width=100, height=80, **kwargs):
    image = np.zeros((height, width, 3), np.uint8)
    return FakeDetector(raw).detect(image, TextPrompt(text, **kwargs))


def test_boxes_are_clipped_to_the_frame_and_sorted_by_score():
    found = detect([Detection((-10, 5, 30, 40), "logo", 0.5), Detection((60, 50, 130, 95), "boom mic", 0.9)])
    assert found == [
        Detection((60, 50, 100, 80), "boom mic", 0.9),
        Detection((0, 5, 30, 40), "logo", 0.5),
    ]


@pytest.mark.parametrize(
    "box, why",
    [
        ((120, 10, 150, 40), "off the frame"),
        ((-50, -50, -1, -1), "off the frame"),
        ((10, 10, 11.5, 40), "under 2 px wide"),
        ((10, 10, 40, 10), "empty"),
        ((40, 10, 10, 40), "x0 > x1"),
        ((0, 0, 100, 80), "the whole frame"),
        ((-5, -5, 96, 78), "over 90% of it"),
        ((float("nan"), 0, 10, 10), "not a number"),
    ],
)
def test_boxes_that_are_no_object_are_dropped(box, why):
    assert detect([Detection(box, "logo", 0.9)]) == [], why


def test_a_box_just_under_the_limits_is_kept():
    assert len(detect([Detection((0, 0, 94, 76), "logo", 0.9)])) == 1  # 89.4% of the frame
    assert len(detect([Detection((10, 10, 12, 12), "logo", 0.9)])) == 1  # 2 px a side


def test_duplicates_of_one_phrase_are_suppressed_but_not_other_phrases():
    raw = [
        Detection((10, 10, 50, 50), "logo", 0.6),
        Detection((12, 12, 52, 52), "logo", 0.8),  # IoU 0.82 with the first: the same logo
        Detection((30, 30, 70, 70), "logo", 0.7),  # IoU 0.22 with the best: another logo
        Detection((11, 11, 51, 51), "boom mic", 0.4),  # the same place, another phrase: kept
    ]
    found = detect(raw)
    assert [(d.phrase, d.score) for d in found] == [("logo", 0.8), ("logo", 0.7), ("boom mic", 0.4)]


def test_phrases_not_asked_for_and_scores_under_the_box_threshold_are_dropped():
    raw = [
        Detection((10, 10, 50, 50), "dog", 0.9),
        Detection((10, 10, 50, 50), "LOGO ", 0.9),  # the same phrase, written otherwise
        Detection((60, 10, 90, 50), "boom mic", 0.2),
    ]
    found = detect(raw, box_threshold=0.3)
    assert [(d.phrase, d.score) for d in found] == [("logo", 0.9)]


def test_missing_phrases_keeps_the_prompt_order():
    text = TextPrompt("logo . boom mic . person")
    assert missing_phrases(text, [Detection((0, 0, 5, 5), "boom mic", 0.5)]) == ["logo", "person"]
    assert check_detections([], 10, 10, text.phrases) == []


def test_the_detector_gets_the_phrases_and_thresholds():
    detector = FakeDetector([])
    detector.detect(np.zeros((8, 8, 3), np.uint8), TextPrompt("a . b", box_threshold=0.4, text_threshold=0.3))
    assert detector.calls == [((8, 8, 3), ("a", "b"), 0.4, 0.3)]
    with pytest.raises(InputError, match="RGB uint8"):
        detector.detect(np.zeros((8, 8), np.uint8), TextPrompt("a"))


# -- found objects become prompts --------------------------------------------------------------------------


class Still:
    """A frame source of ``frames`` identical grey frames (what find_objects reads is the text frame)."""

    def __init__(self, frames=5, width=100, height=80):
        self.frame_count, self.width, self.height = frames, width, height
        self.read_frames = []

    def check_index(self, index):
        if not 0 <= index < self.frame_count:
            raise InputError(f"frame {index} is out of range")

    def read(self, index):
        self.read_frames.append(index)
        return np.full((self.height, self.width, 3), 128, np.uint8)


LOGO = Detection((10, 10, 40, 40), "logo", 0.9)
MIC = Detection((50, 20, 90, 70), "boom mic", 0.6)


def test_found_objects_take_the_lowest_free_ids_and_clicks_keep_theirs():
    source = Still()
    clicks = (
        ObjectPrompt(frame=2, points=(Point(95, 5),), object_id=1),  # outside both boxes: its own object
        ObjectPrompt(frame=4, box=(0, 0, 9, 9), object_id=3),
    )
    prompts, records = find_objects(
        source, Prompts(clicks, TextPrompt("logo . boom mic", frame=2)), FakeDetector([LOGO, MIC])
    )
    assert source.read_frames == [2]
    by_id = {o.object_id: o for o in prompts.objects}
    assert sorted(by_id) == [1, 2, 3, 4]
    assert by_id[1] == clicks[0] and by_id[3] == clicks[1]
    assert by_id[2] == ObjectPrompt(frame=2, box=LOGO.box, object_id=2)
    assert by_id[4] == ObjectPrompt(frame=2, box=MIC.box, object_id=4)
    assert records == [
        {"object_id": 2, "phrase": "logo", "first_frame": 2, "score": 0.9, "box": [10.0, 10.0, 40.0, 40.0]},
        {
            "object_id": 4,
            "phrase": "boom mic",
            "first_frame": 2,
            "score": 0.6,
            "box": [50.0, 20.0, 90.0, 70.0],
        },
    ]
    assert prompts.text == TextPrompt("logo . boom mic", frame=2)


def test_a_click_inside_a_found_box_refines_that_object():
    click = ObjectPrompt(frame=0, points=(Point(60, 30), Point(20, 20, 0)), object_id=7)
    prompts, records = find_objects(
        Still(), Prompts((click,), TextPrompt("logo . boom mic")), FakeDetector([LOGO, MIC])
    )
    assert sorted(prompts.objects, key=lambda o: o.object_id) == [
        ObjectPrompt(frame=0, box=LOGO.box, object_id=1),
        ObjectPrompt(frame=0, points=click.points, box=MIC.box, object_id=7),  # the click's id, both prompts
    ]
    assert [(r["object_id"], r["phrase"]) for r in records] == [(1, "logo"), (7, "boom mic")]


def test_one_object_clicked_in_two_found_boxes_is_one_record():
    clicks = tuple(ObjectPrompt(points=(Point(x, 30),), object_id=1) for x in (20, 60))
    prompts, records = find_objects(
        Still(), Prompts(clicks, TextPrompt("logo . boom mic")), FakeDetector([LOGO, MIC])
    )
    assert sorted(o.box for o in prompts.objects) == [LOGO.box, MIC.box]
    assert [(r["object_id"], r["phrase"]) for r in records] == [(1, "logo")]


def test_a_click_on_another_frame_does_not_refine():
    click = ObjectPrompt(frame=3, points=(Point(20, 20),), object_id=1)
    prompts, _ = find_objects(Still(), Prompts((click,), TextPrompt("logo")), FakeDetector([LOGO]))
    assert sorted(o.object_id for o in prompts.objects) == [1, 2]


def test_a_click_in_nested_boxes_refines_the_smallest():
    inner = Detection((20, 20, 30, 30), "logo", 0.5)
    click = ObjectPrompt(points=(Point(25, 25),), object_id=1)
    prompts, _ = find_objects(Still(), Prompts((click,), TextPrompt("logo")), FakeDetector([LOGO, inner]))
    assert {o.object_id: o.box for o in prompts.objects} == {1: inner.box, 2: LOGO.box}


def test_nothing_found_is_one_line_saying_what_to_do():
    with pytest.raises(InputError) as info:
        find_objects(Still(), Prompts(text=TextPrompt("logo . boom mic", frame=4)), FakeDetector([]))
    assert str(info.value) == (
        "no object found for 'logo . boom mic' on frame 4 (box threshold 0.35, text threshold 0.25): "
        "lower --box-threshold or click the object"
    )


def test_each_phrase_that_matches_nothing_is_one_warning(caplog):
    with caplog.at_level(logging.WARNING):
        find_objects(Still(), Prompts(text=TextPrompt("logo . boom mic . person")), FakeDetector([LOGO]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "no 'boom mic' found on frame 0 (box threshold 0.35, text threshold 0.25)",
        "no 'person' found on frame 0 (box threshold 0.35, text threshold 0.25)",
    ]


def test_with_clicks_a_text_that_finds_nothing_only_warns(caplog):
    click = ObjectPrompt(points=(Point(5, 5),))
    with caplog.at_level(logging.WARNING):
        prompts, records = find_objects(Still(), Prompts((click,), TextPrompt("logo")), FakeDetector([]))
    assert prompts.objects == (click,) and records == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_text_frame_outside_the_clip_is_an_input_error():
    with pytest.raises(InputError, match="out of range"):
        find_objects(Still(frames=5), Prompts(text=TextPrompt("logo", frame=5)), FakeDetector([LOGO]))


def test_no_detector_weights_is_one_line_naming_the_folder_and_the_fetch(tmp_path):
    with pytest.raises(MissingWeightsError) as info:
        backends.make_detector(Settings(ckpt_dir=str(tmp_path)))
    message = str(info.value)
    assert message.startswith(
        f"{tmp_path / 'grounding-dino-tiny'} not found: run `inpainterz weights fetch grounding-dino-tiny`"
    )
    assert "\n" not in message


# -- objects that enter later ------------------------------------------------------------------------------


@dataclass
class EnteringClip:
    """A blue square standing still on a textured background from frame 0, and a red one sliding in from the
    right edge at frame ``enters`` (4 px a frame). Both carry a texture of their own, so motion shows inside
    them. ``mask(i, colour)`` is the truth."""

    frames: int = 40
    width: int = 160
    height: int = 96
    enters: int = 20
    side: int = 20

    def __post_init__(self):
        rng = np.random.default_rng(3)
        noise = rng.integers(60, 140, (self.height, self.width, 3)).astype(np.uint8)
        self.background = cv2.GaussianBlur(noise, (0, 0), 2)
        self.texture = rng.integers(0, 50, (self.side, self.side, 1)).astype(np.uint8)

    def box(self, i, colour):
        if colour == "blue":
            return (20, 30, 20 + self.side, 30 + self.side)
        if i < self.enters:
            return None
        x0 = self.width - 4 * (i - self.enters + 1)
        return (max(x0, 0), 50, min(x0 + self.side, self.width), 50 + self.side)

    def mask(self, i, colour):
        mask = np.zeros((self.height, self.width), bool)
        box = self.box(i, colour)
        if box is not None:
            mask[box[1] : box[3], box[0] : box[2]] = True
        return mask

    def frame(self, i):
        image = self.background.copy()
        for colour, rgb in (("blue", (20, 30, 255)), ("red", (255, 20, 30))):
            box = self.box(i, colour)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            # the square's own texture moves with it: the part inside the frame is its left part
            patch = np.array(rgb, np.int16) + np.where(np.array(rgb) > 128, -1, 1) * self.texture
            image[y0:y1, x0:x1] = patch[:, : x1 - x0].astype(np.uint8)
        image[-1, 0] = i  # the frame's number, for a detector that records where it looked
        return image


def colour_boxes(image):
    """What a good detector would say: the box of each square's pixels (pure colour tests)."""
    found = []
    for phrase, channel in (("red square", 0), ("blue square", 2)):
        others = [c for c in range(3) if c != channel]
        hit = (image[..., channel] > 190) & (image[..., others] < 90).all(-1)
        ys, xs = np.nonzero(hit)
        if xs.size >= 16:
            found.append(Detection((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), phrase, 0.8))
    return found


@pytest.fixture(scope="module")
def entering(tmp_path_factory):
    clip = EnteringClip()
    folder = tmp_path_factory.mktemp("entering") / "frames"
    folder.mkdir()
    for i in range(clip.frames):
        write_png(folder / frame_name(i), clip.frame(i))
    return clip, folder


def masks_of(out):
    return [read_mask(path) for path in sorted((out / "masks").iterdir())]


def run_track(folder, text, tmp_path, detector=None):
    detector = detector or FakeDetector(colour_boxes)
    segmenter = GrabCutSegmenter()
    settings = Settings(backend="classical")
    with open_video(folder) as source:
        keyframes = segment_keyframes(source, Prompts(text=text), segmenter, detector=detector)
        report = track(
            source, keyframes, settings, tmp_path / "out", text=text, detector=detector, segmenter=segmenter
        )
    return report, masks_of(tmp_path / "out")


def test_an_object_that_enters_later_is_found_and_tracked_both_ways(entering, tmp_path):
    clip, folder = entering
    report, masks = run_track(folder, TextPrompt("blue square . red square", detect_every=8), tmp_path)
    blue, red = report["objects"]  # the blue square, detected again on frames 8..32, stays one object
    assert (blue["object_id"], blue["phrase"], blue["first_frame"]) == (1, "blue square", 0)
    # Detection runs on frames 8, 16, 24 and 32: the red square, in from frame 20, is found on frame 24.
    assert (red["object_id"], red["phrase"], red["first_frame"]) == (2, "red square", 24)
    assert red["box"] == [float(v) for v in clip.box(24, "red")]
    for i, labels in enumerate(masks):
        truth = clip.mask(i, "red")
        if i < clip.enters:
            assert not (labels == 2).any(), f"frame {i}: the red square is not there yet"
        else:  # forward from 24 with the blue square, and back over 23..20 until it leaves the frame
            overlap = ((labels == 2) & truth).sum() / truth.sum()
            assert overlap > (0.5 if i < 29 else 0.2), (
                f"frame {i}: {overlap:.2f} of the red square is object 2"
            )
        blue_truth = clip.mask(i, "blue")
        assert ((labels == 1) & blue_truth).sum() > 0.9 * blue_truth.sum(), i
    track_json = json.loads((tmp_path / "out" / "track.json").read_text())
    assert track_json["objects"] == report["objects"]


class StubTracker(Tracker):
    """Carries the labels it was given unchanged, except an object tracked alone (a new object tracked
    back), which vanishes after ``alone_steps`` frames."""

    name = "stub"

    def __init__(self, alone_steps=100):
        self.alone_steps = alone_steps
        self.resets = []

    def reset(self, image, labels):
        self.labels, self.steps = labels.copy(), 0
        self.resets.append(sorted(int(k) for k in np.unique(labels[labels > 0])))

    def step(self, image):
        self.steps += 1
        alone = len(np.unique(self.labels[self.labels > 0])) == 1 and self.labels.max() > 1
        return np.zeros_like(self.labels) if alone and self.steps > self.alone_steps else self.labels.copy()


@pytest.mark.parametrize("alone_steps, back_to", [(100, 17), (3, 21)])
def test_a_new_object_is_tracked_back_to_the_previous_detection_or_until_it_vanishes(
    entering, tmp_path, alone_steps, back_to
):
    """Found on 24 (detection every 8): tracked back over 23..17, the frames since the detection on 16,
    or fewer when its mask vanishes (after 3 frames: 23, 22, 21)."""
    clip, folder = entering
    tracker = StubTracker(alone_steps)
    text = TextPrompt("blue square . red square", detect_every=8)
    detector = FakeDetector(colour_boxes)
    segmenter = GrabCutSegmenter()
    with open_video(folder) as source:
        keyframes = segment_keyframes(source, Prompts(text=text), segmenter, detector=detector)
        track(
            source,
            keyframes,
            Settings(),
            tmp_path / "out",
            tracker=tracker,
            text=text,
            detector=detector,
            segmenter=segmenter,
        )
    masks = masks_of(tmp_path / "out")
    has_red = [i for i, labels in enumerate(masks) if (labels == 2).any()]
    assert has_red == list(range(back_to, clip.frames))
    assert [2] in tracker.resets  # tracked back alone
    # Merged where the masks were background: the blue square keeps its id on every frame.
    assert all((labels[clip.mask(i, "blue")] == 1).all() for i, labels in enumerate(masks))


def test_without_detect_every_the_later_object_is_not_removed(entering, tmp_path):
    clip, folder = entering
    detector = FakeDetector(colour_boxes)
    report, masks = run_track(folder, TextPrompt("blue square . red square"), tmp_path, detector)
    assert [o["object_id"] for o in report["objects"]] == [1]
    assert not any((labels == 2).any() for labels in masks)
    assert len(detector.calls) == 1


def test_detection_runs_both_ways_from_the_text_frame(entering, tmp_path):
    clip, folder = entering
    frames = []

    def record(image):
        frames.append(int(image[-1, 0, 0]))
        return colour_boxes(image)

    run_track(
        folder,
        TextPrompt("blue square . red square", frame=30, detect_every=12),
        tmp_path,
        FakeDetector(record),
    )
    assert sorted(frames) == [6, 18, 30]


def test_the_cli_reads_text_from_flags_and_from_a_prompts_file(tmp_path):
    from inpainterz_core.cli import build_parser, prompts_from_args

    parser = build_parser()
    args = parser.parse_args(
        ["remove", "c.mp4", "-o", "o", "--text", "Logo . mic", "--frame", "4", "--detect-every", "9",
         "--box-threshold", "0.5", "--point", "3,4"]
    )  # fmt: skip
    prompts = prompts_from_args(args)
    assert prompts.text == TextPrompt("Logo . mic", frame=4, box_threshold=0.5, detect_every=9)
    assert prompts.objects == (ObjectPrompt(frame=4, points=(Point(3, 4),)),)

    file = tmp_path / "prompts.json"
    file.write_text(
        json.dumps(
            {"objects": [{"frame": 2, "object_id": 5, "box": [1, 2, 30, 40]}], "text": {"text": "logo"}}
        )
    )
    prompts = prompts_from_args(parser.parse_args(["track", "c.mp4", "-o", "o", "--prompts", str(file)]))
    assert prompts.text == TextPrompt("logo") and [o.object_id for o in prompts.objects] == [5]
    file.write_text(json.dumps({"text": {"text": "logo", "box_threshold": 2}}))
    with pytest.raises(InputError, match="box_threshold"):
        prompts_from_args(parser.parse_args(["track", "c.mp4", "-o", "o", "--prompts", str(file)]))


class StillPairClip(EnteringClip):
    """The blue square and a red one standing still beside it, both there from frame 0."""

    def box(self, i, colour):
        return (20, 30, 20 + self.side, 30 + self.side) if colour == "blue" else (90, 50, 90 + self.side, 70)


def test_a_box_the_user_dropped_is_never_found_again_as_a_new_object(tmp_path):
    """Both squares are found on frame 0; the user keeps the blue one and drops the red one (it stays in the
    picture). Detection every 8 frames finds the red square again: it is the kept object, not a new one."""
    clip = StillPairClip(frames=24)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(clip.frames):
        write_png(folder / frame_name(i), clip.frame(i))
    text = TextPrompt("blue square . red square", detect_every=8)
    detector, segmenter = FakeDetector(colour_boxes), GrabCutSegmenter()
    with open_video(folder) as source:
        segmenter.set_image(0, source.read(0))
        blue = segmenter.predict(0, ObjectPrompt(0, box=clip.box(0, "blue"), object_id=1))
        dropped = segmenter.predict(0, ObjectPrompt(0, box=clip.box(0, "red"), object_id=1))
        keyframes = {0: blue.astype(np.uint8)}
        report = track(
            source,
            keyframes,
            Settings(backend="classical"),
            tmp_path / "out",
            text=text,
            detector=detector,
            segmenter=segmenter,
            keep={0: dropped.astype(np.uint8)},
        )
    assert len(detector.calls) == 2  # frames 8 and 16 looked at again
    assert [o["object_id"] for o in report["objects"]] == [1]
    masks = masks_of(tmp_path / "out")
    assert len(masks) == clip.frames
    for i, labels in enumerate(masks):
        assert not labels[clip.mask(i, "red")].any(), f"frame {i}: the dropped red square is masked"
        assert set(np.unique(labels)) <= {0, 1}, i
        assert (labels[clip.mask(i, "blue")] == 1).mean() > 0.9, i


def test_kept_objects_take_ids_no_object_uses_and_new_objects_skip_them(entering, tmp_path):
    """A kept object takes the highest free id; the red square entering later still takes id 2, and the kept
    object's area (the blue square, dropped here) is never written, not even by the backward merge."""
    clip, folder = entering
    text = TextPrompt("blue square . red square", detect_every=8)
    tracker = StubTracker()
    with open_video(folder) as source:
        keep = {0: clip.mask(0, "blue").astype(np.uint8)}
        click = np.zeros((clip.height, clip.width), np.uint8)
        click[2:6, 2:6] = 1  # an object of the user's in a corner
        report = track(
            source,
            {0: click},
            Settings(),
            tmp_path / "out",
            tracker=tracker,
            text=text,
            detector=FakeDetector(colour_boxes),
            segmenter=GrabCutSegmenter(),
            keep=keep,
        )
    user, red = report["objects"][:2]  # (the stub leaves the red square's label behind: found again on 32)
    assert (user["object_id"], red["object_id"], red["phrase"], red["first_frame"]) == (
        1,
        2,
        "red square",
        24,
    )
    assert all(o["phrase"] != "blue square" for o in report["objects"])
    assert tracker.resets[0] == [1, 255]  # the kept object tracked with the user's
    for i, labels in enumerate(masks_of(tmp_path / "out")):
        assert not labels[clip.mask(i, "blue")].any(), i
        assert (labels == 255).sum() == 0, i


@pytest.mark.parametrize(
    "keep, says",
    [({3: np.ones((96, 160), np.uint8)}, "no keyframe"), ({0: np.ones((10, 10), np.uint8)}, "10x10")],
)
def test_bad_kept_objects_are_one_input_error(entering, tmp_path, keep, says):
    clip, folder = entering
    with open_video(folder) as source, pytest.raises(InputError, match=says):
        track(
            source,
            {0: clip.mask(0, "blue").astype(np.uint8)},
            Settings(),
            tmp_path / "out",
            tracker=StubTracker(),
            keep=keep,
        )
