"""The runtime maps over a frame's chunks, reduces in the fixed tree, reports progress, cancels."""
import threading
import time

import numpy as np
import pytest

from shoal_server.config import NodeConfig
from shoal_server.errors import JobCancelled
from shoal_server.node import Node
from shoal_server.store.builder import FrameBuilder
from shoal_server.store.codecs import decode_float64, encode
from shoal_server.store.frame import ColumnHeader
from shoal_server.store.types import ColType
from shoal_server.tasks import IndexedTask, MRTask, register_task
from shoal_server.tasks.frames import discard


@register_task
class _SumTask(MRTask):
    name = "test.sum"

    def map(self, ctx, chunk_idx, chunks, params):
        x = decode_float64(chunks[0])
        return {"sum": float(np.nansum(x)), "n": int(np.sum(~np.isnan(x))), "first": chunk_idx, "last": chunk_idx}

    def reduce(self, a, b):
        assert a["last"] < b["first"]  # the lower range always comes first
        return {"sum": a["sum"] + b["sum"], "n": a["n"] + b["n"], "first": a["first"], "last": b["last"]}

    def finish(self, result, params):
        return None if result is None else {"sum": result["sum"], "n": result["n"]}


@register_task
class _SlowTask(MRTask):
    name = "test.slow"

    def map(self, ctx, chunk_idx, chunks, params):
        time.sleep(params["sleep"])
        return {"x": 1}

    def reduce(self, a, b):
        return {"x": a["x"] + b["x"]}


@register_task
class _Square(IndexedTask):
    name = "test.square"

    def map(self, ctx, index, params):
        return {"sq": index * index + params["add"]}

    def reduce(self, a, b):
        return {"sq": a["sq"] + b["sq"]}


class _Job:
    def __init__(self):
        self.progress = []
        self.cancelled = threading.Event()

    def update(self, progress=None, message=None):
        self.progress.append(progress)

    def check(self):
        if self.cancelled.is_set():
            raise JobCancelled("cancelled by test")


@pytest.fixture
def node():
    n = Node(NodeConfig(threads=2))
    yield n
    n.close()


def _frame(node, key, values, chunk_rows):
    with FrameBuilder.for_node(node, key, [ColumnHeader("x", ColType.REAL)]) as b:
        for i, start in enumerate(range(0, len(values), chunk_rows)):
            part = np.asarray(values[start:start + chunk_rows], dtype=np.float64)
            b.add_row(i, [encode(ColType.REAL, part, np.isnan(part))])
        return b.commit()


def test_sum_equals_numpy_and_reports_progress(node):
    rng = np.random.default_rng(3)
    vals = rng.standard_normal(1000)
    vals[rng.integers(0, 1000, 50)] = np.nan
    _frame(node, "f", vals, 64)
    job = _Job()
    out = node.runtime.run("test.sum", "f", [0], job=job)
    assert out["n"] == int(np.sum(~np.isnan(vals)))
    assert out["sum"] == pytest.approx(np.nansum(vals), rel=1e-12)
    assert job.progress[-1] == pytest.approx(1.0)
    assert all(0 <= p <= 1 for p in job.progress)


def test_result_bits_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    vals = rng.standard_normal(3000) * 10.0 ** rng.integers(-6, 6, 3000)
    sums = []
    for threads in (1, 2, 4):
        with Node(NodeConfig(threads=threads)) as n:
            _frame(n, "f", vals, 100)
            sums.append(n.runtime.run("test.sum", "f", [0])["sum"])
    assert sums[0] == sums[1] == sums[2]


def test_frame_without_chunks_finishes_with_none(node):
    with FrameBuilder.for_node(node, "empty", [ColumnHeader("x", ColType.REAL)]) as b:
        b.commit()
    assert node.runtime.run("test.sum", "empty", [0]) is None


def test_cancel_stops_the_map_quickly(node):
    _frame(node, "f", np.arange(200.0), 2)  # 100 chunks x 50 ms on 2 threads = 2.5 s if not cancelled
    job = _Job()
    threading.Timer(0.2, job.cancelled.set).start()
    t0 = time.monotonic()
    with pytest.raises(JobCancelled):
        node.runtime.run("test.slow", "f", [0], {"sleep": 0.05}, job=job)
    assert time.monotonic() - t0 < 1.0


