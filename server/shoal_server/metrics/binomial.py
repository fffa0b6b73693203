"""Binomial metrics: AUC, AUCPR, logloss, MSE, Gini, KS, thresholds and max-criteria tables,
confusion matrix at the max-F1 threshold, gains/lift, null and residual deviance.

One map/reduce pass (task ``metrics.binomial``). Each chunk's partial holds exact sums
(Σw, Σw·y, Σw·(y-p)², Σw·logloss) and its scored rows in canonical form (``metrics.rows``:
(p, y[, w]) sorted, identical rows counted), so ``finish`` sees every distinct threshold: AUC and
AUCPR are exact (``metrics.curves``), and the result has the same bits for any chunking.

With ``auc_type="binned"`` the rows are instead summarised per chunk into at most ``nbins``
(default 400) threshold bins as H2O's ``AUC2`` does (see ``metrics.bins``): constant-size
partials for very large frames, approximate curves. Scalars (logloss, MSE, ...) stay exact.
``auc_type="auto"`` is exact up to ``AUTO_EXACT_MAX_ROWS`` rows and binned above.

Gains/lift (H2O's ``GainsLift``): 16 groups cut at the weighted quantiles 0.99, 0.98, 0.97, 0.96,
0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0 of p1 (linear interpolation, weights as
frequencies; duplicates dropped); group i holds rows with ``thr[i] <= p < thr[i-1]``.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter
from ..tasks import MRTask, register_task
from . import bins as binning
from . import exact
from . import thresholds
from .common import check_weights, chunk_inputs, fmt_count, frame_inputs, num, table, valid_rows
from .curves import CRITERIA, criteria, group_by_threshold
from .rows import binary_run_of_classes, binary_to_rows, canonical, classes_of, is_binary_run

__all__ = ["binomial_metrics", "binomial_metrics_from_arrays", "GAINS_LIFT_PROBS", "weighted_quantiles",
           "gains_lift_table", "LOGLOSS_EPS", "AUTO_EXACT_MAX_ROWS"]

#: Probabilities of the gains/lift cut points (H2O's default 16 groups).
GAINS_LIFT_PROBS = (0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
#: Probabilities are clipped to [eps, 1 - eps] in logloss (H2O uses 1e-15).
LOGLOSS_EPS = 1e-15
#: ``auc_type="auto"`` is exact up to this many rows (the coordinator then holds ≤ ~24 bytes a row).
AUTO_EXACT_MAX_ROWS = 2_000_000


# ---------------------------------------------------------------------------------------- partials
def _prepare(y, p, w):
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = None if w is None else np.asarray(w, dtype=np.float64)
    check_weights(w)
    ok = valid_rows(y, [p], w)
    if not ok.all():
        y, p = y[ok], p[ok]
        w = None if w is None else w[ok]
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise InvalidParameter(f"The actual column of binomial metrics must hold two classes (0/1); got the value "
                               f"{y[bad][0]!r}.", {"value": float(y[bad][0])})
    return y, p, w


def partial(y, p, w, params: dict) -> dict:
    """One block's partial: exact sums plus canonical rows (exact) or threshold bins (binned).

    Exact: ``runs`` is a list of canonical sets (one per chunk): a binary run (``rows.binary_run``)
    when every row has the same finite weight, else canonical rows. ``merge`` concatenates the
    lists and ``finish`` merges all runs at once (:func:`merged_rows`, :func:`binary_thresholds`);
    every merge order gives the same set.

    The sums are Σw, Σw·y, Σw·(y-p)², Σw·logloss. With one weight ``w`` for every row the first
    two are ``n`` and ``n₁`` copies of ``w`` (``exact.accumulate_repeated``: the same exact sums
    without the terms), and each row's logloss term takes only the log it needs.
    """
    y, p, w = _prepare(y, p, w)
    wval = _constant_weight(w)
    if wval is None:
        ww = w
        pc = np.clip(p, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
        with np.errstate(all="ignore"):
            ll = -np.where(y == 1, np.log(pc), np.log1p(-pc))
        terms = np.vstack([ww, ww * y, ww * (y - p) ** 2, ww * ll])
        out = {"sums": exact.exact_sums(terms), "nobs": int(y.size)}
        classes = None
    else:
        classes = classes_of(y, p)              # the scores of each class (new arrays)
        out = {"sums": _constant_weight_sums(*classes, wval), "nobs": int(y.size)}
    if params.get("auc_type", "exact") == "binned":
        ww = np.ones_like(y) if w is None else w
        out["bins"] = binning.build(p, ww * y, ww * (1 - y), int(params["nbins"]))
    elif classes is not None and y.size:      # key columns: p, y[, w]
        out["runs"] = [binary_run_of_classes(*classes, 3 if params.get("weighted") else 2,
                                             wval if params.get("weighted") else 1.0)]
    else:
        ww = np.ones_like(y) if w is None else w
        out["runs"] = [canonical(np.column_stack([p, y, ww] if params.get("weighted") else [p, y]))]
    return out


def _constant_weight(w) -> float | None:
    """The one weight of every row (1.0 without weights) when it is finite; else None."""
    if w is None:
        return 1.0
    if w.size == 0:
        return 1.0
    v = float(w[0]) + 0.0
    if not math.isfinite(v) or not bool(np.all(w == v)):
        return None
    return v


def _constant_weight_sums(s0: np.ndarray, s1: np.ndarray, wval: float) -> dict:
    """The four exact sums of :func:`partial` from the scores of the class-0 rows ``s0`` and of the
    class-1 rows ``s1`` when every row has weight ``wval`` (finite): Σw and Σw·y are ``n`` and
    ``n₁`` copies of ``wval``; each row's ``w·(y-p)²`` and ``w·logloss`` are the same operations
    on the same values as the row-by-row terms (``y - p`` with ``y`` 0.0 or 1.0, one log a row),
    and exact sums do not depend on the order of the terms."""
    acc = np.zeros((4, exact.NLIMB), np.int64)
    special = np.zeros((4, 3), np.int64)
    for yv, s in ((0.0, s0), (1.0, s1)):
        if s.shape[0] == 0:
            continue
        t = np.empty((2, s.shape[0]))
        np.subtract(yv, s, out=t[0])
        np.square(t[0], out=t[0])               # (y - p) ** 2
        pc = np.clip(s, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
        with np.errstate(all="ignore"):
            if yv == 1.0:
                np.log(pc, out=t[1])
            else:
                np.negative(pc, out=pc)
                np.log1p(pc, out=t[1])
        np.negative(t[1], out=t[1])
        if wval != 1.0:                         # w·x (x·1.0 is x: skipped)
            t *= wval
        exact.accumulate_rows(t, acc[2:], special[2:])
    exact.accumulate_repeated(wval, s0.shape[0] + s1.shape[0], acc, special, 0)
    exact.accumulate_repeated(wval, s1.shape[0], acc, special, 1)
    return exact.pack(acc, special)


def merge(a: dict, b: dict, params: dict) -> dict:
    out = {"sums": exact.merge(a["sums"], b["sums"]), "nobs": a["nobs"] + b["nobs"]}
    if "bins" in a:
        out["bins"] = binning.merge(a["bins"], b["bins"])
    else:
        out["runs"] = list(a["runs"]) + list(b["runs"])
    return out


def merged_rows(runs: list) -> dict:
    """The canonical set of the union of canonical sets ``runs`` (``merge_canonical`` of all).

    Adjacent sets are merged in pairs, level by level, between two buffers; each set keeps the
    slot of buffer rows its inputs occupied (merged sets only shrink), so the merges of one level
    write disjoint rows and run on two threads (the kernels release the GIL). The result is a pure
    function of the rows, like every other merge order.
    """
    runs = [binary_to_rows(r) if is_binary_run(r) else r for r in runs]
    runs = [r for r in runs if np.asarray(r["c"]).shape[0] > 0] or list(runs[:1])
    if len(runs) == 1:
        return {"k": np.ascontiguousarray(runs[0]["k"], dtype=np.float64),
                "c": np.ascontiguousarray(runs[0]["c"], dtype=np.int64)}
    sets = [(np.ascontiguousarray(r["k"], dtype=np.float64), np.ascontiguousarray(r["c"], dtype=np.int64))
            for r in runs]
    n = sum(c.shape[0] for _k, c in sets)
    m = sets[0][0].shape[1]
    bufs = [(np.empty((n, m)), np.empty(n, np.int64)), (np.empty((n, m)), np.empty(n, np.int64))]
    lo = np.concatenate([[0], np.cumsum([c.shape[0] for _k, c in sets])[:-1]]).astype(np.int64)
    dst = 0
    while len(sets) > 1:
        ok, oc = bufs[dst]
        jobs = []
        for r in range(0, len(sets), 2):
            a = sets[r]
            b = sets[r + 1] if r + 1 < len(sets) else (a[0][:0], a[1][:0])
            jobs.append((a, b, int(lo[r])))

        def one(job, ok=ok, oc=oc):
            (ak, ac), (bk, bc), start = job
            end = thresholds.merge_two(ak, ac, bk, bc, ok, oc, start)
            return ok[start:end], oc[start:end]

        sets = list(_pool().map(one, jobs)) if len(jobs) > 1 else [one(jobs[0])]
        lo = lo[::2]
        dst = 1 - dst
    k, c = sets[0]
    return {"k": k, "c": c}


def binary_thresholds(runs: list):
    """``(thr, tp, fp)`` of binary runs of one weight and key width (``rows.binary_run``): the
    distinct thresholds (decreasing) and cumulative tps/fps, the numbers of
    ``thresholds.group_rows`` on :func:`merged_rows` of the same runs (same bits).

    The raw scores of all runs are concatenated per class and sorted (``np.sort``, the two classes
    on two threads): one sort of 1e7 floats costs less than merging 100 sorted runs of them level
    by level. The counted parts are merged in pairs, level by level (as :func:`merged_rows`). One
    last pass (``thresholds.binary_final``) merges the three, groups and cumulates.
    """
    w = float(runs[0]["w"])

    def cat(key):
        """The raw scores ``key`` of all runs, sorted (a new array when they come from several runs)."""
        parts = [a for a in (np.asarray(r[key], np.float64) for r in runs) if a.shape[0]]
        if len(parts) < 2:
            return np.ascontiguousarray(parts[0]) if parts else np.empty(0), False
        return np.concatenate(parts), True

    (s0, sort0), (s1, sort1) = cat("s0"), cat("s1")
    todo = [a for a, again in ((s0, sort0), (s1, sort1)) if again]
    if len(todo) == 2 and s0.shape[0] + s1.shape[0] > 100_000:
        list(_pool().map(np.ndarray.sort, todo))          # in place, both classes at once (no GIL held)
    else:
        for a in todo:
            a.sort()
    sets = [(np.ascontiguousarray(r["p"], dtype=np.float64), np.ascontiguousarray(r["n0"], dtype=np.int64),
             np.ascontiguousarray(r["n1"], dtype=np.int64)) for r in runs if np.asarray(r["p"]).shape[0] > 0]
    n = sum(s[0].shape[0] for s in sets)
    if len(sets) > 1:
        bufs = [(np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)) for _ in range(2)]
        lo = np.concatenate([[0], np.cumsum([s[0].shape[0] for s in sets])[:-1]]).astype(np.int64)
        dst = 0
        while len(sets) > 1:
            op, o0, o1 = bufs[dst]
            jobs = []
            for r in range(0, len(sets), 2):
                a = sets[r]
                b = sets[r + 1] if r + 1 < len(sets) else (a[0][:0], a[1][:0], a[2][:0])
                jobs.append((a, b, int(lo[r])))

            def one(job, op=op, o0=o0, o1=o1):
                a, b, start = job
                end = thresholds.merge_counts(*a, *b, op, o0, o1, start)
                return op[start:end], o0[start:end], o1[start:end]

            sets = list(_pool().map(one, jobs)) if len(jobs) > 1 else [one(jobs[0])]
            lo = lo[::2]
            dst = 1 - dst
    p, n0, n1 = sets[0] if sets else (np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))
    m = s0.shape[0] + s1.shape[0] + p.shape[0]
    thr, tp, fp = np.empty(m), np.empty(m), np.empty(m)
    ng = thresholds.binary_final(s0, s1, p, n0, n1, w, thr, tp, fp)
    return thr[:ng], tp[:ng], fp[:ng]


def _binary_alike(runs: list) -> list | None:
    """The runs without the empty canonical ones (a block without rows) when all the others are
    binary runs of one weight and key width (then :func:`binary_thresholds`); else None."""
    runs = [r for r in runs if is_binary_run(r) or np.asarray(r["c"]).shape[0] > 0]
    if runs and all(is_binary_run(r) for r in runs) and len({(float(r["w"]), int(r["m"])) for r in runs}) == 1:
        return runs
    return None


_POOL = None


def _pool():
    """Two threads for the coordinator's merges (the compute pool is idle while ``finish`` runs)."""
    global _POOL
    if _POOL is None:
        import concurrent.futures as cf
        _POOL = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="shoal-metrics-merge")
    return _POOL


