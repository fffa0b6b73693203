"""pandas ⇄ SHOALCOL column dicts: the type mapping between pandas and Shoal, written once.

Download (:func:`frame_to_pandas`), like ``pandas.read_csv`` would type the same data:

=============  ==============================================================
Shoal type     pandas dtype
=============  ==============================================================
real           float64 (NaN for missing)
int (i4)       int64; float64 with NaN when a value is missing
int (f8)       int64; float64 with NaN when a value is missing
enum           Categorical whose categories are the domain, in domain order (string categories)
string         object (pandas < 3) or the default ``str`` dtype (pandas ≥ 3), NaN for missing
time           datetime64[ms] (UTC, naive), NaT for missing
bool           bool; pandas ``"boolean"`` (with ``pd.NA``) when a value is missing
=============  ==============================================================

Upload (:func:`pandas_to_columns`): integer dtypes (also nullable ``Int*``) → int, floats → real,
bool / ``"boolean"`` → bool, category → enum, datetime64 (tz-aware converted to UTC) → time,
``str`` → string. An ``object`` column is typed by what it holds (bools → bool, ints → int,
floats → real, dates → time, anything else → string).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import wire

__all__ = ["frame_to_pandas", "pandas_to_columns", "to_pandas_frame", "column_to_series", "STRING_DTYPE"]

#: What ``pandas.read_csv`` gives for text: ``object`` before pandas 3, the default ``str`` dtype
#: (NaN for missing) from pandas 3 on. Strings and enum levels come back in this dtype.
STRING_DTYPE = object if int(pd.__version__.split(".")[0]) < 3 else str


def column_to_series(col: dict, nrow: int) -> pd.Series:
    """One wire column dict (from :func:`shoal.wire.decode`) → pandas Series named like the column."""
    t, name = col["type"], col["name"]
    if t == "real":
        return pd.Series(np.array(col["data"], dtype=np.float64), name=name, copy=False)
    if t == "int":
        data = col["data"]
        if col.get("dtype") == "f8":
            na = np.isnan(data)
            if na.any():
                return pd.Series(np.array(data, dtype=np.float64), name=name, copy=False)
            return pd.Series(data.astype(np.int64), name=name, copy=False)
        na = data == wire.INT32_NA
        if na.any():
            vals = data.astype(np.float64)
            vals[na] = np.nan
            return pd.Series(vals, name=name, copy=False)
        return pd.Series(data.astype(np.int64), name=name, copy=False)
    if t == "enum":
        cat = pd.Categorical.from_codes(np.asarray(col["data"], dtype=np.int64),
                                        categories=pd.Index(col["domain"], dtype=STRING_DTYPE))
        return pd.Series(cat, name=name, copy=False)
    if t == "string":
        vals = _arrow_to_object(col)
        if vals is None:
            vals = wire.strings_to_object(col)
        missing = np.asarray(col["valid"]) == 0
        if missing.any():
            vals[missing] = np.nan
        return pd.Series(vals, name=name, dtype=STRING_DTYPE, copy=False)
    if t == "time":
        data = col["data"]
        na = np.isnan(data)
        ms = np.where(na, 0, data).astype(np.int64)
        out = ms.view("datetime64[ms]").copy()
        out[na] = np.datetime64("NaT")
        return pd.Series(out, name=name, copy=False)
    if t == "bool":
        data = col["data"]
        na = data == wire.INT32_NA
        if na.any():
            arr = pd.arrays.BooleanArray(data == 1, na)
            return pd.Series(arr, name=name, copy=False)
        return pd.Series(data == 1, name=name, copy=False)
    raise wire.WireFormatError(f"Unknown column type {t!r}.")


def _arrow_to_object(col: dict) -> np.ndarray | None:
    """Fast string decode through pyarrow when it is installed (None: use the pure-Python path)."""
    try:
        import pyarrow as pa
    except ImportError:
        return None
    valid = np.asarray(col["valid"]).astype(bool)
    n = len(valid)
    nulls = n - int(valid.sum())
    try:
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.ascontiguousarray(col["offsets"])),
                                               pa.py_buffer(np.ascontiguousarray(col["data"])), bitmap, nulls)
        arr.validate(full=True)
        return arr.to_numpy(zero_copy_only=False)
    except (pa.ArrowException, ValueError):
        return None


def frame_to_pandas(nrow: int, columns: list[dict]) -> pd.DataFrame:
    """Decoded SHOALCOL columns → a pandas DataFrame (see the module docstring for the types)."""
    series = [column_to_series(c, nrow) for c in columns]
    if not series:
        return pd.DataFrame(index=pd.RangeIndex(nrow))
    df = pd.concat(series, axis=1)
    df.columns = [c["name"] for c in columns]  # keep duplicates and exact names
    return df


def to_pandas_frame(buf: bytes | bytearray | memoryview) -> pd.DataFrame:
    """Decode a SHOALCOL buffer straight into a pandas DataFrame."""
    nrow, cols = wire.decode(buf)
    return frame_to_pandas(nrow, cols)


def _as_dataframe(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else "C1")
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if isinstance(data, np.ndarray):
        if data.dtype.names:  # structured array
            return pd.DataFrame(data)
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2:
            raise ValueError(f"A numpy array to upload must be 1-D or 2-D; got {data.ndim}-D.")
        return pd.DataFrame(data, columns=[f"C{i + 1}" for i in range(data.shape[1])])
    if isinstance(data, (list, tuple)):
        return pd.DataFrame(data)
    raise TypeError(f"Cannot upload a {type(data).__name__}; pass a pandas DataFrame, a dict of "
                    "columns or a numpy array.")


def _series_to_column(name: str, s: pd.Series) -> dict:
    dtype = s.dtype
    n = len(s)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = [str(c) for c in dtype.categories]
        return {"name": name, "type": "enum", "data": s.cat.codes.to_numpy(dtype=np.int32),
                "domain": cats}
    if pd.api.types.is_bool_dtype(dtype):
        if isinstance(dtype, np.dtype):
            return {"name": name, "type": "bool", "data": s.to_numpy(dtype=np.int32)}
        na = s.isna().to_numpy()
        vals = s.fillna(False).to_numpy(dtype=np.int32)
        return {"name": name, "type": "bool", "data": vals, "na": na}
    if pd.api.types.is_integer_dtype(dtype):
        na = s.isna().to_numpy()
        if isinstance(dtype, np.dtype):
            vals = s.to_numpy()
        else:
            vals = s.to_numpy(dtype=np.float64 if dtype.kind == "u" and dtype.itemsize == 8 else np.int64,
                              na_value=0)
        if vals.dtype.kind == "u" and vals.dtype.itemsize == 8 and n and vals.max() > np.iinfo(np.int64).max:
            vals = vals.astype(np.float64)
        return {"name": name, "type": "int", "data": vals, "na": na if na.any() else None}
    if pd.api.types.is_float_dtype(dtype):
        na = s.isna().to_numpy()
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return {"name": name, "type": "real", "data": vals, "na": na if na.any() else None}
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        na = s.isna().to_numpy()
        ms = s.to_numpy(dtype="datetime64[ms]").view(np.int64)
        return {"name": name, "type": "time", "data": ms.astype(np.float64), "na": na}
    if dtype == object:
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred == "boolean":
            return _series_to_column(name, s.astype("boolean"))
        if inferred == "integer":
            return _series_to_column(name, s.astype("Int64"))
        if inferred in ("floating", "mixed-integer-float", "decimal"):
            return _series_to_column(name, s.astype("float64"))
        if inferred in ("datetime64", "datetime", "date"):
            return _series_to_column(name, pd.to_datetime(s, utc=True))
    fast = _arrow_strings(s)
    if fast is not None:
        offsets, data, valid = fast
        return {"name": name, "type": "string", "offsets": offsets, "data": data, "valid": valid}
    na = s.isna().to_numpy()
    return {"name": name, "type": "string", "values": s.to_numpy(dtype=object), "na": na}


def _arrow_strings(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Zero-parse path for pandas strings stored in Arrow (the default ``str`` dtype of pandas 3):
    Arrow's offsets + UTF-8 data are already the SHOALCOL string layout."""
    if "Arrow" not in type(s.array).__name__:
        return None
    try:
        import pyarrow as pa

        arr = pa.array(s.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return None
        arr = arr.cast(pa.large_string())
    except Exception:  # any surprise: fall back to the generic path
        return None
    n = len(arr)
    validity, offs_buf, data_buf = arr.buffers()
    offs = np.frombuffer(offs_buf, dtype="<i8")[arr.offset:arr.offset + n + 1]
    base = int(offs[0]) if n else 0
    end = int(offs[-1]) if n else 0
    data = np.frombuffer(data_buf, dtype=np.uint8)[base:end] if data_buf is not None else np.zeros(0, np.uint8)
    offsets = offs - base
    if validity is None or arr.null_count == 0:
        valid = np.ones(n, dtype=np.uint8)
    else:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        valid = bits[arr.offset:arr.offset + n].astype(np.uint8)
    return offsets, np.ascontiguousarray(data), valid


def pandas_to_columns(data: Any, column_types: dict | list | None = None) -> tuple[int, list[dict]]:
    """A DataFrame, dict of columns, Series or numpy array → ``(nrow, column dicts)`` for upload.

    Parameters
    ----------
    data : pandas.DataFrame | dict | numpy.ndarray | pandas.Series
        The data to upload. A 2-D array gets the names ``C1``, ``C2``, ... like H2O-3.
    column_types : dict[str, str] | list[str], optional
        Force Shoal types for some columns (``"enum"``, ``"string"``, ``"real"``, ``"int"``,
        ``"time"``, ``"bool"``), by name (dict) or in order (list).
    """
    df = _as_dataframe(data)
    names = [str(c) for c in df.columns]
    forced: dict[str, str] = {}
    if isinstance(column_types, dict):
        forced = {str(k): v for k, v in column_types.items()}
    elif column_types is not None:
        if len(column_types) != len(names):
            raise ValueError(f"column_types has {len(column_types)} entries; the data has {len(names)} columns.")
        forced = dict(zip(names, column_types))
    unknown = [k for k in forced if k not in names]
    if unknown:
        raise ValueError(f"column_types names columns that are not in the data: {', '.join(unknown)} "
                         f"(columns: {', '.join(names)}).")
    cols = []
    for i, name in enumerate(names):
        s = df.iloc[:, i]
        want = forced.get(name)
        if want is not None:
            s = _coerce(s, want, name)
        cols.append(_series_to_column(name, s))
    return len(df), cols


def _coerce(s: pd.Series, want: str, name: str) -> pd.Series:
    if want == "enum":
        if isinstance(s.dtype, pd.CategoricalDtype):
            return s
        return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v)).astype("category")
    if want == "string":
        return s.astype(object).where(s.notna(), None)
    if want == "real":
        return pd.to_numeric(s, errors="raise").astype("float64")
    if want == "int":
        return pd.to_numeric(s, errors="raise").astype("Int64")
    if want == "time":
        return pd.to_datetime(s)
    if want == "bool":
        return s.astype("boolean")
    raise ValueError(f"column_types[{name!r}] must be one of {', '.join(wire.COLUMN_TYPES)}; got {want!r}.")
