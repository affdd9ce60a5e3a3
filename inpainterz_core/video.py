"""Frame sources and writers: streaming only, never a whole clip in memory.

A source is a video file (anything ffmpeg reads, through PyAV) or a folder of
numbered images. Frame ``i`` is the ``i``-th frame in presentation order from 0;
frames are RGB uint8 HxWx3 arrays in displayed orientation (a phone clip stored
landscape with a -90 degree display matrix comes out portrait), so prompts,
masks and inpainted PNGs all use the coordinates a player shows.

``result.mp4`` keeps what round-trip editing needs from its source: the time
base and every frame's timestamp, the display matrix (frames stored in coded
orientation, as in the source), the audio packets, copied unchanged, and its
colours: frames are turned to RGB and back with the source's matrix and range
(``Colour``) and exact rounding, and the result carries the source's colour tags.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import re
import struct
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from .errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr", ".webp"}

#: How swscale turns YUV into RGB (``DECODE``) and back (``ENCODE``). Its default rounds down in fixed point
#: when it makes RGB: every frame was read about one grey level dark (-0.9 to -1.4 per channel on the headline
#: and tennis clips), so result.mp4 came out darker than its source everywhere. Read with exact rounding, each
#: chroma sample is laid on the pixels it covers as it is (no colour invented between samples); written, each
#: chroma sample is the exact mean of its 2x2 pixels (bit-exact, the same on every CPU): a frame read and written
#: again gives back its YUV planes (luma within 0.003 on average on the headline clip), so what is not painted
#: stays as it was.
DECODE = Interpolation.POINT | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
ENCODE = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.BITEXACT


@dataclass(frozen=True)
class Colour:
    """How a video's YUV samples map to colours: FFmpeg's colour space (the YUV matrix), range (1 limited,
    2 full), primaries and transfer codes (0 or 2: unspecified, which players and swscale take as BT.601).

    A source is read with its own matrix and range and result.mp4 is written with the same and tagged the
    same, so it shows as its source does in any player or in Blender, tagged or not. Images (an image
    folder) are sRGB: their result is written as BT.709, limited range, and says so."""

    space: int = 1
    range: int = 1
    primaries: int = 1
    trc: int = 1

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> Colour:
        return cls(
            int(frame.colorspace), int(frame.color_range), int(frame.color_primaries), int(frame.color_trc)
        )


BT709 = Colour()


class FrameSource:
    """What every source offers: size, rate, count, timing, random and sequential access.

    ``width`` and ``height`` are as displayed. The defaults suit a source without its
    own timing or orientation (an image folder): frame ``i`` at ``i / rate`` seconds.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    #: FFmpeg's 3x3 display matrix (9 ints) that turns coded frames into displayed ones, or None.
    display_matrix: tuple[int, ...] | None = None
    #: The shape of a stored pixel (width / height; 8/9 for NTSC DV), or None when not stated. Frames keep
    #: their pixels as they are: prompts count pixels, not square units.
    sample_aspect_ratio: Fraction | None = None
    #: The YUV matrix, range and tags result.mp4 is written with (an image folder's frames are sRGB).
    colour: Colour = BT709

    @property
    def rate(self) -> Fraction:
        """The nominal frame rate, exact."""
        return Fraction(self.fps).limit_denominator(1001)

    @property
    def time_base(self) -> Fraction:
        return 1 / self.rate

    def timestamp(self, index: int) -> tuple[int, int]:
        """Frame ``index``'s presentation time and duration, in ``time_base`` units (duration 0: unknown)."""
        return index, 1

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) as stored, before the display matrix turns it."""
        return self.width, self.height

    def to_coded(self, rgb: np.ndarray) -> np.ndarray:
        """A displayed frame turned back to how the source stores it (the inverse of its display matrix)."""
        return rgb

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


def _orientation(matrix: tuple[int, ...] | None) -> tuple[bool, bool, bool] | None:
    """(transpose, flip left-right, flip top-bottom), in that order, that turn a coded frame into the
    displayed one; None when the matrix is not a multiple of 90 degrees (with or without a mirror).

    FFmpeg's matrix maps a coded pixel (x, y) to x' = a*x + c*y, y' = b*x + d*y (plus a shift), with
    a, b, c, d = m[0], m[1], m[3], m[4]; this is what ffmpeg's own autorotate applies.
    """
    if matrix is None:
        return False, False, False
    a, b, _, c, d = matrix[:5]
    if b == 0 and c == 0 and a and d:
        return False, a < 0, d < 0
    if a == 0 and d == 0 and b and c:
        return True, c < 0, b < 0
    return None


class VideoFile(FrameSource):
    """A video read with PyAV. The frame index is built from the demuxed packets (cheap, no decoding)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as e:
            raise InputError(
                f"{path} is not a video that can be read ({e.strerror or type(e).__name__})"
            ) from None
        try:
            self._probe()
        except BaseException:
            self._container.close()
            raise

    def _probe(self) -> None:
        """Index the frames; find the rate, the size as displayed and the orientation."""
        path = self.path
        if not self._container.streams.video:
            raise InputError(f"{path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        try:
            packets = [
                (p.pts, p.dts, p.duration or 0)
                for p in self._container.demux(self._stream)
                if p.pts is not None and not getattr(p, "is_discard", False)
            ]
        except av.error.FFmpegError as e:
            raise InputError(f"{path} is corrupt: {e.strerror or e}") from None
        timing = sorted((pts, duration) for pts, _, duration in packets)
        self._pts = [pts for pts, _ in timing]
        self._durations = [duration for _, duration in timing]
        self.frame_count = len(self._pts)
        if self.frame_count == 0:
            raise InputError(f"{path} has no frames")
        # In mp4/mov the last frame lasts until the track ends, as its edit list says (other containers'
        # stream durations may be estimates).
        start, length = self._stream.start_time, self._stream.duration
        if (
            "mov" in self._container.format.name
            and start is not None
            and length
            and start + length > self._pts[-1]
        ):
            self._durations[-1] = start + length - self._pts[-1]
        self._rate = self._stream.guessed_rate or self._stream.average_rate or Fraction(25)
        self.fps = float(self._rate)
        self.sample_aspect_ratio = self._stream.sample_aspect_ratio or None
        # Some muxers stamp each packet with its decoding time as its presentation time too, on a stream
        # whose frames the decoder reorders (B-frames): the frames then come out with their times out of
        # order, and the order they come out in is the order to show them in, as players do.
        self._in_decode_order = False
        self._seek(0)
        _, first = self._decode_next()
        if all(dts in (None, pts) for pts, dts, _ in packets):
            shown = [first.pts]
            while len(shown) < 16:
                try:
                    shown.append(self._decode_next()[1].pts)
                except InputError:  # a short clip, or one whose damage a read will report
                    break
            self._in_decode_order = shown != sorted(shown)
        self._decoder = None
        # The display matrix is stream side data that the decoder hands on to every frame.
        self.colour = Colour.of_frame(first)
        side = first.side_data.get("DISPLAYMATRIX")
        self.display_matrix = struct.unpack("<9i", bytes(side)) if side is not None else None
        orientation = _orientation(self.display_matrix)
        if orientation is None:
            log.warning(
                "%s: its display matrix turns it by %s degrees, not a multiple of 90: frames are read "
                "as stored (prompts in stored coordinates); result.mp4 keeps the matrix",
                path.name,
                first.rotation,
            )
            orientation = False, False, False
        self._orientation = orientation
        self.width, self.height = int(first.width), int(first.height)
        if orientation[0]:
            self.width, self.height = self.height, self.width

    @property
    def rate(self) -> Fraction:
        return self._rate

    @property
    def time_base(self) -> Fraction:
        return self._stream.time_base

    def timestamp(self, index: int) -> tuple[int, int]:
        return self._pts[index], self._durations[index]

    def _to_display(self, frame: av.VideoFrame) -> np.ndarray:
        rgb = frame.reformat(
            format="rgb24", interpolation=DECODE, src_color_range=frame.color_range
        ).to_ndarray()
        transpose, flip_x, flip_y = self._orientation
        if not (transpose or flip_x or flip_y):
            return rgb
        if transpose:
            rgb = rgb.transpose(1, 0, 2)
        if flip_x:
            rgb = rgb[:, ::-1]
        if flip_y:
            rgb = rgb[::-1]
        return np.ascontiguousarray(rgb)

    @property
    def coded_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self._orientation[0] else (self.width, self.height)

    def to_coded(self, rgb: np.ndarray) -> np.ndarray:
        transpose, flip_x, flip_y = self._orientation
        if flip_y:
            rgb = rgb[::-1]
        if flip_x:
            rgb = rgb[:, ::-1]
        if transpose:
            rgb = rgb.transpose(1, 0, 2)
        return rgb

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
        # A frame's time names it, except in a stream in decode order, where only a key frame's does (the
        # frames after it in decoding are those after it on screen); the others are counted on from it.
        if frame.pts is not None and (frame.key_frame or not self._in_decode_order):
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
                return self._to_display(frame)
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
            yield i, self._to_display(frame) if j == i else self.read(i)

    def close(self) -> None:
        self._container.close()


def read_ahead(frames: Iterator, depth: int = 2) -> Iterator:
    """``frames`` (a source's ``frames()``), each decoded while the one before is worked on: up to ``depth``
    frames are read ahead on a thread of their own, and wait in memory. PyAV decodes and converts colours in C,
    so the two overlap (tracking at 854x480: 38.6 -> 48.4 fps). The source must not be read otherwise until the
    iterator is used up or closed: one thread alone advances it. A reading error comes out where its frame
    would have."""
    end = object()
    frames = iter(frames)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpainterz-read") as reader:
            ahead = deque(reader.submit(next, frames, end) for _ in range(depth))
            while (item := ahead.popleft().result()) is not end:
                ahead.append(reader.submit(next, frames, end))
                yield item
    finally:  # (the reading thread has stopped: taken early, the frames' own generator is closed here)
        getattr(frames, "close", lambda: None)()


def _frame_number(name: str) -> int | None:
    nums = re.findall(r"\d+", Path(name).stem)
    return int(nums[-1]) if nums else None


def _number_list(numbers: list[int], most: int = 10) -> str:
    """``[5, 6, 9]`` as ``5-6, 9``, at most ``most`` runs."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most])
    return text + (f" and {len(runs) - most} more" if len(runs) > most else "")


class ImageFolder(FrameSource):
    """A folder of numbered images (``frame_0001.png`` ...), ordered by the last number in each name.

    The numbers must run without a gap from the first to the last: a folder with frames 5 and 6
    missing is refused (naming them) rather than renumbered, which would shift every later frame
    against its mask, its neighbours and its time.
    """

    def __init__(self, path: Path):
        self.path = path
        files = [f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        numbered = sorted((n, f) for f in files if (n := _frame_number(f.name)) is not None)
        if not numbered:
            raise InputError(f"{path} holds no numbered images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        numbers = [n for n, _ in numbered]
        repeated = sorted(n for n, count in Counter(numbers).items() if count > 1)
        if repeated:
            names = [f.name for n, f in numbered if n == repeated[0]]
            raise InputError(
                f"{path} has two images for the same frame number ({' and '.join(names[:2])}); "
                f"numbers used twice: {_number_list(repeated)}"
            )
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            raise InputError(
                f"{path} has a gap in its numbering: frame{'s' if len(missing) > 1 else ''} "
                f"{_number_list(missing)} missing between {numbers[0]} and {numbers[-1]}; "
                "give every frame (a renumbered sequence would be out of step)"
            )
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
            raise InputError(
                f"{self.files[index]} is {image.shape[1]}x{image.shape[0]}, "
                f"the sequence is {self.width}x{self.height}"
            )
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_video(path: str | os.PathLike) -> FrameSource:
    """Open a video file or an image folder; raises InputError with one clear line on bad input."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return ImageFolder(path)
    return VideoFile(path)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A label map image as uint8 HxW: 0 is background, 1..255 are object ids.

    Read as stored: 8-bit grey, or colour whose channels are all equal (opaque, if it has alpha). A 16-bit
    mask holds object ids 0..255 as they are, or is an 8-bit mask widened to 16 bits (every value
    a multiple of 257, e.g. a 0/65535 binary mask), read back as 0..255 (0/255). Any other mask
    (16-bit values such as 51200, colours, transparency, floats) is refused: guessing would paint the
    wrong pixels or none.
    """
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise InputError(f"{path} is not a readable mask image")
    if mask.ndim == 3:
        if mask.shape[2] == 4 and (mask[..., 3] != np.iinfo(mask.dtype).max).any():
            raise InputError(
                f"{path} has transparency: a mask's ids are its grey values, so save it as grey "
                "without alpha (0 = keep, 1..255 = the object ids to remove)"
            )
        colour = mask[..., :3]
        if not ((colour[..., 0] == colour[..., 1]).all() and (colour[..., 0] == colour[..., 2]).all()):
            raise InputError(
                f"{path} is a colour image, not a mask: give a grey label map "
                "(0 = keep, 1..255 = the object ids to remove)"
            )
        mask = colour[..., 0]
    if mask.dtype == np.uint8:
        return mask
    if mask.dtype == np.uint16:
        if mask.max() <= 255:
            return mask.astype(np.uint8)
        if not (mask % 257).any():
            return (mask // 257).astype(np.uint8)
        raise InputError(
            f"{path} is a 16-bit mask with values up to {mask.max()} that are not object ids "
            "(0..255) nor an 8-bit mask widened to 16 bits (0/65535): save it as 8-bit"
        )
    raise InputError(f"{path} holds {mask.dtype} values, not a mask: give an 8-bit (or 16-bit) label map")


# -- writing ----------------------------------------------------------------------------------------------


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


class _AudioCopy:
    """A source's audio packets, copied unchanged (stream copy) into a container being written.

    Packets are read from a second demuxer on the source as the video advances, so memory stays
    at one packet whatever the clip's length. A stream whose codec mp4 cannot hold is left out with
    a warning; ``streams`` records for each audio stream of the source whether it was kept.
    """

    def __init__(
        self,
        output: av.container.OutputContainer,
        source: Path,
        span: tuple[Fraction | None, Fraction | None],
    ):
        self._output, self._span = output, span
        self._input = av.open(str(source))
        self.streams: list[dict] = []
        self._copies: dict[int, av.stream.Stream] = {}
        for stream in self._input.streams.audio:
            entry = {"index": stream.index, "codec": stream.codec_context.name, "kept": True}
            try:
                self._copies[stream.index] = output.add_stream_from_template(stream)
            except ValueError:
                entry.update(kept=False, reason=f"mp4 cannot hold {entry['codec']} audio")
                log.warning(
                    "%s: audio stream #%d (%s) is not kept: mp4 cannot hold %s audio",
                    source.name,
                    stream.index,
                    entry["codec"],
                    entry["codec"],
                )
            self.streams.append(entry)
        wanted = [s for s in self._input.streams.audio if s.index in self._copies]
        self.sample_rates = [s.codec_context.sample_rate for s in wanted]
        self._packets = self._input.demux(wanted) if wanted else iter(())
        self._ahead: av.Packet | None = None
        self._finished: set[int] = set()  # streams past the span's end
        self._rounded: set[int] = set()

    @staticmethod
    def _time(packet: av.Packet) -> Fraction:
        return packet.dts * packet.time_base

    def mux_until(self, time: Fraction | None) -> None:
        """Mux the packets that decode at or before ``time`` (None: all that are left)."""
        start, stop = self._span
        while len(self._finished) < len(self._copies):
            if self._ahead is None:
                self._ahead = next(self._packets, None)
                if self._ahead is None:
                    return
                if self._ahead.dts is None:  # a demuxer's flush packet: nothing to copy
                    self._ahead = None
                    continue
            packet = self._ahead
            if time is not None and self._time(packet) > time:
                return
            self._ahead = None
            at = (packet.pts if packet.pts is not None else packet.dts) * packet.time_base
            if stop is not None and at >= stop:
                self._finished.add(packet.stream.index)
            elif start is None or at >= start:
                self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        index = packet.stream.index
        copy = self._copies[index]
        times = [t * packet.time_base for t in (packet.pts, packet.dts, packet.duration) if t is not None]
        packet.stream = copy
        self._output.mux(packet)  # rescales to the stream's time base, which mp4 sets when it starts
        if index not in self._rounded and any((t / copy.time_base).denominator != 1 for t in times):
            self._rounded.add(index)
            entry = next(e for e in self.streams if e["index"] == index)
            entry["reason"] = f"timestamps rounded to mp4's time base {copy.time_base}"
            log.warning("%s: audio stream #%d: %s", self._input.name, index, entry["reason"])

    def close(self) -> None:
        self._input.close()


class Mp4Writer:
    """H.264 mp4 via PyAV (libx264 crf 18 veryfast, yuv420p); falls back to MPEG-4 Part 2 if libx264 is missing.

    yuv420p needs even sizes, so an odd width or height loses its last column/row in
    the mp4 only (the PNG sequence keeps every pixel).

    Made with ``for_source``, the mp4 keeps its source's timing, orientation, audio and colours: see there.
    Made directly, frame ``n`` is at ``n / fps`` seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float | Fraction,
        crf: int = 18,
        *,
        time_base: Fraction | None = None,
        display_matrix: tuple[int, ...] | None = None,
        sample_aspect_ratio: Fraction | None = None,
        colour: Colour = BT709,
    ):
        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self.time_base = time_base or 1 / rate
        #: What happened to each audio stream of the source (``for_source`` fills it): index, codec, kept.
        self.audio_streams: list[dict] = []
        self._audio: _AudioCopy | None = None
        self._timestamps: Iterator[tuple[int, int]] | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of frames inside the encoder
        self._held: av.Packet | None = None  # the latest packet out of the encoder, not yet muxed
        self._delay: int | None = None
        self._end: int | None = None  # where the last frame shown so far ends
        self._to_coded = None
        self._written = 0
        self._closed = False
        self._container = av.open(str(self.path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        if codec != "libx264":
            log.warning(
                "libx264 is not available in this PyAV build: writing %s as MPEG-4 Part 2", self.path.name
            )
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self.colour = colour
        context = self._stream.codec_context
        context.colorspace, context.color_range = colour.space, colour.range
        context.color_primaries, context.color_trc = colour.primaries, colour.trc
        context.time_base = self.time_base
        self._stream.time_base = self.time_base
        if display_matrix is not None:
            self._stream.set_display_matrix(display_matrix)
        if sample_aspect_ratio:
            self._stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.codec = codec

    @classmethod
    def for_source(cls, path: str | os.PathLike, source: FrameSource, start: int, stop: int) -> Mp4Writer:
        """A writer for frames ``start..stop-1`` of ``source``, given in order, in displayed orientation.

        The mp4 gets the source's time base and each frame's own timestamp and duration (variable
        frame rate included; a partial range keeps its times, it does not start at 0), the source's
        display matrix with frames stored in coded orientation, its pixel shape and its colours (YUV
        matrix, range and tags: so it displays as the source does), and a stream copy of every audio
        stream mp4 can hold (``audio_streams`` says which). The whole range gets all the audio; a
        partial range the packets that start at or after frame ``start``'s time (any time when ``start``
        is 0) and before frame ``stop``'s (any time when ``stop`` is the end).
        """
        writer = cls(
            path,
            *source.coded_size,
            source.rate,
            time_base=source.time_base,
            display_matrix=source.display_matrix,
            sample_aspect_ratio=source.sample_aspect_ratio,
            colour=source.colour,
        )
        try:
            writer._to_coded = source.to_coded
            writer._timestamps = iter([source.timestamp(i) for i in range(start, stop)])
            if isinstance(source, VideoFile):
                time = source.time_base
                span = (
                    None if start == 0 else source.timestamp(start)[0] * time,
                    None if stop >= source.frame_count else source.timestamp(stop)[0] * time,
                )
                writer._audio = _AudioCopy(writer._container, source.path, span)
                writer.audio_streams = writer._audio.streams
            writer._exact_edit_lists()
        except BaseException:
            writer.close()
            raise
        return writer

    def _exact_edit_lists(self) -> None:
        """mp4 states a track's start (frame ``start``'s time; a B-frame or AAC priming delay) in an edit list,
        in a movie-wide timescale, 1000 by default, that rounds: frame 10 at 29.97 fps would start 8 ticks
        early. A multiple of every track's timescale keeps every edit exact."""
        video = self.time_base.denominator
        while video < 10000:  # the timescale ffmpeg's mp4 muxer gives a video track
            video *= 2
        scales = [video, *(self._audio.sample_rates if self._audio else [])]  # an audio track's: its rate
        movie = math.lcm(*scales)
        if movie < 2**31:
            self._container.container_options["movie_timescale"] = str(movie)

    def write(self, rgb: np.ndarray) -> None:
        if self._to_coded is not None:
            rgb = self._to_coded(rgb)
        rgb = np.ascontiguousarray(rgb[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p",
            dst_colorspace=self.colour.space,
            dst_color_range=self.colour.range,
            dst_color_primaries=self.colour.primaries,
            dst_color_trc=self.colour.trc,
            interpolation=ENCODE,
        )
        if self._timestamps is None:
            pts, duration = self._written, 1
        else:
            pts, duration = next(self._timestamps, (None, None))
            if pts is None:
                raise ValueError(f"{self.path.name}: more frames written than the source range holds")
        frame.pts, frame.time_base = pts, self.time_base
        self._durations[pts] = duration
        self._written += 1
        for packet in self._stream.encode(frame):
            self._mux_video(packet)

    def _mux_video(self, packet: av.Packet) -> None:
        """Mux the packet before this one: the latest waits, in case it is the last, for ``_finish``."""
        duration = self._durations.pop(packet.pts, 0)
        if duration:
            packet.duration = duration
        if self._delay is None:
            self._delay = packet.pts - packet.dts  # the encoder's reordering delay
        end = packet.pts + packet.duration
        self._end = end if self._end is None else max(self._end, end)
        if self._held is not None:
            self._mux_now(self._held)
        self._held = packet

    def _mux_now(self, packet: av.Packet) -> None:
        if self._audio is not None:
            self._audio.mux_until(packet.dts * packet.time_base)
        self._container.mux(packet)

    def _finish(self) -> None:
        """Flush the encoder and mux what is left. mp4 ends a track when its last sample in decode order
        ends: with B-frames that is not the last frame shown, so it gets the length that makes the last
        frame shown end where its source frame ends."""
        for packet in self._stream.encode():
            self._mux_video(packet)
        last, self._held = self._held, None
        if last is not None:
            length = self._end - self._delay - last.dts
            if length > 0:
                last.duration = length
            self._mux_now(last)
        if self._audio is not None:
            self._audio.mux_until(None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._written:  # nothing written: a run that failed first, no header to finish
                self._finish()
        finally:
            if self._audio is not None:
                self._audio.close()
            self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
