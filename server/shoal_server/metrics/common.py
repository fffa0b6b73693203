"""What every metric builder shares: input checks, row filtering, frame access, JSON tables.

A metric is three pure functions over numpy arrays (``partial`` per chunk, ``merge`` of two
partials, ``finish`` to the final numbers) wrapped in a registered MRTask for frames; the
``*_from_arrays`` entry points run the same functions on one in-memory "chunk". Because every
sum is exact (``metrics.exact``) or taken in a canonical row order, both paths give the same bits.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InvalidParameter
from ..store import codecs

__all__ = ["table", "num", "fmt_count", "valid_rows", "check_weights", "frame_inputs", "chunk_inputs",
           "decode_numeric",
           "decode_actual_codes"]


def num(x) -> float | None:
    """A JSON-safe float: None for NaN/inf/None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def fmt_count(x: float) -> str:
    """A (weighted) count for a Rate cell: ``12`` when whole, else 4 decimals."""
    return str(int(x)) if float(x).is_integer() else f"{x:.4f}"


def table(name: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence],
          description: str = "") -> dict:
    """A table as plain JSON: ``{"name", "description", "columns", "types", "data"}`` (rows, no NaN)."""
    clean = []
    for row in rows:
        out = []
        for v, t in zip(row, types):
            if v is None:
                out.append(None)
            elif t == "int":
                out.append(int(v))
            elif t == "string":
                out.append(str(v))
            else:
                out.append(num(v))
        clean.append(out)
    return {"name": name, "description": description, "columns": list(columns), "types": list(types),
            "data": clean}


def check_weights(w: np.ndarray | None, what: str = "weights_column") -> None:
    if w is not None and bool(np.any(w < 0)):
        raise InvalidParameter(f"Parameter `{what}` must hold non-negative weights; got "
                               f"{float(np.nanmin(w))}.", {"parameter": what})


def valid_rows(actual: np.ndarray, preds: Sequence[np.ndarray], w: np.ndarray | None) -> np.ndarray:
    """Rows that count: actual and every prediction present, weight present and non-zero (as H2O)."""
    ok = ~np.isnan(actual) if actual.dtype.kind == "f" else actual >= 0
    for p in preds:
        ok &= ~np.isnan(p)
    if w is not None:
        ok &= ~np.isnan(w) & (w != 0)
    return ok


def frame_inputs(node, frame_key: str, actual_col: str, pred_cols: Sequence[str], weights_col: str | None,
                 pred_frame_key: str | None) -> tuple[object, object, list[int], dict]:
    """Resolve the columns of a scored frame; returns ``(header, pred_header, run_columns, params)``.

    Actual and weights are columns of ``frame_key``; predictions are columns of ``pred_frame_key``
    (default: the same frame). A separate prediction frame must share the row layout and chunk
    homes (what ``predict`` produces), so every map still reads only local chunks.
    """
    header = node.catalog.get(frame_key)
    pred_header = header if pred_frame_key in (None, frame_key) else node.catalog.get(pred_frame_key)
    if pred_header is not header and (not np.array_equal(header.starts, pred_header.starts)
                                      or tuple(header.members) != tuple(pred_header.members)):
        raise InvalidParameter(f"Frames `{frame_key}` and `{pred_frame_key}` do not share one row layout; "
                               f"score the frame itself (predict) to get an aligned prediction frame.",
                               {"frame": frame_key, "predictions_frame": pred_frame_key})
    a = header.col_index(actual_col)
    w = None if weights_col is None else header.col_index(weights_col)
    pcols = [pred_header.col_index(c) for c in pred_cols]
    params = {"actual": [a, header.columns[a].type.value],
              "weights": None if w is None else [w, header.columns[w].type.value],
              "preds": [[c, pred_header.columns[c].type.value] for c in pcols],
              "pred_frame": None if pred_header is header else pred_header.key}
    run_cols = sorted({a} | ({w} if w is not None else set()) | (set(pcols) if pred_header is header else set()))
    return header, pred_header, run_cols, params


def chunk_inputs(ctx, chunk_idx: int, chunks: dict, params: dict, actual_as_codes: bool):
    """Decode one chunk's inputs: ``(actual float64[n], [pred float64[n]], weights float64[n] | None)``."""
    c, t = params["actual"]
    actual = decode_actual_codes(chunks[c], t) if actual_as_codes else decode_numeric(chunks[c], t)
    pred_frame = params.get("pred_frame")
    preds = []
    for pc, pt in params["preds"]:
        chunk = chunks[pc] if pred_frame is None else ctx.node.chunks.get(pred_frame, pc, chunk_idx)
        preds.append(decode_numeric(chunk, pt))
    w = None
    if params.get("weights") is not None:
        wc, wt = params["weights"]
        w = decode_numeric(chunks[wc], wt)
    return actual, preds, w


def decode_numeric(chunk, coltype: str) -> np.ndarray:
    """A numeric (int/real/bool/time) column chunk as float64 with NaN for missing."""
    if coltype in ("string", "enum"):
        raise InvalidParameter(f"Expected a numeric column; got a {coltype} column.", {})
    return codecs.decode_float64(chunk)


def decode_actual_codes(chunk, coltype: str) -> np.ndarray:
    """A class column chunk as float64 class indices (NaN missing): enum codes, or 0/1 numbers."""
    if coltype == "enum":
        codes = codecs.decode_codes(chunk).astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    return decode_numeric(chunk, coltype)
