"""GBM and random forest: Shoal's tree engine (one in-process node) against H2O-3, LightGBM, XGBoost
(hist) and scikit-learn on the same data, in one run.

    python bench/bench_trees.py --data higgs --rows 1e6            # 1e6 x 28 numeric
    python bench/bench_trees.py --data airline --rows 1e6          # bench/datagen.py (cats + NAs)
    python bench/bench_trees.py --data higgs --rows 1e5 --repeat 1 --skip h2o,rf   # a smoke run
    python bench/bench_trees.py --contrib --rows 1e5 --repeat 3    # TreeSHAP vs LightGBM / XGBoost

Data (generated from ``--seed`` into a temporary directory, never committed; 80 % train, 20 % test):

- ``higgs``: ``--cols`` standard normal features (5 % missing in one), a binary response from a fixed
  nonlinear logit (the shape of the Higgs benchmark: all numeric, dense).
- ``airline``: ``bench/datagen.py`` rows (8 numeric, 5 categorical with up to 4000 levels, 2 % missing
  cells everywhere), response ``IsDepDelayed``; ``DepDelay`` (it defines the response) is dropped.

GBM: ``--ntrees`` (100) trees of depth ``--depth`` (6), learning rate 0.1, at least 10 rows a leaf,
every library with the same limits (LightGBM ``num_leaves = 2^depth``, sklearn ``max_leaf_nodes =
2^depth``). Shoal runs twice: H2O-3's default binning (``UniformAdaptive``, 20 / 1024 bins) and
LightGBM's (``QuantilesGlobal``, 255 bins). DRF: 50 trees, depth 20, H2O-3's defaults (mtries
√p, sample rate 0.632, min_rows 1) against H2O-3 DRF and sklearn RandomForest (same depth, √p
features, bootstrap). Reported: medians of ``--repeat`` fits (H2O-3: ``--h2o-repeat``), test AUC,
and each time's ratio to Shoal's. Each library's first fit is preceded by an untimed small fit
(numba compiles, JVM warms up). The machine's load is printed: compare ratios of the same run.

Memory: the resident size of this process after each stage (data, Shoal's frames, the H2O-3
upload, each fit) goes to stderr, and the table has each library's peak RSS during its fit and
test scoring (``VmHWM``, reset before each fit). H2O-3's JVM is a separate process.

``--contrib``: TreeSHAP instead of training. Shoal's ``predict_contributions`` (frame to frame, and
the kernel alone on in-memory rows) against LightGBM ``pred_contrib`` and XGBoost ``pred_contribs``,
each library's model of ``--ntrees`` trees of depth ``--depth`` trained on the same ``--rows``
higgs-like rows it then explains; wall and CPU seconds (medians of ``--repeat`` runs after one warm
run), and the ratio to LightGBM's.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import loadavg, log, machine_note, md_table  # noqa: E402

H2O_PORT = 54671  # ports of its own (+10 for airline): never attach to (and shut down) another H2O-3


# ============================================================================================== data
def make_higgs(rows: int, cols: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    X[rng.random(rows) < 0.05, 1] = np.nan
    s = 1.2 * X[:, 0] - np.nan_to_num(X[:, 1], nan=0.5) + np.sin(2 * X[:, 2]) + 0.7 * X[:, 3] * X[:, 4]
    if cols > 6:
        s += 0.3 * np.abs(X[:, 5]) - 0.2 * X[:, 6] ** 2
    y = (rng.random(rows) < 1 / (1 + np.exp(-s))).astype(np.int32)
    names = [f"x{j}" for j in range(cols)]
    return {"num": {n: X[:, j] for j, n in enumerate(names)}, "cat": {}, "y": y}


def make_airline(rows: int, seed: int, tmp: str):
    import pyarrow.csv as pacsv

    from datagen import CATEGORICAL, NUMERIC, generate
    path = generate(rows, os.path.join(tmp, "airline.csv"), seed)
    t = pacsv.read_csv(path)
    num = {n: t.column(n).to_numpy(zero_copy_only=False).astype(np.float64)
           for n in NUMERIC + ["Cancelled"] if n != "DepDelay"}
    cat = {}
    for n in CATEGORICAL:
        if n == "IsDepDelayed":
            continue
        d = t.column(n).combine_chunks().dictionary_encode()
        codes = d.indices.to_numpy(zero_copy_only=False)
        codes = np.where(d.indices.is_null().to_numpy(zero_copy_only=False), -1, codes).astype(np.int32)
        cat[n] = (codes, [str(x) for x in d.dictionary.to_pylist()])
    yv = t.column("IsDepDelayed").to_numpy(zero_copy_only=False)
    keep = np.array([v is not None for v in yv])
    y = np.array([1 if v == "YES" else 0 for v in yv], np.int32)
    num = {k: v[keep] for k, v in num.items()}
    cat = {k: (v[0][keep], v[1]) for k, v in cat.items()}
    return {"num": num, "cat": cat, "y": y[keep]}


def split(d, frac=0.8):
    n = d["y"].shape[0]
    cut = int(frac * n)
    part = []
    for s in (slice(0, cut), slice(cut, n)):
        part.append({"num": {k: v[s] for k, v in d["num"].items()},
                     "cat": {k: (v[0][s], v[1]) for k, v in d["cat"].items()}, "y": d["y"][s]})
    return part


def pandas_frame(d, category=True):
    import pandas as pd
    cols = dict(d["num"])
    for k, (codes, dom) in d["cat"].items():
        if category:
            cols[k] = pd.Categorical.from_codes(codes, categories=dom)
        else:
            cols[k] = np.where(codes >= 0, codes, np.nan).astype(np.float64)
    return pd.DataFrame(cols)


# ============================================================================================ peers
# ============================================================================================ memory
def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (``VmRSS`` resident now, ``VmHWM`` peak resident); 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_gb() -> float:
    return _status_kb("VmRSS") / 2**20


def peak_gb() -> float:
    return _status_kb("VmHWM") / 2**20


def reset_peak() -> None:
    """Restart the peak-RSS counter (``VmHWM``) at the current RSS (Linux: ``5`` to ``clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def mem(stage: str) -> tuple[float, float]:
    """Log this process's resident memory now and its peak since the last :func:`reset_peak`."""
    now, peak = rss_gb(), peak_gb()
    log(f"  [mem] {stage}: RSS {now:.2f} GB, peak {peak:.2f} GB")
    return now, peak


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


class Shoal:
    def __init__(self, tr, te, threads):
        from shoal_server.config import NodeConfig
        from shoal_server.node import Node
        from shoal_server.parser import frame_from_columns
        import shoal_server.algos.drf  # noqa: F401
        import shoal_server.algos.gbm  # noqa: F401
        self.node = Node(NodeConfig(threads=threads))
        n = tr["y"].shape[0]
        # four chunks per thread, at most 2^18 rows each: past that a chunk's codes and the row
        # partition's buffers of both threads outgrow the 32 MB L3 (1e7 airline rows: 1e6-row
        # chunks 87 s, 2.5e5-row chunks 70 s, the import default of ~5e4 rows 72 s)
        chunk_rows = min(max(10000, n // (4 * threads)), 1 << 18)
        for d, key in ((tr, "train"), (te, "test")):
            cols = [{"name": k, "type": "real", "data": v} for k, v in d["num"].items()]
            cols += [{"name": k, "type": "enum", "data": c, "domain": dom} for k, (c, dom) in d["cat"].items()]
            cols.append({"name": "y", "type": "enum", "data": d["y"], "domain": ["0", "1"]})
            frame_from_columns(self.node, cols, key, chunk_rows=chunk_rows)

    def fit(self, algo, params):
        from shoal_server.algos.common import api
        from shoal_server.store import codecs
        from sklearn.metrics import roc_auc_score
        node = self.node
        params = dict(params, training_frame="train", y="y", seed=1, score_tree_interval=params["ntrees"])
        secs, key = timed(lambda: api.train(node, algo, params))
        h = api.predict(node, key, "test")
        c = h.col_index("p1")
        p = np.concatenate([codecs.decode_float64(node.chunks.get(h.key, c, i)) for i in range(h.nchunks)])
        y = np.concatenate([codecs.decode_float64(node.chunks.get("test", node.catalog.get("test").col_index("y"), i))
                            for i in range(node.catalog.get("test").nchunks)])
        return secs, roc_auc_score(y, p)

    def close(self):
        self.node.close()


class H2O:
    def __init__(self, tr, te, tmp, port):
        import h2o
        self.h2o = h2o
        h2o.init(port=port, nthreads=2, max_mem_size="8g")
        h2o.no_progress()
        self.frames = []
        for d, name in ((tr, "train"), (te, "test")):
            df = pandas_frame(d)
            df["y"] = np.where(d["y"] == 1, "y1", "y0")
            path = os.path.join(tmp, f"h2o_{name}.csv")
            df.to_csv(path, index=False, float_format="%.17g")
            types = {k: "enum" for k in d["cat"]}
            types["y"] = "enum"
            self.frames.append(h2o.import_file(path, col_types=types))
        self.yte = te["y"]
        self.x = list(tr["num"]) + list(tr["cat"])

    def fit(self, algo, params):
        from h2o.estimators import H2OGradientBoostingEstimator, H2ORandomForestEstimator
        from sklearn.metrics import roc_auc_score
        est = (H2OGradientBoostingEstimator if algo == "gbm" else H2ORandomForestEstimator)(seed=1, **params)
        secs, _ = timed(lambda: est.train(x=self.x, y="y", training_frame=self.frames[0]))
        p = est.predict(self.frames[1]).as_data_frame(use_multi_thread=False)["y1"].to_numpy()
        return secs, roc_auc_score(self.yte, p)

    def close(self):
        try:
            self.h2o.cluster().shutdown()
        except Exception as exc:  # noqa: BLE001 - the benchmark must still report
            log(f"h2o shutdown: {exc}")


def run_lightgbm(tr, te, a, threads):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    Xtr, Xte = pandas_frame(tr), pandas_frame(te)
    params = dict(objective="binary", num_leaves=2 ** a.depth, max_depth=a.depth, learning_rate=0.1,
                  min_data_in_leaf=10, max_bin=255, verbose=-1, num_threads=threads, seed=1)
    secs, b = timed(lambda: lgb.train(params, lgb.Dataset(Xtr, tr["y"]), a.ntrees))
    return secs, roc_auc_score(te["y"], b.predict(Xte))


def run_xgboost(tr, te, a, threads):
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
    Xtr, Xte = pandas_frame(tr), pandas_frame(te)
    m = xgb.XGBClassifier(n_estimators=a.ntrees, max_depth=a.depth, learning_rate=0.1, tree_method="hist",
                          max_bin=256, n_jobs=threads, enable_categorical=True, random_state=1)
    secs, _ = timed(lambda: m.fit(Xtr, tr["y"]))
    return secs, roc_auc_score(te["y"], m.predict_proba(Xte)[:, 1])


def run_histgb(tr, te, a, threads):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    # categoricals with <= 255 levels natively, wider ones as ordinal codes (HistGB's limit)
    cats = [k for k, (_c, dom) in tr["cat"].items() if len(dom) <= 255]
    wide = {k for k in tr["cat"] if k not in cats}

    def X(d):
        df = pandas_frame(d)
        for k in wide:
            df[k] = df[k].cat.codes.astype(float).where(df[k].notna())
        return df
    h = HistGradientBoostingClassifier(max_iter=a.ntrees, max_depth=a.depth, max_leaf_nodes=2 ** a.depth,
                                       learning_rate=0.1, min_samples_leaf=10, l2_regularization=0.0,
                                       early_stopping=False, categorical_features=cats or None, random_state=1)
    secs, _ = timed(lambda: h.fit(X(tr), tr["y"]))
    return secs, roc_auc_score(te["y"], h.predict_proba(X(te))[:, 1])


def run_rf(tr, te, a, threads):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    Xtr, Xte = pandas_frame(tr, category=False), pandas_frame(te, category=False)
    rf = RandomForestClassifier(n_estimators=a.rf_trees, max_depth=20, max_features="sqrt", n_jobs=threads,
                                random_state=1)
    secs, _ = timed(lambda: rf.fit(Xtr, tr["y"]))
    return secs, roc_auc_score(te["y"], rf.predict_proba(Xte)[:, 1])


# ==================================================================================== contributions
def run_contrib(a, d) -> int:
    """TreeSHAP: Shoal's ``predict_contributions`` against LightGBM ``pred_contrib`` and XGBoost
    ``pred_contribs`` on models of the same size, every library scoring the same ``--rows`` rows."""
    import lightgbm as lgb
    import xgboost as xgb

    from shoal_server.algos.common import api
    from shoal_server.algos.common.frames import delete_frame
    from shoal_server.algos.tree import model as tree_model
    from shoal_server.algos.tree import predict_contributions

    X = np.column_stack([d["num"][k] for k in d["num"]])
    y = d["y"]
    n = X.shape[0]
    reps = max(a.repeat, 1)
    times: dict[str, list] = {}
    loads: list[float] = []
    leaves: dict[str, int] = {}
    peaks: dict[str, float] = {}
    cpu: dict[str, list] = {}      # CPU seconds of this process (all threads): steadier than wall time under load

    def timeit(name, fn):
        fn()                                    # warm: numba compiles or loads its cache, peers allocate
        gc.collect()
        reset_peak()
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.setdefault(name, []).append(time.perf_counter() - t)
            cpu.setdefault(name, []).append(time.process_time() - c)
            loads.append(os.getloadavg()[0])
        peaks[name] = peak_gb()
        log(f"  {name}: " + " / ".join(f"{x:.2f}" for x in times[name]) + " s, CPU "
            + " / ".join(f"{x:.2f}" for x in cpu[name]) + f" s  (load {loadavg()})")

    # Shoal: the model trained on the rows it then explains; the frame's chunks are scored by the pool
    sh = Shoal(d, {"num": {k: v[:100] for k, v in d["num"].items()}, "cat": {}, "y": y[:100]}, a.threads)
    try:
        key = api.train(sh.node, "gbm", dict(training_frame="train", y="y", seed=1, ntrees=a.ntrees,
                                              max_depth=a.depth, learn_rate=0.1, min_rows=10,
                                              score_tree_interval=a.ntrees))
        m = api.get_model(sh.node, key)
        leaves["Shoal GBM"] = int((np.asarray(m.arrays["col"]) < 0).sum())

        def shoal_frame():
            delete_frame(sh.node, predict_contributions(sh.node, m, "train", dest_key="contrib_bench").key)
        timeit("Shoal predict_contributions (frame -> frame)", shoal_frame)
        pl = tree_model.tree_payload(m)
        Xs = np.ascontiguousarray(X)
        cut = np.linspace(0, n, 2 * a.threads + 1).astype(int)

        def shoal_kernel():
            # the kernel alone on in-memory rows, one slice per pool thread (as the frame's chunks)
            futs = [sh.node.runtime.pool.submit(tree_model.contributions_array, pl, Xs[cut[i]:cut[i + 1]])
                    for i in range(len(cut) - 1)]
            return [f.result() for f in futs]
        timeit("Shoal contributions kernel (numpy rows)", shoal_kernel)
        ours = np.concatenate(shoal_kernel()).reshape(n, -1)
        raw = tree_model.raw_scores(pl, Xs)[:, 0]
        log(f"  Shoal: max |sum of contributions - raw score| = {np.abs(ours.sum(axis=1) - raw).max():.2e}")
    finally:
        sh.close()
    booster = lgb.train(dict(objective="binary", num_leaves=2 ** a.depth, max_depth=a.depth, learning_rate=0.1,
                             min_data_in_leaf=10, max_bin=255, verbose=-1, num_threads=a.threads, seed=1),
                        lgb.Dataset(X, y), a.ntrees)
    leaves["LightGBM"] = int(sum(t["num_leaves"] for t in booster.dump_model()["tree_info"]))
    timeit("LightGBM pred_contrib", lambda: booster.predict(X, pred_contrib=True, num_threads=a.threads))
    xm = xgb.train(dict(objective="binary:logistic", max_depth=a.depth, eta=0.1, tree_method="hist", max_bin=256,
                        nthread=a.threads, seed=1), xgb.DMatrix(X, y), a.ntrees)
    leaves["XGBoost"] = int(sum(1 for _ in xm.trees_to_dataframe().query("Feature == 'Leaf'").itertuples()))
    dm = xgb.DMatrix(X, nthread=a.threads)
    timeit("XGBoost pred_contribs", lambda: xm.predict(dm, pred_contribs=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["LightGBM pred_contrib"]
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    cref = cmed["LightGBM pred_contrib"]
    rows = [[k, len(v), f"{med[k]:.3f}", " / ".join(f"{x:.3f}" for x in v), f"{med[k] / ref:.2f}×",
             f"{cmed[k]:.3f}", f"{cmed[k] / cref:.2f}×", f"{n / med[k]:,.0f}", f"{peaks[k]:.2f}"]
            for k, v in times.items()]
    title = (f"TreeSHAP: {n:,} rows x {X.shape[1]} numeric, {a.ntrees} trees depth {a.depth}; {a.threads} threads; "
             "leaves: " + ", ".join(f"{k} {v:,}" for k, v in leaves.items()))
    print(f"\n### {title}\n")
    print(md_table(["contributions", "runs", "median s", "each run s", "time / LightGBM's", "median CPU s",
                    "CPU / LightGBM's", "rows / s", "peak RSS GB"], rows))
    print(f"\nLoad average (1 min) during the runs: min {min(loads):.1f}, median {statistics.median(loads):.1f}, "
          f"max {max(loads):.1f} on {os.cpu_count()} cores.", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"title": title, "times": times, "cpu": cpu, "leaves": leaves, "loads": loads,
                       "peak_rss_gb": peaks}, f, indent=1)
    return 0


# ============================================================================================== main
def report(a, d, tr, times, aucs, loads, n, peaks) -> None:
    """Print (and with --json save) the table of the fits so far."""
    med = {k: statistics.median(v) for k, v in times.items()}
    gbm_ref = med.get("Shoal GBM (UniformAdaptive)")
    drf_ref = med.get("Shoal DRF")
    rows = []
    for k in times:
        ref = drf_ref if ("DRF" in k or "RF" in k) else gbm_ref
        rows.append([k, len(times[k]), f"{med[k]:.1f}", " / ".join(f"{t:.1f}" for t in times[k]),
                     f"{statistics.median(aucs[k]):.4f}", f"{med[k] / ref:.2f}×" if ref else "—",
                     f"{max(peaks[k]):.2f}"])
    title = (f"{a.data}: {n:,} rows ({len(tr['y']):,} train), {len(d['num'])} numeric + {len(d['cat'])} "
             f"categorical predictors; GBM {a.ntrees} trees depth {a.depth}; DRF {a.rf_trees} trees depth 20; "
             f"{a.threads} threads")
    print(f"\n### {title}\n")
    print(md_table(["library", "fits", "median train s", "each fit s", "test AUC", "time / Shoal's",
                    "peak RSS GB"], rows))
    print("\nPeak RSS: this process's peak resident memory during the fit and its scoring of the test rows "
          "(H2O-3's JVM is another process and is not included).")
    print(f"\nLoad average (1 min) during the fits: min {min(loads):.1f}, median {statistics.median(loads):.1f}, "
          f"max {max(loads):.1f} on {os.cpu_count()} cores.", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"title": title, "times": times, "aucs": aucs, "loads": loads, "peak_rss_gb": peaks}, f,
                      indent=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("higgs", "airline"), default="higgs")
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--cols", type=int, default=28)
    ap.add_argument("--ntrees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--rf-trees", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--h2o-repeat", type=int, default=1)
    ap.add_argument("--skip", default="", help="comma list of: gbm,h2o,lightgbm,xgboost,histgb,rf,drf,quantiles")
    ap.add_argument("--json", default=None, help="also write the raw times here")
    ap.add_argument("--h2o-port", type=int, default=None, help=f"H2O-3 port (default {H2O_PORT}, +10 for airline)")
    ap.add_argument("--contrib", action="store_true",
                    help="time TreeSHAP instead of training: Shoal predict_contributions vs LightGBM pred_contrib "
                         "and XGBoost pred_contribs (higgs-like data, --rows rows, --ntrees trees of --depth)")
    a = ap.parse_args(argv)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    n = int(a.rows)
    tmp = tempfile.mkdtemp(prefix="shoal_bench_trees_")
    atexit.register(shutil.rmtree, tmp, True)     # the generated CSVs (airline, H2O-3 upload) go with the run
    log(machine_note())
    if a.contrib:
        return run_contrib(a, make_higgs(n, a.cols, a.seed))
    d = make_higgs(n, a.cols, a.seed) if a.data == "higgs" else make_airline(n, a.seed, tmp)
    mem("data generated")
    tr, te = split(d)
    mem("split")
    small_tr, small_te = split({"num": {k: v[:20000] for k, v in d["num"].items()},
                                "cat": {k: (v[0][:20000], v[1]) for k, v in d["cat"].items()}, "y": d["y"][:20000]})
    times: dict[str, list] = {}
    aucs: dict[str, list] = {}
    loads = []
    peaks: dict[str, list] = {}

    def record(name, res):
        peaks.setdefault(name, []).append(peak_gb())
        mem(f"after {name}")
        times.setdefault(name, []).append(res[0])
        aucs.setdefault(name, []).append(res[1])
        loads.append(os.getloadavg()[0])
        log(f"  {name}: {res[0]:.2f} s, AUC {res[1]:.4f}  (load {loadavg()})")
        gc.collect()   # the peers' frames of this fit go before the next one starts
        reset_peak()   # the next fit's peak starts from here

    gbm = dict(ntrees=a.ntrees, max_depth=a.depth, learn_rate=0.1, min_rows=10)
    drf = dict(ntrees=a.rf_trees, max_depth=20)
    variants = [] if "gbm" in skip else [("Shoal GBM (UniformAdaptive)", "gbm", gbm)]
    if "quantiles" not in skip and "gbm" not in skip:
        variants.append(("Shoal GBM (QuantilesGlobal 255)", "gbm", dict(gbm, histogram_type="QuantilesGlobal",
                                                                         nbins=255)))
    if "drf" not in skip:
        variants.append(("Shoal DRF", "drf", drf))
    peers = [(name, fn) for name, key, fn in (("LightGBM", "lightgbm", run_lightgbm),
                                                ("XGBoost hist", "xgboost", run_xgboost),
                                                ("sklearn HistGB", "histgb", run_histgb))
             if key not in skip and "gbm" not in skip]
    with_rf = "rf" not in skip and "drf" not in skip
    # warm-up (untimed): numba compiles, imports, JVM start
    sh = Shoal(small_tr, small_te, a.threads)
    for _name, algo, prm in variants:
        sh.fit(algo, dict(prm, ntrees=2))
    sh.close()
    for _name, fn in peers:
        fn(small_tr, small_te, a, a.threads)
    mem("warm-up done")
    sh = Shoal(tr, te, a.threads)
    mem("Shoal frames")
    port = a.h2o_port or H2O_PORT + (0 if a.data == "higgs" else 10)
    h = H2O(tr, te, tmp, port) if "h2o" not in skip else None
    mem("H2O-3 upload")
    try:
        if h is not None:
            h.fit("gbm" if "gbm" not in skip else "drf", dict(ntrees=2, max_depth=a.depth))
        reset_peak()
        # one cycle = one fit of every library, so an interrupted run still has comparable medians
        for r in range(a.repeat):
            for name, algo, prm in variants:
                record(name, sh.fit(algo, prm))
            for name, fn in peers:
                record(name, fn(tr, te, a, a.threads))
            if h is not None and r < a.h2o_repeat:
                if "gbm" not in skip:
                    record("H2O-3 GBM", h.fit("gbm", dict(ntrees=a.ntrees, max_depth=a.depth, learn_rate=0.1,
                                                         min_rows=10)))
                if "drf" not in skip:
                    record("H2O-3 DRF", h.fit("drf", dict(ntrees=a.rf_trees, max_depth=20)))
            if with_rf and r < a.h2o_repeat:
                record("sklearn RF", run_rf(tr, te, a, a.threads))
            report(a, d, tr, times, aucs, loads, n, peaks)
    finally:
        sh.close()
        if h is not None:
            h.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