# ---------------------------------------------------------------------------------------- finish
def weighted_quantiles(values_asc: np.ndarray, weights: np.ndarray, probs) -> np.ndarray:
    """Quantiles with linear interpolation (R type 7, numpy's default), weights as frequencies.

    ``values_asc`` are distinct and increasing, ``weights`` their total weight. With integer
    weights this is exactly the quantile of the data with each row repeated ``weight`` times.
    """
    return _quantiles_from_cum(values_asc, np.cumsum(weights), probs)


def _quantiles_from_cum(values_asc: np.ndarray, cum: np.ndarray, probs) -> np.ndarray:
    total = cum[-1]
    out = []
    for q in probs:
        h = max(0.0, q * (total - 1))
        lo = math.floor(h)
        i_lo = min(int(np.searchsorted(cum, lo + 1, side="left")), values_asc.size - 1)
        i_hi = min(int(np.searchsorted(cum, lo + 2, side="left")), values_asc.size - 1)
        frac = h - lo
        v = values_asc[i_lo] if frac == 0 else values_asc[i_lo] + frac * (values_asc[i_hi] - values_asc[i_lo])
        out.append(float(v))
    return np.asarray(out)


def gains_lift_table(scores_asc: np.ndarray, pos_w: np.ndarray, neg_w: np.ndarray, groups_probs=GAINS_LIFT_PROBS):
    """H2O's gains/lift table from rows (or bins) sorted by increasing score; None without events."""
    if scores_asc.size == 0:
        return None
    thr_desc, tp, fp = group_by_threshold(scores_asc, pos_w, neg_w)
    return gains_lift_from_counts(thr_desc, tp, fp, groups_probs)


