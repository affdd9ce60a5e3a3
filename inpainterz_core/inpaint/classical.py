"""Classical video inpainting: copy the real background that other frames reveal, along completed flow.

For a window of frames (already cropped around the hole):
1. dense optical flow (DIS) between neighbouring frames, forward and backward, on grey
   frames whose holes were first smoothed over (Telea), so the object's own texture does
   not drag the flow of the background around it;
2. flow completion, four ways, because no single guess of the motion hidden under the
   object is reliable and their errors are largely independent:
   - spatial: the flow in the hole is filled smoothly from the ring around it (Telea, at
     half resolution: the filled flow is smooth anyway, and this is the costliest step);
   - temporal: a hole pixel takes the flow the same image location had in the nearest
     frames where it was visible, shifted by how the flow around the hole changed between
     the two frames (the background's motion varies slowly in time; this keeps structure
     of the motion under the hole, such as a layer edge, that a spatial fill smears);
   - tracked: a hole pixel follows the spatially completed flow, in the flow's own
     direction, to the first frame where that point is visible, and takes the flow observed
     there (a scene point's velocity varies slowly in time; unlike the temporal guess this
     follows the point rather than the image location, so it suits a moving layer);
   - global: the motion of the whole crop as one homography, fitted (RANSAC) to the flow of
     the shown pixels and used everywhere. Where the camera's motion over a distant or flat
     scene dominates (a pan, a zoom, a still camera) it holds under the hole as well as around
     it, with none of the local flow's noise, which the three local guesses carry into the
     hole and which adds up along the chains of step 3 (a pan over a facade's repeating
     windows); where the scene moves in layers, its warp error of step 4 makes it count less;
3. propagation, for each completed flow: every hole pixel of a target frame follows the
   flow frame by frame, forward and backward, until it lands on a pixel that is not hidden
   there, and takes that real pixel's colour;
4. each completed flow gives an estimate (its forward and backward copies averaged, nearer
   frames weighing more); the estimates are averaged, each weighted by how well its
   forward and backward copies agree around the pixel (they disagree where that flow is
   wrong), and by the inverse of how badly its completed flow warps the hole's margin to the
   neighbouring frames (where one completion suits the clip better, it counts more). The hole is
   grown by a margin of a few shown pixels whose flow every completion replaces without reading
   it, so this is a test of each completion on pixels it did not see, next to those it fills;
   measured with the observed flow around the hole instead, every local completion would look as
   good as the observed flow, however badly it guessed the hole's.
   Averaging largely independent misalignments cuts their error and steadies the fill in time.
   The three local completions share the measured flow's errors, and the global one is
   independent of them: two independent estimates;
5. pixels never revealed in the window, and those whose copies are expected to be further off than a made-up
   fill (the prior tau: copies that landed on something passing over what the hole hides), are made up on the
   first frame that has them (unless the
   window before painted the frame before it: the fill then carries on from that output), by
   the average of two spatial fills whose errors differ: the membrane (spatial.py), the smoothest
   surface meeting the border, least wrong where the border's texture cannot be predicted, and an
   exemplar fill (exemplar.py), which copies patches of the surroundings (the fills of a few patch
   sizes averaged) and so continues an edge that runs into the hole instead of smearing it. That fill
   is then carried along the flow from the previous output frame, so it moves with the background instead of
   flickering; a share of what changed around it since the previous frame, beyond the motion,
   passes into it (``_carry``): only carried, it kept for good whatever touched the hole on its first
   frame (a hand that then moved away). Every few frames it is made up again from that frame's
   surroundings and a share of the new fill averaged in (``REMAKE_EVERY``): one made-up fill is one draw
   of what the hole may hide, and the running mean of draws made along the shot errs less than the first.
   A made-up fill is expected to be off by the prior tau; carried on, by what it was plus what changed
   around it that it did not take in, so that where things keep passing beside a still hole the blend of
   step 6 leans on the frame's own spatial fill rather than on a fill carried from before them. Where the
   copies were less certain than that, they and the made-up fill are averaged by their expected errors;
6. the propagated fill is blended, per pixel, with a per-frame spatial fill (Telea and the membrane
   averaged: Telea overshoots deep in a hole on plain ground, spatial.py), each weighted
   by the inverse of its expected squared error. The propagated one's is measured, not assumed:
   each step along the flow misplaces a copy about as much as that step, in the same direction, misplaces
   the hole's margin in the frame it steps from (the warp error of step 4), and steps add up like a
   random walk, so a copy is expected to be off by the sum of the warp errors of the frames it stepped
   through (a copy that passed the frames where a player brushed the hole is worth less than one that
   went as far over a still wall); the forward and backward copies, each weighted by the inverse of its
   expected error, are off by the inverse of the sum of those inverses. To this are added how badly the
   copies disagree (in full where the two are equally certain, less as one outweighs the other: one of
   them is wrong, more likely the less certain, which the estimate already leans away from) and how far
   the estimates scatter. The spatial fill's error is measured on the known band around the hole
   (painted out and compared) and grown with the depth into the hole. Where the flow cannot be trusted
   (fast, blurred motion) the fill leans on the spatial fill instead of ending below it; where it
   carries the background cleanly it is not pulled towards the blurrier spatial fill;
7. the blended fill is steadied along the flow. Each frame's fill has an expected squared error (that of
   step 6's blend) and errs largely apart from the next frame's (the copies land elsewhere, the spatial
   fills meet a moved border), so a fill carried from the neighbouring frame is a second estimate of it:
   a Kalman filter along the flow, forward then backward, each frame's fill weighed against the one
   carried in, by the inverse of their expected errors. The carried one is made like the estimates, from
   each completed flow weighted by its confidence; its error is the one it had, plus how badly that
   completion carries the hole's margin one step (step 4's warp error), plus how far the completions'
   carries scatter. A forward pass alone lags behind a layer moving on its own under the hole (a skater's
   dress passing behind a badge: its edge was dragged, -0.5 dB): its result is weighed against the
   backward pass's carried fill (the two-filter smoother), so the fill is steadied from both sides and
   follows what moves.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import cv2
import numpy as np

from ..masks import ellipse
from .base import Inpainter, rounded
from .exemplar import exemplar_fill
from .spatial import border_fill, membrane, telea


def _inside(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which float (x, y) ``points`` lie on an image of ``shape`` (h, w), where bilinear sampling reads only
    real pixels; a NaN point (no flow) lies nowhere."""
    h, w = shape
    return (points >= 0).all(1) & (points[:, 0] <= w - 1) & (points[:, 1] <= h - 1)


