"""``float64``: the fallback for real values, stored as they are (NaN is missing)."""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk

NAME = "float64"


def encode(values: np.ndarray) -> Chunk:
    return Chunk(NAME, int(values.shape[0]), (np.array(values, dtype=np.float64, copy=True),), {"type": "real"})


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    np.copyto(out, chunk.buffers[0])
