"""A pure-Python client for the Inpainterz server: pyzmq and msgpack, nothing else.

The Blender add-on bundles this file with ``protocol.py``. Blender's UI thread must
never block, so every request returns a ``Future`` at once and ``Client.poll()``
reads whatever replies and events have arrived, without waiting; the add-on calls
it from a timer. Scripts and tests use the blocking helpers (``hello()``,
``segment()``, ...), which send a request and pump ``poll()`` until its reply.

A ``Client`` is not thread-safe: use it from one thread.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable

import zmq

from . import curve as _curve
from . import protocol

Progress = Callable[[str, int, int], None]


class ServerError(Exception):
    """An error reply (or a failed or cancelled job): ``code`` is machine-readable, the text is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Future:
    """The reply to one request: ``done()``, ``result(timeout)``, ``add_done_callback(fn)``."""

    def __init__(self, client: Client, op: str):
        self._client = client
        self.op = op
        self._done = False
        self._result: dict | None = None
        self._error: ServerError | None = None
        self._callbacks: list[Callable[[Future], None]] = []
        self._request: tuple[str, dict] | None = None  # (op, body), to resend after `expired`
        self._request_id: str | None = None  # the id it was last sent under
        self._resent = False

    def done(self) -> bool:
        return self._done

    def result(self, timeout: float | None = None) -> dict:
        """The reply body; raises ServerError for an error reply, TimeoutError if none came in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            left = 0.05 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                self.withdraw()
                raise TimeoutError(f"no answer to {self.op} within {timeout:g} s: is the server running?")
            self._client.poll(min(left, 0.05))
        if self._error is not None:
            raise self._error
        return self._result

    def withdraw(self) -> None:
        """Say nobody waits for this any more: a request still in the client's outbox (no connection has
        taken it) is dropped, so a server that comes back later never runs it."""
        self._client._withdraw(self)

    def exception(self) -> ServerError | None:
        return self._error

    def add_done_callback(self, fn: Callable[[Future], None]) -> None:
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def _finish(self, result: dict | None = None, error: ServerError | None = None) -> None:
        self._done, self._result, self._error = True, result, error
        for fn in self._callbacks:
            fn(self)
        self._callbacks.clear()


class JobFuture(Future):
    """A track or inpaint job: resolves with its ``results`` when it finishes.

    ``job_id`` and ``out_dir`` are set once the server has accepted the job;
    ``progress(stage, done, total)`` is called from ``poll()`` as events arrive.
    A failed job raises ServerError from ``result()``; a cancelled one raises it
    with code ``"cancelled"``.
    """

    def __init__(self, client: Client, op: str, progress: Progress | None):
        super().__init__(client, op)
        self.progress = progress
        self.job_id: str | None = None
        self.out_dir: str | None = None
        self.state = "starting"
        self._cancel_asked = False

    def cancel(self) -> None:
        """Ask the server to cancel the job (sent as soon as the job id is known)."""
        self._cancel_asked = True
        if self.job_id is not None and not self._done:
            self._client.send("cancel", job=self.job_id)

    def _accepted(self, body: dict) -> None:
        self.job_id, self.out_dir, self.state = body["job"], body.get("out_dir"), "queued"
        if self._cancel_asked:
            self.cancel()

    def _event(self, op: str, body: dict) -> None:
        if op == "progress":
            self.state = "running"
            if self.progress is not None:
                self.progress(body.get("stage", ""), body.get("done", 0), body.get("total", 0))
        elif op == "job_finished":
            self.state = "finished"
            self._finish(body.get("results", {}))
        elif op == "job_failed":
            self.state = "failed"
            self._finish(
                error=ServerError(body.get("code", "internal"), body.get("message", "the job failed"))
            )
        elif op == "job_cancelled":
            self.state = "cancelled"
            self._finish(error=ServerError("cancelled", f"job {self.job_id} was cancelled"))


class Client:
    """One DEALER connection to a server.

    ``key`` is the shared HMAC key (bytes) when the server was started with a
    connection file, and ``curve`` its CURVE keys (``curve.py``) when it has them; use
    ``Client.from_connection_file(path)`` to read all three.
    """

    def __init__(
        self,
        address: str = protocol.DEFAULT_ADDRESS,
        key: bytes | None = None,
        *,
        timeout: float = 60.0,
        context: zmq.Context | None = None,
        curve: dict | None = None,
    ):
        self.address = address
        self.key = key or None
        self.timeout = timeout  # for the blocking helpers
        self._socket = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, 4 * protocol.MAX_MESSAGE_BYTES)
        if curve:
            _curve.secure_client(self._socket, curve)
        self._socket.connect(address)
        self._prefix = secrets.token_hex(3)
        self._counter = 0
        self._channel: str | None = None  # signed servers: this run's channel, from a hello reply
        self._seq = 0
        self._hello_at = -float("inf")
        self._waiting: list[tuple[str, dict, Future]] = []  # signed requests held until a channel arrives
        self._pending: dict[str, Future] = {}
        # Requests zmq would not take without blocking: its queue is full, or it has no connection
        # to queue them on (a refused CURVE handshake left none, and a blocking send waited forever).
        self._outbox: deque[tuple[str, list[bytes]]] = deque()  # (request id, frames)
        self._jobs: dict[str, JobFuture] = {}
        #: Messages dropped because their signature was wrong or they were unreadable.
        self.dropped = 0

    @classmethod
    def from_connection_file(cls, path: str | os.PathLike, **kwargs) -> Client:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        return cls(info["address"], info["key"].encode("utf-8"), curve=info.get("curve"), **kwargs)

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- non-blocking core ---------------------------------------------------------------------------

    def send(self, op: str, **body) -> Future:
        """Send a request and return its Future at once. Bad fields raise ProtocolError before sending."""
        return self._send(op, body, Future(self, op))

    def start_job(self, op: str, *, progress: Progress | None = None, **body) -> JobFuture:
        """Start a track or inpaint job; the returned JobFuture resolves when the job ends."""
        if op not in protocol.JOB_OPS:
            raise ValueError(f"{op} is not a job op: use one of {', '.join(protocol.JOB_OPS)}")
        return self._send(op, body, JobFuture(self, op, progress))

    def poll(self, timeout: float = 0.0) -> int:
        """Send what waits in the outbox, then handle every reply and event that has arrived.

        Waits up to ``timeout`` seconds for the first message and returns how many were read.
        Blender calls this with timeout 0 from a timer.
        """
        deadline = time.monotonic() + timeout
        count = 0
        while True:
            self._flush_outbox()
            wait_ms = 0 if count else max(0, round((deadline - time.monotonic()) * 1000))
            events = self._socket.poll(wait_ms, zmq.POLLIN | (zmq.POLLOUT if self._outbox else 0))
            if events & zmq.POLLIN:
                self._receive(self._socket.recv_multipart(zmq.NOBLOCK))
                count += 1
            elif not events or time.monotonic() >= deadline:
                return count
            # else room for the outbox only: hand it over, then wait on

    def _send(self, op: str, body: dict, future: Future) -> Future:
        body = {k: _plain(v) for k, v in body.items() if v is not None}
        protocol.validate_body(op, body)
        future._request = (op, body)
        if self.key and self._channel is None and op != "hello":
            # A signed server accepts only requests on a channel of its current run (replay protection):
            # hold this one until the hello reply brings the channel.
            self._waiting.append((op, body, future))
            if time.monotonic() - self._hello_at > 1.0:  # none asked yet, or its answer is late: ask (again)
                self._hello_at = time.monotonic()
                self._transmit("hello", {}, Future(self, "hello"))
            return future
        return self._transmit(op, body, future)

    def _transmit(self, op: str, body: dict, future: Future) -> Future:
        self._counter += 1
        request_id = f"{self._prefix}-{self._counter}"
        self._pending[request_id] = future
        channel = seq = None
        if self.key and self._channel is not None:
            self._seq += 1
            channel, seq = self._channel, self._seq
        envelope = protocol.request(request_id, op, body, channel, seq)
        future._request_id = request_id
        self._outbox.append((request_id, protocol.pack(envelope, self.key)))
        self._flush_outbox()
        return future

    def _flush_outbox(self) -> None:
        """Hand zmq what it takes without blocking; the rest waits for a connection, in order."""
        while self._outbox:
            try:
                self._socket.send_multipart(self._outbox[0][1], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._outbox.popleft()

    def _withdraw(self, future: Future) -> None:
        """``future.withdraw()``: if its request has not left yet, it never will."""
        if any(request_id == future._request_id for request_id, _ in self._outbox):
            self._outbox = deque(item for item in self._outbox if item[0] != future._request_id)
            self._pending.pop(future._request_id, None)
        self._waiting = [item for item in self._waiting if item[2] is not future]

    def _adopt_channel(self, channel: str) -> None:
        """A hello reply named this run's channel: send what waited for it."""
        if self._channel != channel:
            self._channel, self._seq = channel, 0
        waiting, self._waiting = self._waiting, []
        for op, body, future in waiting:
            self._transmit(op, body, future)

    def _expired(self, future: Future) -> bool:
        """The server did not know our channel (it restarted): say hello again and resend once."""
        self._channel = None
        self._hello_at = -float("inf")  # a hello sent before was to the old run: ask the new one now
        if getattr(future, "_resent", False) or future._request is None:
            return False
        future._resent = True
        op, body = future._request
        self._send(op, body, future)
        return True

    def _receive(self, frames: list[bytes]) -> None:
        if len(frames) != 2 or not protocol.verify(self.key, frames[1], frames[0]):
            self.dropped += 1
            return
        try:
            message = protocol.unpack(frames[1], trusted=True)
            kind, request_id, op, body = message["kind"], message["id"], message["op"], message["body"]
        except (protocol.ProtocolError, KeyError, TypeError):
            self.dropped += 1
            return
        if kind == "event":
            job = self._jobs.get(body.get("job"))
            if job is not None:
                job._event(op, body)
                if job.done():
                    del self._jobs[job.job_id]
            return
        if kind == "reply" and op == "hello" and self.key and isinstance(body, dict) and body.get("channel"):
            self._adopt_channel(body["channel"])
        future = self._pending.pop(request_id, None)
        if future is None:  # the answer to a request nobody waits for any more (e.g. an old health check)
            return
        if (
            kind == "error"
            and isinstance(body, dict)
            and body.get("code") == "expired"
            and self._expired(future)
        ):
            return
        if kind == "error":
            future._finish(error=ServerError(body.get("code", "internal"), body.get("message", "")))
        elif isinstance(future, JobFuture):
            future._accepted(body)
            self._jobs[future.job_id] = future
        else:
            future._finish(body)

    # -- blocking helpers ----------------------------------------------------------------------------

    def call(self, op: str, timeout: float | None = None, **body) -> dict:
        """Send a request and wait for its reply body (ServerError on an error reply)."""
        return self.send(op, **body).result(self.timeout if timeout is None else timeout)

    def health(self, timeout: float = 1.0) -> dict | None:
        """The ``hello`` reply if a server answers within ``timeout`` seconds, else None."""
        try:
            return self.call("hello", timeout=timeout)
        except (TimeoutError, ServerError):
            return None

    def hello(self) -> dict:
        return self.call("hello")

    def open_video(self, path: str, settings: dict | None = None) -> dict:
        """Open a video file or image folder on the server's machine; returns the session's description."""
        return self.call("open_video", path=path, settings=settings)

    def upload_video(
        self,
        frames: Iterable[bytes],
        width: int,
        height: int,
        frame_count: int,
        fps: float,
        settings: dict | None = None,
        chunk: int = 16,
    ) -> dict:
        """Upload PNG-encoded frames to a remote server, in chunks; returns the opened session."""
        upload = {"width": width, "height": height, "frame_count": frame_count, "fps": float(fps)}
        session = self.call("open_video", upload=upload, settings=settings)
        batch, state = [], {"received": 0, "ready": False}
        for png in frames:
            batch.append(png)
            if len(batch) == chunk:
                state = self.call(
                    "upload_frames", session=session["session"], start=state["received"], frames=batch
                )
                batch = []
        if batch:
            state = self.call(
                "upload_frames", session=session["session"], start=state["received"], frames=batch
            )
        return {**session, "ready": state["ready"]}

    def frame(self, session: str, frame: int, max_side: int = 1024, format: str = "jpeg") -> dict:
        return self.call("frame", session=session, frame=frame, max_side=max_side, format=format)

    def add_object(self, session: str) -> int:
        return self.call("add_object", session=session)["object_id"]

    def segment(self, session: str, object_id: int, frame: int, points: Iterable = (), box=None) -> dict:
        """The object's mask (RLE) for every click on it on this frame; see ``rle_decode``."""
        return self.call(
            "segment",
            session=session,
            object_id=object_id,
            frame=frame,
            points=[list(p) for p in points],
            box=box,
        )

    def detect(
        self,
        session: str,
        frame: int,
        text: str,
        *,
        box_threshold: float | None = None,
        text_threshold: float | None = None,
        settings: dict | None = None,
    ) -> dict:
        """The boxes that ``text`` (phrases separated by ".") finds on the frame, best first, and the
        phrases that found nothing (``missing``); keep one by segmenting a new object with its box."""
        return self.call(
            "detect",
            session=session,
            frame=frame,
            text=text,
            box_threshold=box_threshold,
            text_threshold=text_threshold,
            settings=settings,
        )

    def remove_object(self, session: str, object_id: int) -> dict:
        return self.call("remove_object", session=session, object_id=object_id)

    def track(
        self,
        session: str,
        start: int | None = None,
        stop: int | None = None,
        *,
        settings: dict | None = None,
        out_dir: str | None = None,
        objects: list[dict] | None = None,
        text: dict | None = None,
        progress: Progress | None = None,
    ) -> JobFuture:
        """Track the session's clicked objects, or exactly ``objects`` (each ``{object_id, frame, points, box}``,
        the prompts as the client shows them) when given. ``text`` (``{text, frame, detect_every}``, optional
        ``box_threshold``, ``text_threshold``) looks for more objects so named every ``detect_every`` frames."""
        return self.start_job(
            "track",
            progress=progress,
            session=session,
            start=start,
            stop=stop,
            settings=settings,
            out_dir=out_dir,
            objects=objects,
            text=text,
        )

    def inpaint(
        self,
        session: str,
        start: int | None = None,
        stop: int | None = None,
        *,
        settings: dict | None = None,
        progress: Progress | None = None,
    ) -> JobFuture:
        return self.start_job(
            "inpaint", progress=progress, session=session, start=start, stop=stop, settings=settings
        )

    def cancel(self, job: str) -> dict:
        return self.call("cancel", job=job)

    def job_status(self, job: str) -> dict:
        return self.call("job_status", job=job)

    def results(self, session: str) -> dict:
        return self.call("results", session=session)

    def download(
        self,
        session: str,
        kind: str,
        folder: str | os.PathLike,
        progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Copy the session's last finished ``kind`` ("masks" or "inpainted") into ``folder`` as
        %06d.png files, byte for byte, for a client on another machine; returns the folder.

        The frames land in a scratch folder beside ``folder`` that is renamed at the end, so an
        interrupted download never looks complete; an existing non-empty ``folder`` is refused.
        """
        if kind not in ("masks", "inpainted"):
            raise ValueError(f"kind must be masks or inpainted, not {kind!r}")
        folder = os.fspath(folder)
        if os.path.isfile(folder) or (os.path.isdir(folder) and os.listdir(folder)):
            raise FileExistsError(f"{folder} exists: download into a new or empty folder")
        frame_range = self.results(session)["mask_range" if kind == "masks" else "inpaint_range"]
        if frame_range is None:
            raise ServerError("not_ready", f"no finished {kind} in this session yet")
        first, stop = frame_range
        scratch = f"{folder.rstrip(os.sep)}.partial-{secrets.token_hex(4)}"
        os.makedirs(scratch)
        try:
            index = first
            while index is not None:
                reply = self.call("result_frames", session=session, kind=kind, start=index)
                for i, data in enumerate(reply["frames"], reply["start"]):
                    with open(os.path.join(scratch, f"{i:06d}.png"), "wb") as f:
                        f.write(data)
                index = reply["next"]
                if progress is not None:
                    progress((stop if index is None else index) - first, stop - first)
            if os.path.isdir(folder):
                os.rmdir(folder)  # empty, checked above
            os.rename(scratch, folder)
        except BaseException:
            for name in os.listdir(scratch):
                os.remove(os.path.join(scratch, name))
            os.rmdir(scratch)
            raise
        return folder

    def close_video(self, session: str) -> dict:
        return self.call("close_video", session=session)

    def shutdown(self) -> dict:
        return self.call("shutdown")


def _plain(value):
    """Tuples to lists, recursively: msgpack sends both as arrays, and the schema checks for lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def rle_decode(rle: dict) -> bytes:
    """A mask's RLE as ``h * w`` bytes of 0 and 1, row-major, without numpy."""
    h, w = rle["size"]
    counts = rle["counts"]
    if any(c < 0 for c in counts) or sum(counts) != h * w:
        raise ValueError(f"run-length mask does not add up to {h}x{w} pixels")
    return b"".join((b"\x01" if i % 2 else b"\x00") * c for i, c in enumerate(counts))


def ensure_local_server(
    command: list[str],
    address: str = protocol.DEFAULT_ADDRESS,
    *,
    timeout: float = 30.0,
    log_path: str | os.PathLike | None = None,
    env: dict | None = None,
) -> subprocess.Popen | None:
    """Start ``command`` (an ``inpainterz serve --bind ADDRESS ...`` line) unless a server already answers there.

    Waits until the new server answers ``hello``. Returns the started process, or
    None when a server was already running. Pass ``--idle-timeout`` in the command
    so a server started this way exits once it is no longer used.
    """
    with Client(address) as client:
        if client.health(timeout=0.5) is not None:
            return None
    log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
        )
    finally:
        if log_path is not None:
            log.close()
    deadline = time.monotonic() + timeout
    with Client(address) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the server exited at start with code {process.returncode}"
                    + (f": see {log_path}" if log_path else "")
                )
            if client.health(timeout=0.5) is not None:
                return process
    process.terminate()
    raise TimeoutError(f"the server did not answer on {address} within {timeout:g} s")
