"""Text, date and type-conversion primitives: per-chunk functions (registered into
``chunkeval.CHUNK_OPS``) and their planners (registered into the evaluator's op table).

Dates are UTC (``time`` columns are int64 ms since the epoch). Text functions work on decoded
UTF-8 strings one chunk at a time. Enum domains built here are sorted, as the parser's.
"""
from __future__ import annotations

import numpy as np

from .chunkeval import CHUNK_OPS
from .values import FrameVal, column_header

__all__ = ["OPS", "DATE_PARTS", "TEXT_FUNCS"]

DATE_PARTS = ("year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second")
TEXT_FUNCS = ("tolower", "toupper", "trim", "substring")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_DOMAIN = tuple(sorted(_WEEKDAYS))
_WEEKDAY_CODE = np.array([_WEEKDAY_DOMAIN.index(d) for d in _WEEKDAYS], np.float64)
_MS_PER_DAY = 86_400_000


# ================================================================================ per chunk
def _date_part(env, args, params):
    x = args[0]
    na = np.isnan(x)
    ms = np.where(na, 0, x).astype(np.int64)
    part = params["part"]
    days = np.floor_divide(ms, _MS_PER_DAY)
    t = ms.view("datetime64[ms]")
    if part == "year":
        out = t.astype("datetime64[Y]").astype(np.int64) + 1970
    elif part == "month":
        out = t.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif part == "day":
        out = (t.astype("datetime64[D]") - t.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    elif part in ("hour", "minute", "second"):
        in_day = ms - days * _MS_PER_DAY
        out = {"hour": in_day // 3_600_000, "minute": in_day // 60_000 % 60, "second": in_day // 1000 % 60}[part]
    elif part == "dayOfWeek":
        out = _WEEKDAY_CODE[(days + 3) % 7]  # 1970-01-01 was a Thursday
    else:  # ISO-8601 week: the week (Monday first) holding the year's first Thursday is week 1
        wd = (days + 3) % 7
        thursday = days - wd + 3
        year_start = thursday.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        out = (thursday - year_start) // 7 + 1
    out = out.astype(np.float64)
    out[na] = np.nan
    return out


def _decode(strs) -> list:
    off, data, na = strs
    raw = data.tobytes()
    o = off.tolist()
    return [None if m else raw[o[i]:o[i + 1]].decode("utf-8", "replace") for i, m in enumerate(na.tolist())]


def _encode(values: list) -> tuple:
    enc = [v.encode("utf-8") if v is not None else b"" for v in values]
    lens = np.fromiter((len(e) for e in enc), np.int64, len(enc))
    off = np.zeros(len(enc) + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    data = np.frombuffer(b"".join(enc), np.uint8).copy()
    return off, data, np.fromiter((v is None for v in values), np.bool_, len(values))


def _str_map(env, args, params):
    fn = params["fn"]
    if fn == "substring":
        a, b = params.get("start", 0), params.get("end")
        f = (lambda s: s[a:b])
    else:
        f = {"tolower": str.lower, "toupper": str.upper, "trim": str.strip}[fn]
    return _encode([None if s is None else f(s) for s in _decode(args[0])])


def _nchar(env, args, params):
    return np.array([np.nan if s is None else float(len(s)) for s in _decode(args[0])], np.float64)


def _str_to_num(env, args, params):
    out = []
    for s in _decode(args[0]):
        try:
            out.append(float(s) if s is not None else np.nan)
        except ValueError:
            out.append(np.nan)
    return np.array(out, np.float64)


def _fmt(v: float, is_int: bool) -> str:
    return str(int(v)) if is_int else repr(float(v))


def _num_to_str(env, args, params):
    is_int = params["int"]
    return _encode([None if np.isnan(v) else _fmt(v, is_int) for v in args[0].tolist()])


def _enum_to_str(env, args, params):
    dom = params["domain"]
    return _encode([None if np.isnan(v) else dom[int(v)] for v in args[0].tolist()])


def _str_to_codes(env, args, params):
    index = {s: i for i, s in enumerate(params["domain"])}
    return np.array([np.nan if s is None else index.get(s, np.nan) for s in _decode(args[0])], np.float64)


def _val_to_codes(env, args, params):
    x = args[0]
    values = np.asarray(params["values"], np.float64)
    pos = np.searchsorted(values, x)
    ok = ~np.isnan(x) & (pos < len(values))
    ok[ok] &= values[pos[ok]] == x[ok]
    out = np.full(len(x), np.nan)
    out[ok] = np.asarray(params["codes"], np.float64)[pos[ok]]
    return out


def _cut(env, args, params):
    x = args[0]
    breaks = np.asarray(params["breaks"], np.float64)
    right = params["right"]
    idx = np.searchsorted(breaks, x, side="left" if right else "right") - 1
    out = idx.astype(np.float64)
    bad = np.isnan(x) | (idx < 0) | (idx >= len(breaks) - 1)
    if params["include_lowest"]:
        edge = (x == breaks[0]) if right else (x == breaks[-1])
        out[edge] = 0 if right else len(breaks) - 2
        bad &= ~edge
    out[bad] = np.nan
    return out


def _parse_time(text: str | None, fmt: str | None) -> float:
    """ms since the epoch (UTC) of one string; NaN when it does not parse."""
    if text is None:
        return np.nan
    import datetime as _dt
    try:
        if fmt is None:
            t = np.datetime64(text.strip(), "ms")
            return np.nan if np.isnat(t) else float(t.astype(np.int64))
        d = _dt.datetime.strptime(text, fmt)
    except (ValueError, OverflowError):
        return np.nan
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return float(round(d.timestamp() * 1000))


def _str_to_time(env, args, params):
    fmt = params.get("format")
    return np.array([_parse_time(s, fmt) for s in _decode(args[0])], np.float64)


def _lookup(env, args, params):
    """``table[code]`` (float64 table; missing code -> NaN)."""
    a = args[0]
    table = np.append(np.asarray(params["table"], np.float64), np.nan)
    return table[np.where(np.isnan(a), len(table) - 1, a).astype(np.int64)]


CHUNK_OPS.update({"str_to_time": _str_to_time, "lookup": _lookup, "date_part": _date_part, "str_map": _str_map, "nchar": _nchar, "str_to_num": _str_to_num,
                  "num_to_str": _num_to_str, "enum_to_str": _enum_to_str, "str_to_codes": _str_to_codes,
                  "val_to_codes": _val_to_codes, "cut": _cut})


# ================================================================================ planners
def _err(*a, **k):
    from .evaluate import _err as e
    return e(*a, **k)


def _frame(ctx, n) -> FrameVal:
    from .evaluate import _frame_arg
    return _frame_arg(ctx, n)


def _need(h, types, n):
    if h.type.value not in types:
        raise _err(f"`{n.op}` needs {' or '.join(types)} columns; column `{h.name}` is {h.type.value}.", n,
                   column=h.name)


def _op_date(ctx, n):
    fv = _frame(ctx, n)
    cols = []
    for h, p in fv.cols:
        _need(h, ("time",), n)
        plan = ["op", "date_part", [p], {"part": n.op}]
        if n.op == "dayOfWeek":
            cols.append((column_header(h.name, "enum", _WEEKDAY_DOMAIN), plan))
        else:
            cols.append((column_header(h.name, "int"), plan))
    return FrameVal(fv.anchor, cols)


def _op_text(ctx, n):
    fv = _frame(ctx, n)
    params = {"fn": n.op}
    if n.op == "substring":
        start, end = n.params.get("start", 0), n.params.get("end")
        if not isinstance(start, int) or not (end is None or isinstance(end, int)):
            raise _err("`start` and `end` of `substring` are integers (0-based, end exclusive).", n)
        params.update(start=start, end=end)
    cols = []
    for h, p in fv.cols:
        _need(h, ("string",), n)
        cols.append((column_header(h.name, "string"), ["op", "str_map", [p], params]))
    return FrameVal(fv.anchor, cols)


def _op_nchar(ctx, n):
    fv = _frame(ctx, n)
    cols = []
    for h, p in fv.cols:
        _need(h, ("string",), n)
        cols.append((column_header(h.name, "int"), ["op", "nchar", [p], {}]))
    return FrameVal(fv.anchor, cols)


def _distinct(ctx, fv: FrameVal, i: int):
    from .reduce import _sorted_levels
    col = ctx.gather(fv.select([i]))[0]
    return _sorted_levels(col)[0]


def _op_asfactor(ctx, n):
    fv = _frame(ctx, n)
    cols = []
    for i, (h, p) in enumerate(fv.cols):
        t = h.type.value
        if t == "enum":
            cols.append((h, p))
        elif t == "string":
            domain = tuple(v.decode("utf-8", "replace") for v in _distinct(ctx, fv, i))
            cols.append((column_header(h.name, "enum", domain), ["op", "str_to_codes", [p], {"domain": list(domain)}]))
        else:
            values = np.asarray(_distinct(ctx, fv, i), np.float64)
            labels = [_fmt(v, t != "real") for v in values.tolist()]
            domain = tuple(sorted(set(labels)))
            codes = np.array([domain.index(s) for s in labels], np.int32)
            cols.append((column_header(h.name, "enum", domain),
                         ["op", "val_to_codes", [p], {"values": values, "codes": codes}]))
    return FrameVal(fv.anchor, cols)


def _op_asnumeric(ctx, n):
    """Enum -> its codes (0-based, as H2O); string -> parsed numbers (NA when not a number)."""
    fv = _frame(ctx, n)
    cols = []
    for h, p in fv.cols:
        t = h.type.value
        if t == "string":
            cols.append((column_header(h.name, "real"), ["op", "str_to_num", [p], {}]))
        elif t == "enum":
            cols.append((column_header(h.name, "int"), p))
        else:
            cols.append((h, p))
    return FrameVal(fv.anchor, cols)


def _op_ascharacter(ctx, n):
    fv = _frame(ctx, n)
    cols = []
    for h, p in fv.cols:
        t = h.type.value
        if t == "string":
            cols.append((h, p))
        elif t == "enum":
            cols.append((column_header(h.name, "string"), ["op", "enum_to_str", [p], {"domain": list(h.domain or ())}]))
        else:
            cols.append((column_header(h.name, "string"), ["op", "num_to_str", [p], {"int": t != "real"}]))
    return FrameVal(fv.anchor, cols)


def _op_levels(ctx, n):
    fv = _frame(ctx, n)
    out = [list(h.domain) if h.domain is not None else None for h, _p in fv.cols]
    if n.op == "nlevels":
        out = [len(d) if d is not None else 0 for d in out]
    return out[0] if fv.ncol == 1 else out


def _op_cut(ctx, n):
    fv = _frame(ctx, n)
    breaks = n.params.get("breaks")
    if not isinstance(breaks, list) or len(breaks) < 2 or not all(isinstance(b, (int, float)) for b in breaks) \
            or any(b2 <= b1 for b1, b2 in zip(breaks, breaks[1:])):
        raise _err("`breaks` of `cut` is an increasing list of at least two numbers.", n)
    right = n.params.get("right", True)
    lowest = n.params.get("include_lowest", False)
    labels = n.params.get("labels")
    nb = len(breaks) - 1
    if labels is None:
        fmt = (lambda v: f"{v:g}")
        labels = [f"({fmt(a)},{fmt(b)}]" if right else f"[{fmt(a)},{fmt(b)})" for a, b in zip(breaks, breaks[1:])]
        if lowest:
            labels[0 if right else -1] = ("[" + labels[0][1:]) if right else (labels[-1][:-1] + "]")
    if not isinstance(labels, list) or len(labels) != nb or not all(isinstance(s, str) for s in labels):
        raise _err(f"`labels` of `cut` is a list of {nb} strings (one per interval).", n)
    domain = tuple(sorted(set(labels)))
    remap = np.array([domain.index(s) for s in labels], np.int32)
    cols = []
    for h, p in fv.cols:
        _need(h, ("int", "real", "time", "bool"), n)
        plan = ["op", "cut", [p], {"breaks": [float(b) for b in breaks], "right": bool(right),
                                   "include_lowest": bool(lowest)}]
        cols.append((column_header(h.name, "enum", domain), ["op", "remap", [plan], {"map": remap}]))
    return FrameVal(fv.anchor, cols)


def _op_scale(ctx, n):
    """(x - mean) / sd per column (sample sd, missing values skipped), as H2O's ``scale``."""
    from .reduce import reduce_columns
    fv = _frame(ctx, n)
    center, scale = n.params.get("center", True), n.params.get("scale", True)
    for h, _p in fv.cols:
        _need(h, ("int", "real", "time", "bool"), n)
    r = reduce_columns(ctx, fv)
    cols = []
    for j, (h, p) in enumerate(fv.cols):
        cnt = int(r["n"][j])
        mean = float(r["mean"][j]) if cnt else float("nan")
        sd = (float(r["m2"][j]) / (cnt - 1)) ** 0.5 if cnt > 1 else float("nan")
        plan = p
        if center:
            plan = ["op", "sub", [plan, ["lit", mean]], {}]
        if scale:
            plan = ["op", "div", [plan, ["lit", sd]], {}]
        cols.append((column_header(h.name, "real"), plan))
    return FrameVal(fv.anchor, cols)


def _op_as_date(ctx, n):
    """Strings or enum levels -> time (UTC ms). ``format``: Python ``strptime`` directives
    (e.g. ``%Y-%m-%d %H:%M``); without it, ISO 8601 (``2024-05-01``, ``2024-05-01T13:45:00``)."""
    fv = _frame(ctx, n)
    fmt = n.params.get("format")
    if fmt is not None and (not isinstance(fmt, str) or not fmt or len(fmt) > 200):
        raise _err("`format` of `as_date` is a strptime format string such as %Y-%m-%d.", n)
    cols = []
    for h, p in fv.cols:
        t = h.type.value
        if t == "enum":
            table = np.array([_parse_time(level, fmt) for level in h.domain or ()], np.float64)
            cols.append((column_header(h.name, "time"), ["op", "lookup", [p], {"table": table}]))
        elif t == "string":
            cols.append((column_header(h.name, "time"), ["op", "str_to_time", [p], {"format": fmt}]))
        elif t == "time":
            cols.append((h, p))
        else:
            raise _err(f"`as_date` converts string or enum columns; `{h.name}` is {t}.", n)
    return FrameVal(fv.anchor, cols)


OPS = {**{p: _op_date for p in DATE_PARTS}, "as_date": _op_as_date, **{f: _op_text for f in TEXT_FUNCS}, "nchar": _op_nchar,
       "asfactor": _op_asfactor, "asnumeric": _op_asnumeric, "ascharacter": _op_ascharacter,
       "levels": _op_levels, "nlevels": _op_levels, "cut": _op_cut, "scale": _op_scale}
