"""Whole `shoal-server` nodes joined by the cluster layer: parse, uploads, downloads, any node answers.

These start the full node (`python -m shoal_server --peers ...`), which calls
``shoal_server.cluster.start(node)``. One 3-node cluster (of 4 candidates: the fourth is the late
joiner) serves every test of this module; tiny chunks make every frame span every node. Tests that
kill or freeze a node are in ``test_cluster_failures.py``.
"""
from __future__ import annotations

import gzip
import io
import os
import socket
import time

import msgpack
import numpy as np
import pandas as pd
import pytest
import zmq

from harness import NODE_MODULE, cluster, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def full3():
    with cluster(3, candidates=4, full=True, heartbeat_timeout=3.0, extra_args=["--chunk-bytes", "4096"]) as c:
        yield c


def _write_csv(path, n=6000, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).round(6)
    b = rng.integers(0, 1000, n)
    with open(path, "w") as fh:
        fh.write("a,b\n")
        for x, y in zip(a, b):
            fh.write(f"{x},{y}\n")
    return a, b


def _parse(node, path, dest):
    code, body = node.post("/api/v1/import_file", {"path": [path], "destination_frame": dest})
    assert code == 202, body
    job = node.wait_job(body["job"]["key"], timeout=300)
    assert job["status"] == "DONE", job
    return job


def _spread(node, key):
    code, body = node.get(f"/api/v1/frames/{key}?chunk_summary=true")
    assert code == 200, body
    return {row["node"]: row["rows"] for row in body["frame"]["chunk_summary"]["nodes"]}


def _downloads_equal(c, key, fmt="csv"):
    bodies = []
    for node in c.nodes[:3]:
        code, data = node.download(key, fmt)
        assert code == 200, data[:300]
        bodies.append(data)
    assert bodies[0] == bodies[1] == bodies[2]
    return bodies[0]


