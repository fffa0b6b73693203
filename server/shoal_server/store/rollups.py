"""Per-column rollups (min, max, mean, sd, counts, cardinality, histogram) and the chunk summary.

Computed by registered map/reduce tasks and cached per frame in the catalog's derived values (so
they vanish with the frame). Two passes, as in H2O's RollupStats:

1. ``rollups.moments``: per chunk and column, (count, mean, M2) of the finite values by two passes
   over the decoded chunk, plus finite min/max, exact int64 min/max for int/time/bool, and missing,
   zero, +inf and -inf counts. Partials merge with Chan's pairwise formula, which is numerically
   stable and, with the runtime's fixed reduction tree, gives the same bits on every run.
2. ``rollups.histogram``: counts over bins fixed from the known range: up to 20 equal-width bins
   over [min, max] (width-1 bins when an integer column spans fewer than 20 values), one bin per
   level for enums, 0/1 for bools.

Conventions: ``min``/``max``/``mean``/``sd`` are over finite values (infinities are counted in
``pinf_count``/``ninf_count``); ``sd`` is the sample standard deviation (n - 1); undefined values
are None, so the result is plain JSON. Enum and string columns have no moments.

Layering note: this module runs tasks through ``node.runtime``; it imports ``tasks`` (the layer
to its right) only for the task base class, and ``tasks`` never imports it back.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..errors import FrameNotFound
from ..tasks import MRTask, register_task
from . import codecs
from ._gcpause import gc_paused
from .frame import FrameHeader
from .layout import home_of
from .rollup_kernels import (chunk_moments, chunk_moments_int, constant_moments, histogram_counts,
                             merge_moments)

__all__ = ["compute_rollups", "rollups_view", "chunk_summary", "warm", "Moments", "Histogram", "ChunkCodecs",
           "HISTOGRAM_BINS"]

_WIDE = 1000  # columns: pause the garbage collector while building one dict per column

#: Number of equal-width bins of a numeric histogram (H2O's summary default).
HISTOGRAM_BINS = 20

_INTISH = ("int", "time", "bool")
_NUMERIC = ("int", "real", "time", "bool")
_F = ("mean", "m2", "fmin", "fmax")
_I = ("n", "missing", "zeros", "pinf", "ninf", "imin", "imax")


@register_task
class Moments(MRTask):
    """Per-column counts, finite range and (n, mean, M2) of each chunk; merged with Chan's formula."""

    name = "rollups.moments"

    def map(self, ctx, chunk_idx, chunks, params):
        cols, types = params["columns"], params["types"]
        k = len(cols)
        out = {f: np.zeros(k, np.float64) for f in _F}
        out.update({f: np.zeros(k, np.int64) for f in _I})
        out["fmin"][:], out["fmax"][:] = np.inf, -np.inf
        out["imin"][:], out["imax"][:] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        const = []  # (j, type, value, nrows) of constant chunks: no decode, one kernel call for all
        for j, (c, t) in enumerate(zip(cols, types)):
            chunk = chunks[c]
            if chunk.codec == "constant" and t != "string":
                const.append((j, t, chunk.meta["value"], chunk.nrows))
                continue
            ctx.check()
            if t == "string":
                out["missing"][j] = int(codecs.decode_strings(chunk)[2].sum())
                continue
            if t == "enum":
                out["missing"][j] = int((codecs.decode_codes(chunk) < 0).sum())
                continue
            if t in _INTISH:
                vals, na = codecs.decode_int64(chunk)
                n, mean, m2, imin, imax, n_zero = chunk_moments_int(vals, na)
                out["imin"][j], out["imax"][j] = imin, imax
                if n:
                    out["fmin"][j], out["fmax"][j] = float(imin), float(imax)
                out["missing"][j], out["zeros"][j] = chunk.nrows - n, n_zero
            else:
                n, mean, m2, fmin, fmax, n_na, n_zero, n_pinf, n_ninf = chunk_moments(codecs.decode_float64(chunk))
                out["fmin"][j], out["fmax"][j] = fmin, fmax
                out["missing"][j], out["zeros"][j], out["pinf"][j], out["ninf"][j] = n_na, n_zero, n_pinf, n_ninf
            out["n"][j], out["mean"][j], out["m2"][j] = n, mean, m2
        if const:
            _constant_moments(out, const)
        return out

    def reduce(self, a, b):
        mean, m2 = merge_moments(a["n"], a["mean"], a["m2"], b["n"], b["mean"], b["m2"])
        return {"n": a["n"] + b["n"], "mean": mean, "m2": m2,
                "fmin": np.minimum(a["fmin"], b["fmin"]), "fmax": np.maximum(a["fmax"], b["fmax"]),
                "imin": np.minimum(a["imin"], b["imin"]), "imax": np.maximum(a["imax"], b["imax"]),
                "missing": a["missing"] + b["missing"], "zeros": a["zeros"] + b["zeros"],
                "pinf": a["pinf"] + b["pinf"], "ninf": a["ninf"] + b["ninf"]}


