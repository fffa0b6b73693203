"""The Python half of the exact comparison: pandas objects in the canonical form of helpers.R."""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd


def _num(v: Any) -> str | None:
    if v is None or v is pd.NA:
        return None
    f = float(v)
    if math.isnan(f):
        return None
    return _g17(f)


def _g17(f: float) -> str:
    """C's "%.17g", spelled as R's sprintf spells infinities."""
    if math.isinf(f):
        return "Inf" if f > 0 else "-Inf"
    return "%.17g" % f


def canon_series(s: pd.Series) -> dict[str, Any]:
    name = str(s.name)
    if isinstance(s.dtype, pd.CategoricalDtype):
        vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in s.tolist()]
        return {"name": name, "kind": "factor", "levels": [str(c) for c in s.cat.categories],
                "values": vals}
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        ms = s.astype("datetime64[ms]")
        vals = [None if pd.isna(v) else "%.17g" % float(v.value // 10**6 if hasattr(v, "value") else v)
                for v in ms]
        return {"name": name, "kind": "time", "values": vals}
    if pd.api.types.is_bool_dtype(s.dtype):
        vals = [None if v is pd.NA or v is None else ("TRUE" if bool(v) else "FALSE") for v in s.tolist()]
        return {"name": name, "kind": "logical", "values": vals}
    if pd.api.types.is_numeric_dtype(s.dtype):
        return {"name": name, "kind": "number", "values": [_num(v) for v in s.tolist()]}
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA) else str(v)
            for v in s.tolist()]
    return {"name": name, "kind": "character", "values": vals}


def canon_df(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(df.columns):
        c = canon_series(df.iloc[:, i].rename(name))
        if c["kind"] != "factor":
            c.pop("levels", None)
        out.append(c)
    return out


def from_r(text: str) -> list[dict[str, Any]]:
    cols = json.loads(text)
    for c in cols:
        if c["kind"] != "factor":
            c.pop("levels", None)
        elif isinstance(c.get("levels"), str):
            c["levels"] = [c["levels"]]
        if isinstance(c.get("values"), (str, type(None))):
            c["values"] = [c["values"]]
    return cols


def r_json(text: str) -> Any:
    return json.loads(text)


def num_text(obj: Any) -> Any:
    """Every number (not bool) as "%.17g" text, recursively: the form of helpers.R canon_json."""
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, (int, float, np.integer, np.floating)):
        f = float(obj)
        return None if math.isnan(f) else _g17(f)
    if isinstance(obj, dict):
        return {k: num_text(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [num_text(v) for v in obj]
    return obj
