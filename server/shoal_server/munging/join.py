"""The distributed merge: the right side is gathered once, the left side is joined where it lives.

Technical note (how ``merge`` runs). When every key pair is numeric/numeric or enum/enum and the
right side's keys are integral (enum keys: their codes), the coordinator gathers the right frame
(``frames.gather``) and turns its key tuples into int64 codes (key 0 most significant, each key's
range taken from the right side only: a left value outside it, non-integral or missing can never
match, so it gets code -1). The right rows are bucketed by code with a counting sort: the code is
the bucket when the code span is at most a few times the row count (direct addressing), else the
distinct codes get bucket ids through an open-addressing hash table (``hash_assign``) that travels
with the buckets; when no bucket holds two rows, a plain bucket -> row table replaces the counting
sort (``unique_rows``, ``probe_unique``). One map pass (``munging.join_probe``) then runs on every chunk of the left frame
where it lives: the chunk's key codes (enum keys of the left side first go to the right side's
level codes, by level text), the buckets they hit (``probe_pairs``: each left row with its right
matches in right order, or alone with ``all_x``), and the output chunk of every result column,
written under a staging key at the left chunk's index (left columns taken from the chunk, as
encoded entries where the codec allows it, ``take_rows``, or shared when every row matched once;
right columns from the right side's values that came with the task, encoded once at the
coordinator when the right side is small). So the result keeps the left
frame's chunk count and homes; no left payload travels and nothing is re-encoded at the
coordinator. With ``all_y`` the pass also returns the buckets each chunk hit, and the right rows
of the buckets nobody hit (and the right rows with a missing key) are appended, in right order, as
extra chunks written at the coordinator. Row order is therefore the documented one: left rows in
order, each with its matches in right order, then the unmatched right rows.

Other keys (strings, enum against string, non-integral numbers on the right side) take the
gathering path in ``reorg._merge_gathered``.
"""
from __future__ import annotations

import time

import numba as nb
import numpy as np

from ..store import codecs
from ..store.chunk import Chunk
from ..store.layout import home_of, starts_from_nrows
from ..tasks import MRTask, register_task
from .chunkeval import ChunkEnv, eval_plan, output_chunk, take_chunk
from .frames import OUTPUT_CHUNK_ROWS, ColumnData, _all_missing, _encode_slice, discard, publish, staging_key
from .values import FrameVal, column_header

__all__ = ["value_range", "tuple_codes", "hash_assign", "codes_to_buckets", "bucket_rows", "unique_rows",
           "probe_pairs", "probe_unique", "take_text", "take_rows", "JoinSide", "build_side", "distributed_merge",
           "warm_up", "DENSE_FACTOR", "ENCODED_RIGHT_ROWS"]

_JIT = dict(nogil=True, cache=True)

#: Direct addressing of the right side's codes when their span is at most this many times its rows.
DENSE_FACTOR = 4


# ============================================================================================ kernels
@nb.njit(**_JIT)
def value_range(x, out):
    """IN x float64[n]; OUT out float64[3] updated in place: [min, max, non-integral count] of the
    present values (±inf and values beyond 2**53 count as non-integral; NaN is skipped)."""
    lo = out[0]
    hi = out[1]
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            continue
        if not (abs(v) < 9007199254740992.0) or v != np.floor(v):
            bad += 1
            continue
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    out[0] = lo
    out[1] = hi
    out[2] += bad
    return 0


@nb.njit(**_JIT)
def tuple_codes(keys, los, his, mult, out):
    """One int64 code per row of a key tuple, -1 when a key is missing, non-integral or outside
    [``los[q]``, ``his[q]``] (such a row can match nothing).

    IN keys float64[nk, n]; los, his float64[nk]; mult int64[nk] (key q's weight: the product of
    the later keys' value counts); OUT out int64[n].
    """
    nk, n = keys.shape
    for i in range(n):
        c = np.int64(0)
        ok = True
        for q in range(nk):
            v = keys[q, i]
            if not (v >= los[q] and v <= his[q]) or v != np.floor(v):  # NaN fails the first test
                ok = False
                break
            c += np.int64(v - los[q]) * mult[q]
        out[i] = c if ok else -1
    return 0


