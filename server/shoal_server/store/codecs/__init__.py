"""Chunk codecs: the only entry points the rest of the server uses to encode and decode chunks.

One module per encoding (``constant``, ``biased_int``, ``scaled_decimal``, ``float32``,
``float64``, ``int64``, ``bool_bits``, ``sparse``, ``categorical``, ``strings``); ``ladder`` holds
the one function that picks the encoding. Decoders write into a caller-provided ``out`` buffer
when given (so kernels can reuse one buffer across chunks).
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidParameter, ShoalError
from ..chunk import Chunk
from ..types import ColType
from . import biased_int, bool_bits, categorical, constant, float32, float64, int64, scaled_decimal, sparse, strings
from .ladder import choose_encoding, choose_encodings

__all__ = ["encode", "encode_many", "decode_float64", "decode_int64", "decode_codes", "decode_strings", "remap_codes",
           "CODECS", "warm"]

#: Every codec name a chunk may carry.
CODECS = (constant.NAME, biased_int.NAME, scaled_decimal.NAME, float32.NAME, float64.NAME, int64.NAME,
          bool_bits.NAME, sparse.NAME, categorical.NAME, strings.NAME)

_FLOAT = {m.NAME: m.decode_float64 for m in (constant, biased_int, scaled_decimal, float32, float64, int64,
                                              bool_bits)}
_INT = {m.NAME: m.decode_int64 for m in (constant, biased_int, int64, bool_bits)}
_INT_TYPES = ("int", "time", "bool", "enum")
#: Codecs whose first buffer holds one entry per row.
_ROW_BUFFER = {biased_int.NAME, scaled_decimal.NAME, float32.NAME, float64.NAME, int64.NAME, categorical.NAME}
_U8, _U16, _U32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32)
_NARROW = (_U8, _U16, _U32)
#: Allowed dtypes of each buffer, per codec (sparse: positions only; its nested chunk is checked on decode).
_DTYPES = {constant.NAME: (), biased_int.NAME: (_NARROW,), scaled_decimal.NAME: (_NARROW,),
           float32.NAME: ((np.dtype(np.float32),),), float64.NAME: ((np.dtype(np.float64),),),
           int64.NAME: ((np.dtype(np.int64),), (_U8,)), bool_bits.NAME: ((_U8,), (_U8,)),
           categorical.NAME: ((_U8, _U16, np.dtype(np.int32)),),
           strings.NAME: ((_U16, _U32, np.dtype(np.int64)), (_U8,), (_U8,))}


def _check(chunk: Chunk) -> None:
    """Refuse a chunk whose buffers do not fit its row count (e.g. a corrupt one from the wire)."""
    codec, n, bufs = chunk.codec, chunk.nrows, chunk.buffers
    ok = codec in CODECS and n >= 0
    if ok and codec in _DTYPES:
        allowed = _DTYPES[codec]
        ok = len(bufs) == len(allowed) and all(b.dtype in a for b, a in zip(bufs, allowed))
    if ok and codec in _ROW_BUFFER:
        ok = bufs[0].shape == (n,)
    elif ok and codec == bool_bits.NAME:
        ok = bufs[0].size * 8 >= n and bufs[1].size in (0, (n + 7) // 8)
    elif ok and codec == strings.NAME:
        off = bufs[0]
        ok = off.shape == (n + 1,) and (n == 0 or (int(off[0]) == 0 and int(off[-1]) <= bufs[1].size
                                                  and not (np.diff(off.astype(np.int64)) < 0).any()))
    elif ok and codec == sparse.NAME:
        pos = bufs[0] if bufs else np.zeros(0, np.int32)
        ok = (len(bufs) >= 1 and pos.dtype == np.int32 and pos.size == int(chunk.meta.get("inner_nrows", -1))
              and (pos.size == 0 or (int(pos.min()) >= 0 and int(pos.max()) < n)))
    if not ok:
        raise ShoalError(f"A {codec} chunk of {n} rows has buffers that do not match; the chunk is corrupt.",
                         {"codec": str(codec), "nrows": int(n)})


def encode(coltype, values, na=None) -> Chunk:
    """Encode one chunk of a column in the smallest lossless encoding (see ``codecs.ladder``).

    ``real``/``int``: float64 or int64 ``values`` + optional ``na`` mask; ``time``: int64 ms + ``na``;
    ``bool``: 0/1 integers + ``na``; ``enum``: int32 codes, -1 missing (``na`` ignored);
    ``string``: ``values = (offsets int64[n+1], data uint8[])`` + ``na``.
    """
    return choose_encoding(coltype, values, na)


def encode_many(coltype, values: np.ndarray, na: np.ndarray, rows=None, check=None) -> list[Chunk]:
    """``[encode(coltype, values[r], na[r]) for r in rows]`` (same chunks) for 2-D ``values`` / ``na``.

    For many short columns at once (a wide file's ranges): constant and all-missing rows are found
    by one kernel call instead of one ladder per column. ``rows`` defaults to every row; ``check``
    is called now and then (cancellation).
    """
    return choose_encodings(coltype, values, na, rows, check)


def _out(out, n: int, dtype) -> np.ndarray:
    if out is None:
        return np.empty(n, dtype=dtype)
    if out.shape != (n,) or out.dtype != dtype:
        raise ValueError(f"out must be {np.dtype(dtype).name}[{n}]; got {out.dtype.name}{list(out.shape)}")
    return out


def decode_float64(chunk: Chunk, out: np.ndarray | None = None) -> np.ndarray:
    """float64[n] of the chunk's values, NaN where missing (every type but ``string``)."""
    _check(chunk)
    out = _out(out, chunk.nrows, np.float64)
    codec = chunk.codec
    if codec == sparse.NAME:
        sparse.scatter_float64(chunk, decode_float64(sparse.inner_chunk(chunk)), out)
    elif codec == categorical.NAME:
        codes = decode_codes(chunk)
        np.copyto(out, codes, casting="unsafe")
        out[codes < 0] = np.nan
    elif codec in _FLOAT:
        _FLOAT[codec](chunk, out)
    else:
        raise InvalidParameter(f"A {chunk.meta.get('type')} chunk ({codec}) has no numeric values.")
    return out


def decode_int64(chunk: Chunk, out: np.ndarray | None = None,
                 na: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(int64[n], na bool[n])`` for int, time, bool and enum chunks; values are 0 where missing."""
    if chunk.meta.get("type") not in _INT_TYPES:
        raise InvalidParameter(f"decode_int64 reads int, time, bool or enum chunks; got {chunk.meta.get('type')}.")
    _check(chunk)
    n = chunk.nrows
    out = _out(out, n, np.int64)
    na = _out(na, n, np.bool_)
    codec = chunk.codec
    if codec == sparse.NAME:
        vals, inner_na = decode_int64(sparse.inner_chunk(chunk))
        sparse.scatter_int64(chunk, vals, inner_na, out, na)
    elif codec == categorical.NAME:
        codes = decode_codes(chunk)
        np.less(codes, 0, out=na)
        np.copyto(out, codes, casting="unsafe")
        out[na] = 0
    elif codec in _INT:
        _INT[codec](chunk, out, na)
    else:
        raise InvalidParameter(f"A {codec} chunk has no integer values.")
    return out, na


def decode_codes(chunk: Chunk, out: np.ndarray | None = None) -> np.ndarray:
    """int32[n] enum codes, -1 where missing."""
    if chunk.meta.get("type") != "enum":
        raise InvalidParameter(f"decode_codes reads enum chunks; got {chunk.meta.get('type')}.")
    _check(chunk)
    out = _out(out, chunk.nrows, np.int32)
    if chunk.codec == constant.NAME:
        value = chunk.meta["value"]
        out[:] = -1 if value is None else value
    else:
        categorical.decode_codes(chunk, out)
    return out


def decode_strings(chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(offsets int64[n+1], data uint8[], na bool[n])`` of a string chunk."""
    if chunk.codec != strings.NAME:
        raise InvalidParameter(f"decode_strings reads string chunks; got {chunk.meta.get('type')}.")
    _check(chunk)
    return strings.decode_strings(chunk)


def remap_codes(chunk: Chunk, mapping: np.ndarray) -> Chunk:
    """A new enum chunk with every code ``c`` replaced by ``mapping[c]`` (missing stays missing)."""
    codes = decode_codes(chunk)
    table = np.append(np.asarray(mapping, dtype=np.int32), np.int32(-1))
    if codes.size and int(codes.max()) >= len(table) - 1:
        raise InvalidParameter(f"Code {int(codes.max())} has no entry in a mapping of {len(table) - 1} codes.")
    return choose_encoding(ColType.ENUM, table[codes])


def warm() -> None:
    """Compile (or load from numba's cache) every codec kernel by a round trip of tiny chunks."""
    samples = [
        ("real", np.array([1.0, 2.0, np.nan, 1.0])), ("real", np.array([0.5, 1.25, np.nan, 7.0])),
        ("real", np.array([0.1, 2.0, np.nan])), ("real", np.array([1.0, 70000.0, 5e9, np.nan])),
        ("real", np.array([1.0, 70000.0, 3.0, np.nan])), ("real", np.array([0.5, 700.25, 3.0, np.nan])),
        ("real", np.array([0.5, 70000.25, 3.0, np.nan])), ("int", np.array([1, 70000, 5, 0])),
        ("int", np.array([1, 300, 5, 2])), ("int", np.array([1, 70000, 2**40, 5])),
        ("int", np.array([7, 9, 9, 260])), ("time", np.array([0, 2**40])), ("bool", np.array([0, 1, 1])),
        ("real", np.array([0.0] * 64 + [1.5])), ("enum", np.array([0, 300, -1], dtype=np.int32)),
        ("enum", np.array([0, 70000, -1], dtype=np.int32)), ("enum", np.array([0, 3, -1], dtype=np.int32)),
    ]
    for coltype, values in (("real", np.array([[1.0, 1.0], [0.5, np.nan]])), ("int", np.array([[1, 1], [2, 3]]))):
        encode_many(coltype, values, np.zeros(values.shape, dtype=np.bool_))
    for coltype, values in samples:
        na = np.zeros(len(values), dtype=np.bool_)
        na[-1] = coltype in ("int", "time")
        chunk = encode(coltype, values, na)
        decode_float64(chunk)
        if coltype != "real":
            decode_int64(chunk)
