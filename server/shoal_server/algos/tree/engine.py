"""The shared tree engine of GBM and DRF: binning, per-node training state, and the level-wise builder.

Technical note (histogram reduction). Training keeps, on the home node of every chunk, a *session*
state next to the chunk (``_ChunkState``: the binned predictors, response, weights, current raw
predictions, gradients and the tree node of each row). A tree is grown one level at a time:

1. ``tree.grad`` computes each row's gradient/hessian for the tree and its in-bag flag, and returns
   the largest ``|g·w|``, ``|h·w|`` and ``w``.
2. ``tree.hist`` (once per level, one kernel call per chunk: ``kernels.level_histograms``) moves
   the rows of the nodes split at the previous level to their children, groups the active rows by
   open leaf and adds them into per-column histograms, skipping the (leaf, column) pairs the
   coordinator derives by sibling subtraction (below). A sparse partial (only non-empty rows) is
   sent when at most a quarter of the histogram rows are used (deep trees).
   Gradient, hessian and weight are summed as **int64 fixed-point values**: each is
   ``round(x · 2^k)`` with ``2^k`` chosen per tree from the maxima of step 1 so that the sum over all
   rows cannot overflow (``|sum| < 2^61``); the resolution is ``max · n / 2^61`` (below 1e-12 of the
   largest term for 1e6 rows). Integer addition is exact and associative, so the reduced histograms
   (hence the splits, leaf values and model) have the same bits for any chunking, thread count or
   node count, beyond the runtime's fixed-tree guarantee.
3. The coordinator completes the histograms by sibling subtraction, finds the best split of each
   open leaf once (``kernels.find_splits``), creates the children and the next level's layout, and
   ships the splits with the next ``tree.hist``. When both children of a split stay open, only the
   lighter one is histogrammed; the heavier one is ``parent − lighter`` (``kernels.derive_histograms``)
   for every column whose bins nest in the parent's (a parent column with one code per bin, or the
   same range with the same or half the bins, which is how ``UniformAdaptive`` refines) and built
   directly for the others (the split column of a coarsely binned parent). The sums are int64, so a
   derived histogram has the bits of a built one: models do not change, only the work halves.
4. ``tree.update`` applies the last splits and adds each row's leaf value to its raw prediction
   (GBM), or to its out-of-bag vote (DRF).

Binning (once per model, on the training frame): a numeric column gets a global fine grid of
interior edges: integer columns with a small span get one code per value; otherwise
``UniformAdaptive`` and ``Random`` use ``nbins_top_level`` equal-width bins over [min, max] and
``QuantilesGlobal`` at most ``nbins`` bins of about equal row counts, by LightGBM's greedy algorithm
on a row sample (``binning``). At depth ``d`` a
leaf's histogram cuts *its own* code range into ``max(nbins, nbins_top_level >> d)`` bins (capped by
the number of codes in the range), which is H2O-3's adaptive refinement on a fixed grid. ``Random``
tries one random boundary per column and leaf (extremely randomized trees). A categorical column
gets one code per level, or ``nbins_cats`` groups of neighbouring levels when it has more levels.

Random draws: row sampling uses a counter hash of (seed, tree, global row index)
(``kernels.splitmix_uniform``), so it does not depend on chunking or node count either; column
sampling is drawn on the coordinator from ``PCG64(SeedSequence([seed, tree, class, level]))``.
"""
from __future__ import annotations

import logging
import math
import threading
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...metrics import exact
from ...store import codecs
from ...tasks import IndexedTask, MRTask, register_task
from . import kernels as K_
from .binning import SAMPLE_ROWS, quantile_edges
from .losses import gradients, link_inverse

log = logging.getLogger(__name__)

__all__ = ["ColumnBins", "compute_bins", "Session", "TreeBuffer", "EngineParams", "grow_trees", "quant_scale"]

SAMPLE_SEED = 0x5EED  # the row sample of the QuantilesGlobal binning (fixed: bins do not depend on `seed`)
_TWO61 = float(2 ** 61)


def quant_scale(maxabs: float, n: int) -> float:
    """The power of two ``S`` such that ``n`` values of magnitude ``<= maxabs`` sum below 2^61 after ``x·S``."""
    if not (maxabs > 0) or not math.isfinite(maxabs):
        return 1.0
    return 2.0 ** math.floor(math.log2(_TWO61 / (maxabs * max(int(n), 1))))


def _quantize(x: np.ndarray, scale: float) -> np.ndarray:
    return np.rint(x * scale).astype(np.int64)


# ============================================================================================ sessions
class _ChunkState:
    __slots__ = ("codes", "y", "w", "off", "f", "nid", "g", "h", "gq", "hq", "wq", "active", "row0",
                 "oob_sum", "oob_n", "n")


def _sessions(node) -> dict:
    reg = getattr(node, "_tree_sessions", None)
    if reg is None:
        with _LOCK:
            reg = getattr(node, "_tree_sessions", None)
            if reg is None:
                reg = {}
                node._tree_sessions = reg
    return reg


_LOCK = threading.Lock()


def _state(ctx, params, chunk_idx) -> _ChunkState:
    return _sessions(ctx.node)[params["session"]][chunk_idx]


def _decode_raw(chunks, params):
    """Raw predictors: numeric float64 (NaN missing); categoricals as training level (-1 missing)."""
    out = []
    for c, kind, lmap in zip(params["cols"], params["kinds"], params["level_maps"]):
        ch = chunks[c]
        if kind == "cat":
            codes = codecs.decode_codes(ch).astype(np.int64)
            m = np.asarray(lmap, np.int64)
            ok = (codes >= 0) & (codes < m.size)
            out.append(np.where(ok, m[np.where(ok, codes, 0)] if m.size else -1, -1).astype(np.int32))
        else:
            out.append(codecs.decode_float64(ch))
    return out