@nb.njit(**_JIT)
def _slot(k, mask):
    h = np.uint64(k)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@nb.njit(**_JIT)
def hash_assign(codes, cap, bucket):
    """Bucket ids of non-negative int64 codes in order of first appearance, by open addressing.

    IN codes int64[n] (-1: no bucket); cap int (a power of two above twice the distinct codes);
    OUT bucket int64[n] (-1 for code -1). Returns (slots int64[cap]: the code in each slot, -1 empty;
    ids int64[cap]: its bucket id; the bucket count).
    """
    slots = np.full(cap, -1, np.int64)
    ids = np.zeros(cap, np.int64)
    mask = cap - 1
    nb_ = 0
    for i in range(codes.shape[0]):
        k = codes[i]
        if k < 0:
            bucket[i] = -1
            continue
        h = _slot(k, mask)
        while slots[h] != -1 and slots[h] != k:
            h = (h + 1) & mask
        if slots[h] == -1:
            slots[h] = k
            ids[h] = nb_
            nb_ += 1
        bucket[i] = ids[h]
    return slots, ids, nb_


@nb.njit(**_JIT)
def codes_to_buckets(codes, hashed, slots, ids, out):
    """IN codes int64[n] (-1: none); hashed bool (False: the code is the bucket); slots, ids (from
    ``hash_assign``); OUT out int64[n]: the bucket of each code, -1 when it has none."""
    cap = slots.shape[0]
    mask = cap - 1
    for i in range(codes.shape[0]):
        k = codes[i]
        if k < 0:
            out[i] = -1
        elif not hashed:
            out[i] = k
        elif cap == 0:
            out[i] = -1
        else:
            h = _slot(k, mask)
            b = -1
            while slots[h] != -1:
                if slots[h] == k:
                    b = ids[h]
                    break
                h = (h + 1) & mask
            out[i] = b
    return 0


@nb.njit(**_JIT)
def bucket_rows(bucket, nbuckets):
    """Counting sort of rows by bucket (-1 rows left out). Returns (start int64[nbuckets + 1],
    rows int64[...]): the rows of bucket b, ascending, are ``rows[start[b]:start[b + 1]]``."""
    start = np.zeros(nbuckets + 1, np.int64)
    for j in range(bucket.shape[0]):
        if bucket[j] >= 0:
            start[bucket[j] + 1] += 1
    for b in range(nbuckets):
        start[b + 1] += start[b]
    rows = np.empty(start[nbuckets], np.int64)
    pos = start[:nbuckets].copy()
    for j in range(bucket.shape[0]):
        b = bucket[j]
        if b >= 0:
            rows[pos[b]] = j
            pos[b] += 1
    return start, rows


@nb.njit(**_JIT)
def unique_rows(bucket, nbuckets):
    """The right row of each bucket when no bucket holds two rows. Returns (row_of int64[nbuckets]
    (-1: empty), True), or (a partial array, False) at the first bucket with a second row."""
    row_of = np.full(nbuckets, -1, np.int64)
    for j in range(bucket.shape[0]):
        b = bucket[j]
        if b >= 0:
            if row_of[b] >= 0:
                return row_of, False
            row_of[b] = j
    return row_of, True


@nb.njit(**_JIT)
def probe_unique(bx, row_of, all_x):
    """``probe_pairs`` when every bucket holds at most one right row: IN row_of int64[nbuckets]
    (the bucket's right row, -1 none); one lookup per left row."""
    n = bx.shape[0]
    m = 0
    for i in range(n):
        b = bx[i]
        if (b >= 0 and row_of[b] >= 0) or all_x:
            m += 1
    left = np.empty(m, np.int64)
    right = np.empty(m, np.int64)
    k = 0
    for i in range(n):
        b = bx[i]
        r = row_of[b] if b >= 0 else -1
        if r >= 0 or all_x:
            left[k] = i
            right[k] = r
            k += 1
    return left, right


