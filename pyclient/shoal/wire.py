"""SHOALCOL v1: the binary columnar format for bulk data (download and upload).

This module owns the byte layout, and nothing else: it depends on numpy only, so the server imports
it too and the format is written exactly once. The layout (little-endian)::

    0   b"SHOALCOL"
    8   uint32 version (1)
    12  uint32 header length H (UTF-8 JSON)
    16  header JSON, then zero padding to a multiple of 8
        buffers, each at an 8-byte aligned absolute offset given in the header

Header: ``{"nrow": N, "columns": [{"name", "type", "domain"?, "dtype"?, "buffers": {"data":
[offset, nbytes], "offsets"?: [...], "valid"?: [...]}}]}``.

Column dicts
------------
:func:`decode` returns one dict per column in the *wire* representation (zero-copy views on the
input buffer):

========  ===========================================================  =====================
type      keys                                                          missing
========  ===========================================================  =====================
real      ``data`` float64                                              NaN
int       ``data`` int32, or ``data`` float64 with ``dtype == "f8"``    INT32_MIN, or NaN
enum      ``data`` int32 codes, ``domain`` list[str]                     -1
string    ``offsets`` int64[N+1], ``data`` uint8 (UTF-8), ``valid`` u8   ``valid == 0``
time      ``data`` float64 ms since the epoch (UTC)                     NaN
bool      ``data`` int32 0/1                                            INT32_MIN
========  ===========================================================  =====================

:func:`encode_columns` / :func:`iter_encode` accept the same dicts, and also friendlier inputs that
they normalise (see :func:`normalize_column`): any integer/float array plus an optional boolean
``na`` mask for ``int``/``real``/``time``/``bool``, and for ``string`` a ``values`` sequence of
``str``/``None`` instead of the three buffers. Ints that do not fit int32 (or that equal INT32_MIN)
switch the column to the ``f8`` form, as the contract says.

Decoding validates everything it reads (sizes, offsets, alignment, code ranges), because the server
decodes bytes sent by clients; a malformed buffer raises :class:`WireFormatError`.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAGIC",
    "VERSION",
    "INT32_NA",
    "R_NA_REAL_BITS",
    "COLUMN_TYPES",
    "WireFormatError",
    "Encoded",
    "normalize_column",
    "prepare",
    "encode_columns",
    "iter_encode",
    "decode",
    "read_header",
    "missing_mask",
    "strings_to_object",
    "object_to_strings",
]

MAGIC = b"SHOALCOL"
VERSION = 1
INT32_NA = np.int32(-(2**31))
#: R's NA_real_: a quiet NaN with payload 1954. Written for every missing float64 so R sees NA.
R_NA_REAL_BITS = np.uint64(0x7FF00000000007A2)
COLUMN_TYPES = ("real", "int", "enum", "string", "time", "bool")

_PREFIX = struct.Struct("<8sII")
_MAX_HEADER_BYTES = 256 << 20
_INT32_MAX = 2**31 - 1
_INT32_MIN_VALID = -(2**31) + 1


class WireFormatError(ValueError):
    """The bytes are not a valid SHOALCOL v1 buffer, or a column cannot be encoded."""


def _pad8(n: int) -> int:
    return (-n) % 8


def _fill_r_na(data: np.ndarray, na: np.ndarray | None) -> np.ndarray:
    """float64 copy of ``data`` with R's NA bit pattern at ``na`` (and at every NaN)."""
    out = np.array(data, dtype="<f8", copy=True)
    mask = np.isnan(out)
    if na is not None:
        mask |= na
    if mask.any():
        out.view("<u8")[mask] = R_NA_REAL_BITS
    return out


def _as_mask(na: Any, n: int) -> np.ndarray | None:
    if na is None:
        return None
    mask = np.asarray(na, dtype=bool)
    if mask.shape != (n,):
        raise WireFormatError(f"Missing-value mask has shape {mask.shape}; expected ({n},).")
    return mask if mask.any() else None


