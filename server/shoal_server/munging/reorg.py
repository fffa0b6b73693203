"""Operations that reorder, join or resample rows: quantile, sort, merge, split_frame,
kfold_column, drop_duplicates, fillna, impute.

Quantile is exact and distributed: a range pass, a histogram pass, then only the values of the
bins that hold the wanted ranks come to the coordinator (``distributed_quantiles``; weighted
quantiles and heavily tied columns gather the column). Merge on numeric or enum keys is a
broadcast hash join that runs where the left frame's chunks live (``join.distributed_merge``); on
other keys it gathers both sides at the coordinator (``_merge_gathered``: integral keys become
int64 codes, the row pairs come from a counting sort, ``kernels.join_pairs``). Sort gathers the
frame, orders the rows there, and each result chunk takes its rows while it is encoded in the
compute pool (``frames.store_columns(rows=...)``). Split and fold assignment are row-local (a
per-chunk RNG stream from (seed, chunk index)), so they run where the chunks live.
"""
from __future__ import annotations

import math

import numpy as np

from ..tasks import MRTask, register_task
from . import kernels as K
from .chunkeval import ChunkEnv, eval_plan
from .frames import ColumnData, store_columns
from .join import distributed_merge  # also registers the probe task on every node
from .radix import radix_order
from .reduce import _from_float
from .values import FrameVal, column_header, dedupe

__all__ = ["OPS", "quantiles", "DEFAULT_PROBS", "COMBINE_METHODS"]

#: H2O-3's default probabilities (h2o-py ``H2OFrame.quantile``).
DEFAULT_PROBS = [0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99]
COMBINE_METHODS = ("interpolate", "average", "low", "high")
_NUMERIC = ("int", "real", "bool", "time")


def _err(*a, **k):
    from .evaluate import _err as e
    return e(*a, **k)


def _frame_arg(ctx, n, i=0):
    from .evaluate import _frame_arg as f
    return f(ctx, n, i)