@nb.njit(**_JIT)
def probe_pairs(bx, start, rows, all_x):
    """Row pairs of one left chunk: each left row in order with its right rows (bucket order =
    right order), or with right -1 when it has none and ``all_x``.

    IN bx int64[n] (each left row's bucket, -1 none); start, rows (``bucket_rows``). Returns
    (left int64[m] positions in the chunk, right int64[m] right rows or -1).
    """
    n = bx.shape[0]
    m = 0
    for i in range(n):
        b = bx[i]
        c = start[b + 1] - start[b] if b >= 0 else 0
        if c > 0:
            m += c
        elif all_x:
            m += 1
    left = np.empty(m, np.int64)
    right = np.empty(m, np.int64)
    k = 0
    for i in range(n):
        b = bx[i]
        c = start[b + 1] - start[b] if b >= 0 else 0
        if c > 0:
            for p in range(start[b], start[b + 1]):
                left[k] = i
                right[k] = rows[p]
                k += 1
        elif all_x:
            left[k] = i
            right[k] = -1
            k += 1
    return left, right


@nb.njit(**_JIT)
def take_text(offsets, data, idx):
    """Strings ``idx`` (any order, repeats; -1 gives an empty string) of (``offsets``, ``data``).

    Returns (offsets int64[m + 1], data uint8[]). The reads are independent loads in short loops
    (the starts first, then per block of rows one byte of each string before the copy), so a
    random ``idx`` over a large right side overlaps its cache misses instead of paying them one
    after another in the copy loop.
    """
    m = idx.shape[0]
    src = np.zeros(m, np.int64)
    off = np.zeros(m + 1, np.int64)
    for k in range(m):
        r = idx[k]
        if r >= 0:
            src[k] = offsets[r]
    for k in range(m):
        r = idx[k]
        if r >= 0:
            off[k + 1] = offsets[r + 1] - src[k]
    for k in range(m):
        off[k + 1] += off[k]
    out = np.empty(off[m], np.uint8)
    touch = 0
    for b0 in range(0, m, 1024):
        b1 = min(m, b0 + 1024)
        for k in range(b0, b1):
            if off[k + 1] > off[k]:
                touch += data[src[k]]
        for k in range(b0, b1):
            a = src[k]
            p = off[k]
            for q in range(off[k + 1] - p):
                out[p + q] = data[a + q]
    return off, out, touch


def warm_up() -> None:
    """Compile (or load from the cache) every kernel once on tiny inputs."""
    r = np.array([np.inf, -np.inf, 0.0])
    value_range(np.array([1.0, np.nan]), r)
    out = np.empty(2, np.int64)
    tuple_codes(np.array([[1.0, 2.0]]), np.array([1.0]), np.array([2.0]), np.array([1], np.int64), out)
    b = np.empty(2, np.int64)
    slots, ids, nb_ = hash_assign(out, 8, b)
    codes_to_buckets(out, True, slots, ids, b)
    start, rows = bucket_rows(b, nb_)
    probe_pairs(b, start, rows, True)
    probe_unique(b, unique_rows(b, nb_)[0], True)
    take_text(np.array([0, 1], np.int64), np.array([65], np.uint8), np.array([-1, 0], np.int64))


# ============================================================================================ taking rows of chunks
#: Codecs that store one fixed-width entry per row in their only buffer, with ``meta`` independent
#: of the rows (a bias, a scale): any subset of the entries is a valid chunk of the same codec.
_ROW_CODECS = ("biased_int", "scaled_decimal", "float32", "float64", "categorical")


def take_rows(chunk: Chunk, idx: np.ndarray) -> Chunk:
    """Rows ``idx`` of ``chunk`` (any order, repeats allowed), type and values kept exactly.

    Row-entry codecs and constants are taken without decoding (the encoded entries are taken,
    the ``meta`` kept): no pass through the encoding ladder per result chunk. Other codecs are
    decoded, taken and re-encoded (``chunkeval.take_chunk``).
    """
    if chunk.codec in _ROW_CODECS and len(chunk.buffers) == 1:
        return Chunk(chunk.codec, int(len(idx)), (chunk.buffers[0][idx],), dict(chunk.meta))
    if chunk.codec == "constant":
        return Chunk(chunk.codec, int(len(idx)), (), dict(chunk.meta))
    return take_chunk(chunk, idx)


