"""JobRegistry: state machine, progress, cancellation, time limits, error envelopes."""
import threading
import time

import pytest

from shoal_server.errors import InvalidParameter, JobNotFound
from shoal_server.jobs import CANCELLED, DONE, FAILED, JobRegistry


def test_registry_needs_no_arguments_and_runs_a_job_to_done():
    reg = JobRegistry()
    seen = {}

    def work(job):
        job.update(progress=0.5, message="half")
        seen["status"] = job.to_wire()["status"]
        return 42

    job = reg.start("test", "a test job", work, dest="out")
    assert job.wait(5)
    w = job.to_wire()
    assert seen["status"] == "RUNNING"
    assert w["status"] == DONE and w["progress"] == 1.0 and w["dest"] == "out"
    assert job.result == 42 and w["error"] is None
    assert w["started_ms"] <= w["ended_ms"]
    assert reg.get(job.key) is job and reg.list()[0] is job


def test_progress_is_clamped_and_monotone():
    reg = JobRegistry()
    gate = threading.Event()
    updated = threading.Event()

    def work(job):
        job.update(progress=0.7)
        job.update(progress=0.2)
        job.update(progress=5)
        updated.set()
        gate.wait(5)

    job = reg.start("t", "d", work)
    assert updated.wait(30)                # the job thread may start late on a loaded machine
    assert job.to_wire()["progress"] == 1.0
    gate.set()
    job.wait(5)


def test_cancel_stops_a_job_within_two_seconds():
    reg = JobRegistry()
    cleaned = threading.Event()
    running = threading.Event()

    def work(job):
        running.set()
        try:
            while True:
                job.check()
                time.sleep(0.01)
        finally:
            cleaned.set()

    job = reg.start("t", "spin", work)
    assert running.wait(30)                # cancel a job that runs (not one that never started)
    t0 = time.monotonic()
    reg.cancel(job.key)
    assert job.wait(2)
    assert time.monotonic() - t0 < 2
    w = job.to_wire()
    assert w["status"] == CANCELLED and w["error"]["code"] == "job_cancelled" and cleaned.is_set()
    assert w["cancel_requested"] is True
    # cancelling a finished job is harmless and changes nothing
    assert job.cancel() is False and job.to_wire()["status"] == CANCELLED


def test_time_limit_fails_the_job_with_job_timeout():
    reg = JobRegistry()

    def work(job):
        while True:
            job.check()
            time.sleep(0.01)

    job = reg.start("t", "slow", work, max_runtime_secs=0.2)
    assert job.wait(30)
    w = job.to_wire()
    assert w["status"] == FAILED and w["error"]["code"] == "job_timeout"
    assert "max_runtime_secs" in w["error"]["message"]


def test_shoal_error_becomes_the_job_error_envelope():
    reg = JobRegistry()

    def work(job):
        raise InvalidParameter("bad thing", {"x": 1})

    job = reg.start("t", "d", work)
    job.wait(5)
    w = job.to_wire()
    assert w["status"] == FAILED
    assert w["error"] == {"code": "invalid_parameter", "message": "bad thing", "details": {"x": 1}}


def test_unexpected_exception_is_reported_without_internals():
    reg = JobRegistry()

    def work(job):
        raise KeyError("secret_internal_name")

    job = reg.start("t", "d", work)
    job.wait(5)
    w = job.to_wire()
    assert w["status"] == FAILED and w["error"]["code"] == "internal_error"
    assert "secret_internal_name" not in w["error"]["message"]


def test_unknown_job_is_job_not_found():
    with pytest.raises(JobNotFound):
        JobRegistry().get("job_nope")


def test_finished_jobs_are_trimmed_to_the_limit():
    reg = JobRegistry(max_finished=3)
    jobs = [reg.start("t", str(i), lambda job: None) for i in range(6)]
    for j in jobs:
        j.wait(5)
    reg.start("t", "last", lambda job: None).wait(5)
    assert len(reg.list()) <= 4


def test_on_cancel_callback_runs_once_cancel_is_asked():
    reg = JobRegistry()
    hit = threading.Event()
    gate = threading.Event()
    registered = threading.Event()

    def work(job):
        job.on_cancel(hit.set)
        registered.set()
        gate.wait(30)
        job.check()

    job = reg.start("t", "d", work)
    assert registered.wait(30)             # the job thread may start late on a loaded machine
    job.cancel()
    assert hit.wait(5)
    gate.set()
    job.wait(5)
    assert job.status == CANCELLED


def test_on_done_callback_runs_once_when_the_job_ends_with_its_result_set():
    reg = JobRegistry()
    release = threading.Event()
    seen = []
    job = reg.start("t", "wait", lambda j: release.wait(5) and 42)
    job.on_done(lambda: seen.append((job.status, job.result)))
    assert seen == []                      # still running: not called yet
    release.set()
    assert job.wait(5)
    assert seen == [(DONE, 42)]
    job.on_done(lambda: seen.append("late"))   # already ended: called at once
    assert seen == [(DONE, 42), "late"]
    failing = reg.start("t", "boom", lambda j: 1 / 0)
    failing.wait(5)
    got = []
    failing.on_done(lambda: got.append(failing.status))
    assert got == [FAILED]
