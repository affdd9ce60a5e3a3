"""Cast shadows: the patch of ground an object darkens, taken with the object when the prompt's box covers it.

Painting out a player and leaving his shadow on the court leaves a shadow that nothing casts. A cast shadow
is the ground the object stands on, only darker: the hue and saturation of the ground at the object's foot,
a lower lightness than the ground around it, and it touches the object where the object meets the ground
(its lowest part). Neither a colour model of the object (the cut, the tracker) nor one of the background
takes it: it has the ground's colours, a little darker.

Whether the shadow is wanted is the user's to say, with the box: a shadow is looked for only within a prompt's
box, and kept only when it is a real part of what the box holds (``MIN_SHARE`` of the object). On the frames a
tracker fills in, it is looked for again where it lay on that keyframe relative to the object (``ShadowSpan``):
a tracker follows the object's colours, not a patch of ground that moves with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..masks import bounding_box

#: The object meets the ground along its lowest fifth: a shadow touches it there.
FOOT = 0.2
#: A shadow's lightness is below this share of the ground's around it (LAB L, the ground's mean over a window
#: half the object's height, the object left out). Whether an object casts one at all is judged more strictly
#: (``find_shadow``'s ``strict``): further below it than the ground near the object's foot strays from it by
#: itself (a standard deviation), since on a facade of dark windows between light walls, as along a badge's own
#: dark edge, a darker patch is the ground's texture, not a shadow.
DARKER = 0.92
#: ... and its a and b (LAB) within this of the ground's at the object's foot: the same ground, darker.
SAME_GROUND = 10.0
#: Only on coloured ground (its a, b this far from grey, in LAB): there the ground's hue marks a patch of it,
#: darker, as its shadow; on grey ground (asphalt, a facade) a darker grey patch may as well be a window or the
#: object's own dark edge, so none is looked for. Without this, 16 of 112 badges composited on 14 clips were
#: given a shadow, on ground 1 to 17 from grey; the clay court under real-tennis's player is 45.
COLOURED = 25.0
#: A shadow smaller than this share of the object is not worth taking (or is a dark seam of the ground).
MIN_SHARE = 0.1
#: Frames are searched at most this many pixels on their long side: a shadow is large and soft, and the search's
#: few-pixel steps (the closing that joins its pieces, the reach to the foot) then mean the same at any size.
WORK_SIDE = 640


def find_shadow(
    image: np.ndarray, mask: np.ndarray, region: tuple[int, int, int, int], strict: bool = False
) -> np.ndarray:
    """The shadow ``mask``'s object casts on the ground within ``region`` (x0, y0, x1, y1, inclusive) of ``image``
    (RGB): the pixels darker than the ground around them (``DARKER``; with ``strict``, also by more than the
    ground's own spread), of the ground's colours at the object's foot, joined to the object's foot. It may
    overlap the mask, which a cut or a tracker may have stretched over part of it. Empty where none is found."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    scale = WORK_SIDE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small_mask = cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        small_region = tuple(int(round(v * scale)) for v in region)
        found = find_shadow(small_image, small_mask, small_region, strict).view(np.uint8)
        return (cv2.resize(found, (w, h), interpolation=cv2.INTER_NEAREST) > 0) & _within(region, (h, w))
    shadow = np.zeros(mask.shape, bool)
    ys, _ = np.nonzero(mask)
    if not len(ys):
        return shadow
    height = int(ys.max() - ys.min() + 1)
    foot = mask & (np.arange(mask.shape[0])[:, None] >= ys.max() - FOOT * height)
    reach = max(3, int(0.06 * height)) * 2 + 1  # the ring around the foot that shows the ground's colour
    window = max(15, height // 2) | 1  # the ground's lightness around a pixel: its mean over this square
    # Nothing reads further than a window from the region and the foot's ring: work on that crop (the same result as
    # on the whole frame, at a fraction of the cost on a large one)
    fy, fx = np.nonzero(foot)
    x0, y0, x1, y1 = region
    x0, y0 = max(0, min(x0, fx.min() - reach)), max(0, min(y0, fy.min() - reach))
    x1, y1 = min(w - 1, max(x1, fx.max() + reach)), min(h - 1, max(y1, fy.max() + reach))
    crop = slice(max(0, y0 - window), y1 + window + 1), slice(max(0, x0 - window), x1 + window + 1)
    found = _shadow_in(
        image[crop], mask[crop], foot[crop], region, (crop[1].start, crop[0].start), reach, window, strict
    )
    if found is not None:
        shadow[crop] = found
    return shadow


def _shadow_in(image, mask, foot, region, origin, reach, window, strict) -> np.ndarray | None:
    """``find_shadow`` on a crop whose top-left corner is ``origin`` in the frame; None where there is none."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    # the ground at the foot: a ring around the object's lowest part, the object left out
    near_foot = cv2.dilate(foot.view(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    ring = near_foot & ~(cv2.dilate(mask.view(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    if ring.sum() < 20:
        return None
    a, b = np.median(lab[..., 1][ring]), np.median(lab[..., 2][ring])
    if np.hypot(a - 128, b - 128) < COLOURED:  # 8-bit LAB: grey is a = b = 128
        return None
    inside = _within(region, mask.shape, origin)
    lightness, ground = lab[..., 0], (~mask).astype(np.float32)
    around = cv2.blur(lightness * ground, (window, window)) / np.maximum(
        cv2.blur(ground, (window, window)), 1e-3
    )
    relative = lightness / np.maximum(around, 1.0)
    darker = min(DARKER, 1.0 - float(np.std(relative[ring]))) if strict else DARKER
    shadow = (
        inside
        & (relative < darker)
        & (np.abs(lab[..., 1] - a) < SAME_GROUND)
        & (np.abs(lab[..., 2] - b) < SAME_GROUND)
    )
    shadow = cv2.morphologyEx(shadow.view(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    shadow &= inside
    _, parts = cv2.connectedComponents(shadow.view(np.uint8), connectivity=8)
    touching = np.unique(parts[cv2.dilate(foot.view(np.uint8), np.ones((5, 5), np.uint8)) > 0])
    return np.isin(parts, touching[touching > 0])


def _within(region, shape, origin=(0, 0)) -> np.ndarray:
    """The pixels of ``region`` (x0, y0, x1, y1, inclusive, in the frame) on an image of ``shape`` whose top-left
    corner lies at ``origin`` in the frame."""
    x0, y0, x1, y1 = region
    ox, oy = origin
    inside = np.zeros(shape, bool)
    inside[max(0, y0 - oy) : max(0, y1 - oy + 1), max(0, x0 - ox) : max(0, x1 - ox + 1)] = True
    return inside


@dataclass(frozen=True)
class ShadowSpan:
    """Where a shadow lay relative to its object on a keyframe: its box's sides, as offsets from the object's box
    (left from its left, right from its right, top and bottom from its bottom), and the frame edges it ran off."""

    left: int
    right: int
    top: int
    bottom: int
    off_edges: tuple[bool, bool, bool, bool]  # left, top, right, bottom

    @classmethod
    def of(cls, image: np.ndarray, mask: np.ndarray, box) -> ShadowSpan | None:
        """The shadow the prompt's ``box`` holds beside the object ``mask`` (its cut), or None: no box, or no
        shadow worth taking in it."""
        mask = np.asarray(mask, bool)
        if box is None or not mask.any():
            return None
        box = tuple(int(round(v)) for v in box)
        # what the cut took of it counts too: cut from a box over the shadow, the player took part of it
        sure = find_shadow(image, mask, box, strict=True)
        if sure.sum() < MIN_SHARE * (mask & ~sure).sum():
            return None
        ox0, _, ox1, oy1 = bounding_box(mask)  # exclusive ends, as the shadow's
        sx0, sy0, sx1, sy1 = bounding_box(find_shadow(image, mask, box))
        h, w = mask.shape
        return cls(sx0 - ox0, sx1 - ox1, sy0 - oy1, sy1 - oy1, (sx0 == 0, sy0 == 0, sx1 == w, sy1 == h))

    def region(self, mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """Where to look for the shadow of the object ``mask`` on another frame: the span placed on its box, grown
        by a tenth of the object's height, and out to the frame's edges the shadow ran off."""
        box = bounding_box(mask)
        if box is None:
            return None
        ox0, oy0, ox1, oy1 = box  # exclusive ends, as in ``of``; the region's are inclusive
        h, w = mask.shape
        grow = int(0.1 * (oy1 - oy0)) + 4
        x0, y0 = ox0 + self.left - grow, oy1 + self.top - grow
        x1, y1 = ox1 + self.right + grow - 1, oy1 + self.bottom + grow - 1
        left, top, right, bottom = self.off_edges
        return (0 if left else x0, 0 if top else y0, w - 1 if right else x1, h - 1 if bottom else y1)


def with_shadow(image: np.ndarray, mask: np.ndarray, box) -> np.ndarray:
    """The cut ``mask`` with the shadow its prompt's ``box`` holds beside it, if any: what the editor sees after a
    click, as ``track`` will paint it out on that frame."""
    mask = np.asarray(mask, bool)
    span = ShadowSpan.of(image, mask, box)
    return mask if span is None else mask | find_shadow(image, mask, span.region(mask))