def _output_chunk(plan, coltype: str, env: ChunkEnv, keep: np.ndarray) -> Chunk:
    """``chunkeval.output_chunk`` with a row selection, taking stored chunks with ``take_rows``;
    every row kept in order shares the chunk itself."""
    if plan[0] in ("ref", "str"):
        ch = env.chunk(plan[1], plan[2])
        if ch.meta.get("type") == coltype:
            if len(keep) == ch.nrows and (not len(keep) or (keep[0] == 0 and keep[-1] == len(keep) - 1
                                                            and bool(np.all(np.diff(keep) == 1)))):
                return ch
            return take_rows(ch, keep)
    return output_chunk(plan, coltype, env, keep)


# ============================================================================================ the right side
class JoinSide:
    """The right side of a merge, ready to probe: key geometry, buckets, and its rows' bucket."""

    __slots__ = ("los", "his", "mult", "hashed", "slots", "ids", "start", "rows", "bucket", "nbuckets", "row_of")

    def lookup(self) -> dict:
        """The arrays a probing map needs (task parameters): with unique keys on the right side
        (``row_of`` set) one row per bucket, else the counting sort ``start``/``rows``."""
        out = {"los": self.los, "his": self.his, "mult": self.mult, "hashed": bool(self.hashed),
               "slots": self.slots, "ids": self.ids}
        if self.row_of is not None:
            out["row_of"] = self.row_of
        else:
            out["start"], out["rows"] = self.start, self.rows
        return out


def build_side(keys: list[np.ndarray], nrows: int) -> JoinSide | None:
    """Buckets of the right side's rows from their key values (float64, NaN missing; enum keys as
    codes). None when a key has non-integral values or the code span passes 2**62 (the gathering
    path then runs)."""
    side = JoinSide()
    los, his, radix = [], [], []
    for k in keys:
        r = np.array([np.inf, -np.inf, 0.0])
        value_range(np.ascontiguousarray(k, dtype=np.float64), r)
        if r[2]:
            return None
        lo, hi = (r[0], r[1]) if r[0] <= r[1] else (0.0, -1.0)  # no present value: nothing matches
        los.append(lo)
        his.append(hi)
        radix.append(int(hi - lo) + 1)
    span = 1
    for rq in radix:
        span *= rq
        if span >= (1 << 62):
            return None
    mult = np.ones(len(radix), np.int64)
    for q in range(len(radix) - 2, -1, -1):
        mult[q] = mult[q + 1] * radix[q + 1]
    side.los, side.his, side.mult = np.asarray(los, np.float64), np.asarray(his, np.float64), mult
    if len(keys) == 1:  # a view, no copy
        m = np.ascontiguousarray(keys[0], dtype=np.float64).reshape(1, -1)
    else:
        m = np.vstack([np.ascontiguousarray(k, dtype=np.float64) for k in keys]) if nrows else \
            np.zeros((len(keys), 0))
    codes = np.empty(nrows, np.int64)
    tuple_codes(m, side.los, side.his, side.mult, codes)
    if span <= DENSE_FACTOR * nrows + 4096:
        side.hashed = False
        side.slots = side.ids = np.zeros(0, np.int64)
        side.bucket, side.nbuckets = codes, span
    else:
        side.hashed = True
        cap = 1 << max(4, int(2 * nrows).bit_length())
        side.bucket = np.empty(nrows, np.int64)
        side.slots, side.ids, side.nbuckets = hash_assign(codes, cap, side.bucket)
    row_of, unique = unique_rows(side.bucket, int(side.nbuckets))
    if unique:  # one right row per key (a lookup table, no counting sort)
        side.row_of, side.start, side.rows = row_of, None, None
    else:
        side.row_of = None
        side.start, side.rows = bucket_rows(side.bucket, int(side.nbuckets))
    return side


#: Right sides up to this many rows travel encoded (row-entry codecs), so probing maps take
#: encoded entries instead of encoding every result chunk; larger ones travel decoded (one
#: encoding pass over a large right side at the coordinator would cost more than it saves).
ENCODED_RIGHT_ROWS = 1 << 16