# ================================================================================ quantile
def quantiles(x: np.ndarray, probs, method: str = "interpolate", weights: np.ndarray | None = None) -> np.ndarray:
    """Exact quantiles of the present values of ``x`` (missing values and zero weights ignored).

    Position ``p * (N - 1)`` in the sorted values (``N`` = count, or the total weight: a row of
    weight ``w`` counts as ``w`` rows); ``interpolate`` = ``numpy.quantile`` (linear), ``average``
    = mean of the two neighbours, ``low``/``high`` = the lower/upper neighbour.
    """
    keep = ~np.isnan(x)
    if weights is not None:
        keep &= ~np.isnan(weights) & (weights > 0)
    v = x[keep]
    probs = np.asarray(probs, dtype=np.float64)
    if not len(v):
        return np.full(len(probs), np.nan)
    if weights is None:
        pos = probs * (len(v) - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        v = np.partition(v, np.unique(np.concatenate([lo, hi])))  # O(n) per probability, as numpy
        vlo, vhi = v[lo], v[hi]
        frac = pos - lo
    else:
        order = np.argsort(v, kind="stable")
        v = v[order]
        w = weights[keep][order]
        cw = np.cumsum(w)  # expanded rows [cw[i-1], cw[i]) hold v[i]
        pos = probs * (cw[-1] - 1)
        lo_pos, hi_pos = np.floor(pos), np.ceil(pos)
        vlo = v[np.minimum(np.searchsorted(cw, lo_pos, side="right"), len(v) - 1)]
        vhi = v[np.minimum(np.searchsorted(cw, hi_pos, side="right"), len(v) - 1)]
        frac = pos - lo_pos
    if method == "interpolate":
        return vlo + frac * (vhi - vlo)
    if method == "average":
        return np.where(frac > 0, (vlo + vhi) / 2, vlo)
    if method == "low":
        return vlo
    return vhi


#: Bins of the distributed quantile's histogram pass, and the most candidate values it gathers.
QUANTILE_BINS = 1 << 16
QUANTILE_MAX_GATHER = 1 << 21


@register_task
class QuantileScan(MRTask):
    """One pass of the distributed exact quantile over a column plan.

    params: ``plan``, ``starts``, ``mode``: ``range`` (partial: present count, finite min/max),
    ``hist`` (counts over ``nbins`` bins of [``lo``, ``hi``], see ``kernels.bin_counts``) or
    ``members`` (the values of the ``wanted`` bins, as lists of arrays in chunk order).
    """

    name = "munging.quantile_scan"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        x = np.ascontiguousarray(eval_plan(params["plan"], env), dtype=np.float64)
        mode = params["mode"]
        if mode == "range":
            fin = x[np.isfinite(x)]
            return {"n": np.array([int(np.count_nonzero(~np.isnan(x)))], np.int64),
                    "lo": np.array([fin.min() if len(fin) else np.inf]),
                    "hi": np.array([fin.max() if len(fin) else -np.inf])}
        lo, hi, nbins = float(params["lo"]), float(params["hi"]), int(params["nbins"])
        if mode == "hist":
            counts = np.zeros(nbins, np.int64)
            K.bin_counts(x, lo, hi, -np.inf, np.inf, nbins, counts)
            return {"c": counts}
        wanted = np.zeros(nbins, np.bool_)
        wanted[np.asarray(params["wanted"], np.int64)] = True
        vals, bins = K.bin_members(x, lo, hi, -np.inf, np.inf, nbins, wanted)
        return {"v": [vals], "b": [bins]}

    def reduce(self, a, b):
        if "n" in a:
            return {"n": a["n"] + b["n"], "lo": np.minimum(a["lo"], b["lo"]), "hi": np.maximum(a["hi"], b["hi"])}
        if "c" in a:
            return {"c": a["c"] + b["c"]}
        return {"v": list(a["v"]) + list(b["v"]), "b": list(a["b"]) + list(b["b"])}


def _combine(vlo, vhi, frac, method: str) -> np.ndarray:
    if method == "interpolate":
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, as numpy.quantile
            return vlo + frac * (vhi - vlo)
    if method == "average":
        return np.where(frac > 0, (vlo + vhi) / 2, vlo)
    if method == "low":
        return vlo
    return vhi


def distributed_quantiles(ctx, fv: FrameVal, c: int, probs, method: str):
    """Exact quantiles of column ``c`` without gathering it: a range pass, a histogram pass (counts
    per bin, so each wanted rank's bin is known), then only the values of the wanted bins come to
    the coordinator, where they are sorted and the ranks read off. Bins are a monotone function of
    the value, so they hold the sorted order. Returns None when the wanted bins hold too many values
    (heavy ties), and the caller gathers the column instead."""
    base = {"plan": fv.cols[c][1], "starts": [int(s) for s in fv.anchor.starts]}
    run = ctx.node.runtime.run
    r = run("munging.quantile_scan", fv.anchor.key, columns=[], params=dict(base, mode="range"), job=ctx.job)
    n = int(r["n"][0])
    probs = np.asarray(probs, dtype=np.float64)
    if n == 0:
        return np.full(len(probs), np.nan)
    lo, hi = float(r["lo"][0]), float(r["hi"][0])
    if not lo <= hi:
        lo = hi = 0.0
    nbins = QUANTILE_BINS
    geom = dict(base, lo=lo, hi=hi, nbins=nbins)
    counts = run("munging.quantile_scan", fv.anchor.key, columns=[], params=dict(geom, mode="hist"), job=ctx.job)["c"]
    cum = np.concatenate([[0], np.cumsum(counts)])  # cum[b] = present values in bins before b
    pos = probs * (n - 1)
    lo_r, hi_r = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    ranks = np.unique(np.concatenate([lo_r, hi_r]))
    rbin = np.searchsorted(cum, ranks, side="right") - 1  # the bin holding each rank
    wanted = np.unique(rbin)
    if int(counts[wanted].sum()) > QUANTILE_MAX_GATHER:
        return None
    m = run("munging.quantile_scan", fv.anchor.key, columns=[],
            params=dict(geom, mode="members", wanted=[int(b) for b in wanted]), job=ctx.job)
    vals, bins = np.concatenate(m["v"]), np.concatenate(m["b"])
    order = np.lexsort((vals, bins))  # by bin, then value
    vals, bins = vals[order], bins[order]
    start = np.searchsorted(bins, rbin)  # each rank's bin starts here among the candidates
    at = dict(zip(ranks.tolist(), vals[start + (ranks - cum[rbin])].tolist()))
    vlo = np.array([at[int(i)] for i in lo_r], np.float64)
    vhi = np.array([at[int(i)] for i in hi_r], np.float64)
    return _combine(vlo, vhi, pos - lo_r, method)


def _op_quantile(ctx, n):
    fv = _frame_arg(ctx, n)
    probs = n.params.get("probs", DEFAULT_PROBS)
    if isinstance(probs, (int, float)) and not isinstance(probs, bool):
        probs = [probs]
    if not isinstance(probs, list) or not probs or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1 for p in probs):
        raise _err("`probs` of `quantile` is a list of probabilities in [0, 1].", n)
    method = n.params.get("combine_method", "interpolate")
    if method not in COMBINE_METHODS:
        raise _err(f"`combine_method` is one of {', '.join(COMBINE_METHODS)}; got {method!r}.", n)
    wname = n.params.get("weights")
    cols = list(range(fv.ncol))
    widx = None
    if wname is not None:
        widx = fv.col_index(wname)
        cols = [c for c in cols if c != widx]
    for c in cols:
        h = fv.cols[c][0]
        if h.type.value not in _NUMERIC:
            raise _err(f"`quantile` needs numeric columns; `{h.name}` is {h.type.value}.", n, column=h.name)
    out = [ColumnData(column_header("Probs", "real"), np.asarray(probs, np.float64))]
    w = None
    if widx is not None:
        w = ctx.gather(fv.select([widx]))[0].as_float()
    for c in cols:
        q = distributed_quantiles(ctx, fv, c, probs, method) if w is None and fv.anchor.nchunks else None
        if q is None:  # weighted, or too many values in the wanted bins: gather the column
            q = quantiles(ctx.gather(fv.select([c]))[0].as_float(), probs, method, w)
        out.append(ColumnData(column_header(f"{fv.cols[c][0].name}Quantiles", "real"), q))
    return ctx.store(out)


