"""Jobs: poll a server job until it ends, with a text progress bar (terminal and Jupyter).

Long work (parsing, later training) returns a job; :func:`wait` polls ``get_job`` until the job
is ``DONE`` and raises the job's error class when it ``FAILED`` or was ``CANCELLED``. Ctrl-C while
waiting asks the node to cancel the job, then re-raises ``KeyboardInterrupt``.
"""
from __future__ import annotations

import sys
import time
from ._generated import operations as ops
from .errors import ShoalError, error_from_envelope, error_class

__all__ = ["Job", "wait", "cancel", "ProgressBar"]

_FINAL = ("DONE", "FAILED", "CANCELLED")


class ProgressBar:
    """A one-line text progress bar on stderr. ``\\r`` redraws in terminals and in Jupyter; when
    the stream is neither (a log file, a pipe) only the final state is written, once."""

    def __init__(self, title: str, width: int = 40, stream=None, enabled: bool = True,
                 live: bool | None = None):
        self.title = title
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = _is_live(self.stream) if live is None else live
        self._last = ""
        self._pending = ""

    def update(self, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        fraction = min(max(float(fraction or 0.0), 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"{self.title} |{'█' * filled}{' ' * (self.width - filled)}| {fraction * 100:3.0f}%"
        if message:
            line += f" {message[:40]}"
        if not self.live:
            self._pending = line
            return
        if line != self._last:
            pad = max(0, len(self._last) - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and not self.live and self._pending:
            self.stream.write(self._pending + "\n")
            self.stream.flush()
            self._pending = ""
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
            self._last = ""


def _is_live(stream) -> bool:
    """True for a terminal or a Jupyter output stream (both honour ``\\r``)."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Job:
    """A server job: key plus the last status seen. ``refresh()`` fetches it again."""

    def __init__(self, info: dict, conn=None):
        self._info = dict(info)
        self._conn = conn

    @property
    def key(self) -> str:
        return self._info["key"]

    @property
    def status(self) -> str:
        return self._info.get("status", "")

    @property
    def progress(self) -> float:
        return float(self._info.get("progress") or 0.0)

    @property
    def dest(self) -> str | None:
        return self._info.get("dest")

    @property
    def info(self) -> dict:
        return dict(self._info)

    def refresh(self) -> "Job":
        self._info = ops.get_job(self._conn, self.key)["job"]
        return self

    def done(self) -> bool:
        return self.status in _FINAL

    def cancel(self) -> "Job":
        self._info = ops.cancel_job(self._conn, self.key)["job"]
        return self

    def wait(self, progress: bool = True, poll_interval: float = 0.1) -> "Job":
        self._info = wait(self._conn, self._info, progress=progress, poll_interval=poll_interval)
        return self

    def frame(self, progress: bool = True):
        """Wait for the job, then return the frame it created (``dest``)."""
        from .frame import Frame

        self.wait(progress=progress)
        return Frame._existing(self.dest, self._conn)

    def __repr__(self) -> str:
        return f"<shoal.Job {self.key} {self.status} {self.progress * 100:.0f}%>"


def _raise_for(job: dict) -> None:
    status = job.get("status")
    if status == "DONE":
        return
    exc = error_from_envelope({"error": job["error"]}) if isinstance(job.get("error"), dict) else None
    if exc is None:
        code = "job_cancelled" if status == "CANCELLED" else "internal_error"
        exc = error_class(code)(f"Job {job.get('key')} ({job.get('description', job.get('kind', ''))}) "
                                f"ended {status}.", {"job": job.get("key")})
    exc.details.setdefault("job", job.get("key"))
    raise exc


def wait(conn, job: dict | Job, progress: bool = True, poll_interval: float = 0.1,
         max_interval: float = 0.5) -> dict:
    """Poll a job until it ends; return its final description, or raise its error.

    Parameters
    ----------
    conn : shoal.connection.Connection
    job : dict | Job
        The job as returned by the operation that started it.
    progress : bool
        Show a progress bar on stderr while the job runs.
    """
    info = job.info if isinstance(job, Job) else dict(job)
    title = (info.get("description") or info.get("kind") or "job")[:30]
    bar = ProgressBar(title, enabled=progress)
    interval = poll_interval
    try:
        while info.get("status") not in _FINAL:
            bar.update(info.get("progress") or 0.0, info.get("message") or "")
            time.sleep(interval)
            interval = min(max_interval, interval * 1.5)
            info = ops.get_job(conn, info["key"])["job"]
        bar.update(1.0 if info.get("status") == "DONE" else info.get("progress") or 0.0,
                   info.get("status", "").lower())
    except KeyboardInterrupt:
        bar.close()
        try:
            ops.cancel_job(conn, info["key"])
        except ShoalError:
            pass
        raise
    bar.close()
    _raise_for(info)
    return info


def cancel(conn, job: dict | Job | str) -> dict:
    """Ask the node to cancel a job; returns the job's description (its status may still be
    ``RUNNING`` for a moment: the job ends ``CANCELLED`` within about 2 s)."""
    key = job.key if isinstance(job, Job) else job["key"] if isinstance(job, dict) else str(job)
    return ops.cancel_job(conn, key)["job"]
