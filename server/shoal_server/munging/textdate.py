"""Text, date and type-conversion primitives: per-chunk functions (registered into
``chunkeval.CHUNK_OPS``) and their planners (registered into the evaluator's op table).

Dates are UTC (``time`` columns are int64 ms since the epoch). Text functions work on decoded
UTF-8 strings one chunk at a time. Enum domains built here are sorted, as the parser's.

Regular expressions (``replacefirst``, ``replaceall``, ``strsplit``, ``grep``) use RE2 (the
``google-re2`` package): matching time is linear in the text, so no client pattern can make a node
backtrack catastrophically. They run on the UTF-8 bytes of each chunk (no decode), with RE2 in UTF-8
mode so every match starts and ends on a character boundary: through Arrow's vectorized kernels (RE2
as well) where those give the same answer as Python's ``re`` semantics, else a loop over the
chunk's distinct values.
"""
from __future__ import annotations

import functools
import secrets

import numpy as np

from ..tasks import MRTask, register_task
from .chunkeval import CHUNK_OPS, ChunkEnv, eval_plan
from .values import FrameVal, column_header

__all__ = ["OPS", "DATE_PARTS", "TEXT_FUNCS", "MAX_PATTERN", "MAX_REPLACE_OUTPUT"]

DATE_PARTS = ("year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second")
TEXT_FUNCS = ("tolower", "toupper", "trim", "substring")
#: Longest accepted regular expression (characters).
MAX_PATTERN = 1000
#: Most bytes ``replacefirst`` / ``replaceall`` may write for one chunk (a short text with many
#: matches and a long replacement could otherwise grow without bound).
MAX_REPLACE_OUTPUT = 1 << 28
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


