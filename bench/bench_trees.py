"""GBM and random forest: Shoal's tree engine (in-process node) against LightGBM, XGBoost (hist) and
scikit-learn on the same in-memory data, in one run.

    python bench/bench_trees.py --rows 1e6 --cols 28 --ntrees 100 --depth 6
    python bench/bench_trees.py --rows 1e5 --quick          # a smoke run

Data: ``cols`` standard normal features (5 % missing in one), a binary response from a fixed
nonlinear score, generated from ``--seed``; 80 % train, 20 % test. Reported: train seconds and test
AUC per library, and Shoal's time ratio to each peer. Absolute seconds depend on the machine's load
(``machine_note``); compare ratios from the same run only. H2O-3 is not run here (it needs a JVM
and a server); ``bench_parse.py`` shows how to add it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, machine_note  # noqa: E402


def make_data(rows: int, cols: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    X[rng.random(rows) < 0.05, 1] = np.nan
    s = 1.2 * X[:, 0] - np.nan_to_num(X[:, 1], nan=0.5) + np.sin(2 * X[:, 2]) + 0.7 * X[:, 3] * X[:, 4]
    if cols > 6:
        s += 0.3 * np.abs(X[:, 5]) - 0.2 * X[:, 6] ** 2
    y = (rng.random(rows) < 1 / (1 + np.exp(-s))).astype(np.int32)
    return X, y


def run_shoal(Xtr, ytr, Xte, yte, algo, ntrees, depth, threads):
    from sklearn.metrics import roc_auc_score

    from shoal_server.algos.common import api
    from shoal_server.config import NodeConfig
    from shoal_server.node import Node
    from shoal_server.parser import frame_from_columns
    import shoal_server.algos.drf  # noqa: F401
    import shoal_server.algos.gbm  # noqa: F401
    from shoal_server.store import codecs

    node = Node(NodeConfig(threads=threads))

    def frame(X, y, key):
        cols = [{"name": f"x{j}", "type": "real", "data": X[:, j]} for j in range(X.shape[1])]
        cols.append({"name": "y", "type": "enum", "data": y, "domain": ["0", "1"]})
        frame_from_columns(node, cols, key, chunk_rows=max(10000, len(y) // (4 * threads)))

    frame(Xtr, ytr, "train")
    frame(Xte, yte, "test")
    params = dict(training_frame="train", y="y", ntrees=ntrees, max_depth=depth, seed=1, score_tree_interval=ntrees)
    if algo == "gbm":
        params.update(learn_rate=0.1)
    api.train(node, algo, dict(params, ntrees=1))  # compile / load the kernels outside the timing
    t = time.perf_counter()
    key = api.train(node, algo, params)
    secs = time.perf_counter() - t
    h = api.predict(node, key, "test")
    c = h.col_index("p1")
    p = np.concatenate([codecs.decode_float64(node.chunks.get(h.key, c, i)) for i in range(h.nchunks)])
    node.close()
    return secs, roc_auc_score(yte, p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--cols", type=int, default=28)
    ap.add_argument("--ntrees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="20 trees, skip the slow peers")
    a = ap.parse_args(argv)
    if a.quick:
        a.ntrees = 20
    from sklearn.metrics import roc_auc_score

    n = int(a.rows)
    X, y = make_data(n, a.cols, a.seed)
    cut = int(0.8 * n)
    Xtr, ytr, Xte, yte = X[:cut], y[:cut], X[cut:], y[cut:]
    log(machine_note())
    results = {}
    results["shoal GBM"] = run_shoal(Xtr, ytr, Xte, yte, "gbm", a.ntrees, a.depth, a.threads)
    try:
        import lightgbm as lgb
        t = time.perf_counter()
        b = lgb.train(dict(objective="binary", num_leaves=2 ** a.depth, max_depth=a.depth, learning_rate=0.1,
                           min_data_in_leaf=10, verbose=-1, num_threads=a.threads), lgb.Dataset(Xtr, ytr), a.ntrees)
        results["LightGBM"] = (time.perf_counter() - t, roc_auc_score(yte, b.predict(Xte)))
    except ImportError:
        log("lightgbm not installed")
    try:
        import xgboost as xgb
        t = time.perf_counter()
        m = xgb.XGBClassifier(n_estimators=a.ntrees, max_depth=a.depth, learning_rate=0.1, tree_method="hist",
                              n_jobs=a.threads).fit(Xtr, ytr)
        results["XGBoost hist"] = (time.perf_counter() - t, roc_auc_score(yte, m.predict_proba(Xte)[:, 1]))
    except ImportError:
        log("xgboost not installed")
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    t = time.perf_counter()
    h = HistGradientBoostingClassifier(max_iter=a.ntrees, max_depth=a.depth, learning_rate=0.1,
                                       early_stopping=False).fit(Xtr, ytr)
    results["sklearn HistGB"] = (time.perf_counter() - t, roc_auc_score(yte, h.predict_proba(Xte)[:, 1]))
    nrf = max(10, a.ntrees // 2)
    results["shoal DRF"] = run_shoal(Xtr, ytr, Xte, yte, "drf", nrf, 20, a.threads)
    if not a.quick:
        t = time.perf_counter()
        rf = RandomForestClassifier(n_estimators=nrf, max_depth=20, n_jobs=a.threads,
                                    random_state=1).fit(np.nan_to_num(Xtr), ytr)
        results["sklearn RF"] = (time.perf_counter() - t,
                                 roc_auc_score(yte, rf.predict_proba(np.nan_to_num(Xte))[:, 1]))
    base = results["shoal GBM"][0]
    print(f"\n{n:,} rows x {a.cols} cols, {a.ntrees} trees, depth {a.depth}, {a.threads} threads")
    print(f"{'library':<16}{'train s':>10}{'test AUC':>10}{'shoal GBM / this':>18}")
    for k, (s, auc) in results.items():
        print(f"{k:<16}{s:>10.2f}{auc:>10.4f}{base / s:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
