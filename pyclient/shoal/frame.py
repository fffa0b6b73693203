"""``Frame``: a handle on a frame held by the cluster (its key plus cached metadata).

Each method is one API call (through the generated wrappers); results are computed on the server.
Bulk data moves through the SHOALCOL binary path (:mod:`shoal.wire`): ``as_data_frame`` downloads,
``Frame(df)`` uploads.
"""
from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from . import convert, wire
from ._generated import operations as ops
from .connection import Connection, current_connection

__all__ = ["Frame"]

#: summary column → keys in the server's Column (current name first)
_SUMMARY_FIELDS = {"min": ("min",), "max": ("max",), "mean": ("mean",), "sd": ("sd",),
                   "missing": ("missing_count", "missing"), "zeros": ("zero_count", "zeros"),
                   "+inf": ("pinf_count", "pinf"), "-inf": ("ninf_count", "ninf"),
                   "cardinality": ("cardinality",)}


class Frame:
    """A frame on a Shoal cluster.

    ``Frame(data)`` uploads ``data`` (a pandas DataFrame, a dict of columns, a numpy array) and
    returns the new frame; ``shoal.get_frame(key)`` / ``shoal.import_file(...)`` return frames that
    already exist.

    Parameters
    ----------
    data : pandas.DataFrame | dict | numpy.ndarray
        The data to upload. Types: ints → int, floats → real, bool → bool, category → enum,
        datetime64 → time, str/object → string.
    destination_frame : str, optional
        Key of the new frame; default: a key chosen by the server.
    column_types : dict | list, optional
        Force Shoal types for some columns, by name (dict) or in order (list).
    """

    def __init__(self, data: Any = None, destination_frame: str | None = None,
                 column_types: dict | list | None = None, *, conn: Connection | None = None):
        self._conn = conn if conn is not None else current_connection()
        self._info: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        if data is None:
            if destination_frame is None:
                raise TypeError("Frame() needs data to upload, e.g. Frame(pandas_df); "
                                "use shoal.get_frame(key) for an existing frame.")
            self._key = destination_frame
            return
        nrow, cols = convert.pandas_to_columns(data, column_types)
        enc = wire.prepare(cols, nrow)
        res = ops.upload_frame(self.conn, enc.pieces(), destination_frame=destination_frame,
                               total=enc.nbytes, content_type="application/x-shoalcol")
        self._info = res["frame"]
        self._key = self._info["key"]

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def _existing(cls, key: str, conn: Connection | None = None, info: dict | None = None) -> "Frame":
        fr = cls.__new__(cls)
        fr._conn = conn
        fr._key = key
        fr._info = info
        fr._summary = None
        return fr

    @property
    def conn(self) -> Connection:
        return self._conn if self._conn is not None else current_connection()

    # -- metadata --------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The frame's key on the cluster."""
        return self._key

    frame_id = key

    def _header(self) -> dict[str, Any]:
        if self._info is None or "columns" not in self._info:
            self._info = ops.get_frame(self.conn, self._key, rollups=False)["frame"]
        return self._info

    def refresh(self) -> "Frame":
        """Forget cached metadata (the next call fetches it again)."""
        self._info = None
        self._summary = None
        return self

    @property
    def nrow(self) -> int:
        info = self._info if self._info and "nrow" in self._info else self._header()
        return int(info["nrow"])

    @property
    def ncol(self) -> int:
        info = self._info if self._info and "ncol" in self._info else self._header()
        return int(info["ncol"])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrow, self.ncol)

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [c["name"] for c in self._header()["columns"]]

    columns = names

    @property
    def types(self) -> dict[str, str]:
        """Column name → Shoal type (``int``, ``real``, ``enum``, ``string``, ``time``, ``bool``)."""
        return {c["name"]: c["type"] for c in self._header()["columns"]}

    def __len__(self) -> int:
        return self.nrow

    # -- data ------------------------------------------------------------------------------------

    def _rows(self, offset: int, limit: int) -> pd.DataFrame:
        res = ops.frame_rows(self.conn, self._key, offset=offset, limit=limit)
        header = {c["name"]: c for c in self._header()["columns"]}
        names, types, rows = res["names"], res["types"], res["rows"]
        start = int(res.get("offset", offset if offset >= 0 else 0))
        cols = list(zip(*rows)) if rows else [()] * len(names)
        series = []
        for i, (name, t) in enumerate(zip(names, types)):
            series.append(_json_column(name, t, list(cols[i]), header.get(name)))
        index = pd.RangeIndex(start, start + len(rows))
        if not series:
            return pd.DataFrame(index=index)
        df = pd.concat([s.set_axis(index) for s in series], axis=1)
        df.columns = list(names)
        return df

    def head(self, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows as a pandas DataFrame (types as in :meth:`as_data_frame`)."""
        return self._rows(0, max(0, int(n)))

    def tail(self, n: int = 5) -> pd.DataFrame:
        """The last ``n`` rows as a pandas DataFrame, indexed by their row numbers."""
        n = max(0, int(n))
        if n == 0:
            return self._rows(self.nrow, 0)
        return self._rows(-n, n)

    def as_data_frame(self, progress: bool = False) -> pd.DataFrame:
        """Download the whole frame into pandas, exactly, through the binary columnar path."""
        buf = ops.download_frame(self.conn, self._key, format="columnar",
                                 progress=_bytes_bar("download") if progress else None)
        return convert.to_pandas_frame(buf)

    to_pandas = as_data_frame

    # -- summary ---------------------------------------------------------------------------------

    def summary(self, chunk_summary: bool = False, histogram: bool = False) -> dict[str, Any]:
        """The frame's summary as data: rows, columns with rollups (min, max, mean, sd, missing,
        zeros, cardinality), encodings, compressed and raw size (the server's ``get_frame``)."""
        info = ops.get_frame(self.conn, self._key, rollups=True,
                             chunk_summary=True if chunk_summary else None,
                             histogram=True if histogram else None)["frame"]
        self._info = info
        self._summary = info
        return info

    def summary_table(self) -> pd.DataFrame:
        """Per-column summary as a pandas DataFrame (one row per column)."""
        info = self._summary or self.summary()
        return _summary_frame(info)

    def describe(self, chunk_summary: bool = False) -> None:
        """Print rows, columns, per-column type and rollups, encodings, and compression."""
        info = self.summary(chunk_summary=chunk_summary)
        print(self._describe_text(info, chunk_summary))

    def _describe_text(self, info: dict[str, Any], chunk_summary: bool = False) -> str:
        lines = [f"Frame {info['key']}: {info['nrow']:,} rows × {info['ncol']:,} columns",
                 f"Compressed {_size(info.get('bytes'))}, raw {_size(info.get('raw_bytes'))}, "
                 f"ratio {_ratio(info)}",
                 f"Chunks: {info.get('nchunks', '?')}; encodings: {_encodings(info.get('encodings'))}",
                 ""]
        table = _summary_frame(info)
        table = table.where(table.notna(), "")
        with pd.option_context("display.max_rows", 10_000, "display.max_columns", 100,
                               "display.width", 200, "display.max_colwidth", 40):
            lines.append(table.to_string())
        cs = info.get("chunk_summary") if chunk_summary else None
        if cs:
            lines += ["", "Chunks:"]
            if isinstance(cs, dict):
                for part in ("codecs", "nodes"):
                    if cs.get(part):
                        lines += [pd.DataFrame(cs[part]).to_string(index=False), ""]
            else:
                lines.append(pd.DataFrame(cs).to_string(index=False))
        return "\n".join(lines)

    # -- protocols -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        try:
            return f"<shoal.Frame {self._key!r}: {self.nrow:,} rows × {self.ncol:,} cols>"
        except Exception:  # the repr must not raise, even when the node is gone
            return f"<shoal.Frame {self._key!r}>"

    def _repr_html_(self) -> str:
        try:
            info = self._summary or self.summary()
        except Exception as exc:  # Jupyter shows the text instead of a traceback
            return f"<pre>{html.escape(repr(self))}\n{html.escape(str(exc))}</pre>"
        e = html.escape
        table = _summary_frame(info)
        head = "".join(f"<th>{e(str(c))}</th>" for c in ["column"] + list(table.columns))
        body = []
        for name, row in table.iterrows():
            cells = "".join(f"<td>{e(_cell(v))}</td>" for v in row.tolist())
            body.append(f"<tr><th>{e(str(name))}</th>{cells}</tr>")
        rows_html = ""
        if self._conn is not None and info.get("nrow"):
            try:
                first = self.head(5)
                rows_html = "<p>First rows:</p>" + _rows_html(first)
            except Exception:  # the summary alone is still useful
                rows_html = ""
        return (
            '<div class="shoal-frame">'
            f"<p><b>Frame {e(str(info['key']))}</b>: {info['nrow']:,} rows × {info['ncol']:,} columns; "
            f"compressed {e(_size(info.get('bytes')))}, raw {e(_size(info.get('raw_bytes')))}, "
            f"ratio {e(_ratio(info))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{rows_html}</div>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frame) and other._key == self._key

    def __hash__(self) -> int:
        return hash(("shoal.Frame", self._key))


# ------------------------------------------------------------------------------------------ helpers

def _json_column(name: str, t: str, values: list, col: dict | None) -> pd.Series:
    """JSON row values of one column → a Series typed like :func:`convert.frame_to_pandas`."""
    missing = np.array([v is None for v in values], dtype=bool)
    if t in ("int", "real"):
        vals = np.array([np.nan if v is None else _num(v) for v in values], dtype=np.float64)
        if t == "int" and not missing.any() and np.isfinite(vals).all():
            return pd.Series(np.array([int(v) for v in values], dtype=np.int64), name=name)
        return pd.Series(vals, name=name)
    if t == "enum":
        domain = list((col or {}).get("domain") or [])
        full = (col or {}).get("domain_size") in (None, len(domain))
        seen = [v for v in values if v is not None]
        if not full or any(v not in domain for v in seen):
            domain = domain + sorted(set(seen) - set(domain))
        return pd.Series(pd.Categorical(values, categories=pd.Index(domain, dtype=convert.STRING_DTYPE)),
                         name=name)
    if t == "string":
        arr = np.array([np.nan if v is None else v for v in values] or [], dtype=object)
        return pd.Series(arr, name=name, dtype=convert.STRING_DTYPE)
    if t == "time":
        ms = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
        out = ms.view("datetime64[ms]").copy()
        out[missing] = np.datetime64("NaT")
        return pd.Series(out, name=name)
    if t == "bool":
        if missing.any():
            return pd.Series(pd.arrays.BooleanArray(np.array([bool(v) for v in values], dtype=bool), missing),
                             name=name)
        return pd.Series(np.array(values, dtype=bool), name=name)
    return pd.Series(values, name=name, dtype=object)


def _num(v: Any) -> float:
    if isinstance(v, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(v, math.nan)
    return float(v)


def _size(n: Any) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _ratio(info: dict[str, Any]) -> str:
    r = info.get("compression_ratio")
    if r is None and info.get("bytes"):
        r = (info.get("raw_bytes") or 0) / info["bytes"]
    return "?" if r is None else f"{float(r):.2f}×"


def _encodings(enc: Any) -> str:
    """``[{"codec", "chunks", "bytes"}, ...]`` (or ``{codec: chunks}``) → ``"biased_int ×3 (1.2 KB), ..."``."""
    if not enc:
        return "-"
    if isinstance(enc, dict):
        enc = [{"codec": k, "chunks": v} for k, v in enc.items()]
    parts = []
    for e in enc:
        if isinstance(e, dict):
            text = f"{e.get('codec')} ×{e.get('chunks', '?')}"
            if e.get("bytes") is not None:
                text += f" ({_size(e['bytes'])})"
            parts.append(text)
        else:
            parts.append(str(e))
    return ", ".join(parts)


def _time_text(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return v
    return str(np.datetime64(int(v), "ms"))


def _summary_frame(info: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for c in info.get("columns", []):
        row: dict[str, Any] = {"type": c.get("type")}
        for field, keys in _SUMMARY_FIELDS.items():
            v = next((c[k] for k in keys if k in c), None)
            if isinstance(v, str) and v in ("Inf", "-Inf", "NaN"):
                v = _num(v)
            if c.get("type") == "time" and field in ("min", "max", "mean"):
                v = _time_text(v)
            elif c.get("type") == "time" and field == "sd" and isinstance(v, (int, float)) and math.isfinite(v):
                v = str(pd.Timedelta(milliseconds=float(v)).round("s"))
            row[field] = v
        rows.append(row)
    index = pd.Index([c.get("name") for c in info.get("columns", [])], dtype=object, name="column")
    return pd.DataFrame(rows, index=index, columns=["type", *_SUMMARY_FIELDS], dtype=object)


def _rows_html(df: pd.DataFrame) -> str:
    """A small HTML table of rows; every name and value escaped."""
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in ["", *df.columns])
    body = "".join("<tr><th>" + e(str(idx)) + "</th>"
                   + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
                   for idx, row in zip(df.index, df.itertuples(index=False, name=None)))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _bytes_bar(title: str):
    from .jobs import ProgressBar

    bar = ProgressBar(title)

    def cb(done: int, total: int) -> None:
        bar.update(done / total if total else 0.0, _size(done))
        if total and done >= total:
            bar.close()

    return cb
