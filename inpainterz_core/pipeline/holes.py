"""What is painted out of a frame: its objects' masks grown over their soft edge, as far as it shows, plus a margin.

An object's edge is rarely one pixel sharp: motion blur, the lens, compression and glow smear it past any mask
drawn on the object (the "RAPHA" letters' blur runs 4-9 px past their tracked mask at 1080p), and a mask may fall
a few pixels short of it; a fill that starts inside that smear or rim reads it as ground and paints it back in. A
fixed growth is too little there and more than needed on a sharp edge, where every pixel added moves the fill's
border farther from what it hides. So each frame's growth is measured: the rings of pixels
around the mask that still change more than the ground farther out are the object's soft edge (``soft_edge``),
and the hole is the mask grown over them and ``Settings.dilate`` px more.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..masks import bounding_box, dilate, padded_box, sides_touched, to_the_frame_edge

#: Rings of pixels looked at around a mask on a frame of 480 lines (in proportion on larger ones); the outer
#: quarter of them is taken for the ground, and the soft edge is at most a quarter of them (``most_soft``): a ground
#: busier near the object than farther out can pass for one, and a hole grown far past a mask already past its object
#: paints out picture the object never touched.
SOFT_REACH = 16
#: A ring is the object's soft edge while its mean change is past SHOWS times the ground's plus NOISE levels
#: (sums over the three channels of the two Sobel derivatives: a step of one grey level scores 12 beside it).
SHOWS, NOISE = 1.5, 2.0
#: A hole this close to a side of the frame its object runs off by is taken to it, however little it was grown: a
#: strip that thin there is more likely the object's rim, masked short, than ground (``masks.to_the_frame_edge``).
EDGE_REACH = 4
#: Flat rings of the object's inside that may lie between the mask and a rim of it that shows (a mask short of it).
GAP = 3


def soft_reach(width: int, height: int) -> int:
    """The rings looked at around a mask on a frame of this size (SOFT_REACH at 480 lines, in proportion above)."""
    return round(SOFT_REACH * max(1.0, min(width, height) / 480))


def most_soft(reach: int) -> int:
    """The widest soft edge taken, with ``reach`` rings looked at."""
    return reach // 4


def most_grown(width: int, height: int, margin: int) -> int:
    """The largest radius a hole on a frame of this size is grown by (its crop must hold it before it is measured)."""
    return margin + most_soft(soft_reach(width, height))


def soft_edge(frame: np.ndarray, mask: np.ndarray) -> int:
    """How many px past ``mask`` its object still shows on ``frame``; 0 for an empty mask.

    The rings of pixels around the mask are scored by their mean change (colour gradient, summed over the
    channels); the ground's is that of the outer quarter of the rings looked at. Rings that change more than the
    ground show the object: its soft edge, or its rim where the mask falls short of it (flat rings of its inside
    between, up to GAP of them). The gradient of a pixel reads its neighbours, so a sharp edge on the mask's border
    shows on the first ring out: the object reaches one ring short of the last that shows."""
    box = bounding_box(mask)
    if box is None:
        return 0
    h, w = mask.shape
    reach = soft_reach(w, h)
    # the rings looked at and one pixel more, which the Sobel kernel reads
    x0, y0, x1, y1 = padded_box(box, reach + 2, w, h, min_size=0)
    crop = frame[y0:y1, x0:x1].astype(np.float32)
    change = np.zeros(crop.shape[:2], np.float32)
    for channel in cv2.split(crop):
        change += np.abs(cv2.Sobel(channel, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(channel, cv2.CV_32F, 0, 1))
    outside = (~mask[y0:y1, x0:x1]).astype(np.uint8)
    ring = np.rint(cv2.distanceTransform(outside, cv2.DIST_L2, 5)).astype(np.intp).ravel()  # 0 on the mask
    ring[ring > reach] = reach + 1  # farther out: not looked at
    counts = np.bincount(ring, minlength=reach + 2)[1 : reach + 1]  # rings 1 .. reach
    means = np.bincount(ring, change.ravel(), minlength=reach + 2)[1 : reach + 1] / np.maximum(counts, 1)
    outer = slice(reach - reach // 4, reach)
    if not counts[outer].any():  # the frame's edge cut the rings off before the ground
        return 0
    ground = float(np.median(means[outer][counts[outer] > 0]))
    near = slice(0, most_soft(reach) + 1)
    shows = np.flatnonzero((means[near] > SHOWS * ground + NOISE) & (counts[near] > 0))
    gaps = np.diff(np.concatenate([[-1], shows])) - 1  # flat rings before each ring that shows
    reached = shows[: np.argmax(gaps > GAP)] if (gaps > GAP).any() else shows
    # the last ring that shows, by its index (0 for ring 1): how far past the mask the object reaches
    return int(reached[-1]) if len(reached) else 0


def grown(labels: np.ndarray, radius: int) -> np.ndarray:
    """The masks grown by ``radius``; where they run off the picture, taken to the frame's edge wherever the grown
    masks come within ``radius``, and at least EDGE_REACH, of it (``masks.to_the_frame_edge``)."""
    mask = labels > 0
    return to_the_frame_edge(dilate(mask, radius), max(radius, EDGE_REACH), sides_touched(mask, margin=0))


def measured_hole(labels: np.ndarray, frame: np.ndarray, margin: int) -> tuple[np.ndarray, int]:
    """What is painted out of ``frame`` for these label maps, and the radius their masks were grown by: over their
    soft edge and ``margin`` px more."""
    radius = margin + soft_edge(frame, labels > 0)
    return grown(labels, radius), radius
