"""The ROUTER loop: the one thread that owns the ZeroMQ socket.

It reads a request, checks its signature and channel (replay protection) and its
schema (``protocol.py``), and either answers at once (hello, job_status, cancel, ...)
or hands the work on: a session's frame decoding, embeddings and clicks run in order
on that session's own worker thread (text detection too), ``open_video`` on a small pool, and track/inpaint
on job threads (``jobs.py``). Handlers never touch the socket: they put their replies
in an outbox and wake the loop through an inproc pipe.

Reply guarantee: every readable request gets exactly one reply or error. A reply the
client's connection cannot take yet (ZeroMQ's high-water mark) waits in that client's
own queue, in order, and is sent once the client reads; a client that leaves more than
``MAX_UNREAD`` replies unread gets ``busy`` for each further request, logged. Only a
client that has vanished, or one that reads nothing at all past ``HARD_UNREAD``, loses
messages, and that is logged too.
"""

from __future__ import annotations

import errno
import logging
import secrets
import threading
import time
from collections import deque

import zmq

from inpainterz_core.backends import available_backends
from inpainterz_core.errors import InpainterzError

from . import ops_detect, ops_jobs, ops_video, protocol
from .curve import secure_server
from .jobs import Job, JobRunner
from .protocol import ProtocolError
from .security import AllowedRoots, ChannelGuard, RateLimitedLog
from .sessions import WorkDir
from .state import Request, State
from .workers import Workers

log = logging.getLogger("inpainterz.server")

MAX_BACKLOG = 256  # requests waiting for a worker thread, all sessions together
HARD_UNREAD = 16 * protocol.MAX_UNREAD  # past this a client that reads nothing loses messages (logged)
UNREAD_BYTES = 256 * 1024**2  # like MAX_UNREAD, in bytes of replies waiting for one client

HANDLERS = {
    name: getattr(module, name)
    for module, names in (
        (
            ops_video,
            (
                "hello",
                "open_video",
                "upload_frames",
                "frame",
                "add_object",
                "remove_object",
                "segment",
                "close_video",
                "shutdown",
            ),
        ),
        (ops_detect, ("detect",)),
        (ops_jobs, ("track", "inpaint", "cancel", "job_status", "results", "result_frames")),
    )
    for name in names
}
assert set(HANDLERS) == set(protocol.REQUESTS), "every op in the schema has a handler"

#: Ops answered on the socket thread (fast: no decoding, no model loading); the rest go to workers.
INLINE_OPS = {
    "hello",
    "add_object",
    "remove_object",
    "track",
    "inpaint",
    "cancel",
    "job_status",
    "results",
    "close_video",
    "shutdown",
}


