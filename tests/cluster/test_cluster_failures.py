"""A node killed (SIGKILL) or frozen (SIGSTOP) under load, on whole `shoal-server` nodes (R3, R4).

Every frame here spans every node (tiny chunks), so every frame made before a loss must report
``frame_lost`` afterwards (there is no frame that does not touch the lost node); jobs that need
the node end FAILED with ``node_lost`` naming it; the surviving nodes keep answering.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from harness import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# 2.5 s of silence before a loss: under load (2 cores shared by three nodes, a parse and numba
# compiles) a healthy node's loop was seen to stall 1.3-2.1 s, and at 1.5 s the survivors fenced
# it; the bars asserted below (loss seen <= 5 s, job FAILED <= 10 s) are unchanged
HB = dict(heartbeat_interval=0.2, heartbeat_timeout=2.5)


def _shoalcol_upload(node, key, n, seed):
    from shoal import wire

    rng = np.random.default_rng(seed)
    cols = [{"name": "x", "type": "real", "data": rng.standard_normal(n)},
            {"name": "g", "type": "int", "data": rng.integers(0, 1000, n)}]
    code, res = node.post_raw(f"/api/v1/upload_frame?destination_frame={key}", wire.encode_columns(cols, n),
                              "application/x-shoalcol", timeout=120)
    assert code == 201, res


def _big_csv(path, n, seed=1):
    rng = np.random.default_rng(seed)
    pd.DataFrame({"a": rng.standard_normal(n).round(4), "b": rng.integers(0, 1000, n),
                  "c": rng.choice(np.array(["x", "y", "z"]), n)}).to_csv(path, index=False)


def _watch_survivors(survivors, victim_id, t_kill, budget=5.0):
    """Poll every survivor's status (each must answer) until all report the loss; return seconds."""
    while True:
        lost_everywhere = True
        for node in survivors:
            t = time.monotonic()
            st = node.status(timeout=2.0)                      # answers throughout (raises otherwise)
            assert time.monotonic() - t < 2.0
            lost_everywhere &= st["lost"] == [victim_id]
        took = time.monotonic() - t_kill
        if lost_everywhere:
            return took
        assert took <= budget, f"the loss of {victim_id} was not detected within {budget} s"
        time.sleep(0.05)


def _assert_frame_lost(node, key, victim_id):
    code, body = node.get(f"/api/v1/frames/{key}")
    assert code == 410 and body["error"]["code"] == "frame_lost", body
    assert body["error"]["details"]["node"] == victim_id
    code, data = node.download(key, "columnar")
    err = json.loads(data)["error"]
    assert code == 410 and err["code"] == "frame_lost" and victim_id in err["message"]
    # CSV streams too: refused before the first byte, never a complete or cut-short file
    code, data = node.download(key, "csv")
    assert code == 410 and json.loads(data)["error"]["code"] == "frame_lost"
    # the listing still answers, with the lost frame marked
    code, body = node.get("/api/v1/frames")
    assert code == 200, body
    entry = next(f for f in body["frames"] if f["key"] == key)
    assert entry["lost"] is True and entry["lost_node"] == victim_id


def test_kill9_during_a_parse_fails_the_job_naming_the_node_and_lost_frames_say_so(make_cluster):
    c = make_cluster(3, full=True, **HB, extra_args=["--chunk-bytes", "2048"])
    a, b, victim = c.nodes
    _shoalcol_upload(a, "before", 3000, seed=1)              # a frame made before the loss (spans all nodes)
    path = os.path.join(c.dir, "data", "big.csv")
    _big_csv(path, 400_000)
    code, body = a.post("/api/v1/import_file", {"path": [path], "destination_frame": "big"})
    assert code == 202, body
    key = body["job"]["key"]
    job = wait_until(lambda: (lambda j: j if j["progress"] >= 0.15 or j["status"] not in ("CREATED", "RUNNING")
                              else None)(a.job(key)), timeout=180, interval=0.02, what="the parse to be parsing ranges")
    assert job["status"] == "RUNNING", job
    t_kill = time.monotonic()
    c.kill(victim, signal.SIGKILL)
    detected = _watch_survivors([a, b], victim.id, t_kill)
    job = a.wait_job(key, timeout=10)
    ended = time.monotonic() - t_kill
    assert job["status"] == "FAILED", job
    assert job["error"]["code"] == "node_lost" and victim.id in job["error"]["message"], job
    assert detected <= 5.0 and ended <= 10.0, (detected, ended)
    # no partial output: the frame does not exist anywhere, staged chunks are freed
    for node in (a, b):
        assert node.get("/api/v1/frames/big")[0] == 404
        _assert_frame_lost(node, "before", victim.id)
        assert node.get("/api/v1/health")[0] == 200
        rows = {r["name"]: r for r in node.status()["nodes"]}
        assert rows[victim.id]["health"] == "lost" and rows[a.id]["health"] == rows[b.id]["health"] == "healthy"
    staged = wait_until(lambda: (lambda r: r if all(x["frame_memory"] < 64 << 10 for x in r) else None)(
        [r for r in a.status()["nodes"] if r["name"] != victim.id]), timeout=30, what="staged chunks to be freed")
    assert len(staged) == 2