@register_task
class Histogram(MRTask):
    """Counts per bin for each column, all columns' bins in one flat int64 array."""

    name = "rollups.histogram"

    def map(self, ctx, chunk_idx, chunks, params):
        nbins = params["nbins"]
        offsets = np.concatenate([[0], np.cumsum(nbins, dtype=np.int64)])
        counts = np.zeros(int(offsets[-1]), dtype=np.int64)
        types, los, widths = params["types"], params["lo"], params["width"]
        cells, adds = [], []  # constant chunks: one count per chunk, added at the end
        for j, c in enumerate(params["columns"]):
            nb = nbins[j]
            if nb == 0:
                continue
            chunk = chunks[c]
            if chunk.codec == "constant":
                k = _constant_bin(types[j], chunk.meta["value"], float(los[j]), float(widths[j]), int(nb))
                if k is not None:
                    cells.append(int(offsets[j]) + k)
                    adds.append(chunk.nrows)
                continue
            ctx.check()
            part = counts[offsets[j]:offsets[j + 1]]
            if types[j] == "enum":
                codes = codecs.decode_codes(chunk)
                part += np.bincount(codes[codes >= 0], minlength=nb)[:nb]
            else:
                histogram_counts(codecs.decode_float64(chunk), float(los[j]), float(widths[j]), int(nb), part)
        if cells:
            np.add.at(counts, np.asarray(cells, dtype=np.int64), np.asarray(adds, dtype=np.int64))
        return {"counts": counts}

    def reduce(self, a, b):
        return {"counts": a["counts"] + b["counts"]}


@register_task
class ChunkCodecs(MRTask):
    """Per codec: chunk count and bytes; per chunk index (str key): [compressed, raw] bytes."""

    name = "rollups.chunk_codecs"

    def map(self, ctx, chunk_idx, chunks, params):
        per_codec: dict[str, list[int]] = {}
        total = raw = 0
        for chunk in chunks.values():
            nbytes = chunk.nbytes
            entry = per_codec.get(chunk.codec)
            if entry is None:
                entry = per_codec[chunk.codec] = [0, 0]
            entry[0] += 1
            entry[1] += nbytes
            total += nbytes
            raw += chunk.raw_nbytes
        return {"codecs": per_codec, "chunks": {str(chunk_idx): [total, raw]}}

    def reduce(self, a, b):
        merged = {k: list(v) for k, v in a["codecs"].items()}
        for k, (n, nbytes) in b["codecs"].items():
            entry = merged.setdefault(k, [0, 0])
            entry[0] += n
            entry[1] += nbytes
        return {"codecs": merged, "chunks": {**a["chunks"], **b["chunks"]}}


def _constant_moments(out: dict, const: list) -> None:
    """Fill ``out`` for constant chunks exactly as the kernels would on the decoded values."""
    js = np.array([e[0] for e in const], dtype=np.int64)
    nrows = np.array([e[3] for e in const], dtype=np.int64)
    numeric = [e[2] is not None and e[1] != "enum" for e in const]
    vals = np.array([float(e[2]) if num else np.nan for e, num in zip(const, numeric)], dtype=np.float64)
    mean = np.zeros(len(const), np.float64)
    m2 = np.zeros(len(const), np.float64)
    constant_moments(vals, nrows, mean, m2)
    n = np.zeros(len(const), np.int64)
    for i, (j, t, value, r) in enumerate(const):
        if t == "enum":
            out["missing"][j] = r if value is None else 0
            continue
        if value is None:
            out["missing"][j] = r
            continue
        if t in _INTISH:
            n[i] = r
            if r:
                out["imin"][j] = out["imax"][j] = int(value)
                out["fmin"][j] = out["fmax"][j] = float(value)
            out["zeros"][j] = r if value == 0 else 0
            continue
        v = float(value)
        if v == math.inf:
            out["pinf"][j] = r
        elif v == -math.inf:
            out["ninf"][j] = r
        else:
            n[i] = r
            out["zeros"][j] = r if v == 0.0 else 0
            if r:
                out["fmin"][j] = out["fmax"][j] = v
    out["n"][js] = n
    out["mean"][js] = mean
    out["m2"][js] = m2


