"""``categorical``: enum codes in 1, 2 or 4 bytes.

Codes up to 254 fit one byte (255 = missing), up to 65534 two bytes (65535 = missing); wider
domains keep int32 codes with -1 for missing. The domain itself lives in the column header.
"""
from __future__ import annotations

import numba
import numpy as np

from ..chunk import Chunk

NAME = "categorical"


@numba.njit(nogil=True, cache=True)
def _narrow(codes, sentinel, out):
    """IN codes int32[n] (-1 missing); OUT out uint8/uint16[n]."""
    for i in range(codes.shape[0]):
        c = codes[i]
        out[i] = sentinel if c < 0 else c


@numba.njit(nogil=True, cache=True)
def _widen(q, sentinel, out):
    """IN q uint8/uint16[n]; OUT out int32[n] (-1 missing)."""
    for i in range(q.shape[0]):
        v = q[i]
        out[i] = -1 if v == sentinel else np.int32(v)


def encode(codes: np.ndarray, max_code: int) -> Chunk:
    """Encode int32 ``codes`` (-1 missing) whose largest code is ``max_code``."""
    n = int(codes.shape[0])
    if max_code < 0xFF:
        out = np.empty(n, dtype=np.uint8)
        _narrow(codes, np.uint8(0xFF), out)
    elif max_code < 0xFFFF:
        out = np.empty(n, dtype=np.uint16)
        _narrow(codes, np.uint16(0xFFFF), out)
    else:
        out = np.array(codes, dtype=np.int32, copy=True)
    return Chunk(NAME, n, (out,), {"type": "enum"})


def decode_codes(chunk: Chunk, out: np.ndarray) -> None:
    q = chunk.buffers[0]
    if q.dtype == np.int32:
        np.copyto(out, q)
    else:
        _widen(q, q.dtype.type(np.iinfo(q.dtype).max), out)