# ================================================================================ sort
def _sort_key(col: ColumnData) -> np.ndarray:
    """float64 ranks that sort like the column (enum by level, strings by UTF-8 bytes), NaN missing."""
    if col.type == "string":
        o, d = col.values
        raw = d.tobytes()
        miss = col.na
        vals = np.array([raw[o[i]:o[i + 1]] if not miss[i] else b"" for i in range(len(miss))], dtype=object)
        if len(vals) == 0:
            return np.zeros(0)
        _u, inv = np.unique(vals, return_inverse=True)
        out = inv.astype(np.float64)
        out[miss] = np.nan
        return out
    return col.as_float()


_RADIX_MIN_ROWS = 1000


def sort_order(keys: list[np.ndarray], ascending: list[bool]) -> np.ndarray:
    """Stable row order by several keys, each ascending or descending, missing values last."""
    if not keys:
        return np.zeros(0, np.int64)
    if len(keys[0]) >= _RADIX_MIN_ROWS:
        return radix_order(keys, ascending)  # the same order, O(n) per pass instead of a comparison sort
    # numpy's stable sorts put NaN last, and -NaN is NaN: missing stays last in either direction.
    cols = [k if asc else -k for k, asc in zip(keys, ascending)]
    if len(cols) == 1:
        return np.argsort(cols[0], kind="stable").astype(np.int64)
    # np.lexsort sorts by the last key first: reverse so the first key is the primary one.
    return np.lexsort(cols[::-1]).astype(np.int64)


def _directions(asc, nkeys: int, n) -> list[bool]:
    if asc is None:
        return [True] * nkeys
    if isinstance(asc, bool):
        return [asc] * nkeys
    if isinstance(asc, list) and len(asc) == nkeys and all(isinstance(a, bool) for a in asc):
        return asc
    raise _err(f"`ascending` is true/false or a list of {nkeys} of them.", n)


