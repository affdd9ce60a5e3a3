"""Frame sources and writers: streaming only, never a whole clip in memory.

A source is a video file (anything ffmpeg reads, through PyAV) or a folder of
numbered images. Frame ``i`` is the ``i``-th frame in presentation order from 0;
frames are RGB uint8 HxWx3 arrays.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr", ".webp"}


class FrameSource:
    """What every source offers: size, rate, count, random and sequential access."""

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int

    def read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Frames ``start..stop-1`` in order (the default implementation reads one by one)."""
        start, stop = self._clip_range(start, stop)
        for i in range(start, stop):
            yield i, self.read(i)

    def frames_reversed(self, start: int = 0, stop: int | None = None, chunk: int = 16):
        """Frames ``stop-1`` down to ``start``, decoding forward in chunks so memory stays at ``chunk`` frames."""
        start, stop = self._clip_range(start, stop)
        for hi in range(stop, start, -chunk):
            lo = max(start, hi - chunk)
            block = list(self.frames(lo, hi))
            yield from reversed(block)

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.frame_count:
            raise InputError(
                f"frame {index} is out of range: {self.path.name} has {self.frame_count} frames "
                f"(0..{self.frame_count - 1})"
            )

    def _clip_range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        return max(0, start), stop

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> dict:
        return {"path": str(self.path), "width": self.width, "height": self.height,
                "fps": self.fps, "frames": self.frame_count}


class VideoFile(FrameSource):
    """A video read with PyAV. The frame index is built from the demuxed packets (cheap, no decoding)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as e:
            raise InputError(f"{path} is not a video that can be read ({e.strerror or type(e).__name__})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        try:
            self._pts = sorted(
                p.pts for p in self._container.demux(self._stream)
                if p.pts is not None and not getattr(p, "is_discard", False)
            )
        except av.error.FFmpegError as e:
            self._container.close()
            raise InputError(f"{path} is corrupt: {e.strerror or e}") from None
        self.frame_count = len(self._pts)
        if self.frame_count == 0:
            self._container.close()
            raise InputError(f"{path} has no frames")
        ctx = self._stream.codec_context
        self.width, self.height = int(ctx.width), int(ctx.height)
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self._decoder: Iterator | None = None
        self._next = 0  # index the running decoder yields next

    def _seek(self, index: int) -> None:
        self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._next = None  # unknown until a frame with a known pts comes out

    def _decode_next(self) -> tuple[int | None, av.VideoFrame]:
        """The next decoded frame and its index (None until a frame with a known pts comes out).

        The frame stays undecoded to RGB: frames decoded only to reach a seek target are never converted.
        """
        try:
            frame = next(self._decoder)
        except StopIteration:
            raise InputError(f"{self.path} ended early: fewer frames than its index says") from None
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path} is corrupt near frame {self._next}: {e.strerror or e}") from None
        if frame.pts is not None:
            pos = bisect.bisect_left(self._pts, frame.pts)
            self._next = pos if pos < len(self._pts) and self._pts[pos] == frame.pts else self._next
        index = self._next
        self._next = None if index is None else index + 1
        return index, frame

    def read(self, index: int) -> np.ndarray:
        self.check_index(index)
        if self._decoder is None or self._next is None or self._next > index or index - self._next > 30:
            self._seek(index)
        while True:
            i, frame = self._decode_next()
            if i is None:
                continue
            if i == index:
                return frame.to_ndarray(format="rgb24")
            if i > index:  # the seek landed past it: start from the beginning of the stream
                self._container.seek(0, stream=self._stream, backward=True)
                self._decoder = self._container.decode(self._stream)
                self._next = 0

    def frames(self, start: int = 0, stop: int | None = None):
        start, stop = self._clip_range(start, stop)
        if start >= stop:
            return
        yield start, self.read(start)
        for i in range(start + 1, stop):
            j, frame = self._decode_next()
            # An irregular stream falls back to exact random access.
            yield i, frame.to_ndarray(format="rgb24") if j == i else self.read(i)

    def close(self) -> None:
        self._container.close()


def _frame_number(name: str) -> int | None:
    nums = re.findall(r"\d+", Path(name).stem)
    return int(nums[-1]) if nums else None


class ImageFolder(FrameSource):
    """A folder of numbered images (``frame_0001.png`` ...), ordered by the last number in each name."""

    def __init__(self, path: Path):
        self.path = path
        files = [f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        numbered = [(n, f) for f in files if (n := _frame_number(f.name)) is not None]
        if not numbered:
            raise InputError(f"{path} holds no numbered images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        numbered.sort()
        self.files = [f for _, f in numbered]
        self.frame_count = len(self.files)
        first = self.read(0)
        self.height, self.width = first.shape[:2]
        self.fps = 25.0

    def read(self, index: int) -> np.ndarray:
        self.check_index(index)
        image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{self.files[index]} is not a readable image")
        if hasattr(self, "width") and image.shape[:2] != (self.height, self.width):
            raise InputError(f"{self.files[index]} is {image.shape[1]}x{image.shape[0]}, "
                             f"the sequence is {self.width}x{self.height}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_video(path: str | os.PathLike) -> FrameSource:
    """Open a video file or an image folder; raises InputError with one clear line on bad input."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return ImageFolder(path)
    return VideoFile(path)


# -- writing ----------------------------------------------------------------------------------------------


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB (HxWx3) or single-channel (HxW) uint8 image as PNG."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise InputError(f"cannot write {path}")


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A label map PNG (8-bit single channel) as uint8 HxW."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise InputError(f"{path} is not a readable mask image")
    if mask.ndim == 3:
        mask = mask[..., 0]
    return mask.astype(np.uint8)


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


class Mp4Writer:
    """H.264 mp4 via PyAV (libx264, yuv420p); falls back to MPEG-4 Part 2 if libx264 is missing.

    yuv420p needs even sizes, so an odd width or height loses its last column/row in
    the mp4 only (the PNG sequence keeps every pixel).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, crf: int = 18):
        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        self._container = av.open(str(self.path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        if codec != "libx264":
            log.warning("libx264 is not available in this PyAV build: writing %s as MPEG-4 Part 2", self.path.name)
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.codec = codec

    @classmethod
    def for_source(cls, path: str | os.PathLike, source: FrameSource, start: int, stop: int) -> Mp4Writer:
        """A writer for frames ``start..stop-1`` of ``source``, written in order."""
        return cls(path, source.width, source.height, source.fps)

    def write(self, rgb: np.ndarray) -> None:
        rgb = np.ascontiguousarray(rgb[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
