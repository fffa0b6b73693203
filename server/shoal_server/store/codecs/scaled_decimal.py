"""``scaled_decimal``: decimals such as 12.34 stored as integers ``q`` with ``value = q / 10**scale``.

``q - bias`` is kept in 1, 2 or 4 unsigned bytes (top value = missing). Decoding divides by the
exact power of ten, which IEEE-754 rounds correctly, so a value parsed from a decimal string comes
back with the same bits. The encoder still checks the round trip of every value and refuses
(returns None) when one fails, so the codec is lossless by construction. ``meta``: ``scale``,
``bias``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..chunk import Chunk
from ._common import unsigned_width

NAME = "scaled_decimal"

#: Largest scale tried (beyond it the integers no longer fit 4 bytes for ordinary data).
MAX_SCALE = 10


@numba.njit(nogil=True, cache=True)
def _pack(values, p, bias, sentinel, out):
    """IN values float64[n] (NaN missing), p = 10**scale; OUT out uint*[n]. Returns False on a failed round trip."""
    for i in range(values.shape[0]):
        x = values[i]
        if x != x:
            out[i] = sentinel
            continue
        q = math.floor(x * p + 0.5)
        d = q - bias
        if not (0.0 <= d < sentinel):
            return False
        if q / p != x or (x == 0.0 and math.copysign(1.0, x) < 0.0):
            return False
        out[i] = np.int64(d)
    return True


@numba.njit(nogil=True, cache=True)
def _unpack_float64(q, p, bias, sentinel, out):
    """IN q uint*[n]; OUT out float64[n] (NaN for missing)."""
    for i in range(q.shape[0]):
        v = q[i]
        if v == sentinel:
            out[i] = np.nan
        else:
            out[i] = np.float64(np.int64(v) + bias) / p


def span_at(vmin: float, vmax: float, scale: int) -> tuple[int, int]:
    """``(bias, span)`` of the scaled integers for values in ``[vmin, vmax]``."""
    p = 10.0 ** scale
    lo = math.floor(vmin * p + 0.5)
    hi = math.floor(vmax * p + 0.5)
    return int(lo), int(hi - lo)


def encode(values: np.ndarray, vmin: float, vmax: float, scale: int) -> Chunk | None:
    """Encode float64 ``values`` at ``scale``; None when the span is too wide or a value would change."""
    if not (1 <= scale <= MAX_SCALE) or not (math.isfinite(vmin) and math.isfinite(vmax)):
        return None
    bias, span = span_at(vmin, vmax, scale)
    spec = unsigned_width(span)
    if spec is None or abs(bias) > 2 ** 52:
        return None
    _, dtype, sentinel = spec
    out = np.empty(values.shape[0], dtype=dtype)
    if not _pack(values, 10.0 ** scale, float(bias), float(sentinel), out):
        return None
    return Chunk(NAME, int(values.shape[0]), (out,), {"type": "real", "scale": int(scale), "bias": bias})


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    q = chunk.buffers[0]
    sentinel = q.dtype.type(np.iinfo(q.dtype).max)
    _unpack_float64(q, 10.0 ** int(chunk.meta["scale"]), np.int64(chunk.meta["bias"]), sentinel, out)
