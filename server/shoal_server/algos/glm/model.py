"""The GLM model: scoring payload, the row scorer, the standalone scorer source, output tables."""
from __future__ import annotations

import numpy as np

from ..common.scoring import class_column_name, register_scorer, register_split_scorer
from . import kernels

__all__ = ["glm_payload", "glm_score", "glm_score_split", "glm_scorer_source", "coefficients_tables",
           "raw_coefficients"]


def glm_payload(model) -> dict:
    out = model.output
    multinomial = out["family"] == "multinomial"
    beta = np.asarray(model.arrays["beta_std"], np.float64)
    return {"beta": beta, "multinomial": multinomial, "link": int(kernels.LINKS.get(out["link"], 0)),
            "lp": float(out.get("tweedie_link_power", 1.0)), "category": model.category}


def glm_score(payload: dict, X: np.ndarray, off: np.ndarray) -> np.ndarray:
    return _score(payload, X.shape[0], lambda b, out: kernels.predict_eta(X, b, off, out))


def glm_score_split(payload: dict, C: np.ndarray, D: np.ndarray, d0: int, off: np.ndarray) -> np.ndarray:
    """:func:`glm_score` on ``design.expand_split``'s parts (the same bits)."""
    return _score(payload, D.shape[0], lambda b, out: kernels.predict_eta_split(C, D, d0, b, off, out))


def _score(payload: dict, n: int, eta_of) -> np.ndarray:
    beta = np.asarray(payload["beta"], np.float64)
    if payload["multinomial"]:
        K = beta.shape[0]
        E = np.empty((n, K))
        tmp = np.empty(n)
        for k in range(K):
            eta_of(np.ascontiguousarray(beta[k]), tmp)
            E[:, k] = tmp
        mx = E.max(axis=1, keepdims=True) if n else np.zeros((0, 1))
        ex = np.exp(E - mx)
        s = np.zeros(n)
        for k in range(K):
            s += ex[:, k]
        return ex / s[:, None]
    eta = np.empty(n)
    eta_of(beta, eta)
    mu = np.empty(n)
    kernels.link_inverse_array(int(payload["link"]), float(payload["lp"]), eta, mu)
    if payload["category"] == "Binomial":
        return np.column_stack([1.0 - mu, mu])
    return mu[:, None]


register_scorer("glm", glm_score, glm_payload)
register_split_scorer("glm", glm_score_split)


def transform_matrix(spec) -> np.ndarray:
    """T with raw = T @ standardized (index 0 the intercept)."""
    sub, mul = spec.scales()
    m = spec.ncoef + 1
    T = np.eye(m)
    T[0, 1:] = -mul * sub
    T[np.arange(1, m), np.arange(1, m)] = mul
    return T


def raw_coefficients(spec, beta_std: np.ndarray) -> np.ndarray:
    return transform_matrix(spec) @ beta_std


def normalized_coefficients(spec, raw: np.ndarray) -> np.ndarray:
    """H2O's standardized coefficients: numeric coefficients times the column sd, the intercept at the mean."""
    out = raw.copy()
    for j, nspec in spec.scaled_columns():
        out[1 + j] = raw[1 + j] * nspec["sd"]
        out[0] += raw[1 + j] * nspec["mean"]
    return out


