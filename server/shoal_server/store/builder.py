"""`FrameBuilder`: collects the encoded chunks of a new frame and publishes it only when complete.

Chunks are stored (and counted against the memory budget) as they are added, under a private
staging key, so no partial frame is ever visible. ``commit()`` checks that every chunk index has
every column with the same row count, moves the chunks to the frame key and registers the header
in the catalog; ``publish`` (set by ``for_node``) then has the other nodes of a cluster do the same
for their staged chunks. ``abort()`` (or leaving a ``with`` block without committing) frees
everything.

Chunk indices that live on other nodes are declared with ``add_remote(chunk_idx, nrows)``; the
cluster layer moves those nodes' staged chunks itself.
"""
from __future__ import annotations

import time
import uuid
from typing import Sequence

from ..errors import ShoalError
from .catalog import Catalog
from .chunk import Chunk
from .chunkstore import ChunkStore
from .frame import ColumnHeader, FrameHeader
from .layout import starts_from_nrows
from .types import ColType

__all__ = ["FrameBuilder"]


class FrameBuilder:
    """Build frame ``key`` with ``columns`` (ColumnHeaders) placed over ``members``."""

    def __init__(self, catalog: Catalog, chunks: ChunkStore, key: str, columns: Sequence[ColumnHeader],
                 members: Sequence[str], nchunks: int | None = None, staging_key: str | None = None,
                 publish=None):
        if not members:
            raise ValueError("a frame needs at least one member to place its chunks")
        self.catalog = catalog
        self.chunks = chunks
        self.key = key
        self.columns = [c if isinstance(c, ColumnHeader) else ColumnHeader.from_wire(c) for c in columns]
        self.members = tuple(members)
        self.nchunks = nchunks
        self.staging_key = staging_key or f"{key}.staging.{uuid.uuid4().hex[:8]}"
        self._nrows: dict[tuple[int, int], int] = {}     # (col, chunk) -> rows, local chunks
        self._remote: dict[int, int] = {}                # chunk -> rows, chunks held elsewhere
        self._publish = publish   # publish(staging_key, header): the cluster's half of a commit
        self._state = "open"

    @classmethod
    def for_node(cls, node, key: str, columns: Sequence[ColumnHeader], **kw) -> "FrameBuilder":
        """A builder on ``node``'s catalog and chunk store, placed over the node's current members."""
        kw.setdefault("publish", node.publish_frame)
        return cls(node.catalog, node.chunks, key, columns, node.runtime.members(), **kw)

    # ---------------------------------------------------------------- adding chunks
    def _open(self) -> None:
        if self._state != "open":
            raise ShoalError(f"The builder of frame `{self.key}` is already {self._state}.")

    def _check_chunk(self, col_idx: int, chunk: Chunk) -> None:
        if not 0 <= col_idx < len(self.columns):
            raise ShoalError(f"Column {col_idx} is outside frame `{self.key}` ({len(self.columns)} columns).")
        want = self.columns[col_idx].type
        if ColType(chunk.meta.get("type")) is not want:
            raise ShoalError(f"A {chunk.meta.get('type')} chunk was given for {want.value} column "
                             f"`{self.columns[col_idx].name}` of frame `{self.key}`.")

    def add(self, col_idx: int, chunk_idx: int, chunk: Chunk) -> None:
        """Store one chunk (replaces an earlier one at the same place). May raise ``memory_exceeded``."""
        self.add_many([(col_idx, chunk_idx, chunk)])

    def add_row(self, chunk_idx: int, chunks: Sequence[Chunk]) -> None:
        """Store chunk ``chunk_idx`` of every column at once (all or nothing)."""
        if len(chunks) != len(self.columns):
            raise ShoalError(f"Chunk {chunk_idx} of frame `{self.key}` has {len(chunks)} columns; "
                             f"the frame has {len(self.columns)}.")
        self.add_many([(c, chunk_idx, ch) for c, ch in enumerate(chunks)])

    def add_many(self, items: Sequence[tuple[int, int, Chunk]]) -> None:
        self._open()
        items = [(int(c), int(i), ch) for c, i, ch in items]
        for c, i, ch in items:
            self._check_chunk(c, ch)
            if i < 0:
                raise ShoalError(f"Chunk index {i} is negative.")
        self.chunks.put_many(self.staging_key, items)
        for c, i, ch in items:
            self._nrows[(c, i)] = int(ch.nrows)

    def add_remote(self, chunk_idx: int, nrows: int) -> None:
        """Declare chunk ``chunk_idx`` (every column, ``nrows`` rows) as stored on another node."""
        self._open()
        self._remote[int(chunk_idx)] = int(nrows)

    def set_domain(self, col_idx: int, domain: Sequence[str]) -> None:
        """Set the domain of enum column ``col_idx`` (e.g. after unifying chunk domains)."""
        self._open()
        col = self.columns[col_idx]
        self.columns[col_idx] = ColumnHeader(col.name, col.type, tuple(domain))

    # ---------------------------------------------------------------- finishing
    def _layout(self) -> list[int]:
        indices = {i for (_c, i) in self._nrows} | set(self._remote)
        n = self.nchunks if self.nchunks is not None else (max(indices) + 1 if indices else 0)
        if indices and max(indices) >= n:
            raise ShoalError(f"Frame `{self.key}` was declared with {n} chunks but got chunk {max(indices)}.")
        ncol = len(self.columns)
        rows = []
        for i in range(n):
            if i in self._remote:
                rows.append(self._remote[i])
                continue
            counts = {self._nrows.get((c, i)) for c in range(ncol)}
            if None in counts:
                missing = [self.columns[c].name for c in range(ncol) if (c, i) not in self._nrows]
                raise ShoalError(f"Frame `{self.key}` is incomplete: chunk {i} is missing for columns "
                                 f"{', '.join(missing[:10])}.", {"frame": self.key, "chunk": i})
            if len(counts) > 1:
                raise ShoalError(f"Chunk {i} of frame `{self.key}` has different row counts across columns "
                                 f"({sorted(counts)}).", {"frame": self.key, "chunk": i})
            rows.append(counts.pop() if ncol else 0)
        return rows

    def commit(self) -> FrameHeader:
        """Check completeness, publish the chunks under ``key`` and register the header."""
        self._open()
        try:
            rows = self._layout()
            cols = [c if c.type is not ColType.ENUM or c.domain is not None else ColumnHeader(c.name, c.type, ())
                    for c in self.columns]
            header = FrameHeader(self.key, tuple(cols), starts_from_nrows(rows), self.members,
                                 int(time.time() * 1000))
        except BaseException:
            self.abort()
            raise
        self.chunks.rename_frame(self.staging_key, self.key)
        self.catalog.put(header)
        self._state = "committed"
        if self._publish is not None:
            try:
                self._publish(self.staging_key, header)
            except BaseException:
                # Other nodes could not take their part: the frame must not exist anywhere.
                self.catalog.remove(self.key)
                self.chunks.remove_frame(self.key)
                raise
        return header

    def abort(self) -> None:
        """Free every chunk this builder stored; the frame is never registered."""
        if self._state == "committed":
            return
        self.chunks.remove_frame(self.staging_key)
        self._state = "aborted"

    def __enter__(self) -> "FrameBuilder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._state == "open":
            self.abort()
