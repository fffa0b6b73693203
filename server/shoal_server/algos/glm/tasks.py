"""The GLM map/reduce task: one IRLS pass (X'WX, X'Wz, score, deviance) over a frame's chunks.

Partials are sums of fixed shape, reduced in the runtime's fixed tree (so the bits depend only on
the data and the chunk layout); the coordinator mirrors the upper triangle of the Gram.

Input cache. A training passes a ``session`` id in the task params; a pass over the training frame
with the categoricals kept sparse then keeps each chunk's decoded design (``C`` with the narrowest
integer type that holds the column numbers, ``D``, ``y``, the weights before any fold mask,
``off``) on the node that mapped it, keyed by session and chunk, so the next passes of the same
training only run the kernel. The cached rows are reordered by the levels of the two widest
categoricals (``_gram_order``: the Gram's updates then stay in cache); the fold mask is applied
per pass in that order (one cache serves every cross-validation model). The training drops its
session on every member when it ends, fails or is cancelled (``drop_inputs``). A pass without a
session (e.g. a validation frame's deviance) decodes as before: its sums equal the cached ones to
rounding (the order of the terms differs).

Training metrics. A binomial model's training metrics are computed before the session is dropped,
from the cached rows (``glm.cached_binomial_metrics``): per chunk one kernel gives the scorer's
probability of every cached row (``kernels.predict_mu_split``: the terms of ``predict_eta_split``
in its order, then ``linkinv``: the bits of ``algos.predict``), instead of decoding the chunk
again. The metrics partial does not depend on the row order, so the rows' reordering is harmless.
A chunk without cached rows is scored from its columns, as ``algos.score_binomial_metrics`` does.
"""
from __future__ import annotations

import logging
import threading
import uuid

import numpy as np

from ...errors import InvalidParameter
from ...store import codecs
from ...tasks import IndexedTask, MRTask, register_task
from ..common.cv import fold_weights
from ..common.design import expand, expand_split, response_values
from ..common.scoring import ScoreBinomialMetricsTask, binomial_metrics_of, score_chunk
from . import kernels

log = logging.getLogger(__name__)

__all__ = ["GramTask", "DropInputs", "CachedBinomialMetricsTask", "chunk_inputs", "new_session_id", "drop_inputs",
           "cached_binomial_metrics"]


def chunk_inputs(params: dict, chunk_idx: int, chunks: dict):
    """Design rows, response, effective weights and offset of one chunk (training rows only)."""
    X, complete = expand(params["spec"], params["binding"], chunks)
    return (X,) + _row_inputs(params, chunk_idx, chunks, complete)


def _row_inputs(params: dict, chunk_idx: int, chunks: dict, complete: np.ndarray):
    y, w, off, bad = _row_base(params, chunks, complete)
    return y, _fold_masked(params, chunk_idx, chunks, y, w, bad), off


def _row_base(params: dict, chunks: dict, complete: np.ndarray):
    """``y``, the weights before the fold mask (0 for unusable rows), ``off`` and the unusable rows."""
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
    return y, np.ascontiguousarray(w), np.ascontiguousarray(off), bad


def _fold_masked(params: dict, chunk_idx: int, chunks: dict, y, w, bad):
    if params.get("folds") is None or params.get("fold_mode") is None:
        return w
    mask = fold_weights(params.get("folds"), params.get("fold_mode"), int(params.get("fold", -1)), chunk_idx,
                        int(params["starts"][chunk_idx]), y.shape[0], chunks, np.where(bad, np.nan, y))
    if mask is not None:
        w = w * mask
    return np.ascontiguousarray(w)


# ============================================================================================ input cache
_LOCK = threading.RLock()   # re-entrant: drop_inputs holds it while _cache may create the registry


class _Inputs:
    __slots__ = ("C", "D", "y", "w", "off", "bad", "checked", "order")


def _cache(node) -> dict:
    reg = getattr(node, "_glm_inputs", None)
    if reg is None:
        with _LOCK:
            reg = getattr(node, "_glm_inputs", None)
            if reg is None:
                reg = {}
                node._glm_inputs = reg
    return reg


