"""Daemon worker threads fed by a queue: a session's serial worker and the small open pool.

Not ``concurrent.futures``: its threads are joined when the interpreter exits, so one
call stuck in the kernel (a FIFO, a dead mount) would keep ``inpainterz serve`` alive
after ``shutdown``. These threads are daemons, end when shut down, and hold nothing
once their queue is drained.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from .security import RateLimitedLog

log = RateLimitedLog(logging.getLogger("inpainterz.server"))

_STOP = object()


class Workers:
    """``count`` daemon threads running submitted calls in order of submission."""

    def __init__(self, count: int, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable, *args) -> None:
        """Queue ``fn(*args)``; RuntimeError once shut down. Exceptions are the caller's to catch inside ``fn``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("workers shut down")
            self._queue.put((fn, args))

    def shutdown(self, last: Callable | None = None) -> None:
        """Run ``last()`` after everything queued so far, then let the threads end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if last is not None:
                self._queue.put((last, ()))
            for _ in self._threads:
                self._queue.put(_STOP)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # fn answers its own errors; this is a last resort that keeps the thread
                log.exception("a worker call crashed", key="worker-crash")
            del item, fn, args  # hold nothing between calls
