"""SHOALCOL v1: byte layout, round trips through the wire and through pandas, and hostile input."""
from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest

from shoal import wire
from shoal.convert import frame_to_pandas, pandas_to_columns, to_pandas_frame


def _roundtrip_df(df: pd.DataFrame, **kw) -> pd.DataFrame:
    nrow, cols = pandas_to_columns(df, **kw)
    buf = wire.encode_columns(cols, nrow)
    assert b"".join(bytes(p) for p in wire.iter_encode(cols, nrow)) == buf
    return to_pandas_frame(buf)


def test_layout_matches_the_contract_byte_for_byte():
    cols = [{"name": "x", "type": "real", "data": np.array([1.5, np.nan])},
            {"name": "s", "type": "string", "values": ["ab", None]}]
    buf = wire.encode_columns(cols, 2)
    magic, version, hlen = struct.unpack_from("<8sII", buf, 0)
    assert (magic, version) == (b"SHOALCOL", 1)
    header = json.loads(buf[16:16 + hlen].decode("utf-8"))
    assert header["nrow"] == 2
    x, s = header["columns"]
    assert x["type"] == "real" and s["type"] == "string"
    off, nb = x["buffers"]["data"]
    assert off % 8 == 0 and off >= 16 + hlen and nb == 16
    assert buf[16 + hlen:off] == b"\0" * (off - 16 - hlen)
    # 1.5 little-endian, then R's NA_real_ bit pattern (payload 1954)
    assert struct.unpack_from("<d", buf, off)[0] == 1.5
    assert struct.unpack_from("<Q", buf, off + 8)[0] == 0x7FF00000000007A2
    o_off, o_nb = s["buffers"]["offsets"]
    assert struct.unpack_from("<3q", buf, o_off) == (0, 2, 2)
    d_off, d_nb = s["buffers"]["data"]
    assert buf[d_off:d_off + d_nb] == b"ab"
    v_off, v_nb = s["buffers"]["valid"]
    assert buf[v_off:v_off + v_nb] == b"\x01\x00"
    for key in ("offsets", "data", "valid"):
        assert s["buffers"][key][0] % 8 == 0
    assert len(buf) % 8 == 0


def test_int_column_uses_int32_with_int32_min_for_missing():
    cols = [{"name": "i", "type": "int", "data": np.array([1, -5, 7], dtype=np.int64),
             "na": np.array([False, False, True])}]
    nrow, out = wire.decode(wire.encode_columns(cols, 3))
    assert out[0]["data"].dtype == np.dtype("<i4")
    assert out[0]["data"].tolist() == [1, -5, -(2**31)]
    assert "dtype" not in out[0]


def test_int_column_too_wide_for_int32_switches_to_f8():
    big = 2**40
    cols = [{"name": "i", "type": "int", "data": np.array([big, -(2**31), 3], dtype=np.int64)}]
    buf = wire.encode_columns(cols, 3)
    _, out = wire.decode(buf)
    assert out[0]["dtype"] == "f8" and out[0]["data"].tolist() == [float(big), -(2.0**31), 3.0]
    s = frame_to_pandas(3, out)["i"]
    assert s.dtype == np.int64 and s.tolist() == [big, -(2**31), 3]


def test_streaming_pieces_add_up_to_the_announced_size():
    cols = [{"name": "s", "type": "string", "values": ["é", "日本", None, ""]},
            {"name": "b", "type": "bool", "data": np.array([1, 0, 1, 0], dtype=np.uint8)}]
    enc = wire.prepare(cols, 4)
    pieces = list(enc.pieces())
    assert sum(len(memoryview(p).cast("B")) for p in pieces) == enc.nbytes == len(enc.tobytes())


