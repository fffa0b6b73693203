"""The compiled kernels of the exact binomial finish (``metrics.thresholds``) and the fast canonical
path (``metrics.rows``) give the same bits as the numpy formulation they replace; the metrics built
on them equal scikit-learn's."""
from functools import reduce

import numpy as np
import pytest
from sklearn import metrics as skm

from shoal_server.metrics import binomial, thresholds
from shoal_server.metrics.curves import CRITERIA, auc_from_counts, aucpr_from_counts, criteria, group_by_threshold
from shoal_server.metrics.rows import canonical, merge_canonical

from metrics_helpers import bits, scores


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 255, 257, 1000, 4099, 100_003])
def test_pairwise_sum_is_numpys_sum(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
    assert bits(thresholds.pairwise_sum(a, 0, n)) == bits(np.sum(a))
    if n > 3:
        assert bits(thresholds.pairwise_sum(a, 2, n - 3)) == bits(np.sum(a[2:n - 1]))


def test_segment_sums_are_reduceat():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 3000))
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
        starts = np.unique(np.concatenate([[0], rng.integers(0, n, int(rng.integers(0, 40)))])).astype(np.int64)
        out = np.empty(starts.size)
        thresholds.segment_sums(a, starts, out)
        assert bits(out) == bits(np.add.reduceat(a, starts))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["distinct", "coarse", "ties", "constant"])
def test_fast_canonical_equals_the_lexicographic_sort(weighted, kind):
    rng = np.random.default_rng(11)
    n = 5000
    p = scores(rng, n, kind)
    p[:10] = -0.0
    y = (rng.random(n) < 0.4).astype(float)
    keys = np.column_stack([p, y, np.full(n, 1.5)] if weighted else [p, y])
    fast = canonical(keys)
    slow = canonical(keys, np.ones(n, np.int64))      # explicit counts: the generic lexsort path
    assert bits(fast["k"]) == bits(slow["k"]) and np.array_equal(fast["c"], slow["c"])
    assert int(fast["c"].sum()) == n
    # and the canonical order is the sorted order of the distinct rows
    uniq = np.unique(keys + 0.0, axis=0)
    assert bits(fast["k"]) == bits(uniq)


def test_merge_runs_equals_pairwise_merges():
    rng = np.random.default_rng(2)
    for trial in range(20):
        m = 2 + trial % 2
        runs = []
        for _ in range(int(rng.integers(1, 12))):
            n = int(rng.integers(0, 400))
            k = np.column_stack([rng.integers(0, 50, n) / 49.0, rng.integers(0, 2, n).astype(float),
                                 rng.integers(1, 3, n).astype(float)])[:, :m]
            runs.append(canonical(k, np.ones(n, np.int64)) if n else {"k": np.zeros((0, m)),
                                                                      "c": np.zeros(0, np.int64)})
        expect = reduce(merge_canonical, runs)
        got = binomial.merged_rows(runs)
        assert bits(got["k"]) == bits(expect["k"]) and np.array_equal(got["c"], expect["c"])


@pytest.mark.parametrize("kind", ["distinct", "coarse", "ties", "constant"])
@pytest.mark.parametrize("weights", ["none", "ones", "integer", "real"])
def test_group_rows_and_best_equal_numpy(kind, weights):
    rng = np.random.default_rng(hash((kind, weights)) % 2 ** 32)
    n = 3000
    p = scores(rng, n, kind)
    y = (rng.random(n) < 0.3 + 0.4 * p).astype(float)
    w = {"none": None, "ones": np.ones(n), "integer": rng.integers(1, 4, n).astype(float),
         "real": rng.random(n) * 2}[weights]
    rows = canonical(np.column_stack([p, y] if w is None else [p, y, w]))
    k, c = rows["k"], rows["c"]
    # the numpy formulation (binomial.finish before the kernels)
    cw = c.astype(np.float64) * (k[:, 2] if k.shape[1] > 2 else 1.0)
    pos, neg = np.where(k[:, 1] == 1, cw, 0.0), np.where(k[:, 1] == 0, cw, 0.0)
    thr0, tp0, fp0 = group_by_threshold(np.ascontiguousarray(k[:, 0]), pos, neg)
    thr, tp, fp = np.empty(len(k)), np.empty(len(k)), np.empty(len(k))
    ng = thresholds.group_rows(k, c, thr, tp, fp)
    thr, tp, fp = thr[:ng], tp[:ng], fp[:ng]
    assert bits(thr) == bits(thr0) and bits(tp) == bits(tp0) and bits(fp) == bits(fp0)
    crit = criteria(tp, fp)
    best = np.empty(len(CRITERIA), np.int64)
    ks = thresholds.best_and_ks(tp, fp, best)
    for j, name in enumerate(CRITERIA):
        vals = crit[name]
        expect = int(np.nanargmax(vals)) if np.isfinite(vals).any() else -1
        assert best[j] == expect, name
    if tp[-1] > 0 and fp[-1] > 0:
        assert bits(ks) == bits(np.nanmax(crit["tpr"] - crit["fpr"]))
    # the table's criteria at a subset equal the full arrays there
    pick = np.unique(rng.integers(0, ng, 20))
    sub = criteria(tp[pick], fp[pick], tp[-1], fp[-1])
    for name in CRITERIA:
        assert bits(sub[name]) == bits(crit[name][pick]), name
    terms = np.empty(ng)
    thresholds.curve_terms(tp, fp, 0, terms)
    if tp[-1] > 0 and fp[-1] > 0:
        assert bits(np.sum(terms) / 2.0 / (tp[-1] * fp[-1])) == bits(auc_from_counts(tp, fp))
    thresholds.curve_terms(tp, fp, 1, terms)
    if tp[-1] > 0:
        assert bits(np.sum(terms)) == bits(aucpr_from_counts(tp, fp))