def gains_lift_from_counts(thr_desc: np.ndarray, tp: np.ndarray, fp: np.ndarray, groups_probs=GAINS_LIFT_PROBS):
    """:func:`gains_lift_table` from distinct thresholds (decreasing) and cumulative tps/fps."""
    if thr_desc.size == 0:
        return None
    thr_desc = np.ascontiguousarray(thr_desc, dtype=np.float64)
    tp = np.ascontiguousarray(tp, dtype=np.float64)
    fp = np.ascontiguousarray(fp, dtype=np.float64)
    values = thr_desc[::-1]
    cum = np.empty(thr_desc.size)
    thresholds.gains_cumulative(tp, fp, cum)
    cuts = np.unique(_quantiles_from_cum(values, cum, groups_probs))[::-1]
    del cum
    g_e = np.empty(cuts.size)
    g_n = np.empty(cuts.size)
    g_s = np.empty(cuts.size)
    thresholds.gains_groups(thr_desc, tp, fp, np.ascontiguousarray(cuts[::-1]), g_e, g_n, g_s)
    N = float(np.sum(g_n))
    E = float(tp[-1])
    if N <= 0 or E <= 0:
        return None
    P = E / N
    rows = []
    ce = cn = cs = 0.0
    for i in range(cuts.size):
        e_i, n_i = float(g_e[i]), float(g_n[i])
        ce += e_i
        cn += n_i
        cs += float(g_s[i])
        rr = e_i / n_i if n_i > 0 else 0.0
        score = float(g_s[i]) / n_i if n_i > 0 else 0.0
        lift = rr / P
        cum_rr = ce / cn if cn > 0 else 0.0
        cum_lift = cum_rr / P
        ks = ce / E - ((cn - ce) / (N - E) if N - E != 0 else 0.0)
        rows.append([i + 1, cn / N, cuts[i], lift, cum_lift, rr, score, cum_rr, cs / cn if cn > 0 else 0.0,
                     e_i / E, ce / E, 100 * (lift - 1), 100 * (cum_lift - 1), ks])
    cols = ["group", "cumulative_data_fraction", "lower_threshold", "lift", "cumulative_lift", "response_rate",
            "score", "cumulative_response_rate", "cumulative_score", "capture_rate", "cumulative_capture_rate",
            "gain", "cumulative_gain", "kolmogorov_smirnov"]
    return table("Gains/Lift Table", cols, ["int"] + ["double"] * 13, rows,
                 f"Avg response rate: {100 * P:.2f} %, avg score: {100 * cs / cn:.2f} %")


