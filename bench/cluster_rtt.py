"""Round-trip time of an empty RPC and an empty map on 1 and 3 local nodes (median of many).

Usage: ``python bench/cluster_rtt.py [--repeat 500] [--nodes 1 3] [--json out.json]``

Each round is timed inside the coordinating node (no HTTP in the measured path): ``rpc`` sends
``cluster.ping`` to every other member at once and waits for all replies; ``map`` sends an empty
``task.map`` (the wire path of ``Runtime.run``: request, handler pool, reply with the partials) to
every other member at once; ``loop`` is one hop from a caller thread onto the cluster loop and
back (all a 1-node cluster pays). Nodes are the cluster-only test node
(``shoal_server.cluster.testnode``), started with the harness from ``tests/cluster``.

Later, when the full node serves the runtime, ``--through runtime`` should time an empty
map/reduce over a frame with one chunk per node through ``Runtime.run`` (same harness, nodes
started with ``shoal-server``); the measured kinds are the only part that changes.

Goal (issue 3): empty map/reduce ≤ 5 ms median on 3 local nodes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cluster"))
from harness import cluster  # noqa: E402  (the test harness is the one way to start local clusters)


def measure(n: int, repeat: int) -> dict:
    out = {}
    with cluster(n, heartbeat_interval=0.5, heartbeat_timeout=5.0) as c:
        coordinator = c.nodes[0]
        kinds = ["loop"] + (["rpc", "map"] if n > 1 else [])
        for kind in kinds:
            coordinator.post("/bench", {"kind": kind, "repeat": 20})          # warm-up
            code, body = coordinator.post("/bench", {"kind": kind, "repeat": repeat}, timeout=600)
            assert code == 200, body
            t = sorted(body["seconds"])
            out[kind] = {"median_ms": statistics.median(t) * 1e3, "p90_ms": t[int(0.9 * (len(t) - 1))] * 1e3,
                         "min_ms": t[0] * 1e3, "rounds": len(t)}
        if n > 1:
            # bytes on the wire per request and per reply of an empty map (header only, no buffers)
            sent = coordinator.status()["counters"]
            other = c.nodes[1].status()["counters"]
            out["bytes"] = {"map_request": sent["sent_bytes.req:task.map"] / sent["sent.req:task.map"],
                            "map_reply": other["sent_bytes.rep:task.map"] / other["sent.rep:task.map"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=500)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    results = {}
    for n in args.nodes:
        results[n] = measure(n, args.repeat)
        for kind, r in results[n].items():
            if kind == "bytes":
                print(f"{n} node(s)  bytes  empty map request {r['map_request']:.0f} B, reply {r['map_reply']:.0f} B")
                continue
            print(f"{n} node(s)  {kind:5s}  median {r['median_ms']:.3f} ms  p90 {r['p90_ms']:.3f} ms  "
                  f"min {r['min_ms']:.3f} ms  ({r['rounds']} rounds)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpu_count": os.cpu_count(), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