def _constant_bin(t: str, value, lo: float, width: float, nbins: int):
    """The bin every row of a constant chunk falls in (as ``histogram_counts``), or None (missing)."""
    if value is None:
        return None
    if t == "enum":
        return int(value) if 0 <= int(value) < nbins else None
    v = float(value)
    if v != v or abs(v) == math.inf:
        return None
    q = (v - lo) / width
    if q >= nbins:
        return nbins - 1
    return int(q) if q > 0.0 else 0


def _bins(t: str, column, m: dict, j: int) -> tuple[float, float, int]:
    """(lo, width, nbins) of column ``j``'s histogram; nbins 0 = no histogram.

    Bin k covers ``[lo + k*width, lo + (k+1)*width)``; the last bin also holds the maximum.
    """
    if t == "enum":
        return 0.0, 1.0, len(column.domain or ())
    if t == "bool":
        return 0.0, 1.0, 2
    if t not in _NUMERIC or m["n"][j] == 0:
        return 0.0, 1.0, 0
    lo, hi = float(m["fmin"][j]), float(m["fmax"][j])
    if t in _INTISH and hi - lo < HISTOGRAM_BINS:
        return lo, 1.0, int(hi - lo) + 1
    if hi == lo:
        return lo, 1.0, 1
    width = (hi - lo) / HISTOGRAM_BINS
    if not math.isfinite(width):  # a span beyond the float range
        width = hi / HISTOGRAM_BINS - lo / HISTOGRAM_BINS
    if not math.isfinite(width) or width <= 0.0:
        return lo, 1.0, 1
    return lo, width, HISTOGRAM_BINS


