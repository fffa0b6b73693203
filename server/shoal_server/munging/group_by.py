"""group_by: per-chunk partial aggregation (map), merged in the fixed reduction tree (reduce).

Technical note. Two paths. (1) Every key an enum or integral (ranges of non-enum keys from cached
rollups, a cached earlier pass, or ``munging.key_range``): each row's key tuple becomes one int64
code (key 0 most significant, missing = each key's last code), so code order is the result's order
and nothing is sorted at the end (``munging.group_by_codes``). Per chunk, keys and values are read
straight from the encoded chunks where the codec allows it (``_source``: biased_int, categorical,
scaled_decimal, float64 buffers; the same values as decoding, so the same bits), else evaluated to
float64. The group ids are the codes themselves for small spans (the key pass counts the rows per
code), else come from direct addressing or a sort; per group the kernels keep the row count and,
per value column, missing count and sum (n = rows - missing), plus (mean, M2) and min/max only
when an aggregate needs them.
The runtime's reduce only lists the chunks' partials; the coordinator merges them all at once
(``_merge_parts``), per group in the fixed tree over chunk indices: dense per-code buffers and a
binary counter over the chunks for small code spans, else a k-way merge of the chunks' ascending
code runs with a per-group stack (Chan's formula for (mean, M2)), split by code range over the
compute pool. (2) Otherwise (non-integral real keys, or code spans past 2**62) each chunk hashes its
key tuples (``kernels.group_rows``) into dense group ids and keeps its distinct keys as a
float64[nkeys, ngroups] matrix; ``reduce`` unions the two key sets with the same hash kernel and the
coordinator sorts the groups once (missing keys last; enum keys in level order). Medians and modes
keep the values with their group (path 2) or code (path 1) and are computed at the coordinator (a
counting sort by group, then one sort per group). Because every group's statistics merge in the
runtime's fixed tree over chunk indices, the result has the same bits on one node or three.

Output names follow H2O: ``nrow``, ``sum_x``, ``mean_x``, ``min_x``, ``max_x``, ``sdev_x``,
``var_x``, ``sumSquares_x``, ``mode_x``, ``median_x``.
"""
from __future__ import annotations

import threading

import numba as nb
import numpy as np

from ..tasks import MRTask, register_task
from . import kernels as K
from .chunkeval import ChunkEnv, eval_plan
from .frames import ColumnData
from .reduce import _from_float
from .values import FrameVal, column_header, dedupe

__all__ = ["OPS", "AGGS", "group_frame"]

#: aggregate -> output name prefix (H2O's).
AGGS = {"nrow": "nrow", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "sd": "sdev", "var": "var",
        "ss": "sumSquares", "mode": "mode", "median": "median"}
_ALIASES = {"count": "nrow", "sdev": "sd", "sumSquares": "ss"}
_NA = ("all", "rm", "ignore")  # index = the kernels' na_mode
_STATS = ("n", "nas", "sum", "mean", "m2", "min", "max")
_INTISH = ("int", "bool", "time")