def test_run_indexed_in_index_order_and_reduced(node):
    parts = node.runtime.run_indexed("test.square", 6, {"add": 1})
    assert [p["sq"] for p in parts] == [1, 2, 5, 10, 17, 26]
    assert node.runtime.run_indexed("test.square", 6, {"add": 1}, reduce=True)["sq"] == 61


def test_unknown_task_is_refused(node):
    from shoal_server.errors import InvalidParameter
    with pytest.raises(InvalidParameter, match="Unknown task"):
        node.runtime.run_indexed("no.such.task", 1)


def test_every_task_module_loads_and_registers_its_tasks():
    from shoal_server.tasks import registry

    registry.load_task_modules()
    names = registry.task_names()
    assert "rollups.moments" in names and "parse.range" in names
    # Every module in the list exists in this installation (a typo would silently skip it).
    import importlib
    for module in registry.TASK_MODULES:
        importlib.import_module(module)


def test_a_failing_map_waits_for_the_maps_already_running(node):
    """On the first failure no map may still be running when the error reaches the caller (its
    clean-up, e.g. dropping staging chunks, must not race a map that writes afterwards)."""
    finished = []
    started = threading.Event()

    def fn(idx):
        if idx == 0:
            started.wait(5)
            raise ValueError("map 0 fails")
        started.set()
        time.sleep(0.5)
        finished.append(idx)
        return idx

    with pytest.raises(ValueError, match="map 0 fails"):
        node.runtime.map_local(fn, [0, 1])
    assert finished == [1]


@register_task
class _FailOn(IndexedTask):
    """Records that it ran on this node; raises on the node named ``params["bad"]``."""
    name = "test.fail_on"

    def map(self, ctx, index, params):
        if ctx.node.self_id == params["bad"]:
            raise ValueError("this node refuses")
        ctx.node.chunks.remove_frame(params["key"])
        return {}

    def reduce(self, a, b):
        return {}


def test_clean_up_runs_on_every_live_member_despite_a_lost_and_a_failing_one():
    """Freeing staged chunks after a failure: a lost member is skipped, a failing one is reported,
    and neither stops the others (``run_indexed`` cancels the rest on the first failure)."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    from fakecluster import fake_cluster
    from shoal_server.tasks.frames import discard

    with fake_cluster(4, 63000) as nodes:
        members = sorted(n.self_id for n in nodes)
        by_id = {n.self_id: n for n in nodes}
        for n in nodes:
            n.chunks.put_many("staged", [(0, 0, encode(ColType.REAL, np.ones(3), np.zeros(3, bool)))])
        lost, bad = members[1], members[2]
        for n in nodes:
            n.cluster.lost = lambda: {lost}
        coordinator = by_id[members[3]]
        failed = coordinator.runtime.run_on_each_live("test.fail_on", {"bad": bad, "key": "staged"}, members)
        assert set(failed) == {bad} and isinstance(failed[bad], ValueError)
        held = {m: by_id[m].chunks.has("staged", 0, 0) for m in members}
        assert held == {members[0]: False, lost: True, bad: True, members[3]: False}
        # frames.discard (munging and model outputs) frees every live member even with a lost one
        discard(coordinator, "staged", members)
        assert {m: by_id[m].chunks.has("staged", 0, 0) for m in members} == \
            {members[0]: False, lost: True, bad: False, members[3]: False}


# ---------------------------------------------------------------------------------------------------------
# failure paths of the fan-out over several members (in-process nodes joined by a fake cluster view)

def _fakes():
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    import fakecluster
    return fakecluster


class _CancellingView:
    """Mixin for the fake view: ``task.cancel`` reaches the member's runtime (as on the wire)."""

    def submit(self, member, op, payload, timeout=None):
        import concurrent.futures as cf
        fut = cf.Future()
        if op == "task.cancel":
            fut.set_result({"cancelled": self.nodes[member].runtime.cancel_remote(payload["token"])})
        else:
            fut.set_result(None)
        return fut


def _fake_nodes(n, base_port, cancels=True):
    """``n`` in-process nodes joined by fake views (``task.cancel`` delivered when ``cancels``)."""
    fc = _fakes()
    view_cls = type("_View", (_CancellingView, fc.FakeMungingView), {}) if cancels else fc.FakeMungingView
    return fc.fake_cluster(n, base_port, view_cls=view_cls)


_stage_log: list = []
_stage_lock = threading.Lock()
_chunk: list = []


def _one_chunk():
    """A small encoded chunk (made once, before the timed parts: encoding compiles on first use)."""
    if not _chunk:
        _chunk.append(encode(ColType.REAL, np.array([1.5, -2.25, 7.0]), np.zeros(3, bool)))
    return _chunk[0]