def _gains_reference(thr, tp, fp):
    """The gains/lift group sums with numpy (diff, cumsum, searchsorted, bincount)."""
    values = thr[::-1]
    wts = np.diff(np.concatenate([[0.0], tp + fp]))[::-1]
    cuts = np.unique(binomial.weighted_quantiles(values, wts, binomial.GAINS_LIFT_PROBS))[::-1]
    grp = cuts.size - np.searchsorted(cuts[::-1], values, side="right")
    keep = grp < cuts.size
    ev = np.diff(np.concatenate([[0.0], tp]))[::-1]
    return (cuts, np.bincount(grp[keep], ev[keep], minlength=cuts.size),
            np.bincount(grp[keep], wts[keep], minlength=cuts.size),
            np.bincount(grp[keep], (values * wts)[keep], minlength=cuts.size))


@pytest.mark.parametrize("kind", ["distinct", "coarse", "ties"])
def test_gains_kernels_equal_numpy(kind):
    rng = np.random.default_rng(len(kind))
    n = 4000
    p = scores(rng, n, kind)
    y = (rng.random(n) < p).astype(float)
    w = rng.random(n) * 3
    thr, tp, fp = group_by_threshold(*(lambda o: (p[o], np.where(y[o] == 1, w[o], 0.0),
                                                  np.where(y[o] == 0, w[o], 0.0)))(np.argsort(p, kind="stable")))
    cuts, ge, gn, gs = _gains_reference(thr, tp, fp)
    cum = np.empty(thr.size)
    thresholds.gains_cumulative(tp, fp, cum)
    assert bits(cum) == bits(np.cumsum(np.diff(np.concatenate([[0.0], tp + fp]))[::-1]))
    out = [np.empty(cuts.size) for _ in range(3)]
    thresholds.gains_groups(thr, tp, fp, np.ascontiguousarray(cuts[::-1]), *out)
    for a, b in zip(out, (ge, gn, gs)):
        assert bits(a) == bits(b)


def test_exact_metrics_of_many_chunks_equal_sklearn():
    """Many chunks (runs merged at once), ties and two weight patterns: AUC, AUCPR, the max-F1
    threshold and the confusion matrix there agree with scikit-learn on the same predictions."""
    rng = np.random.default_rng(8)
    n = 20_000
    p = np.round(rng.random(n), 3)
    y = (rng.random(n) < 0.2 + 0.6 * p).astype(float)
    params = binomial._params(False, None, "exact", 400, 400, n)
    cuts = np.linspace(0, n, 23).astype(int)
    parts = [binomial.partial(y[a:b], p[a:b], None, params) for a, b in zip(cuts[:-1], cuts[1:])]
    r = binomial.finish(reduce(lambda a, b: binomial.merge(a, b, params), parts), params)
    assert r["auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert r["aucpr"] == pytest.approx(skm.average_precision_score(y, p), rel=1e-12)
    f1s = {t: skm.f1_score(y, (p >= t).astype(float)) for t in np.unique(p)}
    t_best = max(f1s, key=lambda t: (f1s[t], t))
    assert r["default_threshold"] == t_best
    cm = skm.confusion_matrix(y, (p >= t_best).astype(float))
    got = [row[1:3] for row in r["confusion_matrix"]["data"][:2]]
    assert got == cm.tolist()
    assert r == binomial.binomial_metrics_from_arrays(y, p)


def test_best_and_ks_on_two_threads_equals_nanargmax():
    """Above 200k thresholds the scan runs as two halves on a pool; ties go to the first index."""
    import concurrent.futures as cf

    rng = np.random.default_rng(12)
    n = 300_000
    p = np.round(rng.random(n), 6)
    y = (rng.random(n) < p).astype(float)
    o = np.argsort(p, kind="stable")
    thr, tp, fp = group_by_threshold(p[o], np.where(y[o] == 1, 1.0, 0.0), np.where(y[o] == 0, 1.0, 0.0))
    assert thr.size > 200_000
    crit = criteria(tp, fp)
    with cf.ThreadPoolExecutor(2) as pool:
        best = np.empty(len(CRITERIA), np.int64)
        ks = thresholds.best_and_ks(tp, fp, best, pool=pool)
    assert best.tolist() == [int(np.nanargmax(crit[name])) for name in CRITERIA]
    assert bits(ks) == bits(np.nanmax(crit["tpr"] - crit["fpr"]))