def confusion_table(domain, tn, fp, fn, tp, threshold) -> dict:
    P, N = fn + tp, tn + fp

    def rate(err, tot):
        return f"{fmt_count(err)}/{fmt_count(tot)}"

    rows = [[domain[0], tn, fp, fp / N if N else None, rate(fp, N)],
            [domain[1], fn, tp, fn / P if P else None, rate(fn, P)],
            ["Total", tn + fn, fp + tp, (fp + fn) / (P + N) if P + N else None, rate(fp + fn, P + N)]]
    return table("Confusion Matrix", ["", str(domain[0]), str(domain[1]), "Error", "Rate"],
                 ["string", "double", "double", "double", "string"], rows,
                 f"Confusion matrix at the max-F1 threshold {threshold!r} (row labels: actual class; "
                 f"column labels: predicted class)")


def finish(r: dict | None, params: dict) -> dict:
    domain = list(params.get("domain") or ["0", "1"])
    out: dict = {"model_category": "Binomial", "domain": domain, "auc_type": params.get("auc_type", "exact")}
    if r is None or r["nobs"] == 0:
        out.update(nobs=0, mse=None, rmse=None, logloss=None, auc=None, aucpr=None, gini=None, ks=None,
                   kolmogorov_smirnov=None, mean_per_class_error=None, r2=None, null_deviance=None,
                   residual_deviance=None, default_threshold=None, thresholds_and_metric_scores=None,
                   max_criteria_and_metric_scores=None, confusion_matrix=None, gains_lift_table=None)
        return out
    sw, swy, sse, sll = exact.to_floats(r["sums"])
    ybar = swy / sw
    mse = sse / sw
    with np.errstate(all="ignore"):
        null_dev = -2 * ((swy * math.log(ybar) if swy > 0 else 0.0) +
                         ((sw - swy) * math.log1p(-ybar) if sw - swy > 0 else 0.0))
    var = ybar * (1 - ybar)
    out.update(nobs=int(r["nobs"]), weight_sum=num(sw), mean_response=num(ybar), mse=num(mse), rmse=num(math.sqrt(mse)),
               logloss=num(sll / sw), r2=num(1 - mse / var) if var > 0 else None,
               residual_deviance=num(2 * sll), null_deviance=num(null_dev))
    if "bins" in r:
        b = r["bins"]
        thr, tp, fp = group_by_threshold(np.asarray(b["t"]), np.asarray(b["pos"]), np.asarray(b["neg"]))
    elif _binary_alike(r["runs"]) is not None:
        thr, tp, fp = binary_thresholds(_binary_alike(r["runs"]))
    else:
        rows = merged_rows(r["runs"])
        k = np.ascontiguousarray(rows["k"], dtype=np.float64)
        n_rows = k.shape[0]
        thr, tp, fp = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows)
        ng = thresholds.group_rows(k, np.ascontiguousarray(rows["c"], dtype=np.int64), thr, tp, fp)
        del rows, k
        thr, tp, fp = thr[:ng], tp[:ng], fp[:ng]
    n = thr.size
    if n == 0:
        auc = aucpr = ks_exact = math.nan
        best = {name: None for name in CRITERIA}
    else:
        auc = math.nan            # np.sum of the curve terms, without the terms array
        if tp[-1] > 0 and fp[-1] > 0:
            auc = float(thresholds.curve_sum(tp, fp, 0, 0, n) / 2.0 / (tp[-1] * fp[-1]))
        aucpr = math.nan
        if tp[-1] > 0:
            aucpr = float(thresholds.curve_sum(tp, fp, 1, 0, n))
        bi = np.empty(len(CRITERIA), np.int64)
        ks_exact = float(thresholds.best_and_ks(tp, fp, bi, pool=_pool()))
        best = {name: (int(bi[j]) if bi[j] >= 0 else None) for j, name in enumerate(CRITERIA)}
    max_rows = int(params.get("max_thresholds", 400))
    if n <= max_rows:
        picked = np.arange(n)
    else:
        picked = np.unique(np.concatenate([np.round(np.linspace(0, n - 1, max_rows)).astype(np.int64),
                                           np.array([i for i in best.values() if i is not None], np.int64)]))
    # the criteria at the picked thresholds only (every best index is picked)
    crit = criteria(tp[picked], fp[picked], tp[-1] if n else 0.0, fp[-1] if n else 0.0)
    pos_in_table = {int(i): k for k, i in enumerate(picked)}
    counts_int = params.get("auc_type", "exact") == "exact" and not params.get("weighted")
    ctype = "int" if counts_int else "double"
    cols = ["threshold", *CRITERIA, "idx"]
    types = ["double"] * 11 + [ctype] * 4 + ["double"] * 4 + ["int"]
    trows = [[thr[i], *(crit[c][k] for c in CRITERIA), k] for k, i in enumerate(picked)]
    out["thresholds_and_metric_scores"] = table("Metrics for Thresholds", cols, types, trows,
                                                "Binomial metrics as a function of classification thresholds")
    mrows = []
    for name in CRITERIA:
        i = best[name]
        mrows.append([f"max {name}", None if i is None else thr[i],
                      None if i is None else crit[name][pos_in_table[i]],
                      None if i is None else pos_in_table[i]])
    out["max_criteria_and_metric_scores"] = table("Maximum Metrics", ["metric", "threshold", "value", "idx"],
                                                  ["string", "double", "double", "int"], mrows,
                                                  "Maximum metrics at their respective thresholds")
    i = best["f1"]
    if i is not None:
        t_best = float(thr[i])
        P, N = tp[-1], fp[-1]
        out["default_threshold"] = t_best
        out["confusion_matrix"] = confusion_table(domain, N - fp[i], fp[i], P - tp[i], tp[i], t_best)
    else:
        out.update(default_threshold=None, confusion_matrix=None)
    # H2O: 1 - the best mean per-class accuracy over all thresholds (not the one at max F1)
    i = best["mean_per_class_accuracy"]
    out["mean_per_class_error"] = None if i is None else num(1 - crit["mean_per_class_accuracy"][pos_in_table[i]])
    gl = gains_lift_from_counts(thr, tp, fp)
    out["gains_lift_table"] = gl
    ks_col = gl["columns"].index("kolmogorov_smirnov") if gl else None
    out.update(auc=num(auc), aucpr=num(aucpr), gini=num(2 * auc - 1), ks=num(ks_exact),
               kolmogorov_smirnov=num(max(row[ks_col] for row in gl["data"])) if gl else None)
    return out