@register_task
class _StageSlow(IndexedTask):
    """Per index: fails at once on ``params["bad"]``; elsewhere works ~40 ms (checking for
    cancellation like a kernel loop) plus ``params["tail"]`` s without a check, then stages one
    chunk under ``params["key"]``."""
    name = "test.stage_slow"

    def map(self, ctx, index, params):
        if ctx.node.self_id == params["bad"]:
            raise ValueError(f"index {index} refuses on {params['bad']}")
        for _ in range(8):
            time.sleep(0.005)
            ctx.check()
        time.sleep(params.get("tail", 0.0))        # the last stretch of a kernel, between two checks
        ctx.node.chunks.put_many(params["key"], [(0, index, _one_chunk())])
        with _stage_lock:
            _stage_log.append((ctx.node.self_id, index))
        return {}

    def reduce(self, a, b):
        return {}


def test_a_failure_on_another_member_stops_the_local_maps_at_once():
    """A remote failure (e.g. a lost node) ends the fan-out within a chunk's time, not after this
    node's whole share: the job's ``node_lost`` must come within seconds under load too."""
    _one_chunk()
    with _fake_nodes(2, 63100) as (a, b):
        members = sorted([a.self_id, b.self_id])
        coord = a
        _stage_log.clear()
        n = 200                                    # 100 local indices x 40 ms on 2 threads: ~2 s
        t0 = time.monotonic()
        with pytest.raises(ValueError, match="refuses"):
            coord.runtime.run_indexed("test.stage_slow", n, {"bad": b.self_id, "key": "s"}, members=members)
        took = time.monotonic() - t0
        local = [i for m, i in _stage_log if m == coord.self_id]
        assert took < 1.0, took
        assert len(local) < 50, len(local)
        discard(coord, "s", members)


def test_after_a_failure_no_member_writes_staged_chunks_behind_the_callers_discard():
    """The failing fan-out tells the other members to stop and waits until they did before it
    raises, so the caller's clean-up (``frames.discard``) is the last word on every member."""
    _one_chunk()
    # task.cancel delivered or lost on the way; the failure on the coordinator itself or elsewhere
    for cancels, bad_at in ((True, 0), (False, 0), (True, 2), (False, 2)):
        with _fake_nodes(3, 63200, cancels=cancels) as three:
            members = sorted(x.self_id for x in three)
            by_id = {x.self_id: x for x in three}
            coord, bad = by_id[members[0]], members[bad_at]
            _stage_log.clear()
            # one index per member: a member's map is mid-kernel when the failure comes, and its
            # compute pool has a free thread that would run an early discard at once
            with pytest.raises(ValueError, match="refuses"):
                coord.runtime.run_indexed("test.stage_slow", 3, {"bad": bad, "key": "st", "tail": 0.3},
                                          members=members)
            discard(coord, "st", members)
            time.sleep(0.4)                        # a map still running would write meanwhile
            held = {m: [i for i in range(3) if by_id[m].chunks.has("st", 0, i)] for m in members}
            assert held == {m: [] for m in members}, (cancels, bad_at)
            assert all(x.runtime.remote_maps_running() == 0 for x in three)


def test_run_on_each_live_goes_on_when_sending_to_one_member_raises():
    with _fake_nodes(3, 63300) as three:
        members = sorted(x.self_id for x in three)
        by_id = {x.self_id: x for x in three}
        for x in three:
            x.chunks.put_many("staged", [(0, 0, encode(ColType.REAL, np.ones(3), np.zeros(3, bool)))])
        coord = by_id[members[0]]
        view = coord.cluster
        real_submit = view.submit_indexed

        def submit_indexed(member, *args, **kw):
            if member == members[1]:
                raise RuntimeError("the cluster loop is closing")
            return real_submit(member, *args, **kw)

        view.submit_indexed = submit_indexed
        failed = coord.runtime.run_on_each_live("frames.discard", {"key": "staged"}, members)
        assert set(failed) == {members[1]} and isinstance(failed[members[1]], RuntimeError)
        assert {m: by_id[m].chunks.has("staged", 0, 0) for m in members} == \
            {members[0]: False, members[1]: True, members[2]: False}


