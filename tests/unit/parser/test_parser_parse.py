"""The parallel parse: values against pandas, chunk-size invariance, domains, inputs, cleanup."""
from __future__ import annotations

import gzip
import io
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import JobCancelled
from shoal_server.parser import DEFAULT_NA_STRINGS, frame_from_columns, parse_files, parse_setup

NA = list(DEFAULT_NA_STRINGS)


def pandas_read(data: bytes, **kw) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=NA, **kw)


def assert_same(ours: pd.DataFrame, ref: pd.DataFrame):
    assert list(ours.columns) == list(ref.columns)
    for c in ref.columns:
        r = ref[c]
        o = ours[c]
        if r.dtype.kind in "fiub":
            np.testing.assert_array_equal(o.to_numpy(np.float64), r.to_numpy(np.float64), err_msg=c)
        else:
            rv = [None if pd.isna(v) else str(v) for v in r]
            ov = [None if pd.isna(v) else str(v) for v in o]
            assert ov == rv, c


def make_csv(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "i": rng.integers(-1000, 1000, n),
        "f": rng.normal(size=n) * 10.0 ** rng.integers(-5, 5, n),
        "c": rng.choice(["alpha", "beta", "gam,ma", 'q"uote', "new\nline", "é😀"], n),
        "s": [f"id{k}" for k in range(n)],
        "b": rng.choice(["true", "false"], n),
    })
    df.loc[rng.random(n) < 0.1, "f"] = np.nan
    df.loc[rng.random(n) < 0.1, "c"] = None
    return df.to_csv(index=False).encode()


def test_values_equal_pandas(node, parse_bytes, frame_df):
    data = make_csv(3000, 1)
    r = parse_bytes(node, data)
    assert [c.type.value for c in r.header.columns] == ["int", "real", "enum", "string", "bool"]
    ref = pandas_read(data)
    ref["b"] = ref["b"].astype(float)
    assert_same(frame_df(node, r.header), ref)


def test_dates_equal_pandas(node, parse_bytes, column_values):
    data = b"d\n2021-01-01\n1999-12-31 23:59:59\n2000-02-29 12:00:00.125\n\n2038-01-19\n"
    h = parse_bytes(node, data).header
    ts = pd.to_datetime(pd.read_csv(io.BytesIO(data))["d"], format="ISO8601")
    ref = (ts - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)
    assert column_values(node, h, 0) == ref.tolist()


@pytest.mark.parametrize("chunk_bytes", [64, 257, 4096])
def test_tiny_ranges_give_the_same_frame(make_node, parse_bytes, frame_df, chunk_bytes):
    data = make_csv(600, 2)
    one = make_node()
    ref = frame_df(one, parse_bytes(one, data).header)
    many = make_node(chunk_bytes=chunk_bytes)
    h = parse_bytes(many, data).header
    assert h.nchunks > 3
    pd.testing.assert_frame_equal(frame_df(many, h), ref)
    assert [c.domain for c in h.columns] == [c.domain for c in one.catalog.get("fr").columns]


def test_domains_are_unified_and_sorted(make_node, parse_bytes, column_values):
    node = make_node(chunk_bytes=32)
    data = b"k\n" + b"zeta\nalpha\nmid\n" * 5 + b"beta\n" + b"alpha\n" * 10
    h = parse_bytes(node, data).header
    col = h.columns[0]
    assert col.domain == ("alpha", "beta", "mid", "zeta")
    assert h.nchunks > 4
    vals = column_values(node, h, 0)
    assert vals == ["zeta", "alpha", "mid"] * 5 + ["beta"] + ["alpha"] * 10


def test_int_and_real_ranges_unify_to_real(make_node, parse_bytes, column_values):
    node = make_node(chunk_bytes=16)
    data = b"x\n" + b"1\n2\n3\n4\n5\n6\n" + b"2.5\n" + b"7\n8\n9\n"
    h = parse_bytes(node, data).header
    assert h.columns[0].type.value == "real"
    assert column_values(node, h, 0) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 2.5, 7.0, 8.0, 9.0]
    assert {node.chunks.get("fr", 0, i).meta["type"] for i in range(h.nchunks)} == {"real"}


