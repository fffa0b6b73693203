"""What an expression evaluates to on the coordinator: lazy frames, and the evaluation context.

A :class:`FrameVal` is a list of output columns (``ColumnHeader`` + plan, see ``chunkeval``) over
the row layout of one stored *anchor* frame. Elementwise ops only build plans; work happens when a
frame is materialized (``frames.materialize``) or gathered (``frames.gather``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameter
from ..store.frame import ColumnHeader, FrameHeader
from . import frames as F

__all__ = ["FrameVal", "EvalContext", "ref_plan", "same_layout", "dedupe"]


def ref_plan(header: FrameHeader, i: int) -> list:
    """The plan of stored column ``i`` of ``header``."""
    col = header.columns[i]
    if col.type.value == "string":
        return ["str", header.key, i]
    return ["ref", header.key, i, col.type.value]


def same_layout(a: FrameHeader, b: FrameHeader) -> bool:
    return a.members == b.members and np.array_equal(a.starts, b.starts)


def dedupe(names: list[str]) -> list[str]:
    """Duplicates become ``name_2``, ``name_3`` ... (the parser's rule)."""
    out, seen = [], set()
    for n in names:
        cand, k = n, 2
        while cand in seen:
            cand = f"{n}_{k}"
            k += 1
        seen.add(cand)
        out.append(cand)
    return out


@dataclass
class FrameVal:
    """A lazy frame: ``cols`` (``(ColumnHeader, plan)``) over ``anchor``'s row layout."""

    anchor: FrameHeader
    cols: list

    @classmethod
    def of(cls, header: FrameHeader) -> "FrameVal":
        return cls(header, [(c, ref_plan(header, i)) for i, c in enumerate(header.columns)])

    @property
    def ncol(self) -> int:
        return len(self.cols)

    @property
    def nrow(self) -> int:
        return self.anchor.nrow

    @property
    def names(self) -> list[str]:
        return [h.name for h, _p in self.cols]

    def is_stored(self) -> bool:
        """True when this is exactly the anchor frame (every column, in order, unchanged)."""
        h = self.anchor
        return (len(self.cols) == h.ncol and
                all(p[:3] == ref_plan(h, i)[:3] and c == h.columns[i] for i, (c, p) in enumerate(self.cols)))

    def col_index(self, name) -> int:
        if isinstance(name, bool) or not isinstance(name, (int, str)):
            raise InvalidParameter(f"A column is selected by name or index; got {name!r}.", {"column": str(name)})
        if isinstance(name, int):
            i = name + self.ncol if name < 0 else name
            if not 0 <= i < self.ncol:
                raise InvalidParameter(f"Column index {name} is outside a frame of {self.ncol} columns.",
                                       {"column": name})
            return i
        for i, n in enumerate(self.names):
            if n == name:
                return i
        from ..errors import ColumnNotFound
        shown = ", ".join(self.names[:50])
        raise ColumnNotFound(f"Column `{name}` is not in frame `{self.anchor.key}` (columns: {shown}).",
                             {"column": name, "columns": self.names[:1000]})

    def select(self, idx: list[int]) -> "FrameVal":
        return FrameVal(self.anchor, [self.cols[i] for i in idx])


@dataclass
class EvalContext:
    """One evaluation: the node, the job, and the temporary frames to drop at the end."""

    node: object
    job: object = None
    temps: list = field(default_factory=list)

    def temp_key(self) -> str:
        key = self.node.catalog.new_key("tmp_expr")
        self.temps.append(key)
        return key

    def check(self) -> None:
        if self.job is not None:
            self.job.check()

    def stored(self, fv: FrameVal) -> FrameHeader:
        """A stored frame holding ``fv`` (the anchor itself when unchanged, else a temporary)."""
        if fv.is_stored():
            return fv.anchor
        return F.materialize(self.node, fv.anchor, self.temp_key(), fv.cols, job=self.job)

    def gather(self, fv: FrameVal, rows=None) -> list:
        return F.gather(self.node, fv.anchor, fv.cols, rows=rows, job=self.job)

    def store(self, columns: list, chunk_rows: int | None = None) -> FrameVal:
        return FrameVal.of(F.store_columns(self.node, self.temp_key(), columns, chunk_rows))

    def cleanup(self, keep: str | None = None) -> None:
        for key in self.temps:
            if key != keep:
                try:
                    F.delete_frame(self.node, key)
                except Exception:  # best effort: a temporary must never mask the real error
                    pass
        self.temps = []


def column_header(name: str, coltype: str, domain=None) -> ColumnHeader:
    return ColumnHeader(name, coltype, tuple(domain) if domain is not None else None)
