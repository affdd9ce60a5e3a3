"""What moves against the scene on a frame: a cue for cutting out a moving object with no weights.

A loose box around a person is mostly court and wall, and a colour cut (GrabCut) takes whatever in it
looks unlike the ground outside the box: a sunlit wall beside a tennis player, the trees behind a rider.
The video says more than the frame: the person moves, the wall does not. The frames around the prompted
one are laid onto it by the camera's motion (a homography fitted to tracked corners: a pan, a zoom, a
still camera), and their per-pixel median is the scene without what moves through it; the prompted
frame's difference from that median is large on the moving object and small on the still scene.

A badge or logo that slides slowly over a flat colour shows motion only along its edges and letters (its
inside matches itself in the neighbouring frames): so the cue is used only where a good part of the cut
moves (``MIN_MOVING``), and then it only takes away what lies well clear of anything that moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

import cv2
import numpy as np

from .. import crops
from ..masks import ellipse, fill_holes
from ..video import FrameSource

#: Frames apart of the neighbours read around the prompted frame, nearest first (clamped to the clip):
#: far enough for a walking person to leave most of their place, near enough for one homography to
#: hold the scene.
STEP, COUNT = 3, 6
#: The motion map is made at most this many pixels across (then scaled back up): the cut works on a
#: crop of about this size anyway.
WORK_SIDE = 640
#: A pixel moves when it differs from the scene's median by this many grey levels and three times the
#: box's median difference (parallax and noise raise the whole map, not just the object).
MIN_STEP, OVER_MEDIAN = 20.0, 3.0
#: The share of a cut that must move for the cue to count (the eval's tennis player: 0.31-0.73 of his cuts
#: on frames 0, 15, 30 and 45; a badge sliding over its ground: 0.00-0.09 on the eval's 5 and 15 generated
#: insert and attach cases).
MIN_MOVING = 0.25
#: How far past what moves the cut is kept, as a share of the box's longer side (the still parts of a
#: person, a shadow's start, the blur around a fast limb).
REACH = 0.05


def neighbour_indices(index: int, frame_count: int) -> list[int]:
    """The frames read around ``index``: ``STEP`` apart on both sides, nearest first, within the clip."""
    nearest_first = (
        j
        for d in range(STEP, frame_count + STEP, STEP)
        for j in (index + d, index - d)
        if 0 <= j < frame_count
    )
    return list(islice(nearest_first, COUNT))


def offer_neighbours(segmenter, key, source: FrameSource, index: int) -> None:
    """Hand ``segmenter`` the frames around frame ``index`` of ``source``, read only if the segmenter uses
    them (see ``Segmenter.set_neighbours``): in one pass over the span they cover, as decoding a video
    forward is far cheaper than seeking to each (1080p: 7 reads by seeking took 1.3 s)."""
    if segmenter.uses_neighbours:
        segmenter.set_neighbours(key, lambda: _read(source, neighbour_indices(index, source.frame_count)))


def _read(source: FrameSource, indices: list[int]) -> list[np.ndarray]:
    if not indices:
        return []
    wanted = set(indices)
    return [image for i, image in source.frames(min(indices), max(indices) + 1) if i in wanted]


def motion_map(image: np.ndarray, neighbours: Sequence[np.ndarray]) -> np.ndarray | None:
    """How far each pixel of ``image`` is from the scene behind it (grey levels, HxW float32), or None
    when fewer than two neighbours could be laid onto it."""
    h, w = image.shape[:2]
    _, work = crops.fit(w, h, WORK_SIDE)
    here = crops.resize(image, work)
    grey = cv2.cvtColor(here, cv2.COLOR_RGB2GRAY)
    corners = cv2.goodFeaturesToTrack(grey, 800, 0.01, 6)
    if corners is None or len(corners) < 12:
        return None
    laid = []
    for other in neighbours:
        other = crops.resize(other, work)
        moved, found, _ = cv2.calcOpticalFlowPyrLK(
            grey, cv2.cvtColor(other, cv2.COLOR_RGB2GRAY), corners, None, winSize=(21, 21), maxLevel=3
        )
        ok = found.ravel() == 1
        if ok.sum() < 12:
            continue
        homography, _ = cv2.findHomography(moved[ok], corners[ok], cv2.RANSAC, 2.0)
        if homography is not None:
            laid.append(cv2.warpPerspective(other, homography, work, borderMode=cv2.BORDER_REFLECT))
    if len(laid) < 2:
        return None
    scene = np.median(np.stack(laid), axis=0).astype(np.uint8)
    blur = (5, 5)
    difference = np.abs(
        cv2.GaussianBlur(here, blur, 0).astype(np.int16) - cv2.GaussianBlur(scene, blur, 0).astype(np.int16)
    ).max(axis=2)
    return cv2.resize(difference.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def near_what_moves(
    cut: np.ndarray, motion: np.ndarray, box: tuple[int, int, int, int], clicks: Sequence[tuple[int, int]]
) -> np.ndarray | None:
    """The part of ``cut`` within reach of what moves in ``box``, holes filled; None when too little of the
    cut moves for the cue to count (``MIN_MOVING``), or when a click (x, y) on the object is not within
    reach of what moves: then what moves is not the object (an object filling the frame, which the
    camera follows, is what the scene's motion is fitted to, and the ground moves); and None when most of
    the box moves (a tight box around a moving badge: there is no still ground in it to let go of, and the
    badge's flat inside, which moves over itself, shows no motion)."""
    x0, y0, x1, y1 = box
    inside = np.zeros(cut.shape, bool)
    inside[y0:y1, x0:x1] = True
    if not inside.any() or not cut.any():
        return None
    typical = float(np.median(motion[inside]))
    if typical >= MIN_STEP:  # most of the box moves: a tight box around what moves holds no still ground
        return None
    moving = inside & (motion > max(MIN_STEP, OVER_MEDIAN * typical))
    if (moving & cut).sum() < MIN_MOVING * cut.sum():
        return None
    near = cv2.dilate(moving.astype(np.uint8), ellipse(max(2, round(REACH * max(x1 - x0, y1 - y0)))))
    h, w = cut.shape
    if not all(near[min(max(y, 0), h - 1), min(max(x, 0), w - 1)] for x, y in clicks):
        return None
    kept = (cut & (near > 0)).astype(np.uint8)
    return fill_holes(kept).astype(bool)
