"""Classical video inpainting: copy the real background that other frames reveal, along completed flow.

For a window of frames (already cropped around the hole):
1. dense optical flow (DIS) between neighbouring frames, forward and backward;
2. flow completion: inside the hole the flow is the object's, not the background's,
   so it is thrown away and filled smoothly from the surrounding background flow;
3. propagation: every hole pixel of a target frame follows the completed flow,
   frame by frame, forward and backward, until it lands on a pixel that is not
   hidden there; the nearest such real pixels (in time) give its colour;
4. pixels never revealed in the window are filled once by spatial inpainting
   (Telea) and then carried along the flow from the previous output frame, so the
   fill moves with the background instead of flickering.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Inpainter


class FlowGuidedInpainter(Inpainter):
    name = "flow-guided"

    def __init__(self, context: int = 12, telea_radius: int = 5):
        self.context = context
        self.telea_radius = telea_radius
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, targets: range) -> np.ndarray:
        frames = np.ascontiguousarray(frames)
        masks = np.asarray(masks, bool)
        grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        t_lo, t_hi = max(0, targets.start - self.context), min(len(frames), targets.stop + self.context)
        # forward[t]: t -> t+1, backward[t]: t -> t-1, both completed inside the holes.
        forward = {t: self._completed_flow(grays[t], grays[t + 1], masks[t]) for t in range(t_lo, t_hi - 1)}
        backward = {t: self._completed_flow(grays[t], grays[t - 1], masks[t]) for t in range(t_lo + 1, t_hi)}

        out = frames[targets].copy()
        previous = None  # last output frame, to carry never-seen fill along the flow
        for n, k in enumerate(targets):
            hole = masks[k]
            if not hole.any():
                previous = None
                continue
            ys, xs = np.nonzero(hole)
            colour, found = self._propagate(frames, masks, forward, backward, k, xs, ys, t_lo, t_hi)
            result = frames[k].copy()
            result[ys[found], xs[found]] = colour[found]
            missing = np.zeros_like(hole)
            missing[ys[~found], xs[~found]] = True
            if missing.any():
                result = self._fill_unseen(result, missing, previous, backward.get(k))
            out[n] = result
            previous = result
        return out

    def _completed_flow(self, a: np.ndarray, b: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Flow a -> b with the hole filled in from the background flow around it."""
        flow = self._dis.calc(a, b, None)
        if hole.any():
            invalid = hole.astype(np.uint8)
            for c in range(2):
                flow[..., c] = cv2.inpaint(np.ascontiguousarray(flow[..., c]), invalid, 3, cv2.INPAINT_TELEA)
        return flow

    def _propagate(self, frames, masks, forward, backward, k, xs, ys, t_lo, t_hi):
        """Colour for each hole pixel of frame k from the nearest frame that shows it, both directions blended."""
        n = len(xs)
        h, w = masks.shape[1:]
        total = np.zeros((n, 3), np.float32)
        weight = np.zeros(n, np.float32)
        for step_dir, flows in ((1, forward), (-1, backward)):
            px, py = xs.astype(np.float32), ys.astype(np.float32)
            alive = np.ones(n, bool)
            t = k
            for distance in range(1, self.context + 1):
                if t not in flows or not alive.any():
                    break
                idx = np.flatnonzero(alive)
                f = cv2.remap(flows[t], px[idx, None], py[idx, None], cv2.INTER_LINEAR)[:, 0]
                px[idx] += f[:, 0]
                py[idx] += f[:, 1]
                t += step_dir
                inside = (px[idx] >= 0) & (px[idx] <= w - 1) & (py[idx] >= 0) & (py[idx] <= h - 1)
                alive[idx[~inside]] = False
                idx = idx[inside]
                hidden = masks[t][np.rint(py[idx]).astype(int), np.rint(px[idx]).astype(int)]
                landed = idx[~hidden]
                if landed.size:
                    c = cv2.remap(frames[t], px[landed, None], py[landed, None], cv2.INTER_LINEAR)[:, 0]
                    total[landed] += c.astype(np.float32) / distance
                    weight[landed] += 1.0 / distance
                    alive[landed] = False
                if not t_lo <= t < t_hi:
                    break
        found = weight > 0
        colour = np.zeros((n, 3), np.uint8)
        colour[found] = np.clip(total[found] / weight[found, None] + 0.5, 0, 255).astype(np.uint8)
        return colour, found

    def _fill_unseen(self, image, missing, previous, flow_to_previous):
        """Never-revealed pixels: carried from the previous output along the flow, else Telea."""
        if previous is not None and flow_to_previous is not None:
            ys, xs = np.nonzero(missing)
            fx = xs + flow_to_previous[ys, xs, 0]
            fy = ys + flow_to_previous[ys, xs, 1]
            h, w = missing.shape
            ok = (fx >= 0) & (fx <= w - 1) & (fy >= 0) & (fy <= h - 1)
            if ok.any():
                c = cv2.remap(previous, fx[ok, None].astype(np.float32), fy[ok, None].astype(np.float32),
                              cv2.INTER_LINEAR)[:, 0]
                image[ys[ok], xs[ok]] = c
            missing = missing.copy()
            missing[ys[ok], xs[ok]] = False
        if missing.any():
            image = cv2.inpaint(image, missing.astype(np.uint8), self.telea_radius, cv2.INPAINT_TELEA)
        return image
