"""Multinomial metrics: logloss, MSE/RMSE (H2O: error = 1 - p(actual class)), confusion matrix with
per-class error, top-k hit ratios, mean per-class error, per-class one-vs-rest AUC (macro and
weighted averages), one-vs-one AUC (Hand & Till macro average), null and residual deviance.

One map/reduce pass (task ``metrics.multinomial``). A chunk's partial holds exact sums (Σw,
Σw·logloss, Σw·(1-p_true)², the confusion matrix, the class weights and the weight per rank of the
actual class) and, unless ``auc_type="none"``, its rows in canonical form (actual, the K
probabilities, weight) for the exact AUCs (``auc_type="auto"``: exact while rows x (K+2) ≤ 1e7,
none above). The predicted class is the first class of highest probability; the rank of the
actual class counts the classes of higher probability plus the classes of equal probability and
lower index.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter
from ..tasks import MRTask, register_task
from . import exact
from .common import check_weights, chunk_inputs, fmt_count, frame_inputs, num, table, valid_rows
from .curves import auc_from_counts, group_by_threshold
from .rows import canonical, merge_canonical

__all__ = ["multinomial_metrics", "multinomial_metrics_from_arrays", "MAX_HIT_RATIO_K", "LOGLOSS_EPS"]

MAX_HIT_RATIO_K = 10
LOGLOSS_EPS = 1e-15
#: One-vs-one AUCs are computed up to this many classes (K·(K-1)/2 curves).
MAX_OVO_CLASSES = 50
#: ``auc_type="auto"`` computes the exact AUCs up to this many shipped values (rows x (K + 2)).
AUTO_EXACT_MAX_VALUES = 10_000_000


def _prepare(actual, probs, w, K: int):
    a = np.asarray(actual, dtype=np.float64)
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != K or P.shape[0] != a.shape[0]:
        raise InvalidParameter(f"Multinomial metrics need {K} probability columns for {a.shape[0]} rows; got "
                               f"shape {list(P.shape)}.", {})
    w = None if w is None else np.asarray(w, dtype=np.float64)
    check_weights(w)
    ok = valid_rows(a, [P[:, j] for j in range(K)], w)
    if not ok.all():
        a, P = a[ok], P[ok]
        w = None if w is None else w[ok]
    bad = (a < 0) | (a >= K) | (a != np.floor(a))
    if bad.any():
        raise InvalidParameter(f"The actual column holds class {a[bad][0]!r}, outside the {K} classes of the domain.",
                               {"value": float(a[bad][0])})
    return a.astype(np.int64), P, w


def partial(actual, probs, w, params: dict) -> dict:
    K = int(params["nclasses"])
    R = min(MAX_HIT_RATIO_K, K)
    a, P, w = _prepare(actual, probs, w, K)
    n = a.size
    ww = np.ones(n) if w is None else w
    pt = P[np.arange(n), a] if n else np.zeros(0)
    pred = np.argmax(P, axis=1) if n else np.zeros(0, np.int64)
    higher = (P > pt[:, None]).sum(axis=1)
    ties_before = ((P == pt[:, None]) & (np.arange(K)[None, :] < a[:, None])).sum(axis=1)
    rank = higher + ties_before
    with np.errstate(all="ignore"):
        ll = -np.log(np.maximum(pt, LOGLOSS_EPS))
    err = 1.0 - pt
    # one indexed exact sum: [0]=Σw, [1]=Σw·ll, [2]=Σw·err², [3:3+K] class weights,
    # [3+K : 3+K+K*K] confusion (actual*K + predicted), then R rank weights
    base_cm, base_rank = 3 + K, 3 + K + K * K
    r_ok = rank < R
    idx = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64), np.full(n, 2, np.int64), 3 + a,
                          base_cm + a * K + pred, base_rank + rank[r_ok]])
    vals = np.concatenate([ww, ww * ll, ww * err * err, ww, ww, ww[r_ok]])
    out = {"sums": exact.exact_bincount(vals, idx, base_rank + R), "nobs": int(n)}
    if params.get("auc_type", "exact") == "exact":
        # key columns: actual, p_0..p_{K-1}[, w]
        out["rows"] = canonical(np.column_stack([a, P, ww] if params.get("weighted") else [a, P]))
    return out


def merge(a: dict, b: dict) -> dict:
    out = {"sums": exact.merge(a["sums"], b["sums"]), "nobs": a["nobs"] + b["nobs"]}
    if "rows" in a:
        out["rows"] = merge_canonical(a["rows"], b["rows"])
    return out


def _aucs(rows: dict, K: int, class_w: np.ndarray):
    """Per-class OVR AUCs, their macro and weighted means, and the OVO macro mean."""
    keys = np.asarray(rows["k"])
    a = keys[:, 0].astype(np.int64)
    P = keys[:, 1:1 + K]
    cw = np.asarray(rows["c"], np.float64) * (keys[:, 1 + K] if keys.shape[1] > 1 + K else 1.0)
    ovr = np.full(K, np.nan)
    by_class = []  # rows sorted by each class's probability (stable over the canonical order)
    for k in range(K):
        order = np.argsort(P[:, k], kind="stable")
        s, ak, wk = np.ascontiguousarray(P[order, k]), a[order], cw[order]
        by_class.append((s, ak, wk))
        _t, tp, fp = group_by_threshold(s, np.where(ak == k, wk, 0.0), np.where(ak != k, wk, 0.0))
        ovr[k] = auc_from_counts(tp, fp)
    present = np.isfinite(ovr)
    macro = float(np.mean(ovr[present])) if present.any() else math.nan
    wsum = class_w[present].sum()
    weighted = float(np.sum(ovr[present] * class_w[present]) / wsum) if present.any() and wsum > 0 else math.nan
    pairs = []
    if K <= MAX_OVO_CLASSES:
        for j in range(K):
            for k in range(j + 1, K):
                sc = []
                for pos_cls, neg_cls in ((j, k), (k, j)):
                    s, ak, wk = by_class[pos_cls]
                    m = (ak == pos_cls) | (ak == neg_cls)
                    am, wm = ak[m], wk[m]
                    _t, tp, fp = group_by_threshold(s[m], np.where(am == pos_cls, wm, 0.0),
                                                    np.where(am == neg_cls, wm, 0.0))
                    sc.append(auc_from_counts(tp, fp))
                pairs.append((j, k, (sc[0] + sc[1]) / 2))
    ovo_vals = [p[2] for p in pairs if math.isfinite(p[2])]
    ovo = float(np.mean(ovo_vals)) if ovo_vals else math.nan
    # weighted OVO: each pair weighted by the weight of its two classes (scikit-learn's prevalence)
    pw = np.array([class_w[j] + class_w[k] for j, k, v in pairs if math.isfinite(v)])
    ovo_w = float(np.sum(np.array(ovo_vals) * pw) / pw.sum()) if ovo_vals and pw.sum() > 0 else math.nan
    return ovr, macro, weighted, pairs, ovo, ovo_w


def finish(r: dict | None, params: dict) -> dict:
    K = int(params["nclasses"])
    R = min(MAX_HIT_RATIO_K, K)
    domain = list(params.get("domain") or [str(i) for i in range(K)])
    out: dict = {"model_category": "Multinomial", "domain": domain}
    if r is None or r["nobs"] == 0:
        out.update(nobs=0, mse=None, rmse=None, logloss=None, mean_per_class_error=None, confusion_matrix=None,
                   hit_ratio_table=None, multinomial_auc_table=None, auc_ovr_macro=None, auc_ovr_weighted=None,
                   auc_ovo_macro=None, auc_ovo_weighted=None, null_deviance=None, residual_deviance=None)
        return out
    s = exact.to_floats(r["sums"])
    sw, sll, sse = s[0], s[1], s[2]
    class_w = s[3:3 + K]
    cm = s[3 + K:3 + K + K * K].reshape(K, K)
    hits = np.cumsum(s[3 + K + K * K:])
    mse = sse / sw
    with np.errstate(all="ignore"):
        per_class_err = 1 - np.diag(cm) / class_w
        null_dev = -2 * float(np.sum(np.where(class_w > 0, class_w * np.log(class_w / sw), 0.0)))
    present = class_w > 0
    rows = []
    for k in range(K):
        wrong = class_w[k] - cm[k, k]
        rows.append([domain[k], *cm[k], per_class_err[k] if present[k] else None,
                     f"{fmt_count(wrong)} / {fmt_count(class_w[k])}"])
    tot_wrong = sw - np.trace(cm)
    rows.append(["Total", *cm.sum(axis=0), tot_wrong / sw, f"{fmt_count(tot_wrong)} / {fmt_count(sw)}"])
    out.update(
        nobs=int(r["nobs"]), weight_sum=num(sw), mse=num(mse), rmse=num(math.sqrt(mse)), logloss=num(sll / sw),
        mean_per_class_error=num(np.mean(per_class_err[present])) if present.any() else None,
        residual_deviance=num(2 * sll), null_deviance=num(null_dev),
        confusion_matrix=table("Confusion Matrix", ["", *domain, "Error", "Rate"],
                               ["string"] + ["double"] * (K + 1) + ["string"], rows,
                               "Row labels: actual class; column labels: predicted class"),
        hit_ratio_table=table("Top-k Hit Ratios", ["k", "hit_ratio"], ["int", "double"],
                              [[k + 1, hits[k] / sw] for k in range(R)]),
    )
    if "rows" in r:
        ovr, macro, weighted, pairs, ovo, ovo_w = _aucs(r["rows"], K, class_w)
        trows = [[f"{domain[k]} vs Rest", domain[k], None, ovr[k]] for k in range(K)]
        trows += [["Macro OVR", None, None, macro], ["Weighted OVR", None, None, weighted]]
        trows += [[f"Class {domain[j]} vs. {domain[k]}", domain[j], domain[k], v] for j, k, v in pairs]
        if pairs:
            trows += [["Macro OVO", None, None, ovo], ["Weighted OVO", None, None, ovo_w]]
        out.update(multinomial_auc_table=table("Multinomial AUC values",
                                               ["type", "first_class_domain", "second_class_domain", "auc"],
                                               ["string", "string", "string", "double"], trows),
                   auc_ovr_macro=num(macro), auc_ovr_weighted=num(weighted),
                   auc_ovo_macro=num(ovo) if pairs else None, auc_ovo_weighted=num(ovo_w) if pairs else None)
    else:
        out.update(multinomial_auc_table=None, auc_ovr_macro=None, auc_ovr_weighted=None, auc_ovo_macro=None,
                   auc_ovo_weighted=None)
    return out


@register_task
class MultinomialTask(MRTask):
    """``params``: actual, preds, weights, pred_frame (``common``), nclasses, weighted, auc_type, domain."""

    name = "metrics.multinomial"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        a, preds, w = chunk_inputs(ctx, chunk_idx, chunks, params, actual_as_codes=True)
        P = np.column_stack(preds) if a.size else np.zeros((0, len(preds)))
        return partial(a, P, w, params)

    def reduce(self, a, b):
        return merge(a, b)

    def finish(self, result, params):
        return finish(result, params)


def _params(K: int, weighted: bool, domain, auc_type: str, nrow: int) -> dict:
    if K < 2:
        raise InvalidParameter(f"Multinomial metrics need at least 2 classes; got {K}.", {})
    if auc_type not in ("exact", "none", "auto"):
        raise InvalidParameter(f"Parameter `auc_type` of multinomial metrics must be `exact`, `none` or `auto`; "
                               f"got {auc_type!r}.", {})
    if auc_type == "auto":
        auc_type = "exact" if nrow * (K + 2) <= AUTO_EXACT_MAX_VALUES else "none"
    if domain is not None and len(domain) != K:
        raise InvalidParameter(f"The domain has {len(domain)} levels but there are {K} probability columns.", {})
    return {"nclasses": int(K), "weighted": bool(weighted), "auc_type": auc_type,
            "domain": None if domain is None else [str(d) for d in domain]}


def multinomial_metrics_from_arrays(actual, probs, weights=None, domain=None, auc_type: str = "exact") -> dict:
    """Multinomial metrics of in-memory arrays: ``actual`` class indices 0..K-1 (NaN skipped),
    ``probs`` an (n, K) array of class probabilities. Same bits as :func:`multinomial_metrics`."""
    P = np.asarray(probs, dtype=np.float64)
    params = _params(P.shape[1] if P.ndim == 2 else 0, weights is not None, domain, auc_type, P.shape[0])
    return finish(partial(actual, P, weights, params), params)


def multinomial_metrics(node, frame_key: str, actual_col: str, prob_cols, weights_col: str | None = None,
                        domain=None, auc_type: str = "exact", job=None, pred_frame_key: str | None = None,
                        span: tuple[float, float] = (0.0, 1.0)) -> dict:
    """Multinomial metrics of a scored frame, by one map/reduce pass where the chunks live.

    ``actual_col`` is an enum column (codes index ``prob_cols``; its domain is used unless
    ``domain`` is given) or an integer column of class indices; ``prob_cols`` name the K
    probability columns in class order, columns of ``pred_frame_key`` (default: the same frame;
    else a frame of the same row layout).
    """
    prob_cols = list(prob_cols)
    header, _ph, cols, fparams = frame_inputs(node, frame_key, actual_col, prob_cols, weights_col, pred_frame_key)
    act = header.column(actual_col)
    K = len(prob_cols)
    if act.type.value == "enum" and domain is None:
        if act.cardinality != K:
            raise InvalidParameter(f"Column `{actual_col}` has {act.cardinality} levels but {K} probability columns "
                                   f"were given.", {"column": actual_col})
        domain = list(act.domain)
    params = _params(K, weights_col is not None, domain, auc_type, header.nrow)
    params.update(fparams)
    return node.runtime.run(MultinomialTask.name, frame_key, cols, params, job=job, span=span)