def _flatten(cols: list[ColumnData]) -> dict:
    """Right-side payload columns as plain arrays (task parameters): ``{j}.codec``/``{j}.meta``/
    ``{j}.buf`` for a column encoded whole with one trailing missing row (right row -1 takes it),
    else the decoded values."""
    out = {}
    for j, c in enumerate(cols):
        n = len(c)
        if c.type != "string" and n <= ENCODED_RIGHT_ROWS:
            ch = _encode_slice(c.take(np.append(np.arange(n, dtype=np.int64), -1)), 0, n + 1)
            if ch.codec in _ROW_CODECS + ("constant",) and len(ch.buffers) <= 1:
                out[f"{j}.codec"], out[f"{j}.meta"] = ch.codec, dict(ch.meta)
                out[f"{j}.buf"] = ch.buffers[0] if ch.buffers else np.zeros(0, np.uint8)
                continue
        if c.type == "string":
            out[f"{j}.o"], out[f"{j}.d"] = c.values
            if c.na.any():
                out[f"{j}.na"] = c.na
        else:
            out[f"{j}.v"] = c.values
            if c.na is not None and c.na.any():  # no mask: no missing value (saves a random read per row)
                out[f"{j}.na"] = c.na
    return out


class _RightRows:
    """The right rows ``ri`` (-1: missing) of one result chunk, read column after column."""

    def __init__(self, ri: np.ndarray):
        self.ri = ri
        self.miss = ri < 0
        self.holes = bool(self.miss.any())
        self.safe = np.where(self.miss, 0, ri) if self.holes else ri

    def take(self, arr: np.ndarray) -> np.ndarray:
        """``arr[ri]`` (rows -1 read row 0: the caller marks them missing)."""
        return arr[self.safe]

    def text(self, offsets: np.ndarray, data: np.ndarray):
        o, d, _touch = take_text(offsets, data, self.ri)
        return o, d


def _right_chunk(payload: dict, j: int, t: str, rr: _RightRows) -> Chunk:
    """The result chunk of right payload column ``j`` for the right rows of ``rr``."""
    ri, miss, holes = rr.ri, rr.miss, rr.holes
    codec = payload.get(f"{j}.codec")
    if codec is not None:
        buf = np.asarray(payload[f"{j}.buf"])
        meta = dict(payload[f"{j}.meta"])
        nrows = (len(buf) if codec != "constant" else 0)
        last = nrows - 1 if codec != "constant" else 0  # the trailing missing row
        whole = Chunk(codec, nrows, (buf,) if codec != "constant" else (), meta)
        return take_rows(whole, np.where(miss, last, ri) if holes else ri)
    h = column_header(f"y{j}", t)
    na = payload.get(f"{j}.na")
    if na is not None and len(na):
        na = rr.take(np.asarray(na))
        if holes:
            na |= miss
    else:
        na = miss
    if t == "string":
        o, d = rr.text(np.asarray(payload[f"{j}.o"], np.int64), np.asarray(payload[f"{j}.d"], np.uint8))
        return codecs.encode("string", (o, d), na)
    vals = np.asarray(payload[f"{j}.v"])
    if not len(vals):
        return _encode_slice(_all_missing(h, len(ri)), 0, len(ri))
    v = rr.take(vals)
    if t == "real":
        if holes:
            v[miss] = np.nan
        return _encode_slice(ColumnData(h, v), 0, len(ri))
    if t == "enum":
        if holes:
            v[miss] = -1
        return _encode_slice(ColumnData(h, v), 0, len(ri))
    return _encode_slice(ColumnData(h, v, na), 0, len(ri))