def _narrow(C: np.ndarray, ncoef: int) -> np.ndarray:
    for t in (np.int8, np.int16):
        if ncoef <= np.iinfo(t).max:
            return np.ascontiguousarray(C, dtype=t)
    return C


def _split_inputs(ctx, params: dict, chunk_idx: int, chunks: dict):
    """The decoded inputs of one chunk (from the session's cache when there is one) and its weights
    with this pass's fold mask."""
    session = params.get("session")
    st = None
    if session is not None:
        st = _cache(ctx.node).get(session, {}).get(chunk_idx)
    if st is None:
        C, D, complete = expand_split(params["spec"], params["binding"], chunks)
        st = _Inputs()
        st.C, st.D = C, D
        st.y, st.w, st.off, st.bad = _row_base(params, chunks, complete)
        st.checked = False
        st.order = None
        if session is not None:
            st.order = _gram_order(C, params["spec"])
            st.C = _narrow(C, _ncoef(params["spec"]))      # narrowed first: the row copy moves fewer bytes
            if st.order is not None:
                st.C, st.D = st.C.take(st.order, axis=0), D.take(st.order, axis=0)
                st.y, st.w, st.off, st.bad = (a.take(st.order) for a in (st.y, st.w, st.off, st.bad))
            with _LOCK:
                _cache(ctx.node).setdefault(session, {})[chunk_idx] = st
    if params.get("folds") is None or params.get("fold_mode") is None:
        return st, st.w
    if st.order is None:
        return st, _fold_masked(params, chunk_idx, chunks, st.y, st.w, st.bad)
    y, bad = np.empty_like(st.y), np.empty_like(st.bad)     # the fold ids are drawn in the chunk's row order
    y[st.order], bad[st.order] = st.y, st.bad
    ones = np.ones_like(st.w)
    mask = _fold_masked(params, chunk_idx, chunks, y, ones, bad)
    return st, np.ascontiguousarray(st.w * mask[st.order])


def _gram_order(C: np.ndarray, spec: dict) -> np.ndarray | None:
    """A row order for the Gram: by the level of the categorical with the most levels, then of the
    next one. The rows of one level then update one row of the Gram, which stays in cache (in
    the chunk's order the two widest categoricals' block of the Gram is hit at random). The sums
    receive the same terms in another order: equal to rounding, and the same on every run and
    every cluster layout (the order is a function of the chunk)."""
    if C.shape[0] < 2 or C.shape[1] == 0:
        return None
    widths = np.array([len(c["domain"]) for c in spec["cats"]])
    top = np.argsort(-widths, kind="stable")
    first, second = int(top[0]), int(top[1] if top.size > 1 else top[0])
    out = np.empty(C.shape[0], dtype=np.int64)
    kernels.level_order(C, first, second, _ncoef(spec), out)
    return out


def new_session_id() -> str:
    return f"glm-{uuid.uuid4().hex[:12]}"


@register_task
class DropInputs(IndexedTask):
    """Free a training session's cached chunk inputs on one member."""

    name = "glm.drop"

    def map(self, ctx, index, params):
        with _LOCK:
            _cache(ctx.node).pop(params["session"], None)
        return {}

    def reduce(self, a, b):
        return {}


def drop_inputs(node, session: str, members) -> None:
    """Drop ``session``'s cached inputs on every member (and locally)."""
    members = list(members or ())
    with _LOCK:
        _cache(node).pop(session, None)
    if node.cluster is None or not members or members == [node.self_id]:
        return
    # best effort on every live member: a lost or failing member must not keep the others' cache
    for member, exc in node.runtime.run_on_each_live(DropInputs.name, {"session": session}, members).items():
        log.warning("dropping GLM inputs %s on %s failed: %s", session, member, exc)


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
        cached = None
        if split:       # categoricals stay sparse: the Gram costs O(nnz^2) per row (same bits as dense)
            cached, w = _split_inputs(ctx, params, chunk_idx, chunks)
            C, D, y, off = cached.C, cached.D, cached.y, cached.off
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
            if cached is not None and not cached.checked:
                _check_response(fam, y, cached.w)     # the fold mask only zeroes weights: checked once
                cached.checked = True
            elif cached is None:
                _check_response(fam, y, w)
            beta = np.ascontiguousarray(np.asarray(params["beta"], np.float64))
            if split and fam == 1 and int(params["link"]) == 1:
                kernels.irls_pass_logit(C, D, d0, beta, y, w, off, bool(params["want_gram"]), G, q, grad, stats)
            else:
                # the Gram is accumulated in the kernel (no BLAS: its threads would oversubscribe the pool)
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


