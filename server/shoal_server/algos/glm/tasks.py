"""The GLM map/reduce task: one IRLS pass (X'WX, X'Wz, score, deviance) over a frame's chunks.

Partials are sums of fixed shape, reduced in the runtime's fixed tree (so the bits depend only on
the data and the chunk layout); the coordinator mirrors the upper triangle of the Gram.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidParameter
from ...store import codecs
from ...tasks import MRTask, register_task
from ..common.cv import fold_weights
from ..common.design import expand, expand_split, response_values
from . import kernels

__all__ = ["GramTask", "chunk_inputs"]


def chunk_inputs(params: dict, chunk_idx: int, chunks: dict):
    """Design rows, response, effective weights and offset of one chunk (training rows only)."""
    X, complete = expand(params["spec"], params["binding"], chunks)
    return (X,) + _row_inputs(params, chunk_idx, chunks, complete)


def chunk_inputs_split(params: dict, chunk_idx: int, chunks: dict):
    """:func:`chunk_inputs` with the categoricals kept sparse: ``(C, D, y, w, off)`` (``expand_split``)."""
    C, D, complete = expand_split(params["spec"], params["binding"], chunks)
    return (C, D) + _row_inputs(params, chunk_idx, chunks, complete)


def _row_inputs(params: dict, chunk_idx: int, chunks: dict, complete: np.ndarray):
    spec, binding = params["spec"], params["binding"]
    n = complete.shape[0]
    y = response_values(chunks[binding["y"]], binding["y_type"], binding.get("y_map"))
    w = np.ones(n) if binding.get("w") is None else codecs.decode_float64(chunks[binding["w"]])
    off = np.zeros(n) if binding.get("offset") is None else codecs.decode_float64(chunks[binding["offset"]])
    bad = np.isnan(y) | np.isnan(w) | np.isnan(off)
    if spec["missing_values_handling"] == "Skip":
        bad |= ~complete
    w = np.where(bad, 0.0, w)
    off = np.where(np.isnan(off), 0.0, off)
    y = np.where(np.isnan(y), 0.0, y)
    mask = fold_weights(params.get("folds"), params.get("fold_mode"), int(params.get("fold", -1)), chunk_idx,
                        int(params["starts"][chunk_idx]), n, chunks, np.where(bad, np.nan, y))
    if mask is not None:
        w = w * mask
    return y, np.ascontiguousarray(w), np.ascontiguousarray(off)


@register_task
class GramTask(MRTask):
    """params: spec, binding, fam, link, vp, lp, theta, beta, nclasses, want_gram, folds, fold_mode,
    fold, starts. Partial: ``G`` (upper triangle), ``q``, ``grad``, ``stats``. For multinomial
    (``nclasses`` > 1) ``beta`` is the flattened K x (p+1) matrix and ``G`` the full Hessian."""

    name = "glm.gram"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        multinomial = params.get("nclasses", 1) > 1
        split = bool(params["spec"]["cats"]) and not multinomial
        if split:       # categoricals stay sparse: the Gram costs O(nnz^2) per row (same bits as dense)
            C, D, y, w, off = chunk_inputs_split(params, chunk_idx, chunks)
            p = int(_ncoef(params["spec"]))
            d0 = p - D.shape[1]
        else:
            X, y, w, off = chunk_inputs(params, chunk_idx, chunks)
            p = X.shape[1]
        G = np.zeros((p + 1, p + 1)) if params["want_gram"] else np.zeros((1, 1))
        q = np.zeros(p + 1)
        grad = np.zeros(p + 1)
        stats = np.zeros(6)
        if params.get("nclasses", 1) > 1:
            K = int(params["nclasses"])
            B = np.ascontiguousarray(np.asarray(params["beta"], np.float64).reshape(K, p + 1))
            G = np.zeros((K * (p + 1), K * (p + 1))) if params["want_gram"] else np.zeros((1, 1))
            q = np.zeros(K * (p + 1))
            grad = np.zeros(K * (p + 1))
            kernels.multinomial_newton_pass(X, B, y, w, bool(params["want_gram"]), G, grad, stats)
        else:
            fam = int(params["fam"])
            if fam in (1, 2) and bool(np.any((w > 0) & ((y < 0) | (y > 1)))):
                raise InvalidParameter("The response of a binomial GLM must be 0/1 (or in [0, 1] for "
                                       "quasibinomial); found values outside.", {})
            if fam >= 3 and bool(np.any((w > 0) & (y < 0))):
                raise InvalidParameter("The response of this GLM family must be non-negative; found negative "
                                       "values.", {})
            if fam == 4 and bool(np.any((w > 0) & (y <= 0))):
                raise InvalidParameter("The response of a gamma GLM must be positive; found values <= 0.", {})
            beta = np.ascontiguousarray(np.asarray(params["beta"], np.float64))
            # the Gram is accumulated in the kernel (no BLAS: its threads would oversubscribe the compute pool)
            ww = np.zeros(y.shape[0])
            args = (beta, y, w, off, fam, int(params["link"]), float(params["vp"]), float(params["lp"]),
                    float(params["theta"]), bool(params["want_gram"]), G, q, grad, stats, ww)
            if split:
                kernels.irls_pass_split(C, D, d0, *args)
            else:
                kernels.irls_pass(X, *args)
        out = {"q": q, "grad": grad, "stats": stats}
        if params["want_gram"]:
            out["G"] = G
        return out

    def reduce(self, a, b):
        # into ``a``'s arrays when they are writable (a partial of this reduction only; arrays that
        # came over the wire may be read-only): the same sums without a new Gram per merge
        out = {k: _add(a[k], b[k]) for k in ("q", "grad", "stats")}
        if "G" in a:
            out["G"] = _add(a["G"], b["G"])
        return out

    def finish(self, result, params):
        if result is not None and "G" in result:
            G = np.array(result["G"])
            iu = np.triu_indices(G.shape[0], 1)
            G[(iu[1], iu[0])] = G[iu]
            result = dict(result, G=G)
        return result


def _add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.flags.writeable and x.dtype == np.float64:
        return np.add(x, y, out=x)
    return x + y


def _ncoef(spec: dict) -> int:
    return (sum(len(c["domain"]) - (0 if c["use_all"] else 1) for c in spec["cats"]) + len(spec["nums"])
            + sum(len(i["cols"]) for i in spec.get("inters") or ()))
