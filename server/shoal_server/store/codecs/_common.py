"""Helpers shared by the codec modules: bit-packed missing masks and integer widths.

A missing mask is stored bit-packed (``np.packbits``, little bit order) and is an *empty* buffer
when nothing is missing, so a dense chunk without missing values pays nothing for it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pack_mask", "unpack_mask", "unsigned_width", "UNSIGNED", "EMPTY_U8"]

EMPTY_U8 = np.zeros(0, dtype=np.uint8)

#: (bytes, dtype, sentinel): the narrow unsigned storage types; the top value marks a missing entry.
UNSIGNED = ((1, np.dtype(np.uint8), 0xFF), (2, np.dtype(np.uint16), 0xFFFF), (4, np.dtype(np.uint32), 0xFFFFFFFF))


def unsigned_width(span: int):
    """Narrowest ``(bytes, dtype, sentinel)`` that stores ``0..span`` and keeps a sentinel free; else None."""
    for width, dtype, sentinel in UNSIGNED:
        if 0 <= span < sentinel:
            return width, dtype, sentinel
    return None


def pack_mask(na) -> np.ndarray:
    """Bit-pack a bool mask; an empty buffer when ``na`` is None or all False."""
    if na is None or not na.any():
        return EMPTY_U8
    return np.packbits(na.view(np.uint8) if na.dtype == np.bool_ else na.astype(np.uint8), bitorder="little")


def unpack_mask(buf: np.ndarray, n: int, out=None) -> np.ndarray:
    """The bool mask of length ``n`` stored by :func:`pack_mask` (all False for an empty buffer)."""
    if out is None:
        out = np.empty(n, dtype=np.bool_)
    if buf.size == 0:
        out[:] = False
    else:
        out.view(np.uint8)[:] = np.unpackbits(buf, count=n, bitorder="little")
    return out
