"""The shared tree engine of GBM and DRF: binning, per-node training state, and the level-wise builder.

Technical note (histogram reduction). Training keeps, on the home node of every chunk, a *session*
state next to the chunk (``_ChunkState``: the binned predictors, response, weights, current raw
predictions, gradients and the tree node of each row). A tree is grown one level at a time:

1. ``tree.grad`` computes each row's gradient/hessian for the tree and its in-bag flag, and returns
   the largest ``|g·w|``, ``|h·w|`` and ``w``, the smallest active ``w`` and the largest chunk's
   number of active rows (:func:`tree_scales`).
2. ``tree.hist`` (once per level, one kernel call per chunk: ``kernels.level_histograms``) moves
   the rows of the nodes split at the previous level to their children, groups the active rows by
   open leaf and adds them into per-column histograms, skipping the (leaf, column) pairs the
   coordinator derives by sibling subtraction (below). In a cluster a sparse partial (only
   non-empty rows) is sent when at most a quarter of the histogram rows are used (deep trees); on
   one node partials stay dense.
   Gradient, hessian and weight are summed as **int64 fixed-point values**: each is
   ``round(x · 2^k)`` with ``2^k`` chosen per tree from the maxima of step 1 so that the sum over all
   rows cannot overflow (``|sum| < 2^61``); the resolution is ``max · n / 2^61`` (below 1e-12 of the
   largest term for 1e6 rows). Integer addition is exact and associative, so the reduced histograms
   (hence the splits, leaf values and model) have the same bits for any chunking, thread count or
   node count, beyond the runtime's fixed-tree guarantee. With equal weights on every active row the
   row count is packed into the hessian sums (:func:`tree_scales`), two additions per row and
   column instead of three.
3. The coordinator completes the histograms by sibling subtraction, finds the best split of each
   open leaf once (``kernels.find_splits``), creates the children and the next level's layout, and
   ships the splits with the next ``tree.hist``. When both children of a split stay open, only the
   lighter one is histogrammed; the heavier one is ``parent − lighter`` (``kernels.derive_histograms``)
   for every column whose bins nest in the parent's (a parent column with one code per bin, or the
   same range with the same or half the bins, which is how ``UniformAdaptive`` refines) and built
   directly for the others (the split column of a coarsely binned parent). The sums are int64, so a
   derived histogram has the bits of a built one: models do not change, only the work halves.
4. ``tree.update`` applies the last splits and adds each row's leaf value to its raw prediction
   (GBM), or to its out-of-bag vote (DRF). When no scoring pass reads the predictions before the
   next tree, the next ``tree.grad`` carries it instead (one pass over the rows: ``builder``).

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

import numba as nb
import numpy as np

from ...metrics import exact
from ...store import codecs
from ...tasks import IndexedTask, MRTask, register_task
from . import kernels as K_
from .binning import SAMPLE_ROWS, quantile_edges
from .losses import gradients, link_inverse

log = logging.getLogger(__name__)

__all__ = ["ColumnBins", "compute_bins", "Session", "TreeBuffer", "EngineParams", "grow_trees", "quant_scale",
           "tree_scales"]

SAMPLE_SEED = 0x5EED  # the row sample of the QuantilesGlobal binning (fixed: bins do not depend on `seed`)
_TWO61 = float(2 ** 61)


def quant_scale(maxabs: float, n: int) -> float:
    """The power of two ``S`` such that ``n`` values of magnitude ``<= maxabs`` sum below 2^61 after ``x·S``."""
    if not (maxabs > 0) or not math.isfinite(maxabs):
        return 1.0
    return 2.0 ** math.floor(math.log2(_TWO61 / (maxabs * max(int(n), 1))))


def tree_scales(g: dict, n_act: int) -> dict:
    """The fixed-point scales of one tree from ``tree.grad``'s maxima (``sg``, ``sh`` per class, ``sw``).

    When every active row has the same weight (no weights column: sampling and folds only switch
    rows off), a bin's weight is its row count times that weight, so the histogram pass packs the
    count into the hessian sums (``pack`` bits: more than the active rows of any chunk, since
    every chunk unpacks its own sums; see ``kernels.level_histograms``). The hessian scale is then
    ``2^pack`` coarser; packing is used only while a row's hessian keeps a resolution of
    ``2^-20`` of the largest one (``n · 2^pack <= 2^42``), else the weights are summed apart.
    """
    sg = [quant_scale(float(x), n_act) for x in np.atleast_1d(g["mg"])]
    sh = [quant_scale(float(x), n_act) for x in np.atleast_1d(g["mh"])]
    out = {"sg": sg, "sh": sh, "sw": quant_scale(float(g["mw"]), n_act)}
    pack = max(1, int(g.get("nmax", n_act)).bit_length())
    if g.get("minw") == g["mw"] and g["mw"] > 0 and max(int(n_act), 1) << pack <= 1 << 42:
        out["pack"] = pack
        out["sh"] = [x / 2.0 ** pack for x in sh]
    return out


# ============================================================================================ sessions
class _ChunkState:
    __slots__ = ("codes", "y", "w", "off", "f", "nid", "g", "h", "gq", "hq", "wq", "active", "row0",
                 "oob_sum", "oob_n", "n", "pack", "part")


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
_THREAD = threading.local()


def _lut_space(m: int) -> np.ndarray:
    """This worker thread's code -> bin table space for the histogram kernels (``luts``), kept
    across chunks and levels: allocated per call it was ~0.25 MB a column of fresh pages to fault
    in for every chunk."""
    b = getattr(_THREAD, "luts", None)
    if b is None or b.shape[0] < m:
        b = _THREAD.luts = np.empty((max(m, 1), K_.NA_CODE + 1), np.int32)
    return b[:m]


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
        st.pack = 0
        st.part = None
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


_GRAD_KIND = {"gaussian": 1, "bernoulli": 2, "drf": 3}
#: the int64 bit pattern of +inf. Non-negative doubles order as their bit patterns and a NaN with
#: the sign bit cleared (``abs``) lies above, so the maxima of ``_grad_one`` are integer maxima
#: (which vectorize; a float ``max`` does not without fast-math) of the same bits.
_INF_BITS = 0x7FF0000000000000


@nb.extending.intrinsic
def _f64_bits(typingctx, x):
    """The bit pattern of float64 ``x`` as an int64 (a register move)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(nb.types.int64))
    return nb.types.int64(nb.types.float64), codegen


