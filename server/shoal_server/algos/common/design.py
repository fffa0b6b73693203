"""The design matrix of a model: which columns, how categoricals expand, imputation, standardization.

A :class:`DesignSpec` is data only (it is saved with the model and shipped to maps as task
parameters): the response, the categorical predictors with their training domains (expanded into
0/1 indicator columns, the first level dropped as the reference unless ``use_all_factor_levels``),
the numeric predictors with their means and scales, the missing-value rule and the weights/offset
columns. Categoricals come first, then numerics (H2O's order), so coefficient ``j`` of every
linear model is column ``j`` of :func:`expand`.

Statistics come from one map/reduce pass (``algos.design_stats``) over the rows that train (a
response, a positive weight): weighted means and standard deviations merged with Chan's formula
(the sample convention ``Σw - 1``, which is H2O's for unit weights), min/max, missing counts and
per-level weights of categoricals (the mode imputes a missing categorical).

Scoring another frame binds the spec to that frame's columns by name (:func:`bind`): enum codes are
remapped to training levels by their strings; a level not seen in training counts as missing.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numba as nb
import numpy as np

from ...errors import InvalidParameter
from ...store import codecs
from ...tasks import MRTask, register_task

__all__ = ["DesignSpec", "select_predictors", "compute_stats", "build_spec", "bind", "expand", "expand_split",
           "decode_column", "response_values"]

_NUMERIC = ("int", "real", "bool", "time")


@dataclass
class DesignSpec:
    """Data-only description of a design matrix (see the module docstring)."""

    response: str
    response_type: str                  # "enum" or "numeric"
    response_domain: list | None
    cats: list = field(default_factory=list)    # {name, domain, use_all, mode}
    nums: list = field(default_factory=list)    # {name, mean, sd, scale_sub, scale_mul}
    standardize: bool = True
    missing_values_handling: str = "MeanImputation"
    weights_column: str | None = None
    offset_column: str | None = None
    nobs: int = 0
    weight_sum: float = 0.0
    #: pairwise interactions, after the numerics: {"kind": "nn" | "cn", "a", "b", "levels" (cn: indices
    #: into a's training domain), "cols": [{name, mean, sd, scale_sub, scale_mul}] one per generated column}
    inters: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DesignSpec":
        return cls(**d)

    @property
    def ncoef(self) -> int:
        """Number of expanded predictor columns (without the intercept)."""
        return (sum(len(c["domain"]) - (0 if c["use_all"] else 1) for c in self.cats) + len(self.nums)
                + sum(len(i["cols"]) for i in self.inters))

    def coef_names(self) -> list[str]:
        names = []
        for c in self.cats:
            levels = c["domain"] if c["use_all"] else c["domain"][1:]
            names.extend(f"{c['name']}.{lv}" for lv in levels)
        names.extend(n["name"] for n in self.nums)
        for i in self.inters:
            names.extend(c["name"] for c in i["cols"])
        return names

    def predictor_of_coef(self) -> list[str]:
        """For each expanded column, the predictor (frame column) it comes from."""
        out = []
        for c in self.cats:
            out.extend([c["name"]] * (len(c["domain"]) - (0 if c["use_all"] else 1)))
        out.extend(n["name"] for n in self.nums)
        for i in self.inters:
            out.extend([f"{i['a']}:{i['b']}"] * len(i["cols"]))
        return out

    def numeric_slice(self) -> tuple[int, int]:
        """Expanded columns of the plain numeric predictors."""
        start = self.ncoef - len(self.nums) - sum(len(i["cols"]) for i in self.inters)
        return start, start + len(self.nums)

    def scaled_columns(self) -> list[tuple[int, dict]]:
        """(expanded index, {mean, sd, scale_sub, scale_mul}) of every numeric-like column."""
        a, _b = self.numeric_slice()
        out = [(a + j, n) for j, n in enumerate(self.nums)]
        j = a + len(self.nums)
        for i in self.inters:
            for c in i["cols"]:
                out.append((j, c))
                j += 1
        return out

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Per expanded column (sub, mul): the design holds ``(x - sub) * mul`` (categoricals 0, 1)."""
        p = self.ncoef
        sub = np.zeros(p)
        mul = np.ones(p)
        for j, n in self.scaled_columns():
            sub[j] = n["scale_sub"]
            mul[j] = n["scale_mul"]
        return sub, mul


