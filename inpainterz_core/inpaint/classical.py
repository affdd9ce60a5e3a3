"""Classical video inpainting: copy the real background that other frames reveal, along completed flow.

For a window of frames (already cropped around the hole):
1. dense optical flow (DIS) between neighbouring frames, forward and backward, on grey
   frames whose holes were first smoothed over (Telea), so the object's own texture does
   not drag the flow of the background around it;
2. flow completion, three ways, because no single guess of the motion hidden under the
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
3. propagation, for each completed flow: every hole pixel of a target frame follows the
   flow frame by frame, forward and backward, until it lands on a pixel that is not hidden
   there, and takes that real pixel's colour;
4. each completed flow gives an estimate (its forward and backward copies averaged, nearer
   frames weighing more); the three estimates are averaged, each weighted by how well its
   forward and backward copies agree around the pixel (they disagree where that flow is
   wrong). Averaging largely independent misalignments cuts their error and steadies the
   fill in time;
5. pixels never revealed in the window are filled once by spatial inpainting (Telea) and
   then carried along the flow from the previous output frame, so the fill moves with the
   background instead of flickering.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Inpainter


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at float points, one row per point.

    cv2.remap takes the points as a map image, and a map side must stay under 32767: the
    points are laid out in rows of up to 4096, so a hole of any size can be sampled in one call.
    """
    n = len(xs)
    cols = min(max(n, 1), 4096)
    rows = -(-max(n, 1) // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = xs, ys
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR)
    return out.reshape(rows * cols, *image.shape[2:])[:n]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class FlowGuidedInpainter(Inpainter):
    name = "flow-guided"

    def __init__(
        self,
        context: int = 16,
        telea_radius: int = 5,
        ring: int = 12,
        grow: int = 3,
        tau: float = 25.0,
        window: int = 15,
    ):
        self.tau = tau
        self.window = window
        self.context = context
        self.telea_radius = telea_radius
        self.ring = ring  # width of the band around the hole that calibrates temporal flow completion
        self.grow = grow  # flow this close to the hole is dragged by the object, so it is replaced too
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, targets: range) -> np.ndarray:
        frames = np.ascontiguousarray(frames)
        masks = np.asarray(masks, bool)
        t_lo, t_hi = max(0, targets.start - self.context), min(len(frames), targets.stop + self.context)
        grays = {t: self._smoothed_grey(frames[t], masks[t]) for t in range(t_lo, t_hi)}
        hidden = {t: cv2.dilate(masks[t].astype(np.uint8), _disk(self.grow)).astype(bool) for t in grays}
        # forward[t]: t -> t+1, backward[t]: t -> t-1
        forward = {t: self._dis.calc(grays[t], grays[t + 1], None) for t in range(t_lo, t_hi - 1)}
        backward = {t: self._dis.calc(grays[t], grays[t - 1], None) for t in range(t_lo + 1, t_hi)}
        temporal = (self._temporal(forward, hidden), self._temporal(backward, hidden))
        spatial = (self._spatial(forward, hidden), self._spatial(backward, hidden))  # in place: raw flows are done
        completions = [
            spatial,
            temporal,
            (self._tracked(spatial[0], hidden, 1), self._tracked(spatial[1], hidden, -1)),
        ]
        total = np.zeros(frames[targets].shape, np.float32)
        weight = np.zeros(total.shape[:3], np.float32)
        for fwd, bwd in completions:
            estimate, disagreement = self._fill(frames, masks, fwd, bwd, targets, t_lo, t_hi)
            confidence = 1.0 / (self.tau**2 + self._local_mean(disagreement, masks[targets]) ** 2)
            total += estimate * confidence[..., None]
            weight += confidence
        estimate = total / weight[..., None]
        out = frames[targets].copy()
        holes = masks[targets]
        out[holes] = np.clip(estimate[holes] + 0.5, 0, 255).astype(np.uint8)
        return out

    def _local_mean(self, values: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Mean of the known (non-NaN) values around each pixel; tau where none is known."""
        known = ~np.isnan(values)
        out = np.full(values.shape, self.tau, np.float32)
        for n in range(len(values)):
            if not holes[n].any():
                continue
            size = (self.window, self.window)
            num = cv2.blur(np.where(known[n], values[n], 0).astype(np.float32), size)
            den = cv2.blur(known[n].astype(np.float32), size)
            out[n] = np.where(den > 0.05, num / np.maximum(den, 1e-6), self.tau)
        return out

    def _fill(self, frames, masks, forward, backward, targets, t_lo, t_hi):
        """Float estimate of the target frames from one completed flow, and how much the forward and
        backward copies disagree (mean absolute difference; NaN where they did not both land)."""
        out = frames[targets].astype(np.float32)
        disagreement = np.full(out.shape[:3], np.nan, np.float32)
        previous = None  # last output frame, to carry never-seen fill along the flow
        for n, k in enumerate(targets):
            hole = masks[k]
            if not hole.any():
                previous = None
                continue
            ys, xs = np.nonzero(hole)
            total = np.zeros((len(xs), 3), np.float32)
            weight = np.zeros(len(xs), np.float32)
            copies = []
            for step_dir, flows in ((1, forward), (-1, backward)):
                colour, distance = self._propagate(frames, masks, flows, k, step_dir, xs, ys, t_lo, t_hi)
                landed = distance > 0
                total[landed] += colour[landed] / distance[landed, None]
                weight[landed] += 1.0 / distance[landed]
                copies.append(np.where(landed[:, None], colour, np.nan))
            disagreement[n, ys, xs] = np.abs(copies[0] - copies[1]).mean(1)
            found = weight > 0
            result = frames[k].copy()
            result[ys[found], xs[found]] = np.clip(total[found] / weight[found, None] + 0.5, 0, 255)
            missing = np.zeros_like(hole)
            missing[ys[~found], xs[~found]] = True
            if missing.any():
                result = self._fill_unseen(result, missing, previous, backward.get(k))
            out[n] = result
            previous = result
        return out, disagreement

    @staticmethod
    def _smoothed_grey(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return cv2.inpaint(grey, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA) if hole.any() else grey

    def _spatial(self, flows: dict, hidden: dict) -> dict:
        """Flow inside the (grown) hole filled from the ring around it, in place (memory: one flow set less)."""
        for t, flow in flows.items():
            if hidden[t].any():
                self._fill_flow(flow, hidden[t])
        return flows

    def _temporal(self, flows: dict, hidden: dict) -> dict:
        """Flow inside the hole taken from the same place in the nearest frames that show it.

        Each borrowed vector is shifted by the median change of the flow over the ring around
        the hole between the two frames; what no frame shows is filled spatially.
        """
        ts = sorted(flows)
        if not ts:
            return {}
        stack = np.stack([flows[t] for t in ts])
        seen = ~np.stack([hidden[t] for t in ts])
        out = {}
        for i, t in enumerate(ts):
            hole = hidden[t].copy()
            flow = flows[t].copy()
            out[t] = flow
            if not hole.any():
                continue
            ring = cv2.dilate(hole.astype(np.uint8), _disk(self.ring)).astype(bool) & ~hole
            ry, rx = np.nonzero(ring)
            ry, rx = ry[:: max(1, len(ry) // 500)], rx[:: max(1, len(rx) // 500)]
            ring_seen = seen[:, ry, rx]
            usable = ring_seen.sum(1) > 20  # frames that show enough of the ring to measure the shift
            usable[i] = False
            if usable.any():
                change = np.where(ring_seen[usable, :, None], flow[ry, rx] - stack[:, ry, rx][usable], np.nan)
                shift = np.zeros((len(ts), 2), np.float32)
                shift[usable] = np.nanmedian(change, 1)
                ys, xs = np.nonzero(hole)
                order = np.argsort(np.abs(np.arange(len(ts)) - i), kind="stable")
                order = order[usable[order]]
                visible = seen[order[:, None], ys, xs]  # (usable frames by distance, hole pixels)
                nearest = np.argmax(visible, 0)
                ok = visible[nearest, np.arange(len(ys))]
                source = order[nearest[ok]]
                flow[ys[ok], xs[ok]] = stack[source, ys[ok], xs[ok]] + shift[source]
                hole[ys[ok], xs[ok]] = False
            if hole.any():
                self._fill_flow(flow, hole)
        return out

    def _tracked(self, flows: dict, hidden: dict, step_dir: int) -> dict:
        """Flow inside the hole taken from where each hole point is next seen along ``flows``.

        ``flows`` (already completed) run in direction ``step_dir``; a point that is never seen
        within the context keeps its completed flow.
        """
        landable = {t: hidden[t] for t in flows}  # a landing frame must have a flow to take
        out = {}
        for t, flow in flows.items():
            flow = flow.copy()
            out[t] = flow
            if not hidden[t].any():
                continue
            ys, xs = np.nonzero(hidden[t])
            for _, s, px, py, landed in self._chain(flows, landable, t, step_dir, xs, ys):
                flow[ys[landed], xs[landed]] = _sample(flows[s], px, py)
        return out

    @staticmethod
    def _fill_flow(flow: np.ndarray, hole: np.ndarray) -> None:
        """Fill ``flow`` inside ``hole`` smoothly from around it (Telea at half resolution), in place."""
        h, w = hole.shape
        size = (max(1, w // 2), max(1, h // 2))
        small = cv2.resize(flow, size, interpolation=cv2.INTER_AREA)
        invalid = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_AREA)
        invalid = cv2.dilate(invalid, np.ones((3, 3), np.uint8))  # cover every low-res pixel the hole touches
        for c in range(2):
            small[..., c] = cv2.inpaint(np.ascontiguousarray(small[..., c]), invalid, 2, cv2.INPAINT_TELEA)
        flow[hole] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[hole]

    def _propagate(self, frames, masks, flows, k, step_dir, xs, ys, t_lo, t_hi):
        """Colour of the first real pixel each hole pixel of frame k lands on, and how many frames away (0: none)."""
        colour = np.zeros((len(xs), 3), np.float32)
        distance = np.zeros(len(xs), np.float32)
        window = {t: masks[t] for t in range(t_lo, t_hi)}
        for step, t, px, py, landed in self._chain(flows, window, k, step_dir, xs, ys):
            colour[landed] = _sample(frames[t], px, py)
            distance[landed] = step
        return colour, distance

    def _chain(self, flows, hidden, k, step_dir, xs, ys):
        """Follow ``flows`` from frame k, frame by frame, for up to ``context`` frames.

        Yields (step, frame, x, y, indices) for the points that, at that frame, first land on a
        pixel outside ``hidden[frame]``; points that leave the image or the frames in ``hidden`` stop.
        """
        h, w = next(iter(hidden.values())).shape
        px, py = xs.astype(np.float32), ys.astype(np.float32)
        alive = np.arange(len(xs))
        t = k
        for step in range(1, self.context + 1):
            if t not in flows or not alive.size:
                return
            f = _sample(flows[t], px[alive], py[alive])
            px[alive] += f[:, 0]
            py[alive] += f[:, 1]
            t += step_dir
            if t not in hidden:
                return
            inside = (px[alive] >= 0) & (px[alive] <= w - 1) & (py[alive] >= 0) & (py[alive] <= h - 1)
            alive = alive[inside]
            still = hidden[t][np.rint(py[alive]).astype(int), np.rint(px[alive]).astype(int)]
            landed = alive[~still]
            if landed.size:
                yield step, t, px[landed], py[landed], landed
            alive = alive[still]

    def _fill_unseen(self, image, missing, previous, flow_to_previous):
        """Never-revealed pixels: carried from the previous output along the flow, else Telea."""
        if previous is not None and flow_to_previous is not None:
            ys, xs = np.nonzero(missing)
            fx = (xs + flow_to_previous[ys, xs, 0]).astype(np.float32)
            fy = (ys + flow_to_previous[ys, xs, 1]).astype(np.float32)
            h, w = missing.shape
            ok = (fx >= 0) & (fx <= w - 1) & (fy >= 0) & (fy <= h - 1)
            if ok.any():
                image[ys[ok], xs[ok]] = _sample(previous, fx[ok], fy[ok])
            missing = missing.copy()
            missing[ys[ok], xs[ok]] = False
        if missing.any():
            image = cv2.inpaint(image, missing.astype(np.uint8), self.telea_radius, cv2.INPAINT_TELEA)
        return image
