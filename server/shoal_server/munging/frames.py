"""Writing munging results as frames, all or nothing, and gathering columns at the coordinator.

Technical note (publishing). Result chunks are written into each node's chunk store under a
private *staging* key (``<dest>.staging.<hex>``), never under the destination key. Only when every
chunk of every node is written does :func:`publish` move the staging chunks to the destination on
every member (``tasks.frames.publish``, shared with the models) and register the header
in the catalog (and broadcast it to the other members). Any failure before that drops the staging
chunks everywhere (:func:`discard`), so no partial frame is ever visible.

Chunks passed through unchanged are not copied: the staging entry refers to the same immutable
``Chunk`` object as the source frame (chunks are never mutated, so sharing is safe). The chunk
store currently counts such a shared chunk once per frame that refers to it (see the report /
``docs/munging.md``: a reference-counted store would count it once).
"""
from __future__ import annotations

import threading
import time

import numpy as np

from ..errors import InvalidParameter
from ..store import codecs
from ..store.frame import ColumnHeader, FrameHeader
from ..store.layout import home_of, starts_from_nrows
from ..tasks import MRTask, register_task
from ..tasks.frames import delete_frame, discard, publish, staging_key  # noqa: F401  (re-exported)
from .chunkeval import ChunkEnv, output_chunk, row_selection

__all__ = ["materialize", "gather", "store_columns", "publish", "discard", "staging_key", "ColumnData",
           "OUTPUT_CHUNK_ROWS", "delete_frame"]

#: Rows per chunk of frames written from gathered data (sort, merge, group_by output, ...).
OUTPUT_CHUNK_ROWS = 1 << 16


# ================================================================================ materialize (map)
@register_task
class Materialize(MRTask):
    """Evaluate column plans on each chunk, write the result chunks under the staging key.

    params: ``staging``, ``plans`` (one per output column), ``types``, ``rows`` (row selection or
    None), ``starts`` (the anchor layout). Partial: ``{"rows": int64[1]}`` per chunk.
    """

    name = "munging.materialize"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        keep = row_selection(params["rows"], env)
        items = [(c, chunk_idx, output_chunk(plan, t, env, keep))
                 for c, (plan, t) in enumerate(zip(params["plans"], params["types"]))]
        nrows = env.nrows if keep is None else len(keep)
        for _c, _i, ch in items:
            if ch.nrows != nrows:
                raise InvalidParameter("Columns of one frame have different row counts in a chunk.", {})
        ctx.node.chunks.put_many(params["staging"], items)
        return {"rows": np.array([nrows], np.int64)}

    def reduce(self, a, b):
        return {"rows": np.concatenate([a["rows"], b["rows"]])}


def materialize(node, anchor: FrameHeader, dest: str, columns: list[tuple[ColumnHeader, list]],
                rows=None, job=None) -> FrameHeader:
    """Evaluate ``columns`` (``(ColumnHeader, plan)``) over ``anchor``'s layout into frame ``dest``."""
    staging = staging_key(dest)
    params = {"staging": staging, "plans": [p for _h, p in columns], "types": [h.type.value for h, _p in columns],
              "rows": rows, "starts": [int(s) for s in anchor.starts]}
    try:
        if anchor.nchunks == 0:
            counts = np.zeros(0, np.int64)
        else:
            res = node.runtime.run("munging.materialize", anchor.key, columns=[], params=params, job=job)
            counts = res["rows"]
        starts = anchor.starts if rows is None else starts_from_nrows(counts)
        header = FrameHeader(dest, tuple(h for h, _p in columns), starts, anchor.members, int(time.time() * 1000))
        return publish(node, staging, header)
    except BaseException:
        discard(node, staging, anchor.members)
        raise


