"""Letterbox and pillarbox bars: flat bands along the frame's edges that are not part of the picture.

What an object hides in such a bar (a channel's logo, a subtitle, a badge that slid off the picture) is
the bar itself, so after the fill those pixels are painted with the bar's colour, exactly. Inpainters fill
a bar badly: the flow over a flat bar is the picture's motion spread onto it, so a flow-guided fill
carries the picture into the bar (a city pan's badge over a black bar: 20-32 dB there, where per-frame
Telea gets 39), and spatial fills smear the picture's edge into it. The bar is painted over the fill
rather than left out of the hole: left out, it became a source the fill copied its black from into the
picture below (-1.4 dB on a badge astride the bar's edge).

A bar is found on each frame by walking in from each side, line by line: a line belongs to the bar while
its pixels outside the hole (at least a quarter of the line) keep, but for a speck, within ``FLAT`` grey
levels of that line's colour. A flat band of the picture itself along an edge (a clipped white sky, a
black night sky) passes too, and is then painted flat, which is what it is around the hole.
"""

from __future__ import annotations

import numpy as np

from ..masks import bounding_box

FLAT = 10  # grey levels a bar's pixel may stray from its line's colour (coding noise in a black bar: 1-4)
SPECKS = 0.01  # the share of a line's shown pixels that may stray further (a stray block of the coding)
SHOWN = 0.25  # the least share of a line that must show (outside the hole) to tell whether it is flat
_BLOCK = 32  # lines judged at once


def paint_bars(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The frame with the hole's pixels that lie in a bar painted the bar's colour (the same array when the hole
    reaches no bar). The bars are judged on the pixels outside the hole only."""
    painted = frame
    box = bounding_box(hole)
    if box is None:
        return frame
    h, w = hole.shape
    x0, y0, x1, y1 = box
    # each side turned to the top (np.rot90 turns counterclockwise): the hole's first and last line from it
    spans = {0: (y0, y1), 1: (w - x1, w - x0), 2: (h - y1, h - y0), 3: (x0, x1)}
    for turns, (first, end) in spans.items():  # top, right, bottom, left
        view_hole, view_frame = np.rot90(hole, turns), np.rot90(frame, turns)
        if _flat_lines(view_frame[first : first + 1], view_hole[first : first + 1])[0] is None:
            continue  # the hole's first line is not flat: no bar reaches the hole (the common case, one line)
        colours = _bar(view_frame, view_hole, reach=end)
        if len(colours) <= first:
            continue  # the bar ends before the hole starts
        if painted is frame:
            painted = frame.copy()
        view = np.rot90(painted, turns)
        for y, colour in enumerate(colours):
            view[y][view_hole[y]] = colour
    return painted


def _bar(frame: np.ndarray, hole: np.ndarray, reach: int) -> list[np.ndarray]:
    """The colours of the lines of the bar along the top edge (none: no bar), looked at to row ``reach``."""
    colours = []
    for start in range(0, min(reach, frame.shape[0]), _BLOCK):
        stop = min(start + _BLOCK, reach)
        for colour in _flat_lines(frame[start:stop], hole[start:stop]):
            if colour is None:
                return colours
            colours.append(colour)
    return colours


def _flat_lines(lines: np.ndarray, hidden: np.ndarray) -> list[np.ndarray | None]:
    """Each line's colour where its shown pixels are flat (``FLAT``, ``SPECKS``), else None (also where too little
    of it shows to tell). The colour: the mean of the shown pixels near their mean (a speck does not move it)."""
    shown = ~hidden
    count = shown.sum(axis=1)
    pixels = lines.astype(np.int16)

    def mean_of(weights):
        return (
            np.einsum("lwc,lw->lc", pixels, weights.astype(np.int16), dtype=np.float64)
            / np.maximum(weights.sum(axis=1), 1)[:, None]
        )

    def within_flat(colour):
        off = np.abs(pixels - np.round(colour).astype(np.int16)[:, None])
        return shown & (np.maximum(np.maximum(off[..., 0], off[..., 1]), off[..., 2]) <= FLAT)

    colour = mean_of(within_flat(mean_of(shown)))
    strays = count - within_flat(colour).sum(axis=1)
    flat = (count >= SHOWN * lines.shape[1]) & (strays <= SPECKS * count)
    colours = np.round(colour).astype(lines.dtype)
    return [c if ok else None for c, ok in zip(colours, flat, strict=True)]
