"""Column types of a frame (`ColType`), named as in H2O-3.

``time`` is int64 milliseconds since the Unix epoch, UTC; ``enum`` is a categorical (int32 codes
into a string domain held by the column header).
"""
from __future__ import annotations

from enum import Enum

__all__ = ["ColType", "NUMERIC_TYPES", "INTEGER_TYPES"]


class ColType(str, Enum):
    """The type of one column. A ``str`` enum, so ``ColType("real") == "real"``."""

    INT = "int"
    REAL = "real"
    ENUM = "enum"
    STRING = "string"
    TIME = "time"
    BOOL = "bool"

    def __str__(self) -> str:
        return self.value


#: Types whose values are numbers (rollups compute moments for these).
NUMERIC_TYPES = frozenset({ColType.INT, ColType.REAL, ColType.TIME, ColType.BOOL})
#: Types whose values are exact int64 (``decode_int64`` gives the stored values).
INTEGER_TYPES = frozenset({ColType.INT, ColType.TIME, ColType.BOOL, ColType.ENUM})
