"""Regression metrics: MSE, RMSE, MAE, RMSLE, mean residual deviance per distribution, R², deviances.

Two map/reduce passes over the scored frame, each a registered task whose partials are exact sums:

1. ``metrics.regression``: Σw, Σw·y, Σw·(y-f)², Σw·|y-f|, Σw·(log1p f - log1p y)², Σw·dev(y, f), the
   row count, and the count of rows where RMSLE is undefined (an actual or prediction ≤ -1).
2. ``metrics.regression_center``: with ȳ = Σw·y / Σw from pass 1, Σw·(y-ȳ)² (for R²) and
   Σw·dev(y, ȳ) (the null deviance).

Unit deviances follow H2O's ``Distribution.deviance`` (and scikit-learn's ``mean_*_deviance``):
gaussian (y-f)²; poisson 2(y log(y/f) - (y - f)); gamma 2(log(f/y) + y/f - 1); tweedie(p)
2(max(y,0)^(2-p)/((1-p)(2-p)) - y f^(1-p)/(1-p) + f^(2-p)/(2-p)); laplace |y-f|; quantile(α)
α(y-f) if y > f else (1-α)(f-y); huber(δ) (y-f)² if |y-f| ≤ δ else 2δ|y-f| - δ².
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter
from ..tasks import MRTask, register_task
from . import exact
from .common import check_weights, chunk_inputs, frame_inputs, num, valid_rows

__all__ = ["regression_metrics", "regression_metrics_from_arrays", "unit_deviance", "DISTRIBUTIONS",
           "normalize_distribution"]

DISTRIBUTIONS = ("gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber")
_DEFAULTS = {"tweedie_power": 1.5, "quantile_alpha": 0.5, "huber_delta": 1.0}


def normalize_distribution(distribution: str = "gaussian", **dist_params) -> dict:
    """Validate the distribution name and its parameter; returns ``{"distribution", <param>}``."""
    d = str(distribution or "gaussian").lower()
    if d == "auto":
        d = "gaussian"
    if d not in DISTRIBUTIONS:
        raise InvalidParameter(f"Parameter `distribution` must be one of {', '.join(DISTRIBUTIONS)}; "
                               f"got {distribution!r}.", {"parameter": "distribution"})
    unknown = set(dist_params) - set(_DEFAULTS)
    if unknown:
        raise InvalidParameter(f"Unknown distribution parameter(s) {', '.join(sorted(unknown))}; allowed: "
                               f"{', '.join(_DEFAULTS)}.", {"parameters": sorted(unknown)})
    out = {"distribution": d}
    for k, v in _DEFAULTS.items():
        out[k] = float(dist_params.get(k, v) if dist_params.get(k) is not None else v)
    if not 0 <= out["quantile_alpha"] <= 1:
        raise InvalidParameter(f"Parameter `quantile_alpha` must be in [0, 1]; got {out['quantile_alpha']}.", {})
    if out["huber_delta"] <= 0:
        raise InvalidParameter(f"Parameter `huber_delta` must be > 0; got {out['huber_delta']}.", {})
    p = out["tweedie_power"]
    if 0 < p < 1:
        raise InvalidParameter(f"Parameter `tweedie_power` must be 0 or ≥ 1; got {p}.", {})
    return out


def unit_deviance(y: np.ndarray, f: np.ndarray, dist: dict) -> np.ndarray:
    """Per-row deviance of prediction ``f`` for actual ``y`` (NaN where undefined)."""
    d = dist["distribution"]
    with np.errstate(all="ignore"):
        if d == "tweedie":
            p = dist["tweedie_power"]
            if p == 0:
                d = "gaussian"
            elif p == 1:
                d = "poisson"
            elif p == 2:
                d = "gamma"
            else:
                bad = (f <= 0) | (y < 0) if p < 2 else (f <= 0) | (y <= 0)
                yp = np.where(y > 0, y, 0.0)
                dev = 2 * (yp ** (2 - p) / ((1 - p) * (2 - p)) - y * f ** (1 - p) / (1 - p) + f ** (2 - p) / (2 - p))
                return np.where(bad, np.nan, dev)
        if d == "gaussian":
            return (y - f) ** 2
        if d == "poisson":
            ylog = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / f), 0.0)
            return np.where((f <= 0) | (y < 0), np.nan, 2 * (ylog - (y - f)))
        if d == "gamma":
            return np.where((f <= 0) | (y <= 0), np.nan, 2 * (np.log(f / y) + y / f - 1))
        if d == "laplace":
            return np.abs(y - f)
        if d == "quantile":
            a = dist["quantile_alpha"]
            return np.where(y > f, a * (y - f), (1 - a) * (f - y))
        if d == "huber":
            delta = dist["huber_delta"]
            r = np.abs(y - f)
            return np.where(r <= delta, r * r, 2 * delta * r - delta * delta)
    raise InvalidParameter(f"Unknown distribution {d!r}.", {})


# ---------------------------------------------------------------------------------------- builders
def _prepare(y, f, w):
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    w = None if w is None else np.asarray(w, dtype=np.float64)
    check_weights(w)
    ok = valid_rows(y, [f], w)
    if not ok.all():
        y, f = y[ok], f[ok]
        w = None if w is None else w[ok]
    return y, f, (np.ones_like(y) if w is None else w)


def partial_main(y, f, w, dist: dict) -> dict:
    """Pass 1 partial over one block of rows."""
    y, f, w = _prepare(y, f, w)
    e = y - f
    with np.errstate(all="ignore"):
        defined = (y > -1) & (f > -1)
        le = np.where(defined, np.log1p(np.where(defined, f, 0.0)) - np.log1p(np.where(defined, y, 0.0)), 0.0)
    terms = np.vstack([w, w * y, w * e * e, w * np.abs(e), w * le * le, w * unit_deviance(y, f, dist)])
    return {"sums": exact.exact_sums(terms), "nobs": int(y.size), "rmsle_undefined": int((~defined).sum())}


def merge_main(a: dict, b: dict) -> dict:
    return {"sums": exact.merge(a["sums"], b["sums"]), "nobs": a["nobs"] + b["nobs"],
            "rmsle_undefined": a["rmsle_undefined"] + b["rmsle_undefined"]}


def partial_center(y, f, w, ybar: float, dist: dict) -> dict:
    """Pass 2 partial: Σw(y-ȳ)² and the null deviance Σw·dev(y, ȳ)."""
    y, f, w = _prepare(y, f, w)
    d = y - ybar
    terms = np.vstack([w * d * d, w * unit_deviance(y, np.full_like(y, ybar), dist)])
    return {"sums": exact.exact_sums(terms)}


def merge_center(a: dict, b: dict) -> dict:
    return {"sums": exact.merge(a["sums"], b["sums"])}


def mean_of(main: dict | None) -> float:
    if main is None:
        return math.nan
    s = exact.to_floats(main["sums"])
    return s[1] / s[0] if s[0] > 0 else math.nan


def finish(main: dict | None, center: dict | None, dist: dict) -> dict:
    """The final metrics from the two merged partials."""
    out = {"model_category": "Regression", "distribution": dist["distribution"]}
    if dist["distribution"] == "tweedie":
        out["tweedie_power"] = dist["tweedie_power"]
    elif dist["distribution"] == "quantile":
        out["quantile_alpha"] = dist["quantile_alpha"]
    elif dist["distribution"] == "huber":
        out["huber_delta"] = dist["huber_delta"]
    if main is None or main["nobs"] == 0:
        out.update(nobs=0, mse=None, rmse=None, mae=None, rmsle=None, mean_residual_deviance=None, r2=None,
                   residual_deviance=None, null_deviance=None, mean_response=None)
        return out
    sw, swy, sse, sae, ssle, sdev = exact.to_floats(main["sums"])
    mse = sse / sw
    sst, null_dev = exact.to_floats(center["sums"]) if center is not None else (math.nan, math.nan)
    var = sst / sw
    out.update(
        nobs=int(main["nobs"]),
        weight_sum=num(sw),
        mean_response=num(swy / sw),
        mse=num(mse),
        rmse=num(math.sqrt(mse)),
        mae=num(sae / sw),
        rmsle=None if main["rmsle_undefined"] else num(math.sqrt(ssle / sw)),
        mean_residual_deviance=num(sdev / sw),
        residual_deviance=num(sdev),
        null_deviance=num(null_dev),
        r2=num(1.0 - mse / var) if var > 0 else None,
    )
    return out


# ---------------------------------------------------------------------------------------- tasks
def _columns(ctx, chunk_idx, chunks, params):
    y, (f,), w = chunk_inputs(ctx, chunk_idx, chunks, params, actual_as_codes=False)
    return y, f, w


@register_task
class RegressionMain(MRTask):
    """Pass 1 of the regression metrics; ``params``: actual, preds, weights, pred_frame (``common``), dist."""

    name = "metrics.regression"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        return partial_main(*_columns(ctx, chunk_idx, chunks, params), params["dist"])

    def reduce(self, a, b):
        return merge_main(a, b)


@register_task
class RegressionCenter(MRTask):
    """Pass 2 of the regression metrics; ``params`` as pass 1 plus ``ybar``."""

    name = "metrics.regression_center"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        return partial_center(*_columns(ctx, chunk_idx, chunks, params), params["ybar"], params["dist"])

    def reduce(self, a, b):
        return merge_center(a, b)


# ---------------------------------------------------------------------------------------- entry points
def regression_metrics_from_arrays(actual, predicted, weights=None, distribution: str = "gaussian",
                                   **dist_params) -> dict:
    """Regression metrics of in-memory arrays (e.g. while training); same numbers as on a frame.

    Parameters
    ----------
    actual, predicted : array-like of float
        NaN rows (either array) are skipped.
    weights : array-like of float, optional
        Non-negative observation weights; rows of weight 0 or NaN are skipped.
    distribution : str
        Deviance used for ``mean_residual_deviance``: gaussian, poisson, gamma, tweedie, laplace,
        quantile, huber; parameters ``tweedie_power``, ``quantile_alpha``, ``huber_delta``.
    """
    dist = normalize_distribution(distribution, **dist_params)
    main = partial_main(actual, predicted, weights, dist)
    center = partial_center(actual, predicted, weights, mean_of(main), dist)
    return finish(main, center, dist)


def regression_metrics(node, frame_key: str, actual_col: str, pred_col: str, weights_col: str | None = None,
                       distribution: str = "gaussian", job=None, pred_frame_key: str | None = None,
                       span: tuple[float, float] = (0.0, 1.0), **dist_params) -> dict:
    """Regression metrics of a scored frame, by two map/reduce passes where the chunks live.

    ``actual_col`` and ``weights_col`` name numeric columns of frame ``frame_key``; ``pred_col``
    a numeric column of ``pred_frame_key`` (default: the same frame; else a frame of the same row
    layout, e.g. the output of ``predict``). ``job``/``span``: progress and cancellation, as
    ``Runtime.run``. Returns a JSON-able dict (see ``docs/metrics.md``).
    """
    dist = normalize_distribution(distribution, **dist_params)
    _h, _ph, cols, params = frame_inputs(node, frame_key, actual_col, [pred_col], weights_col, pred_frame_key)
    params["dist"] = dist
    lo, hi = span
    mid = lo + (hi - lo) / 2
    main = node.runtime.run(RegressionMain.name, frame_key, cols, params, job=job, span=(lo, mid))
    center = None
    if main is not None and main["nobs"]:
        center = node.runtime.run(RegressionCenter.name, frame_key, cols, dict(params, ybar=mean_of(main)), job=job,
                                  span=(mid, hi))
    return finish(main, center, dist)
