"""``Frame``: a handle on a frame held by the cluster, and the H2O-style munging API on it.

A ``Frame`` is either **materialized** (it has a key on the cluster, plus cached metadata) or
**lazy** (it holds an expression, :class:`shoal.expr.Expr`, over other frames). Operators and
munging methods return lazy frames; a lazy frame is evaluated (one ``POST /api/v1/evaluate`` into a
temporary key) the first time anything needs its data or metadata (``key``, ``nrow``, ``names``,
``head``, ``as_data_frame``, a model's ``training_frame``, ``repr``). Scalar reducers
(``fr["x"].mean()``, ``fr.sum()``) return Python values: a number for one column, a list for several.

``fr[name] = value`` and ``fr[mask, name] = value`` evaluate at once and store the new version
under the frame's own key (so a model trained on ``fr`` by key sees the change). Temporary frames
(keys the client made, ``py_tmp_...``) are deleted on the cluster when their Python object is
garbage-collected; frames that were uploaded, imported or named by the user never are.

Bulk data moves through the SHOALCOL binary path (:mod:`shoal.wire`): ``as_data_frame`` downloads,
``Frame(df)`` uploads.
"""
from __future__ import annotations

import html
import math
import uuid
import weakref
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import convert, wire
from ._generated import expressions as _x
from ._generated import operations as ops
from .connection import Connection, current_connection
from .expr import Expr

__all__ = ["Frame", "FrameGroupBy", "ifelse", "merge", "cbind", "rbind", "TEMP_PREFIX"]

#: Key prefix of the temporary frames this client creates (and deletes when they are dropped).
TEMP_PREFIX = "py_tmp_"

#: summary column → keys in the server's Column (current name first)
_SUMMARY_FIELDS = {"min": ("min",), "max": ("max",), "mean": ("mean",), "sd": ("sd",),
                   "missing": ("missing_count", "missing"), "zeros": ("zero_count", "zeros"),
                   "+inf": ("pinf_count", "pinf"), "-inf": ("ninf_count", "ninf"),
                   "cardinality": ("cardinality",)}

#: Ops the server fuses into one per-chunk pass: a lazy frame made only of these is embedded in the
#: expressions that use it; any other lazy frame is evaluated once before it is used as an operand
#: (so its work is never repeated).
_FUSED_OPS = frozenset({
    "frame", "col", "cols", "drop", "rename", "cbind", "assign", "ifelse", "isna", "round", "signif",
    "and", "or", "not", "neg", "abs", "ceil", "floor", "trunc", "sign", "sqrt", "exp", "expm1", "log", "log1p",
    "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "add", "sub", "mul", "div", "floordiv", "mod", "pow", "eq", "ne", "lt", "le", "gt", "ge",
    "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "&", "|", "~",
    "year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second",
    "tolower", "toupper", "trim", "nchar", "substring",
})  # not runif: an unseeded draw must be made once, however often the frame is used

_DELETE_TIMEOUT = 10.0


def _temp_key() -> str:
    return f"{TEMP_PREFIX}{uuid.uuid4().hex[:20]}"


def _delete_quietly(conn: Connection, key: str) -> None:
    """Delete a temporary frame; errors (node gone, frame already removed) are ignored."""
    try:
        conn.request("DELETE", f"/api/v1/frames/{key}", timeout=_DELETE_TIMEOUT).close()
    except Exception:  # noqa: BLE001 - a finalizer must never raise
        pass


def _fused(tree: Any) -> bool:
    if isinstance(tree, list):
        return all(_fused(t) for t in tree)
    if not isinstance(tree, dict):
        return True
    if "op" not in tree:
        return True
    if tree["op"] not in _FUSED_OPS:
        return False
    return all(_fused(v) for k, v in tree.items() if k in ("args", "frame"))


def _info_of(summary: dict) -> dict:
    """An ``evaluate`` frame summary as the cached header (``columns`` only when domains are whole)."""
    info = {k: summary[k] for k in ("key", "nrow", "ncol", "nchunks") if k in summary}
    names, types = summary.get("names"), summary.get("types")
    domains = summary.get("domains") or [None] * len(names or [])
    if names is not None and types is not None and all(d is None or len(d) < 1000 for d in domains):
        cols = []
        for n, t, d in zip(names, types, domains):
            c: dict[str, Any] = {"name": n, "type": t}
            if d is not None:
                c["domain"] = list(d)
                c["domain_size"] = len(d)
            cols.append(c)
        info["columns"] = cols
    return info


def _py(v: Any) -> Any:
    """A JSON scalar from the server as a Python value (``"Inf"``/``"-Inf"`` → floats)."""
    if isinstance(v, str) and v in ("Inf", "-Inf", "NaN"):
        return _num(v)
    if v is None:
        return float("nan")
    return v


def _is_all(sel: Any) -> bool:
    return isinstance(sel, slice) and sel.start is None and sel.stop is None and sel.step is None


class StaleExpressionError(ValueError):
    """A lazy frame was built from a frame that has since been modified in place."""


