"""Setup guessing and overrides (``parser.setup.guess_setup``)."""
from __future__ import annotations

import pytest

from shoal_server.errors import InvalidParameter, ParseError
from shoal_server.parser import DEFAULT_NA_STRINGS, guess_setup


def g(text: str | bytes, **ov):
    data = text.encode() if isinstance(text, str) else text
    return guess_setup(data, ov, complete=True)


def test_guesses_types_header_and_separator():
    s = g("id,score,name,day,ok,text\n"
          "1,2.5,ann,2021-03-04,true,x\n"
          "2,NA,bob,2021-03-05,False,y\n"
          "3,-1e3,ann,,TRUE,z\n")
    assert s.sep == "," and s.header is True
    assert s.col_names == ["id", "score", "name", "day", "ok", "text"]
    assert s.col_types == ["int", "real", "enum", "time", "bool", "enum"]
    assert s.sample_rows == 3
    d = s.to_dict()
    assert d["ncols"] == 6 and d["na_strings"][0] == list(DEFAULT_NA_STRINGS)


def test_no_header_when_first_row_has_numbers():
    s = g("1,a\n2,b\n")
    assert s.header is False and s.col_names == ["C1", "C2"]


def test_all_text_header_heuristic():
    assert g("name,city\nbob,paris\nal,rome\n").header is True
    # the first row's value reappears below: data, not names
    assert g("x,y\nx,y\nz,w\n").header is False


def test_string_vs_enum():
    many = "v\n" + "".join(f"u{i}\n" for i in range(100))
    assert g(many).col_types == ["string"]
    few = "v\n" + "".join(f"u{i % 5}\n" for i in range(100))
    assert g(few).col_types == ["enum"]
    long = "v\n" + "a" * 300 + "\nb\n"
    assert g(long).col_types == ["string"]


def test_single_column_and_separators():
    assert g("v\n1\n2\n").sep is None
    assert g("a;b\n1,5;2\n3,5;4\n").sep == ";"
    assert g("a\tb\n1\t2\n").sep == "\t"
    assert g("a|b\n1|2\n").sep == "|"
    assert g("a b\n1 2\n3 4\n").sep == " "


def test_no_data_raises():
    with pytest.raises(ParseError, match="no data"):
        g("\n\n")


def test_overrides_win():
    s = g("a,b,c\n1,2,x\n3,4,y\n", sep=",", header=False, col_names=["p", "q", "r"],
          col_types={"p": "enum", 1: "real", "r": "categorical"},
          na_strings={"r": ["x"]}, skipped_columns=["q"])
    assert s.header is False and s.col_names == ["p", "q", "r"]
    assert s.col_types == ["enum", "real", "enum"] and s.forced_real == [1]
    assert s.na_strings[2] == ["x"] and s.na_strings[0] == list(DEFAULT_NA_STRINGS)
    assert s.skipped_columns == [1]


def test_col_types_full_list_and_aliases():
    s = g("a,b,c,d\n1,2,x,2020-01-01\n", col_types=["factor", "numeric", "string", "date"])
    assert s.col_types == ["enum", "int", "string", "time"]


def test_global_na_strings():
    s = g("a\n-999\n1\n", na_strings=["-999"])
    assert s.na_strings == [["-999"]] and s.col_types == ["int"]


def test_invalid_overrides_are_listed_together():
    with pytest.raises(InvalidParameter) as ei:
        g("a,b\n1,2\n", sep=";;", header="yes", col_types={"a": "complex"}, bogus=1)
    problems = ei.value.details["problems"]
    assert len(problems) == 4
    assert any("sep" in p for p in problems) and any("header" in p for p in problems)
    assert any("complex" in p for p in problems) and any("bogus" in p for p in problems)


def test_invalid_column_references_are_listed_together():
    with pytest.raises(InvalidParameter) as ei:
        g("a,b\n1,2\n", col_types={"zz": "int"}, skipped_columns=[7], col_names=["x"])
    problems = ei.value.details["problems"]
    assert len(problems) == 3
    assert any("zz" in p for p in problems) and any("7" in p for p in problems)


def test_skipping_every_column_is_refused():
    with pytest.raises(InvalidParameter, match="every column"):
        g("a,b\n1,2\n", skipped_columns=[0, "b"])