# ---------------------------------------------------------------------------------------- task + entry points
@register_task
class BinomialTask(MRTask):
    """``params``: actual, preds, weights, pred_frame (``common``), weighted, auc_type, nbins, domain,
    max_thresholds."""

    name = "metrics.binomial"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        y, (p,), w = chunk_inputs(ctx, chunk_idx, chunks, params, actual_as_codes=True)
        return partial(y, p, w, params)

    def reduce(self, a, b):
        return merge(a, b, {})

    def finish(self, result, params):
        return finish(result, params)


def _params(weighted: bool, domain, auc_type: str, nbins: int, max_thresholds: int, nrow: int) -> dict:
    if auc_type not in ("exact", "binned", "auto"):
        raise InvalidParameter(f"Parameter `auc_type` must be `exact`, `binned` or `auto`; got {auc_type!r}.", {})
    if auc_type == "auto":
        auc_type = "exact" if nrow <= AUTO_EXACT_MAX_ROWS else "binned"
    if not 2 <= int(nbins) <= 100000:
        raise InvalidParameter(f"Parameter `nbins` must be an integer in [2, 100000]; got {nbins}.", {})
    if domain is not None and len(domain) != 2:
        raise InvalidParameter(f"A binomial domain has 2 levels; got {len(domain)}: {list(domain)[:10]}.", {})
    return {"weighted": bool(weighted), "domain": None if domain is None else [str(d) for d in domain],
            "auc_type": auc_type, "nbins": int(nbins), "max_thresholds": int(max_thresholds)}