def _response(chunks, params, n):
    yc = params.get("y")
    if yc is None:
        return np.full(n, np.nan)
    ch = chunks[yc]
    if params["y_type"] == "enum":
        codes = codecs.decode_codes(ch).astype(np.int64)
        m = np.asarray(params["y_map"], np.int64)
        ok = (codes >= 0) & (codes < m.size)
        cls = np.where(ok, m[np.where(ok, codes, 0)] if m.size else -1, -1)
        return np.where(cls >= 0, cls, np.nan).astype(np.float64)
    return codecs.decode_float64(ch)


def raw_matrix(cols_raw: list, n: int) -> np.ndarray:
    X = np.empty((n, len(cols_raw)))
    for j, v in enumerate(cols_raw):
        if v.dtype == np.int32:
            X[:, j] = np.where(v >= 0, v, np.nan)
        else:
            X[:, j] = v
    return X


@register_task
class TreeStats(MRTask):
    """Binning statistics: per numeric predictor finite min/max and integrality; response sums."""

    name = "tree.stats"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        n = next(iter(chunks.values())).nrows
        raw = _decode_raw(chunks, params)
        y = _response(chunks, params, n)
        w = np.ones(n) if params.get("w") is None else codecs.decode_float64(chunks[params["w"]])
        w = np.where(np.isnan(w) | (w < 0), 0.0, w)
        ok = ~np.isnan(y) & (w > 0)
        w = np.where(ok, w, 0.0)
        mins, maxs, integral = [], [], []
        for v, kind in zip(raw, params["kinds"]):
            if kind == "cat":
                mins.append(math.inf)
                maxs.append(-math.inf)
                integral.append(True)
                continue
            good = ok & np.isfinite(v)
            if good.any():
                vv = v[good]
                mins.append(float(vv.min()))
                maxs.append(float(vv.max()))
                integral.append(bool(np.all(vv == np.floor(vv))))
            else:
                mins.append(math.inf)
                maxs.append(-math.inf)
                integral.append(True)
        cat_w = []
        for v, kind, card in zip(raw, params["kinds"], params["cards"]):
            if kind == "cat":
                good = ok & (v >= 0)
                cat_w.append(np.bincount(v[good], minlength=card).astype(np.int64)[:card])
        K = int(params["K"])
        yy = np.where(ok, y, 0.0)
        off = np.zeros(n) if params.get("offset") is None else codecs.decode_float64(chunks[params["offset"]])
        off = np.where(ok & ~np.isnan(off), off, 0.0)
        terms = [w, w * yy, w * off]
        if params["y_type"] == "enum":
            for k in range(K):
                terms.append(w * (yy == k))
        yok = y[ok]
        return {"ymin": float(yok.min()) if yok.size else math.inf, "ymax": float(yok.max()) if yok.size else -math.inf,
                "min": np.array(mins, np.float64), "max": np.array(maxs, np.float64),
                "int": np.array(integral, np.bool_), "maxw": float(w.max()) if n else 0.0,
                "nrows": int(ok.sum()), "sums": exact.exact_sums(np.vstack(terms)),
                "cat": cat_w}

    def reduce(self, a, b):
        return {"ymin": min(a["ymin"], b["ymin"]), "ymax": max(a["ymax"], b["ymax"]),
                "min": np.minimum(a["min"], b["min"]), "max": np.maximum(a["max"], b["max"]),
                "int": a["int"] & b["int"], "maxw": max(a["maxw"], b["maxw"]), "nrows": a["nrows"] + b["nrows"],
                "sums": exact.merge(a["sums"], b["sums"]), "cat": [x + y for x, y in zip(a["cat"], b["cat"])]}


@register_task
class TreeSample(MRTask):
    """Distinct values and counts of numeric predictors over a row sample (``QuantilesGlobal`` bins).

    A row is in the sample when its weight is positive and a counter hash of its global index is
    below ``rate``; per column the map returns the sorted distinct finite values, their counts and
    the number of missing values. The merge is a sorted union, so the result does not depend on the
    chunking.
    """

    name = "tree.sample"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        n = next(iter(chunks.values())).nrows
        raw = _decode_raw(chunks, params)
        y = _response(chunks, params, n)
        w = np.ones(n) if params.get("w") is None else codecs.decode_float64(chunks[params["w"]])
        keep = ~(np.isnan(w) | (w <= 0) | np.isnan(y))
        rate = float(params["rate"])
        if rate < 1.0:
            u = np.empty(n)
            K_.splitmix_uniform(int(params["seed"]), 11, int(params["starts"][chunk_idx]), n, u)
            keep &= u < rate
        out = []
        for j in params["sample_cols"]:
            v = raw[j][keep]
            fin = v[~np.isnan(v)]
            vals, cnt = np.unique(fin, return_counts=True)
            out.append({"v": vals.astype(np.float64), "c": cnt.astype(np.int64), "na": int(v.size - fin.size)})
        return {"s": out}

    def reduce(self, a, b):
        out = []
        for x, y in zip(a["s"], b["s"]):
            vals, inv = np.unique(np.concatenate([x["v"], y["v"]]), return_inverse=True)
            cnt = np.zeros(vals.size, np.int64)
            np.add.at(cnt, inv, np.concatenate([x["c"], y["c"]]))
            out.append({"v": vals, "c": cnt, "na": x["na"] + y["na"]})
        return {"s": out}


@dataclass
class ColumnBins:
    """How one predictor is binned (data only; saved with the model)."""

    name: str
    kind: str                       # "num" or "cat"
    nfine: int                      # number of fine codes F
    edges: np.ndarray | None = None   # numeric: interior edges float64[F-1]
    level_bin: np.ndarray | None = None  # categorical: training level -> code int32[card]
    card: int = 0