def test_roundtrip_all_types_with_missing_values():
    df = pd.DataFrame({
        "real": [1.25, np.nan, -0.0, 1e308],
        "int": [1, 2, 3, -(2**31) + 1],
        "int_na": pd.array([1, None, 3, 4], dtype="Int64"),
        "enum": pd.Categorical(["b", None, "a", "b"], categories=["b", "a", "zz"]),
        "string": ["x", None, "ünï", ""],
        "time": pd.to_datetime(["2013-01-01 05:17:00", None, "1969-12-31 23:59:59.999", "2038-01-19"], format="ISO8601"),
        "bool": [True, False, True, False],
        "bool_na": pd.array([True, None, False, True], dtype="boolean"),
    })
    got = _roundtrip_df(df)
    assert got["real"].dtype == np.float64
    np.testing.assert_array_equal(got["real"].to_numpy(), df["real"].to_numpy())
    assert np.signbit(got["real"][2])
    assert got["int"].dtype == np.int64 and got["int"].tolist() == df["int"].tolist()
    # int with NA comes back as float64 with NaN, like pandas.read_csv
    assert got["int_na"].dtype == np.float64
    np.testing.assert_array_equal(got["int_na"].to_numpy(), [1.0, np.nan, 3.0, 4.0])
    assert isinstance(got["enum"].dtype, pd.CategoricalDtype)
    assert list(got["enum"].cat.categories) == ["b", "a", "zz"]
    assert got["enum"].astype(object).where(got["enum"].notna(), None).tolist() == ["b", None, "a", "b"]
    assert got["string"].dtype == pd.Series(["a", None]).dtype  # what read_csv gives for text
    assert got["string"][0] == "x" and got["string"][2] == "ünï" and got["string"][3] == ""
    assert isinstance(got["string"][1], float) and np.isnan(got["string"][1])
    assert got["time"].dtype == "datetime64[ms]"
    pd.testing.assert_series_equal(got["time"], df["time"].astype("datetime64[ms]"))
    assert got["bool"].dtype == bool and got["bool"].tolist() == [True, False, True, False]
    assert got["bool_na"].dtype == "boolean"
    pd.testing.assert_series_equal(got["bool_na"], df["bool_na"])


def test_empty_frame_and_zero_rows():
    got = _roundtrip_df(pd.DataFrame())
    assert got.shape == (0, 0)
    df = pd.DataFrame({"a": pd.Series([], dtype=np.float64), "s": pd.Series([], dtype=object),
                       "c": pd.Categorical([], categories=["u"])})
    got = _roundtrip_df(df)
    assert got.shape == (0, 3) and list(got.columns) == ["a", "s", "c"]
    assert list(got["c"].cat.categories) == ["u"]


def test_unicode_names_and_values_roundtrip():
    names = ["naïve", "日本語", "emoji 🐟", "<script>", "\u202eevil"]
    df = pd.DataFrame({n: [n, None, n * 2] for n in names})
    got = _roundtrip_df(df)
    assert list(got.columns) == names
    for n in names:
        assert got[n][0] == n and got[n][2] == n * 2 and got[n].isna().tolist() == [False, True, False]


def test_numpy_and_dict_inputs():
    arr = np.arange(6, dtype=np.int64).reshape(3, 2)
    nrow, cols = pandas_to_columns(arr)
    assert nrow == 3 and [c["name"] for c in cols] == ["C1", "C2"] and cols[0]["type"] == "int"
    nrow, cols = pandas_to_columns({"f": [1.0, 2.0], "s": ["a", "b"], "b": [True, False]})
    assert [c["type"] for c in cols] == ["real", "string", "bool"]


def test_column_types_override_makes_enum():
    nrow, cols = pandas_to_columns(pd.DataFrame({"s": ["a", "b", None, "a"]}), column_types={"s": "enum"})
    assert cols[0]["type"] == "enum" and cols[0]["domain"] == ["a", "b"]
    assert cols[0]["data"].tolist() == [0, 1, -1, 0]


def test_tz_aware_times_are_sent_as_utc():
    s = pd.Series(pd.to_datetime(["2020-01-01 01:00"]).tz_localize("Europe/Paris"))
    got = _roundtrip_df(pd.DataFrame({"t": s}))
    assert got["t"][0] == pd.Timestamp("2020-01-01 00:00")


def test_large_string_column_roundtrip_fast_path():
    rng = np.random.default_rng(0)
    vals = [f"v{int(i)}" for i in rng.integers(0, 1000, 20000)]
    vals[5] = None
    got = _roundtrip_df(pd.DataFrame({"s": vals}))
    assert got["s"].isna().sum() == 1
    assert got["s"].tolist()[:5] == vals[:5] and got["s"].tolist()[6:] == vals[6:]


@pytest.mark.parametrize("mutate", [
    lambda b: b[:10],
    lambda b: b"NOTSHOAL" + b[8:],
    lambda b: b[:8] + struct.pack("<I", 2) + b[12:],
    lambda b: b[:12] + struct.pack("<I", 10**9) + b[16:],
    lambda b: b[:-8],
])
def test_malformed_buffers_raise_wire_format_error(mutate):
    cols = [{"name": "x", "type": "real", "data": np.array([1.0, 2.0, 3.0])}]
    buf = wire.encode_columns(cols, 3)
    with pytest.raises(wire.WireFormatError):
        wire.decode(mutate(buf))


