"""Binomial GLM: Shoal against H2O-3 and scikit-learn; and Shoal's standalone scorer against
scikit-learn's ``predict_proba``.

Two data sets, generated from a seed into a temporary directory (removed afterwards):

- ``airline``: ``datagen.py``'s airline-like rows reduced to the predictors `Month` (12 levels),
  `hour` (the departure hour, 24 levels), `UniqueCarrier` (20), `Origin` (300), `Dest` (300), all
  categorical, and the number `Distance`; the response `Delayed` (NO/YES) is drawn from a logistic
  model with seeded per-level effects (datagen's own `IsDepDelayed` does not depend on these
  columns, so every model would score AUC 0.5 on it). Rows with a missing predictor are dropped
  (so no tool's imputation rule matters). ``--rows`` training rows (default 1e6; ``--rows 1e7``),
  plus a test set of a quarter of that.
- ``numeric``: ``--numeric-rows`` (default 1e6) training rows of 28 correlated Gaussian numbers with
  a logistic response (HIGGS-sized), plus a quarter for the test set.

Every tool reads the same CSV files. Timed: training only (the frame is loaded before, as each tool
is used), with the same model: binomial, lambda = 0 (no regularization), standardized predictors,
IRLSM for Shoal and H2O-3 (`h2o.init(nthreads=2, max_mem_size="8g")`), scikit-learn
`LogisticRegression(C=inf, solver="lbfgs")` after `OneHotEncoder(drop="first")` + `StandardScaler`
(its fit time includes that encoding, as the GLMs' does). Test AUC from each tool's model on the
test file. Shoal runs in-process (`Node(threads=2)`, the engine the server runs), so no HTTP time
is counted; H2O-3 runs in its own JVM. One untimed warm-up fit for Shoal and H2O-3 (numba and JVM
JIT), then ``--runs`` timed fits (``--sklearn-runs`` for scikit-learn); medians reported.

Scorer: Shoal's ``download_scorer`` source (pure Python) scoring the first ``--scorer-rows`` test
rows (as dicts: the scorer's input), against ``predict_proba`` of the fitted scikit-learn pipeline
on the same rows (a DataFrame: its input); the scorer's probabilities are checked against the
node's own predictions (max |difference|).

    python bench/bench_glm.py                    # 1e6 rows, 3 runs, all tools (~10 min)
    python bench/bench_glm.py --rows 1e7 --runs 1 --sets airline
    python bench/bench_glm.py --rows 1e7 --sets airline --tools shoal,h2o --data-dir /tmp/glm_data  # keep the data
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import free_port, loadavg, log, machine_note, median, port_in_use  # noqa: E402
import datagen  # noqa: E402

THREADS = 2
CATS = ["Month", "hour", "UniqueCarrier", "Origin", "Dest"]


# ---------------------------------------------------------------------------------------------- data
def make_airline(rows: int, tmp: str, seed: int) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    total = int(rows * 1.25 / 0.9) + 1000     # ~10 % of the rows have a missing predictor
    raw = datagen.generate(total, os.path.join(tmp, "airline_raw.csv"), seed=seed)
    t = pacsv.read_csv(raw)
    os.unlink(raw)
    month = t["Month"].to_numpy(zero_copy_only=False)
    dep = t["DepTime"].to_numpy(zero_copy_only=False)
    ok = ~(np.isnan(month.astype(float)) | np.isnan(dep.astype(float)))
    for name in ("UniqueCarrier", "Origin", "Dest", "Distance"):
        ok &= ~np.asarray(pc.is_null(t[name]).to_numpy(zero_copy_only=False))
        if name != "Distance":      # pyarrow reads an empty string field as "", not null
            ok &= np.asarray(pc.not_equal(t[name], "").fill_null(True).to_numpy(zero_copy_only=False))
    t = t.filter(pa.array(ok))
    n = t.num_rows
    month = np.asarray(t["Month"].to_numpy(zero_copy_only=False), np.int64)
    hour = np.asarray(t["DepTime"].to_numpy(zero_copy_only=False), np.int64) // 100
    carrier = np.asarray(t["UniqueCarrier"].to_pylist(), dtype=object)
    origin = np.asarray(t["Origin"].to_pylist(), dtype=object)
    dest = np.asarray(t["Dest"].to_pylist(), dtype=object)
    dist = np.asarray(t["Distance"].to_numpy(zero_copy_only=False), np.float64)
    rng = np.random.default_rng([seed, 7])

    def effect(values, scale):
        levels, inv = np.unique(values, return_inverse=True)
        return rng.normal(0, scale, len(levels))[inv]

    eta = (-0.4 + effect(month, 0.2) + effect(hour, 0.3) + effect(carrier, 0.25) + effect(origin, 0.3)
           + effect(dest, 0.2) + 0.35 * (np.log(dist) - 6.4))
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "YES", "NO")
    table = pa.table({"Month": [f"m{m:02d}" for m in month], "hour": [f"h{h:02d}" for h in hour],
                      "UniqueCarrier": carrier.tolist(), "Origin": origin.tolist(), "Dest": dest.tolist(),
                      "Distance": dist, "Delayed": y.tolist()})
    return _split(table, rows, tmp, "airline", seed)


def make_numeric(rows: int, tmp: str, seed: int) -> dict:
    import pyarrow as pa

    total = int(rows * 1.25)
    rng = np.random.default_rng([seed, 28])
    A = rng.normal(0, 0.3, (28, 28)) + np.eye(28)
    X = (rng.standard_normal((total, 28)) @ A).round(5) + rng.normal(0, 2, 28).round(2)
    b = rng.normal(0, 0.4, 28)
    eta = (X - X.mean(axis=0)) @ b * 0.5 + 0.2
    y = np.where(rng.random(total) < 1 / (1 + np.exp(-eta)), "YES", "NO")
    cols = {f"x{j + 1}": X[:, j] for j in range(28)}
    cols["Delayed"] = y.tolist()
    return _split(pa.table(cols), rows, tmp, "numeric", seed)


def _split(table, rows: int, tmp: str, name: str, seed: int) -> dict:
    import pyarrow.csv as pacsv

    n_test = rows // 4
    train, test = table.slice(0, rows), table.slice(rows, n_test)
    paths = {}
    for part, t in (("train", train), ("test", test)):
        paths[part] = os.path.join(tmp, f"{name}_{part}.csv")
        pacsv.write_csv(t, paths[part])
    log(f"{name}: {train.num_rows} training rows, {test.num_rows} test rows, {table.num_columns - 1} predictors")
    return {"name": name, "train": paths["train"], "test": paths["test"], "rows": train.num_rows,
            "test_rows": test.num_rows, "x": [c for c in table.column_names if c != "Delayed"],
            "cats": [c for c in CATS if c in table.column_names]}


# ---------------------------------------------------------------------------------------------- tools
class Shoal:
    name = "Shoal"

    def __init__(self, tmp):
        sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d)
                        for d in ("server", "pyclient")]
        import shoal_server.algos as algos
        import shoal_server.metrics  # noqa: F401
        from shoal_server.config import NodeConfig
        from shoal_server.node import Node

        self.algos = algos
        self.node = Node(NodeConfig(threads=THREADS, data_roots=[tmp], spool_dir=os.path.join(tmp, "spool")))
        algos.warm()

    def load(self, ds):
        from shoal_server.parser import parse_files

        for part in ("train", "test"):
            parse_files(self.node, [ds[part]], None, f"{ds['name']}_{part}")

    def fit(self, ds, run):
        key = f"glm_{ds['name']}_{run}"
        self.algos.train(self.node, "glm", {"training_frame": f"{ds['name']}_train", "y": "Delayed",
                                            "x": ds["x"], "family": "binomial", "lambda_value": 0.0,
                                            "standardize": True, "solver": "IRLSM", "model_id": key,
                                            # H2O-3's objective_epsilon for lambda = 0 (its -1 "auto")
                                            "objective_epsilon": 1e-6})
        return key

    def auc(self, ds, key):
        m = self.algos.model_performance(self.node, key, f"{ds['name']}_test")
        return float(m["auc"])

    def info(self, key):
        out = self.algos.get_model(self.node, key).output
        return {"iterations": out.get("iterations"), "ncoef": len(out.get("coefficients") or {})}

    def drop(self, key):
        self.algos.remove_model(self.node, key)

    def scorer(self, key) -> str:
        return self.algos.export_scorer(self.algos.get_model(self.node, key))

    def predictions(self, ds, key, n):
        from shoal_server.store import codecs

        dest = f"pred_{key}"
        self.algos.predict(self.node, key, f"{ds['name']}_test", dest)
        h = self.node.catalog.get(dest)
        ci = [c.name for c in h.columns].index("YES")
        out = np.concatenate([codecs.decode_float64(self.node.chunks.get(dest, ci, i)) for i in range(h.nchunks)])
        return out[:n]

    def close(self):
        self.node.close()

    def note(self):
        return (f"Shoal in-process `Node(threads={THREADS})`, `algos.train(..., solver='IRLSM', "
                "objective_epsilon=1e-6)` (H2O-3's automatic value for lambda = 0; Shoal's default is off)")


class H2O:
    name = "H2O-3"

    def __init__(self, tmp):
        import h2o

        self.h2o = h2o
        for attempt in range(3):       # the machine is shared: a port may be taken meanwhile
            port = 54321 if not port_in_use(54321) and not port_in_use(54322) else free_port()
            while port_in_use(port + 1):
                port = free_port()
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    h2o.init(nthreads=THREADS, max_mem_size="8g", port=port, verbose=False)
                break
            except Exception as exc:     # noqa: BLE001 - retried, then raised
                log(f"h2o.init failed on port {port} (attempt {attempt + 1}): {str(exc)[:200]}")
                if attempt == 2:
                    raise
        conn = h2o.connection()
        if conn is None or conn.local_server is None:
            with contextlib.suppress(Exception):
                h2o.connection().close()
            raise RuntimeError("h2o.init attached to an H2O-3 cluster this script did not start")
        h2o.no_progress()
        self.version = h2o.cluster().version
        self.frames = {}

    def load(self, ds):
        for part in ("train", "test"):
            fr = self.h2o.import_file(ds[part], destination_frame=f"{ds['name']}_{part}")
            fr["Delayed"] = fr["Delayed"].asfactor()
            for c in ds["cats"]:
                fr[c] = fr[c].asfactor()
            self.frames[(ds["name"], part)] = fr

    def fit(self, ds, run):
        from h2o.estimators import H2OGeneralizedLinearEstimator

        m = H2OGeneralizedLinearEstimator(family="binomial", lambda_=0.0, standardize=True, solver="IRLSM",
                                          compute_p_values=False, model_id=f"glm_{ds['name']}_{run}")
        m.train(x=ds["x"], y="Delayed", training_frame=self.frames[(ds["name"], "train")])
        return m

    def auc(self, ds, m):
        return float(m.model_performance(self.frames[(ds["name"], "test")]).auc())

    def info(self, m):
        hist = m.scoring_history()
        return {"iterations": int(hist["iterations"].max()) if hist is not None and len(hist) else None,
                "ncoef": len(m.coef())}

    def drop(self, m):
        with contextlib.suppress(Exception):
            self.h2o.remove(m.model_id)

    def close(self):
        server = self.h2o.connection().local_server
        with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(Exception):
            self.h2o.cluster().shutdown()
        proc = getattr(server, "_process", None)
        if proc is not None:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def note(self):
        return (f"H2O-3 {self.version} (`h2o` PyPI package, Java 17), `h2o.init(nthreads={THREADS}, "
                "max_mem_size='8g')`, `H2OGeneralizedLinearEstimator(family='binomial', lambda_=0, "
                "standardize=True, solver='IRLSM', compute_p_values=False)`")


class Sklearn:
    name = "scikit-learn"
    warm = False        # no JIT: a warm-up fit would only cost time

    def __init__(self, tmp):
        import sklearn

        self.version = sklearn.__version__
        self.data = {}

    def load(self, ds):
        import pandas as pd

        for part in ("train", "test"):
            df = pd.read_csv(ds[part], dtype={c: str for c in ds["cats"]})
            self.data[(ds["name"], part)] = (df[ds["x"]], (df["Delayed"] == "YES").to_numpy(np.int8))

    def pipeline(self, ds):
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        nums = [c for c in ds["x"] if c not in ds["cats"]]
        parts = [("num", StandardScaler(), nums)]
        if ds["cats"]:
            parts.insert(0, ("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ds["cats"]))
        return make_pipeline(ColumnTransformer(parts),
                             LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000, tol=1e-6))

    def fit(self, ds, run):
        X, y = self.data[(ds["name"], "train")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.pipeline(ds).fit(X, y)

    def auc(self, ds, m):
        from sklearn.metrics import roc_auc_score

        X, y = self.data[(ds["name"], "test")]
        return float(roc_auc_score(y, m.predict_proba(X)[:, 1]))

    def info(self, m):
        return {"iterations": int(m[-1].n_iter_[0]), "ncoef": int(m[-1].coef_.shape[1]) + 1}

    def drop(self, m):
        pass

    def close(self):
        pass

    def note(self):
        return (f"scikit-learn {self.version}: `ColumnTransformer(OneHotEncoder(drop='first'), StandardScaler())` + "
                "`LogisticRegression(C=inf, solver='lbfgs', tol=1e-6, max_iter=1000)`, fit on pandas")


TOOLS = {"shoal": Shoal, "h2o": H2O, "sklearn": Sklearn}


# ---------------------------------------------------------------------------------------------- runs
def bench_fit(tool, ds, runs: int) -> dict:
    tool.load(ds)
    if getattr(tool, "warm", True):
        log(f"{tool.name} {ds['name']}: warm-up fit")
        m = tool.fit(ds, "warm")
        tool.drop(m)
    times, aucs, infos = [], [], []
    last = None
    for r in range(runs):
        t0 = time.perf_counter()
        m = tool.fit(ds, r)
        times.append(time.perf_counter() - t0)
        aucs.append(tool.auc(ds, m))
        infos.append(tool.info(m))
        log(f"{tool.name} {ds['name']} run {r}: {times[-1]:.2f} s, AUC {aucs[-1]:.6f} (load {loadavg()})")
        if last is not None:
            tool.drop(last)
        last = m
    return {"times": times, "median": median(times), "auc": aucs[-1], "info": infos[-1], "model": last}


def bench_scorer(shoal, skl, ds, shoal_model, skl_model, rows: int, runs: int, tmp: str) -> dict:
    import pandas as pd

    src = shoal.scorer(shoal_model)
    path = os.path.join(tmp, f"scorer_{ds['name']}.py")
    with open(path, "w") as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location(f"scorer_{ds['name']}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)          # our own generated file, written just above
    df = pd.read_csv(ds["test"], nrows=rows, dtype={c: str for c in ds["cats"]})
    X = df[ds["x"]]
    records = X.to_dict("records")
    t_sc, t_sk, t_col = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = mod.predict_rows(records)
        t_sc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cols = mod.predict_columns(X)       # the batch entry point, same DataFrame as scikit-learn's
        t_col.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proba = skl_model.predict_proba(X)
        t_sk.append(time.perf_counter() - t0)
    mine = np.array([r["YES"] for r in out])
    batch = np.asarray(cols["YES"], float)
    node = shoal.predictions(ds, shoal_model, rows)
    return {"rows": len(records), "scorer": median(t_sc), "sklearn": median(t_sk), "scorer_times": t_sc,
            "sklearn_times": t_sk, "columns": median(t_col), "columns_times": t_col,
            "max_diff_vs_node": float(max(np.max(np.abs(mine - node)), np.max(np.abs(batch - node)))),
            "max_diff_vs_sklearn": float(np.max(np.abs(mine - proba[:, 1]))), "bytes": len(src)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=1e6, help="airline training rows (default 1e6)")
    ap.add_argument("--numeric-rows", type=float, default=1e6, help="numeric training rows (default 1e6)")
    ap.add_argument("--sets", default="airline,numeric")
    ap.add_argument("--tools", default="shoal,h2o,sklearn")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sklearn-runs", type=int, help="timed scikit-learn fits (default: --runs)")
    ap.add_argument("--scorer-rows", type=float, default=1e5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write the raw numbers here")
    ap.add_argument("--data-dir", help="generate the data sets here and keep them; a later run with the same "
                                       "--rows/--numeric-rows/--seed reuses them (default: a temporary directory)")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="shoal_bench_glm_")
    note = machine_note()
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results: dict = {"machine": note, "uptime_start": uptime_start, "args": vars(args), "sets": {}}
    try:
        sets = []
        for name in args.sets.split(","):
            if name == "airline":
                sets.append(_dataset(args.data_dir, tmp, f"airline_{int(args.rows)}_{args.seed}",
                                     lambda d: make_airline(int(args.rows), d, args.seed)))
            elif name == "numeric":
                sets.append(_dataset(args.data_dir, tmp, f"numeric_{int(args.numeric_rows)}_{args.seed}",
                                     lambda d: make_numeric(int(args.numeric_rows), d, args.seed)))
        tools = [TOOLS[t](tmp) for t in args.tools.split(",")]
        notes = {t.name: t.note() for t in tools}
        for ds in sets:
            res = {"rows": ds["rows"], "test_rows": ds["test_rows"], "fit": {}}
            for tool in tools:
                n = args.sklearn_runs if tool.name == "scikit-learn" and args.sklearn_runs else args.runs
                res["fit"][tool.name] = bench_fit(tool, ds, n)
            by = {t.name: t for t in tools}
            if "Shoal" in by and "scikit-learn" in by:
                res["scorer"] = bench_scorer(by["Shoal"], by["scikit-learn"], ds, res["fit"]["Shoal"]["model"],
                                             res["fit"]["scikit-learn"]["model"], int(args.scorer_rows),
                                             args.runs, tmp)
            for r in res["fit"].values():
                r.pop("model")
            results["sets"][ds["name"]] = res
        for t in tools:
            t.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results["notes"] = notes
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results))
    return 0


def _dataset(data_dir: str | None, tmp: str, tag: str, make) -> dict:
    """``make(directory)`` in ``tmp``; with ``data_dir``, in ``data_dir/tag`` once (then reused:
    the files are a function of the rows and the seed)."""
    if not data_dir:
        return make(tmp)
    d = os.path.join(data_dir, tag)
    meta = os.path.join(d, "dataset.json")
    if os.path.exists(meta):
        with open(meta) as f:
            ds = json.load(f)
        if all(os.path.exists(ds[p]) for p in ("train", "test")):
            log(f"{ds['name']}: reusing {d}")
            return ds
    os.makedirs(d, exist_ok=True)
    ds = make(d)
    with open(meta, "w") as f:
        json.dump(ds, f)
    return ds


def report(res: dict) -> str:
    lines = [f"Machine: {res['machine']}", "", f"`uptime` at start: `{res['uptime_start']}`; at end: "
             f"`{res['uptime_end']}`", ""]
    for name, r in res["sets"].items():
        lines += [f"### {name}: {r['rows']:,} training rows, {r['test_rows']:,} test rows", "",
                  "| tool | train s (median) | runs | test AUC | iterations | coefficients (with intercept) "
                  "| time vs Shoal |",
                  "|---|---|---|---|---|---|---|"]
        base = r["fit"].get("Shoal", {}).get("median")
        for tool, f in r["fit"].items():
            ratio = f"{f['median'] / base:.2f}x" if base else ""
            lines.append(f"| {tool} | {f['median']:.2f} | {', '.join(f'{t:.2f}' for t in f['times'])} | "
                         f"{f['auc']:.6f} | {f['info']['iterations']} | {f['info']['ncoef']} | {ratio} |")
        if "scorer" in r:
            s = r["scorer"]
            runs = ", ".join(f"{t:.3f}" for t in s["scorer_times"])
            lines += ["", f"Scorer, {s['rows']:,} rows: Shoal's standalone scorer {s['scorer']:.3f} s "
                      f"({s['scorer'] / s['rows'] * 1e6:.2f} µs/row; runs {runs}), "
                      f"scikit-learn `predict_proba` {s['sklearn']:.3f} s (runs "
                      f"{', '.join(f'{t:.3f}' for t in s['sklearn_times'])}); scorer/sklearn "
                      f"{s['scorer'] / s['sklearn']:.2f}x; batch `predict_columns(DataFrame)` (numpy) "
                      f"{s['columns']:.3f} s (runs {', '.join(f'{t:.3f}' for t in s['columns_times'])}), "
                      f"{s['columns'] / s['sklearn']:.2f}x `predict_proba`. Max |scorer − node| {s['max_diff_vs_node']:.1e}; "
                      f"max |scorer − sklearn| {s['max_diff_vs_sklearn']:.1e}; source {s['bytes']:,} bytes."]
        lines.append("")
    lines += ["Tools:", ""] + [f"- {v}" for v in res["notes"].values()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