# ============================================================================================ the probe pass
@register_task
class JoinProbe(MRTask):
    """Join one left chunk with the right side and write its result chunks (staging key).

    params: ``starts`` (left layout), ``staging``, ``kplans`` (left key plans), ``kmaps`` (per key:
    None, or float64[levels] taking a left enum code to the right side's code, NaN if absent),
    ``side`` (``JoinSide.lookup()``), ``all_x``, ``all_y``, ``xplans`` (``[plan, type]`` of the
    result columns computed from the left chunk), ``ytypes`` and ``ypay`` (the right payload
    columns). Partial: ``{"rows": int64[1]}``, plus ``{"hit": [int64[]]}`` with ``all_y`` (the buckets
    with right rows that the chunk hit, ascending).
    """

    name = "munging.join_probe"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        kplans = params["kplans"]
        keys = np.empty((len(kplans), env.nrows), np.float64)
        for q, (plan, kmap) in enumerate(zip(kplans, params["kmaps"])):
            v = np.asarray(eval_plan(plan, env), dtype=np.float64)
            if kmap is not None:
                kmap = np.asarray(kmap, np.float64)
                ok = ~np.isnan(v)
                mapped = np.full(len(v), np.nan)
                mapped[ok] = kmap[v[ok].astype(np.int64)] if len(kmap) else np.nan
                v = mapped
            keys[q] = v
        side = params["side"]
        codes = np.empty(env.nrows, np.int64)
        tuple_codes(keys, np.asarray(side["los"], np.float64), np.asarray(side["his"], np.float64),
                    np.asarray(side["mult"], np.int64), codes)
        bx = np.empty(env.nrows, np.int64)
        codes_to_buckets(codes, bool(side["hashed"]), np.asarray(side["slots"], np.int64),
                         np.asarray(side["ids"], np.int64), bx)
        if "row_of" in side:
            row_of = np.asarray(side["row_of"], np.int64)
            li, ri = probe_unique(bx, row_of, bool(params["all_x"]))
        else:
            start, rows = np.asarray(side["start"], np.int64), np.asarray(side["rows"], np.int64)
            li, ri = probe_pairs(bx, start, rows, bool(params["all_x"]))
        ctx.check()
        items = [(c, chunk_idx, _output_chunk(plan, t, env, li)) for c, (plan, t) in enumerate(params["xplans"])]
        base = len(items)
        pay = params["ypay"]
        rr = _RightRows(ri)
        for j, t in enumerate(params["ytypes"]):
            items.append((base + j, chunk_idx, _right_chunk(pay, j, t, rr)))
        ctx.node.chunks.put_many(params["staging"], items)
        out = {"rows": np.array([len(li)], np.int64)}
        if params["all_y"]:  # the buckets with right rows that this chunk hit
            hb = bx[bx >= 0]
            has = row_of[hb] >= 0 if "row_of" in side else start[hb + 1] > start[hb]
            out["hit"] = [np.unique(hb[has])]
        return out

    def reduce(self, a, b):
        out = {"rows": np.concatenate([a["rows"], b["rows"]])}
        if "hit" in a:
            out["hit"] = list(a["hit"]) + list(b["hit"])
        return out


# ============================================================================================ orchestration
def _key_plans(xcol, ycol_data: ColumnData) -> tuple[list, object]:
    """The left key plan and its code map (enum keys: left code -> right code, NaN if absent)."""
    h, plan = xcol
    if h.type.value != "enum":
        return plan, None
    index = {s: i for i, s in enumerate(ycol_data.header.domain or ())}
    return plan, np.array([index.get(s, np.nan) for s in (h.domain or ())], np.float64)


