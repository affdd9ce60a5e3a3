"""Classical tracking: carry the mask along the object's motion, then re-cut it by colour near its edge.

Per object and per frame, on a crop around where the object is expected (its last box moved
by its last velocity), scaled to at most ``work_side`` pixels:

1. Motion. DIS optical flow from the new frame back to the previous one, on grey (plus the
   object's colour step where grey hardly shows it: a red square as light as its ground). A similarity
   transform fitted to the flow inside the object warps the previous mask rigidly (a badge
   keeps its shape and does not smear onto the background it slides over); the dense flow
   warps it freely (a person's limbs). The share of the object the rigid fit explains
   decides how much each counts. When it explains less than all of it and the flow leaves the
   object's pixels unexplained, the flow may be the ground's (a fast pan drags it onto a slow
   object): the object's own pixels are then aligned directly (masked ECC; on a frame too blurred
   for it to converge, the object's last move stands in), and that warp is used when it reproduces
   the object better. The result is a soft prior, trusted only where the warp of the previous
   frame reproduces the new one (not on the ground a moving object uncovers).
2. Appearance, anchored and local. The object's colours are learnt once, on the keyframe,
   against its surroundings, which are re-learnt a little every frame (a white wall the white
   logo is about to cross is background by the time they touch). Local colour models along
   the edge, learnt on the previous frame carried by the flow (as Video SnapCut's windows),
   tell apart object and background that share colours elsewhere.
3. Re-segmentation. In a band around the prior's edge the three are summed as log-odds; the
   mask keeps only the pieces the prior supports, a mask carried by one rigid warp grows at most
   a pixel or two past it (a blurred edge, not a smear of the object's colours beside it), a piece
   that does not share the motion of a rigidly moving rest is dropped (bits of a person a badge
   passed over), so are specks far from the rest (the object's colours found on blurred ground),
   and a cut whose area jumps away from the prior's falls back to the prior (shape and area
   consistency). An object that has shown itself rigid (its mask, on frames where it had moved,
   turned or scaled, was the keyframe's outline moved, turned and scaled; or, more slowly, on frames
   where it had not: a logo on a parked car) is held to that outline:
   its mask may not reach more than a few per cent of its size past the keyframe's outline fitted
   to it (``_Outline``; the ground a blurred pan or a hand beneath it drags into the mask). The outline
   goes where the object's keyframe look lies when that is clearly better than the fit to the mask: a mask
   creeping along the object a pixel or two a frame (something in its colours coming out from under it)
   pulls the fit along with it, frame after frame, and not the look (not while the frame's edge cuts the mask:
   the look, mostly past the edge, is placed loosely there).
4. Confidence and recovery. Each frame's mask is scored by how well its colours still match the keyframe's
   palette, how well the motion explains it, and how steady its area is, from the frame before and, for an
   object that keeps its shape, against the size it last surely had (not a piece of it, carried on after a
   jump the flow missed); a mask without the object's colours is dropped as hidden or gone. When that score is
   low, the object's look (the keyframe's, and the last one the tracker was sure of, upright and turned) is
   searched for over the whole frame and, when found clearly, that mask is put there (re-detection after an
   occlusion or a jump); so too for a sure mask a step short of that size, replaced only by a clearer find. An
   object that slid out of the picture is searched for (upright) on every frame it stays gone, so it is found
   again when it comes back; and so is the part of its look that would show first
   by the side it left by, against that edge (``_entering``; a lost object, which a cut or a jump may have put
   half out of the picture, by every side): found there, it is placed by its look every frame until all of it
   is in (the flow alone cannot grow a mask by the pixels that come in past the edge; a frame where no part of it
   matches while its mask still reaches that edge is not taken for all of it in), then found whole. So is
   a rigid object the edge cut off that comes back in without ever having left, while its look there shows
   more of it than the flow's mask; and the last sliver of one going out that the flow lost (``_leaving``: its
   look's part along the side it was against, from a tenth of it on, where it was). While a rigid object is
   gone, the size it is looked for at follows the camera's zoom (``_zoomed``), and, that being an estimate, its
   part coming in is matched at sizes around it. A find replaces a lost or gone object's empty mask only when it
   clears ``_FIND_BAR``.
5. Suspicion of ground in the mask. A mask that holds a slab of ground (a loose keyframe cut, or
   a mask grown over ground of the object's colour) keeps its colours and motion, so step 4
   cannot see it. Two signs can: the mask's edge running where neither colour nor motion changes
   (``_unsupported_edge``), and part of the mask moving with the ground while another part moves
   on its own, with the mask's colours going on past its edge (``_slab_evidence``). The suspicion
   carries on, fading, to the next frames, and lowers the reported ``confidence`` (1.0 on a
   keyframe), the score that points an editor at the frames to check. Where a frame's two motion
   and colour signs are clear, the tracking acts on them as well: the mask's pieces that move with
   the ground and are made of its colours are let go (``_slab_in``; the wall a player's first cut took is
   dropped on the first frames, and the ground a fast pan drags into a badge's mask; a girl of a group
   who stands still while the others walk on stays). A smaller piece of ground, too small a
   share for those signs (a wedge of mat a badge's first cut took beside its dark end), is let go where it
   moves with the ground while the object moves on its own and is made of the ground's colours, or lies
   apart from the rest (``_ground_pieces``); the frame's signs then count as a slab's.
6. Following what moves. A moving object that changes shape (a player, a rider) outruns all of the above:
   a leg swings by a third of the body in a frame, dark shorts meet a dark wall. Once its mask has left the
   keyframe's outline, the tracker asks the pipeline for the frame's map of what moves against the scene
   (``segment.motion``; a badge never asks, and costs nothing) and, where the flow's mask and what moves
   there clearly differ, takes what moves (``_moving``), less what is clearly in the ground's colours (the map
   is blurred, and a pan shows the grass before a rider moving with him: ``_in_its_colours``). Where the flow
   lost it (a rider passing behind a tree), it is the piece of what moves nearby that is clearly in its
   keyframe's colours (``_regained``), and a find of its look where nothing moves is the still scene in its
   colours, not it (``_still_mover``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import cv2
import numpy as np

from .. import crops
from ..masks import bounding_box, box_side, dilate, ellipse, padded_box, sides_touched
from ..segment import motion
from ..segment.classical import take_mixed_rim
from .base import LOW_CONFIDENCE, Tracker

_NOISE = (
    6.0  # grey levels: a warped frame differs from the real one by about this much where the flow is right
)
_MISMATCH = 15.0  # grey levels beyond the noise over which trust in the flow falls by e
_BINS = 16  # per channel; 4096-bin RGB histograms for the anchored model
_LOCAL_LEVELS = 8  # per channel; 512-bin histograms for the local windows
# The share of the object a rigid fit to the flow must explain for the mask to move rigidly (below it the
# dense warp counts in, and the object's own pixels are aligned directly; see _aligned_prior).
_RIGID = 0.9
_ALIGN_SIDE = 128  # px: the longest side the direct alignment runs at
# px at working scale: how far the colour re-cut may move a rigidly carried mask's edge outwards (a blurred or
# anti-aliased edge). A motion-blurred frame smears the object's colours onto the ground beside it, and the
# re-cut took that smear as a blob of object up to 15 px deep, which the fill then painted out.
_RIGID_REACH = 2
# Degrees: re-detection also looks for the object turned this much in the image plane (see _redetect).
_TURNS = (0, -15, 15, -30, 30)
# A piece of the mask under this share of the largest piece's area, and more than _SPECK_GAP px (working scale)
# from it, is a speck of the object's colours on the ground (see _without_specks).
_SPECK, _SPECK_GAP = 0.02, 8
# Motion against the ground's, px a frame at working scale: within flow noise; clearly its own.
_STILL, _MOVING = 0.5, 2.0
# px at working scale: DIS's flow bleeds about this far across an object's edge, so a part of the mask that moves
# with the ground only that deep says nothing (see _ground_pieces).
_FLOW_BLEED = 2
# Signs of ground in the mask ramp from no suspicion to full over (low, high). Round values from what each
# sign means (checked on the eval's clips and generated failures, not fitted to them):
# - the smaller of the two motion shares: flow errors at edges give up to a tenth; a quarter is a slab;
_TWO_LAYERS = (0.1, 0.25)
# - the ring's share in the mask's colours: a few per cent by chance; one pixel in ten is a shared surface;
_BLEED = (0.05, 0.1)
# - the edge's share with no step across it: a real object shows low contrast (dark on dark) on up to a fifth.
_BARE_EDGE = (0.2, 0.4)
# A mask's error is carried forward with it, while one frame's evidence can miss it (the two parts happen to
# move alike): the suspicion carries on to the next frame at this weight (halved in about three frames).
_PERSIST = 0.8
# A frame's signs of a slab of ground at least this strong (half of full suspicion) let go of the mask's pixels
# that move with the ground, unless that leaves under _SLAB_REST of it (see _slab_in): ground taken into the mask
# is the smaller part of it; where most of the mask moves with the ground, the object does (a badge riding a wall).
_SLAB_ACT, _SLAB_REST = 0.5, 0.5
# A piece of the mask apart from its largest, at least this share of the largest's size, is a second object the cut
# took on purpose (a group), not a speck or a wedge of ground: kept though it stands still (see _ground_pieces).
_APART = 0.25
# The keyframe outline (see _Outline) is fitted at most this many px across: its position and turn, not its detail.
_OUTLINE_SIDE = 96
# A mask matches the keyframe's outline at this IoU with it fitted; an object has moved enough for a match to say
# it is rigid when its centre has gone this share of its size, its scale changed by this share, or it turned 5 degrees.
_OUTLINE_MATCH, _OUTLINE_MOVED, _OUTLINE_TURNED = 0.9, 0.1, 5.0
# A mask that matches the keyframe's outline, fitted, at under this IoU after the object moved shows it changing
# shape (a tennis player's masks: 0.58-0.74; a badge's, on 6 composites, 0.80-0.99); on ``_CHANGED_FRAMES``
# such frames the object is taken to change shape for good (``FlowTracker._moving``).
_OUTLINE_CHANGED, _CHANGED_FRAMES = 0.75, 2
# The motion map's edge may lie this share of the object's size off the object's (it is blurred and made small);
# the flow's mask gives way to what moves when they differ beyond that by this share of the object.
_MAP_EDGE, _DISAGREE = 0.03, 0.1
# How far past the box of where it was and where the flow carried it what moves may reach, as a share of its size;
# and the share of the flow's mask it must hold.
_REACH, _HOLDS = 0.25, 0.6
# What moves is the object's when its area is between these shares of the last mask's; after a frame where the mask
# was itself what moves, at most ``_REGION_GROWTH`` of it (the eval's real objects, player, dogs and girls: at most
# 1.27 from one such frame to the next).
_REGION_SIZE, _REGION_GROWTH = (0.5, 2.0), 1.35
# A mover the flow lost is found again (``FlowTracker._regained``) in what moves within this many of its keyframe
# sizes of where it was, as a piece between these shares of its keyframe area (a person seen nearer or farther, not a
# sliver of him, nor the scene he merged with), its colours clearer than the flow's mask's and any other piece's by
# ``_REGAIN_CLEARER`` (Bhattacharyya coefficients to its keyframe palette).
_REGAIN_REACH, _REGAIN_SIZE, _REGAIN_CLEARER = 1.0, (0.25, 2.0), 0.05
# What moves is let go of where its colours are clearly the ground's: past these log-odds (natural log; e^-1, nearly
# three to one for the ground) by the object's keyframe colours against its surroundings, smoothed over
# ``_ODDS_BLUR`` px at the working scale (one pixel's 4096-bin colour says little); unless that leaves under
# ``_ODDS_KEPT`` of it (the colours cannot tell the two apart there).
_GROUND_ODDS, _ODDS_BLUR, _ODDS_KEPT = -1.0, 1.5, 0.5
# A mover found by its look alone is reported this much as sure as the find's score (see FlowTracker.step).
_LOOK_ONLY = 0.5
# A mask whose area is under this share of the last one's (or over its inverse) is not steady (confidence falls).
_STEADY = 0.7
# An object that keeps its shape changes its size by at most this share of it in a frame, or its mask's area is not
# taken for its size (see _a_size_step): between this and _STEADY a mask is not doubted for its area, nor believed, but
# looked for whole, a find taken where it is clearly better (see where _off_size is asked at it).
_SIZE_STEP = 0.8
# How fast the belief that an object is rigid follows each frame's match (4 matches in a row from none: rigid).
_OUTLINE_RATE = 0.2
# A rigid object's mask reaches at most this share of its size past its fitted outline (4 px on a 100 px badge), and
# at most _OUTLINE_REACH_PX: the keyframe cut's edge error and blur, not a blob. Neither grows with the object: a 200
# px badge's mask reached 8 px past its outline onto the dark ground at a corner, painted out past the 15 px around
# the badge that the eval allows.
_OUTLINE_REACH, _OUTLINE_REACH_PX = 0.04, 6
# Holding a mask to its outline keeps at least this share of it; less, and the outline is what went astray.
_OUTLINE_KEPT = 0.25
# px (at the outline's size, at most _OUTLINE_SIDE across) the object's look is searched for around where its
# outline is expected; and how much better the look must fit there than under the mask's fit to be taken: its
# share of the grey left unexplained (1 - correlation) under this share of the fit's. On a plain look (a gradient
# badge on a blurred mat, correlations of 0.81-0.86) the fit and the look's place differed by up to 0.04, noise
# that took the place of a growing badge's true size; where the mask crept along a badge, 0.84 against 0.98.
_LOOK_SEARCH, _LOOK_CLEARER = 4, 0.5
# A mask that covers the outline and more still says the object is rigid where the keyframe's look lies near the
# outline at least this well (a badge with letters: 0.98; its look on a plain gradient badge: 0.81-0.86): the more
# is ground in its colours, taken a few pixels a frame from the first cut on (a red badge over a red car).
_LOOK_KEPT = 0.9
# A found object's look is fitted to the frame within this share of its size of where it was found (fitted_by_look).
_LOOK_FIT_REACH = 0.15
# The fine detail of a look (its grey less a blur of this many px) must lie on a find this well (keeps_detail).
_DETAIL_SIGMA, _DETAIL_KEPT = 1.5, 0.7


def _distance(region: np.ndarray) -> np.ndarray:
    """Each pixel of ``region``: its distance to the nearest pixel outside it (0 outside)."""
    return cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)


def _colour_index(image: np.ndarray) -> np.ndarray:
    q = (image >> 4).astype(np.int32)
    return (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]


class ColourModel:
    """Object vs surroundings colour histograms; ``log_ratio`` says how object-like each pixel is.

    The object's colours are learnt once, on the keyframe (the anchor). Its surroundings change
    as it moves, so they are re-learnt a little on every frame (``learn_surroundings``).
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray):
        self.fg = self._histogram(image, mask)
        self.bg = self._histogram(image, self._ring(mask))
        self._update_table()

    @staticmethod
    def _ring(mask: np.ndarray) -> np.ndarray:
        size = max(8, int(np.sqrt(mask.sum())) // 2)
        away = _distance(~mask)
        return (away > 2) & (away <= size)

    @staticmethod
    def _histogram(image: np.ndarray, where: np.ndarray) -> np.ndarray:
        counts = np.bincount(_colour_index(image)[where], minlength=_BINS**3).astype(np.float32) + 0.5
        return counts / counts.sum()

    def _update_table(self) -> None:
        self.table = np.log(self.fg) - np.log(self.bg)

    def learn_surroundings(self, image: np.ndarray, mask: np.ndarray, rate: float, ring=None) -> None:
        """``ring``: the mask's ``_ring`` when the caller has it already."""
        if mask.any():
            ring = self._ring(mask) if ring is None else ring
            self.bg = (1 - rate) * self.bg + rate * self._histogram(image, ring)
            self._update_table()

    def log_ratio(self, image: np.ndarray) -> np.ndarray:
        return self.table[_colour_index(image)]


def _local_log_ratio(reference: np.ndarray, mask: np.ndarray, image: np.ndarray, cell: int) -> np.ndarray:
    """Per-window object-vs-background colour log-ratio: learnt on ``reference``/``mask``, read on ``image``.

    The crop is cut into ``cell``-sized windows; every window's two histograms come from one
    ``bincount`` over (window, colour) pairs, so there is no loop over windows.
    """
    h, w = mask.shape
    rows, cols = -(-h // cell), -(-w // cell)
    window = (np.arange(h)[:, None] // cell) * cols + (np.arange(w)[None, :] // cell)
    levels = _LOCAL_LEVELS
    shift = 8 - int(np.log2(levels))

    def index(img):
        q = (img >> shift).astype(np.int32)
        return window * levels**3 + (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]

    ref = index(reference).ravel()
    m = mask.ravel()
    size = rows * cols * levels**3
    fg = np.bincount(ref[m], minlength=size).reshape(rows * cols, -1).astype(np.float32)
    bg = np.bincount(ref[~m], minlength=size).reshape(rows * cols, -1).astype(np.float32)
    # A window that saw only one side says nothing: the Laplace terms pull its ratio to ~0.
    fg = (fg + 0.5) / (fg.sum(axis=1, keepdims=True) + 0.5 * levels**3)
    bg = (bg + 0.5) / (bg.sum(axis=1, keepdims=True) + 0.5 * levels**3)
    table = np.log(fg) - np.log(bg)
    return table.ravel()[index(image)]


class _Object:
    def __init__(self, image: np.ndarray, gray: np.ndarray, mask: np.ndarray):
        self.colours = ColourModel(image, mask)
        self.mask = mask
        self.velocity = np.zeros(2)  # the box's last move, frame pixels per frame
        # The last move when it was a jump to a find farther than the object's size, which the velocity forgets: the
        # way out of the picture if the object vanishes on the next frame (a whip pan goes on)
        self.leap = np.zeros(2)
        self.palette = _palette(image, mask)  # the keyframe's colours, for judging later masks
        self.template = _look(gray, mask)  # the keyframe's look, for re-detection
        self.recent = self.template  # the last look the tracker was sure of
        self.good_area = int(mask.sum())  # the area of the last frame it was fairly sure of
        self.key_area, self.key_side = int(mask.sum()), box_side(bounding_box(mask)) if mask.any() else 0
        self.zoomed = False  # good_area carried by the camera's zoom since it was last measured (_zoomed)
        self.confidence = 1.0  # how sure the tracking is (decides re-detection)
        self.suspicion = 0.0  # how likely the mask holds a slab of ground (see _slab_evidence)
        self.evidence = 1.0  # the last frames' signs of it, fading (none yet: the first frame's count alone)
        self.outline = _Outline(mask, gray)  # the keyframe's outline, which a rigid object keeps
        # The frame's side it left the picture by (0 left, 1 top, 2 right, 3 bottom), and the side it is coming
        # back in by while only part of it shows.
        self.exit: int | None = None
        self.entering: int | None = None
        self.left_at = mask  # its last mask in the picture before it went out by ``exit``
        self.mover: bool | None = None  # does it move against the scene? (decided in FlowTracker._moving)
        # The flow lost it where the motion map did not: from then on it is what moves (FlowTracker._moving).
        self.follows_motion = False
        # The last frame's mask was what moves, not the flow's (see _moving).
        self.was_moving = False
        # This frame's mask let go of ground it held (a slab, pieces of it): not of the object.
        self.shed_ground = False

    def moves_and_changes_shape(self) -> bool:
        """Does it move against the scene and change shape (a person, a rider)? Such an object is found again in what
        moves (``FlowTracker._regained``), not on the still scene (``FlowTracker._still_mover``), and its look is its
        shape only roughly."""
        return bool(self.mover) and self.outline.changes_shape()

    def traits(self) -> _Traits:
        """What the frames tracked so far taught about the object (``keep_traits``)."""
        return _Traits(self.mover, self.follows_motion, self.outline.changed, self.outline.rigid)

    def keep_traits(self, traits: _Traits) -> None:
        """What the frames tracked before taught about the object, kept over a new keyframe of it: whether it
        moves against the scene, changes shape or keeps its outline, and whether the flow lost it to what moves.
        Learnt anew, they take frames: a player re-seeded by a corrected keyframe lost his legs again for two."""
        self.mover, self.follows_motion = traits.mover, traits.follows_motion
        self.outline.changed, self.outline.rigid = traits.changed, traits.rigid


class _Traits(NamedTuple):
    """What tracking taught about an object (see ``_Object.keep_traits``)."""

    mover: bool | None
    follows_motion: bool
    changed: int
    rigid: float


class _Outline:
    """The keyframe mask's outline, fitted to later masks: is the object rigid, and where is its outline now?

    A badge, a logo on a car, a sign: their mask on any frame is the keyframe's moved, turned and scaled
    (an affine map, which also covers a surface seen at a slowly changing angle). The fit is ECC on the
    two masks, blurred, at most ``_OUTLINE_SIDE`` px across, from the last fit. ``rigid`` is the running
    belief that the object keeps its outline: it rises on frames where the mask matches the fitted
    outline after the object has moved, a quarter as fast before (a still object matches whatever it is,
    but a mask that creeps onto ground of its colours beside a badge that hardly moves must be held in the
    end), and on frames where the mask covers the outline and more while the object's look still lies on it
    (a mask creeping onto ground of its colours from the first frame on never matches); it falls where the mask
    does not match (a person's limbs) or cannot be fitted. Where the mask does not match before that, the object's
    look may still say where it is, whole (``_kept_in_place``).
    """

    def __init__(self, mask: np.ndarray, gray: np.ndarray | None = None):
        h, w = mask.shape
        box = bounding_box(mask)
        self.size = box_side(box)
        x0, y0, x1, y1 = padded_box(box, pad=max(4, self.size // 4), width=w, height=h)
        self.scale, dsize = crops.fit(x1 - x0, y1 - y0, _OUTLINE_SIDE)
        self.mask = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), dsize, interpolation=cv2.INTER_AREA)
        # The object's look: its keyframe grey at the outline's size, and the pixels inside it away from its edge
        # (None without the keyframe's grey, or for an object too small to have one)
        self.look = None
        inside = cv2.erode((self.mask > 0.5).astype(np.uint8), ellipse(2)).astype(bool)
        if gray is not None and inside.sum() >= 16:
            grey = cv2.resize(gray[y0:y1, x0:x1], dsize, interpolation=cv2.INTER_AREA).astype(np.float32)
            self.look = (grey, inside)
        self.blurred = cv2.GaussianBlur(self.mask, (5, 5), 0)
        # The map from the outline's pixels to the frame's: on the keyframe, and where it was last fitted.
        self.keyframe = np.array([[1 / self.scale, 0, x0], [0, 1 / self.scale, y0]])
        self.warp = self.keyframe.copy()
        self.rigid = 0.0
        # Did the last mask match the outline, fitted? A rigid object's mask that does not has lost part of it (a
        # whip pan's blurred frame) or taken ground beside it.
        self.matches = False
        self.changed = 0  # frames on which the mask, after the object moved, clearly left the outline
        # A keyframe mask cut off by the frame's edge is not the object's outline: nothing to hold to.
        self.whole = not _at_edge(mask)

    def fit(self, mask: np.ndarray) -> tuple[np.ndarray, float, float] | None:
        """The map that lays the outline on ``mask``, their IoU and the share of the laid outline the mask
        covers; None if it does not fit.

        ECC only climbs to the nearest fit, so it also starts from the last fit moved onto the mask's centre: a
        badge that jumped past where its last move leads (a whip pan) was missed from the last fit alone, and the
        mask cut to where the outline, moved on by that move, overlapped it. The fit from there counts only when
        the mask clearly is the outline (``_OUTLINE_MATCH``): a mask smeared along a blurred pan matched it
        loosely there (IoU 0.80), and the outline would have followed the smear.

        A mask the frame's edge cuts off shows where the object is better than how big it is: the affine fit
        can stretch the outline past the edge (by a third, on a badge sliding along it, and was refused), so
        there the outline is also fitted by moving it alone, and the better fit kept (a badge growing as it
        leaves needs the affine one).
        """
        kinds = (cv2.MOTION_AFFINE, cv2.MOTION_TRANSLATION) if _at_edge(mask) else (cv2.MOTION_AFFINE,)
        centred = self._centred(mask)
        # (from nearer than a tenth of its size, the last fit is in reach: no second start, half the cost)
        far = np.abs(centred[:, 2] - self.warp[:, 2]).max() > _OUTLINE_MOVED * self._laid_size(self.warp)
        fits = []
        for kind in kinds:
            fits.append(self._fit_from(self.warp, mask, kind))
            jumped = self._fit_from(centred, mask, kind) if far else None
            fits.append(jumped if jumped is not None and jumped[1] >= _OUTLINE_MATCH else None)
        return max(filter(None, fits), key=lambda found: found[1], default=None)

    def _fit_from(
        self, start: np.ndarray, mask: np.ndarray, kind: int
    ) -> tuple[np.ndarray, float, float] | None:
        h, w = mask.shape
        x0, y0, x1, y1 = padded_box(crops.union((self._box(start), bounding_box(mask))), 4, w, h, min_size=0)
        dsize = (max(8, round((x1 - x0) * self.scale)), max(8, round((y1 - y0) * self.scale)))
        here = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), dsize, interpolation=cv2.INTER_AREA)
        sx, sy = dsize[0] / (x1 - x0), dsize[1] / (y1 - y0)
        to_here = np.array([[sx, 0, -sx * x0], [0, sy, -sy * y0], [0, 0, 1]])
        warp = (to_here @ np.vstack([start, [0, 0, 1]]))[:2].astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
        try:
            _, warp = cv2.findTransformECC(
                self.blurred, cv2.GaussianBlur(here, (5, 5), 0), warp, kind, criteria, None, 1
            )
        except cv2.error:  # the masks have too little in common to converge
            return None
        fitted = (np.linalg.inv(to_here) @ np.vstack([warp, [0, 0, 1]]))[:2]
        growth = abs(np.linalg.det(fitted[:, :2]) / np.linalg.det(self.warp[:, :2]))
        if not 0.8 < growth < 1.25:  # no object changes its area by a quarter in a frame: not this outline
            return None
        laid = cv2.warpAffine(self.mask, warp, dsize, flags=cv2.INTER_LINEAR) > 0.5
        shared = float((laid & (here > 0.5)).sum())
        return fitted, shared / max(1, (laid | (here > 0.5)).sum()), shared / max(1, laid.sum())

    def moved(self, warp: np.ndarray) -> bool:
        """Has the object moved, turned or scaled enough since the keyframe for a match to say it is rigid?"""
        h, w = self.mask.shape
        centre = np.array([w / 2, h / 2, 1])
        shift = np.linalg.norm(warp @ centre - self.keyframe @ centre)
        change = np.linalg.solve(self.keyframe[:, :2], warp[:, :2])
        scale = np.sqrt(abs(np.linalg.det(change)))
        turn = abs(np.degrees(np.arctan2(change[1, 0], change[0, 0])))
        return shift > _OUTLINE_MOVED * self.size or abs(scale - 1) > _OUTLINE_MOVED or turn > _OUTLINE_TURNED

    def hold(self, mask: np.ndarray, velocity: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """``mask`` held to the outline (when the object is rigid: cut to it, and completed to it where the object's
        look placed it; before that, cut to it where it matches the outline and the object looks as it did, and held
        to it where it does not match but the object's look lies where it was, ``_kept_in_place``), and the belief
        updated from this frame."""
        self.matches = placed_by_look = seen_whole = held_in_place = False
        if not mask.any() or not self.whole:
            return mask
        # A mask the frame's edge cuts off is fitted all the same (ECC compares only the part in the picture:
        # moved on by the object's last move instead, the outline lagged behind a badge speeding up there and
        # clipped its leading end), but it is not the whole outline, so it says nothing about rigidity.
        cut_off = _at_edge(mask)
        found = self.fit(mask)
        warp = None if found is None else found[0]
        self.matches = found is not None and found[1] >= _OUTLINE_MATCH
        moved = found is not None and self.moved(found[0])
        covers = found is not None and found[2] >= _OUTLINE_MATCH  # all of the outline (it may hold more)
        if self.rigid < 0.5 and covers and not cut_off and gray is not None and self.look is not None:
            # The fit follows the mask: a mask creeping onto something of its colours beside the object (a girl's
            # shirt passing a still badge) stretches it a little every frame, and the outline laid by it lets the
            # mask creep on (0.9 of a badge's width past it in four frames). Where the keyframe's look lies as it
            # did where the outline was, moved on, and clearly better than under the fit, that is where the object
            # is (as for a rigid one, below), and what the mask holds past it is not the object.
            placed, resemblance = self._look_placed(gray, self._moved_on(velocity))
            if resemblance >= _LOOK_KEPT and _clearly_closer(resemblance, self._resemblance(gray, warp)):
                warp, placed_by_look = placed, True
        if self.rigid < 0.5 and covers and not cut_off and self._keeps_look(gray, warp):
            # Not yet taken for rigid (that takes a few matches, four times as many before the object has moved), but
            # its mask covers its outline and it looks as it did: held to it already (a piece of a red car joined a
            # badge's mask on its 4th and 5th frames, and was painted out 16-21 px past it). So too before it has
            # moved: a still match says nothing of rigidity, but this frame's mask is the outline and more, and the
            # more is not the object (a badge riding a still mat took the edges of red blocks pushed against it, 12-25
            # px past it; one riding a car that had hardly moved yet grew onto its windscreen: both painted out
            # ground). Where the mask holds more than a match allows, what joins the outline may be the object
            # changing shape (a runner's limbs swung out), but a piece apart from it is not: a badge passing a
            # graffiti wall took a blob of the wall 10-15 px off it (IoU 0.88 with its outline), painted out past
            # the 15 px around the badge that the eval allows. Unless its look placed the outline: then the object
            # is as it was, and what joins it is not it.
            laid = self._laid(warp, mask.shape)
            cut = self.matches or placed_by_look
            held = mask & laid if cut else _supported(mask.view(np.uint8), laid).astype(bool)
            mask = held if held.sum() >= _OUTLINE_KEPT * mask.sum() else mask
        elif self.rigid < 0.5 and not self.matches and not cut_off and self.changed == 0:
            # It does not match its outline, yet its look may say where it is (_kept_in_place)
            kept = self._kept_in_place(mask, velocity, gray)
            if kept is not None:
                mask, warp, held_in_place = *kept, True
        if self.rigid >= 0.5:
            moved_on = self._moved_on(velocity)
            if found is None or found[1] < _OUTLINE_MATCH - 0.1:  # the mask went astray: the outline goes on
                warp = moved_on
                # And where the object's look lies there as it did, the object is there, whole: the flow may carry on
                # only a part of it, lagging behind (a badge swung across a player in a fast stroke: cut to where
                # that part overlapped the outline, its mask kept a fifth of it, J 0.89 -> 0.18, and the badge, no
                # longer held rigid, was never found whole again).
                if gray is not None and self.look is not None:
                    placed = self._look_placed(gray, moved_on)
                    if placed[1] >= _LOOK_KEPT:
                        warp, seen_whole = placed[0], not cut_off
                    elif found is not None and _clearly_closer(
                        self._resemblance(gray, found[0]), self._resemblance(gray, moved_on)
                    ):
                        # Or the fit was right, and the mask only loose about the outline: the look lies clearly
                        # better under the fit than where the last move leads. A logo printed on a flexing jersey
                        # matched its outline at IoU 0.71-0.80 while its look lay under the fit at 0.68-0.90; moved
                        # on instead, the outline drifted 3.5-22 px off it in ten frames (its look there -0.45-0.61),
                        # the mask was cut to it, and half the logo was left in the picture for 30 frames.
                        warp = found[0]
            elif gray is not None and self.look is not None and not cut_off:
                # The mask may creep along the object a pixel or two a frame, within the reach (something in its
                # colours coming out from under it), and the fit with it, frame after frame; the object's look does
                # not. Where the look lies clearly better than under the fit (searched for around the outline moved
                # on, as it was or turned as the fit turned), that is where the object is; its size stays the
                # outline's (a plain look does not say it), to be taken from the fit again once the mask fits.
                # Not while the frame's edge cuts the mask off: most of the look then lies past the edge, compared
                # with the edge's pixels repeated, and a badge's last third, ridden out by the left edge, had its
                # look placed 6 px below it and its good mask cut to that (J 0.95-0.97 -> 0.79-0.87 on three
                # frames; the part left showed in the fill of every frame after).
                ways = (moved_on, self._turned_as(moved_on, warp))
                placed = (self._look_placed(gray, way) for way in ways if way is not None)
                best = max(placed, key=lambda candidate: candidate[1])
                if _clearly_closer(best[1], self._resemblance(gray, warp)):
                    warp, placed_by_look = best[0], True
            held = mask & self._laid(warp, mask.shape)
            if seen_whole:  # the mask went astray: what it says of the object's shape is nothing
                mask = held | self._laid(warp, mask.shape, reach=0)
            elif held.sum() >= _OUTLINE_KEPT * mask.sum():
                mask = held
                if placed_by_look and not cut_off:
                    # Placed by its look, the outline is where the object is, all of it: a part of it the mask left
                    # out, thicker than the reach (not the edge error of the keyframe's cut), is the object's too (a
                    # badge's grey end on a grey wall, which the colours gave to the wall and the fit then
                    # followed: J 0.77-0.85 for 16 frames). Not where the frame's edge cuts the mask off: a look
                    # mostly out of the picture is placed loosely (a badge's last sliver grew a blob beside it).
                    left_out = self._laid(warp, mask.shape, reach=0) & ~held
                    opened = cv2.morphologyEx(
                        left_out.astype(np.uint8), cv2.MORPH_OPEN, ellipse(self._reach(warp))
                    )
                    mask = held | (opened > 0)
            else:  # the outline is lost, not the object (a jump the last move did not foresee): start again
                self.rigid, warp = 0.0, None if found is None else found[0]
        if not cut_off and not seen_whole:
            if found is None:
                self.rigid *= 1 - _OUTLINE_RATE
            else:
                # A mask that leaves part of the outline bare says the object changed shape (a limb). One that
                # covers all of it and more is most often the object plus ground it took on a blurred frame, which
                # passes in a few frames: it lowers the belief slowly, so a part that stays (an arm raised for
                # good) is let in after a dozen frames or so. Before the object has moved, a match says little (a
                # still person matches whatever they are): it raises the belief a quarter as fast.
                if found[1] < _OUTLINE_CHANGED and moved:
                    self.changed += 1
                if held_in_place:  # it kept its look and outline where its mask did not: moved or not, rigid
                    self.rigid += _OUTLINE_RATE * (1.0 - self.rigid)
                elif found[1] >= _OUTLINE_MATCH:
                    self.rigid += (_OUTLINE_RATE if moved else _OUTLINE_RATE / 4) * (1.0 - self.rigid)
                elif covers and moved and self._keeps_look(gray, found[0]):
                    # all of the outline and more, and the object looks as it did: the more is ground (_LOOK_KEPT)
                    self.rigid += _OUTLINE_RATE * (1.0 - self.rigid)
                else:
                    self.rigid -= (_OUTLINE_RATE / 4 if covers else _OUTLINE_RATE) * self.rigid
        if warp is not None:
            self.warp = warp
        return mask

    def _kept_in_place(self, mask, velocity, gray) -> tuple[np.ndarray, np.ndarray] | None:
        """Before the object is taken for rigid, and while it has shown no change of shape: where its keyframe look
        lies as it did (``_LOOK_KEPT``) near the outline moved on by its last move, the object is there, and the
        mask (with the outline's new place) is
        - cut to that outline where it holds all of it (``_OUTLINE_MATCH``) and a ninth more, some of it past the
          outline's reach: whole, the object would match such a mask at an IoU under ``_OUTLINE_MATCH``, so the more
          is ground in its colours (unless the cut keeps under ``_OUTLINE_KEPT`` of the mask: then the outline is
          what went astray; nothing past the reach, and there is nothing to cut: the reach around a thin outline,
          such as a logo's letters, is more than a ninth of it);
        - completed to it where it holds under ``_OUTLINE_CHANGED`` of it and is that much smaller than it: the flow
          carried only part of it on (a mask that keeps its area as it leaves the outline changed shape: a runner
          swinging his limbs, whose blocky look stayed over 0.9, lost a tenth of him to a completion so).
        A badge riding a hillside, still, took the grey flank of a rabbit coming up beside it on its fifth frame
        (a sixth more than the badge), let go of the badge's own grey as ground, and followed the rabbit for the
        rest of the shot (J&F 0.31; held so, 0.94). A mask that changes its outline without growing (a skater
        holding a spin, whose look is kept as a limb moves) is neither: None, as where the look is not there."""
        if gray is None or self.look is None:
            return None
        placed, resemblance = self._look_placed(gray, self._moved_on(velocity))
        if resemblance < _LOOK_KEPT:
            return None
        whole = self._laid(placed, mask.shape, reach=0)
        area, held, total = np.count_nonzero(whole), np.count_nonzero(mask & whole), np.count_nonzero(mask)
        if held < _OUTLINE_CHANGED * area and total < _OUTLINE_CHANGED * area:
            return (mask & self._laid(placed, mask.shape)) | whole, placed
        if held < _OUTLINE_MATCH * area or _OUTLINE_MATCH * total < area:
            return None
        cut = mask & self._laid(placed, mask.shape)
        return (cut, placed) if _OUTLINE_KEPT * total <= np.count_nonzero(cut) < total else None

    def _moved_on(self, velocity: np.ndarray) -> np.ndarray:
        """The last fit moved on by the object's last move: where its outline is expected on this frame."""
        moved_on = self.warp.copy()
        moved_on[:, 2] += velocity
        return moved_on

    def _keeps_look(self, gray: np.ndarray | None, warp: np.ndarray) -> bool:
        """Does the keyframe's look lie on the frame near the outline laid by ``warp``, nearly as it was?"""
        if gray is None or self.look is None:
            return False
        return self._look_placed(gray, warp)[1] >= _LOOK_KEPT

    def _look_placed(self, gray: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, float]:
        """``start`` moved to where the keyframe's look lies best on the frame, within ``_LOOK_SEARCH`` px of the
        outline's, and how well it lies there (``_resemblance``)."""
        look, inside = self.look
        seen = self._laid_frame(gray, start, _LOOK_SEARCH)
        if seen is None:
            return start, -1.0
        scores = cv2.matchTemplate(seen, look, cv2.TM_CCOEFF_NORMED, mask=inside.astype(np.float32))
        _, _, _, (dx, dy) = cv2.minMaxLoc(np.nan_to_num(scores, nan=-1.0))
        placed = start.copy()
        placed[:, 2] += start[:, :2] @ [dx - _LOOK_SEARCH, dy - _LOOK_SEARCH]
        return placed, self._resemblance(gray, placed)

    def fitted_by_look(self, gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Where the keyframe's look lies best on the frame around ``mask`` (a re-detection's find, placed at one of a
        few turns and sizes): the outline's map, fitted by ECC (affine) from the outline's own map and from the
        keyframe's turned by each of ``_TURNS``, all centred on the mask at its size, and how well the look lies
        there (``_resemblance``); None where nothing fits. The look says the object's turn and size to a fraction of
        a pixel. The starts from the keyframe are needed: fitted to masks alone, the outline of a rounded badge can
        have turned half round while it slid out of the picture, and ECC only climbs to the nearest fit."""
        if self.look is None or not mask.any():
            return None
        fits = [self._look_fitted(gray, start) for start in self._starts_on(mask)]
        return max(filter(None, fits), key=lambda fit: fit[1], default=None)

    def _starts_on(self, mask: np.ndarray) -> list[np.ndarray]:
        """The outline's map, and the keyframe's turned by each of ``_TURNS``, at ``mask``'s size and centred on it."""
        h, w = self.mask.shape
        centre = np.array([w / 2, h / 2])
        starts = []
        for base, angles in ((self.warp, (0,)), (self.keyframe, _TURNS)):
            laid_area = float(self.mask.sum()) * abs(np.linalg.det(base[:, :2]))
            zoom = np.sqrt(mask.sum() / max(laid_area, 1.0))
            for angle in angles:
                turn = cv2.getRotationMatrix2D((0, 0), angle, zoom)[:, :2]
                linear = turn @ base[:, :2]
                starts.append(np.hstack([linear, (_centre(mask) - linear @ centre)[:, None]]))
        return starts

    def _look_fitted(self, gray: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, float] | None:
        """The map ``start`` refined by ECC of the look on the frame, and the look's resemblance there."""
        look, inside = self.look
        margin = max(_LOOK_SEARCH, round(_LOOK_FIT_REACH * max(look.shape)))
        seen = self._laid_frame(gray, start, margin)
        if seen is None:
            return None
        # (findTransformECCWithMask, OpenCV 4.13: the template's mask, the look's inside alone, as its ground changed)
        shift = np.array([[1, 0, margin], [0, 1, margin]], np.float32)  # outline px -> seen px
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
        valid = np.full(seen.shape, 255, np.uint8)
        try:
            _, fit = cv2.findTransformECCWithMask(
                look, seen, inside.astype(np.uint8) * 255, valid, shift, cv2.MOTION_AFFINE, criteria, 5
            )
        except cv2.error:  # too little texture, or it ran off: no fit
            return None
        # outline px -> seen px -> frame px
        around = np.vstack([start, [0, 0, 1]]) @ [[1, 0, -margin], [0, 1, -margin], [0, 0, 1]]
        warp = (around @ np.vstack([fit, [0, 0, 1]]))[:2]
        return warp, self._resemblance(gray, warp)

    def keeps_detail(self, gray: np.ndarray, warp: np.ndarray) -> bool:
        """Does the keyframe look's fine detail (its grey less a blur of it) lie on the frame under the outline laid by
        ``warp`` as it did (a correlation of ``_DETAIL_KEPT`` and more over the object's inside)?"""
        look, inside = self.look
        seen = self._laid_frame(gray, warp, 0)
        if seen is None:
            return False
        a, b = (image - cv2.GaussianBlur(image, (0, 0), _DETAIL_SIGMA) for image in (look, seen))
        return _correlation(a[inside], b[inside]) >= _DETAIL_KEPT

    def laid_by_look(self, gray: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """The outline laid where the keyframe's look fits the frame around ``mask`` (``fitted_by_look``), when the
        look lies closer there than where the outline is: the object's mask there (and the outline moved there);
        None otherwise."""
        fitted = self.fitted_by_look(gray, mask)
        if fitted is None or fitted[1] <= self._resemblance(gray, self.warp):
            return None
        growth = abs(np.linalg.det(fitted[0][:, :2]) / np.linalg.det(self.warp[:, :2]))
        if not 0.5 < growth < 2.0:
            return None
        self.warp = fitted[0]
        return self._laid(fitted[0], mask.shape, reach=0)

    def _turned_as(self, warp: np.ndarray, fitted: np.ndarray) -> np.ndarray | None:
        """``warp`` turned about the outline's centre as much as ``fitted`` turned from the last fit (its size and
        shape as they were); None where that is under half a degree (``warp`` itself, near enough)."""
        change = fitted[:, :2] @ np.linalg.inv(self.warp[:, :2])
        angle = np.arctan2(change[1, 0] - change[0, 1], change[0, 0] + change[1, 1])
        if abs(np.degrees(angle)) < 0.5:
            return None
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        h, w = self.mask.shape
        turned = np.hstack([turn @ warp[:, :2], warp[:, 2:]])
        turned[:, 2] += warp @ [w / 2, h / 2, 1] - turned @ [w / 2, h / 2, 1]
        return turned

    def _resemblance(self, gray: np.ndarray, warp: np.ndarray) -> float:
        """How much the frame under the outline laid by ``warp`` looks like the object on the keyframe: the
        correlation of their grey over the object's inside (-1 off the frame)."""
        look, inside = self.look
        seen = self._laid_frame(gray, warp, 0)
        if seen is None:
            return -1.0
        return _correlation(look[inside], seen[inside])

    def _laid_frame(self, gray: np.ndarray, warp: np.ndarray, margin: int) -> np.ndarray | None:
        """The frame's grey laid on the outline by ``warp``, with ``margin`` px more on each side (float32), blurred
        to the outline's size first, as the look was made; None where that is off the frame."""
        h, w = self.mask.shape
        around = (np.vstack([warp, [0, 0, 1]]) @ [[1, 0, -margin], [0, 1, -margin], [0, 0, 1]])[:2]
        x0, y0, x1, y1 = padded_box(self._box(around), 4, gray.shape[1], gray.shape[0], min_size=0)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        part = gray[y0:y1, x0:x1].astype(np.float32)
        step = float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))  # frame px per outline px
        if step > 1.5:
            part = cv2.GaussianBlur(part, (0, 0), 0.5 * step)
        size = (w + 2 * margin, h + 2 * margin)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(
            part, around - [[0, 0, x0], [0, 0, y0]], size, flags=flags, borderMode=cv2.BORDER_REPLICATE
        )

    def changes_shape(self) -> bool:
        """Might the object change shape? Not while it is held rigid; yes once its mask left the outline on
        ``_CHANGED_FRAMES`` frames; and it cannot be ruled out when the keyframe's outline is not whole."""
        return self.rigid < 0.5 and (self.changed >= _CHANGED_FRAMES or not self.whole)

    def seat(self, mask: np.ndarray) -> None:
        """The object was found again elsewhere (re-detection): the outline moves there, at the size it was found
        at (re-detection measures it: a logo zoomed while lost), as rigid as it was."""
        if mask.any():
            warp = self._centred(mask)
            if not _at_edge(mask):  # (cut off by the frame's edge, its area does not tell its size)
                laid_area = float(self.mask.sum()) * abs(np.linalg.det(warp[:, :2]))
                zoom = np.sqrt(mask.sum() / max(laid_area, 1.0))
                centre = _centre(mask)
                warp = np.hstack([zoom * warp[:, :2], (zoom * warp[:, 2] + (1 - zoom) * centre)[:, None]])
            self.warp = warp  # fitted from there, whatever the fit's IoU: it was found there
            found = self.fit(mask)
            if found is not None:
                self.warp = found[0]

    def _laid_size(self, warp: np.ndarray) -> float:
        """The object's size (px) as the outline laid by ``warp`` has it."""
        return self.size * self.scale * float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))

    def _centred(self, mask: np.ndarray) -> np.ndarray:
        """The last fit moved so that the outline's box is centred on the mask's."""
        x0, y0, x1, y1 = self._box(self.warp)
        warp = self.warp.copy()
        warp[:, 2] += _centre(mask) - np.array([x0 + x1, y0 + y1]) / 2
        return warp

    def _box(self, warp: np.ndarray) -> tuple[int, int, int, int]:
        h, w = self.mask.shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]]) @ warp.T
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        return x0, y0, x1, y1

    def _reach(self, warp: np.ndarray) -> int:
        """How far (px) a rigid object's mask may reach past its outline laid by ``warp`` (``_OUTLINE_REACH``, at most
        ``_OUTLINE_REACH_PX``)."""
        return max(2, min(_OUTLINE_REACH_PX, round(_OUTLINE_REACH * self._laid_size(warp))))

    def _laid(self, warp: np.ndarray, shape: tuple[int, int], reach: int | None = None) -> np.ndarray:
        """The outline laid on the frame by ``warp`` and grown by ``reach`` px (by default, the reach)."""
        h, w = shape
        reach = self._reach(warp) if reach is None else reach
        x0, y0, x1, y1 = self._box(warp)
        x0, y0, x1, y1 = max(0, x0 - reach), max(0, y0 - reach), min(w, x1 + reach), min(h, y1 + reach)
        laid = np.zeros(shape, bool)
        if x1 > x0 and y1 > y0:
            local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ np.vstack([warp, [0, 0, 1]])
            placed = cv2.warpAffine(self.mask, local[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR) > 0.5
            laid[y0:y1, x0:x1] = dilate(placed, reach)
        return laid


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The correlation of two equal-sized sets of grey values (their normalised cross-correlation about their means)."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt(max(float((a * a).sum() * (b * b).sum()), 1e-6)))


def _clearly_closer(resemblance: float, other: float) -> bool:
    """Does the object's look lie clearly closer to how it was at one place than at another (its ``_resemblance``
    at each): short of a perfect match by under ``_LOOK_CLEARER`` of the other's shortfall?"""
    return 1 - resemblance < _LOOK_CLEARER * (1 - other)


def _sized(obj: _Object, mask: np.ndarray) -> bool:
    """Whether ``mask``'s area says how much of its object it holds: the object keeps its shape (a player's area
    swings from frame to frame, and doubted for it, he was looked for and found on the court), the frame's edge
    does not cut the mask, and the mask did not let go of ground it held this frame (a keyframe's slab of court:
    never the object's size), unless the object is held rigid: its size is its outline's, whatever the mask let go
    of (half a badge riding the sky, its face in the sky's greys, was let go of as ground, surely, and the rest of
    it shrank on for the rest of the clip, J 0.56 to 0.17)."""
    let_go = obj.shed_ground and obj.outline.rigid < 0.5
    return bool(mask.any()) and not _at_edge(mask) and not obj.outline.changes_shape() and not let_go


def _a_size_step(obj: _Object, mask: np.ndarray) -> bool:
    """May ``mask``'s area be taken for its object's size now? Not a fifth and more off the size it last surely
    had in one frame (``_SIZE_STEP``), for an object that keeps its shape and is not held to its outline: the size
    followed a badge's mask on a whip pan as the flow lost a part of it a frame (2805 -> 2049 -> 1872 -> 1559 px,
    each within the area check), and it was looked for, and found, ever smaller (J 0.97 -> 0.47). The camera's
    zoom, and a mask that matches the outline, change the size in earnest.

    A person's area swings as he moves, but not past ``_STEADY`` of it in a frame: what moved around a rider, the
    graffiti beside him with him, was 1.9 times the size he had a frame before; taken for his size, he was looked
    for 1.4 times too large and lost in plain view for the clip's last 49 frames (J&F 0.11 tracked from his true
    first mask; 0.56 so)."""
    if obj.zoomed or obj.outline.matches:
        return True
    step = _STEADY if obj.outline.changes_shape() else _SIZE_STEP
    return _steadiness(np.count_nonzero(mask), obj.good_area) >= step


def _off_size(obj: _Object, mask: np.ndarray, share: float = _STEADY) -> bool:
    """A mask far from the size its object last surely had (``_sized``; its area under ``share`` of it, or over its
    inverse): likely a part of it. (Asked up to four times a frame: np.count_nonzero counts a 1080p mask in a tenth
    of the time of its sum.)"""
    return _sized(obj, mask) and _steadiness(np.count_nonzero(mask), obj.good_area) < share


def _sizes_to_search(obj: _Object) -> tuple[float, ...]:
    """The sizes a tracked object is looked for at, as shares of its last sure size: other sizes only for a rigid
    object (a person's look is its shape only roughly, and more sizes of it found more of the court)."""
    return _SIZES if obj.outline.rigid >= 0.5 else (1.0,)


def _steadiness(area: int, other: int) -> float:
    """The smaller of two areas over the larger: 1 when a mask keeps its area."""
    return min(area, other) / max(area, other, 1)


def _around(mask: np.ndarray) -> tuple[int, int, int, int]:
    """A box around ``mask`` with half its size of ground on every side: what moves is told from the scene."""
    box = bounding_box(mask)
    size = box_side(box)
    return padded_box(box, pad=max(16, size // 2), width=mask.shape[1], height=mask.shape[0])


def _turned(patch: np.ndarray, mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A look (grey patch and its mask) turned ``angle`` degrees about its centre, on a canvas that holds it."""
    if angle == 0:
        return patch, mask
    h, w = mask.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos)))
    turn[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    return (
        cv2.warpAffine(patch, turn, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        cv2.warpAffine(mask.astype(np.uint8), turn, size, flags=cv2.INTER_NEAREST) > 0,
    )


def _look(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The object's grey patch and its mask in its box."""
    box = bounding_box(mask)
    if box is None:
        return None
    return gray[box[1] : box[3], box[0] : box[2]].copy(), mask[box[1] : box[3], box[0] : box[2]].copy()


def _sides_passed(mask: np.ndarray, velocity: np.ndarray) -> list[bool]:
    """The sides of the frame (left, top, right, bottom) that the mask's box, moved on by ``velocity``, passes,
    where more than half of that box lies out of the picture (none otherwise)."""
    x0, y0, x1, y1 = bounding_box(mask)
    h, w = mask.shape
    x0, x1, y0, y1 = x0 + velocity[0], x1 + velocity[0], y0 + velocity[1], y1 + velocity[1]
    inside = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
    if inside > 0.5 * (x1 - x0) * (y1 - y0):
        return [False] * 4
    return [x0 < 0, y0 < 0, x1 > w, y1 > h]


def _at_edge(mask: np.ndarray) -> bool:
    return any(sides_touched(mask))


def _near_edge(found: np.ndarray) -> int:
    """How near (px) a side of the frame a find placed whole may lie and still be partly past it: ``_EDGE_SLACK``
    of its size. A look is placed as its box, and a turned look's box pads its mask: a badge half past the right
    edge, found whole at 0.75 with its end 3 px short of the edge, was placed 40 px inside (J 0.69) and its
    part along the edge never matched (0.97 on the next frame)."""
    return max(2, round(_EDGE_SLACK * box_side(bounding_box(found))))


def _centre(mask: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = bounding_box(mask)
    return np.array([x0 + x1, y0 + y1], float) / 2


def _palette(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The normalised coarse (512-bin) colour histogram of the masked pixels."""
    q = (image[mask] >> 5).astype(np.int32)  # the masked pixels only: a small object in a 4K frame
    counts = np.bincount((q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2], minlength=512)
    return counts / max(1, counts.sum())


def _looks_like(palette: np.ndarray, image: np.ndarray, mask: np.ndarray) -> float:
    """How much the masked pixels' colours look like ``palette`` (Bhattacharyya coefficient, 0..1).

    Judged against the object's own keyframe colours, not against its surroundings: a badge that
    slides onto ground of its own grey still looks like itself.
    """
    return float(np.sqrt(palette * _palette(image, mask)).sum()) if mask.any() else 0.0


# Re-detection settles the masked match among this many of the likeliest places (see _likely_places).
_PLACES = 10
_SETTLE = 2  # px at the search's scale: how far from a likely place the masked match settles
# px: the most a found object measures where its place is settled (see FlowTracker._search)
_SETTLE_SIDE = 192
# A lost rigid object may have grown or shrunk since the tracker was last sure of its size (a zoom, a whip pan's
# perspective): it is also searched for upright at these sizes relative to that one (steps of 7 %, within what a
# few frames of zoom do).
_SIZES = (0.87, 0.93, 1.0, 1.07, 1.15)
# A find at another size must beat the best at the last sure size by this much: where the object measures 32 px,
# sizes 7 % apart score within 0.02 of each other by chance (on the city-pan composites' whip pans the wrong size
# won by 0.005 and 0.012, and the badge was masked 7 % short), while a badge 7 % smaller won by 0.05.
_RESIZED_MARGIN = 0.03
# A find placed whole this share of its size from a side of the frame may be partly past it (see _near_edge).
_EDGE_SLACK = 0.04


def _likely_places(
    image: np.ndarray, template: np.ndarray, mask: np.ndarray
) -> list[tuple[float, tuple[int, int]]]:
    """The places where ``template``'s masked pixels match ``image`` best (top-left corners), with those matches'
    scores, best first.

    A masked match over a whole frame costs about four plain ones (30 ms against 8 on a 1018x573 frame),
    and re-detection runs up to ten a frame. So a plain match of the template with its unmasked pixels
    set to its masked mean (they then weigh nothing in it) finds the ``_PLACES`` likeliest places, and the
    masked match settles each, within two pixels.
    """
    flat = template.copy()
    flat[mask == 0] = template[mask > 0].mean()
    likely = np.nan_to_num(
        cv2.matchTemplate(image, flat, cv2.TM_CCOEFF_NORMED), nan=-1.0, posinf=-1.0, neginf=-1.0
    )
    th, tw = template.shape
    places = []
    for _ in range(_PLACES):
        _, peak, _, (x, y) = cv2.minMaxLoc(likely)
        if peak <= -1.0:
            break
        x0, y0 = max(0, x - _SETTLE), max(0, y - _SETTLE)
        _, score, _, (fx, fy) = cv2.minMaxLoc(
            _masked_match(image[y0 : y + th + _SETTLE, x0 : x + tw + _SETTLE], template, mask)
        )
        places.append((score, (x0 + fx, y0 + fy)))
        # the next likeliest place is at least half the template away
        y0, x0 = max(0, y - th // 2), max(0, x - tw // 2)
        likely[y0 : y + th // 2 + 1, x0 : x + tw // 2 + 1] = -1.0
    return sorted(places, key=lambda place: place[0], reverse=True)


def _masked_match(image: np.ndarray, template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised correlation of ``template``'s masked pixels at every place in ``image``; a flat window,
    where the correlation is undefined (NaN or inf, or, nearly flat, past 1 by rounding: 1.77 on a black
    letterbox bar, which outscored a badge's own place at 0.95), scores -1 (no match)."""
    scores = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
    scores[np.abs(scores) > 1.0 + 1e-3] = -1.0
    return scores


class FlowTracker(Tracker):
    name = "flow"
    gives_confidence = True

    def __init__(
        self,
        work_side: int = 320,
        colour_weight: float = 0.8,
        local_weight: float = 0.5,
        band: float = 0.2,
        surroundings_rate: float = 0.1,
        redetect_below: float = 0.35,
        follow_motion: bool = True,
    ):
        self.work_side = work_side
        self.colour_weight = colour_weight
        self.local_weight = local_weight
        self.band = band  # width of the refinement band, as a fraction of the object's size
        self.surroundings_rate = surroundings_rate
        self.redetect_below = redetect_below
        # A moving object that changes shape is what moves against the scene (_moving); off: flow and colours alone.
        self.uses_motion = follow_motion
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._objects: dict[int, _Object] = {}
        self._gray: np.ndarray | None = None
        self._image: np.ndarray | None = None
        self._scene: Callable[[], np.ndarray | None] | None = None  # the next frame's motion map (_moving)

    def set_motion(self, motion: Callable[[], np.ndarray | None]) -> None:
        """``motion``: the next frame's motion map, made (or read back) when first asked for; asked again this step
        (what moves, a mover found again, a look refused), it is not read again."""
        self._scene = cache(motion)

    def reset(self, image: np.ndarray, labels: np.ndarray) -> None:
        self._gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        self._image = image
        self._objects = {int(k): _Object(image, self._gray, labels == k) for k in np.unique(labels) if k}
        self._scene = None
        self.confidence = 1.0
        self.confidences = dict.fromkeys(self._objects, 1.0)

    def correct(self, image: np.ndarray, labels: np.ndarray) -> None:
        """A corrected keyframe: its masks replace the tracked ones; the objects keep their traits (``restart``)."""
        self.restart(image, labels)

    def traits(self) -> dict[int, _Traits]:
        """What the frames tracked so far taught about each object, for ``restart``."""
        return {object_id: obj.traits() for object_id, obj in self._objects.items()}

    def restart(
        self, image: np.ndarray, labels: np.ndarray, traits: dict[int, _Traits] | None = None
    ) -> None:
        """Start again from ``labels``, each object keeping what the frames tracked taught about it
        (``_Object.keep_traits``): as ``traits`` has it, or as it is now."""
        before = self.traits() if traits is None else traits
        self.reset(image, labels)
        for object_id, obj in self._objects.items():
            if object_id in before:
                obj.keep_traits(before[object_id])

    def step(self, image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        labels = np.zeros(gray.shape, np.uint8)
        confidences = {}
        zoom = cache(lambda: motion.camera_zoom(self._gray, gray))  # read once a frame, if an object is gone
        for object_id, obj in self._objects.items():
            last_move = obj.velocity if obj.velocity.any() else obj.leap
            if obj.mask.any():
                mask, confidence = self._propagate(obj, image, gray)
                if not mask.any() and (side := _exit_side(obj.mask, last_move)) is not None:
                    confidence = _WENT_OUT  # it went out of the picture: nothing to mask is likely right
                    obj.exit, obj.left_at = side, obj.mask
                elif _sized(obj, mask):
                    # Area consistency: the mask of an object that keeps its shape, far from the size it last surely
                    # had with no frame's edge to cut it, is likely a part of it (a badge that jumped 84 px in a
                    # frame, a piece of it carried on); see ``_sized``.
                    confidence *= min(1.0, _steadiness(np.count_nonzero(mask), obj.good_area) / _STEADY)
            else:
                mask, confidence = obj.mask, obj.confidence  # still gone, as sure as when it went
            went_out = False
            if obj.entering is not None and mask.any():
                # Coming back in: the part that shows grows every frame past what the flow carries (new
                # pixels come in by the edge), so it is placed by its look, until the whole of it is in.
                found = self._entering(obj, image, gray, obj.entering)
                if found is not None:
                    mask, confidence = found
                elif not sides_touched(mask)[obj.entering]:
                    # all of it is in: found whole, tracked as before, held to its outline; unless, not found whole,
                    # the flow carried a part still coming in off the side (_carried_off_the_side)
                    # at sizes around good_area where that is the camera's zoom carried over frames: an estimate, a
                    # few per cent off after a dozen (a sharp logo's look 1 px off its size of 42 matched its own
                    # place at 0.49); not so while it is gone, where more sizes find more look-alikes
                    sizes = _SIZES if obj.zoomed else (1.0,)
                    found = self._redetect(obj, image, gray, 0.0, (0,), sizes)
                    reached = None
                    if found is not None and _whole_in(found[0], mask, obj.entering):
                        mask, confidence = found
                    else:
                        reached = _carried_off_the_side(obj, mask, obj.entering)
                    if reached is not None:
                        mask = reached  # still coming in
                    else:
                        obj.entering = None
                        obj.outline.seat(mask)
                # else no part of its look matched along that side, yet its mask still reaches it: not all in, the
                # match missed on this frame. The flow's mask stands, and it is looked for there again on the
                # next. (Taken for all in, a badge riding a wall back in by the left, a little turned, was found
                # whole nowhere, and its outline was seated on the part in the picture: held 15 % short for its
                # last 14 frames, J 0.80-0.94, its left end copied into the fill.)
            elif mask.any() and obj.mask.any() and obj.outline.rigid >= 0.5:
                # Cut off by the frame's edge, a rigid object may be coming back in: the pixels that come in past
                # the edge are none the flow can carry, so its mask stayed as short as it was when it turned (a
                # badge half out of the picture kept half its length as it came back, J 0.47). Its look matched
                # along that edge shows how much of it is in; placed so while it shows more than the flow's mask.
                coming_in = self._coming_in(obj, image, gray, mask, confidence)
                if coming_in is not None:
                    (mask, confidence), obj.entering = coming_in
            if obj.entering is None:  # (a part placed by its look is the outline's part already)
                mask = obj.outline.hold(mask, obj.velocity, gray)
            # A moving object that changes shape is where the motion map shows it: no need to look for it.
            moving = None
            if (
                self._scene is not None
                and obj.mover is not False
                and mask.any()
                and obj.outline.changes_shape()
            ):
                moving = self._moving(obj, mask, image)
            # A mover the flow lost (to the tree it passed behind, to the wall it dragged onto) is where what moves
            # shows its colours.
            regained = False
            if (
                moving is None
                and obj.moves_and_changes_shape()
                and (confidence < self.redetect_below or self._still_mover(obj, mask))
            ):
                moving = self._regained(obj, image, mask)
                regained = moving is not None
            if moving is not None:
                # As sure as its area is steady: the flow's doubts (and signs of a slab) were about its own mask.
                steady = _steadiness(int(moving.sum()), int(obj.mask.sum()))
                mask, confidence, obj.suspicion = moving, float(min(1.0, steady / _STEADY)), 0.0
            # Lost or hidden: look for it over the whole frame. Gone out of the picture, it may come back (a
            # logo panned out of view and back, a jump across the frame): looked for upright only (a third of
            # the cost, paid on every frame it stays gone), and any clear find is taken, as for a hidden one
            # (clear: past the mask's confidence and _FIND_BAR). Where it went out, it is most likely still out,
            # and only a find as clear as a part of it coming in (_ENTER_BAR) is taken: a badge gone over the top
            # edge was "found" in a blurred pink sky at 0.57 and painted out there for six frames (over 211
            # composites the true finds back in the picture scored 0.79-0.98: the one under the bar was refused, and
            # its badge placed by its part coming in).
            gone = not mask.any() and confidence > self.redetect_below
            found = None
            # Off its size, it is looked for whole too, however sure of it the flow was: half a badge after a jump
            # (doubted only down to 0.54 for its area), or a sliver the outline was laid on, was tracked as the badge.
            doubted = gone or confidence < self.redetect_below or _off_size(obj, mask)
            if (
                not doubted
                and obj.template is not None
                and moving is None
                and _off_size(obj, mask, _SIZE_STEP)
            ):
                # A step off its size (_SIZE_STEP), though not far enough to doubt (a badge's mask on a whip pan
                # kept 0.72 of it, the flow carrying on a part, and showed the rest's pixels in the fill): looked
                # for whole, and a find taken where its look matches more clearly than the mask's confidence,
                # scaled down by how short the mask is, says the mask is right
                short_by = _steadiness(np.count_nonzero(mask), obj.good_area) / _SIZE_STEP
                found = self._redetect(obj, image, gray, confidence * short_by, _TURNS, _sizes_to_search(obj))
                if found is not None:
                    mask, confidence = found
                    obj.outline.seat(mask)
            if doubted and obj.template is not None and moving is None:
                if gone:
                    bar = _ENTER_BAR if obj.exit is not None else 0.0  # out of the picture, or hidden in it
                    found = self._back_in_sight(obj, image, gray, bar)
                else:
                    found = self._redetect(obj, image, gray, confidence, _TURNS, _sizes_to_search(obj))
                if found is None:
                    # Part of it may show at the frame's edge: by the side it left by, or, lost (a cut, a jump
                    # the flow missed), by any side.
                    sides = [obj.exit] if obj.exit is not None else [] if gone else [0, 1, 2, 3]
                    finds = [(f, side) for side in sides if (f := self._entering(obj, image, gray, side))]
                    found, obj.entering = max(finds, key=lambda f: f[0][1]) if finds else (None, None)
                    if found is None and (gone or confidence < _NO_TRUST):  # its last sliver, going out?
                        found = self._leaving(obj, image, gray)
                    # A sliver where it went out, too thin for its look to place: its last going out, its first back
                    if found is None and gone and obj.exit is not None:
                        found = self._returning(obj, image)
                        obj.entering = obj.exit if found is not None else None
                elif any(near_edge := sides_touched(found[0], _near_edge(found[0]))):
                    # Found whole against the frame's edge, it may be partly out of the picture, and the whole
                    # look, placed inside, shifted off it (a badge over the top edge after a whip pan, its mask
                    # 5 px low): the part that shows is also matched along that edge, and the better find taken.
                    touched = [side for side, touches in enumerate(near_edge) if touches]
                    parts = [f for side in touched if (f := self._entering(obj, image, gray, side))]
                    # A part under half of the whole find is weaker evidence than it, whatever it scores (a part of a
                    # look matches more easily than all of it): a badge back in whole at the frame's edge, found so at
                    # 0.93 (J 0.79), was taken for its 43 % along the edge at 0.96 (J 0.43)
                    parts = [f for f in parts if f[0].sum() >= 0.5 * found[0].sum()]
                    found = max([found, *parts], key=lambda f: f[1])
                if found is not None and self._still_mover(obj, found[0]):
                    found = None  # a mover's look found on the still scene (a white shirt in the graffiti's whites)
                if found is not None:
                    mask, confidence = found
                    obj.outline.seat(mask)
                    obj.exit = None
                    if gone and obj.outline.rigid >= 0.5 and not _at_edge(mask):
                        # laid where its look fits: the search placed it at one of a few turns and sizes (a badge
                        # back 9 % larger and a little turned, found at its old size upright: J 0.70 -> 0.9 and more)
                        laid = obj.outline.laid_by_look(gray, mask)
                        if laid is not None and laid.any() and not _at_edge(laid):
                            mask = laid
                        obj.good_area = np.count_nonzero(mask)  # found whole at the size it has now
                elif confidence < _NO_TRUST:
                    # Nothing found, and the flow's mask is as good as not the object (its colours at the edge of
                    # hidden, its motion unexplained): painted out, it would take picture the object never covered
                    # (a badge gone over a letterbox bar in a whip pan left a mask below the bar at 0.004).
                    # Against the frame's edge where it was, or heading past it (``_exit_side``), it is most likely
                    # going out of the picture: this frame stays doubtful (a part may still show), but the frames
                    # after it, where nothing shows, are as sure as those of an object that left (a badge ridden off
                    # at a corner had its 34 frames after flagged), and it is looked for coming back by that side. So
                    # too where the flow's last sliver of it lies off the edge (another badge's 52 px, carried inwards
                    # as it left by a corner: its 34 frames after were flagged, and it was searched for everywhere, at
                    # every size, on each).
                    if (
                        obj.mask.any()
                        and mask.any()
                        and (side := _exit_side(obj.mask, last_move)) is not None
                    ):
                        obj.exit, obj.left_at, went_out = side, obj.mask, True
                    mask = np.zeros_like(mask)
            obj.velocity = _centre(mask) - _centre(obj.mask) if mask.any() and obj.mask.any() else np.zeros(2)
            # Found again farther than its own size from where it was, it did not move there in a frame (lost, it
            # was found across the frame): its next frame is looked for around here, not as far on again (300 px
            # past the frame's edge, where the flow then lost a badge in plain view). A nearer find is its move
            # (a whip pan the flow missed goes on).
            if (
                (found is not None or regained)
                and obj.mask.any()
                and np.abs(obj.velocity).max() > box_side(bounding_box(obj.mask))
            ):
                obj.leap, obj.velocity = obj.velocity, np.zeros(2)
            else:
                obj.leap = np.zeros(2)
            # The size and look to search for: not of an empty mask, nor of one the frame's edge cuts off, nor the
            # size of a rigid object's mask that does not match its outline (found at that size, a badge whose mask
            # lost a fifth of it on a blurred frame was tracked short after; one that took a grey card beside it was
            # never found again), nor of a mask off its size that nothing better was found for (half a badge at 0.54
            # set the size, and was tracked as the badge after)
            whole = mask.any() and not _at_edge(mask)
            sure = obj.outline.rigid < 0.5 or obj.outline.matches
            if confidence >= 0.5 and whole and sure and not _off_size(obj, mask) and _a_size_step(obj, mask):
                obj.good_area, obj.zoomed = np.count_nonzero(mask), False
            elif obj.outline.rigid >= 0.5 and not mask.any():
                # Gone, a rigid object's size cannot be measured, but the camera's zoom can: a badge riding the ice
                # went out and came back in while the camera zoomed out, and was not found at the size it left at
                # (J 0 on its last six frames; found on the last three so). Not while the frame's edge cuts it: a
                # logo laid over the picture keeps its size whatever the camera does (held half out through a slow
                # push-in, it was placed larger each frame, J 0.85 after ten).
                area = _zoomed(obj.good_area, zoom())
                obj.good_area, obj.zoomed = area, obj.zoomed or area != obj.good_area
            if confidence >= 0.8 and whole:
                obj.recent = _look(gray, mask)
            obj.mask, obj.confidence = mask, _WENT_OUT if went_out else confidence
            obj.was_moving = moving is not None
            labels[mask] = object_id
            # Suspicion of a slab of ground in the mask lowers what the editor is told, not how it is tracked.
            confidences[object_id] = float(confidence * (1.0 - obj.suspicion))
            if found is not None and obj.moves_and_changes_shape():
                # A person found by his look alone: the look is his shape only roughly (on a tennis player and a BMX
                # rider such finds had J 0.21-0.57), so the editor is pointed at the frame.
                confidences[object_id] *= _LOOK_ONLY
        self._gray, self._image, self._scene = gray, image, None
        self.confidences = confidences
        self.confidence = min([1.0, *confidences.values()])
        return labels

    # -- one object, one frame ---------------------------------------------------------------------

    def _propagate(self, obj: _Object, image: np.ndarray, gray: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = gray.shape
        box = bounding_box(obj.mask)
        dx, dy = np.round(obj.velocity).astype(int)
        moved = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
        size = box_side(box)
        x0, y0, x1, y1 = padded_box(crops.union((box, moved)), pad=max(16, size // 2), width=w, height=h)
        scale, dsize = crops.fit(x1 - x0, y1 - y0, self.work_side)

        def shrink(a, interp=cv2.INTER_AREA):
            return cv2.resize(a, dsize, interpolation=interp) if scale < 1 else a

        # The motion model: the flow is sought against the previous frame shifted back by the object's
        # last move, so a fast object is near where it was and the coarse-to-fine search finds it.
        sx = int(np.clip(round(-obj.velocity[0]), -x0, w - x1))
        sy = int(np.clip(round(-obj.velocity[1]), -y0, h - y1))
        prev_mask = shrink(obj.mask[y0:y1, x0:x1].astype(np.float32), cv2.INTER_LINEAR)
        small_prev_image = shrink(self._image[y0:y1, x0:x1])
        small_image = shrink(image[y0:y1, x0:x1])
        prev = np.ascontiguousarray(shrink(self._gray[y0:y1, x0:x1]))
        cur = np.ascontiguousarray(shrink(gray[y0:y1, x0:x1]))
        # The flow (cur(p) ~ prev(p + flow(p))) runs on grey, plus the object's colour step where grey
        # hardly shows it (see _colour_step). The warp is checked on grey, the channel of _NOISE and _MISMATCH.
        colour_step = _colour_step(small_prev_image, prev_mask > 0.5)
        if colour_step is None:
            prev_shifted = shrink(self._gray[y0 + sy : y1 + sy, x0 + sx : x1 + sx])
            flow = self._flow.calc(cur, np.ascontiguousarray(prev_shifted), None)
        else:
            shifted = shrink(self._image[y0 + sy : y1 + sy, x0 + sx : x1 + sx])
            flow = self._flow.calc(
                cv2.transform(small_image, colour_step), cv2.transform(shifted, colour_step), None
            )
        flow += np.array([sx, sy], np.float32) * scale
        gx, gy = np.meshgrid(np.arange(dsize[0], dtype=np.float32), np.arange(dsize[1], dtype=np.float32))
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        dense = cv2.remap(prev_mask, mx, my, cv2.INTER_LINEAR, borderValue=0)
        by_flow = cv2.remap(prev, mx, my, cv2.INTER_LINEAR)
        fit = _similarity(dense, gx, gy, mx, my)
        # Where the flow's own rigid fit does not carry the whole object, the flow may be the ground's: on a
        # fast pan DIS carries the ground's motion onto a small, slow object (24.8 px a frame inside a badge
        # that moved 1.1). Then, unless the dense warp already reproduces the object within half the noise
        # (no warp could do clearly better), the object's own pixels are aligned directly, and that warp is
        # the prior when it reproduces the object better than the flow does.
        aligned = None
        if fit is None or fit[1] < _RIGID:
            inside = dense > 0.5
            if inside.any() and np.abs(by_flow.astype(np.float32) - cur)[inside].mean() > _NOISE / 2:
                aligned = _aligned_prior(prev_mask, prev, cur, dense, by_flow, fit, obj.velocity * scale)
        prior = aligned if aligned is not None else _rigid_blend(prev_mask, dense, fit)
        prior = _trusted(prior, by_flow, cur)
        crisp = prior > 0.5
        if not crisp.any():
            return np.zeros((h, w), bool), 0.0

        warped_prev_image = cv2.remap(
            small_prev_image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        band_px = max(2, round(self.band * size * scale))
        colour = obj.colours.log_ratio(small_image)
        local = _local_log_ratio(warped_prev_image, crisp, small_image, cell=max(8, 2 * band_px))
        evidence = np.log(np.clip(prior, 0.02, 0.98) / np.clip(1 - prior, 0.02, 0.98))
        evidence += self.colour_weight * np.clip(colour, -6, 6) + self.local_weight * np.clip(local, -4, 4)
        band = np.where(crisp, _distance(crisp), _distance(~crisp)) <= band_px  # within band_px of the edge
        refined = np.where(band, evidence > 0, crisp).astype(np.uint8)
        refined = cv2.morphologyEx(refined, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        refined = cv2.morphologyEx(refined, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        refined = _supported(refined, crisp)
        if aligned is not None or (fit is not None and fit[1] >= _RIGID):
            # The object moved as one rigid warp (the flow's fit explains it, or its own pixels' alignment
            # won), so the warped mask has its shape: the re-cut may settle its edge, not grow a blob on it.
            refined[~dilate(crisp, _RIGID_REACH)] = 0
        refined = _without_specks(refined)
        if fit is not None:
            refined = _pieces_with_the_rigid_motion(refined, fit[0], gx, gy, mx, my)
        mask_small = refined > 0
        ring = ColourModel._ring(mask_small)
        slab_signs = _slab_evidence(small_image, flow, mask_small, ring)  # this frame's (step 5)
        slab = _slab_in(small_image, mask_small, ring, flow) if slab_signs >= _SLAB_ACT else None
        let_go = 0.0  # the signs of a slab let go of: some of it may be left, so they still count
        ground = None
        if slab is not None:  # the prior lets go of the slab too, or the area check below would put it back
            refined, crisp, let_go = slab[0], crisp & ~slab[1], slab_signs
        else:  # too small a share for those signs: pieces of ground it still holds (let go of, as a slab is)
            ground = _ground_pieces(small_image, mask_small, ring, flow, edges=obj.outline.rigid < 0.5)
            if ground is not None:  # both signs were clear, and some of it may be left: they count
                refined, crisp, let_go = (mask_small & ~ground).astype(np.uint8), crisp & ~ground, 1.0
        obj.shed_ground = slab is not None or ground is not None
        area, prior_area = int(refined.sum()), int(crisp.sum())
        steady = _steadiness(area, prior_area)
        if steady < _STEADY:  # the cut ran off (onto look-alike background) or lost most of the object
            refined = crisp.astype(np.uint8)
        if slab is not None or ground is not None or steady < _STEADY:  # the mask changed: so did its ring
            mask_small = refined > 0
            ring = ColourModel._ring(mask_small)
            slab_signs = _slab_evidence(small_image, flow, mask_small, ring)
        obj.colours.learn_surroundings(small_image, mask_small, self.surroundings_rate, ring)

        # Confidence: colours still the keyframe's, flow explains the object, area steady.
        looks = _looks_like(obj.palette, small_image, mask_small)
        if looks < 0.3:  # hardly any of the object's colours: it is hidden or gone, not here
            return np.zeros((h, w), bool), 0.0
        # The motion is explained when the previous frame, carried either by the flow or by the mask's
        # own move (the flow can miss a fast object the colours still caught), matches this one.
        move = _centre(mask_small) - _centre(prev_mask > 0.5) if (prev_mask > 0.5).any() else np.zeros(2)
        by_move = cv2.warpAffine(
            prev, np.float32([[1, 0, move[0]], [0, 1, move[1]]]), dsize, borderMode=cv2.BORDER_REPLICATE
        )
        residual = min(np.abs(by.astype(np.float32) - cur)[mask_small].mean() for by in (by_flow, by_move))
        explained = float(np.exp(-max(0.0, residual - _NOISE) / _MISMATCH))
        confidence = float(np.clip((looks - 0.3) / 0.5, 0, 1)) * explained * min(1.0, steady / _STEADY)
        # A slab of ground taken into the mask keeps the colours and the motion the mask had, so the
        # scores above cannot see it; it is judged apart. The tracker carries a wrong mask on, so its
        # signs show on consecutive frames; a flow glitch, or an edge landing 2 px off, shows on one:
        # a frame's evidence counts as far as the frames before agree, then carries on, fading. Their record
        # fades too, rather than being replaced by one frame without signs (a slab's flat grey showed none on
        # one frame, and two of its next four frames went unflagged).
        evidence = max(
            slab_signs, _ramp(_unsupported_edge(small_image, flow, mask_small), *_BARE_EDGE), let_go
        )
        obj.suspicion = max(min(evidence, obj.evidence), _PERSIST * obj.suspicion)
        obj.evidence = max(evidence, _PERSIST * obj.evidence)

        mask = crops.uncrop_mask(refined, (x0, y0, x1, y1), (h, w))
        # The colour re-cut sheds the blended pixels on the edge (part ground, part object): put them back.
        return take_mixed_rim(image, mask, steps=1), float(confidence)

    def _moving(self, obj: _Object, mask: np.ndarray, image: np.ndarray) -> np.ndarray | None:
        """A moving object that changes shape (a player, a rider: its mask left the keyframe's outline on
        ``_CHANGED_FRAMES`` frames, and it moves against the scene): what moves against the scene where it was
        and where the flow carried it (``motion.moving_region``), when its area is the object's (not half of it,
        nor twice), once the flow's mask and it differ by more than the map's blurred edge (``_DISAGREE``);
        None otherwise; its pixels in the ground's colours let go first (``_in_its_colours``), so that its size
        is the object's. A rigid object (a badge) keeps the flow's sharper mask, and never costs a map. The flow
        and the colours lose a leg that swings by a third of the body a frame and take the dark wall beside dark
        shorts; the motion map holds the whole body, and the shadow running with it."""
        scene = self._scene()
        if scene is None:
            return None
        if obj.mover is None:  # decided once, on the first frame it might change shape
            obj.mover = motion.moves(mask, scene, _around(mask))
            if not obj.mover:
                return None
        seed = obj.mask | mask
        around = _around(seed)
        region = motion.moving_region(scene, around, seed)
        if region is None:
            return None
        # Specks of it away from the object go, as from the flow's mask (at the scale the flow works at): a
        # sliver the map showed along the frame's edge was kept from frame to frame (what moves closes along
        # the edge where the object was), and the fill painted strips of the frame's edge out.
        scale, _ = crops.fit(around[2] - around[0], around[3] - around[1], self.work_side)
        region = _without_specks(region, gap=_SPECK_GAP / scale)
        region = self._in_its_colours(obj, image, region)
        # After a frame where it already was what moves, a body whose whole the map held then does not grow by a third
        # in a frame: what it grew by is the scene moving beside it (grass and branches before a rider, seen
        # moving as the camera pans, took the graffiti behind them with him: J 0.65 -> 0.31 in four frames).
        least, most = _REGION_SIZE[0], _REGION_GROWTH if obj.was_moving else _REGION_SIZE[1]
        if not least <= region.sum() / max(1, obj.mask.sum()) <= most:
            return None
        # What moves beyond where the object was and went (the flow's box, grown by a quarter of its size)
        # is the scene: boards whose letters a rolling pan shows as moving, joined to a skater before them.
        x0, y0, x1, y1 = bounding_box(seed)
        reach = _REACH * box_side((x0, y0, x1, y1))
        box = bounding_box(region)
        if box[0] < x0 - reach or box[1] < y0 - reach or box[2] > x1 + reach or box[3] > y1 + reach:
            return None
        # A flat inside that matches itself in the frames around shows only its rim moving: what moves must hold
        # most of the flow's mask (a wall slab the flow took is a smaller part of it than an arm's flat inside),
        # unless the flow's mask is itself taken to hold a slab of ground (its signs at half strength): then the
        # object is the smaller part of it (the tennis clip reversed at twice its speed: a fast pan left a patch
        # of wall in it, what moved held 0.59 of it, and the mask kept only the patch from then on).
        if (region & mask).sum() < _HOLDS * mask.sum() and obj.suspicion < _SLAB_ACT:
            return None
        # Where the two agree but for the map's blurred edge, the flow's mask stands.
        edge = max(2, round(_MAP_EDGE * box_side(box)))
        lost, taken = region & ~dilate(mask, edge), mask & ~dilate(region, edge)
        obj.follows_motion = obj.follows_motion or lost.sum() + taken.sum() > _DISAGREE * region.sum()
        return region if obj.follows_motion else None

    def _in_its_colours(self, obj: _Object, image: np.ndarray, region: np.ndarray) -> np.ndarray:
        """``region`` (what moves) less its pixels in the ground's colours (``_GROUND_ODDS``). The motion map is
        blurred and made small, and where the camera pans past nearer things (grass, branches before a rider,
        graffiti behind him) its region takes blobs of them, twice the rider's size; his white shirt, dark shorts
        and bike stay (with a mask that stands still taken for lost, ``_still_mover``: the rider's J&F 0.50 -> 0.61
        from his prompt, 0.57 -> 0.65 corrected)."""
        x0, y0, x1, y1 = bounding_box(region)
        scale, work = crops.fit(x1 - x0, y1 - y0, self.work_side)
        odds = obj.colours.log_ratio(crops.resize(image[y0:y1, x0:x1], work)).astype(np.float32)
        ground = cv2.GaussianBlur(odds, (0, 0), _ODDS_BLUR) <= _GROUND_ODDS
        ground = cv2.resize(ground.view(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST) > 0
        kept = region.copy()
        kept[y0:y1, x0:x1] &= ~ground
        return kept if kept.sum() >= _ODDS_KEPT * region.sum() else region

    def _regained(self, obj: _Object, image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """A mover the flow lost, found again: the piece of what moves near where it was (``_REGAIN_REACH``), of
        about its size (``_REGAIN_SIZE``), whose colours are clearly the keyframe's (``_REGAIN_CLEARER``: clearer
        than the flow's mask's and any other piece's), less its pixels in the ground's colours (``_in_its_colours``,
        as ``_moving``'s); None when no piece is. A rider passing behind a tree left
        the flow's mask on the graffiti beside it, and the look, a white shirt, was found in the graffiti's
        whites; what moves held him, the one piece in his colours, all along (J 0 for 30 frames)."""
        where = obj.mask | mask
        scene = self._scene() if where.any() else None
        if scene is None:
            return None
        h, w = mask.shape
        box = padded_box(bounding_box(where), pad=round(_REGAIN_REACH * obj.key_side), width=w, height=h)
        found = motion.moving_pieces(scene, box)
        if found is None:
            return None
        count, pieces, stats = found
        least, most = (share * obj.key_area for share in _REGAIN_SIZE)
        sized = [k for k in range(1, count) if least <= stats[k, cv2.CC_STAT_AREA] <= most]
        likeness = sorted(((_looks_like(obj.palette, image, pieces == k), k) for k in sized), reverse=True)
        if not likeness:
            return None
        rivals = [_looks_like(obj.palette, image, mask)] + [like for like, _ in likeness[1:2]]
        best, piece = likeness[0]
        if best < max(rivals) + _REGAIN_CLEARER:
            return None
        return self._in_its_colours(obj, image, pieces == piece)

    def _still_mover(self, obj: _Object, found: np.ndarray) -> bool:
        """Is ``found`` still where its object moves against the scene (a mover, ``_moving``)? Then it is not the
        object, however like its look: the look of a person is his shape only roughly, and the scene is full of
        his colours."""
        if not (obj.moves_and_changes_shape() and found.any()):
            return False
        scene = self._scene() if self._scene is not None else None
        return scene is not None and not motion.moves(found, scene, _around(found))

    def _redetect(
        self, obj: _Object, image, gray, bar: float, turns=_TURNS, sizes=_SIZES
    ) -> tuple[np.ndarray, float] | None:
        """Look for the object over the whole frame; its mask there and the find's score, when that beats ``bar``
        and ``_FIND_BAR``.

        Two looks are searched for: the keyframe's (the anchor, never drifts) and the last one the
        tracker was sure of (the object may have turned or grown since the keyframe), each also turned
        in the image plane by ``turns`` (a badge on a swinging path, a logo on a tilting car: the
        upright look matched a blurred building's edge better than the badge turned 30 degrees), and
        the last sure look upright at ``sizes`` of the last sure size (a textured logo 8 % smaller than
        its look, after a zoom while lost, matched at 0.46 where it measures 32 px, under the search's
        bar, and was lost for good; a badge found 7 % too big after a whip pan took a rim of the ground
        with it), such a find taken when it is clearly the better (``_RESIZED_MARGIN``).
        """
        looks = _looks(obj)
        same_size, resized = None, None  # the best finds at the last sure size and at another
        for look in looks:
            ways = [(angle, 1.0) for angle in turns]
            if look is looks[-1]:  # other sizes of the last sure look only (the nearest to the object now)
                ways += [(0, size) for size in sizes if size != 1.0]
            for angle, size in ways:
                found = self._search(obj, image, gray, *_turned(*look, angle), size)
                if found is None or found[1] <= max(bar, _FIND_BAR):
                    continue
                if size == 1.0:
                    same_size = max(same_size, found, key=_find_rank)
                else:
                    resized = max(resized, found, key=_find_rank)
        if resized is not None and _find_rank(resized) > _find_rank(same_size) + _RESIZED_MARGIN:
            return resized
        return same_size

    def _back_in_sight(self, obj: _Object, image, gray, bar: float) -> tuple[np.ndarray, float] | None:
        """A gone object found back in the picture: its mask there and the find's score, past ``bar``.

        Looked for upright at the size it left at (a third of the cost of every turn, paid on every frame it stays
        gone). While gone, the surface a rigid object rides may have turned it and brought it nearer, so:
        - found so, it is searched for again at every turn and size, and a find clearly better (by
          ``_RESIZED_MARGIN``, as re-detection holds a resized find to) where it lies on the first is taken (a badge
          riding a wall came back 9-20 % larger and 6.6 degrees turned: found at its old size, it was held a fifth
          short for its last frames, J 0.67-0.78). Taken by a hair, a find a size smaller inside a badge back 9 %
          larger (0.884 against 0.881) was held 30 % short;
        - not found so, its likeliest place at any turn and size (past ``_FIND_BAR``) is taken where its look, fitted
          there, lies on the frame as it did, fine detail and all (``_found_as_fitted``): a sharp logo back 6 degrees
          turned or 10-17 % smaller or larger matched upright under the bar, and was never found again. Not by the
          search's score alone: with fourteen looks to try, the bar set for one no longer holds (a logo's blurred
          ghost that matched it upright at 0.74 matched at 0.86 turned and resized).
        Either way the step then lays its outline where its look fits (``_Outline.laid_by_look``)."""
        found = self._redetect(obj, image, gray, bar, (0,), (1.0,))
        if obj.outline.rigid < 0.5:
            return found
        if found is None:
            # (its keyframe look alone, whose detail tells it, at every other turn and size: 8 searches, not 14)
            ways = [(angle, 1.0) for angle in _TURNS if angle] + [(0, size) for size in _SIZES if size != 1.0]
            finds = (
                self._search(obj, image, gray, *_turned(*obj.template, angle), size) for angle, size in ways
            )
            likely = max(filter(None, finds), key=_find_rank, default=None)
            if likely is None or likely[1] <= _FIND_BAR:
                return None
            return self._found_as_fitted(obj, gray, likely[0])
        again = self._redetect(obj, image, gray, found[1] + _RESIZED_MARGIN, _TURNS, _SIZES)
        if again is not None and (again[0] & found[0]).sum() >= 0.5 * min(again[0].sum(), found[0].sum()):
            return again
        return found

    def _found_as_fitted(self, obj: _Object, gray, likely: np.ndarray) -> tuple[np.ndarray, float] | None:
        """A likely place of a gone rigid object, found at a turn and size the search tried under the bar: taken
        where its keyframe look, fitted to the frame there (``_Outline.fitted_by_look``), lies on it as it did,
        fine detail and all (``_Outline.keeps_detail``); the find and its score (the look's resemblance there),
        None otherwise. The detail tells the object from a look-alike of its shape and shading: a logo's blurred
        ghost lay under its fitted look at 0.94-0.96 (the logo back turned and resized: 0.985-0.989), its detail
        at 0.42-0.55 (the logo's: 0.88-0.92)."""
        fitted = obj.outline.fitted_by_look(gray, likely)
        if fitted is None or fitted[1] < _LOOK_KEPT or not obj.outline.keeps_detail(gray, fitted[0]):
            return None
        return likely, fitted[1]

    def _entering(
        self, obj: _Object, image, gray, side: int, least: float | None = None, every_place: bool = False
    ) -> tuple[np.ndarray, float] | None:
        """The object coming back in, in part, by ``side``: its mask there and the find's score, when that clears
        ``_ENTER_BAR``.

        What shows of it is the part of its look nearest that side, against the frame's edge: each share of it,
        from ``least`` (``_ENTER_SHARE`` unless said) to whole, is matched along the edge (the frame and the look
        turned so the side is the right one; at a scale where the look is at most ``_ENTER_SIDE`` px), and the best
        match is taken.
        Both looks are tried, as in re-detection: the keyframe's, and the last one the tracker was sure of (a
        logo turned 14 degrees since the keyframe, lost in a jump to half out of the picture, was not found by
        the upright look, and never again); each at ``_ENTER_SIZES`` where the size to look for is the camera's zoom
        carried over the frames it was gone. ``every_place``: see ``_entering_as``.
        """
        least = _ENTER_SHARE if least is None else least
        sizes = _ENTER_SIZES if obj.zoomed else (1.0,)
        finds = [
            self._entering_as(obj, image, gray, side, look, least, size, every_place)
            for look in _looks(obj)
            for size in sizes
        ]
        return max(filter(None, finds), key=lambda found: found[1], default=None)

    def _leaving(self, obj: _Object, image, gray) -> tuple[np.ndarray, float] | None:
        """The last part of an object going out of the picture, where the flow lost it (no mask, or none to trust):
        its look along the side its mask was against on the frame before, from ``_LEAVE_SHARE`` of it on, and where
        it was (most of the find within the reach of its last move of that mask); None otherwise. A part that small
        is weak evidence of an object coming in anywhere along a side, but not of one seen there a frame ago (a
        badge ridden off by a whip pan showed its last 14 %, 16 px wide, for two frames, unmasked). Where the flow
        still has a mask to trust, it is kept: a look placed against one side misplaced a badge leaving by a
        corner (J 0.70 against the flow's 0.9). Seen there a frame ago, it is looked for at every likely place along
        the side (``every_place``): by its grey alone, a part of a building matched a badge's last sliver better than
        the sliver did (0.92, 57 px below it, its colours none of the badge's), and the sliver was left unmasked."""
        if not obj.mask.any() or not _at_edge(obj.mask):
            return None
        found = self._entering(
            obj, image, gray, _exit_side(obj.mask, obj.velocity), _LEAVE_SHARE, every_place=True
        )
        if found is None:
            return None
        reach = 2 + int(np.ceil(np.abs(obj.velocity).max()))
        return found if (found[0] & dilate(obj.mask, reach)).sum() >= 0.5 * found[0].sum() else None

    def _returning(self, obj: _Object, image) -> tuple[np.ndarray, float] | None:
        """A sliver of an object gone out by a side, where it went out: its last part, still in the picture after
        the flow let go of it, or its first back in. The pixels of its colours (``ColourModel``) joined to that edge,
        less deep than the share of it its look is searched for from (``_ENTER_SHARE``), along the stretch of the edge
        it went out by (and half that stretch again at each end), with its colours' score as the find's; None where
        there are none, they are too few (``_SLIVER``) or not of its colours (under ``_ENTER_BAR``). Too thin for its
        look to say where it is (a badge riding the sky went out by the left edge as the camera panned, and its end,
        up to 10 px of its 90, showed again for 17 frames as the camera turned back: its grey matched best 2 px too
        deep, its colours there too few for a find), a sliver is told by its colours."""
        side, left = obj.exit, obj.left_at
        if not left.any():
            return None
        turns = _TO_THE_RIGHT[side]
        frame, left = np.rot90(image, turns), np.rot90(left, turns)
        across = _size_now(obj, np.rot90(obj.template[1], turns))[0]  # its width across that side, now
        depth = max(2, int(np.ceil(_ENTER_SHARE * across)))
        rows = np.flatnonzero(left.any(axis=1))
        reach = (rows[-1] - rows[0] + 1) // 2
        top, bottom = max(0, rows[0] - reach), min(frame.shape[0], rows[-1] + reach + 1)
        strip = np.ascontiguousarray(frame[top:bottom, -depth:])
        likely = (obj.colours.log_ratio(strip) > 0).astype(np.uint8)
        count, pieces, stats, _ = cv2.connectedComponentsWithStats(likely, connectivity=8)
        on_edge = np.bincount(pieces[:, -1], minlength=count)
        on_edge[0] = 0
        best = int(np.argmax(on_edge))
        if on_edge[best] == 0 or stats[best, cv2.CC_STAT_AREA] < _SLIVER * obj.good_area:
            return None
        sliver = pieces == best
        score = float(np.clip((_looks_like(obj.palette, strip, sliver) - 0.3) / 0.5, 0, 1))
        if score < _ENTER_BAR:
            return None
        found = np.zeros(frame.shape[:2], bool)
        found[top:bottom, -depth:] = sliver
        return np.ascontiguousarray(np.rot90(found, -turns)), score

    def _coming_in(
        self, obj: _Object, image, gray, mask: np.ndarray, confidence: float
    ) -> tuple[tuple[np.ndarray, float], int | None] | None:
        """A rigid object cut off by one side of the frame and moving in from it, placed by its look along that side
        (``_entering``), and the side: when the find shows more of it than the flow's ``mask`` and holds nearly all
        of that mask (the same object, further in); None otherwise. (Not one leaving, which the flow follows out,
        nor one cut off at a corner, which a look placed against one side misplaces: a badge leaving by a corner
        was placed 6 px high and lost in three frames.) Where the flow's mask is one the editor would be pointed at
        (its ``confidence`` under ``LOW_CONFIDENCE``), the flow may have lost part of the object: it is looked for so
        whichever way it moves, and the side is None: the find stands for this frame, and the flow follows on from it
        (a badge half past the edge in a fast pan kept 30 % of its mask at 0.46, J 0.28; placed by its look on the
        frames after too, J 0.88-0.94, under the flow's 0.97)."""
        sides = [side for side, touched in enumerate(sides_touched(obj.mask)) if touched]
        if len(sides) != 1:
            return None
        inwards = _INWARDS[sides[0]] @ obj.velocity > 0
        if not inwards and confidence >= LOW_CONFIDENCE:
            return None
        found = self._entering(obj, image, gray, sides[0])
        if found is None or found[0].sum() <= mask.sum() or not _holds(found[0], mask):
            return None
        return found, sides[0] if inwards else None

    def _entering_as(
        self,
        obj: _Object,
        image,
        gray,
        side: int,
        look,
        least: float,
        scale: float = 1.0,
        every_place: bool = False,
    ) -> tuple[np.ndarray, float] | None:
        """``_entering`` for one look at one size. With ``every_place``, where the best match's colours are not the
        object's, the likeliest places of every part matched are scored with their colours, and the best taken."""
        patch, patch_mask = look
        size = _size_now(obj, patch_mask, scale)
        turns = _TO_THE_RIGHT[side]
        look_mask = np.rot90(
            cv2.resize(patch_mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST), turns
        )
        ph, pw = look_mask.shape
        frame = np.rot90(gray, turns)
        if ph >= frame.shape[0] or not look_mask.any():
            return None
        shrink = min(1.0, _ENTER_SIDE / max(ph, pw))
        small = (max(4, round(size[0] * shrink)), max(4, round(size[1] * shrink)))
        look = np.rot90(cv2.resize(patch, small, interpolation=cv2.INTER_AREA), turns)
        small_mask = np.rot90(
            cv2.resize(patch_mask.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST), turns
        )
        sw = look.shape[1]
        edge = cv2.resize(
            np.ascontiguousarray(frame[:, -pw:]), None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA
        )
        if look.shape[0] >= edge.shape[0]:
            return None

        def match(shown: int) -> tuple[float, int, int, np.ndarray] | None:
            """The best grey match of the look's first ``shown`` columns along the edge: its score, its place (top,
            at the search's scale), ``shown``, and the match at every place."""
            part_mask = np.ascontiguousarray(small_mask[:, :shown])
            if part_mask.sum() < least * small_mask.sum():
                return None
            part, strip = np.ascontiguousarray(look[:, :shown]), np.ascontiguousarray(edge[:, -shown:])
            scores = _masked_match(strip, part, part_mask)[:, 0]
            y = int(np.argmax(scores))
            return float(scores[y]), y, shown, scores

        def placed_at(shown: int, y: int, match: float) -> tuple[np.ndarray, float]:
            """The look's first ``shown`` columns against the edge with their top at ``y``, and the find's score
            there: ``match`` times its colours."""
            y, width = round(y / shrink), min(pw, round(shown / shrink))
            candidate = np.zeros(frame.shape, bool)
            placed = look_mask[: frame.shape[0] - y, :width] > 0
            candidate[y : y + placed.shape[0], -width:] = placed
            candidate = np.ascontiguousarray(np.rot90(candidate, -turns))
            x0, y0, x1, y1 = bounding_box(candidate)
            return candidate, _find_score(obj, image[y0:y1, x0:x1], candidate[y0:y1, x0:x1], match)

        # every few shares, then each one around the best of those
        shares = range(max(2, round(least * sw)), min(sw, edge.shape[1]) + 1)
        step = max(1, len(shares) // 10)
        coarse = [m for m in map(match, shares[::step]) if m is not None]
        if not coarse:
            return None
        near = max(coarse, key=lambda m: m[0])[2]
        fine = [
            match(n) for n in range(max(shares[0], near - step + 1), min(shares[-1], near + step - 1) + 1)
        ]
        matches = [m for m in fine if m is not None] + coarse
        score, y, shown, _ = max(matches, key=lambda m: m[0])
        # What shows best as the whole look is all of it: the whole look still matched against the edge (at 0.85)
        # a badge come in 10 px past it, and placed it there (J 0.64); found whole, it is placed where it is.
        if score < _ENTER_BAR or shown == sw:
            return None
        found = placed_at(shown, y, score)
        if found[1] >= _ENTER_BAR:
            return found
        if not every_place:
            return None
        # Its colours are not the object's there: by its grey alone, a part of a building matched a badge's last
        # sliver better than the sliver did (0.92, 57 px below it). The likeliest places of each part matched are
        # then scored with their colours, as in re-detection, and the best taken.
        finds, half = [], small_mask.shape[0] // 2  # places closer than half the look's height are one
        for _, _, shown, scores in matches:
            scores = scores.copy()
            for _ in range(_PLACES):
                y = int(np.argmax(scores))
                if scores[y] < _ENTER_BAR:  # (its colours only lower a find's score)
                    break
                finds.append(placed_at(shown, y, float(scores[y])))
                scores[max(0, y - half) : y + half + 1] = -1.0
        found = max(finds, key=lambda find: find[1], default=None)
        return found if found is not None and found[1] >= _ENTER_BAR else None

    def _search(
        self, obj: _Object, image, gray, patch, patch_mask, size=1.0
    ) -> tuple[np.ndarray, float] | None:
        """The object's best place over the whole frame at ``size`` times the size it had when last sure
        (``_size_now``), and the find's score."""
        h, w = gray.shape
        pw, ph = _size_now(obj, patch_mask, size)
        if ph >= h or pw >= w:
            return None
        shrink = min(1.0, 32 / max(ph, pw))  # search at a scale where the object is ~32 px
        small = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        tsize = (max(4, round(pw * shrink)), max(4, round(ph * shrink)))
        templ = cv2.resize(patch, tsize, interpolation=cv2.INTER_AREA)
        templ_mask = cv2.resize(patch_mask.astype(np.uint8), tsize, interpolation=cv2.INTER_NEAREST)
        if templ.shape[0] >= small.shape[0] or templ.shape[1] >= small.shape[1] or not templ_mask.any():
            return None
        # Compare the object's own pixels only: the background in its box has changed since then.
        places = [place for place in _likely_places(small, templ, templ_mask) if place[0] >= 0.6]
        if not places:
            return None
        placed = cv2.resize(patch_mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)

        def scored_at(x0: int, y0: int, match: float) -> float:
            """The find's score with the look's corner at (x0, y0) of the frame: ``match`` times its colours there."""
            x1, y1 = min(w, x0 + pw), min(h, y0 + ph)
            return _find_score(obj, image[y0:y1, x0:x1], placed[: y1 - y0, : x1 - x0] > 0, match)

        # By its grey alone, a blurred building's edge matched a badge's look better than the badge itself, back in
        # plain view after a whip pan (0.84 against 0.82 at 32 px), and the badge went unmasked for two frames: its
        # colours tell them apart.
        score, (bx, by) = max(
            places, key=lambda p: scored_at(round(p[1][0] / shrink), round(p[1][1] / shrink), p[0])
        )
        x0, y0 = round(bx / shrink), round(by / shrink)
        if shrink < 1:
            # The coarse search is off by up to a coarse pixel: settle it at a scale where the object is at most
            # _SETTLE_SIDE px: at full size, a player 600 px tall at 1080p cost 40 ms a settle, half the tracking's
            # time (2.4 fps; 3.9 so), and a pixel at that scale is half a percent of its size.
            fine = min(1.0, _SETTLE_SIDE / max(ph, pw))
            r = int(np.ceil(1 / shrink)) + 1
            wx0, wy0 = max(0, x0 - r), max(0, y0 - r)
            window = gray[wy0 : min(h, y0 + ph + r), wx0 : min(w, x0 + pw + r)]
            if window.shape[0] >= ph and window.shape[1] >= pw:
                settled = (max(4, round(pw * fine)), max(4, round(ph * fine)))  # the look's size there
                if fine < 1.0:
                    near = cv2.resize(window, None, fx=fine, fy=fine, interpolation=cv2.INTER_AREA)
                    look = cv2.resize(patch, settled, interpolation=cv2.INTER_AREA)
                    look_mask = cv2.resize(
                        patch_mask.astype(np.uint8), settled, interpolation=cv2.INTER_NEAREST
                    )
                else:
                    near, look = window, cv2.resize(patch, settled, interpolation=cv2.INTER_LINEAR)
                    look_mask = placed
                if near.shape[0] >= settled[1] and near.shape[1] >= settled[0]:
                    _, _, _, (fx, fy) = cv2.minMaxLoc(_masked_match(near, look, look_mask))
                    x0, y0 = wx0 + round(fx / fine), wy0 + round(fy / fine)
        x1, y1 = min(w, x0 + pw), min(h, y0 + ph)
        candidate = np.zeros((h, w), bool)
        candidate[y0:y1, x0:x1] = placed[: y1 - y0, : x1 - x0] > 0
        return candidate, scored_at(x0, y0, score)


def _find_rank(found: tuple[np.ndarray, float] | None) -> float:
    """A find's score, -1 for none."""
    return -1.0 if found is None else found[1]


def _looks(obj: _Object) -> list:
    """The looks (grey patch, mask) the object is searched for by: the keyframe's, and the last one the tracker
    was sure of when that is another."""
    looks = [obj.template] + ([obj.recent] if obj.recent is not obj.template else [])
    return [look for look in looks if look is not None]


def _zoomed(area: int, zoom: float | None) -> int:
    """``area`` as large as the camera's ``zoom`` (``motion.camera_zoom``) makes it (unchanged where the zoom could
    not be read)."""
    return area if zoom is None else max(1, round(area * zoom**2))


def _size_now(obj: _Object, patch_mask: np.ndarray, size: float = 1.0) -> tuple[int, int]:
    """The size (w, h) a look of the object has now: scaled to the area of the last mask the tracker was sure of
    (times ``size``)."""
    zoom = size * np.sqrt(max(obj.good_area, 1) / max(int(patch_mask.sum()), 1))
    return max(4, round(patch_mask.shape[1] * zoom)), max(4, round(patch_mask.shape[0] * zoom))


def _find_score(obj: _Object, image: np.ndarray, candidate: np.ndarray, match: float) -> float:
    """A find's score: its match, times how far the colours of the ``candidate`` pixels (of ``image``, both cut to
    the find's box) are the object's (0 below 0.3, 1 from 0.8, as in the tracking's confidence)."""
    looks = _looks_like(obj.palette, image, candidate)
    return float(match) * float(np.clip((looks - 0.3) / 0.5, 0, 1))


# A mask the tracker is less sure of than this, with nothing found instead, is no mask.
_NO_TRUST = 0.05
# How sure the tracker is of an empty mask once the object went out of the picture (it may come back unseen).
_WENT_OUT = 0.9
# A find is taken only past this score (its match times its colours), whatever the mask it would replace: a hidden
# or gone object's mask has confidence 0, and the shape of the object matched on a blurred wall of other colours
# scored 0.02-0.03 there (the object's own finds on the eval's clips and composites: 0.86-0.98).
_FIND_BAR = 0.5
# An object that left the picture is looked for coming back in from this share of it on, and taken when its
# part that shows matches by this much (a part is weaker evidence than the whole, which re-detection takes at 0.6).
_ENTER_SHARE, _ENTER_BAR = 0.3, 0.8
# An object just gone out by a side, the flow having lost it, is looked for along it from this share of it on.
_LEAVE_SHARE = 0.1
# The least share of an object gone out by a side that a sliver of it where it went out is taken from (_returning).
_SLIVER = 0.02
_ENTER_SIDE = 64  # px: the longest side of the look the search for it coming back in runs at
# ... and the sizes it is looked for at there, relative to good_area, when that is the camera's zoom carried over
# the frames it was gone (``_Object.zoomed``): a few per cent off its size, its part matched the ground better.
_ENTER_SIZES = (0.93, 1.0, 1.07)
# A rigid object cut off by the frame's edge is placed by its look there when that holds this share of the flow's mask.
_COMING_IN = 0.9
# The np.rot90 turns that bring the frame's left, top, right and bottom sides to the right.
_TO_THE_RIGHT = {0: 2, 1: -1, 2: 0, 3: 1}
# Into the picture from its left, top, right and bottom sides (x, y).
_INWARDS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])


def _carried_off_the_side(obj: _Object, mask: np.ndarray, side: int) -> np.ndarray | None:
    """An object coming in by ``side``, not found whole, whose ``mask`` the flow carried off that side: still short
    of its size (``_STEADY``), it is still coming in, and what came in past the side since the frame before is the
    object, which no flow can carry. Its mask then reaches the side again, along the rows that end no further off it
    than the length of the object still to come in (its missing area over the mask's height); None where it is about
    its size (all of it in) or no row ends that near."""
    area = np.count_nonzero(mask)
    if _steadiness(area, obj.good_area) >= _STEADY:
        return None
    turned = np.rot90(mask, _TO_THE_RIGHT[side])  # the side to the right
    rows = np.flatnonzero(turned.any(axis=1))
    last = turned.shape[1] - 1 - np.argmax(turned[rows, ::-1], axis=1)  # each row's last column
    near = turned.shape[1] - 1 - last <= (obj.good_area - area) / len(rows)
    if not near.any():
        return None
    reached = turned.copy()
    reached[rows[near]] |= np.arange(turned.shape[1])[None, :] > last[near, None]
    return np.ascontiguousarray(np.rot90(reached, -_TO_THE_RIGHT[side]))


def _whole_in(found: np.ndarray, mask: np.ndarray, side: int) -> bool:
    """Is ``found`` (the whole look, placed by re-detection once an object coming in by ``side`` is all in) where
    the object is, rather than the flow's ``mask``?

    Away from the frame's edge, yes. Against it, only against the side it came in by, holding nearly all of the
    flow's mask (``_COMING_IN``): the flow cannot carry the part that came in last, so its mask falls short on that
    side (a badge back in by the left kept a mask 9 px short of its left end for its last ten frames, J 0.82-0.90,
    and that end showed in the fill). Not against another side: a badge sliding into a corner, cut off by a second
    side, had its whole look placed 9 px off it."""
    touched = sides_touched(found)
    if not any(touched):
        return True
    return touched == [s == side for s in range(4)] and _holds(found, mask)


def _holds(found: np.ndarray, mask: np.ndarray) -> bool:
    """Does ``found`` (the object placed by its look) hold nearly all of the flow's ``mask`` (``_COMING_IN``): the
    same object, further in?"""
    return (found & mask).sum() >= _COMING_IN * mask.sum()


def _exit_side(mask: np.ndarray, velocity: np.ndarray) -> int | None:
    """The side of the frame (0 left, 1 top, 2 right, 3 bottom) a mask leaves by: of the sides it touches, the one
    its last move heads for most; clear of the edges, of the sides its box, moved on by that move, lies mostly
    past (a badge riding a whip pan, 30 px inside the picture and heading for its top at 51 px a frame, was gone on
    the next frame: taken for lost, it was doubted on every frame after and looked for everywhere); None where
    neither."""
    touches = sides_touched(mask)
    if not any(touches):
        touches = _sides_passed(mask, velocity)
        if not any(touches):
            return None
    heading = -(_INWARDS @ velocity)
    return max((side for side in range(4) if touches[side]), key=lambda side: heading[side])


_LUMA = np.array([0.299, 0.587, 0.114])  # RGB to grey, as cv2.COLOR_RGB2GRAY


def _colour_step(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The 1x4 RGB-to-one-channel matrix the flow runs on when grey hardly shows the object, else None (grey).

    A pure red square on grey ground of the same lightness is invisible to a flow on grey, which then
    reports it still. Then the object's colour step is added to grey: its difference from its
    surroundings (the rest of the crop, ``image`` with the object ``mask``) with the grey part taken out,
    as one direction in RGB, in proportion to how little grey shows it (fully below the noise, not at
    all beyond three times the noise).
    """
    inside = np.count_nonzero(mask)
    if inside == 0 or inside == mask.size:
        return None
    total = np.array(cv2.mean(image)[:3]) * mask.size
    inner = np.array(cv2.mean(image, mask.astype(np.uint8))[:3])
    around = (total - inner * inside) / (mask.size - inside)
    step = inner - around
    hue = step - (_LUMA @ step)  # the grey step taken out (grey of (1, 1, 1) is 1)
    weight = 1.0 - _ramp(abs(float(_LUMA @ step)), _NOISE, 3 * _NOISE)
    if weight == 0 or np.linalg.norm(hue) < _NOISE:
        return None
    direction = weight * hue / np.linalg.norm(hue)
    offset = -float(direction @ around)  # the surroundings stay at their grey
    return np.append(_LUMA + direction, offset)[None].astype(np.float32)


def _similarity(dense, gx, gy, mx, my) -> tuple[np.ndarray, float] | None:
    """The similarity transform (previous crop to this one) that the flow inside the warped mask fits best, and
    the share of the object it explains (RANSAC inliers within a pixel); None when it cannot be fitted."""
    ys, xs = np.nonzero(dense > 0.5)
    if xs.size < 12:
        return None
    pick = np.linspace(0, xs.size - 1, min(400, xs.size)).astype(int)
    ys, xs = ys[pick], xs[pick]
    src = np.stack([mx[ys, xs], my[ys, xs]], axis=1)
    dst = np.stack([gx[ys, xs], gy[ys, xs]], axis=1)
    transform, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    return None if transform is None else (transform, float(inliers.mean()))


def _pieces_with_the_rigid_motion(refined, transform, gx, gy, mx, my) -> np.ndarray:
    """Drop the pieces of the mask that do not move with the rest, when the rest moves as one rigid body.

    A badge that passed over a person leaves bits of the person in its mask, which the flow then carries
    with the person, apart from the badge, for good. Each connected piece is judged by the share of its
    pixels whose flow the rigid fit ``transform`` explains (within a pixel); when the largest piece is
    rigid by that measure (``_RIGID``), pieces mostly off that motion are dropped. A person, whose largest
    piece does not move rigidly, keeps all its pieces."""
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(refined.astype(np.uint8), connectivity=8)
    if count <= 2:
        return refined
    ys, xs = np.nonzero(pieces)
    sx, sy = mx[ys, xs], my[ys, xs]
    px = transform[0, 0] * sx + transform[0, 1] * sy + transform[0, 2]
    py = transform[1, 0] * sx + transform[1, 1] * sy + transform[1, 2]
    inlier = np.hypot(px - gx[ys, xs], py - gy[ys, xs]) < 1.0
    share = _shares(pieces[ys, xs], inlier, count)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if share[largest] < _RIGID:
        return refined
    keep = share >= 0.5
    keep[0] = False
    return keep[pieces].astype(refined.dtype)


def _shares(labels: np.ndarray, flags: np.ndarray, count: int) -> np.ndarray:
    """Per label 0..``count``-1, the share of the pixels with that label (``labels``) whose ``flags`` are set."""
    return np.bincount(labels, weights=flags, minlength=count) / np.maximum(
        np.bincount(labels, minlength=count), 1
    )


def _without_specks(refined: np.ndarray, gap: float = _SPECK_GAP) -> np.ndarray:
    """Drop the specks of the mask: pieces under ``_SPECK`` of the largest piece's area, more than ``gap`` px
    from it.

    On a motion-blurred or blocky frame the re-cut finds a few pixels of the object's colours on the ground
    some way off; ``_supported`` keeps them when the prior overlaps them, and the flow then carries them on
    with the mask, to be painted out far from the object. What is near the largest piece (a hand, a racket
    beside a player) or sizeable (a second letter) stays."""
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(refined.astype(np.uint8), connectivity=8)
    if count <= 2:
        return refined
    areas = stats[:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas[1:]))
    keep = areas >= _SPECK * areas[largest]
    keep[np.unique(pieces[_distance(pieces != largest) <= gap])] = True
    keep[0] = False
    return keep[pieces].astype(refined.dtype)


def _rigid_blend(prev_mask, dense, fit) -> np.ndarray:
    """Mix the rigidly warped mask with the densely warped one, by how much of the object moves rigidly."""
    if fit is None:
        return dense
    transform, share = fit
    weight = float(np.clip((share - 0.5) / (_RIGID - 0.5), 0.0, 1.0))
    if weight == 0:
        return dense
    rigid = cv2.warpAffine(prev_mask, transform, prev_mask.shape[::-1], flags=cv2.INTER_LINEAR, borderValue=0)
    return weight * rigid + (1 - weight) * dense


def _aligned_prior(prev_mask, prev, cur, dense, by_flow, fit, shift) -> np.ndarray | None:
    """The previous mask carried by ``_align``'s warp, when that warp reproduces the object better than both of
    the flow's (its rigid fit, ``fit``, and the dense warp, ``by_flow``) by more than a grey level; else None.
    All three are judged on the same pixels: where either the aligned or the densely warped mask is.

    On a heavily motion-blurred frame the alignment may not converge; the motion model's guess, the object's
    last move ``shift``, stands in for it. There the dense flow carries the pan onto part of the object (on
    a composite over a fast pan it dropped half a badge in one frame), while the last move still holds it."""
    transform = _align(prev, cur, prev_mask > 0.5, shift)
    if transform is None:
        transform = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    rigid = cv2.warpAffine(prev_mask, transform, prev_mask.shape[::-1], flags=cv2.INTER_LINEAR, borderValue=0)
    judged = (rigid > 0.5) | (dense > 0.5)
    box = bounding_box(judged)
    if box is None:
        return None
    x0, y0, x1, y1 = box  # the residuals are computed on the judged pixels' box only
    judged, cur = judged[y0:y1, x0:x1], cur[y0:y1, x0:x1].astype(np.float32)

    def residual(warped):
        return float(np.abs(warped.astype(np.float32) - cur)[judged].mean())

    def carried(matrix):
        moved = matrix - np.float32([[0, 0, x0], [0, 0, y0]])  # the warp's output starts at the box's corner
        return cv2.warpAffine(
            prev, moved, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    flow_best = residual(by_flow[y0:y1, x0:x1])
    if fit is not None:
        flow_best = min(flow_best, residual(carried(fit[0])))
    return rigid if residual(carried(transform)) < flow_best - 1.0 else None


def _align(prev: np.ndarray, cur: np.ndarray, mask: np.ndarray, shift: np.ndarray) -> np.ndarray | None:
    """The affine map (previous crop to this one) that best aligns the object's own grey pixels (OpenCV's ECC,
    masked, so the ground cannot pull it), started from the object's last move ``shift``; None if it fails.

    It runs on the object's box, grown by a tenth of its size plus the expected move, at most ``_ALIGN_SIDE``
    pixels long (a few milliseconds)."""
    box = bounding_box(mask)
    if box is None:
        return None
    h, w = mask.shape
    size = box_side(box)
    reach = int(np.ceil(np.abs(shift).max()))
    x0, y0, x1, y1 = padded_box(box, pad=max(2, size // 10) + reach, width=w, height=h)
    s = min(1.0, _ALIGN_SIDE / max(x1 - x0, y1 - y0))

    def small(a, interp=cv2.INTER_AREA):
        a = a[y0:y1, x0:x1]
        return cv2.resize(a, None, fx=s, fy=s, interpolation=interp) if s < 1 else a

    warp = np.float32([[1, 0, s * shift[0]], [0, 1, s * shift[1]]])
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 1e-3)
    try:
        _, warp = cv2.findTransformECC(
            small(prev),
            small(cur),
            warp,
            cv2.MOTION_AFFINE,
            criteria,
            small(mask.astype(np.uint8), cv2.INTER_NEAREST),
            1,
        )
    except cv2.error:  # no convergence (a flat object, or one that left the box)
        return None
    a = warp[:, :2].astype(np.float64)
    origin = np.array([x0, y0], float)
    return np.hstack([a, (warp[:, 2] / s + origin - a @ origin)[:, None]]).astype(np.float32)


def _trusted(prior: np.ndarray, by_flow: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The warped mask, trusted only where the flow's warp of the previous frame reproduces this one.

    Behind a moving object the background it uncovers has no match in the previous frame, and
    smooth flow drags the object's motion (and so its mask) onto it: the mask smears over the
    uncovered ground frame after frame. There the warped frame does not look like the real one,
    so the prior is pulled towards "unknown" (0.5) in proportion, and the colour models decide.
    """
    mismatch = cv2.blur(np.abs(by_flow.astype(np.float32) - cur), (5, 5))
    trust = np.exp(-np.maximum(0.0, mismatch - _NOISE) / _MISMATCH)
    return 0.5 + (prior - 0.5) * trust


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _slab_evidence(image, flow, mask, ring) -> float:
    """How likely the mask holds a slab of ground beside the object, in [0, 1]: two failures the colour,
    motion-residual and area scores cannot see, because the mask keeps the colours and motion it had.
    A keyframe cut that took a patch of wall beside a player, or a mask that slid onto ground of the
    object's own colour, is followed faithfully, wrong from the start or wrong a little more each frame.

    Two signs, each with an innocent reading, so they count only together:

    - Two motions in one mask (``_two_layers``): part of it moves with the ground around it while
      another part moves on its own. Alone, that is also a standing body with moving limbs.
    - The mask's colours go on past its edge (``_bleed``): its ring holds pixels of the colours the
      mask is made of. Alone, that is also an object on ground of its own colour.

    A slab of ground taken in shows both: it moves with the ground and is made of it. ``ring`` is the
    mask's ``ColourModel._ring``, the ground around it.
    """
    if not mask.any() or not ring.any():
        return 0.0
    layers = _ramp(_two_layers(flow, mask, ring), *_TWO_LAYERS)
    return layers * _ramp(_bleed(image, mask, ring), *_BLEED) if layers > 0 else 0.0


def _two_layers(flow, mask, ring) -> float:
    """The smaller of two shares of the mask: the pixels that move with the ground, the pixels that move on their own.

    A mask pixel within ``_STILL`` px of the ground's motion (``_ground_motion``) moves with the ground, one
    more than ``_MOVING`` px away moves on its own; a mask of one object is (nearly) all one or all the
    other. 0 when the ring is too small to fit the ground's motion.
    """
    ground = _ground_motion(flow, ring)
    if ground is None:
        return 0.0
    ys, xs = _sample(mask, 4000)  # shares: a sample will do
    off = _off_ground(ground, flow, ys, xs)
    return float(min((off < _STILL).mean(), (off > _MOVING).mean()))


def _ground_motion(flow, ring) -> np.ndarray | None:
    """The ground's motion: an affine map fitted to the flow on the ring around the mask (RANSAC: the ring may
    hold bits of the object, and the flow bleeds a little across edges); None when the ring is too small."""
    ys, xs = _sample(ring, 400)
    if xs.size < 12:
        return None
    here = np.stack([xs, ys], axis=1).astype(np.float32)
    ground, _ = cv2.estimateAffine2D(here, here + flow[ys, xs], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    return ground


def _off_ground(ground: np.ndarray, flow, ys, xs) -> np.ndarray:
    """How far (px) the flow at the pixels (``ys``, ``xs``) is from the ground's motion ``ground``."""
    moved = flow[ys, xs]
    off_x = ground[0, 0] * xs + ground[0, 1] * ys + ground[0, 2] - xs - moved[:, 0]
    off_y = ground[1, 0] * xs + ground[1, 1] * ys + ground[1, 2] - ys - moved[:, 1]
    return np.hypot(off_x, off_y)


def _slab_in(image, mask, ring, flow) -> tuple[np.ndarray, np.ndarray] | None:
    """The mask without the slab of ground it holds, and that slab; None when there is none, or letting it go
    would leave too little.

    Called when both signs of a slab are clear (``_slab_evidence`` at least ``_SLAB_ACT``, on the mask and
    its ``ring``): a loose keyframe cut that took the wall beside a player, or a mask grown onto ground of
    the object's colours, moves with the ground and is made of it. The pieces of the mask that move with the
    ground (within ``_STILL`` px of its motion) and are made of the ground's colours (``_of_ground``) are let
    go. A piece in the colours of the rest is part of the object standing still: one girl of a group cut as
    one, waiting while the others walked on, was let go of as a slab (J 0.60 -> 0.30, and the group was never
    whole again). Nothing is let go where that leaves under ``_SLAB_REST`` of the mask: then the object itself
    is what moves with the ground. A badge riding a wall through a fast, blurred pan moves with the wall, and
    the flow's noise over part of it (2 px and more off the wall's motion) made that part look like an object
    moving on its own: the 57 % of the badge that moved with the wall was let go of as a slab on the first
    frame, and the badge was tracked at the size of the rest (J 0.43-0.67 on its next 15 frames).
    """
    ground = _ground_motion(flow, ring)
    if ground is None:
        return None
    ys, xs = np.nonzero(mask)
    still = np.zeros(mask.shape, np.uint8)
    still[ys, xs] = _off_ground(ground, flow, ys, xs) < _STILL
    count, pieces = cv2.connectedComponents(still, connectivity=8)
    slab = _of_ground(image, mask, ring, mask & (pieces == 0), pieces, count)
    if not slab.any():
        return None
    rest = cv2.morphologyEx((mask & ~slab).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return (rest, slab) if rest.sum() > _SLAB_REST * mask.sum() else None


def _ground_pieces(image, mask, ring, flow, edges: bool) -> np.ndarray | None:
    """The pieces of ground the mask holds while the object moves on its own (its median pixel ``_MOVING`` px a
    frame off the ground's motion); None when there are none, or when letting them go leaves under ``_SLAB_REST``.

    A keyframe cut that took a wedge of ground beside the object (mat cells beside a badge's dark end), or a patch
    of the object's colours on the ground, is carried on by the flow until it tears off, for several frames, and
    painted out there: too small a share of the mask for the signs of a slab (``_slab_evidence``) to count. Let go:
    - a piece apart from the largest, most of whose pixels move with the ground (a logo's letters move together),
      and smaller than ``_APART`` of the largest: a piece that size is a second object of a group the user cut as
      one (two people, one standing while the other walks off; a disc and a square of their own colours lost the
      still square on frame 3 of 20, J 0.96 -> 0.60);
    - with ``edges``, a part of the mask that moves with the ground, deeper than the flow bleeds across an edge
      (``_FLOW_BLEED``), and made of the ground's colours (most of its pixels of colours more common in the
      ``ring`` than in the rest of the mask; a planted foot keeps its shoe's). Not for an object held to its
      outline (the caller's ``edges``): the outline bounds its mask already, and the flat end of a badge in its
      ground's colours, which the flow drags with the ground, would be cut off.
    """
    ground = _ground_motion(flow, ring)
    if ground is None:
        return None
    ys, xs = np.nonzero(mask)
    off = _off_ground(ground, flow, ys, xs)
    if np.median(off) <= _MOVING:  # the object does not clearly move on its own: motion cannot tell
        return None
    still = np.zeros(mask.shape, np.uint8)
    still[ys, xs] = off < _STILL
    out = np.zeros(mask.shape, bool)
    count, parts, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count > 2:
        apart = _shares(parts[ys, xs], still[ys, xs], count) >= 0.5
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        apart &= stats[:, cv2.CC_STAT_AREA] < _APART * stats[largest, cv2.CC_STAT_AREA]
        apart[[0, largest]] = False
        out |= apart[parts]
    if edges:
        count, pieces = cv2.connectedComponents(
            cv2.morphologyEx(still, cv2.MORPH_OPEN, ellipse(_FLOW_BLEED)), connectivity=8
        )
        out |= _of_ground(image, mask, ring, mask & (pieces == 0) & ~out, pieces, count)
    if not out.any() or (mask & ~out).sum() < _SLAB_REST * mask.sum():
        return None
    return out


def _of_ground(image, mask, ring, rest, pieces, count) -> np.ndarray:
    """The ``pieces`` (labels 1 to ``count`` - 1 over the mask; 0 is none) made of the ground's colours: most of
    their pixels of colours more common in the ``ring`` around the mask than in the ``rest`` of it."""
    if count < 2 or not rest.any():
        return np.zeros(mask.shape, bool)
    index = _colour_index(image)
    of_ground = (_colour_shares(index, ring) > _colour_shares(index, rest))[index[mask]]
    made_of_ground = _shares(pieces[mask], of_ground, count) > 0.5
    made_of_ground[0] = False
    return made_of_ground[pieces]  # (the pieces lie in the mask: label 0 is all else)


def _sample(region: np.ndarray, about: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of about ``about`` pixels of ``region``, spread over it on a regular grid."""
    step = max(1, int(np.sqrt(np.count_nonzero(region) / about)))
    ys, xs = np.nonzero(region[::step, ::step])
    return ys * step, xs * step


def _bleed(image, mask, ring) -> float:
    """The share of the ring around the mask whose colour is more common in the mask than in the ring.

    The colours of an object's own cut stop at its edge, so beyond chance (a few per cent) its ring is
    made of other colours; a cut that ends inside a surface has that surface on both sides.
    """
    index = _colour_index(image)
    around = index[ring]
    return float((_colour_shares(index, mask)[around] > _colour_shares(index, ring)[around]).mean())


def _colour_shares(index: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The share of ``where``'s pixels in each colour bin (``index``: ``_colour_index`` of the image)."""
    return np.bincount(index[where], minlength=_BINS**3) / max(1, np.count_nonzero(where))


def _unsupported_edge(image, flow, mask, cell: int = 12, depth: int = 5) -> float:
    """The share of the mask's edge across which neither the colour nor the motion changes.

    Where the mask's edge is the object's, the pixels just inside differ from those just outside:
    in colour, or in motion. An edge that runs through one surface (a mask grown onto plain ground
    of the object's colour, or cut off inside the object) has the same on both sides. Judged per
    ``cell``-sized window along the edge, on bands up to ``depth`` px inside and outside it, so
    that texture averages out: the colour step counts when the mean colours differ by more than
    the colours vary within the bands (plus noise), the motion step when the mean flows differ by
    more than half a pixel. The mask's own outermost 2 px are a band of their own: an outline (a
    badge's rim, a dark silhouette line) differs from both sides while they are alike.
    """
    if not mask.any():
        return 0.0
    x0, y0, x1, y1 = padded_box(bounding_box(mask), pad=depth + 2, width=mask.shape[1], height=mask.shape[0])
    image, flow, mask = image[y0:y1, x0:x1], flow[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    inside, outside = _distance(mask), _distance(~mask)
    # The bands, 1 (rim), 2 (inner), 3 (outer), and each pixel's window: one bincount per channel for all.
    band = np.zeros(mask.shape, np.intp)
    band[(inside > 0) & (inside <= 2)] = 1
    band[(inside > 2) & (inside <= depth)] = 2
    band[(outside > 1) & (outside <= depth)] = 3
    h, w = mask.shape
    cols = -(-w // cell)
    count = -(-h // cell) * cols
    window = (np.arange(h)[:, None] // cell) * cols + (np.arange(w)[None, :] // cell)
    at = band > 0
    key = (band[at] - 1) * count + window[at]
    colour, motion = image[at].astype(np.float32), flow[at]

    def per_window(weights=None):
        return np.bincount(key, weights, minlength=3 * count).reshape(3, count)

    n = per_window()
    mean = np.stack([per_window(c) for c in (*colour.T, *motion.T)], axis=-1) / np.maximum(n, 1)[..., None]
    square = np.stack([per_window(c**2) for c in colour.T], axis=-1) / np.maximum(n, 1)[..., None]
    spread = np.maximum(square - mean[..., :3] ** 2, 0).sum(-1)  # the colour variance, summed over channels
    rim, inner, outer = 0, 1, 2

    def colour_changes(side):
        step = np.linalg.norm(mean[side, :, :3] - mean[outer, :, :3], axis=1)
        return step > np.sqrt((spread[side] + spread[outer]) / 2 + 3 * _NOISE**2)

    edge_count = np.bincount(window[(inside > 0) & (inside <= 1)], minlength=count)
    judged = (n[inner] >= 4) & (n[outer] >= 4) & (edge_count > 0)
    if not edge_count[judged].any():
        return 0.0
    motion_changes = np.linalg.norm(mean[inner, :, 3:] - mean[outer, :, 3:], axis=1) > 0.5
    unsupported = judged & ~colour_changes(inner) & ~colour_changes(rim) & ~motion_changes
    return float(edge_count[unsupported].sum() / edge_count[judged].sum())


def _supported(refined: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Keep only the pieces of the cut that overlap the prior: colour alone does not start a new piece."""
    count, pieces = cv2.connectedComponents(refined, connectivity=8)
    if count <= 2:
        return refined
    keep = np.unique(pieces[prior & (refined > 0)])
    return np.isin(pieces, keep[keep > 0]).astype(np.uint8)
