"""The add-on's one connection to the Inpainterz server, and the poll step that drives it.

Nothing here blocks: requests return futures (`remote.client`), and `poll()` reads what has
arrived, resolves futures, sends what waits (upload chunks, result downloads, jobs) and places
finished results as strips. In Blender a `bpy.app.timers` timer calls `poll()`; timers never
fire in the `bpy` module, so tests call `poll()` in a loop instead.

The client owns the prompts: they live on the strips (saved with the .blend), a `segment`
request only previews one object's mask on one frame, and a `track` request carries every
prompt the panel shows. So the server holds no prompt state the add-on must keep in step.

Media reach the server in one of two ways, chosen per video:
- by path, when the server runs on this machine and its allowed folders hold the file;
- as frames (`open_video` with `upload`, then `upload_frames`), rendered by Blender itself, when
  the server cannot read the path or the user asks for it. Results then come back with
  `result_frames` into the local result folder.
"""

import atexit
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import bpy

from . import compat, frames, geometry, strips
from .props import preferences
from .remote import client as remote

POLL_INTERVAL = 0.1  # seconds between timer calls while anything is pending
IDLE_INTERVAL = 2.0  # seconds between health checks while nothing is pending
UPLOAD_CHUNK = 8  # frames rendered and sent per upload_frames request (bounded memory)
DOWNLOAD_CHUNK = 8  # frames asked for per result_frames request
RECEIVED = "from-server"  # subfolder of a strip's results for frames brought back with result_frames

_connection = None
_own_server = None  # the server process this add-on started, if any


def get(address, connection_file=""):
    """The connection to `address`, or to the server a connection file names (with its keys: signed,
    and encrypted when it holds CURVE keys), made anew when either setting changes."""
    global _connection
    if _connection is None or _connection.settings != (address, connection_file):
        if _connection is not None:
            _connection.close()
        _connection = Connection(address, connection_file)
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


# -- the server this add-on starts -------------------------------------------------------------------


class OwnServer:
    """A local server started by the add-on: stopped by Stop Server, when the add-on is disabled
    and when Blender quits."""

    def __init__(self):
        self.process = None  # the Popen once it answers
        self.stopping = threading.Event()
        self.thread = None

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()  # the server takes SIGTERM as Ctrl+C: jobs cancelled, work folder cleaned
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def own_server():
    return _own_server


def stop_own_server():
    """Stop the server this add-on started (a no-op when it started none)."""
    global _own_server
    if _own_server is not None:
        _own_server.stop()
        _own_server = None


atexit.register(stop_own_server)  # Blender quitting; disabling the add-on calls it from unregister()


def allowed_folders():
    """The folders a server started by the add-on must read and write: the result folders (the
    blend file's and the unsaved-file one) and the folders of every movie and image strip."""
    folders = {strips.results_root(), strips.unsaved_results_root()}
    for scene in bpy.data.scenes:
        if scene.sequence_editor is None:
            continue
        for strip in compat.strips_all(scene.sequence_editor):
            if strip.type in {"MOVIE", "IMAGE"}:
                path = media_path(strip)
                folders.add(path if strip.type == "IMAGE" else os.path.dirname(path))
    return sorted(f for f in folders if os.path.isdir(f))


# -- what the connection tracks ----------------------------------------------------------------------


class Session:
    """A video opened on the server: by path, or uploaded as the frames [offset, offset + count)."""

    def __init__(self, key, upload):
        self.key = key
        self.upload = upload  # None, or (strip name, first, stop): frames Blender renders and sends
        self.offset = upload[1] if upload else 0  # source frame of the server's frame 0
        self.id = None
        self.preview_object = None  # the server object id `segment` previews use
        self.received = 0
        self.total = upload[2] - upload[1] if upload else 0
        self.in_flight = False  # an upload chunk is on its way
        self.failed = False
        self.waiting = []  # functions to call with this session once it is ready

    @property
    def ready(self):
        return self.preview_object is not None and not self.failed


