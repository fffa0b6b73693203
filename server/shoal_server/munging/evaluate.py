"""The evaluator: a validated expression tree -> a frame, a scalar or a list.

``evaluate(node, expr, dest_key, job)`` is the one entry point (wired to ``POST /api/v1/evaluate``).
Elementwise ops build per-column plans (type-checked here, where the headers are known: enum
comparisons become code comparisons, enum domains are unified); the plans run where the chunks live
when a frame is materialized. Each op of the closed table :data:`OP_IMPL` is one function
``fn(ctx, node) -> value``.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter
from ..store.frame import ColumnHeader
from . import frames as F
from .expr import BINARY_ARITH, COMPARISONS, OPS, UNARY_MATH, Node, parse
from .values import EvalContext, FrameVal, column_header, dedupe, same_layout

__all__ = ["evaluate", "eval_node", "OP_IMPL", "frame_summary"]

_INTISH = ("int", "bool", "time")
_NUMERIC = ("int", "real", "bool", "time")
_MIRROR = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _err(msg: str, node: Node | None = None, **details) -> InvalidParameter:
    if node is not None:
        details.setdefault("path", node.path)
        details.setdefault("op", node.op)
    return InvalidParameter(msg, details)


# ================================================================================ scalars / literals
def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _scalar_type(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "str"
    return "real"


def _lit(v) -> list:
    if v is None:
        return ["lit", None]
    if isinstance(v, str):
        raise InvalidParameter(f"The string {v!r} cannot be used as a number.", {"value": v[:100]})
    return ["lit", float(v)]


def _scalar_apply(op: str, args: list, params: dict | None = None):
    """An elementwise op on scalars, through the same per-chunk functions (one-element arrays)."""
    from .chunkeval import CHUNK_OPS, ChunkEnv
    if op in ("eq", "ne") and any(isinstance(a, str) for a in args):
        a, b = args
        if a is None or b is None:
            return None
        return (a == b) if op == "eq" else (a != b)
    env = ChunkEnv(None, 0, 1)
    vals = [np.array([np.nan if a is None else float(a)]) for a in args]
    out = float(CHUNK_OPS[op](env, vals, params or {})[0])
    if math.isnan(out):
        return None
    if op in COMPARISONS or op in ("and", "or", "not", "isna"):
        return bool(out)
    if all(isinstance(a, (int, bool)) and not isinstance(a, float) for a in args) and op in \
            ("add", "sub", "mul", "floordiv", "mod", "neg", "abs", "sign") and math.isfinite(out):
        return int(out)
    return out


# ================================================================================ column helpers
def _check_numeric(h: ColumnHeader, op: str, node: Node) -> None:
    if h.type.value not in _NUMERIC:
        raise _err(f"`{op}` needs numeric columns; column `{h.name}` is {h.type.value}.", node, column=h.name)


def _arith_type(op: str, ta: str, tb: str) -> str:
    if op in ("add", "sub", "mul", "floordiv", "mod") and ta in _INTISH and tb in _INTISH:
        return "int"
    return "real"


def _operand_type(x) -> str:
    """Type name of a column (ColumnHeader) or a scalar literal."""
    if isinstance(x, tuple):
        return x[0].type.value
    return {"bool": "bool", "int": "int", "real": "real", "str": "str"}[_scalar_type(x)] if x is not None else "real"


_PY_CMP = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
           "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def _enum_vs_literal(op: str, h: ColumnHeader, plan: list, s: str) -> list:
    """Compare enum codes with a string: one code comparison when the domain is sorted (as every
    domain Shoal builds), else a per-level truth table."""
    domain = list(h.domain or ())
    if domain != sorted(domain):
        table = np.array([int(_PY_CMP[op](level, s)) for level in domain], np.int32)
        return ["op", "remap", [plan], {"map": table}]
    pos = int(np.searchsorted(np.array(domain, dtype=object), s, side="left")) if domain else 0
    present = pos < len(domain) and domain[pos] == s
    thr = float(pos) if present else pos - 0.5
    return ["op", op, [plan, ["lit", thr]], {}]


def _union_domain(domains) -> tuple:
    out = set()
    for d in domains:
        out.update(d or ())
    return tuple(sorted(out))


def _remap_plan(plan: list, domain, union) -> list:
    index = {s: i for i, s in enumerate(union)}
    mapping = np.array([index[s] for s in (domain or ())], dtype=np.int32)
    if np.array_equal(mapping, np.arange(len(mapping), dtype=np.int32)):
        return plan
    return ["op", "remap", [plan], {"map": mapping}]


def _binary_col(op: str, a, b, node: Node):
    """``a``/``b``: ``(ColumnHeader, plan)`` or a scalar. Returns ``(ColumnHeader, plan)``."""
    ha = a[0] if isinstance(a, tuple) else None
    hb = b[0] if isinstance(b, tuple) else None
    name = (ha or hb).name
    ta, tb = _operand_type(a), _operand_type(b)
    if op in COMPARISONS:
        if ta == "enum" and tb == "str":
            return column_header(name, "bool"), _enum_vs_literal(op, ha, a[1], b)
        if ta == "str" and tb == "enum":
            return column_header(name, "bool"), _enum_vs_literal(_MIRROR[op], hb, b[1], a)
        if ta == "enum" and tb == "enum":
            union = _union_domain([ha.domain, hb.domain])
            return column_header(name, "bool"), ["op", op, [_remap_plan(a[1], ha.domain, union),
                                                            _remap_plan(b[1], hb.domain, union)], {}]
        if ta == "string" or tb == "string":
            if op not in ("eq", "ne"):
                raise _err(f"String columns support only == and != (got `{op}`); convert with asfactor to order "
                           f"them.", node)
            if ta == "string" and tb == "str":
                return column_header(name, "bool"), ["op", "str_eq", [a[1]], {"lit": b, "neg": op == "ne"}]
            if tb == "string" and ta == "str":
                return column_header(name, "bool"), ["op", "str_eq", [b[1]], {"lit": a, "neg": op == "ne"}]
            if ta == "string" and tb == "string":
                return column_header(name, "bool"), ["op", "str_eq2", [a[1], b[1]], {"neg": op == "ne"}]
        if "str" in (ta, tb) or "enum" in (ta, tb) or "string" in (ta, tb):
            raise _err(f"Cannot compare {ta if ta != 'str' else 'a string'} with "
                       f"{tb if tb != 'str' else 'a string'} in `{op}`; compare enum or string columns with "
                       f"strings, numbers with numbers.", node)
        return column_header(name, "bool"), ["op", op, [_plan_of(a), _plan_of(b)], {}]
    for t, h in ((ta, ha), (tb, hb)):
        if t not in _NUMERIC:
            what = f"column `{h.name}` ({t})" if h is not None else "a string"
            raise _err(f"`{op}` needs numbers; got {what}.", node)
    if op in ("and", "or"):
        return column_header(name, "bool"), ["op", op, [_plan_of(a), _plan_of(b)], {}]
    return column_header(name, _arith_type(op, ta, tb)), ["op", op, [_plan_of(a), _plan_of(b)], {}]


def _plan_of(x) -> list:
    return x[1] if isinstance(x, tuple) else _lit(x)


def _pair_columns(a: FrameVal, b: FrameVal, node: Node):
    if not same_layout(a.anchor, b.anchor):
        raise _err(f"Frames `{a.anchor.key}` ({a.nrow} rows) and `{b.anchor.key}` ({b.nrow} rows) do not share "
                   f"a row layout; elementwise operations need frames with the same rows.", node)
    if a.ncol == b.ncol:
        return list(zip(a.cols, b.cols))
    if a.ncol == 1:
        return [(a.cols[0], c) for c in b.cols]
    if b.ncol == 1:
        return [(c, b.cols[0]) for c in a.cols]
    raise _err(f"Elementwise `{node.op}` needs frames with the same number of columns (or one column); got "
               f"{a.ncol} and {b.ncol}.", node)


# ================================================================================ dispatch
def eval_node(ctx: EvalContext, n):
    """Evaluate a parsed node (or literal) to a FrameVal, a scalar or a list."""
    if not isinstance(n, Node):
        return n
    ctx.check()
    subst = getattr(ctx, "substitute", None)
    if subst and id(n) in subst:  # a node whose value a fused evaluation computed (see rank.fused_rank_rows)
        return subst[id(n)]
    fn = OP_IMPL.get(n.op)
    if fn is None:  # pragma: no cover - the grammar and the table are kept in step by a test
        raise _err(f"Operation `{n.op}` is declared but not implemented; allowed: {', '.join(sorted(OP_IMPL))}.", n)
    return fn(ctx, n)


def _frame_arg(ctx, n: Node, i: int = 0) -> FrameVal:
    v = eval_node(ctx, n.args[i])
    if not isinstance(v, FrameVal):
        raise _err(f"Argument {i + 1} of `{n.op}` must be a frame; got {type(v).__name__}.", n)
    return v


def _op_frame(ctx, n):
    key = n.params["key"]
    if not isinstance(key, str):
        raise _err("`frame` needs a string `key`.", n)
    return FrameVal.of(ctx.node.catalog.get(key))


def _op_col(ctx, n):
    src = n.params.get("frame")
    if n.args:
        fv = _frame_arg(ctx, n)
    elif isinstance(src, Node):
        fv = eval_node(ctx, src)
    elif isinstance(src, str):
        fv = FrameVal.of(ctx.node.catalog.get(src))
    else:
        raise _err("`col` needs `frame` (a key or an expression) or a frame argument.", n)
    if not isinstance(fv, FrameVal):
        raise _err("`col` needs a frame.", n)
    sel = n.params.get("name", n.params.get("index"))
    if sel is None:
        raise _err("`col` needs `name` or `index`.", n)
    return fv.select([fv.col_index(sel)])


def _col_selector(fv: FrameVal, sel, n: Node) -> list[int]:
    if isinstance(sel, dict):
        s = slice(sel.get("start"), sel.get("stop"), sel.get("step"))
        return list(range(fv.ncol))[s]
    if isinstance(sel, list):
        return [fv.col_index(x) for x in sel]
    return [fv.col_index(sel)]


def _op_cols(ctx, n):
    fv = _frame_arg(ctx, n)
    return fv.select(_col_selector(fv, n.params["select"], n))


def _op_drop(ctx, n):
    fv = _frame_arg(ctx, n)
    names = n.params["names"]
    gone = set(_col_selector(fv, names if isinstance(names, list) else [names], n))
    return fv.select([i for i in range(fv.ncol) if i not in gone])


def _op_rename(ctx, n):
    fv = _frame_arg(ctx, n)
    names = n.params["names"]
    new = fv.names
    if isinstance(names, dict):
        for old, nm in names.items():
            new[fv.col_index(old)] = str(nm)
    elif isinstance(names, list) and len(names) == fv.ncol:
        new = [str(x) for x in names]
    else:
        raise _err(f"`names` of `rename` is a {{old: new}} object or a list of {fv.ncol} names.", n)
    if len(set(new)) != len(new):
        raise _err("Column names must be unique after `rename`.", n)
    return FrameVal(fv.anchor, [(ColumnHeader(nm, h.type, h.domain), p) for nm, (h, p) in zip(new, fv.cols)])


def _op_cbind(ctx, n):
    parts = [_frame_arg(ctx, n, i) for i in range(len(n.args))]
    first = parts[0]
    cols = []
    for p in parts:
        if not same_layout(first.anchor, p.anchor):
            if p.nrow == first.nrow:
                p = _relayout(ctx, p, first)
            else:
                raise _err(f"`cbind` needs frames with the same number of rows; got {first.nrow} and {p.nrow}.", n)
        cols.extend(p.cols)
    names = dedupe([h.name for h, _p in cols])
    return FrameVal(first.anchor, [(ColumnHeader(nm, h.type, h.domain), p) for nm, (h, p) in zip(names, cols)])


def _relayout(ctx, fv: FrameVal, target: FrameVal) -> FrameVal:
    """``fv`` rewritten in ``target``'s row layout (same row count): gathered, then stored by its starts."""
    return _store_in_layout(ctx, ctx.gather(fv), target.anchor)


