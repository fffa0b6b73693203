"""Numba kernels of the CSV parser: tokenizing byte ranges and converting fields to column values.

Kernels see only numpy arrays and scalars (never files, frames, jobs or logging). Each returns a
status; the caller (``parser.parse``) raises. All are compiled ``nogil=True, cache=True`` so the
compute pool runs them in parallel.

Grammar (pandas / RFC 4180 style, quote ``"``):

- a record ends at LF, CRLF or a lone CR; blank lines are skipped;
- a field that *starts* with the quote is quoted: separators and line ends inside are data, a
  doubled quote is one literal quote, and characters after the closing quote up to the next
  separator are appended to the field (``"ab"c`` reads ``abc``);
- a quote in the middle of an unquoted field is an ordinary character (``5'10"`` stays as is);
- quoted fields are unescaped *in place* in the caller's private buffer, so every field is a plain
  byte slice ``buf[start:end]`` afterwards.

Field positions are written to ``fs``/``fe`` (int64, shape ``(rows_cap, ncols)``, row-major); a
field missing from a short row has ``fs == -1``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "ST_OK", "ST_NEED_MORE", "ST_UNTERMINATED_QUOTE", "ST_TOO_MANY_FIELDS",
    "K_EMPTY", "K_INT", "K_REAL", "K_SLOW", "K_BOOL", "K_TIME", "K_OTHER", "K_NA",
    "count_byte", "find_record_start", "tokenize_range", "tokenize_sample", "count_lines_before",
    "classify_fields", "convert_numeric", "convert_numeric_many", "convert_time", "convert_bool", "encode_enum",
    "gather_domain", "gather_strings", "utf8_valid", "remap_local_codes",
]

LF = 10
CR = 13

ST_OK = 0
ST_NEED_MORE = 1
ST_UNTERMINATED_QUOTE = 2
ST_TOO_MANY_FIELDS = 3

# field kinds (classify_fields)
K_EMPTY = 0
K_INT = 1
K_REAL = 2
K_SLOW = 3      # a number the fast path cannot round correctly (still a number)
K_BOOL = 4
K_TIME = 5
K_OTHER = 6
K_NA = 7

_POW10 = np.array([10.0 ** i for i in range(23)], dtype=np.float64)
_TWO53 = 9007199254740992
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _pow10_table():
    """128-bit mantissas (rounded down, top bit set) of 10**q for q in [-348, 347] (Eisel-Lemire)."""
    hi = np.empty(696, dtype=np.uint64)
    lo = np.empty(696, dtype=np.uint64)
    for k, q in enumerate(range(-348, 348)):
        if q >= 0:
            v = 10 ** q
            L = v.bit_length()
            v = v << (128 - L) if L <= 128 else v >> (L - 128)
        else:
            d = 10 ** (-q)
            v = (1 << (256 + d.bit_length())) // d
            v >>= v.bit_length() - 128
        hi[k] = v >> 64
        lo[k] = v & ((1 << 64) - 1)
    return hi, lo


_EL_HI, _EL_LO = _pow10_table()
_U32 = np.uint64(0xFFFFFFFF)
_U1FF = np.uint64(0x1FF)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U3 = np.uint64(3)


@njit(nogil=True, cache=True, inline="always")
def _mul64(a, b):
    a0 = a & _U32
    a1 = a >> np.uint64(32)
    b0 = b & _U32
    b1 = b >> np.uint64(32)
    w0 = a0 * b0
    t = a1 * b0 + (w0 >> np.uint64(32))
    w1 = (t & _U32) + a0 * b1
    hi = a1 * b1 + (t >> np.uint64(32)) + (w1 >> np.uint64(32))
    lo = a * b
    return hi, lo


@njit(nogil=True, cache=True, inline="always")
def _clz64(x):
    n = 0
    if (x >> np.uint64(32)) == _U0:
        n += 32
        x = x << np.uint64(32)
    if (x >> np.uint64(48)) == _U0:
        n += 16
        x = x << np.uint64(16)
    if (x >> np.uint64(56)) == _U0:
        n += 8
        x = x << np.uint64(8)
    if (x >> np.uint64(60)) == _U0:
        n += 4
        x = x << np.uint64(4)
    if (x >> np.uint64(62)) == _U0:
        n += 2
        x = x << np.uint64(2)
    if (x >> np.uint64(63)) == _U0:
        n += 1
    return n


@njit(nogil=True, cache=True)
def eisel_lemire(man, exp10):
    """Correctly rounded ``man * 10**exp10`` (man: uint64 > 0), or ``(False, 0.0)`` when undecided.

    The Eisel-Lemire algorithm, as in Go's ``strconv`` (``eiselLemire64``).
    """
    if exp10 < -348 or exp10 > 347:
        return False, 0.0
    clz = _clz64(man)
    man = man << np.uint64(clz)
    ret_exp2 = ((217706 * exp10) >> 16) + 64 + 1023 - clz
    idx = exp10 + 348
    x_hi, x_lo = _mul64(man, _EL_HI[idx])
    if (x_hi & _U1FF) == _U1FF and (x_lo + man) < man:
        y_hi, y_lo = _mul64(man, _EL_LO[idx])
        m_hi = x_hi
        m_lo = x_lo + y_hi
        if m_lo < x_lo:
            m_hi += _U1
        if (m_hi & _U1FF) == _U1FF and (m_lo + _U1) == _U0 and (y_lo + man) < man:
            return False, 0.0
        x_hi = m_hi
        x_lo = m_lo
    msb = x_hi >> np.uint64(63)
    ret_m = x_hi >> (msb + np.uint64(9))
    ret_exp2 -= 1 - np.int64(msb)
    if x_lo == _U0 and (x_hi & _U1FF) == _U0 and (ret_m & _U3) == _U1:
        return False, 0.0
    ret_m += ret_m & _U1
    ret_m = ret_m >> _U1
    if (ret_m >> np.uint64(53)) > _U0:
        ret_m = ret_m >> _U1
        ret_exp2 += 1
    if ret_exp2 <= 0 or ret_exp2 >= 0x7FF:
        return False, 0.0
    return True, np.ldexp(float(ret_m), ret_exp2 - 1075)


# --------------------------------------------------------------------------------------------- scanning
@njit(nogil=True, cache=True)
def count_byte(buf, value):
    """Number of bytes equal to ``value`` in ``buf`` (IN uint8[n])."""
    n = 0
    for i in range(buf.shape[0]):
        if buf[i] == value:
            n += 1
    return n


@njit(nogil=True, cache=True)
def find_record_start(buf, s, end, in_quote, quote):
    """First record start ``p`` with ``s <= p < end`` outside quotes, or -1.

    buf : IN uint8[n]; ``buf[s-1]`` must exist (``s >= 1``).
    in_quote : IN bool, whether position ``s`` is inside a quoted field (quote parity before ``s``).
    A record starts after LF, or after a CR not followed by LF.
    """
    n = buf.shape[0]
    q = in_quote
    p = s
    while p < end:
        if not q:
            c = buf[p - 1]
            if c == LF:
                return p
            if c == CR and (p >= n or buf[p] != LF):
                return p
        if buf[p] == quote:
            q = not q
        p += 1
    return -1


@njit(nogil=True, cache=True)
def tokenize_range(buf, begin, end, at_eof, sep, quote, ncols, skip_first, store, fs, fe, rowoff):
    """Split the records that start in ``[begin, end)`` into fields.

    buf : INOUT uint8[n], the range's private copy (quoted fields are unescaped in place).
    begin : IN int, a record start. end : IN int, records must start before it.
    at_eof : IN bool, ``buf`` ends at the end of the file (else running off the end asks for more).
    sep, quote : IN int byte values (``sep`` 256 = no separator, one column).
    ncols : IN int. skip_first : IN bool, drop the first record (a header line).
    store : IN bool, write fields (False: only find where the records end).
    fs, fe : OUT int64[rows_cap, ncols]; rowoff : OUT int64[rows_cap], each row's start offset.

    Returns ``(status, nrows, next_pos, err_pos, err_col)``: ``next_pos`` is where the record after
    the last one owned starts. Extra fields beyond ``ncols`` are dropped when empty (a trailing
    separator) and give ``ST_TOO_MANY_FIELDS`` otherwise.
    """
    n = buf.shape[0]
    i = begin
    nrows = 0
    skipping = skip_first
    while i < end:
        rec = i
        c = buf[i]
        if c == LF:
            i += 1
            continue
        if c == CR:
            i += 1
            if i < n:
                if buf[i] == LF:
                    i += 1
            elif not at_eof:
                return ST_NEED_MORE, nrows, i, rec, 0
            continue
        col = 0
        while True:
            # ---- one field
            if i < n and buf[i] == quote:
                qpos = i
                i += 1
                w = i
                fstart = i
                closed = False
                while i < n:
                    c = buf[i]
                    if c == quote:
                        if i + 1 < n:
                            if buf[i + 1] == quote:
                                buf[w] = quote
                                w += 1
                                i += 2
                                continue
                        elif not at_eof:
                            return ST_NEED_MORE, nrows, i, rec, col
                        i += 1
                        closed = True
                        break
                    buf[w] = c
                    w += 1
                    i += 1
                if not closed:
                    if at_eof:
                        return ST_UNTERMINATED_QUOTE, nrows, i, qpos, col
                    return ST_NEED_MORE, nrows, i, rec, col
                while i < n:
                    c = buf[i]
                    if c == sep or c == LF or c == CR:
                        break
                    buf[w] = c
                    w += 1
                    i += 1
                fend = w
            else:
                fstart = i
                while i < n:
                    c = buf[i]
                    if c == sep or c == LF or c == CR:
                        break
                    i += 1
                fend = i
            if i >= n and not at_eof:
                return ST_NEED_MORE, nrows, i, rec, col
            if store:
                if col < ncols:
                    if not skipping:
                        fs[nrows, col] = fstart
                        fe[nrows, col] = fend
                elif fend > fstart and not skipping:
                    return ST_TOO_MANY_FIELDS, nrows, i, fstart, col
            col += 1
            if i < n and buf[i] == sep:
                i += 1
                continue
            # end of record (line end or EOF)
            if i < n:
                if buf[i] == CR:
                    i += 1
                    if i < n:
                        if buf[i] == LF:
                            i += 1
                    elif not at_eof:
                        return ST_NEED_MORE, nrows, i, rec, col
                else:
                    i += 1
            break
        if skipping:
            skipping = False
            continue
        if store:
            for k in range(col, ncols):
                fs[nrows, k] = -1
                fe[nrows, k] = -1
            rowoff[nrows] = rec
        nrows += 1
    return ST_OK, nrows, i, -1, 0


@njit(nogil=True, cache=True)
def tokenize_sample(buf, sep, quote, at_eof, max_rows, starts, ends, row_nf):
    """Tokenize the start of a file without a known column count (for guessing the setup).

    buf : INOUT uint8[n] (unescaped in place). starts, ends : OUT int64[m] flat field slices.
    row_nf : OUT int64[max_rows] fields per row. Stops at ``max_rows`` rows, at the first
    incomplete record (when not ``at_eof``), or when ``starts`` is full.
    Returns ``(status, nrows, nfields, err_pos)``.
    """
    n = buf.shape[0]
    m = starts.shape[0]
    i = 0
    nrows = 0
    nf = 0
    while i < n and nrows < max_rows:
        c = buf[i]
        if c == LF:
            i += 1
            continue
        if c == CR:
            i += 1
            if i < n and buf[i] == LF:
                i += 1
            continue
        row_first = nf
        while True:
            if i < n and buf[i] == quote:
                qpos = i
                i += 1
                w = i
                fstart = i
                closed = False
                while i < n:
                    c = buf[i]
                    if c == quote:
                        if i + 1 < n and buf[i + 1] == quote:
                            buf[w] = quote
                            w += 1
                            i += 2
                            continue
                        if i + 1 >= n and not at_eof:
                            break
                        i += 1
                        closed = True
                        break
                    buf[w] = c
                    w += 1
                    i += 1
                if not closed:
                    if at_eof:
                        return ST_UNTERMINATED_QUOTE, nrows, row_first, qpos
                    return ST_NEED_MORE, nrows, row_first, -1
                while i < n:
                    c = buf[i]
                    if c == sep or c == LF or c == CR:
                        break
                    buf[w] = c
                    w += 1
                    i += 1
                fend = w
            else:
                fstart = i
                while i < n:
                    c = buf[i]
                    if c == sep or c == LF or c == CR:
                        break
                    i += 1
                fend = i
            if i >= n and not at_eof:
                return ST_NEED_MORE, nrows, row_first, -1
            if nf >= m:
                return ST_NEED_MORE, nrows, row_first, -1
            starts[nf] = fstart
            ends[nf] = fend
            nf += 1
            if i < n and buf[i] == sep:
                i += 1
                continue
            if i < n:
                if buf[i] == CR:
                    i += 1
                    if i < n and buf[i] == LF:
                        i += 1
                else:
                    i += 1
            break
        row_nf[nrows] = nf - row_first
        nrows += 1
    return ST_OK, nrows, nf, -1


@njit(nogil=True, cache=True)
def count_lines_before(buf, upto, prev_cr):
    """Line ends (LF, CRLF, lone CR) in ``buf[:upto]``; ``prev_cr`` says the byte before was CR.

    Returns ``(count, last_is_cr)`` so a caller can run it over consecutive blocks.
    """
    if upto <= 0:
        return 0, prev_cr
    # "the byte before is CR" is buf[i - 1] == CR: no loop-carried state, so the loop vectorises
    c = buf[0]
    cnt = 1 if (c == CR or (c == LF and not prev_cr)) else 0
    for i in range(1, upto):
        c = buf[i]
        cnt += np.int64((c == CR) | ((c == LF) & (buf[i - 1] != CR)))
    return cnt, buf[upto - 1] == CR


# --------------------------------------------------------------------------------------------- values
@njit(nogil=True, cache=True, inline="always")
def _is_space(c):
    return c == 32 or c == 9


@njit(nogil=True, cache=True, inline="always")
def _lower(c):
    if 65 <= c <= 90:
        return c + 32
    return c


@njit(nogil=True, cache=True)
def _match_ci(buf, a, b, word):
    if b - a != len(word):
        return False
    for k in range(b - a):
        if _lower(buf[a + k]) != word[k]:
            return False
    return True


_W_INF = np.frombuffer(b"inf", dtype=np.uint8).copy()
_W_INFINITY = np.frombuffer(b"infinity", dtype=np.uint8).copy()
_W_TRUE = np.frombuffer(b"true", dtype=np.uint8).copy()
_W_FALSE = np.frombuffer(b"false", dtype=np.uint8).copy()


@njit(nogil=True, cache=True)
def parse_number(buf, a, b):
    """Parse ``buf[a:b]`` as a number.

    Returns ``(kind, ival, fval)``: kind ``K_INT`` (``ival`` exact, ``fval`` = float of it),
    ``K_REAL`` (``fval`` correctly rounded), ``K_SLOW`` (a valid number the fast path cannot round
    exactly; ``fval`` is within a few ulps and the caller re-parses it), ``K_EMPTY`` (only spaces) or
    ``K_OTHER`` (not a number). Grammar: spaces, sign, digits with an optional ``.``, optional
    exponent, spaces; or ``inf`` / ``infinity`` with an optional sign, any case.
    """
    if 0 < b - a <= 18:  # fast path: plain digits (the common integer field)
        v = 0
        plain = True
        for j in range(a, b):
            d = np.int64(buf[j]) - 48
            if d < 0 or d > 9:
                plain = False
                break
            v = v * 10 + d
        if plain:
            return K_INT, v, float(v)
    while a < b and _is_space(buf[a]):
        a += 1
    while b > a and _is_space(buf[b - 1]):
        b -= 1
    if a >= b:
        return K_EMPTY, 0, 0.0
    neg = False
    c = buf[a]
    if c == 45 or c == 43:  # - +
        neg = c == 45
        a += 1
        if a >= b:
            return K_OTHER, 0, 0.0
    c = buf[a]
    if c == 105 or c == 73:  # i / I
        if _match_ci(buf, a, b, _W_INF) or _match_ci(buf, a, b, _W_INFINITY):
            return K_REAL, 0, -np.inf if neg else np.inf
        return K_OTHER, 0, 0.0
    m = np.uint64(0)
    ndig = 0          # significant digits kept in m
    dropped = 0       # significant digits beyond 19 (not in m)
    any_digit = False
    i = a
    while i < b:
        c = buf[i]
        if c < 48 or c > 57:
            break
        any_digit = True
        if ndig < 19:
            if m != 0 or c != 48:
                m = m * np.uint64(10) + np.uint64(c - 48)
                ndig += 1
        else:
            dropped += 1
        i += 1
    is_int = True
    frac_digits = 0
    nonzero_dropped = False
    if i < b and buf[i] == 46:  # .
        is_int = False
        i += 1
        while i < b:
            c = buf[i]
            if c < 48 or c > 57:
                break
            any_digit = True
            if ndig < 19:
                if m != 0 or c != 48:
                    m = m * np.uint64(10) + np.uint64(c - 48)
                    ndig += 1
                frac_digits += 1
            else:
                if c != 48:
                    nonzero_dropped = True
            i += 1
    if not any_digit:
        return K_OTHER, 0, 0.0
    e10 = 0
    if i < b and (buf[i] == 101 or buf[i] == 69):  # e E
        is_int = False
        i += 1
        eneg = False
        if i < b and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i >= b:
            return K_OTHER, 0, 0.0
        nexp = 0
        while i < b:
            c = buf[i]
            if c < 48 or c > 57:
                return K_OTHER, 0, 0.0
            if e10 < 100000:
                e10 = e10 * 10 + (c - 48)
            nexp += 1
            i += 1
        if eneg:
            e10 = -e10
    if i != b:
        return K_OTHER, 0, 0.0
    e10 = e10 - frac_digits + dropped
    if is_int and dropped == 0:
        if neg:
            if m <= np.uint64(9223372036854775808):
                if m == np.uint64(9223372036854775808):
                    iv = np.int64(-9223372036854775807) - np.int64(1)
                else:
                    iv = -np.int64(m)
                return K_INT, iv, -float(m) if m != 0 else -0.0
        else:
            if m <= np.uint64(9223372036854775807):
                iv = np.int64(m)
                return K_INT, iv, float(iv)
    if m == 0:
        return K_REAL, 0, -0.0 if neg else 0.0
    if dropped == 0 and not nonzero_dropped and m < np.uint64(_TWO53) and -22 <= e10 <= 22:
        f = float(m)
        if e10 >= 0:
            f = f * _POW10[e10]
        else:
            f = f / _POW10[-e10]
        return K_REAL, 0, -f if neg else f
    if dropped == 0 and not nonzero_dropped:
        ok, f = eisel_lemire(m, e10)
        if ok:
            return K_REAL, 0, -f if neg else f
    else:
        ok, f = eisel_lemire(m, e10)
        if ok:
            ok2, f2 = eisel_lemire(m + np.uint64(1), e10)
            if ok2 and f2 == f:
                return K_REAL, 0, -f if neg else f
    # Undecided (overflow, underflow, a halfway case): an approximation, re-parsed by the caller.
    f = float(m)
    if e10 > 308 + 19:
        f = np.inf
    elif e10 < -343 - 19:
        f = 0.0
    else:
        f = f * 10.0 ** e10
    return K_SLOW, 0, -f if neg else f


@njit(nogil=True, cache=True)
def _days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(nogil=True, cache=True)
def _digits(buf, a, k):
    v = 0
    for j in range(a, a + k):
        c = buf[j]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@njit(nogil=True, cache=True)
def parse_time(buf, a, b):
    """Parse ``buf[a:b]`` as a date/time; returns ``(kind, ms)`` with kind K_TIME, K_EMPTY or K_OTHER.

    Formats: ``yyyy-mm-dd``, ``yyyy/mm/dd``, ``mm/dd/yyyy``, each optionally followed by
    ``[ T]hh:mm[:ss[.fff...]]`` and an optional ``Z``. UTC. Invalid calendar dates are K_OTHER.
    """
    while a < b and _is_space(buf[a]):
        a += 1
    while b > a and _is_space(buf[b - 1]):
        b -= 1
    if a >= b:
        return K_EMPTY, 0
    n = b - a
    if n < 8:
        return K_OTHER, 0
    if n >= 10 and (buf[a + 4] == 45 or buf[a + 4] == 47) and buf[a + 7] == buf[a + 4]:
        y = _digits(buf, a, 4)
        mo = _digits(buf, a + 5, 2)
        d = _digits(buf, a + 8, 2)
        i = a + 10
    elif n >= 10 and buf[a + 2] == 47 and buf[a + 5] == 47:
        mo = _digits(buf, a, 2)
        d = _digits(buf, a + 3, 2)
        y = _digits(buf, a + 6, 4)
        i = a + 10
    else:
        return K_OTHER, 0
    if y < 0 or mo < 1 or mo > 12 or d < 1:
        return K_OTHER, 0
    dim = _DAYS_IN_MONTH[mo]
    if mo == 2 and (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        dim = 29
    if d > dim:
        return K_OTHER, 0
    ms = _days_from_civil(y, mo, d) * 86400000
    if i < b and (buf[i] == 32 or buf[i] == 84):  # ' ' or 'T'
        i += 1
        if b - i < 5 or buf[i + 2] != 58:
            return K_OTHER, 0
        hh = _digits(buf, i, 2)
        mm = _digits(buf, i + 3, 2)
        if hh < 0 or hh > 23 or mm < 0 or mm > 59:
            return K_OTHER, 0
        ms += (hh * 3600 + mm * 60) * 1000
        i += 5
        if i < b and buf[i] == 58:
            if b - i < 3:
                return K_OTHER, 0
            ss = _digits(buf, i + 1, 2)
            if ss < 0 or ss > 59:
                return K_OTHER, 0
            ms += ss * 1000
            i += 3
            if i < b and buf[i] == 46:
                i += 1
                scale = 100
                nd = 0
                while i < b and 48 <= buf[i] <= 57:
                    ms += (buf[i] - 48) * scale
                    scale //= 10
                    nd += 1
                    i += 1
                if nd == 0:
                    return K_OTHER, 0
        if i < b and buf[i] == 90:  # Z
            i += 1
    if i != b:
        return K_OTHER, 0
    return K_TIME, ms


@njit(nogil=True, cache=True)
def parse_bool(buf, a, b):
    """``(kind, value)``: K_BOOL with 1/0 for ``true``/``false`` (any case), K_EMPTY or K_OTHER."""
    while a < b and _is_space(buf[a]):
        a += 1
    while b > a and _is_space(buf[b - 1]):
        b -= 1
    if a >= b:
        return K_EMPTY, 0
    if _match_ci(buf, a, b, _W_TRUE):
        return K_BOOL, 1
    if _match_ci(buf, a, b, _W_FALSE):
        return K_BOOL, 0
    return K_OTHER, 0


@njit(nogil=True, cache=True)
def is_na(buf, a, b, na_data, na_off, lo, hi):
    """Whether ``buf[a:b]`` equals one of the NA strings ``lo..hi-1`` (``na_data[na_off[k]:na_off[k+1]]``)."""
    ln = b - a
    for k in range(lo, hi):
        s = na_off[k]
        e = na_off[k + 1]
        if e - s != ln:
            continue
        same = True
        for j in range(ln):
            if buf[a + j] != na_data[s + j]:
                same = False
                break
        if same:
            return True
    return False


@njit(nogil=True, cache=True)
def classify_fields(buf, starts, ends, colidx, na_data, na_off, col_na_lo, col_na_hi, kinds):
    """Kind of every sampled field (for type guessing).

    buf : IN uint8[n]; starts, ends, colidx : IN int64[m]; NA strings per column as in ``is_na``;
    kinds : OUT int8[m] (K_* codes; NA strings give K_NA, an empty field K_EMPTY).
    """
    for f in range(starts.shape[0]):
        a = starts[f]
        b = ends[f]
        c = colidx[f]
        if a == b:
            kinds[f] = K_EMPTY
            continue
        if is_na(buf, a, b, na_data, na_off, col_na_lo[c], col_na_hi[c]):
            kinds[f] = K_NA
            continue
        k, iv, fv = parse_number(buf, a, b)
        if k == K_INT or k == K_REAL or k == K_SLOW:
            kinds[f] = K_INT if k == K_INT else K_REAL
            continue
        if k == K_EMPTY:
            kinds[f] = K_EMPTY
            continue
        k2, v = parse_bool(buf, a, b)
        if k2 == K_BOOL:
            kinds[f] = K_BOOL
            continue
        k3, ms = parse_time(buf, a, b)
        if k3 == K_TIME:
            kinds[f] = K_TIME
            continue
        kinds[f] = K_OTHER


@njit(nogil=True, cache=True)
def convert_numeric(buf, fs, fe, col, nrows, na_data, na_off, na_first, out_i, out_f, na, slow):
    """Parse column ``col`` of the first ``nrows`` rows as numbers.

    fs, fe : IN int64[rows_cap, ncols]. na_data, na_off : IN the column's NA strings.
    na_first : IN bool, check NA strings before parsing (an NA string looks like a number).
    out_i : OUT int64[nrows]; out_f : OUT float64[nrows]; na : OUT uint8[nrows];
    slow : OUT int64[nrows], rows whose value must be re-parsed exactly by the caller.
    Returns ``(all_int, nbad, first_bad_row, nslow)``; a non-numeric, non-NA field becomes missing
    and is counted in ``nbad``.
    """
    nna = na_off.shape[0] - 1
    all_int = True
    nbad = 0
    first_bad = -1
    nslow = 0
    for r in range(nrows):
        a = fs[r, col]
        b = fe[r, col]
        if a < 0 or a == b:
            na[r] = 1
            out_i[r] = 0
            out_f[r] = np.nan
            continue
        if na_first and is_na(buf, a, b, na_data, na_off, 0, nna):
            na[r] = 1
            out_i[r] = 0
            out_f[r] = np.nan
            continue
        k, iv, fv = parse_number(buf, a, b)
        if k == K_INT:
            na[r] = 0
            out_i[r] = iv
            out_f[r] = fv
        elif k == K_REAL or k == K_SLOW:
            na[r] = 0
            all_int = False
            out_i[r] = 0
            out_f[r] = fv
            if k == K_SLOW:
                slow[nslow] = r
                nslow += 1
        else:
            na[r] = 1
            out_i[r] = 0
            out_f[r] = np.nan
            if k != K_EMPTY and not (not na_first and is_na(buf, a, b, na_data, na_off, 0, nna)):
                nbad += 1
                if first_bad < 0:
                    first_bad = r
    return all_int, nbad, first_bad, nslow


@njit(nogil=True, cache=True)
def convert_numeric_many(buf, fs, fe, cols, nrows, na_data, na_off, col_na_lo, col_na_hi, na_first,
                         out_i, out_f, na, all_int, nbad, first_bad, slow):
    """``convert_numeric`` for several columns in one call (wide files: one dispatch, not 100k).

    cols : IN int64[k] source columns; NA strings of column ``cols[j]`` are entries
    ``col_na_lo[j]..col_na_hi[j]-1`` of (na_data, na_off); na_first : IN uint8[k].
    out_i : OUT int64[k, nrows]; out_f : OUT float64[k, nrows]; na : OUT uint8[k, nrows];
    all_int : OUT uint8[k]; nbad, first_bad : OUT int64[k]; slow : OUT int64[k * nrows] flat
    indices ``j * nrows + r`` to re-parse exactly. Returns the number of slow values.
    """
    nslow = 0
    for j in range(cols.shape[0]):
        c = cols[j]
        lo = col_na_lo[j]
        hi = col_na_hi[j]
        first = na_first[j] != 0
        ai = True
        nb = 0
        fb = -1
        for r in range(nrows):
            a = fs[r, c]
            b = fe[r, c]
            if a < 0 or a == b:
                na[j, r] = 1
                out_i[j, r] = 0
                out_f[j, r] = np.nan
                continue
            if first and is_na(buf, a, b, na_data, na_off, lo, hi):
                na[j, r] = 1
                out_i[j, r] = 0
                out_f[j, r] = np.nan
                continue
            k, iv, fv = parse_number(buf, a, b)
            if k == K_INT:
                na[j, r] = 0
                out_i[j, r] = iv
                out_f[j, r] = fv
            elif k == K_REAL or k == K_SLOW:
                na[j, r] = 0
                ai = False
                out_i[j, r] = 0
                out_f[j, r] = fv
                if k == K_SLOW:
                    slow[nslow] = j * nrows + r
                    nslow += 1
            else:
                na[j, r] = 1
                out_i[j, r] = 0
                out_f[j, r] = np.nan
                if k != K_EMPTY and not (not first and is_na(buf, a, b, na_data, na_off, lo, hi)):
                    nb += 1
                    if fb < 0:
                        fb = r
        all_int[j] = 1 if ai else 0
        nbad[j] = nb
        first_bad[j] = fb
    return nslow


@njit(nogil=True, cache=True)
def convert_time(buf, fs, fe, col, nrows, na_data, na_off, out, na):
    """Parse column ``col`` as date/times (int64 ms, OUT ``out``; OUT ``na`` uint8).

    Returns ``(nbad, first_bad_row)``.
    """
    nna = na_off.shape[0] - 1
    nbad = 0
    first_bad = -1
    for r in range(nrows):
        a = fs[r, col]
        b = fe[r, col]
        out[r] = 0
        na[r] = 1
        if a < 0 or a == b:
            continue
        k, ms = parse_time(buf, a, b)
        if k == K_TIME:
            out[r] = ms
            na[r] = 0
        elif k != K_EMPTY and not is_na(buf, a, b, na_data, na_off, 0, nna):
            nbad += 1
            if first_bad < 0:
                first_bad = r
    return nbad, first_bad


@njit(nogil=True, cache=True)
def convert_bool(buf, fs, fe, col, nrows, na_data, na_off, out, na):
    """Parse column ``col`` as booleans (OUT ``out`` uint8 0/1, OUT ``na`` uint8). Returns ``(nbad, first_bad)``."""
    nna = na_off.shape[0] - 1
    nbad = 0
    first_bad = -1
    for r in range(nrows):
        a = fs[r, col]
        b = fe[r, col]
        out[r] = 0
        na[r] = 1
        if a < 0 or a == b:
            continue
        k, v = parse_bool(buf, a, b)
        if k == K_BOOL:
            out[r] = v
            na[r] = 0
        elif k != K_EMPTY and not is_na(buf, a, b, na_data, na_off, 0, nna):
            nbad += 1
            if first_bad < 0:
                first_bad = r
    return nbad, first_bad


@njit(nogil=True, cache=True)
def _rehash(hashes, n, size):
    table = np.full(size, -1, dtype=np.int32)
    mask = size - 1
    for t in range(n):
        slot = np.int64(hashes[t] & np.uint64(mask))
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = t
    return table


@njit(nogil=True, cache=True)
def encode_enum(buf, fs, fe, col, nrows, na_data, na_off, codes, dom_start, dom_len):
    """Dictionary-encode column ``col`` with a hash table over byte slices.

    codes : OUT int32[nrows] local codes (-1 missing), in order of first appearance.
    dom_start, dom_len : OUT int64[nrows] the slice of each local level in ``buf``.
    Returns the number of local levels. The table starts small and doubles (cache-friendly for
    the usual few levels); NA strings are checked once per distinct value, not once per row.
    """
    nna = na_off.shape[0] - 1
    size = 256
    table = np.full(size, -1, dtype=np.int32)
    mask = size - 1
    cap = max(nrows, 1)
    hashes = np.empty(cap, dtype=np.uint64)
    e_start = np.empty(cap, dtype=np.int64)
    e_len = np.empty(cap, dtype=np.int64)
    e_code = np.empty(cap, dtype=np.int32)
    nent = 0
    ndom = 0
    for r in range(nrows):
        a = fs[r, col]
        b = fe[r, col]
        if a < 0:
            codes[r] = -1
            continue
        h = np.uint64(14695981039346656037)
        for j in range(a, b):
            h = (h ^ np.uint64(buf[j])) * np.uint64(1099511628211)
        slot = np.int64(h & np.uint64(mask))
        ln = b - a
        while True:
            t = table[slot]
            if t < 0:
                if is_na(buf, a, b, na_data, na_off, 0, nna):
                    code = -1
                else:
                    code = ndom
                    dom_start[ndom] = a
                    dom_len[ndom] = ln
                    ndom += 1
                table[slot] = nent
                hashes[nent] = h
                e_start[nent] = a
                e_len[nent] = ln
                e_code[nent] = code
                nent += 1
                codes[r] = code
                if 2 * nent > size:
                    size *= 2
                    mask = size - 1
                    table = _rehash(hashes, nent, size)
                break
            if hashes[t] == h and e_len[t] == ln:
                s = e_start[t]
                same = True
                for j in range(ln):
                    if buf[s + j] != buf[a + j]:
                        same = False
                        break
                if same:
                    codes[r] = e_code[t]
                    break
            slot = (slot + 1) & mask
    return ndom


@njit(nogil=True, cache=True)
def gather_domain(buf, dom_start, dom_len, ndom):
    """Copy the local levels into ``(offsets int64[ndom+1], data uint8[])``."""
    offsets = np.zeros(ndom + 1, dtype=np.int64)
    for k in range(ndom):
        offsets[k + 1] = offsets[k] + dom_len[k]
    data = np.empty(offsets[ndom], dtype=np.uint8)
    for k in range(ndom):
        s = dom_start[k]
        o = offsets[k]
        for j in range(dom_len[k]):
            data[o + j] = buf[s + j]
    return offsets, data


@njit(nogil=True, cache=True)
def gather_strings(buf, fs, fe, col, nrows, na_data, na_off):
    """Column ``col`` as strings: ``(offsets int64[nrows+1], data uint8[], na uint8[nrows])``.

    A field missing from a short row and an NA string are missing; an empty field is missing only
    when the empty string is one of the NA strings.
    """
    nna = na_off.shape[0] - 1
    offsets = np.zeros(nrows + 1, dtype=np.int64)
    na = np.zeros(nrows, dtype=np.uint8)
    for r in range(nrows):
        a = fs[r, col]
        b = fe[r, col]
        if a < 0 or is_na(buf, a, b, na_data, na_off, 0, nna):
            na[r] = 1
            offsets[r + 1] = offsets[r]
        else:
            offsets[r + 1] = offsets[r] + (b - a)
    data = np.empty(offsets[nrows], dtype=np.uint8)
    for r in range(nrows):
        if na[r] == 0:
            a = fs[r, col]
            o = offsets[r]
            for j in range(offsets[r + 1] - o):
                data[o + j] = buf[a + j]
    return offsets, data, na


@njit(nogil=True, cache=True)
def utf8_valid(data):
    """Whether ``data`` (IN uint8[n]) is valid UTF-8."""
    n = data.shape[0]
    i = 0
    while i < n:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            k = 1
        elif 0xE0 <= c <= 0xEF:
            k = 2
        elif 0xF0 <= c <= 0xF4:
            k = 3
        else:
            return False
        for j in range(1, k + 1):
            if i + j >= n or (data[i + j] & 0xC0) != 0x80:
                return False
        if k == 2:
            c1 = data[i + 1]
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F):
                return False
        elif k == 3:
            c1 = data[i + 1]
            if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
                return False
        i += k + 1
    return True


@njit(nogil=True, cache=True)
def remap_local_codes(codes, mapping, out):
    """``out[i] = mapping[codes[i]]`` (-1 stays -1). IN int32[n], IN int32[k], OUT int32[n]."""
    for i in range(codes.shape[0]):
        c = codes[i]
        out[i] = -1 if c < 0 else mapping[c]
