"""Paint out the masked pixels: ``inpainted/%06d.png``, ``result.mp4`` and the stage's ``report.json``.

The clip is cut into chunks of ``chunk`` target frames; each chunk's window adds
the inpainter's reach on each side, is cropped to a box around its holes and
scaled to the working size, so memory holds one window of crops, never a clip.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import backends, crops
from ..errors import InputError
from ..inpaint.base import rounded
from ..inpaint.letterbox import paint_bars
from ..masks import bounding_box, dilate, feather, padded_box
from ..outputs import staged
from ..settings import Settings
from ..video import ImageFolder, Mp4Writer, frame_name, open_video, read_mask
from .common import Progress, check_cancel, frame_range_of, open_source, report_progress
from .holes import grown, measured_hole, most_grown
from .writer import OutputWriter

#: A crop larger than this on its long side is scaled down for inpainters of any size (classical,
#: E2FGVI-HQ): their working memory grows with the crop's area times the window's length.
MAX_WORK_SIDE = 640


@dataclass
class _Chunk:
    targets: range  # frames whose output this chunk produces
    window: range  # frames it reads: targets plus reach on each side
    box: tuple[int, int, int, int] | None  # crop (x0, y0, x1, y1) around the window's holes


def _mask_files(masks_dir: Path, start: int, stop: int) -> dict[int, Path]:
    """Mask file per frame: ``%06d.png`` by source frame index, or any numbered sequence of the right length."""
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise InputError(f"masks folder {masks_dir} does not exist")
    named = {i: masks_dir / frame_name(i) for i in range(start, stop)}
    if all(p.is_file() for p in named.values()):
        return named
    try:
        files = ImageFolder(masks_dir).files
    except InputError as e:
        raise InputError(f"masks: {e}") from None
    if len(files) != stop - start:
        raise InputError(
            f"{masks_dir} has {len(files)} masks for {stop - start} frames: "
            f"give one mask per frame (000000.png, 000001.png, ...)"
        )
    return dict(zip(range(start, stop), files, strict=True))


def _plan(boxes: dict[int, tuple | None], start, stop, chunk, reach, width, height) -> list[_Chunk]:
    chunks = []
    starts = list(range(start, stop, chunk))
    if len(starts) > 1 and stop - starts[-1] < chunk // 2:
        starts.pop()  # a short tail joins the chunk before it: its own window would re-read 2 x reach frames
    for n, a in enumerate(starts):
        targets = range(a, starts[n + 1] if n + 1 < len(starts) else stop)
        window = range(max(start, a - reach), min(stop, targets.stop + reach))
        box = None
        if any(boxes[f] is not None for f in targets):
            x0, y0, x1, y1 = crops.union(boxes[f] for f in window)
            pad = max(16, (x1 - x0 + y1 - y0) // 8)
            box = padded_box((x0, y0, x1, y1), pad, width, height, min_size=64)
        chunks.append(_Chunk(targets, window, box))
    return chunks


def _paste(frame: np.ndarray, fill: np.ndarray, hole: np.ndarray, box, edge: int) -> np.ndarray:
    """Replace the hole with the fill, blending over ``edge`` pixels inside the hole's border only."""
    x0, y0, x1, y1 = box
    core = ~dilate(~hole, edge) if edge else hole  # the hole shrunk by ``edge``
    alpha = feather(core, edge)[hole][:, None]  # only the hole's pixels change
    out = frame.copy()
    region = out[y0:y1, x0:x1]
    blended = alpha * fill[hole].astype(np.float32) + (1.0 - alpha) * region[hole].astype(np.float32)
    region[hole] = rounded(blended)
    return out


def _bars_painted(frame: np.ndarray, hole: np.ndarray, box) -> np.ndarray:
    """The hole's pixels in a letterbox bar painted the bar's colour over the fill (letterbox.py)."""
    x0, y0, x1, y1 = box
    whole = np.zeros(frame.shape[:2], bool)
    whole[y0:y1, x0:x1] = hole
    return paint_bars(frame, whole)