# ----------------------------------------------------------------------------------------- columns
def select_predictors(header, params: dict, problems, extra_excluded: Sequence[str] = ()) -> list[str]:
    """The predictor names from ``x`` / ``ignored_columns`` (string columns are never predictors)."""
    y = params.get("y")
    special = {y, params.get("weights_column"), params.get("offset_column"), params.get("fold_column"),
               *extra_excluded} - {None}
    for p in ("y", "weights_column", "offset_column", "fold_column"):
        name = params.get(p)
        if name is not None and name not in header:
            problems.add(p, f"Parameter `{p}`: column `{name}` is not in frame `{header.key}` "
                            f"(columns: {', '.join(header.names[:30])}).")
    ignored = set(params.get("ignored_columns") or [])
    for name in ignored:
        if name not in header:
            problems.add("ignored_columns", f"Parameter `ignored_columns`: column `{name}` is not in frame "
                                            f"`{header.key}`.")
    if params.get("x"):
        xs = []
        for name in params["x"]:
            if name not in header:
                problems.add("x", f"Parameter `x`: column `{name}` is not in frame `{header.key}` "
                                  f"(columns: {', '.join(header.names[:30])}).")
                continue
            if name in special:
                problems.add("x", f"Parameter `x` lists `{name}`, which is the response, weights, offset or "
                                  f"fold column.")
                continue
            t = header.column(name).type.value
            if t == "string":
                problems.add("x", f"Parameter `x`: column `{name}` is a string column; convert it to a "
                                  f"categorical (enum) first.")
                continue
            xs.append(name)
        return [n for n in dict.fromkeys(xs) if n not in ignored]
    return [c.name for c in header.columns
            if c.name not in special and c.name not in ignored and c.type.value != "string"]


def decode_column(chunk, coltype: str) -> np.ndarray:
    """A numeric column chunk as float64 (NaN missing), an enum chunk as int32 codes (-1 missing)."""
    if coltype == "enum":
        return codecs.decode_codes(chunk)
    return codecs.decode_float64(chunk)


def response_values(chunk, coltype: str, mapping: np.ndarray | None) -> np.ndarray:
    """The response as float64: class indices (NaN missing, unseen levels missing) or numbers."""
    if coltype == "enum":
        codes = codecs.decode_codes(chunk)
        if mapping is not None:
            # one lookup: code -> class index (NaN for a level outside the classes); the appended
            # NaN is the entry of code -1 (missing)
            m = np.asarray(mapping, np.int64)
            if codes.size and int(codes.max()) >= m.size:
                raise InvalidParameter(f"The response holds a level code beyond its domain of {m.size} levels.",
                                       {"levels": int(m.size)})
            lut = np.append(np.where(m >= 0, m, np.nan).astype(np.float64), np.nan)
            return lut.take(codes)
        out = np.full(codes.shape[0], np.nan)
        ok = codes >= 0
        out[ok] = codes[ok]
        return out
    return codecs.decode_float64(chunk)


