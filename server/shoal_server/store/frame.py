"""Frame and column headers: the small, msgpack-able metadata of a frame.

A `FrameHeader` names the frame's columns (`ColumnHeader`: name, type, enum domain), its row
layout (``starts``) and the sorted membership that placed its chunks (``members``; see
``layout.home_of``). Headers are immutable; every node's catalog holds a replica.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ColumnNotFound
from .layout import chunk_nrows, validate_starts
from .types import ColType

__all__ = ["ColumnHeader", "FrameHeader"]

_COLTYPE_OF = {t.value: t for t in ColType}


@dataclass(frozen=True)
class ColumnHeader:
    """One column: ``name``, ``type`` (ColType) and, for ``enum``, the sorted ``domain``."""

    name: str
    type: ColType
    domain: tuple | None = None

    def __post_init__(self):
        # a dict lookup, not ColType(...): wide frames build 100k headers (str enum: "int" and
        # ColType.INT hash alike, so both find the member)
        t = _COLTYPE_OF.get(self.type) if isinstance(self.type, str) else None
        object.__setattr__(self, "type", t if t is not None else ColType(self.type))
        if self.domain is not None:
            object.__setattr__(self, "domain", tuple(str(d) for d in self.domain))

    @property
    def cardinality(self) -> int | None:
        return len(self.domain) if self.domain is not None else None

    def to_wire(self) -> dict:
        return {"name": self.name, "type": self.type.value,
                "domain": list(self.domain) if self.domain is not None else None}

    @classmethod
    def from_wire(cls, d: dict) -> "ColumnHeader":
        return cls(str(d["name"]), ColType(d["type"]), d.get("domain"))


@dataclass(frozen=True, eq=False)
class FrameHeader:
    """A frame: ``key``, ``columns``, ``starts`` (int64[nchunks+1]), ``members``, ``created_ms``."""

    key: str
    columns: tuple
    starts: np.ndarray
    members: tuple = ()
    created_ms: int = 0
    _index: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        cols = tuple(c if isinstance(c, ColumnHeader) else ColumnHeader.from_wire(c) for c in self.columns)
        object.__setattr__(self, "columns", cols)
        starts = validate_starts(self.starts).copy()
        starts.flags.writeable = False
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "members", tuple(str(m) for m in self.members))
        object.__setattr__(self, "created_ms", int(self.created_ms))
        index: dict[str, int] = {}
        for i, c in enumerate(cols):
            index.setdefault(c.name, i)
        object.__setattr__(self, "_index", index)

    # ---------------------------------------------------------------- shape
    @property
    def nrow(self) -> int:
        return int(self.starts[-1])

    @property
    def ncol(self) -> int:
        return len(self.columns)

    @property
    def nchunks(self) -> int:
        return len(self.starts) - 1

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def types(self) -> list[ColType]:
        return [c.type for c in self.columns]

    def chunk_nrows(self) -> np.ndarray:
        """Rows in each chunk."""
        return chunk_nrows(self.starts)

    # ---------------------------------------------------------------- lookup
    def col_index(self, name: str) -> int:
        """Index of column ``name``; raises ``column_not_found`` listing the frame's columns."""
        idx = self._index.get(name)
        if idx is None:
            shown = ", ".join(self.names[:50]) + (", ..." if self.ncol > 50 else "")
            raise ColumnNotFound(f"Column `{name}` is not in frame `{self.key}` (columns: {shown}).",
                                 {"frame": self.key, "column": str(name), "columns": self.names[:1000]})
        return idx

    def column(self, name_or_index) -> ColumnHeader:
        """A column header by name or index."""
        if isinstance(name_or_index, (int, np.integer)):
            i = int(name_or_index)
            if not -self.ncol <= i < self.ncol:
                raise ColumnNotFound(f"Column index {i} is outside frame `{self.key}` ({self.ncol} columns).",
                                     {"frame": self.key, "column": i})
            return self.columns[i]
        return self.columns[self.col_index(name_or_index)]

    def __contains__(self, name) -> bool:
        return name in self._index

    # ---------------------------------------------------------------- wire
    def to_wire(self) -> dict:
        return {"key": self.key, "columns": [c.to_wire() for c in self.columns],
                "starts": [int(s) for s in self.starts], "members": list(self.members),
                "created_ms": self.created_ms}

    @classmethod
    def from_wire(cls, d: dict) -> "FrameHeader":
        return cls(str(d["key"]), tuple(ColumnHeader.from_wire(c) for c in d["columns"]),
                   np.asarray(d["starts"], dtype=np.int64), tuple(d.get("members") or ()),
                   int(d.get("created_ms") or 0))

    def replace(self, **changes) -> "FrameHeader":
        """A copy with some fields changed (e.g. ``key`` or ``columns``)."""
        d = {"key": self.key, "columns": self.columns, "starts": self.starts, "members": self.members,
             "created_ms": self.created_ms}
        d.update(changes)
        return FrameHeader(**d)

    def __eq__(self, other) -> bool:
        return isinstance(other, FrameHeader) and self.to_wire() == other.to_wire()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameHeader(key={self.key!r}, nrow={self.nrow}, ncol={self.ncol}, nchunks={self.nchunks})"
