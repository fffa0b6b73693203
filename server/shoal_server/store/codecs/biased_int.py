"""``biased_int``: integers stored as ``value - bias`` in 1, 2 or 4 unsigned bytes.

The top value of the storage type (255, 65535, 2**32-1) marks a missing row, so the span
``max - min`` must be below it. Serves ``int``/``time`` (exact for every int64, since
``value - bias`` never overflows when ``bias`` is the minimum) and integral ``real`` values within
+-2**53 (decoded to the same double). ``meta``: ``bias`` (int).
"""
from __future__ import annotations

import numba
import numpy as np

from ..chunk import Chunk
from ._common import unsigned_width

NAME = "biased_int"


@numba.njit(nogil=True, cache=True)
def _pack_int(values, na, has_na, bias, sentinel, out):
    """IN values int64[n], na bool[n] (read when has_na); OUT out uint{8,16,32}[n]."""
    for i in range(values.shape[0]):
        if has_na and na[i]:
            out[i] = sentinel
        else:
            out[i] = values[i] - bias


@numba.njit(nogil=True, cache=True)
def _pack_real(values, bias, sentinel, out):
    """IN values float64[n] (NaN = missing, others integral); OUT out uint{8,16,32}[n]."""
    for i in range(values.shape[0]):
        x = values[i]
        if x != x:
            out[i] = sentinel
        else:
            out[i] = np.int64(x) - bias


@numba.njit(nogil=True, cache=True)
def _unpack_float64(q, bias, sentinel, out):
    """IN q uint{8,16,32}[n]; OUT out float64[n] (NaN for missing)."""
    for i in range(q.shape[0]):
        v = q[i]
        if v == sentinel:
            out[i] = np.nan
        else:
            out[i] = np.float64(np.int64(v) + bias)


@numba.njit(nogil=True, cache=True)
def _unpack_int64(q, bias, sentinel, out, na):
    """IN q uint{8,16,32}[n]; OUT out int64[n] (0 where missing), na bool[n]."""
    for i in range(q.shape[0]):
        v = q[i]
        if v == sentinel:
            out[i] = 0
            na[i] = True
        else:
            out[i] = np.int64(v) + bias
            na[i] = False


def encode_int(coltype: str, values: np.ndarray, na, vmin: int, vmax: int) -> Chunk | None:
    """Encode int64 ``values`` (missing where ``na``) whose non-missing span is ``[vmin, vmax]``."""
    spec = unsigned_width(int(vmax) - int(vmin))
    if spec is None:
        return None
    _, dtype, sentinel = spec
    out = np.empty(values.shape[0], dtype=dtype)
    has_na = na is not None
    _pack_int(values, na if has_na else np.zeros(0, np.bool_), has_na, np.int64(vmin), dtype.type(sentinel), out)
    return Chunk(NAME, int(values.shape[0]), (out,), {"type": str(coltype), "bias": int(vmin)})


def encode_real(values: np.ndarray, vmin: float, vmax: float) -> Chunk | None:
    """Encode integral float64 ``values`` (NaN = missing) within +-2**53."""
    spec = unsigned_width(int(vmax) - int(vmin))
    if spec is None:
        return None
    _, dtype, sentinel = spec
    out = np.empty(values.shape[0], dtype=dtype)
    _pack_real(values, np.int64(vmin), dtype.type(sentinel), out)
    return Chunk(NAME, int(values.shape[0]), (out,), {"type": "real", "bias": int(vmin)})


def _sentinel(q: np.ndarray):
    return q.dtype.type(np.iinfo(q.dtype).max)


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    q = chunk.buffers[0]
    _unpack_float64(q, np.int64(chunk.meta["bias"]), _sentinel(q), out)


def decode_int64(chunk: Chunk, out: np.ndarray, na: np.ndarray) -> None:
    q = chunk.buffers[0]
    _unpack_int64(q, np.int64(chunk.meta["bias"]), _sentinel(q), out, na)