# ----------------------------------------------------------------------------------------- interactions
def interaction_values(kind: str, chunks: dict, a_col: int, b_col: int, a_map, levels) -> tuple[np.ndarray, np.ndarray]:
    """Raw interaction columns of one chunk: float64[n, k] and the missing mask bool[n].

    ``nn``: the product of two numeric columns. ``cn``: for each level index in ``levels`` of the
    categorical ``a`` (codes mapped to training levels by ``a_map``), the indicator times numeric ``b``.
    """
    if kind == "nn":
        v = codecs.decode_float64(chunks[a_col]) * codecs.decode_float64(chunks[b_col])
        miss = np.isnan(v)
        return v[:, None], miss
    codes = codecs.decode_codes(chunks[a_col]).astype(np.int64)
    m = np.asarray(a_map, np.int64)
    idx = np.where(codes >= 0, m[np.where(codes >= 0, codes, 0)] if m.size else -1, -1)
    x = codecs.decode_float64(chunks[b_col])
    miss = (idx < 0) | np.isnan(x)
    out = np.empty((idx.shape[0], len(levels)))
    for k, lv in enumerate(levels):
        out[:, k] = (idx == int(lv)) * x
    return out, miss


# ----------------------------------------------------------------------------------------- statistics
@register_task
class DesignStats(MRTask):
    """Per-column weighted moments (numeric) and level weights (enum) over training rows.

    params: ``y`` (col index), ``y_type``, ``w`` (col index or None), ``cols``, ``types``,
    ``y_mapping`` (enum response code -> class index, or None).
    """

    name = "algos.design_stats"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        y = response_values(chunks[params["y"]], params["y_type"], params.get("y_mapping"))
        if params["w"] is None and not bool(np.isnan(y).any()):
            return _unit_stats(y, chunks, params)
        w = np.ones_like(y) if params["w"] is None else codecs.decode_float64(chunks[params["w"]])
        w = np.where(np.isnan(w), 0.0, w)
        ok = ~np.isnan(y) & (w > 0)
        w = np.where(ok, w, 0.0)
        out: dict[str, Any] = {"n": int(ok.sum()), "w": float(w.sum())}
        # response moments (for null models and checks)
        out["y"] = _moments(np.where(ok, y, 0.0), w)
        for c, t in zip(params["cols"], params["types"]):
            key = str(c)
            if t == "enum":
                codes = codecs.decode_codes(chunks[c])
                card = int(params["cards"][key])
                good = ok & (codes >= 0)
                out[key] = {"levels": np.bincount(codes[good], weights=w[good], minlength=card).astype(np.float64),
                            "na": float(w[ok & (codes < 0)].sum())}
            else:
                x = codecs.decode_float64(chunks[c])
                good = ok & ~np.isnan(x)
                m = _moments(np.where(good, x, 0.0), np.where(good, w, 0.0))
                m["na"] = float(w[ok & np.isnan(x)].sum())
                m["min"] = float(x[good].min()) if good.any() else math.inf
                m["max"] = float(x[good].max()) if good.any() else -math.inf
                out[key] = m
        _interaction_stats(out, chunks, params, ok, w)
        return out

    def reduce(self, a, b):
        out = {"n": a["n"] + b["n"], "w": a["w"] + b["w"], "y": _merge_moments(a["y"], b["y"])}
        for k in a:
            if k in ("n", "w", "y"):
                continue
            if "cols" in a[k]:
                cols = []
                for ca, cb in zip(a[k]["cols"], b[k]["cols"]):
                    mm = _merge_moments(ca, cb)
                    mm["min"] = min(ca["min"], cb["min"])
                    mm["max"] = max(ca["max"], cb["max"])
                    cols.append(mm)
                out[k] = {"cols": cols}
            elif "levels" in a[k]:
                out[k] = {"levels": a[k]["levels"] + b[k]["levels"], "na": a[k]["na"] + b[k]["na"]}
            else:
                m = _merge_moments(a[k], b[k])
                m["na"] = a[k]["na"] + b[k]["na"]
                m["min"] = min(a[k]["min"], b[k]["min"])
                m["max"] = max(a[k]["max"], b[k]["max"])
                out[k] = m
        return out


