"""Helpers for parser tests: a socket-free node, and reading a parsed frame back as pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal_server.config import NodeConfig
from shoal_server.node import Node
from shoal_server.store.codecs import decode_codes, decode_float64, decode_int64, decode_strings


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels():
    """Compile / load the parser kernels once, outside the timed parts of the tests."""
    from shoal_server.parser import warm

    warm()


@pytest.fixture
def make_node(tmp_path):
    nodes = []

    def make(chunk_bytes: int = 4 << 20, threads: int = 2, **kw) -> Node:
        spool = tmp_path / f"spool{len(nodes)}"
        node = Node(NodeConfig(chunk_bytes=chunk_bytes, threads=threads, spool_dir=str(spool), **kw))
        nodes.append(node)
        return node

    yield make
    for n in nodes:
        n.close()


@pytest.fixture
def node(make_node):
    return make_node()


def _column_values(node, header, ci: int) -> list:
    """Python values of column ``ci``: float (NaN missing) for numbers, str/None otherwise."""
    col = header.columns[ci]
    t = col.type.value
    out: list = []
    for i in range(header.nchunks):
        ch = node.chunks.get(header.key, ci, i)
        if t == "string":
            o, d, na = decode_strings(ch)
            raw = d.tobytes()
            out += [None if na[k] else raw[o[k]:o[k + 1]].decode("utf-8") for k in range(ch.nrows)]
        elif t == "enum":
            codes = decode_codes(ch)
            out += [None if c < 0 else col.domain[c] for c in codes]
        elif t in ("int", "time", "bool"):
            v, na = decode_int64(ch)
            out += [None if m else int(x) for x, m in zip(v, na)]
        else:
            out += [float(x) for x in decode_float64(ch)]
    return out


def _frame_df(node, header) -> pd.DataFrame:
    """The frame as a DataFrame: int/time/bool as float64 with NaN, enum/string as object."""
    data = {}
    for ci, col in enumerate(header.columns):
        vals = _column_values(node, header, ci)
        if col.type.value in ("int", "time", "bool"):
            vals = np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        elif col.type.value == "real":
            vals = np.array(vals, dtype=np.float64)
        else:
            vals = np.array(vals, dtype=object)
        data[col.name] = vals
    return pd.DataFrame(data)


@pytest.fixture
def column_values():
    """``column_values(node, header, ci)``: Python values of one column (None for missing)."""
    return _column_values


@pytest.fixture
def frame_df():
    """``frame_df(node, header)``: the frame as a DataFrame (numbers as float64, text as object)."""
    return _frame_df


@pytest.fixture
def parse_bytes(tmp_path):
    """``parse_bytes(node, data, overrides=None, name='x.csv', key='fr')`` → ParseReport."""
    from shoal_server.parser import parse_files_report

    def run(node, data: bytes, overrides=None, name: str = "x.csv", key: str = "fr"):
        p = tmp_path / name
        p.write_bytes(data)
        return parse_files_report(node, [str(p)], overrides or {}, key)

    return run