def compute_bins(node, header, names: list[str], kinds: list[str], base_params: dict, histogram_type: str,
                 nbins: int, nbins_top_level: int, nbins_cats: int, job=None) -> tuple[list[ColumnBins], dict]:
    """Run the binning passes; returns the column bins and the raw statistics (response sums, ...)."""
    p = dict(base_params)
    cols = sorted(set(p["needed"]))
    st = node.runtime.run(TreeStats.name, header.key, cols, p, job=job)
    bins: list[ColumnBins] = []
    sketch_cols = []
    for j, (name, kind) in enumerate(zip(names, kinds)):
        if kind == "cat":
            card = int(p["cards"][j])
            if card <= nbins_cats:
                lb = np.arange(card, dtype=np.int32)
                F = card
            else:
                lb = (np.arange(card, dtype=np.int64) * nbins_cats // card).astype(np.int32)
                F = nbins_cats
            bins.append(ColumnBins(name, "cat", int(F), None, lb, card))
            continue
        mn, mx = float(st["min"][j]), float(st["max"][j])
        if not (mn < mx):
            bins.append(ColumnBins(name, "num", 1, np.zeros(0)))
            continue
        fine_cap = nbins if histogram_type == "QuantilesGlobal" else nbins_top_level
        if bool(st["int"][j]) and mx - mn + 1 <= fine_cap:
            edges = np.arange(mn + 1, mx + 1, dtype=np.float64)
            bins.append(ColumnBins(name, "num", len(edges) + 1, edges))
            continue
        if histogram_type == "QuantilesGlobal":
            sketch_cols.append(j)
            bins.append(ColumnBins(name, "num", 0, None))
            continue
        F = fine_cap
        edges = mn + (mx - mn) * np.arange(1, F, dtype=np.float64) / F
        edges = np.unique(edges[(edges > mn) & (edges <= mx)])
        bins.append(ColumnBins(name, "num", len(edges) + 1, edges))
    if sketch_cols:
        rate = min(1.0, SAMPLE_ROWS / max(int(st["nrows"]), 1))
        ps = dict(p, sample_cols=sketch_cols, rate=rate, seed=SAMPLE_SEED)
        sk = node.runtime.run(TreeSample.name, header.key, cols, ps, job=job)
        for q, j in enumerate(sketch_cols):
            s_ = sk["s"][q]
            edges = quantile_edges(s_["v"], s_["c"], int(s_["na"]), nbins)
            bins[j] = ColumnBins(names[j], "num", len(edges) + 1, edges)
    stats = {"sums": exact.to_floats(st["sums"]), "nrows": int(st["nrows"]), "maxw": float(st["maxw"]),
             "ymin": float(st["ymin"]), "ymax": float(st["ymax"]),
             "cat_weights": st["cat"]}
    return bins, stats


@register_task
class TreeSetup(MRTask):
    """Create the session state of one chunk: codes, response, weights, offset, initial predictions."""

    name = "tree.setup"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        n = next(iter(chunks.values())).nrows
        raw = _decode_raw(chunks, params)
        p = len(raw)
        st = _ChunkState()
        st.n = n
        st.codes = np.empty((p, n), np.uint16)
        for j, v in enumerate(raw):
            if params["kinds"][j] == "cat":
                K_.bin_levels(v, np.asarray(params["level_bin"][j], np.int32), st.codes[j])
            else:
                K_.bin_numeric(v, np.asarray(params["edges"][j], np.float64), st.codes[j])
        st.y = _response(chunks, params, n)
        w = np.ones(n) if params.get("w") is None else codecs.decode_float64(chunks[params["w"]])
        w = np.where(np.isnan(w) | (w < 0), 0.0, w)
        st.w = np.where(np.isnan(st.y), 0.0, w)
        if params.get("folds") is not None:  # a cross-validation model trains on the rows outside its fold
            from ..common.cv import fold_weights
            fw = fold_weights(params["folds"], "train", int(params["fold"]), chunk_idx,
                              int(params["starts"][chunk_idx]), n, chunks, st.y)
            st.w = st.w * fw
        st.off = np.zeros(n) if params.get("offset") is None else codecs.decode_float64(chunks[params["offset"]])
        K = int(params["K"])
        st.f = np.empty((K, n))
        st.f[:] = np.asarray(params["init_f"], np.float64).reshape(K, 1)
        ck = params.get("checkpoint")
        if ck is not None:
            X = raw_matrix(raw, n)
            out = np.zeros((n, K))
            predict_payload(ck, X, out)
            st.f += out.T
        st.nid = np.zeros((K, n), np.int32)
        st.g = np.zeros((K, n))
        st.h = np.zeros((K, n))
        st.gq = np.zeros((K, n), np.int64)
        st.hq = np.zeros((K, n), np.int64)
        st.wq = np.zeros(n, np.int64)
        st.active = np.zeros(n, np.uint8)
        st.row0 = int(params["starts"][chunk_idx])
        st.oob_sum = np.zeros((K, n)) if params.get("drf") else None
        st.oob_n = np.zeros(n) if params.get("drf") else None
        reg = _sessions(ctx.node)
        with _LOCK:
            reg.setdefault(params["session"], {})[chunk_idx] = st
        return {"n": n}

    def reduce(self, a, b):
        return {"n": a["n"] + b["n"]}


@register_task
class DropSession(IndexedTask):
    """Free a training session's state on one member."""

    name = "tree.drop"

    def map(self, ctx, index, params):
        with _LOCK:
            _sessions(ctx.node).pop(params["session"], None)
        return {}

    def reduce(self, a, b):
        return {}


@register_task
class TreeGrad(MRTask):
    """Gradients, hessians and in-bag flags for a new tree; returns the maxima for quantization."""

    name = "tree.grad"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        n = st.n
        K = st.f.shape[0]
        rate = float(params["sample_rate"])
        act = st.w > 0
        if rate < 1.0:
            u = np.empty(n)
            K_.splitmix_uniform(int(params["seed"]) & (2 ** 63 - 1), int(params["tree"]), st.row0, n, u)
            act &= u < rate
        st.active[:] = act
        gradients(params["dist"], st.y, st.f, st.off, st.g, st.h)
        st.nid[:] = 0
        wa = np.where(act, st.w, 0.0)
        mg = np.abs(st.g * wa).max(axis=1) if n else np.zeros(K)
        mh = np.abs(st.h * wa).max(axis=1) if n else np.zeros(K)
        bad = ~(np.isfinite(mg).all() and np.isfinite(mh).all())
        return {"mg": mg, "mh": mh, "mw": float(wa.max()) if n else 0.0, "n": int(act.sum()), "bad": bool(bad)}

    def reduce(self, a, b):
        return {"mg": np.maximum(a["mg"], b["mg"]), "mh": np.maximum(a["mh"], b["mh"]), "mw": max(a["mw"], b["mw"]),
                "n": a["n"] + b["n"], "bad": a["bad"] or b["bad"]}


def _apply(st: _ChunkState, splits: list | None) -> None:
    if not splits:
        return
    for sp in splits:
        k = int(sp["k"])
        K_.apply_splits(st.codes, st.nid[k], np.asarray(sp["split_of_node"], np.int32),
                        np.asarray(sp["col"], np.int64), np.asarray(sp["code"], np.int64),
                        np.asarray(sp["nal"], np.uint8), np.asarray(sp["cat"], np.uint8),
                        np.asarray(sp["catleft"], np.uint8), np.asarray(sp["left"], np.int32),
                        np.asarray(sp["right"], np.int32))


_NO_SPLITS = {"split_of_node": np.zeros(0, np.int32), "col": np.zeros(0, np.int64), "code": np.zeros(0, np.int64),
              "nal": np.zeros(0, np.uint8), "cat": np.zeros(0, np.uint8), "catleft": np.zeros((0, 1), np.uint8),
              "left": np.zeros(0, np.int32), "right": np.zeros(0, np.int32)}


@register_task
class TreeHist(MRTask):
    """Apply the previous level's splits, then build the histograms of the open leaves."""

    name = "tree.hist"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        q = params.get("quantize")
        if q is not None:
            wa = np.where(st.active == 1, st.w, 0.0)
            st.wq[:] = _quantize(wa, q["sw"])
            for k in range(st.f.shape[0]):
                st.gq[k] = _quantize(st.g[k] * wa, q["sg"][k])
                st.hq[k] = _quantize(st.h[k] * wa, q["sh"][k])
        applies = {int(sp["k"]): sp for sp in (params.get("apply") or [])}
        hist = np.zeros((int(params["total"]), 3), np.int64)
        cols = np.asarray(params["cols"], np.int64)
        for lay in params["layout"]:
            k = int(lay["k"])
            sp = applies.pop(k, None)
            if sp is None:
                sp = _NO_SPLITS
            lo = np.asarray(lay["lo"], np.int64)
            build = lay.get("build")
            build = np.ones(lo.shape, np.uint8) if build is None else np.asarray(build, np.uint8)
            K_.level_histograms(st.codes, cols, st.nid[k], st.active, np.asarray(sp["split_of_node"], np.int32),
                                np.asarray(sp["col"], np.int64), np.asarray(sp["code"], np.int64),
                                np.asarray(sp["nal"], np.uint8), np.asarray(sp["cat"], np.uint8),
                                np.asarray(sp["catleft"], np.uint8), np.asarray(sp["left"], np.int32),
                                np.asarray(sp["right"], np.int32), np.asarray(lay["slot_of_node"], np.int32),
                                lo.shape[0], build, st.gq[k], st.hq[k], st.wq, lo, np.asarray(lay["hi"], np.int64),
                                np.asarray(lay["nbin"], np.int64), np.asarray(lay["off"], np.int64), hist)
        _apply(st, list(applies.values()))  # trees without open leaves at this level
        return _pack_hist(hist)

    def reduce(self, a, b):
        return _merge_hist(a, b)


def _pack_hist(hist: np.ndarray) -> dict:
    """A chunk's histograms as sent to the reduce: dense, or only the non-empty rows when at most a
    quarter are used (deep trees: thousands of small leaves, a few rows of each in a chunk)."""
    if hist.shape[0] < 4096:
        return {"hist": hist}
    idx, val = K_.nonzero_rows(hist, hist.shape[0] // 4)
    if idx.shape[0] == 0 and val.shape[0] == 1:
        return {"hist": hist}
    return {"total": int(hist.shape[0]), "idx": idx, "val": val}


def _merge_hist(a: dict, b: dict) -> dict:
    """Exact int64 sum of two (dense or sparse) histogram partials; sparse + sparse stays sparse
    (row lists concatenated; repeated rows add up when expanded) until half the rows are listed."""
    if "hist" in a and "hist" in b:
        h = a["hist"]
        if h.flags.writeable:
            h += b["hist"]
            return a
        return {"hist": h + b["hist"]}
    if "hist" in b:
        a, b = b, a
    if "hist" in a:
        h = a["hist"] if a["hist"].flags.writeable else a["hist"].copy()
        K_.scatter_rows(h, np.asarray(b["idx"], np.int64), np.asarray(b["val"], np.int64))
        return {"hist": h}
    idx = np.concatenate([np.asarray(a["idx"], np.int64), np.asarray(b["idx"], np.int64)])
    val = np.concatenate([np.asarray(a["val"], np.int64).reshape(-1, 3), np.asarray(b["val"], np.int64).reshape(-1, 3)])
    total = int(a["total"])
    if idx.size * 2 > total:
        h = np.zeros((total, 3), np.int64)
        K_.scatter_rows(h, idx, val)
        return {"hist": h}
    return {"total": total, "idx": idx, "val": val}


def _dense_hist(r: dict) -> np.ndarray:
    if "hist" in r:
        return np.asarray(r["hist"], np.int64)
    h = np.zeros((int(r["total"]), 3), np.int64)
    K_.scatter_rows(h, np.asarray(r["idx"], np.int64), np.asarray(r["val"], np.int64).reshape(-1, 3))
    return h


@register_task
class TreeUpdate(MRTask):
    """Apply the last splits; add each row's leaf value to its prediction (or out-of-bag vote)."""

    name = "tree.update"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        _apply(st, params.get("apply"))
        drf = bool(params.get("drf"))
        oob = (st.active == 0) & (st.w > 0) if drf else None
        for k, vals in enumerate(params["values"]):
            if vals is None:
                continue
            v = np.asarray(vals, np.float64)[st.nid[k]]
            st.f[k] += v
            if drf:
                st.oob_sum[k] += np.where(oob, v, 0.0)
        if drf:
            st.oob_n += oob
        return {}

    def reduce(self, a, b):
        return {}


@register_task
class TreeScoreCodes(MRTask):
    """Add new trees (code space) to a scoring session's predictions (validation frames)."""

    name = "tree.score_codes"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        t = params["trees"]
        col = np.asarray(t["col"], np.int64)
        code = np.asarray(t["code"], np.int64)
        nal = np.asarray(t["nal"], np.uint8)
        catp = np.asarray(t["catp"], np.int64)
        catbits = np.asarray(t["catbits"], np.uint8)
        left = np.asarray(t["left"], np.int32)
        right = np.asarray(t["right"], np.int32)
        value = np.asarray(t["value"], np.float64)
        for root, k in zip(t["roots"], t["classes"]):
            leaf = K_.route_codes(st.codes, col, code, nal, catp, catbits, left, right, int(root))
            st.f[int(k)] += value[leaf]
        return {}

    def reduce(self, a, b):
        return {}


@register_task
class TreeMetrics(MRTask):
    """Metric partials of a session's current predictions (scoring history while training)."""

    name = "tree.metrics"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        from ...metrics import binomial as mb, multinomial as mm, regression as mr
        st = _state(ctx, params, chunk_idx)
        y, w = st.y, st.w
        pred = session_predictions(st, params)
        if params.get("oob"):
            w = np.where(st.oob_n > 0, w, 0.0)
        cat = params["category"]
        if cat == "Binomial":
            return {"kind": "b", "p": mb.partial(y, pred[:, 1], w, params["mparams"])}
        if cat == "Multinomial":
            return {"kind": "m", "p": mm.partial(y, pred, w, params["mparams"])}
        if params.get("ybar") is None:
            return {"kind": "r", "p": mr.partial_main(y, pred[:, 0], w, params["dist_m"])}
        return {"kind": "c", "p": mr.partial_center(y, pred[:, 0], w, params["ybar"], params["dist_m"])}

    def reduce(self, a, b):
        from ...metrics import binomial as mb, multinomial as mm, regression as mr
        kind = a["kind"]
        if kind == "b":
            return {"kind": kind, "p": mb.merge(a["p"], b["p"], {})}
        if kind == "m":
            return {"kind": kind, "p": mm.merge(a["p"], b["p"])}
        if kind == "r":
            return {"kind": kind, "p": mr.merge_main(a["p"], b["p"])}
        return {"kind": kind, "p": mr.merge_center(a["p"], b["p"])}


def session_predictions(st: _ChunkState, params: dict) -> np.ndarray:
    """Predictions (n, k) of a session: probabilities for classification, the response otherwise."""
    if params.get("drf"):
        if params.get("oob"):
            cnt = np.maximum(st.oob_n, 1.0)
            raw = (st.oob_sum / cnt).T
        else:
            raw = (st.f / max(int(params["ntrees"]), 1)).T
        return drf_output(raw, params["category"])
    return link_inverse(params["dist"], st.f.T + st.off[:, None], params["category"])


def drf_output(avg: np.ndarray, category: str) -> np.ndarray:
    """Class probabilities (or the regression value) from averaged DRF tree outputs (n, K)."""
    if category == "Regression":
        return avg[:, :1]
    if category == "Binomial" and avg.shape[1] == 1:
        p1 = np.clip(avg[:, 0], 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])
    a = np.clip(avg, 0.0, None)
    s = a.sum(axis=1, keepdims=True)
    K = a.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, a / np.where(s > 0, s, 1.0), 1.0 / K)


