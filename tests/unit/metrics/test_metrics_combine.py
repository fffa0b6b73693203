"""The binary runs of the exact binomial metrics (``rows.binary_run``, ``binomial.binary_thresholds``),
the repeated exact sum (``exact.accumulate_repeated``) and the monotone-aware maxima scan
(``thresholds.best_in_range_fast``): the same bits as the canonical-rows formulation for any chunking
and merge order, and the metrics equal scikit-learn's."""
from fractions import Fraction
from functools import reduce

import numpy as np
import pytest
from sklearn import metrics as skm

from shoal_server.metrics import binomial, exact, thresholds
from shoal_server.metrics.curves import CRITERIA, criteria, group_by_threshold
from shoal_server.metrics.rows import binary_run, binary_to_rows, canonical, merge_canonical

from metrics_helpers import bits, scores


KINDS = ["distinct", "coarse", "ties", "mixed", "constant"]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_binary_run_is_the_canonical_set(weighted, kind):
    rng = np.random.default_rng(len(kind) + 10 * weighted)
    n = 3000
    p = scores(rng, n, kind)
    p[:7] = -0.0
    y = (rng.random(n) < 0.35).astype(float)
    w = np.full(n, 1.5) if weighted else None
    run = binary_run(p, y, w)
    # raw scores (8 bytes a row) when more than a third of the (score, class) pairs are distinct, else
    # counted scores (24 bytes a distinct score)
    distinct = np.unique(np.column_stack([p + 0.0, y]), axis=0).shape[0]
    assert (run["s0"].size + run["s1"].size > 0) == (3 * distinct > n)
    assert (3 * distinct > n) == (kind in ("distinct", "mixed"))
    rows = binary_to_rows(run)
    expect = canonical(np.column_stack([p, y, w] if weighted else [p, y]), np.ones(n, np.int64))  # lexsort path
    assert bits(rows["k"]) == bits(expect["k"]) and np.array_equal(rows["c"], expect["c"])
    assert bits(rows["k"]) == bits(np.unique(np.column_stack([p, y, w] if weighted else [p, y]) + 0.0, axis=0))


def test_binary_run_refuses_what_it_cannot_hold():
    p = np.array([0.1, 0.2, 0.3])
    assert binary_run(p, np.array([0.0, 2.0, 1.0]), None) is None            # not 0/1
    assert binary_run(p, np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 1.0])) is None   # two weights
    assert binary_run(p, np.array([0.0, 1.0, 1.0]), np.full(3, np.inf)) is None          # not finite


