"""Threshold curves: per-threshold counts, AUC, AUCPR, the criteria of H2O's thresholds table.

Conventions (H2O's ``AUC2``): thresholds are sorted in decreasing order; at threshold ``t`` a row
is predicted positive when its score is ``>= t``; ``tps[i]``/``fps[i]`` are the (weighted)
positives/negatives with a score ``>= thresholds[i]``.

* AUC: the trapezoidal area under the ROC curve through (0, 0) and every threshold's
  (fpr, tpr); with ties handled as one step. This is scikit-learn's ``roc_auc_score``.
* AUCPR: *average precision*, Σ (recall_i - recall_{i-1}) · precision_i over the thresholds
  (a step function, no interpolation). This is scikit-learn's ``average_precision_score``;
  H2O-3's ``aucpr`` integrates the PR curve of its 400 bins by the trapezoid rule instead, which
  is slightly optimistic, so the two differ a little on the same data.
"""
from __future__ import annotations

import numpy as np

__all__ = ["group_by_threshold", "auc_from_counts", "aucpr_from_counts", "criteria", "CRITERIA"]

#: The criteria of the thresholds table, in H2O's column order.
CRITERIA = ("f1", "f2", "f0point5", "accuracy", "precision", "recall", "specificity", "absolute_mcc",
            "min_per_class_accuracy", "mean_per_class_accuracy", "tns", "fns", "fps", "tps", "tnr", "fnr",
            "fpr", "tpr")


def group_by_threshold(scores_asc: np.ndarray, pos_w: np.ndarray, neg_w: np.ndarray):
    """Distinct thresholds (decreasing) and cumulative tps/fps from rows sorted by increasing score.

    The sums run in the given (canonical) row order, so the result is a function of the rows only.
    """
    n = scores_asc.size
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    change = np.ones(n, bool)
    change[1:] = scores_asc[1:] != scores_asc[:-1]
    starts = np.flatnonzero(change)
    thr = scores_asc[starts][::-1]
    tp = np.cumsum(np.add.reduceat(pos_w, starts)[::-1])
    fp = np.cumsum(np.add.reduceat(neg_w, starts)[::-1])
    return thr, tp, fp


def auc_from_counts(tp: np.ndarray, fp: np.ndarray) -> float:
    """Trapezoidal ROC AUC; NaN when a class is absent."""
    if tp.size == 0:
        return float("nan")
    P, N = tp[-1], fp[-1]
    if P <= 0 or N <= 0:
        return float("nan")
    tpp = np.concatenate([[0.0], tp])
    fpp = np.concatenate([[0.0], fp])
    area = np.sum(np.diff(fpp) * (tpp[1:] + tpp[:-1])) / 2.0
    return float(area / (P * N))


def aucpr_from_counts(tp: np.ndarray, fp: np.ndarray) -> float:
    """Average precision (step-wise area under precision/recall); NaN without positives."""
    if tp.size == 0 or tp[-1] <= 0:
        return float("nan")
    P = tp[-1]
    denom = tp + fp
    with np.errstate(all="ignore"):
        prec = np.where(denom > 0, tp / np.where(denom > 0, denom, 1.0), 1.0)
    drec = np.diff(np.concatenate([[0.0], tp])) / P
    return float(np.sum(drec * prec))


def criteria(tp: np.ndarray, fp: np.ndarray, P: float | None = None, N: float | None = None) -> dict[str, np.ndarray]:
    """Every criterion of the thresholds table at every threshold (NaN where undefined).

    ``P``/``N`` (the total positives/negatives) default to the last ``tp``/``fp``; give them to
    evaluate a subset of the thresholds (``thresholds.best_and_ks`` finds the maxima over all).
    """
    if P is None:
        P = tp[-1] if tp.size else 0.0
    if N is None:
        N = fp[-1] if fp.size else 0.0
    tn = N - fp
    fn = P - tp
    with np.errstate(all="ignore"):
        tpr = tp / P
        tnr = tn / N
        fpr = fp / N
        fnr = fn / P
        precision = tp / (tp + fp)

        def fbeta(b2):
            return np.where(tp > 0, (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp), 0.0)

        num = tp * tn - fp * fn
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(num == 0, 0.0, np.abs(num) / den)
        return {
            "f1": fbeta(1.0), "f2": fbeta(4.0), "f0point5": fbeta(0.25),
            "accuracy": (tp + tn) / (P + N), "precision": precision, "recall": tpr, "specificity": tnr,
            "absolute_mcc": mcc, "min_per_class_accuracy": np.minimum(tpr, tnr),
            "mean_per_class_accuracy": (tpr + tnr) / 2, "tns": tn, "fns": fn, "fps": fp, "tps": tp,
            "tnr": tnr, "fnr": fnr, "fpr": fpr, "tpr": tpr,
        }