def _store_in_layout(ctx, data, anchor) -> FrameVal:
    import time as _t

    from ..store.frame import FrameHeader
    from ..store.layout import home_of
    node = ctx.node
    key = ctx.temp_key()
    staging = F.staging_key(key)
    try:
        by_member: dict = {}
        for i in range(anchor.nchunks):
            a, b = int(anchor.starts[i]), int(anchor.starts[i + 1])
            items = [(c, i, F._encode_slice(col, a, b)) for c, col in enumerate(data)]
            by_member.setdefault(home_of(i, anchor.members), []).extend(items)
        for member, items in by_member.items():
            if member == node.self_id:
                node.chunks.put_many(staging, items)
            else:
                node.cluster.put_chunks(member, staging, items)
        header = FrameHeader(key, tuple(c.header for c in data), anchor.starts, anchor.members, int(_t.time() * 1000))
        return FrameVal.of(F.publish(node, staging, header))
    except BaseException:
        F.discard(node, staging, anchor.members)
        raise


def _op_assign(ctx, n):
    fv = _frame_arg(ctx, n)
    name = n.params["name"]
    if not isinstance(name, str) or not name:
        raise _err("`name` of `assign` must be a non-empty string.", n)
    v = eval_node(ctx, n.args[1])
    if isinstance(v, FrameVal):
        if v.ncol != 1:
            raise _err(f"`assign` takes a one-column value; got {v.ncol} columns.", n)
        if not same_layout(fv.anchor, v.anchor):
            if v.nrow != fv.nrow:
                raise _err(f"`assign` needs a value with {fv.nrow} rows; got {v.nrow}.", n)
            v = _relayout(ctx, v, fv)
        h, plan = v.cols[0]
        col = (ColumnHeader(name, h.type, h.domain), plan)
    elif isinstance(v, str):
        col = (column_header(name, "enum", (v,)), ["lit", 0.0])
    elif _is_scalar(v):
        col = (column_header(name, "real" if v is None else _scalar_type(v)), _lit(v))
    else:
        raise _err("`assign` takes a one-column frame or a scalar.", n)
    cols = list(fv.cols)
    for i, (h, _p) in enumerate(cols):
        if h.name == name:
            cols[i] = col
            break
    else:
        cols.append(col)
    return FrameVal(fv.anchor, cols)