def _inpaint_into(
    source, mask_files, inpainter, settings, dest: Path, start, stop, progress, cancel
) -> tuple[list | None, dict[int, int]]:
    """Fill every frame of the range into ``dest``; returns what became of the source's audio streams (None
    without a video) and the radius each frame's hole was grown by (holes.py)."""
    width, height = source.width, source.height
    # Pass 1 over the masks only: where is there something to paint, frame by frame (a hole is measured on its
    # frame, read later: the box holds the most it can grow by)
    most = most_grown(width, height, settings.dilate)
    boxes = {}
    for i in range(start, stop):
        labels = read_mask(mask_files[i])
        if labels.shape != (height, width):
            raise InputError(
                f"mask {mask_files[i].name} is {labels.shape[1]}x{labels.shape[0]}, "
                f"the video is {width}x{height}"
            )
        boxes[i] = bounding_box(grown(labels, most))
    # Each chunk re-reads its reach frames: with a long reach (E2FGVI's references) longer chunks
    # keep that overhead small; memory stays bounded at chunk + 2 x reach crops either way.
    chunk = max(settings.chunk, 2 * inpainter.reach)
    chunks = _plan(boxes, start, stop, chunk, inpainter.reach, width, height)
    # Each frame is cropped once, to the union of the boxes of every chunk whose window holds it.
    keep: dict[int, tuple] = {}
    for c in chunks:
        if c.box is None:
            continue
        for f in c.window:
            keep[f] = crops.union((keep.get(f), c.box))

    inpainted = dest / "inpainted"
    inpainted.mkdir()
    # the fill is feathered into the frame over half the margin of ground past the object's soft edge
    edge = min(4, settings.dilate // 2)
    lookahead = source.frames(start, stop)  # feeds crops to the inpainter
    last_read = start - 1
    cropped: dict[int, tuple[tuple, np.ndarray, np.ndarray]] = {}  # frame -> (box, image crop, hole crop)
    radii = dict.fromkeys(range(start, stop), settings.dilate)  # nothing to paint: the margin alone
    stopping = threading.Event()  # set when the stage fails: the chunk being composed is left unfinished
    written = 0

    def compose(targets: range, fills: dict[int, tuple]) -> None:
        """Paste a chunk's fills into its frames and hand them to the writer, in order (the composer's thread)."""
        nonlocal written
        for i in targets:
            check_cancel(cancel)
            if stopping.is_set():
                return
            _, frame = next(output)
            if i in fills:
                box, fill, hole = fills[i]
                frame = _bars_painted(_paste(frame, fill, hole, box, edge), hole, box)
            writer.put(i, frame)
            written += 1
            report_progress(progress, "inpaint", written, stop - start)

    # A second, independent decoder reads the frames to paste into, one full frame at a time, so the
    # lookahead never has to seek back and no full frame waits in memory for its fill. Decoding, pasting and
    # writing a chunk's frames run on threads of their own while the next chunk is filled (a tenth of the
    # inpainting's time at 854x480, spent on one core between chunks when it ran here).
    with open_video(source.path) as second:
        output = second.frames(start, stop)
        video = (
            Mp4Writer.for_source(dest / "result.mp4", source, start, stop) if settings.write_video else None
        )
        writer = OutputWriter(inpainted, video)
        composer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpainterz-compose")
        composing: deque = deque()  # chunks handed to the composer, not yet done
        try:
            before = None  # the last fill of the chunk before: (frame, (box, fill, hole)), or None
            for c in chunks:
                fills = {}
                if c.box is not None:
                    while last_read < c.window.stop - 1:
                        last_read, image = next(lookahead)
                        check_cancel(cancel)
                        if last_read in keep:
                            x0, y0, x1, y1 = keep[last_read]
                            labels = read_mask(mask_files[last_read])
                            hole, radii[last_read] = measured_hole(labels, image, settings.dilate)
                            crop = (slice(y0, y1), slice(x0, x1))
                            cropped[last_read] = (keep[last_read], image[crop].copy(), hole[crop])
                    fills = _fill_chunk(c, cropped, inpainter, cancel, before)
                    for f in [f for f in cropped if f < c.targets.stop - inpainter.reach]:
                        del cropped[f]
                last = c.targets.stop - 1
                before = (last, fills[last]) if last in fills else None
                composing.append(composer.submit(compose, c.targets, fills))
                while len(composing) > 1:  # memory holds the fills of one chunk waiting to be composed
                    composing.popleft().result()
            while composing:
                composing.popleft().result()
            writer.finish()
        finally:
            stopping.set()
            for job in composing:
                job.cancel()
            composer.shutdown(wait=True)
            writer.close()
    return (video.audio_streams if video is not None else None), radii


def _fill_chunk(c: _Chunk, cropped, inpainter, cancel, before=None) -> dict[int, tuple]:
    """Run the inpainter on the chunk's window, cropped to its box and scaled to the working size.

    ``before`` is the last fill of the chunk before, (frame, (box, fill, hole)): when that frame is the one
    just before this chunk's targets, the inpainter gets it painted (see ``Inpainter.inpaint``)."""
    x0, y0, x1, y1 = c.box
    images, holes = [], []
    for f in c.window:
        (kx0, ky0, _, _), image, hole = cropped[f]
        images.append(image[y0 - ky0 : y1 - ky0, x0 - kx0 : x1 - kx0])
        holes.append(hole[y0 - ky0 : y1 - ky0, x0 - kx0 : x1 - kx0])
    frames, masks = np.stack(images), np.stack(holes)
    painted = _painted_before(c, cropped, before)
    w, h = x1 - x0, y1 - y0
    # Inpainters of any size get at most MAX_WORK_SIDE; one with a fixed size (E2FGVI-CVPR22) resizes itself.
    scale, work = crops.fit(w, h, MAX_WORK_SIDE)
    if inpainter.work_size is None and scale < 1:
        frames = np.stack([crops.resize(f, work) for f in frames])
        masks = np.stack([crops.resize_hole(m, work) for m in masks])
        painted = None if painted is None else crops.resize(painted, work)
    check_cancel(cancel)
    offset = c.window.start
    targets = range(c.targets.start - offset, c.targets.stop - offset)
    out = inpainter.inpaint(frames, masks, targets, before=painted)
    result = {}
    for n, f in enumerate(c.targets):
        fill = crops.resize(out[n], (w, h), enlarge=cv2.INTER_CUBIC)
        hole = holes[f - offset]
        if hole.any():
            result[f] = (c.box, fill, hole)
    return result


def _painted_before(c: _Chunk, cropped, before) -> np.ndarray | None:
    """The frame just before the chunk's targets as it was painted (cropped to the chunk's box), when the
    chunk before painted it; else None."""
    if before is None or before[0] != c.targets.start - 1 or before[0] not in cropped:
        return None
    (kx0, ky0, _, _), image, _ = cropped[before[0]]
    (px0, py0, px1, py1), fill, hole = before[1]
    painted = image.copy()  # the frame's crop holds every box of a chunk whose window holds the frame
    region = painted[py0 - ky0 : py1 - ky0, px0 - kx0 : px1 - kx0]
    region[hole] = fill[hole]
    x0, y0, x1, y1 = c.box
    return painted[y0 - ky0 : y1 - ky0, x0 - kx0 : x1 - kx0]


def inpaint(
    source,
    masks_dir,
    settings: Settings,
    out_dir,
    *,
    frame_range=None,
    progress: Progress | None = None,
    cancel=None,
    inpainter=None,
) -> dict:
    """Paint out the masked pixels; writes ``inpainted/%06d.png``, ``result.mp4`` and ``report.json``.

    The three appear together: they are built in a scratch folder and moved into
    ``out_dir`` only when every frame is done. Without ``write_video`` an earlier
    ``result.mp4`` of ours is removed, so no video is left that does not match the frames.
    """
    out_dir = Path(out_dir)
    with open_source(source) as src:
        start, stop = frame_range_of(src, frame_range)
        mask_files = _mask_files(Path(masks_dir), start, stop)
        with staged(out_dir, ["inpainted", "result.mp4", "report.json"]) as scratch:
            inpainter = inpainter or backends.make_inpainter(settings)
            t0 = time.perf_counter()
            audio, radii = _inpaint_into(
                src, mask_files, inpainter, settings, scratch, start, stop, progress, cancel
            )
            report = {
                "stage": "inpaint",
                "backend": backends.describe(inpainter),
                "frames": stop - start,
                "range": [start, stop],
                "seconds": time.perf_counter() - t0,
                "width": src.width,
                "height": src.height,
                "video": "result.mp4" if settings.write_video else None,
                "audio": audio,
                # per frame of the range: how far its mask was grown into the hole painted out (holes.py)
                "hole_radius": [radii[i] for i in range(start, stop)],
            }
            (scratch / "report.json").write_text(json.dumps(report, indent=2))
    return report