def glm_scorer_source(model) -> str:
    """A standalone pure-Python module (no imports beyond ``math``) scoring like the server."""
    spec = model.spec
    out = model.output
    beta = np.asarray(model.arrays["beta_std"], np.float64)
    cats = [(c["name"], list(c["domain"]), bool(c["use_all"]), int(c["mode"])) for c in spec["cats"]]
    nums = [(n["name"], float(n["mean"]), float(n["scale_sub"]), float(n["scale_mul"])) for n in spec["nums"]]
    inters = []
    domains = {(it["a"], it["b"]): list(it["domain"]) for it in spec.get("inters") or [] if it["kind"] == "cn"}
    for it in spec.get("inters") or []:
        cols = [(float(c["mean"]), float(c["scale_sub"]), float(c["scale_mul"])) for c in it["cols"]]
        levels = [it["domain"][lv] for lv in it["levels"]] if it["kind"] == "cn" else None
        inters.append((it["kind"], it["a"], it["b"], levels, cols))
    domain = model.domain
    names = None
    if domain is not None:
        names = ["predict"]
        for lv in domain:
            nm = class_column_name(lv)
            while nm in names:
                nm = nm + "_"
            names.append(nm)
    beta_list = beta.tolist()
    # per categorical: level -> index into BETA of its indicator (0: the reference level, no term)
    cat_beta, j = [], 0
    for name, levels, use_all, mode in cats:
        shift = 0 if use_all else 1
        table = {lv: (j + i - shift + 1 if i - shift >= 0 else 0) for i, lv in enumerate(levels)}
        mode_b = j + mode - shift + 1 if mode - shift >= 0 else 0
        cat_beta.append((name, table, mode_b))
        j += len(levels) - shift
    d0 = j
    lines = [
        f'"""Standalone scorer for Shoal GLM model {model.key!r} (generated; pure Python, no dependencies).',
        "",
        "Usage: ``predict(row)`` with ``row`` a dict of column name -> value (numbers; categorical levels",
        "as strings; None or NaN for missing); returns a dict of prediction columns as the server writes",
        'them. ``predict_rows(rows)`` scores a list of rows."""',
        "import math",
        "",
        "_exp = math.exp",
        "",
        f"MODEL_KEY = {model.key!r}",
        f"FAMILY = {out['family']!r}",
        f"LINK = {out['link']!r}",
        f"LINK_POWER = {float(out.get('tweedie_link_power', 1.0))!r}",
        f"CATEGORY = {model.category!r}",
        f"DOMAIN = {domain!r}",
        f"COLUMNS = {names!r}",
        f"THRESHOLD = {float(out.get('default_threshold') or 0.5)!r}",
        f"SKIP_MISSING = {spec['missing_values_handling'] == 'Skip'!r}",
        f"OFFSET_COLUMN = {spec.get('offset_column')!r}",
        "# (name, levels, use_all_levels, index of the level imputed for missing)",
        f"CATS = {cats!r}",
        "# (name, mean imputed for missing, subtracted, multiplied)",
        f"NUMS = {nums!r}",
        "# pairwise interactions: (kind nn|cn, a, b, levels of a (cn), [(mean imputed, subtracted, multiplied)])",
        f"INTERS = {inters!r}",
        "# standardized coefficients: intercept first (one row per class for multinomial)",
        f"BETA = {beta_list!r}",
        "_INDEX = [dict((lv, i) for i, lv in enumerate(c[1])) for c in CATS]",
        "# per categorical: (name, level -> index in BETA of its indicator (0: reference level), the imputed level's)",
        f"_CAT_BETA = {cat_beta!r}",
        "# index in BETA of the first numeric (or interaction) column",
        f"_DENSE_BETA = {d0 + 1!r}",
        f"_DOMAINS = {domains!r}",
        "_ALL_LEVELS = dict((k, set(v)) for k, v in _DOMAINS.items())",
        "",
        "",
        "def _missing(v):",
        "    return v is None or (isinstance(v, float) and v != v)",
        "",
        "",
        "def _level(v):",
        "    if isinstance(v, float) and v.is_integer():",
        "        v = int(v)",
        "    return str(v)",
        "",
        "",
        "def design(row):",
        '    """The standardized design row and whether no predictor was missing."""',
        "    x = []",
        "    complete = True",
        "    for (name, levels, use_all, mode), index in zip(CATS, _INDEX):",
        "        v = row.get(name)",
        "        i = None if _missing(v) else index.get(_level(v))",
        "        if i is None:",
        "            complete = False",
        "            i = mode",
        "        width = len(levels) if use_all else len(levels) - 1",
        "        col = i if use_all else i - 1",
        "        for j in range(width):",
        "            x.append(1.0 if j == col else 0.0)",
        "    d, ok = _dense(row)",
        "    return x + d, complete and ok",
        "",
        "",
        "def _dense(row):",
        '    """The numeric and interaction part of the design row, and whether none was missing."""',
        "    x = []",
        "    complete = True",
        "    for name, mean, sub, mul in NUMS:",
        "        v = row.get(name)",
        "        if _missing(v):",
        "            complete = False",
        "            v = mean",
        "        x.append((float(v) - sub) * mul)",
        "    for kind, a, b, levels, cols in INTERS:",
        "        vb = row.get(b)",
        "        if kind == 'nn':",
        "            va = row.get(a)",
        "            miss = _missing(va) or _missing(vb)",
        "            vals = [None if miss else float(va) * float(vb)]",
        "        else:",
        "            va = row.get(a)",
        "            lv = None if _missing(va) else _level(va)",
        "            miss = lv is None or _missing(vb) or lv not in _ALL_LEVELS[(a, b)]",
        "            vals = [None if miss else (1.0 if lv == L else 0.0) * float(vb) for L in levels]",
        "        if miss:",
        "            complete = False",
        "        for v, (mean, sub, mul) in zip(vals, cols):",
        "            x.append(((mean if v is None else v) - sub) * mul)",
        "    return x, complete",
        "",
        "",
        "def _sparse(row):",
        '    """The design row as (indices in BETA of its categorical 1s, the dense part, complete): the',
        '    zeros of design(row) are left out, so the sums below add the same terms in the same order."""',
        "    hot = []",
        "    complete = True",
        "    for name, table, mode_b in _CAT_BETA:",
        "        v = row.get(name)",
        "        if v.__class__ is str:",
        "            b = table.get(v)",
        "        else:",
        "            b = None if _missing(v) else table.get(_level(v))",
        "        if b is None:",
        "            complete = False",
        "            b = mode_b",
        "        if b:",
        "            hot.append(b)",
        "    if NUMS or INTERS:",
        "        dense, ok = _dense(row)",
        "        return hot, dense, complete and ok",
        "    return hot, (), complete",
        "",
        "",
        "def _eta(beta, hot, dense, off):",
        "    e = 0.0",
        "    for b in hot:",
        "        e += beta[b]",
        "    j = _DENSE_BETA",
        "    for x in dense:",
        "        e += x * beta[j]",
        "        j += 1",
        "    return e + beta[0] + off",
        "",
        "",
        "def _norm_cdf(v):",
        "    return 0.5 * math.erfc(-v / math.sqrt(2.0))",
        "",
        "",
        "def linkinv(eta):",
        "    if LINK == 'identity':",
        "        return eta",
        "    if LINK == 'logit':",
        "        if eta >= 0:",
        "            return 1.0 / (1.0 + math.exp(-eta))",
        "        e = math.exp(eta)",
        "        return e / (1.0 + e)",
        "    if LINK == 'log':",
        "        return math.exp(eta)",
        "    if LINK == 'inverse':",
        "        return 1.0 / eta",
        "    if LINK == 'tweedie':",
        "        if LINK_POWER == 0.0:",
        "            return math.exp(eta)",
        "        return eta ** (1.0 / LINK_POWER) if eta > 0 else 0.0",
        "    if LINK == 'probit':",
        "        return _norm_cdf(eta)",
        "    return -math.expm1(-math.exp(eta))",
        "",
        "",
        "def predict(row):",
        '    """Score one row (a dict); missing predictions are None."""',
        "    hot, dense, complete = _sparse(row)",
        "    off = 0.0 if OFFSET_COLUMN is None else row.get(OFFSET_COLUMN)",
        "    if (SKIP_MISSING and not complete) or _missing(off):",
        "        if CATEGORY == 'Regression':",
        "            return {'predict': None}",
        "        return dict((c, None) for c in COLUMNS)",
        "    off = float(off)",
        "    if CATEGORY == 'Regression':",
        "        return {'predict': linkinv(_eta(BETA, hot, dense, off))}",
        "    if FAMILY == 'multinomial':",
        "        etas = [_eta(b, hot, dense, off) for b in BETA]",
        "        mx = max(etas)",
        "        ex = [math.exp(e - mx) for e in etas]",
        "        s = 0.0",
        "        for v in ex:",
        "            s += v",
        "        probs = [v / s for v in ex]",
        "        best = 0",
        "        for k in range(1, len(probs)):",
        "            if probs[k] > probs[best]:",
        "                best = k",
        "    else:",
        "        mu = linkinv(_eta(BETA, hot, dense, off))",
        "        probs = [1.0 - mu, mu]",
        "        best = 1 if mu >= THRESHOLD else 0",
        "    out = {'predict': DOMAIN[best]}",
        "    for name, p in zip(COLUMNS[1:], probs):",
        "        out[name] = p",
        "    return out",
        "",
        "",
        "def predict_rows(rows):",
        "    return [predict(r) for r in rows]",
        "",
    ]
    fast = _fast_predict_lines(model, cat_beta, d0, nums, names)
    if fast:    # the generic functions stay (as _predict_generic / _predict_rows_generic) for reference
        lines[lines.index("def predict(row):")] = "def _predict_generic(row):"
        i = lines.index("def predict_rows(rows):")
        lines[i:i + 2] = ["def _predict_rows_generic(rows):", "    return [_predict_generic(r) for r in rows]"]
        lines[-1:-1] = fast
    else:       # no unrolled form: the batch entry point scores row by row
        lines[-1:-1] = ["", "", "def predict_columns(columns):",
                        '    """Score many rows given as columns (a mapping name -> sequence, e.g. a pandas DataFrame):',
                        '    a dict of prediction column -> list (``predict_rows`` on the rows)."""',
                        "    keys = list(columns.keys())",
                        "    cols = [list(columns[k]) for k in keys]",
                        "    n = len(cols[0]) if cols else 0",
                        "    rows = [dict(zip(keys, vals)) for vals in zip(*cols)] if cols else [{} for _ in range(n)]",
                        "    out = predict_rows(rows)",
                        f"    return dict((c, [r[c] for r in out]) for c in {(names or ['predict'])!r})"]
    return "\n".join(lines)


