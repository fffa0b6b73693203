"""Reducers (sum mean median min max sd var prod nacnt all any), cumulative scans, unique, table.

Reducers run as one map/reduce pass (``munging.reduce``): per chunk and column the count of present
values, missing count, sum, product, min, max, (mean, M2) for the variance, and the counts of
zero/nonzero values; partials merge in the runtime's fixed tree with Chan's formula, so the bits
do not depend on thread timing or node count. ``na_rm=False`` (the default, as H2O and R) makes a
column with any missing value reduce to NA (``all``/``any`` use Kleene logic instead).
"""
from __future__ import annotations

import math

import numpy as np

from ..tasks import MRTask, register_task
from .chunkeval import ChunkEnv, eval_plan
from .expr import CUMULATIVE, REDUCERS
from .frames import ColumnData
from .values import FrameVal, column_header

__all__ = ["OPS", "reduce_columns"]

_NUMERIC = ("int", "real", "bool", "time")
_INTISH = ("int", "bool", "time")


@register_task
class Reduce(MRTask):
    """Per-column moments and counts of column plans."""

    name = "munging.reduce"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        k = len(params["plans"])
        out = {f: np.zeros(k, np.int64) for f in ("n", "nas", "nzero")}
        out.update({f: np.zeros(k, np.float64) for f in ("sum", "mean", "m2")})
        out["prod"] = np.ones(k, np.float64)
        out["min"] = np.full(k, np.inf)
        out["max"] = np.full(k, -np.inf)
        for j, plan in enumerate(params["plans"]):
            x = eval_plan(plan, env)
            if isinstance(x, tuple):  # string: only missing counts
                out["nas"][j] = int(x[2].sum())
                continue
            na = np.isnan(x)
            v = x[~na]
            out["nas"][j] = int(na.sum())
            out["n"][j] = len(v)
            if len(v):
                with np.errstate(all="ignore"):  # infinities give NaN moments, as numpy
                    self._fill(out, j, v)
        return out

    @staticmethod
    def _fill(out: dict, j: int, v: np.ndarray) -> None:
        """Column ``j``'s statistics of its present values ``v`` (non-empty)."""
        out["sum"][j] = float(np.sum(v))
        out["prod"][j] = float(np.prod(v))
        out["min"][j] = float(v.min())
        out["max"][j] = float(v.max())
        mean = float(np.mean(v))
        out["mean"][j] = mean
        out["m2"][j] = float(np.sum((v - mean) ** 2))
        out["nzero"][j] = int(np.sum(v == 0))

    def reduce(self, a, b):
        n = a["n"] + b["n"]
        with np.errstate(all="ignore"):
            delta = b["mean"] - a["mean"]
            frac = np.where(n > 0, b["n"] / np.maximum(n, 1), 0.0)
            mean = a["mean"] + delta * frac
            m2 = a["m2"] + b["m2"] + delta * delta * a["n"] * frac
        return {"n": n, "nas": a["nas"] + b["nas"], "nzero": a["nzero"] + b["nzero"], "sum": a["sum"] + b["sum"],
                "prod": a["prod"] * b["prod"], "min": np.minimum(a["min"], b["min"]),
                "max": np.maximum(a["max"], b["max"]), "mean": np.where(n > 0, mean, 0.0),
                "m2": np.where(n > 0, m2, 0.0)}


def reduce_columns(ctx, fv: FrameVal) -> dict:
    """The merged ``munging.reduce`` partial of every column of ``fv``."""
    params = {"plans": [p for _h, p in fv.cols], "starts": [int(s) for s in fv.anchor.starts]}
    k = fv.ncol
    if fv.anchor.nchunks == 0:
        return {"n": np.zeros(k, np.int64), "nas": np.zeros(k, np.int64), "nzero": np.zeros(k, np.int64),
                "sum": np.zeros(k), "prod": np.ones(k), "min": np.full(k, np.inf), "max": np.full(k, -np.inf),
                "mean": np.zeros(k), "m2": np.zeros(k)}
    return ctx.node.runtime.run("munging.reduce", fv.anchor.key, columns=[], params=params, job=ctx.job)


def _num(v: float, intish: bool):
    if v is None or (isinstance(v, float) and (math.isnan(v))):
        return None
    if intish and math.isfinite(v) and abs(v) < 2 ** 63:
        return int(v)
    return float(v)


