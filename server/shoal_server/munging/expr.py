"""The expression grammar: the closed op table and the validation of a JSON expression tree.

An expression is a JSON value: a literal (number, string, bool, null) or a node
``{"op": name, "args": [expr, ...], <param>: <json>, ...}``. :func:`parse` checks the whole tree
before any work is done (op names against the closed table below, arity, parameter names, size and
depth bounds) and returns :class:`Node` objects. Nothing received is ever evaluated as code: an op
name is only a key into :data:`OPS`. See ``docs/munging.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

__all__ = ["Node", "parse", "describe", "OPS", "OP_HELP", "ALIASES", "MAX_NODES", "MAX_DEPTH", "MAX_LIST",
           "MAX_STRING",
           "UNARY_MATH", "BINARY_ARITH", "COMPARISONS", "REDUCERS", "CUMULATIVE"]

MAX_NODES = 10_000
MAX_DEPTH = 64
MAX_LIST = 1_000_000
MAX_STRING = 100_000

#: Elementwise one-argument math (NA in -> NA out).
UNARY_MATH = ("abs", "ceil", "floor", "trunc", "sign", "sqrt", "exp", "expm1", "log", "log1p", "log2",
              "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "neg")
BINARY_ARITH = ("add", "sub", "mul", "div", "floordiv", "mod", "pow")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
REDUCERS = ("sum", "mean", "median", "min", "max", "sd", "var", "prod", "nacnt", "all", "any")
CUMULATIVE = ("cumsum", "cumprod", "cummin", "cummax")

#: Symbolic spellings accepted for op names.
ALIASES = {"+": "add", "-": "sub", "*": "mul", "/": "div", "//": "floordiv", "%": "mod", "**": "pow",
           "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "&": "and", "|": "or",
           "~": "not", "!": "not", "count": "nrow"}


@dataclass(frozen=True)
class OpSpec:
    """Arity (``min_args``..``max_args``; None = unbounded) and the allowed parameter names."""

    min_args: int
    max_args: int | None
    params: tuple = ()
    required: tuple = ()


def _s(n0, n1=None, params=(), required=()):
    return OpSpec(n0, n0 if n1 == "same" else n1, tuple(params), tuple(required))


OPS: dict[str, OpSpec] = {
    # leaves
    "frame": OpSpec(0, 0, ("key",), ("key",)),
    "col": OpSpec(0, 1, ("frame", "name", "index")),
    # slicing and assembly
    "cols": OpSpec(1, 1, ("select",), ("select",)),
    "drop": OpSpec(1, 1, ("names",), ("names",)),
    "rows": OpSpec(1, 2, ("select",)),
    "head": OpSpec(1, 1, ("n",)),
    "tail": OpSpec(1, 1, ("n",)),
    "cbind": OpSpec(1, None),
    "rbind": OpSpec(1, None),
    "assign": OpSpec(2, 2, ("name",), ("name",)),
    "rename": OpSpec(1, 1, ("names",), ("names",)),
    # elementwise
    **{op: OpSpec(1, 1) for op in UNARY_MATH},
    **{op: OpSpec(2, 2) for op in BINARY_ARITH + COMPARISONS},
    "and": OpSpec(2, 2), "or": OpSpec(2, 2), "not": OpSpec(1, 1), "isna": OpSpec(1, 1),
    "round": OpSpec(1, 1, ("digits",)), "signif": OpSpec(1, 1, ("digits",)),
    "ifelse": OpSpec(3, 3),
    "runif": OpSpec(1, 1, ("seed",)),
    # reducers and shape
    **{op: OpSpec(1, 1, ("na_rm",)) for op in REDUCERS},
    "nrow": OpSpec(1, 1), "ncol": OpSpec(1, 1), "names": OpSpec(1, 1),
    # scans
    **{op: OpSpec(1, 1) for op in CUMULATIVE},
    "unique": OpSpec(1, 1),
    "table": OpSpec(1, 2),
    # grouped and global reorganisations
    "group_by": OpSpec(1, 1, ("by", "aggs"), ("by",)),
    "quantile": OpSpec(1, 1, ("probs", "combine_method", "weights")),
    "sort": OpSpec(1, 1, ("by", "ascending"), ("by",)),
    "rank_within_group_by": OpSpec(1, 1, ("group_by_cols", "sort_cols", "ascending", "new_col_name",
                                          "sort_cols_sorted"), ("group_by_cols", "sort_cols")),
    "merge": OpSpec(2, 2, ("by_x", "by_y", "all_x", "all_y")),
    "split_frame": OpSpec(1, 1, ("ratios", "seed"), ("ratios",)),
    "kfold_column": OpSpec(1, 1, ("nfolds", "seed")),
    "drop_duplicates": OpSpec(1, 1, ("by", "keep")),
    "fillna": OpSpec(1, 1, ("method", "maxlen")),
    "impute": OpSpec(1, 1, ("column", "method", "by"), ("column",)),
    # dates, text, types
    **{op: OpSpec(1, 1) for op in ("year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second")},
    "tolower": OpSpec(1, 1), "toupper": OpSpec(1, 1), "trim": OpSpec(1, 1), "nchar": OpSpec(1, 1),
    "substring": OpSpec(1, 1, ("start", "end")),
    "replacefirst": OpSpec(1, 1, ("pattern", "replacement", "ignore_case"), ("pattern",)),
    "replaceall": OpSpec(1, 1, ("pattern", "replacement", "ignore_case"), ("pattern",)),
    "strsplit": OpSpec(1, 1, ("pattern",), ("pattern",)),
    "grep": OpSpec(1, 1, ("pattern", "ignore_case", "invert", "output_logical"), ("pattern",)),
    "asfactor": OpSpec(1, 1), "asnumeric": OpSpec(1, 1), "ascharacter": OpSpec(1, 1),
    "as_date": OpSpec(1, 1, ("format",)),
    "levels": OpSpec(1, 1), "nlevels": OpSpec(1, 1),
    "cut": OpSpec(1, 1, ("breaks", "labels", "right", "include_lowest"), ("breaks",)),
    "scale": OpSpec(1, 1, ("center", "scale")),
    "set_levels": OpSpec(1, 1, ("levels",), ("levels",)), "relevel": OpSpec(1, 1, ("y",), ("y",)),
    "cor": OpSpec(1, 2, ("use",)), "hist": OpSpec(1, 1, ("breaks",)),
    "stratified_kfold_column": OpSpec(1, 1, ("nfolds", "seed")),
}


_MATH_HELP = {"abs": "absolute value", "ceil": "smallest integer >= x", "floor": "largest integer <= x",
              "trunc": "integer part", "sign": "-1, 0 or 1", "sqrt": "square root", "exp": "e**x",
              "expm1": "e**x - 1", "log": "natural logarithm", "log1p": "log(1 + x)", "log2": "base-2 logarithm",
              "log10": "base-10 logarithm", "neg": "-x"}
_ARITH_HELP = {"add": "x + y", "sub": "x - y", "mul": "x * y", "div": "x / y (IEEE: x/0 = +-Inf)",
               "floordiv": "floor(x / y)", "mod": "x - y * floor(x / y)", "pow": "x ** y"}
_CMP_HELP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

#: One help line per op (published with :func:`describe`, e.g. in the API metadata).
OP_HELP: dict[str, str] = {
    "frame": "A stored frame, by `key`.",
    "col": "One column of a frame (`frame`: key or expression, or a frame argument), by `name` or `index`.",
    "cols": "Columns by name, index, list of names/indices, or {start, stop, step} (`select`).",
    "drop": "Every column but `names`.",
    "rows": "Rows by a one-column boolean mask (second argument; missing drops the row), or by `select`: "
            "a list of row indices (any order, repeats allowed) or {start, stop, step}.",
    "head": "The first `n` rows (default 6).", "tail": "The last `n` rows (default 6).",
    "cbind": "Columns of several frames side by side (same rows); duplicate names get _2, _3, ...",
    "rbind": "Rows of several frames one after the other (columns by position; enum domains unified).",
    "assign": "A new frame version with column `name` set to the second argument (a column or a scalar).",
    "rename": "Rename columns: `names` is {old: new} or a full list.",
    **{op: f"Elementwise {h}; NA in, NA out." for op, h in _MATH_HELP.items()},
    **{op: f"Elementwise {h} (a one-column frame or a scalar broadcasts); NA in, NA out."
       for op, h in _ARITH_HELP.items()},
    **{op: f"Elementwise comparison {h}; enum columns compare with strings by level; NA in, NA out."
       for op, h in _CMP_HELP.items()},
    **{op: f"Elementwise {op} (trigonometric); NA in, NA out." for op in
       ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh")},
    "and": "Elementwise Kleene AND (NA & false = false).", "or": "Elementwise Kleene OR (NA | true = true).",
    "not": "Elementwise logical NOT; NA stays NA.", "isna": "True where the value is missing.",
    "round": "Round to `digits` (default 0) decimals, half to even.",
    "signif": "Round to `digits` (default 6) significant digits.",
    "ifelse": "Elementwise choice: second argument where the first is true, else the third; NA test gives NA.",
    "runif": "Uniform [0, 1) per row from the stream (`seed`, chunk index).",
    **{op: f"The {op} of each column (`na_rm`: skip missing values; default false: any NA gives NA)."
       for op in ("sum", "mean", "median", "min", "max", "prod")},
    "sd": "Sample standard deviation of each column (`na_rm`).", "var": "Sample variance of each column (`na_rm`).",
    "nacnt": "Number of missing values of each column.",
    "all": "Whether every value is true (`na_rm`; Kleene logic otherwise).",
    "any": "Whether some value is true (`na_rm`; Kleene logic otherwise).",
    "nrow": "Number of rows.", "ncol": "Number of columns.", "names": "Column names.",
    **{op: f"Running {op[3:]} (missing values stay missing and are skipped)." for op in
       ("cumsum", "cumprod", "cummin", "cummax")},
    "unique": "Distinct values of a column, sorted, missing last.",
    "table": "Counts per value of one column, or per pair of values of two columns.",
    "group_by": "Group by the `by` columns and aggregate (`aggs`: [{agg, col, na}]); output sorted by key.",
    "quantile": "Exact quantiles at `probs` (`combine_method`, optional `weights` column).",
    "sort": "Rows sorted by `by` (`ascending` per key); stable, missing last.",
    "rank_within_group_by": "Rows sorted by `group_by_cols` (ascending) then `sort_cols` (`ascending` per sort "
                            "column; stable, missing last) plus an int column `new_col_name` (default "
                            "New_Rank_column): 1, 2, ... within each group; missing where a sort value is missing "
                            "(not counted). `sort_cols_sorted`: re-sort the result by the sort columns.",
    "merge": "Join two frames on `by_x`/`by_y` (default: common names); `all_x`, `all_y` for outer joins.",
    "split_frame": "Random split by `ratios` (`seed`): a list of frames.",
    "kfold_column": "A fold column: random fold ids in [0, `nfolds`) (`seed`).",
    "drop_duplicates": "Rows with distinct `by` values (`keep` first or last).",
    "fillna": "Fill missing values from the previous (`method` forward) or next value, at most `maxlen` in a row.",
    "impute": "Impute `column` with its mean, median or mode (`method`), per group of `by`.",
    **{op: f"The {op} of a time column (UTC)." for op in
       ("year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second")},
    "tolower": "Lower-case strings.", "toupper": "Upper-case strings.", "trim": "Strip surrounding whitespace.",
    "nchar": "Length of each string.", "substring": "Characters `start` (0-based) to `end` (exclusive).",
    "replacefirst": "Replace the first match of `pattern` (RE2) by `replacement` (\\1, \\g<name> insert groups; "
                    "`ignore_case`); enum columns: on their levels (equal results merge).",
    "replaceall": "Replace every match of `pattern` (RE2) by `replacement` (\\1, \\g<name> insert groups; "
                  "`ignore_case`); enum columns: on their levels (equal results merge).",
    "strsplit": "Split one string column on `pattern` (RE2): string columns C1..Cn, n the most pieces of any "
                "value; shorter values padded with missing.",
    "grep": "Rows of one string/enum column matching `pattern` (RE2; `ignore_case`, `invert`): their 0-based "
            "indices, or with `output_logical` a bool column; missing never matches.",
    "as_date": "Parse strings or enum levels as UTC times (`format`: strptime directives; default ISO 8601).",
    "asfactor": "Convert to enum.", "asnumeric": "Convert to numbers (enum: codes).",
    "ascharacter": "Convert to strings.", "levels": "Levels of enum columns.", "nlevels": "Number of levels.",
    "cut": "Enum of the interval of each value (`breaks`, `labels`, `right`, `include_lowest`).",
    "scale": "(x - mean) / sd per column (`center`, `scale`).",
    "set_levels": "Rename every level (`levels`, in order).", "relevel": "Move level `y` first.",
    "cor": "Pearson correlation of two columns, or the matrix of two frames (`use`).",
    "hist": "Histogram of a column (`breaks`: bin count or edges).",
    "stratified_kfold_column": "A fold column dealing each class evenly over `nfolds` folds (`seed`).",
}


def describe() -> list[dict]:
    """The grammar as data: one entry per op (name, arity, parameters, help), for the API metadata."""
    out = []
    for name in sorted(OPS):
        spec = OPS[name]
        out.append({"op": name, "min_args": spec.min_args, "max_args": spec.max_args, "params": list(spec.params),
                    "required": list(spec.required), "help": OP_HELP.get(name, "")})
    return out


@dataclass
class Node:
    """One validated node: op name (aliases resolved), positional args, named params."""

    op: str
    args: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    path: str = "expr"


def _bad(msg: str, path: str, **details) -> InvalidParameter:
    return InvalidParameter(msg, {"path": path, "problems": [{"parameter": "expr", "message": msg}], **details})


def _allowed() -> list[str]:
    return sorted(OPS)


class _Walker:
    def __init__(self):
        self.nodes = 0

    def literal(self, v: Any, path: str, depth: int):
        if depth > MAX_DEPTH:
            raise _bad(f"The expression is nested deeper than {MAX_DEPTH} levels (at {path}).", path)
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            if isinstance(v, float) and math.isnan(v):
                return None
            return v
        if isinstance(v, str):
            if len(v) > MAX_STRING:
                raise _bad(f"A string at {path} is longer than {MAX_STRING} characters.", path)
            return v
        if isinstance(v, list):
            if len(v) > MAX_LIST:
                raise _bad(f"A list at {path} has more than {MAX_LIST} elements.", path)
            return [self.literal(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v)]
        if isinstance(v, dict):
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _bad(f"The expression has more than {MAX_NODES} nodes.", path)
            return {str(k): self.literal(x, f"{path}.{k}", depth + 1) for k, x in v.items()}
        raise _bad(f"Unsupported value of type {type(v).__name__} at {path}.", path)

    def expr(self, v: Any, path: str, depth: int):
        if depth > MAX_DEPTH:
            raise _bad(f"The expression is nested deeper than {MAX_DEPTH} levels (at {path}).", path)
        if not isinstance(v, dict):
            if isinstance(v, list):
                return self.literal(v, path, depth)
            return self.literal(v, path, depth)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _bad(f"The expression has more than {MAX_NODES} nodes.", path)
        if "op" not in v:
            raise _bad(f"The object at {path} has no `op`; every expression node is "
                       f"{{\"op\": name, \"args\": [...]}}.", path)
        raw = v["op"]
        if not isinstance(raw, str):
            raise _bad(f"`op` at {path} must be a string; got {type(raw).__name__}.", path)
        op = ALIASES.get(raw, raw)
        spec = OPS.get(op)
        if spec is None:
            raise InvalidParameter(
                f"Unknown operation `{raw[:100]}` at {path}; allowed operations: {', '.join(_allowed())}.",
                {"path": path, "op": raw[:100], "allowed": _allowed(),
                 "problems": [{"parameter": "expr", "message": f"unknown operation `{raw[:100]}`"}]})
        args = v.get("args", [])
        if not isinstance(args, list):
            raise _bad(f"`args` of `{op}` at {path} must be a list.", path)
        n = len(args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (f"{spec.min_args}" if spec.max_args == spec.min_args else
                    f"{spec.min_args} or more" if spec.max_args is None else f"{spec.min_args} to {spec.max_args}")
            raise _bad(f"`{op}` at {path} takes {want} argument(s); got {n}.", path)
        params = {}
        for k, x in v.items():
            if k in ("op", "args"):
                continue
            if k not in spec.params:
                allowed = ", ".join(spec.params) or "none"
                raise _bad(f"`{op}` at {path} has no parameter `{k}` (parameters: {allowed}).", path)
            if k == "frame" and isinstance(x, dict):
                params[k] = self.expr(x, f"{path}.{k}", depth + 1)
            else:
                params[k] = self.literal(x, f"{path}.{k}", depth + 1)
        for k in spec.required:
            if k not in params:
                raise _bad(f"`{op}` at {path} needs parameter `{k}`.", path)
        nargs = [self.expr(a, f"{path}.args[{i}]", depth + 1) for i, a in enumerate(args)]
        return Node(op, nargs, params, path)


def parse(expr: Any) -> Any:
    """Validate a JSON expression; returns a :class:`Node` tree (or a literal).

    Raises ``invalid_parameter`` for an unknown op (listing the allowed ones), a wrong arity, an
    unknown parameter, or a tree beyond the size/depth bounds.
    """
    return _Walker().expr(expr, "expr", 0)
