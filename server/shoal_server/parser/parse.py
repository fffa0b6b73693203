"""The parallel parse: text files → a frame of encoded chunks, registered only when complete.

Technical note (the parse job).

1. **Inputs** (``sources``): paths expanded, compressed inputs streamed into spool files, UTF-16
   recoded, binary files refused. The setup is guessed from the first file's first MiB.
2. **Byte ranges**: each file is cut into ranges of about ``config.chunk_bytes`` (at least 64 bytes per
   column for files of more than 256 columns); range *i* of the
   whole input becomes chunk *i* of the frame and is parsed on ``home_of(i, members)``. Every
   file is read by path on the node parsing the range (nodes of one cluster share the files, as in
   H2O-3); a range is read into a private buffer with ``readinto`` (no ``mmap``: a file truncated
   while being read gives a ``parse_error``, never a crash).
3. **Quote parity** (task ``parse.quotes``): each range counts its quote characters; the prefix
   sums tell each range whether it starts inside a quoted field. A range owns the records that
   *start* in it: it begins at its first record start outside quotes and reads past its end (into
   a growing margin) to finish its last record.
4. **Tokenize and convert** (task ``parse.range``, ``kernels``): one pass over the bytes writes
   field slices; per column a kernel converts them into typed buffers (numbers, dictionary-encoded
   categoricals with a local domain, strings, times, booleans), which are encoded with
   ``store.codecs.encode`` and staged in the node's chunk store.
5. **Chain check**: range *i+1* must start exactly where range *i*'s last record ended. Parity
   is exact unless a quote appears in the middle of an unquoted field; then the starts are
   recomputed by one sequential scan and the ranges are parsed again (slow path, same result).
6. **Finish** (task ``parse.finalize``): categorical domains are unified (sorted union, codes
   remapped per chunk); a column that is integer in some ranges and real in others becomes
   ``real`` everywhere. The ``FrameBuilder`` then publishes the frame.

Any failure or cancellation discards the staged chunks on every node and deletes the spool files;
no partial frame is ever registered.

Documented behaviour for malformed input:

- empty file, or only line ends → ``parse_error`` "no data"; header only → a frame with 0 rows;
- blank lines are skipped; LF, CRLF and lone CR (also mixed) end records; a missing final line
  end is fine; a UTF-8 BOM is skipped;
- a short row → the missing fields are missing values;
- a long row → ``parse_error`` naming file, line and column of the first extra field, except
  that extra *empty* fields (a trailing separator) are dropped silently;
- unterminated quote → ``parse_error`` naming the line and column where the quote opened;
- a value that does not fit its column's type after the sampled rows (``abc`` in a numeric
  column, an invalid date, ``1,234.5`` — thousands separators are not numbers) becomes missing and
  is counted; the job message and ``ParseReport.warnings`` name the column, count and first line;
- numbers: ``1e309`` → inf, ``-0`` → 0 (``-0.0`` in a real column), leading ``+`` and leading
  zeros accepted, integers beyond int64 → real; ``NA`` ``N/A`` ``null`` ``?`` (see
  ``setup.DEFAULT_NA_STRINGS``) → missing;
- names are kept verbatim (``<script>``, ``../x``, RTL marks, emoji: escaping is the renderer's
  job); formula cells (``=SUM(A1)``) are plain text; there is no comment syntax (a ``#`` line is
  data).
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameter, ParseError
from ..store.builder import FrameBuilder
from ..store.codecs import decode_int64, encode, encode_many, remap_codes
from ..store.frame import ColumnHeader, FrameHeader
from ..store.layout import even_starts, home_of
from ..tasks import IndexedTask, register_task
from . import kernels as K
from .setup import (_STRING_LEN, _STRING_MIN_VALUES, _STRING_UNIQUE, ParseSetup, dedupe_names, guess_setup,
                    na_arrays)
from .sources import (Spool, TextSource, expand_paths, prepare_sources, read_parquet_columns, read_sample)

__all__ = ["parse_files", "parse_files_report", "parse_setup", "frame_from_columns", "ParseReport", "warm"]

log = logging.getLogger(__name__)

_SAMPLE_BYTES = 1 << 20
_MAX_SAMPLE_BYTES = 256 << 20
_MARGIN = 64 << 10
_READ_BLOCK = 4 << 20
_CHUNK_ROWS = 1 << 16
_MIN_CHUNK_ROWS = 64
_SHIP_BYTES = 64 << 20
_UPLOAD_WINDOW = 256

_aborted_lock = threading.Lock()
_aborted: set[str] = set()


@dataclass
class ParseReport:
    """What a parse produced: the frame header, the setup used and warnings for people."""

    header: FrameHeader
    setup: dict
    warnings: list = field(default_factory=list)


# ============================================================================================ helpers
def _read_at(fh, offset: int, nbytes: int, size: int, name: str) -> np.ndarray:
    """``nbytes`` of the file from ``offset`` (fewer only at the end of the file)."""
    want = max(0, min(nbytes, size - offset))
    buf = np.empty(want, dtype=np.uint8)
    fh.seek(offset)
    got = fh.readinto(memoryview(buf)) if want else 0
    while got < want:
        more = fh.readinto(memoryview(buf)[got:])
        if not more:
            raise ParseError(f"`{name}` changed while it was being read (it is shorter than {size} bytes now); "
                             f"parse it again once it is complete.", {"file": name})
        got += more
    return buf


_na_cache: dict[str, dict] = {}
_na_cache_lock = threading.Lock()


def _setup_arrays(setup: dict, key: str) -> dict:
    """NA strings of every column as kernel arrays (memoized per parse ``key``).

    Returns ``{"data", "off", "lo", "hi", "first"}``: column *c*'s NA strings are entries
    ``lo[c]..hi[c]-1`` of ``(data, off)``; ``first[c]`` says one of them looks like a number (so
    NA strings are checked before parsing numbers). Columns usually share one list, stored once.
    """
    with _na_cache_lock:
        hit = _na_cache.get(key)
    if hit is not None:
        return hit
    distinct: dict[tuple, tuple[int, int, bool]] = {}
    parts: list[str] = []
    ncols = len(setup["na_strings"])
    lo = np.zeros(ncols, np.int64)
    hi = np.zeros(ncols, np.int64)
    first = np.zeros(ncols, np.uint8)
    for c, lst in enumerate(setup["na_strings"]):
        tkey = tuple(lst)
        if tkey not in distinct:
            looks_numeric = False
            for s in lst:
                b = np.frombuffer(s.encode("utf-8"), dtype=np.uint8)
                if len(b) and K.parse_number(b, 0, len(b))[0] in (K.K_INT, K.K_REAL, K.K_SLOW):
                    looks_numeric = True
            distinct[tkey] = (len(parts), len(parts) + len(lst), looks_numeric)
            parts.extend(lst)
        lo[c], hi[c], f = distinct[tkey]
        first[c] = 1 if f else 0
    data, off = na_arrays(parts)
    out = {"data": data, "off": off, "lo": lo, "hi": hi, "first": first}
    with _na_cache_lock:
        if len(_na_cache) > 16:
            _na_cache.clear()
        _na_cache[key] = out
    return out


def _tokenize_from(fh, size: int, name: str, p: int, e: int, setup: dict, skip_first: bool, store: bool,
                   first_buf: np.ndarray | None = None):
    """Tokenize the records starting in ``[p, e)``; grows the read margin until the last one ends.

    ``first_buf`` (optional) already holds the file from ``p`` on, up to ``e`` plus ``_MARGIN``.
    Returns ``(buf, base, status, nrows, next_pos_abs, err_pos_abs, err_col, fs, fe)``.
    """
    ncols = len(setup["col_names"])
    sep = 256 if setup["sep"] is None else ord(setup["sep"])
    quote = ord(setup["quote"])
    margin = _MARGIN
    while True:
        if first_buf is not None:
            buf, first_buf = first_buf, None
        else:
            buf = _read_at(fh, p, (e - p) + margin, size, name)
        at_eof = p + len(buf) >= size
        end = e - p
        if store:
            cap = K.count_lines_before(buf, min(end, len(buf)), False)[0] + 1
            fs = np.empty((cap, ncols), dtype=np.int64)
            fe = np.empty((cap, ncols), dtype=np.int64)
            rowoff = np.empty(cap, dtype=np.int64)
        else:
            fs = fe = np.empty((1, max(ncols, 1)), dtype=np.int64)
            rowoff = np.empty(1, dtype=np.int64)
        st, nrows, nxt, err, ecol = K.tokenize_range(buf, 0, end, at_eof, sep, quote, ncols, skip_first, store,
                                                     fs, fe, rowoff)
        if st == K.ST_NEED_MORE and not at_eof:
            margin *= 8
            continue
        return buf, p, st, nrows, p + nxt, (p + err if err >= 0 else -1), ecol, fs, fe


def _line_of(path: str, bom: int, offset: int) -> int:
    """1-based physical line of byte ``offset`` (line ends: LF, CRLF, lone CR)."""
    lines = 0
    prev_cr = False
    with open(path, "rb") as fh:
        pos = bom
        fh.seek(bom)
        while pos < offset:
            block = np.frombuffer(fh.read(min(_READ_BLOCK, offset - pos)), dtype=np.uint8)
            if not len(block):
                break
            c, prev_cr = K.count_lines_before(block, len(block), prev_cr)
            lines += c
            pos += len(block)
    return lines + 1


def _decode_list(offsets: np.ndarray, data: np.ndarray) -> list[str]:
    raw = data.tobytes()
    o = offsets.tolist()
    return [raw[o[k]:o[k + 1]].decode("utf-8", errors="replace") for k in range(len(o) - 1)]


def _fix_strings(offsets: np.ndarray, data: np.ndarray, na: np.ndarray):
    """Replace invalid UTF-8 (rare) so string chunks always hold valid UTF-8."""
    if K.utf8_valid(data):
        return offsets, data
    vals = [s.encode("utf-8") for s in _decode_list(offsets, data)]
    new_off = np.zeros(len(vals) + 1, dtype=np.int64)
    new_off[1:] = np.cumsum([len(v) for v in vals]) if vals else []
    return new_off, np.frombuffer(b"".join(vals), dtype=np.uint8).copy()


def _discard(staging: str, node) -> None:
    with _aborted_lock:
        _aborted.add(staging)
        node.chunks.remove_frame(staging)


def _discard_everywhere(node, staging: str, members, dest_key: str) -> None:
    """Free ``staging`` on every live member, each on its own: a lost or failing member must not
    leave the staged chunks of the others behind (lost members hold nothing worth freeing)."""
    failed = node.runtime.run_on_each_live(DiscardStaging.name, {"staging": staging}, members)
    for member, exc in failed.items():
        log.warning("parse of %s: freeing its staged chunks on %s failed: %s", dest_key, member, exc)


def _put(node, staging: str, items) -> bool:
    with _aborted_lock:
        if staging in _aborted:
            return False
        node.chunks.put_many(staging, items)
        return True


# ============================================================================================ tasks
@register_task
class CountQuotes(IndexedTask):
    """Quote characters in each byte range (the parity pre-pass)."""

    name = "parse.quotes"

    def map(self, ctx, index: int, params: dict) -> dict:
        f, s, e = params["ranges"][index]
        path, name, size, _bom = params["files"][f]
        quote = int(params["quote"])
        total = 0
        with open(path, "rb") as fh:
            pos = s
            while pos < e:
                buf = _read_at(fh, pos, min(_READ_BLOCK, e - pos), size, name)
                if not len(buf):
                    break
                total += int(K.count_byte(buf, quote))
                pos += len(buf)
                ctx.check()
        return {"quotes": total}


@register_task
class ParseRange(IndexedTask):
    """Parse one byte range into one chunk per column, staged under ``params['staging']``."""

    name = "parse.range"

    def map(self, ctx, index: int, params: dict) -> dict:
        f, s, e = params["ranges"][index]
        path, name, size, bom = params["files"][f]
        setup = params["setup"]
        forced = params.get("starts")
        ncols = len(setup["col_names"])
        quote = ord(setup["quote"])
        with open(path, "rb") as fh:
            head = None
            if forced is not None:
                p = int(forced[index])
            elif s == bom:
                p = s if s < e else -1
            else:
                # one read serves both finding the first record and (as a view) tokenizing
                head = _read_at(fh, s - 1, e - s + 1 + _MARGIN, size, name)
                rel = K.find_record_start(head, 1, e - s + 1, bool(params["in_quote"][index]), quote)
                p = s - 1 + rel if rel >= 0 else -1
            ctx.check()
            if p < 0 or p >= e:
                nrows, q, buf, fs, fe = 0, -1, np.zeros(0, np.uint8), None, None
            else:
                first = head[p - (s - 1):] if head is not None else None
                buf, base, st, nrows, q, err, ecol, fs, fe = _tokenize_from(
                    fh, size, name, p, e, setup, setup["header"] and p == bom, True, first)
                if st != K.ST_OK:
                    kind = "unterminated_quote" if st == K.ST_UNTERMINATED_QUOTE else "too_many_fields"
                    return {"p": p, "q": -1, "nrows": 0, "error": {"kind": kind, "offset": int(err),
                                                                   "col": int(ecol)}}
                buf_base = base
        ctx.check()
        out = self._convert(ctx, setup, buf, fs, fe, nrows, ncols)
        items, kinds, domains, bad = out
        if not _put(ctx.node, params["staging"], [(oc, index, ch) for oc, ch in items]):
            return {"p": p, "q": q, "nrows": nrows, "aborted": True}
        bad_out = {}
        for oc, (cnt, row) in bad.items():
            bad_out[str(oc)] = [cnt, int(buf_base + fs[row, setup["_src_col"][oc]]) if row >= 0 else -1]
        # numeric kinds as one string ("i"/"r"/"-" per output column): cheap for 100k columns
        kind_str = "".join("i" if kinds.get(oc) == "int" else "r" if oc in kinds else "-"
                           for oc in range(len(setup["_src_col"])))
        return {"p": int(p), "q": int(q), "nrows": int(nrows), "kinds": kind_str,
                "domains": {str(k): v for k, v in domains.items()}, "bad": bad_out}

    @staticmethod
    def _convert(ctx, setup, buf, fs, fe, nrows, ncols):
        na_all = _setup_arrays(setup, setup["_key"])
        na_data, na_offs, na_lo, na_hi = na_all["data"], na_all["off"], na_all["lo"], na_all["hi"]
        types = setup["col_types"]
        forced_real = set(setup["forced_real"])
        src_cols = setup["_src_col"]
        items = []
        kinds = {}
        domains = {}
        bad = {}
        if fs is None:
            fs = fe = np.zeros((0, max(ncols, 1)), dtype=np.int64)

        # numbers: one kernel call for every numeric column
        num = [(oc, c) for oc, c in enumerate(src_cols) if types[c] in ("int", "real")]
        if num:
            cols = np.array([c for _oc, c in num], dtype=np.int64)
            k = len(num)
            oi = np.empty((k, nrows), np.int64)
            of = np.empty((k, nrows), np.float64)
            na = np.empty((k, nrows), np.uint8)
            all_int = np.empty(k, np.uint8)
            nbad = np.empty(k, np.int64)
            first_bad = np.empty(k, np.int64)
            slow = np.empty(k * nrows, np.int64)
            nslow = K.convert_numeric_many(buf, fs, fe, cols, nrows, na_data, na_offs, na_lo[cols], na_hi[cols],
                                           na_all["first"][cols], oi, of, na, all_int, nbad, first_bad, slow)
            for flat in slow[:nslow].tolist():
                j, r = divmod(flat, nrows)
                c = int(cols[j])
                of[j, r] = float(bytes(buf[fs[r, c]:fe[r, c]]))
            nas = na.view(bool)
            ai = all_int.tolist()
            nb = nbad.tolist()
            is_int = [bool(ai[j]) and c not in forced_real for j, (_oc, c) in enumerate(num)]
            # one batch per kind: the constant columns of a wide file skip the per-column ladder
            int_rows = [j for j in range(k) if is_int[j]]
            real_rows = [j for j in range(k) if not is_int[j]]
            chunks = dict(zip(int_rows, encode_many("int", oi, nas, int_rows, ctx.check)))
            chunks.update(zip(real_rows, encode_many("real", of, nas, real_rows, ctx.check)))
            for j, (oc, c) in enumerate(num):
                items.append((oc, chunks[j]))
                kinds[oc] = "int" if is_int[j] else "real"
                if nb[j]:
                    bad[oc] = (int(nb[j]), int(first_bad[j]))

        for oc, c in enumerate(src_cols):
            t = types[c]
            if t in ("int", "real"):
                continue
            nd_, no_ = na_data, na_offs[na_lo[c]:na_hi[c] + 1]
            nbad_c, first_c = 0, -1
            if t == "enum":
                codes = np.empty(nrows, np.int32)
                ds = np.empty(nrows, np.int64)
                dl = np.empty(nrows, np.int64)
                nd = K.encode_enum(buf, fs, fe, c, nrows, nd_, no_, codes, ds, dl)
                offs, data = K.gather_domain(buf, ds, dl, nd)
                domains[oc] = _decode_list(offs, data)
                items.append((oc, encode("enum", codes)))
            elif t == "string":
                offs, data, na = K.gather_strings(buf, fs, fe, c, nrows, nd_, no_)
                offs, data = _fix_strings(offs, data, na)
                items.append((oc, encode("string", (offs, data), na.view(bool))))
            elif t == "time":
                out = np.empty(nrows, np.int64)
                na = np.empty(nrows, np.uint8)
                nbad_c, first_c = K.convert_time(buf, fs, fe, c, nrows, nd_, no_, out, na)
                items.append((oc, encode("time", out, na.view(bool))))
            else:  # bool
                out = np.empty(nrows, np.uint8)
                na = np.empty(nrows, np.uint8)
                nbad_c, first_c = K.convert_bool(buf, fs, fe, c, nrows, nd_, no_, out, na)
                items.append((oc, encode("bool", out, na.view(bool))))
            if nbad_c:
                bad[oc] = (int(nbad_c), int(first_c))
            if oc % 64 == 63:
                ctx.check()
        return items, kinds, domains, bad


@register_task
class FinalizeRange(IndexedTask):
    """Remap a range's enum codes to the global domains and widen int chunks of real columns."""

    name = "parse.finalize"

    def map(self, ctx, index: int, params: dict) -> dict:
        staging = params["staging"]
        store = ctx.node.chunks
        items = []
        for oc, mapping in (params["remap"].get(str(index)) or {}).items():
            chunk = store.get(staging, int(oc), index)
            items.append((int(oc), index, remap_codes(chunk, np.asarray(mapping, dtype=np.int32))))
        for oc in params["widen"].get(str(index)) or []:
            chunk = store.get(staging, int(oc), index)
            vals, na = decode_int64(chunk)
            items.append((int(oc), index, encode("real", vals.astype(np.float64), na)))
        if items:
            _put(ctx.node, staging, items)
        return {}