# ---------------------------------------------------------------------------- rows
def _normalize_range(sel: dict, nrow: int, n: Node):
    step = sel.get("step") or 1
    if not isinstance(step, int) or step == 0:
        raise _err("`step` of a row slice must be a non-zero integer.", n)
    return range(nrow)[slice(sel.get("start"), sel.get("stop"), step)]


def _op_rows(ctx, n):
    if len(n.args) == 2:
        from .rank import fused_rank_rows
        fused = fused_rank_rows(ctx, n)  # r[r["New_Rank_column"] <= k, ...]: only the passing rows are stored
        if fused is not None:
            return fused
    fv = _frame_arg(ctx, n)
    if len(n.args) == 2:
        mask = eval_node(ctx, n.args[1])
        if not isinstance(mask, FrameVal) or mask.ncol != 1:
            raise _err("The row mask of `rows` must be a one-column frame.", n)
        if not same_layout(fv.anchor, mask.anchor):
            if mask.nrow != fv.nrow:
                raise _err(f"The row mask has {mask.nrow} rows; the frame has {fv.nrow}.", n)
            mask = _relayout(ctx, mask, fv)
        h, plan = mask.cols[0]
        if h.type.value not in _NUMERIC:
            raise _err(f"The row mask must be boolean or numeric; column `{h.name}` is {h.type.value}.", n)
        return _materialize_rows(ctx, fv, ["mask", plan])
    sel = n.params.get("select")
    if sel is None:
        raise _err("`rows` needs a mask frame argument or `select` (row indices or a slice).", n)
    return _select_rows(ctx, fv, sel, n)