def _with_header(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    pad = (-(16 + len(h))) % 8
    return struct.pack("<8sII", b"SHOALCOL", 1, len(h)) + h + b"\0" * pad + body


def test_hostile_headers_are_refused():
    # enum code outside the domain
    hdr = {"nrow": 1, "columns": [{"name": "e", "type": "enum", "domain": ["a"],
                                   "buffers": {"data": [0, 4]}}]}
    h = json.dumps(hdr).encode()
    start = 16 + len(h) + (-(16 + len(h))) % 8
    # fix the offset now that the header length is known (same length: digits count may change)
    hdr["columns"][0]["buffers"]["data"] = [start, 4]
    buf = _with_header(hdr, struct.pack("<i", 5) + b"\0" * 4)
    with pytest.raises(wire.WireFormatError, match="enum codes"):
        wire.decode(buf)
    # buffer pointing inside the header
    hdr["columns"][0]["buffers"]["data"] = [8, 4]
    with pytest.raises(wire.WireFormatError, match="out of bounds"):
        wire.decode(_with_header(hdr, b"\0" * 8))
    # string offsets that decrease
    hdr = {"nrow": 2, "columns": [{"name": "s", "type": "string",
                                   "buffers": {"offsets": [0, 24], "data": [0, 2], "valid": [0, 2]}}]}
    h = json.dumps(hdr).encode()
    base = 16 + len(h) + (-(16 + len(h))) % 8
    hdr["columns"][0]["buffers"] = {"offsets": [base, 24], "data": [base + 24, 2], "valid": [base + 32, 2]}
    body = struct.pack("<3q", 0, 2, 1) + b"ab" + b"\0" * 6 + b"\1\1" + b"\0" * 6
    buf = _with_header(hdr, body)
    with pytest.raises(wire.WireFormatError):
        wire.decode(buf)
    # negative nrow / unknown type
    with pytest.raises(wire.WireFormatError):
        wire.decode(_with_header({"nrow": -1, "columns": []}, b""))
    with pytest.raises(wire.WireFormatError):
        wire.decode(_with_header({"nrow": 0, "columns": [{"name": "x", "type": "blob", "buffers": {}}]}, b""))


def test_encoder_refuses_values_the_type_cannot_hold():
    with pytest.raises(wire.WireFormatError):
        wire.encode_columns([{"name": "b", "type": "bool", "data": np.array([0, 2])}], 2)
    with pytest.raises(wire.WireFormatError):
        wire.encode_columns([{"name": "e", "type": "enum", "data": np.array([0, 3]), "domain": ["a"]}], 2)
    with pytest.raises(wire.WireFormatError):
        wire.encode_columns([{"name": "x", "type": "real", "data": np.array([1.0])}], 2)
    with pytest.raises(wire.WireFormatError):
        wire.encode_columns([{"name": "x", "type": "int", "data": np.array([1.5])}], 1)


def test_decoded_missing_mask_per_type():
    cols = [{"name": "r", "type": "real", "data": np.array([np.nan, 1.0])},
            {"name": "i", "type": "int", "data": np.array([1, 0]), "na": np.array([False, True])},
            {"name": "e", "type": "enum", "data": np.array([-1, 0]), "domain": ["a"]},
            {"name": "s", "type": "string", "values": [None, "a"]},
            {"name": "b", "type": "bool", "data": np.array([1, 0]), "na": np.array([True, False])}]
    _, out = wire.decode(wire.encode_columns(cols, 2))
    masks = [wire.missing_mask(c).tolist() for c in out]
    assert masks == [[True, False], [False, True], [True, False], [True, False], [True, False]]


def test_module_imports_numpy_only():
    import ast
    import pathlib
    tree = ast.parse(pathlib.Path(wire.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "json", "struct", "collections", "typing", "numpy"}


def test_object_columns_are_typed_by_their_values():
    import datetime as dt

    df = pd.DataFrame({"b": pd.Series([True, None, False], dtype=object),
                       "i": pd.Series([1, None, 3], dtype=object),
                       "f": pd.Series([1.5, None, 2], dtype=object),
                       "d": pd.Series([dt.date(2020, 1, 1), None, dt.date(2021, 1, 2)], dtype=object),
                       "s": pd.Series(["a", None, 3], dtype=object)})
    nrow, cols = pandas_to_columns(df)
    assert [c["type"] for c in cols] == ["bool", "int", "real", "time", "string"]
    got = to_pandas_frame(wire.encode_columns(cols, nrow))
    assert got["b"].tolist()[0] is True and pd.isna(got["b"][1])
    assert got["i"].tolist()[::2] == [1.0, 3.0] and pd.isna(got["i"][1])
    assert got["d"][2] == pd.Timestamp("2021-01-02") and pd.isna(got["d"][1])
    assert got["s"].tolist()[::2] == ["a", "3"]