# ---------------------------------------------------------------------------- regular expressions
class RegexError(ValueError):
    """A pattern or replacement RE2 refuses (the planner turns it into ``invalid_parameter``)."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, ignore_case: bool, capture: bool):
    """The RE2 program of ``pattern`` (UTF-8 mode); ``capture`` False skips the group spans."""
    import re2
    opts = re2.Options()
    opts.log_errors = False
    opts.case_sensitive = not ignore_case
    opts.never_capture = not capture
    try:
        rx = re2.compile(pattern.encode("utf-8"), opts)
    except re2.error as e:
        msg = e.args[0] if e.args else str(e)
        raise RegexError(msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)) from None
    # The raw program: ``Match(anchor, text, pos, endpos)`` -> one (start, end) byte span per group,
    # (-1, -1) when absent. The package's own iterator steps one *byte* after an empty match, which
    # could split a UTF-8 character, so the search loop below is ours.
    names = {(k.decode("utf-8") if isinstance(k, bytes) else k): v for k, v in rx.groupindex.items()}
    return rx._regexp, re2._Anchor.UNANCHORED, rx.groups, names


def _char_len(lead: int) -> int:
    return 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _matches(prog, t: bytes, limit: int) -> list:
    """Group spans of the successive non-overlapping matches in ``t`` (at most ``limit``; 0 = all).

    As Python's ``re`` (3.7+): after a non-empty match the next may be empty at its end; after an
    empty match the search resumes one character later.
    """
    rx, anchor = prog[0], prog[1]
    out = []
    pos, end = 0, len(t)
    while True:
        spans = rx.Match(anchor, t, pos, end)
        s, e = spans[0]
        if s < 0:
            break
        out.append(spans)
        if limit and len(out) >= limit:
            break
        if e > s:
            pos = e
        elif e >= end:
            break
        else:
            pos = min(e + _char_len(t[e]), end)
    return out


@functools.lru_cache(maxsize=256)
def _template(replacement: str, ngroups: int, names: tuple) -> tuple:
    """Parse a replacement: literal bytes and group numbers.

    ``\\1``..``\\99`` and ``\\g<n>`` / ``\\g<name>`` insert a group (``\\g<0>``: the whole match; an
    unmatched group inserts nothing), ``\\\\`` is one backslash; any other backslash is refused.
    """
    index = dict(names)
    out: list = []
    lit: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c != "\\":
            lit.append(c)
            i += 1
            continue
        nxt = replacement[i + 1] if i + 1 < n else ""
        if nxt == "\\":
            lit.append("\\")
            i += 2
            continue
        if nxt.isdigit() and nxt.isascii():
            j = i + 1
            while j < n and j < i + 3 and replacement[j].isascii() and replacement[j].isdigit():
                j += 1
            digits = replacement[i + 1:j]
            if digits[0] == "0" or (j < n and all(ch in "01234567" for ch in replacement[i + 1:i + 4])
                                    and len(replacement[i + 1:i + 4]) == 3):
                raise RegexError(f"`\\{replacement[i + 1:i + 4]}` is not a group reference (octal escapes "
                                 f"are not supported); use \\1..\\99 or \\g<n>")
            g = int(digits)
            i = j
        elif nxt == "g" and i + 2 < n and replacement[i + 2] == "<" and ">" in replacement[i + 3:]:
            close = replacement.index(">", i + 3)
            ref = replacement[i + 3:close]
            if ref.isascii() and ref.isdigit():
                g = int(ref)
            elif ref in index:
                g = index[ref]
            else:
                raise RegexError(f"unknown group name `{ref}` in `\\g<{ref}>`")
            i = close + 1
        else:
            raise RegexError(f"unsupported escape `\\{nxt}` (allowed: \\1..\\99, \\g<n>, \\g<name>, \\\\)")
        if g > ngroups:
            raise RegexError(f"group {g} is referenced but the pattern has {ngroups} group(s)")
        if lit:
            out.append("".join(lit).encode("utf-8"))
            lit = []
        out.append(g)
    if lit or not out:
        out.append("".join(lit).encode("utf-8"))
    return tuple(out)


def _replace_bytes(prog, tmpl: tuple, t: bytes, limit: int, budget: int = MAX_REPLACE_OUTPUT) -> bytes:
    """``t`` with its first ``limit`` matches (0 = all) replaced; at most ``budget`` bytes."""
    found = _matches(prog, t, limit)
    if not found:
        if len(t) > budget:
            _too_large()
        return t
    parts = []
    last = size = 0
    for spans in found:
        s, e = spans[0]
        size += s - last
        parts.append(t[last:s])
        for piece in tmpl:
            if piece.__class__ is int:
                gs, ge = spans[piece]
                if gs >= 0:
                    size += ge - gs
                    parts.append(t[gs:ge])
            else:
                size += len(piece)
                parts.append(piece)
        if size > budget:
            _too_large()
        last = e
    parts.append(t[last:])
    if size + len(t) - last > budget:
        _too_large()
    return b"".join(parts)


def _too_large():
    from ..errors import MemoryExceeded
    raise MemoryExceeded(f"A replacement would write more than {MAX_REPLACE_OUTPUT} bytes for one chunk; allowed: "
                         f"at most {MAX_REPLACE_OUTPUT} bytes of output per chunk. Use a pattern with fewer "
                         f"matches or a shorter replacement.", {"limit_bytes": MAX_REPLACE_OUTPUT})


def _split_bytes(prog, t: bytes) -> list:
    """Pieces between the matches (as ``re.split`` without capturing groups)."""
    pieces, last = [], 0
    for spans in _matches(prog, t, 0):
        s, e = spans[0]
        pieces.append(t[last:s])
        last = e
    pieces.append(t[last:])
    return pieces


def _replacer(params):
    prog = _compiled(params["pattern"], bool(params.get("ignore_case")), True)
    tmpl = _template(params.get("replacement", ""), prog[2], tuple(sorted(prog[3].items())))
    limit = 0 if params.get("all") else 1
    return lambda t, budget=MAX_REPLACE_OUTPUT: _replace_bytes(prog, tmpl, t, limit, budget)


def _raw_rows(strs) -> list:
    off, data, na = strs
    raw = data.tobytes()
    o = off.tolist()
    return [None if m else raw[o[i]:o[i + 1]] for i, m in enumerate(na.tolist())]


def _encode_bytes(values: list) -> tuple:
    lens = np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))
    off = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    data = np.frombuffer(b"".join(v for v in values if v is not None), np.uint8).copy()
    return off, data, np.fromiter((v is None for v in values), np.bool_, len(values))


# ---- vectorized fast path: Arrow's compute kernels are RE2 too (pyarrow is a server dependency)
def _to_arrow(strs):
    import pyarrow as pa
    off, data, na = strs
    n = len(na)
    nulls = int(na.sum())
    valid = pa.py_buffer(np.packbits(~na, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.large_utf8(), n, [valid, pa.py_buffer(np.ascontiguousarray(off, np.int64)),
                                                      pa.py_buffer(np.ascontiguousarray(data, np.uint8))],
                                 null_count=nulls)


def _from_arrow(arr, na) -> tuple:
    n = len(arr)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and off[-1] > off[0] else np.zeros(0, np.uint8)
    return off - off[0], data[off[0]:off[-1]].copy(), na.copy()


def _nullable(prog, pattern: str) -> bool:
    """Whether the pattern may match an empty string somewhere. Zero-width assertions other than
    ``\\b`` all hold on the empty text, so: it matches the empty text, or it mentions ``\\b``."""
    return prog[0].Match(prog[1], b"", 0, 0)[0][0] >= 0 or "\\b" in pattern


def _arrow_replace(strs, params):
    """Arrow's RE2 ``GlobalReplace`` equals Python's ``re.sub`` when no match can be empty (the two
    differ only on empty matches next to a previous match); None when the fast path does not apply."""
    pattern, ic = params["pattern"], bool(params.get("ignore_case"))
    prog = _compiled(pattern, ic, True)
    if _nullable(prog, pattern):
        return None
    tmpl = _template(params.get("replacement", ""), prog[2], tuple(sorted(prog[3].items())))
    refs = [g for g in tmpl if g.__class__ is int]
    lit = sum(len(x) for x in tmpl if x.__class__ is not int)
    # each match takes >= 1 byte and a group is inside its match: a bound on the output size
    if any(g > 9 for g in refs) or len(strs[1]) * (1 + lit + len(refs)) + lit > MAX_REPLACE_OUTPUT:
        return None
    rewrite = "".join(f"\\{x}" if x.__class__ is int else x.decode("utf-8").replace("\\", "\\\\") for x in tmpl)
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        out = pc.replace_substring_regex(_to_arrow(strs), pattern=("(?i)" if ic else "") + pattern,
                                         replacement=rewrite, max_replacements=None if params.get("all") else 1)
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    return _from_arrow(out, strs[2])


def _arrow_grep(strs, params):
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        hit = pc.match_substring_regex(_to_arrow(strs), pattern=params["pattern"],
                                       ignore_case=bool(params.get("ignore_case")))
    except pa.ArrowException:
        return None
    out = hit.fill_null(False).to_numpy(zero_copy_only=False).astype(np.float64)
    return 1.0 - out if params.get("invert") else out


def _arrow_split(strs, pattern: str):
    """(pieces child array, first piece per row, piece count per row; 0 where missing), or None.
    Only for patterns that cannot match empty (Arrow's split does not advance past empty matches)."""
    prog = _compiled(pattern, False, False)
    # Arrow searches each remainder as a new text, so start anchors and word boundaries would
    # also hold right after a separator: those patterns take the row loop.
    if _nullable(prog, pattern) or any(x in pattern for x in ("^", "\\A", "\\b", "\\B")):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        lists = pc.split_pattern_regex(_to_arrow(strs), pattern=pattern)
    except pa.ArrowException:
        return None
    counts = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    first = lists.offsets.to_numpy(zero_copy_only=False)[:-1].astype(np.int64)
    return lists.values, first, counts


def _arrow_piece(split, k: int, n: int) -> tuple:
    import pyarrow as pa
    values, first, counts = split
    absent = counts <= k
    if absent.all():
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8), np.ones(n, np.bool_)
    idx = pa.array(np.where(absent, 0, first + k), pa.int64(), mask=absent)
    return _from_arrow(values.take(idx), absent)


