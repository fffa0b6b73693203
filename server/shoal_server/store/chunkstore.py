"""This node's chunks, ``(frame_key, col_idx, chunk_idx) -> Chunk``, with memory accounting.

Every put is checked against the node's memory budget *before* anything is stored: a put (or a
batch put) that would exceed it raises ``memory_exceeded`` and stores nothing. Bytes are counted as
the chunks' compressed sizes, per frame and in total. Thread-safe.
"""
from __future__ import annotations

import threading
from typing import Iterable

from ..errors import FrameNotFound, MemoryExceeded
from .chunk import Chunk

__all__ = ["ChunkStore"]


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


class ChunkStore:
    """The chunks held by this node, within a budget of ``budget`` bytes (0 or None = unlimited)."""

    def __init__(self, budget: int | None = None):
        self.budget = int(budget or 0)
        self._lock = threading.RLock()
        self._frames: dict[str, dict[tuple[int, int], Chunk]] = {}
        self._frame_bytes: dict[str, int] = {}
        self._used = 0

    # ---------------------------------------------------------------- accounting
    @property
    def bytes_used(self) -> int:
        with self._lock:
            return self._used

    def frame_bytes(self, frame_key: str) -> int:
        """Bytes this node holds for ``frame_key`` (0 when none)."""
        with self._lock:
            return self._frame_bytes.get(frame_key, 0)

    def _check(self, extra: int, frame_key: str) -> None:
        if self.budget and extra > 0 and self._used + extra > self.budget:
            raise MemoryExceeded(
                f"Storing {_mb(extra)} more for frame `{frame_key}` would exceed this node's memory budget "
                f"({_mb(self._used)} of {_mb(self.budget)} in use); nothing was stored. Remove frames you no "
                f"longer need, or start the node with a larger --memory-budget.",
                {"frame": frame_key, "requested_bytes": int(extra), "used_bytes": int(self._used),
                 "budget_bytes": int(self.budget)})

    # ---------------------------------------------------------------- writes
    def put(self, frame_key: str, col_idx: int, chunk_idx: int, chunk: Chunk) -> None:
        """Store one chunk (replacing the chunk at the same place)."""
        self.put_many(frame_key, [(col_idx, chunk_idx, chunk)])

    def put_many(self, frame_key: str, items: Iterable[tuple[int, int, Chunk]]) -> None:
        """Store several chunks of one frame: all of them, or (over budget) none."""
        items = [(c if type(c) is int else int(c), i if type(i) is int else int(i), ch) for c, i, ch in items]
        with self._lock:
            frame = self._frames.get(frame_key, {})
            staged: dict[tuple[int, int], Chunk] = {}
            for c, i, ch in items:
                staged[(c, i)] = ch
            delta = sum(ch.nbytes for ch in staged.values())
            delta -= sum(frame[k].nbytes for k in staged if k in frame)
            self._check(delta, frame_key)
            frame = self._frames.setdefault(frame_key, frame)
            frame.update(staged)
            self._frame_bytes[frame_key] = self._frame_bytes.get(frame_key, 0) + delta
            self._used += delta

    def remove_frame(self, frame_key: str) -> int:
        """Free every chunk of ``frame_key``; returns the bytes freed."""
        with self._lock:
            self._frames.pop(frame_key, None)
            freed = self._frame_bytes.pop(frame_key, 0)
            self._used -= freed
            return freed

    def rename_frame(self, old_key: str, new_key: str) -> None:
        """Move every chunk of ``old_key`` to ``new_key`` (whose chunks, if any, are freed first)."""
        with self._lock:
            if old_key == new_key:
                return
            self.remove_frame(new_key)
            frame = self._frames.pop(old_key, None)
            if frame is not None:
                self._frames[new_key] = frame
                self._frame_bytes[new_key] = self._frame_bytes.pop(old_key, 0)

    # ---------------------------------------------------------------- reads
    def get(self, frame_key: str, col_idx: int, chunk_idx: int) -> Chunk:
        """One chunk; raises ``frame_not_found`` when this node does not hold it."""
        with self._lock:
            frame = self._frames.get(frame_key)
            chunk = frame.get((col_idx, chunk_idx)) if frame is not None else None
            if chunk is None and frame is not None and not (type(col_idx) is int and type(chunk_idx) is int):
                chunk = frame.get((int(col_idx), int(chunk_idx)))
        if chunk is None:
            raise FrameNotFound(f"This node holds no chunk {chunk_idx} of column {col_idx} of frame `{frame_key}`.",
                                {"frame": frame_key, "column": int(col_idx), "chunk": int(chunk_idx)})
        return chunk

    def has(self, frame_key: str, col_idx: int, chunk_idx: int) -> bool:
        with self._lock:
            return (int(col_idx), int(chunk_idx)) in self._frames.get(frame_key, {})

    def row_chunks(self, frame_key: str, chunk_idx: int, columns: Iterable[int]) -> dict[int, Chunk]:
        """``{col_idx: chunk}`` of one chunk index for the given columns."""
        return {int(c): self.get(frame_key, c, chunk_idx) for c in columns}

    def chunk_indices(self, frame_key: str) -> list[int]:
        """Sorted chunk indices of ``frame_key`` held here (any column)."""
        with self._lock:
            return sorted({i for (_c, i) in self._frames.get(frame_key, {})})

    def frame_keys(self) -> list[str]:
        with self._lock:
            return sorted(self._frames)

    def items(self, frame_key: str) -> list[tuple[int, int, Chunk]]:
        """``(col_idx, chunk_idx, chunk)`` of every chunk of ``frame_key`` held here, sorted."""
        with self._lock:
            frame = dict(self._frames.get(frame_key, {}))
        return [(c, i, frame[(c, i)]) for (c, i) in sorted(frame)]
