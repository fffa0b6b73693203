"""Correlation, histograms, stratified folds and level edits.

``cor`` runs as one map/reduce pass of pairwise co-moments (``munging.comoments``), merged with
Chan's formula in the fixed tree; ``hist`` counts equal-width (or given) bins in one pass.
``stratified_kfold_column`` gathers the class column and deals each class's rows over the folds in a
seeded random order, so the folds depend on the seed and the rows, not on the chunk layout.
"""
from __future__ import annotations

import numpy as np

from ..tasks import MRTask, register_task
from .chunkeval import ChunkEnv, eval_plan
from .frames import ColumnData
from .values import FrameVal, column_header

__all__ = ["OPS"]

_NUMERIC = ("int", "real", "bool", "time")


def _err(*a, **k):
    from .evaluate import _err as e
    return e(*a, **k)


def _frame(ctx, n, i=0) -> FrameVal:
    from .evaluate import _frame_arg
    return _frame_arg(ctx, n, i)


def _numeric(fv: FrameVal, n) -> None:
    for h, _p in fv.cols:
        if h.type.value not in _NUMERIC:
            raise _err(f"`{n.op}` needs numeric columns; column `{h.name}` is {h.type.value}.", n, column=h.name)


# ================================================================================ cor
@register_task
class CoMoments(MRTask):
    """Per pair (i of x, j of y): n, means, M2s and the co-moment over the rows used for the pair."""

    name = "munging.comoments"

    def map(self, ctx, chunk_idx, chunks, params):
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        xs = [eval_plan(p, env) for p in params["x"]]
        ys = [eval_plan(p, env) for p in params["y"]]
        kx, ky = len(xs), len(ys)
        out = {k: np.zeros((kx, ky)) for k in ("n", "mx", "my", "m2x", "m2y", "c")}
        out["nas"] = np.zeros((kx, ky))
        complete = None
        if params["use"] == "complete.obs":
            complete = np.ones(env.nrows, bool)
            for v in xs + ys:
                complete &= ~np.isnan(v)
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                m = complete if complete is not None else ~np.isnan(x) & ~np.isnan(y)
                out["nas"][i, j] = env.nrows - int(m.sum()) if complete is None else 0
                a, b = x[m], y[m]
                if not len(a):
                    continue
                ma, mb = a.mean(), b.mean()
                out["n"][i, j] = len(a)
                out["mx"][i, j], out["my"][i, j] = ma, mb
                out["m2x"][i, j] = np.sum((a - ma) ** 2)
                out["m2y"][i, j] = np.sum((b - mb) ** 2)
                out["c"][i, j] = np.sum((a - ma) * (b - mb))
        return out

    def reduce(self, a, b):
        n = a["n"] + b["n"]
        with np.errstate(all="ignore"):
            f = np.where(n > 0, b["n"] / np.maximum(n, 1), 0.0)
            dx, dy = b["mx"] - a["mx"], b["my"] - a["my"]
            return {"n": n, "nas": a["nas"] + b["nas"],
                    "mx": a["mx"] + dx * f, "my": a["my"] + dy * f,
                    "m2x": a["m2x"] + b["m2x"] + dx * dx * a["n"] * f,
                    "m2y": a["m2y"] + b["m2y"] + dy * dy * a["n"] * f,
                    "c": a["c"] + b["c"] + dx * dy * a["n"] * f}


def _op_cor(ctx, n):
    from .evaluate import _relayout
    from .values import same_layout
    x = _frame(ctx, n)
    y = _frame(ctx, n, 1) if len(n.args) == 2 else x
    use = n.params.get("use", "everything")
    if use not in ("everything", "complete.obs", "all.obs"):
        raise _err("`use` of `cor` is everything, complete.obs or all.obs.", n)
    _numeric(x, n)
    _numeric(y, n)
    if not same_layout(x.anchor, y.anchor):
        if x.nrow != y.nrow:
            raise _err(f"`cor` needs frames with the same rows; got {x.nrow} and {y.nrow}.", n)
        y = _relayout(ctx, y, x)
    params = {"x": [p for _h, p in x.cols], "y": [p for _h, p in y.cols], "use": use,
              "starts": [int(s) for s in x.anchor.starts]}
    if not x.anchor.nchunks:
        return None
    r = ctx.node.runtime.run("munging.comoments", x.anchor.key, columns=[], params=params, job=ctx.job)
    if use == "all.obs" and r["nas"].any():
        raise _err("`cor` with use=all.obs found missing values; use complete.obs or everything.", n)
    with np.errstate(all="ignore"):
        c = r["c"] / np.sqrt(r["m2x"] * r["m2y"])
    if use == "everything":
        c = np.where(r["nas"] > 0, np.nan, c)
    c = np.where(r["n"] > 1, c, np.nan)
    if c.shape == (1, 1):
        return float(c[0, 0])
    return ctx.store([ColumnData(column_header(h.name, "real"), c[:, j].copy()) for j, (h, _p) in enumerate(y.cols)])


# ================================================================================ hist
@register_task
class BinCounts(MRTask):
    """Counts of one plan's present values per bin (``edges``: right-closed, first bin closed)."""

    name = "munging.bin_counts"

    def map(self, ctx, chunk_idx, chunks, params):
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        x = eval_plan(params["plan"], env)
        edges = np.asarray(params["edges"], np.float64)
        x = x[~np.isnan(x)]
        idx = np.searchsorted(edges, x, side="left") - 1
        idx[x == edges[0]] = 0
        ok = (idx >= 0) & (idx < len(edges) - 1)
        return {"counts": np.bincount(idx[ok], minlength=len(edges) - 1).astype(np.int64)}

    def reduce(self, a, b):
        return {"counts": a["counts"] + b["counts"]}