def _regex_replace(env, args, params):
    fast = _arrow_replace(args[0], params)
    if fast is not None:
        return fast
    f = _replacer(params)
    out, budget, memo = [], MAX_REPLACE_OUTPUT, {}  # memo: each distinct value is matched once per chunk
    for t in _raw_rows(args[0]):
        if t is None:
            out.append(None)
            continue
        r = memo.get(t)
        if r is None:
            r = memo[t] = f(t, budget)
        budget -= len(r)
        if budget < 0:
            _too_large()
        out.append(r)
    return _encode_bytes(out)


def _regex_grep(env, args, params):
    """1.0 where the value matches (``invert``: does not match); missing counts as no match (as H2O)."""
    fast = _arrow_grep(args[0], params)
    if fast is not None:
        return fast
    prog = _compiled(params["pattern"], bool(params.get("ignore_case")), False)
    rx, anchor = prog[0], prog[1]
    hit, miss = (0.0, 1.0) if params.get("invert") else (1.0, 0.0)
    out, memo = [], {}  # each distinct value is matched once per chunk
    for t in _raw_rows(args[0]):
        if t is None:
            out.append(miss)
            continue
        r = memo.get(t)
        if r is None:
            r = memo[t] = hit if rx.Match(anchor, t, 0, len(t))[0][0] >= 0 else miss
        out.append(r)
    return np.array(out, np.float64)


