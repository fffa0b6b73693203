"""Parity of the munging API: every expression op through BOTH clients against the same node.

Each case is one JSON expression tree. The Python side builds it with ``shoal.expr.Expr.op`` and
evaluates it; the R side builds the same tree with the generated builders (``shoal_expr_<op>()``,
``rclient/R/generated-expr.R``; the R call text is derived from the tree here) and evaluates it
with ``shoal_evaluate()``. Both trees must serialise to the same JSON, and both results (a frame,
a list of frames, a scalar or a list) must be equal in the canonical text form of ``helpers.R`` /
``canon.py`` (doubles as ``%.17g``, NA as null).

``EXPRESSION_PARITY_TESTS`` maps each entry of the description's ``expression_ops`` to the test
that runs it; ``test_every_expression_op_has_a_parity_test`` fails when an op has none.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shoal
from shoal.expr import Expr

from .canon import canon_df, from_r, num_text

pytestmark = pytest.mark.r

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = ROOT / "server" / "shoal_server" / "api" / "description.json"

_UNARY = ["abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "exp", "expm1", "floor", "log", "log10",
          "log1p", "log2", "neg", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "trunc", "isna", "not",
          "round", "signif", "cumsum", "cumprod", "cummin", "cummax"]
_BINARY = ["add", "sub", "mul", "div", "floordiv", "mod", "pow", "eq", "ne", "lt", "le", "gt", "ge", "and",
           "or", "ifelse"]
_REDUCERS = ["sum", "mean", "median", "min", "max", "sd", "var", "prod", "nacnt", "all", "any", "nrow",
             "ncol", "names", "levels", "nlevels"]
_SUMMARIES = ["unique", "table", "hist", "cor", "scale", "cut", "quantile"]
_TEXT_DATES = ["year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second", "tolower", "toupper",
               "trim", "substring", "nchar", "asfactor", "asnumeric", "ascharacter", "as_date", "set_levels",
               "relevel"]
_REGEX = ["replacefirst", "replaceall", "strsplit", "grep"]
_SLICING = ["frame", "col", "cols", "drop", "rows", "head", "tail", "cbind", "rbind", "assign", "rename"]
_REORG = ["group_by", "sort", "merge", "split_frame", "kfold_column", "stratified_kfold_column",
          "drop_duplicates", "fillna", "impute", "runif", "rank_within_group_by"]

#: expression op → the test below that runs it through both clients
EXPRESSION_PARITY_TESTS: dict[str, str] = {
    **{op: "test_elementwise_unary_ops" for op in _UNARY},
    **{op: "test_elementwise_binary_ops" for op in _BINARY},
    **{op: "test_reducers" for op in _REDUCERS},
    **{op: "test_scans_and_summaries" for op in _SUMMARIES},
    **{op: "test_text_dates_and_types" for op in _TEXT_DATES},
    **{op: "test_regular_expressions" for op in _REGEX},
    **{op: "test_slicing_and_assembly" for op in _SLICING},
    **{op: "test_reorganisations" for op in _REORG},
}

KEY = "pex"
KEY2 = "pex2"
F = {"op": "frame", "key": KEY}


def col(name: str) -> dict:
    return {"op": "col", "frame": KEY, "name": name}


def mk(op: str, *args: Any, **params: Any) -> dict:
    out: dict = {"op": op}
    if args:
        out["args"] = list(args)
    out.update(params)
    return out


def data() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [1.5, np.nan, 3.0, -2.0, 10.0, 0.25, 7.0, -4.5],
        "p": [0.5, 1.0, 2.0, 3.5, 4.0, 8.0, 0.1, 6.0],
        "u": [-0.9, -0.5, 0.0, 0.3, 0.7, 0.95, np.nan, 0.1],
        "i": pd.array([1, 2, 3, 4, None, 6, 7, 8], dtype="Int64"),
        "g": pd.Categorical(["x", "y", "x", None, "y", "z", "x", "y"], categories=["x", "y", "z"]),
        "h": pd.Categorical(["a", "b", "a", "c", "b", "a", "c", "b"], categories=["a", "b", "c"]),
        "s": ["Ab", " c ", None, "dd", "E", "fGh", "ab ab", "x"],
        "l": pd.array([True, False, None, True, True, False, None, False], dtype="boolean"),
        "t": pd.to_datetime(["2020-01-01 00:00:00", "2021-06-15 13:45:30", None, "1999-12-31 23:59:59",
                             "2024-02-29 12:00:00", "2013-01-07 05:06:07", "2000-03-01 00:00:00",
                             "2016-10-10 10:10:10"]),
        "d": ["01/02/2020", "31/12/1999", "bad", None, "29/02/2024", "07/01/2013", "01/03/2000", "10/10/2016"],
    })


# ---------------------------------------------------------------------------------------- plumbing
@pytest.fixture(scope="module")
def both(r, node):
    """Both clients connected to one node, the test frames stored."""
    conn = shoal.init(url=node.url, verbose=False)
    r(f'shoal_init(url = "{node.url}", verbose = FALSE)')
    shoal.Frame(data(), destination_frame=KEY)
    shoal.Frame(pd.DataFrame({"g": pd.Categorical(["x", "z", "w"]), "v": [10.0, 30.0, 40.0]}),
                destination_frame=KEY2)
    return conn


def r_literal(v: Any) -> str:
    """An R expression whose jsonlite serialisation is the JSON value ``v``."""
    if isinstance(v, dict):
        if "op" in v:
            return r_code(v)
        return "list(" + ", ".join(f"`{k}` = {r_literal(x)}" for k, x in v.items()) + ")"
    if isinstance(v, list):
        if any(isinstance(x, (dict, list)) for x in v):
            return "list(" + ", ".join(r_literal(x) for x in v) + ")"
        return "I(c(" + ", ".join(r_literal(x) for x in v) + "))"
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return f"{v}L"
    if isinstance(v, float):
        assert math.isfinite(v)
        return repr(v)
    return json.dumps(v)


def r_code(tree: dict) -> str:
    """The R builder call for a tree: shoal_expr_<op>(<operands>, <param> = <value>)."""
    args = [r_literal(a) for a in tree.get("args", [])]
    params = [f"{k} = {r_literal(v)}" for k, v in tree.items() if k not in ("op", "args")]
    return f"shoal_expr_{tree['op']}({', '.join(args + params)})"


def py_expr(tree: Any) -> Any:
    """The same tree through the Python builder (shoal.expr)."""
    if not (isinstance(tree, dict) and "op" in tree):
        return tree
    params = {k: (py_expr(v) if isinstance(v, dict) and "op" in v else v)
              for k, v in tree.items() if k not in ("op", "args")}
    params = {k: (v.tree if isinstance(v, Expr) else v) for k, v in params.items()}
    return Expr.op(tree["op"], *[py_expr(a) for a in tree.get("args", [])], **params)


def rdf(r, expr: str):
    return from_r(r(f"canon_df({expr})")[0])


def r_result(r) -> tuple[str, Any]:
    kind = r("if (inherits(res_r, 'ShoalFrame')) 'frame' else if (is.list(res_r) && length(res_r) && "
             "inherits(res_r[[1]], 'ShoalFrame')) 'frames' else 'value'")[0]
    if kind == "frame":
        return kind, rdf(r, "as.data.frame(res_r)")
    if kind == "frames":
        n = int(r("length(res_r)")[0])
        return kind, [rdf(r, f"as.data.frame(res_r[[{k + 1}]])") for k in range(n)]
    return kind, json.loads(r("canon_json(res_r)")[0])


def py_frame(key: str):
    return canon_df(shoal.get_frame(key).as_data_frame())


def py_result(res: dict) -> tuple[str, Any]:
    kind = res["kind"]
    if kind == "frame":
        return kind, py_frame(res["frame"]["key"])
    if kind == "frames":
        return kind, [py_frame(f["key"]) for f in res["frames"]]
    if kind == "scalar":
        return "value", num_text(res["value"])
    values = num_text(res["values"])
    return "value", values[0] if len(values) == 1 else values


def check(r, conn, tree: dict, r_call: str | None = None) -> tuple[str, Any]:
    """Build ``tree`` in both clients (R: the generated builders, or ``r_call``), evaluate, compare."""
    code = r_call or r_code(tree)
    r(f"tree_r <- {code}")
    if r_call is None:
        r_json = json.loads(r('as.character(jsonlite::toJSON(tree_r, auto_unbox = TRUE, digits = NA, '
                              'null = "null", na = "null"))')[0])
        assert r_json == tree, (code, r_json)
    expr = py_expr(tree)
    assert expr.tree == tree
    py = py_result(expr.evaluate(conn=conn))
    r("res_r <- shoal_evaluate(tree_r)" if r_call is None else f"res_r <- {code}")
    got = r_result(r)
    assert got == py, (code, got, py)
    return py


# ---------------------------------------------------------------------------------------- tests
def test_elementwise_unary_ops(r, both):
    for op in _UNARY:
        operand = {"acos": col("u"), "asin": col("u"), "not": col("l"), "sqrt": col("p"), "log": col("p"),
                   "log10": col("p"), "log2": col("p"), "log1p": col("p"), "cumprod": col("p")}.get(op, col("x"))
        params = {"round": {"digits": 2}, "signif": {"digits": 3}}.get(op, {})
        kind, value = check(r, both, mk(op, operand, **params))
        assert kind == "frame" and len(value[0]["values"]) == 8, op
    # the values themselves, against numpy, for one of them
    _, value = check(r, both, mk("sqrt", col("p")))
    assert value[0]["values"] == num_text(list(np.sqrt(data()["p"])))


def test_elementwise_binary_ops(r, both):
    for op in _BINARY:
        if op == "ifelse":
            check(r, both, mk("ifelse", mk("gt", col("x"), 0), col("x"), 0))
            check(r, both, mk("ifelse", col("l"), "yes", "no"))
            continue
        if op in ("and", "or"):
            check(r, both, mk(op, col("l"), mk("gt", col("x"), 0)))
            check(r, both, mk(op, col("l"), True))
            continue
        check(r, both, mk(op, col("x"), col("i")))
        check(r, both, mk(op, 2.5, col("p")))
    kind, value = check(r, both, mk("eq", col("g"), "x"))
    assert value[0]["values"] == ["TRUE", "FALSE", "TRUE", None, "FALSE", "FALSE", "TRUE", "FALSE"]


def test_reducers(r, both):
    for op in ["sum", "mean", "median", "min", "max", "sd", "var", "prod", "all", "any"]:
        operand = col("l") if op in ("all", "any") else col("x")
        check(r, both, mk(op, operand))
        kind, value = check(r, both, mk(op, operand, na_rm=True))
        assert kind == "value", op
    # several columns: one value each
    _, sums = check(r, both, mk("sum", mk("cols", F, select=["x", "p"]), na_rm=True))
    assert sums == num_text([float(np.nansum(data()["x"])), float(np.sum(data()["p"]))])
    check(r, both, mk("nacnt", F))
    for op in ["nrow", "ncol", "names"]:
        check(r, both, mk(op, F))
    check(r, both, mk("levels", col("g")))
    _, n = check(r, both, mk("nlevels", col("g")))
    assert n == "3"


def test_scans_and_summaries(r, both):
    check(r, both, mk("unique", col("g")))
    check(r, both, mk("unique", col("i")))
    check(r, both, mk("table", col("g")))
    check(r, both, mk("table", col("g"), col("h")))
    check(r, both, mk("hist", col("p"), breaks=3))
    _, c = check(r, both, mk("cor", col("x"), col("p"), use="complete.obs"))
    ok = data()[["x", "p"]].dropna()
    assert abs(float(c) - float(np.corrcoef(ok["x"], ok["p"])[0, 1])) < 1e-12
    check(r, both, mk("scale", mk("cols", F, select=["p", "u"]), center=True, scale=True))
    check(r, both, mk("cut", col("x"), breaks=[-5.0, 0.0, 5.0, 20.0]))
    check(r, both, mk("cut", col("x"), breaks=[-5.0, 0.0, 20.0], labels=["neg", "pos"], right=False,
                        include_lowest=True))
    _, q = check(r, both, mk("quantile", col("p"), probs=[0.1, 0.5, 0.9], combine_method="interpolate"))
    assert q[1]["values"] == num_text(list(np.quantile(data()["p"], [0.1, 0.5, 0.9])))
    check(r, both, mk("quantile", col("x"), probs=[0.25], combine_method="low"))


def test_text_dates_and_types(r, both):
    for op in ["year", "month", "week", "day", "dayOfWeek", "hour", "minute", "second"]:
        check(r, both, mk(op, col("t")))
    for op in ["tolower", "toupper", "trim", "nchar", "ascharacter"]:
        check(r, both, mk(op, col("s")))
    check(r, both, mk("substring", col("s"), start=1, end=3))
    check(r, both, mk("asfactor", col("i")))
    check(r, both, mk("asfactor", col("s")))
    check(r, both, mk("asnumeric", col("g")))
    check(r, both, mk("ascharacter", col("g")))
    _, d = check(r, both, mk("as_date", col("d"), format="%d/%m/%Y"))
    assert d[0]["values"][1] == "%.17g" % (pd.Timestamp("1999-12-31").value // 10**6)
    assert d[0]["values"][2] is None
    check(r, both, mk("set_levels", col("h"), levels=["A", "B", "C"]))
    _, rl = check(r, both, mk("relevel", col("h"), y="c"))
    assert rl[0]["levels"] == ["c", "a", "b"]


def test_regular_expressions(r, both):
    """The R wrappers (shoal_sub, shoal_gsub, shoal_strsplit, shoal_grep) against the Python builder."""
    fr = f'shoal_get_frame("{KEY}")$s'
    cases = [
        (mk("replacefirst", col("s"), pattern="[a-d]", replacement="Z", ignore_case=False),
         f'shoal_sub("[a-d]", "Z", {fr})'),
        (mk("replaceall", col("s"), pattern="b", replacement="_", ignore_case=True),
         f'shoal_gsub("b", "_", {fr}, ignore.case = TRUE)'),
        (mk("strsplit", col("s"), pattern=" "), f'shoal_strsplit({fr}, " ")'),
        (mk("grep", col("s"), pattern="a", ignore_case=False, invert=False, output_logical=True),
         f'shoal_grep("a", {fr}, output.logical = TRUE)'),
        (mk("grep", col("s"), pattern="A", ignore_case=True, invert=True, output_logical=False),
         f'shoal_grep("A", {fr}, ignore.case = TRUE, invert = TRUE)'),
    ]
    for tree, call in cases:
        check(r, both, tree, r_call=call)
    # and through the generated builders, for the ops the description lists
    listed = {e["op"] for e in json.loads(DESCRIPTION.read_text(encoding="utf-8")).get("expression_ops", [])}
    for tree, _call in cases:
        if tree["op"] in listed:
            check(r, both, tree)
    _, sub = check(r, both, cases[0][0], r_call=cases[0][1])
    assert sub[0]["values"] == ["AZ", " Z ", None, "Zd", "E", "fGh", "Zb ab", "x"]


def test_slicing_and_assembly(r, both):
    check(r, both, F)
    check(r, both, {"op": "col", "frame": KEY, "index": 2})
    check(r, both, mk("col", F, name="g"))
    check(r, both, mk("cols", F, select=["x", "g"]))
    check(r, both, mk("cols", F, select=[0, -1]))
    check(r, both, mk("cols", F, select={"start": 1, "stop": 4, "step": 2}))
    check(r, both, mk("drop", F, names=["s", "t", "d"]))
    check(r, both, mk("rows", F, select=[2, 0, 0]))
    check(r, both, mk("rows", F, mk("gt", col("x"), 1)))
    check(r, both, mk("rows", F, select={"start": 0, "stop": 6, "step": 2}))
    check(r, both, mk("head", F, n=3))
    check(r, both, mk("tail", F, n=2))
    check(r, both, mk("cbind", col("x"), col("g"), col("x")))
    check(r, both, mk("rbind", mk("head", F, n=2), mk("tail", F, n=3)))
    check(r, both, mk("assign", F, mk("mul", col("x"), 2), name="z"))
    check(r, both, mk("assign", F, "k", name="x"))
    check(r, both, mk("rename", F, names={"x": "xx", "g": "gg"}))


def test_reorganisations(r, both):
    check(r, both, mk("group_by", F, by=["g"], aggs=[{"agg": "nrow", "na": "all"},
                                                       {"agg": "mean", "col": "x", "na": "rm"},
                                                       {"agg": "sd", "col": "p", "na": "all"},
                                                       {"agg": "mode", "col": "h", "na": "all"}]))
    check(r, both, mk("group_by", F, by=["h", "g"], aggs=[{"agg": "median", "col": "p", "na": "ignore"}]))
    check(r, both, mk("sort", F, by=["g", "x"], ascending=[True, False]))
    check(r, both, mk("sort", F, by=["s"]))
    check(r, both, mk("rank_within_group_by", F, group_by_cols=["g"], sort_cols=["x", "p"], ascending=[False, True]))
    check(r, both, mk("rank_within_group_by", F, group_by_cols=["h", "g"], sort_cols=["s"], new_col_name="rk",
                      sort_cols_sorted=True))
    check(r, both, mk("merge", F, {"op": "frame", "key": KEY2}, by_x=["g"], by_y=["g"], all_x=True))
    check(r, both, mk("merge", F, {"op": "frame", "key": KEY2}, all_x=True, all_y=True))
    kind, parts = check(r, both, mk("split_frame", F, ratios=[0.5], seed=3))
    assert kind == "frames" and len(parts) == 2
    assert sum(len(p[0]["values"]) for p in parts) == 8
    _, folds = check(r, both, mk("kfold_column", F, nfolds=3, seed=5))
    assert set(folds[0]["values"]) <= {"0", "1", "2"}
    check(r, both, mk("stratified_kfold_column", col("h"), nfolds=2, seed=5))
    check(r, both, mk("drop_duplicates", F, by=["g"], keep="last"))
    check(r, both, mk("drop_duplicates", mk("cols", F, select=["h"])))
    check(r, both, mk("fillna", mk("cols", F, select=["x", "u"]), method="forward", maxlen=1))
    check(r, both, mk("fillna", F, method="backward", maxlen=2))
    check(r, both, mk("impute", F, column="x", method="median", by=["h"]))
    check(r, both, mk("impute", F, column="g", method="mode"))
    _, rnd = check(r, both, mk("runif", F, seed=9))
    vals = [float(v) for v in rnd[0]["values"]]
    assert len(vals) == 8 and all(0.0 <= v < 1.0 for v in vals)


# ---------------------------------------------------------------------------------------- coverage
def test_every_expression_op_has_a_parity_test():
    desc = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    listed = [e["op"] for e in desc["expression_ops"]]
    assert len(listed) >= 100
    missing = sorted(set(listed) - set(EXPRESSION_PARITY_TESTS))
    assert not missing, f"expression ops without a parity test (add them to EXPRESSION_PARITY_TESTS): {missing}"
    tests = {name for name, obj in globals().items() if name.startswith("test_") and callable(obj)}
    unknown = sorted(set(EXPRESSION_PARITY_TESTS.values()) - tests)
    assert not unknown, f"EXPRESSION_PARITY_TESTS names tests that do not exist: {unknown}"


def test_every_expression_op_has_an_r_builder(r, r_lib):
    """The installed R package exports one builder per listed op, named as the parity tests call it."""
    desc = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    exports = set(r('getNamespaceExports("shoal")'))
    missing = [e["op"] for e in desc["expression_ops"] if f"shoal_expr_{e['op']}" not in exports]
    assert not missing, f"no R builder for: {missing} (run `python -m tools.codegen`)"