def _op_hist(ctx, n):
    """Histogram of one numeric column: ``breaks`` = number of equal-width bins (default Sturges) or
    the edges; columns ``lower``, ``upper`` (bins are (lower, upper], the first closed),
    ``counts``, ``mids``, ``density``."""
    from .reduce import reduce_columns
    fv = _frame(ctx, n)
    if fv.ncol != 1:
        raise _err("`hist` takes a one-column frame.", n)
    _numeric(fv, n)
    breaks = n.params.get("breaks")
    if isinstance(breaks, list):
        if len(breaks) < 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in breaks) or \
                any(b2 <= b1 for b1, b2 in zip(breaks, breaks[1:])):
            raise _err("`breaks` of `hist` is a bin count or an increasing list of edges.", n)
        edges = np.asarray(breaks, np.float64)
    else:
        r = reduce_columns(ctx, fv)
        cnt = int(r["n"][0])
        if breaks is None:
            breaks = int(np.ceil(np.log2(max(cnt, 1)) + 1))  # Sturges
        if not isinstance(breaks, int) or isinstance(breaks, bool) or not 1 <= breaks <= 10_000:
            raise _err("`breaks` of `hist` is a bin count in [1, 10000] or a list of edges.", n)
        lo, hi = (float(r["min"][0]), float(r["max"][0])) if cnt else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, breaks + 1)
    counts = np.zeros(len(edges) - 1, np.int64)
    if fv.anchor.nchunks:
        counts = ctx.node.runtime.run("munging.bin_counts", fv.anchor.key, columns=[],
                                      params={"plan": fv.cols[0][1], "edges": edges,
                                              "starts": [int(s) for s in fv.anchor.starts]}, job=ctx.job)["counts"]
    width = np.diff(edges)
    total = counts.sum()
    with np.errstate(all="ignore"):
        density = np.where(total > 0, counts / (total * width), 0.0)
    z = np.zeros(len(counts), bool)
    return ctx.store([ColumnData(column_header("lower", "real"), edges[:-1].copy()),
                      ColumnData(column_header("upper", "real"), edges[1:].copy()),
                      ColumnData(column_header("counts", "int"), counts.astype(np.int64), z),
                      ColumnData(column_header("mids", "real"), (edges[:-1] + edges[1:]) / 2),
                      ColumnData(column_header("density", "real"), density.astype(np.float64))])


# ================================================================================ stratified folds
def _op_stratified_kfold(ctx, n):
    from .evaluate import _store_in_layout
    from .reorg import _seed
    fv = _frame(ctx, n)
    if fv.ncol != 1:
        raise _err("`stratified_kfold_column` takes the one-column frame of the classes.", n)
    nfolds = n.params.get("nfolds", 3)
    if not isinstance(nfolds, int) or isinstance(nfolds, bool) or nfolds < 2:
        raise _err("`nfolds` must be an integer of at least 2.", n)
    seed = _seed(n)
    y = ctx.gather(fv)[0]
    if y.type == "string":
        raise _err("`stratified_kfold_column` needs an enum or numeric class column.", n)
    cls = y.as_float()
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(cls), np.int64)
    key = np.where(np.isnan(cls), np.inf, cls)  # missing classes form one stratum
    for c in np.unique(key):
        rows = np.flatnonzero(key == c)
        folds[rows[rng.permutation(len(rows))]] = np.arange(len(rows)) % nfolds
    col = ColumnData(column_header("fold", "int"), folds, np.zeros(len(folds), bool))
    return _store_in_layout(ctx, [col], fv.anchor)


# ================================================================================ levels
def _op_set_levels(ctx, n):
    fv = _frame(ctx, n)
    levels = n.params["levels"]
    if not isinstance(levels, list) or not all(isinstance(s, str) for s in levels) or len(set(levels)) != len(levels):
        raise _err("`levels` of `set_levels` is a list of distinct strings.", n)
    cols = []
    for h, p in fv.cols:
        if h.type.value != "enum":
            raise _err(f"`set_levels` needs enum columns; `{h.name}` is {h.type.value}.", n)
        if len(levels) != len(h.domain or ()):
            raise _err(f"Column `{h.name}` has {len(h.domain or ())} levels; got {len(levels)} new ones.", n)
        cols.append((column_header(h.name, "enum", tuple(levels)), p))
    return FrameVal(fv.anchor, cols)


def _op_relevel(ctx, n):
    """Move level ``y`` first (the reference level of a model); codes are remapped."""
    fv = _frame(ctx, n)
    y = n.params["y"]
    cols = []
    for h, p in fv.cols:
        dom = list(h.domain or ()) if h.type.value == "enum" else None
        if dom is None or y not in dom:
            raise _err(f"`relevel` needs enum columns with level `{y}`; column `{h.name}` has none.", n)
        new = [y] + [d for d in dom if d != y]
        mapping = np.array([new.index(d) for d in dom], np.int32)
        cols.append((column_header(h.name, "enum", tuple(new)), ["op", "remap", [p], {"map": mapping}]))
    return FrameVal(fv.anchor, cols)


OPS = {"cor": _op_cor, "hist": _op_hist, "stratified_kfold_column": _op_stratified_kfold,
       "set_levels": _op_set_levels, "relevel": _op_relevel}