@register_task
class DiscardStaging(IndexedTask):
    """Free a failed parse's staged chunks on every node that holds some."""

    name = "parse.discard"

    def map(self, ctx, index: int, params: dict) -> dict:
        _discard(params["staging"], ctx.node)
        return {}


# ============================================================================================ setup
def _sample_setup(src: TextSource, overrides: dict) -> ParseSetup:
    if src.size - src.bom <= 0:
        raise ParseError(f"`{src.name}` is empty: there is no data to parse.", {"file": src.name, "line": 1})
    n = _SAMPLE_BYTES
    while True:
        sample = read_sample(src, n)
        complete = len(sample) >= src.size - src.bom
        try:
            setup = guess_setup(sample, overrides, complete=complete)
        except ParseError as e:
            if not complete and n >= _MAX_SAMPLE_BYTES:
                raise ParseError(f"`{src.name}`: no record ends within the first {_MAX_SAMPLE_BYTES >> 20} MB "
                                 f"(an unterminated quote, or not a delimited text file).",
                                 {"file": src.name, "line": 1}) from None
            if complete:
                details = dict(e.details)
                details["file"] = src.name
                raise ParseError(f"`{src.name}`: {e.message}", details) from None
            n *= 4
            continue
        if complete or setup.sample_rows >= 1 or n >= _MAX_SAMPLE_BYTES:
            return setup
        n *= 4


