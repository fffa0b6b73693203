"""Model output tables shared by every algorithm: scoring history, variable importance, and the
cross-validation metrics summary (mean, sd and one column per fold, as H2O-3)."""
from __future__ import annotations

import datetime as _dt
import math
from typing import Sequence

import numpy as np

from ...metrics.common import table

__all__ = ["table", "scoring_history_table", "varimp_table", "cv_summary"]


def _stamp(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def scoring_history_table(history: Sequence[dict], t_start_ms: int) -> dict:
    """One row per iteration: timestamp, duration, iterations, lambda, deviance, objective."""
    rows = []
    for h in history:
        rows.append([_stamp(h["time"]), f"{max(0.0, h['time'] - t_start_ms / 1000):.3f} sec", h["iteration"],
                     h.get("lambda"), h["deviance"] / 2, h["objective"]])
    return table("Scoring History", ["timestamp", "duration", "iterations", "lambda", "negative_log_likelihood",
                                     "objective"], ["string", "string", "int", "double", "double", "double"], rows,
                 "One row per iteration (negative_log_likelihood: half the weighted deviance)")


def varimp_table(names: Sequence[str], importance: np.ndarray) -> dict:
    imp = np.asarray(importance, np.float64)
    order = sorted(range(len(names)), key=lambda j: (-imp[j], j))
    mx = float(imp.max()) if imp.size else 0.0
    tot = float(imp.sum()) if imp.size else 0.0
    rows = [[names[j], imp[j], imp[j] / mx if mx > 0 else 0.0, imp[j] / tot if tot > 0 else 0.0] for j in order]
    return table("Variable Importances", ["variable", "relative_importance", "scaled_importance", "percentage"],
                 ["string", "double", "double", "double"], rows, "Variable importances")


_SUMMARY = {
    "Regression": ["mae", "mean_residual_deviance", "mse", "r2", "residual_deviance", "rmse", "rmsle"],
    "Binomial": ["accuracy", "auc", "aucpr", "err", "err_count", "f0point5", "f1", "f2", "lift_top_group",
                 "logloss", "max_per_class_error", "mcc", "mean_per_class_accuracy", "mean_per_class_error",
                 "mse", "null_deviance", "precision", "r2", "recall", "residual_deviance", "rmse", "specificity"],
    "Multinomial": ["err", "err_count", "logloss", "max_per_class_error", "mean_per_class_accuracy",
                    "mean_per_class_error", "mse", "r2", "rmse"],
}


def _value(m: dict, name: str):
    if name in m and not isinstance(m[name], (dict, list)):
        return m[name]
    crit = m.get("max_criteria_and_metric_scores")
    if crit and name in ("accuracy", "f0point5", "f1", "f2", "mcc", "precision", "recall", "specificity"):
        key = {"mcc": "absolute_mcc"}.get(name, name)
        for row in crit["data"]:
            if row[0] == f"max {key}":
                return row[2]
    if name == "mean_per_class_accuracy" and m.get("mean_per_class_error") is not None:
        return 1 - m["mean_per_class_error"]
    if name == "lift_top_group" and m.get("gains_lift_table"):
        gl = m["gains_lift_table"]
        if "lift" in gl["columns"] and gl["data"]:
            return gl["data"][0][gl["columns"].index("lift")]
    if name in ("err", "err_count") and m.get("confusion_matrix"):
        cm = m["confusion_matrix"]
        try:
            last = cm["data"][-1]
            err_col = cm["columns"].index("Error")
            if name == "err":
                return last[err_col]
        except (ValueError, IndexError, KeyError):
            return None
    return None


def cv_summary(per_fold: Sequence[dict], category: str) -> dict:
    """H2O's Cross-Validation Metrics Summary: metric, mean, sd, cv_1_valid, ..."""
    names = _SUMMARY.get(category, _SUMMARY["Regression"])
    rows = []
    for name in names:
        vals = [_value(m, name) for m in per_fold]
        nums = [float(v) for v in vals if isinstance(v, (int, float)) and v is not None and math.isfinite(float(v))]
        if not nums:
            continue
        mean = sum(nums) / len(nums)
        sd = math.sqrt(sum((v - mean) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else 0.0
        rows.append([name, mean, sd, *vals])
    cols = ["metric", "mean", "sd"] + [f"cv_{k + 1}_valid" for k in range(len(per_fold))]
    return table("Cross-Validation Metrics Summary", cols, ["string"] + ["double"] * (len(cols) - 1), rows,
                 "Metrics of each fold's holdout rows; mean and sample sd over folds")
