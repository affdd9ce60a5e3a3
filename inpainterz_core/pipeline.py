"""remove(): prompts -> masks -> clean frames, streamed in windows, written atomically.

Everything here is a function of its arguments and the files it reads, so a run
can be shipped unchanged to another process or machine (the server's job
threads, a Ray task). Memory stays bounded: tracking holds one frame per
direction, inpainting holds a window of crops around the mask (``chunk`` frames
plus the inpainter's ``context`` on each side) and one full frame being written.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import backends
from .errors import Cancelled, InputError
from .masks import bounding_box, dilate, feather, padded_box
from .outputs import RESULT_NAMES, staged, write_png
from .prompts import Prompts
from .settings import Settings
from .video import FrameSource, Mp4Writer, frame_name, open_video, read_mask

Progress = Callable[[str, int, int], None]  # (stage, done, total)

#: A crop larger than this on its long side is scaled down for inpainters of any size (classical,
#: E2FGVI-HQ): their working memory grows with the crop's area times the window's length.
MAX_WORK_SIDE = 640


# -- plumbing ------------------------------------------------------------------------------------------


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def _report_progress(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, where there is one: unlike ru_maxrss it
    starts afresh at exec, so a child of a big process does not report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_gpu_mb() -> float | None:
    """Most CUDA memory torch held in this process, or None when no model ran on a GPU."""
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


@contextmanager
def _open(source: FrameSource | str | os.PathLike) -> Iterator[FrameSource]:
    if isinstance(source, FrameSource):
        yield source
    else:
        with open_video(source) as opened:
            yield opened


def _frame_range(source: FrameSource, frame_range: tuple[int, int] | None) -> tuple[int, int]:
    if frame_range is None:
        return 0, source.frame_count
    start, stop = int(frame_range[0]), int(frame_range[1])
    if not 0 <= start < stop <= source.frame_count:
        raise InputError(f"frame range {start}..{stop} is outside the video's 0..{source.frame_count}")
    return start, stop


# -- segment ---------------------------------------------------------------------------------------------


def segment_keyframes(source: FrameSource, prompts: Prompts, segmenter) -> dict[int, np.ndarray]:
    """The label map of every prompted frame: object k's mask painted with k (later objects on top)."""
    if not prompts.objects:
        raise InputError("no prompts: give at least one --point or --box")
    for prompt in prompts.objects:
        prompt.check_inside(source.width, source.height, source.frame_count)
    keyframes = {}
    for frame in prompts.keyframes():
        image = source.read(frame)
        segmenter.set_image(frame, image)
        labels = np.zeros(image.shape[:2], np.uint8)
        for prompt in sorted((o for o in prompts.objects if o.frame == frame), key=lambda o: o.object_id):
            labels[segmenter.predict(frame, prompt)] = prompt.object_id
        keyframes[frame] = labels
    return keyframes


# -- track ------------------------------------------------------------------------------------------------


def _merge_keyframe(tracked: np.ndarray, keyframe: np.ndarray) -> np.ndarray:
    """A corrected keyframe wins for the objects it names; the other objects keep their tracked masks."""
    merged = tracked.copy()
    for k in np.unique(keyframe[keyframe > 0]):
        merged[merged == k] = 0
    merged[keyframe > 0] = keyframe[keyframe > 0]
    return merged


