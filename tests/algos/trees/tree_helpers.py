"""Frame helpers of the tree tests (imported by the test modules)."""
from __future__ import annotations

import itertools

import numpy as np

from shoal_server.parser import frame_from_columns
from shoal_server.store import codecs

_counter = itertools.count()


def make_frame(node, columns: dict, chunk_rows: int = 700, key: str | None = None) -> str:
    """Store ``{name: array}`` as a frame (int arrays with a ``domain`` tuple become enums)."""
    key = key or f"frame{next(_counter)}"
    cols = []
    for name, v in columns.items():
        if isinstance(v, tuple):
            codes, domain = v
            cols.append({"name": name, "type": "enum", "data": np.asarray(codes, np.int32), "domain": list(domain)})
        else:
            cols.append({"name": name, "type": "real", "data": np.asarray(v, np.float64)})
    frame_from_columns(node, cols, key, chunk_rows=chunk_rows)
    return key


def column(node, key: str, name: str) -> np.ndarray:
    h = node.catalog.get(key)
    c = h.col_index(name)
    return np.concatenate([codecs.decode_float64(node.chunks.get(key, c, i)) for i in range(h.nchunks)])


def frame_matrix(node, key: str) -> np.ndarray:
    h = node.catalog.get(key)
    return np.column_stack([column(node, key, c.name) for c in h.columns])
