"""``bool_bits``: 0/1 values bit-packed (8 rows per byte) plus a bit-packed missing mask.

The natural encoding of ``bool`` columns; the ladder also offers it to int/real/time chunks whose
values are all 0 or 1 (not -0.0).
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk
from ._common import pack_mask, unpack_mask

NAME = "bool_bits"


def encode(coltype: str, bits: np.ndarray, na) -> Chunk:
    """``bits``: uint8/bool 0/1 per row (ignored where ``na``)."""
    b = bits.astype(np.bool_, copy=False)
    if na is not None and na.any():
        b = b & ~na
    packed = np.packbits(b.view(np.uint8), bitorder="little")
    return Chunk(NAME, int(bits.shape[0]), (packed, pack_mask(na)), {"type": str(coltype)})


def _bits(chunk: Chunk) -> np.ndarray:
    return np.unpackbits(chunk.buffers[0], count=chunk.nrows, bitorder="little")


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    np.copyto(out, _bits(chunk), casting="unsafe")
    if chunk.buffers[1].size:
        out[unpack_mask(chunk.buffers[1], chunk.nrows)] = np.nan


def decode_int64(chunk: Chunk, out: np.ndarray, na: np.ndarray) -> None:
    np.copyto(out, _bits(chunk), casting="unsafe")
    unpack_mask(chunk.buffers[1], chunk.nrows, na)