def _grep_codes(env, args, params):
    """``table[code]`` (0/1 per level), ``na`` for a missing code."""
    a = args[0]
    table = np.append(np.asarray(params["table"], np.float64), float(params["na"]))
    return table[np.where(np.isnan(a), len(table) - 1, a).astype(np.int64)]


def _regex_split(env, args, params):
    """Piece ``part`` (0-based) of each value; missing where the value has fewer pieces. The split of
    a chunk is computed once per ``token`` (one ``strsplit`` call) and shared by its output columns."""
    cache = env.__dict__.setdefault("_regex_split", {})
    entry = cache.get(params["token"])
    if entry is None:
        fast = _arrow_split(args[0], params["pattern"])
        if fast is not None:
            entry = ("arrow", fast)
        else:
            prog = _compiled(params["pattern"], False, False)
            memo: dict = {}
            entry = ("rows", [None if t is None else memo.get(t) or memo.setdefault(t, _split_bytes(prog, t))
                              for t in _raw_rows(args[0])])
        cache[params["token"]] = entry
    k = int(params["part"])
    if entry[0] == "arrow":
        return _arrow_piece(entry[1], k, env.nrows)
    return _encode_bytes([p[k] if p is not None and k < len(p) else None for p in entry[1]])


def _row_index(env, args, params):
    """The global 0-based row number."""
    return np.arange(env.start, env.start + env.nrows, dtype=np.float64)


@register_task
class SplitCount(MRTask):
    """The most pieces any value of a string plan splits into. params: ``plan``, ``pattern``, ``starts``."""

    name = "munging.strsplit_count"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        starts = params["starts"]
        env = ChunkEnv(ctx.node.chunks, chunk_idx, starts[chunk_idx + 1] - starts[chunk_idx], starts[chunk_idx])
        strs = eval_plan(params["plan"], env)
        fast = _arrow_split(strs, params["pattern"])
        if fast is not None:
            return {"max": np.array([int(fast[2].max(initial=0))], np.int64)}
        prog = _compiled(params["pattern"], False, False)
        most = 0
        for t in set(_raw_rows(strs)):
            if t is not None:
                most = max(most, len(_matches(prog, t, 0)) + 1)
        return {"max": np.array([most], np.int64)}

    def reduce(self, a, b):
        return {"max": np.maximum(a["max"], b["max"])}


CHUNK_OPS.update({"str_to_time": _str_to_time, "lookup": _lookup, "date_part": _date_part, "str_map": _str_map, "nchar": _nchar, "str_to_num": _str_to_num,
                  "num_to_str": _num_to_str, "enum_to_str": _enum_to_str, "str_to_codes": _str_to_codes,
                  "val_to_codes": _val_to_codes, "cut": _cut, "regex_replace": _regex_replace,
                  "regex_grep": _regex_grep, "grep_codes": _grep_codes, "regex_split": _regex_split,
                  "row_index": _row_index})


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


def _flag(n, name: str, default: bool = False) -> bool:
    v = n.params.get(name, default)
    if not isinstance(v, bool):
        raise _err(f"`{name}` of `{n.op}` is true or false; got {v!r}.", n)
    return v


def _pattern(n, ignore_case: bool) -> str:
    """The checked ``pattern`` of a regex op (compiled once here, so a bad one fails before any work)."""
    pattern = n.params.get("pattern")
    if not isinstance(pattern, str):
        raise _err(f"`pattern` of `{n.op}` is a string (an RE2 regular expression); got "
                   f"{type(pattern).__name__}.", n)
    if len(pattern) > MAX_PATTERN:
        raise _err(f"`pattern` of `{n.op}` has {len(pattern)} characters; at most {MAX_PATTERN} are allowed.", n,
                   pattern=pattern[:100])
    try:
        _compiled(pattern, ignore_case, True)
    except RegexError as e:
        raise _err(f"Invalid regular expression {pattern!r} in `{n.op}`: {e}. Patterns use RE2 syntax "
                   f"(Perl-like, without backreferences or lookaround).", n, pattern=pattern[:200],
                   engine_message=str(e)) from None
    return pattern


def _one_text_column(n, fv: FrameVal):
    if fv.ncol != 1:
        raise _err(f"`{n.op}` takes a one-column frame; got {fv.ncol} columns.", n)
    h, p = fv.cols[0]
    _need(h, ("string", "enum"), n)
    return h, p


