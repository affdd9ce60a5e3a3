"""Which frames each E2FGVI forward call sees: the sliding-window schedule of the reference test.py.

Every ``NEIGHBOR_STRIDE``-th frame f is a window centre; a call gets the neighbours
f - 5 .. f + 5 (the "local" frames, whose predictions are kept) plus sparse reference
frames every ``REF_STRIDE`` frames within ``REF_STRIDE * NUM_REF / 2`` of f. A frame
predicted by several calls gets the running 0.5/0.5 average, in call order.
"""

from __future__ import annotations

from dataclasses import dataclass

NEIGHBOR_STRIDE = 5
REF_STRIDE = 10
NUM_REF = 10
#: Frames a reference may lie away from a window centre.
REF_REACH = REF_STRIDE * (NUM_REF // 2)


@dataclass(frozen=True)
class Step:
    """One forward call: ``neighbors`` first (predictions kept), then ``references``."""

    center: int
    neighbors: list[int]
    references: list[int]

    @property
    def frame_ids(self) -> list[int]:
        return self.neighbors + self.references


def neighbor_ids(center: int, length: int, stride: int = NEIGHBOR_STRIDE) -> list[int]:
    return list(range(max(0, center - stride), min(length, center + stride + 1)))


def reference_ids(
    center: int, neighbors: list[int], length: int, ref_stride: int = REF_STRIDE, num_ref: int = NUM_REF
) -> list[int]:
    """Every ``ref_stride``-th frame from ``center - reach`` (clamped to 0) up to ``center + reach``,
    skipping neighbours.

    test.py (get_ref_index with num_ref != -1) also visits ``length`` itself when the
    stride lands on it, an index past the last frame; it is left out here.
    """
    reach = ref_stride * (num_ref // 2)
    start = max(0, center - reach)
    stop = min(length - 1, center + reach)
    return [i for i in range(start, stop + 1, ref_stride) if i not in neighbors]


def plan(length: int, targets: range | None = None) -> list[Step]:
    """The steps of test.py's loop over a clip of ``length`` frames that predict any of ``targets``."""
    targets = range(length) if targets is None else targets
    steps = []
    for center in range(0, length, NEIGHBOR_STRIDE):
        neighbors = neighbor_ids(center, length)
        if any(i in targets for i in neighbors):
            steps.append(Step(center, neighbors, reference_ids(center, neighbors, length)))
    return steps
