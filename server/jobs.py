"""Long jobs (track, inpaint) on their own threads, so the socket thread keeps answering.

A job runs ``work(job, progress)`` in a thread; ``work`` reports through ``progress``
(the pipeline's ``(stage, done, total)`` callback) and watches ``job.cancel``
(a ``threading.Event``; the pipeline raises ``Cancelled`` soon after it is set).
Jobs wait for a free slot in state ``queued``, so one GPU is not shared by two
jobs. Every state change reaches the job's client as an event via ``post``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from inpainterz_core.errors import Cancelled, InpainterzError

from .protocol import ERROR_CODES, MAX_QUEUED_JOBS, ProtocolError
from .security import RateLimitedLog

log = logging.getLogger("inpainterz.server")

PROGRESS_INTERVAL = 0.05  # seconds between progress events of one job
KEEP_ENDED = 256  # ended jobs remembered for job_status


@dataclass
class Job:
    kind: str  # track | inpaint
    session: str
    owner: bytes  # ZeroMQ identity of the client that started it: events go there
    request_id: str
    work: (
        Callable[[Job, Callable[[str, int, int], None]], dict] | None
    )  # (job, progress) -> results; None once ended
    id: str = field(default_factory=lambda: "j" + secrets.token_hex(8))
    state: str = "queued"
    stage: str = ""
    done: int = 0
    total: int = 0
    error: dict | None = None
    results: dict | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    _last_progress: float = 0.0

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def status(self) -> dict:
        return {
            "job": self.id,
            "kind": self.kind,
            "session": self.session,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "error": self.error,
        }


class JobRunner:
    """Starts, tracks, cancels and forgets jobs. ``post(job, event_op, body)`` sends an event."""

    def __init__(self, post: Callable[[Job, str, dict], None], slots: int = 1):
        self._post = post
        self._log = RateLimitedLog(log)
        self._slots = threading.Semaphore(slots)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        """Register a job (state ``queued``); ``busy`` if too many are waiting already."""
        with self._lock:
            if sum(j.active for j in self._jobs.values()) >= MAX_QUEUED_JOBS:
                raise ProtocolError("busy", f"{MAX_QUEUED_JOBS} jobs are already queued or running")
            self._jobs[job.id] = job
            ended = [j.id for j in self._jobs.values() if not j.active]
            for old in ended[: max(0, len(ended) - KEEP_ENDED)]:
                del self._jobs[old]

    def start(self, job: Job) -> None:
        """Start an added job's thread (after its client has been told the job id)."""
        thread = threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True)
        with self._lock:
            self._threads[job.id] = thread
        thread.start()

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ProtocolError("not_found", f"no job {job_id[:64]!r}")
        return job

    def active(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.active]

    def cancel_all(self, session: str | None = None) -> None:
        for job in self.active():
            if session is None or job.session == session:
                job.cancel.set()

    def join(self, timeout: float) -> None:
        """Wait for running jobs to end (after ``cancel_all``), at most ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, job: Job) -> None:
        try:
            while not self._slots.acquire(timeout=0.1):
                if job.cancel.is_set():
                    self._end(job, "cancelled")
                    return
            try:
                if job.cancel.is_set():
                    raise Cancelled("cancelled while queued")
                job.state = "running"
                job.results = job.work(
                    job, lambda stage, done, total: self._progress(job, stage, done, total)
                )
                self._end(job, "finished")
            finally:
                self._slots.release()
        except Cancelled:
            self._end(job, "cancelled")
        except (InpainterzError, ProtocolError) as e:
            code = e.code if e.code in ERROR_CODES else "bad_input"
            self._end(job, "failed", {"code": code, "message": str(e)})
        except Exception as e:  # a bug: keep the traceback in the log (throttled), give the client one line
            self._log.exception(f"job {job.id} ({job.kind}) crashed", key=f"crash-{job.kind}")
            self._end(
                job,
                "failed",
                {
                    "code": "internal",
                    "message": f"{job.kind} crashed ({type(e).__name__}): see the server log",
                },
            )
        finally:
            job.work = None  # the closure holds the session's video, segmenter and prompts: let them go
            with self._lock:
                self._threads.pop(job.id, None)

    def _progress(self, job: Job, stage: str, done: int, total: int) -> None:
        """Progress of ``job``: throttled events, always including the last one."""
        job.stage, job.done, job.total = stage, int(done), int(total)
        now = time.monotonic()
        if done >= total or now - job._last_progress >= PROGRESS_INTERVAL:
            job._last_progress = now
            self._post(job, "progress", {"job": job.id, "stage": stage, "done": job.done, "total": job.total})

    def _end(self, job: Job, state: str, error: dict | None = None) -> None:
        job.state, job.error = state, error
        self._log.info(
            f"job {job.id} ({job.kind}) {state}" + (f": {error['message']}" if error else ""),
            key=f"end-{state}",
        )
        body = {"job": job.id, "kind": job.kind}
        if state == "finished":
            self._post(job, "job_finished", {**body, "results": job.results})
        elif state == "failed":
            self._post(job, "job_failed", {**body, **error})
        else:
            self._post(job, "job_cancelled", body)
