"""The Tracker interface: propagate a label map from one frame to the next.

The pipeline drives the direction (forward from a keyframe, then backward by
feeding frames in reverse order) and re-seeds at every keyframe, so a tracker
only needs to know "the previous frames I saw" and never holds the whole clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

#: A frame whose tracker confidence is below this is one the editor is pointed at (``pipeline.tracking``'s
#: ``check_frames``); a tracker may take such a mask for one that lost part of its object.
LOW_CONFIDENCE = 0.5


class Tracker(ABC):
    name: str = ""
    #: How likely the mask of the frame last returned by ``reset`` or ``step`` is right, in [0, 1]
    #: (1.0 on a keyframe), so an editor is shown the frames to check; None when a tracker cannot tell.
    confidence: float | None = None
    #: The same per object id, for the trackers that can tell (empty for the others), so a frame is
    #: judged on the objects that are painted out: a kept object's doubts are not the editor's to check.
    confidences: Mapping[int, float] = MappingProxyType({})
    #: Whether ``confidence`` is given on the frames it steps: then, between two keyframes, the frames switch once
    #: from the pass from the keyframe before to the pass from the one after where the tracker is surest of them
    #: (``pipeline.tracking._switch``), not always halfway.
    gives_confidence: bool = False
    #: Whether the tracker may read what moves against the scene. The pipeline then calls its
    #: ``set_motion(make)`` before each ``reset``, ``restart``, ``step`` and ``correct``: ``make()`` returns that frame's
    #: motion map (uint8 HxW at the frame's size, ``segment.motion.scene_motion``; None where none could be
    #: made). The tracker calls it only if it needs the map: making it costs a pass over the frames around.
    uses_motion: bool = False

    @abstractmethod
    def reset(self, image: np.ndarray, labels: np.ndarray) -> None:
        """Start over from a reference frame: RGB uint8 HxWx3 image and its uint8 label map (0 = background)."""

    @abstractmethod
    def step(self, image: np.ndarray) -> np.ndarray:
        """The label map (uint8 HxW) of the next frame in the current direction."""

    def correct(self, image: np.ndarray, labels: np.ndarray) -> None:
        """A user-corrected keyframe met while propagating: take its labels as truth.

        The default restarts from it; model trackers may keep their long-term memory.
        """
        self.reset(image, labels)

    def traits(self) -> object | None:
        """What the tracker learnt about its objects so far, for a later ``restart`` to start from (None: the
        default, nothing)."""
        return None

    def restart(self, image: np.ndarray, labels: np.ndarray, traits: object | None = None) -> None:
        """Start again from another keyframe of the shot being tracked, in either direction: the objects are
        those tracked so far. The default starts over (``reset``); a tracker may keep what it learnt about them:
        ``traits`` (what ``traits()`` gave), or what it knows now.
        """
        self.reset(image, labels)
