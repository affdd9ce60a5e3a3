"""Sessions (one opened video each), the server's private work folder, and who writes which output folder.

Work folder layout (``--work-dir``, default ``~/.cache/inpainterz/server``)::

    run-<token>/                 one per server run, mode 0700, locked (flock) while the run lives
        .inpainterz-server       marker: only folders holding it are ever swept
        <session>/uploads/       the uploaded frames of an upload session
        <session>/out/           results when the client names no out_dir

A session's folder is deleted when it closes, and the run folder at shutdown. A run
that was killed leaves its folder unlocked: the next server on the same work folder
sweeps it (and, from servers before this layout, ``uploads/<session>-*`` folders and
``<session>/`` folders that hold nothing but Inpainterz outputs and scratch).
Clients never reach the work folder: ``AllowedRoots`` refuses every path inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inpainterz_core.prompts import ObjectPrompt
from inpainterz_core.segment.base import Segmenter
from inpainterz_core.video import FrameSource

from .jobs import Job
from .workers import Workers

log = logging.getLogger("inpainterz.server")

FRAME_CACHE = 4  # decoded frames kept per session (the clicked and previewed ones)
MARKER = ".inpainterz-server"
LOCK = ".lock"
_RUN_NAME = re.compile(r"run-[0-9a-f]{16}")
_OLD_UPLOAD_NAME = re.compile(r"s[0-9a-f]{16}-\w+")  # uploads/<session>-<mkdtemp> of the old layout
_OLD_SESSION_NAME = re.compile(r"s[0-9a-f]{16}")  # <session>/ results of the old layout
_OUTPUT_NAMES = {"masks", "inpainted", "result.mp4", "report.json", "track.json", ".inpainterz.json"}


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
    path: Path  # the video file or image folder (for an upload, the session's private folder of PNGs)
    folder: Path  # the session's private folder in the work dir: deleted when it closes
    settings: dict  # the client's settings, over the defaults
    source: FrameSource | None = None  # None until an upload is complete, and again once closed
    upload: Upload | None = None
    fps: float = 0.0
    objects: set[int] = field(default_factory=set)
    prompts: dict[tuple[int, int], ObjectPrompt] = field(default_factory=dict)  # (object id, frame)
    jobs: deque[Job] = field(default_factory=lambda: deque(maxlen=32))
    superseded: set[Path] = field(default_factory=set)  # output folders another session has written since
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: Workers = field(default_factory=lambda: Workers(1, "session"))
    _frames: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict)

    @property
    def out_dir(self) -> Path:
        """Where jobs write unless track names another folder."""
        return self.folder / "out"

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
            return {
                "session": self.id,
                "width": up.width,
                "height": up.height,
                "fps": up.fps,
                "frame_count": up.frame_count,
                "ready": False,
            }
        return {
            "session": self.id,
            "width": self.source.width,
            "height": self.source.height,
            "fps": self.fps,
            "frame_count": self.source.frame_count,
            "ready": True,
        }

    def latest(self, kind: str) -> Job | None:
        """The session's last finished job of this kind, unless another session has written its folder since."""
        job = next((j for j in reversed(self.jobs) if j.kind == kind and j.state == "finished"), None)
        if job is not None and Path(job.results["out_dir"]) in self.superseded:
            return None
        return job

    def stale_note(self) -> str:
        """Why ``latest`` found nothing, when that is the reason."""
        if not self.superseded:
            return ""
        return f" (another session has since written {', '.join(sorted(map(str, self.superseded)))[:300]})"

    def release(self) -> None:
        """Close the video, drop every reference and delete the session's private folder.

        Runs last on the session's worker, after its queued requests. Decoders keep
        their threads until the last reference goes, so nothing is left pointing at them.
        """
        if self.source is not None:
            self.source.close()
        self.source = None
        self._frames.clear()
        self.prompts.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


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

    @property
    def uses_neighbours(self) -> bool:
        return self.inner.uses_neighbours

    def wants_neighbours(self, key: Hashable) -> bool:
        with self.lock:
            return self.inner.wants_neighbours((self.session, key))

    def set_neighbours(self, key: Hashable, read) -> None:
        # The frames are decoded outside the lock (0.4 s for a 1080p frame's): other sessions' clicks
        # on the shared segmenter go on meanwhile.
        if self.wants_neighbours(key):
            frames = read()
            with self.lock:
                self.inner.set_neighbours((self.session, key), lambda: frames)

    def predict(self, key: Hashable, prompt: ObjectPrompt) -> np.ndarray:
        with self.lock:
            return self.inner.predict((self.session, key), prompt)


