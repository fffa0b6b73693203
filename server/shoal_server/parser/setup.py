"""Guessing how to parse a text file (``ParseSetup``) from a sample of its first bytes.

What is guessed, and how (H2O-3 like):

- **separator**: among ``,`` ``\\t`` ``;`` ``|`` and space, the one that splits the sampled
  records (quotes respected) into the same number (>= 2) of fields most consistently; ties go to
  that order. None of them → one column (``sep`` is None).
- **header**: the first record is a header when none of its fields is a number (nor a date or a
  boolean), and either some column below holds numbers / dates / booleans, or (all-text data)
  none of its values appears again in its column below. A single record of text is a header (a
  header-only file parses to 0 rows).
- **names**: header fields verbatim; an empty name becomes ``C<i>`` (1-based position, as in H2O);
  duplicates become ``name``, ``name_2``, ``name_3`` ...
- **column count**: the fields of the first record, or the most common count in the sample if that
  is larger. A trailing separator on every sampled record (``a,b,``) ends the record rather than
  adding an empty column.
- **types** (ColType names) from the non-missing sampled values: all integers → ``int``; all
  numbers → ``real``; all ``true``/``false`` (any case) → ``bool``; all dates (``yyyy-mm-dd``,
  ``yyyy/mm/dd``, ``mm/dd/yyyy``, optional ``hh:mm[:ss[.fff]]``) → ``time``; otherwise ``enum``,
  or ``string`` when a value is longer than 200 bytes or, among at least 20 values, more than 95%
  are distinct. A column with no value in the sample is ``real``.
- **NA strings** (default, exact match): :data:`DEFAULT_NA_STRINGS`. An empty field is always
  missing in numeric, time and bool columns.

Overrides win over the guess, each validated; every problem is reported in one
``InvalidParameter`` (``details.problems``). See :func:`guess_setup`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameter, ParseError
from . import kernels as K

__all__ = ["ParseSetup", "guess_setup", "DEFAULT_NA_STRINGS", "TYPE_ALIASES", "SEPARATORS", "na_arrays",
           "OVERRIDE_KEYS"]

#: Strings read as missing unless ``na_strings`` says otherwise (exact, case-sensitive match).
DEFAULT_NA_STRINGS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None",
                      "#N/A", "<NA>", "?")

#: Accepted spellings of column types in ``col_types``. ``numeric`` / ``int`` mean "a number":
#: ``int`` when every value is an integer, else ``real``; ``real`` forces floating point.
TYPE_ALIASES = {
    "numeric": "numeric", "num": "numeric", "number": "numeric", "int": "numeric", "integer": "numeric",
    "real": "real", "float": "real", "double": "real",
    "enum": "enum", "categorical": "enum", "factor": "enum", "category": "enum",
    "string": "string", "str": "string", "character": "string", "text": "string",
    "time": "time", "date": "time", "datetime": "time", "timestamp": "time",
    "bool": "bool", "boolean": "bool", "logical": "bool",
}

#: Candidate separators, in order of preference.
SEPARATORS = (",", "\t", ";", "|", " ")

OVERRIDE_KEYS = ("sep", "header", "col_names", "col_types", "na_strings", "skipped_columns", "quote")

_MAX_SAMPLE_ROWS = 5000
_MAX_SAMPLE_FIELDS = 1 << 22
_SEP_SAMPLE_BYTES = 256 << 10
_SEP_SAMPLE_ROWS = 200
_STRING_LEN = 200
_STRING_UNIQUE = 0.95
_STRING_MIN_VALUES = 20


@dataclass
class ParseSetup:
    """How to parse a text input.

    Attributes
    ----------
    sep : str or None
        Field separator (one character); None when every record is one column.
    header : bool
        Whether the first record of each file holds the column names.
    col_names : list[str]
        One name per column of the file (skipped ones included).
    col_types : list[str]
        One type per column: ``int``, ``real``, ``enum``, ``string``, ``time``, ``bool``.
        ``int`` may still become ``real`` when the data holds non-integers.
    na_strings : list[list[str]]
        Per column, the strings read as missing.
    quote : str
        The quote character.
    skipped_columns : list[int]
        Indices of columns not loaded.
    forced_real : list[int]
        Columns the user asked to be ``real`` (never narrowed to ``int``).
    sample_rows : int
        Data rows in the sample the guess looked at.
    """

    sep: str | None
    header: bool
    col_names: list
    col_types: list
    na_strings: list
    quote: str = '"'
    skipped_columns: list = field(default_factory=list)
    forced_real: list = field(default_factory=list)
    sample_rows: int = 0

    @property
    def ncols(self) -> int:
        return len(self.col_names)

    def sep_byte(self) -> int:
        return 256 if self.sep is None else ord(self.sep)

    def to_dict(self) -> dict:
        return {"sep": self.sep, "header": self.header, "col_names": list(self.col_names),
                "col_types": list(self.col_types), "na_strings": [list(x) for x in self.na_strings],
                "quote": self.quote, "skipped_columns": list(self.skipped_columns),
                "forced_real": list(self.forced_real), "sample_rows": self.sample_rows, "ncols": self.ncols}

    @classmethod
    def from_dict(cls, d: dict) -> "ParseSetup":
        keys = ("sep", "header", "col_names", "col_types", "na_strings", "quote", "skipped_columns",
                "forced_real", "sample_rows")
        return cls(**{k: d[k] for k in keys if k in d})


def na_arrays(strings) -> tuple[np.ndarray, np.ndarray]:
    """NA strings as ``(data uint8[], offsets int64[k+1])`` for the kernels."""
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        offsets[1:] = np.cumsum([len(e) for e in encoded])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy() if encoded else np.zeros(0, np.uint8)
    return data, offsets


# ------------------------------------------------------------------------------------------- tokenizing
def _tokenize(sample: bytes, sep: int, quote: int, complete: bool, max_rows: int):
    """Rows of the sample as ``(buf, starts, ends, row_nf, nrows)``; raises on an unterminated quote."""
    buf = np.frombuffer(sample, dtype=np.uint8).copy()
    cap = min(len(buf) + 2, _MAX_SAMPLE_FIELDS)
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    row_nf = np.empty(max_rows + 1, dtype=np.int64)
    status, nrows, nf, err = K.tokenize_sample(buf, sep, quote, complete, max_rows, starts, ends, row_nf)
    if status == K.ST_UNTERMINATED_QUOTE and nrows == 0:
        raise ParseError(f"A quoted field that opens at byte {err} is never closed.",
                         {"line": 1 + sample[:err].count(b"\n"), "offset": int(err)})
    return buf, starts[:nf], ends[:nf], row_nf[:nrows], nrows, status


def _guess_sep(sample: bytes, quote: int, complete: bool) -> str | None:
    if len(sample) > _SEP_SAMPLE_BYTES:
        head = _guess_sep_in(sample[:_SEP_SAMPLE_BYTES], quote, False)
        if head is not _NO_RECORD:
            return head
    found = _guess_sep_in(sample, quote, complete)
    return None if found is _NO_RECORD else found


_NO_RECORD = object()


def _guess_sep_in(sample: bytes, quote: int, complete: bool):
    """The separator of the sample, None for one column, ``_NO_RECORD`` when no record is complete."""
    any_record = False
    best = None
    best_score = (0.0, 0)
    for cand in SEPARATORS:
        try:
            _, _, _, row_nf, nrows, _ = _tokenize(sample, ord(cand), quote, complete, _SEP_SAMPLE_ROWS)
        except ParseError:
            continue
        if nrows == 0:
            continue
        any_record = True
        counts = Counter(int(x) for x in row_nf)
        mode, freq = counts.most_common(1)[0]
        if mode < 2:
            continue
        score = (freq / nrows, 0)
        if cand == " ":
            score = (score[0] - 0.05, 0)  # spaces also occur inside text; prefer a real separator
        if score[0] > best_score[0] + 1e-9:
            best, best_score = cand, score
    if not any_record:
        return _NO_RECORD
    if best is not None and best_score[0] < 0.5:
        return None
    return best


# ------------------------------------------------------------------------------------------- validation
def _check_overrides(ov: dict) -> list[str]:
    problems = []
    for k in ov:
        if k not in OVERRIDE_KEYS:
            problems.append(f"Unknown parse setting `{k}`; allowed: {', '.join(OVERRIDE_KEYS)}.")
    if ov.get("sep") is not None:
        s = ov["sep"]
        if s in ("\\t", "tab"):
            ov["sep"] = s = "\t"
        if not isinstance(s, str) or len(s) != 1 or ord(s) > 127 or s in "\r\n":
            problems.append(f"`sep` must be one ASCII character other than a line end; got {s!r}.")
    q = ov.get("quote")
    if q is not None and (not isinstance(q, str) or len(q) != 1 or ord(q) > 127 or q in "\r\n"):
        problems.append(f"`quote` must be one ASCII character; got {q!r}.")
    elif ov.get("sep") is not None and (q or '"') == ov.get("sep"):
        problems.append("`quote` and `sep` must differ.")
    if "header" in ov and ov["header"] is not None and not isinstance(ov["header"], bool):
        problems.append(f"`header` must be true or false; got {ov['header']!r}.")
    if ov.get("col_names") is not None:
        cn = ov["col_names"]
        if not isinstance(cn, (list, tuple)) or not all(isinstance(x, str) for x in cn):
            problems.append("`col_names` must be a list of strings.")
    if ov.get("na_strings") is not None:
        na = ov["na_strings"]
        if isinstance(na, dict):
            for k, v in na.items():
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                    problems.append(f"`na_strings` for column {k!r} must be a list of strings.")
        elif not isinstance(na, (list, tuple)) or not all(isinstance(x, str) for x in na):
            problems.append("`na_strings` must be a list of strings, or a dict column -> list of strings.")
    if ov.get("skipped_columns") is not None:
        sc = ov["skipped_columns"]
        if not isinstance(sc, (list, tuple)) or not all(isinstance(x, (str, int)) and not isinstance(x, bool)
                                                          for x in sc):
            problems.append("`skipped_columns` must be a list of column names or indices.")
    ct = ov.get("col_types")
    if ct is not None:
        items = ct.items() if isinstance(ct, dict) else enumerate(ct) if isinstance(ct, (list, tuple)) else None
        if items is None:
            problems.append("`col_types` must be a list of types or a dict column -> type.")
        else:
            for k, v in items:
                if not isinstance(v, str) or v.lower() not in TYPE_ALIASES:
                    problems.append(f"`col_types` for column {k!r} is {v!r}; allowed: "
                                    f"{', '.join(sorted(set(TYPE_ALIASES)))}.")
    return problems


def _resolve_col(key, names: list[str], what: str, problems: list[str]) -> int | None:
    if isinstance(key, bool):
        problems.append(f"{what}: {key!r} is not a column name or index.")
        return None
    if isinstance(key, int):
        if 0 <= key < len(names):
            return key
        problems.append(f"{what}: column index {key} is outside 0..{len(names) - 1}.")
        return None
    if isinstance(key, str):
        if key in names:
            return names.index(key)
        if key.isdigit() and int(key) < len(names):
            return int(key)
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        problems.append(f"{what}: column `{key}` is not in the file (columns: {shown}).")
        return None
    problems.append(f"{what}: {key!r} is not a column name or index.")
    return None


def dedupe_names(names: list[str]) -> list[str]:
    """Empty names → ``C<i>``; duplicates → ``name``, ``name_2``, ``name_3`` ..."""
    out: list[str] = []
    seen: set[str] = set()
    for i, n in enumerate(names):
        base = n if n != "" else f"C{i + 1}"
        cand = base
        k = 2
        while cand in seen:
            cand = f"{base}_{k}"
            k += 1
        seen.add(cand)
        out.append(cand)
    return out


# ------------------------------------------------------------------------------------------- guessing
def guess_setup(sample: bytes, overrides: dict | None = None, complete: bool = False) -> ParseSetup:
    """Guess the parse setup of a text file from its first bytes.

    Parameters
    ----------
    sample : bytes
        The first bytes of the (decompressed, UTF-8) file; a UTF-8 BOM is skipped.
    overrides : dict, optional
        ``sep``, ``header`` (bool), ``col_names`` (list), ``col_types`` (list, or dict by name or
        index; aliases in :data:`TYPE_ALIASES`), ``na_strings`` (list for every column, or dict by
        column), ``skipped_columns`` (names or indices), ``quote``. Each wins over the guess.
    complete : bool
        The sample is the whole file (its last record is complete even without a line end).

    Raises
    ------
    InvalidParameter
        One or more overrides are invalid (all listed in ``details.problems``).
    ParseError
        The sample holds no record.
    """
    ov = dict(overrides or {})
    problems = _check_overrides(ov)
    if problems:
        raise InvalidParameter("Invalid parse setup: " + " ".join(problems), {"problems": problems})
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    quote_ch = ov.get("quote") or '"'
    quote = ord(quote_ch)

    if ov.get("sep") is not None:
        sep = ov["sep"]
    else:
        sep = _guess_sep(sample, quote, complete)
    sepb = 256 if sep is None else ord(sep)
    buf, starts, ends, row_nf, nrows, _ = _tokenize(sample, sepb, quote, complete, _MAX_SAMPLE_ROWS)
    if nrows == 0:
        raise ParseError("The input holds no data: no record was found (empty, or only line ends).",
                         {"line": 1})
    row_first = np.zeros(nrows + 1, dtype=np.int64)
    np.cumsum(row_nf, out=row_first[1:])

    raw_sample = buf.tobytes()
    l_starts, l_ends, l_nf, l_first = starts.tolist(), ends.tolist(), row_nf.tolist(), row_first.tolist()

    def field_bytes(r: int, c: int) -> bytes | None:
        if c >= l_nf[r]:
            return None
        f = l_first[r] + c
        return raw_sample[l_starts[f]:l_ends[f]]

    # column count (a trailing separator on every record does not add a column)
    last_empty = np.array([row_nf[r] >= 2 and starts[row_first[r + 1] - 1] == ends[row_first[r + 1] - 1]
                           for r in range(nrows)], dtype=bool)
    trailing = bool(last_empty.all())
    eff = row_nf - last_empty
    mode = Counter(int(x) for x in eff).most_common(1)[0][0]
    ncols = max(int(row_nf[0]) - (1 if trailing else 0), mode)

    # per-field kinds with the default NA strings (column overrides applied below)
    nf_total = int(row_first[-1])
    colidx = np.empty(nf_total, dtype=np.int64)
    for r in range(nrows):
        colidx[row_first[r]:row_first[r + 1]] = np.arange(row_nf[r])
    keep = colidx < ncols
    f_starts, f_ends, f_col = starts[keep], ends[keep], colidx[keep]
    f_row = np.repeat(np.arange(nrows), np.minimum(row_nf, ncols))

    # NA strings per column (names are needed for dict keys; resolve after names)
    na_global = list(ov["na_strings"]) if isinstance(ov.get("na_strings"), (list, tuple)) \
        else list(DEFAULT_NA_STRINGS)

    def kinds_for(na_per_col: list[list[str]]) -> np.ndarray:
        data_parts, offs, lo, hi = [], [0], np.zeros(ncols, np.int64), np.zeros(ncols, np.int64)
        k = 0
        seen: dict[tuple, tuple[int, int]] = {}
        for c in range(ncols):
            key = tuple(na_per_col[c])
            if key not in seen:
                start = k
                for s in key:
                    e = s.encode("utf-8")
                    data_parts.append(e)
                    offs.append(offs[-1] + len(e))
                    k += 1
                seen[key] = (start, k)
            lo[c], hi[c] = seen[key]
        na_data = np.frombuffer(b"".join(data_parts), dtype=np.uint8).copy() if data_parts \
            else np.zeros(0, np.uint8)
        kinds = np.empty(len(f_starts), dtype=np.int8)
        K.classify_fields(buf, f_starts, f_ends, f_col, na_data, np.asarray(offs, np.int64), lo, hi, kinds)
        return kinds

    kinds = kinds_for([na_global] * ncols)
    first = f_row == 0

    # header
    if ov.get("header") is not None:
        header = bool(ov["header"])
    else:
        k0 = kinds[first]
        texty = np.isin(k0, (K.K_OTHER, K.K_NA, K.K_EMPTY))
        header = bool(texty.all()) and bool((k0 != K.K_EMPTY).any())
        if header and nrows > 1:
            rest = ~first
            typed = np.isin(kinds, (K.K_INT, K.K_REAL, K.K_BOOL, K.K_TIME)) & rest
            if not typed.any():
                # all-text data: a header when none of its values reappears in its column below
                firsts = {c: field_bytes(0, c) for c in range(min(int(row_nf[0]), ncols))}
                vals = list(firsts.values())
                if len(set(vals)) != len(vals):
                    header = False
                else:
                    for r in range(1, nrows):
                        for c, v in firsts.items():
                            if v and field_bytes(r, c) == v:
                                header = False
                                break
                        if not header:
                            break

    # names
    if header:
        raw = [(field_bytes(0, c) or b"").decode("utf-8", errors="replace") for c in range(ncols)]
    else:
        raw = [""] * ncols
    problems = []
    if ov.get("col_names") is not None:
        given = list(ov["col_names"])
        if len(given) != ncols:
            problems.append(f"`col_names` has {len(given)} names but the file has {ncols} columns.")
        else:
            raw = given
    names = dedupe_names(raw)

    # NA strings per column
    na_per_col = [na_global] * ncols  # shared; entries are replaced, never mutated
    if isinstance(ov.get("na_strings"), dict):
        for key, lst in ov["na_strings"].items():
            c = _resolve_col(key, names, "`na_strings`", problems)
            if c is not None:
                na_per_col[c] = list(lst)
        kinds = kinds_for(na_per_col)

    # types: one bitmask of the kinds seen per column (vectorized: wide files have 100k columns)
    data_rows = ~first if header else np.ones(len(kinds), dtype=bool)
    seen = np.zeros(ncols, dtype=np.int64)
    np.bitwise_or.at(seen, f_col[data_rows], np.left_shift(1, kinds[data_rows].astype(np.int64)))
    value_bits = seen & ~((1 << K.K_EMPTY) | (1 << K.K_NA))
    b_int, b_real = 1 << K.K_INT, 1 << K.K_REAL
    b_bool, b_time = 1 << K.K_BOOL, 1 << K.K_TIME
    text_cols = []
    types: list[str] = []
    for c, bits in enumerate(value_bits.tolist()):
        if bits == 0:
            types.append("real")
        elif bits == b_int:
            types.append("int")
        elif bits & ~(b_int | b_real) == 0:
            types.append("real")
        elif bits == b_bool:
            types.append("bool")
        elif bits == b_time:
            types.append("time")
        else:
            types.append("enum")
            text_cols.append(c)
    if text_cols:
        data_idx = np.nonzero(data_rows)[0]
        order = np.argsort(f_col[data_idx], kind="stable")
        data_idx = data_idx[order]
        bounds = np.searchsorted(f_col[data_idx], np.arange(ncols + 1))
        l_fs, l_fe, l_kind = f_starts.tolist(), f_ends.tolist(), kinds.tolist()  # Python ints: fast to index
        for c in text_cols:
            idx = data_idx[bounds[c]:bounds[c + 1]].tolist()
            empty_is_na = "" in na_per_col[c]
            vals = [raw_sample[l_fs[i]:l_fe[i]] for i in idx
                    if l_kind[i] != K.K_NA and (l_kind[i] != K.K_EMPTY or not empty_is_na)]
            longest = max((len(v) for v in vals), default=0)
            many_unique = len(vals) >= _STRING_MIN_VALUES and len(set(vals)) > _STRING_UNIQUE * len(vals)
            if longest > _STRING_LEN or many_unique:
                types[c] = "string"

    forced_real: list[int] = []
    ct = ov.get("col_types")
    if ct is not None:
        if isinstance(ct, (list, tuple)):
            if len(ct) != ncols:
                problems.append(f"`col_types` has {len(ct)} types but the file has {ncols} columns.")
                items = []
            else:
                items = list(enumerate(ct))
        else:
            items = [(_resolve_col(k, names, "`col_types`", problems), v) for k, v in ct.items()]
        for c, v in items:
            if c is None:
                continue
            t = TYPE_ALIASES[v.lower()]
            if t == "numeric":
                t = types[c] if types[c] in ("int", "real") else "int"
            elif t == "real":
                forced_real.append(c)
            types[c] = t

    skipped: list[int] = []
    for key in ov.get("skipped_columns") or []:
        c = _resolve_col(key, names, "`skipped_columns`", problems)
        if c is not None and c not in skipped:
            skipped.append(c)
    if ncols and len(skipped) == ncols:
        problems.append("`skipped_columns` skips every column; at least one must remain.")
    if problems:
        raise InvalidParameter("Invalid parse setup: " + " ".join(problems), {"problems": problems})

    return ParseSetup(sep=sep, header=header, col_names=names, col_types=types, na_strings=na_per_col,
                      quote=quote_ch, skipped_columns=sorted(skipped), forced_real=sorted(forced_real),
                      sample_rows=int(nrows - (1 if header else 0)))
