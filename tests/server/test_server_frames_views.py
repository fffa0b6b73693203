"""Frame views without sockets: CSV writers agree, rows and columnar encodings match the data."""
import io

import numpy as np
import pandas as pd
import pytest

from shoal_server.api import frames
from shoal_server.config import NodeConfig
from shoal_server.node import Node
from shoal_server.parser import frame_from_columns


@pytest.fixture
def node(tmp_path):
    n = Node(NodeConfig(spool_dir=str(tmp_path / "spool"), threads=2))
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def header(node):
    n = 300
    x = np.linspace(-5, 5, n)
    x[::7] = np.nan
    x[3] = np.inf
    cols = [{"name": "x", "type": "real", "data": x},
            {"name": "k", "type": "int", "data": np.arange(n, dtype=np.int64), "na": np.arange(n) % 11 == 0},
            {"name": "e", "type": "enum", "data": (np.arange(n) % 4 - 1).astype(np.int32), "domain": ["a,b", "c", 'd"q']},
            {"name": "s", "type": "string", "values": [None if i % 5 == 0 else f"s{i}\nline" for i in range(n)]},
            {"name": "b", "type": "bool", "data": (np.arange(n) % 2).astype(np.int32), "na": np.arange(n) % 13 == 0},
            {"name": "t", "type": "time", "data": (np.arange(n) * 86_400_000.0)}]
    from shoal import wire

    _n, wire_cols = wire.decode(wire.encode_columns(cols, n))
    return frame_from_columns(node, wire_cols, "views", chunk_rows=64)


def test_arrow_and_python_csv_writers_agree(node, header):
    fast = b"".join(frames.iter_csv(node, header))
    slow = b"".join(frames._iter_csv_python(node, header))
    a = pd.read_csv(io.BytesIO(fast), keep_default_na=True)
    b = pd.read_csv(io.BytesIO(slow), keep_default_na=True)
    assert list(a.columns) == ["x", "k", "e", "s", "b", "t"]
    assert len(a) == len(b) == 300
    np.testing.assert_array_equal(a["x"].to_numpy(), b["x"].to_numpy())
    assert np.isinf(a["x"][3]) and np.isnan(a["x"][0])
    pd.testing.assert_series_equal(a["k"], b["k"])
    pd.testing.assert_series_equal(a["e"], b["e"])
    pd.testing.assert_series_equal(a["s"], b["s"])
    assert a["e"][0] is np.nan or pd.isna(a["e"][0])
    assert a["e"][1] == "a,b" and a["e"][3] == 'd"q' and a["s"][1] == "s1\nline"
    assert pd.to_datetime(a["t"]).equals(pd.to_datetime(b["t"]))
    assert pd.to_datetime(a["t"][2]) == pd.Timestamp("1970-01-03")


def test_rows_window_crosses_chunks(node, header):
    r = frames.frame_rows(node, "views", 60, 10)
    assert r["offset"] == 60 and len(r["rows"]) == 10
    assert [row[1] for row in r["rows"]] == [None if i % 11 == 0 else i for i in range(60, 70)]
    assert r["rows"][0][3] is None and r["rows"][1][3] == "s61\nline"
    tail = frames.frame_rows(node, "views", -3, 10)
    assert tail["offset"] == 297 and len(tail["rows"]) == 3


def test_columnar_encoding_round_trips(node, header):
    from shoal import wire

    enc = frames.encode_columnar(node, header)
    nrow, cols = wire.decode(enc.tobytes())
    assert nrow == 300
    by = {c["name"]: c for c in cols}
    assert by["e"]["domain"] == ["a,b", "c", 'd"q']
    assert by["e"]["data"][:4].tolist() == [-1, 0, 1, 2]
    assert wire.missing_mask(by["k"]).sum() == len(range(0, 300, 11))
    assert by["t"]["data"][2] == 2 * 86_400_000.0