@nb.extending.intrinsic
def _bits_f64(typingctx, x):
    """The float64 of int64 bit pattern ``x``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(nb.types.float64))
    return nb.types.float64(nb.types.int64), codegen


@nb.njit(nogil=True, inline="always", error_model="numpy")
def _loss_row(kind, ncls, k, yy, f0, off, e, i):
    """Gradient and hessian of row ``i`` (response ``yy``, NaN read as 0) for the losses written
    out in the engine: ``kind`` 1 gaussian, 2 bernoulli (``e[i] = exp(-(f + off))``), 3 DRF (the
    response, or the indicator of class 1 (``ncls`` 1) or of class ``k``), with the operations of
    ``losses.gradients``. Inlined, so a constant ``kind`` leaves one branch."""
    if kind == 1:
        return (f0[i] + off[i]) - yy, 1.0
    if kind == 2:
        p = 1.0 / (1.0 + e[i])
        hh = p * (1.0 - p)
        return p - yy, 1e-16 if hh < 1e-16 else hh
    if ncls == 0:
        return -yy, 1.0
    if ncls == 1:
        return -(1.0 if yy == 1.0 else 0.0), 1.0
    return -(1.0 if yy == k else 0.0), 1.0


@nb.njit(nogil=True, inline="always", error_model="numpy")
def _grad_one(kind, ncls, y, f0, off, e, w, u, rate, g0, h0, active, nid0, res):
    """``_grad_rows`` for one tree (every loss but multinomial), branch-free so that it vectorizes:
    the same operations, hence the same bits. OUT ``res`` int64[5]: the bit patterns of the largest
    ``|g·wa|``, ``|h·wa|``, active weight and the smallest active weight (``_INF_BITS`` if none),
    then the number of active rows. Inlined with a constant ``kind``, so each loss gets its loop."""
    n = g0.shape[0]
    sampled = rate < 1.0
    m1 = 0
    m2 = 0
    mw = 0
    minw = _INF_BITS
    na = 0
    for i in range(n):
        wi = w[i]
        ui = u[i] if sampled else 0.0
        act = (wi > 0.0) & ((not sampled) | (ui < rate))
        wa = wi if act else 0.0
        active[i] = act
        na += act
        bw = _f64_bits(wa)
        mw = max(mw, bw)
        minw = min(minw, bw if act else _INF_BITS)
        nid0[i] = 0
        if kind == 0:
            gk = g0[i]
            hk = h0[i]
        else:
            yi = y[i]
            gk, hk = _loss_row(kind, ncls, 0, 0.0 if yi != yi else yi, f0, off, e, i)
            g0[i] = gk
            h0[i] = hk
        m1 = max(m1, _f64_bits(abs(gk * wa)))
        m2 = max(m2, _f64_bits(abs(hk * wa)))
    res[0] = m1
    res[1] = m2
    res[2] = mw
    res[3] = minw
    res[4] = na


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _grad_rows(kind, ncls, y, f, off, e, w, u, rate, g, h, active, nid, mg, mh, stat):
    """One pass of ``tree.grad`` over a chunk's rows: in-bag flags, gradients, maxima.

    ``kind`` 0: ``g``, ``h`` (K, n) are already filled (``losses.gradients``); 1 gaussian, 2
    bernoulli (``e = exp(-(f + off))``, computed by numpy; it may be ``g[0]`` itself, as row ``i``
    reads ``e[i]`` before it writes ``g[0, i]``), 3 DRF (``ncls`` 0: regression, 1: one
    tree for two classes, else one indicator per class): written here with the operations of
    ``losses.gradients``, so the same bits. A row is active when ``w > 0`` and (``rate >= 1`` or
    ``u < rate``). OUT ``active`` uint8[n], ``nid`` (K, n) zeroed, ``mg``/``mh`` float64[K] the
    largest ``|g·wa|``/``|h·wa|`` (NaN when one is NaN, as numpy's ``max``), ``stat`` float64[3]:
    largest active weight, smallest active weight (inf if none), number of active rows.
    """
    K = g.shape[0]
    n = g.shape[1]
    if K == 1:
        # one tree (every loss but multinomial): one vectorized loop per kind
        res = np.empty(5, np.int64)
        if kind == 0:
            _grad_one(0, ncls, y, f[0], off, e, w, u, rate, g[0], h[0], active, nid[0], res)
        elif kind == 1:
            _grad_one(1, ncls, y, f[0], off, e, w, u, rate, g[0], h[0], active, nid[0], res)
        elif kind == 2:
            _grad_one(2, ncls, y, f[0], off, e, w, u, rate, g[0], h[0], active, nid[0], res)
        else:
            _grad_one(3, ncls, y, f[0], off, e, w, u, rate, g[0], h[0], active, nid[0], res)
        mg[0] = np.nan if res[0] > _INF_BITS else _bits_f64(res[0])
        mh[0] = np.nan if res[1] > _INF_BITS else _bits_f64(res[1])
        stat[0] = _bits_f64(res[2])
        stat[1] = _bits_f64(res[3])
        stat[2] = res[4]
        return
    mw = 0.0
    minw = math.inf
    na = 0
    for k in range(K):
        mg[k] = 0.0
        mh[k] = 0.0
    nang = np.zeros(K, np.uint8)
    nanh = np.zeros(K, np.uint8)
    for i in range(n):
        wi = w[i]
        act = wi > 0.0 and (rate >= 1.0 or u[i] < rate)
        wa = 0.0
        if act:
            active[i] = 1
            wa = wi
            na += 1
            if wa < minw:
                minw = wa
            if wa > mw:
                mw = wa
        else:
            active[i] = 0
        yi = y[i]
        yy = 0.0 if yi != yi else yi
        for k in range(K):
            nid[k, i] = 0
            if kind == 0:
                gk = g[k, i]
                hk = h[k, i]
            else:
                gk, hk = _loss_row(kind, ncls, k, yy, f[0], off, e, i)
            if kind != 0:
                g[k, i] = gk
                h[k, i] = hk
            a = abs(gk * wa)
            if a != a:
                nang[k] = 1
            elif a > mg[k]:
                mg[k] = a
            b = abs(hk * wa)
            if b != b:
                nanh[k] = 1
            elif b > mh[k]:
                mh[k] = b
    for k in range(K):
        if nang[k]:
            mg[k] = np.nan
        if nanh[k]:
            mh[k] = np.nan
    stat[0] = mw
    stat[1] = minw
    stat[2] = na


def _update_rows(st: _ChunkState, apply, values: list, drf: bool) -> None:
    """``tree.update`` on one chunk: apply the last splits, add the leaf values to the predictions
    (DRF: also to the out-of-bag votes of the rows the tree did not see).

    ``apply`` is the last level's splits (a list, see :func:`_apply`), or for a tree grown with
    the row partition (which keeps no per-row node while it grows) ``{"splits": ..., "route":
    tree}``, the tree in code space (``model.code_space``) for the rows outside the partition."""
    if isinstance(apply, dict):
        _partition_finish(st, apply)
    else:
        _apply(st, apply)
    for k, vals in enumerate(values):
        if vals is None:
            continue
        if drf:
            K_.add_leaf_values_oob(np.asarray(vals, np.float64), st.nid[k], st.f[k], st.active, st.w, st.oob_sum[k])
        else:
            K_.add_leaf_values(np.asarray(vals, np.float64), st.nid[k], st.f[k])
    if drf:
        st.oob_n += (st.active == 0) & (st.w > 0)


@register_task
class TreeGrad(MRTask):
    """Gradients, hessians and in-bag flags for a new tree; returns the maxima for quantization.

    With ``params["update"]`` (the ``tree.update`` params of the previous tree) the chunk's
    predictions are first updated by that tree: one pass instead of two when nothing reads the
    predictions between the trees (see ``builder``)."""

    name = "tree.grad"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        up = params.get("update")
        if up is not None:
            _update_rows(st, up.get("apply"), up["values"], bool(up.get("drf")))
        n = st.n
        K = st.f.shape[0]
        rate = float(params["sample_rate"])
        if rate < 1.0:
            u = np.empty(n)
            K_.splitmix_uniform(int(params["seed"]) & (2 ** 63 - 1), int(params["tree"]), st.row0, n, u)
        else:
            u = _EMPTY_F
        dist = params["dist"]
        kind = _GRAD_KIND.get(dist["distribution"], 0)
        ncls = 0
        e = _EMPTY_F
        if kind == 3:
            ncls = 0 if K == 1 and not dist.get("classification") else (1 if K == 1 else K)
        elif kind == 2:
            # exp(-(f + off)) by numpy (the bits of the unfused expression), in place in the
            # gradient row: _grad_rows reads e[i] before it writes g[0, i] (no temporaries)
            e = st.g[0] if K == 1 else np.empty(n)
            with np.errstate(over="ignore", invalid="ignore"):
                np.add(st.f[0], st.off, out=e)
                np.negative(e, out=e)
                np.exp(e, out=e)
        elif kind == 0:
            gradients(dist, st.y, st.f, st.off, st.g, st.h)
        mg = np.empty(K)
        mh = np.empty(K)
        stat = np.empty(3)
        _grad_rows(kind, ncls, st.y, st.f, st.off, e, st.w, u, rate, st.g, st.h, st.active, st.nid, mg, mh, stat)
        bad = not (np.isfinite(mg).all() and np.isfinite(mh).all())
        na = int(stat[2])
        return {"mg": mg, "mh": mh, "mw": float(stat[0]), "minw": float(stat[1]), "n": na, "nmax": na,
                "bad": bool(bad)}

    def reduce(self, a, b):
        return {"mg": np.maximum(a["mg"], b["mg"]), "mh": np.maximum(a["mh"], b["mh"]), "mw": max(a["mw"], b["mw"]),
                "minw": min(a["minw"], b["minw"]), "n": a["n"] + b["n"], "nmax": max(a["nmax"], b["nmax"]),
                "bad": a["bad"] or b["bad"]}


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


_EMPTY_F = np.zeros(0)
_NO_SPLITS = {"split_of_node": np.zeros(0, np.int32), "col": np.zeros(0, np.int64), "code": np.zeros(0, np.int64),
              "nal": np.zeros(0, np.uint8), "cat": np.zeros(0, np.uint8), "catleft": np.zeros((0, 1), np.uint8),
              "left": np.zeros(0, np.int32), "right": np.zeros(0, np.int32)}


@register_task
class TreeHist(MRTask):
    """Apply the previous level's splits, then build the histograms of the open leaves.

    The sums are int64, so a worker thread folds its chunks into one histogram (``fold_local``):
    on one node each thread allocates its level's histogram once instead of once per chunk, and
    the coordinator adds one partial per thread."""

    name = "tree.hist"
    fold_local = True

    def map(self, ctx, chunk_idx, chunks, params):
        return self.map_into(ctx, chunk_idx, chunks, params, None)

    def map_into(self, ctx, chunk_idx, chunks, params, acc):
        ctx.check()
        st = _state(ctx, params, chunk_idx)
        q = params.get("quantize")
        if q is not None:
            st.pack = int(q.get("pack", 0))
            for k in range(st.f.shape[0]):
                K_.quantize_rows(st.g[k], st.h[k], st.w, st.active, float(q["sg"][k]), float(q["sh"][k]),
                                 float(q["sw"]), st.gq[k], st.hq[k], st.wq)
        total = int(params["total"])
        local = ctx.node.cluster is None
        out = None
        if not local:
            hist = np.zeros((total, 3), np.int64)   # a partial of its own, sent sparse when mostly empty
        else:
            if acc is None:
                acc = {"hist": np.zeros((total, 3), np.int64)}
            hist = acc["hist"]
            if st.pack > 0:
                # packed sums are unpacked per chunk (the counts of one chunk fit the pack bits)
                # from a scratch that the kernels leave zero again
                out = hist
                hist = acc.get("scratch")
                if hist is None:
                    hist = acc["scratch"] = np.zeros((total, 3), np.int64)
        applies = {int(sp["k"]): sp for sp in (params.get("apply") or [])}
        cols = np.asarray(params["cols"], np.int64)
        for lay in params["layout"]:
            k = int(lay["k"])
            sp = applies.pop(k, None)
            lo = np.asarray(lay["lo"], np.int64)
            build = lay.get("build")
            build = np.ones(lo.shape, np.uint8) if build is None else np.asarray(build, np.uint8)
            if params.get("part") and sp is not None:
                _partition_level(st, k, cols, sp, lay, lo, build, hist, out)
                continue
            if sp is None:
                sp = _NO_SPLITS
            K_.level_histograms(st.codes, cols, st.nid[k], st.active, np.asarray(sp["split_of_node"], np.int32),
                                np.asarray(sp["col"], np.int64), np.asarray(sp["code"], np.int64),
                                np.asarray(sp["nal"], np.uint8), np.asarray(sp["cat"], np.uint8),
                                np.asarray(sp["catleft"], np.uint8), np.asarray(sp["left"], np.int32),
                                np.asarray(sp["right"], np.int32), np.asarray(lay["slot_of_node"], np.int32),
                                lo.shape[0], build, st.gq[k], st.hq[k], st.wq, lo, np.asarray(lay["hi"], np.int64),
                                np.asarray(lay["nbin"], np.int64), np.asarray(lay["off"], np.int64), hist, st.pack,
                                out, _lut_space(cols.shape[0]))
            if params.get("part"):
                _partition_root(st, k)
        for sp in applies.values():   # trees without open leaves at this level
            if params.get("part"):
                _partition_close(st, sp)
            else:
                _apply(st, [sp])
        if local:
            return acc
        r = _pack_hist(hist)
        return r if acc is None else _merge_hist(acc, r)

    def reduce(self, a, b):
        return _merge_hist(a, b)


def _partition_root(st: _ChunkState, k: int) -> None:
    """After the root histograms of class ``k``'s tree (row partition mode): the next level
    partitions the chunk's in-bag rows, in row order."""
    if st.part is None:
        st.part = {}
    P = st.part.get(k)
    if P is None:
        P = st.part[k] = {"perm": [None, None], "gw": {}}
    P["cur"] = -1
    P["beg"] = np.zeros(1, np.int64)
    P["end"] = np.array([st.n], np.int64)
    P["nodes"] = np.zeros(1, np.int32)
    i0 = int(np.argmax(st.active)) if st.n else 0
    P["wc"] = int(st.wq[i0]) if st.n and st.active[i0] else 0


def _split_arrays(sp: dict) -> tuple:
    return (np.asarray(sp["split_of_node"], np.int32), np.asarray(sp["col"], np.int64),
            np.asarray(sp["code"], np.int64), np.asarray(sp["nal"], np.uint8), np.asarray(sp["cat"], np.uint8),
            np.asarray(sp["catleft"], np.uint8), np.asarray(sp["left"], np.int32), np.asarray(sp["right"], np.int32))


def _partition_level(st: _ChunkState, k: int, cols: np.ndarray, sp: dict, lay: dict, lo: np.ndarray,
                     build: np.ndarray, hist: np.ndarray, out: np.ndarray | None) -> None:
    """One level below the root in row partition mode (``EngineParams.partition``): split the
    previous level's row groups by ``sp`` into the open leaves of ``lay``
    (``kernels.partition_rows``, ping-ponging between two buffers kept on the chunk), then
    histogram each leaf's rows (``kernels.partition_histograms``; ``hist``/``out`` as there)."""
    P = st.part[k]
    n = st.n
    w = 2 if st.pack > 0 else 3
    if P["perm"][0] is None:
        P["perm"] = [np.empty(n, np.int32), np.empty(n, np.int32)]
    if w not in P["gw"]:
        P["gw"][w] = [np.empty((n, w), np.int64), np.empty((n, w), np.int64)]
    cur = P["cur"]
    first = cur < 0
    dst = 0 if first else 1 - cur
    src = 1 - dst
    son = np.asarray(lay["slot_of_node"], np.int32)
    nslot = lo.shape[0]
    dbeg = np.empty(nslot, np.int64)
    dend = np.empty(nslot, np.int64)
    K_.partition_rows(st.codes, P["perm"][src], P["gw"][w][src], P["beg"], P["end"], P["nodes"], first, st.active,
                      st.gq[k], st.hq[k], st.wq, st.pack, *_split_arrays(sp), son, nslot, st.nid[k],
                      P["perm"][dst], P["gw"][w][dst], dbeg, dend)
    K_.partition_histograms(st.codes, cols, P["perm"][dst], dbeg, dend, nslot, build, lo,
                            np.asarray(lay["hi"], np.int64), np.asarray(lay["nbin"], np.int64),
                            np.asarray(lay["off"], np.int64), P["gw"][w][dst], hist, st.pack, P["wc"], out,
                            _lut_space(cols.shape[0]))
    nodes = np.empty(nslot, np.int32)
    idx = np.flatnonzero(son >= 0)
    nodes[son[idx]] = idx
    P["cur"] = dst
    P["beg"] = dbeg
    P["end"] = dend
    P["nodes"] = nodes


_NO_TREE = {k_: np.zeros(0, np.int64) for k_ in ("col", "code", "catp")}


def _partition_nodes(st: _ChunkState, k: int, sp: dict, tree: dict | None, root: int = 0) -> None:
    """The final node (``st.nid[k]``) of the rows still grouped by leaf: the child of ``sp``'s split
    of their leaf, or the leaf (``kernels.partition_finish``); with ``tree`` (code space, the tree
    of class ``k`` at ``root``) the out-of-bag rows walk it. The groups are consumed."""
    P = st.part[k]
    cur = P["cur"]
    t = tree if tree is not None else _NO_TREE
    K_.partition_finish(st.codes, P["perm"][max(cur, 0)] if P["perm"][0] is not None else np.zeros(0, np.int32),
                        P["beg"], P["end"], P["nodes"], cur < 0, st.active, *_split_arrays(sp),
                        np.asarray(t["col"], np.int64), np.asarray(t["code"], np.int64),
                        np.asarray(t.get("nal", _EMPTY_U8), np.uint8), np.asarray(t["catp"], np.int64),
                        np.asarray(t.get("catbits", _EMPTY_U8), np.uint8),
                        np.asarray(t.get("left", _EMPTY_I32), np.int32),
                        np.asarray(t.get("right", _EMPTY_I32), np.int32), root, tree is not None, st.nid[k])
    if tree is None and cur < 0:
        P["cur"] = 0            # the in-bag rows of the root have their node now
    P["beg"] = P["end"] = np.zeros(0, np.int64)
    P["nodes"] = np.zeros(0, np.int32)


def _partition_close(st: _ChunkState, sp: dict) -> None:
    """A tree whose last splits come with another tree's level (multinomial: its leaves all
    closed earlier than the others'): its grouped rows get their final nodes now."""
    _partition_nodes(st, int(sp["k"]), sp, None)


def _partition_finish(st: _ChunkState, apply: dict) -> None:
    """``tree.update`` of partitioned trees: every row's final node into ``st.nid[k]``."""
    t = apply["route"]
    splits = {int(sp["k"]): sp for sp in (apply.get("splits") or [])}
    for root, k in zip(t["roots"], t["classes"]):
        _partition_nodes(st, int(k), splits.get(int(k), _NO_SPLITS), t, int(root))


_EMPTY_U8 = np.zeros(0, np.uint8)
_EMPTY_I32 = np.zeros(0, np.int32)


def _pack_hist(hist: np.ndarray) -> dict:
    """A chunk's histograms as sent to the reduce of a cluster: dense, or only the non-empty rows when at
    most a quarter are used (deep trees: thousands of small leaves, a few rows of each in a chunk)."""
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
        _update_rows(st, params.get("apply"), params["values"], bool(params.get("drf")))
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
    """One tree being grown: node arrays (numpy, grown by doubling; the properties are the used part)."""

    _INT = ("col", "code", "nal", "left", "right", "depth")
    _FLT = ("value", "cover", "gain")

    def __init__(self, k: int):
        self.k = k
        self._n = 0
        cap = 64
        for f in self._INT:
            setattr(self, "_" + f, np.zeros(cap, np.int64))
        for f in self._FLT:
            setattr(self, "_" + f, np.zeros(cap, np.float64))
        self.catbins: list = []     # per node: uint8[F] over codes, or None

    def _grow(self, need: int) -> None:
        cap = self._col.shape[0]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for f in self._INT + self._FLT:
            old = getattr(self, "_" + f)
            new = np.zeros(cap, old.dtype)
            new[:self._n] = old[:self._n]
            setattr(self, "_" + f, new)

    col = property(lambda self: self._col[:self._n])
    code = property(lambda self: self._code[:self._n])
    nal = property(lambda self: self._nal[:self._n])
    left = property(lambda self: self._left[:self._n])
    right = property(lambda self: self._right[:self._n])
    depth = property(lambda self: self._depth[:self._n])
    value = property(lambda self: self._value[:self._n])
    cover = property(lambda self: self._cover[:self._n])
    gain = property(lambda self: self._gain[:self._n])

    def add(self, value: float, cover: float, depth: int) -> int:
        i = self._n
        self.add_pairs(np.array([value]), np.array([cover]), np.zeros(0), np.zeros(0), depth, single=True)
        return i

    def add_pairs(self, vl: np.ndarray, cl: np.ndarray, vr: np.ndarray, cr: np.ndarray, depth: int,
                  single: bool = False) -> int:
        """Leaves at the end: the children of ``len(vl)`` splits (left ``i0 + 2i``, right ``+ 1``), or
        ``single`` leaves ``vl`` (covers ``cl``). Returns the first new index ``i0``."""
        i0 = self._n
        c = len(vl)
        add = c if single else 2 * c
        self._grow(i0 + add)
        sl = slice(i0, i0 + add)
        self._col[sl] = -1
        self._code[sl] = 0
        self._nal[sl] = 0
        self._left[sl] = -1
        self._right[sl] = -1
        self._gain[sl] = 0.0
        self._depth[sl] = depth
        if single:
            self._value[sl] = vl
            self._cover[sl] = cl
        else:
            self._value[i0:i0 + add:2] = vl
            self._value[i0 + 1:i0 + add:2] = vr
            self._cover[i0:i0 + add:2] = cl
            self._cover[i0 + 1:i0 + add:2] = cr
        self.catbins += [None] * add
        self._n = i0 + add
        return i0

    @property
    def size(self) -> int:
        return self._n


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
    #: grow with the row partition (``kernels.partition_rows``): the rows stay grouped by leaf
    #: across a tree's levels, so a level reads only its leaves' rows, in place. For one tree per
    #: iteration whose rows' leaves are not needed before ``tree.update`` (which then walks the tree).
    partition: bool = False


def _level_res(ep: EngineParams, depth: int) -> int:
    if ep.histogram_type == "QuantilesGlobal":
        return 1 << 30
    return max(ep.nbins, ep.nbins_top_level >> depth)


def _root_opens() -> dict:
    """The open leaves of one tree at the root level, as arrays (see :func:`grow_trees`)."""
    return {"node": np.zeros(1, np.int64), "lb": np.full(1, -math.inf), "ub": np.full(1, math.inf),
            "pslot": np.full(1, -1, np.int64), "sib": np.full(1, -1, np.int64), "fj": np.zeros(1, np.int64),
            "fside": np.zeros(1, np.int64), "fcode": np.zeros(1, np.int64), "depth": 0}


def grow_trees(node, frame_key: str, session: str, bins: list[ColumnBins], ep: EngineParams, tree_index: int,
               classes: list[int], scales: dict, leaf_value: Callable[[float, float], float], job=None,
               cols_needed: list[int] | None = None) -> list[TreeBuffer]:
    """Grow one tree per class in ``classes`` level by level; the rows' leaves are left in the session.

    ``leaf_value(G, H)`` turns a leaf's gradient/hessian sums (already bound-clipped Newton value
    given as ``-G/H``) into the stored value (learning rate, clipping). Returns the trees; the caller
    runs ``tree.update`` with their leaf values (see :func:`update_predictions`).

    The open leaves of a tree at a level are arrays (one entry per leaf, in slot order): ``node``,
    value bounds ``lb``/``ub`` (monotone constraints), ``pslot`` the parent's slot at the previous
    level, ``sib`` (a large child: node id of its smaller sibling, whose histogram is built; the
    large one's is parent − sibling; else -1), and the split column narrowing the parent's code
    ranges (``fj``: column, ``fside`` 1 = left child: ``hi = fcode``, 2 = right child:
    ``lo = fcode``, 0 = unchanged), so a level's ranges, splits and children are array operations
    with no per-leaf Python.
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
    nfine = np.array([bins[j].nfine for j in usable], np.int64)
    full_lo = np.zeros(m, np.int64)
    full_hi = nfine.copy()
    opens: dict[int, dict] = {}
    for t in trees:
        t.add(0.0, 0.0, 0)
        opens[t.k] = _root_opens()
    pending: list[dict] | None = None
    first = True
    prev_lay: dict = {}
    prev_hist = np.zeros((0, 3), np.int64)
    while opens:
        # ---------------------------------------------------------------- layout of this level
        layout = []
        total = 0
        for t in trees:
            op = opens.get(t.k)
            if op is None:
                continue
            son = np.full(t.size, -1, np.int32)
            S = op["node"].shape[0]
            depth = op["depth"]
            pl_ = prev_lay.get(t.k)
            if op["pslot"][0] < 0 or pl_ is None:
                lo = np.repeat(full_lo[None, :], S, axis=0)
                hi = np.repeat(full_hi[None, :], S, axis=0)
            else:
                ps_ = op["pslot"]
                lo = pl_["lo"][ps_]
                hi = pl_["hi"][ps_]
                fside, fj, fcode = op["fside"], op["fj"], op["fcode"]
                r_ = np.flatnonzero(fside == 1)
                hi[r_, fj[r_]] = fcode[r_]
                r_ = np.flatnonzero(fside == 2)
                lo[r_, fj[r_]] = fcode[r_]
            res = np.full((S, 1), _level_res(ep, depth), np.int64)
            span = hi - lo
            nbin = np.where(iscat[None, :] == 1, span, np.maximum(1, np.minimum(span, res)))
            # columns each leaf may split on (mtries / col_sample_rate), drawn before the histograms so
            # that only those are built (H2O-3's DRF does the same)
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [ep.seed & (2 ** 63 - 1), tree_index, t.k, depth + 1])))
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
            # the cnt smallest keys of a row (stable order; they are all usable since cnt <= nok)
            take = np.arange(m)[None, :] < cnt[:, None]
            allowed = np.zeros((S, m), np.uint8)
            allowed[np.nonzero(take)[0], np.argsort(keys, axis=1, kind="stable")[take]] = 1
            allowed &= ok.astype(np.uint8)
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
            rows_ = (total, total + int(sizes.sum()))
            total = rows_[1]
            pl = None if sampled else prev_lay.get(t.k)
            son[op["node"]] = np.arange(S, dtype=np.int32)
            pairs = np.zeros((0, 3), np.int64)
            if pl is not None:
                sib = op["sib"]
                rows = np.flatnonzero(sib >= 0)
                rows = rows[son[sib[rows]] >= 0]
                if rows.size:
                    ps_ = op["pslot"][rows]
                    p_lo, p_hi, p_nb = pl["lo"][ps_], pl["hi"][ps_], pl["nbin"][ps_]
                    ident = p_nb == p_hi - p_lo
                    same = (p_lo == lo[rows]) & (p_hi == hi[rows])
                    ok_ = ident | (same & ((nbin[rows] == p_nb) | (2 * nbin[rows] == p_nb)))
                    build[rows] = (~ok_).astype(np.uint8)
                    pairs = np.column_stack([rows, son[sib[rows]].astype(np.int64), ps_]).astype(np.int64)
            layout.append({"k": t.k, "slot_of_node": son, "lo": lo, "hi": hi, "nbin": nbin, "off": off,
                           "build": build, "pairs": pairs,
                           "allowed": allowed, "rand_cut": rand_cut, "rows": rows_})
        params = {"session": session, "cols": cols, "layout": layout, "total": total, "apply": pending,
                  "part": bool(ep.partition)}
        if first:
            params["quantize"] = scales
            first = False
        r = node.runtime.run(TreeHist.name, frame_key, cols_needed or [0],
                             dict(params, layout=[{k_: v for k_, v in lay.items()
                                                   if k_ not in ("pairs", "allowed", "rand_cut", "rows")}
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
        hist = np.empty(hist_q.shape, np.float64)   # each tree's rows scaled back to float sums below
        # ---------------------------------------------------------------- split search
        pending = []
        new_opens: dict[int, dict] = {}
        for lay in layout:
            k = lay["k"]
            t = next(t_ for t_ in trees if t_.k == k)
            op = opens[k]
            S = op["node"].shape[0]
            sc = scales
            r0, r1 = lay["rows"]   # this tree's histogram rows
            K_.scale_hist(hist_q, r0, r1, float(sc["sg"][k]), float(sc["sh"][k]), float(sc["sw"]), hist)
            bounds = np.column_stack([op["lb"], op["ub"]]).astype(np.float64).reshape(S, 2)
            allowed = lay["allowed"]
            rand_cut = lay["rand_cut"]
            out_i = np.zeros((S, 3), np.int64)
            out_f = np.zeros((S, 13))
            out_cat = np.zeros((S, maxFc), np.uint8)
            # totals come from the first allowed column of a slot (or column 0): both are histogrammed
            _find_splits(hist, lay["off"], lay["nbin"], iscat_find, allowed, rand_cut, mono, bounds,
                         float(ep.min_rows), float(ep.min_hess), out_i, out_f, out_cat)
            son = np.full(t.size, -1, np.int32)
            # node statistics (value and cover) of every slot from its totals
            lbv, ubv = bounds[:, 0], bounds[:, 1]
            nodes = op["node"]
            t.cover[nodes] = out_f[:, 12]
            t.value[nodes] = _clip_values(out_f[:, 10], out_f[:, 11], lbv, ubv, leaf_value)
            cur_depth = op["depth"]
            next_depth = cur_depth + 1
            opening = next_depth < ep.max_depth
            two_min = 2 * ep.min_rows
            if cur_depth >= ep.max_depth:
                cand = np.zeros(0, np.int64)
            else:
                cand = np.flatnonzero((out_i[:, 0] >= 0) & ~(out_f[:, 0] <= ep.min_split_improvement))
            C = cand.size
            if C == 0:
                continue
            jjs = out_i[cand, 0]
            bb = out_i[cand, 1]
            nal = out_i[cand, 2]
            lo_c = lay["lo"][cand, jjs]
            hi_c = lay["hi"][cand, jjs]
            nb_c = np.maximum(lay["nbin"][cand, jjs], 1)
            cat_c = iscat[jjs].astype(np.int64)
            codes_c = np.where(cat_c == 1, 0, lo_c + (bb * (hi_c - lo_c) + nb_c - 1) // nb_c)
            fc = out_f[cand]
            GL, HL, WL, GR, HR, WR, vl, vr = (fc[:, q] for q in range(1, 9))
            lb_c, ub_c = lbv[cand], ubv[cand]
            lb_l, ub_l, lb_r, ub_r = lb_c, ub_c, lb_c, ub_c
            mo = mono[jjs]
            if np.any(mo != 0):
                # a monotone split bounds its children's values at the midpoint of theirs
                mid = 0.5 * (vl + vr)
                inc, dec = mo > 0, mo < 0
                ub_l = np.where(inc, np.minimum(ub_c, mid), ub_c)
                lb_r = np.where(inc, np.maximum(lb_c, mid), lb_c)
                lb_l = np.where(dec, np.maximum(lb_c, mid), lb_c)
                ub_r = np.where(dec, np.minimum(ub_c, mid), ub_c)
            cvl = _clip_values(GL, HL, lb_l, ub_l, leaf_value)
            cvr = _clip_values(GR, HR, lb_r, ub_r, leaf_value)
            split_nodes = nodes[cand]
            left = t.add_pairs(cvl, WL, cvr, WR, next_depth) + 2 * np.arange(C, dtype=np.int64)
            right = left + 1
            j_c = cols[jjs]
            t.col[split_nodes] = j_c
            t.nal[split_nodes] = nal
            t.left[split_nodes] = left
            t.right[split_nodes] = right
            t.gain[split_nodes] = fc[:, 0]
            t.code[split_nodes] = codes_c
            catleft = np.zeros((C, maxFc), np.uint8)
            for r_ in np.flatnonzero(cat_c == 1).tolist():
                cb = out_cat[cand[r_], :bins[int(j_c[r_])].nfine].copy()
                t.catbins[int(split_nodes[r_])] = cb
                catleft[r_, :cb.shape[0]] = cb
            son[split_nodes] = np.arange(C, dtype=np.int32)
            pending.append({"k": k, "split_of_node": son, "col": j_c.astype(np.int64),
                            "code": codes_c.astype(np.int64), "nal": nal.astype(np.uint8),
                            "cat": cat_c.astype(np.uint8), "catleft": catleft,
                            "left": left.astype(np.int32), "right": right.astype(np.int32)})
            if not opening:
                continue
            open_l, open_r = WL >= two_min, WR >= two_min
            both = open_l & open_r
            # per split the left child then the right one, each if it stays open
            keep = np.column_stack([open_l, open_r]).ravel()
            if not keep.any():
                continue

            def two_(a, b, keep=keep):
                return np.column_stack([a, b]).ravel()[keep]

            side_l = np.where(cat_c == 1, 0, 1)
            side_r = np.where(cat_c == 1, 0, 2)
            # histogram the lighter child only; the heavier one is parent − sibling
            sib_l = np.where(both & ~(WL <= WR), right, -1)
            sib_r = np.where(both & (WL <= WR), left, -1)
            new_opens[k] = {"node": two_(left, right), "lb": two_(lb_l, lb_r), "ub": two_(ub_l, ub_r),
                            "pslot": two_(cand, cand), "sib": two_(sib_l, sib_r), "fj": two_(jjs, jjs),
                            "fside": two_(side_l, side_r), "fcode": two_(codes_c, codes_c),
                            "depth": next_depth}
        opens = new_opens
    for t in trees:
        t._pending = None
    trees[0]._pending = pending  # the splits of the last level, applied by tree.update
    return trees


#: Histogram rows of a level above which the split search runs as two halves of the slots, the
#: second on a helper thread (the workers are idle meanwhile; ``kernels.find_splits`` releases the GIL).
_SPLIT_PAR_ROWS = 8192
_SPLIT_HELPER: list = []


def _split_helper():
    if not _SPLIT_HELPER:
        with _LOCK:
            if not _SPLIT_HELPER:
                import concurrent.futures as cf
                _SPLIT_HELPER.append(cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoal-split"))
    return _SPLIT_HELPER[0]


def _find_splits(hist, off, nbin, iscat, allowed, rand_cut, mono, bounds, min_rows, min_hess, out_i, out_f,
                 out_cat) -> None:
    """``kernels.find_splits`` over a level's slots; a large level is searched as two halves of the
    slots (split at half the histogram rows) on two threads. Each slot's search reads only its own
    rows, so the results are those of one call."""
    S = off.shape[0]
    if S < 2 or hist.shape[0] < _SPLIT_PAR_ROWS:
        K_.find_splits(hist, off, nbin, iscat, allowed, rand_cut, mono, bounds, min_rows, min_hess, out_i, out_f,
                       out_cat)
        return
    start = off.min(axis=1)
    h = int(min(max(np.searchsorted(start, 0.5 * (start[0] + hist.shape[0])), 1), S - 1))
    fut = _split_helper().submit(K_.find_splits, hist, off[h:], nbin[h:], iscat, allowed[h:], rand_cut[h:], mono,
                                 bounds[h:], min_rows, min_hess, out_i[h:], out_f[h:], out_cat[h:])
    try:
        K_.find_splits(hist, off[:h], nbin[:h], iscat, allowed[:h], rand_cut[:h], mono, bounds[:h], min_rows,
                       min_hess, out_i[:h], out_f[:h], out_cat[:h])
    finally:
        fut.result()


def _clip_values(G: np.ndarray, H: np.ndarray, lb: np.ndarray, ub: np.ndarray, leaf_value) -> np.ndarray:
    """Leaf values ``leaf_value(clip(-G/H, lb, ub))`` (0 where ``H <= 0``) of whole arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(H > 0, -G / np.where(H > 0, H, 1.0), 0.0)
    v = np.minimum(np.maximum(v, lb), ub)
    return np.asarray(leaf_value(v), np.float64).reshape(-1)


def update_params(session: str, trees: list[TreeBuffer], K: int, drf: bool, route: dict | None = None) -> dict:
    """The params of ``tree.update`` for ``trees`` (also carried by the next ``tree.grad``, which
    then updates the predictions in its own pass: ``TreeGrad``). ``route``: the trees in code space
    (``model.code_space``), for a session grown with ``EngineParams.partition``."""
    values: list = [None] * K
    for t in trees:
        values[t.k] = np.asarray(t.value, np.float64)
    apply = getattr(trees[0], "_pending", None)
    if route is not None:
        apply = {"route": route, "splits": apply}
    return {"session": session, "apply": apply, "values": values, "drf": drf}


def update_predictions(node, frame_key: str, session: str, trees: list[TreeBuffer], K: int, drf: bool,
                       cols_needed: list[int] | None = None, route: dict | None = None) -> None:
    """Run ``tree.update``: apply the last splits, add leaf values to the rows' predictions."""
    node.runtime.run(TreeUpdate.name, frame_key, cols_needed or [0], update_params(session, trees, K, drf, route))


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
