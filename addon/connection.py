"""The add-on's one connection to the Inpainterz server, and the poll step that drives it.

Nothing here blocks: requests return futures (`remote.client`), and `poll()` reads what has
arrived, resolves futures, moves progress into the scene and places finished results as
strips. In Blender a `bpy.app.timers` timer calls `poll()`; timers never fire in the `bpy`
module, so tests call `poll()` in a loop instead.

Prompts live on the strips (saved with the .blend); a server session is a cache of them. A new
session, whether the first one or after the server restarted, gets every stored prompt again
before anything else is sent.
"""

import os
import sys
import threading
import time

import bpy

from . import compat, geometry, strips
from .remote import client as remote

POLL_INTERVAL = 0.1  # seconds between timer calls while anything is pending
IDLE_INTERVAL = 2.0  # seconds between health checks while nothing is pending

_connection = None


def get(address):
    """The connection to `address`, made (and the old one closed) when the address changes."""
    global _connection
    if _connection is None or _connection.address != address:
        if _connection is not None:
            _connection.close()
        _connection = Connection(address)
    return _connection


def current():
    return _connection


def close():
    global _connection
    if _connection is not None:
        _connection.close()
        _connection = None


def poll():
    """One non-blocking step of the current connection (the tests' entry point); returns the
    interval until the next step, for the timer."""
    return _connection.poll() if _connection is not None else IDLE_INTERVAL


class Session:
    """A source media file opened on the server, and the requests waiting for it to open."""

    def __init__(self, path):
        self.path = path
        self.id = None
        self.width = self.height = None
        self.objects = set()  # object ids the server has for this session
        self.waiting = []  # functions to call with this session once it is open


class Job:
    """A track or inpaint job for one strip, and where its results go when it finishes."""

    def __init__(self, kind, scene, source, out_dir, grow):
        self.kind = kind
        self.scene_name = scene.name
        self.strip_name = source.name
        self.first, self.stop = geometry.visible_source_range(source)
        self.out_dir = out_dir
        self.grow = grow
        self.future = None  # the JobFuture, once the session is open
        self.cancelled = False


