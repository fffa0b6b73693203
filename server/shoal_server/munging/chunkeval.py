"""Per-chunk evaluation of column plans: the code that runs where the chunks live.

A *plan* is the msgpack-able form of one output column of a fused elementwise expression. It is
built (and type-checked) on the coordinator by ``evaluate.py`` and interpreted here, on each chunk,
through the closed table :data:`CHUNK_OPS` (a name that is not in the table is refused):

- ``["ref", frame_key, col_idx, type]``: a stored column; numeric value = ``decode_float64``
  (enum: its codes; missing = NaN).
- ``["lit", value]``: a number or None (missing), broadcast to the chunk.
- ``["op", name, [plan, ...], {params}]``: an elementwise op of :data:`CHUNK_OPS`.

Intermediate values are float64 arrays with NaN for missing (bools are 0/1/NaN), except string
leaves, which only string comparisons consume. A row selection (mask, range or sorted index list)
is applied after the plans are evaluated, and a bare ``ref`` without row selection is not decoded
at all: the output frame refers to the same immutable chunk.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter
from ..store import codecs
from ..store.chunk import Chunk
from . import kernels as K

__all__ = ["ChunkEnv", "eval_plan", "output_chunk", "encode_values", "take_chunk", "row_selection",
           "CHUNK_OPS", "plan_frames"]


class ChunkEnv:
    """Access to chunk ``chunk_idx`` of any frame on this node, with a per-chunk decode cache."""

    def __init__(self, store, chunk_idx: int, nrows: int, start: int = 0):
        self.store = store
        self.chunk_idx = int(chunk_idx)
        self.nrows = int(nrows)
        self.start = int(start)
        self._f8: dict = {}

    def chunk(self, key: str, col: int) -> Chunk:
        return self.store.get(key, int(col), self.chunk_idx)

    def f8(self, key: str, col: int) -> np.ndarray:
        k = (key, int(col))
        v = self._f8.get(k)
        if v is None:
            ch = self.chunk(key, col)
            if ch.meta.get("type") == "string":
                raise InvalidParameter("A string column cannot be used as a number.", {"column": int(col)})
            v = codecs.decode_float64(ch)
            v.flags.writeable = False
            self._f8[k] = v
        return v


def _arr(v, n: int) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    return np.full(n, np.nan if v is None else float(v), dtype=np.float64)


def _unary(fn):
    def run(env, args, params):
        with np.errstate(all="ignore"):
            return fn(_arr(args[0], env.nrows))
    return run


def _binary(fn):
    def run(env, args, params):
        a, b = _arr(args[0], env.nrows), _arr(args[1], env.nrows)
        with np.errstate(all="ignore"):
            return fn(a, b)
    return run


def _floordiv(a, b):
    out = np.floor_divide(a, b)
    out[b == 0] = np.where(a[b == 0] == 0, np.nan, np.sign(a[b == 0]) * np.inf)
    return out


def _mod(a, b):
    out = np.mod(a, b)
    out[b == 0] = np.nan
    return out


def _cmp(code):
    def run(env, args, params):
        out = np.empty(env.nrows, np.float64)
        K.compare_values(_arr(args[0], env.nrows), _arr(args[1], env.nrows), code, out)
        return out
    return run


def _kleene(kernel):
    def run(env, args, params):
        out = np.empty(env.nrows, np.float64)
        kernel(_arr(args[0], env.nrows), _arr(args[1], env.nrows), out)
        return out
    return run


def _not(env, args, params):
    a = _arr(args[0], env.nrows)
    out = (a == 0).astype(np.float64)
    out[np.isnan(a)] = np.nan
    return out


def _isna(env, args, params):
    a = args[0]
    if isinstance(a, tuple):  # string leaf
        return a[2].astype(np.float64)
    return np.isnan(_arr(a, env.nrows)).astype(np.float64)


def _ifelse(env, args, params):
    out = np.empty(env.nrows, np.float64)
    K.ifelse_values(_arr(args[0], env.nrows), _arr(args[1], env.nrows), _arr(args[2], env.nrows), out)
    return out


def _round(env, args, params):
    d = int(params.get("digits", 0))
    return np.round(_arr(args[0], env.nrows), d)


def _signif(env, args, params):
    out = np.empty(env.nrows, np.float64)
    K.signif_values(_arr(args[0], env.nrows), int(params.get("digits", 6)), out)
    return out


def _trunc(a):
    return np.trunc(a)


def _str_eq(env, args, params):
    off, data, na = args[0]
    out = np.empty(env.nrows, np.float64)
    lit = np.frombuffer(str(params["lit"]).encode("utf-8"), dtype=np.uint8)
    K.strings_equal_literal(off, data, na, lit, out)
    if params.get("neg"):
        out = np.where(np.isnan(out), np.nan, 1.0 - out)
    return out


def _str_eq2(env, args, params):
    (o1, d1, n1), (o2, d2, n2) = args
    out = np.empty(env.nrows, np.float64)
    K.strings_equal(o1, d1, n1, o2, d2, n2, out)
    if params.get("neg"):
        out = np.where(np.isnan(out), np.nan, 1.0 - out)
    return out


def _remap(env, args, params):
    """Enum codes into another domain: ``map[code]`` (int32 array; -1 = missing)."""
    a = _arr(args[0], env.nrows)
    table = np.append(np.asarray(params["map"], dtype=np.float64), np.nan)
    table[table < 0] = np.nan
    idx = np.where(np.isnan(a), len(table) - 1, a).astype(np.int64)
    return table[idx]


def _runif(env, args, params):
    rng = np.random.default_rng([int(params["seed"]) & 0xFFFFFFFFFFFF, env.chunk_idx])
    return rng.random(env.nrows)


def _scan(env, args, params):
    """Cumulative op within the chunk, starting from the carry of the chunks before it."""
    out = np.empty(env.nrows, np.float64)
    carries = params["carries"]
    start = carries[env.chunk_idx] if carries is not None else np.nan
    K.cumulate(np.ascontiguousarray(_arr(args[0], env.nrows)), K.CUM_CODES[params["kind"]],
               np.nan if start is None else float(start), out)
    return out


#: The closed table of per-chunk ops: name -> fn(env, evaluated args, params) -> float64[n].
CHUNK_OPS = {
    "neg": _unary(np.negative), "abs": _unary(np.abs), "ceil": _unary(np.ceil), "floor": _unary(np.floor),
    "trunc": _unary(_trunc), "sign": _unary(np.sign), "sqrt": _unary(np.sqrt), "exp": _unary(np.exp),
    "expm1": _unary(np.expm1), "log": _unary(np.log), "log1p": _unary(np.log1p), "log2": _unary(np.log2),
    "log10": _unary(np.log10), "sin": _unary(np.sin), "cos": _unary(np.cos), "tan": _unary(np.tan),
    "asin": _unary(np.arcsin), "acos": _unary(np.arccos), "atan": _unary(np.arctan),
    "sinh": _unary(np.sinh), "cosh": _unary(np.cosh), "tanh": _unary(np.tanh),
    "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply),
    "div": _binary(np.divide), "floordiv": _binary(_floordiv), "mod": _binary(_mod), "pow": _binary(np.power),
    **{name: _cmp(code) for name, code in K.CMP_CODES.items()},
    "and": _kleene(K.kleene_and), "or": _kleene(K.kleene_or), "not": _not, "isna": _isna,
    "ifelse": _ifelse, "round": _round, "signif": _signif, "str_eq": _str_eq, "str_eq2": _str_eq2,
    "remap": _remap, "runif": _runif, "scan": _scan,
}


def eval_plan(plan, env: ChunkEnv):
    """Evaluate one plan on one chunk: float64[n] (or a string leaf's (offsets, data, na))."""
    kind = plan[0]
    if kind == "ref":
        return env.f8(plan[1], plan[2])
    if kind == "lit":
        return _arr(plan[1], env.nrows)
    if kind == "str":
        return codecs.decode_strings(env.chunk(plan[1], plan[2]))
    if kind == "op":
        fn = CHUNK_OPS.get(plan[1])
        if fn is None:
            raise InvalidParameter(f"Unknown chunk operation `{plan[1]}`.", {"op": str(plan[1])})
        args = [eval_plan(p, env) for p in plan[2]]
        return fn(env, args, plan[3] if len(plan) > 3 else {})
    raise InvalidParameter(f"Unknown plan node `{kind}`.", {"node": str(kind)})


def plan_frames(plan, out: set | None = None) -> set:
    """Every frame key a plan reads."""
    out = set() if out is None else out
    if plan[0] in ("ref", "str"):
        out.add(plan[1])
    elif plan[0] == "op":
        for p in plan[2]:
            plan_frames(p, out)
    return out


# ============================================================================================ output
def encode_values(values: np.ndarray, coltype: str) -> Chunk:
    """Encode float64 values (NaN = missing) as a chunk of ``coltype``."""
    na = np.isnan(values)
    if coltype == "real":
        return codecs.encode("real", values, na if na.any() else None)
    if coltype == "enum":
        codes = np.where(na, -1, values).astype(np.int32)
        return codecs.encode("enum", codes)
    with np.errstate(invalid="ignore"):
        bad = na | ~(np.abs(values) < 9.2e18)  # infinite or beyond int64: missing
    ints = np.where(bad, 0, values).astype(np.int64)
    if coltype == "bool":
        return codecs.encode("bool", ints.astype(np.uint8), bad)
    return codecs.encode(coltype, ints, bad)


def take_chunk(chunk: Chunk, idx: np.ndarray) -> Chunk:
    """A new chunk with rows ``idx`` (int64 positions in the chunk) of ``chunk``, type kept exactly."""
    t = chunk.meta["type"]
    if t == "string":
        off, data, na = codecs.decode_strings(chunk)
        o2, d2 = K.take_strings(off, data, idx)
        return codecs.encode("string", (o2, d2), na[idx])
    if t == "enum":
        return codecs.encode("enum", codecs.decode_codes(chunk)[idx])
    if t == "real":
        v = codecs.decode_float64(chunk)[idx]
        return codecs.encode("real", v, np.isnan(v))
    vals, na = codecs.decode_int64(chunk)
    vals, na = vals[idx], na[idx]
    if t == "bool":
        vals = vals.astype(np.uint8)
    return codecs.encode(t, vals, na)


def row_selection(rows, env: ChunkEnv) -> np.ndarray | None:
    """int64 positions kept in this chunk by a row selection (None = every row).

    ``rows``: None, ``["mask", plan]`` (rows where the plan is true; missing drops the row),
    ``["range", a, b, step]`` (global rows a, a+step, ... < b, step > 0) or ``["index", int64[]]``
    (sorted global row numbers).
    """
    if rows is None:
        return None
    kind = rows[0]
    n, s = env.nrows, env.start
    if kind == "mask":
        m = eval_plan(rows[1], env)
        return np.flatnonzero(np.nan_to_num(m, nan=0.0) != 0).astype(np.int64)
    if kind == "range":
        a, b, step = int(rows[1]), int(rows[2]), int(rows[3])
        lo = max(a, s)
        if lo > a:
            lo = a + -(-(lo - a) // step) * step
        hi = min(b, s + n)
        if lo >= hi:
            return np.zeros(0, np.int64)
        return np.arange(lo - s, hi - s, step, dtype=np.int64)
    if kind == "index":
        idx = np.asarray(rows[1], dtype=np.int64)
        lo, hi = np.searchsorted(idx, [s, s + n])
        return idx[lo:hi] - s
    raise InvalidParameter(f"Unknown row selection `{kind}`.", {"rows": str(kind)})


def output_chunk(plan, coltype: str, env: ChunkEnv, keep: np.ndarray | None) -> Chunk:
    """The chunk of one output column: shared (bare ref), compacted, or computed and encoded."""
    if plan[0] in ("ref", "str"):
        ch = env.chunk(plan[1], plan[2])
        if ch.meta.get("type") == coltype:
            return ch if keep is None else take_chunk(ch, keep)
    values = eval_plan(plan, env)
    if isinstance(values, tuple):
        if coltype != "string":
            raise InvalidParameter("A string column can only be passed through, compared or converted.", {})
        off, data, na = values
        if keep is not None:
            off, data = K.take_strings(off, data, keep)
            na = na[keep]
        return codecs.encode("string", (off, data), na)
    if keep is not None:
        values = values[keep]
    return encode_values(np.ascontiguousarray(values), coltype)
