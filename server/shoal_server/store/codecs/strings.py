"""``strings``: UTF-8 bytes back to back, offsets into them, and a bit-packed missing mask.

Offsets are rebased to 0 and stored in the narrowest of uint16 / uint32 / int64 that holds the
data length; they are widened back to int64 on decode. ``meta["string_bytes"]`` is the data length
(for the raw-size figure).
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk
from ._common import pack_mask, unpack_mask

NAME = "strings"


def encode(offsets: np.ndarray, data: np.ndarray, na) -> Chunk:
    """``offsets`` int64[n+1] into ``data`` uint8; row i is ``data[offsets[i]:offsets[i+1]]``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = int(offsets.shape[0]) - 1
    if n < 0:
        raise ValueError("string offsets need n+1 entries")
    base, end = int(offsets[0]), int(offsets[-1])
    if n and (np.diff(offsets) < 0).any() or end > len(data) or base < 0:
        raise ValueError("string offsets must be non-decreasing and inside the data")
    size = end - base
    dtype = np.uint16 if size <= 0xFFFF else (np.uint32 if size <= 0xFFFFFFFF else np.int64)
    rel = (offsets - base).astype(dtype)
    body = np.array(np.asarray(data, dtype=np.uint8)[base:end], copy=True)
    return Chunk(NAME, n, (rel, body, pack_mask(na)), {"type": "string", "string_bytes": size})


def decode_strings(chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rel, body, mask = chunk.buffers
    return rel.astype(np.int64), body, unpack_mask(mask, chunk.nrows)
