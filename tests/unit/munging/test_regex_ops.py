"""Regular-expression string ops (replacefirst, replaceall, strsplit, grep) against Python's ``re``
and pandas' ``str`` methods, on random strings with missing values and random chunk layouts."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate

from munging_helpers import col, fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Patterns on which RE2 and Python's ``re`` agree (RE2 syntax is a subset; leftmost-first both;
#: RE2's ``\b`` and ``\w`` are ASCII-only, Python's are Unicode, so neither is used here).
PATTERNS = ["a", "a+", "b|-", "(a)(b)?", "[aé]", "^a", "a$", "x*", "", r"\s+", "(?:é|A)", r"(?i)b", ".", "a|",
            "(?P<w>[ab])-", "é+b*"]
TEXT = st.one_of(st.none(), st.text(alphabet="abAB-é x", max_size=8))
VALUES = st.lists(TEXT, max_size=20)


def _values(node, key: str, name: str = "s") -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            for v in to_pandas(node, key)[name].tolist()]


def _norm(values) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v for v in values]


def _templates(pattern: str) -> list[str]:
    out = ["", "+", r"<\g<0>>", "\\\\", "é$1"]
    groups = re.compile(pattern).groups
    if groups:
        out += [r"[\1]", r"\g<1>\1"]
    if "?P<w>" in pattern:
        out.append(r"(\g<w>)")
    return out


@SETTINGS
@given(values=VALUES, rows=CHUNK_ROWS, pattern=st.sampled_from(PATTERNS), ic=st.booleans(), data=st.data())
def test_replace_matches_pandas(node, values, rows, pattern, ic, data):
    repl = data.draw(st.sampled_from(_templates(pattern)))
    s = pd.Series(values, dtype=object)
    make_frame(node, pd.DataFrame({"s": s}), "rx", rows)
    for op, n in (("replacefirst", 1), ("replaceall", -1)):
        r = evaluate(node, {"op": op, "args": [col("rx", "s")], "pattern": pattern, "replacement": repl,
                            "ignore_case": ic}, "rx_out")
        assert r["frame"]["types"] == ["string"]
        want = _norm(s.str.replace(pattern, repl, n=n, case=not ic, regex=True).tolist())
        assert _values(node, "rx_out") == want, (op, pattern, repl)


@SETTINGS
@given(values=VALUES, rows=CHUNK_ROWS, pattern=st.sampled_from([p for p in PATTERNS if not re.compile(p).groups]))
def test_strsplit_matches_pandas(node, values, rows, pattern):
    s = pd.Series(values, dtype=object)
    make_frame(node, pd.DataFrame({"s": s}), "rx", rows)
    r = evaluate(node, {"op": "strsplit", "args": [col("rx", "s")], "pattern": pattern}, "rx_out")
    present = [v for v in values if v is not None]
    ncol = max([len(re.split(pattern, v)) for v in present], default=1)
    assert r["frame"]["names"] == [f"C{k + 1}" for k in range(ncol)]
    assert r["frame"]["types"] == ["string"] * ncol
    got = to_pandas(node, "rx_out")
    if present:
        want = s.str.split(pattern, regex=True, expand=True)
        assert want.shape[1] == ncol
        for k in range(ncol):
            assert _norm(got[f"C{k + 1}"].tolist()) == _norm(want[k].tolist()), (pattern, k)
    else:
        assert _norm(got["C1"].tolist()) == [None] * len(values)


@pytest.mark.filterwarnings("ignore:This pattern is interpreted as a regular expression")
@SETTINGS
@given(values=VALUES, rows=CHUNK_ROWS, pattern=st.sampled_from(PATTERNS), ic=st.booleans(), invert=st.booleans())
def test_grep_matches_pandas_contains(node, values, rows, pattern, ic, invert):
    s = pd.Series(values, dtype=object)
    make_frame(node, pd.DataFrame({"s": s}), "rx", rows)
    hit = s.str.contains(pattern, case=not ic, regex=True, na=False).to_numpy(dtype=bool)
    want = hit != invert  # a missing value never matches, so `invert` selects it (as H2O)
    r = evaluate(node, {"op": "grep", "args": [col("rx", "s")], "pattern": pattern, "ignore_case": ic,
                        "invert": invert, "output_logical": True}, "rx_out")
    assert r["frame"]["types"] == ["bool"]
    np.testing.assert_array_equal(to_pandas(node, "rx_out")["s"].to_numpy(), want.astype(float))
    r = evaluate(node, {"op": "grep", "args": [col("rx", "s")], "pattern": pattern, "ignore_case": ic,
                        "invert": invert}, "rx_out")
    assert r["frame"]["types"] == ["int"] and r["frame"]["nrow"] == int(want.sum())
    np.testing.assert_array_equal(to_pandas(node, "rx_out")["C1"].to_numpy(), np.flatnonzero(want).astype(float))


def test_enum_columns_work_on_levels(node):
    c = pd.Categorical(["ab", "cb", None, "b", "ab", "a-b"], categories=["a-b", "ab", "b", "cb", "zz"])
    df = pd.DataFrame({"c": c, "s": pd.Series(["x", None, "y", "z", "w", "v"], dtype=object)})
    make_frame(node, df, "rx_e", 4)
    as_text = pd.Series(c.astype(object), dtype=object)
    # replacefirst on the levels: "ab" and "cb" both become "Xb" and merge into one level
    r = evaluate(node, {"op": "replacefirst", "args": [fr("rx_e")], "pattern": "a|c", "replacement": "X"}, "rx_out")
    assert r["frame"]["types"] == ["enum", "string"]
    assert r["frame"]["domains"][0] == ["X-b", "Xb", "b", "zz"]
    out = to_pandas(node, "rx_out")
    assert _norm(out["c"].tolist()) == _norm(as_text.str.replace("a|c", "X", n=1, regex=True).tolist())
    assert _norm(out["s"].tolist()) == ["x", None, "y", "z", "w", "v"]
    r = evaluate(node, {"op": "replaceall", "args": [col("rx_e", "c")], "pattern": "[a-z]", "replacement": "."},
                 "rx_out")
    assert r["frame"]["domains"][0] == sorted({".", "..", ".-."})  # "-" sorts before "."
    assert _norm(to_pandas(node, "rx_out")["c"].tolist()) == \
        _norm(as_text.str.replace("[a-z]", ".", regex=True).tolist())
    # grep on the levels; the missing row matches only when inverted
    for invert in (False, True):
        want = as_text.str.contains("^a", regex=True, na=False).to_numpy(dtype=bool) != invert
        evaluate(node, {"op": "grep", "args": [col("rx_e", "c")], "pattern": "^a", "invert": invert,
                        "output_logical": True}, "rx_out")
        np.testing.assert_array_equal(to_pandas(node, "rx_out")["c"].to_numpy(), want.astype(float))
        evaluate(node, {"op": "grep", "args": [col("rx_e", "c")], "pattern": "^a", "invert": invert}, "rx_out")
        np.testing.assert_array_equal(to_pandas(node, "rx_out")["C1"].to_numpy(), np.flatnonzero(want))
    # strsplit on the levels: enum columns, one per piece position
    r = evaluate(node, {"op": "strsplit", "args": [col("rx_e", "c")], "pattern": "-"}, "rx_out")
    assert r["frame"]["types"] == ["enum", "enum"]
    got = to_pandas(node, "rx_out")
    want = as_text.str.split("-", regex=True, expand=True)
    for k in range(2):
        assert _norm(got[f"C{k + 1}"].tolist()) == _norm(want[k].tolist())


def test_backreferences_and_groups(node):
    make_frame(node, pd.DataFrame({"s": pd.Series(["2024-05-01", "x", None, "1999-12-31"], dtype=object)}),
               "rx_g", 3)
    r = evaluate(node, {"op": "replaceall", "args": [col("rx_g", "s")], "pattern": r"(\d+)-(?P<m>\d+)-(\d+)",
                        "replacement": r"\3/\g<m>/\1 \\ \g<0>"}, "rx_out")
    assert r["frame"]["types"] == ["string"]
    assert _values(node, "rx_out") == ["01/05/2024 \\ 2024-05-01", "x", None, "31/12/1999 \\ 1999-12-31"]
    # an unmatched optional group inserts nothing (as Python 3.5+)
    evaluate(node, {"op": "replacefirst", "args": [col("rx_g", "s")], "pattern": "(x)|(y)",
                    "replacement": r"[\1\2]"}, "rx_out")
    assert _values(node, "rx_out") == ["2024-05-01", "[x]", None, "1999-12-31"]
    # strsplit emits the pieces between matches only, never the groups (unlike re.split)
    evaluate(node, {"op": "strsplit", "args": [col("rx_g", "s")], "pattern": "(-)"}, "rx_out")
    got = to_pandas(node, "rx_out")
    assert [_norm(got[c].tolist()) for c in ("C1", "C2", "C3")] == \
        [["2024", "x", None, "1999"], ["05", None, None, "12"], ["01", None, None, "31"]]


def test_catastrophic_pattern_is_linear(node):
    """``(a+)+$`` backtracks exponentially in Python's ``re`` on a run of a's followed by b; RE2 is
    linear, so 100 000 characters finish at once (the test would time out otherwise)."""
    text = "a" * 100_000
    make_frame(node, pd.DataFrame({"s": pd.Series([text + "b", text, None], dtype=object)}), "rx_d", 2)
    evaluate(node, {"op": "grep", "args": [col("rx_d", "s")], "pattern": "(a+)+$", "output_logical": True}, "rx_out")
    np.testing.assert_array_equal(to_pandas(node, "rx_out")["s"].to_numpy(), [0.0, 1.0, 0.0])
    evaluate(node, {"op": "replaceall", "args": [col("rx_d", "s")], "pattern": "(a+)+$", "replacement": "Z"},
             "rx_out")
    assert _values(node, "rx_out") == [text + "b", "Z", None]
    evaluate(node, {"op": "strsplit", "args": [col("rx_d", "s")], "pattern": "(?:a+)+b"}, "rx_out")
    got = to_pandas(node, "rx_out")
    assert _norm(got["C1"].tolist()) == ["", text, None] and _norm(got["C2"].tolist()) == ["", None, None]


def test_invalid_patterns_and_replacements_are_refused(node):
    make_frame(node, pd.DataFrame({"s": pd.Series(["a", None], dtype=object), "x": [1.0, 2.0]}), "rx_bad", 1)
    cases = [("(a", "missing )"), (r"(a)\1", "invalid escape"), ("(?=a)", "invalid perl operator"),
             ("a" * 1001, "at most 1000")]
    for pattern, engine in cases:
        for op in ("grep", "replacefirst", "strsplit"):
            with pytest.raises(InvalidParameter) as ei:
                evaluate(node, {"op": op, "args": [col("rx_bad", "s")], "pattern": pattern}, "rx_out")
            msg = str(ei.value)
            assert engine in msg, msg
            if len(pattern) < 100:
                assert repr(pattern) in msg and op in msg
    for repl, why in ((r"\2", "group 2"), (r"\n", "unsupported escape"), (r"\g<nope>", "unknown group"),
                      ("\\", "unsupported escape"), (r"\012", "octal")):
        with pytest.raises(InvalidParameter, match=re.escape(why)):
            evaluate(node, {"op": "replaceall", "args": [col("rx_bad", "s")], "pattern": "(a)",
                            "replacement": repl}, "rx_out")
    with pytest.raises(InvalidParameter, match="string or enum"):
        evaluate(node, {"op": "grep", "args": [col("rx_bad", "x")], "pattern": "a"}, "rx_out")
    with pytest.raises(InvalidParameter, match="one-column"):
        evaluate(node, {"op": "grep", "args": [fr("rx_bad")], "pattern": "a"}, "rx_out")
    with pytest.raises(InvalidParameter, match="true or false"):
        evaluate(node, {"op": "grep", "args": [col("rx_bad", "s")], "pattern": "a", "invert": 1}, "rx_out")
    with pytest.raises(InvalidParameter, match="needs parameter `pattern`"):
        evaluate(node, {"op": "replaceall", "args": [col("rx_bad", "s")]}, "rx_out")


def test_three_nodes_give_the_same_bits_as_one():
    """Params and partials round-trip through the cluster's msgpack codec (fake three-node view)."""
    from shoal_server.config import NodeConfig
    from shoal_server.node import Node
    from shoal_server.store.layout import home_of
    from fakecluster import fake_cluster
    from test_three_nodes import _read, _spread

    rng = np.random.default_rng(11)
    n = 150
    words = np.array(["a-b", "b--c", "", "é-x-y-z", "AB", "q"], dtype=object)
    s = pd.Series(rng.choice(words, n), dtype=object)
    s[rng.random(n) < 0.1] = None
    df = pd.DataFrame({"s": s, "c": pd.Categorical(rng.choice(["ab", "cb", "b-a", None], n))})
    exprs = {
        "r_first": {"op": "replacefirst", "args": [fr("d")], "pattern": "(b)", "replacement": r"<\1>"},
        "r_all": {"op": "replaceall", "args": [fr("d")], "pattern": "[abc]", "replacement": "",
                  "ignore_case": True},
        "r_split": {"op": "strsplit", "args": [col("d", "s")], "pattern": "-+"},
        "r_split_enum": {"op": "strsplit", "args": [col("d", "c")], "pattern": "-"},
        "r_grep": {"op": "grep", "args": [col("d", "s")], "pattern": "^a|z$", "invert": True},
        "r_grep_enum": {"op": "grep", "args": [col("d", "c")], "pattern": "b$"},
        "r_grep_logical": {"op": "grep", "args": [col("d", "s")], "pattern": "B", "ignore_case": True,
                           "output_logical": True},
    }
    with fake_cluster(3, 61000) as nodes:
        with Node(NodeConfig(threads=2)) as single:
            make_frame(single, df, "raw", 1000)
            _spread(single, single, "raw", "d", 7)
            _spread(nodes[0], single, "raw", "d", 7)
            h3 = nodes[0].catalog.get("d")
            assert len({home_of(i, h3.members) for i in range(h3.nchunks)}) == 3
            for name, expr in exprs.items():
                r1 = evaluate(single, expr, name)
                evaluate(nodes[1], expr, name)
                (ha, a), (hb, b) = _read(single, name), _read(nodes[2], name)
                assert ha.columns == hb.columns and ha.nrow == hb.nrow == r1["frame"]["nrow"], name
                for ca, cb in zip(a, b):
                    if ca.type == "string":
                        assert all(np.array_equal(x, y) for x, y in zip(ca.values, cb.values)), name
                        assert np.array_equal(ca.na, cb.na), name
                    else:
                        assert np.array_equal(ca.as_float(), cb.as_float(), equal_nan=True), name
            # and the one-node answers are the pandas ones
            got = to_pandas(single, "r_split")
            want = df["s"].str.split("-+", regex=True, expand=True)
            assert got.shape[1] == want.shape[1] == 4
            for k in range(4):
                assert _norm(got[f"C{k + 1}"].tolist()) == _norm(want[k].tolist())
            hit = df["s"].str.contains("^a|z$", regex=True, na=False).to_numpy(dtype=bool)
            np.testing.assert_array_equal(to_pandas(single, "r_grep")["C1"].to_numpy(), np.flatnonzero(~hit))