class Server:
    def __init__(
        self,
        address: str,
        *,
        key: bytes | None,
        roots: AllowedRoots,
        work_dir,
        idle_timeout: float = 0.0,
        curve: dict | None = None,
    ):
        self.key = key
        self.roots = AllowedRoots(roots.roots, private=[*roots.private, work_dir])
        self.work = WorkDir(work_dir)
        self.idle_timeout = idle_timeout

        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        self.router.setsockopt(zmq.LINGER, 500)
        self.router.setsockopt(
            zmq.ROUTER_MANDATORY, 1
        )  # a full or gone client is an error, not a silent drop
        self.router.setsockopt(
            zmq.IPV6, int("[" in address)
        )  # off for IPv4, or [::ffff:...] addresses appear
        self._auth = (
            secure_server(self.context, self.router, curve) if curve else None
        )  # encrypted (curve.py)
        try:
            self.router.bind(address)
        except zmq.ZMQError:
            if self._auth is not None:
                self._auth.stop()
            self.context.destroy(linger=0)
            self.work.remove()
            raise
        self.address = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        wake = f"inproc://wake-{secrets.token_hex(4)}"
        self._wake_in = self.context.socket(zmq.PULL)
        self._wake_in.bind(wake)
        self._wake_out = self.context.socket(zmq.PUSH)
        self._wake_out.connect(wake)
        self._outbox: deque[list[bytes]] = deque()
        self._outbox_lock = threading.Lock()
        self._unsent: dict[bytes, _Waiting] = {}  # per client: replies its connection could not take yet

        self.channels = ChannelGuard() if key else None
        self.state = State(
            roots=self.roots,
            work=self.work,
            backends=available_backends(),
            signed=key is not None,
            post=self._post,
            stop=self.stop,
            issue_channel=self.channels.issue if key else lambda: None,
            jobs=JobRunner(self._job_event),
        )
        self._pool = Workers(2, "open")
        self._backlog = 0
        self._backlog_lock = threading.Lock()
        self._stop = threading.Event()
        self._last_activity = time.monotonic()
        self._log = RateLimitedLog(log)

    # -- the loop -----------------------------------------------------------------------------------

    def serve(self) -> None:
        """Answer requests until ``stop()``, a ``shutdown`` request, or the idle timeout."""
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._wake_in, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(10 if self._unsent else 250))
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
                if (
                    self.idle_timeout
                    and not self.state.jobs.active()
                    and time.monotonic() - self._last_activity > self.idle_timeout
                ):
                    log.info("no requests for %g s: exiting (--idle-timeout)", self.idle_timeout)
                    break
        finally:
            self._close()

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()

    def _close(self) -> None:
        jobs = self.state.jobs
        jobs.cancel_all()
        jobs.join(timeout=5.0)
        with self.state.lock:
            sessions, self.state.sessions = list(self.state.sessions.values()), {}
        for session in sessions:
            self.state.close_session(session)
        self._pool.shutdown()
        deadline = time.monotonic() + 1.0  # the shutdown reply, and what clients are reading right now
        while time.monotonic() < deadline:
            self._flush()
            if not self._unsent:
                break
            time.sleep(0.01)
        if self._auth is not None:
            self._auth.stop()
        self.context.destroy(linger=500)
        for session in sessions:
            session.worker.join(timeout=2.0)
        self.work.remove()
        log.info("server stopped")

    # -- reading ------------------------------------------------------------------------------------

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self._log.warning(
                f"dropped a message of {len(frames) - 1} frames (expected signature and payload)",
                key="frames",
            )
            return
        identity, signature, payload = frames
        if self.key is not None and not protocol.verify(self.key, payload, signature):
            self._log.warning("dropped a message with a missing or wrong signature", key="signature")
            return
        self._last_activity = time.monotonic()
        try:
            envelope = protocol.parse_request(protocol.unpack(payload))
        except ProtocolError as e:
            self._answer(identity, e.request_id, e.op, e)
            return
        request = Request(identity, envelope.id, envelope.op, envelope.channel)
        try:
            self._check_channel(envelope)
            waiting = self._unsent.get(identity)
            unread = len(waiting) if waiting is not None else 0
            if unread >= protocol.MAX_UNREAD or waiting is not None and waiting.bytes >= UNREAD_BYTES:
                self._log.warning(
                    f"refused requests of a client with {unread} replies unread (busy)", key="unread"
                )
                raise ProtocolError(
                    "busy", f"{unread} replies are waiting to be read: read them before sending more"
                )
        except ProtocolError as e:
            self._answer(identity, envelope.id, envelope.op, e)
            return
        except _Replayed:
            self._log.warning(
                "dropped a replayed message (its channel's sequence number was used)", key="replay"
            )
            return
        if envelope.op in INLINE_OPS:
            self._handle(request, envelope.body)
            return
        try:
            worker = (
                self._pool
                if envelope.op == "open_video"
                else self.state.session(envelope.body["session"]).worker
            )
            with self._backlog_lock:
                if self._backlog >= MAX_BACKLOG:
                    raise ProtocolError("busy", "the server is busy: too many requests are waiting")
                self._backlog += 1
            try:
                worker.submit(self._handle_queued, request, envelope.body)
            except RuntimeError:  # the session's worker was shut down by close_video in the meantime
                with self._backlog_lock:
                    self._backlog -= 1
                raise ProtocolError("not_found", "the session was closed") from None
        except ProtocolError as e:
            self._answer(identity, envelope.id, envelope.op, e)

    def _check_channel(self, envelope: protocol.Envelope) -> None:
        """Signed requests name a channel of this run with a growing seq; only hello may come without."""
        if self.channels is None:
            return
        if envelope.channel is None:
            if envelope.op != "hello":
                raise ProtocolError(
                    "expired",
                    "a signed request carries this server run's channel: say hello "
                    "first (a server that restarted forgets the old ones)",
                )
            return
        verdict = self.channels.check(envelope.channel, envelope.seq)
        if verdict == "replayed":
            raise _Replayed
        if verdict == "expired":
            raise ProtocolError("expired", "this channel is not one of this server run's: say hello again")

    def _handle_queued(self, request: Request, body: dict) -> None:
        with self._backlog_lock:
            self._backlog -= 1
        self._handle(request, body)

    def _handle(self, request: Request, body: dict) -> None:
        """Run the op's handler and answer: its reply, or one error line the user can act on."""
        try:
            result = HANDLERS[request.op](self.state, request, body)
        except (ProtocolError, InpainterzError) as e:
            self._answer(request.identity, request.id, request.op, e)
        except Exception as e:  # a bug: the traceback goes to the log (throttled), the client gets one line
            self._log.exception(f"{request.op} crashed", key=f"crash-{request.op}")
            self._post(
                request.identity,
                protocol.error(
                    request.id,
                    request.op,
                    "internal",
                    f"{request.op} crashed ({type(e).__name__}): see the server log",
                ),
            )
        else:
            if result is not None:  # None: the handler answered itself (a job's accepted reply)
                self._post(request.identity, protocol.reply(request.id, request.op, result))

    def _answer(self, identity: bytes, request_id, op, e: Exception) -> None:
        code = e.code if getattr(e, "code", None) in protocol.ERROR_CODES else "bad_input"
        message = e.message if isinstance(e, ProtocolError) else str(e)
        self._post(identity, protocol.error(request_id, op, code, message))

    # -- writing ------------------------------------------------------------------------------------

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
        """Send what is queued: first each client's waiting replies, then the outbox, in order per client."""
        for identity in list(self._unsent):
            waiting = self._unsent[identity]
            while waiting and self._send(waiting[0]):
                waiting.pop()
            if not waiting:
                del self._unsent[identity]
        while True:
            with self._outbox_lock:
                if not self._outbox:
                    return
                frames = self._outbox.popleft()
            waiting = self._unsent.get(frames[0])
            if waiting is None and self._send(frames):
                continue
            if waiting is None:
                waiting = self._unsent[frames[0]] = _Waiting()
            if len(waiting) >= HARD_UNREAD:
                self._log.warning(
                    f"dropped replies to a client that has read none of its last {HARD_UNREAD}",
                    key="hard-unread",
                )
                continue
            waiting.push(frames)

    def _send(self, frames: list[bytes]) -> bool:
        """Send now; False if the client's connection is full (try again later). A gone client's are dropped."""
        try:
            self.router.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as e:
            if e.errno != errno.EHOSTUNREACH:
                raise
            self._log.warning("dropped a reply to a client that has disconnected", key="gone")
        return True

    def _job_event(self, job: Job, op: str, body: dict) -> None:
        self._last_activity = time.monotonic()  # a job that just ended counts as use
        self._post(job.owner, protocol.event(job.request_id, op, body))


class _Waiting:
    """One client's replies waiting for its connection to take them, in order, with their size."""

    def __init__(self):
        self._messages: deque[list[bytes]] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, index: int) -> list[bytes]:
        return self._messages[index]

    def push(self, frames: list[bytes]) -> None:
        self._messages.append(frames)
        self.bytes += sum(len(f) for f in frames)

    def pop(self) -> None:
        """Forget the oldest (it was sent)."""
        self.bytes -= sum(len(f) for f in self._messages.popleft())


class _Replayed(Exception):
    """A signed request whose seq was already used on its channel: dropped without a reply."""