def _op_sort(ctx, n):
    fv = _frame_arg(ctx, n)
    by = n.params["by"]
    by = by if isinstance(by, list) else [by]
    if not by:
        raise _err("`by` of `sort` names at least one column.", n)
    kidx = [fv.col_index(b) for b in by]
    asc = _directions(n.params.get("ascending"), len(kidx), n)
    data = ctx.gather(fv)
    order = sort_order([_sort_key(data[i]) for i in kidx], asc)
    # each result chunk takes its rows while it is encoded, in the compute pool
    return FrameVal.of(store_columns(ctx.node, ctx.temp_key(), data, rows=order))


# ================================================================================ merge
def _join_codes(xs: list[ColumnData], ys: list[ColumnData], n) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense int64 key ids for the rows of both sides (-1 where a key is missing: never matches),
    and the id count.

    Enum keys compare by level (both sides remapped into the union domain), string keys by text,
    numbers by value (int and real keys match when equal).
    """
    from .group_by import K
    kx, ky = [], []
    for a, b in zip(xs, ys):
        ta, tb = a.type, b.type
        text_a, text_b = ta in ("enum", "string"), tb in ("enum", "string")
        if text_a != text_b:
            raise _err(f"Merge keys `{a.header.name}` ({ta}) and `{b.header.name}` ({tb}) have incompatible types.", n)
        if ta == "enum" and tb == "enum":
            union = sorted(set(a.header.domain or ()) | set(b.header.domain or ()))
            index = {s: i for i, s in enumerate(union)}
            for c, out in ((a, kx), (b, ky)):
                table = np.append(np.array([index[s] for s in c.header.domain or ()], np.float64), np.nan)
                out.append(table[np.where(c.values < 0, len(table) - 1, c.values)])
        elif text_a:
            sa, sb = _texts(a), _texts(b)
            index: dict = {}
            for s in sa + sb:
                if s is not None and s not in index:
                    index[s] = float(len(index))
            kx.append(np.array([np.nan if s is None else index[s] for s in sa], np.float64))
            ky.append(np.array([np.nan if s is None else index[s] for s in sb], np.float64))
        else:
            kx.append(a.as_float())
            ky.append(b.as_float())
    nx = len(kx[0]) if kx else 0
    dense = _dense_join_ids(kx, ky)
    if dense is not None:
        return dense
    allm = np.vstack([np.concatenate([x, y]) for x, y in zip(kx, ky)])  # (nkeys, nx + ny)
    bad = np.isnan(allm).any(axis=0)
    ids = np.full(allm.shape[1], -1, np.int64)
    good = np.flatnonzero(~bad)
    if len(good):
        gid = np.empty(len(good), np.int64)
        K.group_rows(np.ascontiguousarray(allm[:, good]), gid)
        ids[good] = gid
    return ids[:nx], ids[nx:], int(ids.max(initial=-1)) + 1


def _dense_join_ids(kx: list[np.ndarray], ky: list[np.ndarray]):
    """``(ix, iy, ng)`` for integral keys: one int64 code per key tuple (key 0 most significant),
    -1 where a key is missing; the codes are the ids when their span is at most a few times the
    row count, else they are ranked (a sort). None for non-integral keys (the hashing path runs)."""
    from .group_by import K
    los, radix = [], []
    for a, b in zip(kx, ky):
        r = np.array([np.inf, -np.inf, 0.0, 0.0])
        K.key_range(np.ascontiguousarray(a, dtype=np.float64), r)
        K.key_range(np.ascontiguousarray(b, dtype=np.float64), r)
        if r[3]:
            return None
        lo, hi = (r[0], r[1]) if r[0] <= r[1] else (0.0, 0.0)
        los.append(lo)
        radix.append(int(hi - lo) + 2)  # the last code is the missing one
    span = 1
    for rq in radix:
        span *= rq
        if span >= (1 << 62):
            return None
    lo_arr, rad = np.asarray(los, np.float64), np.asarray(radix, np.int64)
    ids = []
    for side in (kx, ky):
        m = np.vstack([np.ascontiguousarray(k, dtype=np.float64) for k in side]) if side[0].size else \
            np.zeros((len(side), 0))
        codes = np.empty(m.shape[1], np.int64)
        K.composite_keys(m, lo_arr, rad, codes)
        codes[np.isnan(m).any(axis=0)] = -1
        ids.append(codes)
    ix, iy = ids
    if span <= 4 * (len(ix) + len(iy)) + 4096:
        return ix, iy, span
    both = np.concatenate([ix, iy])
    good = both >= 0
    u, inv = np.unique(both[good], return_inverse=True)
    out = np.full(len(both), -1, np.int64)
    out[good] = inv.reshape(-1)
    return out[:len(ix)], out[len(ix):], len(u)


def _texts(c: ColumnData) -> list:
    if c.type == "enum":
        dom = c.header.domain or ()
        return [dom[v] if v >= 0 else None for v in c.values.tolist()]
    if c.type == "string":
        o, d = c.values
        raw = d.tobytes()
        return [raw[o[i]:o[i + 1]].decode("utf-8", "replace") if not c.na[i] else None for i in range(len(c.na))]
    return [None if math.isnan(v) else repr(v) for v in c.as_float().tolist()]


def _coalesce(a: ColumnData, b: ColumnData, li, ri, n) -> ColumnData:
    """Key column of a join: the left key, or the right key for right-only rows."""
    ta, tb = a.take(li), b.take(ri)
    use_b = li < 0
    if a.type == "enum" and b.type == "enum":
        return _coalesce_enums(ta, tb, use_b)
    if a.type in ("enum", "string") or b.type in ("enum", "string"):
        texts = [y if u else x for x, y, u in zip(_texts(ta), _texts(tb), use_b.tolist())]
        if a.type == "string":
            enc = [t.encode("utf-8") if t is not None else b"" for t in texts]
            lens = np.array([len(e) for e in enc], np.int64)
            off = np.zeros(len(enc) + 1, np.int64)
            np.cumsum(lens, out=off[1:])
            data = np.frombuffer(b"".join(enc), np.uint8).copy()
            return ColumnData(a.header, (off, data), np.array([t is None for t in texts], bool))
        dom = tuple(sorted({t for t in texts if t is not None} | set(a.header.domain or ())))
        index = {s: i for i, s in enumerate(dom)}
        codes = np.array([index[t] if t is not None else -1 for t in texts], np.int32)
        return ColumnData(column_header(a.header.name, "enum", dom), codes)
    fa, fb = ta.as_float(), tb.as_float()
    v = np.where(use_b, fb, fa)
    t = a.type if a.type == b.type else "real"
    return _from_float(column_header(a.header.name, t), v)


def _coalesce_enums(ta: ColumnData, tb: ColumnData, use_b: np.ndarray) -> ColumnData:
    """Enum key of a join without per-row Python: both sides' codes go to the union domain; the
    result's domain is x's levels plus the levels that right-only rows bring, sorted."""
    da, db = ta.header.domain or (), tb.header.domain or ()
    union = sorted(set(da) | set(db))
    index = {s: i for i, s in enumerate(union)}
    # a trailing -1 makes code -1 (missing) map to -1 through plain indexing
    ma = np.array([index[s] for s in da] + [-1], np.int64)
    mb = np.array([index[s] for s in db] + [-1], np.int64)
    u = np.where(use_b, mb[tb.values], ma[ta.values])
    present = np.zeros(len(union) + 1, bool)
    present[u] = True
    present[ma[:-1]] = True
    keep = np.flatnonzero(present[:len(union)])
    remap = np.full(len(union) + 1, -1, np.int64)
    remap[keep] = np.arange(len(keep))
    return ColumnData(column_header(ta.header.name, "enum", tuple(union[i] for i in keep)),
                      remap[u].astype(np.int32))


def _op_merge(ctx, n):
    x, y = _frame_arg(ctx, n, 0), _frame_arg(ctx, n, 1)
    by_x, by_y = n.params.get("by_x"), n.params.get("by_y")
    if by_x is None and by_y is None:
        common = [c for c in x.names if c in set(y.names)]
        if not common:
            raise _err("`merge` found no common column names; give `by_x` and `by_y`.", n)
        by_x = by_y = common
    by_x = by_x if isinstance(by_x, list) else [by_x] if by_x is not None else None
    by_y = by_y if isinstance(by_y, list) else [by_y] if by_y is not None else None
    by_x = by_x or by_y
    by_y = by_y or by_x
    if not by_x:
        raise _err("`merge` needs at least one key column (`by_x`, `by_y`).", n)
    if len(by_x) != len(by_y):
        raise _err("`by_x` and `by_y` must name the same number of columns.", n)
    kx = [x.col_index(c) for c in by_x]
    ky = [y.col_index(c) for c in by_y]
    all_x, all_y = n.params.get("all_x", False), n.params.get("all_y", False)
    if not isinstance(all_x, bool) or not isinstance(all_y, bool):
        raise _err("`all_x` and `all_y` of `merge` are true or false.", n)
    names = dedupe([x.names[i] for i in kx] + [nm for i, nm in enumerate(x.names) if i not in kx] +
                   [nm for i, nm in enumerate(y.names) if i not in ky])
    out = distributed_merge(ctx, x, y, kx, ky, all_x, all_y, names)
    if out is not None:
        return out
    return _merge_gathered(ctx, x, y, kx, ky, all_x, all_y, n)


def _merge_gathered(ctx, x, y, kx, ky, all_x, all_y, n):
    """The merge with both sides gathered at the coordinator (text keys, non-integral keys)."""
    dx, dy = ctx.gather(x), ctx.gather(y)
    ix, iy, ng = _join_codes([dx[i] for i in kx], [dy[i] for i in ky], n)
    from .group_by import K
    li, ri = K.join_pairs(ix, iy, ng, all_x, all_y)
    out = [_coalesce(dx[a], dy[b], li, ri, n) for a, b in zip(kx, ky)]
    out += [dx[i].take(li) for i in range(x.ncol) if i not in kx]
    out += [dy[i].take(ri) for i in range(y.ncol) if i not in ky]
    names = dedupe([c.header.name for c in out])
    out = [ColumnData(column_header(nm, c.header.type.value, c.header.domain), c.values, c.na)
           for nm, c in zip(names, out)]
    return ctx.store(out)


# ================================================================================ split, folds
def _seed(n, default=-1) -> int:
    seed = n.params.get("seed", default)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _err("`seed` must be an integer.", n)
    if seed < 0:
        seed = int(np.random.SeedSequence().entropy % (1 << 48))
    return seed


def _op_split_frame(ctx, n):
    from .evaluate import _materialize_rows
    fv = _frame_arg(ctx, n)
    ratios = n.params["ratios"]
    ratios = ratios if isinstance(ratios, list) else [ratios]
    if not ratios or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in ratios) \
            or sum(ratios) > 1 + 1e-12:
        raise _err("`ratios` of `split_frame` are positive numbers that add up to at most 1.", n)
    seed = _seed(n)
    rnd = ["op", "runif", [], {"seed": seed}]
    bounds = [0.0] + list(np.cumsum(ratios)) + ([1.0] if sum(ratios) < 1 - 1e-12 else [])
    bounds[-1] = 2.0  # the last part takes everything above its lower bound
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        mask = ["op", "and", [["op", "ge", [rnd, ["lit", float(lo)]], {}], ["op", "lt", [rnd, ["lit", float(hi)]], {}]],
                {}]
        parts.append(_materialize_rows(ctx, fv, ["mask", mask]))
    return parts


def _op_kfold(ctx, n):
    fv = _frame_arg(ctx, n)
    nfolds = n.params.get("nfolds", 3)
    if not isinstance(nfolds, int) or isinstance(nfolds, bool) or nfolds < 2:
        raise _err("`nfolds` must be an integer of at least 2.", n)
    seed = _seed(n)
    plan = ["op", "floor", [["op", "mul", [["op", "runif", [], {"seed": seed}], ["lit", float(nfolds)]], {}]], {}]
    return FrameVal(fv.anchor, [(column_header("fold", "int"), plan)])


# ================================================================================ duplicates, fill, impute
def _op_drop_duplicates(ctx, n):
    from .evaluate import _select_rows
    fv = _frame_arg(ctx, n)
    by = n.params.get("by")
    kidx = list(range(fv.ncol)) if by is None else [fv.col_index(b) for b in (by if isinstance(by, list) else [by])]
    if not kidx:
        raise _err("`by` of `drop_duplicates` names at least one column.", n)
    keep = n.params.get("keep", "first")
    if keep not in ("first", "last"):
        raise _err("`keep` of `drop_duplicates` is first or last.", n)
    keys = ctx.gather(fv.select(kidx))
    if not fv.nrow:
        return fv
    mat = np.column_stack([c for k in keys for c in (np.isnan(_sort_key(k)).astype(np.float64),
                                                      np.nan_to_num(_sort_key(k), nan=0.0) + 0.0)])
    if keep == "last":
        _u, idx = np.unique(mat[::-1], axis=0, return_index=True)
        rows = np.sort(fv.nrow - 1 - idx)
    else:
        _u, idx = np.unique(mat, axis=0, return_index=True)
        rows = np.sort(idx)
    return _select_rows(ctx, fv, [int(r) for r in rows], n)


def _ffill(x: np.ndarray, maxlen: int, backward: bool) -> np.ndarray:
    v = x[::-1].copy() if backward else x.copy()
    last, run = np.nan, 0
    for i in range(len(v)):  # plain loop: the column is already gathered; simple beats clever here
        if np.isnan(v[i]):
            if not np.isnan(last) and run < maxlen:
                v[i] = last
                run += 1
        else:
            last, run = v[i], 0
    return v[::-1] if backward else v


def _op_fillna(ctx, n):
    from .evaluate import _store_in_layout
    fv = _frame_arg(ctx, n)
    method = n.params.get("method", "forward")
    if method not in ("forward", "backward"):
        raise _err("`method` of `fillna` is forward or backward.", n)
    maxlen = n.params.get("maxlen", 1)
    if not isinstance(maxlen, int) or maxlen < 1:
        raise _err("`maxlen` of `fillna` is a positive integer.", n)
    data = ctx.gather(fv)
    out = []
    for c in data:
        if c.type == "string":
            out.append(c)
            continue
        out.append(_from_float(c.header, _ffill(c.as_float(), maxlen, method == "backward")))
    return _store_in_layout(ctx, out, fv.anchor)


def _op_impute(ctx, n):
    from .evaluate import _store_in_layout
    from .group_by import _median, _mode
    fv = _frame_arg(ctx, n)
    c = fv.col_index(n.params["column"])
    method = n.params.get("method", "mean")
    if method not in ("mean", "median", "mode"):
        raise _err("`method` of `impute` is mean, median or mode.", n)
    h = fv.cols[c][0]
    t = h.type.value
    if t == "string" or (t == "enum" and method != "mode"):
        raise _err(f"`impute` with {method} needs a numeric column; `{h.name}` is {t}.", n)
    by = n.params.get("by")
    by = [] if by is None else (by if isinstance(by, list) else [by])
    kidx = [fv.col_index(b) for b in by]
    data = ctx.gather(fv.select([c] + kidx))
    x = data[0].as_float()
    if kidx:
        mat = np.column_stack([col for k in data[1:] for col in (np.isnan(k.as_float()).astype(np.float64),
                                                                  np.nan_to_num(k.as_float(), nan=0.0) + 0.0)])
        _u, gid = np.unique(mat, axis=0, return_inverse=True)
        gid = gid.reshape(-1)
    else:
        gid = np.zeros(len(x), np.int64)
    filled = x.copy()
    for g in np.unique(gid):
        rows = gid == g
        vals = x[rows]
        present = vals[~np.isnan(vals)]
        if not len(present):
            continue
        if method == "mean":
            fill = float(np.mean(present))
        elif method == "median":
            fill = _median(present, len(present), "rm")
        else:
            fill = _mode(present, "rm")
        filled[rows & np.isnan(x)] = fill
    rt = "real" if method in ("mean", "median") and t in ("int", "bool") and \
        not np.allclose(filled[~np.isnan(filled)], np.round(filled[~np.isnan(filled)])) else t
    newcol = _from_float(column_header(h.name, rt, h.domain), filled)
    stored = _store_in_layout(ctx, [newcol], fv.anchor)  # same layout as fv: plans can mix them
    cols = list(fv.cols)
    cols[c] = stored.cols[0]
    return FrameVal(fv.anchor, cols)


OPS = {"quantile": _op_quantile, "sort": _op_sort, "merge": _op_merge, "split_frame": _op_split_frame,
       "kfold_column": _op_kfold, "drop_duplicates": _op_drop_duplicates, "fillna": _op_fillna,
       "impute": _op_impute}