def _materialize_rows(ctx, fv: FrameVal, rows) -> FrameVal:
    return FrameVal.of(F.materialize(ctx.node, fv.anchor, ctx.temp_key(), fv.cols, rows=rows, job=ctx.job))


def _select_rows(ctx, fv: FrameVal, sel, n: Node) -> FrameVal:
    nrow = fv.nrow
    if isinstance(sel, dict):
        r = _normalize_range(sel, nrow, n)
        if r.step > 0:
            return _materialize_rows(ctx, fv, ["range", r.start, r.stop, r.step])
        idx = np.arange(r.start, r.stop, r.step, dtype=np.int64)
    else:
        items = sel if isinstance(sel, list) else [sel]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
            raise _err("Row indices must be integers.", n)
        idx = np.asarray(items, dtype=np.int64)
        idx = np.where(idx < 0, idx + nrow, idx)
        bad = (idx < 0) | (idx >= nrow)
        if bad.any():
            raise _err(f"Row index {items[int(np.argmax(bad))]} is outside a frame of {nrow} rows.", n)
    if len(idx) == 0 or bool(np.all(np.diff(idx) > 0)):
        return _materialize_rows(ctx, fv, ["index", idx])
    data = ctx.gather(fv)
    return ctx.store([c.take(idx) for c in data])


