"""Classical segmentation from clicks and boxes: GrabCut seeded from the prompts.

No weights, no GPU. ``set_image`` keeps a smoothed copy of the frame (the
"embedding" of this backend); ``predict`` runs GrabCut on a crop around the
prompt, scaled to at most ``work_side`` pixels, so a click costs the same on a
480p and a 4K frame.

GrabCut takes the box as "mostly object". A loose box around a person is mostly
court and wall, and the cut then takes those. So with a box a second hypothesis is
made, from edges rather than colours: what the outside of the box cannot reach
without crossing a strong edge (the object's outline), connected to the click
(``_enclosed``). It is kept instead of GrabCut's cut when it contains that cut and
adds a good part to it (a person's dark shorts that GrabCut's colour model gave to a
dark wall; adding less, the pieces it adds that complete the cut's shape join the cut: a
badge's dark end on dark ground, not the grid cells of a mat beside it), or when GrabCut's
cut is less distinct from its surroundings than it is (the cut took the surroundings) and
does not hold it as a small part of a cut distinct in its own right (one letter of a
badge); either way only when it spans at least half the box across or down, as what the
user boxed does. Where GrabCut's colour models drift until the object's holds nothing but the sure seeds around
the clicks (a badge shaded into colours found around it), the box is read instead as its colours against
those of a ring just outside it (``_unlike_its_ring``), which has no model to drift.

A box drawn around an object is crossed by it in every row and column (the box prior of Lempitsky
et al., ICCV 2009). Where the cut reaches three sides of the box and falls short of the fourth, the
rows or columns it leaves empty are seeded with their most object-like pixel and GrabCut cuts again
(``_reach_the_box``); what that adds is kept when it completes the cut's shape (a badge's end in the
fence's colours), not when it juts out of it (the ground past a side drawn loosely). And where most of the cut
follows one course of colour over position (a badge's face shaded from one colour into another), the box's
pixels that carry that course on and join the cut are the object too (``_carry_on_its_colours``): the band at
a badge's foot in the colours of the ground behind it; and what the cut took well past that face's convex hull
is not (``_beyond_the_face``): a block or the fingers in a corner of a tilted badge's box.

Where the frames around the image are offered (``set_neighbours``) and a good part of the cut moves
against the scene, what moves is the object (motion.py): the still wall beside a moving player is let
go, his legs and the shadow running with him are taken. Not where the cut fills most of its box and what moves
would let go of a part like the rest of the object, not like the ground: a badge's flat face, which moves over
itself and shows no motion (``_lets_go_of_its_inside``).

Last, a bay in the cut's outline that the object's own outline closes is taken
(``close_outlined_concavities``): a badge shading into the ground's colours at its lower edge is cut by
colour along its letters, though its edge shows below them. Where that edge hardly shows (a band in the
colours of a striped facade), a bay that runs along a side of a tight box is taken when its colours and grain
are the object's beside it rather than the ground's: smooth like the badge, not striped like the wall.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .. import crops
from ..masks import bounding_box, box_side, dilate, ellipse, fill_holes, padded_box
from ..prompts import ObjectPrompt
from . import motion
from .base import EmbeddingCache, Segmenter, rgb_image


@dataclass
class _Frame:
    """What ``set_image`` keeps of an image: a smoothed copy, and once the frames around it are offered, the
    motion map made from them (None when they could not be laid onto it). A new image under a key is a new
    ``_Frame``, so a map never outlives the image it was made for."""

    smoothed: np.ndarray
    offered: bool = False
    motion: np.ndarray | None = None


class GrabCutSegmenter(Segmenter):
    name = "grabcut"
    uses_neighbours = True  # what moves against the scene (motion.py)

    def __init__(self, cache_size: int = 8, work_side: int = 256, iterations: int = 3):
        self.work_side = work_side
        self.iterations = iterations
        self._frames: EmbeddingCache[_Frame] = EmbeddingCache(cache_size)

    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        image = rgb_image(image, "GrabCut")
        # Edge-preserving smoothing takes the compression noise out of the colour models.
        self._frames.get_or_make(
            key, image, lambda: _Frame(cv2.bilateralFilter(np.ascontiguousarray(image), 5, 30, 5))
        )

    def set_neighbours(self, key: Hashable, read: Callable[[], Sequence[np.ndarray]]) -> None:
        frame = self._frames[key]
        if not frame.offered:
            frame.motion, frame.offered = motion.motion_map(frame.smoothed, read()), True

    def wants_neighbours(self, key: Hashable) -> bool:
        return key in self._frames and not self._frames[key].offered

    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        frame = self._frames[key]
        image = frame.smoothed
        box = self._region_of_interest(image, prompt)
        mask = self._cut(image, box, prompt, None)
        # A click alone only says where the object starts: while the mask fills its box to the
        # edge, the object goes on beyond it, so grow the box around the mask and cut again.
        for _ in range(3 if prompt.box is None else 0):
            found = bounding_box(mask)
            if found is None or not _touches(found, box, image.shape):
                break
            size = box_side(found)
            box = padded_box(found, pad=size // 2, width=image.shape[1], height=image.shape[0], min_size=0)
            grown = self._cut(image, box, prompt, mask)
            if grown.sum() > 3 * mask.sum():  # leaking into the background, not completing the object
                break
            mask = grown
        # What moves against the scene, when a good part of the cut does, is the object: the still wall or
        # court the colour cut took beside a moving person is let go, the legs it gave to the court are
        # taken (motion.py).
        if frame.motion is not None:
            clicks = [(round(p.x), round(p.y)) for p in prompt.points if p.label] or [
                ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
            ]
            moving = motion.what_moves(
                mask,
                frame.motion,
                box,
                clicks,
                took_ground=_took_its_surroundings(image, mask, box),
                boxed=prompt.box is not None,
            )
            if moving is not None and not _lets_go_of_its_inside(image, mask, moving, box):
                mask = moving
        return take_mixed_rim(image, close_outlined_concavities(image, mask, box))

    def _cut(self, image, box, prompt: ObjectPrompt, previous: np.ndarray | None) -> np.ndarray:
        """The object in a crop around ``box``: GrabCut's cut, or, with a user's box, the enclosed region
        when it is the better of the two (see the module's docstring)."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = padded_box(
            box, pad=max(8, (box[2] - box[0] + box[3] - box[1]) // 4), width=w, height=h
        )
        scale, work = crops.fit(x1 - x0, y1 - y0, self.work_side)
        small = crops.resize(image[y0:y1, x0:x1], work)
        inbox = np.zeros(small.shape[:2], bool)
        bx0, by0, bx1, by1 = ((np.array(box) - [x0, y0, x0, y0]) * scale).round().astype(int)
        inbox[max(by0, 0) : by1, max(bx0, 0) : bx1] = True
        radius = max(2, round(3 * scale * max(1.0, max(h, w) / 1000)))
        clicks = [((round((p.x - x0) * scale), round((p.y - y0) * scale)), p.label) for p in prompt.points]
        if previous is not None:
            previous = cv2.resize(
                previous[y0:y1, x0:x1].astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST
            ).astype(bool)

        fg = _keep_prompted_components(self._grabcut(small, inbox, clicks, radius, previous), clicks)
        if prompt.box is not None and inbox.any() and _seeds_alone(fg, clicks, radius):
            # GrabCut's models drifted until the object's held nothing but the sure seeds around the clicks: the
            # box's colours are told from those just outside it instead (``_unlike_its_ring``). A badge shaded
            # from light green into lavender, boxed tightly on four girls' legs, their lavender shirts 28 px off,
            # was cut as the click's disc alone (J 0.02). A narrower margin is no cure: at 8-16 px the cut was 0.85
            # in one crop and 0.02 again in one four rows taller (the drift is chaotic). Against its ring: 0.94.
            fg = _keep_prompted_components(_unlike_its_ring(small, inbox), clicks)
        if prompt.box is not None and inbox.any() and any(label for _, label in clicks):
            enclosed = _keep_prompted_components(_enclosed(small, inbox, clicks, radius), clicks)
            if _spans_box(enclosed, inbox):  # it could be what the user boxed (see _spans_box)
                shared = (fg & enclosed).sum()
                holds_cut = shared >= 0.9 * fg.sum()
                completes = holds_cut and enclosed.sum() > 1.25 * fg.sum()
                cut_distinctness = _distinctness(small, fg)
                # Well inside a cut, the enclosed region is a mark on the object (a letter of a badge, ringed by
                # the box's strongest edges), not a better reading of it: when the cut stands out from its
                # surroundings, or when the region reaches no side of the box, as what the user boxed does (a
                # badge in the dark green of the trees behind it stood out no more than its letter, J 0.11).
                # Inside the cut's outline: its holes filled (a colour cut may leave a letter in a colour of its own
                # out, as a hole) and grown by the pixel or two by which two edges found apart differ (a grey
                # badge's yellow letters ran 1 px past the cut's notched lower edge, 94 % inside: they were taken
                # for the badge, J 0.19).
                a_mark = (
                    (dilate(fill_holes(fg), 2) & enclosed).sum() >= 0.95 * enclosed.sum()
                    and enclosed.sum() < 0.5 * fg.sum()
                    and (cut_distinctness >= DISTINCT or not any(_sides_reached(enclosed, inbox)))
                )
                if completes or (not a_mark and cut_distinctness < _distinctness(small, enclosed)):
                    fg = enclosed
                elif holds_cut:
                    # Adding less than a good part, the enclosed region may still be the object's outline:
                    # what it adds is a strip of the object in the ground's colours (a badge's dark end on
                    # dark ground), which a removal that leaves it out paints into the hole (see
                    # _completing_pieces).
                    fg = fg | _completing_pieces(fg, enclosed)
        if prompt.box is not None and inbox.any():
            fg = _carry_on_its_colours(small, inbox, self._reach_the_box(small, inbox, clicks, fg), clicks)
        return crops.uncrop_mask(fg, (x0, y0, x1, y1), (h, w))

    def _reach_the_box(self, small, inbox, clicks, fg: np.ndarray) -> np.ndarray:
        """The cut grown to the side of a tight box it falls short of (the box prior of Lempitsky et al., ICCV
        2009: every row and column of a box drawn around an object crosses the object).

        Only where the cut reaches three sides of the box and falls short of the fourth: the box is tight,
        and the part left out on that side is the object's in colours the cut gave to the ground (a badge's
        end in the fence's grey-green, its dark lower edge on a dark wall). Short of two sides, the box may
        simply be loose, and the cut stands. Each row (or column) between the cut and that side gets its
        most object-like pixel (by the cut's and its surroundings' colour models) as a seed, and GrabCut
        cuts again from the cut; a few rounds, as the new seeds teach the object's model the left-out colours.
        What they add is an end of the object, no bigger than the cut (``REACH_AT_MOST``): a player whose box
        runs on to the frame's edge for his shadow reaches its other three sides, and the wall and court to that
        edge, four to six times his size, are no end of his.
        """
        most = REACH_AT_MOST * int((fg > 0).sum())
        for _ in range(3):
            short = _short_side(fg, inbox)
            if short is None:
                return fg
            seeds = np.full(small.shape[:2], cv2.GC_BGD, np.uint8)
            seeds[inbox] = cv2.GC_PR_BGD
            seeds[inbox & (fg > 0)] = cv2.GC_PR_FGD
            bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
            cv2.setRNGSeed(0)
            cv2.grabCut(small, seeds.copy(), None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)  # the models only
            likeness = _gmm_log_likelihood(fgd, small) - _gmm_log_likelihood(bgd, small)
            for centre, label in clicks:
                cv2.circle(seeds, centre, 1, int(cv2.GC_FGD if label else cv2.GC_BGD), -1)
            seeds[_pins(likeness, inbox, fg, short)] = cv2.GC_FGD
            cv2.setRNGSeed(0)
            cv2.grabCut(small, seeds, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
            grown = _keep_prompted_components(
                np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8), clicks
            )
            # The left-out part completes the object's shape; the ground beyond a loose side juts out of it
            if not (grown & ~fg).any() or _solidity(grown) < _solidity(fg) or grown.sum() > most:
                return fg
            fg = grown
        return fg

    def _grabcut(self, small, inbox, clicks, radius, previous: np.ndarray | None) -> np.ndarray:
        """GrabCut with the box as probable foreground, clicks as certain seeds; ``previous`` (the cut
        before the box grew) is probable foreground too."""
        seeds = np.full(small.shape[:2], cv2.GC_BGD, np.uint8)
        seeds[inbox] = cv2.GC_PR_FGD
        if previous is not None:
            seeds[previous] = cv2.GC_PR_FGD
        if not (seeds == cv2.GC_BGD).any():  # the box fills the frame: its rim is the only background hint
            rim = np.ones_like(seeds, bool)
            rim[2:-2, 2:-2] = False
            seeds[rim] = cv2.GC_PR_BGD
        for centre, label in clicks:
            cv2.circle(seeds, centre, radius, int(cv2.GC_FGD if label else cv2.GC_BGD), -1)
        cv2.setRNGSeed(0)  # GrabCut's k-means init: same prompts, same mask, in every process
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.grabCut(small, seeds, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        return np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)

    def _region_of_interest(self, image, prompt: ObjectPrompt) -> tuple[int, int, int, int]:
        """The box GrabCut works in: the user's box, else one grown around the positive clicks."""
        h, w = image.shape[:2]
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            return max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        positives = [p for p in prompt.points if p.label] or list(prompt.points)
        boxes = [_flood_box(image, int(p.x), int(p.y)) for p in positives]
        xs0, ys0, xs1, ys1 = zip(*boxes, strict=True)
        box = min(xs0), min(ys0), max(xs1), max(ys1)
        # Leave a margin around the colour region, so an object that is exactly that region does
        # not touch its search box (which would make ``predict`` grow the box and cut again).
        margin = max(4, box_side(box) // 5)
        return padded_box(box, pad=margin, width=w, height=h, min_size=0)


def take_mixed_rim(image, mask, steps=2, contrast=12.0):
    """The cut plus the pixels just outside it that visibly carry the object: alpha matting in one step.

    A pixel on an anti-aliased, blurred or compressed edge is a blend of the object's colour (the cut's
    pixels well inside, near it) and the ground's (the pixels two or more outside): alpha is where its
    colour lies on the line between the two. A colour cut gives these pixels to the ground, so the mask
    falls a pixel short all round; left out of a removal they show as a fringe. A pixel joins when it is
    at least a quarter object and close to that line (textured ground off the line is no blend), across
    a clear contrast, up to ``steps`` pixels deep.
    """
    box = bounding_box(mask)
    if box is None:
        return mask
    h, w = mask.shape
    x0, y0, x1, y1 = padded_box(box, pad=4 * steps, width=w, height=h)
    img = image[y0:y1, x0:x1].astype(np.float32)
    m = mask[y0:y1, x0:x1].astype(np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(steps):
        ys, xs = np.nonzero(cv2.dilate(m, cross) - m)  # the ring just outside the cut
        deep = cv2.erode(m, np.ones((3, 3), np.uint8))  # inside, and not itself on the edge
        far = 1 - cv2.dilate(m, np.ones((3, 3), np.uint8))  # two or more pixels outside
        cnt_in = cv2.boxFilter(deep.astype(np.float32), -1, (5, 5), normalize=False)[ys, xs]
        cnt_out = cv2.boxFilter(far.astype(np.float32), -1, (5, 5), normalize=False)[ys, xs]
        f = (
            cv2.boxFilter(img * deep[..., None], -1, (5, 5), normalize=False)[ys, xs]
            / np.maximum(cnt_in, 1)[:, None]
        )
        b = (
            cv2.boxFilter(img * far[..., None], -1, (5, 5), normalize=False)[ys, xs]
            / np.maximum(cnt_out, 1)[:, None]
        )
        d, p = f - b, img[ys, xs] - b
        norm2 = (d**2).sum(axis=1)
        alpha = (p * d).sum(axis=1) / np.maximum(norm2, 1e-3)
        # A blend lies on the line from the ground's colour to the object's; textured ground off it is not one.
        off_line = np.sqrt(((p - alpha[:, None] * d) ** 2).sum(axis=1))
        blend = (alpha >= 0.25) & (alpha <= 1.25) & (off_line < contrast)
        take = (cnt_in > 0) & (cnt_out > 0) & (norm2 > contrast**2) & blend
        if not take.any():
            break
        m[ys[take], xs[take]] = 1
    out = mask.copy()
    out[y0:y1, x0:x1] = m > 0
    return out


#: The most a cut grown to its box's short side (``_reach_the_box``) may be, in the cut's own size.
REACH_AT_MOST = 2
#: How wide the ring just outside a box is that its colours are told from (``_unlike_its_ring``), in the box's
#: shorter side.
RING = 0.15

#: A smooth object's colours follow one course (``_colour_course``) over at least this share of its cut: a
#: badge's face, shaded from one colour to another, beside its letters; not a person in shirt, skin and shorts.
SMOOTH = 0.4
#: On 8-bit RGB, how far a pixel's colour may lie from a course and still follow it, while the course is sought
#: (the noise of compressed video on a smooth face, a few levels), and then in units of the typical distance
#: of the pixels that follow it (no less than ``COURSE_FLOOR``), for the pixels the course is carried to.
COURSE_FIT, COURSE_SPREAD, COURSE_FLOOR = 10.0, 5.0, 4.0
#: Guesses at the course, each from three pixels of the cut (seeded: the same cut in every process).
COURSE_GUESSES = 200
#: How far past the convex hull of a smooth object's face its rim may reach, in the face's short side; and the
#: most of a cut that lies beyond it and is let go (more is a cut that took a face of ground: a wall and court
#: behind a player, the player beyond their hull).
RIM, BEYOND_AT_MOST = 0.06, 0.25


def _colour_course(small: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Each pixel's distance from the colour the object's face would have there, and how far a pixel that
    follows it may lie; None when the cut is too small to say.

    The course is colour as a linear function of position (a badge's gradient, light falling off across a
    smooth face), fitted to the largest part of the cut that follows one (RANSAC, Fischler and Bolles 1981:
    letters, in a colour of their own, are left out of the fit, not averaged into it)."""
    h, w = cut.shape
    ys, xs = np.mgrid[0:h, 0:w]
    position = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)], axis=1)
    colour = small.reshape(-1, 3).astype(np.float64)
    inside = np.flatnonzero(cut.ravel())
    if len(inside) < 20:
        return None
    rng = np.random.default_rng(0)
    sample = rng.permutation(inside)[:2000]
    best, best_count = None, -1
    for _ in range(COURSE_GUESSES):
        three = rng.choice(sample, 3, replace=False)
        try:
            course = np.linalg.solve(position[three], colour[three])
        except np.linalg.LinAlgError:  # three pixels in a line
            continue
        count = int((np.linalg.norm(colour[sample] - position[sample] @ course, axis=1) < COURSE_FIT).sum())
        if count > best_count:
            best, best_count = course, count
    if best is None:
        return None
    for _ in range(3):  # refitted to all the pixels that follow it
        distance = np.linalg.norm(colour - position @ best, axis=1)
        follow = inside[distance[inside] < COURSE_FIT]
        if len(follow) < 3:
            return None
        best, *_ = np.linalg.lstsq(position[follow], colour[follow], rcond=None)
    distance = np.linalg.norm(colour - position @ best, axis=1)
    typical = float(np.median(distance[inside][distance[inside] < COURSE_FIT]))
    return distance.reshape(h, w), max(COURSE_FLOOR, COURSE_SPREAD * typical)


def _carry_on_its_colours(small: np.ndarray, inbox: np.ndarray, fg: np.ndarray, clicks) -> np.ndarray:
    """The cut with the box's pixels that carry on its face's colour course (``_colour_course``) and join it,
    and what they then enclose; less what lies beyond the face (``_beyond_the_face``).

    A badge shaded from pink into olive on an olive facade, from green into brown on a dark wall: GrabCut's
    colour models give the darker band at its foot to the ground, and the cut stops along its letters (J
    0.67-0.78 on the keyframe). That band carries on the face's gradient to within a few levels, where the
    ground lies a hundred away. Only for a smooth object (``SMOOTH``), and only inside the user's box."""
    cut = fg > 0
    fitted = _colour_course(small, cut & inbox)
    if fitted is None:
        return fg
    distance, tolerance = fitted
    follows = distance < tolerance
    if follows[cut].mean() < SMOOTH:
        return fg
    carried = (follows & inbox & ~cut).astype(np.uint8)
    count, pieces = cv2.connectedComponents(carried, connectivity=4)
    # A piece joins the cut along at least its own size, as a band along the face does: a blob of ground that
    # happens to match the course where it is carried far (the dark wall in the corner of a tilted badge's box)
    # touches the cut at a point. In a bay of the cut (mostly inside its convex hull) the band may lie a pixel
    # off it: the letters' antialiased feet, in neither the cut nor the course, part the two (a badge shaded into
    # a dark mat, J 0.87); past the hull, the ground beside a tilted badge must touch the cut itself.
    area = np.bincount(pieces.ravel(), minlength=count)
    touching = np.bincount(pieces[dilate(cut, 1)], minlength=count)
    near = np.bincount(pieces[dilate(cut, 2)], minlength=count)
    hull = np.zeros(cut.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(cut.astype(np.uint8))), 1)
    in_bay = 2 * np.bincount(pieces[hull > 0], minlength=count) >= area
    contact = np.where(in_bay, near, touching)
    joined = np.flatnonzero((contact**2 >= area) & (contact > 0))
    grown = cut | np.isin(pieces, joined[joined > 0])
    # the antialiased rims of letters the band now closes in: inside the object
    grown |= (fill_holes(grown.astype(np.uint8)) > 0) & ~(fill_holes(fg.astype(np.uint8)) > 0)
    beyond = _beyond_the_face(grown, follows)
    if beyond.sum() <= BEYOND_AT_MOST * grown.sum():
        grown = _keep_prompted_components((grown & ~beyond).astype(np.uint8), clicks) > 0
    return grown.astype(fg.dtype)


def _beyond_the_face(cut: np.ndarray, follows: np.ndarray) -> np.ndarray:
    """The cut's pixels beyond its face: farther than a rim's width (``RIM``) from the convex hull of the largest
    piece of the cut that follows the face's colour course.

    A tilted badge leaves its box's corners to the ground and to what lies there, and GrabCut's colour model,
    taught by the whole box, took the yellow block or the fingers in a corner with the badge (J 0.74-0.93 on
    seven first cuts of the blocks clip). The face is convex, and its letters and rim lie within it or along
    it; a block or a hand reaches well past it."""
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(
        (follows & cut).astype(np.uint8), connectivity=8
    )
    if count < 2:
        return np.zeros_like(cut)
    face = (pieces == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    points = cv2.findNonZero(face)
    hull = np.zeros_like(face)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    _, _, w, h = cv2.boundingRect(points)
    return cut & ~(dilate(hull, max(2, round(RIM * min(w, h)))) > 0)


def _took_its_surroundings(image: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Is the cut no more distinct from what surrounds it (``_distinctness``) than a cut that took the ground
    around the object? The wall and court to a loose box's side, three times a player's area: what moves in
    the cut is then the object, however small a part of the cut it is (motion.py)."""
    h, w = mask.shape
    x0, y0, x1, y1 = padded_box(box, pad=box_side(box) // 4, width=w, height=h)
    return _distinctness(image[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8)) < DISTINCT


def _touches(found, box, shape, margin: int = 2) -> bool:
    """Does the mask's box reach an edge of the search box that is not the frame's edge?"""
    h, w = shape[:2]
    return any(
        (
            found[0] <= box[0] + margin and box[0] > 0,
            found[1] <= box[1] + margin and box[1] > 0,
            found[2] >= box[2] - margin and box[2] < w,
            found[3] >= box[3] - margin and box[3] < h,
        )
    )


def _flood_box(image: np.ndarray, x: int, y: int, tolerance: int = 20) -> tuple[int, int, int, int]:
    """Box of the object under a click: the clicked colour region, chained to nearby regions of that colour.

    A logo's letters are separate blobs of one colour: starting from the clicked
    blob, blobs of the same colour closer than half the blob's size are added
    until none is left. If the colour leaks over most of the search window, a
    box of moderate size around the click is used instead.
    """
    h, w = image.shape[:2]
    limit = max(32, min(h, w) // 4)
    x0, y0 = max(0, x - limit), max(0, y - limit)
    x1, y1 = min(w, x + limit + 1), min(h, y + limit + 1)
    # Work on a window of at most ~200 px: the box only needs to be roughly right, and a 4K click costs the same.
    scale = min(1.0, 200 / max(x1 - x0, y1 - y0))
    window = cv2.resize(image[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cx, cy = (
        min(round((x - x0) * scale), window.shape[1] - 1),
        min(round((y - y0) * scale), window.shape[0] - 1),
    )
    similar = np.abs(window.astype(np.int16) - window[cy, cx].astype(np.int16)).max(axis=2) <= tolerance
    _, blobs = cv2.connectedComponents(similar.astype(np.uint8), connectivity=8)
    reach = blobs == blobs[cy, cx]
    for _ in range(16):
        bx0, by0, bx1, by1 = bounding_box(reach)
        gap = max(2, max(bx1 - bx0, by1 - by0) // 2)
        touched = np.unique(blobs[cv2.dilate(reach.astype(np.uint8), ellipse(gap)).astype(bool) & similar])
        grown = np.isin(blobs, touched[touched > 0])
        if grown.sum() == reach.sum():
            break
        reach = grown
    bx0, by0, bx1, by1 = bounding_box(reach)
    if reach.mean() > 0.5 or (bx1 - bx0) * (by1 - by0) > 0.8 * reach.size:
        half = max(16, min(h, w) // 12)
        return max(0, x - half), max(0, y - half), min(w, x + half + 1), min(h, y + half + 1)
    return (
        x0 + int(bx0 / scale),
        y0 + int(by0 / scale),
        min(w, x0 + int(np.ceil(bx1 / scale))),
        min(h, y0 + int(np.ceil(by1 / scale))),
    )


def _unlike_its_ring(small: np.ndarray, inbox: np.ndarray) -> np.ndarray:
    """The pixels of the box ``inbox`` whose colours are likelier in it than in a ring just outside it (``RING``
    of the box's shorter side wide, at least 4 px): the box prior's reading of a tightly boxed object, with no
    model to drift. Holes are filled (a letter in the ground's colours)."""
    ys, xs = np.nonzero(inbox)
    width = max(4, round(RING * min(np.ptp(ys) + 1, np.ptp(xs) + 1)))
    ring = (cv2.dilate(inbox.view(np.uint8), ellipse(width)) > 0) & ~inbox
    colour = _coarse_colour(small)
    inside, outside = (np.bincount(colour[where], minlength=512) + 0.5 for where in (inbox, ring))
    odds = np.log(inside / inside.sum()) - np.log(outside / outside.sum())
    likelier = cv2.GaussianBlur(odds[colour].astype(np.float32), (0, 0), 1.0) > 0
    return fill_holes((likelier & inbox).astype(np.uint8))


def _seeds_alone(fg: np.ndarray, clicks, radius: int) -> bool:
    """Is the cut ``fg`` no more than the discs GrabCut was given as sure object around the clicks (``_grabcut``)?"""
    seeds = np.zeros(fg.shape, np.uint8)
    for centre, label in clicks:
        if label:
            cv2.circle(seeds, centre, radius + 1, 1, -1)
    return bool(seeds.any()) and not (fg.astype(bool) & ~seeds.astype(bool)).any()


def _keep_prompted_components(fg: np.ndarray, clicks) -> np.ndarray:
    """Drop stray foreground blobs: keep components touching a positive click, or the largest ones."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 2:
        return fg
    keep = set()
    for (cx, cy), label in clicks:
        if label:
            cx, cy = min(max(cx, 0), fg.shape[1] - 1), min(max(cy, 0), fg.shape[0] - 1)
            if labels[cy, cx]:
                keep.add(int(labels[cy, cx]))
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Letters of a logo are separate blobs: keep every blob of a meaningful size, not just the clicked one.
    keep.update(int(i) + 1 for i in np.flatnonzero(areas >= 0.05 * areas.max()))
    return np.isin(labels, sorted(keep)).astype(np.uint8)


#: A cut whose colours and its surroundings' overlap less than half (``_distinctness``) did not take the
#: surroundings with the object.
DISTINCT = 0.5

#: The strongest quarter of the edges in a box are taken as walls the background cannot cross: a loose box
#: is mostly background, and an object's outline is among the strongest edges in it.
WALL_QUANTILE = 0.75


def _enclosed(small: np.ndarray, inbox: np.ndarray, clicks, radius: int) -> np.ndarray:
    """The box's pixels the outside of the box cannot reach without crossing a strong edge, connected to a click.

    Court and wall inside a loose box join the same court and wall outside it with no edge at the
    box's side; the object is cut off from them by its outline. Edges are the Lab gradient
    magnitude; holes are filled (a shirt's logo is part of the shirt).
    """
    edges = _edge_strength(small)
    passable = (edges <= np.quantile(edges[inbox], WALL_QUANTILE)).astype(np.uint8)
    _, regions = cv2.connectedComponents(passable, connectivity=4)
    # The crop is the box grown on every side the frame allows, so where the box reaches the crop's
    # edge it reaches the frame's: the ground goes on past it, and that edge is outside too.
    outside = ~inbox
    outside[[0, -1], :] = outside[:, [0, -1]] = True
    reached = np.unique(regions[outside & (passable > 0)])
    candidate = (inbox & ~np.isin(regions, reached[reached > 0])).astype(np.uint8)
    for centre, label in clicks:
        if label:
            cv2.circle(candidate, centre, radius, 1, -1)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, pieces = cv2.connectedComponents(candidate, connectivity=8)
    h, w = candidate.shape
    clicked = {pieces[min(max(y, 0), h - 1), min(max(x, 0), w - 1)] for (x, y), label in clicks if label}
    return fill_holes(np.isin(pieces, sorted(clicked - {0})).astype(np.uint8))


def _completing_pieces(cut: np.ndarray, enclosed: np.ndarray) -> np.ndarray:
    """The pieces the enclosed region adds to a ``cut`` it holds that complete the cut's shape: each piece
    (found without the outline's width, which straddles object and ground) that leaves the cut no less solid
    (its area over its convex hull's), then grown back to the outline. A badge's missing end completes its
    rounded outline; a grid cell of the mat or a block beside it, also ringed by strong edges, juts out of it
    (taken, they cost a badge's first cut 0.06 of J, and the outline's width left out cost others 0.05)."""
    kernel = np.ones((3, 3), np.uint8)
    added = cv2.erode(enclosed, kernel, iterations=2) & (1 - cut)
    count, pieces = cv2.connectedComponents(added, connectivity=8)
    solidity = _solidity(cut)
    taken = np.zeros_like(cut)
    for piece in range(1, count):
        part = (pieces == piece).astype(np.uint8)
        if _solidity(cut | part) >= solidity:
            taken |= cv2.dilate(part, kernel, iterations=2) & enclosed
    return taken


def _solidity(mask: np.ndarray) -> float:
    """A mask's area over the area of its convex hull: 1 for a convex shape."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    return float(mask.sum()) / max(1.0, cv2.contourArea(cv2.convexHull(np.vstack(contours))))


def _edge_strength(image: np.ndarray) -> np.ndarray:
    """Each pixel's edge strength: the magnitude of the Lab gradient (3x3 Sobel), over the three channels."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    gx, gy = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt((gx**2 + gy**2).sum(axis=2))


#: A concavity of a cut is the object's when its outer side runs along strong edges (``WALL_QUANTILE``, as for
#: ``_enclosed``) for at least this share of its length: nearly all of it, the object's outline going on.
OUTLINED = 0.9
#: px: how near a side of the box a bay's outer side must run to lie along it.
ALONG = 3


def close_outlined_concavities(
    image: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]
) -> np.ndarray:
    """``mask`` with the bays in its outline that the object's own outline closes: a badge whose lower part
    shades into the ground's colours (a gradient into dark brown over a desert, into grey over a rink) is cut by
    colour along its letters, and the bay between them and the badge's edge is left out, though that edge
    shows. A bay is what the convex hull of the cut (opened, so a stray spur does not stretch it) adds, and it
    is taken when its outer side runs along the strong edges of ``box`` (``OUTLINED``): the outline of a
    rounded badge, not a person's arm and side with court between them, nor a concave shape's open side. Where
    that edge is weak (the band in the colours of a textured wall), a bay along a side of a tight box is taken
    when what it holds is like the object beside it, not the ground (``_along_the_box``).
    """
    if not mask.any():
        return mask
    # (with the ground beside the cut, which a bay along the box is told from: ``_along_the_box``)
    x0, y0, x1, y1 = _with_ground(mask, box)
    cut, crop = mask[y0:y1, x0:x1].astype(np.uint8), np.ascontiguousarray(image[y0:y1, x0:x1])
    # the spurs to leave out of the hull: thinner than a fifth of the cut's thickness
    depth = cv2.distanceTransform(cut, cv2.DIST_L2, 5).max()
    core = cv2.morphologyEx(cut, cv2.MORPH_OPEN, ellipse(max(2, round(0.2 * depth))))
    contours, _ = cv2.findContours(core, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return mask
    hull = np.zeros_like(cut)
    cv2.fillPoly(hull, [cv2.convexHull(np.vstack(contours))], 1)
    # the hull's own rasterising adds a pixel here and there along a straight side: no bay
    bays = cv2.morphologyEx(hull & (1 - cut), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, pieces = cv2.connectedComponents(bays, connectivity=8)
    if count < 2:
        return mask
    edges = _edge_strength(crop)
    bx0, by0, bx1, by1 = box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0
    inbox = np.zeros(cut.shape, bool)
    inbox[max(by0, 0) : by1, max(bx0, 0) : bx1] = True
    walls = cv2.dilate(
        (edges >= np.quantile(edges[inbox], WALL_QUANTILE)).astype(np.uint8), np.ones((3, 3), np.uint8)
    )
    outer = cv2.dilate(1 - hull, np.ones((3, 3), np.uint8)) > 0  # a bay's pixels on the hull's side
    rim = pieces * outer
    length = np.bincount(rim.ravel(), minlength=count)
    on_walls = np.bincount(rim.ravel(), weights=walls.ravel().astype(float), minlength=count)
    outlined = (length >= 3) & (on_walls >= OUTLINED * length)
    along = _along_the_box(crop, cut > 0, hull > 0, pieces, rim, length, (bx0, by0, bx1, by1))
    closed = np.flatnonzero(outlined | along)
    closed = closed[closed > 0]
    if not len(closed):
        return mask
    out = mask.copy()
    out[y0:y1, x0:x1] |= np.isin(pieces, closed)
    return out


def _with_ground(cut: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The crop around a (non-empty) ``cut`` and its ``box``, with room for the ground beside the cut."""
    found = bounding_box(cut)
    pad = max(16, box_side(found) // 8)
    return padded_box(crops.union((found, box)), pad=pad, width=cut.shape[1], height=cut.shape[0], min_size=0)


def _along_the_box(image, cut, hull, pieces, rim, length, box) -> np.ndarray:
    """Which bays (by label) lie along a side of the tight ``box`` and hold the object: the cut reaches that side
    at both ends of the bay, so the object's edge may run there (the box is drawn to it), and the bay's colours
    and grain are more like the cut's beside it than the ground's beside it (a badge's lower band in the
    ground's colours, smooth where the ground is textured, which the cut scalloped along its letters). The
    ground between a tilted badge and its box's corner, and between a person's legs, is like the ground.
    ``length``: each bay's count of ``rim`` pixels (its outer side)."""
    x0, y0, x1, y1 = box
    h, w = pieces.shape
    ys, xs = np.mgrid[0:h, 0:w]
    # each pixel's distance to the nearest side of the box
    gap = np.stack([np.abs(xs - x0), np.abs(ys - y0), np.abs(xs - (x1 - 1)), np.abs(ys - (y1 - 1))]).min(0)
    on_side = np.bincount(rim.ravel(), weights=(gap <= ALONG).ravel().astype(float), minlength=len(length))
    features = _colour_and_grain(image)
    taken = np.zeros(len(length), bool)
    for bay in np.flatnonzero((length >= 3) & (on_side >= OUTLINED * length)):
        taken[bay] = bay > 0 and _like_the_object(features, pieces == bay, cut, hull)
    return taken


def _like_the_object(features: np.ndarray, bay: np.ndarray, cut: np.ndarray, hull: np.ndarray) -> bool:
    """Whether the pixels of ``bay`` (left out of ``cut``, inside ``hull``) are more like the cut's beside them
    than the ground's beside them (outside the hull), in colour and grain (``_colour_and_grain``)."""
    inside = bay.astype(np.uint8)
    reach = 2 * int(np.ceil(cv2.distanceTransform(inside, cv2.DIST_L2, 3).max())) + 2
    beside = cv2.dilate(inside, ellipse(reach)) > 0
    ground, object_ = beside & ~hull, beside & cut
    if not (ground.any() and object_.any()):
        return False
    own = _histogram(features, bay)
    return _unlike(own, _histogram(features, object_)) < _unlike(own, _histogram(features, ground))


#: A cut fills most of its box at this share: little ground in the box for what moves to let go of.
FILLED = 0.5


def _lets_go_of_its_inside(
    image: np.ndarray, cut: np.ndarray, moving: np.ndarray, box: tuple[int, int, int, int]
) -> bool:
    """Would ``moving`` (what moves, motion.py) let go of the object's own flat inside, rather than of ground the
    ``cut`` took? So when the cut fills most of ``box`` (``FILLED``: a badge, a sign, a car, not a person in his
    box) and what it lets go of is more like what it keeps than like the ground beside the cut (in colour and
    grain, ``_like_the_object``): a badge's smooth face between its letters and its rim moves over itself and shows
    no motion, so what moves was its letters and edges (J 0.88 -> 0.42 over the sky; 0.99 -> 0.76 over a desert).
    The court and wall a player's loose cut took, let go of, are like the ground."""
    x0, y0, x1, y1 = box
    if cut[y0:y1, x0:x1].mean() < FILLED:
        return False
    x0, y0, x1, y1 = _with_ground(cut, box)
    inside, kept = cut[y0:y1, x0:x1] > 0, moving[y0:y1, x0:x1] > 0
    let_go = inside & ~kept
    if not let_go.any():
        return False
    features = _colour_and_grain(np.ascontiguousarray(image[y0:y1, x0:x1]))
    return _like_the_object(features, let_go, inside & kept, inside)


def _colour_and_grain(image: np.ndarray) -> np.ndarray:
    """Each pixel's coarse colour (8 levels a channel) and grain (4 levels of its difference from the blurred
    grey), as one of 2048 bins: a smooth band of a badge and textured ground of its colour fall apart."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grain = np.minimum(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5)) / 4, 3).astype(np.int32)
    return _coarse_colour(image) * 4 + grain


def _coarse_colour(image: np.ndarray) -> np.ndarray:
    """Each pixel's colour at 8 levels a channel, as one of 512 bins."""
    q = (image >> 5).astype(np.int32)
    return (q[..., 0] * 8 + q[..., 1]) * 8 + q[..., 2]


def _histogram(features: np.ndarray, where: np.ndarray, bins: int = 2048) -> np.ndarray:
    """The share of ``where``'s pixels in each of the ``bins`` of ``features``."""
    return np.bincount(features[where], minlength=bins) / max(int(where.sum()), 1)


def _unlike(a: np.ndarray, b: np.ndarray) -> float:
    """1 - the Bhattacharyya coefficient of two histograms: 0 alike, 1 nothing shared."""
    return 1.0 - float(np.sqrt(a * b).sum())


def _short_side(fg: np.ndarray, inbox: np.ndarray, margin: int = 2) -> int | None:
    """The one side of the box (0 left, 1 top, 2 right, 3 bottom) the cut falls short of while it reaches
    the other three; None otherwise."""
    reaches = _sides_reached(fg, inbox, margin)
    return reaches.index(False) if reaches and reaches.count(False) == 1 else None


def _sides_reached(fg: np.ndarray, inbox: np.ndarray, margin: int = 2) -> list[bool]:
    """Which sides of the box (left, top, right, bottom) the cut reaches to within ``margin`` pixels; [] for an
    empty cut."""
    found, box = bounding_box(fg > 0), bounding_box(inbox)
    if found is None:
        return []
    return [
        found[0] <= box[0] + margin,
        found[1] <= box[1] + margin,
        found[2] >= box[2] - margin,
        found[3] >= box[3] - margin,
    ]


def _pins(likeness: np.ndarray, inbox: np.ndarray, fg: np.ndarray, side: int) -> np.ndarray:
    """In each row (or column) of the box between the cut and its ``side``, the most object-like pixel."""
    found, box = bounding_box(fg > 0), bounding_box(inbox)
    pins = np.zeros(inbox.shape, bool)
    if side in (0, 2):  # columns, each searched over the box's rows
        lines = range(box[0], found[0]) if side == 0 else range(found[2], box[2])
        for x in lines:
            pins[box[1] + int(np.argmax(likeness[box[1] : box[3], x])), x] = True
    else:
        lines = range(box[1], found[1]) if side == 1 else range(found[3], box[3])
        for y in lines:
            pins[y, box[0] + int(np.argmax(likeness[y, box[0] : box[2]]))] = True
    return pins


def _gmm_log_likelihood(model: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per pixel, the log-likelihood of its colour under one of GrabCut's colour models (OpenCV's layout: five
    component weights, then their means, then their 3x3 covariances)."""
    weights, means = model[0, :5], model[0, 5:20].reshape(5, 3)
    covariances = model[0, 20:65].reshape(5, 3, 3)
    colours = image.reshape(-1, 3).astype(np.float64)
    total = np.zeros(len(colours))
    for weight, mean, covariance in zip(weights, means, covariances, strict=True):
        if weight <= 0:
            continue
        covariance = covariance + np.eye(3) * 1e-2
        d = colours - mean
        mahalanobis = np.einsum("ij,jk,ik->i", d, np.linalg.inv(covariance), d)
        total += weight * np.exp(-0.5 * mahalanobis) / np.sqrt((2 * np.pi) ** 3 * np.linalg.det(covariance))
    return np.log(total + 1e-300).reshape(image.shape[:2])


def _spans_box(fg: np.ndarray, inbox: np.ndarray) -> bool:
    """Could this cut be what the user boxed? It reaches across at least half the box's width or height.

    A box says how big the object is, if loosely: the enclosed region can be one letter of a badge
    (its strokes are the strongest edges in the box), which is far more distinct from its
    surroundings than the whole badge, and is not the object.
    """
    found, box = bounding_box(fg > 0), bounding_box(inbox)
    if found is None:
        return False
    return found[2] - found[0] >= (box[2] - box[0]) / 2 or found[3] - found[1] >= (box[3] - box[1]) / 2


def _distinctness(small: np.ndarray, fg: np.ndarray) -> float:
    """How unlike its surroundings a cut's colours are: 1 - Bhattacharyya coefficient of the coarse (512-bin)
    colour histograms of the cut and of a ring around it (15% of its size wide). A cut that took the
    background around the object has the same colours on both sides of its edge."""
    inside = fg > 0
    if not inside.any():
        return 0.0
    width = max(3, int(0.15 * np.sqrt(inside.sum())))
    ring = cv2.dilate(fg, np.ones((2 * width + 1, 2 * width + 1), np.uint8)).astype(bool) & ~inside
    if not ring.any():
        return 0.0
    colour = _coarse_colour(small)
    return _unlike(_histogram(colour, inside, 512), _histogram(colour, ring, 512))
