"""``float32``: real values that every one survive the float64 -> float32 -> float64 round trip.

The ladder checks the round trip per value (bit-exact, so -0.0 and +-inf are kept); NaN is missing.
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk

NAME = "float32"


def encode(values: np.ndarray) -> Chunk:
    """Encode float64 ``values`` already known to round-trip through float32."""
    return Chunk(NAME, int(values.shape[0]), (values.astype(np.float32),), {"type": "real"})


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    np.copyto(out, chunk.buffers[0], casting="safe")
