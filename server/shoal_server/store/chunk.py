"""The `Chunk`: one closed, immutable, encoded piece of one column.

A chunk is a codec name, a row count, a tuple of 1-D contiguous numpy buffers (wire-ready: each is
sent as its own ZeroMQ frame) and a small ``meta`` dict of msgpack-able scalars and short lists
(``meta["type"]`` is always the column type). ``nbytes`` is the compressed size (the buffers);
``raw_nbytes`` is what the same values would take uncompressed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import ColType

__all__ = ["Chunk", "raw_nbytes"]

_RAW_WIDTH = {ColType.INT: 8, ColType.REAL: 8, ColType.TIME: 8, ColType.ENUM: 4, ColType.BOOL: 1}
_RAW_WIDTH_OF = {t.value: w for t, w in _RAW_WIDTH.items()}  # by type name: no ColType(...) per chunk


def raw_nbytes(coltype: str, nrows: int, string_bytes: int = 0) -> int:
    """Bytes a column of ``nrows`` values takes uncompressed.

    8 bytes per value for ``int``, ``real`` and ``time``; 4 per ``enum`` code; 1 per ``bool``;
    for ``string``: int64 offsets (``8 * (nrows + 1)``) plus ``string_bytes`` of UTF-8 data.
    """
    t = ColType(coltype)
    if t is ColType.STRING:
        return 8 * (int(nrows) + 1) + int(string_bytes)
    return _RAW_WIDTH[t] * int(nrows)


@dataclass(frozen=True, eq=False)
class Chunk:
    """An encoded column piece. Build with ``codecs.encode``; read with the ``codecs.decode_*``."""

    codec: str
    nrows: int
    buffers: tuple = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # constant chunks have nothing to check (wide frames make 100k of them per range)
        if type(self.buffers) is tuple and not self.buffers and type(self.nrows) is int:
            return
        bufs = tuple(b if isinstance(b, np.ndarray) else np.frombuffer(b, dtype=np.uint8) for b in self.buffers)
        for b in bufs:
            if b.ndim != 1 or b.dtype.hasobject:
                raise ValueError("chunk buffers must be 1-D numpy arrays of plain numbers")
            # Closed chunks are immutable: a kernel that tries to write into one fails loudly.
            b.flags.writeable = False
        object.__setattr__(self, "buffers", bufs)
        object.__setattr__(self, "nrows", int(self.nrows))

    @property
    def coltype(self) -> ColType:
        """The column type the chunk was encoded for."""
        return ColType(self.meta["type"])

    @property
    def nbytes(self) -> int:
        """Compressed size: the bytes of every buffer."""
        bufs = self.buffers
        if not bufs:
            return 0
        return int(sum(b.nbytes for b in bufs))

    @property
    def raw_nbytes(self) -> int:
        """Uncompressed size of the same values (see :func:`raw_nbytes`)."""
        width = _RAW_WIDTH_OF.get(self.meta["type"])
        if width is not None:
            return width * self.nrows
        return raw_nbytes(self.meta["type"], self.nrows, int(self.meta.get("string_bytes", 0)))

    def to_wire(self) -> tuple[dict, list[np.ndarray]]:
        """``(envelope, buffers)``: a msgpack-able description plus the raw buffers."""
        env = {"codec": self.codec, "nrows": int(self.nrows), "meta": self.meta,
               "dtypes": [b.dtype.str for b in self.buffers]}
        return env, [np.ascontiguousarray(b) for b in self.buffers]

    @classmethod
    def from_wire(cls, env: dict, buffers) -> "Chunk":
        """Rebuild a chunk from :meth:`to_wire` output (buffers may be bytes or memoryviews)."""
        dtypes = env["dtypes"]
        if len(dtypes) != len(buffers):
            raise ValueError("chunk envelope and buffer count disagree")
        arrs = []
        for dt, buf in zip(dtypes, buffers):
            dtype = np.dtype(dt)
            if dtype.hasobject:
                raise ValueError("object buffers are not allowed in a chunk")
            arrs.append(np.frombuffer(buf, dtype=dtype) if not isinstance(buf, np.ndarray)
                        else buf.view(dtype).reshape(-1))
        return cls(str(env["codec"]), int(env["nrows"]), tuple(arrs), dict(env["meta"]))

    def __repr__(self) -> str:
        return (f"Chunk(codec={self.codec!r}, nrows={self.nrows}, nbytes={self.nbytes}, "
                f"meta={self.meta!r})")
