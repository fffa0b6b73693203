"""Jobs: long operations with progress, status, cancellation and a time limit.

A :class:`Job` is a small, thread-safe state record; :class:`JobRegistry` owns every job of the node
and runs each job's function in its own thread (the job thread does orchestration only; chunk work
goes to the compute pool through the task runtime).

State machine: ``CREATED -> RUNNING -> DONE | FAILED | CANCELLED``. Cancellation is cooperative:
``cancel()`` sets a flag and the job function notices it at its next ``job.check()`` (the task
runtime calls it between chunk maps, so within one chunk's time). A job function that raises leaves
no output: producers (the frame builder) abort on any exception, so a FAILED or CANCELLED job never
has a registered result.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable

from ..errors import JobCancelled, JobNotFound, JobTimeout, ShoalError

__all__ = ["Job", "JobRegistry", "JobStatus", "CREATED", "RUNNING", "DONE", "FAILED", "CANCELLED",
           "TERMINAL", "now_ms"]

log = logging.getLogger(__name__)

CREATED = "CREATED"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
JobStatus = (CREATED, RUNNING, DONE, FAILED, CANCELLED)
TERMINAL = frozenset({DONE, FAILED, CANCELLED})


def now_ms() -> int:
    return int(time.time() * 1000)


class Job:
    """One long operation.

    Parameters
    ----------
    key : str
        Unique job key (``job_<hex>``).
    kind : str
        What the job does (``parse``, ``upload``, ``train``...).
    description : str
        One line for people ("Parse flights.csv").
    dest : str, optional
        Key of the object the job creates.
    max_runtime_secs : float
        Time limit; 0 means none.
    """

    def __init__(self, key: str, kind: str, description: str, dest: str | None = None,
                 max_runtime_secs: float = 0.0):
        self.key = key
        self.kind = kind
        self.description = description
        self.dest = dest
        self.max_runtime_secs = float(max_runtime_secs or 0.0)
        self.status = CREATED
        self.progress = 0.0
        self.message = ""
        self.error: dict[str, Any] | None = None
        self.result: Any = None
        self.created_ms = now_ms()
        self.started_ms: int | None = None
        self.ended_ms: int | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._on_cancel: list[Callable[[], None]] = []
        self._on_done: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ used by job functions
    def update(self, progress: float | None = None, message: str | None = None) -> None:
        """Report progress (clamped to 0..1, never going backwards) and/or a status message."""
        with self._lock:
            if progress is not None:
                p = float(progress)
                if p == p:  # not NaN
                    self.progress = max(self.progress, min(1.0, max(0.0, p)))
            if message is not None:
                self.message = str(message)

    def check(self) -> None:
        """Raise :class:`JobCancelled` if cancel was asked, :class:`JobTimeout` past the time limit."""
        if self._cancel.is_set():
            raise JobCancelled(f"Job `{self.key}` ({self.description}) was cancelled.", {"job": self.key})
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise JobTimeout(f"Job `{self.key}` ({self.description}) passed its max_runtime_secs of "
                             f"{self.max_runtime_secs:g} s; it was stopped and left no output. "
                             f"Raise max_runtime_secs or set it to 0 for no limit.",
                             {"job": self.key, "max_runtime_secs": self.max_runtime_secs})

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def on_cancel(self, fn: Callable[[], None]) -> None:
        """Register a callback run (in the cancelling thread) when cancel is asked."""
        with self._lock:
            self._on_cancel.append(fn)
        if self._cancel.is_set():
            _safe_call(fn)

    def on_done(self, fn: Callable[[], None]) -> None:
        """Register a callback run once when the job ends (in the finishing thread; at once when it
        has already ended). An HTTP handler uses it to wake its event loop instead of polling."""
        with self._lock:
            if not self._done.is_set():
                self._on_done.append(fn)
                return
        _safe_call(fn)

    # ------------------------------------------------------------------ control
    def cancel(self) -> bool:
        """Ask the job to stop. Returns False when the job had already finished."""
        with self._lock:
            if self.status in TERMINAL:
                return False
            self._cancel.set()
            callbacks = list(self._on_cancel)
        for fn in callbacks:
            _safe_call(fn)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True when it ended within ``timeout``."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # ------------------------------------------------------------------ transitions (registry only)
    def _start(self) -> None:
        with self._lock:
            self.status = RUNNING
            self.started_ms = now_ms()
            if self.max_runtime_secs > 0:
                self._deadline = time.monotonic() + self.max_runtime_secs

    def _finish(self, status: str, error: ShoalError | None = None) -> None:
        with self._lock:
            self.status = status
            self.ended_ms = now_ms()
            if status == DONE:
                self.progress = 1.0
                if not self.message:
                    self.message = "done"
            if error is not None:
                self.error = error.to_wire()["error"]
                self.message = error.message
            self._done.set()
            callbacks, self._on_done = self._on_done, []
        for fn in callbacks:
            _safe_call(fn)

    def to_wire(self) -> dict[str, Any]:
        """The JSON shape of a job (docs/api.md, ``Job``)."""
        with self._lock:
            return {
                "key": self.key,
                "kind": self.kind,
                "description": self.description,
                "status": self.status,
                "progress": round(self.progress, 6),
                "message": self.message,
                "dest": self.dest,
                "error": dict(self.error) if self.error else None,
                "created_ms": self.created_ms,
                "started_ms": self.started_ms,
                "ended_ms": self.ended_ms,
                "cancel_requested": self._cancel.is_set(),
                "max_runtime_secs": self.max_runtime_secs,
            }

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Job({self.key!r}, {self.kind!r}, {self.status})"


def _safe_call(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - a failing cancel hook must not stop the cancel
        log.exception("job callback failed")


class JobRegistry:
    """Every job of this node; runs each job in its own thread.

    Parameters
    ----------
    max_finished : int
        How many finished jobs to remember (oldest forgotten first).
    """

    def __init__(self, max_finished: int = 1000):
        self.max_finished = int(max_finished)
        self._jobs: "OrderedDict[str, Job]" = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def create(self, kind: str, description: str, dest: str | None = None,
               max_runtime_secs: float = 0.0) -> Job:
        """Register a job in CREATED state without running it (see :meth:`run`)."""
        job = Job("job_" + uuid.uuid4().hex[:16], kind, description, dest, max_runtime_secs)
        with self._lock:
            self._jobs[job.key] = job
            self._trim()
        return job

    def start(self, kind: str, description: str, fn: Callable[[Job], Any],
              max_runtime_secs: float = 0.0, dest: str | None = None) -> Job:
        """Create a job and run ``fn(job)`` in a new job thread; returns immediately."""
        job = self.create(kind, description, dest, max_runtime_secs)
        self.run(job, fn)
        return job

    def run(self, job: Job, fn: Callable[[Job], Any]) -> None:
        """Run ``fn(job)`` for a job made by :meth:`create`, in a new job thread."""
        thread = threading.Thread(target=self._body, args=(job, fn), name=f"shoal-{job.key}", daemon=True)
        thread.start()

    def _body(self, job: Job, fn: Callable[[Job], Any]) -> None:
        job._start()
        try:
            job.check()
            job.result = fn(job)
        except JobCancelled as exc:
            job._finish(CANCELLED, exc)
        except ShoalError as exc:
            if job.cancel_requested and not isinstance(exc, JobTimeout):
                job._finish(CANCELLED, JobCancelled(f"Job `{job.key}` ({job.description}) was cancelled.",
                                                    {"job": job.key}))
            else:
                job._finish(FAILED, exc)
        except BaseException as exc:  # noqa: BLE001 - a job thread must always end its job
            if job.cancel_requested:
                job._finish(CANCELLED, JobCancelled(f"Job `{job.key}` ({job.description}) was cancelled.",
                                                    {"job": job.key}))
            else:
                log.exception("job %s (%s) failed", job.key, job.description)
                job._finish(FAILED, ShoalError(
                    f"Job `{job.key}` ({job.description}) failed inside the server "
                    f"({type(exc).__name__}); the node log has the details.", {"job": job.key}))
        else:
            job._finish(DONE)

    def get(self, key: str) -> Job:
        with self._lock:
            job = self._jobs.get(key)
        if job is None:
            raise JobNotFound(f"Job `{key}` does not exist; list_jobs shows the jobs of this node.",
                              {"job": key})
        return job

    def list(self) -> list[Job]:
        """Every remembered job, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        jobs.reverse()
        return jobs

    def cancel(self, key: str) -> Job:
        job = self.get(key)
        job.cancel()
        return job

    def running(self) -> list[Job]:
        return [j for j in self.list() if j.status not in TERMINAL]

    def cancel_all(self, wait: float = 0.0) -> None:
        """Cancel every unfinished job (node shutdown); optionally wait for them to end."""
        jobs = self.running()
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + wait
        for job in jobs:
            job.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._closed = True
        self.cancel_all(wait=2.0)

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.status in TERMINAL]
        excess = len(finished) - self.max_finished
        for k in finished[:max(0, excess)]:
            del self._jobs[k]