class Connection:
    def __init__(self, address):
        self.address = address
        self.client = remote.Client(address)
        self.hello = None  # the server's last `hello` reply, None while none answers
        self.error = None  # the last error, for the panel
        self.progress = None  # (stage, done, total) of the running job
        self.sessions = {}  # media path -> Session
        self.jobs = []  # Jobs not ended yet, in order
        self.masks = {}  # (strip name, object id) -> (source frame, rle) of the last click's mask
        self.reports = []  # (level, message) not shown yet
        self._health = None
        self._health_at = 0.0
        self._starting = None  # the thread starting a local server
        self._segments_in_flight = 0

    def close(self):
        """Drop the connection. Jobs on the server go on; any client can ask for their results."""
        self.client.close()

    # -- the poll step ------------------------------------------------------------------------------

    def poll(self):
        self.client.poll()
        now = time.monotonic()
        if self._health is None and now - self._health_at > IDLE_INTERVAL:
            self._health_at = now
            self._health = self.client.send("hello")
            self._health.add_done_callback(self._answered_hello)
        elif self._health is not None and now - self._health_at > IDLE_INTERVAL + 1.0:
            self._health = None  # no answer in time: the server is gone
            self.hello = None
        if self._starting is not None and not self._starting.is_alive():
            self._starting = None
        _show_reports(self)
        busy = self.jobs or self._starting or self._segments_in_flight or any(
            s.id is None for s in self.sessions.values())
        return POLL_INTERVAL if busy else IDLE_INTERVAL

    def _answered_hello(self, future):
        self._health = None
        self.hello = None if future.exception() else future.result()

    def report(self, level, message):
        """Queue a message for the user (shown as a Blender report by the next poll)."""
        if level == "ERROR":
            self.error = message
        self.reports.append((level, message))

    # -- starting a local server --------------------------------------------------------------------

    def start_local_server(self, python, extra_args):
        """Start `python -m inpainterz_server` on this address in a thread (it waits until the
        server answers); the poll step notices when it is up."""
        command = [python or sys.executable, "-m", "inpainterz_server", "--bind", self.address,
                   "--idle-timeout", "3600", *extra_args]
        log_path = os.path.join(bpy.app.tempdir or os.path.expanduser("~"), "inpainterz-server.log")

        def start():
            try:
                remote.ensure_local_server(command, self.address, timeout=120.0, log_path=log_path)
            except (OSError, RuntimeError, TimeoutError) as error:
                self.report("ERROR", f"Could not start the server: {error}")

        self._starting = threading.Thread(target=start, daemon=True)
        self._starting.start()

    @property
    def starting(self):
        return self._starting is not None

    # -- sessions and prompts -----------------------------------------------------------------------

    def _with_session(self, source, then):
        """Call `then(session)` once the source's media is open on the server."""
        path = media_path(source)
        session = self.sessions.get(path)
        if session is None:
            session = self.sessions[path] = Session(path)
            future = self.client.send("open_video", path=path)
            future.add_done_callback(lambda f: self._opened(session, source.name, f))
        if session.id is None:
            session.waiting.append(then)
        else:
            then(session)

    def _opened(self, session, strip_name, future):
        if future.exception() is not None:
            del self.sessions[session.path]
            self.report("ERROR", f"Could not open {os.path.basename(session.path)}: {future.exception().message}")
            return
        reply = future.result()
        session.id, session.width, session.height = reply["session"], reply["width"], reply["height"]
        source = _find_strip(strip_name)
        if source is not None:  # replay the prompts stored in the .blend
            for item in source.inpainterz.objects:
                for frame in sorted({p.frame for p in item.points} | {b.frame for b in item.boxes}):
                    self._send_segment(session, strip_name, item, frame)
        waiting, session.waiting = session.waiting, []
        for then in waiting:
            then(session)

    def segment(self, source, item, frame):
        """Send every prompt of object `item` on `frame`; the mask arrives in `self.masks`."""
        self._with_session(source, lambda session: self._send_segment(session, source.name, item, frame))

    def _send_segment(self, session, strip_name, item, frame):
        points = [[p.x, p.y, 1 if p.positive else 0] for p in item.points if p.frame == frame]
        box = next(([b.x0, b.y0, b.x1, b.y1] for b in item.boxes if b.frame == frame), None)
        key = (strip_name, item.object_id)
        if not points and box is None:
            self.masks.pop(key, None)
            return
        self._ensure_object(session, item.object_id)
        future = self.client.send("segment", session=session.id, object_id=item.object_id, frame=frame,
                                  points=points, box=box)
        self._segments_in_flight += 1
        future.add_done_callback(lambda f: self._segmented(session, key, f))

    def _ensure_object(self, session, object_id):
        """The server numbers objects itself (the smallest unused id), so ask for ids until it has
        `object_id`, and drop the fillers. Requests on one socket are handled in order, so the
        segment request sent next finds the object."""
        fillers = []
        while object_id not in session.objects:
            new_id = min(set(range(1, object_id + 1)) - session.objects)
            self.client.send("add_object", session=session.id)
            session.objects.add(new_id)
            if new_id != object_id:
                fillers.append(new_id)
        for filler in fillers:
            self.client.send("remove_object", session=session.id, object_id=filler)
            session.objects.discard(filler)

    def _segmented(self, session, key, future):
        self._segments_in_flight -= 1
        error = future.exception()
        if error is None:
            reply = future.result()
            self.masks[key] = (reply["frame"], reply["mask"])
            _redraw()
        elif error.code == "not_found" and session.path in self.sessions:
            del self.sessions[session.path]  # the server forgot the session: the next request reopens it
            self.report("ERROR", "The server lost this video's session; click again to resend the prompts")
        else:
            self.report("ERROR", f"Segmenting failed: {error.message}")

    def forget_object(self, source, object_id):
        self.masks.pop((source.name, object_id), None)
        session = self.sessions.get(media_path(source))
        if session is not None and object_id in session.objects:
            self.client.send("remove_object", session=session.id, object_id=object_id)
            session.objects.discard(object_id)

    # -- jobs ---------------------------------------------------------------------------------------

    def run_job(self, kind, scene, source, grow=16):
        """Start a `track` or `inpaint` job over the strip's visible frames."""
        job = Job(kind, scene, source, strips.results_dir(source), grow)
        self.jobs.append(job)
        self.progress = (kind, 0, job.stop - job.first)

        def start(session):
            if job.cancelled:
                self.jobs.remove(job)
                return
            extra = {"out_dir": job.out_dir} if kind == "track" else {}
            job.future = self.client.start_job(kind, session=session.id, start=job.first, stop=job.stop,
                                               progress=self._progress, **extra)
            job.future.add_done_callback(lambda f: self._job_ended(job, f))

        os.makedirs(os.path.dirname(job.out_dir), exist_ok=True)
        self._with_session(source, start)
        return job

    def cancel_jobs(self):
        for job in self.jobs:
            job.cancelled = True
            if job.future is not None:
                job.future.cancel()

    def _progress(self, stage, done, total):
        self.progress = (stage, done, total)
        _redraw(f"Inpainterz {stage}: {done}/{total}")

    def _job_ended(self, job, future):
        self.jobs.remove(job)
        self.progress = None
        error = future.exception()
        if error is not None:
            level = "WARNING" if error.code == "cancelled" else "ERROR"
            self.report(level, f"{job.kind.capitalize()} failed: {error.message}" if level == "ERROR"
                        else f"{job.kind.capitalize()} cancelled")
            return
        scene = bpy.data.scenes.get(job.scene_name)
        source = _find_strip(job.strip_name, scene)
        if source is None:
            self.report("ERROR", f"The strip {job.strip_name!r} is gone; results are in {job.out_dir}")
            return
        if geometry.visible_source_range(source) != (job.first, job.stop):
            self.report("WARNING", f"{job.strip_name} was trimmed while the job ran: run it again")
            return
        out_dir = future.result().get("out_dir") or job.out_dir
        frames = [f"{index:06d}.png" for index in range(job.first, job.stop)]
        masks = [os.path.join(out_dir, "masks", name) for name in frames]
        clean = [os.path.join(out_dir, "inpainted", name) for name in frames] if job.kind == "inpaint" else None
        try:
            strips.place_results(scene, source, masks, clean, grow=job.grow)
        except (ValueError, RuntimeError) as error:
            self.report("ERROR", f"Could not add the result strips: {error}")
            return
        self.report("INFO", f"{job.kind.capitalize()} finished: results in {out_dir}")
        _redraw()


def media_path(source):
    """What the server opens for a strip: the movie file, or the image sequence's folder."""
    if source.type == "MOVIE":
        return os.path.normpath(bpy.path.abspath(source.filepath))
    return os.path.normpath(bpy.path.abspath(source.directory))


def _find_strip(name, scene=None):
    for candidate in [scene] if scene is not None else bpy.data.scenes:
        if candidate is not None and candidate.sequence_editor is not None:
            strip = compat.strips_all(candidate.sequence_editor).get(name)
            if strip is not None:
                return strip
    return None


def _show_reports(connection):
    """Reports need an operator; the poll step has none, so a tiny one carries each message."""
    while connection.reports:
        level, message = connection.reports.pop(0)
        print(f"Inpainterz: {message}")
        try:
            bpy.ops.inpainterz.report(level=level, message=message)
        except RuntimeError:
            pass  # an ERROR report, once shown, also raises in the caller: here it has been shown


def _redraw(status=None):
    """Redraw the sequencer areas and set (or, with None, clear) the status bar text."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        window.workspace.status_text_set_internal(status)
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
