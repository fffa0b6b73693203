"""GLM on the prostate data (tests/data/prostate.csv, from the h2o package, Apache-2.0) against H2O-3.

The reference values below were computed by H2O-3 3.46.0.12 itself (the server bundled with the
``h2o`` Python package, Java 17, ``h2o.init(port=54321, nthreads=1)``) with the command
``python tests/algos/make_h2o_reference.py`` (the exact estimator settings are in that script);
they were not produced by Shoal.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import shoal_server.algos as algos

from algo_helpers import make_frame

HERE = os.path.dirname(os.path.abspath(__file__))
X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]

# Computed by H2O-3 (see the module docstring); the regularized H2O fits used all factor levels.
H2O = {'binomial_enet': {'aic': 398.33596918129825,
                   'coef': {'AGE': -0.007109376389912777,
                            'DCAPS': 0.4205848786924041,
                            'DPROS': 0.49850529667743815,
                            'GLEASON': 0.8958297465565471,
                            'Intercept': -7.593351109304073,
                            'PSA': 0.022608663645482287,
                            'RACE.0': 0.0,
                            'RACE.1': 0.09315814642623813,
                            'RACE.2': -0.09756056521499581,
                            'VOL': -0.00967311569535222},
                   'coef_norm': {'AGE': -0.04640340637633876,
                                 'DCAPS': 0.13065740506551102,
                                 'DPROS': 0.49855894489537445,
                                 'GLEASON': 0.9782043146637078,
                                 'Intercept': -0.5501809934077178,
                                 'PSA': 0.452118394189573,
                                 'RACE.0': 0.0,
                                 'RACE.1': 0.09315814642623813,
                                 'RACE.2': -0.09756056521499581,
                                 'VOL': -0.1774786506777686},
                   'null_deviance': 512.2888401848891,
                   'residual_deviance': 380.33596918129825},
 'binomial_lambda0': {'aic': 396.33830534354126,
                      'coef': {'AGE': -0.013677024929698562,
                               'DCAPS': 0.4954814023751421,
                               'DPROS': 0.5596447586065234,
                               'GLEASON': 0.9770371273272905,
                               'Intercept': -8.148670087830961,
                               'PSA': 0.027940979191121772,
                               'RACE.1': 0.3233721760688768,
                               'RACE.2': -0.38027873649776167,
                               'VOL': -0.011038423580960934},
                      'coef_norm': {'AGE': -0.0892709164664026,
                                    'DCAPS': 0.15392449318156048,
                                    'DPROS': 0.559704986540262,
                                    'GLEASON': 1.066878988124627,
                                    'Intercept': -0.7383764295127866,
                                    'PSA': 0.5587517618051933,
                                    'RACE.1': 0.3233721760688768,
                                    'RACE.2': -0.38027873649776167,
                                    'VOL': -0.20252880090123582},
                      'null_deviance': 512.2888401848891,
                      'p_value': {'AGE': 0.478307836311753,
                                  'DCAPS': 0.2847707171646441,
                                  'DPROS': 4.1199183049873385e-05,
                                  'GLEASON': 5.2270900330121306e-09,
                                  'Intercept': 0.0004971274886423742,
                                  'PSA': 0.0048274057195721405,
                                  'RACE.1': 0.8522090628096795,
                                  'RACE.2': 0.830296831717579,
                                  'VOL': 0.1548376857008723},
                      'residual_deviance': 378.33830534354126,
                      'std_error': {'AGE': 0.01928985565763852,
                                    'DCAPS': 0.46321232406881885,
                                    'DPROS': 0.13647709525968202,
                                    'GLEASON': 0.1673072811757677,
                                    'Intercept': 2.340025684335822,
                                    'PSA': 0.009914017155010248,
                                    'RACE.1': 1.7357551895577696,
                                    'RACE.2': 1.7743428720922567,
                                    'VOL': 0.007759058626727768}},
 'gaussian_lambda0': {'aic': 3292.9870013345644,
                      'coef': {'AGE': 0.31414347476407195,
                               'DCAPS': -6.459528114779213,
                               'DPROS': -0.5695071289802888,
                               'GLEASON': -0.7600103986068785,
                               'Intercept': 6.232963568174245,
                               'PSA': 0.05164611193952905,
                               'RACE.1': 0.8467944514470642,
                               'RACE.2': 6.125700174472058},
                      'coef_norm': {'AGE': 2.050436848530845,
                                    'DCAPS': -2.0066940686234593,
                                    'DPROS': -0.5695684182840844,
                                    'GLEASON': -0.8298959193577133,
                                    'Intercept': 14.47270496256725,
                                    'PSA': 1.03279687655934,
                                    'RACE.1': 0.8467944514470642,
                                    'RACE.2': 6.125700174472058},
                      'null_deviance': 127584.72492029365,
                      'p_value': {'AGE': 0.029501547044177224,
                                  'DCAPS': 0.0475568655203519,
                                  'DPROS': 0.5672918363380013,
                                  'GLEASON': 0.42991365469283116,
                                  'Intercept': 0.6826659729661537,
                                  'PSA': 0.32739200643703736,
                                  'RACE.1': 0.9365121737521206,
                                  'RACE.2': 0.5765368719065487},
                      'residual_deviance': 123091.22571466131,
                      'std_error': {'AGE': 0.14376326455330196,
                                    'DCAPS': 3.2494446532537515,
                                    'DPROS': 0.9946765376842701,
                                    'GLEASON': 0.9617934221088983,
                                    'Intercept': 15.233979715219002,
                                    'PSA': 0.05266401758740569,
                                    'RACE.1': 10.623676331950499,
                                    'RACE.2': 10.95943441822721}},
 'gaussian_lasso': {'aic': 3291.044950457225,
                    'coef': {'AGE': 0.3058247333947157,
                             'DCAPS': -6.2951353879921585,
                             'DPROS': -0.5213222543333552,
                             'GLEASON': -0.7089032743642372,
                             'Intercept': 7.119515278087965,
                             'PSA': 0.047715056787045636,
                             'RACE.0': 0.0,
                             'RACE.1': 0.0,
                             'RACE.2': 4.7059935482208255},
                    'coef_norm': {'AGE': 1.9961398307432365,
                                  'DCAPS': -1.9556244078205829,
                                  'DPROS': -0.5213783580700696,
                                  'GLEASON': -0.7740893225837467,
                                  'Intercept': 15.367158053883799,
                                  'PSA': 0.9541853154834339,
                                  'RACE.0': 0.0,
                                  'RACE.1': 0.0,
                                  'RACE.2': 4.7059935482208255},
                    'null_deviance': 127584.72492029365,
                    'residual_deviance': 123109.9982737407},
 'poisson_lambda0': {'aic': 1487.6979967096177,
                     'coef': {'AGE': 0.0009673521889757071,
                              'DCAPS': 0.08254855341637701,
                              'DPROS': 0.025209300853876654,
                              'Intercept': 1.6160995034162557,
                              'PSA': 0.002378244074769863,
                              'RACE.1': -0.0068086146188777045,
                              'RACE.2': -0.026658270655011144,
                              'VOL': -0.000354136927436824},
                     'coef_norm': {'AGE': 0.006313976679835249,
                                   'DCAPS': 0.025644240503433814,
                                   'DPROS': 0.025212013832204557,
                                   'Intercept': 1.8597352372294391,
                                   'PSA': 0.047559108708783666,
                                   'RACE.1': -0.0068086146188777045,
                                   'RACE.2': -0.026658270655011144,
                                   'VOL': -0.006497569760987936},
                     'null_deviance': 82.6493650284677,
                     'residual_deviance': 68.64319060006099}}

CASES = {
    "binomial_lambda0": dict(family="binomial", lambda_value=0, compute_p_values=True, beta_epsilon=1e-10,
                             y="CAPSULE"),
    "gaussian_lambda0": dict(family="gaussian", lambda_value=0, compute_p_values=True, y="VOL"),
    "poisson_lambda0": dict(family="poisson", lambda_value=0, beta_epsilon=1e-10, y="GLEASON"),
    "binomial_enet": dict(family="binomial", alpha=0.5, lambda_value=0.01, beta_epsilon=1e-10, y="CAPSULE",
                          use_all_factor_levels=True),
    "gaussian_lasso": dict(family="gaussian", alpha=1.0, lambda_value=0.05, y="VOL", use_all_factor_levels=True),
}


@pytest.fixture(scope="module")
def prostate(node):
    df = pd.read_csv(os.path.join(HERE, "..", "data", "prostate.csv"))
    make_frame(node, "prostate", {c: df[c].to_numpy() for c in df.columns}, chunk_rows=64,
               enums={"RACE": ["0", "1", "2"], "CAPSULE": ["0", "1"]})
    return df


def _train(node, name):
    kw = dict(CASES[name])
    y = kw["y"]
    return algos.get_model(node, algos.train(node, "glm", dict(training_frame="prostate",
                                                                x=[c for c in X if c != y], **kw)))


@pytest.mark.parametrize("name", ["binomial_lambda0", "gaussian_lambda0", "poisson_lambda0"])
def test_unregularized_prostate_equals_h2o(node, prostate, name):
    m = _train(node, name)
    ref = H2O[name]
    for coef, value in ref["coef"].items():
        assert m.output["coefficients"][coef] == pytest.approx(value, abs=1e-4 * max(1.0, abs(value))), coef
    assert m.output["residual_deviance"] == pytest.approx(ref["residual_deviance"], rel=1e-6)
    assert m.output["null_deviance"] == pytest.approx(ref["null_deviance"], rel=1e-8)
    assert m.output["aic"] == pytest.approx(ref["aic"], rel=1e-6)
    if "std_error" in ref:
        rows = {r[0]: r for r in m.output["coefficients_table"]["data"]}
        cols = m.output["coefficients_table"]["columns"]
        for coef, value in ref["std_error"].items():
            assert rows[coef][cols.index("std_error")] == pytest.approx(value, rel=1e-4), coef
        for coef, value in ref["p_value"].items():
            assert rows[coef][cols.index("p_value")] == pytest.approx(value, rel=1e-3, abs=1e-12), coef


def _objective(dev, norm, lam, alpha, n=380):
    b = np.array([v for k, v in norm.items() if k != "Intercept"])
    return dev / (2 * n) + lam * (alpha * np.abs(b).sum() + 0.5 * (1 - alpha) * (b * b).sum())


@pytest.mark.parametrize("name", ["binomial_enet", "gaussian_lasso"])
def test_regularized_prostate_reaches_h2o_objective(node, prostate, name):
    """H2O stops its regularized IRLSM early, so compare the objective: ours is at least as low."""
    m = _train(node, name)
    ref = H2O[name]
    kw = CASES[name]
    ours = _objective(m.output["residual_deviance"], m.output["standardized_coefficients"], kw["lambda_value"],
                      kw["alpha"])
    theirs = _objective(ref["residual_deviance"], ref["coef_norm"], kw["lambda_value"], kw["alpha"])
    assert ours <= theirs * (1 + 1e-8)
    assert ours == pytest.approx(theirs, rel=1e-6)
    for coef, value in ref["coef"].items():
        assert m.output["coefficients"][coef] == pytest.approx(value, abs=5e-3 * max(1.0, abs(value))), coef