# ================================================================================ gather
class ColumnData:
    """One whole column at the coordinator: ``header`` + values.

    ``values``: float64 (real; NaN missing), int64 + ``na`` (int, time, bool), int32 codes (enum;
    -1 missing), or ``(offsets, data)`` + ``na`` (string).
    """

    __slots__ = ("header", "values", "na")

    def __init__(self, header: ColumnHeader, values, na=None):
        self.header = header
        self.values = values
        self.na = na

    @property
    def type(self) -> str:
        return self.header.type.value

    def __len__(self) -> int:
        if self.type == "string":
            return len(self.values[0]) - 1
        return len(self.values)

    def as_float(self) -> np.ndarray:
        """float64 values, NaN missing (enum: codes)."""
        t = self.type
        if t == "real":
            return self.values
        if t == "enum":
            out = self.values.astype(np.float64)
            out[self.values < 0] = np.nan
            return out
        if t == "string":
            raise InvalidParameter(f"String column `{self.header.name}` has no numeric values.",
                                   {"column": self.header.name})
        out = self.values.astype(np.float64)
        out[self.na] = np.nan
        return out

    def missing(self) -> np.ndarray:
        t = self.type
        if t == "real":
            return np.isnan(self.values)
        if t == "enum":
            return self.values < 0
        return self.na

    def take(self, idx: np.ndarray) -> "ColumnData":
        """Rows ``idx``; a -1 in ``idx`` gives a missing value (outer joins)."""
        idx = np.asarray(idx, dtype=np.int64)
        t = self.type
        if len(self) == 0 and len(idx):
            return _all_missing(self.header, len(idx))
        if not len(idx) or idx.min() >= 0:  # no outer-join holes: a plain gather
            if t == "string":
                from .kernels import take_strings
                o, d = take_strings(self.values[0], self.values[1], idx)
                return ColumnData(self.header, (o, d), self.na[idx])
            return ColumnData(self.header, self.values[idx], None if self.na is None else self.na[idx])
        miss = idx < 0
        safe = np.where(miss, 0, idx)
        if t == "string":
            from .kernels import take_strings
            o, d = take_strings(self.values[0], self.values[1], safe)
            return ColumnData(self.header, (o, d), self.na[safe] | miss)
        if t == "real":
            v = self.values[safe]
            v[miss] = np.nan
            return ColumnData(self.header, v)
        if t == "enum":
            v = self.values[safe]
            v[miss] = -1
            return ColumnData(self.header, v)
        return ColumnData(self.header, self.values[safe], self.na[safe] | miss)


def _all_missing(header: ColumnHeader, n: int) -> ColumnData:
    t = header.type.value
    if t == "real":
        return ColumnData(header, np.full(n, np.nan))
    if t == "enum":
        return ColumnData(header, np.full(n, -1, np.int32))
    if t == "string":
        return ColumnData(header, (np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)), np.ones(n, bool))
    return ColumnData(header, np.zeros(n, np.int64), np.ones(n, bool))


def _chunk_parts(chunk, t: str) -> dict:
    if t == "string":
        o, d, na = codecs.decode_strings(chunk)
        return {"o": np.ascontiguousarray(o), "d": np.ascontiguousarray(d), "na": na}
    if t == "enum":
        return {"v": codecs.decode_codes(chunk)}
    if t == "real":
        return {"v": codecs.decode_float64(chunk)}
    v, na = codecs.decode_int64(chunk)
    return {"v": v, "na": na}


@register_task
class Fetch(MRTask):
    """Bring whole columns (plans) to the coordinator. Partial: ``{"parts": [per-chunk dict]}``."""

    name = "munging.fetch"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        keep = row_selection(params["rows"], env)
        part = {}
        for c, (plan, t) in enumerate(zip(params["plans"], params["types"])):
            ch = output_chunk(plan, t, env, keep)
            for k, v in _chunk_parts(ch, t).items():
                part[f"{c}.{k}"] = v
        return {"parts": [part]}

    def reduce(self, a, b):
        return {"parts": a["parts"] + b["parts"]}


