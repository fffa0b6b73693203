"""Whole `shoal-server` nodes joined by the cluster layer: status on every node, loss of a node, parse.

These start the full node (`python -m shoal_server --peers ...`), which calls
``shoal_server.cluster.start(node)``.
"""
from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from harness import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_full_nodes_agree_report_each_other_and_survive_a_killed_node(make_cluster):
    c = make_cluster(3, full=True, heartbeat_timeout=2.0)
    ids = sorted(n.id for n in c.nodes)
    for node in c.nodes:
        st = wait_until(lambda: (lambda s: s if all(r["cores"] for r in s["nodes"]) else None)(node.status()),
                        timeout=5, what="every node's stats in the heartbeats")
        assert st["members"] == ids and st["healthy"] is True
        assert [r["name"] for r in st["nodes"]] == ids
        assert all(r["cores"] >= 1 and r["memory_budget"] > 0 and r["frame_memory"] == 0 for r in st["nodes"])
    a, b, victim = c.nodes
    t0 = time.monotonic()
    c.kill(victim, signal.SIGKILL)
    for node in (a, b):
        wait_until(lambda: node.status()["lost"] == [victim.id], timeout=5, what="the loss")
    assert time.monotonic() - t0 <= 5.0
    for node in (a, b):
        st = node.status()
        assert st["healthy"] is False
        assert {r["name"]: r["health"] for r in st["nodes"]} == {a.id: "healthy", b.id: "healthy",
                                                                 victim.id: "lost"}
        code, body = node.get("/api/v1/health")
        assert code == 200


def _write_csv(path, n=6000, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).round(6)
    b = rng.integers(0, 1000, n)
    with open(path, "w") as fh:
        fh.write("a,b\n")
        for x, y in zip(a, b):
            fh.write(f"{x},{y}\n")
    return a, b


def test_a_parse_on_three_full_nodes_is_summarised_the_same_from_every_node(make_cluster):
    import os

    c = make_cluster(3, full=True, heartbeat_timeout=3.0, extra_args=["--chunk-bytes", "8192"])
    path = os.path.join(c.dir, "data", "t.csv")
    a, b = _write_csv(path)
    code, body = c.nodes[0].post("/api/v1/import_file", {"path": [path], "destination_frame": "t"})
    assert code == 202, body
    job = body["job"]["key"]
    wait_until(lambda: c.nodes[0].get(f"/api/v1/jobs/{job}")[1]["job"]["status"] in ("DONE", "FAILED"),
               timeout=60, what="the parse")
    summaries = []
    for node in c.nodes:
        code, body = node.get("/api/v1/frames/t")
        assert code == 200, body
        summaries.append(body["frame"])
    cols = {col["name"]: col for col in summaries[0]["columns"]}
    assert cols["a"]["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert cols["b"]["max"] == b.max()
    assert summaries[1] == summaries[0] == summaries[2]


def test_download_from_every_node_equals_the_one_node_parse(make_cluster, tmp_path):
    """A 3-node frame downloads byte-identical CSV from any node, equal to the source values."""
    import io
    import os
    import urllib.request

    import pandas as pd

    c = make_cluster(3, full=True, heartbeat_timeout=3.0, extra_args=["--chunk-bytes", "4096"])
    path = os.path.join(c.dir, "data", "d.csv")
    a, b = _write_csv(path, n=3000, seed=4)
    code, body = c.nodes[1].post("/api/v1/import_file", {"path": [path], "destination_frame": "d"})
    assert code == 202, body
    job = body["job"]["key"]
    wait_until(lambda: c.nodes[1].get(f"/api/v1/jobs/{job}")[1]["job"]["status"] in ("DONE", "FAILED"),
               timeout=60, what="the parse")
    code, body = c.nodes[0].get("/api/v1/frames/d?chunk_summary=true")
    assert code == 200, body
    nodes_with_chunks = {row["node"] for row in body["frame"]["chunk_summary"]["nodes"] if row["rows"] > 0}
    assert len(nodes_with_chunks) == 3  # tiny chunks: the frame spans every node
    csvs = []
    for node in c.nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/api/v1/frames/d/data?format=csv",
                                    timeout=30) as r:
            csvs.append(r.read())
    assert csvs[0] == csvs[1] == csvs[2]
    df = pd.read_csv(io.BytesIO(csvs[0]))
    assert list(df["a"]) == list(a) and list(df["b"]) == list(b)