def _unit_stats(y: np.ndarray, chunks: dict, params: dict) -> dict:
    """:class:`DesignStats`'s partial of a chunk without a weights column and with every response
    present: every row trains with weight 1, so the weighted sums are those of the general path
    without its multiplications by 1 and 0 (the same terms in the same order: the same bits; the
    level weights are counts, exact in float64). Interactions take the general path."""
    n = y.shape[0]
    out: dict[str, Any] = {"n": int(n), "w": float(n)}
    out["y"] = _unit_moments(y)
    for c, t in zip(params["cols"], params["types"]):
        key = str(c)
        if t == "enum":
            codes = codecs.decode_codes(chunks[c])
            card = int(params["cards"][key])
            na = int(np.count_nonzero(codes < 0))
            good = codes if na == 0 else codes[codes >= 0]
            out[key] = {"levels": np.bincount(good, minlength=card).astype(np.float64), "na": float(na)}
        else:
            x = codecs.decode_float64(chunks[c])
            miss = np.isnan(x)
            nmiss = int(np.count_nonzero(miss))
            if nmiss == 0:
                m = _unit_moments(x)
                m["min"] = float(x.min()) if n else math.inf
                m["max"] = float(x.max()) if n else -math.inf
            else:
                good = ~miss
                m = _moments(np.where(good, x, 0.0), good.astype(np.float64))
                m["min"] = float(x[good].min()) if nmiss < n else math.inf
                m["max"] = float(x[good].max()) if nmiss < n else -math.inf
            m["na"] = float(nmiss)
            out[key] = m
    if params.get("inters"):
        _interaction_stats(out, chunks, params, np.ones(n, dtype=bool), np.ones(n))
    return out


def _interaction_stats(out: dict, chunks: dict, params: dict, ok: np.ndarray, w: np.ndarray) -> None:
    """INOUT ``out``: the moments of each interaction column over the rows ``ok`` (weights ``w``)."""
    for k, it in enumerate(params.get("inters") or ()):
        vals, miss = interaction_values(it["kind"], chunks, it["a"], it["b"], it.get("a_map"), it["levels"])
        good = ok & ~miss
        cols = []
        for j in range(vals.shape[1]):
            x = vals[:, j]
            mm = _moments(np.where(good, x, 0.0), np.where(good, w, 0.0))
            mm["min"] = float(x[good].min()) if good.any() else math.inf
            mm["max"] = float(x[good].max()) if good.any() else -math.inf
            cols.append(mm)
        out[f"i{k}"] = {"cols": cols}


def _unit_moments(x: np.ndarray) -> dict:
    """``_moments(x, ones)`` without the multiplications by 1 (the same bits)."""
    sw = float(x.shape[0])
    if sw <= 0:
        return {"sw": 0.0, "mean": 0.0, "m2": 0.0}
    mean = float(x.sum() / sw)
    d = x - mean
    return {"sw": sw, "mean": mean, "m2": float((d * d).sum())}


def _moments(x: np.ndarray, w: np.ndarray) -> dict:
    sw = float(w.sum())
    if sw <= 0:
        return {"sw": 0.0, "mean": 0.0, "m2": 0.0}
    mean = float((w * x).sum() / sw)
    return {"sw": sw, "mean": mean, "m2": float((w * (x - mean) ** 2).sum())}


def _merge_moments(a: dict, b: dict) -> dict:
    if a["sw"] <= 0:
        return dict(b)
    if b["sw"] <= 0:
        return dict(a)
    sw = a["sw"] + b["sw"]
    d = b["mean"] - a["mean"]
    return {"sw": sw, "mean": a["mean"] + d * b["sw"] / sw, "m2": a["m2"] + b["m2"] + d * d * a["sw"] * b["sw"] / sw}


def response_mapping(header, y: str, domain: Sequence[str] | None) -> list[int] | None:
    """Codes of the frame's response column -> training class index (-1 for unseen levels)."""
    col = header.column(y)
    if col.type.value != "enum" or domain is None:
        return None
    index = {lv: i for i, lv in enumerate(domain)}
    return [index.get(lv, -1) for lv in col.domain]


