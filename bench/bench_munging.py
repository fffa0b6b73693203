"""db-benchmark-style group_by questions, a join and quantiles: Shoal's munging engine vs pandas and
polars, in one run, on the same generated data.

Shoal runs in-process (one ``Node``, its compute pool, the same code path as ``POST /evaluate``
minus HTTP), so the numbers measure the engine, not the transport. H2O-3's times for the issue's
goals come from its own run (see issue 5); this script does not start a JVM.

    python bench/bench_munging.py --rows 1e6 --groups 100     # ~1 min on 2 cores
    python bench/bench_munging.py --rows 1e7 --groups 100     # the issue's G1 1e7 size

Data (the db-benchmark recipe, G1): id1..id3 categorical ``id%03d`` with K, K and N/K levels,
id4..id6 integers in [1, K], [1, K], [1, N/K], v1 in [1, 5], v2 in [1, 15], v3 real in [0, 100).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from _common import log


def gen(n: int, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    nk = max(1, n // k)
    return {"id1": rng.integers(0, k, n), "id2": rng.integers(0, k, n), "id3": rng.integers(0, nk, n),
            "id4": rng.integers(1, k + 1, n), "id5": rng.integers(1, k + 1, n), "id6": rng.integers(1, nk + 1, n),
            "v1": rng.integers(1, 6, n), "v2": rng.integers(1, 16, n), "v3": np.round(rng.random(n) * 100, 6),
            "_k": k, "_nk": nk}


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def agg(spec):
    return [{"agg": a, "col": c, "na": "rm"} if c else {"agg": a} for a, c in spec]


QUESTIONS = {  # name: (keys, [(agg, col)], pandas agg dict)
    "q1 sum v1 by id1": (["id1"], [("sum", "v1")]),
    "q2 sum v1 by id1:id2": (["id1", "id2"], [("sum", "v1")]),
    "q3 sum v1 mean v3 by id3": (["id3"], [("sum", "v1"), ("mean", "v3")]),
    "q4 mean v1:v3 by id4": (["id4"], [("mean", "v1"), ("mean", "v2"), ("mean", "v3")]),
    "q5 sum v1:v3 by id6": (["id6"], [("sum", "v1"), ("sum", "v2"), ("sum", "v3")]),
    "q6 median v3 sd v3 by id4:id5": (["id4", "id5"], [("median", "v3"), ("sd", "v3")]),
    "q10 sum v3 count by id1:id6": (["id1", "id2", "id3", "id4", "id5", "id6"], [("sum", "v3"), ("nrow", None)]),
}
_PANDAS = {"sum": "sum", "mean": "mean", "median": "median", "sd": "std", "nrow": "size"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    n = int(a.rows)
    from shoal_server.config import NodeConfig
    from shoal_server.munging import evaluate, warm_up
    from shoal_server.node import Node
    from shoal_server.parser import frame_from_columns
    try:
        import polars as pl
    except ImportError:  # pragma: no cover - optional peer
        pl = None

    d = gen(n, a.groups, a.seed)
    k, nk = d.pop("_k"), d.pop("_nk")
    doms = {"id1": k, "id2": k, "id3": nk}
    pdf = pd.DataFrame({c: (pd.Categorical.from_codes(v, [f"id{i:03d}" for i in range(doms[c])]) if c in doms else v)
                        for c, v in d.items()})
    plf = pl.from_pandas(pdf) if pl is not None else None
    warm_up()
    node = Node(NodeConfig())
    cols = []
    for c, v in d.items():
        if c in doms:
            cols.append({"name": c, "type": "enum", "data": v.astype(np.int32),
                         "domain": [f"id{i:03d}" for i in range(doms[c])]})
        else:
            cols.append({"name": c, "type": "real" if v.dtype.kind == "f" else "int", "data": v})
    frame_from_columns(node, cols, "G1")
    fr = {"op": "frame", "key": "G1"}
    rows = []
    for name, (keys, spec) in QUESTIONS.items():
        expr = {"op": "group_by", "args": [fr], "by": keys, "aggs": agg(spec)}
        t_shoal = _best(lambda: evaluate(node, expr, "ans"), a.repeat)
        named = {f"{x}_{c or 'n'}": ((c or keys[0]), _PANDAS[x]) for x, c in spec}
        t_pd = _best(lambda: pdf.groupby(keys, observed=True, sort=True).agg(**named), a.repeat)
        t_pl = float("nan")
        if plf is not None:
            exprs = [(pl.len() if x == "nrow" else getattr(pl.col(c), {"sd": "std"}.get(x, x))()).alias(f"{x}_{c}")
                     for x, c in spec]
            t_pl = _best(lambda: plf.group_by(keys).agg(exprs).sort(keys), a.repeat)
        rows.append((name, t_shoal, t_pd, t_pl))
        log(name, f"shoal {t_shoal:.3f}s pandas {t_pd:.3f}s polars {t_pl:.3f}s")
    # join (J1-like: the small side has the distinct keys of id4) and quantiles
    small = pd.DataFrame({"id4": np.arange(1, k + 1), "w": np.arange(k, dtype=float)})
    frame_from_columns(node, [{"name": "id4", "type": "int", "data": small["id4"].to_numpy()},
                              {"name": "w", "type": "real", "data": small["w"].to_numpy()}], "J")
    jexpr = {"op": "merge", "args": [fr, {"op": "frame", "key": "J"}], "by_x": ["id4"], "by_y": ["id4"]}
    rows.append(("join on id4 (inner)", _best(lambda: evaluate(node, jexpr, "ans"), a.repeat),
                 _best(lambda: pdf.merge(small, on="id4"), a.repeat),
                 _best(lambda: plf.join(pl.from_pandas(small), on="id4"), a.repeat) if plf is not None else np.nan))
    qexpr = {"op": "quantile", "args": [{"op": "col", "frame": "G1", "name": "v3"}],
             "probs": [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]}
    probs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    rows.append(("quantiles of v3 (7 probs)", _best(lambda: evaluate(node, qexpr, "ans"), a.repeat),
                 _best(lambda: np.quantile(d["v3"], probs), a.repeat), np.nan))
    node.close()
    print(f"\n### Munging, {n:,} rows, K={k} ({time.strftime('%Y-%m-%d')})\n")
    print("| question | Shoal s | pandas s | polars s | Shoal / best peer |")
    print("|---|---:|---:|---:|---:|")
    for name, s, p, q in rows:
        best = min(x for x in (p, q) if x == x)
        print(f"| {name} | {s:.3f} | {p:.3f} | {q:.3f} | {s / best:.1f}x |")
    log("median ratio", statistics.median(r[1] / min(x for x in r[2:] if x == x) for r in rows))


if __name__ == "__main__":
    main()
