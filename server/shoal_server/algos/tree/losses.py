"""Loss functions of the tree models: gradients/hessians with respect to the raw prediction, links.

``dist`` is the dict of ``metrics.regression.normalize_distribution`` (``distribution`` plus
``tweedie_power``, ``quantile_alpha``, ``huber_delta``), extended with ``drf`` for random forests
(trees fitted to the response, or to class indicators, with unit hessians: leaf values are means).

The raw prediction is ``F = f + offset``; gradients are ``dL/dF`` and hessians ``d²L/dF²`` of the
per-row loss. Multinomial hessians carry H2O-3's / LightGBM's factor ``K / (K - 1)``. For laplace,
quantile and huber the hessian is 1 (the Newton step is then the mean of the clipped gradient).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["gradients", "link_inverse", "init_raw", "LINK"]

LINK = {"gaussian": "identity", "bernoulli": "logit", "multinomial": "softmax", "poisson": "log", "gamma": "log",
        "tweedie": "log", "laplace": "identity", "quantile": "identity", "huber": "identity"}


def _expit(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softmax(F: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``F`` (n, K)."""
    m = F.max(axis=1, keepdims=True)
    e = np.exp(F - m)
    return e / e.sum(axis=1, keepdims=True)


def gradients(dist: dict, y: np.ndarray, f: np.ndarray, off: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
    """OUT ``g``, ``h`` (K, n) from the response ``y`` (n; class index for classification) and ``f`` (K, n)."""
    d = dist["distribution"]
    yy = np.where(np.isnan(y), 0.0, y)
    if d == "drf":
        if f.shape[0] == 1 and not dist.get("classification"):
            g[0] = -yy
        elif f.shape[0] == 1:
            g[0] = -(yy == 1).astype(np.float64)
        else:
            for k in range(f.shape[0]):
                g[k] = -(yy == k).astype(np.float64)
        h[:] = 1.0
        return
    F = f + off[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        if d == "gaussian":
            g[0] = F[0] - yy
            h[0] = 1.0
        elif d == "bernoulli":
            p = _expit(F[0])
            g[0] = p - yy
            h[0] = np.maximum(p * (1.0 - p), 1e-16)
        elif d == "multinomial":
            K = F.shape[0]
            P = softmax(F.T).T
            fac = K / (K - 1.0)
            for k in range(K):
                g[k] = P[k] - (yy == k)
                h[k] = np.maximum(fac * P[k] * (1.0 - P[k]), 1e-16)
        elif d == "poisson":
            mu = np.exp(F[0])
            g[0] = mu - yy
            h[0] = mu
        elif d == "gamma":
            e = yy * np.exp(-F[0])
            g[0] = 1.0 - e
            h[0] = np.maximum(e, 1e-16)
        elif d == "tweedie":
            p = float(dist["tweedie_power"])
            a = yy * np.exp((1.0 - p) * F[0])
            b = np.exp((2.0 - p) * F[0])
            g[0] = b - a
            h[0] = np.maximum((2.0 - p) * b - (1.0 - p) * a, 1e-16)
        elif d == "laplace":
            g[0] = np.sign(F[0] - yy)
            h[0] = 1.0
        elif d == "quantile":
            alpha = float(dist["quantile_alpha"])
            g[0] = np.where(yy > F[0], -alpha, 1.0 - alpha)
            h[0] = 1.0
        elif d == "huber":
            delta = float(dist["huber_delta"])
            g[0] = np.clip(F[0] - yy, -delta, delta)
            h[0] = 1.0
        else:
            raise ValueError(f"unknown distribution {d!r}")


def link_inverse(dist: dict, F: np.ndarray, category: str) -> np.ndarray:
    """Predictions (n, k) from raw scores ``F`` (n, K): probabilities or the response mean."""
    d = dist["distribution"]
    if category == "Binomial":
        p1 = _expit(F[:, 0])
        return np.column_stack([1.0 - p1, p1])
    if category == "Multinomial":
        return softmax(F)
    if LINK.get(d) == "log":
        with np.errstate(over="ignore"):
            return np.exp(F[:, :1])
    return F[:, :1].copy()


def init_raw(dist: dict, sums: np.ndarray, K: int, median: float | None = None) -> np.ndarray:
    """The initial raw prediction from exact response sums ``[Σw, Σwy, Σw·offset, Σw·[y=k]...]``.

    The link of the weighted mean response, less the mean offset (exact for gaussian; a first
    approximation for the other links, which the trees correct).
    """
    out = _init_no_offset(dist, sums, K, median)
    sw = float(sums[0])
    return out - (float(sums[2]) / sw if sw > 0 else 0.0)


def _init_no_offset(dist: dict, sums: np.ndarray, K: int, median: float | None) -> np.ndarray:
    d = dist["distribution"]
    sw, swy = float(sums[0]), float(sums[1])
    mean = swy / sw if sw > 0 else 0.0
    if d == "bernoulli":
        p = min(max(mean, 1e-10), 1 - 1e-10)
        return np.array([math.log(p / (1 - p))])
    if d == "multinomial":
        pri = np.asarray(sums[3:3 + K], np.float64) / sw
        return np.log(np.maximum(pri, 1e-10))
    if LINK.get(d) == "log":
        return np.array([math.log(max(mean, 1e-10))])
    if d in ("laplace", "quantile", "huber") and median is not None:
        return np.array([median])
    return np.array([mean])