def compute_stats(node, header, y: str, predictors: Sequence[str], weights_column: str | None,
                  y_domain: Sequence[str] | None = None, job=None, interactions: Sequence[tuple] = ()) -> dict:
    """Run ``algos.design_stats`` over ``header``'s frame; keys are column names.

    ``interactions``: pairs ``(a, b)`` (numeric x numeric, or categorical ``a`` x numeric ``b``);
    their statistics come back under ``"interactions"`` (one list of column moments per pair, for
    every level of a categorical ``a``).
    """
    cols = [header.col_index(n) for n in predictors]
    types = [header.columns[c].type.value for c in cols]
    yi = header.col_index(y)
    wi = header.col_index(weights_column) if weights_column else None
    y_type = "enum" if header.columns[yi].type.value == "enum" else "numeric"
    params = {"y": yi, "y_type": y_type, "w": wi, "cols": cols, "types": types,
              "cards": {str(c): len(header.columns[c].domain or ()) for c, t in zip(cols, types) if t == "enum"},
              "y_mapping": response_mapping(header, y, y_domain)}
    inters = []
    for a, b in interactions:
        ca, cb = header.col_index(a), header.col_index(b)
        if header.columns[ca].type.value == "enum":
            card = len(header.columns[ca].domain or ())
            inters.append({"kind": "cn", "a": ca, "b": cb, "a_map": list(range(card)), "levels": list(range(card))})
        else:
            inters.append({"kind": "nn", "a": ca, "b": cb, "a_map": None, "levels": [0]})
    params["inters"] = inters
    needed = sorted({yi, *cols} | ({wi} if wi is not None else set())
                    | {i["a"] for i in inters} | {i["b"] for i in inters})
    r = node.runtime.run(DesignStats.name, header.key, needed, params, job=job)
    if r is None:
        r = {"n": 0, "w": 0.0, "y": {"sw": 0.0, "mean": 0.0, "m2": 0.0}}
    out = {"nobs": int(r["n"]), "weight_sum": float(r["w"]), "y": r["y"], "columns": {}}
    for name, c in zip(predictors, cols):
        out["columns"][name] = r.get(str(c))
    out["interactions"] = [r.get(f"i{k}", {"cols": []})["cols"] for k in range(len(inters))]
    return out