def _sort_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order of the groups of ``keys`` (float64[nk, ng], NaN = missing) sorted by key, missing last
    (numpy's sorts put NaN last); returns ``(order, rank)`` with ``rank[order] = 0..ng-1``."""
    ng = keys.shape[1]
    order = None
    if ng and len(keys):
        # one int64 sort of a composite of per-key ranks (np.unique sorts NaN last) when it fits in
        # 62 bits; else a lexsort (the same order, several passes)
        comp, mult = np.zeros(ng, np.int64), 1
        for q in range(len(keys) - 1, -1, -1):
            u, inv = np.unique(keys[q], return_inverse=True)
            if mult > (1 << 62) // max(len(u), 1):
                comp = None
                break
            comp += inv.reshape(-1).astype(np.int64) * mult
            mult *= max(len(u), 1)
        order = np.argsort(comp) if comp is not None else np.lexsort(keys[::-1])
    else:
        order = np.arange(ng)
    rank = np.empty(ng, np.int64)
    rank[order] = np.arange(ng)
    return order, rank


def _dense(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct key columns of ``keys`` (float64[nk, m]) in first-appearance order, and each
    column's group id (the hash kernel)."""
    gid = np.empty(keys.shape[1], np.int64)
    firsts = K.group_rows(keys, gid)
    return keys[:, firsts] + 0.0, gid  # + 0.0 folds -0.0 into 0.0


def _group_stats(gid: np.ndarray, ng: int, x: np.ndarray) -> dict:
    st = {"n": np.empty(ng, np.int64), "nas": np.empty(ng, np.int64)}
    st.update({k: np.empty(ng, np.float64) for k in ("sum", "mean", "m2", "min", "max")})
    K.group_moments(gid, ng, x, st["n"], st["nas"], st["sum"], st["mean"], st["m2"], st["min"], st["max"])
    return st


_NO_ROWS = np.zeros(0, np.int64)
#: Code spans up to this (or up to the chunk's rows) use the codes as group ids (``GroupByCodes``).
_DIRECT_MIN = 4096


def _source(plan, env: ChunkEnv) -> tuple:
    """``(q, mode, bias, p, sentinel)``: what the ``kernels.source_*`` kernels read for a key or
    value plan on this chunk. A stored column whose codec they read directly (biased_int,
    categorical, scaled_decimal, float64) gives its encoded buffer, so nothing is decoded into a
    float64 copy first; any other plan is evaluated (float64, NaN missing; ``SRC_FLOAT``)."""
    if isinstance(plan, (list, tuple)) and len(plan) == 4 and plan[0] == "ref" and plan[3] != "string":
        ch = env.chunk(plan[1], plan[2])
        codec = ch.codec
        q = ch.buffers[0] if len(ch.buffers) == 1 else None
        if q is not None and q.ndim == 1 and len(q) == env.nrows:
            top = _SRC_INTS.get(q.dtype)
            if top is not None and codec in ("biased_int", "categorical", "scaled_decimal"):
                q = np.ascontiguousarray(q)
                if codec == "categorical":  # codes (missing: the top value; -1 in int32 buffers)
                    return q, K.SRC_INT, 0, 1.0, top
                if top >= 0:  # (int32 buffers are categorical only)
                    if codec == "biased_int":
                        return q, K.SRC_INT, int(ch.meta["bias"]), 1.0, top
                    return q, K.SRC_SCALED, int(ch.meta["bias"]), 10.0 ** int(ch.meta["scale"]), top
            elif codec == "float64" and q.dtype == np.float64:
                return np.ascontiguousarray(q), K.SRC_FLOAT, 0, 1.0, 0
    return np.ascontiguousarray(eval_plan(plan, env), dtype=np.float64), K.SRC_FLOAT, 0, 1.0, 0


#: Buffer dtypes the source kernels read -> the missing marker of biased_int / scaled_decimal /
#: narrow categorical buffers (their top value); int32 (wide categorical codes, -1 missing): -1.
_SRC_INTS = {np.dtype(np.uint8): 0xFF, np.dtype(np.uint16): 0xFFFF, np.dtype(np.uint32): 0xFFFFFFFF,
             np.dtype(np.int32): -1}


@register_task
class GroupBy(MRTask):
    """params: ``keys`` (plans), ``values`` (plans), ``exact`` (value indices that keep raw values)."""

    name = "munging.group_by"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        nk = len(params["keys"])
        kv = np.empty((nk, env.nrows), np.float64)
        for q, p in enumerate(params["keys"]):
            kv[q] = eval_plan(p, env)
        keys, gid = _dense(kv)  # groups in first-appearance order: sorted once, at the coordinator
        ng = keys.shape[1]
        out = {"keys": keys, "rows": np.bincount(gid, minlength=ng).astype(np.int64)}
        for j, p in enumerate(params["values"]):
            x = np.ascontiguousarray(eval_plan(p, env))
            for k, v in _group_stats(gid, ng, x).items():
                out[f"{k}.{j}"] = v
            if j in params["exact"]:
                out[f"xv.{j}"] = x
                out[f"xg.{j}"] = gid
        return out

    def reduce(self, a, b):
        ga = a["keys"].shape[1]
        keys, inv = _dense(np.concatenate([a["keys"], b["keys"]], axis=1))
        ia, ib = inv[:ga], inv[ga:]
        ng = keys.shape[1]

        def scatter(x, idx, fill, how=None):
            out = np.full(ng, fill, dtype=x.dtype)
            out[idx] = x  # idx is injective: each side holds every key at most once
            return out

        out = {"keys": keys, "rows": scatter(a["rows"], ia, 0) + scatter(b["rows"], ib, 0)}
        j = 0
        while f"n.{j}" in a:
            sa = {k: a[f"{k}.{j}"] for k in _STATS}
            sb = {k: b[f"{k}.{j}"] for k in _STATS}
            A = {k: scatter(sa[k], ia, 0) for k in ("n", "nas", "sum", "mean", "m2")}
            B = {k: scatter(sb[k], ib, 0) for k in ("n", "nas", "sum", "mean", "m2")}
            n = A["n"] + B["n"]
            with np.errstate(all="ignore"):
                delta = B["mean"] - A["mean"]
                frac = np.where(n > 0, B["n"] / np.maximum(n, 1), 0.0)
                out[f"mean.{j}"] = np.where(n > 0, A["mean"] + delta * frac, 0.0)
                out[f"m2.{j}"] = np.where(n > 0, A["m2"] + B["m2"] + delta * delta * A["n"] * frac, 0.0)
            out[f"n.{j}"] = n
            out[f"nas.{j}"] = A["nas"] + B["nas"]
            out[f"sum.{j}"] = A["sum"] + B["sum"]
            out[f"min.{j}"] = np.minimum(scatter(sa["min"], ia, np.inf),
                                         scatter(sb["min"], ib, np.inf))
            out[f"max.{j}"] = np.maximum(scatter(sa["max"], ia, -np.inf),
                                         scatter(sb["max"], ib, -np.inf))
            if f"xv.{j}" in a:
                out[f"xv.{j}"] = np.concatenate([a[f"xv.{j}"], b[f"xv.{j}"]])
                out[f"xg.{j}"] = np.concatenate([ia[a[f"xg.{j}"]], ib[b[f"xg.{j}"]]]).astype(np.int64)
            j += 1
        return out


# ------------------------------------------------------------------ integral keys: one int64 code per row
@register_task
class KeyRange(MRTask):
    """params: ``keys`` (plans), ``starts``. Partial ``{"r": float64[nk, 4]}``: min, max, missing and
    non-integral counts of each key (``kernels.key_range``)."""

    name = "munging.key_range"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        r = np.zeros((len(params["keys"]), 4), np.float64)
        r[:, 0], r[:, 1] = np.inf, -np.inf
        for q, p in enumerate(params["keys"]):
            K.source_key_range(*_source(p, env), r[q])
        return {"r": r}

    def reduce(self, a, b):
        ra, rb = a["r"], b["r"]
        return {"r": np.column_stack([np.minimum(ra[:, 0], rb[:, 0]), np.maximum(ra[:, 1], rb[:, 1]),
                                      ra[:, 2] + rb[:, 2], ra[:, 3] + rb[:, 3]])}


@register_task
class GroupByCodes(MRTask):
    """group_by when every key is integral with a known range: each row's key tuple becomes one int64
    code (key 0 most significant, missing = each key's last code), so code order is the result's order.

    params: ``keys``, ``values`` (plans), ``exact`` (value indices that keep raw values), ``los``,
    ``radix`` (per key), ``span`` (product of the radices), ``lay`` (which float statistics each value
    keeps, ``kernels.group_stats``), ``starts``. Partial: lists with one entry per chunk, in chunk
    order: ``ci`` (chunk indices), ``codes`` (ascending, distinct), ``ist`` int64[1+2nv, ng] (rows; per
    value n, missing), ``fst`` float64[nf, ng] (per value its sum and, when asked for, mean and M2,
    min and max), and for ``exact`` values ``xv.j`` / ``xk.j`` (values and their codes). ``reduce``
    only concatenates the lists: the coordinator merges all chunks' statistics at once
    (``_merge_parts``), per group in the fixed tree over chunk indices.
    """

    name = "munging.group_by_codes"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        nrows = env.nrows
        span = int(params["span"])
        exact = params["exact"]
        # small code spans: the codes themselves are the group ids (per-code statistics, compacted
        # to the codes present at the end); else dense ids from direct addressing or a sort
        direct = span <= max(nrows, _DIRECT_MIN)
        nv = len(params["values"])
        lay = np.asarray(params["lay"], np.int64).reshape(nv, 5)
        codes = np.empty(nrows, np.int32 if direct else np.int64)
        nk = len(params["keys"])
        if direct:  # the key pass also counts the rows per code
            gid, ng = codes, span
            ist = np.empty((1 + 2 * nv, ng), np.int64)
        for q, (p, lo, rad) in enumerate(zip(params["keys"], params["los"], params["radix"])):
            K.source_key_codes(*_source(p, env), float(lo), int(rad), q == 0, codes,
                               ist[0] if direct and q == nk - 1 else _NO_ROWS)
        if not direct:
            if span <= 4 * nrows + 4096:
                gid = np.empty(nrows, np.int32)
                u = K.dense_groups(codes, span, gid)
            else:
                u, inv = np.unique(codes, return_inverse=True)
                gid = inv.reshape(-1).astype(np.int32)
            ng = len(u)
            ist = np.empty((1 + 2 * nv, ng), np.int64)
            K.group_row_counts(gid, ng, ist[0])
        fst = np.empty((int(lay.max(initial=-1)) + 1, ng), np.float64)
        xs = {}
        for j, p in enumerate(params["values"]):
            src = _source(p, env)
            K.source_group_stats(gid, ng, *src, lay[j], j, ist, fst)
            if j in exact:
                xs[j] = src[0] if src[1] == K.SRC_FLOAT else np.ascontiguousarray(eval_plan(p, env), np.float64)
        if direct:
            u = np.flatnonzero(ist[0])
            ist, fst = ist[:, u], fst[:, u]
        out = {"ci": [int(chunk_idx)], "codes": [u.astype(np.int64, copy=False)], "ist": [ist], "fst": [fst]}
        if exact:
            codes64 = codes.astype(np.int64, copy=False)
            for j in exact:
                out[f"xv.{j}"] = [np.array(xs[j], np.float64)]
                out[f"xk.{j}"] = [codes64]
        return out

    def reduce(self, a, b):
        return {k: list(a[k]) + list(b[k]) for k in a}


#: At most this many bytes of dense per-code result buffers for the binary-counter merge (else the k-way merge).
_STREAM_BYTES = 256 << 20
#: About this many bytes of block buffers per thread in the binary-counter merge (``kernels.dense_tree_merge``).
_BLOCK_BYTES = 512 << 10
#: Below this many entries the merges run inline, not in the compute pool.
_POOL_MIN = 200_000


def _merge_parts(ctx, r: dict, span: int, lay: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All chunks' statistics merged per group: ``(codes, ist, fst)``, codes ascending.

    Each group's per-chunk statistics merge in the fixed tree over chunk indices (the tree
    ``tasks.reduce`` uses, pruned to the chunks that hold the group: ``kernels.kway_merge_groups``).
    Small code spans run the tree itself over dense per-code buffers, as a binary counter over the
    chunks in index order, one cache-sized block of codes at a time (``kernels.dense_tree_merge``:
    each chunk's entries are read once, the result written once; a code without rows on one side is
    the identity, which prunes the tree exactly as the sparse path does); large spans merge the
    chunks' ascending code runs (``kernels.kway_merge_groups``: a heap of the run heads, each run
    read once, forward) and merge each group's entries with a small stack. Either way the code
    range is split over the compute pool's threads, and both paths give the same bits.
    """
    cis = [int(c) for c in r["ci"]]
    parts = list(zip(cis, r["codes"], r["ist"], r["fst"]))
    if len(parts) == 1:
        return np.asarray(parts[0][1], np.int64), parts[0][2], parts[0][3]
    sizes = np.array([len(p[1]) for p in parts], np.int64)
    e = int(sizes.sum())
    ri, rf = parts[0][2].shape[0], parts[0][3].shape[0]
    if span <= 4 * e + 4096 and span * (ri + rf) * 8 <= _STREAM_BYTES and cis == list(range(len(cis))):
        out_i, out_f = np.empty((ri, span), np.int64), np.empty((rf, span), np.float64)
        nbuf = len(parts).bit_length() + 2
        block = max(16, (_BLOCK_BYTES // 8) // max(1, (ri + rf) * nbuf))  # the block buffers stay in cache
        lists = [nb.typed.List([np.ascontiguousarray(p[q], dtype=t) for p in parts])
                 for q, t in ((1, np.int64), (2, np.int64), (3, np.float64))]  # no copy of the entries

        def count(lo, hi):  # codes [lo, hi): the fixed tree per code, a block of codes at a time
            K.dense_tree_merge(*lists, lay, lo, hi, block, out_i, out_f)

        _in_pool(ctx, span, e, count)
        codes = np.flatnonzero(out_i[0]).astype(np.int64)
        return codes, out_i[:, codes], out_f[:, codes]
    allc = np.concatenate([np.asarray(p[1], np.int64) for p in parts])
    ist = np.concatenate([p[2] for p in parts], axis=1)
    fst = np.concatenate([p[3] for p in parts], axis=1)
    offs = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offs[1:])
    cis_a = np.asarray(cis, np.int64)
    nthreads = 1 if e < _POOL_MIN else max(1, int(ctx.node.config.threads))
    # split the codes into ranges of about equal entry counts (quantiles of a sample of every run)
    sample = np.sort(np.concatenate([allc[offs[k]:offs[k + 1]][::max(1, int(sizes[k]) // 64)]
                                     for k in range(len(sizes))]))
    cuts = sorted({int(sample[len(sample) * t // nthreads]) for t in range(1, nthreads)}) if len(sample) else []
    at = np.array([offs[k] + np.searchsorted(allc[offs[k]:offs[k + 1]], cuts) for k in range(len(sizes))],
                  np.int64).reshape(len(sizes), len(cuts))  # where each run crosses each cut
    edges = [offs[:-1]] + [at[:, t] for t in range(len(cuts))] + [offs[1:]]
    results = [None] * (len(edges) - 1)

    def merge_range(t: int) -> None:
        lo, hi = np.ascontiguousarray(edges[t], np.int64), np.ascontiguousarray(edges[t + 1], np.int64)
        m = int((hi - lo).sum())
        oc, oi, of = np.empty(m, np.int64), np.empty((ri, m), np.int64), np.empty((rf, m), np.float64)
        ng = K.kway_merge_groups(allc, lo, hi, cis_a, ist, fst, lay, oc, oi, of)
        results[t] = (oc[:ng], oi[:, :ng], of[:, :ng])

    _in_pool(ctx, len(results), e if len(results) > 1 else 0, lambda lo, hi: [merge_range(t) for t in range(lo, hi)])
    if len(results) == 1:
        return results[0]
    return (np.concatenate([x[0] for x in results]), np.concatenate([x[1] for x in results], axis=1),
            np.concatenate([x[2] for x in results], axis=1))


def _in_pool(ctx, ng: int, e: int, fn) -> None:
    """``fn(lo, hi)`` over ranges of ``0..ng-1``, run in the node's compute pool (nogil kernels, so
    the threads work in parallel) when there is enough work, else inline."""
    pool = ctx.node.runtime.pool
    parts = max(1, int(ctx.node.config.threads))
    # inline when small, or when already on a compute thread (waiting there on the pool could deadlock)
    if e < _POOL_MIN or parts == 1 or ng < 2 or threading.current_thread().name.startswith("shoal-compute"):
        fn(0, ng)
        return
    step = -(-ng // parts)
    ranges = [(lo, min(ng, lo + step)) for lo in range(0, ng, step)]
    for f in [pool.submit(fn, lo, hi) for lo, hi in ranges]:
        f.result()


def _cached_range(ctx, plan) -> tuple[float, float] | None:
    """(min, max) of a stored column's present values when already known: for int/bool/time columns
    from the frame's cached rollups (``store.rollups``), else from an earlier ``key_range`` pass on
    the same frame version (cached in the catalog's derived values, dropped when the key changes).
    None when not a plain column, not known, or not usable as a code (no present value counts as
    known only from the pass)."""
    if not (isinstance(plan, (list, tuple)) and len(plan) == 4 and plan[0] == "ref"):
        return None
    try:
        derived = ctx.node.catalog.derived(plan[1])
        header = ctx.node.catalog.get(plan[1])
    except Exception:  # the frame went away: the key_range pass will say so
        return None
    i = int(plan[2])
    if i >= header.ncol or header.columns[i].type.value != plan[3]:
        return None
    known = (derived.get("group_by_key_ranges") or {}).get(i)
    if known is not None:
        return known
    cached = derived.get("rollups")
    if plan[3] not in _INTISH or cached is None or i >= len(cached):
        return None
    lo, hi = cached[i].get("min"), cached[i].get("max")
    if not isinstance(lo, int) or not isinstance(hi, int) or max(abs(lo), abs(hi)) >= (1 << 53):
        return None
    return float(lo), float(hi)


def _remember_range(ctx, header, plan, lo: float, hi: float) -> None:
    """Cache a stored column's key range (see ``_cached_range``) for the frame version ``header`` the
    pass read (dropped by the catalog if the key was replaced since)."""
    if not (isinstance(plan, (list, tuple)) and len(plan) == 4 and plan[0] == "ref" and plan[1] == header.key):
        return
    try:
        ranges = dict(ctx.node.catalog.derived(plan[1]).get("group_by_key_ranges") or {})
    except Exception:
        return
    ranges[int(plan[2])] = (float(lo), float(hi))
    ctx.node.catalog.cache_derived(plan[1], "group_by_key_ranges", ranges, header)


def _code_plan(ctx, fv: FrameVal, kidx: list[int], params: dict) -> dict | None:
    """``los``/``radix``/``span`` of the int64 key codes, or None when a key is not integral or the
    codes would not fit in 62 bits (the hashing path then runs)."""
    los, radix, need = [], [], []
    for q, i in enumerate(kidx):
        h = fv.cols[i][0]
        if h.type.value == "enum":
            los.append(0.0)
            radix.append(len(h.domain or ()) + 1)
        elif h.type.value in ("int", "bool", "time", "real"):
            los.append(None)
            radix.append(None)
            need.append(q)
        else:
            return None
    for q in list(need):  # a stored int column whose rollups are cached: its range is known, no pass
        known = _cached_range(ctx, params["keys"][q])
        if known is not None:
            los[q], radix[q] = known[0], int(known[1] - known[0]) + 2
            need.remove(q)
    if need:
        r = ctx.node.runtime.run("munging.key_range", fv.anchor.key, columns=[],
                                 params={"keys": [params["keys"][q] for q in need], "starts": params["starts"]},
                                 job=ctx.job)["r"]
        for row, q in zip(r, need):
            lo, hi, _nas, bad = (float(v) for v in row)
            if bad:
                return None
            if lo > hi:  # no present value
                lo = hi = 0.0
            _remember_range(ctx, fv.anchor, params["keys"][q], lo, hi)
            los[q] = lo
            radix[q] = int(hi - lo) + 2
    span = 1
    for rq in radix:
        span *= rq
        if span >= (1 << 62):
            return None
    return {"los": los, "radix": radix, "span": span}


def _decode_codes(codes: np.ndarray, los: list, radix: list) -> np.ndarray:
    """float64[nk, ng] key values of ascending int64 codes (NaN = missing)."""
    keys = np.empty((len(radix), len(codes)), np.float64)
    K.decode_keys(np.ascontiguousarray(codes, dtype=np.int64), np.asarray(los, np.float64),
                  np.asarray(radix, np.int64), keys)
    return keys


def _key_columns(ctx, fv: FrameVal, kidx: list[int], codes: np.ndarray, los: list, radix: list) -> list:
    """The key columns of the result, decoded from the ascending int64 codes straight into their
    column types (enum codes, ints with a missing mask; real keys through float64), in the pool."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    ng = len(codes)
    cols, jobs = [], []
    for q, i in enumerate(kidx):
        h = fv.cols[i][0]
        t = h.type.value
        na = np.empty(ng, np.bool_)
        if t == "enum":
            vals, miss = np.empty(ng, np.int32), -1
        elif t in _INTISH:
            vals, miss = np.empty(ng, np.int64), 0
        else:  # an integral real key: its values as float64, NaN missing
            vals, miss = np.empty(ng, np.int64), 0
        jobs.append((int(radix[q]), int(los[q]), miss, vals, na))
        cols.append((h, t, vals, na))

    def run(lo, hi):
        rest = codes[lo:hi].copy()
        for rad, lo_q, miss, vals, na in reversed(jobs):  # the last key is the least significant
            K.decode_key_column(rest, rad, lo_q, miss, vals[lo:hi], na[lo:hi])

    _in_pool(ctx, ng, ng * len(jobs), run)
    out = []
    for h, t, vals, na in cols:
        if t == "enum":
            out.append(ColumnData(h, vals))
        elif t in _INTISH:
            out.append(ColumnData(h, vals, na))
        else:
            out.append(_from_float(h, np.where(na, np.nan, vals.astype(np.float64))))
    return out


def _run_codes(ctx, fv: FrameVal, params: dict, plan: dict) -> dict:
    """The merged result of ``munging.group_by_codes`` in the dict form ``group_frame`` reads (with
    the key columns already built, under ``key_cols``)."""
    p = dict(params, **plan)
    r = ctx.node.runtime.run("munging.group_by_codes", fv.anchor.key, columns=[], params=p, job=ctx.job)
    lay = np.asarray(plan["lay"], np.int64).reshape(-1, 5)
    codes, ist, fst = _merge_parts(ctx, r, int(plan["span"]), lay)
    out = {"keys": np.empty((len(plan["radix"]), len(codes))), "rows": ist[0], "codes": codes}
    for j in range(len(params["values"])):
        out[f"n.{j}"], out[f"nas.{j}"] = ist[1 + 2 * j], ist[2 + 2 * j]
        for s, name in enumerate(("sum", "mean", "m2", "min", "max")):
            out[f"{name}.{j}"] = fst[lay[j, s]] if lay[j, s] >= 0 else None  # None: not asked for
        if f"xv.{j}" in r:
            out[f"xv.{j}"] = np.concatenate(r[f"xv.{j}"])
            xk = np.concatenate(r[f"xk.{j}"])
            if plan["span"] <= 8 * len(xk) + 4096:  # a lookup table beats a binary search
                at = np.empty(plan["span"], np.int64)
                at[codes] = np.arange(len(codes), dtype=np.int64)
                out[f"xg.{j}"] = at[xk]
            else:
                out[f"xg.{j}"] = np.searchsorted(codes, xk).astype(np.int64)
    return out


def _median(vals: np.ndarray, rows: int, na: str) -> float:
    present = np.sort(vals[~np.isnan(vals)])
    nas = len(vals) - len(present)
    if na == "all" and nas:
        return np.nan
    if na == "ignore":  # missing values sort first and count, as H2O's doc: [NA, 1, 2, 3] -> 1.5
        present = np.concatenate([np.full(nas, np.nan), present])
    if not len(present):
        return np.nan
    m = len(present)
    return float((present[(m - 1) // 2] + present[m // 2]) / 2)


def _mode(vals: np.ndarray, na: str) -> float:
    present = vals[~np.isnan(vals)]
    if na == "all" and len(present) < len(vals):
        return np.nan
    if not len(present):
        return np.nan
    u, c = np.unique(present, return_counts=True)
    return float(u[int(np.argmax(c))])  # ties: the smallest value (first in sorted order)


def _sorted_result(r: dict) -> dict:
    """The merged partial with its groups sorted by key (partials keep first-appearance order, so the
    map and every reduce step avoid a sort; the coordinator sorts once)."""
    order, rank = _sort_groups(r["keys"])
    out = {}
    for k, v in r.items():
        if k.startswith("xv."):
            out[k] = v
        elif k.startswith("xg."):
            out[k] = rank[v]
        elif k == "keys":
            out[k] = v[:, order]
        else:
            out[k] = v[order]
    return out


def _parse_aggs(fv: FrameVal, aggs, n) -> list[tuple[str, int | None, str]]:
    from .evaluate import _err
    if aggs is None:
        aggs = [{"agg": "nrow"}]
    if not isinstance(aggs, list) or not aggs:
        raise _err("`aggs` of `group_by` is a non-empty list of {\"agg\": name, \"col\": column, \"na\": ...}.", n)
    out = []
    for a in aggs:
        if not isinstance(a, dict) or "agg" not in a:
            raise _err("Each aggregate of `group_by` is {\"agg\": name, \"col\": column, \"na\": ...}.", n)
        unknown = set(a) - {"agg", "col", "na"}
        if unknown:
            raise _err(f"An aggregate of `group_by` has unknown fields: {', '.join(sorted(unknown))} "
                       f"(fields: agg, col, na).", n)
        name = _ALIASES.get(a["agg"], a["agg"])
        if name not in AGGS:
            raise _err(f"Unknown aggregate `{a['agg']}`; allowed: {', '.join(AGGS)}.", n, allowed=list(AGGS))
        na = a.get("na", "all")
        if na not in _NA:
            raise _err(f"`na` of an aggregate is one of all, ignore, rm; got {na!r}.", n)
        if name == "nrow":
            out.append((name, None, na))
            continue
        if "col" not in a:
            raise _err(f"Aggregate `{name}` needs `col`.", n)
        c = fv.col_index(a["col"])
        h = fv.cols[c][0]
        t = h.type.value
        if t == "string" or (t == "enum" and name != "mode"):
            raise _err(f"Aggregate `{name}` needs a numeric column; `{h.name}` is {t}.", n, column=h.name)
        out.append((name, c, na))
    return out


def group_frame(ctx, fv: FrameVal, by: list, aggs) -> FrameVal:
    """The grouped frame: key columns then one column per aggregate, sorted by key (missing last)."""
    from .evaluate import _err
    if isinstance(by, (str, int)):
        by = [by]
    if not isinstance(by, list) or not by:
        raise _err("`by` of `group_by` is a column name or a list of names/indices.", None)
    kidx = [fv.col_index(b) for b in by]
    for i in kidx:
        h = fv.cols[i][0]
        if h.type.value == "string":
            raise _err(f"`group_by` keys must be enum or numeric; `{h.name}` is a string column.", None)
    specs = _parse_aggs(fv, aggs, None)
    vcols = sorted({c for _a, c, _n in specs if c is not None})
    vpos = {c: j for j, c in enumerate(vcols)}
    exact = sorted({vpos[c] for a, c, _n in specs if a in ("median", "mode")})
    lay, row = [], 0  # rows of the float statistics each value column keeps (see kernels.group_stats)
    for c in vcols:
        want = {a for a, cc, _n in specs if cc == c}
        r = [row, -1, -1, -1, -1]
        row += 1
        if want & {"sd", "var", "ss"}:
            r[1], r[2] = row, row + 1
            row += 2
        if want & {"min", "max"}:
            r[3], r[4] = row, row + 1
            row += 2
        lay.append(r)
    params = {"keys": [fv.cols[i][1] for i in kidx], "values": [fv.cols[c][1] for c in vcols], "exact": exact,
              "starts": [int(s) for s in fv.anchor.starts]}
    nk = len(kidx)
    plan = _code_plan(ctx, fv, kidx, params) if fv.anchor.nchunks else None
    if plan is not None:
        plan["lay"] = lay
    key_cols = None
    if plan is not None:
        r = _run_codes(ctx, fv, params, plan)  # already in key order
        key_cols = _key_columns(ctx, fv, kidx, r["codes"], plan["los"], plan["radix"])
    elif fv.anchor.nchunks:
        r = _sorted_result(ctx.node.runtime.run("munging.group_by", fv.anchor.key, columns=[], params=params,
                                                job=ctx.job))
    else:
        r = {"keys": np.zeros((nk, 0)), "rows": np.zeros(0, np.int64)}
    keys = r["keys"]
    ng = keys.shape[1]
    if key_cols is not None:
        out = key_cols
    else:
        out = [_from_float(fv.cols[i][0], keys[q].copy()) for q, i in enumerate(kidx)]
    names = [fv.cols[i][0].name for i in kidx]
    for agg, c, na in specs:
        if agg == "nrow":
            out.append(ColumnData(column_header("nrow", "int"), r["rows"].astype(np.int64), np.zeros(ng, bool)))
            names.append("nrow")
            continue
        h = fv.cols[c][0]
        j = vpos[c]
        n_, nas, s = r[f"n.{j}"], r[f"nas.{j}"], r[f"sum.{j}"]
        rows = r["rows"]
        poison = (nas > 0) if na == "all" else np.zeros(ng, bool)
        with np.errstate(all="ignore"):
            if agg == "sum":
                v = s.copy()
            elif agg == "ss":
                v = r[f"m2.{j}"] + n_ * r[f"mean.{j}"] ** 2
            elif agg == "mean":
                v = np.where(n_ > 0, s / (rows if na == "ignore" else n_), np.nan)
            elif agg in ("min", "max"):
                v = np.where(n_ > 0, r[f"{agg}.{j}"], np.nan)
            elif agg in ("var", "sd"):
                denom = (rows if na == "ignore" else n_) - 1
                v = np.where(denom > 0, r[f"m2.{j}"] / denom, np.nan)
                if agg == "sd":
                    v = np.sqrt(v)
            else:
                xv, xg = r[f"xv.{j}"], r[f"xg.{j}"]
                sorted_vals, bounds = K.group_sort_values(np.ascontiguousarray(xg, dtype=np.int64), ng,
                                                          np.ascontiguousarray(xv, dtype=np.float64))
                v = np.empty(ng, np.float64)
                K.group_order_stats(sorted_vals, bounds, nas.astype(np.int64),
                                    0 if agg == "median" else 1, _NA.index(na), v)
        v = np.where(poison, np.nan, v)
        t = h.type.value
        if agg == "mode" or (agg in ("min", "max") and t in _INTISH):
            rt = t
        elif agg == "sum" and t in _INTISH:
            rt = "int"
        else:
            rt = "real"
        out.append(_from_float(column_header(f"{AGGS[agg]}_{h.name}", rt, h.domain if rt == "enum" else None), v))
        names.append(f"{AGGS[agg]}_{h.name}")
    names = dedupe(names)
    out = [ColumnData(column_header(nm, c.header.type.value, c.header.domain), c.values, c.na)
           for nm, c in zip(names, out)]
    return ctx.store(out)


def _op_group_by(ctx, n):
    from .evaluate import _frame_arg
    fv = _frame_arg(ctx, n)
    try:
        return group_frame(ctx, fv, n.params["by"], n.params.get("aggs"))
    except Exception as e:  # attach the node's path to parameter errors raised without one
        details = getattr(e, "details", None)
        if isinstance(details, dict):
            details.setdefault("path", n.path)
            details.setdefault("op", "group_by")
        raise


OPS = {"group_by": _op_group_by}