def _op_replace(ctx, n):
    """``replacefirst`` / ``replaceall``: strings per value, enum columns on their levels."""
    fv = _frame(ctx, n)
    ic = _flag(n, "ignore_case")
    pattern = _pattern(n, ic)
    replacement = n.params.get("replacement", "")
    if not isinstance(replacement, str):
        raise _err(f"`replacement` of `{n.op}` is a string; got {type(replacement).__name__}.", n)
    params = {"pattern": pattern, "replacement": replacement, "ignore_case": ic, "all": n.op == "replaceall"}
    try:
        f = _replacer(params)
    except RegexError as e:
        raise _err(f"Invalid replacement {replacement!r} in `{n.op}`: {e}.", n, replacement=replacement[:200]) from None
    cols = []
    for h, p in fv.cols:
        _need(h, ("string", "enum"), n)
        if h.type.value == "string":
            cols.append((column_header(h.name, "string"), ["op", "regex_replace", [p], params]))
            continue
        levels = [f(level.encode("utf-8")).decode("utf-8", "replace") for level in h.domain or ()]
        domain = tuple(sorted(set(levels)))
        index = {s: i for i, s in enumerate(domain)}
        mapping = np.array([index[s] for s in levels], np.int32)
        plan = p if np.array_equal(mapping, np.arange(len(mapping))) else ["op", "remap", [p], {"map": mapping}]
        cols.append((column_header(h.name, "enum", domain), plan))
    return FrameVal(fv.anchor, cols)


def _op_strsplit(ctx, n):
    """One string (or enum) column -> C1..Cn: piece k of each value, missing past its last piece."""
    fv = _frame(ctx, n)
    pattern = _pattern(n, False)
    h, p = _one_text_column(n, fv)
    if h.type.value == "enum":
        prog = _compiled(pattern, False, False)
        split = [[s.decode("utf-8", "replace") for s in _split_bytes(prog, level.encode("utf-8"))]
                 for level in h.domain or ()]
        most = max([len(x) for x in split], default=0)
        cols = []
        for k in range(max(most, 1)):
            domain = tuple(sorted({x[k] for x in split if len(x) > k}))
            index = {s: i for i, s in enumerate(domain)}
            mapping = np.array([index[x[k]] if len(x) > k else -1 for x in split], np.int32)
            cols.append((column_header(f"C{k + 1}", "enum", domain), ["op", "remap", [p], {"map": mapping}]))
        return FrameVal(fv.anchor, cols)
    most = 0
    if fv.anchor.nchunks:
        params = {"plan": p, "pattern": pattern, "starts": [int(s) for s in fv.anchor.starts]}
        most = int(ctx.node.runtime.run("munging.strsplit_count", fv.anchor.key, columns=[], params=params,
                                        job=ctx.job)["max"][0])
    token = secrets.token_hex(8)
    return FrameVal(fv.anchor, [(column_header(f"C{k + 1}", "string"),
                                 ["op", "regex_split", [p], {"pattern": pattern, "part": k, "token": token}])
                                for k in range(max(most, 1))])


def _op_grep(ctx, n):
    """Matching rows of one string/enum column: their 0-based indices, or (``output_logical``) a bool
    column. Missing values never match (so ``invert`` selects them), as H2O."""
    fv = _frame(ctx, n)
    ic = _flag(n, "ignore_case")
    invert = _flag(n, "invert")
    logical = _flag(n, "output_logical")
    pattern = _pattern(n, ic)
    h, p = _one_text_column(n, fv)
    if h.type.value == "enum":
        prog = _compiled(pattern, ic, False)
        table = np.array([float((prog[0].Match(prog[1], b, 0, len(b))[0][0] >= 0) != invert)
                          for b in (level.encode("utf-8") for level in h.domain or ())], np.float64)
        plan = ["op", "grep_codes", [p], {"table": table, "na": float(invert)}]
    else:
        plan = ["op", "regex_grep", [p], {"pattern": pattern, "ignore_case": ic, "invert": invert}]
    if logical:
        return FrameVal(fv.anchor, [(column_header(h.name, "bool"), plan)])
    from .evaluate import _materialize_rows
    rows = FrameVal(fv.anchor, [(column_header("C1", "int"), ["op", "row_index", [], {}])])
    return _materialize_rows(ctx, rows, ["mask", plan])


OPS = {**{p: _op_date for p in DATE_PARTS}, "as_date": _op_as_date, **{f: _op_text for f in TEXT_FUNCS}, "nchar": _op_nchar,
       "asfactor": _op_asfactor, "asnumeric": _op_asnumeric, "ascharacter": _op_ascharacter,
       "levels": _op_levels, "nlevels": _op_levels, "cut": _op_cut, "scale": _op_scale,
       "replacefirst": _op_replace, "replaceall": _op_replace, "strsplit": _op_strsplit, "grep": _op_grep}
