"""A frame's row layout and chunk placement.

A layout is ``starts: int64[nchunks + 1]``: chunk *i* of every column covers rows
``starts[i]:starts[i+1]``. ``home_of`` is the one function that places chunks on nodes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["home_of", "starts_from_nrows", "even_starts", "chunk_nrows", "chunk_of_row", "validate_starts"]


def home_of(chunk_idx: int, members: Sequence[str]) -> str:
    """The member that holds chunk ``chunk_idx``: ``members[chunk_idx % len(members)]``.

    ``members`` is the sorted, locked cluster membership.
    """
    if not members:
        raise ValueError("home_of needs at least one member")
    return members[int(chunk_idx) % len(members)]


def starts_from_nrows(nrows: Sequence[int]) -> np.ndarray:
    """``starts`` from the row count of each chunk (``[0, n0, n0+n1, ...]``)."""
    counts = np.asarray(nrows, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError("chunk row counts must be a 1-D list of non-negative integers")
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def even_starts(nrow: int, chunk_rows: int) -> np.ndarray:
    """``starts`` that cut ``nrow`` rows into chunks of ``chunk_rows`` (the last may be shorter)."""
    if chunk_rows <= 0:
        raise ValueError("chunk_rows must be positive")
    nrow = int(nrow)
    if nrow == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, nrow, int(chunk_rows), dtype=np.int64)
    return np.append(starts, np.int64(nrow))


def chunk_nrows(starts: np.ndarray) -> np.ndarray:
    """Row count of each chunk."""
    return np.diff(np.asarray(starts, dtype=np.int64))


def chunk_of_row(starts: np.ndarray, row: int) -> int:
    """Index of the chunk that holds ``row`` (0 <= row < nrow)."""
    starts = np.asarray(starts, dtype=np.int64)
    if row < 0 or row >= starts[-1]:
        raise IndexError(f"row {row} is outside [0, {int(starts[-1])})")
    return int(np.searchsorted(starts, row, side="right") - 1)


def validate_starts(starts: np.ndarray) -> np.ndarray:
    """Return ``starts`` as int64 after checking it begins at 0 and never decreases."""
    arr = np.ascontiguousarray(starts, dtype=np.int64)
    if arr.ndim != 1 or len(arr) < 1 or arr[0] != 0 or (np.diff(arr) < 0).any():
        raise ValueError("starts must be a non-decreasing int64 array beginning at 0")
    return arr
