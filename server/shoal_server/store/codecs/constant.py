"""``constant``: every row holds the same value, or every row is missing. No buffers at all.

``meta["value"]`` is the value (a float for ``real``, an int otherwise) or None when all rows are
missing. A ``real`` constant keeps its exact bits (``-0.0``, ``inf``).
"""
from __future__ import annotations

import numpy as np

from ..chunk import Chunk

NAME = "constant"


def encode(coltype: str, nrows: int, value) -> Chunk:
    """A constant chunk of ``nrows`` rows; ``value=None`` means every row is missing."""
    if value is not None:
        value = float(value) if coltype == "real" else int(value)
    return Chunk(NAME, int(nrows), (), {"type": str(coltype), "value": value})


def decode_float64(chunk: Chunk, out: np.ndarray) -> None:
    value = chunk.meta["value"]
    out[:] = np.nan if value is None else float(value)


def decode_int64(chunk: Chunk, out: np.ndarray, na: np.ndarray) -> None:
    value = chunk.meta["value"]
    out[:] = 0 if value is None else int(value)
    na[:] = value is None