def test_skipped_columns_and_forced_types(node, parse_bytes, column_values):
    r = parse_bytes(node, b"a,b,c\n1,x,3\n2,y,4\n", {"skipped_columns": ["b"], "col_types": {"c": "real"}})
    assert [c.name for c in r.header.columns] == ["a", "c"]
    assert [c.type.value for c in r.header.columns] == ["int", "real"]
    assert column_values(node, r.header, 1) == [3.0, 4.0]


def test_numeric_na_string_override(node, parse_bytes, column_values):
    h = parse_bytes(node, b"a,b\n-999,1\n5,-999\n", {"na_strings": {"a": ["-999"]}}).header
    assert column_values(node, h, 0) == [None, 5]
    assert column_values(node, h, 1) == [1, -999]


def test_several_files_directory_and_glob(make_node, tmp_path, column_values):
    node = make_node(chunk_bytes=16)
    d = tmp_path / "parts"
    d.mkdir()
    (d / "p1.csv").write_bytes(b"a,b\n1,x\n2,y\n")
    (d / "p2.csv").write_bytes(b"a,b\n3,z\n")
    (d / "p3.csv.gz").write_bytes(gzip.compress(b"a,b\n4,x\n"))
    for i, paths in enumerate([[str(d)], [str(d / "p*")],
                               [str(d / "p1.csv"), str(d / "p2.csv"), str(d / "p3.csv.gz")]]):
        h = parse_files(node, paths, {}, f"m{i}")
        assert column_values(node, h, 0) == [1, 2, 3, 4]
        assert column_values(node, h, 1) == ["x", "y", "z", "x"]
        assert h.columns[1].domain == ("x", "y", "z")


def test_parse_setup_samples_the_first_file(node, tmp_path):
    p = tmp_path / "a.csv.gz"
    p.write_bytes(gzip.compress(b"a,b\n1,x\n"))
    s = parse_setup(node, [str(p)], {"col_types": {"b": "string"}})
    assert s.col_names == ["a", "b"] and s.col_types == ["int", "string"]
    assert not os.listdir(node.spool_dir)