def test_a_parse_on_three_full_nodes_is_summarised_the_same_from_every_node(full3):
    c = full3
    path = os.path.join(c.dir, "data", "t.csv")
    a, b = _write_csv(path)
    _parse(c.nodes[0], path, "t")
    summaries = []
    for node in c.nodes[:3]:
        code, body = node.get("/api/v1/frames/t")
        assert code == 200, body
        summaries.append(body["frame"])
    cols = {col["name"]: col for col in summaries[0]["columns"]}
    assert cols["a"]["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert cols["b"]["max"] == b.max()
    assert summaries[1] == summaries[0] == summaries[2]


def test_download_from_every_node_equals_the_source_values(full3):
    """A 3-node frame downloads byte-identical CSV from any node, equal to the source values."""
    c = full3
    path = os.path.join(c.dir, "data", "d.csv")
    a, b = _write_csv(path, n=3000, seed=4)
    _parse(c.nodes[1], path, "d")
    spread = _spread(c.nodes[0], "d")
    assert sorted(spread) == sorted(n.id for n in c.nodes[:3]) and all(spread.values())  # spans every node
    df = pd.read_csv(io.BytesIO(_downloads_equal(c, "d")))
    assert list(df["a"]) == list(a) and list(df["b"]) == list(b)


def _shoalcol(n, seed):
    from shoal import wire

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x[::17] = np.nan
    k = rng.integers(-500, 500, n)
    s = rng.choice(np.array(["red", "green", "blue"]), n)
    cols = [{"name": "x", "type": "real", "data": x}, {"name": "k", "type": "int", "data": k},
            {"name": "s", "type": "string", "values": list(s)}]
    return wire.encode_columns(cols, n), x, k, s


def test_uploads_are_spread_over_every_node_by_home_and_download_equal_from_each(full3):
    c = full3
    ids = sorted(n.id for n in c.nodes[:3])
    # 1. a SHOALCOL upload (from pandas / R): the receiving node encodes and ships chunks to their homes
    body, x, k, s = _shoalcol(5000, seed=7)
    code, res = c.nodes[1].post_raw("/api/v1/upload_frame?destination_frame=up_col", body, "application/x-shoalcol")
    assert code == 201, res
    spread = _spread(c.nodes[2], "up_col")
    assert sorted(spread) == ids and all(v > 0 for v in spread.values()) and sum(spread.values()) == 5000
    df = pd.read_csv(io.BytesIO(_downloads_equal(c, "up_col")), keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(df["x"].to_numpy(), x)
    assert df["k"].tolist() == k.tolist() and df["s"].tolist() == list(s)

    # 2. a CSV upload and 3. a gzip upload: the spool file exists only on the receiving node, which
    # parses every range and ships the chunks to their homes
    a, b = _write_csv(os.path.join(c.dir, "u.csv"), n=4000, seed=9)
    raw = open(os.path.join(c.dir, "u.csv"), "rb").read()
    for receiver, name, data in ((c.nodes[2], "up_csv", raw), (c.nodes[0], "up_gz", gzip.compress(raw))):
        fname = "u.csv.gz" if name == "up_gz" else "u.csv"
        code, res = receiver.post_raw(f"/api/v1/upload_file?filename={fname}&destination_frame={name}", data)
        assert code == 202, res
        job = receiver.wait_job(res["job"]["key"])
        assert job["status"] == "DONE", job
        assert f"parse {name}: the input exists only on this node" in receiver.log()
        spread = _spread(c.nodes[1], name)
        assert sorted(spread) == ids and all(v > 0 for v in spread.values()), spread
        df = pd.read_csv(io.BytesIO(_downloads_equal(c, name)))
        assert list(df["a"]) == list(a) and list(df["b"]) == list(b)
    # the three frames' chunks are held where the layout says: every node's memory holds a share
    st = wait_until(lambda: (lambda s: s if all(r["frame_memory"] > 0 for r in s["nodes"] if r["member"]) else None)(
        c.nodes[0].status()), timeout=15, what="every node to report frame memory")
    assert {r["name"] for r in st["nodes"] if r["member"]} == set(ids)


def test_a_client_pointed_at_any_node_gets_the_same_answer(full3):
    c = full3
    body, _x, _k, _s = _shoalcol(1500, seed=3)
    code, res = c.nodes[0].post_raw("/api/v1/upload_frame?destination_frame=same", body, "application/x-shoalcol")
    assert code == 201, res
    lists, frames = [], []
    for node in c.nodes[:3]:
        code, res = node.get("/api/v1/frames")
        assert code == 200, res
        lists.append(sorted(res["frames"], key=lambda f: f["key"]))
        code, res = node.get("/api/v1/frames/same?histogram=true&chunk_summary=true")
        assert code == 200, res
        frames.append(res["frame"])
    assert lists[0] == lists[1] == lists[2] and "same" in {f["key"] for f in lists[0]}
    assert frames[0] == frames[1] == frames[2]
    ids = sorted(n.id for n in c.nodes[:3])
    for node in c.nodes[:3]:                              # every node reports every member's stats
        st = wait_until(lambda: (lambda s: s if all(r["cores"] for r in s["nodes"] if r["member"]) else None)(
            node.status()), timeout=15, what="every member's stats in the heartbeats")
        rows = [r for r in st["nodes"] if r["member"]]
        assert [r["name"] for r in rows] == ids and st["healthy"] is True
        assert all(r["health"] == "healthy" and r["memory_budget"] > 0 and r["frame_memory"] > 0 for r in rows)
    # a deletion through one node is seen by all
    code, res = c.nodes[2].delete("/api/v1/frames/same")
    assert code == 200, res
    for node in c.nodes[:3]:
        assert node.get("/api/v1/frames/same")[0] == 404


def _valid_header(**over):
    head = {"id": 1, "type": "req", "sender": "127.0.0.1:1", "reply_to": None, "op": "task.map", "epoch": 1,
            "cluster": "shoal", "version": "x", "payload": None, "buffers": []}
    head.update(over)
    return msgpack.packb(head, use_bin_type=True)


def test_garbage_on_a_full_node_port_is_dropped_and_the_cluster_keeps_working(full3):
    c = full3
    a = c.nodes[0]
    rng = np.random.default_rng(0)
    ctx = zmq.Context()
    try:
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(f"tcp://127.0.0.1:{a.node_port}")
        for m in ([b""], [b"\xc1"], [rng.bytes(300)], [msgpack.packb([1, 2])], [_valid_header()],
                  [_valid_header(sender=c.nodes[1].id, epoch=5)], [_valid_header(buffers=[["|O", [1]]]), b"\x00" * 8],
                  [_valid_header(type="hello", sender=c.nodes[1].id, payload={"mac": b"m"})]):
            d.send_multipart(m)
        with socket.create_connection(("127.0.0.1", a.node_port), timeout=2) as s:
            s.sendall(rng.bytes(8192))
        assert d.poll(500) == 0                         # nothing answers garbage
    finally:
        ctx.destroy(linger=0)
    assert a.alive()
    st = a.status()
    assert st["healthy"] and st["lost"] == [] and len(st["members"]) == 3
    body, _x, _k, _s = _shoalcol(800, seed=11)          # the cluster still does cluster work
    code, res = a.post_raw("/api/v1/upload_frame?destination_frame=after_garbage", body, "application/x-shoalcol")
    assert code == 201, res
    assert _spread(c.nodes[1], "after_garbage")


def test_a_joiner_after_the_lock_is_refused_and_the_members_stay(full3):
    c = full3
    body, _x, _k, _s = _shoalcol(300, seed=2)           # the first frame locks the cluster
    code, res = c.nodes[0].post_raw("/api/v1/upload_frame?destination_frame=lock_it", body, "application/x-shoalcol")
    assert code == 201, res
    assert all(n.status()["locked"] for n in c.nodes[:3])
    late = c.spawn_node(3, module=NODE_MODULE)          # the 4th candidate: the cluster layer alone starts fast
    c.wait_serving(late)
    wait_until(lambda: "the cluster is locked" in late.log(), timeout=30, what="the refusal in the joiner's log")
    for node in c.nodes[:3]:
        wait_until(lambda: "Refused node " + late.id in node.log(), timeout=30, what="the refusal log line")
        assert node.status()["members"] == sorted(n.id for n in c.nodes[:3])
    assert late.status()["members"] == [late.id]
    late.proc.terminate()
    late.proc.wait(10)


def test_cancelling_a_parse_stops_its_maps_on_every_node_and_leaves_nothing(full3):
    c = full3
    a = c.nodes[0]
    path = os.path.join(c.dir, "data", "cancel.csv")
    rng = np.random.default_rng(3)
    n = 400_000
    pd.DataFrame({"a": rng.standard_normal(n).round(4), "b": rng.integers(0, 1000, n)}).to_csv(path, index=False)

    def memory():
        return {r["name"]: r["frame_memory"] for r in a.status()["nodes"] if r["member"]}

    before = memory()
    code, body = a.post("/api/v1/import_file", {"path": [path], "destination_frame": "cancelled"})
    assert code == 202, body
    key = body["job"]["key"]
    job = wait_until(lambda: (lambda j: j if j["progress"] >= 0.15 or j["status"] not in ("CREATED", "RUNNING")
                              else None)(a.job(key)), timeout=180, interval=0.02, what="ranges being parsed")
    assert job["status"] == "RUNNING", job
    t0 = time.monotonic()
    code, body = a.post(f"/api/v1/jobs/{key}/cancel", {})
    assert code == 200, body
    job = a.wait_job(key, timeout=5)
    assert job["status"] == "CANCELLED" and time.monotonic() - t0 <= 2.0, job
    others = [n.id for n in c.nodes[1:3]]

    def stopped():
        rows = {r["name"]: r for r in a.status()["nodes"] if r["name"] in others}
        return rows if all(r["remote_maps_running"] == 0 for r in rows.values()) else None

    # whether a remote map was still running when the cancel landed depends on timing (on a quiet
    # machine the other nodes may sit between ranges); that a running remote map is stopped by the
    # cancel is shown deterministically by test_cluster_cancel_broadcast.py
    wait_until(stopped, timeout=10, what="the other nodes' maps to stop")
    for node in c.nodes[:3]:
        assert node.get("/api/v1/frames/cancelled")[0] == 404
    wait_until(lambda: memory() == before, timeout=30, what="staged chunks to be freed on every node")
