"""``int64``: the fallback for int/time values, stored as they are, plus a bit-packed missing mask.

Every int64 is a valid value (no sentinel), so missing rows live only in the mask (an empty buffer
when nothing is missing); their value slot holds 0.
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk
from ._common import pack_mask, unpack_mask

NAME = "int64"


def encode(coltype: str, values: np.ndarray, na) -> Chunk:
    vals = np.array(values, dtype=np.int64, copy=True)
    if na is not None:
        vals[na] = 0
    return Chunk(NAME, int(vals.shape[0]), (vals, pack_mask(na)), {"type": str(coltype)})


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    vals, mask = chunk.buffers
    np.copyto(out, vals, casting="unsafe")
    if mask.size:
        out[unpack_mask(mask, chunk.nrows)] = np.nan


def decode_int64(chunk: Chunk, out: np.ndarray, na: np.ndarray) -> None:
    vals, mask = chunk.buffers
    np.copyto(out, vals)
    unpack_mask(mask, chunk.nrows, na)