def test_replacement_output_is_bounded(node, monkeypatch):
    """An empty pattern matches between every character: a long replacement would multiply the
    text; past the per-chunk output bound the op fails with memory_exceeded instead."""
    from shoal_server.errors import MemoryExceeded
    from shoal_server.munging import textdate
    monkeypatch.setattr(textdate, "MAX_REPLACE_OUTPUT", 10_000)
    make_frame(node, pd.DataFrame({"s": pd.Series(["abc" * 40, "x", None], dtype=object)}), "rx_big", 3)
    expr = {"op": "replaceall", "args": [col("rx_big", "s")], "pattern": "", "replacement": "y" * 100}
    with pytest.raises(MemoryExceeded, match="10000 bytes"):
        evaluate(node, expr, "rx_out")
    expr["replacement"] = "y"  # 241 + 3 bytes: within the bound (121 * 100 + 120 were not)
    evaluate(node, expr, "rx_out")
    assert _values(node, "rx_out", "s") == [re.sub("", "y", "abc" * 40), "yxy", None]


def test_grep_on_a_filtered_frame_numbers_its_rows(node):
    """Row numbers are those of the grep's input frame (a filter leaves empty chunks behind)."""
    s = pd.Series(["ab", "x", None, "ab", "b", "a", "zz", "ba"], dtype=object)
    x = [1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
    make_frame(node, pd.DataFrame({"s": s, "x": x}), "rx_f", 2)
    kept = {"op": "rows", "args": [fr("rx_f"), {"op": ">", "args": [col("rx_f", "x"), 0]}]}
    r = evaluate(node, {"op": "grep", "args": [{"op": "col", "args": [kept], "name": "s"}], "pattern": "a"}, "rx_out")
    sub = s[np.array(x) > 0].reset_index(drop=True)
    want = np.flatnonzero(sub.str.contains("a", regex=True, na=False).to_numpy(dtype=bool))
    assert r["frame"]["nrow"] == len(want)
    np.testing.assert_array_equal(to_pandas(node, "rx_out")["C1"].to_numpy(), want)
