"""A lazy expression builder: Python operators that produce Shoal's JSON expression tree.

Nothing runs until :meth:`Expr.evaluate` (one ``POST /api/v1/evaluate`` call); the server validates
the tree against its closed op table and evaluates it where the data lives (see
``docs/munging.md``). Example::

    from shoal.expr import frame, ifelse
    fr = frame("flights")
    late = fr[(fr["origin"] == "JFK") & (fr["month"] >= 6), :]
    fr2 = fr.assign(dep_delayed=fr["dep_delay"] > 15)
    g = fr.group_by(["origin", "hour"]).count().mean("dep_delay").sd("dep_delay")
    g.evaluate(dest="by_origin")            # -> {"kind": "frame", "frame": {...}}

Every op of the server's table also has a generated builder in :mod:`shoal._generated.expressions`
(one function per entry of the API description's ``expression_ops``); the methods below use them.
An ``Expr`` keeps ``refs``: the ``shoal.Frame`` handles (and their versions) it names by key, so a
temporary frame stays alive while an expression refers to it. The transport is the client's one
``Connection``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["Expr", "GroupBy", "frame", "col", "ifelse", "cbind", "rbind", "merge"]

_Scalar = (int, float, str, bool, type(None))


def _arg(v: Any) -> tuple[Any, tuple]:
    """An operand as JSON plus the frames it refers to by key: an Expr's tree, a ``shoal.Frame``
    (its lazy expression, or its key), or a literal scalar."""
    if isinstance(v, Expr):
        return v.tree, v.refs
    as_expr = getattr(v, "_as_expr", None)
    if as_expr is not None and not isinstance(v, type):
        e = as_expr()
        return e.tree, e.refs
    key = getattr(v, "key", None)
    if isinstance(key, str) and not isinstance(v, (str, bytes)):
        return {"op": "frame", "key": key}, ()
    if isinstance(v, _Scalar):
        return v, ()
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item(), ()
    raise TypeError(f"An expression operand is an Expr, a Frame, a number, a string, a bool or None; got "
                    f"{type(v).__name__}.")


def _merge_refs(*groups: tuple) -> tuple:
    seen: dict[int, tuple] = {}
    for g in groups:
        for r in g:
            seen.setdefault(id(r[0]), r)
    return tuple(seen.values())


class Expr:
    """A node of the expression tree (a frame, a column set, or a scalar-valued reduction)."""

    __slots__ = ("tree", "refs")
    __hash__ = None  # type: ignore[assignment]  # == builds an expression, so no hashing

    def __init__(self, tree: dict, refs: tuple = ()):
        self.tree = tree
        self.refs = refs

    # ------------------------------------------------------------------ building
    @staticmethod
    def op(op_name: str, /, *args: Any, **params: Any) -> "Expr":
        """The node ``{"op": op_name, "args": [...], **params}``; ``None`` params are left out."""
        node: dict = {"op": op_name}
        refs: list[tuple] = []
        if args:
            parts = [_arg(a) for a in args]
            node["args"] = [t for t, _r in parts]
            refs = [r for _t, r in parts]
        for k, v in params.items():
            if v is None:
                continue
            if k == "frame" and not isinstance(v, (str, dict)):
                v, r = _arg(v)
                refs.append(r)
            node[k] = v
        return Expr(node, _merge_refs(*refs))

    def to_json(self) -> dict:
        return self.tree

    def __repr__(self) -> str:
        return f"Expr({self.tree!r})"

    def __bool__(self) -> bool:
        raise TypeError("An Expr has no truth value; use & | ~ for logic, and .evaluate() to compute it.")

    # ------------------------------------------------------------------ selection
    def __getitem__(self, item: Any) -> "Expr":
        if isinstance(item, tuple):
            if len(item) != 2:
                raise TypeError("Index a frame with [rows, cols].")
            rows, cols = item
            out = self if _is_all(cols) else self._cols(cols)
            return out if _is_all(rows) else out._rows(rows)
        if isinstance(item, Expr) or hasattr(item, "_as_expr"):
            return self._rows(item)
        return self._cols(item)

    def _cols(self, sel: Any) -> "Expr":
        if isinstance(sel, str):
            return Expr.op("col", self, name=sel)
        if isinstance(sel, (int, np.integer)) and not isinstance(sel, bool):
            return Expr.op("col", self, index=int(sel))
        if isinstance(sel, slice):
            return Expr.op("cols", self, select={"start": sel.start, "stop": sel.stop, "step": sel.step})
        return Expr.op("cols", self, select=list(sel))

    def _rows(self, sel: Any) -> "Expr":
        if isinstance(sel, Expr) or hasattr(sel, "_as_expr"):
            return Expr.op("rows", self, sel)
        if isinstance(sel, slice):
            return Expr.op("rows", self, select={"start": sel.start, "stop": sel.stop, "step": sel.step})
        if isinstance(sel, int) and not isinstance(sel, bool):
            return Expr.op("rows", self, select=[sel])
        return Expr.op("rows", self, select=[int(i) for i in sel])

    def assign(self, **columns: Any) -> "Expr":
        """A new frame version with columns added or replaced (``fr.assign(c=fr["a"] * 2)``)."""
        out = self
        for name, value in columns.items():
            out = Expr.op("assign", out, value, name=name)
        return out

    def set_where(self, mask: "Expr", name: str, value: Any) -> "Expr":
        """``fr[mask, name] = value`` as a new frame version."""
        return self.assign(**{name: ifelse(mask, value, self[name])})

    def drop(self, names: str | Sequence) -> "Expr":
        return Expr.op("drop", self, names=names if isinstance(names, str) else list(names))

    def rename(self, names: dict | Sequence) -> "Expr":
        return Expr.op("rename", self, names=names if isinstance(names, dict) else list(names))

    def head(self, n: int = 6) -> "Expr":
        return Expr.op("head", self, n=n)

    def tail(self, n: int = 6) -> "Expr":
        return Expr.op("tail", self, n=n)

    # ------------------------------------------------------------------ operators
    def _bin(self, name: str, other: Any, reflected: bool = False) -> "Expr":
        return Expr.op(name, other, self) if reflected else Expr.op(name, self, other)

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
    def __eq__(self, o): return self._bin("eq", o)  # type: ignore[override]
    def __ne__(self, o): return self._bin("ne", o)  # type: ignore[override]
    def __lt__(self, o): return self._bin("lt", o)
    def __le__(self, o): return self._bin("le", o)
    def __gt__(self, o): return self._bin("gt", o)
    def __ge__(self, o): return self._bin("ge", o)
    def __and__(self, o): return self._bin("and", o)
    def __rand__(self, o): return self._bin("and", o, True)
    def __or__(self, o): return self._bin("or", o)
    def __ror__(self, o): return self._bin("or", o, True)
    def __invert__(self): return Expr.op("not", self)
    def __neg__(self): return Expr.op("neg", self)
    def __abs__(self): return Expr.op("abs", self)

    # ------------------------------------------------------------------ elementwise math
    def isna(self): return _x.isna(self)
    def abs(self): return _x.abs(self)
    def ceil(self): return _x.ceil(self)
    def floor(self): return _x.floor(self)
    def trunc(self): return _x.trunc(self)
    def sign(self): return _x.sign(self)
    def sqrt(self): return _x.sqrt(self)
    def exp(self): return _x.exp(self)
    def expm1(self): return _x.expm1(self)
    def log(self): return _x.log(self)
    def log1p(self): return _x.log1p(self)
    def log2(self): return _x.log2(self)
    def log10(self): return _x.log10(self)
    def sin(self): return _x.sin(self)
    def cos(self): return _x.cos(self)
    def tan(self): return _x.tan(self)
    def round(self, digits: int = 0): return _x.round(self, digits=digits)
    def signif(self, digits: int = 6): return _x.signif(self, digits=digits)
    def runif(self, seed: int = -1): return _x.runif(self, seed=seed)

    # ------------------------------------------------------------------ dates, text, types
    def year(self): return _x.year(self)
    def month(self): return _x.month(self)
    def week(self): return _x.week(self)
    def day(self): return _x.day(self)
    def dayOfWeek(self): return _x.dayOfWeek(self)  # noqa: N802  (H2O's name)
    def hour(self): return _x.hour(self)
    def minute(self): return _x.minute(self)
    def second(self): return _x.second(self)
    def tolower(self): return _x.tolower(self)
    def toupper(self): return _x.toupper(self)
    def trim(self): return _x.trim(self)
    def nchar(self): return _x.nchar(self)

    def substring(self, start_index: int, end_index: int | None = None):
        return _x.substring(self, start=start_index, end=end_index)

    def asfactor(self): return _x.asfactor(self)
    def asnumeric(self): return _x.asnumeric(self)
    def ascharacter(self): return _x.ascharacter(self)
    def as_date(self, format: str | None = None): return _x.as_date(self, format=format)  # noqa: A002
    def levels(self): return _x.levels(self)
    def nlevels(self): return _x.nlevels(self)
    def set_levels(self, levels: Sequence[str]): return _x.set_levels(self, levels=list(levels))
    def relevel(self, y: str): return _x.relevel(self, y=y)

    def cut(self, breaks: Sequence[float], labels: Sequence[str] | None = None, include_lowest: bool = False,
            right: bool = True):
        return _x.cut(self, breaks=list(breaks), labels=None if labels is None else list(labels),
                      include_lowest=include_lowest, right=right)

    def scale(self, center: bool = True, scale: bool = True): return _x.scale(self, center=center, scale=scale)

    def cor(self, y: Any = None, use: str | None = None):
        return _x.cor(self, use=use) if y is None else _x.cor(self, y, use=use)

    def hist(self, breaks: int | Sequence[float] | None = None):
        return _x.hist(self, breaks=breaks if breaks is None or isinstance(breaks, int) else list(breaks))

    # regex ops (linear-time engine on the server): sub -> replacefirst, gsub -> replaceall
    def sub(self, pattern: str, replacement: str, ignore_case: bool = False):
        return Expr.op("replacefirst", self, pattern=pattern, replacement=replacement, ignore_case=ignore_case)

    def gsub(self, pattern: str, replacement: str, ignore_case: bool = False):
        return Expr.op("replaceall", self, pattern=pattern, replacement=replacement, ignore_case=ignore_case)

    def strsplit(self, pattern: str): return Expr.op("strsplit", self, pattern=pattern)

    def grep(self, pattern: str, ignore_case: bool = False, invert: bool = False, output_logical: bool = False):
        return Expr.op("grep", self, pattern=pattern, ignore_case=ignore_case, invert=invert,
                       output_logical=output_logical)

    # ------------------------------------------------------------------ reducers and scans
    def _red(self, name: str, na_rm: bool | None) -> "Expr":
        return Expr.op(name, self, na_rm=na_rm)

    def sum(self, na_rm: bool | None = None): return self._red("sum", na_rm)
    def mean(self, na_rm: bool | None = None): return self._red("mean", na_rm)
    def median(self, na_rm: bool | None = None): return self._red("median", na_rm)
    def min(self, na_rm: bool | None = None): return self._red("min", na_rm)
    def max(self, na_rm: bool | None = None): return self._red("max", na_rm)
    def sd(self, na_rm: bool | None = None): return self._red("sd", na_rm)
    def var(self, na_rm: bool | None = None): return self._red("var", na_rm)
    def prod(self, na_rm: bool | None = None): return self._red("prod", na_rm)
    def all(self, na_rm: bool | None = None): return self._red("all", na_rm)
    def any(self, na_rm: bool | None = None): return self._red("any", na_rm)
    def nacnt(self): return Expr.op("nacnt", self)
    def nrow(self): return Expr.op("nrow", self)
    def ncol(self): return Expr.op("ncol", self)
    def names(self): return Expr.op("names", self)
    def cumsum(self): return Expr.op("cumsum", self)
    def cumprod(self): return Expr.op("cumprod", self)
    def cummin(self): return Expr.op("cummin", self)
    def cummax(self): return Expr.op("cummax", self)
    def unique(self): return Expr.op("unique", self)

    def table(self, other: "Expr | None" = None) -> "Expr":
        return Expr.op("table", self) if other is None else Expr.op("table", self, other)

    # ------------------------------------------------------------------ reorganisations
    def group_by(self, by: str | Sequence[str]) -> "GroupBy":
        return GroupBy(self, by)

    def quantile(self, prob: Sequence[float] | None = None, combine_method: str | None = None,
                 weights_column: str | None = None) -> "Expr":
        return Expr.op("quantile", self, probs=None if prob is None else list(prob), combine_method=combine_method,
                       weights=weights_column)

    def sort(self, by: str | Sequence[str], ascending: bool | Sequence[bool] | None = None) -> "Expr":
        return Expr.op("sort", self, by=[by] if isinstance(by, str) else list(by),
                       ascending=ascending if ascending is None or isinstance(ascending, bool) else list(ascending))

    def rank_within_group_by(self, group_by_cols: str | Sequence[str], sort_cols: str | Sequence[str],
                             ascending: bool | Sequence[bool] | None = None, new_col_name: str | None = None,
                             sort_cols_sorted: bool | None = None) -> "Expr":
        """H2O-3's rank within groups (see ``docs/munging.md``): sorted by the groups, then the sort
        columns; a new int column (default ``New_Rank_column``) counts 1, 2, ... per group."""
        return Expr.op("rank_within_group_by", self,
                       group_by_cols=[group_by_cols] if isinstance(group_by_cols, str) else list(group_by_cols),
                       sort_cols=[sort_cols] if isinstance(sort_cols, str) else list(sort_cols),
                       ascending=ascending if ascending is None or isinstance(ascending, bool) else list(ascending),
                       new_col_name=new_col_name, sort_cols_sorted=sort_cols_sorted)

    def merge(self, other: Any, all_x: bool = False, all_y: bool = False, by_x: Sequence[str] | None = None,
              by_y: Sequence[str] | None = None) -> "Expr":
        return merge(self, other, all_x=all_x, all_y=all_y, by_x=by_x, by_y=by_y)

    def split_frame(self, ratios: Sequence[float], seed: int = -1) -> "Expr":
        return Expr.op("split_frame", self, ratios=list(ratios), seed=seed)

    def kfold_column(self, n_folds: int = 3, seed: int = -1) -> "Expr":
        return Expr.op("kfold_column", self, nfolds=n_folds, seed=seed)

    def stratified_kfold_column(self, n_folds: int = 3, seed: int = -1) -> "Expr":
        return Expr.op("stratified_kfold_column", self, nfolds=n_folds, seed=seed)

    def drop_duplicates(self, columns: Sequence[str] | None = None, keep: str = "first") -> "Expr":
        return Expr.op("drop_duplicates", self, by=None if columns is None else list(columns), keep=keep)

    def fillna(self, method: str = "forward", maxlen: int = 1) -> "Expr":
        return Expr.op("fillna", self, method=method, maxlen=maxlen)

    def impute(self, column: str, method: str = "mean", by: Sequence[str] | None = None) -> "Expr":
        return Expr.op("impute", self, column=column, method=method, by=None if by is None else list(by))

    def cbind(self, *others: Any) -> "Expr":
        return cbind(self, *others)

    def rbind(self, *others: Any) -> "Expr":
        return rbind(self, *others)

    # ------------------------------------------------------------------ running
    def evaluate(self, dest: str | None = None, conn: Any = None) -> dict:
        """Send the expression to the node (``POST /api/v1/evaluate``); returns the result dict."""
        if conn is None:
            from .connection import current_connection
            conn = current_connection()
        from ._generated import operations as ops

        return ops.evaluate(conn, self.tree, dest=dest)


class GroupBy:
    """``fr.group_by(keys).count().mean("x", na="rm")...``; ``.frame`` is the expression."""

    def __init__(self, source: Expr, by: str | Sequence[str]):
        self._source = source
        self._by = [by] if isinstance(by, str) else list(by)
        self._aggs: list[dict] = []

    def _add(self, agg: str, col: str | Sequence[str] | None, na: str) -> "GroupBy":
        cols = [None] if col is None else [col] if isinstance(col, (str, int)) else list(col)
        for c in cols:
            spec: dict = {"agg": agg, "na": na}
            if c is not None:
                spec["col"] = c
            self._aggs.append(spec)
        return self

    def count(self, na: str = "all"): return self._add("nrow", None, na)
    def sum(self, col: str | Sequence[str], na: str = "all"): return self._add("sum", col, na)
    def mean(self, col: str | Sequence[str], na: str = "all"): return self._add("mean", col, na)
    def min(self, col: str | Sequence[str], na: str = "all"): return self._add("min", col, na)
    def max(self, col: str | Sequence[str], na: str = "all"): return self._add("max", col, na)
    def sd(self, col: str | Sequence[str], na: str = "all"): return self._add("sd", col, na)
    def var(self, col: str | Sequence[str], na: str = "all"): return self._add("var", col, na)
    def ss(self, col: str | Sequence[str], na: str = "all"): return self._add("ss", col, na)
    def mode(self, col: str | Sequence[str], na: str = "all"): return self._add("mode", col, na)
    def median(self, col: str | Sequence[str], na: str = "all"): return self._add("median", col, na)

    @property
    def frame(self) -> Expr:
        return Expr.op("group_by", self._source, by=self._by, aggs=list(self._aggs) or None)

    def evaluate(self, dest: str | None = None, conn: Any = None) -> dict:
        return self.frame.evaluate(dest=dest, conn=conn)


def _is_all(sel: Any) -> bool:
    return isinstance(sel, slice) and sel.start is None and sel.stop is None and sel.step is None


def frame(key_or_frame: Any) -> Expr:
    """The expression of a stored frame (a key or a ``shoal.Frame``)."""
    if isinstance(key_or_frame, str):
        return Expr({"op": "frame", "key": key_or_frame})
    tree, refs = _arg(key_or_frame)
    return Expr(tree, refs)


def col(key_or_frame: Any, name: str | int) -> Expr:
    """One column of a stored frame."""
    return frame(key_or_frame)[name]


def ifelse(test: Any, yes: Any, no: Any) -> Expr:
    return Expr.op("ifelse", test, yes, no)


def cbind(*frames: Any) -> Expr:
    return Expr.op("cbind", *frames)


def rbind(*frames: Any) -> Expr:
    return Expr.op("rbind", *frames)


def merge(x: Any, y: Any, all_x: bool = False, all_y: bool = False, by_x: Sequence[str] | None = None,
          by_y: Sequence[str] | None = None) -> Expr:
    return Expr.op("merge", x, y, all_x=all_x or None, all_y=all_y or None,
                   by_x=None if by_x is None else list(by_x), by_y=None if by_y is None else list(by_y))


from ._generated import expressions as _x  # noqa: E402  (the builders import Expr lazily)