def _stage_frame(three, members, staging, dest):
    from shoal_server.store.frame import FrameHeader
    from shoal_server.store.layout import home_of, starts_from_nrows

    by_id = {x.self_id: x for x in three}
    nrows = [3, 4, 5, 6, 7, 8]
    for i, nr in enumerate(nrows):
        by_id[home_of(i, members)].chunks.put_many(staging, [(0, i, encode(ColType.REAL, np.arange(nr, dtype=float),
                                                                            np.zeros(nr, bool)))])
    return FrameHeader(dest, (ColumnHeader("x", ColType.REAL),), starts_from_nrows(nrows), tuple(members), 1)


def test_a_publish_that_fails_on_one_member_leaves_the_frame_nowhere():
    """All or nothing: members that moved their chunks to the key before another member failed
    drop them again, and no catalog keeps the header."""
    from shoal_server.tasks.frames import publish

    with _fake_nodes(3, 63400) as three:
        members = sorted(x.self_id for x in three)
        by_id = {x.self_id: x for x in three}
        coord, bad = by_id[members[0]], by_id[members[1]]
        header = _stage_frame(three, members, "pub.staging", "pub")

        def refuse(old, new):
            raise ValueError("this member cannot take its part")

        bad.chunks.rename_frame = refuse
        with pytest.raises(ValueError, match="cannot take its part"):
            publish(coord, "pub.staging", header)
        discard(coord, "pub.staging", members)       # what every caller does on failure
        for m in members:
            assert by_id[m].chunks.frame_bytes("pub") == 0, m
            assert by_id[m].chunks.frame_bytes("pub.staging") == 0, m
            assert by_id[m].catalog.find("pub") is None, m


def test_a_publish_with_a_lost_member_refuses_before_touching_anything():
    from shoal_server.errors import NodeLost
    from shoal_server.tasks.frames import publish

    with _fake_nodes(3, 63500) as three:
        members = sorted(x.self_id for x in three)
        by_id = {x.self_id: x for x in three}
        header = _stage_frame(three, members, "pl.staging", "pl")
        for x in three:
            x.cluster.lost = lambda: {members[2]}
        with pytest.raises(NodeLost) as err:
            publish(by_id[members[0]], "pl.staging", header)
        assert err.value.details["node"] == members[2]
        assert all(by_id[m].chunks.frame_bytes("pl") == 0 and by_id[m].chunks.frame_bytes("pl.staging") > 0
                   for m in members)


@register_task
class _FoldCount(MRTask):
    """Integer counts: exact, so the worker threads may fold their chunks (``fold_local``)."""

    name = "test.fold_count"
    fold_local = True

    def map(self, ctx, chunk_idx, chunks, params):
        x = decode_float64(chunks[0])
        if chunk_idx == params.get("fail_at"):
            raise ValueError(f"chunk {chunk_idx} is bad")
        return {"n": int(np.sum(~np.isnan(x))), "pos": int(np.sum(x > 0)), "chunks": [chunk_idx]}

    def reduce(self, a, b):
        return {"n": a["n"] + b["n"], "pos": a["pos"] + b["pos"], "chunks": a["chunks"] + b["chunks"]}


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_folded_task_counts_every_chunk_once(threads):
    rng = np.random.default_rng(8)
    vals = rng.standard_normal(2000)
    vals[rng.integers(0, 2000, 100)] = np.nan
    with Node(NodeConfig(threads=threads)) as n:
        _frame(n, "f", vals, 90)
        nch = n.catalog.get("f").nchunks
        out = n.runtime.run("test.fold_count", "f", [0])
        assert out["n"] == int(np.sum(~np.isnan(vals))) and out["pos"] == int(np.sum(vals > 0))
        assert sorted(out["chunks"]) == list(range(nch))
        # one partial per runner: at the first index it took; the others it folded hold {}
        pairs = n.runtime.execute_map("test.fold_count", "f", [0], {}, range(nch))
        assert [i for i, _ in pairs] == list(range(nch))
        parts = [(i, p) for i, p in pairs if p]
        assert 1 <= len(parts) <= threads
        assert all(min(p["chunks"]) == i for i, p in parts)
        assert sorted(c for _, p in parts for c in p["chunks"]) == list(range(nch))


def test_folded_task_failure_is_raised(node):
    _frame(node, "f", np.arange(500.0), 50)
    with pytest.raises(ValueError, match="chunk 6 is bad"):
        node.runtime.run("test.fold_count", "f", [0], {"fail_at": 6})
    assert node.runtime.run("test.fold_count", "f", [0])["n"] == 500   # the node keeps serving
