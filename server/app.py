"""``inpainterz serve``: the ROUTER loop, sessions and op handlers.

One thread owns the ZeroMQ socket. It reads a request, checks its signature and
schema (``protocol.py``), and either answers at once (hello, job_status, cancel,
...) or hands the work on: a session's frame decoding, embeddings and clicks run
in order on that session's own worker thread, ``open_video`` on a small pool,
and track/inpaint on job threads (``jobs.py``). Workers never touch the socket:
they put their replies in an outbox and wake the loop through an inproc pipe.

A session is one opened video: its frames, objects and their prompts. Clicks
use the same Segmenter class and calls as ``pipeline.segment_keyframes``, and
the track and inpaint jobs call the pipeline's own functions, so the server
writes exactly what ``inpainterz remove`` writes for the same prompts.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import zmq

from inpainterz_core import __version__
from inpainterz_core.backends import available_backends, make_segmenter
from inpainterz_core.errors import InpainterzError, InputError
from inpainterz_core.masks import rle_encode
from inpainterz_core.pipeline import inpaint, segment_keyframes, track
from inpainterz_core.prompts import ObjectPrompt, Point, Prompts
from inpainterz_core.segment.base import Segmenter
from inpainterz_core.settings import Settings
from inpainterz_core.video import FrameSource, frame_name, open_video

from . import protocol
from .jobs import Job, JobRunner
from .protocol import ProtocolError
from .security import (
    AllowedRoots,
    ConfigError,
    RateLimitedLog,
    ReplayGuard,
    is_loopback,
    new_key,
    png_size,
    read_connection_file,
    write_connection_file,
)

log = logging.getLogger("inpainterz.server")

MAX_UPLOAD_BYTES = 8 * 1024**3  # all frames of one uploaded video
MAX_BACKLOG = 256  # requests waiting for a worker thread, all sessions together
FRAME_CACHE = 4  # decoded frames kept per session (the clicked and previewed ones)

#: Ops answered on the socket thread (fast, no decoding); the rest go to workers.
INLINE_OPS = {"hello", "add_object", "remove_object", "track", "inpaint", "cancel", "job_status", "results",
              "close_video", "shutdown"}
SESSION_OPS = {"upload_frames", "frame", "segment", "result_frames"}  # in order, on the session's worker thread
#: result_frames kinds: the finished job that writes them, its folder key and its range key in ``results``
RESULT_KINDS = {"masks": ("track", "masks", "mask_range"), "inpainted": ("inpaint", "inpainted", "inpaint_range")}


@dataclass
class Request:
    identity: bytes  # the client's ZeroMQ routing id
    id: str
    op: str


@dataclass
class Upload:
    width: int
    height: int
    frame_count: int
    fps: float
    received: int = 0
    bytes: int = 0


@dataclass
class Session:
    id: str
    path: Path  # the video file or image folder (for an upload, the server's folder of PNGs)
    out_dir: Path  # where jobs write unless track names another folder
    settings: dict  # the client's settings, over the defaults
    source: FrameSource | None = None  # None until an upload is complete
    upload: Upload | None = None
    fps: float = 0.0
    objects: set[int] = field(default_factory=set)
    prompts: dict[tuple[int, int], ObjectPrompt] = field(default_factory=dict)  # (object id, frame)
    jobs: deque[Job] = field(default_factory=lambda: deque(maxlen=32))
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "session"))
    _frames: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (RGB), from a small cache: the same frame is previewed, embedded and clicked."""
        if index in self._frames:
            self._frames.move_to_end(index)
            return self._frames[index]
        image = self.source.read(index)
        self._frames[index] = image
        while len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return image

    def describe(self) -> dict:
        if self.source is None:
            up = self.upload
            return {"session": self.id, "width": up.width, "height": up.height, "fps": up.fps,
                    "frame_count": up.frame_count, "ready": False}
        return {"session": self.id, "width": self.source.width, "height": self.source.height, "fps": self.fps,
                "frame_count": self.source.frame_count, "ready": True}

    def latest(self, kind: str) -> Job | None:
        """The session's last finished job of this kind."""
        return next((j for j in reversed(self.jobs) if j.kind == kind and j.state == "finished"), None)

    def release(self, upload_root: Path) -> None:
        """Close the video and delete uploaded frames (runs last on the session's worker)."""
        if self.source is not None:
            self.source.close()
        self._frames.clear()
        if self.upload is not None and upload_root in self.path.parents:
            shutil.rmtree(self.path, ignore_errors=True)