def _op_head(ctx, n):
    fv = _frame_arg(ctx, n)
    k = n.params.get("n", 6)
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise _err(f"`n` of `{n.op}` must be a non-negative integer; got {k!r}.", n)
    if n.op == "head":
        return _materialize_rows(ctx, fv, ["range", 0, min(max(k, 0), fv.nrow), 1])
    return _materialize_rows(ctx, fv, ["range", max(fv.nrow - max(k, 0), 0), fv.nrow, 1])


def _op_rbind(ctx, n):
    parts = [_frame_arg(ctx, n, i) for i in range(len(n.args))]
    first = parts[0]
    for p in parts[1:]:
        if p.ncol != first.ncol:
            raise _err(f"`rbind` needs frames with the same number of columns; got {first.ncol} and {p.ncol}.", n)
    datas = [ctx.gather(p) for p in parts]
    out = []
    for c in range(first.ncol):
        cols = [d[c] for d in datas]
        out.append(_concat_columns(cols, n))
    return ctx.store(out)


def _concat_columns(cols: list, n: Node):
    from .frames import ColumnData
    types = {c.type for c in cols}
    name = cols[0].header.name
    if len(types) > 1:
        if types <= set(_NUMERIC):
            t = "real" if "real" in types else "int"
            vals = np.concatenate([c.as_float() for c in cols])
            if t == "real":
                return ColumnData(column_header(name, "real"), vals)
            na = np.isnan(vals)
            return ColumnData(column_header(name, "int"), np.where(na, 0, vals).astype(np.int64), na)
        raise _err(f"`rbind` cannot stack column `{name}` of types {', '.join(sorted(types))}.", n)
    t = types.pop()
    if t == "enum":
        union = _union_domain([c.header.domain for c in cols])
        index = {s: i for i, s in enumerate(union)}
        codes = []
        for c in cols:
            table = np.append(np.array([index[s] for s in c.header.domain or ()], np.int32), np.int32(-1))
            codes.append(table[np.where(c.values < 0, len(table) - 1, c.values)])
        return ColumnData(column_header(name, "enum", union), np.concatenate(codes) if codes else np.zeros(0, np.int32))
    if t == "string":
        offs, datas, nas, base = [np.zeros(1, np.int64)], [], [], 0
        for c in cols:
            o, d = c.values
            offs.append(o[1:] + base)
            base += int(o[-1])
            datas.append(d[:o[-1]])
            nas.append(c.na)
        return ColumnData(cols[0].header, (np.concatenate(offs), np.concatenate(datas)), np.concatenate(nas))
    if t == "real":
        return ColumnData(cols[0].header, np.concatenate([c.values for c in cols]))
    return ColumnData(cols[0].header, np.concatenate([c.values for c in cols]), np.concatenate([c.na for c in cols]))


# ---------------------------------------------------------------------------- elementwise
def _op_binary(ctx, n):
    a, b = eval_node(ctx, n.args[0]), eval_node(ctx, n.args[1])
    fa, fb = isinstance(a, FrameVal), isinstance(b, FrameVal)
    if not fa and not fb:
        if not (_is_scalar(a) and _is_scalar(b)):
            raise _err(f"`{n.op}` works on frames and scalars.", n)
        if n.op not in ("eq", "ne") and (isinstance(a, str) or isinstance(b, str)):
            raise _err(f"`{n.op}` needs numbers; got a string.", n)
        return _scalar_apply(n.op, [a, b])
    if fa and fb:
        pairs = _pair_columns(a, b, n)
        return FrameVal(a.anchor, [_binary_col(n.op, x, y, n) for x, y in pairs])
    if fa:
        if not _is_scalar(b):
            raise _err(f"`{n.op}` takes a frame and a scalar; got a {type(b).__name__}.", n)
        return FrameVal(a.anchor, [_binary_col(n.op, c, b, n) for c in a.cols])
    if not _is_scalar(a):
        raise _err(f"`{n.op}` takes a scalar and a frame; got a {type(a).__name__}.", n)
    return FrameVal(b.anchor, [_binary_col(n.op, a, c, n) for c in b.cols])


