"""The shared models: segmenters and text detectors, each built once, off the socket thread.

A SAM or Grounding DINO model takes seconds to load and hundreds of MB, so sessions
share it; settings that do not change the model (``dilate``, ``chunk``, ...) share one
too. Building happens on the thread that needs it (a session worker or a job), under a
lock, so two sessions asking at once build it once and the socket thread never waits.
A build that fails (missing weights) is not kept: the next request tries again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from inpainterz_core.backends import make_detector, make_segmenter
from inpainterz_core.detect.base import Detection, Detector
from inpainterz_core.prompts import TextPrompt
from inpainterz_core.settings import Settings

from .sessions import SessionSegmenter

KEEP = 4  # models of one kind kept (least recently used dropped first)


def segmenter_key(settings: Settings) -> tuple:
    """What makes two segmenters differ; the classical one ignores device and checkpoints."""
    if settings.backend == "classical":
        return ("classical", None, None, None)
    return settings.backend, settings.segmenter, settings.device, settings.ckpt_dir


def detector_key(settings: Settings) -> tuple:
    """What makes two detectors differ (there is no classical detector: the backend does not matter)."""
    return settings.detector, settings.device, settings.ckpt_dir


class _Shared:
    """Models built by ``build(settings)``, one per ``key(settings)``, each with the lock its users take."""

    def __init__(self, build: Callable[[Settings], object], key: Callable[[Settings], tuple], keep: int):
        self._build_model, self._key, self._keep = build, key, keep
        self._built: OrderedDict[tuple, tuple[object, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()  # guards _built (held briefly)
        self._build_lock = threading.Lock()  # one build at a time: the same model is never loaded twice

    def entry(self, settings: Settings) -> tuple[object, threading.Lock]:
        """The shared model for these settings and its lock (may build it: slow)."""
        key = self._key(settings)
        with self._lock:
            entry = self._built.get(key)
        if entry is None:
            with self._build_lock:
                with self._lock:
                    entry = self._built.get(key)
                if entry is None:
                    entry = (self._build_model(settings), threading.Lock())
        with self._lock:
            self._built[key] = entry
            self._built.move_to_end(key)
            while len(self._built) > self._keep:
                self._built.popitem(last=False)
        return entry


class SegmenterPool(_Shared):
    def __init__(self, keep: int = KEEP):
        super().__init__(lambda settings: make_segmenter(settings), segmenter_key, keep)

    def get(self, settings: Settings, session_id: str) -> SessionSegmenter:
        """The shared segmenter for these settings, seen through the session's keys (may build it: slow)."""
        return SessionSegmenter(*self.entry(settings), session_id)


class SharedDetector:
    """A shared detector that one thread at a time runs (a model is not safe to call from two at once)."""

    def __init__(self, inner: Detector, lock: threading.Lock):
        self.inner, self.lock = inner, lock
        self.name = inner.name

    def detect(self, image: np.ndarray, text: TextPrompt) -> list[Detection]:
        with self.lock:
            return self.inner.detect(image, text)


class DetectorPool(_Shared):
    def __init__(self, keep: int = KEEP):
        super().__init__(lambda settings: make_detector(settings), detector_key, keep)

    def get(self, settings: Settings) -> SharedDetector:
        """The shared detector for these settings (may build it: slow; MissingWeightsError without weights)."""
        return SharedDetector(*self.entry(settings))