class Job:
    """A track or inpaint job for one strip, and where its results go when it finishes."""

    def __init__(self, kind, scene, source, out_dir, dilate, objects, text=None):
        self.kind = kind
        self.scene_name = scene.name
        self.strip_name = source.name
        self.media = media_path(source)
        self.first, self.stop = geometry.visible_source_range(source)
        self.out_dir = out_dir  # the strip's local result folder
        self.dilate = dilate
        self.objects = objects  # track: the prompts as the panel showed them when Track was pressed
        self.text = text  # track: the Find text to look for again while tracking (source frame), or None
        self.session = None
        self.future = None  # the JobFuture, once sent
        self.download = None  # a Download bringing results back, in remote mode
        self.check_frames = ()  # track: the source frames whose masks the tracker doubts
        self.object_checks = {}  # track: the same per object id, where the tracker tells them apart
        self.hole_radius = None  # inpaint: per source frame, the px the server grew its mask by into the hole
        self.cancelled = False


class Download:
    """`result_frames` of one kind, written into a scratch folder renamed into place at the end."""

    def __init__(self, session, kind, first, stop, folder):
        self.session, self.kind, self.folder = session, kind, folder
        self.first, self.stop = first, stop  # source frames
        self.next = first
        self.scratch = f"{folder}.partial-{uuid.uuid4().hex[:8]}"
        os.makedirs(self.scratch)
        self.in_flight = False
        self.done = False

    def discard(self):
        shutil.rmtree(self.scratch, ignore_errors=True)