class SessionSegmenter(Segmenter):
    """A shared segmenter seen through one session's keys, so frame 0 of two videos never collide.

    ``pipeline.segment_keyframes`` calls it with plain frame indices, as it does
    in ``inpainterz remove``, and finds the embeddings the clicks already made.
    """

    def __init__(self, inner: Segmenter, lock: threading.Lock, session: str):
        self.inner, self.lock, self.session = inner, lock, session
        self.name = inner.name

    def set_image(self, key: Hashable, image: np.ndarray) -> None:
        with self.lock:
            self.inner.set_image((self.session, key), image)

    def predict(self, key: Hashable, prompt: ObjectPrompt, previous: np.ndarray | None = None) -> np.ndarray:
        with self.lock:
            return self.inner.predict((self.session, key), prompt, previous)


class Server:
    def __init__(self, address: str, *, key: bytes | None, roots: AllowedRoots, work_dir: Path,
                 idle_timeout: float = 0.0):
        self.key = key
        self.roots = roots
        self.work_dir = work_dir
        self.upload_root = work_dir / "uploads"
        self.upload_root.mkdir(parents=True, exist_ok=True)
        self.idle_timeout = idle_timeout
        self.backends = available_backends()  # once, before answering: hello must be fast

        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        self.router.setsockopt(zmq.LINGER, 500)
        self.router.setsockopt(zmq.IPV6, int("[" in address))  # off for IPv4, or [::ffff:...] addresses appear
        self.router.bind(address)
        self.address = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        wake = f"inproc://wake-{secrets.token_hex(4)}"
        self._wake_in = self.context.socket(zmq.PULL)
        self._wake_in.bind(wake)
        self._wake_out = self.context.socket(zmq.PUSH)
        self._wake_out.connect(wake)
        self._outbox: deque[list[bytes]] = deque()
        self._outbox_lock = threading.Lock()

        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._segmenters: OrderedDict[Settings, tuple[Segmenter, threading.Lock]] = OrderedDict()
        self._segmenters_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(2, "open")
        self._backlog = 0
        self.jobs = JobRunner(self._job_event)
        self._stop = threading.Event()
        self._last_activity = time.monotonic()
        self._replays = ReplayGuard() if key else None
        self._drops = RateLimitedLog(log)

    # -- the loop -----------------------------------------------------------------------------------

    def serve(self) -> None:
        """Answer requests until ``stop()``, a ``shutdown`` request, or the idle timeout."""
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._wake_in, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(250))
                if self._wake_in in ready:
                    while self._wake_in.poll(0):
                        self._wake_in.recv(zmq.NOBLOCK)
                if self.router in ready:
                    for _ in range(1000):  # then send the replies, so one flood cannot starve them
                        try:
                            frames = self.router.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._on_message(frames)
                self._flush()
                if self.idle_timeout and not self.jobs.active() \
                        and time.monotonic() - self._last_activity > self.idle_timeout:
                    log.info("no requests for %g s: exiting (--idle-timeout)", self.idle_timeout)
                    break
        finally:
            self._close()

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()

    def _close(self) -> None:
        self.jobs.cancel_all()
        self.jobs.join(timeout=5.0)
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            self._close_session(session)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._flush()
        self.context.destroy(linger=500)
        log.info("server stopped")

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self._drops.warning(f"dropped a message of {len(frames) - 1} frames (expected signature and payload)")
            return
        identity, signature, payload = frames
        if self.key is not None:
            if not protocol.verify(self.key, payload, signature):
                self._drops.warning("dropped a message with a missing or wrong signature")
                return
            if not self._replays.first_time(signature):
                self._drops.warning("dropped a replayed message")
                return
        self._last_activity = time.monotonic()
        try:
            request_id, op, body = protocol.parse_request(protocol.unpack(payload))
        except ProtocolError as e:
            self._post(identity, protocol.error(e.request_id, e.op, e.code, e.message))
            return
        request = Request(identity, request_id, op)
        if op in INLINE_OPS:
            self._handle(request, body)
            return
        try:
            worker = self._pool if op == "open_video" else self._session(body["session"]).worker
            with self._lock:
                if self._backlog >= MAX_BACKLOG:
                    raise ProtocolError("busy", "the server is busy: too many requests are waiting")
                self._backlog += 1
            worker.submit(self._handle_queued, request, body)
        except ProtocolError as e:
            self._post(identity, protocol.error(request_id, op, e.code, e.message))
        except RuntimeError:  # the session's worker was shut down by close_video in the meantime
            with self._lock:
                self._backlog -= 1
            self._post(identity, protocol.error(request_id, op, "not_found", "the session was closed"))

    def _handle_queued(self, request: Request, body: dict) -> None:
        with self._lock:
            self._backlog -= 1
        self._handle(request, body)

    def _handle(self, request: Request, body: dict) -> None:
        """Run the op's handler and answer: its reply, or one error line the user can act on."""
        try:
            result = getattr(self, "op_" + request.op)(request, body)
        except ProtocolError as e:
            code, message = e.code, e.message
        except InpainterzError as e:
            code, message = (e.code if e.code in protocol.ERROR_CODES else "bad_input"), str(e)
        except Exception as e:  # a bug: the traceback goes to the log, the client gets one line
            log.exception("%s crashed", request.op)
            code, message = "internal", f"{request.op} crashed ({type(e).__name__}): see the server log"
        else:
            if result is not None:
                self._post(request.identity, protocol.reply(request.id, request.op, result))
            return
        self._post(request.identity, protocol.error(request.id, request.op, code, message))

    def _post(self, identity: bytes, envelope: dict) -> None:
        """Queue a message for the socket thread (callable from any thread) and wake it."""
        frames = [identity, *protocol.pack(envelope, self.key)]
        with self._outbox_lock:
            self._outbox.append(frames)
            try:
                self._wake_out.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:  # the server is shutting down: a late job event goes nowhere
                pass

    def _flush(self) -> None:
        while True:
            with self._outbox_lock:
                if not self._outbox:
                    return
                frames = self._outbox.popleft()
            try:
                self.router.send_multipart(frames, zmq.NOBLOCK)
            except zmq.ZMQError as e:  # a client that vanished: its messages are dropped
                log.debug("could not send to a client: %s", e)

    def _job_event(self, job: Job, op: str, body: dict) -> None:
        self._last_activity = time.monotonic()  # a job that just ended counts as use
        self._post(job.owner, protocol.event(job.request_id, op, body))

    # -- helpers --------------------------------------------------------------------------------------

    def _session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None or session.closed:
            raise ProtocolError("not_found", f"no session {session_id[:64]!r}: open_video first")
        return session

    def _ready(self, session_id: str) -> Session:
        session = self._session(session_id)
        if session.source is None:
            raise ProtocolError("not_ready", f"session {session_id} is still waiting for uploaded frames")
        return session

    def _settings(self, *layers: dict | None) -> Settings:
        merged = {}
        for layer in layers:
            merged.update(layer or {})
        if "ckpt_dir" in merged:
            raise ProtocolError("bad_request", "settings.ckpt_dir is chosen by the server, not by clients")
        try:
            return Settings.from_dict(merged)
        except (InputError, TypeError) as e:
            raise ProtocolError("bad_request", f"settings: {e}") from None

    def _segmenter(self, session: Session, settings: Settings) -> SessionSegmenter:
        """The shared segmenter for these settings (a SAM model is loaded once, not per session)."""
        with self._segmenters_lock:
            if settings not in self._segmenters:
                self._segmenters[settings] = (make_segmenter(settings), threading.Lock())
                while len(self._segmenters) > 4:
                    self._segmenters.popitem(last=False)
            self._segmenters.move_to_end(settings)
            inner, lock = self._segmenters[settings]
        return SessionSegmenter(inner, lock, session.id)

    def _embed(self, session: Session, frame: int) -> None:
        """Compute a frame's embedding ahead of the clicks (on the session's worker)."""
        if session.closed:
            return
        try:
            self._segmenter(session, self._settings(session.settings)).set_image(frame, session.read(frame))
        except Exception as e:  # the click that follows reports the problem to the user
            log.warning("could not precompute the embedding of frame %d: %s", frame, e)

    def _check_frame(self, session: Session, frame: int) -> None:
        count = session.source.frame_count
        if frame >= count:
            raise ProtocolError("not_found", f"frame {frame} is out of range: the video has {count} frames "
                                f"(0..{count - 1})")

    def _range(self, session: Session, start: int | None, stop: int | None,
               default: tuple[int, int] | None = None) -> tuple[int, int]:
        count = session.source.frame_count
        lo, hi = default or (0, count)
        start = lo if start is None else start
        stop = hi if stop is None else stop
        if not (lo <= start < stop <= hi):
            raise ProtocolError("bad_request", f"frame range {start}..{stop} must lie within {lo}..{hi} "
                                "(stop exclusive) and not be empty")
        return start, stop

    def _open(self, path: Path) -> FrameSource:
        source = open_video(path)
        if source.frame_count > protocol.MAX_FRAMES or max(source.width, source.height) > protocol.MAX_SIDE:
            source.close()
            raise ProtocolError("too_large", f"{path.name} is {source.width}x{source.height} with "
                                f"{source.frame_count} frames: over the server's limits")
        return source

    def _job_source(self, session: Session) -> FrameSource:
        """A job's own reader of the session's video (decoders are not shared between threads)."""
        source = open_video(session.path)
        if session.upload is not None:
            source.fps = session.fps  # a folder of PNGs has no frame rate: use the one the client announced
        return source

    def _close_session(self, session: Session) -> None:
        session.closed = True
        self.jobs.cancel_all(session.id)
        try:
            session.worker.submit(session.release, self.upload_root)
        except RuntimeError:  # already shut down
            pass
        session.worker.shutdown(wait=False)

    # -- ops ------------------------------------------------------------------------------------------

    def op_hello(self, request: Request, body: dict) -> dict:
        return {
            "protocol": protocol.VERSION,
            "server_version": __version__,
            "backends": self.backends["stages"],
            "device": self.backends["device"],
            "weights": self.backends["weights"],
            "auth": self.key is not None,
            "allowed_roots": [str(r) for r in self.roots.roots],
            "limits": {
                "max_message_bytes": protocol.MAX_MESSAGE_BYTES,
                "max_frame_bytes": protocol.MAX_FRAME_BYTES,
                "max_side": protocol.MAX_SIDE,
                "max_frames": protocol.MAX_FRAMES,
                "max_upload_frames": protocol.MAX_UPLOAD_FRAMES,
                "max_upload_bytes": MAX_UPLOAD_BYTES,
                "max_sessions": protocol.MAX_SESSIONS,
                "max_queued_jobs": protocol.MAX_QUEUED_JOBS,
            },
        }

    def op_open_video(self, request: Request, body: dict) -> dict:
        if (body["path"] is None) == (body["upload"] is None):
            raise ProtocolError("bad_request", "open_video needs exactly one of path or upload")
        settings = body["settings"] or {}
        self._settings(settings)  # refuse bad settings now, not at the first click
        if len(self.sessions) >= protocol.MAX_SESSIONS:
            raise ProtocolError("busy", f"{protocol.MAX_SESSIONS} videos are open: close_video one first")
        session_id = "s" + secrets.token_hex(8)
        out_dir = self.work_dir / session_id
        if body["path"] is not None:
            path = self.roots.confine(body["path"])
            if not path.exists():
                raise ProtocolError("not_found", f"{body['path']} does not exist")
            source = self._open(path)
            session = Session(session_id, path, out_dir, settings, source=source, fps=source.fps)
        else:
            upload = Upload(**body["upload"])
            folder = Path(tempfile.mkdtemp(prefix=session_id + "-", dir=self.upload_root))
            session = Session(session_id, folder, out_dir, settings, upload=upload, fps=upload.fps)
        with self._lock:
            if len(self.sessions) >= protocol.MAX_SESSIONS:
                self._close_session(session)
                raise ProtocolError("busy", f"{protocol.MAX_SESSIONS} videos are open: close_video one first")
            self.sessions[session_id] = session
        if session.source is not None:
            session.worker.submit(self._embed, session, 0)
        log.info("session %s: opened %s", session_id, session.path)
        return session.describe()

    def op_upload_frames(self, request: Request, body: dict) -> dict:
        session = self._session(body["session"])
        upload = session.upload
        if upload is None or session.source is not None:
            raise ProtocolError("not_ready", f"session {session.id} is not waiting for uploaded frames")
        start, frames = body["start"], body["frames"]
        if start != upload.received:
            raise ProtocolError("bad_request", f"upload_frames: start must be {upload.received}, the number of "
                                "frames received so far")
        if start + len(frames) > upload.frame_count:
            raise ProtocolError("too_large", f"more frames than the {upload.frame_count} announced")
        for i, png in enumerate(frames, start):
            if png_size(png) != (upload.width, upload.height):
                raise ProtocolError("bad_input", f"uploaded frame {i} is not {upload.width}x{upload.height}")
            if cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) is None:
                raise ProtocolError("bad_input", f"uploaded frame {i} is not a readable PNG")
            upload.bytes += len(png)
            if upload.bytes > MAX_UPLOAD_BYTES:
                raise ProtocolError("too_large", f"the upload is over {MAX_UPLOAD_BYTES >> 30} GiB")
            (session.path / frame_name(i)).write_bytes(png)
            upload.received = i + 1
        if upload.received == upload.frame_count:
            session.source = self._open(session.path)
            session.worker.submit(self._embed, session, 0)
            log.info("session %s: upload of %d frames complete", session.id, upload.frame_count)
        return {"received": upload.received, "ready": session.source is not None}

    def op_frame(self, request: Request, body: dict) -> dict:
        session = self._ready(body["session"])
        frame, fmt = body["frame"], body["format"]
        if fmt not in ("jpeg", "png"):
            raise ProtocolError("bad_request", f"frame.format must be jpeg or png, not {fmt!r}")
        self._check_frame(session, frame)
        image = session.read(frame)
        h, w = image.shape[:2]
        scale = min(1.0, body["max_side"] / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        ok, data = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok or data.size > protocol.MAX_FRAME_BYTES:
            raise ProtocolError("too_large", "the preview is too large: ask for a smaller max_side or jpeg")
        session.worker.submit(self._embed, session, frame)  # after this reply: the click that follows is fast
        return {"frame": frame, "width": image.shape[1], "height": image.shape[0], "format": fmt,
                "data": data.tobytes()}

    def op_add_object(self, request: Request, body: dict) -> dict:
        session = self._session(body["session"])
        with session.lock:
            free = next((i for i in range(1, 256) if i not in session.objects), None)
            if free is None:
                raise ProtocolError("too_large", "a session holds at most 255 objects")
            session.objects.add(free)
        return {"object_id": free}

    def op_remove_object(self, request: Request, body: dict) -> dict:
        session = self._session(body["session"])
        object_id = body["object_id"]
        with session.lock:
            if object_id not in session.objects:
                raise ProtocolError("not_found", f"no object {object_id} in session {session.id}")
            session.objects.discard(object_id)
            for key in [k for k in session.prompts if k[0] == object_id]:
                del session.prompts[key]
            return {"object_id": object_id, "objects": sorted(session.objects)}

    def op_segment(self, request: Request, body: dict) -> dict:
        session = self._ready(body["session"])
        object_id, frame = body["object_id"], body["frame"]
        if object_id not in session.objects:
            raise ProtocolError("not_found", f"no object {object_id} in session {session.id}: add_object first")
        self._check_frame(session, frame)
        if any(p[2] not in (0, 1) for p in body["points"] if len(p) == 3):
            raise ProtocolError("bad_request", "segment.points: a label is 1 (on the object) or 0 (not)")
        try:
            prompt = ObjectPrompt(
                frame=frame,
                points=tuple(Point(float(p[0]), float(p[1]), int(p[2]) if len(p) == 3 else 1) for p in body["points"]),
                box=tuple(float(v) for v in body["box"]) if body["box"] is not None else None,
                object_id=object_id,
            )
            prompt.check_inside(session.source.width, session.source.height, session.source.frame_count)
        except InputError as e:
            raise ProtocolError("bad_request", f"segment: {e}") from None
        segmenter = self._segmenter(session, self._settings(session.settings))
        segmenter.set_image(frame, session.read(frame))  # free when the embedding is cached
        mask = segmenter.predict(frame, prompt)
        with session.lock:
            if object_id in session.objects:  # not removed while we were segmenting
                session.prompts[(object_id, frame)] = prompt
        return {"object_id": object_id, "frame": frame, "mask": rle_encode(mask), "area": int(mask.sum())}

    def op_track(self, request: Request, body: dict) -> None:
        session = self._ready(body["session"])
        with session.lock:
            prompts = Prompts(tuple(session.prompts[k] for k in sorted(session.prompts)))
        if not prompts.objects:
            raise ProtocolError("not_ready", "no object has been clicked yet: segment one first")
        settings = self._settings(session.settings, body["settings"])
        frame_range = self._range(session, body["start"], body["stop"])
        out_dir = self.roots.confine(body["out_dir"]) if body["out_dir"] is not None else session.out_dir
        segmenter = self._segmenter(session, settings)

        def work(job: Job, progress) -> dict:
            with self._job_source(session) as source:
                keyframes = segment_keyframes(source, prompts, segmenter)
                track(source, keyframes, settings, out_dir, frame_range=frame_range, progress=progress,
                      cancel=job.cancel)
            return {"out_dir": str(out_dir), "masks": str(out_dir / "masks"), "mask_range": list(frame_range)}

        self._start_job(request, session, "track", work, out_dir)

    def op_inpaint(self, request: Request, body: dict) -> None:
        session = self._ready(body["session"])
        tracked = session.latest("track")
        if tracked is None:
            raise ProtocolError("not_ready", "no finished track job in this session: track first")
        settings = self._settings(session.settings, body["settings"])
        frame_range = self._range(session, body["start"], body["stop"], default=tuple(tracked.results["mask_range"]))
        out_dir, masks = Path(tracked.results["out_dir"]), Path(tracked.results["masks"])

        def work(job: Job, progress) -> dict:
            with self._job_source(session) as source:
                inpaint(source, masks, settings, out_dir, frame_range=frame_range, progress=progress,
                        cancel=job.cancel)
            video, report = out_dir / "result.mp4", out_dir / "report.json"
            return {"out_dir": str(out_dir), "inpainted": str(out_dir / "inpainted"),
                    "inpaint_range": list(frame_range), "video": str(video) if video.exists() else None,
                    "report": str(report) if report.exists() else None}

        self._start_job(request, session, "inpaint", work, out_dir)

    def _start_job(self, request: Request, session: Session, kind: str, work, out_dir: Path) -> None:
        """Reply with the job id first, then start it, so its events never overtake the reply."""
        with session.lock:
            if any(j.active for j in session.jobs):
                raise ProtocolError("busy", f"session {session.id} already has a job queued or running")
            job = Job(kind, session.id, request.identity, request.id, work)
            self.jobs.add(job)
            session.jobs.append(job)
        self._post(request.identity, protocol.reply(request.id, request.op, {"job": job.id, "out_dir": str(out_dir)}))
        self.jobs.start(job)
        log.info("job %s: %s of session %s into %s", job.id, kind, session.id, out_dir)

    def op_cancel(self, request: Request, body: dict) -> dict:
        job = self.jobs.get(body["job"])
        job.cancel.set()
        return {"job": job.id, "state": job.state}

    def op_job_status(self, request: Request, body: dict) -> dict:
        return self.jobs.get(body["job"]).status()

    def op_results(self, request: Request, body: dict) -> dict:
        session = self._session(body["session"])
        out = {"out_dir": None, "masks": None, "mask_range": None, "inpainted": None, "inpaint_range": None,
               "video": None, "report": None}
        for kind in ("track", "inpaint"):
            job = session.latest(kind)
            if job is not None:
                out.update(job.results)
        return out

    def op_result_frames(self, request: Request, body: dict) -> dict:
        """The result PNG files themselves, byte for byte, for a client on another machine."""
        session = self._session(body["session"])
        if body["kind"] not in RESULT_KINDS:
            raise ProtocolError("bad_request", f"result_frames.kind must be masks or inpainted, not {body['kind']!r}")
        job_kind, folder_key, range_key = RESULT_KINDS[body["kind"]]
        job = session.latest(job_kind)
        if job is None:
            raise ProtocolError("not_ready", f"no finished {job_kind} job in this session: {job_kind} first")
        folder, (first, stop) = Path(job.results[folder_key]), job.results[range_key]
        start = body["start"]
        if not first <= start < stop:
            raise ProtocolError("not_found", f"frame {start} is not in the {body['kind']} of frames {first}..{stop - 1}")
        frames, size = [], 0
        for i in range(start, min(stop, start + body["count"])):
            data = (folder / frame_name(i)).read_bytes()
            if len(data) > protocol.MAX_FRAME_BYTES:
                raise ProtocolError("too_large", f"{body['kind']} frame {i} is {len(data) >> 20} MB, over the "
                                    f"{protocol.MAX_FRAME_BYTES >> 20} MB a message may carry: read it on the server")
            if frames and size + len(data) > protocol.MAX_MESSAGE_BYTES // 2:  # the rest in the next reply
                break
            frames.append(data)
            size += len(data)
        following = start + len(frames)
        return {"kind": body["kind"], "start": start, "frames": frames, "next": following if following < stop else None}

    def op_close_video(self, request: Request, body: dict) -> dict:
        with self._lock:
            session = self._session(body["session"])
            del self.sessions[session.id]
        self._close_session(session)
        log.info("session %s: closed", session.id)
        return {}

    def op_shutdown(self, request: Request, body: dict) -> dict:
        log.info("shutdown requested by a client")
        self.stop()
        return {}


# -- command line ---------------------------------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", metavar="ADDR", help="ZeroMQ endpoint to listen on (default: the connection "
                        f"file's address, else {protocol.DEFAULT_ADDRESS}); a non-loopback address needs "
                        "--connection-file")
    parser.add_argument("--connection-file", metavar="F", help="JSON file with the HMAC key (mode 0600); "
                        "created with a new key if missing. With it, every message must be signed")
    parser.add_argument("--allow-root", metavar="DIR", action="append", default=[],
                        help="folder clients may read videos from and write results to (repeatable; "
                        "default: your home folder)")
    parser.add_argument("--work-dir", metavar="DIR", help="where results go unless a client names a folder "
                          "(default: ~/.cache/inpainterz/server)")
    parser.add_argument("--idle-timeout", metavar="S", type=float, default=0.0,
                        help="exit after S seconds without requests or running jobs (default: never)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``inpainterz`` CLI's subparsers; it sets ``func=serve_main``."""
    parser = subparsers.add_parser("serve", help="run the local GPU server the Blender add-on talks to",
                                   description="Run the Inpainterz server (protocol: docs/protocol.md).")
    add_serve_arguments(parser)
    parser.set_defaults(func=serve_main)
    return parser


def build_server(args: argparse.Namespace) -> tuple[Server, Path | None]:
    """The bound server and the connection file it created, to delete at exit (None if it reused one)."""
    info = read_connection_file(args.connection_file) if args.connection_file else None
    address = args.bind or (info or {}).get("address") or protocol.DEFAULT_ADDRESS
    key = info["key"] if info else (new_key() if args.connection_file else None)
    if key is None and not is_loopback(address):
        raise ConfigError(f"{address} is not a loopback address: give --connection-file F so that every "
                          "message is signed with its key")
    work_dir = Path(args.work_dir or Path.home() / ".cache" / "inpainterz" / "server").expanduser().resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    for root in args.allow_root:
        if not Path(root).expanduser().is_dir():
            raise ConfigError(f"--allow-root {root}: not a folder")
    roots = AllowedRoots(args.allow_root or [Path.home()])
    try:
        server = Server(address, key=key.encode() if key else None, roots=roots, work_dir=work_dir,
                        idle_timeout=args.idle_timeout)
    except zmq.ZMQError as e:
        raise ConfigError(f"cannot listen on {address}: {e} (is another server running there?)") from None
    created = None
    if args.connection_file and (info is None or info.get("address") != server.address):
        # Write (or correct) the address clients will read, e.g. after binding a random port.
        path = Path(args.connection_file)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        write_connection_file(tmp, server.address, key)
        os.replace(tmp, path)  # readers never see a half-written file
        created = path if info is None else None
    return server, created


def serve_main(args: argparse.Namespace) -> int:
    """``inpainterz serve``: run until shutdown, SIGINT/SIGTERM or the idle timeout; the exit code."""
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server, created = build_server(args)
    except (ConfigError, InpainterzError) as e:
        print(f"inpainterz serve: {e}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    log.info("listening on %s (%s); allowed folders: %s", server.address,
             "signed messages only" if server.key else "loopback, unsigned",
             ", ".join(str(r) for r in server.roots.roots))
    try:
        server.serve()
    finally:
        if created is not None:
            created.unlink(missing_ok=True)
    return 0
