"""Helpers for the algorithm tests: build frames from numpy, read frames back."""
from __future__ import annotations

import numpy as np

from shoal_server.parser import frame_from_columns


def make_frame(node, key: str, data: dict, chunk_rows: int = 1 << 16, enums: dict | None = None):
    """Store numpy columns as frame ``key``; ``enums`` maps a column name to its domain (data = codes)."""
    cols = []
    enums = enums or {}
    for name, values in data.items():
        if name in enums:
            cols.append({"name": name, "type": "enum", "data": np.asarray(values, np.int32),
                         "domain": list(enums[name])})
        else:
            v = np.asarray(values, np.float64)
            cols.append({"name": name, "type": "real", "data": v, "na": np.isnan(v)})
    return frame_from_columns(node, cols, key, chunk_rows=chunk_rows)


def frame_columns(node, key: str) -> dict:
    """Read a frame back as numpy (floats; enum columns as codes)."""
    from shoal_server.store import codecs
    h = node.catalog.get(key)
    out = {}
    for c, col in enumerate(h.columns):
        parts = []
        for i in range(h.nchunks):
            ch = node.chunks.get(key, c, i)
            parts.append(codecs.decode_codes(ch) if col.type.value == "enum" else codecs.decode_float64(ch))
        out[col.name] = np.concatenate(parts) if parts else np.zeros(0)
    return out