def binomial_metrics_from_arrays(actual, p1, weights=None, domain=None, auc_type: str = "exact",
                                 nbins: int = 400, max_thresholds: int = 400) -> dict:
    """Binomial metrics of in-memory arrays: ``actual`` 0/1 (NaN skipped), ``p1`` = P(class 1).

    Same numbers (same bits) as :func:`binomial_metrics` on a frame holding these rows.
    """
    params = _params(weights is not None, domain, auc_type, nbins, max_thresholds, len(p1))
    return finish(partial(actual, p1, weights, params), params)


def binomial_metrics(node, frame_key: str, actual_col: str, p1_col: str, weights_col: str | None = None,
                     domain=None, auc_type: str = "exact", nbins: int = 400, max_thresholds: int = 400,
                     job=None, pred_frame_key: str | None = None, span: tuple[float, float] = (0.0, 1.0)) -> dict:
    """Binomial metrics of a scored frame, by one map/reduce pass where the chunks live.

    ``actual_col`` is an enum column of at most two levels (its domain is used unless ``domain`` is
    given) or a numeric 0/1 column; ``p1_col`` the probability of the second level, a column of
    ``pred_frame_key`` (default: the same frame; else a frame of the same row layout).
    """
    header, _ph, cols, fparams = frame_inputs(node, frame_key, actual_col, [p1_col], weights_col, pred_frame_key)
    act = header.column(actual_col)
    if act.type.value == "enum":
        if act.cardinality is not None and act.cardinality > 2:
            raise InvalidParameter(f"Column `{actual_col}` has {act.cardinality} levels; binomial metrics need 2.",
                                   {"column": actual_col})
        if domain is None:
            domain = list(act.domain) + [f"level{i}" for i in range(len(act.domain), 2)]
    params = _params(weights_col is not None, domain, auc_type, nbins, max_thresholds, header.nrow)
    params.update(fparams)
    return node.runtime.run(BinomialTask.name, frame_key, cols, params, job=job, span=span)