def _chunked_runs(rng, p, y, w, nchunks):
    cuts = np.unique(np.concatenate([[0, p.size], rng.integers(0, p.size, nchunks - 1)]))
    return [binary_run(p[a:b], y[a:b], None if w is None else w[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wval", [None, 1.0, 0.3])
def test_binary_thresholds_equal_group_rows_of_the_merged_rows(kind, wval):
    rng = np.random.default_rng(hash((kind, wval)) % 2 ** 32)
    n = 20_000
    p = scores(rng, n, kind)
    y = (rng.random(n) < 0.2 + 0.5 * p).astype(float)
    w = None if wval is None else np.full(n, wval)
    for nchunks in (1, 2, 3, 17, 64):
        runs = _chunked_runs(rng, p, y, w, nchunks)
        rows = binomial.merged_rows(runs)         # the canonical-rows path (binary runs expanded)
        k, c = rows["k"], rows["c"]
        thr0, tp0, fp0 = np.empty(len(k)), np.empty(len(k)), np.empty(len(k))
        ng = thresholds.group_rows(k, c, thr0, tp0, fp0)
        frozen = [{k: _read_only(v) for k, v in r.items()} for r in runs]     # as received from the wire
        for order in (runs, runs[::-1], [runs[i] for i in rng.permutation(len(runs))], frozen):
            thr, tp, fp = binomial.binary_thresholds(order)
            assert bits(thr) == bits(thr0[:ng]) and bits(tp) == bits(tp0[:ng]) and bits(fp) == bits(fp0[:ng])
        # and the numpy formulation on the rows sorted by score
        o = np.argsort(p, kind="stable")
        ww = np.ones(n) if w is None else w
        t1, p1, f1 = group_by_threshold(p[o] + 0.0, np.where(y[o] == 1, ww[o], 0.0), np.where(y[o] == 0, ww[o], 0.0))
        if wval in (None, 1.0):        # integer counts: every summation order gives these bits
            assert bits(thr) == bits(t1) and bits(tp) == bits(p1) and bits(fp) == bits(f1)


def _read_only(v):
    if isinstance(v, np.ndarray):
        v = v.copy()
        v.setflags(write=False)
    return v


def _partials(p, y, w, cuts, params):
    return [binomial.partial(y[a:b], p[a:b], None if w is None else w[a:b], params)
            for a, b in zip(cuts[:-1], cuts[1:])]


def _as_rows(part):
    """The same partial with its runs as canonical rows (the general finish path)."""
    return dict(part, runs=[binary_to_rows(r) if "s0" in r else r for r in part["runs"]])


@pytest.mark.parametrize("kind", ["distinct", "ties", "mixed"])
@pytest.mark.parametrize("wval", [None, 2.5])
def test_metrics_same_bits_for_any_chunking_and_equal_sklearn(kind, wval):
    rng = np.random.default_rng(len(kind) * 7 + (wval is None))
    n = 30_000
    p = scores(rng, n, kind)
    y = (rng.random(n) < 0.15 + 0.7 * p).astype(float)
    w = None if wval is None else np.full(n, wval)
    params = binomial._params(w is not None, ["a", "b"], "exact", 400, 400, n)
    ref = None
    for nchunks in (1, 2, 7, 40, 150):
        cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n, nchunks - 1)]))
        parts = _partials(p, y, w, cuts, params)
        for order in (parts, [parts[i] for i in rng.permutation(len(parts))]):
            got = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), order), params)
            if ref is None:
                ref = got
            assert got == ref
        general = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), map(_as_rows, parts)), params)
        assert general == ref
    assert ref == binomial.binomial_metrics_from_arrays(y, p, w, domain=["a", "b"])
    sw = None if w is None else w
    assert ref["auc"] == pytest.approx(skm.roc_auc_score(y, p, sample_weight=sw), rel=1e-12)
    assert ref["aucpr"] == pytest.approx(skm.average_precision_score(y, p, sample_weight=sw), rel=1e-12)
    pc = np.clip(p, binomial.LOGLOSS_EPS, 1 - binomial.LOGLOSS_EPS)      # Shoal's (and H2O's) clip
    assert ref["logloss"] == pytest.approx(skm.log_loss(y, pc, sample_weight=sw), rel=1e-12)
    assert ref["mse"] == pytest.approx(skm.mean_squared_error(y, p, sample_weight=sw), rel=1e-12)
    fpr, tpr, _t = skm.roc_curve(y, p, sample_weight=sw)
    assert ref["ks"] == pytest.approx(float(np.max(tpr - fpr)), rel=1e-12)
    if kind == "ties":              # every threshold checked: the max-F1 threshold is sklearn's
        f1s = {t: skm.f1_score(y, (p >= t).astype(float), sample_weight=sw) for t in np.unique(p)}
        t_best = max(f1s, key=lambda t: (f1s[t], t))
        assert ref["default_threshold"] == t_best
        cm = skm.confusion_matrix(y, (p >= t_best).astype(float), sample_weight=sw)
        assert [row[1:3] for row in ref["confusion_matrix"]["data"][:2]] == cm.tolist()


def test_sums_of_one_weight_equal_the_row_terms():
    """The constant-weight sums (classes apart, Σw and Σw·y as repeated values) are the exact sums of
    the row-by-row terms of the general path, limb for limb."""
    rng = np.random.default_rng(3)
    n = 5000
    p = rng.random(n)
    p[:5] = [0.0, 1.0, 1e-300, 1 - 1e-17, 0.5]
    y = (rng.random(n) < p).astype(float)
    for wval in (1.0, 0.7, 3.0):
        ww = np.full(n, wval)
        pc = np.clip(p, binomial.LOGLOSS_EPS, 1 - binomial.LOGLOSS_EPS)
        ll = -np.where(y == 1, np.log(pc), np.log1p(-pc))
        expect = exact.exact_sums(np.vstack([ww, ww * y, ww * (y - p) ** 2, ww * ll]))
        got = binomial._constant_weight_sums(p[y == 0], p[y == 1], wval)
        assert got["lo"] == expect["lo"]
        assert np.array_equal(got["limbs"], expect["limbs"]) and np.array_equal(got["special"], expect["special"])


