"""Helpers for the metrics tests: frames built from numpy columns with a chosen chunking."""
import numpy as np

from shoal_server.store.builder import FrameBuilder
from shoal_server.store.codecs import encode
from shoal_server.store.frame import ColumnHeader
from shoal_server.store.types import ColType


def make_frame(node, key, columns, chunk_rows):
    """``columns``: name -> float array (real) or ("enum", int codes, domain). ``chunk_rows``: int or
    a list of chunk sizes (zero-row chunks allowed)."""
    headers, data = [], []
    for name, col in columns.items():
        if isinstance(col, tuple):
            _, codes, domain = col
            headers.append(ColumnHeader(name, ColType.ENUM, tuple(domain)))
            data.append(("enum", np.asarray(codes, np.int32)))
        else:
            headers.append(ColumnHeader(name, ColType.REAL))
            data.append(("real", np.asarray(col, np.float64)))
    n = len(data[0][1])
    sizes = list(chunk_rows) if isinstance(chunk_rows, (list, tuple)) else \
        [min(chunk_rows, n - s) for s in range(0, n, chunk_rows)] or [0]
    assert sum(sizes) == n
    with FrameBuilder.for_node(node, key, headers) as b:
        start = 0
        for i, size in enumerate(sizes):
            chunks = []
            for kind, values in data:
                part = values[start:start + size]
                if kind == "enum":
                    chunks.append(encode(ColType.ENUM, part))
                else:
                    chunks.append(encode(ColType.REAL, part, np.isnan(part)))
            b.add_row(i, chunks)
            start += size
        return b.commit()


def bits(a) -> bytes:
    """The float64 bytes of ``a``: equal bytes = equal bits (NaN payloads and signed zeros included)."""
    return np.asarray(a, np.float64).tobytes()


def scores(rng, n: int, kind: str) -> np.ndarray:
    """``n`` scores in [0, 1] of a kind: ``distinct``, ``coarse`` (7 values), ``ties`` (2 decimals),
    ``mixed`` (half distinct, half heavy ties), anything else: one constant."""
    if kind == "distinct":
        return rng.random(n)
    if kind == "coarse":
        return rng.integers(0, 7, n) / 6.0
    if kind == "ties":
        return np.round(rng.random(n), 2)
    if kind == "mixed":
        return np.where(rng.random(n) < 0.5, rng.random(n), rng.integers(0, 5, n) / 4.0)
    return np.full(n, 0.25)
