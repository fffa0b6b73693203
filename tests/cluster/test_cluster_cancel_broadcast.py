"""Remote cancel and broadcast of large parameters, on in-process nodes joined over loopback sockets.

A cancelled job must stop the maps its requests started on other nodes (``task.cancel`` keyed by
the fan-out's token), not just stop waiting for them. A large parameter sent with
``Runtime.broadcast`` crosses the wire once per node, however many passes use it.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from harness import wait_until
from shoal_server.errors import JobCancelled
from shoal_server.store import codecs
from shoal_server.store.layout import home_of
from shoal_server.tasks import IndexedTask, MRTask, register_task
from test_cluster_runtime import columns_data, nodes, register_frame

pytestmark = pytest.mark.cluster

# per node id: indices whose map started (the registry is shared by the in-process nodes)
_started: dict[str, list[int]] = {}
_started_lock = threading.Lock()


@register_task
class SlowIndex(IndexedTask):
    """Each index sleeps 50 ms in small steps, checking for cancellation like a real kernel loop."""

    name = "test.cluster.slow_index"

    def map(self, ctx, index: int, params: dict) -> dict:
        with _started_lock:
            _started.setdefault(ctx.node.self_id, []).append(index)
        for _ in range(10):
            time.sleep(0.005)
            ctx.check()
        return {"i": index}


@register_task
class DotWithBroadcast(MRTask):
    """Per chunk: sum of x * w[row] over the chunk's rows (w: a broadcast vector as long as the frame)."""

    name = "test.cluster.dot_bcast"

    def map(self, ctx, chunk_idx, chunks, params):
        x = codecs.decode_float64(chunks[0])
        lo = int(params["starts"][chunk_idx])
        w = np.asarray(params["w"])[lo:lo + len(x)]
        return {"s": np.array([np.nansum(x * w)]), "n": np.array([len(x)])}

    def reduce(self, a, b):
        return {"s": a["s"] + b["s"], "n": a["n"] + b["n"]}


def test_cancelling_a_job_stops_the_maps_running_on_other_nodes():
    with nodes(3) as three:
        coord = three[0]
        members = coord.cluster.lock()
        _started.clear()
        n = 300                          # 100 indices per node, 50 ms each, one compute thread per node
        job = coord.jobs.start("test", "slow fan-out",
                               lambda job: coord.runtime.run_indexed(SlowIndex.name, n, job=job))
        others = [node for node in three[1:]]
        wait_until(lambda: all(len(_started.get(o.self_id, [])) >= 3 for o in others), timeout=30,
                   what="maps started on every other node")
        t0 = time.monotonic()
        coord.jobs.cancel(job.key)
        assert job.wait(5)
        assert job.status == "CANCELLED"
        # every remote request stops within a few maps' time; nothing keeps running there
        wait_until(lambda: all(o.runtime.remote_maps_running() == 0 for o in others), timeout=2,
                   what="remote maps to stop")
        stopped_after = time.monotonic() - t0
        counts = {o.self_id: len(_started.get(o.self_id, [])) for o in others}
        time.sleep(0.5)
        assert {o.self_id: len(_started.get(o.self_id, [])) for o in others} == counts   # nothing new started
        share = {o.self_id: sum(1 for i in range(n) if home_of(i, members) == o.self_id) for o in others}
        for o in others:
            assert counts[o.self_id] < share[o.self_id] // 2, (counts, share)
            assert o.runtime.remote_maps_cancelled >= 1
        assert stopped_after < 2.0


def test_a_cancel_that_arrives_before_its_request_ends_the_request_at_once():
    with nodes(2) as (a, b):
        a.cluster.lock()
        assert a.cluster.cancel_maps(b.self_id, "tok-early").result(5) == {"cancelled": 0}
        _started.clear()
        with pytest.raises(JobCancelled):
            a.cluster.call_indexed(b.self_id, SlowIndex.name, {}, [0, 1, 2], token="tok-early")
        assert not _started.get(b.self_id)


def test_a_broadcast_parameter_crosses_the_wire_once_per_node_and_every_map_sees_it():
    nrows, x, k = columns_data(seed=21, nrows=(500, 300, 700, 0, 400, 600))
    rng = np.random.default_rng(5)
    w = rng.standard_normal(int(nrows.sum()) + 250_000)          # ~2 MB: a large parameter
    with nodes(3) as three:
        coord = three[0]
        header = register_frame(coord, "b", nrows, x, k)
        before = dict(coord.cluster.counters())
        ref = coord.runtime.broadcast(w)
        for node in three:
            assert node.runtime.shared_count() == 1
        params = {"w": ref, "starts": header.starts.tolist()}
        results = [coord.runtime.run(DotWithBroadcast.name, "b", columns=[0], params=params) for _ in range(4)]
        after = dict(coord.cluster.counters())

        def sent(key):
            return after.get(key, 0) - before.get(key, 0)

        assert sent("sent.req:task.bcast") == 2                   # once per other node
        assert sent("sent_bytes.req:task.bcast") >= 2 * w.nbytes
        assert sent("sent.req:task.map") == 8                     # 4 passes x 2 other nodes
        assert sent("sent_bytes.req:task.map") < 8 * 4096         # the maps carry the id, not the vector
        expect = float(np.nansum(x * w[:len(x)]))
        for res in results:
            assert res["n"].tolist() == [len(x)]
            assert res["s"][0] == pytest.approx(expect, rel=1e-12)
        assert len({r["s"].tobytes() for r in results}) == 1
        coord.runtime.release(ref)
        for node in three:
            assert node.runtime.shared_count() == 0
        with pytest.raises(Exception) as err:                     # a released ref is refused, never guessed
            coord.runtime.run(DotWithBroadcast.name, "b", columns=[0], params=params)
        assert "Broadcast value" in str(err.value)