# ============================================================================================ trees
class TreeBuffer:
    """One tree being grown: node arrays as Python lists (converted to flat arrays when done)."""

    def __init__(self, k: int):
        self.k = k
        self.col: list[int] = []
        self.code: list[int] = []
        self.nal: list[int] = []
        self.catbins: list = []     # per node: uint8[F] over codes, or None
        self.left: list[int] = []
        self.right: list[int] = []
        self.value: list[float] = []
        self.cover: list[float] = []
        self.gain: list[float] = []
        self.depth: list[int] = []

    def add(self, value: float, cover: float, depth: int) -> int:
        self.col.append(-1)
        self.code.append(0)
        self.nal.append(0)
        self.catbins.append(None)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(float(value))
        self.cover.append(float(cover))
        self.gain.append(0.0)
        self.depth.append(depth)
        return len(self.col) - 1

    def add_pair(self, vl: float, cl: float, vr: float, cr: float, depth: int) -> int:
        """Two leaves (the children of a split) at once; returns the left one's index (right = +1)."""
        i = len(self.col)
        self.col += (-1, -1)
        self.code += (0, 0)
        self.nal += (0, 0)
        self.catbins += (None, None)
        self.left += (-1, -1)
        self.right += (-1, -1)
        self.value += (float(vl), float(vr))
        self.cover += (float(cl), float(cr))
        self.gain += (0.0, 0.0)
        self.depth += (depth, depth)
        return i

    @property
    def size(self) -> int:
        return len(self.col)


