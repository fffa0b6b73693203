"""The compressed column store: types, chunks and codecs, frame headers, catalog, chunk store.

Modules: ``types`` (ColType), ``chunk`` (Chunk), ``codecs/`` (one module per encoding + the
encoding ladder), ``layout`` (row layout, chunk homes), ``frame`` (Column/FrameHeader),
``catalog`` (key -> header), ``chunkstore`` (this node's chunks, memory budget), ``builder``
(FrameBuilder), ``rollups`` (per-column statistics as map/reduce tasks; it depends on ``tasks``,
so it is imported lazily: by :func:`warm` at node start, which also registers its tasks).
"""
from .chunk import Chunk
from .frame import ColumnHeader, FrameHeader
from .types import ColType

__all__ = ["Chunk", "ColType", "ColumnHeader", "FrameHeader", "warm"]


def warm() -> None:
    """Load every store kernel (codecs, rollups) and register the rollup tasks; run at node start."""
    from . import codecs, rollups

    codecs.warm()
    rollups.warm()