def _track_into(source, keyframes, tracker, masks_dir: Path, start, stop, progress, cancel) -> None:
    """Every frame of the range gets its mask from the nearest keyframe (in time).

    Forward from the first keyframe to the end, re-seeding at each later keyframe; backward
    from the first keyframe to the start; then backward from each later keyframe over the
    frames that are nearer to it than to the keyframe before it, overwriting what the
    forward pass wrote there. One frame per direction is held at a time.
    """
    keys = sorted(keyframes)
    back_from_later = [(k, (before + k) // 2 + 1) for before, k in zip(keys, keys[1:], strict=False)]
    total = (stop - start) + sum(k - lo for k, lo in back_from_later)
    done = 0

    def emit(index, labels):
        nonlocal done
        _check_cancel(cancel)
        write_png(masks_dir / frame_name(index), labels)
        done += 1
        _report_progress(progress, "track", done, total)

    def backward(keyframe: int, labels: np.ndarray, lo: int) -> None:
        tracker.reset(source.read(keyframe), labels)
        for index, image in source.frames_reversed(lo, keyframe):
            emit(index, tracker.step(image))

    first = keys[0]
    frames = source.frames(first, stop)
    _, image = next(frames)
    labels = keyframes[first]
    tracker.reset(image, labels)
    emit(first, labels)
    seeded = {first: labels}
    for index, image in frames:
        labels = tracker.step(image)
        if index in keyframes:
            labels = _merge_keyframe(labels, keyframes[index])
            tracker.correct(image, labels)
            seeded[index] = labels
        emit(index, labels)
    if first > start:
        backward(first, keyframes[first], start)
    for keyframe, lo in back_from_later:
        if lo < keyframe:
            backward(keyframe, seeded[keyframe], lo)


def track(source, keyframes: dict[int, np.ndarray], settings: Settings, out_dir, *,
          frame_range=None, progress: Progress | None = None, cancel=None, tracker=None) -> dict:
    """Propagate keyframe label maps over ``frame_range``; writes ``out_dir/masks/%06d.png`` atomically."""
    out_dir = Path(out_dir)
    with _open(source) as src:
        start, stop = _frame_range(src, frame_range)
        if not keyframes:
            raise InputError("no keyframes to track from")
        outside = [k for k in keyframes if not start <= k < stop]
        if outside:
            raise InputError(f"keyframe {outside[0]} is outside the frame range {start}..{stop}")
        for k, labels in keyframes.items():
            if labels.shape != (src.height, src.width):
                raise InputError(f"keyframe {k} mask is {labels.shape[1]}x{labels.shape[0]}, "
                                 f"the video is {src.width}x{src.height}")
        tracker = tracker or backends.make_tracker(settings)
        t0 = time.perf_counter()
        with staged(out_dir, ["masks"]) as scratch:
            (scratch / "masks").mkdir()
            _track_into(src, keyframes, tracker, scratch / "masks", start, stop, progress, cancel)
        seconds = time.perf_counter() - t0
    return {"stage": "track", "backend": backends.describe(tracker), "frames": stop - start,
            "range": [start, stop], "seconds": seconds, "masks": str(out_dir / "masks")}


# -- inpaint -----------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    targets: range  # frames whose output this chunk produces
    window: range  # frames it reads: targets plus context on each side
    box: tuple[int, int, int, int] | None  # crop (x0, y0, x1, y1) around the window's holes


def _mask_files(masks_dir: Path, start: int, stop: int) -> dict[int, Path]:
    """Mask file per frame: ``%06d.png`` by source frame index, or any numbered sequence of the right length."""
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise InputError(f"masks folder {masks_dir} does not exist")
    named = {i: masks_dir / frame_name(i) for i in range(start, stop)}
    if all(p.is_file() for p in named.values()):
        return named
    from .video import ImageFolder

    try:
        files = ImageFolder(masks_dir).files
    except InputError:
        raise InputError(f"{masks_dir} holds no mask images") from None
    if len(files) != stop - start:
        raise InputError(f"{masks_dir} has {len(files)} masks for {stop - start} frames: "
                         f"give one mask per frame (000000.png, 000001.png, ...)")
    return dict(zip(range(start, stop), files, strict=True))


def _hole(labels: np.ndarray, radius: int) -> np.ndarray:
    return dilate(labels > 0, radius)


def _plan(boxes: dict[int, tuple | None], start, stop, chunk, context, width, height) -> list[_Chunk]:
    chunks = []
    for a in range(start, stop, chunk):
        targets = range(a, min(stop, a + chunk))
        window = range(max(start, a - context), min(stop, targets.stop + context))
        present = [boxes[f] for f in window if boxes[f] is not None]
        box = None
        if any(boxes[f] is not None for f in targets):
            x0, y0, x1, y1 = (min(b[0] for b in present), min(b[1] for b in present),
                              max(b[2] for b in present), max(b[3] for b in present))
            pad = max(16, (x1 - x0 + y1 - y0) // 8)
            box = padded_box((x0, y0, x1, y1), pad, width, height, min_size=64)
        chunks.append(_Chunk(targets, window, box))
    return chunks


def _paste(frame: np.ndarray, fill: np.ndarray, hole: np.ndarray, box, edge: int) -> np.ndarray:
    """Replace the hole with the fill, blending over ``edge`` pixels inside the hole's border only."""
    x0, y0, x1, y1 = box
    core = ~dilate(~hole, edge) if edge else hole  # the hole shrunk by ``edge``
    alpha = np.minimum(feather(core, edge), hole.astype(np.float32))[..., None]
    out = frame.copy()
    region = out[y0:y1, x0:x1]
    blended = alpha * fill.astype(np.float32) + (1.0 - alpha) * region.astype(np.float32)
    region[hole] = np.clip(blended[hole] + 0.5, 0, 255).astype(np.uint8)
    return out


def _inpaint_into(source, mask_files, inpainter, settings, dest: Path, start, stop, progress, cancel) -> None:
    width, height = source.width, source.height
    # Pass 1 over the masks only: where is there something to paint, frame by frame.
    boxes = {}
    for i in range(start, stop):
        labels = read_mask(mask_files[i])
        if labels.shape != (height, width):
            raise InputError(f"mask {mask_files[i].name} is {labels.shape[1]}x{labels.shape[0]}, "
                             f"the video is {width}x{height}")
        boxes[i] = bounding_box(_hole(labels, settings.dilate))
    # Each chunk re-reads its context frames: with a long reach (E2FGVI's references) longer chunks
    # keep that overhead small; memory stays bounded at chunk + 2 x context crops either way.
    chunk = max(settings.chunk, 2 * inpainter.context)
    chunks = _plan(boxes, start, stop, chunk, inpainter.context, width, height)
    # Each frame is cropped once, to the union of the boxes of every chunk whose window holds it.
    keep: dict[int, tuple] = {}
    for c in chunks:
        if c.box is None:
            continue
        for f in c.window:
            b = keep.get(f, c.box)
            keep[f] = (min(b[0], c.box[0]), min(b[1], c.box[1]), max(b[2], c.box[2]), max(b[3], c.box[3]))

    inpainted = dest / "inpainted"
    inpainted.mkdir()
    edge = min(4, settings.dilate // 2)
    lookahead = source.frames(start, stop)  # feeds crops to the inpainter
    last_read = start - 1
    crops: dict[int, tuple[tuple, np.ndarray, np.ndarray]] = {}  # frame -> (box, image crop, hole crop)
    fills: dict[int, tuple[tuple, np.ndarray, np.ndarray]] = {}  # frame -> (box, fill, hole crop)
    written = 0
    # A second, independent decoder writes the output, one full frame at a time, so the
    # lookahead never has to seek back and no full frame waits in memory for its fill.
    with open_video(source.path) as second:
        output = second.frames(start, stop)
        video = Mp4Writer.for_source(dest / "result.mp4", source, start, stop) if settings.write_video else None
        writer = _OutputWriter(inpainted, video)
        try:
            for c in chunks:
                if c.box is not None:
                    while last_read < c.window.stop - 1:
                        last_read, image = next(lookahead)
                        _check_cancel(cancel)
                        if last_read in keep:
                            x0, y0, x1, y1 = keep[last_read]
                            hole = _hole(read_mask(mask_files[last_read]), settings.dilate)[y0:y1, x0:x1]
                            crops[last_read] = (keep[last_read], image[y0:y1, x0:x1].copy(), hole)
                    fills.update(_fill_chunk(c, crops, inpainter, cancel))
                    for f in [f for f in crops if f < c.targets.stop - inpainter.context]:
                        del crops[f]
                for i in c.targets:
                    _check_cancel(cancel)
                    _, frame = next(output)
                    if i in fills:
                        box, fill, hole = fills.pop(i)
                        frame = _paste(frame, fill, hole, box, edge)
                    writer.put(i, frame)
                    written += 1
                    _report_progress(progress, "inpaint", written, stop - start)
            writer.finish()
        finally:
            writer.close()


class _OutputWriter:
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


def _fill_chunk(c: _Chunk, crops, inpainter, cancel) -> dict[int, tuple]:
    """Run the inpainter on the chunk's window, cropped to its box and scaled to the working size."""
    x0, y0, x1, y1 = c.box
    images, holes = [], []
    for f in c.window:
        (kx0, ky0, _, _), image, hole = crops[f]
        images.append(image[y0 - ky0:y1 - ky0, x0 - kx0:x1 - kx0])
        holes.append(hole[y0 - ky0:y1 - ky0, x0 - kx0:x1 - kx0])
    frames, masks = np.stack(images), np.stack(holes)
    w, h = x1 - x0, y1 - y0
    # Inpainters of any size get at most MAX_WORK_SIDE; one with a fixed size (E2FGVI-CVPR22) resizes itself.
    scale = MAX_WORK_SIDE / max(w, h)
    if inpainter.work_size is None and scale < 1:
        work = (max(8, round(w * scale)), max(8, round(h * scale)))
        frames = np.stack([cv2.resize(f, work, interpolation=cv2.INTER_AREA) for f in frames])
        masks = np.stack([cv2.resize(m.astype(np.uint8), work, interpolation=cv2.INTER_LINEAR) > 0 for m in masks])
    _check_cancel(cancel)
    offset = c.window.start
    targets = range(c.targets.start - offset, c.targets.stop - offset)
    out = inpainter.inpaint(frames, masks, targets)
    result = {}
    for n, f in enumerate(c.targets):
        fill = out[n]
        if fill.shape[:2] != (h, w):
            fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_CUBIC)
        hole = holes[f - offset]
        if hole.any():
            result[f] = (c.box, fill, hole)
    return result


def inpaint(source, masks_dir, settings: Settings, out_dir, *, frame_range=None,
            progress: Progress | None = None, cancel=None, inpainter=None) -> dict:
    """Paint out the masked pixels; writes ``inpainted/%06d.png``, ``result.mp4`` and ``report.json``.

    The three appear together: they are built in a scratch folder and moved into
    ``out_dir`` only when every frame is done. Without ``write_video`` an earlier
    ``result.mp4`` of ours is removed, so no video is left that does not match the frames.
    """
    out_dir = Path(out_dir)
    with _open(source) as src:
        start, stop = _frame_range(src, frame_range)
        mask_files = _mask_files(Path(masks_dir), start, stop)
        with staged(out_dir, ["inpainted", "result.mp4", "report.json"]) as scratch:
            inpainter = inpainter or backends.make_inpainter(settings)
            t0 = time.perf_counter()
            _inpaint_into(src, mask_files, inpainter, settings, scratch, start, stop, progress, cancel)
            report = {"stage": "inpaint", "backend": backends.describe(inpainter), "frames": stop - start,
                      "range": [start, stop], "seconds": time.perf_counter() - t0,
                      "width": src.width, "height": src.height,
                      "video": "result.mp4" if settings.write_video else None}
            (scratch / "report.json").write_text(json.dumps(report, indent=2))
    return report


# -- the whole job -------------------------------------------------------------------------------------------


def remove(source, prompts: Prompts, settings: Settings, out_dir, *,
           progress: Progress | None = None, cancel=None) -> dict:
    """Remove the prompted objects from a video: ``out_dir`` gets masks/, inpainted/, result.mp4, report.json.

    A pure function of (source, prompts, settings): no global state, the outputs
    appear complete or not at all. ``out_dir`` is a new or empty folder or an
    earlier result, whose outputs are replaced; other files in it are kept.
    """
    out_dir = Path(out_dir)
    seconds = {}
    with _open(source) as src, staged(out_dir, RESULT_NAMES, whole_result=True) as scratch:
        t0 = time.perf_counter()
        segmenter = backends.make_segmenter(settings)
        keyframes = segment_keyframes(src, prompts, segmenter)
        seconds["segment"] = time.perf_counter() - t0
        tracked = track(src, keyframes, settings, scratch, progress=progress, cancel=cancel)
        seconds["track"] = tracked["seconds"]
        painted = inpaint(src, scratch / "masks", settings, scratch, progress=progress, cancel=cancel)
        seconds["inpaint"] = painted["seconds"]
        report = {
            "source": str(src.path), "frames": src.frame_count, "width": src.width, "height": src.height,
            "fps": src.fps,
            "backends": {"segment": backends.describe(segmenter), "track": tracked["backend"],
                         "inpaint": painted["backend"]},
            "seconds": seconds,
            "frames_per_second": {k: (src.frame_count / v if v > 0 and k != "segment" else None)
                                  for k, v in seconds.items()},
            "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb(),
            "video": painted["video"],
            "prompts": [o.to_dict() for o in prompts.objects],
            "settings": settings.to_dict(),
        }
        (scratch / "report.json").write_text(json.dumps(report, indent=2))
    return report