@register_task
class CachedBinomialMetricsTask(ScoreBinomialMetricsTask):
    """``algos.score_binomial_metrics`` of a GLM's training frame from the session's cached rows.

    Params: those of ``algos.score_binomial_metrics`` (one payload, no folds) + ``session``. Per
    chunk the partial of ``(y, p, w)`` where, for each cached row, ``y`` is the cached response,
    ``p`` the scorer's probability (NaN for the rows the cache marks unusable: a missing response,
    weight or offset, or, with Skip, a missing predictor) and ``w`` the weights column as the
    scorer reads it (NaN as 0; without a weights column None, whose partial is that of all ones).
    The rows the metrics count, and each one's values, are those of the scoring path: a row
    without a prediction, response or non-zero weight is left out by both."""

    name = "glm.cached_binomial_metrics"

    def map(self, ctx, chunk_idx, chunks, params):
        from ...metrics import binomial
        ctx.check()
        with _LOCK:
            st = _cache(ctx.node).get(params["session"], {}).get(chunk_idx)
        if st is None:
            out, y, w = score_chunk(params, chunk_idx, chunks)
            return binomial.partial(y, np.ascontiguousarray(out[:, 1]), w, params["metrics"])
        pl = params["payloads"][0]
        beta = np.ascontiguousarray(np.asarray(pl["beta"], np.float64))
        n = st.y.shape[0]
        p = np.empty(n)
        d0 = _ncoef(params["spec"]) - st.D.shape[1]
        kernels.predict_mu_split(st.C, st.D, d0, beta, st.off, st.bad, int(pl["link"]), float(pl["lp"]), p)
        binding = params["binding"]
        if binding.get("w") is None:
            w = None        # the scorer's weights are all 1: the partial of no weights is the same
        else:
            w = codecs.decode_float64(chunks[binding["w"]])
            w = np.where(np.isnan(w), 0.0, w)
            if st.order is not None:
                w = w.take(st.order)
        return binomial.partial(st.y, p, w, params["metrics"])


def cached_binomial_metrics(node, model, frame_key: str, session: str, job=None) -> dict:
    """The training metrics of a binomial GLM (``model_metrics`` on its training frame, the same
    bits) from ``session``'s cached rows; chunks without cached rows are decoded and scored."""
    m = binomial_metrics_of(node, model, frame_key, job=job, task=CachedBinomialMetricsTask.name,
                            extra={"session": session})
    m["frame"] = frame_key
    return m


def _check_response(fam: int, y: np.ndarray, w: np.ndarray) -> None:
    if fam in (1, 2) and bool(np.any((w > 0) & ((y < 0) | (y > 1)))):
        raise InvalidParameter("The response of a binomial GLM must be 0/1 (or in [0, 1] for "
                               "quasibinomial); found values outside.", {})
    if fam >= 3 and bool(np.any((w > 0) & (y < 0))):
        raise InvalidParameter("The response of this GLM family must be non-negative; found negative values.", {})
    if fam == 4 and bool(np.any((w > 0) & (y <= 0))):
        raise InvalidParameter("The response of a gamma GLM must be positive; found values <= 0.", {})


def _add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.flags.writeable and x.dtype == np.float64:
        return np.add(x, y, out=x)
    return x + y


def _ncoef(spec: dict) -> int:
    return (sum(len(c["domain"]) - (0 if c["use_all"] else 1) for c in spec["cats"]) + len(spec["nums"])
            + sum(len(i["cols"]) for i in spec.get("inters") or ()))
