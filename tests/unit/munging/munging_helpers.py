"""Helpers of the munging tests: frames from pandas, frames back to pandas, expression leaves."""
from __future__ import annotations

import numpy as np
import pandas as pd

from shoal_server.munging.frames import gather, store_columns
from shoal_server.munging.values import FrameVal
from shoal_server.parser import frame_from_columns


def _column(name: str, s: pd.Series) -> dict:
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int32)
        return {"name": name, "type": "enum", "data": codes, "domain": [str(c) for c in s.cat.categories]}
    if s.dtype == object:
        vals = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).encode() for v in s]
        lens = np.array([len(v) if v is not None else 0 for v in vals], np.int64)
        off = np.zeros(len(vals) + 1, np.int64)
        np.cumsum(lens, out=off[1:])
        data = np.frombuffer(b"".join(v for v in vals if v is not None), np.uint8).copy()
        return {"name": name, "type": "string", "offsets": off, "data": data,
                "valid": np.array([v is not None for v in vals], np.uint8)}
    if s.dtype == "boolean":
        return {"name": name, "type": "bool", "data": s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)}
    if str(s.dtype) in ("Int64", "int64"):
        return {"name": name, "type": "int", "data": s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)}
    return {"name": name, "type": "real", "data": s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)}


def make_frame(node, df: pd.DataFrame, key: str, chunk_rows: int = 3):
    """Store ``df`` as frame ``key`` (categoricals -> enum, object -> string, Int64 -> int,
    boolean -> bool, floats -> real)."""
    node.catalog.remove(key)
    node.chunks.remove_frame(key)
    return frame_from_columns(node, [_column(str(c), df[c]) for c in df.columns], key, chunk_rows=chunk_rows)


def to_pandas(node, key: str) -> pd.DataFrame:
    """The stored frame as pandas: real/int/bool/time as float64 (NaN missing), enum/string as object."""
    h = node.catalog.get(key)
    data = gather(node, h, FrameVal.of(h).cols)
    out = {}
    for c in data:
        t = c.type
        if t == "enum":
            dom = c.header.domain
            out[c.header.name] = pd.Series([dom[v] if v >= 0 else None for v in c.values.tolist()], dtype=object)
        elif t == "string":
            o, d = c.values
            raw = d.tobytes()
            out[c.header.name] = pd.Series([raw[o[i]:o[i + 1]].decode() if not c.na[i] else None
                                            for i in range(len(c.na))], dtype=object)
        else:
            out[c.header.name] = pd.Series(c.as_float())
    return pd.DataFrame(out)


def fr(key: str) -> dict:
    return {"op": "frame", "key": key}


def col(key: str, name) -> dict:
    return {"op": "col", "frame": key, ("index" if isinstance(name, int) else "name"): name}


def spread_frame(target, source, src_key: str, key: str, chunk_rows: int) -> None:
    """Copy frame ``src_key`` of node ``source`` to ``key`` on ``target`` (a cluster's coordinator), in
    chunks of ``chunk_rows`` rows placed across its members."""
    h = source.catalog.get(src_key)
    store_columns(target, key, gather(source, h, FrameVal.of(h).cols), chunk_rows=chunk_rows)