_LINK_CODE = {
    "identity": ["    mu = eta"],
    "logit": ["    if eta >= 0:", "        mu = 1.0 / (1.0 + _exp(-eta))", "    else:", "        e = _exp(eta)",
              "        mu = e / (1.0 + e)"],
    "log": ["    mu = _exp(eta)"],
    "inverse": ["    mu = 1.0 / eta"],
}


def _fast_predict_lines(model, cat_beta, d0: int, nums, names) -> list[str]:
    """``predict(row)`` unrolled for this model (a single linear predictor, no interactions, a link
    above): the same terms summed in the same order as ``_eta`` (so the same bits), without the
    loops, the design lists and the link dispatch. Empty when the model does not qualify."""
    out = model.output
    spec = model.spec
    link = out["link"]
    if out["family"] == "multinomial" or spec.get("inters") or link not in _LINK_CODE:
        return []
    beta = np.asarray(model.arrays["beta_std"], np.float64).tolist()
    skip = spec["missing_values_handling"] == "Skip"
    offset = spec.get("offset_column")
    regression = model.category == "Regression"
    if regression:
        none = "{'predict': None}"
    else:
        none = "{" + ", ".join(f"{c!r}: None" for c in names) + "}"
    threshold = float(out.get("default_threshold") or 0.5)

    def body(ret) -> list[str]:
        """The scoring of ``row`` (4-space indented); ``ret(expr)`` gives the lines that hand back a result."""
        B = ["    get = row.get"]
        if skip:
            B.append("    complete = True")
        B.append("    e = 0.0")
        for k, (name, _table, mode_b) in enumerate(cat_beta):
            # _Tk maps a level to its coefficient (0.0 for the reference level: the 0 * beta terms
            # that the dense sum adds), so a level string costs one lookup
            B += [f"    v = get({name!r})",
                  f"    t = _T{k}.get(v)",
                  "    if t is None:",
                  f"        t = None if (v.__class__ is str or _missing(v)) else _T{k}.get(_level(v))",
                  "        if t is None:"]
            if skip:
                B.append("            complete = False")
            B += [f"            t = {(beta[mode_b] if mode_b else 0.0)!r}", "    e += t"]
        for j, (name, mean, sub, mul) in enumerate(nums):
            B += [f"    v = get({name!r})", "    if v is None or v != v:"]
            if skip:
                B.append("        complete = False")
            B += [f"        v = {mean!r}", f"    e += ((float(v) - {sub!r}) * {mul!r}) * {beta[d0 + 1 + j]!r}"]
        if offset is not None:
            B += [f"    off = get({offset!r})", "    if _missing(off):"] + ["    " + x for x in ret(none)] + [
                "    off = float(off)"]
        else:
            B.append("    off = 0.0")
        if skip:
            B += ["    if not complete:"] + ["    " + x for x in ret(none)]
        B.append(f"    eta = e + {beta[0]!r} + off")
        B += _LINK_CODE[link]
        if regression:
            B += ret("{'predict': mu}")
        else:
            dom = list(model.domain)
            B += ret(f"{{'predict': {dom[1]!r} if mu >= {threshold!r} else {dom[0]!r}, {names[1]!r}: 1.0 - mu, "
                     f"{names[2]!r}: mu}}")
        return B

    L = ["", "", "# per categorical: level -> its coefficient (BETA[index]; 0.0 for the reference level)"]
    L += [f"_T{k} = dict((lv, BETA[b] if b else 0.0) for lv, b in _CAT_BETA[{k}][1].items())"
          for k in range(len(cat_beta))]
    L += ["", "", "def predict(row):",
          '    """Score one row (a dict); missing predictions are None (this model\'s terms unrolled)."""']
    L += body(lambda ex: [f"    return {ex}"])
    L += ["", "", "def predict_rows(rows):", '    """Score a list of rows (``predict`` on each, inlined)."""',
          "    out = []", "    append = out.append", "    for row in rows:"]
    L += ["    " + x for x in body(lambda ex: [f"    append({ex})", "    continue"])]
    L.append("    return out")
    L += _columns_lines(cat_beta, nums, beta, d0, skip, offset, link, regression, names, threshold,
                        None if regression else list(model.domain))
    return L