class Frame:
    """A frame on a Shoal cluster (materialized, or a lazy expression over other frames).

    ``Frame(data)`` uploads ``data`` (a pandas DataFrame, a dict of columns, a numpy array) and
    returns the new frame; ``shoal.get_frame(key)`` / ``shoal.import_file(...)`` return frames that
    already exist. Munging (``fr["x"] > 0``, ``fr[mask, :]``, ``fr.group_by(...)``, ``fr.merge(...)``,
    ...) returns lazy frames, evaluated on the cluster when their data is first needed.

    Parameters
    ----------
    data : pandas.DataFrame | dict | numpy.ndarray
        The data to upload. Types: ints → int, floats → real, bool → bool, category → enum,
        datetime64 → time, str/object → string.
    destination_frame : str, optional
        Key of the new frame; default: a key chosen by the server.
    column_types : dict | list, optional
        Force Shoal types for some columns, by name (dict) or in order (list).
    """

    def __init__(self, data: Any = None, destination_frame: str | None = None,
                 column_types: dict | list | None = None, *, conn: Connection | None = None):
        self._setup(conn if conn is not None else current_connection())
        if data is None:
            if destination_frame is None:
                raise TypeError("Frame() needs data to upload, e.g. Frame(pandas_df); "
                                "use shoal.get_frame(key) for an existing frame.")
            self._key = destination_frame
            return
        nrow, cols = convert.pandas_to_columns(data, column_types)
        enc = wire.prepare(cols, nrow)
        res = ops.upload_frame(self.conn, enc.pieces(), destination_frame=destination_frame,
                               total=enc.nbytes, content_type="application/x-shoalcol")
        self._info = res["frame"]
        self._key = self._info["key"]

    # -- construction ----------------------------------------------------------------------------

    def _setup(self, conn: Connection | None, key: str | None = None, info: dict | None = None) -> None:
        self._conn = conn
        self._key = key
        self._info = info
        self._summary = None
        self._expr: Expr | None = None       # set while lazy
        self._version = 0                    # bumped by each in-place update
        self._deps: dict[int, weakref.ref] = {}  # lazy frames whose expression names this key
        self._finalizer = None               # deletes a temporary frame when this object goes
        self._identity = None                # (a, b, negate) of a Frame == Frame comparison

    @classmethod
    def _existing(cls, key: str, conn: Connection | None = None, info: dict | None = None) -> "Frame":
        fr = cls.__new__(cls)
        fr._setup(conn, key, info)
        return fr

    @classmethod
    def _lazy(cls, expr: Expr, conn: Connection | None = None) -> "Frame":
        fr = cls.__new__(cls)
        if conn is None:
            conn = next((f._conn for f, _v in expr.refs if f._conn is not None), None)
        fr._setup(conn)
        fr._expr = expr
        for f, _v in expr.refs:
            f._deps[id(fr)] = weakref.ref(fr, lambda _r, deps=f._deps, k=id(fr): deps.pop(k, None))
        return fr

    @classmethod
    def _temporary(cls, summary: dict, conn: Connection) -> "Frame":
        """A result frame stored under a key this client made: deleted when the object goes."""
        fr = cls._existing(summary["key"], conn, _info_of(summary))
        fr._own(summary["key"])
        return fr

    def _own(self, key: str) -> None:
        if key.startswith(TEMP_PREFIX):
            self._finalizer = weakref.finalize(self, _delete_quietly, self.conn, key)

    def _wrap(self, expr: Expr) -> "Frame":
        return Frame._lazy(expr, self._conn)

    @property
    def conn(self) -> Connection:
        return self._conn if self._conn is not None else current_connection()

    # -- laziness --------------------------------------------------------------------------------

    @property
    def is_lazy(self) -> bool:
        """Whether this frame is still an unevaluated expression."""
        return self._key is None

    def _as_expr(self) -> Expr:
        """This frame as an operand: its expression when it is cheap to fuse, else its key."""
        if self._key is None and not _fused(self._expr.tree):
            self._materialize()
        if self._key is None:
            return self._expr
        return Expr({"op": "frame", "key": self._key}, ((self, self._version),))

    def _stale(self) -> bool:
        return self._expr is not None and any(f._version != v for f, v in self._expr.refs)

    def _run(self, expr: Expr, dest: str | None = None) -> dict:
        """One ``evaluate`` call (refusing expressions built on an older version of a frame)."""
        for f, version in expr.refs:
            if f._version != version:
                raise StaleExpressionError(
                    f"This expression was built from frame {f._key!r} before it was modified in place "
                    f"(fr[...] = ...); build it again from the current frame.")
        return ops.evaluate(self.conn, expr.tree, dest=dest)

    def _materialize(self) -> str:
        if self._key is not None:
            return self._key
        key = _temp_key()
        res = self._run(self._expr, dest=key)
        if res.get("kind") != "frame":
            raise TypeError(f"This expression evaluates to a {res.get('kind')}, not a frame.")
        self._key = key
        self._info = _info_of(res["frame"])
        self._expr = None
        self._own(key)
        return key

    def _value(self, expr: Expr, raw: bool = False) -> Any:
        """Evaluate an expression whose value is a scalar or a list (numbers: NA → nan, unless ``raw``)."""
        res = self._run(expr)
        kind = res.get("kind")
        conv = (lambda v: v) if raw else _py
        if kind == "scalar":
            return conv(res.get("value"))
        if kind == "list":
            return [conv(v) for v in res.get("values", [])]
        raise TypeError(f"Expected a scalar or a list from the server; got a {kind}.")

    # -- metadata --------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The frame's key on the cluster (a lazy frame is evaluated first)."""
        return self._materialize()

    frame_id = key

    def _header(self) -> dict[str, Any]:
        key = self.key
        if self._info is None or "columns" not in self._info:
            self._info = ops.get_frame(self.conn, key, rollups=False)["frame"]
        return self._info

    def refresh(self) -> "Frame":
        """Forget cached metadata (the next call fetches it again)."""
        if self._key is not None:
            self._info = None
            self._summary = None
        return self

    @property
    def nrow(self) -> int:
        self._materialize()
        info = self._info if self._info and "nrow" in self._info else self._header()
        return int(info["nrow"])

    @property
    def ncol(self) -> int:
        self._materialize()
        info = self._info if self._info and "ncol" in self._info else self._header()
        return int(info["ncol"])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrow, self.ncol)

    @property
    def dim(self) -> list[int]:
        return [self.nrow, self.ncol]

    @property
    def names(self) -> list[str]:
        """Column names, in order (assigning a list renames the columns in place)."""
        return [c["name"] for c in self._header()["columns"]]

    @names.setter
    def names(self, value: Sequence[str]) -> None:
        self.set_names(value)

    columns = names
    col_names = names

    @property
    def types(self) -> dict[str, str]:
        """Column name → Shoal type (``int``, ``real``, ``enum``, ``string``, ``time``, ``bool``)."""
        return {c["name"]: c["type"] for c in self._header()["columns"]}

    def _type_list(self) -> list[str]:
        return [c["type"] for c in self._header()["columns"]]

    def _one_or_list(self, values: list) -> Any:
        return values[0] if len(values) == 1 else values

    def isfactor(self) -> bool | list[bool]:
        """Whether each column is an enum (a bool for one column)."""
        return self._one_or_list([t == "enum" for t in self._type_list()])

    def isnumeric(self) -> bool | list[bool]:
        return self._one_or_list([t in ("int", "real", "bool") for t in self._type_list()])

    def isstring(self) -> bool | list[bool]:
        return self._one_or_list([t == "string" for t in self._type_list()])

    def __len__(self) -> int:
        return self.nrow

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    # -- selection and assignment ----------------------------------------------------------------

    def __getitem__(self, item: Any) -> "Frame":
        """``fr["x"]``, ``fr[0]``, ``fr[["a", "b"]]``, ``fr[1:3]`` (columns); ``fr[mask]``,
        ``fr[mask, :]``, ``fr[rows, cols]`` with rows a boolean one-column frame, a row index, a
        list of indices or a slice. The result is a lazy frame."""
        if isinstance(item, Frame):
            item = item._as_expr()
        elif isinstance(item, tuple) and item and isinstance(item[0], Frame):
            item = (item[0]._as_expr(),) + item[1:]
        return self._wrap(self._as_expr()[item])

    def _col_name(self, c: Any) -> str:
        if isinstance(c, str):
            return c
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            return self.names[int(c)]
        raise TypeError(f"A column to assign is a name or an index; got {type(c).__name__}.")

    def __setitem__(self, item: Any, value: Any) -> None:
        """``fr["c"] = value`` (add or replace a column), ``fr[mask, "c"] = value`` (only where the
        mask is true; rows may also be a slice, an index or a list of indices or bools),
        ``fr[["a", "b"]] = frame_or_scalar``. ``value`` is a one-column frame, a
        scalar or an :class:`~shoal.expr.Expr`. The frame is updated in place under its own key."""
        if isinstance(item, tuple):
            if len(item) != 2:
                raise TypeError("Assign with fr[col] = v or fr[rows, col] = v.")
            rows, cols = item
        else:
            rows, cols = slice(None), item
        if isinstance(cols, slice):
            names = self.names[cols]
        elif isinstance(cols, (list, tuple)):
            names = [self._col_name(c) for c in cols]
        else:
            names = [self._col_name(cols)]
        mask = None
        self._materialize()
        if isinstance(rows, (Frame, Expr)):
            mask = rows
        elif not _is_all(rows):
            mask = self._position_mask(rows)
        multi = isinstance(value, Frame) and len(names) > 1
        base = self._as_expr()
        existing = set(self.names)
        if mask is not None:
            # a missing test keeps the old value (as the row filter drops it, and as pandas .loc)
            m = mask._as_expr() if isinstance(mask, Frame) else mask
            mask = _x.and_(m, _x.not_(_x.isna(m)))
        out = base
        for i, name in enumerate(names):
            v = value[i] if multi else value
            if mask is not None:
                v = _x.ifelse(mask, v, base[name] if name in existing else None)
            out = _x.assign(out, v, name=name)
        self._update(out, args=(value, rows))

    def _position_mask(self, rows: Any) -> "Frame":
        """Rows chosen by position (an index, a slice, a list of indices or of bools) as a temporary
        one-column boolean frame (uploaded; deleted when dropped)."""
        n = self.nrow
        m = np.zeros(n, dtype=bool)
        if isinstance(rows, (slice, int, np.integer)) and not isinstance(rows, bool):
            m[rows] = True
        else:
            sel = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows)
            if sel.dtype == bool:
                if len(sel) != n:
                    raise ValueError(f"A boolean row selection needs {n} values; got {len(sel)}.")
                m = sel.copy()
            elif sel.size == 0 or np.issubdtype(sel.dtype, np.integer):
                if sel.size and (sel.max() >= n or sel.min() < -n):
                    raise IndexError(f"Row index out of range for a frame of {n} rows.")
                m[sel.astype(np.int64)] = True
            else:
                raise TypeError("Rows of an assignment are a boolean one-column frame, a slice, an index, "
                                f"or a list of indices or bools; got {sel.dtype} values.")
        fr = Frame(pd.DataFrame({"mask": m}), destination_frame=_temp_key(), conn=self.conn)
        fr._own(fr._key)
        return fr

    def _update(self, expr: Expr, args: tuple = ()) -> "Frame":
        """Evaluate ``expr`` into this frame's own key (a new version of it)."""
        key = self._materialize()
        skip = {id(a) for a in args if isinstance(a, Frame)}
        for dep_id, ref in list(self._deps.items()):
            d = ref()
            if d is None or d._expr is None or d._stale():
                self._deps.pop(dep_id, None)
            elif id(d) not in skip:
                d._materialize()  # keeps the values it had before this update
                self._deps.pop(dep_id, None)
        res = self._run(expr, dest=key)
        for dep_id in skip:  # the value and mask of this update: built on the version it replaced
            self._deps.pop(dep_id, None)
        self._version += 1
        self._info = _info_of(res["frame"])
        self._summary = None
        return self

    def set_names(self, names: Sequence[str]) -> "Frame":
        """Rename every column, in place (H2O's ``set_names``)."""
        self._update(_x.rename(self._as_expr(), names=list(names)))
        return self

    def set_name(self, col: str | int, name: str) -> "Frame":
        """Rename one column, in place."""
        self._update(_x.rename(self._as_expr(), names={self._col_name(col): name}))
        return self

    def rename(self, columns: dict) -> "Frame":
        """A frame with columns renamed (``{old: new}``)."""
        return self._wrap(_x.rename(self._as_expr(), names={self._col_name(k): v for k, v in columns.items()}))

    def drop(self, index: str | int | Sequence, axis: int = 1) -> "Frame":
        """A frame without these columns (``axis=1``) or rows (``axis=0``, by index)."""
        if axis == 0:
            rows = [index] if isinstance(index, (int, np.integer)) else list(index)
            n = self.nrow
            gone = {int(r) + n if int(r) < 0 else int(r) for r in rows}
            return self[[i for i in range(n) if i not in gone], :]
        names = [index] if isinstance(index, (str, int, np.integer)) else list(index)
        return self._wrap(_x.drop(self._as_expr(), names=[n if isinstance(n, str) else int(n) for n in names]))

    # -- operators -------------------------------------------------------------------------------

    def _bin(self, op: str, other: Any, reflected: bool = False) -> "Frame":
        a = self._as_expr()
        b = other._as_expr() if isinstance(other, Frame) else other
        return self._wrap(Expr.op(op, b, a) if reflected else Expr.op(op, a, b))

    def __add__(self, o): return self._bin("add", o)
    def __radd__(self, o): return self._bin("add", o, True)
    def __sub__(self, o): return self._bin("sub", o)
    def __rsub__(self, o): return self._bin("sub", o, True)
    def __mul__(self, o): return self._bin("mul", o)
    def __rmul__(self, o): return self._bin("mul", o, True)
    def __truediv__(self, o): return self._bin("div", o)
    def __rtruediv__(self, o): return self._bin("div", o, True)
    def __floordiv__(self, o): return self._bin("floordiv", o)
    def __rfloordiv__(self, o): return self._bin("floordiv", o, True)
    def __mod__(self, o): return self._bin("mod", o)
    def __rmod__(self, o): return self._bin("mod", o, True)
    def __pow__(self, o): return self._bin("pow", o)
    def __rpow__(self, o): return self._bin("pow", o, True)
    def __lt__(self, o): return self._bin("lt", o)
    def __le__(self, o): return self._bin("le", o)
    def __gt__(self, o): return self._bin("gt", o)
    def __ge__(self, o): return self._bin("ge", o)
    def __and__(self, o): return self._bin("and", o)
    def __rand__(self, o): return self._bin("and", o, True)
    def __or__(self, o): return self._bin("or", o)
    def __ror__(self, o): return self._bin("or", o, True)
    def __invert__(self): return self._wrap(_x.not_(self._as_expr()))
    def __neg__(self): return self._wrap(_x.neg(self._as_expr()))
    def __abs__(self): return self._wrap(_x.abs(self._as_expr()))

    def __eq__(self, other: Any) -> "Frame":  # type: ignore[override]
        out = self._bin("eq", other)
        if isinstance(other, Frame):
            out._identity = (self, other, False)
        return out

    def __ne__(self, other: Any) -> "Frame":  # type: ignore[override]
        out = self._bin("ne", other)
        if isinstance(other, Frame):
            out._identity = (self, other, True)
        return out

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        """``fr1 == fr2`` in a condition asks whether both handles name the same frame; a one-value
        frame is its value; any other frame has no truth value (use ``.all()`` / ``.any()``)."""
        if self._identity is not None:
            a, b, negate = self._identity
            same = a is b or (a._key is not None and a._key == b._key)
            return same != negate
        if self.nrow == 1 and self.ncol == 1:
            return bool(self.as_data_frame().iat[0, 0])
        raise ValueError(f"The truth value of a frame of {self.nrow} rows × {self.ncol} columns is ambiguous; "
                         "use .all(), .any() or a row filter fr[mask, :].")

    # -- elementwise -----------------------------------------------------------------------------

    def _unary(self, builder, **params: Any) -> "Frame":
        return self._wrap(builder(self._as_expr(), **params))

    def isna(self): return self._unary(_x.isna)
    def abs(self): return self._unary(_x.abs)
    def ceil(self): return self._unary(_x.ceil)
    def floor(self): return self._unary(_x.floor)
    def trunc(self): return self._unary(_x.trunc)
    def sign(self): return self._unary(_x.sign)
    def sqrt(self): return self._unary(_x.sqrt)
    def exp(self): return self._unary(_x.exp)
    def expm1(self): return self._unary(_x.expm1)
    def log(self): return self._unary(_x.log)
    def log1p(self): return self._unary(_x.log1p)
    def log2(self): return self._unary(_x.log2)
    def log10(self): return self._unary(_x.log10)
    def sin(self): return self._unary(_x.sin)
    def cos(self): return self._unary(_x.cos)
    def tan(self): return self._unary(_x.tan)
    def asin(self): return self._unary(_x.asin)
    def acos(self): return self._unary(_x.acos)
    def atan(self): return self._unary(_x.atan)
    def sinh(self): return self._unary(_x.sinh)
    def cosh(self): return self._unary(_x.cosh)
    def tanh(self): return self._unary(_x.tanh)
    def round(self, digits: int = 0): return self._unary(_x.round, digits=digits)
    def signif(self, digits: int = 6): return self._unary(_x.signif, digits=digits)

    def runif(self, seed: int | None = None) -> "Frame":
        """A column of uniform [0, 1) draws, one per row (from the stream (seed, chunk))."""
        return self._unary(_x.runif, seed=-1 if seed is None else seed)

    def ifelse(self, yes: Any, no: Any) -> "Frame":
        """``yes`` where this (boolean) column is true, else ``no``; NA stays NA."""
        return ifelse(self, yes, no)

    def cumsum(self, axis: int = 0): return self._unary(_x.cumsum)
    def cumprod(self, axis: int = 0): return self._unary(_x.cumprod)
    def cummin(self, axis: int = 0): return self._unary(_x.cummin)
    def cummax(self, axis: int = 0): return self._unary(_x.cummax)

    # -- dates, text, types ----------------------------------------------------------------------

    def year(self): return self._unary(_x.year)
    def month(self): return self._unary(_x.month)
    def week(self): return self._unary(_x.week)
    def day(self): return self._unary(_x.day)
    def dayOfWeek(self): return self._unary(_x.dayOfWeek)  # noqa: N802  (H2O's name)
    def hour(self): return self._unary(_x.hour)
    def minute(self): return self._unary(_x.minute)
    def second(self): return self._unary(_x.second)
    def tolower(self): return self._unary(_x.tolower)
    def toupper(self): return self._unary(_x.toupper)
    def trim(self): return self._unary(_x.trim)
    def nchar(self): return self._unary(_x.nchar)

    def substring(self, start_index: int, end_index: int | None = None) -> "Frame":
        """Characters ``start_index`` (0-based) to ``end_index`` (exclusive; default: the end)."""
        return self._unary(_x.substring, start=start_index, end=end_index)

    def asfactor(self): return self._unary(_x.asfactor)
    def asnumeric(self): return self._unary(_x.asnumeric)
    def ascharacter(self): return self._unary(_x.ascharacter)

    def as_date(self, format: str | None = None) -> "Frame":  # noqa: A002  (H2O's name)
        return self._unary(_x.as_date, format=format)

    def set_levels(self, levels: Sequence[str]) -> "Frame":
        return self._unary(_x.set_levels, levels=list(levels))

    def relevel(self, y: str) -> "Frame":
        return self._unary(_x.relevel, y=y)

    def cut(self, breaks: Sequence[float], labels: Sequence[str] | None = None, include_lowest: bool = False,
            right: bool = True, dig_lab: int = 3) -> "Frame":
        return self._unary(_x.cut, breaks=list(breaks), labels=None if labels is None else list(labels),
                           include_lowest=include_lowest, right=right)

    def scale(self, center: bool = True, scale: bool = True) -> "Frame":
        return self._unary(_x.scale, center=center, scale=scale)

    def sub(self, pattern: str, replacement: str, ignore_case: bool = False) -> "Frame":
        """Replace the first match of the regular expression ``pattern`` in each string (server op
        ``replacefirst``; patterns run on a linear-time engine)."""
        return self._wrap(self._as_expr().sub(pattern, replacement, ignore_case))

    def gsub(self, pattern: str, replacement: str, ignore_case: bool = False) -> "Frame":
        """Replace every match of ``pattern`` in each string (server op ``replaceall``)."""
        return self._wrap(self._as_expr().gsub(pattern, replacement, ignore_case))

    def strsplit(self, pattern: str) -> "Frame":
        """Split each string on ``pattern``: a frame of string columns ``C1..Cn``."""
        return self._wrap(self._as_expr().strsplit(pattern))

    def grep(self, pattern: str, ignore_case: bool = False, invert: bool = False,
             output_logical: bool = False) -> "Frame":
        """Rows whose string matches ``pattern``: a bool column (``output_logical``), else the
        0-based indices of the matching rows."""
        return self._wrap(self._as_expr().grep(pattern, ignore_case, invert, output_logical))

    # -- reducers (Python values: a number for one column, a list for several) -------------------

    def _reduce(self, builder, raw: bool = False, **params: Any) -> Any:
        return self._value(builder(self._as_expr(), **params), raw=raw)

    def _numeric_reduce(self, builder, **params: Any) -> Any:
        """A numeric reducer; on a stored frame with enum/string columns those give nan (as H2O)."""
        if self._key is not None and self.ncol > 1:
            types = self._type_list()
            num = [i for i, t in enumerate(types) if t not in ("enum", "string")]
            if len(num) < len(types):
                vals = self[num]._reduce(builder, **params) if num else []
                vals = vals if isinstance(vals, list) else [vals]
                out = [float("nan")] * len(types)
                for i, v in zip(num, vals):
                    out[i] = v
                return out
        return self._reduce(builder, **params)

    def sum(self, skipna: bool = True, axis: int = 0) -> Any:
        """Sum of each column; ``skipna`` (default, as H2O) skips missing values."""
        return self._numeric_reduce(_x.sum, na_rm=bool(skipna))

    def mean(self, skipna: bool = True, axis: int = 0) -> Any:
        """Mean of each column; ``skipna`` (default, as H2O) skips missing values."""
        return self._numeric_reduce(_x.mean, na_rm=bool(skipna))

    def min(self, na_rm: bool = True) -> Any:
        """Minimum of each column (missing values skipped unless ``na_rm=False``)."""
        return self._numeric_reduce(_x.min, na_rm=bool(na_rm))

    def max(self, na_rm: bool = True) -> Any:
        """Maximum of each column (missing values skipped unless ``na_rm=False``)."""
        return self._numeric_reduce(_x.max, na_rm=bool(na_rm))

    def median(self, na_rm: bool = False) -> Any:
        return self._numeric_reduce(_x.median, na_rm=bool(na_rm))

    def sd(self, na_rm: bool = False) -> Any:
        """Sample standard deviation of each column."""
        return self._numeric_reduce(_x.sd, na_rm=bool(na_rm))

    def var(self, na_rm: bool = False) -> Any:
        """Sample variance of each column."""
        return self._numeric_reduce(_x.var, na_rm=bool(na_rm))

    def prod(self, na_rm: bool = False) -> Any:
        return self._numeric_reduce(_x.prod, na_rm=bool(na_rm))

    def all(self) -> Any:
        return self._reduce(_x.all)

    def any(self) -> Any:
        return self._reduce(_x.any)

    def nacnt(self) -> Any:
        """Number of missing values of each column."""
        return self._reduce(_x.nacnt)

    def levels(self) -> list[list[str]]:
        """Levels of each column (a list per column; empty for non-enum columns), as H2O."""
        out = self._reduce(_x.levels, raw=True)
        if self.ncol == 1:
            return [list(out or [])]
        return [list(v or []) for v in out]

    def nlevels(self) -> list[int]:
        """Number of levels of each column (0 for non-enum columns), as H2O."""
        out = self._reduce(_x.nlevels, raw=True)
        return [int(out)] if not isinstance(out, list) else [int(v) for v in out]

    def cor(self, y: "Frame | None" = None, na_rm: bool = False, use: str | None = None,
            method: str = "Pearson") -> Any:
        """Pearson correlation: a number for two columns, else a frame (one column per ``y``
        column, one row per column of this frame)."""
        if str(method).lower() != "pearson":
            raise ValueError(f"cor supports method='Pearson' only; got {method!r}.")
        if use is None and na_rm:
            use = "complete.obs"
        e = _x.cor(self._as_expr(), use=use) if y is None else _x.cor(self._as_expr(), y._as_expr(), use=use)
        res = self._run(e, dest=_temp_key())
        if res.get("kind") == "frame":
            return Frame._temporary(res["frame"], self.conn)
        return self._value_of(res)

    @staticmethod
    def _value_of(res: dict) -> Any:
        if res.get("kind") == "scalar":
            return _py(res.get("value"))
        return [_py(v) for v in res.get("values", [])]

    # -- summaries and reorganisations (lazy frames) ---------------------------------------------

    def unique(self) -> "Frame":
        """Distinct values of a column, sorted (enum by level order), missing last."""
        return self._unary(_x.unique)

    def table(self, data2: "Frame | None" = None, dense: bool = True) -> "Frame":
        """Counts per value (or per pair of values with ``data2``): columns ``<name>``(s), ``Count``."""
        if data2 is None:
            return self._wrap(_x.table(self._as_expr()))
        return self._wrap(_x.table(self._as_expr(), data2._as_expr()))

    def hist(self, breaks: int | Sequence[float] | str = "sturges") -> "Frame":
        """Histogram of a column as a frame ``lower upper counts mids density`` (bins ``(lower,
        upper]``, the first closed); ``breaks``: ``"sturges"``, a bin count or the edges."""
        b = None if isinstance(breaks, str) else breaks if isinstance(breaks, int) else list(breaks)
        if isinstance(breaks, str) and breaks.lower() != "sturges":
            raise ValueError(f"breaks is 'sturges', a bin count or a list of edges; got {breaks!r}.")
        return self._unary(_x.hist, breaks=b)

    def quantile(self, prob: Sequence[float] | None = None, combine_method: str = "interpolate",
                 weights_column: str | None = None) -> "Frame":
        """Exact quantiles: a frame with ``Probs`` and one ``<col>Quantiles`` column per column.
        ``combine_method``: ``interpolate`` (= ``numpy.quantile`` linear), ``average``, ``low``, ``high``."""
        return self._unary(_x.quantile, probs=None if prob is None else [float(p) for p in prob],
                           combine_method=combine_method, weights=weights_column)

    def sort(self, by: str | int | Sequence, ascending: bool | Sequence[bool] = True) -> "Frame":
        """Rows sorted by ``by`` (``ascending`` per key); stable, missing values last."""
        keys = [by] if isinstance(by, (str, int)) else list(by)
        names = [self._col_name(k) for k in keys]
        asc = ascending if isinstance(ascending, bool) else [bool(a) for a in ascending]
        if isinstance(asc, list) and not asc:
            asc = True
        return self._unary(_x.sort, by=names, ascending=asc)

    def rank_within_group_by(self, group_by_cols: str | int | Sequence, sort_cols: str | int | Sequence,
                             ascending: bool | Sequence[bool] | None = None, new_col_name: str = "New_Rank_column",
                             sort_cols_sorted: bool = False) -> "Frame":
        """H2O-3's ``rank_within_group_by``: the rows sorted by ``group_by_cols`` (ascending) then
        ``sort_cols`` (``ascending``: one bool, or one per sort column; default ascending), plus an
        int column ``new_col_name`` holding 1, 2, ... within each group in that order. A row with a
        missing sort value gets a missing rank and is not counted; missing group keys form their own
        group; sorting is stable with missing values last. ``sort_cols_sorted=True`` re-sorts the
        result by the sort columns alone. Example (the two largest ``v3`` per ``id6``)::

            r = fr.rank_within_group_by(["id6"], ["v3"], ascending=[False])
            top2 = r[r["New_Rank_column"] <= 2, :]
        """
        groups = [group_by_cols] if isinstance(group_by_cols, (str, int)) else list(group_by_cols)
        sorts = [sort_cols] if isinstance(sort_cols, (str, int)) else list(sort_cols)
        if ascending is None or isinstance(ascending, (bool, np.bool_)):
            asc: Any = None if ascending is None else bool(ascending)
        else:
            asc = [bool(a) for a in ascending] or None
        return self._unary(_x.rank_within_group_by, group_by_cols=[self._col_name(c) for c in groups],
                           sort_cols=[self._col_name(c) for c in sorts], ascending=asc,
                           new_col_name=new_col_name, sort_cols_sorted=bool(sort_cols_sorted))

    def merge(self, other: "Frame", all_x: bool = False, all_y: bool = False, by_x: Sequence[str] | None = None,
              by_y: Sequence[str] | None = None, method: str = "auto") -> "Frame":
        """Join with ``other`` on ``by_x``/``by_y`` (default: the common column names): inner by
        default, ``all_x`` left, ``all_y`` right, both full outer. Missing keys never match."""
        return merge(self, other, all_x=all_x, all_y=all_y, by_x=by_x, by_y=by_y, method=method)

    def cbind(self, data: "Frame | Sequence[Frame]") -> "Frame":
        """Columns of this frame and ``data`` side by side (duplicate names get ``_2``, ...)."""
        return cbind(self, *(data if isinstance(data, (list, tuple)) else [data]))

    def rbind(self, data: "Frame | Sequence[Frame]") -> "Frame":
        """Rows of this frame then those of ``data`` (columns by position)."""
        return rbind(self, *(data if isinstance(data, (list, tuple)) else [data]))

    def split_frame(self, ratios: Sequence[float] | None = None, seed: int | None = None) -> list["Frame"]:
        """Random split into ``len(ratios) + 1`` frames (each row goes to exactly one of them)."""
        ratios = [0.75] if ratios is None else [float(r) for r in ratios]
        base = _temp_key()
        res = self._run(_x.split_frame(self._as_expr(), ratios=ratios, seed=-1 if seed is None else int(seed)),
                        dest=base)
        return [Frame._temporary(s, self.conn) for s in res["frames"]]

    def kfold_column(self, n_folds: int = 3, seed: int = -1) -> "Frame":
        """An int column ``fold`` of random fold ids in ``[0, n_folds)``."""
        return self._unary(_x.kfold_column, nfolds=int(n_folds), seed=int(seed))

    def stratified_kfold_column(self, n_folds: int = 3, seed: int = -1) -> "Frame":
        """A fold column dealing each class of this (enum) column evenly over ``n_folds`` folds."""
        return self._unary(_x.stratified_kfold_column, nfolds=int(n_folds), seed=int(seed))

    def drop_duplicates(self, columns: Sequence[str] | str | None = None, keep: str = "first") -> "Frame":
        cols = None if columns is None else [columns] if isinstance(columns, str) else list(columns)
        return self._unary(_x.drop_duplicates, by=cols, keep=keep)

    def fillna(self, method: str = "forward", axis: int = 0, maxlen: int = 1) -> "Frame":
        """Fill missing values from the previous (``forward``) or next (``backward``) value, at most
        ``maxlen`` in a row."""
        return self._unary(_x.fillna, method=method, maxlen=int(maxlen))

    def impute(self, column: str | int = -1, method: str = "mean", by: Sequence[str] | str | None = None
               ) -> "Frame":
        """Impute missing values of ``column`` (``-1``: every numeric column) with its ``mean``,
        ``median`` or ``mode``, per group of ``by``; modifies the frame in place (as H2O) and returns it."""
        if isinstance(column, (int, np.integer)) and int(column) == -1:
            types = self.types
            keys = set([by] if isinstance(by, str) else by or [])
            cols = [n for n, t in types.items() if n not in keys and
                    (t in ("int", "real") if method != "mode" else t in ("int", "real", "enum", "bool"))]
        else:
            cols = [self._col_name(column)]
        groups = None if by is None else [by] if isinstance(by, str) else list(by)
        out = self._as_expr()
        for c in cols:
            out = _x.impute(out, column=c, method=method, by=groups)
        return self._update(out)

    def group_by(self, by: str | int | Sequence) -> "FrameGroupBy":
        """``fr.group_by(["a", "b"]).count().mean("x").get_frame()``: H2O's grouped aggregates."""
        return FrameGroupBy(self, by)

    def head_frame(self, rows: int = 10) -> "Frame":
        """The first ``rows`` rows as a (lazy) frame; :meth:`head` returns pandas."""
        return self._unary(_x.head, n=int(rows))

    def tail_frame(self, rows: int = 10) -> "Frame":
        return self._unary(_x.tail, n=int(rows))

    # -- data ------------------------------------------------------------------------------------

    def _rows(self, offset: int, limit: int) -> pd.DataFrame:
        res = ops.frame_rows(self.conn, self.key, offset=offset, limit=limit)
        header = {c["name"]: c for c in self._header()["columns"]}
        names, types, rows = res["names"], res["types"], res["rows"]
        start = int(res.get("offset", offset if offset >= 0 else 0))
        cols = list(zip(*rows)) if rows else [()] * len(names)
        series = []
        for i, (name, t) in enumerate(zip(names, types)):
            series.append(_json_column(name, t, list(cols[i]), header.get(name)))
        index = pd.RangeIndex(start, start + len(rows))
        if not series:
            return pd.DataFrame(index=index)
        df = pd.concat([s.set_axis(index) for s in series], axis=1)
        df.columns = list(names)
        return df

    def head(self, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows as a pandas DataFrame (types as in :meth:`as_data_frame`)."""
        return self._rows(0, max(0, int(n)))

    def tail(self, n: int = 5) -> pd.DataFrame:
        """The last ``n`` rows as a pandas DataFrame, indexed by their row numbers."""
        n = max(0, int(n))
        if n == 0:
            return self._rows(self.nrow, 0)
        return self._rows(-n, n)

    def as_data_frame(self, progress: bool = False) -> pd.DataFrame:
        """Download the whole frame into pandas, exactly, through the binary columnar path."""
        buf = ops.download_frame(self.conn, self.key, format="columnar",
                                 progress=_bytes_bar("download") if progress else None)
        return convert.to_pandas_frame(buf)

    to_pandas = as_data_frame

    # -- summary ---------------------------------------------------------------------------------

    def summary(self, chunk_summary: bool = False, histogram: bool = False) -> dict[str, Any]:
        """The frame's summary as data: rows, columns with rollups (min, max, mean, sd, missing,
        zeros, cardinality), encodings, compressed and raw size (the server's ``get_frame``)."""
        info = ops.get_frame(self.conn, self.key, rollups=True,
                             chunk_summary=True if chunk_summary else None,
                             histogram=True if histogram else None)["frame"]
        self._info = info
        self._summary = info
        return info

    def summary_table(self) -> pd.DataFrame:
        """Per-column summary as a pandas DataFrame (one row per column)."""
        info = self._summary or self.summary()
        return _summary_frame(info)

    def describe(self, chunk_summary: bool = False) -> None:
        """Print rows, columns, per-column type and rollups, encodings, and compression."""
        info = self.summary(chunk_summary=chunk_summary)
        print(self._describe_text(info, chunk_summary))

    def _describe_text(self, info: dict[str, Any], chunk_summary: bool = False) -> str:
        lines = [f"Frame {info['key']}: {info['nrow']:,} rows × {info['ncol']:,} columns",
                 f"Compressed {_size(info.get('bytes'))}, raw {_size(info.get('raw_bytes'))}, "
                 f"ratio {_ratio(info)}",
                 f"Chunks: {info.get('nchunks', '?')}; encodings: {_encodings(info.get('encodings'))}",
                 ""]
        table = _summary_frame(info)
        table = table.where(table.notna(), "")
        with pd.option_context("display.max_rows", 10_000, "display.max_columns", 100,
                               "display.width", 200, "display.max_colwidth", 40):
            lines.append(table.to_string())
        cs = info.get("chunk_summary") if chunk_summary else None
        if cs:
            lines += ["", "Chunks:"]
            if isinstance(cs, dict):
                for part in ("codecs", "nodes"):
                    if cs.get(part):
                        lines += [pd.DataFrame(cs[part]).to_string(index=False), ""]
            else:
                lines.append(pd.DataFrame(cs).to_string(index=False))
        return "\n".join(lines)

    # -- protocols -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        try:
            return f"<shoal.Frame {self.key!r}: {self.nrow:,} rows × {self.ncol:,} cols>"
        except Exception:  # the repr must not raise, even when the node is gone
            return f"<shoal.Frame {self._key!r}>" if self._key is not None else "<shoal.Frame (lazy)>"

    def _repr_html_(self) -> str:
        try:
            info = self._summary or self.summary()
        except Exception as exc:  # Jupyter shows the text instead of a traceback
            return f"<pre>{html.escape(repr(self))}\n{html.escape(str(exc))}</pre>"
        e = html.escape
        table = _summary_frame(info)
        head = "".join(f"<th>{e(str(c))}</th>" for c in ["column"] + list(table.columns))
        body = []
        for name, row in table.iterrows():
            cells = "".join(f"<td>{e(_cell(v))}</td>" for v in row.tolist())
            body.append(f"<tr><th>{e(str(name))}</th>{cells}</tr>")
        rows_html = ""
        if self._conn is not None and info.get("nrow"):
            try:
                first = self.head(5)
                rows_html = "<p>First rows:</p>" + _rows_html(first)
            except Exception:  # the summary alone is still useful
                rows_html = ""
        return (
            '<div class="shoal-frame">'
            f"<p><b>Frame {e(str(info['key']))}</b>: {info['nrow']:,} rows × {info['ncol']:,} columns; "
            f"compressed {e(_size(info.get('bytes')))}, raw {e(_size(info.get('raw_bytes')))}, "
            f"ratio {e(_ratio(info))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{rows_html}</div>"
        )


# ------------------------------------------------------------------------------------------ helpers

def _json_column(name: str, t: str, values: list, col: dict | None) -> pd.Series:
    """JSON row values of one column → a Series typed like :func:`convert.frame_to_pandas`."""
    missing = np.array([v is None for v in values], dtype=bool)
    if t in ("int", "real"):
        vals = np.array([np.nan if v is None else _num(v) for v in values], dtype=np.float64)
        if t == "int" and not missing.any() and np.isfinite(vals).all():
            return pd.Series(np.array([int(v) for v in values], dtype=np.int64), name=name)
        return pd.Series(vals, name=name)
    if t == "enum":
        domain = list((col or {}).get("domain") or [])
        full = (col or {}).get("domain_size") in (None, len(domain))
        seen = [v for v in values if v is not None]
        if not full or any(v not in domain for v in seen):
            domain = domain + sorted(set(seen) - set(domain))
        return pd.Series(pd.Categorical(values, categories=pd.Index(domain, dtype=convert.STRING_DTYPE)),
                         name=name)
    if t == "string":
        arr = np.array([np.nan if v is None else v for v in values] or [], dtype=object)
        return pd.Series(arr, name=name, dtype=convert.STRING_DTYPE)
    if t == "time":
        ms = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
        out = ms.view("datetime64[ms]").copy()
        out[missing] = np.datetime64("NaT")
        return pd.Series(out, name=name)
    if t == "bool":
        if missing.any():
            return pd.Series(pd.arrays.BooleanArray(np.array([bool(v) for v in values], dtype=bool), missing),
                             name=name)
        return pd.Series(np.array(values, dtype=bool), name=name)
    return pd.Series(values, name=name, dtype=object)


def _num(v: Any) -> float:
    if isinstance(v, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(v, math.nan)
    return float(v)


def _size(n: Any) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _ratio(info: dict[str, Any]) -> str:
    r = info.get("compression_ratio")
    if r is None and info.get("bytes"):
        r = (info.get("raw_bytes") or 0) / info["bytes"]
    return "?" if r is None else f"{float(r):.2f}×"


def _encodings(enc: Any) -> str:
    """``[{"codec", "chunks", "bytes"}, ...]`` (or ``{codec: chunks}``) → ``"biased_int ×3 (1.2 KB), ..."``."""
    if not enc:
        return "-"
    if isinstance(enc, dict):
        enc = [{"codec": k, "chunks": v} for k, v in enc.items()]
    parts = []
    for e in enc:
        if isinstance(e, dict):
            text = f"{e.get('codec')} ×{e.get('chunks', '?')}"
            if e.get("bytes") is not None:
                text += f" ({_size(e['bytes'])})"
            parts.append(text)
        else:
            parts.append(str(e))
    return ", ".join(parts)


def _time_text(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return v
    return str(np.datetime64(int(v), "ms"))


def _summary_frame(info: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for c in info.get("columns", []):
        row: dict[str, Any] = {"type": c.get("type")}
        for field, keys in _SUMMARY_FIELDS.items():
            v = next((c[k] for k in keys if k in c), None)
            if isinstance(v, str) and v in ("Inf", "-Inf", "NaN"):
                v = _num(v)
            if c.get("type") == "time" and field in ("min", "max", "mean"):
                v = _time_text(v)
            elif c.get("type") == "time" and field == "sd" and isinstance(v, (int, float)) and math.isfinite(v):
                v = str(pd.Timedelta(milliseconds=float(v)).round("s"))
            row[field] = v
        rows.append(row)
    index = pd.Index([c.get("name") for c in info.get("columns", [])], dtype=object, name="column")
    return pd.DataFrame(rows, index=index, columns=["type", *_SUMMARY_FIELDS], dtype=object)


def _rows_html(df: pd.DataFrame) -> str:
    """A small HTML table of rows; every name and value escaped."""
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in ["", *df.columns])
    body = "".join("<tr><th>" + e(str(idx)) + "</th>"
                   + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
                   for idx, row in zip(df.index, df.itertuples(index=False, name=None)))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _bytes_bar(title: str):
    from .jobs import ProgressBar

    bar = ProgressBar(title)

    def cb(done: int, total: int) -> None:
        bar.update(done / total if total else 0.0, _size(done))
        if total and done >= total:
            bar.close()

    return cb


# ------------------------------------------------------------------------------------------ group_by

class FrameGroupBy:
    """H2O's ``GroupBy``: chain aggregates, then ``get_frame()`` (or ``.frame``).

    Each aggregate takes ``col`` (a name, an index, a list; ``None``: every numeric column that is
    not a key) and ``na``: ``"all"`` (any NA in a group makes the aggregate NA), ``"rm"`` (skip
    NAs) or ``"ignore"`` (skip NAs, but divide by the group's row count). Output columns are named
    as H2O: ``nrow``, ``sum_x``, ``mean_x``, ``min_x``, ``max_x``, ``sdev_x``, ``var_x``,
    ``sumSquares_x``, ``mode_x``, ``median_x``; rows sorted by the keys, missing keys last.
    """

    def __init__(self, fr: Frame, by: str | int | Sequence):
        self._fr = fr
        keys = [by] if isinstance(by, (str, int, np.integer)) else list(by)
        self._by = [fr._col_name(k) for k in keys]
        self._aggs: list[dict] = []
        self._result: Frame | None = None

    def _add(self, agg: str, col: Any, na: str) -> "FrameGroupBy":
        if na not in ("all", "rm", "ignore"):
            raise ValueError(f"na is 'all', 'rm' or 'ignore'; got {na!r}.")
        if agg == "nrow":
            cols: list = [None]
        elif col is None:
            ok = ("int", "real", "bool", "enum") if agg == "mode" else ("int", "real", "bool")
            cols = [n for n, t in self._fr.types.items() if t in ok and n not in self._by]
        else:
            cols = [self._fr._col_name(c) for c in ([col] if isinstance(col, (str, int, np.integer)) else col)]
        for c in cols:
            spec: dict = {"agg": agg, "na": na}
            if c is not None:
                spec["col"] = c
            self._aggs.append(spec)
        self._result = None
        return self

    def count(self, na: str = "all"): return self._add("nrow", None, na)
    def sum(self, col: Any = None, na: str = "all"): return self._add("sum", col, na)
    def mean(self, col: Any = None, na: str = "all"): return self._add("mean", col, na)
    def min(self, col: Any = None, na: str = "all"): return self._add("min", col, na)
    def max(self, col: Any = None, na: str = "all"): return self._add("max", col, na)
    def sd(self, col: Any = None, na: str = "all"): return self._add("sd", col, na)
    def var(self, col: Any = None, na: str = "all"): return self._add("var", col, na)
    def ss(self, col: Any = None, na: str = "all"): return self._add("ss", col, na)
    def mode(self, col: Any = None, na: str = "all"): return self._add("mode", col, na)
    def median(self, col: Any = None, na: str = "all"): return self._add("median", col, na)

    def get_frame(self) -> Frame:
        """The aggregated frame (lazy: evaluated when first used)."""
        if self._result is None:
            self._result = self._fr._wrap(_x.group_by(self._fr._as_expr(), by=list(self._by),
                                                      aggs=[dict(a) for a in self._aggs] or None))
        return self._result

    @property
    def frame(self) -> Frame:
        return self.get_frame()

    def __repr__(self) -> str:
        return f"<shoal.FrameGroupBy by={self._by} aggs={[a['agg'] for a in self._aggs]}>"


# ------------------------------------------------------------------------------------------ functions

def _operand(v: Any) -> Any:
    return v._as_expr() if isinstance(v, Frame) else v


def _first_frame(*vals: Any) -> Frame | None:
    return next((v for v in vals if isinstance(v, Frame)), None)


def _lazy_result(expr: Expr, *vals: Any) -> Frame:
    src = _first_frame(*vals)
    return Frame._lazy(expr, src._conn if src is not None else None)


def ifelse(test: Any, yes: Any, no: Any) -> Frame:
    """``yes`` where ``test`` (a boolean one-column frame) is true, else ``no`` (frames or scalars).

    A missing test gives a missing value; text branches (strings or enum columns) give an enum.
    """
    return _lazy_result(_x.ifelse(_operand(test), _operand(yes), _operand(no)), test, yes, no)


def merge(x: Frame, y: Frame, all_x: bool = False, all_y: bool = False, by_x: Sequence[str] | None = None,
          by_y: Sequence[str] | None = None, method: str = "auto") -> Frame:
    """Join two frames (H2O's ``merge``): key columns, then ``x``'s other columns, then ``y``'s
    (clashing names get ``_2``). ``all_x``: keep unmatched rows of ``x`` (left join), ``all_y``: of
    ``y`` (right), both: full outer. Missing keys never match (as H2O and SQL)."""
    if method not in ("auto", "radix", "hash"):
        raise ValueError(f"method is 'auto', 'radix' or 'hash'; got {method!r}.")
    e = _x.merge(_operand(x), _operand(y), all_x=True if all_x else None, all_y=True if all_y else None,
                 by_x=None if by_x is None else list(by_x), by_y=None if by_y is None else list(by_y))
    return _lazy_result(e, x, y)


def cbind(*frames: Frame) -> Frame:
    """Columns of several frames side by side (same rows); duplicate names get ``_2``, ``_3``."""
    if len(frames) == 1 and isinstance(frames[0], (list, tuple)):
        frames = tuple(frames[0])
    return _lazy_result(_x.cbind(*[_operand(f) for f in frames]), *frames)


def rbind(*frames: Frame) -> Frame:
    """Rows of several frames one after the other (columns by position; enum domains unified)."""
    if len(frames) == 1 and isinstance(frames[0], (list, tuple)):
        frames = tuple(frames[0])
    return _lazy_result(_x.rbind(*[_operand(f) for f in frames]), *frames)
