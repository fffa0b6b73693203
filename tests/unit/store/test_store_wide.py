"""Fast paths for wide frames give the same bits as the general paths.

``encode_many`` (one kernel finds constant / all-missing columns) against ``encode`` per column;
the rollups' constant-chunk shortcuts (no decode) against the same values in dense chunks.
"""
from __future__ import annotations

import numpy as np
import pytest

from shoal_server.store import codecs
from shoal_server.store.codecs import categorical, float64, int64
from shoal_server.store.rollups import Histogram, Moments


class _Ctx:
    node = None

    @staticmethod
    def check() -> None:
        return None


def _same_chunk(a, b) -> bool:
    if (a.codec, a.nrows, len(a.buffers)) != (b.codec, b.nrows, len(b.buffers)) or a.meta.keys() != b.meta.keys():
        return False
    for k in a.meta:
        x, y = a.meta[k], b.meta[k]
        if isinstance(x, float) and isinstance(y, float):
            if np.float64(x).tobytes() != np.float64(y).tobytes():
                return False
        elif x != y or type(x) is not type(y):
            return False
    return all(p.dtype == q.dtype and p.tobytes() == q.tobytes() for p, q in zip(a.buffers, b.buffers))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 100])
@pytest.mark.parametrize("coltype", ["real", "int", "time"])
def test_encode_many_equals_encode_per_column(coltype, n):
    rng = np.random.default_rng(n)
    if coltype == "real":
        pool = np.array([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 3.0, 0.1, 1e300])
    else:
        pool = np.array([0, 1, -5, 2 ** 62, 7], dtype=np.int64)
    k = 60
    values = np.empty((k, n), pool.dtype)
    na = np.zeros((k, n), bool)
    for j in range(k):
        mode = j % 6
        values[j] = rng.choice(pool, n) if mode in (0, 4) else rng.choice(pool)
        if mode == 4:
            values[j] = rng.choice(pool[:2], n)  # 0.0 and -0.0 mixed: not constant
        if mode == 2:
            na[j] = True
        elif mode == 3:
            na[j] = rng.random(n) < 0.3
        elif mode == 5:
            na[j, :1] = True
    rows = list(range(0, k, 3)) if n % 2 else None
    got = codecs.encode_many(coltype, values, na, rows)
    for r, chunk in zip(rows if rows is not None else range(k), got):
        assert _same_chunk(chunk, codecs.encode(coltype, values[r], na[r])), (coltype, n, r)


def _dense(t: str, value, n: int):
    """A non-constant-codec chunk holding ``n`` copies of ``value`` (None = missing)."""
    if t == "real":
        return float64.encode(np.full(n, np.nan if value is None else value, dtype=np.float64))
    if t == "enum":
        codes = np.full(n, -1 if value is None else value, dtype=np.int32)
        return categorical.encode(codes, max(int(codes.max(initial=0)), 1))
    na = np.full(n, value is None)
    return int64.encode(t, np.full(n, 0 if value is None else value, dtype=np.int64), na)


def _const(t: str, value, n: int):
    if t == "real":
        return codecs.encode("real", np.full(n, np.nan if value is None else value, dtype=np.float64))
    if t == "enum":
        return codecs.encode("enum", np.full(n, -1 if value is None else value, dtype=np.int32))
    return codecs.encode(t, np.full(n, 0 if value is None else value, dtype=np.int64), np.full(n, value is None))


CASES = [("real", 0.1, 3), ("real", 0.1, 7), ("real", -0.0, 4), ("real", 1e308, 5), ("real", np.inf, 2),
         ("real", -np.inf, 3), ("real", None, 4), ("real", 2.5, 1), ("real", None, 0), ("int", 7, 5),
         ("int", 0, 3), ("int", 2 ** 60 + 1, 3), ("int", -3, 1), ("int", None, 6), ("time", 1_600_000_000_000, 4),
         ("bool", 1, 3), ("bool", 0, 2), ("enum", 2, 4), ("enum", None, 3), ("enum", 0, 1)]


def test_constant_chunk_rollups_match_decoded_chunks():
    types = [t for t, _v, _n in CASES]
    const = {j: _const(t, v, n) for j, (t, v, n) in enumerate(CASES)}
    assert all(c.codec == "constant" for c in const.values())
    dense = {j: _dense(t, v, n) for j, (t, v, n) in enumerate(CASES)}
    assert not any(c.codec == "constant" for c in dense.values())
    params = {"columns": list(range(len(CASES))), "types": types}
    a = Moments().map(_Ctx(), 0, const, params)
    b = Moments().map(_Ctx(), 0, dense, params)
    for f in a:
        assert a[f].dtype == b[f].dtype and a[f].tobytes() == b[f].tobytes(), f
    nbins = [3, 4, 2, 20, 1, 1, 1, 1, 0, 5, 1, 2, 1, 1, 20, 2, 2, 3, 3, 1]
    hp = dict(params, nbins=nbins, lo=[0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.5, 0.0, 5.0, 0.0, 0.0, -3.0, 0.0,
                                       1.5e12, 0.0, 0.0, 0.0, 0.0, 0.0],
              width=[0.05, 0.1, 1.0, 1e307, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0 ** 59, 1.0, 1.0, 1e10, 1.0,
                     1.0, 1.0, 1.0, 1.0])
    ha = Histogram().map(_Ctx(), 0, const, hp)["counts"]
    hb = Histogram().map(_Ctx(), 0, dense, hp)["counts"]
    assert ha.tolist() == hb.tolist() and ha.sum() > 0