def distributed_merge(ctx, x: FrameVal, y: FrameVal, kx: list[int], ky: list[int], all_x: bool, all_y: bool,
                      names: list[str]):
    """The merge of ``x`` and ``y`` on key columns ``kx``/``ky`` as described in the module note, or
    None when the keys need the gathering path. ``names``: the result's (deduplicated) names."""
    from .evaluate import _remap_plan
    xh = [x.cols[i][0] for i in kx]
    yh = [y.cols[i][0] for i in ky]
    for a, b in zip(xh, yh):
        ta, tb = a.type.value, b.type.value
        if (ta == "enum") != (tb == "enum") or ta == "string" or tb == "string":
            return None
    if x.anchor.nchunks == 0:
        return None
    dy = ctx.gather(y)
    ykeys = [dy[i] for i in ky]
    side = build_side([k.as_float() for k in ykeys], y.nrow)
    if side is None:
        return None
    node = ctx.node
    # result columns: coalesced keys, then x's other columns, then y's other columns
    xplans, headers = [], []
    enum_maps = []  # per key: (y code -> result code table) for enum keys, else the result type
    for (h, plan), yc in zip([x.cols[i] for i in kx], ykeys):
        if h.type.value == "enum":
            dxl = list(h.domain or ())
            levels = set(dxl)
            if all_y:
                dom_y = yc.header.domain or ()
                used = np.bincount(yc.values[yc.values >= 0], minlength=len(dom_y)) if len(dom_y) else []
                levels |= {dom_y[c] for c in range(len(dom_y)) if used[c]}
            dom = tuple(sorted(levels))
            xplans.append([_remap_plan(plan, dxl, dom), "enum"])
            headers.append(column_header(h.name, "enum", dom))
            index = {s: i for i, s in enumerate(dom)}
            enum_maps.append(np.array([index.get(s, -1) for s in (yc.header.domain or ())] + [-1], np.int64))
        else:
            t = h.type.value if h.type.value == yc.type else "real"
            xplans.append([plan, t])
            headers.append(column_header(h.name, t))
            enum_maps.append(t)
    xother = [i for i in range(x.ncol) if i not in kx]
    yother = [i for i in range(y.ncol) if i not in ky]
    for i in xother:
        h, plan = x.cols[i]
        xplans.append([plan, h.type.value])
        headers.append(h)
    headers += [dy[i].header for i in yother]
    headers = [column_header(nm, h.type.value, h.domain) for nm, h in zip(names, headers)]
    ycols = [dy[i] for i in yother]
    members = list(x.anchor.members)
    dest = ctx.temp_key()
    staging = staging_key(dest)
    kplans, kmaps = zip(*[_key_plans(x.cols[i], yc) for i, yc in zip(kx, ykeys)])
    params = {"starts": [int(s) for s in x.anchor.starts], "staging": staging, "kplans": list(kplans),
              "kmaps": list(kmaps), "side": side.lookup(), "all_x": all_x, "all_y": all_y, "xplans": xplans,
              "ytypes": [c.type for c in ycols], "ypay": _flatten(ycols)}
    try:
        res = node.runtime.run("munging.join_probe", x.anchor.key, columns=[], params=params, job=ctx.job)
        counts = [int(c) for c in res["rows"]]
        nch = len(counts)
        if all_y:
            hit = np.zeros(int(side.nbuckets), bool)
            for h in res["hit"]:
                hit[np.asarray(h, np.int64)] = True
            b = side.bucket
            matched = np.zeros(len(b), bool)
            matched[b >= 0] = hit[b[b >= 0]]
            unmatched = np.flatnonzero(~matched)
            extra = _right_only(ykeys, enum_maps, headers, len(kx) + len(xother), ycols, unmatched)
            per = OUTPUT_CHUNK_ROWS
            for a in range(0, len(unmatched), per):
                bnd = min(a + per, len(unmatched))
                i = nch + a // per
                items = [(c, i, _encode_slice(col, a, bnd)) for c, col in enumerate(extra)]
                member = home_of(i, members)
                if member == node.self_id:
                    node.chunks.put_many(staging, items)
                else:
                    node.cluster.put_chunks(member, staging, items)
                counts.append(bnd - a)
        from ..store.frame import FrameHeader
        header = FrameHeader(dest, tuple(headers), starts_from_nrows(counts), tuple(members), int(time.time() * 1000))
        return FrameVal.of(publish(node, staging, header))
    except BaseException:
        discard(node, staging, members)
        raise


def _right_only(ykeys, enum_maps, headers, nleft: int, ycols, rows) -> list[ColumnData]:
    """The result columns of the right rows ``rows`` that matched no left row: keys from the right
    side, left columns missing, right columns taken."""
    out = []
    for q, (yc, em) in enumerate(zip(ykeys, enum_maps)):
        h = headers[q]
        tk = yc.take(rows)
        if isinstance(em, np.ndarray):
            out.append(ColumnData(h, em[tk.values].astype(np.int32)))
        elif tk.type == h.type.value:
            out.append(ColumnData(h, tk.values, tk.na))
        else:
            out.append(ColumnData(h, tk.as_float()))
    for q in range(len(ykeys), nleft):
        out.append(_all_missing(headers[q], len(rows)))
    for j, c in enumerate(ycols):
        t = c.take(rows)
        out.append(ColumnData(headers[nleft + j], t.values, t.na))
    return out