def _sample(image: np.ndarray, points: np.ndarray, interpolation=cv2.INTER_LINEAR, outside=0) -> np.ndarray:
    """Samples of ``image`` at float32 (x, y) ``points`` (``outside`` off the image), one row per point.

    cv2.remap takes the points as a two-channel map image whose sides must stay under 32767: up to
    that many points go in as one row, more are laid out in rows of 4096.
    """
    n = len(points)
    if 0 < n < 32767:
        where = points.reshape(1, n, 2)
    else:
        cols = min(max(n, 1), 4096)
        where = np.zeros((-(-max(n, 1) // cols) * cols, 2), np.float32)
        where[:n] = points
        where = where.reshape(-1, cols, 2)
    out = cv2.remap(image, where, None, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    return out.reshape(-1, *image.shape[2:])[:n]


# A never-revealed fill carried along the flow takes in SEAM_RATE of what changed since the previous frame on a
# ring SEAM_RING px wide around it, spread inwards (see FlowGuidedInpainter._carry). All of it, every frame,
# carried the ring's noise into the fill (hole temporal err 0.82 -> 1.36 on a still attach composite); a fifth
# lets a hand that moves away take part of its colours along, and leaves the fill as steady as before.
SEAM_RING, SEAM_RATE = 2, 0.2
# Every REMAKE_EVERY frames it carries a never-revealed fill, the fill is made again from that frame's surroundings
# and REMAKE_SHARE of the new one is averaged in (see FlowGuidedInpainter._fill): each made-up fill is one draw of
# what the hole may hide (the exemplar fill's greedy order is chaotic), so the carried fill becomes a running mean
# of draws made along the shot instead of the first frame's draw kept for good. With the true masks of 77 attached
# composites: +2.54 -> +2.63 dB over per-frame Telea (31 up, 7 down by 0.05 dB or more); every 5 frames, a quarter,
# about as good (+2.64) at 8/5 the cost (each draw's exemplar fill costs about 0.25 s at 854x480).
REMAKE_EVERY, REMAKE_SHARE = 8, 0.3

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The module's thread pool ``name`` (made on first use, kept for the process)."""
    with _pool_lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=name)
        return _pools[name]


def _each(fn, items) -> list:
    """``[fn(item) for item in items]`` on a few threads: the per-frame steps (Telea, DIS, homography
    fits) are OpenCV calls, which release the GIL, and each frame's is independent of the others'."""
    items = list(items)
    workers = min(4, os.cpu_count() or 1)
    if workers < 2 or len(items) < 2:
        return [fn(item) for item in items]
    return list(_pool("inpaint", workers).map(fn, items))


def _spread(values: np.ndarray, known: np.ndarray, step: int = 4) -> np.ndarray:
    """``values`` (H x W x channels, float32) as given where ``known``, spread smoothly over the rest: Telea
    at 1/``step`` of the size (what is spread is smooth, and at full size it cost more than the fill it mends)."""
    h, w = known.shape
    size = (max(1, w // step), max(1, h // step))
    weight = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(values * known[..., None], size, interpolation=cv2.INTER_AREA)
    small /= np.maximum(weight, 1e-6)[..., None]
    unknown = (weight < 1e-3).astype(np.uint8)
    for c in range(small.shape[2]):
        small[..., c] = cv2.inpaint(np.ascontiguousarray(small[..., c]), unknown, 2, cv2.INPAINT_TELEA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class FlowGuidedInpainter(Inpainter):
    name = "flow-guided"

    def __init__(
        self,
        reach: int = 16,
        telea_radius: int = 2,
        ring: int = 12,
        grow: int = 3,
        tau: float = 25.0,
        window: int = 15,
        band: int = 6,
    ):
        self.tau = tau
        self.band = band  # width of the known band that measures the spatial fill's error
        self.window = window
        self.reach = reach
        # Telea sums over a disc of this radius per hole pixel (for the blend, its error probe and the never-revealed
        # fill): alone, 3 scores 0.03-0.14 dB below 5 on the eval cases' true masks at about 2.5x less cost; in the
        # blend, 2 leaves the fill's mean gain over Telea within 0.01 dB of 3's (-0.11 to +0.08 per case) and the
        # whole inpainter 6-8 % faster
        self.telea_radius = telea_radius
        self.ring = ring  # width of the band around the hole that calibrates temporal flow completion
        self.grow = grow  # flow this close to the hole is dragged by the object, so it is replaced too
        self._dis = threading.local()  # one DIS per thread: its calc keeps state between calls

    def inpaint(
        self, frames: np.ndarray, masks: np.ndarray, targets: range, before: np.ndarray | None = None
    ) -> np.ndarray:
        frames = np.ascontiguousarray(frames)
        masks = np.asarray(masks, bool)
        # the per-frame spatial fills that the blend leans on (step 6) depend on the frame and its hole alone: made
        # from the start on a thread of their own (apart from ``_each``'s pool, so that neither waits for the other's
        # tasks), they use the core that the serial parts of the steps leave idle
        spatial = [
            _pool("inpaint-spatial", 1).submit(self._spatial_fill, frames[k], masks[k]) for k in targets
        ]
        try:
            return self._paint(frames, masks, targets, before, spatial)
        finally:  # a cancelled or failed window leaves no fill to make
            for job in spatial:
                job.cancel()

    def _paint(self, frames, masks, targets, before, spatial) -> np.ndarray:
        """``inpaint``, given each target's spatial fill to come (``_spatial_fill``'s, as a future)."""
        t_lo, t_hi = max(0, targets.start - self.reach), min(len(frames), targets.stop + self.reach)
        window = range(t_lo, t_hi)
        grays = dict(
            zip(window, _each(lambda t: self._smoothed_grey(frames[t], masks[t]), window), strict=True)
        )
        hidden = {t: cv2.dilate(masks[t].astype(np.uint8), ellipse(self.grow)).astype(bool) for t in grays}
        # the known band around each hole: it calibrates temporal completion
        rings = {
            t: cv2.dilate(h.astype(np.uint8), ellipse(self.ring)).astype(bool) & ~h for t, h in hidden.items()
        }
        # only the hole pixels change: the estimates are kept as one row per hole pixel of the targets, in
        # the order of np.nonzero(holes) (frame by frame, row-major), not as whole frames (about 10x fewer)
        holes = masks[targets]
        pixels = np.nonzero(holes)
        frame_of = pixels[0]
        ends = np.searchsorted(frame_of, np.arange(len(targets) + 1))  # frame n's rows: ends[n]:ends[n + 1]
        starts, _, _ = self._starts({k: masks[k] for k in targets})
        total = np.zeros((len(frame_of), 3), np.float32)
        weight = np.zeros(len(frame_of), np.float32)
        squares = np.zeros(len(frame_of), np.float32)  # weighted sum of the estimates' squared colours
        agreement = np.zeros(len(frame_of), np.float32)  # sum over estimates of 1 / expected squared error
        exemplars = {}  # first frame of a never-revealed area -> (exemplar fill, area), shared by the estimates
        carries = []  # per completed flow: its confidence and how it carries each hole pixel (step 7)
        for estimate, disagreement, certainty, warp_error, moves in self._estimates(
            frames,
            masks,
            grays,
            hidden,
            rings,
            targets,
            t_lo,
            t_hi,
            exemplars,
            (pixels, ends, starts),
            before,
        ):
            # expected squared error of the copies from the frames they stepped through (step 6 of the module
            # docstring), never below the rounding of 8-bit colours (1/12), which an exact copy still carries;
            # for pixels no copy reached, that of their made-up fill (``_fill``: every row has a certainty)
            path_error = 1.0 / np.maximum(certainty, 1e-12) + 1 / 12
            inverse_variance = 1.0 / (
                path_error + self._local_mean(disagreement, (pixels, ends, starts)) ** 2
            )
            agreement += inverse_variance
            confidence = inverse_variance / (1.0 + warp_error[frame_of])
            carries.append((confidence, *moves, warp_error))
            total += estimate * confidence[:, None]
            squares += (estimate**2).sum(-1) * confidence
            weight += confidence
        estimate = total / weight[:, None]
        # how far the estimates scatter around their weighted mean (summed over the 3 channels); outside the
        # holes every estimate is the frame itself, so nothing scatters there
        spread = np.zeros(holes.shape, np.float32)
        spread[pixels] = np.maximum(squares / weight - (estimate**2).sum(-1), 0.0)
        del total, squares  # step 7 keeps a few more rows per hole pixel
        out = frames[targets].copy()
        # the expected squared error (summed over the 3 channels) of each hole pixel's blended fill
        expected_error = np.zeros(len(frame_of), np.float32)

        def finish(n: int) -> None:
            hole, rows = masks[targets[n]], slice(ends[n], ends[n + 1])
            if rows.start < rows.stop:
                # squared colour error (summed over the 3 channels) expected of the propagated estimate: each
                # estimate's own (its copies' disagreement) plus the scatter between them, averaged locally and
                # divided by 2, the number of independent estimates (the local completions share their errors)
                local_spread = cv2.blur(spread[n], (self.window, self.window))
                propagated_error = 3.0 / agreement[rows] + local_spread[hole] / 2
                fill, expected_error[rows] = self._lean_on_spatial(
                    spatial[n].result(), estimate[rows], propagated_error
                )
                out[n][hole] = rounded(fill)

        _each(finish, range(len(targets)))
        start = None
        if before is not None and targets.start > 0 and len(expected_error):
            # the window before painted the frame before the targets; its fill counts as uncertain as a typical one
            uncertain = np.where(masks[targets.start - 1], np.median(expected_error), 0).astype(np.float32)
            start = (before, uncertain)
        self._steady(out, (pixels, ends), expected_error, carries, start)
        return out

    def _steady(self, out, points, expected_error, carries, start) -> None:
        """Step 7 of the module docstring, in place on ``out``'s hole pixels: a Kalman filter along the flow
        from the first target frame to the last, its result weighed against the same filter run from the last
        to the first and carried one frame back (the two-filter smoother). ``start``: (frame, expected error
        image) to carry into the first target, the window before's output of the frame before it."""
        (frame_of, ys, xs), ends = points
        fill = out[frame_of, ys, xs].astype(np.float32)
        points = (ys, xs, ends)  # the filter's rows for frame n: ends[n]:ends[n + 1]
        # the two passes read ``out`` and write only their own results: they run side by side
        (forward, forward_error), (back, back_error) = _each(
            lambda way: self._filter(out, points, fill, expected_error, carries, *way),
            ((1, start, "result"), (-1, None, "carried")),
        )
        # the backward carry's share: none where nothing was carried back (its error infinite)
        share = (forward_error / (forward_error + back_error))[:, None]
        smoothed = forward + share * (back - forward)
        out[frame_of, ys, xs] = rounded(smoothed)

    def _filter(self, out, points, fill, expected_error, carries, step_dir, start, keep):
        """One pass of the Kalman filter over the target frames in ``step_dir``'s order: each frame's ``fill``
        (one row per hole pixel) weighed against the previous frame's result carried in (``_carried``).
        Returns its results and their errors (``keep`` "result"), or what was carried into each frame and
        its error, infinite where nothing was ("carried"): the smoother needs one pair of each pass."""
        ys, xs, ends = points
        kept, kept_error = np.zeros_like(fill), np.full_like(expected_error, np.inf)
        previous = start
        order = range(len(ends) - 1) if step_dir > 0 else range(len(ends) - 2, -1, -1)
        for n in order:
            rows = slice(ends[n], ends[n + 1])
            if rows.start == rows.stop:
                previous = None
                continue
            if previous is None:
                carried, carried_error = fill[rows], np.full_like(expected_error[rows], np.inf)
            else:
                carried, carried_error = self._carried(previous, ys, xs, carries, n, rows, step_dir)
            # the fill's share: all of it where nothing was carried in (its error infinite)
            gain = 1.0 / (1.0 + expected_error[rows] / carried_error)
            result = carried + gain[:, None] * (fill[rows] - carried)
            result_error = 1.0 / (1.0 / carried_error + 1.0 / expected_error[rows])
            kept[rows], kept_error[rows] = (
                (result, result_error) if keep == "result" else (carried, carried_error)
            )
            image, error_image = out[n].astype(np.float32), np.zeros(out.shape[1:3], np.float32)
            image[ys[rows], xs[rows]] = result
            error_image[ys[rows], xs[rows]] = result_error
            previous = (image, error_image)
        return kept, kept_error

    @staticmethod
    def _carried(previous, ys, xs, carries, n, rows, step_dir):
        """The previous frame's result carried to target ``n``'s hole pixels ``rows`` (at ys, xs) along each
        completed flow, averaged by the completions' confidences, and its expected squared error (sum over
        RGB): the error it had, plus each completion's one-step warp error, plus the carries' scatter
        (infinite for a pixel some completion carries in from outside the frame)."""
        image, error_image = previous
        ys, xs = ys[rows], xs[rows]
        total, squares = np.zeros((len(ys), 3), np.float32), np.zeros(len(ys), np.float32)
        weight, error = np.zeros(len(ys), np.float32), np.zeros(len(ys), np.float32)
        inside = np.ones(len(ys), bool)
        for confidence, backward, forward, warp_error in carries:
            flow, c = (backward if step_dir > 0 else forward)[rows].astype(np.float32), confidence[rows]
            to = np.stack([xs + flow[:, 0], ys + flow[:, 1]], -1)
            lands = _inside(to, error_image.shape)
            inside &= lands
            to = np.where(lands[:, None], to, 0).astype(np.float32)
            colour = _sample(image, to)
            total += colour * c[:, None]
            squares += (colour**2).sum(1) * c
            error += c * (_sample(error_image, to) + 3 * warp_error[n])
            weight += c
        weight = np.maximum(weight, 1e-12)
        mean = total / weight[:, None]
        scatter = np.maximum(squares / weight - (mean**2).sum(1), 0.0)
        # never below the rounding of 8-bit colours (1/12 per channel), which an exact carry still has
        return mean, np.where(inside, error / weight + scatter + 3 / 12, np.inf).astype(np.float32)

    def _spatial_fill(self, frame, hole) -> tuple[np.ndarray, np.ndarray] | None:
        """A spatial fill of ``hole``'s pixels (``border_fill``) and its expected squared error per pixel, for the
        propagated fill to lean on (``_lean_on_spatial``); None where there is no hole, or it covers the whole frame.

        The error is measured, not assumed: the known band of ``band`` pixels around the hole is painted out too and
        compared with what it really shows; a spatial fill's error grows with the distance from the hole's border, so
        it is scaled by the pixel's depth into the hole relative to the band's mean depth.
        """
        # Telea reads only pixels within its radius of the hole, the membrane its border: work on the grown hole's
        # box plus that margin
        ys, xs = np.nonzero(hole)
        if not len(ys):
            return None
        margin = self.band + self.telea_radius + 2
        y0, x0 = max(0, ys.min() - margin), max(0, xs.min() - margin)
        y1, x1 = ys.max() + margin + 1, xs.max() + margin + 1
        frame, hole = frame[y0:y1, x0:x1], hole[y0:y1, x0:x1]
        hole8 = hole.astype(np.uint8)
        grown = cv2.dilate(hole8, ellipse(self.band)) > 0
        band = grown & ~hole
        if not band.any():  # the hole covers the whole frame: nothing to measure against
            return None
        spatial = border_fill(frame, hole, self.telea_radius)[hole]
        probe = border_fill(frame, grown, self.telea_radius)
        band_error = float(((probe[band] - frame[band]) ** 2).sum(1).mean())
        depth = cv2.distanceTransform(hole8, cv2.DIST_L2, 3)[hole]
        return spatial, band_error * (1.0 + depth) / (1.0 + self.band / 2) + 1e-6

    @staticmethod
    def _lean_on_spatial(spatial, propagated, propagated_error):
        """Blend the propagated colours of a hole's pixels with its ``spatial`` fill and that fill's expected error
        (``_spatial_fill``), each weighted by the inverse of its expected squared error, so the fill does not end
        below a per-frame spatial fill where propagation is unreliable (fast blurred motion, flow that cannot be
        completed). Returns the blend and its expected squared error (step 7)."""
        if spatial is None:
            return propagated, propagated_error
        spatial, spatial_error = spatial
        w = (spatial_error / (spatial_error + propagated_error))[:, None]
        # each weighed by the inverse of its expected error: the blend's expected error
        blend_error = spatial_error * propagated_error / (spatial_error + propagated_error)
        return w * propagated + (1.0 - w) * spatial, blend_error

    def _estimates(self, frames, masks, grays, hidden, rings, targets, t_lo, t_hi, exemplars, points, before):
        """Yield (estimate, disagreement, certainty, warp error, moves) per completed flow (see _fill,
        _warp_error and _moves), each released before the next is made."""
        # forward[t]: t -> t+1, backward[t]: t -> t-1. Copies travel from the targets outwards, so a forward
        # flow is needed from the first target on and a backward one up to the last: the reach frames before
        # the targets have no forward flow, those after them no backward one (each would be computed again,
        # for use, by the window on that side)
        forward = dict(
            _each(lambda t: (t, self._flow(grays[t], grays[t + 1])), range(targets.start, t_hi - 1))
        )
        backward = dict(
            _each(lambda t: (t, self._flow(grays[t], grays[t - 1])), range(t_lo + 1, targets.stop))
        )
        fill = partial(
            self._fill, frames, masks, forward, backward, targets, t_lo, t_hi, exemplars, points, before
        )
        # the margin the hole was grown by: shown pixels whose flow each completion replaces (step 4)
        margins = {t: hidden[t] & ~masks[t] for t in range(t_lo, t_hi)}
        warp_error = partial(self._warp_error, frames, masks, margins, forward, backward, t_lo, t_hi)
        moves = partial(self._moves, forward, backward, targets, points)

        def made():
            """One completion's estimates, its per-step errors over the window made first: the copies need them."""
            both_ways, *steps = warp_error()
            return (*fill(steps), both_ways[targets.start - t_lo : targets.stop - t_lo], moves())

        # The local completions rewrite only the (grown) holes, in place, and read only what lies
        # outside them, so one pair of flow sets serves all three in turn (memory: two sets).
        _each(lambda flows: self._temporal(flows, hidden, rings), (forward, backward))
        yield made()
        self._spatial(forward, hidden)
        self._spatial(backward, hidden)
        yield made()
        _each(lambda way: self._tracked(*way), ((forward, hidden, 1), (backward, hidden, -1)))  # from spatial
        yield made()
        for flows in (forward, backward):
            fits = _each(lambda item: (item[0], self._global_flow(item[1], hidden[item[0]])), flows.items())
            flows.update((t, model) for t, model in fits if model is not None)
        yield made()

    @staticmethod
    def _moves(forward, backward, targets, points) -> tuple[np.ndarray, np.ndarray]:
        """The backward and forward flows at the targets' hole pixels (one row per pixel, NaN where the frame
        has no such flow: the clip's first frame has no backward flow, its last no forward one), in float16:
        one pair is kept per completion until step 7, and float16 holds a flow of up to 64 px to 1/32 px."""
        (_, ys, xs), ends, _ = points
        both = []
        for flows in (backward, forward):
            at = np.full((len(ys), 2), np.nan, np.float16)  # kept per completion: half the memory
            for n, k in enumerate(targets):
                rows = slice(ends[n], ends[n + 1])
                if rows.start < rows.stop and k in flows:
                    at[rows] = flows[k][ys[rows], xs[rows]]
            both.append(at)
        return tuple(both)

    def _warp_error(self, frames, masks, margins, forward, backward, t_lo, t_hi):
        """Per frame of the window (t_lo to t_hi), how well the completed flow carries the pixels of the hole's
        margin to the neighbouring frames: the mean squared colour difference, where a pixel lands outside the
        object (per colour channel), over one step both ways, then over one step forward and one step back
        alone (three arrays); the window's median where no margin pixel was carried.

        The hole is grown by a margin of shown pixels, and every completion replaces their flow as it does
        the hole's, without reading it: so this tests each completion on pixels it did not see, next to
        those it fills. The estimates are weighed by the inverse of the first, and a copy's expected error is
        the sum of the second (or third) over the frames it stepped through: a step onto something that
        covers the hole's place in the next frame is a bad one forward only. (Measured with the flow as
        observed, around the hole, it would rate every local completion as good as the observed flow, however
        badly it guessed the hole's.)"""
        frames_in = range(t_lo, t_hi)
        starts, ys, xs = self._starts({k: margins[k] for k in frames_in})
        window = {t: masks[t] for t in margins}
        sums = np.zeros((2, len(frames_in)))  # forward, backward
        counts = np.zeros((2, len(frames_in)))
        for way, (step_dir, flows) in enumerate(((1, forward), (-1, backward))):
            for t, points, rows, origin in self._chains(flows, window, starts, step_dir, 1):
                reached = _sample(frames[t], points).astype(np.float32)
                squares = ((reached - frames[origin, ys[rows], xs[rows]]) ** 2).sum(1)
                n = origin - t_lo
                sums[way] += np.bincount(n, squares, len(frames_in))
                counts[way] += np.bincount(n, minlength=len(frames_in))

        def mean(sums, counts):
            error = sums / np.maximum(3 * counts, 1)
            error[counts == 0] = np.median(error[counts > 0]) if (counts > 0).any() else self.tau**2
            return error.astype(np.float32)

        return mean(sums.sum(0), counts.sum(0)), mean(sums[0], counts[0]), mean(sums[1], counts[1])

    def _local_mean(self, values: np.ndarray, points) -> np.ndarray:
        """Mean of the known (non-NaN) values of whole frames around each hole pixel (one row per pixel, as
        in ``points``); tau where none is known."""
        (_, ys, xs), ends, _ = points
        out = np.full(len(ys), self.tau, np.float32)

        def frame(n: int) -> None:
            rows = slice(ends[n], ends[n + 1])
            if rows.start == rows.stop:
                return
            known = ~np.isnan(values[n])
            size = (self.window, self.window)
            num = cv2.blur(np.where(known, values[n], 0).astype(np.float32), size)[ys[rows], xs[rows]]
            den = cv2.blur(known.astype(np.float32), size)[ys[rows], xs[rows]]
            out[rows] = np.where(den > 0.05, num / np.maximum(den, 1e-6), self.tau)

        _each(frame, range(len(values)))
        return out

    def _fill(self, frames, masks, forward, backward, targets, t_lo, t_hi, exemplars, points, before, steps):
        """Float estimate of the target frames' hole pixels from one completed flow (one row per pixel, in
        the order of np.nonzero(masks[targets])), how much the forward and backward copies disagree (mean
        absolute difference, as whole frames; NaN where they did not both land) and its certainty per hole
        pixel: the sum over the copies of the inverse of their expected squared errors, each the sum of the
        per-frame ``steps`` (warp errors forward, and back) of the frames it stepped through; where none landed,
        the inverse of the error expected of the pixel's made-up fill (``_never_revealed``). The copies are
        averaged with those inverses as weights; where they are less certain than a made-up fill, with it too."""
        (frame_of, ys, xs), ends, starts = points
        window = {t: masks[t] for t in range(t_lo, t_hi)}
        total = np.zeros((len(ys), 3), np.float32)
        certainty = np.zeros(len(ys), np.float32)
        copies = []

        # a copy's expected squared error: the sum of the per-step errors of the frames it stepped through, each
        # step no better than the rounding of 8-bit colours; through[way][i] sums the window's first i frames' steps
        through = [np.concatenate([[0.0], np.cumsum(np.maximum(way, 1 / 12))]) for way in steps]

        def copy(step_dir, flows):
            """The colour of the first real pixel each hole pixel lands on, and its expected squared error."""
            colour = np.full((len(ys), 3), np.nan, np.float32)
            error = np.zeros(len(ys), np.float32)
            for t, points, rows, origin in self._chains(flows, window, starts, step_dir, self.reach):
                colour[rows] = _sample(frames[t], points)
                first, last = (origin, t - 1) if step_dir > 0 else (t + 1, origin)
                summed = through[0 if step_dir > 0 else 1]
                error[rows] = summed[last - t_lo + 1] - summed[first - t_lo]
            return colour, error

        errors = []
        for colour, error in _each(lambda way: copy(*way), ((1, forward), (-1, backward))):
            landed = error > 0
            total[landed] += colour[landed] / error[landed, None]
            certainty[landed] += 1.0 / error[landed]
            copies.append(colour)
            errors.append(error)
        # Where the two copies disagree, one of them is wrong, more likely the less certain one, and the estimate
        # already leans away from it: the disagreement is counted at full weight where the two are equally
        # certain, and less as one outweighs the other (by 4 w (1 - w), w the one's weight in the estimate)
        both = errors[0] * errors[1]
        balance = np.sqrt(4 * both / np.maximum(errors[0] + errors[1], 1e-12) ** 2)
        disagreement = np.full(masks[targets].shape, np.nan, np.float32)
        disagreement[frame_of, ys, xs] = np.abs(copies[0] - copies[1]).mean(1) * balance
        found = certainty > 0
        copied = np.zeros((len(ys), 3), np.float32)
        copied[found] = total[found] / certainty[found, None]
        estimate = rounded(copied)
        # Copies expected to be further off than a made-up fill (the prior tau) are made up too, from the hole's
        # real surroundings: a fill made up from a border of such copies takes their colours in (where the only
        # copies landed on a dog walking over the sky a badge hides, the whole hole was made up in his colours).
        # Each is then averaged with its made-up fill, by the inverses of their expected errors.
        sure = certainty >= 1.0 / self.tau**2
        # pixels no copy reached are filled frame by frame: from the previous output frame when it has a hole
        # (for the first target, the output the window before made of it, when there is one)
        previous = (
            before if before is not None and targets.start > t_lo and masks[targets.start - 1].any() else None
        )
        unseen_error = self._never_revealed(
            frames, masks, targets, points, estimate, sure, exemplars, backward, previous
        )
        unsure = found & ~sure
        made_up, made_up_certainty = estimate[unsure].astype(np.float32), 1.0 / unseen_error[unsure]
        both = certainty[unsure] + made_up_certainty
        mixed = copied[unsure] * certainty[unsure, None] + made_up * made_up_certainty[:, None]
        estimate[unsure] = rounded(mixed / both[:, None])
        certainty[unsure] = both
        certainty[~found] = 1.0 / unseen_error[~found]
        return estimate.astype(np.float32), disagreement, certainty

    def _never_revealed(self, frames, masks, targets, points, estimate, found, exemplars, backward, previous):
        """Step 5 of the module docstring, in place on the rows of ``estimate`` no copy reached, or none as sure
        as a made-up fill (``found`` False): made up on the first frame that has them, then carried along the
        flow from the previous output frame (``previous``: the one before the first target, or None), made again
        every REMAKE_EVERY frames and a share of the new fill averaged in. A made-up fill depends only on its frame
        and the estimate there, so those are made first, side by side (each a few exemplar fills and a membrane: a
        fifth of the inpainting's time at 854x480, on one core when they were made in turn); the carrying runs in
        order."""
        (_, ys, xs), ends, _ = points

        def with_estimate(n: int) -> tuple[np.ndarray, np.ndarray]:
            """Target ``n``'s frame with its estimate painted in, and its pixels no copy reached."""
            k, rows = targets[n], slice(ends[n], ends[n + 1])
            result = frames[k].copy()
            result[ys[rows], xs[rows]] = estimate[rows]
            lost = ~found[rows]
            missing = np.zeros_like(masks[k])
            missing[ys[rows][lost], xs[rows][lost]] = True
            return result, missing

        def made_up(n: int) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
            """``with_estimate``'s pair for target ``n``, and its pixels no copy reached made up."""
            k = targets[n]
            result, missing = with_estimate(n)
            if k not in exemplars:  # frames differ, so no two threads make the same one
                fill = exemplar_fill(result, missing)
                exemplars[k] = None if fill is None else (fill, missing)
            return n, (result, missing, self._made_up(result, missing, exemplars[k]))

        prior = self.tau**2
        error = np.full(len(ys), prior, np.float32)
        plan = self._remakes(ends, found, previous is not None)
        made = dict(_each(made_up, [n for n, remade in plan.items() if remade]))
        if previous is not None:  # how far the window before's fill may be off is not known here: the prior
            previous = (previous, np.full(masks.shape[1:], prior, np.float32))
        for n in range(len(targets)):
            if ends[n] == ends[n + 1] or (n not in plan and n + 1 not in plan):
                previous = None  # no hole, or no lost pixel here or next: the next frame never reads this one
                continue
            result, missing, fresh = made.pop(n) if n in made else (*with_estimate(n), None)
            expected = np.full(missing.shape, prior, np.float32)
            if n in plan:
                if previous is None:
                    result = fresh
                else:
                    result = self._carry_unseen(result, expected, missing, previous, backward.get(targets[n]))
                    if fresh is not None:  # a fresh draw averaged into the carried ones (REMAKE_SHARE)
                        mixed = (1 - REMAKE_SHARE) * result[missing] + REMAKE_SHARE * fresh[missing].astype(
                            np.float32
                        )
                        result[missing] = rounded(mixed)
                        kept = (1 - REMAKE_SHARE) ** 2 * expected[missing]
                        expected[missing] = kept + REMAKE_SHARE**2 * prior  # the draws err apart
                rows = slice(ends[n], ends[n + 1])
                estimate[rows] = result[ys[rows], xs[rows]]
                error[rows] = expected[ys[rows], xs[rows]]
            previous = (result, expected)
        return error

    @staticmethod
    def _remakes(ends, found, carried_in: bool) -> dict[int, bool]:
        """For each target ``n`` with pixels no copy reached, whether their fill is made up there (True) or carried
        from the frame before (False): made where nothing is carried in (a frame before without a hole or without
        such pixels, unless ``carried_in`` for the first), and where it has been carried REMAKE_EVERY frames."""
        plan, carried, since = {}, carried_in, 0
        for n in range(len(ends) - 1):
            rows = slice(ends[n], ends[n + 1])
            lost_here = rows.start < rows.stop and not found[rows].all()
            lost_next = n + 2 < len(ends) and not found[ends[n + 1] : ends[n + 2]].all()
            if rows.start == rows.stop or not (lost_here or lost_next):
                carried = False
                continue
            if lost_here:
                since = since + 1 if carried else 0
                plan[n] = not carried or since == REMAKE_EVERY
                if plan[n]:
                    since = 0
            carried = True
        return plan

    @staticmethod
    def _starts(areas: dict) -> tuple[dict, np.ndarray, np.ndarray]:
        """Points to follow along the flow: {frame: (xs, ys, rows)} for each non-empty area, its pixels
        numbered over all areas in order (frame by frame, row-major, as np.nonzero of their stack), and
        every point's y and x by row number."""
        starts, all_ys, all_xs, row = {}, [], [], 0
        for k, area in areas.items():
            ys, xs = np.nonzero(area)
            if len(ys):
                starts[k] = (xs, ys, np.arange(row, row + len(ys)))
                all_ys.append(ys)
                all_xs.append(xs)
                row += len(ys)
        empty = np.empty(0, np.int64)
        return (
            starts,
            np.concatenate(all_ys) if all_ys else empty,
            np.concatenate(all_xs) if all_xs else empty,
        )

    @staticmethod
    def _smoothed_grey(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return telea(grey, hole.view(np.uint8), 3)

    def _spatial(self, flows: dict, hidden: dict) -> dict:
        """Flow inside the (grown) hole filled from the ring around it, in place."""
        _each(lambda t: self._fill_flow(flows[t], hidden[t]), [t for t in flows if hidden[t].any()])
        return flows

    def _flow(self, grey: np.ndarray, other: np.ndarray) -> np.ndarray:
        """DIS optical flow from ``grey`` to ``other``, at its "medium" operating point."""
        if not hasattr(self._dis, "calc"):
            self._dis.calc = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc
        return self._dis.calc(grey, other, None)

    def _temporal(self, flows: dict, hidden: dict, rings: dict) -> dict:
        """Flow inside the hole taken from the same place in the nearest frames that show it, in place.

        Each borrowed vector is shifted by the median change of the flow over the ring around
        the hole between the two frames; frames that show too little of the ring to measure it
        are passed over, and what no frame shows is filled spatially. Pixels are addressed by
        flat index (``take`` on a flat view is several times faster than a 2-D fancy index).
        """
        vectors = {t: flow.reshape(-1, 2) for t, flow in flows.items()}  # views: writes reach ``flows``
        for t, (pixels, source) in self._nearest_showing(sorted(flows), hidden).items():
            ring = self._ring_points(rings[t])
            shift = self._ring_shifts(vectors, hidden, t, ring, np.unique(source[source >= 0]).tolist())
            flow = vectors[t]
            by_source = np.argsort(source, kind="stable")
            waiting = []  # pixels whose nearest showing frame has no shift
            for idx in np.split(by_source, np.flatnonzero(np.diff(source[by_source])) + 1):
                s = int(source[idx[0]])
                if s in shift:
                    flow[pixels[idx]] = vectors[s].take(pixels[idx], axis=0) + shift[s]
                elif s >= 0:
                    waiting.append(pixels[idx])
            waiting = np.concatenate(waiting) if waiting else np.empty(0, int)
            if waiting.size:  # those try the other frames, nearest first
                shift = self._ring_shifts(vectors, hidden, t, ring, [s for s in flows if s != t])
                for s in sorted(shift, key=lambda s: (abs(s - t), s)):
                    shows = ~hidden[s].take(waiting)
                    flow[waiting[shows]] = vectors[s].take(waiting[shows], axis=0) + shift[s]
                    waiting = waiting[~shows]
                    if not waiting.size:
                        break
            unseen = np.zeros(hidden[t].shape, bool)
            unseen.reshape(-1)[np.concatenate([pixels[source < 0], waiting])] = True
            if unseen.any():
                self._fill_flow(flows[t], unseen)
        return flows

    @staticmethod
    def _ring_points(ring: np.ndarray) -> np.ndarray:
        """Up to about 500 pixels (flat indices) spread over the ``ring`` around a hole."""
        points = np.flatnonzero(ring)
        return points[:: max(1, len(points) // 500)]

    @staticmethod
    def _ring_shifts(vectors: dict, hidden: dict, t, ring: np.ndarray, frames: list) -> dict:
        """{s: median change of the flow between frame s and frame t over the ``ring`` pixels},
        for the ``frames`` s that show more than 20 of those pixels."""
        if not frames or not ring.size:
            return {}
        seen = np.stack([~hidden[s].take(ring) for s in frames])
        change = vectors[t].take(ring, axis=0)[None] - np.stack(
            [vectors[s].take(ring, axis=0) for s in frames]
        )
        change[~seen] = np.nan
        change.sort(axis=1)  # per frame, the seen pixels' changes first, in order (NaN sorts last)
        count = seen.sum(1)
        rows = np.arange(len(frames))
        median = (change[rows, (count - 1) // 2] + change[rows, count // 2]) / 2
        return {s: median[i] for i, s in enumerate(frames) if count[i] > 20}

    @staticmethod
    def _nearest_showing(ts: list, hidden: dict) -> dict:
        """For each frame t of ``ts`` with a hole: (pixels, source), its hole pixels (flat indices) and,
        for each, the nearest other frame of ``ts`` that shows it (the earlier on a tie; -1 if none does).

        Two scans over time (latest showing frame before, earliest after) instead of a search per pixel.
        """
        before, latest = {}, None
        for t in ts:
            hole = hidden[t].reshape(-1)
            if hole.any():
                pixels = np.flatnonzero(hole)
                before[t] = (pixels, np.full(len(pixels), -1, np.int32) if latest is None else latest[pixels])
            latest = np.where(hole, -1 if latest is None else latest, t).astype(np.int32)
        out, earliest = {}, None
        for t in reversed(ts):
            hole = hidden[t].reshape(-1)
            if t in before:
                pixels, b = before[t]
                a = np.full(len(pixels), -1, np.int32) if earliest is None else earliest[pixels]
                take_before = (b >= 0) & ((a < 0) | (t - b <= a - t))
                out[t] = (pixels, np.where(take_before, b, a))
            earliest = np.where(hole, -1 if earliest is None else earliest, t).astype(np.int32)
        return out

    def _tracked(self, flows: dict, hidden: dict, step_dir: int) -> dict:
        """Flow inside the hole taken from where each hole point is next seen along ``flows``, in place.

        ``flows`` (already completed) run in direction ``step_dir``; a point that is never seen
        within the reach keeps its completed flow. Every chain follows the flows as they were:
        the new vectors are written only once all are found.
        """
        landable = {t: hidden[t] for t in flows}  # a landing frame must have a flow to take
        starts, ys, xs = self._starts(landable)
        vectors = np.zeros((len(ys), 2), np.float32)
        found = np.zeros(len(ys), bool)
        for s, points, rows, _ in self._chains(flows, landable, starts, step_dir, self.reach):
            vectors[rows] = _sample(flows[s], points)
            found[rows] = True
        for t, (_, _, rows) in starts.items():
            rows = rows[found[rows]]
            flows[t][ys[rows], xs[rows]] = vectors[rows]
        return flows

    @staticmethod
    def _global_flow(flow: np.ndarray, hidden: np.ndarray) -> np.ndarray | None:
        """The motion of the whole crop as one homography fitted (RANSAC) to the flow of its shown
        pixels, as a dense flow; None where too few pixels are shown or no model fits."""
        h, w = hidden.shape
        step = max(2, int(np.sqrt(h * w / 3000)))
        ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
        shown = ~hidden[ys, xs]
        if shown.sum() < 50:
            return None
        src = np.stack([xs[shown], ys[shown]], -1).astype(np.float32)
        dst = src + flow[ys[shown], xs[shown]]
        model, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
        if model is None:
            return None
        grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
        return cv2.perspectiveTransform(grid.reshape(-1, 1, 2), model).reshape(h, w, 2) - grid

    @staticmethod
    def _fill_flow(flow: np.ndarray, hole: np.ndarray) -> None:
        """Fill ``flow`` inside ``hole`` smoothly from around it (Telea at half resolution), in place."""
        h, w = hole.shape
        size = (max(1, w // 2), max(1, h // 2))
        small = cv2.resize(flow, size, interpolation=cv2.INTER_AREA)
        invalid = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_AREA)
        invalid = cv2.dilate(invalid, np.ones((3, 3), np.uint8))  # cover every low-res pixel the hole touches
        for c in range(2):
            small[..., c] = telea(np.ascontiguousarray(small[..., c]), invalid, 2)
        flow[hole] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[hole]

    @staticmethod
    def _chains(flows, hidden, starts, step_dir, steps):
        """Follow ``flows`` frame by frame from the points of ``starts`` ({frame: (xs, ys, rows)}), for up to
        ``steps`` frames each.

        Every point still travelling is in the same frame as the others (the sweep runs through the frames
        in ``step_dir``, and a frame's points join as it is reached), so one remap per frame moves them all.
        Yields (frame, (x, y) points, rows, start frame) for the points that, at that frame, first land on a pixel
        outside ``hidden[frame]``; points that leave the image, or reach a frame without a flow or not in
        ``hidden``, stop.
        """
        if not starts:
            return
        # The travelling points: positions (x, y), rows, and start frames times ``step_dir`` (keys), filtered
        # together. Points join in the sweep's order, so the keys ascend: those that have travelled ``steps``
        # frames are the first ones, found by a binary search instead of a test of every point.
        points, rows, keys = np.empty((0, 2), np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
        first, last = (min(starts), max(starts)) if step_dir > 0 else (max(starts), min(starts))
        t = first
        while len(points) or (t - last) * step_dir <= 0:
            if t in starts:
                xs, ys, joining = starts[t]
                points = np.concatenate([points, np.stack([xs, ys], -1).astype(np.float32)])
                rows = np.concatenate([rows, joining])
                keys = np.concatenate([keys, np.full(len(joining), t * step_dir)])
            step = t + step_dir
            if len(points) and (t not in flows or step not in hidden):
                points, rows, keys = points[:0], rows[:0], keys[:0]
            elif len(points):
                points += _sample(flows[t], points)
                # the pixel each point lands on: 0 shown, 1 hidden, 2 off the image
                where = _sample(hidden[step].view(np.uint8), points, cv2.INTER_NEAREST, outside=2)
                landed = np.flatnonzero(where == 0)  # (row selection by index: a boolean mask is slow on 2-D)
                if landed.size:
                    yield step, points.take(landed, axis=0), rows.take(landed), keys.take(landed) * step_dir
                travelled = np.searchsorted(keys, step * step_dir - steps, side="right")
                still = np.flatnonzero(where[travelled:] == 1) + travelled
                points, rows, keys = points.take(still, axis=0), rows.take(still), keys.take(still)
            t = step

    @staticmethod
    def _made_up(image, missing, exemplar) -> np.ndarray:
        """``image`` with its never-revealed pixels ``missing`` made up: the membrane (spatial.py) averaged with
        ``exemplar``, (fill, area) made from the estimate that first met this frame, where its area covers them:
        the smooth fill and the copied patches err apart (see spatial.py)."""
        smooth = membrane(image, missing)
        if exemplar is not None:
            exemplar, covered = exemplar
            # carried along the flow, the fill is resampled (so softened) a little every frame: copied
            # patches are sharp, so softening them once here spares the first frames that change (flicker)
            exemplar = cv2.GaussianBlur(exemplar, (0, 0), 1.0)
            both = missing & covered
            smooth[both] = ((exemplar[both].astype(np.uint16) + smooth[both] + 1) // 2).astype(np.uint8)
        return smooth

    def _carry_unseen(self, image, expected, missing, previous, flow_to_previous) -> np.ndarray:
        """Never-revealed pixels carried from the previous output, (image, expected error), along the flow
        (``_carry``, which sets their ``expected`` squared error, per channel); those the flow brings in from
        outside it, Telea, as far off as ``expected`` already holds (the prior tau)."""
        if flow_to_previous is not None:
            missing = self._carry(image, expected, missing, previous, flow_to_previous)
        if missing.any():
            image = telea(image, missing.view(np.uint8), self.telea_radius)
        return image

    @staticmethod
    def _carry(image, expected, missing, previous, flow_to_previous) -> np.ndarray:
        """Fill ``missing`` pixels of ``image`` in place from ``previous`` (image, expected squared error per
        channel) along the flow, and their expected error in ``expected``; return those the flow carries in
        from outside ``previous`` (left to fill).

        The ring around the area is carried too: where it differs from what the ring shows now, the
        surroundings changed beyond the motion (a hand beside the fill moved away, the light changed), and
        the fill, made from them, should follow. The difference is spread over the area (``_spread``)
        and ``SEAM_RATE`` of it added: the fill keeps its own detail and follows its surroundings
        in part, and one frame's noise on the ring hardly moves it. What it did not take in is how much
        further off the carried fill may now be: its square, spread the same way, is added to the error
        carried along, so that where the surroundings keep changing (people walking behind a still badge) the
        blend leans on the frame's own spatial fill (step 6) rather than on a fill carried from before.
        """
        h, w = missing.shape
        previous, previous_error = previous
        ring = cv2.dilate(missing.view(np.uint8), ellipse(SEAM_RING)).astype(bool) & ~missing
        ys, xs = np.nonzero(missing | ring)
        to = np.stack([xs + flow_to_previous[ys, xs, 0], ys + flow_to_previous[ys, xs, 1]], -1).astype(
            np.float32
        )
        inside = _inside(to, (h, w))
        ys, xs, to = ys[inside], xs[inside], to[inside]
        carried = np.zeros((h, w, 4), np.float32)  # colour, then the error it was expected to have
        carried[ys, xs] = _sample(np.dstack([previous.astype(np.float32), previous_error]), to)
        reached = np.zeros_like(missing)
        reached[ys, xs] = True
        seam = ring & reached
        x, y, bw, bh = cv2.boundingRect((missing | ring).view(np.uint8))
        box = slice(y, y + bh), slice(x, x + bw)
        mismatch = image[box].astype(np.float32) - carried[box][..., :3]
        mismatch = np.dstack([mismatch, (mismatch**2).mean(-1)])  # and its square, per channel
        mend = _spread(mismatch, seam[box]) if seam.any() else np.zeros_like(mismatch)
        filled = (missing & reached)[box]
        image[box][filled] = rounded(carried[box][filled][:, :3] + SEAM_RATE * mend[filled][:, :3])
        stale = (1 - SEAM_RATE) ** 2 * np.maximum(mend[filled][:, 3], 0)
        expected[box][filled] = carried[box][filled][:, 3] + stale
        return missing & ~reached