def _op_reducer(ctx, n):
    from .evaluate import _err, _frame_arg
    fv = _frame_arg(ctx, n)
    na_rm = n.params.get("na_rm", False)
    if not isinstance(na_rm, bool):
        raise _err("`na_rm` must be true or false.", n)
    op = n.op
    for h, _p in fv.cols:
        t = h.type.value
        if op != "nacnt" and t not in _NUMERIC:
            raise _err(f"`{op}` needs numeric columns; column `{h.name}` is {t}.", n, column=h.name)
    if op == "median":
        out = []
        for col, (h, _p) in zip(ctx.gather(fv), fv.cols):
            x = col.as_float()
            na = np.isnan(x)
            if (na.any() and not na_rm) or na.all():
                out.append(None)
            else:
                out.append(float(np.median(x[~na])))
        return out[0] if fv.ncol == 1 else out
    r = reduce_columns(ctx, fv)
    out = []
    for j, (h, _p) in enumerate(fv.cols):
        intish = h.type.value in _INTISH
        cnt, nas = int(r["n"][j]), int(r["nas"][j])
        if op == "nacnt":
            out.append(nas)
            continue
        if op in ("all", "any"):
            nz = cnt - int(r["nzero"][j])
            if op == "all":
                res = False if r["nzero"][j] > 0 else (None if nas and not na_rm else True)
            else:
                res = True if nz > 0 else (None if nas and not na_rm else False)
            out.append(res)
            continue
        if nas and not na_rm:
            out.append(None)
            continue
        if op == "sum":
            out.append(_num(float(r["sum"][j]), intish))
        elif op == "prod":
            out.append(_num(float(r["prod"][j]), False))
        elif op == "mean":
            out.append(float(r["mean"][j]) if cnt else None)
        elif op == "min":
            out.append(_num(float(r["min"][j]), intish) if cnt else None)
        elif op == "max":
            out.append(_num(float(r["max"][j]), intish) if cnt else None)
        elif op in ("var", "sd"):
            if cnt < 2:
                out.append(None)
            else:
                var = float(r["m2"][j]) / (cnt - 1)
                out.append(var if op == "var" else math.sqrt(var))
    return out[0] if fv.ncol == 1 else out


# ================================================================================ cumulative
@register_task
class ChunkTotals(MRTask):
    """Per chunk, the sum/product/min/max of the present values of one plan (NaN when none)."""

    name = "munging.chunk_totals"

    def map(self, ctx, chunk_idx, chunks, params):
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        x = eval_plan(params["plan"], env)
        from .kernels import CUM_CODES, cumulate
        tmp = np.empty(len(x), np.float64)
        total = cumulate(np.ascontiguousarray(x), CUM_CODES[params["kind"]], np.nan, tmp)
        return {"t": np.array([total], np.float64)}

    def reduce(self, a, b):
        return {"t": np.concatenate([a["t"], b["t"]])}


def _combine(kind: str, acc: float, t: float) -> float:
    if math.isnan(t):
        return acc
    if math.isnan(acc):
        return t
    return {"cumsum": acc + t, "cumprod": acc * t, "cummin": min(acc, t), "cummax": max(acc, t)}[kind]


def _op_cumulative(ctx, n):
    from .evaluate import _err, _frame_arg
    fv = _frame_arg(ctx, n)
    cols = []
    for h, p in fv.cols:
        if h.type.value not in _NUMERIC:
            raise _err(f"`{n.op}` needs numeric columns; column `{h.name}` is {h.type.value}.", n)
        carries: list = []
        if fv.anchor.nchunks:
            totals = ctx.node.runtime.run("munging.chunk_totals", fv.anchor.key, columns=[],
                                          params={"plan": p, "kind": n.op,
                                                  "starts": [int(s) for s in fv.anchor.starts]}, job=ctx.job)["t"]
            acc = math.nan
            for t in totals:
                carries.append(None if math.isnan(acc) else acc)
                acc = _combine(n.op, acc, float(t))
        t = h.type.value
        rt = "int" if t in _INTISH and n.op != "cumprod" else "real"
        cols.append((column_header(h.name, rt), ["op", "scan", [p], {"kind": n.op, "carries": carries}]))
    return FrameVal(fv.anchor, cols)