def _unary_type(op: str, t: str) -> str:
    if op in ("not", "isna"):
        return "bool"
    if op in ("abs", "sign", "neg") and t in _INTISH:
        return "int"
    if op in ("ceil", "floor", "trunc") and t in _INTISH:
        return "int"
    if op == "round" and t in _INTISH:
        return "int"
    return "real"


def _op_unary(ctx, n):
    a = eval_node(ctx, n.args[0])
    params = {k: v for k, v in n.params.items() if k == "digits"}
    if "digits" in params and (not isinstance(params["digits"], int) or isinstance(params["digits"], bool)
                               or abs(params["digits"]) > 300):
        raise _err("`digits` must be an integer in [-300, 300].", n)
    if n.op == "signif" and params.get("digits", 6) < 1:
        raise _err("`digits` of `signif` must be at least 1.", n)
    if not isinstance(a, FrameVal):
        if not _is_scalar(a) or isinstance(a, str):
            if n.op == "isna" and isinstance(a, str):
                return False
            raise _err(f"`{n.op}` needs a number or a frame.", n)
        if n.op == "isna":
            return a is None
        return _scalar_apply(n.op, [a], params)
    cols = []
    for h, p in a.cols:
        if n.op == "isna":
            cols.append((column_header(h.name, "bool"), ["op", "isna", [p], {}]))
            continue
        _check_numeric(h, n.op, n)
        cols.append((column_header(h.name, _unary_type(n.op, h.type.value)), ["op", n.op, [p], params]))
    return FrameVal(a.anchor, cols)


def _op_ifelse(ctx, n):
    t, y, z = (eval_node(ctx, a) for a in n.args)
    if not isinstance(t, FrameVal):
        if not _is_scalar(t):
            raise _err("The test of `ifelse` must be a frame or a scalar.", n)
        if t is None:
            return None
        return y if t else z
    if t.ncol != 1:
        raise _err("The test of `ifelse` must be a one-column frame.", n)
    th, tp = t.cols[0]
    if th.type.value not in _NUMERIC:
        raise _err(f"The test of `ifelse` must be boolean or numeric; column `{th.name}` is {th.type.value}.", n)
    branches = []
    for v in (y, z):
        if isinstance(v, FrameVal):
            if v.ncol != 1:
                raise _err("`ifelse` branches must be one-column frames or scalars.", n)
            if not same_layout(t.anchor, v.anchor):
                if v.nrow != t.nrow:
                    raise _err(f"An `ifelse` branch has {v.nrow} rows; the test has {t.nrow}.", n)
                v = _relayout(ctx, v, t)
            branches.append(v.cols[0])
        elif _is_scalar(v):
            branches.append(v)
        else:
            raise _err("`ifelse` branches must be one-column frames or scalars.", n)
    types = [_operand_type(b) for b in branches]
    name = next((b[0].name for b in branches if isinstance(b, tuple)), th.name)
    if any(x in ("str", "enum") for x in types):
        if any(x not in ("str", "enum") and not (b is None) for x, b in zip(types, branches)):
            raise _err("`ifelse` branches must both be text (strings or enum columns) or both numbers.", n)
        domains = [b[0].domain if isinstance(b, tuple) else ((b,) if b is not None else ()) for b in branches]
        union = _union_domain(domains)
        plans = []
        for b, d in zip(branches, domains):
            if isinstance(b, tuple):
                plans.append(_remap_plan(b[1], d, union))
            else:
                plans.append(["lit", None if b is None else float(union.index(b))])
        return FrameVal(t.anchor, [(column_header(name, "enum", union), ["op", "ifelse", [tp] + plans, {}])])
    if "string" in types:
        raise _err("`ifelse` cannot choose between string columns; convert them with asfactor.", n)
    if all(x == "bool" for x in types):
        rt = "bool"
    elif all(x in _INTISH for x in types):
        rt = "int"
    else:
        rt = "real"
    return FrameVal(t.anchor, [(column_header(name, rt), ["op", "ifelse", [tp, _plan_of(branches[0]),
                                                                            _plan_of(branches[1])], {}])])


