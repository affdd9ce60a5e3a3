"""The shared segmenters: one per (backend, device, checkpoint folder), built off the socket thread.

A SAM model takes seconds to load and hundreds of MB, so sessions share it; settings
that do not change the segmenter (``dilate``, ``chunk``, ...) share one too. Building
happens on the thread that needs it (a session worker or a job), under a per-key lock,
so two sessions asking at once build it once and the socket thread never waits.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from inpainterz_core.backends import make_segmenter
from inpainterz_core.segment.base import Segmenter
from inpainterz_core.settings import Settings

from .sessions import SessionSegmenter

KEEP = 4  # segmenters kept (least recently used dropped first)


def segmenter_key(settings: Settings) -> tuple:
    """What makes two segmenters differ; the classical one ignores device and checkpoints."""
    if settings.backend == "classical":
        return ("classical", None, None, None)
    return settings.backend, settings.segmenter, settings.device, settings.ckpt_dir


class SegmenterPool:
    def __init__(self, keep: int = KEEP):
        self._keep = keep
        self._built: OrderedDict[tuple, tuple[Segmenter, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()  # guards _built (held briefly)
        self._build_lock = threading.Lock()  # one build at a time: the same model is never loaded twice

    def get(self, settings: Settings, session_id: str) -> SessionSegmenter:
        """The shared segmenter for these settings, seen through the session's keys (may build it: slow)."""
        key = segmenter_key(settings)
        with self._lock:
            entry = self._built.get(key)
        if entry is None:
            with self._build_lock:
                with self._lock:
                    entry = self._built.get(key)
                if entry is None:
                    entry = (make_segmenter(settings), threading.Lock())
        with self._lock:
            self._built[key] = entry
            self._built.move_to_end(key)
            while len(self._built) > self._keep:
                self._built.popitem(last=False)
        return SessionSegmenter(entry[0], entry[1], session_id)