# ================================================================================ unique, table
def _sorted_levels(col: ColumnData):
    """(values, missing_present) of a column's distinct values, sorted, for numeric/enum/string."""
    t = col.type
    miss = col.missing()
    if t == "string":
        o, d = col.values
        raw = d.tobytes()
        vals = sorted({raw[o[i]:o[i + 1]] for i in np.flatnonzero(~miss)})
        return vals, bool(miss.any())
    if t == "enum":
        return np.unique(col.values[~miss]), bool(miss.any())
    x = col.values if t == "real" else col.values
    return np.unique(x[~miss]), bool(miss.any())


def _op_unique(ctx, n):
    from .evaluate import _err, _frame_arg
    fv = _frame_arg(ctx, n)
    if fv.ncol != 1:
        raise _err("`unique` takes a one-column frame.", n)
    col = ctx.gather(fv)[0]
    vals, has_na = _sorted_levels(col)
    h = col.header
    t = col.type
    k = len(vals) + (1 if has_na else 0)
    if t == "string":
        strs = list(vals)
        lens = np.array([len(s) for s in strs] + ([0] if has_na else []), np.int64)
        off = np.zeros(k + 1, np.int64)
        np.cumsum(lens, out=off[1:])
        data = np.frombuffer(b"".join(strs), np.uint8) if strs else np.zeros(0, np.uint8)
        na = np.zeros(k, bool)
        if has_na:
            na[-1] = True
        return ctx.store([ColumnData(h, (off, data.copy()), na)])
    if t == "enum":
        v = np.append(vals.astype(np.int32), np.int32(-1)) if has_na else vals.astype(np.int32)
        return ctx.store([ColumnData(h, v)])
    if t == "real":
        return ctx.store([ColumnData(h, np.append(vals, np.nan) if has_na else vals)])
    na = np.zeros(k, bool)
    v = np.append(vals, 0) if has_na else vals
    if has_na:
        na[-1] = True
    return ctx.store([ColumnData(h, v.astype(np.int64), na)])


def _op_table(ctx, n):
    """Counts per distinct value (missing values are not counted, as H2O's table)."""
    from .evaluate import _err, _frame_arg
    fv = _frame_arg(ctx, n)
    if len(n.args) == 2:
        other = _frame_arg(ctx, n, 1)
        if other.nrow != fv.nrow:
            raise _err("The two columns of `table` must have the same number of rows.", n)
        fv = _cbind(ctx, fv, other)
    if fv.ncol not in (1, 2):
        raise _err("`table` takes one or two columns.", n)
    for h, _p in fv.cols:
        if h.type.value == "string":
            raise _err(f"`table` counts enum or numeric columns; `{h.name}` is a string column.", n)
    cols = ctx.gather(fv)
    keys = [c.as_float() for c in cols]
    keep = ~np.any(np.isnan(np.vstack(keys)), axis=0)
    mat = np.vstack([k[keep] for k in keys]).T
    if len(mat):
        uniq, counts = np.unique(mat, axis=0, return_counts=True)
    else:
        uniq, counts = np.zeros((0, len(keys))), np.zeros(0, np.int64)
    out = []
    for j, c in enumerate(cols):
        out.append(_from_float(c.header, uniq[:, j]))
    out.append(ColumnData(column_header("Count", "int"), counts.astype(np.int64), np.zeros(len(counts), bool)))
    return ctx.store(out)


def _cbind(ctx, a: FrameVal, b: FrameVal) -> FrameVal:
    from .evaluate import _relayout
    from .values import same_layout
    if not same_layout(a.anchor, b.anchor):
        b = _relayout(ctx, b, a)
    return FrameVal(a.anchor, a.cols + b.cols)


def _from_float(header, x: np.ndarray) -> ColumnData:
    """A ColumnData of ``header``'s type from float64 values (NaN missing; enum: codes)."""
    t = header.type.value
    na = np.isnan(x)
    if t == "real":
        return ColumnData(header, x.astype(np.float64))
    if t == "enum":
        return ColumnData(header, np.where(na, -1, x).astype(np.int32))
    return ColumnData(header, np.where(na, 0, x).astype(np.int64), na)


OPS = {**{op: _op_reducer for op in REDUCERS}, **{op: _op_cumulative for op in CUMULATIVE},
       "unique": _op_unique, "table": _op_table}
