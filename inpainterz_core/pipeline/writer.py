"""The output writer: PNGs and mp4 frames written in order on background threads, in bounded memory."""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..outputs import write_png
from ..video import Mp4Writer, frame_name


class OutputWriter:
    """Writes the output PNGs on one background thread and the mp4's frames, in order, on another.

    Encoding a PNG and an H.264 frame releases the GIL, so writing one chunk's frames overlaps
    with inpainting the next chunk, and the two encoders run side by side: at the end of a clip,
    when nothing is left to overlap with, the last chunk's frames are written in the time of the
    slower encoder (a PNG: about 22 ms a frame at 854x480, H.264 12 ms) rather than of both. The
    frames waiting to be written are bounded by ``budget`` bytes (a few at 4K, a whole chunk at
    480p), so memory stays bounded.
    """

    def __init__(self, folder: Path, video: Mp4Writer | None, budget: int = 256 << 20):
        self.folder, self.video = folder, video
        self._png = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpainterz-png")
        self._mp4 = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpainterz-mp4")
        self._pending: deque = deque()  # per frame, the futures of its writes, oldest first
        self._budget = budget

    def put(self, index: int, frame: np.ndarray, folder: Path | None = None) -> None:
        """Write ``frame`` as ``index``'s PNG (in ``folder``, if given, instead of the writer's) and, with a
        video, as its next frame. The frame must not change until it is written."""
        writes = [self._png.submit(write_png, (folder or self.folder) / frame_name(index), frame)]
        if self.video is not None:
            writes.append(self._mp4.submit(self.video.write, frame))
        self._pending.append(writes)
        while len(self._pending) > max(1, self._budget // frame.nbytes):
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        for write in self._pending.popleft():
            write.result()  # re-raises a failed write here

    def finish(self) -> None:
        """Wait for every frame, then close the mp4 (its last packets are written here). Without a video,
        this only waits: the writer may be given more frames after it."""
        while self._pending:
            self._wait_oldest()
        if self.video is not None:
            self.video.close()
            self.video = None

    def close(self) -> None:
        """On success after ``finish``; on failure, stop without waiting to write the rest.

        On failure the half-written video is thrown away with its scratch folder, so an
        error while closing it (the same full disk, say) must not hide the first one.
        """
        for writes in self._pending:
            for write in writes:
                write.cancel()
        self._png.shutdown(wait=True)
        self._mp4.shutdown(wait=True)
        if self.video is not None:
            with contextlib.suppress(Exception):
                self.video.close()