@dataclass
class EngineParams:
    """What the level-wise builder needs (filled by GBM / DRF)."""

    max_depth: int
    min_rows: float
    min_split_improvement: float
    nbins: int
    nbins_top_level: int
    histogram_type: str
    seed: int
    col_sample_rate: float = 1.0          # per split (GBM)
    col_sample_rate_per_tree: float = 1.0
    mtries: int = 0                       # per split count (DRF), 0 = use col_sample_rate
    monotone: np.ndarray | None = None    # int64[p]
    max_abs_leafnode_pred: float = math.inf
    min_hess: float = 1e-10


@dataclass
class _Open:
    """An open leaf. Its code ranges are the parent's row of the previous level's layout with the
    split column narrowed (``fj``: column, ``fside`` 1 = left child: ``hi = fcode``, 2 = right
    child: ``lo = fcode``, 0 = unchanged), so a level's ranges are built with two array operations."""

    node: int
    k: int
    depth: int
    lb: float
    ub: float
    pslot: int = -1        # the parent's slot at the previous level (same tree); -1 at the root
    sib: int = -1          # large child: node id of its smaller sibling (histogram derived), else -1
    fj: int = 0
    fside: int = 0
    fcode: int = 0


def _level_res(ep: EngineParams, depth: int) -> int:
    if ep.histogram_type == "QuantilesGlobal":
        return 1 << 30
    return max(ep.nbins, ep.nbins_top_level >> depth)