def build_spec(header, y: str, response_type: str, response_domain, predictors: Sequence[str], stats: dict,
               standardize: bool, use_all_factor_levels: bool, missing_values_handling: str,
               weights_column: str | None, offset_column: str | None, ignore_const_cols: bool,
               interactions: Sequence[tuple] = ()) -> tuple[DesignSpec, list[str]]:
    """The spec from the statistics pass; also returns the names of dropped constant columns.

    ``interactions`` are the pairs given to :func:`compute_stats` (in the same order).
    """
    cats, nums, dropped = [], [], []
    for name in predictors:
        col = header.column(name)
        st = stats["columns"].get(name)
        if col.type.value == "enum":
            levels = np.asarray(st["levels"]) if st is not None else np.zeros(0)
            if ignore_const_cols and int((levels > 0).sum()) <= 1:
                dropped.append(name)
                continue
            domain = list(col.domain or ())
            if len(domain) < (1 if use_all_factor_levels else 2):
                dropped.append(name)
                continue
            mode = int(np.argmax(levels)) if levels.size and levels.sum() > 0 else 0
            cats.append({"name": name, "domain": domain, "use_all": bool(use_all_factor_levels), "mode": mode})
        else:
            sw = st["sw"] if st else 0.0
            var = st["m2"] / (sw - 1.0) if sw > 1 else 0.0
            sd = math.sqrt(max(var, 0.0))
            if ignore_const_cols and (sw <= 0 or st["min"] == st["max"]):
                dropped.append(name)
                continue
            mean = st["mean"] if sw > 0 else 0.0
            if standardize:
                sub, mul = mean, (1.0 / sd if sd > 0 else 1.0)
            else:
                sub, mul = 0.0, 1.0
            nums.append({"name": name, "mean": mean, "sd": sd, "scale_sub": sub, "scale_mul": mul})
    inters = []
    for (a, b), istats in zip(interactions, stats.get("interactions") or []):
        acol = header.column(a)
        if acol.type.value == "enum":
            domain = list(acol.domain or ())
            levels = list(range(len(domain))) if use_all_factor_levels else list(range(1, len(domain)))
            names = [f"{a}.{domain[lv]}:{b}" for lv in levels]
            kind = "cn"
        else:
            levels, names, kind = [0], [f"{a}:{b}"], "nn"
        cols, keep = [], []
        for lv, nm in zip(levels, names):
            st = istats[lv]
            sw = st["sw"]
            if sw <= 0 or (ignore_const_cols and st["min"] == st["max"]):
                dropped.append(nm)
                continue
            var = st["m2"] / (sw - 1.0) if sw > 1 else 0.0
            sd = math.sqrt(max(var, 0.0))
            sub, mul = (st["mean"], 1.0 / sd if sd > 0 else 1.0) if standardize else (0.0, 1.0)
            cols.append({"name": nm, "mean": st["mean"], "sd": sd, "scale_sub": sub, "scale_mul": mul})
            keep.append(lv)
        if cols:
            inters.append({"kind": kind, "a": a, "b": b, "levels": keep, "cols": cols,
                           "domain": list(acol.domain or ()) if kind == "cn" else None})
    spec = DesignSpec(response=y, response_type=response_type, response_domain=response_domain, cats=cats,
                      nums=nums, standardize=bool(standardize), missing_values_handling=missing_values_handling,
                      weights_column=weights_column, offset_column=offset_column, nobs=int(stats["nobs"]),
                      weight_sum=float(stats["weight_sum"]), inters=inters)
    return spec, dropped


# ----------------------------------------------------------------------------------------- binding + expansion
def bind(spec: DesignSpec, header, need_response: bool = False, need_weights: bool = True) -> dict:
    """Column indices of ``header``'s frame for the spec, and enum code remappings (task params)."""
    missing = [n for n in [c["name"] for c in spec.cats] + [n["name"] for n in spec.nums] if n not in header]
    if missing:
        raise InvalidParameter(f"Frame `{header.key}` lacks the model's predictor column(s) "
                               f"{', '.join(missing[:20])}.", {"frame": header.key, "columns": missing[:100]})
    cats = []
    for c in spec.cats:
        col = header.column(c["name"])
        if col.type.value != "enum":
            raise InvalidParameter(f"Column `{c['name']}` of frame `{header.key}` must be categorical (enum), as in "
                                   f"training; got {col.type.value}.", {"column": c["name"]})
        index = {lv: i for i, lv in enumerate(c["domain"])}
        cats.append({"col": header.col_index(c["name"]), "map": [index.get(lv, -1) for lv in col.domain or ()]})
    nums = []
    for n in spec.nums:
        col = header.column(n["name"])
        if col.type.value in ("enum", "string"):
            raise InvalidParameter(f"Column `{n['name']}` of frame `{header.key}` must be numeric, as in training; "
                                   f"got {col.type.value}.", {"column": n["name"]})
        nums.append(header.col_index(n["name"]))
    inters = []
    for it in spec.inters:
        for nm in (it["a"], it["b"]):
            if nm not in header:
                raise InvalidParameter(f"Frame `{header.key}` lacks column `{nm}` of the model's interactions.",
                                       {"frame": header.key, "column": nm})
        a_map = None
        if it["kind"] == "cn":
            acol = header.column(it["a"])
            if acol.type.value != "enum":
                raise InvalidParameter(f"Column `{it['a']}` of frame `{header.key}` must be categorical (enum), as "
                                       f"in training; got {acol.type.value}.", {"column": it["a"]})
            index = {lv: i for i, lv in enumerate(it["domain"])}
            a_map = [index.get(lv, -1) for lv in acol.domain or ()]
        inters.append({"a": header.col_index(it["a"]), "b": header.col_index(it["b"]), "a_map": a_map})
    out = {"cats": cats, "nums": nums, "inters": inters, "y": None, "y_type": spec.response_type, "y_map": None,
           "w": None, "offset": None}
    if spec.response in header:
        out["y"] = header.col_index(spec.response)
        out["y_map"] = response_mapping(header, spec.response, spec.response_domain)
        ytype = header.column(spec.response).type.value
        out["y_type"] = "enum" if ytype == "enum" else "numeric"
    elif need_response:
        raise InvalidParameter(f"Frame `{header.key}` lacks the response column `{spec.response}`.",
                               {"frame": header.key, "column": spec.response})
    if need_weights and spec.weights_column and spec.weights_column in header:
        out["w"] = header.col_index(spec.weights_column)
    if spec.offset_column:
        if spec.offset_column not in header:
            raise InvalidParameter(f"Frame `{header.key}` lacks the offset column `{spec.offset_column}`.",
                                   {"frame": header.key, "column": spec.offset_column})
        out["offset"] = header.col_index(spec.offset_column)
    return out


