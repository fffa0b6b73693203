"""group_by: per-chunk partial aggregation (map), merged in the fixed reduction tree (reduce).

Technical note. Two paths. (1) Every key an enum or integral (``munging.key_range`` finds the
ranges of non-enum keys): each row's key tuple becomes one int64 code, key 0 most significant and
each key's missing value its last code, so code order is the result's order and nothing is sorted
at the end (``munging.group_by_codes``). Per chunk the groups come from direct addressing (small
code spans) or a sort; per group the kernels keep the row count and, per value column, n, missing
count and sum, plus (mean, M2) and min/max only when an aggregate needs them; the reduce unions the
ascending code sets and merges the statistics in one numba pass (Chan's formula). (2) Otherwise
(non-integral real keys, or code spans past 2**62) each chunk hashes its key tuples
(``kernels.group_rows``) into dense group ids and keeps its distinct keys as a float64[nkeys,
ngroups] matrix; ``reduce`` unions the two key sets with the same hash kernel and the coordinator
sorts the groups once (missing keys last; enum keys in level order). Medians and modes keep the
values with their group (path 2) or code (path 1) and are computed at the coordinator (a counting
sort by group, then one sort per group). Because partials merge in the runtime's fixed tree over
chunk indices, the result has the same bits on one node or three.

Output names follow H2O: ``nrow``, ``sum_x``, ``mean_x``, ``min_x``, ``max_x``, ``sdev_x``,
``var_x``, ``sumSquares_x``, ``mode_x``, ``median_x``.
"""
from __future__ import annotations

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
            K.key_range(np.ascontiguousarray(eval_plan(p, env), dtype=np.float64), r[q])
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
    keeps, ``kernels.group_stats``), ``starts``. Partial: ``codes`` (ascending,
    distinct), ``ist`` int64[1+2nv, ng+1] (rows; per value n, missing), ``fst`` float64[nf, ng+1] (per
    value its sum and, when asked for, mean and M2, min and max; the last column is an empty group), and for ``exact`` values ``xv.j`` / ``xk.j`` (lists of value and
    code arrays, concatenated once at the coordinator).
    """

    name = "munging.group_by_codes"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        nrows = env.nrows
        kv = np.empty((len(params["keys"]), nrows), np.float64)
        for q, p in enumerate(params["keys"]):
            kv[q] = eval_plan(p, env)
        codes = np.empty(nrows, np.int64)
        K.composite_keys(kv, np.asarray(params["los"], np.float64), np.asarray(params["radix"], np.int64), codes)
        span = int(params["span"])
        gid = np.empty(nrows, np.int64)
        if span <= 4 * nrows + 4096:
            u = K.dense_groups(codes, span, gid)
        else:
            u, inv = np.unique(codes, return_inverse=True)
            gid = inv.reshape(-1).astype(np.int64, copy=False)
        ng = len(u)
        nv = len(params["values"])
        xs = np.empty((nv, nrows), np.float64)
        for j, p in enumerate(params["values"]):
            xs[j] = eval_plan(p, env)
        lay = np.asarray(params["lay"], np.int64).reshape(nv, 5)
        ist = np.empty((1 + 2 * nv, ng + 1), np.int64)  # + a trailing empty group (see merge_group_stats)
        fst = np.empty((int(lay.max(initial=-1)) + 1, ng + 1), np.float64)
        K.group_stats(gid, ng, xs, lay, ist, fst)
        K.set_empty_group(ist, fst, lay)
        out = {"codes": u, "ist": ist, "fst": fst, "span": np.array([span], np.int64), "lay": lay}
        for j in params["exact"]:
            out[f"xv.{j}"] = [xs[j].copy()]
            out[f"xk.{j}"] = [codes]
        return out

    def reduce(self, a, b):
        span = int(a["span"][0])
        lay = np.ascontiguousarray(a["lay"], dtype=np.int64)
        codes, ist, fst = K.merge_group_stats(a["codes"], a["ist"], a["fst"], b["codes"], b["ist"], b["fst"], lay,
                                              span)
        out = {"codes": codes, "ist": ist, "fst": fst, "span": a["span"], "lay": a["lay"]}
        for k in a:
            if k.startswith(("xv.", "xk.")):
                out[k] = list(a[k]) + list(b[k])
        return out


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


def _run_codes(ctx, fv: FrameVal, params: dict, plan: dict) -> dict:
    """The merged result of ``munging.group_by_codes`` in the dict form ``group_frame`` reads."""
    p = dict(params, **plan)
    r = ctx.node.runtime.run("munging.group_by_codes", fv.anchor.key, columns=[], params=p, job=ctx.job)
    codes, ist, fst = r["codes"], r["ist"][:, :-1], r["fst"][:, :-1]  # drop the empty group
    out = {"keys": _decode_codes(codes, plan["los"], plan["radix"]), "rows": ist[0]}
    lay = np.asarray(plan["lay"], np.int64).reshape(-1, 5)
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
    if plan is not None:
        r = _run_codes(ctx, fv, params, plan)  # already in key order
    elif fv.anchor.nchunks:
        r = _sorted_result(ctx.node.runtime.run("munging.group_by", fv.anchor.key, columns=[], params=params,
                                                job=ctx.job))
    else:
        r = {"keys": np.zeros((nk, 0)), "rows": np.zeros(0, np.int64)}
    keys = r["keys"]
    ng = keys.shape[1]
    out = []
    for q, i in enumerate(kidx):
        kv = keys[q].copy()
        out.append(_from_float(fv.cols[i][0], kv))
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
