"""``Runtime.map_local``: one runner per pool thread pulling indices, one wake-up per pass, and the
old semantics (index order, first failure re-raised after the running maps end, prompt cancel)."""
import concurrent.futures as cf
import threading
import time

import pytest

from shoal_server.config import NodeConfig
from shoal_server.errors import JobCancelled
from shoal_server.node import Node
from shoal_server.tasks import runtime as RT
from shoal_server.tasks.runtime import TaskContext

from test_tasks_runtime import _Job



class _Tracker:
    """Records which indices started and ended, and how many maps ran at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = []
        self.ended = []
        self.running = 0
        self.most = 0

    def enter(self, idx):
        with self.lock:
            self.started.append(idx)
            self.running += 1
            self.most = max(self.most, self.running)

    def leave(self, idx):
        with self.lock:
            self.running -= 1
            self.ended.append(idx)


@pytest.fixture
def node():
    n = Node(NodeConfig(threads=2))
    yield n
    n.close()


def test_results_in_index_order_each_index_once(node):
    tr = _Tracker()

    def fn(idx):
        tr.enter(idx)
        time.sleep(0.002 * (idx % 3))  # later indices often end first
        tr.leave(idx)
        return {"sq": idx * idx}

    idx = [7, 3, 11, 0, 5, 2, 9, 1, 4, 10, 8, 6]
    out = node.runtime.map_local(fn, idx)
    assert out == [(i, {"sq": i * i}) for i in range(12)]
    assert sorted(tr.started) == list(range(12))
    assert tr.most <= 2
    assert node.runtime.map_local(fn, []) == []
    with Node(NodeConfig(threads=1)) as one:   # one runner: the indices are taken in ascending order
        tr1 = _Tracker()
        out1 = one.runtime.map_local(lambda i: tr1.enter(i) or tr1.leave(i) or -i, idx)
    assert tr1.started == list(range(12)) and out1 == [(i, -i) for i in range(12)]


def test_one_submit_per_thread_and_one_wake_up_per_pass(node, monkeypatch):
    submits = []
    real_submit = node.runtime.pool.submit
    monkeypatch.setattr(node.runtime.pool, "submit", lambda *a, **k: submits.append(1) or real_submit(*a, **k))
    wakes = []
    real_wait = RT._LocalMap.wait
    monkeypatch.setattr(RT._LocalMap, "wait", lambda self, t: wakes.append(1) or real_wait(self, t))
    out = node.runtime.map_local(lambda i: i + 1, range(8))
    assert [r for _i, r in out] == list(range(1, 9))
    assert len(submits) == 2          # the old dispatch submitted 8
    assert len(wakes) == 1            # and woke once per finished chunk
    submits.clear()
    node.runtime.map_local(lambda i: i, [4])
    assert len(submits) == 1          # never more runners than indices


def test_first_failure_reraised_after_running_maps_end_nothing_new_starts(node):
    tr = _Tracker()

    def fn(idx):
        tr.enter(idx)
        try:
            if idx == 2:
                time.sleep(0.05)
                raise ValueError("chunk 2 is bad")
            time.sleep(0.2 if idx == 3 else 0.01)
            return idx
        finally:
            tr.leave(idx)

    t0 = time.monotonic()
    with pytest.raises(ValueError, match="chunk 2 is bad"):
        node.runtime.map_local(fn, range(20))
    # indices 0, 1 end quickly; 2 and 3 run together; 2 fails while 3 still runs: nothing after 3 starts
    assert set(tr.started) <= {0, 1, 2, 3, 4}
    assert 2 in tr.started
    assert tr.running == 0 and sorted(tr.ended) == sorted(tr.started)   # the running map was waited for
    assert time.monotonic() - t0 < 2.0


def test_cancel_interrupts_a_long_map_promptly(node):
    tr = _Tracker()

    def fn(idx):
        tr.enter(idx)
        time.sleep(0.1)
        tr.leave(idx)
        return idx

    job = _Job()
    ctx = TaskContext(node, job, (0.0, 0.5))
    at_cancel = {}

    def cancel():
        with tr.lock:
            at_cancel["t"], at_cancel["started"] = time.monotonic(), len(tr.started)
        job.cancelled.set()

    threading.Timer(0.25, cancel).start()
    with pytest.raises(JobCancelled):
        node.runtime.map_local(fn, range(60), ctx)   # 3 s if not cancelled
    # noticed at the next poll, then the running maps (0.1 s) end; generous margin for a loaded machine
    assert time.monotonic() - at_cancel["t"] < RT._POLL_SECONDS + 0.1 + 0.4
    # maps that started after the cancel: those begun before the next poll (2 threads x 0.1 s each)
    assert len(tr.started) - at_cancel["started"] <= 2 * 2 + 2
    assert len(tr.started) < 60 and tr.running == 0
    assert job.progress and all(0.0 <= p <= 0.5 for p in job.progress)   # polled progress within the span


def test_progress_reaches_the_end_of_the_span(node):
    job = _Job()
    node.runtime.map_local(lambda i: time.sleep(0.03), range(10), TaskContext(node, job, (0.2, 0.6)))
    assert job.progress[-1] == pytest.approx(0.6)
    assert job.progress == sorted(job.progress)
    assert all(0.2 <= p <= 0.6 for p in job.progress)


def test_runner_cancelled_by_pool_shutdown_raises_instead_of_hanging():
    n = Node(NodeConfig(threads=1))
    gate = threading.Event()
    try:
        blocker = n.runtime.pool.submit(gate.wait, 5.0)   # holds the only thread: the runner queues
        box = {}

        def call():
            try:
                n.runtime.map_local(lambda i: i, range(3))
            except BaseException as exc:  # noqa: BLE001 - inspected below
                box["exc"] = exc

        th = threading.Thread(target=call)
        th.start()
        time.sleep(0.1)
        n.runtime.pool.shutdown(wait=False, cancel_futures=True)
        th.join(2.0)
        assert not th.is_alive()
        assert isinstance(box.get("exc"), cf.CancelledError)
    finally:
        gate.set()
        blocker.result(5.0)
        n.close()