def object_to_strings(values: Sequence[Any], na: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode a sequence of ``str`` / missing (None, NaN, pandas NA) as (offsets, data, valid).

    ``na``, when given, is the boolean missing mask (the values at those positions are ignored);
    passing it skips the per-value missing test. Non-string values are written as ``str(value)``.
    """
    vals = values.tolist() if isinstance(values, np.ndarray) else list(values)
    n = len(vals)
    if na is None:
        mask = [v is None or (isinstance(v, float) and v != v) or _is_pandas_na(v) for v in vals]
    else:
        mask = np.asarray(na, dtype=bool).tolist()
        if len(mask) != n:
            raise WireFormatError(f"Missing-value mask has {len(mask)} entries; expected {n}.")
    parts = [b"" if m else (v if type(v) is str else str(v)).encode("utf-8", "surrogatepass")
             for v, m in zip(vals, mask)]
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n:
        np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=n), out=offsets[1:])
    data = np.frombuffer(b"".join(parts), dtype=np.uint8)
    valid = np.logical_not(np.array(mask, dtype=bool)).astype(np.uint8) if n else np.zeros(0, np.uint8)
    return offsets, data, valid


def _is_pandas_na(v: Any) -> bool:
    # pandas.NA and NaT without importing pandas here.
    t = type(v).__name__
    return t in ("NAType", "NaTType")


def strings_to_object(col: dict) -> np.ndarray:
    """Decode a ``string`` column dict to an object array of ``str``, with ``None`` for missing."""
    offsets = col["offsets"]
    valid = col["valid"]
    raw = bytes(memoryview(col["data"]))
    n = len(valid)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    starts = offsets[:-1].tolist()
    ends = offsets[1:].tolist()
    if raw.isascii():
        # One decode for the whole buffer: byte offsets are character offsets.
        text = raw.decode("ascii")
        vals = [text[a:b] for a, b in zip(starts, ends)]
    else:
        vals = [raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)]
    out[:] = vals
    missing = valid == 0
    if missing.any():
        out[missing] = None
    return out


def missing_mask(col: dict) -> np.ndarray:
    """Boolean mask of the missing values of a column dict in wire representation."""
    t = col["type"]
    if t == "string":
        return np.asarray(col["valid"]) == 0
    data = np.asarray(col["data"])
    if t == "enum":
        return data < 0
    if data.dtype.kind == "f":
        return np.isnan(data)
    return data == INT32_NA


def normalize_column(col: dict, nrow: int) -> dict:
    """Return the wire representation of one column (see the module docstring).

    Raises
    ------
    WireFormatError
        Unknown type, wrong lengths, or values that the type cannot hold.
    """
    name = col.get("name")
    if not isinstance(name, str):
        raise WireFormatError(f"Column name must be a string; got {name!r}.")
    t = col.get("type")
    if t not in COLUMN_TYPES:
        raise WireFormatError(f"Column `{name}` has type {t!r}; allowed: {', '.join(COLUMN_TYPES)}.")
    out: dict[str, Any] = {"name": name, "type": t}

    if t == "string":
        if "values" in col:
            vals = col["values"]
            if len(vals) != nrow:
                raise WireFormatError(f"Column `{name}` has {len(vals)} values; expected {nrow}.")
            offsets, data, valid = object_to_strings(vals, col.get("na"))
        else:
            offsets = np.ascontiguousarray(col["offsets"], dtype="<i8")
            data = np.ascontiguousarray(col["data"], dtype=np.uint8)
            valid = col.get("valid")
            valid = (np.ones(nrow, dtype=np.uint8) if valid is None
                     else np.ascontiguousarray(valid, dtype=np.uint8))
            na = _as_mask(col.get("na"), nrow)
            if na is not None:
                valid = valid.copy()
                valid[na] = 0
        _check_strings(name, offsets, data, valid, nrow)
        out.update(offsets=offsets, data=data, valid=valid)
        return out

    data = np.asarray(col["data"])
    if data.ndim != 1 or len(data) != nrow:
        raise WireFormatError(f"Column `{name}` has shape {data.shape}; expected ({nrow},).")
    na = _as_mask(col.get("na"), nrow)

    if t == "enum":
        domain = col.get("domain")
        if domain is None or not all(isinstance(d, str) for d in domain):
            raise WireFormatError(f"Column `{name}` of type enum needs a `domain` list of strings.")
        codes = np.asarray(data)
        if codes.dtype.kind not in "iu":
            raise WireFormatError(f"Column `{name}`: enum codes must be integers; got {codes.dtype}.")
        codes = codes.astype("<i4")
        if na is not None:
            codes[na] = -1
        if nrow and (codes.min() < -1 or codes.max() >= len(domain)):
            raise WireFormatError(f"Column `{name}`: enum codes must be in [-1, {len(domain)}).")
        out.update(data=np.ascontiguousarray(codes), domain=list(domain))
        return out

    if t in ("real", "time"):
        if data.dtype.kind not in "iufb":
            raise WireFormatError(f"Column `{name}` of type {t} needs numbers; got {data.dtype}.")
        out["data"] = _fill_r_na(data, na)
        return out

    if t == "int" and (col.get("dtype") == "f8" or data.dtype.kind == "f"):
        vals = data.astype("<f8")
        finite = ~np.isnan(vals)
        if na is not None:
            finite &= ~na
        if np.any(vals[finite] != np.trunc(vals[finite])) or np.isinf(vals[finite]).any():
            raise WireFormatError(f"Column `{name}` of type int has non-integer values.")
        fits = (not finite.any()) or (vals[finite].min() >= _INT32_MIN_VALID
                                      and vals[finite].max() <= _INT32_MAX)
        if col.get("dtype") == "f8" or not fits:
            out.update(data=_fill_r_na(vals, na), dtype="f8")
            return out
        ints = np.where(finite, vals, 0).astype("<i4")
        ints[~finite] = INT32_NA
        out["data"] = ints
        return out

    if data.dtype.kind not in "iub":
        raise WireFormatError(f"Column `{name}` of type {t} needs integers; got {data.dtype}.")
    if t == "bool":
        vals = data.astype("<i4")
        if data.dtype.kind != "b" and nrow:
            ok = (vals == 0) | (vals == 1) | (vals == INT32_NA)
            if na is not None:
                ok |= na
            if not ok.all():
                raise WireFormatError(f"Column `{name}` of type bool must hold 0/1 only.")
        if na is not None:
            vals[na] = INT32_NA
        out["data"] = np.ascontiguousarray(vals)
        return out

    # int from an integer array
    if data.dtype == np.dtype("<i4") and na is None:
        out["data"] = np.ascontiguousarray(data)
        return out
    present = data if na is None else data[~na]
    fits = present.size == 0 or (int(present.min()) >= _INT32_MIN_VALID
                                 and int(present.max()) <= _INT32_MAX)
    if fits:
        vals = data.astype("<i4")
        if na is not None:
            vals[na] = INT32_NA
        out["data"] = np.ascontiguousarray(vals)
    else:
        out.update(data=_fill_r_na(data.astype("<f8"), na), dtype="f8")
    return out


def _check_strings(name: str, offsets: np.ndarray, data: np.ndarray, valid: np.ndarray,
                   nrow: int) -> None:
    if offsets.shape != (nrow + 1,) or valid.shape != (nrow,):
        raise WireFormatError(f"Column `{name}`: string offsets/valid sizes do not match {nrow} rows.")
    if offsets[0] != 0 or offsets[-1] != len(data):
        raise WireFormatError(f"Column `{name}`: string offsets must start at 0 and end at the data size.")
    if nrow and np.any(np.diff(offsets) < 0):
        raise WireFormatError(f"Column `{name}`: string offsets must not decrease.")


def _buffers_of(col: dict) -> list[tuple[str, np.ndarray]]:
    if col["type"] == "string":
        return [("offsets", col["offsets"]), ("data", col["data"]), ("valid", col["valid"])]
    return [("data", col["data"])]


class Encoded:
    """A prepared SHOALCOL buffer: its exact size is known before any byte is produced.

    ``pieces()`` yields ``bytes`` / ``memoryview`` pieces (header, buffers, padding) without
    concatenating the buffers, so an HTTP upload can stream it with a Content-Length.
    """

    def __init__(self, columns: list[dict], nrow: int):
        self.nrow = int(nrow)
        self.columns = [normalize_column(c, self.nrow) for c in columns]
        self._build_header()

    def _build_header(self) -> None:
        # The header holds the absolute offsets, whose values depend on the header's own length:
        # iterate until the padded header size is stable (twice at most in practice).
        base = _PREFIX.size
        guess = 0
        while True:
            pos = base + guess + _pad8(base + guess)
            cols_meta = []
            for c in self.columns:
                meta: dict[str, Any] = {"name": c["name"], "type": c["type"]}
                if "domain" in c:
                    meta["domain"] = c["domain"]
                if c.get("dtype"):
                    meta["dtype"] = c["dtype"]
                bufs = {}
                for key, arr in _buffers_of(c):
                    nb = int(arr.nbytes)
                    bufs[key] = [pos, nb]
                    pos += nb + _pad8(nb)
                meta["buffers"] = bufs
                cols_meta.append(meta)
            header = json.dumps({"nrow": self.nrow, "columns": cols_meta},
                                ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if len(header) + _pad8(base + len(header)) == guess + _pad8(base + guess):
                break
            guess = len(header)
        self.header = header
        self.nbytes = pos

    def pieces(self) -> Iterator[bytes | memoryview]:
        yield _PREFIX.pack(MAGIC, VERSION, len(self.header))
        yield self.header
        pad = _pad8(_PREFIX.size + len(self.header))
        if pad:
            yield b"\0" * pad
        for c in self.columns:
            for _key, arr in _buffers_of(c):
                if arr.nbytes:
                    yield memoryview(np.ascontiguousarray(arr)).cast("B")
                pad = _pad8(arr.nbytes)
                if pad:
                    yield b"\0" * pad

    def tobytes(self) -> bytes:
        return b"".join(self.pieces())


def prepare(columns: list[dict], nrow: int) -> Encoded:
    """Normalise the columns and lay out the buffer (see :class:`Encoded`)."""
    return Encoded(columns, nrow)


def encode_columns(columns: list[dict], nrow: int) -> bytes:
    """Encode column dicts into one SHOALCOL v1 ``bytes`` object."""
    return Encoded(columns, nrow).tobytes()


def iter_encode(columns: list[dict], nrow: int) -> Iterator[bytes | memoryview]:
    """Streaming variant of :func:`encode_columns`: yields the byte pieces in order."""
    return Encoded(columns, nrow).pieces()


def read_header(buf: bytes | bytearray | memoryview) -> tuple[dict, int]:
    """Parse and validate the fixed prefix and JSON header. Returns (header, header_end)."""
    mv = memoryview(buf).cast("B")
    if len(mv) < _PREFIX.size:
        raise WireFormatError("SHOALCOL buffer is shorter than its 16-byte prefix.")
    magic, version, hlen = _PREFIX.unpack_from(mv, 0)
    if magic != MAGIC:
        raise WireFormatError("Not a SHOALCOL buffer (bad magic bytes).")
    if version != VERSION:
        raise WireFormatError(f"SHOALCOL version {version} is not supported; this reader knows {VERSION}.")
    if hlen > _MAX_HEADER_BYTES or _PREFIX.size + hlen > len(mv):
        raise WireFormatError(f"SHOALCOL header length {hlen} does not fit the buffer.")
    try:
        header = json.loads(bytes(mv[_PREFIX.size:_PREFIX.size + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireFormatError(f"SHOALCOL header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("columns"), list):
        raise WireFormatError("SHOALCOL header must be an object with a `columns` list.")
    nrow = header.get("nrow")
    if not isinstance(nrow, int) or isinstance(nrow, bool) or nrow < 0:
        raise WireFormatError(f"SHOALCOL header `nrow` must be a non-negative integer; got {nrow!r}.")
    return header, _PREFIX.size + hlen


_BUFFER_DTYPES = {
    ("real", "data"): "<f8",
    ("time", "data"): "<f8",
    ("int", "data"): "<i4",
    ("bool", "data"): "<i4",
    ("enum", "data"): "<i4",
    ("string", "offsets"): "<i8",
    ("string", "data"): "u1",
    ("string", "valid"): "u1",
}


def decode(buf: bytes | bytearray | memoryview, validate: bool = True) -> tuple[int, list[dict]]:
    """Decode a SHOALCOL v1 buffer.

    Parameters
    ----------
    buf : bytes-like
        The whole buffer. The returned arrays are read-only views on it (no copy).
    validate : bool
        Check enum code ranges and string offsets (cost: one pass over those buffers).

    Returns
    -------
    (nrow, columns) : tuple[int, list[dict]]
        Column dicts in wire representation (see the module docstring).
    """
    header, header_end = read_header(buf)
    mv = memoryview(buf).cast("B")
    size = len(mv)
    nrow = header["nrow"]
    columns: list[dict] = []
    for i, meta in enumerate(header["columns"]):
        if not isinstance(meta, dict):
            raise WireFormatError(f"SHOALCOL column {i} is not an object.")
        name, t = meta.get("name"), meta.get("type")
        if not isinstance(name, str):
            raise WireFormatError(f"SHOALCOL column {i} has no string `name`.")
        if t not in COLUMN_TYPES:
            raise WireFormatError(f"SHOALCOL column `{name}` has unknown type {t!r}.")
        bufs = meta.get("buffers")
        if not isinstance(bufs, dict):
            raise WireFormatError(f"SHOALCOL column `{name}` has no `buffers` object.")
        col: dict[str, Any] = {"name": name, "type": t}
        dtype_tag = meta.get("dtype")
        keys = ("offsets", "data", "valid") if t == "string" else ("data",)
        for key in keys:
            loc = bufs.get(key)
            if (not isinstance(loc, list) or len(loc) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in loc)):
                raise WireFormatError(f"SHOALCOL column `{name}` buffer `{key}` must be [offset, nbytes].")
            off, nb = loc
            if off < header_end or nb < 0 or off + nb > size or off % 8:
                raise WireFormatError(f"SHOALCOL column `{name}` buffer `{key}` is out of bounds or unaligned.")
            dt = _BUFFER_DTYPES[(t, key)]
            if t == "int" and dtype_tag == "f8":
                dt = "<f8"
            elif dtype_tag not in (None, "i4") and not (t == "int" and dtype_tag == "f8"):
                raise WireFormatError(f"SHOALCOL column `{name}` has unknown dtype {dtype_tag!r}.")
            itemsize = np.dtype(dt).itemsize
            if nb % itemsize:
                raise WireFormatError(f"SHOALCOL column `{name}` buffer `{key}` size is not a multiple of {itemsize}.")
            arr = np.frombuffer(mv, dtype=dt, count=nb // itemsize, offset=off)
            expect = {"offsets": nrow + 1, "valid": nrow}.get(key, nrow if t != "string" else None)
            if expect is not None and len(arr) != expect:
                raise WireFormatError(
                    f"SHOALCOL column `{name}` buffer `{key}` holds {len(arr)} values; expected {expect}.")
            col[key] = arr
        if t == "int" and dtype_tag == "f8":
            col["dtype"] = "f8"
        if t == "enum":
            domain = meta.get("domain")
            if not isinstance(domain, list) or not all(isinstance(d, str) for d in domain):
                raise WireFormatError(f"SHOALCOL column `{name}` of type enum needs a `domain` list of strings.")
            col["domain"] = domain
            if validate and nrow:
                codes = col["data"]
                if codes.min() < -1 or codes.max() >= len(domain):
                    raise WireFormatError(f"SHOALCOL column `{name}` has enum codes outside [-1, {len(domain)}).")
        if t == "string" and validate:
            _check_strings(name, col["offsets"], col["data"], col["valid"], nrow)
        columns.append(col)
    return nrow, columns