def bound_columns(binding: dict) -> list[int]:
    cols = [c["col"] for c in binding["cats"]] + list(binding["nums"])
    for it in binding.get("inters") or ():
        cols.extend([it["a"], it["b"]])
    for k in ("y", "w", "offset"):
        if binding.get(k) is not None:
            cols.append(binding[k])
    return sorted(set(cols))


def expand(spec: dict, binding: dict, chunks: dict) -> tuple[np.ndarray, np.ndarray]:
    """The (standardized, imputed) design rows of one chunk.

    Returns ``X`` float64[n, p] (no intercept column) and ``complete`` bool[n] (False where a
    predictor was missing; with MeanImputation those rows are imputed, with Skip they must be dropped).
    """
    n = None
    cats, nums = spec["cats"], spec["nums"]
    inters = spec.get("inters") or []
    p = (sum(len(c["domain"]) - (0 if c["use_all"] else 1) for c in cats) + len(nums)
         + sum(len(i["cols"]) for i in inters))
    # row count from any bound column
    for c in binding["cats"]:
        n = chunks[c["col"]].nrows
        break
    if n is None:
        for c in binding["nums"]:
            n = chunks[c].nrows
            break
    if n is None:
        some = next(iter(chunks.values()))
        n = some.nrows
    X = np.zeros((n, p))
    complete = np.ones(n, dtype=bool)
    j = 0
    for c, b in zip(cats, binding["cats"]):
        codes = codecs.decode_codes(chunks[b["col"]]).astype(np.int64)
        m = np.asarray(b["map"], np.int64)
        idx = np.where(codes >= 0, m[np.where(codes >= 0, codes, 0)] if m.size else -1, -1)
        miss = idx < 0
        complete &= ~miss
        idx = np.where(miss, int(c["mode"]), idx)
        width = len(c["domain"]) - (0 if c["use_all"] else 1)
        col = idx - (0 if c["use_all"] else 1)
        rows = np.nonzero(col >= 0)[0]
        X[rows, j + col[rows]] = 1.0
        j += width
    for nspec, ci in zip(nums, binding["nums"]):
        x = codecs.decode_float64(chunks[ci])
        miss = np.isnan(x)
        complete &= ~miss
        x = np.where(miss, nspec["mean"], x)
        X[:, j] = (x - nspec["scale_sub"]) * nspec["scale_mul"]
        j += 1
    for it, b in zip(inters, binding.get("inters") or ()):
        vals, miss = interaction_values(it["kind"], chunks, b["a"], b["b"], b["a_map"], it["levels"])
        complete &= ~miss
        for k, c in enumerate(it["cols"]):
            v = np.where(miss, c["mean"], vals[:, k])
            X[:, j] = (v - c["scale_sub"]) * c["scale_mul"]
            j += 1
    return X, complete