class Connection:
    def __init__(self, address, connection_file=""):
        self.settings = (address, connection_file)
        self.hello = None  # the server's last `hello` reply, None while none answers
        self.error = None  # the last error, for the panel
        self.progress = None  # (stage, done, total) of the running job
        self.sessions = {}  # session key -> Session
        self.jobs = []  # Jobs not ended yet, in order
        self.masks = {}  # (strip name, object id) -> (source frame, rle) of the last click's mask
        self.reports = []  # (level, message) not shown yet
        self.connection_file = bpy.path.abspath(connection_file) if connection_file else ""
        try:
            self.client = _make_client(address, self.connection_file)
        except (OSError, ValueError, KeyError, TypeError, remote.zmq.ZMQError) as error:
            self.report("ERROR", f"Cannot use the connection file {self.connection_file}: {error}")
            self.connection_file = ""
            self.client = remote.Client(address)
        self.address = self.client.address  # the connection file's, when there is one
        self._sent = {}  # (strip name, object id) -> generation of the last preview asked for
        self._shown = {}  # (strip name, object id) -> generation of the last preview answered
        self._generation = 0
        self._health = None
        self._health_at = 0.0
        self._before_hello = []  # (strip name, then) waiting for the server's hello reply
        self._finding = {}  # strip name -> generation of the Find on its way

    def close(self):
        """Drop the connection. Jobs on the server go on; any client can ask for their results."""
        for job in self.jobs:
            if job.download is not None:
                job.download.discard()
        self.client.close()

    # -- the poll step ------------------------------------------------------------------------------

    def poll(self):
        self.client.poll()
        now = time.monotonic()
        if self._health is None and now - self._health_at > IDLE_INTERVAL:
            self._ask_hello()
        elif self._health is not None and now - self._health_at > IDLE_INTERVAL + 1.0:
            self._health.withdraw()  # no answer in time: the server is gone (and unsent asks pile up)
            self._health = None
            self.hello = None
        for session in list(self.sessions.values()):
            self._upload_step(session)
        for job in list(self.jobs):
            self._job_step(job)
        self.client.poll()
        _show_reports(self)
        starting = _own_server is not None and _own_server.process is None and _own_server.thread is not None
        busy = (
            self.jobs
            or starting
            or self._sent != self._shown
            or self._finding
            or any(not s.ready for s in self.sessions.values())
        )
        return POLL_INTERVAL if busy else IDLE_INTERVAL

    def _ask_hello(self):
        if self._health is None:
            self._health_at = time.monotonic()
            self._health = self.client.send("hello")
            self._health.add_done_callback(self._answered_hello)

    def _answered_hello(self, future):
        self._health = None
        self.hello = None if future.exception() else future.result()
        if self.hello is not None:
            waiting, self._before_hello = self._before_hello, []
            for strip_name, then in waiting:
                source = _find_strip(strip_name)
                if source is not None:
                    self._with_session(source, then)

    def report(self, level, message):
        """Queue a message for the user (shown as a Blender report by the next poll)."""
        if level == "ERROR":
            self.error = message
        self.reports.append((level, message))

    # -- starting and stopping a local server -------------------------------------------------------

    def start_local_server(self, python, extra_args):
        """Start `python -m inpainterz_server` on this address in a thread (it waits until the server
        answers), allowed to read the strips' media and write the add-on's result folders."""
        global _own_server
        stop_own_server()
        for folder in (strips.results_root(), strips.unsaved_results_root()):
            os.makedirs(folder, exist_ok=True)
        roots = [arg for folder in allowed_folders() for arg in ("--allow-root", folder)]
        command = [
            python or sys.executable,
            "-m",
            "inpainterz_server",
            "--bind",
            self.address,
            "--idle-timeout",
            "3600",
            *roots,
            *extra_args,
        ]
        if self.connection_file:
            command += ["--connection-file", self.connection_file]
        log_path = os.path.join(tempfile.gettempdir(), "inpainterz-server.log")
        server = _own_server = OwnServer()

        def start():
            try:
                process = remote.ensure_local_server(command, self.address, timeout=120.0, log_path=log_path)
            except (OSError, RuntimeError, TimeoutError) as error:
                self.report("ERROR", f"Could not start the server: {error}")
                return
            if process is None:
                self.report(
                    "WARNING",
                    f"A server already answers at {self.address}: using it (Stop Server "
                    "only stops a server this add-on started)",
                )
            server.process = process
            if server.stopping.is_set():
                server.stop()

        server.thread = threading.Thread(target=start, daemon=True)
        server.thread.start()

    @property
    def starting(self):
        server = _own_server
        return server is not None and server.thread is not None and server.thread.is_alive()

    # -- where the server's files are -----------------------------------------------------------------

    def server_reads(self, path):
        """Whether the server can use `path` on this machine: it runs on loopback and the path is
        inside its allowed folders (from its hello reply). Unknown means no."""
        if self.hello is None or not _is_loopback(self.address):
            return False
        if preferences().send_frames:
            return False
        real = os.path.realpath(path)
        return any(
            real == root or real.startswith(root.rstrip(os.sep) + os.sep)
            for root in map(os.path.realpath, self.hello.get("allowed_roots") or ())
        )

    # -- sessions -----------------------------------------------------------------------------------

    def _with_session(self, source, then):
        """Call `then(session)` once the source's video is open (and uploaded) on the server.
        Whether the server can read the media is known from its hello reply: until it comes, wait."""
        if self.hello is None:
            self._before_hello.append((source.name, then))
            self._ask_hello()
            return
        path = media_path(source)
        upload = None
        if not self.server_reads(path):
            first, stop = geometry.visible_source_range(source)
            upload = (source.name, first, stop)
        key = (path, upload[1:] if upload else None)
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = Session(key, upload)
            if upload:
                w, h = geometry.source_size(source)
                future = self.client.send(
                    "open_video",
                    upload={
                        "width": w,
                        "height": h,
                        "frame_count": upload[2] - upload[1],
                        "fps": _fps(source),
                    },
                )
            else:
                future = self.client.send("open_video", path=path)
            future.add_done_callback(lambda f: self._opened(session, f))
        if session.ready:
            then(session)
        else:
            session.waiting.append(then)

    def _opened(self, session, future):
        if future.exception() is not None:
            self._session_failed(
                session,
                f"Could not open {os.path.basename(session.key[0])}: {_explain(future.exception(), self)}",
            )
            return
        session.id = future.result()["session"]
        if not session.upload:
            self._add_preview_object(session)

    def _add_preview_object(self, session):
        """The one object on the server that previews are segmented as (the client owns the ids)."""
        future = self.client.send("add_object", session=session.id)

        def added(f):
            if f.exception() is not None:
                self._session_failed(
                    session, f"Could not prepare {os.path.basename(session.key[0])}: {f.exception().message}"
                )
                return
            session.preview_object = f.result()["object_id"]
            waiting, session.waiting = session.waiting, []
            for then in waiting:
                then(session)

        future.add_done_callback(added)

    def _session_failed(self, session, message):
        session.failed = True
        self.sessions.pop(session.key, None)
        for job in list(self.jobs):
            if job.session is session or (job.session is None and job.media == session.key[0]):
                self.jobs.remove(job)
        for key in list(self._sent):  # the previews waiting for it end too
            strip = _find_strip(key[0])
            if strip is None or media_path(strip) == session.key[0]:
                self._shown[key] = self._sent[key]
        for name in list(self._finding):  # and so do the Finds
            strip = _find_strip(name)
            if strip is None or media_path(strip) == session.key[0]:
                del self._finding[name]
        self.progress = None
        self.report("ERROR", message)

    def _upload_step(self, session):
        """Render and send the next chunk of an uploaded video's frames, one chunk in flight at a time."""
        if not session.upload or session.id is None or session.in_flight or session.failed:
            return
        if session.received >= session.total:
            return
        strip_name, first, _ = session.upload
        source = _find_strip(strip_name)
        if source is None:
            self._session_failed(session, f"The strip {strip_name!r} is gone")
            return
        count = min(UPLOAD_CHUNK, session.total - session.received)
        try:
            pngs = frames.render_source_frames(source, first + session.received, count)
        except (RuntimeError, OSError) as error:
            self._session_failed(session, f"Could not read the frames of {strip_name}: {error}")
            return
        session.in_flight = True
        future = self.client.send("upload_frames", session=session.id, start=session.received, frames=pngs)

        def sent(f):
            session.in_flight = False
            if f.exception() is not None:
                self._session_failed(
                    session, f"Sending {strip_name}'s frames failed: {f.exception().message}"
                )
                return
            session.received = f.result()["received"]
            self.progress = ("upload", session.received, session.total)
            _redraw(f"Inpainterz upload: {session.received}/{session.total}")
            if f.result()["ready"]:
                self._add_preview_object(session)

        future.add_done_callback(sent)

    # -- previews of one object's mask ------------------------------------------------------------------

    def segment(self, source, item, frame):
        """Preview object `item`'s mask for its prompts on `frame`; it arrives in `self.masks`.
        Only the latest preview asked for an object counts: older answers are dropped."""
        key = (source.name, item.object_id)
        self._generation += 1
        generation = self._sent[key] = self._generation
        points, box = prompt_on(item, frame)
        if not points and box is None:
            self.masks.pop(key, None)
            self._shown[key] = generation
            return
        self._with_session(
            source, lambda session: self._send_segment(session, key, generation, frame, points, box)
        )

    def _send_segment(self, session, key, generation, frame, points, box):
        if self._sent.get(key) != generation:
            return  # a newer preview was asked for meanwhile: only that one is sent
        future = self.client.send(
            "segment",
            session=session.id,
            object_id=session.preview_object,
            frame=frame - session.offset,
            points=points,
            box=box,
        )
        future.add_done_callback(lambda f: self._segmented(session, key, generation, frame, f))

    def _segmented(self, session, key, generation, frame, future):
        if self._sent.get(key) != generation:
            return  # an answer to an older prompt: not what the panel shows
        self._shown[key] = generation
        error = future.exception()
        if error is None:
            self.masks[key] = (frame, future.result()["mask"])
            _redraw()
        elif error.code == "not_found" and self.sessions.get(session.key) is session:
            del self.sessions[session.key]  # the server forgot the session: the next request reopens it
            self.report("ERROR", "The server lost this video's session; click again to show the mask")
        else:
            self.report("ERROR", f"Segmenting failed: {_explain(error, self)}")

    def segmenting(self, strip_name, object_id=None):
        """Whether a preview of this object (or any object of the strip) is still on its way."""
        return any(
            self._sent[k] != self._shown.get(k)
            for k in self._sent
            if k[0] == strip_name and object_id in (None, k[1])
        )

    def forget_object(self, source, object_id):
        key = (source.name, object_id)
        for table in (self.masks, self._sent, self._shown):
            table.pop(key, None)

    # -- finding objects by text -------------------------------------------------------------------

    def find(self, source, frame, text, box_threshold):
        """Ask the server for the boxes `text` finds on source frame `frame`. They replace the strip's
        `found` list, for the user to keep or drop; phrases that found nothing are reported. Only the
        latest Find of a strip counts: an older answer is dropped."""
        self._generation += 1
        generation = self._finding[source.name] = self._generation
        self._with_session(
            source,
            lambda session: self._send_detect(session, source.name, generation, frame, text, box_threshold),
        )

    def finding(self, strip_name):
        """Whether a Find of this strip is on its way."""
        return strip_name in self._finding

    def _send_detect(self, session, strip_name, generation, frame, text, box_threshold):
        if self._finding.get(strip_name) != generation:
            return
        future = self.client.send(
            "detect", session=session.id, frame=frame - session.offset, text=text, box_threshold=box_threshold
        )
        future.add_done_callback(lambda f: self._found(session, strip_name, generation, frame, text, f))

    def _found(self, session, strip_name, generation, frame, text, future):
        if self._finding.get(strip_name) != generation:
            return  # a newer Find was asked for meanwhile
        del self._finding[strip_name]
        error = future.exception()
        source = _find_strip(strip_name)
        if error is not None:
            if error.code == "not_found" and self.sessions.get(session.key) is session:
                del self.sessions[session.key]  # the server forgot the session: the next request reopens it
                self.report("ERROR", "The server lost this video's session; press Find again")
            else:
                self.report("ERROR", f"Find failed: {_explain(error, self)}")
            return
        if source is None:
            return
        reply = future.result()
        source.inpainterz.find_frame = frame  # where Track's looking again counts from
        source.inpainterz.dropped.clear()  # what the user dropped from an older Find no longer counts
        found = source.inpainterz.found
        found.clear()
        for detection in reply["detections"]:
            item = found.add()
            item.frame, item.phrase, item.score = frame, detection["phrase"], detection["score"]
            item.x0, item.y0, item.x1, item.y1 = detection["box"]
        _redraw()
        missing = ", ".join(f'"{phrase}"' for phrase in reply["missing"])
        if not reply["detections"]:
            self.report(
                "WARNING",
                f'Find found nothing for "{text}" on frame {frame} of {strip_name}: lower the threshold, '
                "use other words, or click the object",
            )
        elif missing:
            self.report(
                "WARNING",
                f"Find found {len(found)} box(es), but nothing for {missing}: untick the boxes to drop, "
                "then Add Found",
            )
        else:
            self.report("INFO", f"Find found {len(found)} box(es): untick the boxes to drop, then Add Found")

    # -- jobs ---------------------------------------------------------------------------------------

    def run_job(self, kind, scene, source, dilate=2):
        """Start a `track` or `inpaint` job over the strip's visible frames. Track sends the prompts
        as they are now; it goes out once the previews on their way have come back, so the masks
        the panel shows are those of the prompts tracked."""
        objects = [
            {"object_id": item.object_id, "frame": frame, "points": points, "box": box}
            for item in source.inpainterz.objects
            for frame in prompt_frames(item)
            for points, box in [prompt_on(item, frame)]
        ]
        job = Job(kind, scene, source, strips.results_dir(source), dilate, objects, find_again(source))
        self.jobs.append(job)
        self.progress = (kind, 0, job.stop - job.first)

        def ready(session):
            job.session = session

        self._with_session(source, ready)
        self._job_step(job)
        return job

    def _job_step(self, job):
        if job.cancelled and job.future is None:
            self._end(job)
            self.report("WARNING", f"{job.kind.capitalize()} cancelled")
            return
        if job.future is None and job.session is not None and not self.segmenting(job.strip_name):
            self._send_job(job)
        if job.download is not None and not job.download.in_flight:
            self._download_step(job)

    def _send_job(self, job):
        session = job.session
        extra = {}
        if job.kind == "track":
            objects = [
                {**o, "frame": o["frame"] - session.offset}
                for o in job.objects
                if session.offset <= o["frame"] < session.offset + (session.total or 1 << 30)
            ]
            if not objects:
                self._end(job)
                self.report("ERROR", f"No click of {job.strip_name} is on its visible frames")
                return
            extra["objects"] = objects
            if job.text is not None:
                frame = job.text["frame"] - session.offset
                if 0 <= frame < (session.total or 1 << 30):
                    extra["text"] = {**job.text, "frame": frame}
                else:
                    self.report(
                        "WARNING", "Find's frame is no longer visible: tracking only the objects kept"
                    )
            if self.server_reads(os.path.dirname(job.out_dir)):
                os.makedirs(os.path.dirname(job.out_dir), exist_ok=True)
                extra["out_dir"] = job.out_dir
        else:
            extra["settings"] = {"dilate": job.dilate}
        job.future = self.client.start_job(
            job.kind,
            session=session.id,
            start=job.first - session.offset,
            stop=job.stop - session.offset,
            progress=self._progress,
            **extra,
        )
        job.future.add_done_callback(lambda f: self._job_ended(job, f))

    def cancel_jobs(self):
        for session in list(self.sessions.values()):
            if session.upload and not session.ready:  # stop sending frames nobody waits for
                session.failed = True
                del self.sessions[session.key]
                if session.id is not None:
                    self.client.send("close_video", session=session.id)
        for job in list(self.jobs):
            job.cancelled = True
            if job.future is not None and not job.future.done():
                job.future.cancel()
            if job.download is not None:
                job.download.discard()
                self._end(job)
                self.report("WARNING", f"{job.kind.capitalize()} cancelled while its results came back")

    def _end(self, job):
        if job in self.jobs:
            self.jobs.remove(job)
        self.progress = None
        _redraw()

    def _progress(self, stage, done, total):
        self.progress = (stage, done, total)
        _redraw(f"Inpainterz {stage}: {done}/{total}")

    def _job_ended(self, job, future):
        error = future.exception()
        if error is not None:
            self._end(job)
            if error.code == "cancelled":
                self.report("WARNING", f"{job.kind.capitalize()} cancelled")
            else:
                self.report("ERROR", f"{job.kind.capitalize()} failed: {_explain(error, self)}")
            return
        result = future.result()
        self._report_entered(job, result.get("objects") or [])
        job.check_frames = [f + job.session.offset for f in result.get("check_frames") or ()]
        job.object_checks = {
            o["object_id"]: [f + job.session.offset for f in o["check_frames"]]
            for o in result.get("objects") or ()
            if o.get("check_frames")
        }
        job.hole_radius = result.get("hole_radius")
        kind = "masks" if job.kind == "track" else "inpainted"
        if os.path.realpath(result.get("out_dir") or "") == os.path.realpath(
            job.out_dir
        ):  # written into the local result folder by the server
            self._place(job, job.out_dir)
            return
        folder = os.path.join(job.out_dir, RECEIVED, kind)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        job.download = Download(job.session, kind, job.first, job.stop, folder)
        self._download_step(job)

    def _report_entered(self, job, objects):
        """Say which objects the track job found entering later (Look Again Every), with their source frame."""
        asked = {o["object_id"] for o in job.objects or ()}
        entered = [o for o in objects if o["object_id"] not in asked and o.get("phrase")]
        if entered:
            names = ", ".join(
                f"{o['phrase']} (object {o['object_id']}, frame {o['first_frame'] + job.session.offset})"
                for o in entered
            )
            self.report("INFO", f"Track found {len(entered)} more object(s) entering later: {names}")

    def _download_step(self, job):
        """Ask for the next frames of a finished job's results; at the end rename them into place."""
        download = job.download
        if download.done or job.cancelled:
            return
        session = download.session
        future = self.client.send(
            "result_frames",
            session=session.id,
            kind=download.kind,
            start=download.next - session.offset,
            count=DOWNLOAD_CHUNK,
        )
        download.in_flight = True

        def received(f):
            download.in_flight = False
            if job.cancelled:
                return
            if f.exception() is not None:
                download.discard()
                self._end(job)
                self.report("ERROR", f"Bringing the {download.kind} back failed: {f.exception().message}")
                return
            reply = f.result()
            for index, data in enumerate(reply["frames"], reply["start"] + session.offset):
                with open(os.path.join(download.scratch, f"{index:06d}.png"), "wb") as out:
                    out.write(data)
            download.next = download.stop if reply["next"] is None else reply["next"] + session.offset
            self.progress = ("download", download.next - download.first, download.stop - download.first)
            _redraw(f"Inpainterz download: {download.next - download.first}/{download.stop - download.first}")
            if reply["next"] is None:
                download.done = True
                frames.replace_folder(download.scratch, download.folder)
                job.download = None
                self._place(job, os.path.join(job.out_dir, RECEIVED))

        future.add_done_callback(received)

    def _place(self, job, results):
        """Put the finished job's frames (in `results`/masks and /inpainted) on the timeline."""
        self._end(job)
        scene = bpy.data.scenes.get(job.scene_name)
        source = _find_strip(job.strip_name, scene)
        if source is None:
            self.report("ERROR", f"The strip {job.strip_name!r} is gone; results are in {results}")
            return
        if geometry.visible_source_range(source) != (job.first, job.stop):
            self.report("WARNING", f"{job.strip_name} was trimmed while the job ran: run it again")
            return
        names = [f"{index:06d}.png" for index in range(job.first, job.stop)]
        masks = [os.path.join(results, "masks", name) for name in names]
        clean = mattes = None
        try:
            if job.kind == "inpaint":
                clean = [os.path.join(results, "inpainted", name) for name in names]
                radii = job.hole_radius
                if not radii or len(radii) != len(names):  # a server that grew every mask by `dilate` alone
                    radii = [job.dilate] * len(names)
                mattes = frames.write_mattes(masks, radii, os.path.join(job.out_dir, "matte"))
            strips.place_results(scene, source, masks, clean, mattes)
        except (ValueError, RuntimeError, OSError) as error:
            self.report("ERROR", f"Could not add the result strips: {error}")
            return
        doubts = ""
        if job.kind == "track":
            runs = strips.mark_frames_to_check(scene, source, job.check_frames, job.object_checks)
            if runs:
                doubts = (
                    f"; {source.inpainterz.frames_to_check} frame(s) to check, marked at {runs} place(s) on the "
                    f"timeline ('check {job.strip_name}'): click the object there and Track again"
                )
        self.report("INFO", f"{job.kind.capitalize()} finished: results in {results}{doubts}")