def _op_runif(ctx, n):
    fv = _frame_arg(ctx, n)
    seed = n.params.get("seed", -1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _err("`seed` must be an integer.", n)
    if seed < 0:
        seed = int(np.random.SeedSequence().entropy % (1 << 48))
    return FrameVal(fv.anchor, [(column_header("rnd", "real"), ["op", "runif", [], {"seed": seed}])])


# ---------------------------------------------------------------------------- shape
def _op_shape(ctx, n):
    fv = _frame_arg(ctx, n)
    if n.op == "nrow":
        return fv.nrow
    if n.op == "ncol":
        return fv.ncol
    return fv.names


# ================================================================================ table
def _register_more():
    from . import group_by, rank, reduce, reorg, stats, textdate
    OP_IMPL.update(textdate.OPS)
    OP_IMPL.update(stats.OPS)
    OP_IMPL.update(reduce.OPS)
    OP_IMPL.update(group_by.OPS)
    OP_IMPL.update(reorg.OPS)
    OP_IMPL.update(rank.OPS)


OP_IMPL = {
    "frame": _op_frame, "col": _op_col, "cols": _op_cols, "drop": _op_drop, "rename": _op_rename,
    "cbind": _op_cbind, "rbind": _op_rbind, "assign": _op_assign, "rows": _op_rows, "head": _op_head,
    "tail": _op_head, "ifelse": _op_ifelse, "runif": _op_runif,
    "nrow": _op_shape, "ncol": _op_shape, "names": _op_shape,
    **{op: _op_binary for op in BINARY_ARITH + COMPARISONS + ("and", "or")},
    **{op: _op_unary for op in UNARY_MATH + ("not", "isna", "round", "signif")},
}


# ================================================================================ entry point
def frame_summary(header) -> dict:
    """The small JSON description of a result frame."""
    return {"key": header.key, "nrow": header.nrow, "ncol": header.ncol, "nchunks": header.nchunks,
            "names": header.names, "types": [t.value for t in header.types],
            "domains": [list(c.domain[:1000]) if c.domain is not None else None for c in header.columns]}


def _json_scalar(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "Inf" if v > 0 else "-Inf"
        return v
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def evaluate(node, expr: dict, dest_key: str | None = None, job=None) -> dict:
    """Validate and evaluate one expression.

    Parameters
    ----------
    node : Node
    expr : dict
        The JSON expression (see ``docs/munging.md``).
    dest_key : str, optional
        Key of the result frame (replaced if it exists); a fresh ``expr_<hex>`` key when None.
    job : Job, optional
        For progress and cancellation.

    Returns
    -------
    dict
        ``{"kind": "frame", "frame": summary}``, ``{"kind": "frames", "frames": [summary, ...]}``,
        ``{"kind": "scalar", "value": v}`` or ``{"kind": "list", "values": [...]}``.
    """
    from ..store.catalog import valid_key
    if dest_key is not None:
        valid_key(dest_key)
    tree = parse(expr)
    ctx = EvalContext(node, job)
    try:
        value = eval_node(ctx, tree)
        if isinstance(value, FrameVal):
            dest = dest_key or node.catalog.new_key("expr")
            header = F.materialize(node, value.anchor, dest, value.cols, job=job)
            return {"kind": "frame", "frame": frame_summary(header)}
        if isinstance(value, list) and value and all(isinstance(v, FrameVal) for v in value):
            base = dest_key or node.catalog.new_key("split")
            out = []
            try:
                for i, fv in enumerate(value):
                    header = F.materialize(node, fv.anchor, valid_key(f"{base}_{i}"), fv.cols, job=job)
                    out.append(frame_summary(header))
            except BaseException:  # all or nothing: drop the parts already published
                for summary in out:
                    F.delete_frame(node, summary["key"])
                raise
            return {"kind": "frames", "frames": out}
        if isinstance(value, list):
            return {"kind": "list", "values": [_json_scalar(v) for v in value]}
        return {"kind": "scalar", "value": _json_scalar(value)}
    finally:
        ctx.cleanup()


_register_more()

_missing = set(OPS) - set(OP_IMPL)
if _missing:  # pragma: no cover - a declared op without an implementation is a programming error
    raise ImportError(f"munging ops declared but not implemented: {sorted(_missing)}")