class WorkDir:
    """This run's private folder inside the work folder (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        swept = sweep_stale(root)
        if swept:
            log.info("swept %d leftover folder(s) of earlier server runs from %s", swept, root)
        self.run = root / f"run-{secrets.token_hex(8)}"
        self.run.mkdir(mode=0o700)
        (self.run / MARKER).write_text("scratch of one inpainterz serve run: deleted when it ends\n")
        self._lock_fd = os.open(self.run / LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def session_folder(self, session_id: str) -> Path:
        folder = self.run / session_id
        folder.mkdir(mode=0o700)
        return folder

    def remove(self) -> None:
        """Delete this run's folder (at shutdown)."""
        shutil.rmtree(self.run, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def sweep_stale(root: Path) -> int:
    """Delete run folders no live server holds (ours by name and marker) and the old layout's leftovers."""
    swept = 0
    for entry in root.iterdir():
        if not (
            _RUN_NAME.fullmatch(entry.name)
            and entry.is_dir()
            and not entry.is_symlink()
            and (entry / MARKER).is_file()
        ):
            continue
        try:
            fd = os.open(entry / LOCK, os.O_WRONLY)
        except OSError:
            continue  # a run still being set up (or not ours after all): leave it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live server holds it
        finally:
            os.close(fd)
        shutil.rmtree(entry, ignore_errors=True)
        swept += 1
    for entry in root.iterdir():
        if (
            _OLD_SESSION_NAME.fullmatch(entry.name)
            and entry.is_dir()
            and not entry.is_symlink()
            and all(n in _OUTPUT_NAMES or n.startswith(".") and ".partial-" in n for n in os.listdir(entry))
        ):
            shutil.rmtree(entry, ignore_errors=True)
            swept += 1
    uploads = root / "uploads"
    if uploads.is_dir() and not uploads.is_symlink():
        for entry in uploads.iterdir():
            if _OLD_UPLOAD_NAME.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                swept += 1
    return swept


class OutDirClaims:
    """Which session last wrote which output folder, so a session only ever reads its own results.

    A job's folder (or one inside or around it) may not be taken while another session
    has a job queued or running: that is ``busy``. Once the other session is idle, a new
    writer takes the folder over, and the earlier owner's results there count as gone
    (``Session.superseded``): its ``results``, ``result_frames`` and ``inpaint`` say so
    instead of reading the newcomer's files. A closed session's claims end with it.
    """

    def __init__(self):
        self._owners: dict[Path, str] = {}
        self._lock = threading.Lock()

    def others(self, folder: Path, session_id: str) -> list[tuple[Path, str]]:
        """Claimed folders of other sessions that overlap ``folder``: (folder, owner)."""
        with self._lock:
            return [
                (other, owner)
                for other, owner in self._owners.items()
                if owner != session_id
                and (other == folder or other in folder.parents or folder in other.parents)
            ]

    def take(self, folder: Path, session_id: str) -> None:
        with self._lock:
            for other in [
                f
                for f, owner in self._owners.items()
                if owner != session_id and (f == folder or f in folder.parents or folder in f.parents)
            ]:
                del self._owners[other]
            self._owners[folder] = session_id

    def release(self, session_id: str) -> None:
        with self._lock:
            for folder in [f for f, owner in self._owners.items() if owner == session_id]:
                del self._owners[folder]