def _nrows(binding: dict, chunks: dict) -> int:
    for c in binding["cats"]:
        return chunks[c["col"]].nrows
    for c in binding["nums"]:
        return chunks[c].nrows
    return next(iter(chunks.values())).nrows


@nb.njit(nogil=True, cache=True)
def _split_codes(codes, m, mode, shift, j, C, k, complete):
    """One categorical of :func:`expand_split` (``expand``'s rule, one pass): level code -> the
    model's level (``m``; missing or unseen -> ``mode``, and the row is not complete) -> column
    ``j + level - shift`` of ``C[:, k]`` (-1 for the dropped reference level). INOUT C, complete.
    Returns 0, or -1 when a code is beyond ``m``."""
    n = codes.shape[0]
    nm = m.shape[0]
    for i in range(n):
        cd = np.int64(codes[i])
        idx = np.int64(-1)
        if cd >= 0 and nm > 0:
            if cd >= nm:
                return -1
            idx = m[cd]
        if idx < 0:
            complete[i] = False
            idx = mode
        col = idx - shift
        C[i, k] = j + col if col >= 0 else -1
    return 0


def expand_split(spec: dict, binding: dict, chunks: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The design rows of one chunk as :func:`expand` gives them, with the categoricals kept sparse.

    Returns ``C`` int32[n, ncats]: for each categorical predictor the expanded column that holds its
    1 in the row (-1 when the row's level is the dropped reference), ``D`` float64[n, p - d0]: the
    dense columns from ``d0 = spec.numeric_slice()[0]`` on (numerics, interactions), exactly as
    ``expand`` fills them, and ``complete`` bool[n]. ``expand(...)[0]`` is zero everywhere except
    ``X[i, C[i, k]] = 1`` and ``X[:, d0:] = D``.
    """
    cats, nums = spec["cats"], spec["nums"]
    inters = spec.get("inters") or []
    n = _nrows(binding, chunks)
    C = np.full((n, len(cats)), -1, dtype=np.int32)
    nd = len(nums) + sum(len(i["cols"]) for i in inters)
    D = np.zeros((n, nd))
    complete = np.ones(n, dtype=bool)
    j = 0
    for k, (c, b) in enumerate(zip(cats, binding["cats"])):
        codes = codecs.decode_codes(chunks[b["col"]])
        m = np.asarray(b["map"], np.int64)
        if _split_codes(codes, m, int(c["mode"]), 0 if c["use_all"] else 1, j, C, k, complete) < 0:
            raise InvalidParameter(f"Column `{c['name']}` holds a level code beyond its domain of {m.size} "
                                   f"levels.", {"column": c["name"]})
        j += len(c["domain"]) - (0 if c["use_all"] else 1)
    d = 0
    for nspec, ci in zip(nums, binding["nums"]):
        x = codecs.decode_float64(chunks[ci])
        miss = np.isnan(x)
        complete &= ~miss
        x = np.where(miss, nspec["mean"], x)
        D[:, d] = (x - nspec["scale_sub"]) * nspec["scale_mul"]
        d += 1
    for it, b in zip(inters, binding.get("inters") or ()):
        vals, miss = interaction_values(it["kind"], chunks, b["a"], b["b"], b["a_map"], it["levels"])
        complete &= ~miss
        for k, c in enumerate(it["cols"]):
            v = np.where(miss, c["mean"], vals[:, k])
            D[:, d] = (v - c["scale_sub"]) * c["scale_mul"]
            d += 1
    return C, D, complete
