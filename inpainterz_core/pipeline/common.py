"""What every stage of the pipeline shares: progress, cancelling, opening the source, frame ranges, memory."""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Cancelled, InputError
from ..video import FrameSource, open_video

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def report_progress(progress: Progress | None, stage: str, done: int, total: int) -> None:
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
def open_source(source: FrameSource | str | os.PathLike) -> Iterator[FrameSource]:
    if isinstance(source, FrameSource):
        yield source
    else:
        with open_video(source) as opened:
            yield opened


def frame_range_of(source: FrameSource, frame_range: tuple[int, int] | None) -> tuple[int, int]:
    if frame_range is None:
        return 0, source.frame_count
    start, stop = int(frame_range[0]), int(frame_range[1])
    if not 0 <= start < stop <= source.frame_count:
        raise InputError(f"frame range {start}..{stop} is outside the video's 0..{source.frame_count}")
    return start, stop