def test_parquet_types(node, tmp_path, column_values):
    import pyarrow as pa
    import pyarrow.parquet as pq
    n = 50
    t = pa.table({
        "i": pa.array([k if k % 7 else None for k in range(n)], pa.int32()),
        "f": pa.array([k / 4 for k in range(n)], pa.float64()),
        "b": pa.array([k % 2 == 0 for k in range(n)]),
        "cat": pa.array(["lo", "hi"] * (n // 2)).dictionary_encode(),
        "s": pa.array([f"u{k}" for k in range(n)]),
        "ts": pa.array([1_600_000_000_000 + k for k in range(n)], pa.timestamp("ms")),
        "d": pa.array([k for k in range(n)], pa.date32()),
    })
    p = tmp_path / "t.parquet"
    pq.write_table(t, p)
    h = parse_files(node, [str(p)], {}, "pq")
    assert [c.type.value for c in h.columns] == ["int", "real", "bool", "enum", "string", "time", "time"]
    assert column_values(node, h, 0)[:8] == [None, 1, 2, 3, 4, 5, 6, None]
    assert h.columns[3].domain == ("hi", "lo")
    assert column_values(node, h, 3)[:2] == ["lo", "hi"]
    assert column_values(node, h, 6)[1] == 86_400_000


def test_parquet_overrides(node, tmp_path, column_values):
    import pyarrow as pa
    import pyarrow.parquet as pq
    p = tmp_path / "o.parquet"
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"], "c": [f"long{i}" for i in range(2)]}), p)
    h = parse_files(node, [str(p)], {"col_names": ["A", "B", "C"], "skipped_columns": ["A"],
                                     "col_types": {"B": "string", "C": "enum"}}, "po")
    assert [c.name for c in h.columns] == ["B", "C"]
    assert [c.type.value for c in h.columns] == ["string", "enum"]
    assert column_values(node, h, 1) == ["long0", "long1"]


def test_frame_from_columns(node, column_values):
    cols = [
        {"name": "r", "type": "real", "data": np.array([1.5, np.nan, 3.0])},
        {"name": "i", "type": "int", "data": np.array([1, -(2 ** 31), 3], np.int32)},
        {"name": "e", "type": "enum", "data": np.array([1, 0, -1], np.int32), "domain": ["z", "a"]},
        {"name": "s", "type": "string", "offsets": np.array([0, 1, 2, 3]), "data": np.frombuffer(b"aba", np.uint8),
         "valid": np.array([1, 1, 0], np.uint8), "guess_enum": True},
        {"name": "t", "type": "time", "data": np.array([0.0, np.nan, 5.0])},
        {"name": "b", "type": "bool", "data": np.array([1, 0, -(2 ** 31)], np.int32)},
    ]
    h = frame_from_columns(node, cols, "up", chunk_rows=2)
    assert h.nchunks == 2 and h.nrow == 3
    assert [c.type.value for c in h.columns] == ["real", "int", "enum", "enum", "time", "bool"]
    assert h.columns[2].domain == ("a", "z") and column_values(node, h, 2) == ["a", "z", None]
    assert column_values(node, h, 1) == [1, None, 3]
    assert column_values(node, h, 3) == ["a", "b", None]
    assert column_values(node, h, 4) == [0, None, 5]
    assert column_values(node, h, 5) == [1, 0, None]


class _CancelAfter:
    """A job stand-in that asks to stop after ``n`` checks."""

    def __init__(self, n):
        self.n = n
        self.progress = 0.0

    def update(self, progress=None, message=None):
        if progress is not None:
            self.progress = progress

    def check(self):
        self.n -= 1
        if self.n < 0:
            raise JobCancelled("cancelled", {})


@pytest.mark.parametrize("after", [0, 3, 12])
def test_cancel_leaves_nothing(make_node, tmp_path, after):
    node = make_node(chunk_bytes=256)
    p = tmp_path / "c.csv.gz"
    p.write_bytes(gzip.compress(make_csv(400, 3)))
    with pytest.raises(JobCancelled):
        parse_files(node, [str(p)], {}, "cx", job=_CancelAfter(after))
    node.runtime.pool.shutdown(wait=True)
    assert "cx" not in node.catalog
    assert node.chunks.frame_keys() == [] and node.chunks.bytes_used == 0
    assert not os.listdir(node.spool_dir)


# ----------------------------------------------------------------------------- property test
_word = st.text(alphabet=st.sampled_from(list("abcxyz ,\"\n'é")), min_size=1, max_size=6).filter(
    lambda w: w.strip() == w and w not in NA)
_cell_int = st.one_of(st.integers(-10**6, 10**6).map(str), st.sampled_from(["NA", ""]))
_cell_real = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
                       st.integers(-99, 99).map(str), st.sampled_from(["NA", "", "null"]))
_cell_text = st.one_of(_word, st.sampled_from(["NA", ""]), st.integers(-99, 99).map(str))


@st.composite
def csv_tables(draw):
    ncol = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(["int", "real", "text"]), min_size=ncol, max_size=ncol))
    nrow = draw(st.integers(1, 25))
    cells = {"int": _cell_int, "real": _cell_real, "text": _cell_text}
    rows = [[draw(cells[k]) for k in kinds] for _ in range(nrow)]
    return [f"c{j}" for j in range(ncol)], rows


def _write_csv(names, rows) -> bytes:
    import csv
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow(r)
    return out.getvalue().encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=csv_tables(), chunk_bytes=st.sampled_from([16, 64, 1 << 20]))
def test_random_csv_matches_pandas(make_node, tmp_path, frame_df, table, chunk_bytes):
    names, rows = table
    data = _write_csv(names, rows)
    node = make_node(chunk_bytes=chunk_bytes)
    p = tmp_path / "h.csv"
    p.write_bytes(data)
    h = parse_files(node, [str(p)], {"header": True, "sep": ","}, "h")
    ours = frame_df(node, h)
    ref = pandas_read(data, dtype=object)
    assert list(ours.columns) == names
    assert len(ours) == len(ref)
    for c in names:
        t = h.column(c).type.value
        rv = ref[c].tolist()
        ov = ours[c].tolist()
        for a, b in zip(ov, rv):
            b_missing = pd.isna(b)
            if t in ("int", "real"):
                assert (np.isnan(a) and b_missing) or (not b_missing and a == float(b)), (c, a, b)
                assert t == "real" or b_missing or float(b) == int(b), (c, b)
            else:
                assert (pd.isna(a) and b_missing) or a == b, (c, a, b)
    node.close()
