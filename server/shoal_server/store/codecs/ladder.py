"""The encoding ladder: the one function that studies a chunk's values and picks its encoding.

Technical note. ``choose_encoding`` makes one pass over the values with a numba kernel
(``study_real`` / ``study_int``) that gathers everything the decision needs: missing and zero
counts, min and max, whether every value is equal (bit-exact), integral (within +-2**53 for reals),
0/1, exactly representable in float32, and the smallest decimal scale ``s`` such that every value
equals ``round(x * 10**s) / 10**s`` bit for bit. From these facts the size of each applicable
dense encoding is known *without encoding*:

    constant 0 B < bool_bits n/8 (+ n/8 mask) < biased_int / scaled_decimal 1|2|4 B per row
    < float32 4 B < float64 / int64 8 B (+ n/8 mask for int64)

Candidates are tried in (size, ladder order) order; an encoder may still refuse (scaled_decimal
re-checks every value's round trip while packing) and the next candidate is taken, so the result
is always lossless. Then, when a default value (+0.0 or missing) leaves only ``k`` other rows and
``4k`` bytes of positions are below the best dense size, the ``k`` rows are encoded densely by the
same ladder and ``sparse`` wins if the total is smaller. Ties go to the earlier, cheaper-to-decode
rung. Enum chunks choose between ``constant`` and ``categorical``; strings always use ``strings``.

Exactness: ``-0.0`` counts as neither integral nor decimal (those rungs would give back ``+0.0``)
nor as the sparse default; int/time values are studied as int64, so every int64 (beyond 2**53
too) survives. Missing rows are NaN in real input and a mask otherwise; each codec keeps them as a
sentinel (the top value of its unsigned width), NaN, or a bit-packed mask.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ...errors import InvalidParameter
from ..chunk import Chunk
from ..types import ColType
from . import biased_int, bool_bits, categorical, constant, float32, float64, int64, scaled_decimal, sparse, strings
from .._gcpause import gc_paused
from ._common import unsigned_width

__all__ = ["choose_encoding", "choose_encodings", "study_real", "study_int"]

_POW10 = np.array([10.0 ** s for s in range(scaled_decimal.MAX_SCALE + 1)])
_TWO53 = 2.0 ** 53


@numba.njit(nogil=True, cache=True)
def _roundtrips(x, p):
    if abs(x) * p >= 4503599627370496.0:  # 2**52: q must stay an exact integer
        return False
    q = math.floor(x * p + 0.5)
    return q / p == x


@numba.njit(nogil=True, cache=True)
def study_real(v, pow10):
    """IN v float64[n] (NaN = missing), pow10 float64[S+1].

    Returns (n_na, n_pos_zero, n_zero, vmin, vmax, integral, is_f32, all_equal, scale); ``scale``
    is -1 when some value has no decimal scale <= S; vmin/vmax include +-inf.
    """
    n = v.shape[0]
    n_na = 0
    n_pzero = 0
    n_zero = 0
    vmin = np.inf
    vmax = -np.inf
    integral = True
    is_f32 = True
    all_equal = True
    have_first = False
    first = 0.0
    first_neg = False
    scale = 0
    max_scale = pow10.shape[0] - 1
    for i in range(n):
        x = v[i]
        if x != x:
            n_na += 1
            continue
        if x == 0.0:
            n_zero += 1
            if math.copysign(1.0, x) < 0.0:
                integral = False
                scale = -1
            else:
                n_pzero += 1
        if x < vmin:
            vmin = x
        if x > vmax:
            vmax = x
        if not have_first:
            have_first = True
            first = x
            first_neg = math.copysign(1.0, x) < 0.0
        elif all_equal and (x != first or (x == 0.0 and (math.copysign(1.0, x) < 0.0) != first_neg)):
            all_equal = False
        finite = abs(x) < np.inf
        if integral and (not finite or x != math.floor(x) or abs(x) > 9007199254740992.0):
            integral = False
        if is_f32 and np.float64(np.float32(x)) != x:
            is_f32 = False
        if scale >= 0 and not integral:  # integral values have scale 0
            if not finite:
                scale = -1
            elif not _roundtrips(x, pow10[scale]):
                s = scale + 1
                while s <= max_scale and not _roundtrips(x, pow10[s]):
                    s += 1
                scale = s if s <= max_scale else -1
    return n_na, n_pzero, n_zero, vmin, vmax, integral, is_f32, all_equal, scale


@numba.njit(nogil=True, cache=True)
def study_int(v, na, has_na):
    """IN v int64[n], na bool[n] (read when has_na). Returns (n_na, n_zero, vmin, vmax, all_equal)."""
    n = v.shape[0]
    n_na = 0
    n_zero = 0
    vmin = np.iinfo(np.int64).max
    vmax = np.iinfo(np.int64).min
    all_equal = True
    have_first = False
    first = np.int64(0)
    for i in range(n):
        if has_na and na[i]:
            n_na += 1
            continue
        x = v[i]
        if x == 0:
            n_zero += 1
        if x < vmin:
            vmin = x
        if x > vmax:
            vmax = x
        if not have_first:
            have_first = True
            first = x
        elif x != first:
            all_equal = False
    return n_na, n_zero, vmin, vmax, all_equal


_EMPTY_NA = np.zeros(0, dtype=np.bool_)


def _pick(cands: list) -> Chunk:
    """Build candidates in (size, order) order; the first that accepts wins."""
    for _size, _order, build in sorted(cands, key=lambda c: (c[0], c[1])):
        chunk = build()
        if chunk is not None:
            return chunk
    raise AssertionError("the ladder always ends with a fallback encoding")


def _encode_real(v: np.ndarray, allow_sparse: bool) -> Chunk:
    n = v.shape[0]
    n_na, n_pzero, _nz, vmin, vmax, integral, is_f32, all_equal, scale = study_real(v, _POW10)
    if n_na == n:
        return constant.encode("real", n, None)
    if n_na == 0 and all_equal:
        return constant.encode("real", n, v[0])
    mask_bytes = (n + 7) // 8 if n_na else 0
    cands = [(8 * n, 6, lambda: float64.encode(v))]
    if integral and vmin >= 0.0 and vmax <= 1.0:
        cands.append(((n + 7) // 8 + mask_bytes, 1,
                      lambda: bool_bits.encode("real", v == 1.0, np.isnan(v) if n_na else None)))
    if integral:
        spec = unsigned_width(int(vmax) - int(vmin))
        if spec is not None:
            cands.append((spec[0] * n, 2, lambda: biased_int.encode_real(v, vmin, vmax)))
    elif scale >= 1:
        _bias, span = scaled_decimal.span_at(vmin, vmax, scale)
        spec = unsigned_width(span)
        if spec is not None:
            cands.append((spec[0] * n, 3, lambda: scaled_decimal.encode(v, vmin, vmax, scale)))
    if is_f32:
        cands.append((4 * n, 4, lambda: float32.encode(v)))
    best = _pick(cands)
    if allow_sparse:
        best = _maybe_sparse(best, "real", n, n - n_pzero, n - n_na,
                             lambda: (v != 0.0) | np.signbit(v), lambda: ~np.isnan(v),
                             lambda pos: _encode_real(v[pos], False))
    return best


def _encode_int(t: ColType, v: np.ndarray, na, allow_sparse: bool) -> Chunk:
    n = v.shape[0]
    has_na = na is not None
    n_na, n_zero, vmin, vmax, all_equal = study_int(v, na if has_na else _EMPTY_NA, has_na)
    if n_na == n:
        return constant.encode(t.value, n, None)
    if n_na == 0 and all_equal:
        return constant.encode(t.value, n, int(v[0]))
    na_arg = na if n_na else None
    mask_bytes = (n + 7) // 8 if n_na else 0
    cands = []
    if vmin >= 0 and vmax <= 1:
        cands.append(((n + 7) // 8 + mask_bytes, 1, lambda: bool_bits.encode(t.value, v, na_arg)))
    if t is not ColType.BOOL:
        spec = unsigned_width(int(vmax) - int(vmin))
        if spec is not None:
            cands.append((spec[0] * n, 2, lambda: biased_int.encode_int(t.value, v, na_arg, int(vmin), int(vmax))))
        cands.append((8 * n + mask_bytes, 6, lambda: int64.encode(t.value, v, na_arg)))
    best = _pick(cands)
    if allow_sparse:
        best = _maybe_sparse(
            best, t.value, n, n - n_zero, n - n_na,
            lambda: (v != 0) | na if n_na else v != 0,
            lambda: ~na,
            lambda pos: _encode_int(t, v[pos], na[pos] if n_na else None, False))
    return best


def _maybe_sparse(best: Chunk, coltype: str, n: int, k_zero: int, k_missing: int,
                  listed_zero, listed_missing, encode_listed) -> Chunk:
    """Replace ``best`` by a sparse chunk when positions + nested values are smaller."""
    budget = best.nbytes
    for default, k, listed in (("zero", k_zero, listed_zero), ("missing", k_missing, listed_missing)):
        if k == n or 4 * k >= budget:
            continue
        pos = np.flatnonzero(listed()).astype(np.int32)
        inner = encode_listed(pos)
        if 4 * k + inner.nbytes < budget:
            best = sparse.encode(coltype, n, pos, inner, default)
            budget = best.nbytes
    return best


def _encode_enum(codes: np.ndarray) -> Chunk:
    n = codes.shape[0]
    if n == 0:
        return constant.encode("enum", 0, None)
    cmin, cmax = int(codes.min()), int(codes.max())
    if cmin == cmax:
        return constant.encode("enum", n, None if cmax < 0 else cmax)
    return categorical.encode(codes, cmax)


def _na_mask(na, n: int):
    if na is None:
        return None
    mask = np.ascontiguousarray(na, dtype=np.bool_)
    if mask.shape != (n,):
        raise InvalidParameter(f"The missing mask has {mask.shape[0] if mask.ndim else 0} entries; "
                               f"the values have {n}.")
    return mask if mask.any() else None


def choose_encoding(coltype, values, na=None) -> Chunk:
    """Study ``values`` and return them as a chunk in the smallest lossless encoding.

    Parameters
    ----------
    coltype : ColType or str
    values : numpy array, or ``(offsets, data)`` for ``string``
        ``real``: float64 (NaN is missing); ``int``/``time``: int64 (or float64 holding
        integers, NaN missing); ``bool``: 0/1 integers; ``enum``: int32 codes, -1 missing.
    na : bool array or None
        Extra missing mask (ignored for ``enum``).
    """
    t = ColType(coltype)
    if t is ColType.STRING:
        offsets, data = values
        n = len(offsets) - 1
        return strings.encode(offsets, data, _na_mask(na, n))
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidParameter(f"Column values must be one-dimensional; got shape {arr.shape}.")
    n = arr.shape[0]
    if t is ColType.ENUM:
        codes = np.ascontiguousarray(arr, dtype=np.int32)
        if n and codes.min() < -1:
            codes = np.where(codes < 0, np.int32(-1), codes)
        return _encode_enum(codes)
    mask = _na_mask(na, n)
    if t is ColType.REAL:
        v = np.ascontiguousarray(arr, dtype=np.float64)
        if mask is not None:
            if v is arr or v.base is not None:  # never write into the caller's array
                v = v.copy()
            v[mask] = np.nan
        return _encode_real(v, True)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            mask = nan if mask is None else (mask | nan)
        check = arr if mask is None else np.where(mask, 0.0, arr)
        if not np.array_equal(check, np.trunc(check)) or (np.abs(check) > 2.0 ** 63).any():
            raise InvalidParameter(f"A {t.value} column got non-integral values.")
        arr = check
    if t is ColType.BOOL:
        v = (arr != 0).astype(np.int64)
    else:
        v = np.ascontiguousarray(arr, dtype=np.int64)
    # Values under the mask are never read: every integer codec stores missing rows by mask or sentinel.
    return _encode_int(t, v, mask, True)


@numba.njit(nogil=True, cache=True)
def _constant_rows(v, na, rows, is_real, state):
    """IN v float64 or int64[k, n], na bool[k, n], rows int64[m]; OUT state int8[m].

    ``state[j]`` for row ``rows[j]``: 1 when every value is missing (``na``, or NaN for reals), 2
    when none is and all are equal (bit-exact for reals, as ``study_real``/``study_int`` decide),
    0 otherwise (the row takes the full ladder).
    """
    n = v.shape[1]
    zero = np.zeros(1, dtype=v.dtype)[0]
    for j in range(rows.shape[0]):
        r = rows[j]
        n_na = 0
        have = False
        equal = True
        first = zero
        for i in range(n):
            x = v[r, i]
            if na[r, i] or (is_real and x != x):
                n_na += 1
            elif not have:
                have = True
                first = x
            elif x != first or (is_real and x == 0 and math.copysign(1.0, x) != math.copysign(1.0, first)):
                equal = False
            if (have and n_na) or not equal:
                break
        if not have:
            state[j] = 1
        elif n_na == 0 and equal:
            state[j] = 2
        else:
            state[j] = 0


def choose_encodings(coltype, values: np.ndarray, na: np.ndarray, rows=None, check=None) -> list:
    """``[choose_encoding(coltype, values[r], na[r]) for r in rows]``, the same chunks, faster.

    ``values`` float64 (``real``) or int64 (``int``/``time``) ``[k, n]``, ``na`` bool ``[k, n]``.
    One kernel call finds the rows that are constant or all missing (every row of a wide file with
    a few records) and builds those chunks directly; the others take the full ladder. ``check`` is
    called every 256 full-ladder rows (cancellation).
    """
    t = ColType(coltype)
    rows = list(range(values.shape[0])) if rows is None else list(rows)
    is_real = t is ColType.REAL
    want = np.dtype(np.float64) if is_real else np.dtype(np.int64)
    if (t not in (ColType.REAL, ColType.INT, ColType.TIME) or values.ndim != 2 or na.shape != values.shape
            or values.dtype != want):
        return [choose_encoding(t, values[r], na[r]) for r in rows]
    v = np.ascontiguousarray(values)
    mask = np.ascontiguousarray(na, dtype=np.bool_)
    state = np.zeros(len(rows), dtype=np.int8)
    _constant_rows(v, mask, np.asarray(rows, dtype=np.int64), is_real, state)
    n = v.shape[1]
    firsts = v[:, 0].tolist() if n else None
    out: list = []
    with gc_paused(len(rows) >= 1000):
        _build(out, t, values, na, n, rows, state.tolist(), firsts, check)
    return out


def _build(out: list, t: ColType, values, na, n: int, rows, state, firsts, check) -> None:
    tv = t.value
    slow = 0
    for r, s in zip(rows, state):
        if s == 1:
            out.append(Chunk(constant.NAME, n, (), {"type": tv, "value": None}))
        elif s == 2:
            out.append(Chunk(constant.NAME, n, (), {"type": tv, "value": firsts[r]}))
        else:
            out.append(choose_encoding(t, values[r], na[r]))
            slow += 1
            if check is not None and slow % 256 == 0:
                check()