def find_again(source):
    """The `track` request's text (with the source frame) when the strip asks to look for the Find
    text's objects again while tracking, else None. It carries the boxes the user dropped at Add Found
    (`keep`), so the server does not find them again as new objects; the server tracks them with the
    objects on the Find frame, so they go only when an object has a prompt there."""
    prompts = source.inpainterz
    text = prompts.find_text.strip()
    if prompts.find_every <= 0 or not text or prompts.find_frame < 0:
        return None
    request = {
        "text": text,
        "frame": prompts.find_frame,
        "detect_every": prompts.find_every,
        "box_threshold": prompts.find_threshold,
    }
    keep = [[d.x0, d.y0, d.x1, d.y1] for d in prompts.dropped if d.frame == prompts.find_frame]
    if keep and any(prompts.find_frame in prompt_frames(item) for item in prompts.objects):
        request["keep"] = keep  # at most 255: a Find answers no more boxes
    return request


def prompt_frames(item):
    """The source frames on which object `item` has prompts, in order."""
    return sorted({p.frame for p in item.points} | {b.frame for b in item.boxes})


def prompt_on(item, frame):
    """([[x, y, label], ...], box or None): object `item`'s prompts on `frame`, as the panel shows them."""
    points = [[p.x, p.y, 1 if p.positive else 0] for p in item.points if p.frame == frame]
    box = next(([b.x0, b.y0, b.x1, b.y1] for b in item.boxes if b.frame == frame), None)
    return points, box