@pytest.mark.parametrize("value", [1.0, 0.1, -2.75, 5e-324, 2.2250738585072014e-308, 1.5e300, -1.7e308, 0.0, -0.0,
                                   np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("count", [0, 1, 3, 1000, (1 << 28) + 3, 5 * (1 << 29) + 11])
def test_accumulate_repeated_is_the_exact_sum(value, count):
    acc = np.zeros((2, exact.NLIMB), np.int64)
    special = np.zeros((2, 3), np.int64)
    exact.accumulate_rows(np.array([[0.25], [0.5]]), acc, special)
    exact.accumulate_repeated(value, count, acc, special, 1)
    got = exact.to_floats(exact.pack(acc, special))
    assert got[0] == 0.25
    if count == 0:
        assert got[1] == 0.5
    elif np.isnan(value):
        assert np.isnan(got[1])
    elif np.isinf(value):
        assert got[1] == value
    else:
        total = Fraction(0.5) + count * Fraction(value)
        expect = float(total) if abs(total) <= Fraction(np.finfo(np.float64).max) else np.copysign(np.inf, value)
        assert got[1] == expect
    if 0 < count <= 1000:          # and the same limbs as adding the values one by one
        acc2 = np.zeros((2, exact.NLIMB), np.int64)
        special2 = np.zeros((2, 3), np.int64)
        exact.accumulate_rows(np.vstack([np.r_[0.25, np.zeros(count)], np.r_[0.5, np.full(count, value)]]),
                              acc2, special2)
        assert np.array_equal(acc, acc2) and np.array_equal(special, special2)


@pytest.mark.parametrize("kind", ["distinct", "coarse", "ties", "constant"])
@pytest.mark.parametrize("weights", ["none", "integer", "real"])
def test_best_in_range_fast_equals_the_full_scan(kind, weights):
    rng = np.random.default_rng(hash((kind, weights, 1)) % 2 ** 32)
    n = 5000
    p = scores(rng, n, kind)
    y = (rng.random(n) < 0.25 + 0.5 * p).astype(float)
    w = {"none": np.ones(n), "integer": rng.integers(1, 4, n).astype(float), "real": rng.random(n) * 2}[weights]
    o = np.argsort(p, kind="stable")
    thr, tp, fp = group_by_threshold(p[o], np.where(y[o] == 1, w[o], 0.0), np.where(y[o] == 0, w[o], 0.0))
    g = thr.size
    crit = criteria(tp, fp)
    ranges = [(0, g)] + [tuple(sorted(rng.integers(0, g + 1, 2))) for _ in range(6)]
    for lo, hi in ranges:
        if hi <= lo:
            continue
        b1, v1, f1 = np.empty(18, np.int64), np.empty(18), np.empty(18, np.bool_)
        b2, v2, f2 = np.empty(18, np.int64), np.empty(18), np.empty(18, np.bool_)
        k1 = thresholds.best_in_range(tp, fp, lo, hi, b1, v1, f1)
        k2 = thresholds.best_in_range_fast(tp, fp, lo, hi, b2, v2, f2)
        assert b1.tolist() == b2.tolist() and bits(v1) == bits(v2) and f1.tolist() == f2.tolist()
        assert bits(k1) == bits(k2)
        for j, name in enumerate(CRITERIA):       # and numpy's nanargmax over the range
            assert b2[j] == lo + int(np.nanargmax(crit[name][lo:hi])), name
        assert bits(k2) == bits(np.nanmax(crit["tpr"][lo:hi] - crit["fpr"][lo:hi]))


def test_one_class_and_mixed_runs_take_the_general_path_with_the_same_result():
    """One class only (P or N = 0: the full scan), chunks of varying weights (canonical rows) next
    to chunks of one weight (binary runs), and empty chunks: same result as the row formulation."""
    rng = np.random.default_rng(21)
    n = 4000
    p = np.round(rng.random(n), 3)
    for y in (np.zeros(n), np.ones(n)):
        params = binomial._params(False, None, "exact", 400, 400, n)
        parts = _partials(p, y, None, np.array([0, 1000, 1000, 2500, n]), params)
        got = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), parts), params)
        general = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), map(_as_rows, parts)), params)
        assert got == general and got["auc"] is None and got["nobs"] == n
    y = (rng.random(n) < p).astype(float)
    w = np.ones(n)
    w[2000:2100] = rng.integers(1, 3, 100)          # one chunk with two weights
    params = binomial._params(True, None, "exact", 400, 400, n)
    parts = _partials(p, y, w, np.array([0, 1000, 2000, 3000, 3000, n]), params)
    assert sum("s0" in r for part in parts for r in part["runs"]) == 3
    got = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), parts), params)
    assert got == binomial.binomial_metrics_from_arrays(y, p, w)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), rel=1e-12)
    general = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), map(_as_rows, parts)), params)
    assert got == general
    rows = binomial.merged_rows([r for part in parts for r in part["runs"]])
    assert bits(rows["k"]) == bits(reduce(merge_canonical, [binary_to_rows(r) if "s0" in r else r
                                                               for part in parts for r in part["runs"]])["k"])


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 127, 128, 129, 255, 256, 1000, 4099, 100_003])
def test_curve_sum_is_numpys_sum_of_the_terms(n):
    rng = np.random.default_rng(n + 5)
    p = np.round(rng.random(3 * n), 4)
    y = (rng.random(3 * n) < p).astype(float)
    w = rng.random(3 * n) * 3
    o = np.argsort(p, kind="stable")
    _thr, tp, fp = group_by_threshold(p[o], np.where(y[o] == 1, w[o], 0.0), np.where(y[o] == 0, w[o], 0.0))
    tp, fp = tp[:n], fp[:n]
    terms = np.empty(tp.size)
    for which in (0, 1):
        thresholds.curve_terms(tp, fp, which, terms)
        assert bits(thresholds.curve_sum(tp, fp, which, 0, tp.size)) == bits(np.sum(terms))
