"""What the op handlers share: the open sessions and the services they use, handed in by the loop.

The loop (``loop.py``) owns the socket; handlers never touch it. They get a ``State``
and a ``Request``, return a reply body (or raise ProtocolError / InpainterzError),
and post anything later (a job's accepted reply, events) through ``State.post``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inpainterz_core.errors import InputError
from inpainterz_core.settings import Settings
from inpainterz_core.video import IMAGE_SUFFIXES, FrameSource, open_video

from . import protocol
from .jobs import JobRunner
from .protocol import ProtocolError
from .security import AllowedRoots, OpenTimeout, RateLimitedLog, check_openable, open_with_deadline
from .segmenters import DetectorPool, SegmenterPool
from .sessions import OutDirClaims, Session, WorkDir

log = logging.getLogger("inpainterz.server")

OPEN_TIMEOUT = 30.0  # seconds an open_video may take (probing a video reads only its index)
MAX_OPENING = 8  # opens in progress, hung ones included; more get `busy`


@dataclass
class Request:
    identity: bytes  # the client's ZeroMQ routing id
    id: str
    op: str
    channel: str | None = None  # the signed channel it came on (hello echoes it)


@dataclass
class State:
    roots: AllowedRoots
    work: WorkDir
    backends: dict
    signed: bool
    post: Callable[[bytes, dict], None]  # (identity, envelope): queue a message for the socket thread
    stop: Callable[[], None]
    issue_channel: Callable[[], str]
    jobs: JobRunner
    sessions: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    claims: OutDirClaims = field(default_factory=OutDirClaims)
    segmenters: SegmenterPool = field(default_factory=SegmenterPool)
    detectors: DetectorPool = field(default_factory=DetectorPool)
    log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))
    opening: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(MAX_OPENING))

    # -- sessions -------------------------------------------------------------------------------------

    def session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None or session.closed:
            raise ProtocolError("not_found", f"no session {session_id[:64]!r}: open_video first")
        return session

    def ready(self, session_id: str) -> Session:
        session = self.session(session_id)
        if session.source is None:
            raise ProtocolError("not_ready", f"session {session_id} is still waiting for uploaded frames")
        return session

    def close_session(self, session: Session) -> None:
        """Cancel its jobs, free its output folders, and release it after its queued requests."""
        session.closed = True
        self.jobs.cancel_all(session.id)
        self.claims.release(session.id)
        session.worker.shutdown(last=session.release)

    # -- request checks -------------------------------------------------------------------------------

    def settings(self, *layers: dict | None) -> Settings:
        merged = {}
        for layer in layers:
            merged.update(layer or {})
        if "ckpt_dir" in merged:
            raise ProtocolError("bad_request", "settings.ckpt_dir is chosen by the server, not by clients")
        try:
            return Settings.from_dict(merged)
        except (InputError, TypeError, ValueError) as e:
            message = str(e)
            raise ProtocolError(
                "bad_request", message if "settings" in message else f"settings: {message}"
            ) from None

    def check_frame(self, session: Session, frame: int) -> None:
        count = session.source.frame_count
        if frame >= count:
            raise ProtocolError(
                "not_found", f"frame {frame} is out of range: the video has {count} frames (0..{count - 1})"
            )

    def frame_range(
        self, session: Session, start: int | None, stop: int | None, default: tuple[int, int] | None = None
    ) -> tuple[int, int]:
        count = session.source.frame_count
        lo, hi = default or (0, count)
        start = lo if start is None else start
        stop = hi if stop is None else stop
        if not (lo <= start < stop <= hi):
            raise ProtocolError(
                "bad_request",
                f"frame range {start}..{stop} must lie within {lo}..{hi} (stop exclusive) and not be empty",
            )
        return start, stop

    def out_dir(self, session: Session, requested: str | None) -> Path:
        """The folder a job of this session writes: checked, and claimed for the session."""
        if requested is None:
            folder = session.out_dir
        else:
            folder = self.roots.confine(requested, "out_dir")
            if folder.exists() and not folder.is_dir():
                raise ProtocolError("bad_request", f"out_dir: {requested[:200]} is a file, not a folder")
            for name in ("masks", "inpainted", "result.mp4", "report.json"):
                if (folder / name).is_symlink():
                    raise ProtocolError(
                        "path_not_allowed",
                        f"out_dir: {folder / name} is a symlink: "
                        "the server writes only real files and folders",
                    )
        others = self.claims.others(folder, session.id)
        for other_folder, owner in others:
            other = self.sessions.get(owner)
            if other is not None and any(j.active for j in other.jobs):
                raise ProtocolError(
                    "busy",
                    f"{other_folder} is being written by another session's job: "
                    "choose another out_dir, or wait for that job",
                )
        for other_folder, owner in others:  # idle: this session takes the folder over
            other = self.sessions.get(owner)
            if other is not None:
                with other.lock:
                    other.superseded.add(other_folder)
        self.claims.take(folder, session.id)
        session.superseded.discard(folder)
        return folder

    # -- opening videos -------------------------------------------------------------------------------

    def open(self, path: Path) -> FrameSource:
        """Open a regular file or image folder, with a deadline (never a FIFO, device or socket)."""
        try:
            check_openable(path, IMAGE_SUFFIXES)
        except FileNotFoundError:
            raise ProtocolError("not_found", f"{path} does not exist") from None
        except OSError as e:
            raise ProtocolError("bad_input", f"{path} cannot be read: {e.strerror}") from None
        if not self.opening.acquire(blocking=False):
            raise ProtocolError("busy", "too many videos are being opened (or hang while opening): try later")

        def opener():
            try:
                return open_video(path)
            finally:
                self.opening.release()

        try:
            source = open_with_deadline(opener, OPEN_TIMEOUT, on_late=lambda s: s.close())
        except OpenTimeout:
            self.log.warning(f"opening {path} took over {OPEN_TIMEOUT:g} s: abandoned", key="open-timeout")
            raise ProtocolError(
                "bad_input", f"{path.name}: opening it took over {OPEN_TIMEOUT:g} s"
            ) from None
        if source.frame_count > protocol.MAX_FRAMES or max(source.width, source.height) > protocol.MAX_SIDE:
            source.close()
            raise ProtocolError(
                "too_large",
                f"{path.name} is {source.width}x{source.height} with "
                f"{source.frame_count} frames: over the server's limits",
            )
        return source

    def job_source(self, session: Session) -> FrameSource:
        """A job's own reader of the session's video (decoders are not shared between threads)."""
        source = self.open(session.path)
        if session.upload is not None:
            source.fps = session.fps  # a folder of PNGs has no frame rate: use the one the client announced
        return source
