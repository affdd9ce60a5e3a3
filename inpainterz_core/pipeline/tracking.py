"""Segment the prompted frames, then track their masks through the range: ``masks/%06d.png``.

Tracking holds one frame per direction; every frame takes its mask from the
nearest keyframe in time, or, between two keyframes, from the pass the tracker is
clearly surer of there. Text prompts become boxes on their frame (a detector
finds them) before anything is segmented; with ``detect_every`` the detector
looks again while tracking and objects that enter later are tracked from there,
both ways (SAM-Track's way).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .. import backends
from ..detect import missing_phrases
from ..detect.base import box_iou
from ..errors import InputError
from ..masks import bounding_box
from ..outputs import staged, write_png
from ..prompts import ObjectPrompt, Prompts, TextPrompt
from ..segment.motion import offer_neighbours, scene_motion
from ..segment.shadow import ShadowSpan, find_shadow
from ..settings import Settings
from ..track.base import LOW_CONFIDENCE
from ..video import FrameSource, VideoFile, frame_name, open_video, read_ahead, read_mask
from .common import Progress, check_cancel, frame_range_of, open_source, report_progress
from .writer import OutputWriter

log = logging.getLogger(__name__)

MAX_OBJECT_ID = 255  # a label map is 8-bit


class Keyframes(dict):
    """The label map of every prompted frame (``{frame: uint8 HxW}``), ``objects``: what each id is,
    ``shadows``: the cast shadow each boxed prompt's box held beside its object, and ``prompts``: the prompt
    each object's mask on each frame was cut from (``{(frame, object_id): ObjectPrompt}``).

    ``objects`` is a list of ``{"object_id", "phrase", "first_frame", "score", "box"}``, by id: the
    phrase, score and box a detector gave it, or null phrase and score for an object clicked (its box
    is then its mask's bounding box on its first keyframe, null when the mask is empty). ``shadows`` maps
    (frame, object id) to a ``ShadowSpan``, or to None where the box held no shadow; a prompt without a box
    says nothing of one. The label maps hold the objects alone (what a tracker follows); ``track`` adds the
    shadows to every frame's mask.
    """

    def __init__(self, maps=(), objects=(), shadows=None, prompts=None):
        super().__init__(maps)
        self.objects = sorted(objects, key=lambda o: o["object_id"])
        self.shadows = dict(shadows or {})
        self.prompts = dict(prompts or {})


def _object(object_id, first_frame, phrase=None, score=None, box=None) -> dict:
    box = None if box is None else [round(float(v), 2) for v in box]
    score = None if score is None else round(float(score), 4)
    return {
        "object_id": int(object_id),
        "phrase": phrase,
        "first_frame": int(first_frame),
        "score": score,
        "box": box,
    }


def _mask_box(mask: np.ndarray) -> list[float] | None:
    ys, xs = np.nonzero(mask)
    return (
        None if xs.size == 0 else [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    )


def _free_ids(used: set[int]):
    """Object ids not in ``used``, lowest first (``used`` may grow while this is read)."""
    for k in range(1, MAX_OBJECT_ID + 1):
        if k not in used:
            yield k


def find_objects(source: FrameSource, prompts: Prompts, detector) -> tuple[Prompts, list[dict]]:
    """Turn the text prompt into one box prompt per object the detector finds on its frame.

    A positive click (points only) on the text frame inside a found box refines that object: the
    object keeps the click's id and gets both. Other clicks are objects of their own, with their
    ids; the found objects take the lowest free ids. A phrase that matches nothing is one warning
    line; nothing found at all (and no click) is an InputError. Returns the prompts with the text's
    objects added, and their records (see ``Keyframes``).
    """
    text = prompts.text
    if text is None:
        return prompts, []
    source.check_index(text.frame)
    detections = detector.detect(source.read(text.frame), text)
    thresholds = f"box threshold {text.box_threshold:g}, text threshold {text.text_threshold:g}"
    if not detections and not prompts.objects:
        raise InputError(
            f"no object found for {text.text.strip()!r} on frame {text.frame} ({thresholds}): "
            "lower --box-threshold or click the object"
        )
    for phrase in missing_phrases(text, detections):
        log.warning("no %r found on frame %d (%s)", phrase, text.frame, thresholds)

    claimed: dict[int, int] = {}  # detection index -> the id of the click that refines it
    objects = []
    for prompt in sorted(prompts.objects, key=lambda o: o.object_id):
        index = _refined(prompt, detections, claimed, text.frame)
        if index is None:
            objects.append(prompt)
            continue
        claimed[index] = prompt.object_id
        objects.append(ObjectPrompt(text.frame, prompt.points, detections[index].box, prompt.object_id))
    used = {o.object_id for o in prompts.objects}
    ids = _free_ids(used)
    records = []
    for index, d in enumerate(detections):
        object_id = claimed.get(index)
        if object_id is None:
            object_id = next(ids, None)
            if object_id is None:
                raise InputError(
                    f"more than {MAX_OBJECT_ID} objects: raise --box-threshold or name fewer things"
                )
            used.add(object_id)
            objects.append(ObjectPrompt(text.frame, box=d.box, object_id=object_id))
        if all(r["object_id"] != object_id for r in records):  # one click may take two boxes: one record
            records.append(_object(object_id, text.frame, d.phrase, d.score, d.box))
    return Prompts(tuple(objects), text), records


def _refined(prompt: ObjectPrompt, detections, claimed: dict[int, int], frame: int) -> int | None:
    """The detection a click refines: the smallest found box around its first positive point that no other
    object's click has taken; None for a box prompt, a click on another frame, or one outside every box."""
    if prompt.frame != frame or prompt.box is not None:
        return None
    point = next(p for p in prompt.points if p.label == 1)
    inside = [
        i
        for i, d in enumerate(detections)
        if d.box[0] <= point.x <= d.box[2]
        and d.box[1] <= point.y <= d.box[3]
        and claimed.get(i, prompt.object_id) == prompt.object_id
    ]
    if not inside:
        return None
    return min(
        inside,
        key=lambda i: (
            (detections[i].box[2] - detections[i].box[0]) * (detections[i].box[3] - detections[i].box[1])
        ),
    )


def segment_keyframes(source: FrameSource, prompts: Prompts, segmenter, *, detector=None) -> Keyframes:
    """The label map of every prompted frame: object k's mask painted with k (later objects on top).

    With a text prompt, ``detector`` (``backends.make_detector(settings)``) first finds its objects
    (``find_objects``). The result's ``objects`` says what each id is.
    """
    if prompts.text is not None:
        if detector is None:
            raise InputError("text prompts need a detector: pass detector=backends.make_detector(settings)")
        prompts, records = find_objects(source, prompts, detector)
    else:
        records = []
    if not prompts.objects:
        raise InputError("no prompts: give at least one --point or --box (or --text)")
    for prompt in prompts.objects:
        prompt.check_inside(source.width, source.height, source.frame_count)
    keyframes = Keyframes()
    for frame in prompts.keyframes():
        image = source.read(frame)
        segmenter.set_image(frame, image)
        offer_neighbours(segmenter, frame, source, frame)
        labels = np.zeros(image.shape[:2], np.uint8)
        for prompt in sorted((o for o in prompts.objects if o.frame == frame), key=lambda o: o.object_id):
            mask = segmenter.predict(frame, prompt)
            labels[mask] = prompt.object_id
            keyframes.prompts[frame, prompt.object_id] = prompt
            if prompt.box is not None:
                keyframes.shadows[frame, prompt.object_id] = ShadowSpan.of(image, mask, prompt.box)
        keyframes[frame] = labels
    found = {r["object_id"] for r in records}
    for prompt in sorted(prompts.objects, key=lambda o: (o.frame, o.object_id)):
        if prompt.object_id not in found:
            found.add(prompt.object_id)
            mask = keyframes[prompt.frame] == prompt.object_id
            records.append(_object(prompt.object_id, prompt.frame, box=_mask_box(mask)))
    keyframes.objects = sorted(records, key=lambda o: o["object_id"])
    return keyframes


def _objects_of(keyframes: dict[int, np.ndarray]) -> list[dict]:
    """Records for label maps that came without any (a caller's own masks): every id, clicked."""
    records = {}
    for frame in sorted(keyframes):
        for k in np.unique(keyframes[frame][keyframes[frame] > 0]):
            if int(k) not in records:
                records[int(k)] = _object(int(k), frame, box=_mask_box(keyframes[frame] == k))
    return [records[k] for k in sorted(records)]


class Prompted(NamedTuple):
    """The prompted frames' label maps and the backends that made them (tracking re-uses them)."""

    keyframes: Keyframes
    segmenter: object
    detector: object | None


def segment_prompts(source: FrameSource, prompts: Prompts, settings: Settings) -> Prompted:
    """Build the backends the prompts need and segment the prompted frames.

    The detector is built first: a text prompt without its weights fails before anything else loads.
    """
    detector = backends.make_detector(settings) if prompts.text is not None else None
    segmenter = backends.make_segmenter(settings)
    return Prompted(segment_keyframes(source, prompts, segmenter, detector=detector), segmenter, detector)


#: Between two keyframes, the frames switch from the forward pass to the backward one elsewhere than halfway only
#: when that makes their summed confidence this much higher (a tracker's confidence is 1.0 on frames it has no
#: doubt about, and well under 0.9 on one it doubts).
CLEARLY_SURER = 0.1


def _switch(forward: list, backward: list, halfway: int) -> int:
    """Where the frames between two keyframes switch from the forward pass to the backward one: how many of them
    keep the forward pass's mask. ``forward`` and ``backward`` are the two passes' confidences on those frames,
    in order; ``halfway`` is the switch by nearness alone, kept when a confidence is missing or no other switch
    is surer by ``CLEARLY_SURER``."""
    if None in forward or None in backward:
        return halfway
    # summed[s]: the confidence summed over the frames, the first s kept forward and the rest backward
    summed = np.concatenate([[0.0], np.cumsum(forward)]) + np.concatenate(
        [np.cumsum(backward[::-1])[::-1], [0.0]]
    )
    best = int(np.argmax(summed))
    return best if summed[best] >= summed[halfway] + CLEARLY_SURER else halfway


#: A mask tracked back into the frames an object was gone from is kept down to this confidence: under it, the
#: tracker itself would look elsewhere for the object (the flow tracker's ``redetect_below``). A frame flagged for
#: the editor (``LOW_CONFIDENCE``) may still be right, and the frame left empty is surely wrong where the object
#: shows: a badge's sliver coming back in by the frame's edge, tracked back from where it was found, was held at
#: 0.42 (the flow explains a blurred edge poorly) and left unmasked.
RETURN_DOUBT = 0.35


def _doubtful(scores) -> list[int]:
    """``check_frames``: the frames of ``(frame, confidence)`` pairs scored below LOW_CONFIDENCE (None: no
    score, no doubt)."""
    return [i for i, c in scores if c is not None and c < LOW_CONFIDENCE]


# -- track ------------------------------------------------------------------------------------------------


def _with_kept(keyframes: dict[int, np.ndarray], keep: dict[int, np.ndarray], used: set[int]):
    """The keyframes with the kept objects painted where they are background, and the ids they took.

    Each nonzero value of ``keep[frame]`` is one kept object; it takes the highest id no object uses
    (new objects take the lowest), so the 8-bit label maps hold both.
    """
    free = (k for k in range(MAX_OBJECT_ID, 0, -1) if k not in used)
    merged, kept = dict(keyframes), set()
    for frame in sorted(keep):
        labels = merged[frame].copy()
        for value in np.unique(keep[frame][keep[frame] > 0]):
            object_id = next(free, None)
            if object_id is None:
                raise InputError(
                    f"more than {MAX_OBJECT_ID} objects and kept objects: keep fewer or drop some objects"
                )
            kept.add(object_id)
            labels[(keep[frame] == value) & (labels == 0)] = object_id
        merged[frame] = labels
    return merged, kept


def _check_keep(keep: dict[int, np.ndarray], keyframes, width: int, height: int) -> None:
    for frame, labels in keep.items():
        if frame not in keyframes:
            raise InputError(
                f"kept objects on frame {frame}: it is no keyframe (keep the text frame's drops)"
            )
        if labels.shape != (height, width):
            raise InputError(
                f"kept objects on frame {frame}: mask is {labels.shape[1]}x{labels.shape[0]}, "
                f"the video is {width}x{height}"
            )


def _edit_masks(masks_dir: Path, frames, cancel, edit) -> None:
    """Each of ``frames`` (index, image) has its label map read, handed to ``edit(index, image, labels)`` to change
    in place, and written back where ``edit`` says it changed it."""
    for index, image in frames:
        check_cancel(cancel)
        path = masks_dir / frame_name(index)
        labels = read_mask(path)
        if edit(index, image, labels):
            write_png(path, labels)


def _strip(masks_dir: Path, ids: set[int], start: int, stop: int, cancel) -> None:
    """Kept objects are tracked so that re-detection sees them, but nothing is painted there: zero them."""
    ids = np.array(sorted(ids), np.uint8)

    def zeroed(index, image, labels) -> bool:
        kept = np.isin(labels, ids)
        labels[kept] = 0
        return bool(kept.any())

    _edit_masks(masks_dir, ((index, None) for index in range(start, stop)), cancel, zeroed)


def _add_shadows(source, masks_dir: Path, shadows: dict, start: int, stop: int, cancel) -> None:
    """Each object whose keyframe box held its cast shadow gets it on every frame, where the mask is background:
    looked for where it lay on the nearest keyframe that says whether it has one (``segment.shadow``)."""
    if not any(shadows.values()):
        return
    said = {}  # object id -> its keyframes with a box
    for frame, k in shadows:
        said.setdefault(k, []).append(frame)

    def shaded(index, image, labels) -> bool:
        changed = False
        for k, keys in said.items():
            span = shadows[min(keys, key=lambda f: (abs(f - index), f)), k]
            mask = labels == k
            region = span.region(mask) if span is not None else None
            if region is None:
                continue
            shadow = find_shadow(image, mask, region) & (labels == 0)
            if shadow.any():
                labels[shadow] = k
                changed = True
        return changed

    with closing(read_ahead(source.frames(start, stop))) as frames:
        _edit_masks(masks_dir, frames, cancel, shaded)


def _ids(labels: np.ndarray) -> set[int]:
    """The object ids a label map shows (a histogram: a sort of a 1080p map takes 25 times as long)."""
    if labels.dtype != np.uint8:
        return {int(k) for k in np.unique(labels)} - {0}
    counts = cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel()
    return {int(k) for k in np.flatnonzero(counts)} - {0}


#: A corrected keyframe's cut gives way to the tracked mask where the tracked mask spans the box the editor drew
#: by this much more (the IoU of each mask's bounding box with it).
CLEARLY_BETTER_FIT = 0.15


def _by_frame(prompts: dict) -> dict[int, dict[int, ObjectPrompt]]:
    """``Keyframes.prompts`` as ``{frame: {object_id: prompt}}``."""
    frames = {}
    for (frame, object_id), prompt in prompts.items():
        frames.setdefault(frame, {})[object_id] = prompt
    return frames


def _merge_keyframe(
    tracked: np.ndarray, keyframe: np.ndarray, prompts: dict, scores=(None, {})
) -> np.ndarray:
    """A corrected keyframe wins for the objects it names, the other objects keep their tracked masks; unless the
    cut clearly falls short of the box the editor drew on that frame while the tracked mask spans it, holds the
    clicks, and the tracker had no doubt of it (``_kept_over_the_cut``). ``prompts``: ``Keyframes.prompts`` of
    this frame, by object id; ``scores``: the tracker's confidence in its masks there, overall and by object
    (as ``_track_into`` keeps them)."""
    overall, by_object = scores
    merged = tracked.copy()
    for k in np.unique(keyframe[keyframe > 0]):
        cut, prompt, sure = keyframe == k, prompts.get(int(k)), by_object.get(int(k), overall)
        doubted = sure is None or sure < LOW_CONFIDENCE
        if prompt is not None and not doubted and _kept_over_the_cut(tracked == k, cut, prompt):
            continue
        merged[merged == k] = 0
        merged[cut] = k
    return merged


def _kept_over_the_cut(tracked: np.ndarray, cut: np.ndarray, prompt: ObjectPrompt) -> bool:
    """Whether a tracked mask says what the editor's box and clicks say clearly better than the keyframe's cut.

    A box is drawn around all of an object. A cut that spans a part of the box is a part of the object (a
    classical cut of a group of walkers took two girls of it, J 0.53 where the tracked mask had 0.70); a tracked
    mask that spans the box and holds the clicks is then nearer the object. A cut that spans the box wins as
    before, however the masks differ inside it: that is what a click there corrects."""
    if prompt.box is None or not tracked.any():
        return False
    height, width = tracked.shape
    for point in prompt.points:
        x, y = min(int(point.x), width - 1), min(int(point.y), height - 1)
        if tracked[y, x] != (point.label == 1):
            return False
    return _box_fit(tracked, prompt.box) >= _box_fit(cut, prompt.box) + CLEARLY_BETTER_FIT


def _box_fit(mask: np.ndarray, box) -> float:
    """The IoU of a mask's bounding box with a prompt's box (inclusive pixel corners); 0 for an empty mask."""
    found = bounding_box(mask)
    return 0.0 if found is None else box_iou(found, (box[0], box[1], box[2] + 1, box[3] + 1))


def _add_alone(
    source, tracker, frame: int, mask, object_id: int, frames, masks_dir: Path, cancel, feed=None, doubt=None
):
    """Track one object alone from its ``mask`` on ``frame`` of ``source`` over ``frames`` (``(index, image)``
    pairs), adding it to the written masks where they are background; stop where its mask vanishes, or, with
    ``doubt``, where the tracker is less sure of it than that. ``feed(index)`` is called before the tracker is
    given each frame (its motion map). Yields each frame added to and the tracker's confidence in the object
    there (None: it cannot tell)."""
    if feed is not None:
        feed(frame)
    tracker.reset(source.read(frame), mask.astype(np.uint8) * object_id)
    with closing(frames):
        for index, image in frames:
            check_cancel(cancel)
            if feed is not None:
                feed(index)
            found = tracker.step(image) == object_id
            sure = tracker.confidences.get(object_id, tracker.confidence)
            if not found.any() or (doubt is not None and sure is not None and sure < doubt):
                return
            path = masks_dir / frame_name(index)
            written = read_mask(path)
            written[found & (written == 0)] = object_id
            write_png(path, written)
            yield index, sure


class _Redetect:
    """Objects that enter later (SAM-Track): the detector looks again every ``detect_every`` frames.

    A detection is a new object when at least ``NEW_FRACTION`` of its mask (the segmenter's answer
    to its box) lies on background; it takes the lowest free id, joins the tracked labels where they
    are background, and is remembered so that, once the main passes are done, it is also tracked the
    other way over the frames since the previous detection.
    """

    #: A detection whose mask lies this much on background is an object not tracked yet (SAM-Track's 0.8).
    NEW_FRACTION = 0.8

    def __init__(
        self, text: TextPrompt, detector, segmenter, objects: list[dict], kept: set[int] = frozenset()
    ):
        self.text = text
        self.detector = detector
        self.segmenter = segmenter
        self.objects = objects
        self.used = {o["object_id"] for o in objects} | set(kept)  # a new object takes none of these
        self.found: list[tuple[int, int, np.ndarray, int]] = []  # (frame, id, mask, direction it was met)
        self.full_said = False

    def due(self, index: int) -> bool:
        every = self.text.detect_every
        return index != self.text.frame and (index - self.text.frame) % every == 0

    def add_new(self, index: int, image: np.ndarray, labels: np.ndarray, direction: int) -> np.ndarray:
        """``labels`` with the objects the detector finds on this frame and no tracked object covers (the
        same array when there are none)."""
        detections = self.detector.detect(image, self.text)
        if not detections:
            return labels
        key = ("redetect", index)
        self.segmenter.set_image(key, image)
        tracked, labels = labels, labels.copy()
        for d in detections:  # best first: a weaker duplicate then lies on the stronger one's mask
            mask = self.segmenter.predict(key, ObjectPrompt(index, box=d.box))
            if not mask.any() or (labels[mask] == 0).mean() < self.NEW_FRACTION:
                continue
            object_id = next(_free_ids(self.used), None)
            if object_id is None:
                if not self.full_said:
                    self.full_said = True
                    log.warning("frame %d: %d objects already, no id left for more", index, MAX_OBJECT_ID)
                break
            self.used.add(object_id)
            mask &= labels == 0
            labels[mask] = object_id
            self.objects.append(_object(object_id, index, d.phrase, d.score, d.box))
            self.found.append((index, object_id, mask, direction))
            log.info("frame %d: new object %d (%r, %.2f)", index, object_id, d.phrase, d.score)
        return labels if (labels != tracked).any() else tracked

    def track_back(self, source, tracker, masks_dir: Path, start: int, stop: int, cancel) -> None:
        """Each new object, tracked alone the other way from its frame over the frames since the previous
        detection (stopping where its mask vanishes), merged into the written masks where they are background."""
        every = self.text.detect_every
        for frame, object_id, mask, direction in self.found:
            if direction > 0:  # met going forward: go back to just after the previous detection
                frames = source.frames_reversed(max(start, frame - every + 1), frame)
            else:
                frames = source.frames(frame + 1, min(stop, frame + every))
            for _ in _add_alone(source, tracker, frame, mask, object_id, frames, masks_dir, cancel):
                pass


class _SceneMaps:
    """What moves against the scene on each frame of the range (``segment.motion.scene_motion``), made when the
    tracker first asks for one: the frames are read once more from the range's start, by a reader of the
    video's own (the tracking's stays where it is), up to the frame asked for. Kept small in the scratch
    folder for the passes that come back over them. A shot whose objects keep their shape (a badge) never
    asks, and costs nothing."""

    def __init__(self, source: FrameSource, start: int, stop: int, folder: Path, cancel):
        self.source, self.start, self.stop, self.folder, self.cancel = source, start, stop, folder, cancel
        self._reader: FrameSource | None = None
        self._made = None
        self._next = start

    def at(self, index: int) -> np.ndarray | None:
        """Frame ``index``'s motion map at the frame's size (uint8), or None where none could be made."""
        if self._made is None:
            self.folder.mkdir(exist_ok=True)
            # A video file decodes forward from where it is; a folder of images or frames in memory are read
            # where they are asked for.
            self._reader = open_video(self.source.path) if isinstance(self.source, VideoFile) else None
            self._made = scene_motion(self._reader or self.source, self.start, self.stop)
        while self._next <= index:
            check_cancel(self.cancel)
            made, moving = next(self._made)
            if moving is not None:
                write_png(self.folder / frame_name(made), moving)
            self._next = made + 1
        path = self.folder / frame_name(index)
        if not path.exists():
            return None
        size = (self.source.width, self.source.height)
        return cv2.resize(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), size, interpolation=cv2.INTER_LINEAR)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _track_into(
    source,
    keyframes,
    tracker,
    masks_dir: Path,
    start,
    stop,
    progress,
    cancel,
    redetect: _Redetect | None = None,
    kept: set[int] | frozenset[int] = frozenset(),
    maps: _SceneMaps | None = None,
    spare: Path | None = None,
    prompts: dict[int, dict[int, ObjectPrompt]] | None = None,
) -> tuple[dict[int, float | None], dict[int, dict[int, float]]]:
    """Every frame of the range gets its mask from a keyframe: the nearest in time, unless the pass from the
    other one is clearly surer of the frames between.

    Forward from the first keyframe to the end, re-seeding at each later keyframe; backward
    from the first keyframe to the start; then backward from each later keyframe over the
    frames that are nearer to it than to the keyframe before it, overwriting what the
    forward pass wrote there. A tracker that gives its confidence is run back over all the frames to the
    keyframe before (its masks kept in ``spare``, a scratch folder), and the frames between switch from the
    forward pass to the backward one where their summed confidence is highest, when that beats switching
    halfway by ``CLEARLY_SURER`` (``_switch``): a corrected keyframe whose cut took a piece of the wall beside a
    player carried it both ways, and lost him on the frames before it that the pass from the keyframe before
    had right (J 0.00-0.55 against 0.57-0.67 on 7 frames, each of which the wrong pass was unsure of). One
    switch, not the surer pass frame by frame: two passes' masks taken in turns would flicker. Each pass back
    from a later keyframe starts with what the tracker had learnt about the objects when the forward pass met
    that keyframe (``Tracker.traits``), not at the shot's end: a group of walkers became one that follows what
    moves only on frame 52 of 60, and the passes back from frames 15 and 30, made so from their first frame,
    lost the members that stood still (J 0.45-0.55 against the forward passes' 0.69-0.79). One frame per
    direction is held at a time. With ``redetect``, the first two passes look for new objects on its frames,
    which are then tracked back. Last, each object found again after frames without it is tracked back into
    them (``track_returns``). With ``maps``, the tracker is offered each frame's motion map before it is
    given the frame. ``prompts`` (by frame, then object id) are those the keyframes were cut from: a later
    keyframe's cut that falls short of its box gives way to a tracked mask that spans it (``_merge_keyframe``).
    Returns each frame's confidence as the tracker gave it for the mask written (None: it cannot tell),
    and each object's where the tracker tells them apart ({} on a keyframe), both over the objects painted
    out: the ``kept`` ids are tracked, never painted, so their doubts do not count.
    """
    keys = sorted(keyframes)
    prompts = prompts or {}
    # with the tracker's confidence, run back over all the frames between two keyframes, and choose
    choose = tracker.gives_confidence and spare is not None
    back_from_later = [
        (k, before + 1 if choose else (before + k) // 2 + 1, (before + k) // 2 + 1)
        for before, k in zip(keys, keys[1:], strict=False)
    ]
    total = (stop - start) + sum(k - lo for k, lo, _ in back_from_later)
    done = 0

    def feed(index: int) -> None:
        """Offer the tracker what moves on frame ``index`` (made if it asks), before it is given that frame."""
        if maps is not None:
            tracker.set_motion(lambda: maps.at(index))

    confidence, by_object = {}, {}
    sure = (1.0, {})  # a keyframe's

    def doubts() -> tuple[float | None, dict[int, float]]:
        per_object = {k: c for k, c in tracker.confidences.items() if k not in kept}
        if tracker.confidences:
            return min(per_object.values(), default=1.0), per_object
        return tracker.confidence, {}

    shows = {masks_dir: {}, spare: {}}  # folder -> frame -> the ids its mask shows (for track_returns)

    def emit(index, labels, scores, folder=masks_dir):
        nonlocal done
        check_cancel(cancel)
        writer.put(index, labels, folder)
        shows[folder][index] = _ids(labels)
        if folder == masks_dir:
            confidence[index], by_object[index] = scores
        done += 1
        report_progress(progress, "track", done, total)

    def look_again(index, image, labels, direction):
        """The labels with any new object found on this frame, and the tracker told of them."""
        if redetect is None or not redetect.due(index):
            return labels
        found = redetect.add_new(index, image, labels, direction)
        if found is not labels:
            feed(index)
            tracker.correct(image, found)
        return found

    def backward(
        keyframe: int, labels: np.ndarray, lo: int, detect: bool = False, folder=masks_dir, traits=None
    ) -> dict:
        """Track back from ``keyframe`` to ``lo`` into ``folder``; each frame's scores, by frame. ``traits``: what
        the tracker had learnt about the objects when the forward pass met this keyframe (see ``_track_into``)."""
        feed(keyframe)
        tracker.restart(source.read(keyframe), labels, traits)  # the objects the forward pass tracked
        scored = {}
        with closing(read_ahead(source.frames_reversed(lo, keyframe))) as frames:
            for index, image in frames:
                feed(index)
                labels = tracker.step(image)
                scored[index] = doubts()
                if detect:
                    labels = look_again(index, image, labels, -1)
                emit(index, labels, scored[index], folder)
        return scored

    def track_returns() -> None:
        """Each object that came back after frames without it, tracked from where it was found again into those
        frames, the other way in time from the pass that lost it, stopping where it vanishes or the tracker
        doubts it (``RETURN_DOUBT``: a guess in the wrong place, where the pass that lost it judged it gone); added
        to the written masks where they are background. A badge coming back into the picture was found once a third
        of it showed, and the frame before, with less of it in, kept it unpainted: a composite's gain over Telea was
        -6.5 dB with that one frame so, -1.0 with it masked."""
        present = shows[masks_dir]
        for object_id in sorted(set().union(*present.values()) - set(kept)):
            shown = [index for index in range(start, stop) if object_id in present.get(index, ())]
            for before, after in zip(shown, shown[1:], strict=False):
                if after - before < 2:
                    continue
                # the pass through the gap went forward after the first keyframe, backward before it
                found, frames = (
                    (after, source.frames_reversed(before + 1, after))
                    if after > keys[0]
                    else (before, source.frames(before + 1, after))
                )
                mask = read_mask(masks_dir / frame_name(found)) == object_id
                added = _add_alone(
                    source, tracker, found, mask, object_id, frames, masks_dir, cancel, feed, RETURN_DOUBT
                )
                for index, sure in added:
                    if object_id in tracker.confidences:
                        by_object[index][object_id] = sure
                        confidence[index] = min(by_object[index].values())

    # the masks are encoded and written on a thread of their own while the tracker works on the next frame;
    # ``writer.finish()`` waits for them where they are read back
    writer = OutputWriter(masks_dir, None)
    try:
        first = keys[0]
        # the frames are decoded ahead while the tracker works (a quarter faster at 854x480); closed, the reading
        # thread is done before anything else reads the source
        with closing(read_ahead(source.frames(first, stop))) as frames:
            _, image = next(frames)
            labels = keyframes[first]
            feed(first)
            tracker.reset(image, labels)
            emit(first, labels, sure)
            # each later keyframe's labels, and what the tracker had learnt about the objects there
            seeded = {}
            for index, image in frames:
                feed(index)
                labels = tracker.step(image)
                scores = doubts()
                if index in keyframes:
                    labels = _merge_keyframe(labels, keyframes[index], prompts.get(index, {}), scores)
                    feed(index)
                    tracker.correct(image, labels)
                    seeded[index] = labels, tracker.traits()
                    scores = sure
                labels = look_again(index, image, labels, +1)
                emit(index, labels, scores)
        if first > start:
            backward(first, keyframes[first], start, detect=True)
        for keyframe, lo, halfway in back_from_later:
            labels, traits = seeded[keyframe]
            if lo == halfway:  # no choice: the frames nearer this keyframe are its pass's
                if lo < keyframe:
                    backward(keyframe, labels, lo, traits=traits)
                continue
            scored = backward(keyframe, labels, lo, folder=spare, traits=traits)
            between = range(lo, keyframe)
            writer.finish()  # the spare pass's masks are moved into place
            switch = _switch([confidence[i] for i in between], [scored[i][0] for i in between], halfway - lo)
            for index in range(lo + switch, keyframe):
                (spare / frame_name(index)).replace(masks_dir / frame_name(index))
                shows[masks_dir][index] = shows[spare][index]
                confidence[index], by_object[index] = scored[index]
        if redetect is not None:
            writer.finish()  # the masks are read back and added to
            redetect.track_back(source, tracker, masks_dir, start, stop, cancel)
        writer.finish()
        track_returns()
    finally:
        writer.close()
    return confidence, by_object


def track(
    source,
    keyframes: dict[int, np.ndarray],
    settings: Settings,
    out_dir,
    *,
    frame_range=None,
    progress: Progress | None = None,
    cancel=None,
    tracker=None,
    text: TextPrompt | None = None,
    detector=None,
    segmenter=None,
    keep: dict[int, np.ndarray] | None = None,
) -> dict:
    """Propagate keyframe label maps over ``frame_range``; writes ``out_dir/masks/%06d.png`` and ``track.json``.

    ``track.json`` (also returned) holds each frame's confidence and ``check_frames``, the frames
    whose mask is likely wrong: where one corrective click on a keyframe helps most; and ``objects``,
    what each id is (``keyframes.objects`` when ``segment_keyframes`` made them, plus the objects found
    later; see ``Keyframes``), each with its own ``check_frames`` (None where the tracker cannot tell
    its objects apart), so the editor knows which object to click again.

    Objects that appear later: pass the text prompt as ``text`` with ``text.detect_every`` = N > 0 and
    the detector looks again every N frames from ``text.frame`` (both ways); a detection no tracked
    object covers becomes a new object from that frame on, tracked forward with the others and back
    over the N - 1 frames before it (stopping where it vanishes), merged into the masks only where
    they are background. ``detector`` and ``segmenter`` (which turns a found box into a mask) default
    to ``backends.make_detector(settings)`` and ``backends.make_segmenter(settings)``. A ``text`` with
    ``detect_every`` 0 (or no ``text``) tracks the keyframes' objects only.

    An object the tracker lost and found again (back into the picture, out from behind something) is tracked
    back from where it was found into the frames it was missing from, filling only background there.

    Objects the user chose to keep in the picture (boxes found and dropped): ``keep`` maps a keyframe to
    a label map whose nonzero values are kept objects (e.g. the segmenter's mask of each dropped box on
    the text frame). They are tracked with the others, so re-detection finds them covered and never
    adds them as new objects, but they are zeroed in every written mask and are not in ``objects``.
    """
    out_dir = Path(out_dir)
    with open_source(source) as src:
        start, stop = frame_range_of(src, frame_range)
        if not keyframes:
            raise InputError("no keyframes to track from")
        outside = [k for k in keyframes if not start <= k < stop]
        if outside:
            raise InputError(f"keyframe {outside[0]} is outside the frame range {start}..{stop}")
        for k, labels in keyframes.items():
            if labels.shape != (src.height, src.width):
                raise InputError(
                    f"keyframe {k} mask is {labels.shape[1]}x{labels.shape[0]}, "
                    f"the video is {src.width}x{src.height}"
                )
        objects = [dict(o) for o in getattr(keyframes, "objects", None) or _objects_of(keyframes)]
        seeds, kept = keyframes, set()
        if keep:
            _check_keep(keep, keyframes, src.width, src.height)
            used = {o["object_id"] for o in objects}
            for labels in keyframes.values():
                used.update(int(k) for k in np.unique(labels[labels > 0]))
            seeds, kept = _with_kept(keyframes, keep, used)
        redetect = None
        if text is not None and text.detect_every > 0:
            redetect = _Redetect(
                text,
                detector or backends.make_detector(settings),
                segmenter or backends.make_segmenter(settings),
                objects,
                kept,
            )
        tracker = tracker or backends.make_tracker(settings)
        t0 = time.perf_counter()
        with (
            staged(out_dir, ["masks", "track.json"]) as scratch,
            _SceneMaps(src, start, stop, scratch / "motion", cancel) as maps,
        ):
            (scratch / "masks").mkdir()
            (scratch / "back").mkdir()
            confidence, by_object = _track_into(
                src,
                seeds,
                tracker,
                scratch / "masks",
                start,
                stop,
                progress,
                cancel,
                redetect,
                kept,
                maps if tracker.uses_motion else None,
                spare=scratch / "back",
                prompts=_by_frame(getattr(keyframes, "prompts", {})),
            )
            if kept:
                _strip(scratch / "masks", kept, start, stop, cancel)
            _add_shadows(src, scratch / "masks", getattr(keyframes, "shadows", {}), start, stop, cancel)
            scores = [confidence[i] for i in range(start, stop)]
            tells_objects_apart = any(by_object.values())
            for o in objects:  # which object to click again where: the same test, object by object
                o["check_frames"] = (
                    _doubtful((i, by_object[i].get(o["object_id"])) for i in range(start, stop))
                    if tells_objects_apart
                    else None
                )
            report = {
                "stage": "track",
                "backend": backends.describe(tracker),
                "frames": stop - start,
                "range": [start, stop],
                "seconds": time.perf_counter() - t0,
                "masks": str(out_dir / "masks"),
                "keyframes": sorted(keyframes),
                "objects": sorted(objects, key=lambda o: o["object_id"]),
                "confidence": scores,
                "check_frames": _doubtful(zip(range(start, stop), scores, strict=True)),
            }
            if text is not None:
                report["text"] = text.to_dict()
            (scratch / "track.json").write_text(json.dumps(report, indent=2))
    return report
