"""Compute the H2O-3 reference coefficients used in ``test_glm_prostate.py``.

Run by hand (not collected by pytest): ``python tests/algos/make_h2o_reference.py``. It starts the
H2O-3 server bundled with the ``h2o`` package (Java 17), fits GLMs on ``tests/data/prostate.csv``
and prints the coefficients as JSON; it shuts H2O down at the end.
"""
import json
import os
import sys

import h2o
from h2o.estimators import H2OGeneralizedLinearEstimator

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "binomial_lambda0": dict(family="binomial", lambda_=0, compute_p_values=True, beta_epsilon=1e-10,
                             objective_epsilon=1e-12, y="CAPSULE"),
    "gaussian_lambda0": dict(family="gaussian", lambda_=0, compute_p_values=True, y="VOL"),
    "poisson_lambda0": dict(family="poisson", lambda_=0, beta_epsilon=1e-10, objective_epsilon=1e-12, y="GLEASON"),
    "binomial_enet": dict(family="binomial", alpha=0.5, lambda_=0.01, beta_epsilon=1e-10,
                          objective_epsilon=1e-12, gradient_epsilon=1e-10, y="CAPSULE"),
    "gaussian_lasso": dict(family="gaussian", alpha=1.0, lambda_=0.05, y="VOL"),
}


def main():
    h2o.init(port=54321, nthreads=1)
    try:
        fr = h2o.import_file(os.path.join(HERE, "..", "data", "prostate.csv"))
        fr["CAPSULE"] = fr["CAPSULE"].asfactor()
        fr["RACE"] = fr["RACE"].asfactor()
        out = {}
        for name, kw in CASES.items():
            kw = dict(kw)
            y = kw.pop("y")
            x = [c for c in ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"] if c != y]
            m = H2OGeneralizedLinearEstimator(solver="IRLSM", standardize=True, **kw)
            m.train(x=x, y=y, training_frame=fr)
            out[name] = {"coef": m.coef(), "coef_norm": m.coef_norm(),
                         "null_deviance": m.null_deviance(), "residual_deviance": m.residual_deviance(),
                         "aic": m.aic()}
            if kw.get("compute_p_values"):
                t = m._model_json["output"]["coefficients_table"]
                out[name]["std_error"] = dict(zip(t["names"], t["std_error"]))
                out[name]["p_value"] = dict(zip(t["names"], t["p_value"]))
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
    finally:
        h2o.cluster().shutdown()


if __name__ == "__main__":
    main()
