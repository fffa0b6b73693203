"""Standalone scoring code for tree models: one pure-Python module, no Shoal, no numpy.

The generated module embeds the flat node arrays as literals and exposes ``predict(row)`` (a dict
column name -> value; a missing key, ``None`` or NaN is missing; categoricals by level string),
``predict_raw(row)`` and ``NAMES`` / ``DOMAIN``. Trees are summed in the server's order and the
links use the same formulas, so the predictions equal the server's (to the last bit for identity
links; exp may differ from numpy's in the last place).
"""
from __future__ import annotations

import json

__all__ = ["tree_scorer_source"]

_TEMPLATE = '''"""Standalone scorer for Shoal {algo} model {key} (generated; pure Python, no dependencies).

Usage: ``import this_module; this_module.predict({{"col": value, ...}})``.
"""
import json
import math

_M = json.loads({blob!r})
NAMES = _M["names"]
DOMAIN = _M["domain"]
_CAT = {{c["name"]: {{lv: i for i, lv in enumerate(c["domain"])}} for c in _M["cats"]}}


def _row(row):
    x = []
    for name in NAMES:
        v = row.get(name)
        if name in _CAT:
            i = _CAT[name].get(None if v is None else str(v))
            x.append(float("nan") if i is None else float(i))
        elif v is None or v == "":
            x.append(float("nan"))
        else:
            x.append(float(v))
    return x


def _walk(x, nd):
    col, thr, nal, catp, catlen = _M["col"], _M["thr"], _M["nal"], _M["catp"], _M["catlen"]
    bits, left, right = _M["catbits"], _M["left"], _M["right"]
    while col[nd] >= 0:
        v = x[col[nd]]
        if v != v:
            go = nal[nd] == 1
        elif catp[nd] >= 0:
            lv = int(v)
            go = bits[catp[nd] + lv] == 1 if 0 <= lv < catlen[nd] else nal[nd] == 1
        else:
            go = v < thr[nd]
        nd = left[nd] if go else right[nd]
    return nd


def predict_raw(row):
    """Raw scores per class (log-odds / log / identity scale, offset excluded; DRF: tree averages)."""
    x = _row(row)
    K = _M["K"]
    out = [0.0] * K
    offs, cls, value = _M["tree_off"], _M["tree_class"], _M["value"]
    for t in range(len(cls)):
        out[cls[t]] += value[_walk(x, offs[t])]
    if _M["drf"]:
        n = max(_M["ntrees"], 1)
        return [o / n for o in out]
    return [_M["init_f"][k] + out[k] for k in range(K)]


def _expit(z):
    return 1.0 / (1.0 + math.exp(-z)) if z > -709 else 0.0


def predict(row, offset=0.0):
    """``{{"predict": value or label, <class>: probability, ...}}``."""
    raw = predict_raw(row)
    cat = _M["category"]
    if _M["drf"]:
        if cat == "Regression":
            return {{"predict": raw[0]}}
        if cat == "Binomial" and len(raw) == 1:
            p1 = min(max(raw[0], 0.0), 1.0)
            probs = [1.0 - p1, p1]
        else:
            a = [max(v, 0.0) for v in raw]
            s = sum(a)
            probs = [v / s for v in a] if s > 0 else [1.0 / len(a)] * len(a)
    else:
        if cat == "Regression":
            f = raw[0] + offset
            return {{"predict": math.exp(f) if _M["log_link"] else f}}
        if cat == "Binomial":
            p1 = _expit(raw[0] + offset)
            probs = [1.0 - p1, p1]
        else:
            z = [r + offset for r in raw]
            m = max(z)
            e = [math.exp(v - m) for v in z]
            s = sum(e)
            probs = [v / s for v in e]
    if cat == "Binomial":
        label = DOMAIN[1] if probs[1] >= _M["threshold"] else DOMAIN[0]
    else:
        label = DOMAIN[max(range(len(probs)), key=lambda k: probs[k])]
    out = {{"predict": label}}
    for lv, p in zip(DOMAIN, probs):
        out[lv] = p
    return out
'''


def tree_scorer_source(model) -> str:
    """The standalone scorer module of a GBM / DRF model (see the module docstring)."""
    a = model.arrays
    o = model.output

    def lst(name, cast):
        return [cast(v) for v in a[name].tolist()]

    doc = {"names": list(o["names"]), "domain": o.get("domain"), "cats": model.spec["cats"],
           "col": lst("col", int), "thr": lst("thr", float), "nal": lst("nal", int), "catp": lst("catp", int),
           "catlen": lst("catlen", int), "catbits": lst("catbits", int), "left": lst("left", int),
           "right": lst("right", int), "value": lst("value", float), "tree_off": lst("tree_off", int),
           "tree_class": lst("tree_class", int), "K": int(o["ntrees_per_iteration"]), "drf": model.algo == "drf",
           "ntrees": int(o["ntrees"]), "init_f": [float(v) for v in o["init_f"]], "category": o["model_category"],
           "log_link": o["distribution"] in ("poisson", "gamma", "tweedie"),
           "threshold": float(o.get("default_threshold") or 0.5)}
    blob = json.dumps(doc, allow_nan=False, separators=(",", ":"), sort_keys=True)
    return _TEMPLATE.format(algo=model.algo.upper(), key=model.key, blob=blob)