def parse_setup(node, paths, overrides: dict | None = None) -> ParseSetup:
    """Guess the setup of ``paths`` (already resolved) from a sample of the first file.

    Compressed inputs are decompressed into the spool for the look (then deleted).
    """
    files = expand_paths(paths)
    spool = Spool(node.spool_dir)
    try:
        texts, parquets = prepare_sources(files[:1], spool, node.config.max_decompressed_ratio)
        if parquets:
            cols = read_parquet_columns(parquets)
            names = dedupe_names([c["name"] for c in cols])
            types = [_column_type(c) for c in cols]
            return ParseSetup(sep=None, header=True, col_names=names, col_types=types,
                              na_strings=[[] for _ in cols])
        return _sample_setup(texts[0], dict(overrides or {}))
    finally:
        spool.cleanup()


# ============================================================================================ parse
def parse_files(node, paths, setup_overrides: dict | None, dest_key: str, job=None) -> FrameHeader:
    """Parse ``paths`` (files, directories or globs, already resolved) into frame ``dest_key``."""
    return parse_files_report(node, paths, setup_overrides, dest_key, job).header


def parse_files_report(node, paths, setup_overrides: dict | None, dest_key: str, job=None) -> ParseReport:
    """Like :func:`parse_files`, also returning the setup used and the warnings."""
    files = expand_paths(paths)
    spool = Spool(node.spool_dir)
    try:
        texts, parquets = prepare_sources(files, spool, node.config.max_decompressed_ratio, job)
        if parquets:
            cols = _parquet_overrides(read_parquet_columns(parquets), dict(setup_overrides or {}))
            header = frame_from_columns(node, cols, dest_key, job=job)
            return ParseReport(header, {"format": "parquet"}, [])
        setup = _sample_setup(texts[0], dict(setup_overrides or {}))
        return _parse_text(node, texts, setup, dest_key, job)
    finally:
        spool.cleanup()


