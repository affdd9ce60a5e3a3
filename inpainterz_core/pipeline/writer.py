"""The output writer: PNGs and mp4 frames written in order on a background thread, in bounded memory."""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..outputs import write_png
from ..video import Mp4Writer, frame_name


class OutputWriter:
    """Writes the output PNGs and mp4 frames on one background thread, in order.

    Encoding a PNG and an H.264 frame releases the GIL, so writing one chunk's frames overlaps
    with inpainting the next chunk on the other core. The frames waiting to be written are
    bounded by ``budget`` bytes (a few at 4K, a whole chunk at 480p), so memory stays bounded.
    """

    def __init__(self, folder: Path, video: Mp4Writer | None, budget: int = 256 << 20):
        self.folder, self.video = folder, video
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpainterz-writer")
        self._pending: deque = deque()
        self._budget = budget

    def _write(self, index: int, frame: np.ndarray) -> None:
        write_png(self.folder / frame_name(index), frame)
        if self.video is not None:
            self.video.write(frame)

    def put(self, index: int, frame: np.ndarray) -> None:
        self._pending.append(self._pool.submit(self._write, index, frame))
        while len(self._pending) > max(1, self._budget // frame.nbytes):
            self._pending.popleft().result()  # re-raises a failed write here

    def finish(self) -> None:
        """Wait for every frame, then close the mp4 (its last packets are written here)."""
        while self._pending:
            self._pending.popleft().result()
        if self.video is not None:
            self.video.close()
            self.video = None

    def close(self) -> None:
        """On success after ``finish``; on failure, stop without waiting to write the rest.

        On failure the half-written video is thrown away with its scratch folder, so an
        error while closing it (the same full disk, say) must not hide the first one.
        """
        for pending in self._pending:
            pending.cancel()
        self._pool.shutdown(wait=True)
        if self.video is not None:
            with contextlib.suppress(Exception):
                self.video.close()