def media_path(source):
    """What the server opens for a strip: the movie file, or the image sequence's folder."""
    if source.type == "MOVIE":
        return os.path.normpath(bpy.path.abspath(source.filepath))
    return os.path.normpath(bpy.path.abspath(source.directory))


def _make_client(address, connection_file):
    """A client of `address`, or of the server the connection file names, with its keys (HMAC signing;
    CURVE encryption when the file holds CURVE keys)."""
    if connection_file:
        return remote.Client.from_connection_file(connection_file)
    return remote.Client(address)


def _is_loopback(address):
    host = urllib.parse.urlsplit(address).hostname or ""
    if host == "localhost" or address.startswith(("ipc://", "inproc://")):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fps(source):
    if source.type == "MOVIE":
        return float(source.fps) or 24.0
    scene = source.id_data
    return scene.render.fps / scene.render.fps_base


def _explain(error, connection):
    """The server's message, plus what to do about it in Blender where there is something to do."""
    if error.code != "path_not_allowed":
        return error.message
    if _own_server is not None and _own_server.running:
        return (
            f"{error.message}. Stop Server and Start Local Server again in the Inpainterz panel: it then "
            "allows the folders of every strip and of the results"
        )
    return (
        f"{error.message}. Start the server with that folder allowed, or tick Send frames in the "
        "Inpainterz preferences"
    )


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