def _parquet_overrides(cols: list[dict], ov: dict) -> list[dict]:
    """Apply ``col_names``, ``skipped_columns`` and enum/string ``col_types`` to parquet columns.

    Parquet carries its own types; other overrides (``sep``, ``header``, ``na_strings``...) have no
    meaning for it and are ignored.
    """
    from .setup import TYPE_ALIASES, _resolve_col
    problems: list[str] = []
    names = [c["name"] for c in cols]
    if ov.get("col_names") is not None:
        given = list(ov["col_names"])
        if len(given) != len(cols):
            problems.append(f"`col_names` has {len(given)} names but the file has {len(cols)} columns.")
        else:
            names = given
    names = dedupe_names(names)
    for c, n in zip(cols, names):
        c["name"] = n
    ct = ov.get("col_types")
    if isinstance(ct, dict):
        for key, t in ct.items():
            ci = _resolve_col(key, names, "`col_types`", problems)
            if ci is None:
                continue
            want = TYPE_ALIASES.get(str(t).lower())
            if cols[ci]["type"] == "string" and want in ("enum", "string"):
                cols[ci]["guess_enum"] = False
                if want == "enum":
                    cols[ci]["force_enum"] = True
    skipped = {ci for ci in (_resolve_col(k, names, "`skipped_columns`", problems)
                             for k in ov.get("skipped_columns") or []) if ci is not None}
    if problems:
        raise InvalidParameter("Invalid parse setup: " + " ".join(problems), {"problems": problems})
    kept = [c for i, c in enumerate(cols) if i not in skipped]
    if not kept:
        raise InvalidParameter("`skipped_columns` skips every column; at least one must remain.", {})
    return kept