def test_kill9_during_a_long_task_then_a_frozen_node_is_lost_and_fenced(make_cluster):
    c = make_cluster(3, full=True, **HB, extra_args=["--chunk-bytes", "2048"])
    a, frozen, victim = c.nodes
    _shoalcol_upload(a, "g", 900_000, seed=2)
    # a long multi-pass job: a group-by median over ~6000 chunks on three nodes (with warm kernel
    # caches 3e5 rows took about the 0.5 s the test waits, and the job could end before the kill)
    expr = {"op": "group_by", "args": [{"op": "frame", "key": "g"}], "by": ["g"],
            "aggs": [{"agg": "median", "col": "x"}, {"agg": "sd", "col": "x"}]}
    answer: dict = {}

    def run():
        answer["reply"] = a.post("/api/v1/evaluate", {"expr": expr, "dest": "grouped"}, timeout=60)
        answer["at"] = time.monotonic()

    th = threading.Thread(target=run, daemon=True)
    th.start()

    def running_job():
        jobs = a.get("/api/v1/jobs")[1]["jobs"]
        return next((j for j in jobs if j["kind"] == "evaluate" and j["status"] == "RUNNING"), None)

    job = wait_until(running_job, timeout=60, interval=0.02, what="the evaluate job to run")
    time.sleep(0.5)
    assert a.job(job["key"])["status"] == "RUNNING", "the task ended before the kill: make it longer"
    t_kill = time.monotonic()
    c.kill(victim, signal.SIGKILL)
    detected = _watch_survivors([a, frozen], victim.id, t_kill)
    th.join(15)
    assert not th.is_alive()
    code, body = answer["reply"]
    assert code == 503 and body["error"]["code"] == "node_lost", body
    assert victim.id in body["error"]["message"] and body["error"]["details"]["node"] == victim.id
    done = a.job(job["key"])
    assert done["status"] == "FAILED" and done["error"]["code"] == "node_lost"
    assert detected <= 5.0 and answer["at"] - t_kill <= 10.0
    assert a.get("/api/v1/frames/grouped")[0] == 404         # no partial output
    _assert_frame_lost(a, "g", victim.id)

    # R4: freeze a survivor; it is declared lost within 5 s, and on return it is fenced, not merged
    t_stop = time.monotonic()
    c.kill(frozen, signal.SIGSTOP)
    try:
        wait_until(lambda: frozen.id in a.status(timeout=2.0)["lost"], timeout=5, interval=0.05,
                   what="the frozen node to be declared lost")
        assert time.monotonic() - t_stop <= 5.0
    finally:
        c.kill(frozen, signal.SIGCONT)

    def fenced_self():
        st = frozen.status(timeout=2.0)
        me = next(r for r in st["nodes"] if r["self"])
        return st if me["health"] == "fenced" else None

    st = wait_until(fenced_self, timeout=30, what="the resumed node to learn it is fenced")
    assert st["healthy"] is False
    time.sleep(1.0)
    rows = {r["name"]: r["health"] for r in a.status()["nodes"]}
    assert rows == {a.id: "healthy", frozen.id: "lost", victim.id: "lost"}   # never merged back
    assert "fenced" in frozen.log()
    code, body = frozen.get("/api/v1/frames/g")                # a fenced node does no cluster work
    assert code >= 400 and body["error"]["code"] in ("cluster_error", "frame_lost", "node_lost"), body