def _concat(parts: list[dict], c: int, header: ColumnHeader) -> ColumnData:
    t = header.type.value
    if t == "string":
        offs, datas, nas, base = [np.zeros(1, np.int64)], [], [], 0
        for p in parts:
            o = p[f"{c}.o"]
            offs.append(o[1:] - o[0] + base)
            base += int(o[-1] - o[0])
            datas.append(p[f"{c}.d"][o[0]:o[-1]])
            nas.append(p[f"{c}.na"])
        return ColumnData(header, (np.concatenate(offs), np.concatenate(datas) if datas else np.zeros(0, np.uint8)),
                          np.concatenate(nas) if nas else np.zeros(0, bool))
    v = np.concatenate([p[f"{c}.v"] for p in parts]) if parts else np.zeros(0, {"real": np.float64,
                                                                                "enum": np.int32}.get(t, np.int64))
    if t in ("real", "enum"):
        return ColumnData(header, v)
    na = np.concatenate([p[f"{c}.na"] for p in parts]) if parts else np.zeros(0, bool)
    return ColumnData(header, v, na)


def gather(node, anchor: FrameHeader, columns: list[tuple[ColumnHeader, list]], rows=None,
           job=None) -> list[ColumnData]:
    """Whole columns (``(ColumnHeader, plan)`` over ``anchor``'s layout) at the coordinator."""
    params = {"plans": [p for _h, p in columns], "types": [h.type.value for h, _p in columns], "rows": rows,
              "starts": [int(s) for s in anchor.starts]}
    parts = []
    if anchor.nchunks:
        parts = node.runtime.run("munging.fetch", anchor.key, columns=[], params=params, job=job)["parts"]
    return [_concat(parts, c, h) for c, (h, _p) in enumerate(columns)]


# ================================================================================ store
def _encode_slice(col: ColumnData, a: int, b: int):
    t = col.type
    if t == "string":
        o, d = col.values
        oo = o[a:b + 1]
        return codecs.encode("string", (oo - oo[0], d[oo[0]:oo[-1]]), col.na[a:b])
    if t == "enum":
        return codecs.encode("enum", np.ascontiguousarray(col.values[a:b]))
    if t == "real":
        v = np.ascontiguousarray(col.values[a:b])
        return codecs.encode("real", v, np.isnan(v))
    v = np.ascontiguousarray(col.values[a:b])
    na = np.ascontiguousarray(col.na[a:b])
    if t == "bool":
        v = v.astype(np.uint8)
    return codecs.encode(t, np.where(na, 0, v), na)


def store_columns(node, dest: str, columns: list[ColumnData], chunk_rows: int | None = None,
                  rows: np.ndarray | None = None) -> FrameHeader:
    """Write whole columns as frame ``dest``, chunks placed over the node's members (all or nothing).

    ``rows`` (int64, optional): write rows ``rows`` of the columns (a permutation or selection);
    each chunk takes its rows while it is encoded, in the compute pool."""
    members = node.runtime.members()
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
    nrow = (len(columns[0]) if rows is None else len(rows)) if columns else 0
    if any(len(c) != len(columns[0]) for c in columns):
        raise InvalidParameter("Columns of one frame must have the same length.", {})
    per = max(1, int(chunk_rows or OUTPUT_CHUNK_ROWS))
    bounds = list(range(0, nrow, per)) + [nrow] if nrow else [0, 0]
    staging = staging_key(dest)
    try:
        def encode(i: int) -> list:
            a, b = bounds[i], bounds[i + 1]
            if rows is not None:
                return [(c, i, _encode_slice(col.take(rows[a:b]), 0, b - a)) for c, col in enumerate(columns)]
            return [(c, i, _encode_slice(col, a, b)) for c, col in enumerate(columns)]

        nch = len(bounds) - 1
        if nch > 1 and not threading.current_thread().name.startswith("shoal-compute"):
            encoded = [items for _i, items in node.runtime.map_local(encode, range(nch))]  # the compute pool
        else:  # already on a compute thread: waiting on the pool from here could starve it
            encoded = [encode(i) for i in range(nch)]
        by_member: dict[str, list] = {}
        for i, items in enumerate(encoded):
            by_member.setdefault(home_of(i, members), []).extend(items)
        for member, items in by_member.items():
            if member == node.self_id:
                node.chunks.put_many(staging, items)
            else:
                node.cluster.put_chunks(member, staging, items)
        header = FrameHeader(dest, tuple(c.header for c in columns), np.asarray(bounds, np.int64), tuple(members),
                             int(time.time() * 1000))
        return publish(node, staging, header)
    except BaseException:
        discard(node, staging, members)
        raise