#: Wide files: a range holds at least this many bytes per column (H2O-3 also grows its chunks with
#: the column count), since every range costs one chunk per column whether it holds records or not.
_MIN_RANGE_BYTES_PER_COL = 64
_WIDE_COLS = 256


def _range_bytes(chunk_bytes: int, ncols: int) -> int:
    """Target bytes per range: ``chunk_bytes``, raised for files with more than 256 columns."""
    if ncols > _WIDE_COLS:
        return max(int(chunk_bytes), _MIN_RANGE_BYTES_PER_COL * ncols)
    return int(chunk_bytes)


def _ranges_of(texts: list[TextSource], chunk_bytes: int) -> list[list[int]]:
    ranges = []
    for f, src in enumerate(texts):
        data = src.size - src.bom
        n = max(1, -(-data // max(1, chunk_bytes)))
        for k in range(n):
            ranges.append([f, src.bom + k * data // n, src.bom + (k + 1) * data // n])
    return ranges


def _exact_starts(texts, ranges, setup) -> list[int]:
    """Record start of every range by one sequential scan (the slow path after a broken chain)."""
    starts = [-1] * len(ranges)
    by_file: dict[int, list[int]] = {}
    for i, (f, _s, _e) in enumerate(ranges):
        by_file.setdefault(f, []).append(i)
    for f, idxs in by_file.items():
        src = texts[f]
        exp = src.bom
        with open(src.path, "rb") as fh:
            for i in idxs:
                _f, s, e = ranges[i]
                if exp >= e:
                    continue
                starts[i] = exp
                _b, _base, st, _n, q, _err, _c, _fs, _fe = _tokenize_from(
                    fh, src.size, src.name, exp, e, setup, setup["header"] and exp == src.bom, False)
                if st != K.ST_OK:
                    return starts  # the parse pass reports the error at its place
                exp = q
    return starts


def _check_chain(texts, ranges, partials) -> tuple[bool, dict | None]:
    """Whether every range started where the previous one stopped; the first real error if any."""
    expected = None
    prev_file = -1
    for i, (f, s, e) in enumerate(ranges):
        part = partials[i]
        if f != prev_file:
            expected = texts[f].bom
            prev_file = f
        if expected >= e:
            if part["p"] >= 0 and part["p"] < e:
                return False, None
            continue
        if part["p"] != expected:
            return False, None
        if part.get("error"):
            return True, {"range": i, **part["error"]}
        expected = part["q"]
    return True, None


def _raise_range_error(texts, ranges, setup, err: dict) -> None:
    f = ranges[err["range"]][0]
    src = texts[f]
    line = _line_of(src.path, src.bom, err["offset"])
    col = err["col"] + 1
    details = {"file": src.name, "line": line, "column": col, "offset": err["offset"]}
    if err["kind"] == "unterminated_quote":
        raise ParseError(f"`{src.name}`, line {line}, column {col}: a quoted field opens here and is never "
                         f"closed before the end of the file.", details)
    ncols = len(setup["col_names"])
    raise ParseError(f"`{src.name}`, line {line}: the row has more than {ncols} fields (field {col} is extra); "
                     f"every row must have at most as many fields as the header. Fix the row, or pass "
                     f"`col_names` / `header` so the column count matches.", details)


def _local_only(node, texts: list[TextSource]) -> bool:
    """Whether some input exists only on this node: a file in its spool directory (an upload, or a
    decompressed / recoded input). The other nodes cannot read it (on separate machines), so this
    node parses every range and ships the chunks to their homes."""
    if node.cluster is None:
        return False
    spool = os.path.realpath(node.spool_dir) + os.sep
    return any(os.path.realpath(t.path).startswith(spool) for t in texts)


def _ship_to_homes(node, local_key: str, staging: str, members: list[str], n: int, job=None) -> None:
    """Move chunk *i* of every column from ``local_key`` (this node) to ``home_of(i, members)``, under
    ``staging`` there (this node's own share is re-keyed locally)."""
    store = node.chunks
    by_home: dict[str, list[int]] = {}
    for i in range(n):
        by_home.setdefault(home_of(i, members), []).append(i)
    cols = sorted({c for c, _i, _ch in store.items(local_key)})
    try:
        for member, idxs in sorted(by_home.items()):
            batch: list = []
            size = 0
            for i in idxs:
                items = [(c, i, store.get(local_key, c, i)) for c in cols]
                if member == node.self_id:
                    store.put_many(staging, items)
                    continue
                batch.extend(items)
                size += sum(ch.nbytes for _c, _i, ch in items)
                if size >= _SHIP_BYTES:
                    node.cluster.put_chunks(member, staging, batch)
                    batch, size = [], 0
                    if job is not None:
                        job.check()
            if batch:
                node.cluster.put_chunks(member, staging, batch)
    finally:
        store.remove_frame(local_key)


def _parse_text(node, texts: list[TextSource], setup: ParseSetup, dest_key: str, job) -> ParseReport:
    runtime = node.runtime
    members = runtime.members()
    final_staging = f"{dest_key}.staging.{uuid.uuid4().hex[:12]}"
    local = _local_only(node, texts)
    # with inputs only this node can read, every range is parsed here (``run_on``) into a private
    # key, then shipped to its home under ``final_staging``
    run_on = [node.self_id] if local else members
    staging = f"{final_staging}.local" if local else final_staging
    if local:
        log.info("parse %s: the input exists only on this node (an upload or a decompressed file); parsing every "
                 "range here and shipping the chunks to their homes", dest_key)
    sd = setup.to_dict()
    src_cols = [c for c in range(setup.ncols) if c not in set(setup.skipped_columns)]
    sd["_src_col"] = src_cols
    sd["_key"] = staging
    files = [[t.path, t.name, t.size, t.bom] for t in texts]
    ranges = _ranges_of(texts, _range_bytes(node.config.chunk_bytes, len(src_cols)))
    n = len(ranges)
    params = {"files": files, "ranges": ranges, "setup": sd, "staging": staging}
    try:
        if n > len(texts):
            counts = runtime.run_indexed("parse.quotes", n, {"files": files, "ranges": ranges,
                                                             "quote": ord(setup.quote)}, job=job, span=(0.0, 0.1),
                                         members=run_on)
            in_quote, cum, prev = [], 0, -1
            for (f, _s, _e), part in zip(ranges, counts):
                if f != prev:
                    cum, prev = 0, f
                in_quote.append(cum % 2 == 1)
                cum += part["quotes"]
        else:
            in_quote = [False] * n
        params["in_quote"] = in_quote
        partials = runtime.run_indexed("parse.range", n, params, job=job, span=(0.1, 0.85), members=run_on)
        ok, err = _check_chain(texts, ranges, partials)
        if not ok:
            log.info("parse of %s: quote parity broken by a quote inside an unquoted field; re-parsing with "
                     "exact record starts", texts[0].name)
            node.chunks.remove_frame(staging)
            if node.cluster is not None and not local:
                runtime.run_indexed("parse.discard", n, {"staging": staging}, job=job, members=run_on)
            with _aborted_lock:
                _aborted.discard(staging)
            final_staging = f"{dest_key}.staging.{uuid.uuid4().hex[:12]}"
            staging = f"{final_staging}.local" if local else final_staging
            params["staging"] = staging
            sd["_key"] = staging
            params["starts"] = _exact_starts(texts, ranges, sd)
            partials = runtime.run_indexed("parse.range", n, params, job=job, span=(0.1, 0.85), members=run_on)
            ok, err = _check_chain(texts, ranges, partials)
            if not ok:  # pragma: no cover - the exact starts always chain
                raise ParseError(f"`{texts[0].name}`: the record structure could not be determined.",
                                 {"file": texts[0].name})
        if err is not None:
            _raise_range_error(texts, ranges, sd, err)
        if any(p.get("aborted") for p in partials):
            raise ParseError("The parse was stopped.", {})
        total_rows = sum(p["nrows"] for p in partials)
        if total_rows == 0 and not setup.header:
            raise ParseError(f"`{texts[0].name}` holds no data rows.", {"file": texts[0].name})

        # ---- final column types, domains
        columns, remap, widen, warnings = [], {}, {}, []
        any_bad = any(p["bad"] for p in partials)
        for oc, c in enumerate(src_cols):
            name = setup.col_names[c]
            t = setup.col_types[c]
            domain = None
            if t in ("int", "real"):
                kinds = [p["kinds"][oc] for p in partials]
                t = "real" if "r" in kinds else "int"
                if t == "real":
                    for i, k in enumerate(kinds):
                        if k == "i":
                            widen.setdefault(str(i), []).append(oc)
            elif t == "enum":
                locals_ = [p["domains"][str(oc)] for p in partials]
                domain, mappings = _unify_domains(locals_)
                for i, mapping in enumerate(mappings):
                    if mapping is not None:
                        remap.setdefault(str(i), {})[str(oc)] = mapping
            columns.append(ColumnHeader(name, t, domain))
            nbad = sum(p["bad"].get(str(oc), [0])[0] for p in partials) if any_bad else 0
            if nbad:
                first = next(p["bad"][str(oc)] for p in partials if str(oc) in p["bad"])
                warnings.append({"column": name, "count": int(nbad), "first_offset": first[1],
                                 "file_index": next(ranges[i][0] for i, p in enumerate(partials)
                                                    if str(oc) in p["bad"]), "type": t})
        for w in warnings[:5]:
            src = texts[w.pop("file_index")]
            off = w.pop("first_offset")
            w["first_line"] = _line_of(src.path, src.bom, off) if off >= 0 else None
            w["file"] = src.name
        for w in warnings[5:]:
            w.pop("file_index", None)
            w.pop("first_offset", None)
        if remap or widen:
            runtime.run_indexed("parse.finalize", n, {"staging": staging, "remap": remap, "widen": widen},
                                job=job, span=(0.85, 0.99), members=run_on)
        if job is not None:
            job.check()
        if local:
            _ship_to_homes(node, staging, final_staging, members, n, job)
        builder = FrameBuilder(node.catalog, node.chunks, dest_key, columns, members, nchunks=n,
                               staging_key=final_staging, publish=node.publish_frame)
        for i, p in enumerate(partials):
            builder.add_remote(i, p["nrows"])
        header = builder.commit()
        if warnings and job is not None:
            job.update(message=_warning_text(warnings))
        for w in warnings:
            log.warning("parse %s: %s", dest_key, _warning_text([w]))
        public = setup.to_dict()
        return ParseReport(header, public, warnings)
    except BaseException:
        _discard(staging, node)
        _discard(final_staging, node)
        if node.cluster is not None:
            _discard_everywhere(node, final_staging, members, dest_key)
        raise


def _unify_domains(locals_: list[list[str]]) -> tuple[list[str], list]:
    """Sorted union of the local domains, and per range the local → global code mapping.

    A mapping is None when the range's codes are already global. Large domains are unified with
    numpy (a C sort of fixed-width strings); values that fixed-width strings cannot hold (NUL
    characters, very long levels) take the plain Python path.
    """
    total = sum(len(x) for x in locals_)
    longest = max((len(v) for loc in locals_ for v in loc), default=0) if total < 5000 else \
        max((max(map(len, loc)) for loc in locals_ if loc), default=0)
    if total >= 5000 and longest <= 256 and not any("\x00" in v for loc in locals_ for v in loc):
        flat = np.array([v for loc in locals_ for v in loc], dtype=f"<U{max(longest, 1)}")
        uniq, inverse = np.unique(flat, return_inverse=True)
        domain = uniq.tolist()
        mappings, pos = [], 0
        for loc in locals_:
            m = inverse[pos:pos + len(loc)].astype(np.int32)
            pos += len(loc)
            mappings.append(None if np.array_equal(m, np.arange(len(loc))) else m)
        return domain, mappings
    domain = sorted(set().union(*map(set, locals_)))
    index = {v: k for k, v in enumerate(domain)}
    mappings = []
    for loc in locals_:
        m = [index[v] for v in loc]
        mappings.append(None if m == list(range(len(loc))) else np.asarray(m, dtype=np.int32))
    return domain, mappings


def _warning_text(warnings: list[dict]) -> str:
    parts = []
    for w in warnings:
        where = f" (first at line {w['first_line']} of `{w['file']}`)" if w.get("first_line") else ""
        parts.append(f"Column `{w['column']}` ({w['type']}): {w['count']} values did not fit the type and were "
                     f"read as missing{where}.")
    return " ".join(parts)


# ============================================================================================ columns
def _column_type(col: dict) -> str:
    t = col.get("type")
    if t == "string" and col.get("guess_enum"):
        return "enum" if _should_be_enum(col) else "string"
    return t


def _should_be_enum(col: dict) -> bool:
    offsets = np.asarray(col["offsets"], dtype=np.int64)
    valid = col.get("valid")
    lens = np.diff(offsets)
    if valid is not None:
        lens = lens[np.asarray(valid, dtype=bool)]
    if len(lens) and int(lens.max()) > _STRING_LEN:
        return False
    vals = _string_values(col)
    present = [v for v in vals if v is not None]
    return not (len(present) >= _STRING_MIN_VALUES and len(set(present)) > _STRING_UNIQUE * len(present))


def _string_values(col: dict) -> list:
    offsets = np.asarray(col["offsets"], dtype=np.int64)
    raw = np.asarray(col["data"], dtype=np.uint8).tobytes()
    valid = col.get("valid")
    o = offsets.tolist()
    v = np.ones(len(o) - 1, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    vl = v.tolist()
    return [raw[o[k]:o[k + 1]] if vl[k] else None for k in range(len(o) - 1)]


def _full_column(col: dict, nrow: int):
    """``(type, values, na, domain)`` of one column dict (wire or friendly form)."""
    t = col.get("type")
    if t == "string":
        if col.get("force_enum") or col.get("guess_enum"):
            if col.get("force_enum") or _should_be_enum(col):
                vals = _string_values(col)
                domain_b = sorted({v for v in vals if v is not None})
                index = {s: k for k, s in enumerate(domain_b)}
                codes = np.fromiter((index[v] if v is not None else -1 for v in vals), dtype=np.int32, count=nrow)
                return "enum", codes, None, [d.decode("utf-8", errors="replace") for d in domain_b]
        offsets = np.ascontiguousarray(col["offsets"], dtype=np.int64)
        data = np.ascontiguousarray(col["data"], dtype=np.uint8)
        valid = col.get("valid")
        na = np.zeros(nrow, bool) if valid is None else (np.asarray(valid) == 0)
        return "string", (offsets, data), na, None
    data = np.asarray(col["data"])
    given_na = col.get("na")
    given_na = None if given_na is None else np.asarray(given_na, dtype=bool)
    if t == "enum":
        domain = [str(d) for d in col["domain"]]
        codes = data.astype(np.int32)
        if given_na is not None:
            codes = codes.copy()
            codes[given_na] = -1
        order = sorted(range(len(domain)), key=lambda k: domain[k])
        uniq: list[str] = []
        new_of_old = np.empty(len(domain), dtype=np.int32)
        for k in order:
            if not uniq or uniq[-1] != domain[k]:
                uniq.append(domain[k])
            new_of_old[k] = len(uniq) - 1
        out = np.empty_like(codes)
        K.remap_local_codes(codes, new_of_old, out)
        return "enum", out, None, uniq
    if data.dtype.kind == "f":
        na = np.isnan(data)
        if given_na is not None:
            na |= given_na
        if t in ("int", "time", "bool"):
            vals = np.where(na, 0, data).astype(np.int64)
            return t, (vals.astype(np.uint8) if t == "bool" else vals), na, None
        return "real", data.astype(np.float64), na, None
    if data.dtype.kind in "iub":
        vals = data.astype(np.int64)
        na = (data == np.int32(-(2 ** 31))) if data.dtype == np.int32 else np.zeros(len(data), bool)
        if given_na is not None:
            na = na | given_na
        if t == "real":
            return "real", np.where(na, np.nan, vals.astype(np.float64)), na, None
        if t == "bool":
            return "bool", np.where(na, 0, vals).astype(np.uint8), na, None
        return t, np.where(na, 0, vals), na, None
    raise InvalidParameter(f"Column `{col.get('name')}` of type {t} has values of dtype {data.dtype}.",
                           {"column": col.get("name")})


def _slice(values, na, t: str, a: int, b: int):
    if t == "string":
        offsets, data = values
        o = offsets[a:b + 1]
        return (o - o[0], data[o[0]:o[-1]]), na[a:b]
    return values[a:b], (None if na is None else na[a:b])


def _upload_chunk_rows(node, full) -> int:
    """Rows per chunk of an upload: about ``config.chunk_bytes`` of raw values per chunk, within
    ``[_MIN_CHUNK_ROWS, _CHUNK_ROWS]`` (so a small ``--chunk-bytes`` spreads even small uploads)."""
    row_bytes = 0
    for t, values, _na, _dom in full:
        if t == "string":
            offsets, data = values
            n = max(1, len(offsets) - 1)
            row_bytes += 8 + len(data) // n
        else:
            row_bytes += int(np.asarray(values).dtype.itemsize)
    target = int(getattr(node.config, "chunk_bytes", 4 << 20) or (4 << 20))
    return int(min(_CHUNK_ROWS, max(_MIN_CHUNK_ROWS, target // max(1, row_bytes))))


def frame_from_columns(node, columns: list[dict], dest_key: str, job=None,
                       chunk_rows: int | None = None) -> FrameHeader:
    """Store already-columnar data (an upload, a parquet file) as frame ``dest_key``.

    Parameters
    ----------
    columns : list of dict
        One dict per column, in the SHOALCOL wire representation (``shoal.wire.decode``) or the
        friendly form (``data`` + optional ``na`` mask). A ``string`` column with
        ``guess_enum=True`` becomes ``enum`` by the CSV heuristic (low cardinality, short values).
    chunk_rows : int, optional
        Rows per chunk (default: about ``config.chunk_bytes`` of raw values, at most 65536 rows).
        Chunk *i* is placed on ``home_of(i, members)``: this node encodes every chunk and sends
        the others' chunks to their homes (``cluster.put_chunks``) under the builder's staging key;
        the commit publishes the frame on every member.
    """
    if not columns:
        raise InvalidParameter("A frame needs at least one column.", {})
    lens = []
    for c in columns:
        if c.get("type") == "string":
            lens.append(len(c["offsets"]) - 1)
        else:
            lens.append(len(c["data"]))
    nrow = lens[0]
    if any(n != nrow for n in lens):
        raise InvalidParameter(f"Columns have different lengths ({sorted(set(lens))}).", {"lengths": lens})
    names = dedupe_names([str(c.get("name", "")) for c in columns])
    full = [_full_column(c, nrow) for c in columns]
    headers = [ColumnHeader(nm, t, dom) for nm, (t, _v, _na, dom) in zip(names, full)]
    starts = even_starts(nrow, int(chunk_rows) if chunk_rows else _upload_chunk_rows(node, full))
    nchunks = max(len(starts) - 1, 1)
    if len(starts) == 1:                   # no rows: one empty chunk
        starts = np.zeros(2, dtype=np.int64)
    members = node.runtime.members()
    builder = FrameBuilder(node.catalog, node.chunks, dest_key, headers, members, nchunks=nchunks,
                           publish=node.publish_frame)

    def one(i: int):
        a, b = int(starts[i]), int(starts[i + 1])
        row = []
        for t, values, na, _dom in full:
            v, m = _slice(values, na, t, a, b)
            row.append(encode(t, v, None if t == "enum" else m))
        if home_of(i, members) == node.self_id:
            builder.add_row(i, row)
            return None
        return row

    remote = [i for i in range(nchunks) if home_of(i, members) != node.self_id]
    try:
        from ..tasks.runtime import TaskContext
        ctx = TaskContext(node, job)
        # encode a window of chunks in the compute pool, then send the window's remote chunks to
        # their homes in a few large messages (not one round trip per chunk)
        for w in range(0, nchunks, _UPLOAD_WINDOW):
            encoded = node.runtime.map_local(one, range(w, min(nchunks, w + _UPLOAD_WINDOW)), ctx)
            by_home: dict[str, list] = {}
            for i, row in encoded:
                if row is not None:
                    by_home.setdefault(home_of(i, members), []).extend((c, i, ch) for c, ch in enumerate(row))
            for member, items in sorted(by_home.items()):
                node.cluster.put_chunks(member, builder.staging_key, items)
            ctx.check()
        for i in remote:
            builder.add_remote(i, int(starts[i + 1] - starts[i]))
        return builder.commit()
    except BaseException:
        builder.abort()
        if remote:
            _discard_everywhere(node, builder.staging_key, members, dest_key)
        raise


class _QuietContext:
    node = None

    @staticmethod
    def check() -> None:
        return None


def warm(node=None) -> None:
    """Load (or compile) the parser's kernels on a tiny in-memory sample; stores nothing.

    Called once at node start-up (``shoal_server.__main__``) so the first parse does not pay for
    compilation. The calls use the same argument types as the parse itself.
    """
    text = ('n,r,c,s,t,b\n1,1.5,a,"x,""y""",2020-01-01,true\n'
            '2,1e400,b,,2020-01-02 10:00:00,false\n3,0.1234567890123456789,a,z,01/02/2020,TRUE\n').encode()
    setup = guess_setup(text, {"col_types": {"s": "string"}}, complete=True)
    sd = setup.to_dict()
    sd["_src_col"] = list(range(setup.ncols))
    sd["_key"] = "_warm"
    buf = np.frombuffer(text, dtype=np.uint8).copy()
    quote = ord(sd["quote"])
    K.count_byte(buf, quote)
    K.find_record_start(buf, 1, len(buf), False, quote)
    cap = K.count_lines_before(buf, len(buf), False)[0] + 1
    fs = np.empty((cap, setup.ncols), dtype=np.int64)
    fe = np.empty((cap, setup.ncols), dtype=np.int64)
    rowoff = np.empty(cap, dtype=np.int64)
    st, nrows, _nxt, _err, _col = K.tokenize_range(buf, 0, len(buf), True, setup.sep_byte(), quote, setup.ncols,
                                                   bool(sd["header"]), True, fs, fe, rowoff)
    ParseRange._convert(_QuietContext(), sd, buf, fs, fe, nrows, setup.ncols)
    K.tokenize_range(buf, 0, len(buf), True, setup.sep_byte(), quote, setup.ncols, False, False, fs, fe, rowoff)
    codes = np.zeros(3, np.int32)
    K.remap_local_codes(codes, np.zeros(1, np.int32), codes.copy())
    with _na_cache_lock:
        _na_cache.pop("_warm", None)
