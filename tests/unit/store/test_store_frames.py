"""Layout, frame headers, catalog, chunk store (memory budget) and the frame builder."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

from shoal_server.errors import ColumnNotFound, FrameNotFound, MemoryExceeded, ShoalError
from shoal_server.store import codecs
from shoal_server.store.builder import FrameBuilder
from shoal_server.store.catalog import Catalog
from shoal_server.store.chunkstore import ChunkStore
from shoal_server.store.frame import ColumnHeader, FrameHeader
from shoal_server.store.layout import chunk_of_row, even_starts, home_of, starts_from_nrows
from shoal_server.store.types import ColType

MEMBERS = ("10.0.0.1:54330", "10.0.0.2:54330", "10.0.0.3:54330")


def real_chunk(n: int, seed: int = 0):
    return codecs.encode("real", np.random.default_rng(seed).normal(size=n))  # float64: 8n bytes


def test_layout_helpers():
    assert starts_from_nrows([3, 0, 4]).tolist() == [0, 3, 3, 7]
    assert even_starts(10, 4).tolist() == [0, 4, 8, 10]
    assert even_starts(0, 4).tolist() == [0]
    starts = np.array([0, 3, 3, 7])
    assert [chunk_of_row(starts, r) for r in (0, 2, 3, 6)] == [0, 0, 2, 2]
    assert [home_of(i, MEMBERS) for i in range(4)] == [MEMBERS[0], MEMBERS[1], MEMBERS[2], MEMBERS[0]]


def header() -> FrameHeader:
    cols = (ColumnHeader("price", "real"), ColumnHeader("n", ColType.INT), ColumnHeader("c", "enum", ["a", "b"]))
    return FrameHeader("train", cols, np.array([0, 5, 9]), MEMBERS[:2], 1234)


def test_frame_header_shape_and_lookup():
    h = header()
    assert (h.nrow, h.ncol, h.nchunks) == (9, 3, 2)
    assert h.names == ["price", "n", "c"]
    assert h.types == [ColType.REAL, ColType.INT, ColType.ENUM]
    assert h.col_index("n") == 1 and h.column("c").cardinality == 2
    with pytest.raises(ColumnNotFound) as err:
        h.col_index("cost")
    assert "Column `cost` is not in frame `train` (columns: price, n, c)." == err.value.message


def test_frame_header_wire_round_trip_through_msgpack():
    h = header()
    back = FrameHeader.from_wire(msgpack.unpackb(msgpack.packb(h.to_wire()), raw=False))
    assert back == h and back.columns[2].domain == ("a", "b") and back.members == MEMBERS[:2]


def test_catalog_put_get_remove_and_derived_cache():
    cat = Catalog()
    h = header()
    cat.put(h)
    assert cat.get("train") is h and "train" in cat and cat.keys() == ["train"]
    cat.derived("train")["rollups"] = [1]
    cat.put(h.replace())               # replacing the header drops derived values
    assert cat.derived("train") == {}
    cat.cache_derived("train", "rollups", [2], header=h)   # stale header: not cached
    assert cat.derived("train") == {}
    cat.cache_derived("train", "rollups", [3])
    assert cat.derived("train") == {"rollups": [3]}
    assert cat.remove("train") is not None and cat.remove("train") is None
    with pytest.raises(FrameNotFound):
        cat.get("train")
    keys = {cat.new_key("upload") for _ in range(50)}
    assert len(keys) == 50 and all(k.startswith("upload_") for k in keys)


def test_chunkstore_accounts_bytes_and_frees_frames():
    store = ChunkStore(budget=10_000)
    store.put("f", 0, 0, real_chunk(100))          # 800 bytes
    store.put("f", 1, 0, real_chunk(100))
    store.put("g", 0, 0, real_chunk(50))           # 400 bytes
    assert store.bytes_used == 2000 and store.frame_bytes("f") == 1600
    store.put("f", 0, 0, real_chunk(10))           # replacing counts the difference
    assert store.frame_bytes("f") == 880
    assert store.remove_frame("f") == 880
    assert store.bytes_used == 400 and store.frame_bytes("f") == 0
    with pytest.raises(FrameNotFound):
        store.get("f", 0, 0)


def test_put_over_budget_raises_and_stores_nothing():
    store = ChunkStore(budget=1000)
    store.put("f", 0, 0, real_chunk(100))          # 800 of 1000
    with pytest.raises(MemoryExceeded) as err:
        store.put_many("g", [(0, 0, real_chunk(10)), (1, 0, real_chunk(20))])  # 80 + 160 > 200 left
    assert err.value.code == "memory_exceeded" and err.value.details["budget_bytes"] == 1000
    assert store.bytes_used == 800 and store.frame_keys() == ["f"] and not store.has("g", 0, 0)


def build(cat, store, key="fr", rows=(4, 3)):
    cols = [ColumnHeader("x", "real"), ColumnHeader("k", "enum")]
    b = FrameBuilder(cat, store, key, cols, MEMBERS[:1])
    for i, n in enumerate(rows):
        b.add_row(i, [real_chunk(n, i), codecs.encode("enum", np.zeros(n, np.int32))])
    return b


def test_builder_commit_registers_complete_frame():
    cat, store = Catalog(), ChunkStore()
    b = build(cat, store)
    assert "fr" not in cat
    b.set_domain(1, ["only"])
    h = b.commit()
    assert cat.get("fr") is h and h.starts.tolist() == [0, 4, 7] and h.columns[1].domain == ("only",)
    assert store.frame_keys() == ["fr"] and store.frame_bytes("fr") == 8 * 7
    np.testing.assert_array_equal(codecs.decode_float64(store.get("fr", 0, 1)),
                                  codecs.decode_float64(real_chunk(3, 1)))


def test_builder_refuses_incomplete_or_inconsistent_chunks():
    cat, store = Catalog(), ChunkStore()
    b = FrameBuilder(cat, store, "bad", [ColumnHeader("x", "real"), ColumnHeader("y", "real")], MEMBERS[:1])
    b.add(0, 0, real_chunk(4))
    b.add(1, 0, real_chunk(5))
    with pytest.raises(ShoalError, match="different row counts"):
        b.commit()
    assert "bad" not in cat and store.bytes_used == 0
    b = FrameBuilder(cat, store, "bad", [ColumnHeader("x", "real"), ColumnHeader("y", "real")], MEMBERS[:1])
    b.add(0, 0, real_chunk(4))
    with pytest.raises(ShoalError, match="incomplete"):
        b.commit()
    assert "bad" not in cat and store.bytes_used == 0
    with pytest.raises(ShoalError, match="enum chunk was given for real column"):
        FrameBuilder(cat, store, "t", [ColumnHeader("x", "real")], MEMBERS[:1]).add(
            0, 0, codecs.encode("enum", np.zeros(3, np.int32)))


def test_builder_abort_and_context_manager_free_everything():
    cat, store = Catalog(), ChunkStore()
    build(cat, store).abort()
    assert store.bytes_used == 0
    with pytest.raises(RuntimeError):
        with build(cat, store):
            raise RuntimeError("parse failed")
    assert store.bytes_used == 0 and len(cat) == 0
    with build(cat, store) as b:
        b.commit()
    assert store.frame_bytes("fr") > 0 and "fr" in cat


def test_builder_over_budget_leaves_nothing():
    cat, store = Catalog(), ChunkStore(budget=40)
    with pytest.raises(MemoryExceeded):
        with FrameBuilder(cat, store, "big", [ColumnHeader("x", "real")], MEMBERS[:1]) as b:
            b.add(0, 0, real_chunk(4))       # 32 bytes
            assert store.bytes_used == 32
            b.add(0, 1, real_chunk(3))       # 24 more: over the 40-byte budget
    assert store.bytes_used == 0 and len(cat) == 0


def test_rebuilding_a_key_replaces_the_old_frame():
    cat, store = Catalog(), ChunkStore()
    build(cat, store, rows=(4, 3)).commit()
    build(cat, store, rows=(2,)).commit()
    assert cat.get("fr").nrow == 2 and store.frame_bytes("fr") == 16 and store.bytes_used == 16 + 0