def grow_trees(node, frame_key: str, session: str, bins: list[ColumnBins], ep: EngineParams, tree_index: int,
               classes: list[int], scales: dict, leaf_value: Callable[[float, float], float], job=None,
               cols_needed: list[int] | None = None) -> list[TreeBuffer]:
    """Grow one tree per class in ``classes`` level by level; the rows' leaves are left in the session.

    ``leaf_value(G, H)`` turns a leaf's gradient/hessian sums (already bound-clipped Newton value
    given as ``-G/H``) into the stored value (learning rate, clipping). Returns the trees; the caller
    runs ``tree.update`` with their leaf values (see :func:`update_predictions`).
    """
    p = len(bins)
    rng_tree = np.random.Generator(np.random.PCG64(np.random.SeedSequence([ep.seed & (2 ** 63 - 1), tree_index, 7])))
    usable = [j for j in range(p) if bins[j].nfine > 1]
    if ep.col_sample_rate_per_tree < 1.0 and usable:
        m = max(1, int(round(ep.col_sample_rate_per_tree * len(usable))))
        usable = sorted(rng_tree.choice(usable, size=m, replace=False).tolist())
    trees = [TreeBuffer(k) for k in classes]
    if not usable:
        for t in trees:
            t.add(0.0, 0.0, 0)
        return trees
    cols = np.asarray(usable, np.int64)
    m = len(usable)
    iscat = np.array([1 if bins[j].kind == "cat" else 0 for j in usable], np.uint8)
    # what find_splits sees: 2 marks a categorical whose bins group several levels (more levels
    # than nbins_cats). As in H2O-3, only one-level-per-bin columns have their bins sorted by
    # gradient; grouped bins split in level order, which keeps a high-cardinality noise column
    # (thousands of ids) from being fitted level by level.
    iscat_find = np.array([(2 if bins[j].card > bins[j].nfine else 1) if bins[j].kind == "cat" else 0
                           for j in usable], np.uint8)
    mono = np.zeros(m, np.int64)
    if ep.monotone is not None:
        mono = np.asarray(ep.monotone, np.int64)[cols]
    maxFc = max([bins[j].nfine for j in usable if bins[j].kind == "cat"] + [1])  # width of categorical bitsets
    cols_l = [int(c) for c in cols]
    iscat_l = [int(c) for c in iscat]
    mono_l = [int(v) for v in mono]
    full_lo = np.zeros(m, np.int64)
    full_hi = np.array([bins[j].nfine for j in usable], np.int64)
    opens: list[_Open] = []
    for t in trees:
        t.add(0.0, 0.0, 0)
        opens.append(_Open(0, t.k, 0, -math.inf, math.inf))
    pending: list[dict] | None = None
    first = True
    prev_lay: dict = {}
    prev_hist = np.zeros((0, 3), np.int64)
    while opens:
        # ---------------------------------------------------------------- layout of this level
        layout = []
        total = 0
        by_k: dict[int, list[_Open]] = {}
        for o in opens:
            by_k.setdefault(o.k, []).append(o)
        for ti, t in enumerate(trees):
            lst = by_k.get(t.k, [])
            if not lst:
                continue
            son = np.full(t.size, -1, np.int32)
            S = len(lst)
            pl_ = prev_lay.get(t.k)
            if lst[0].pslot < 0 or pl_ is None:
                lo = np.repeat(full_lo[None, :], S, axis=0)
                hi = np.repeat(full_hi[None, :], S, axis=0)
            else:
                ps_ = np.fromiter((o.pslot for o in lst), np.int64, S)
                lo = pl_["lo"][ps_]
                hi = pl_["hi"][ps_]
                fside = np.fromiter((o.fside for o in lst), np.int64, S)
                fj = np.fromiter((o.fj for o in lst), np.int64, S)
                fcode = np.fromiter((o.fcode for o in lst), np.int64, S)
                r_ = np.flatnonzero(fside == 1)
                hi[r_, fj[r_]] = fcode[r_]
                r_ = np.flatnonzero(fside == 2)
                lo[r_, fj[r_]] = fcode[r_]
            res = np.full((S, 1), _level_res(ep, lst[0].depth), np.int64)
            span = hi - lo
            nbin = np.where(iscat[None, :] == 1, span, np.maximum(1, np.minimum(span, res)))
            # columns each leaf may split on (mtries / col_sample_rate), drawn before the histograms so
            # that only those are built (H2O-3's DRF does the same)
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [ep.seed & (2 ** 63 - 1), tree_index, t.k, lst[0].depth + 1])))
            ok = span > 1
            nok = ok.sum(axis=1)
            if ep.mtries > 0:
                cnt = np.minimum(nok, ep.mtries)
            elif ep.col_sample_rate < 1.0:
                cnt = np.maximum(1, np.rint(ep.col_sample_rate * nok)).astype(np.int64)
            else:
                cnt = nok
            keys = rng.random((S, m))
            keys[~ok] = 2.0
            rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
            allowed = (ok & (rank < cnt[:, None])).astype(np.uint8)
            rand_cut = np.full((S, m), -1, np.int64)
            if ep.histogram_type == "Random":
                draw = 1 + np.floor(rng.random((S, m)) * np.maximum(nbin - 1, 1)).astype(np.int64)
                use_r = (allowed == 1) & (iscat[None, :] == 0) & (nbin > 1)
                rand_cut = np.where(use_r, draw, -1).astype(np.int64)
            sampled = (0 < ep.mtries < m) or ep.col_sample_rate < 1.0
            if sampled:
                build = allowed.copy()
                build[allowed.sum(axis=1) == 0, 0] = 1  # a leaf's totals need one histogrammed column
            else:
                build = np.ones((S, m), np.uint8)
            sizes = np.where(build == 1, nbin + 1, 0).ravel()
            off = (total + np.concatenate([[0], np.cumsum(sizes)[:-1]])).reshape(S, m).astype(np.int64)
            total += int(sizes.sum())
            pl = None if sampled else prev_lay.get(t.k)
            son[np.fromiter((o.node for o in lst), np.int64, S)] = np.arange(S, dtype=np.int32)
            pairs = np.zeros((0, 3), np.int64)
            if pl is not None:
                sib = np.fromiter((o.sib for o in lst), np.int64, S)
                rows = np.flatnonzero(sib >= 0)
                rows = rows[son[sib[rows]] >= 0]
                if rows.size:
                    ps_ = np.fromiter((lst[r].pslot for r in rows.tolist()), np.int64, rows.size)
                    p_lo, p_hi, p_nb = pl["lo"][ps_], pl["hi"][ps_], pl["nbin"][ps_]
                    ident = p_nb == p_hi - p_lo
                    same = (p_lo == lo[rows]) & (p_hi == hi[rows])
                    ok_ = ident | (same & ((nbin[rows] == p_nb) | (2 * nbin[rows] == p_nb)))
                    build[rows] = (~ok_).astype(np.uint8)
                    pairs = np.column_stack([rows, son[sib[rows]].astype(np.int64), ps_]).astype(np.int64)
            layout.append({"k": t.k, "slot_of_node": son, "lo": lo, "hi": hi, "nbin": nbin, "off": off,
                           "build": build, "pairs": pairs,
                           "allowed": allowed, "rand_cut": rand_cut})
        params = {"session": session, "cols": cols, "layout": layout, "total": total, "apply": pending}
        if first:
            params["quantize"] = scales
            first = False
        r = node.runtime.run(TreeHist.name, frame_key, cols_needed or [0],
                             dict(params, layout=[{k_: v for k_, v in lay.items()
                                                   if k_ not in ("pairs", "allowed", "rand_cut")}
                                                  for lay in layout]), job=None)
        if job is not None:
            job.check()
        hist_q = _dense_hist(r)
        if not hist_q.flags.writeable:
            hist_q = hist_q.copy()
        for lay in layout:
            if lay["pairs"].shape[0]:
                pl = prev_lay[lay["k"]]
                K_.derive_histograms(hist_q, prev_hist, lay["pairs"], lay["lo"], lay["hi"], lay["nbin"],
                                     lay["off"], pl["lo"], pl["hi"], pl["nbin"], pl["off"], lay["build"])
        prev_hist = hist_q
        prev_lay = {lay["k"]: lay for lay in layout}
        hist_all = hist_q.astype(np.float64)
        # ---------------------------------------------------------------- split search
        pending = []
        new_opens: list[_Open] = []
        for lay in layout:
            k = lay["k"]
            ti = next(i for i, t in enumerate(trees) if t.k == k)
            t = trees[ti]
            lst = by_k[k]
            S = len(lst)
            sc = scales
            hist = hist_all.copy() if len(layout) > 1 else hist_all
            hist[:, 0] /= sc["sg"][k]
            hist[:, 1] /= sc["sh"][k]
            hist[:, 2] /= sc["sw"]
            bounds = np.array([(o.lb, o.ub) for o in lst], np.float64).reshape(S, 2)
            allowed = lay["allowed"]
            rand_cut = lay["rand_cut"]
            out_i = np.zeros((S, 3), np.int64)
            out_f = np.zeros((S, 13))
            out_cat = np.zeros((S, maxFc), np.uint8)
            # totals come from the first allowed column of a slot (or column 0): both are histogrammed
            K_.find_splits(hist, lay["off"], lay["nbin"], iscat_find, allowed, rand_cut, mono, bounds,
                           float(ep.min_rows), float(ep.min_hess), out_i, out_f, out_cat)
            son = np.full(t.size, -1, np.int32)
            scol, scode, snal, scat, sleft, sright, catrows = [], [], [], [], [], [], []
            # node statistics (value and cover) of every slot from its totals, as arrays
            lbv, ubv = bounds[:, 0], bounds[:, 1]
            vals = _clip_values(out_f[:, 10], out_f[:, 11], lbv, ubv, leaf_value)
            for o, c_, v_ in zip(lst, out_f[:, 12].tolist(), vals.tolist()):
                t.cover[o.node] = c_
                t.value[o.node] = v_
            cur_depth = lst[0].depth
            next_depth = cur_depth + 1
            opening = next_depth < ep.max_depth
            two_min = 2 * ep.min_rows
            if cur_depth >= ep.max_depth:
                cand = np.zeros(0, np.int64)
            else:
                cand = np.flatnonzero((out_i[:, 0] >= 0) & ~(out_f[:, 0] <= ep.min_split_improvement))
            jjs = out_i[cand, 0]
            bb = out_i[cand, 1]
            lo_c = lay["lo"][cand, jjs]
            hi_c = lay["hi"][cand, jjs]
            nb_c = np.maximum(lay["nbin"][cand, jjs], 1)
            codes_c = np.where(iscat[jjs] == 1, 0, lo_c + (bb * (hi_c - lo_c) + nb_c - 1) // nb_c)
            vl_c = _clip_values(out_f[cand, 1], out_f[cand, 2], lbv[cand], ubv[cand], leaf_value)
            vr_c = _clip_values(out_f[cand, 4], out_f[cand, 5], lbv[cand], ubv[cand], leaf_value)
            for s, (jj, b, nal), fs, code, cvl, cvr in zip(cand.tolist(), out_i[cand].tolist(),
                                                          out_f[cand].tolist(), codes_c.tolist(),
                                                          vl_c.tolist(), vr_c.tolist()):
                o = lst[s]
                gain = fs[0]
                j = cols_l[jj]
                GL, HL, WL, GR, HR, WR, vl, vr = fs[1:9]
                lb_l, ub_l, lb_r, ub_r = o.lb, o.ub, o.lb, o.ub
                if mono_l[jj] != 0:
                    mid = 0.5 * (vl + vr)
                    if mono_l[jj] > 0:
                        ub_l, lb_r = min(o.ub, mid), max(o.lb, mid)
                    else:
                        lb_l, ub_r = max(o.lb, mid), min(o.ub, mid)
                    cvl = _clip_value(GL, HL, lb_l, ub_l, leaf_value)
                    cvr = _clip_value(GR, HR, lb_r, ub_r, leaf_value)
                left = t.add_pair(cvl, WL, cvr, WR, next_depth)
                right = left + 1
                t.col[o.node] = j
                t.nal[o.node] = nal
                t.left[o.node] = left
                t.right[o.node] = right
                t.gain[o.node] = gain
                cat = iscat_l[jj]
                if cat:
                    cb = out_cat[s, :bins[j].nfine].copy()
                    t.catbins[o.node] = cb
                    catrows.append((len(scol), cb))
                else:
                    t.code[o.node] = code
                son[o.node] = len(scol)
                scol.append(j)
                scode.append(code)
                snal.append(nal)
                scat.append(cat)
                sleft.append(left)
                sright.append(right)
                if opening:
                    open_l, open_r = WL >= two_min, WR >= two_min
                    side_l, side_r = (0, 0) if cat else (1, 2)
                    if open_l:
                        ol = _Open(left, k, next_depth, lb_l, ub_l, s, -1, jj, side_l, code)
                        new_opens.append(ol)
                    if open_r:
                        orr = _Open(right, k, next_depth, lb_r, ub_r, s, -1, jj, side_r, code)
                        new_opens.append(orr)
                    if open_l and open_r:
                        # histogram the lighter child only; the heavier one is parent − sibling
                        if WL <= WR:
                            orr.sib = left
                        else:
                            ol.sib = right
            if scol:
                catleft = np.zeros((len(scol), maxFc), np.uint8)
                for r_, cb in catrows:
                    catleft[r_, :cb.shape[0]] = cb
                pending.append({"k": k, "split_of_node": son, "col": np.asarray(scol, np.int64),
                                "code": np.asarray(scode, np.int64), "nal": np.asarray(snal, np.uint8),
                                "cat": np.asarray(scat, np.uint8), "catleft": catleft,
                                "left": np.asarray(sleft, np.int32), "right": np.asarray(sright, np.int32)})
        opens = new_opens
    for t in trees:
        t._pending = None
    trees[0]._pending = pending  # the splits of the last level, applied by tree.update
    return trees


def _clip_values(G: np.ndarray, H: np.ndarray, lb: np.ndarray, ub: np.ndarray, leaf_value) -> np.ndarray:
    """:func:`_clip_value` of whole arrays (the same operations elementwise, so the same bits)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(H > 0, -G / np.where(H > 0, H, 1.0), 0.0)
    v = np.minimum(np.maximum(v, lb), ub)
    return np.asarray(leaf_value(v), np.float64).reshape(-1)


def _clip_value(G: float, H: float, lb: float, ub: float, leaf_value) -> float:
    v = -G / H if H > 0 else 0.0
    v = min(max(v, lb), ub)
    return leaf_value(v)


def update_predictions(node, frame_key: str, session: str, trees: list[TreeBuffer], K: int, drf: bool,
                       cols_needed: list[int] | None = None) -> None:
    """Run ``tree.update``: apply the last splits, add leaf values to the rows' predictions."""
    values: list = [None] * K
    for t in trees:
        values[t.k] = np.asarray(t.value, np.float64)
    node.runtime.run(TreeUpdate.name, frame_key, cols_needed or [0],
                     {"session": session, "apply": getattr(trees[0], "_pending", None), "values": values,
                      "drf": drf})


def new_session_id() -> str:
    return f"tree-{uuid.uuid4().hex[:12]}"


def drop_session(node, session: str, members) -> None:
    members = list(members)
    if node.cluster is None or members == [node.self_id]:
        node.runtime.execute_indexed(DropSession.name, {"session": session}, [0])
        return
    # best effort on every live member: a lost or failing member must not keep the others' session
    for member, exc in node.runtime.run_on_each_live(DropSession.name, {"session": session}, members).items():
        log.warning("dropping tree session %s on %s failed: %s", session, member, exc)


def predict_payload(payload: dict, X: np.ndarray, out: np.ndarray) -> None:
    """Add the trees of ``payload`` (a model's raw-space arrays) to ``out`` (n, K)."""
    K_.predict_trees(np.ascontiguousarray(X, np.float64), np.asarray(payload["tree_off"], np.int64),
                     np.asarray(payload["tree_class"], np.int64), np.asarray(payload["col"], np.int64),
                     np.asarray(payload["thr"], np.float64), np.asarray(payload["nal"], np.uint8),
                     np.asarray(payload["catp"], np.int64), np.asarray(payload["catlen"], np.int64),
                     np.asarray(payload["catbits"], np.uint8), np.asarray(payload["left"], np.int64),
                     np.asarray(payload["right"], np.int64), np.asarray(payload["value"], np.float64), out)
