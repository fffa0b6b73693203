"""Compute the H2O-3 reference metrics of ``test_trees_vs_references.py`` (run by hand, not by pytest).

    python tests/algos/trees/make_h2o_tree_reference.py      # writes h2o_tree_reference.json here

It writes the data of ``tree_reference_data.py`` to a temporary CSV (17 significant digits), starts
the H2O-3 server bundled with the ``h2o`` package (``h2o.init(port=54661, nthreads=2)``, a port of its own),
trains the GBM and DRF cases below on the training rows, and writes their test AUC / RMSE
(sklearn, from H2O-3's own predictions) as JSON; it shuts that H2O-3 down at the end.
"""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tree_reference_data import FEATURES, LEVELS, NTRAIN, reference_data  # noqa: E402

CASES = {
    "gbm_bernoulli": dict(algo="gbm", y="yb", ntrees=50, max_depth=5, learn_rate=0.1, min_rows=10, nbins=20,
                          nbins_top_level=1024, histogram_type="UniformAdaptive", seed=1),
    "gbm_gaussian": dict(algo="gbm", y="yr", ntrees=50, max_depth=5, learn_rate=0.1, min_rows=10, nbins=20,
                         nbins_top_level=1024, histogram_type="UniformAdaptive", seed=1),
    "drf_binomial": dict(algo="drf", y="yb", ntrees=50, max_depth=12, min_rows=5, nbins=20, seed=1),
}


def write_csv(path: str) -> None:
    d = reference_data()
    with open(path, "w") as f:
        f.write("x0,x1,x2,x3,x4,c,yb,yr,train\n")
        for i in range(d["X"].shape[0]):
            xs = ["" if np.isnan(v) else repr(float(v)) for v in d["X"][i]]
            f.write(",".join(xs + [LEVELS[d["c"][i]], "n%d" % d["yb"][i], repr(float(d["yr"][i])),
                                   "1" if i < NTRAIN else "0"]) + "\n")


def main():
    import h2o
    from h2o.estimators import H2OGradientBoostingEstimator, H2ORandomForestEstimator
    from sklearn.metrics import roc_auc_score

    d = reference_data()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "trees.csv")
    write_csv(path)
    h2o.init(port=54661, nthreads=2, max_mem_size="4g")  # own port: never reuse another H2O
    try:
        fr = h2o.import_file(path, col_types={"c": "enum", "yb": "enum", "train": "numeric"})
        tr, te = fr[fr["train"] == 1], fr[fr["train"] == 0]
        out = {"h2o_version": h2o.__version__}
        for name, kw in CASES.items():
            kw = dict(kw)
            algo, y = kw.pop("algo"), kw.pop("y")
            est = (H2OGradientBoostingEstimator if algo == "gbm" else H2ORandomForestEstimator)(**kw)
            est.train(x=FEATURES, y=y, training_frame=tr)
            pred = est.predict(te).as_data_frame()
            if y == "yb":
                out[name] = {"auc": float(roc_auc_score(d["yb"][NTRAIN:], pred["n1"].to_numpy()))}
            else:
                out[name] = {"rmse": float(np.sqrt(np.mean((pred["predict"].to_numpy() - d["yr"][NTRAIN:]) ** 2)))}
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2o_tree_reference.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    finally:
        h2o.cluster().shutdown()


if __name__ == "__main__":
    main()