def _num(x):
    """A JSON-safe float (None for NaN/inf)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _breaks(lo: float, width: float, nbins: int, hi: float) -> list[float]:
    """Bin edges; the last edge of equal-width bins over [min, max] is exactly max."""
    if nbins == 1 and math.isfinite(lo) and math.isfinite(lo + width):  # constant columns (wide frames)
        return [lo + 0 * width, lo + width]
    edges = [lo + i * width for i in range(nbins + 1)]
    if nbins == HISTOGRAM_BINS and width != 1.0:
        edges[-1] = hi
    for i, e in enumerate(edges):
        if not math.isfinite(e):  # i * width overflowed: a span near the float range
            edges[i] = lo * (1.0 - i / nbins) + hi * (i / nbins)
    return edges


def _column_rollup(column, m: dict, j: int, nrow: int, lo: float, width: float, counts, t: str) -> dict:
    missing = int(m["missing"][j])
    numeric = t in _NUMERIC
    r = {"name": column.name, "type": t, "min": None, "max": None, "mean": None, "sd": None,
         "missing_count": missing, "zero_count": int(m["zeros"][j]) if numeric else None,
         "pinf_count": int(m["pinf"][j]) if numeric else 0, "ninf_count": int(m["ninf"][j]) if numeric else 0,
         "nonmissing_count": nrow - missing, "cardinality": column.cardinality, "histogram": None}
    if numeric:
        n = int(m["n"][j])
        if n > 0:
            if t in _INTISH:
                r["min"], r["max"] = int(m["imin"][j]), int(m["imax"][j])
            else:
                r["min"], r["max"] = _num(m["fmin"][j]), _num(m["fmax"][j])
            r["mean"] = _num(m["mean"][j])
            r["sd"] = _num(math.sqrt(max(float(m["m2"][j]), 0.0) / (n - 1))) if n > 1 else None
    if counts is not None:
        counts = [int(c) for c in counts]
        if t == "enum":
            r["histogram"] = {"levels": list(column.domain or ()), "counts": counts}
        else:
            r["histogram"] = {"breaks": _breaks(lo, width, len(counts), float(m["fmax"][j])), "counts": counts}
    return r


def _frame(node, key: str) -> FrameHeader:
    header = node.catalog.get(key)
    if not isinstance(header, FrameHeader):
        raise FrameNotFound(f"`{key}` is not a frame.", {"key": str(key)})
    return header


def compute_rollups(node, frame_key: str, job=None) -> list[dict]:
    """Rollups of every column of ``frame_key`` (a copy the caller may change); see :func:`rollups_view`."""
    view = rollups_view(node, frame_key, job)
    with gc_paused(len(view) >= _WIDE):
        return _copy(view)


def rollups_view(node, frame_key: str, job=None) -> list[dict]:
    """Rollups of every column of ``frame_key`` (one JSON-able dict per column), cached per frame.

    Keys: name, type, min, max, mean, sd, missing_count, zero_count, pinf_count, ninf_count,
    nonmissing_count, cardinality, histogram (``{"breaks", "counts"}``; enums ``{"levels",
    "counts"}``; None for strings and all-missing columns).

    The list returned is the cached one, shared: read it, never change it (JSON views of a wide
    frame skip the copy :func:`compute_rollups` makes).
    """
    header = _frame(node, frame_key)
    cached = node.catalog.derived(frame_key).get("rollups")
    if cached is not None:
        return cached
    with gc_paused(header.ncol >= _WIDE):
        return _compute(node, frame_key, header, job)


def _compute(node, frame_key: str, header: FrameHeader, job) -> list[dict]:
    cols = list(range(header.ncol))
    types = [c.type.value for c in header.columns]
    params = {"columns": cols, "types": types}
    m = node.runtime.run(Moments.name, frame_key, columns=cols, params=params, job=job)
    if m is None:  # a frame without chunks
        k = len(cols)
        m = {f: np.zeros(k) for f in _F + _I}
    m = {f: np.asarray(v).tolist() for f, v in m.items()}  # Python numbers: cheap to index per column
    bins = [_bins(t, header.columns[j], m, j) for j, t in enumerate(types)]
    nbins = [b[2] for b in bins]
    counts = None
    if any(nbins) and header.nchunks:
        hist_params = dict(params, lo=[b[0] for b in bins], width=[b[1] for b in bins], nbins=nbins)
        counts = node.runtime.run(Histogram.name, frame_key, columns=cols, params=hist_params, job=job)["counts"]
    offsets = np.concatenate([[0], np.cumsum(nbins, dtype=np.int64)]).tolist()
    nrow = header.nrow
    counts = counts.tolist() if counts is not None else None
    result = []
    for j, col in enumerate(header.columns):
        col_counts = None
        if nbins[j]:
            col_counts = counts[offsets[j]:offsets[j + 1]] if counts is not None else [0] * nbins[j]
        result.append(_column_rollup(col, m, j, nrow, bins[j][0], bins[j][1], col_counts, types[j]))
    node.catalog.cache_derived(frame_key, "rollups", result, header)
    return result


def _copy(rollups: list[dict]) -> list[dict]:
    """A deep copy of rollup dicts (flat values plus a histogram dict of lists); ``copy.deepcopy``
    costs ~100 µs per column, which a wide frame cannot afford."""
    out = []
    for r in rollups:
        d = dict(r)
        h = d.get("histogram")
        if h is not None:
            d["histogram"] = {k: list(v) if isinstance(v, list) else copy.deepcopy(v) for k, v in h.items()}
        out.append(d)
    return out


def chunk_summary(node, frame_key: str, job=None) -> dict:
    """Encodings and sizes of a frame's chunks: per codec, per node, and compressed vs raw bytes."""
    header = _frame(node, frame_key)
    nch = header.nchunks
    res = None
    if nch and header.ncol:
        res = node.runtime.run(ChunkCodecs.name, frame_key, job=job)
    per_codec = res["codecs"] if res else {}
    sizes = res["chunks"] if res else {}
    nbytes = np.array([sizes.get(str(i), [0, 0])[0] for i in range(nch)], dtype=np.int64)
    raw = np.array([sizes.get(str(i), [0, 0])[1] for i in range(nch)], dtype=np.int64)
    rows = header.chunk_nrows()
    nodes: dict[str, dict] = {}
    for i in range(nch):
        member = home_of(i, header.members)
        entry = nodes.setdefault(member, {"node": member, "chunks": 0, "rows": 0, "bytes": 0})
        entry["chunks"] += 1
        entry["rows"] += int(rows[i])
        entry["bytes"] += int(nbytes[i])
    compressed, raw_total = int(nbytes.sum()), int(raw.sum())
    return {
        "frame": frame_key, "nrow": header.nrow, "ncol": header.ncol, "nchunks": nch,
        "codecs": [{"codec": k, "chunks": int(v[0]), "bytes": int(v[1])} for k, v in sorted(per_codec.items())],
        "nodes": [nodes[k] for k in sorted(nodes)],
        "compressed_bytes": compressed, "raw_bytes": raw_total,
        "compression_ratio": (raw_total / compressed) if compressed else None,
    }


def warm() -> None:
    """Compile (or load from numba's cache) the rollup kernels."""
    x = np.array([1.0, np.nan, np.inf, 0.0])
    chunk_moments(x)
    chunk_moments_int(np.array([1, 2], dtype=np.int64), np.array([False, True]))
    histogram_counts(x, 0.0, 1.0, 2, np.zeros(2, np.int64))
    constant_moments(x, np.array([1, 2, 0, 3], dtype=np.int64), np.zeros(4), np.zeros(4))