#: the link functions of ``_LINK_CODE`` on numpy arrays (same formulas, elementwise)
_NP_LINK_CODE = {
    "identity": ["    mu = eta"],
    "logit": ["    with np.errstate(over='ignore'):", "        ex = np.exp(-np.abs(eta))",
              "    mu = np.where(eta >= 0, 1.0 / (1.0 + ex), ex / (1.0 + ex))"],
    "log": ["    mu = np.exp(eta)"],
    "inverse": ["    with np.errstate(divide='ignore'):", "        mu = 1.0 / eta"],
}


def _columns_lines(cat_beta, nums, beta, d0, skip, offset, link, regression, names, threshold, dom) -> list[str]:
    """``predict_columns(columns)``: many rows at once, column by column with numpy when it is
    installed. Each row's terms are added in ``predict``'s order with the same IEEE operations, so
    the linear predictor has the same bits; only the link's ``exp`` may differ in the last place.
    Without numpy it is ``predict_rows`` on the rows, transposed."""
    L = ["", "", "def _lookup(table, v, fallback):",
         '    """(coefficient of level v, whether v was known) for one categorical value."""',
         "    t = table.get(v) if (v.__class__ is str or not _missing(v)) else None",
         "    if t is None and not (v.__class__ is str or _missing(v)):",
         "        t = table.get(_level(v))",
         "    return (fallback, False) if t is None else (t, True)",
         "", "",
         "def predict_columns(columns):",
         '    """Score many rows given as columns: a mapping of column name -> sequence (a pandas',
         "    DataFrame, a dict of numpy arrays or of lists). Returns a dict of prediction column ->",
         "    numpy array (labels as an object array; missing predictions NaN / None) when numpy is",
         '    installed, else -> list (``predict_rows`` underneath). Same predictions as ``predict``."""',
         "    try:",
         "        import numpy as np",
         "    except ImportError:",
         "        np = None",
         "    keys = list(columns.keys())",
         "    n = len(columns[keys[0]]) if keys else 0",
         "    if np is None:",
         "        cols = [list(columns[k]) for k in keys]",
         "        rows = [dict(zip(keys, vals)) for vals in zip(*cols)] if cols else [{} for _ in range(n)]",
         "        out = predict_rows(rows)",
         f"        names = {(['predict'] if regression else list(names))!r}",
         "        return dict((c, [r[c] for r in out]) for c in names)",
         "",
         "    def col(name):",
         "        return columns[name] if name in columns else [None] * n",
         "",
         "    e = np.zeros(n)",
         "    bad = np.zeros(n, dtype=bool)"]
    for k, (name, _table, mode_b) in enumerate(cat_beta):
        fb = beta[mode_b] if mode_b else 0.0
        L += [f"    v = col({name!r})",
              "    if hasattr(v, 'cat') or hasattr(v, 'factorize'):    # pandas: look each distinct value up once",
              "        codes, uniq = (v.cat.codes, v.cat.categories) if hasattr(v, 'cat') else v.factorize()",
              f"        per = [_lookup(_T{k}, lv, {fb!r}) for lv in uniq]",
              f"        tv = np.array([t for t, _ in per] + [{fb!r}])",
              "        kv = np.array([ok for _, ok in per] + [False])",
              "        codes = np.asarray(codes)    # -1 (missing) picks the last entry: the fallback",
              "        t, ok = tv[codes], kv[codes]",
              "    else:",
              f"        per = [_lookup(_T{k}, x, {fb!r}) for x in v]",
              "        t = np.fromiter((a for a, _ in per), float, n)",
              "        ok = np.fromiter((b for _, b in per), bool, n)"]
        if skip:
            L.append("    bad |= ~ok")
        L.append("    e += t")
    for j, (name, mean, sub, mul) in enumerate(nums):
        L += [f"    x = np.array(col({name!r}), dtype=float)", "    miss = np.isnan(x)"]
        if skip:
            L.append("    bad |= miss")
        L += [f"    x[miss] = {mean!r}", f"    e += ((x - {sub!r}) * {mul!r}) * {beta[d0 + 1 + j]!r}"]
    if offset is not None:
        L += [f"    off = np.array(col({offset!r}), dtype=float)", "    bad |= np.isnan(off)",
              "    off = np.where(np.isnan(off), 0.0, off)"]
    else:
        L.append("    off = 0.0")
    L.append(f"    eta = e + {beta[0]!r} + off")
    L += _NP_LINK_CODE[link]
    L.append("    mu = np.where(bad, np.nan, mu)")
    if regression:
        L.append("    return {'predict': mu}")
    else:
        L += ["    label = np.where(mu >= " + repr(threshold) + f", {dom[1]!r}, {dom[0]!r}).astype(object)",
              "    label[bad] = None",
              f"    return {{'predict': label, {names[1]!r}: 1.0 - mu, {names[2]!r}: mu}}"]
    return L
