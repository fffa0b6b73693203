"""``sparse``: mostly-zero or mostly-missing chunks: int32 positions of the other rows + a nested chunk.

``meta["default"]`` is ``"zero"`` or ``"missing"``: the value of every row not listed. The listed
rows' values are encoded by the ladder (any dense codec) into a nested chunk whose codec and meta
are ``meta["inner_codec"]`` / ``meta["inner_meta"]`` and whose buffers follow the positions buffer.
Decoding fills the default, decodes the nested chunk into a small buffer and scatters it.
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk

NAME = "sparse"


def encode(coltype: str, nrows: int, positions: np.ndarray, inner: Chunk, default: str) -> Chunk:
    meta = {"type": str(coltype), "default": default, "inner_codec": inner.codec,
            "inner_nrows": int(inner.nrows), "inner_meta": dict(inner.meta)}
    pos = np.ascontiguousarray(positions, dtype=np.int32)
    return Chunk(NAME, int(nrows), (pos,) + tuple(inner.buffers), meta)


def inner_chunk(chunk: Chunk) -> Chunk:
    """The nested dense chunk of the listed rows."""
    m = chunk.meta
    return Chunk(m["inner_codec"], int(m["inner_nrows"]), tuple(chunk.buffers[1:]), dict(m["inner_meta"]))


def positions(chunk: Chunk) -> np.ndarray:
    return chunk.buffers[0]


def scatter_float64(chunk: Chunk, inner_values: np.ndarray, out: np.ndarray) -> None:
    out[:] = 0.0 if chunk.meta["default"] == "zero" else np.nan
    out[chunk.buffers[0]] = inner_values


def scatter_int64(chunk: Chunk, inner_values: np.ndarray, inner_na: np.ndarray,
                  out: np.ndarray, na: np.ndarray) -> None:
    out[:] = 0
    na[:] = chunk.meta["default"] != "zero"
    pos = chunk.buffers[0]
    out[pos] = inner_values
    na[pos] = inner_na
