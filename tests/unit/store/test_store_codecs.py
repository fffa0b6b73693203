"""Codecs: the ladder picks the expected encoding, and every encoding round-trips exactly."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

from shoal_server.errors import InvalidParameter
from shoal_server.store import codecs
from shoal_server.store.chunk import Chunk

I64_MIN, I64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def bits(x: np.ndarray) -> np.ndarray:
    """Bit patterns of float64 values with every NaN mapped to one pattern."""
    x = np.where(np.isnan(x), np.nan, x)
    return x.view(np.int64)


def wire_trip(chunk: Chunk) -> Chunk:
    """Send a chunk through msgpack (envelope) + raw bytes (buffers), as the cluster layer does."""
    env, bufs = chunk.to_wire()
    env2 = msgpack.unpackb(msgpack.packb(env), raw=False)
    return Chunk.from_wire(env2, [bytes(b) for b in bufs])


def assert_real_trip(values, expect_codec=None):
    v = np.asarray(values, dtype=np.float64)
    chunk = codecs.encode("real", v)
    if expect_codec:
        assert chunk.codec == expect_codec, chunk
    for c in (chunk, wire_trip(chunk)):
        np.testing.assert_array_equal(bits(codecs.decode_float64(c)), bits(v))
    return chunk


def assert_int_trip(coltype, values, na=None, expect_codec=None):
    v = np.asarray(values, dtype=np.int64)
    na_ = np.zeros(len(v), bool) if na is None else np.asarray(na, bool)
    chunk = codecs.encode(coltype, v, na)
    if expect_codec:
        assert chunk.codec == expect_codec, chunk
    for c in (chunk, wire_trip(chunk)):
        got, got_na = codecs.decode_int64(c)
        np.testing.assert_array_equal(got_na, na_)
        np.testing.assert_array_equal(got[~na_], v[~na_])
        assert (got[na_] == 0).all()
        f = codecs.decode_float64(c)
        assert np.isnan(f[na_]).all()
        np.testing.assert_array_equal(f[~na_], v[~na_].astype(np.float64))
    return chunk


# ------------------------------------------------------------------ the ladder's choices (hand-computed)

def test_all_equal_values_are_constant_with_no_buffers():
    c = assert_real_trip([3.25] * 1000, "constant")
    assert c.nbytes == 0 and c.meta["value"] == 3.25


def test_all_missing_is_constant_none():
    c = assert_real_trip([np.nan] * 10, "constant")
    assert c.meta["value"] is None
    c = assert_int_trip("int", [5, 6, 7], na=[True, True, True], expect_codec="constant")


def test_negative_zero_constant_keeps_its_sign():
    c = assert_real_trip([-0.0] * 5, "constant")
    assert np.signbit(codecs.decode_float64(c)).all()


def test_span_254_fits_one_byte_255_needs_two():
    # 1 byte stores 0..254 above the bias; 255 is the missing sentinel.
    c = assert_int_trip("int", [719, 720, 973], expect_codec="biased_int")
    assert c.nbytes == 3 and c.meta["bias"] == 719
    c = assert_int_trip("int", [719, 974], expect_codec="biased_int")
    assert c.nbytes == 4


def test_two_and_four_byte_boundaries():
    assert assert_int_trip("int", [10, 10 + 65534]).nbytes == 4   # uint16
    assert assert_int_trip("int", [10, 10 + 65535]).nbytes == 8   # uint32
    assert assert_int_trip("int", [-5, 2**32 - 7]).nbytes == 8    # span 2**32-2: uint32
    assert assert_int_trip("int", [1, 2**32], expect_codec="int64").nbytes == 16


def test_integral_reals_use_biased_int():
    c = assert_real_trip([1.0, 300.0, np.nan, -2.0], "biased_int")
    assert c.nbytes == 2 * 4  # span 302 -> uint16


def test_decimals_use_scaled_decimal():
    # 12.34, 5.6, 7 at scale 2: 1234, 560, 700 -> bias 560, span 674 -> uint16.
    c = assert_real_trip([12.34, 5.6, 7.0, np.nan], "scaled_decimal")
    assert c.meta["scale"] == 2 and c.meta["bias"] == 560 and c.nbytes == 8


def test_float32_when_every_value_round_trips():
    v = np.random.default_rng(3).random(100).astype(np.float32).astype(np.float64)
    v[[3, 7]] = [np.inf, -0.0]
    c = assert_real_trip(v, "float32")
    assert c.nbytes == 400


def test_arbitrary_doubles_stay_float64():
    v = np.random.default_rng(4).normal(size=50)
    v[[1, 2, 3, 4]] = [np.nan, np.inf, -np.inf, -0.0]
    assert_real_trip(v, "float64")


def test_bool_column_is_bit_packed():
    vals = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], dtype=np.uint8)
    na = np.zeros(10, bool)
    na[4] = True
    c = assert_int_trip("bool", vals, na=na, expect_codec="bool_bits")
    assert c.nbytes == 2 + 2  # 10 bits of values + 10 bits of mask
    c = assert_int_trip("bool", vals, expect_codec="bool_bits")
    assert c.nbytes == 2  # no mask when nothing is missing


def test_zero_one_reals_are_bit_packed():
    assert_real_trip([0.0, 1.0, 1.0, 0.0, np.nan] * 20, "bool_bits")


def test_mostly_zero_is_sparse():
    v = np.zeros(1000)
    v[[10, 500, 999]] = [1.5, 2.25, np.nan]
    c = assert_real_trip(v, "sparse")
    assert c.meta["default"] == "zero" and c.meta["inner_codec"] == "scaled_decimal"
    assert c.nbytes == 3 * 4 + 3 * 1


def test_mostly_missing_is_sparse():
    v = np.full(1000, np.nan)
    v[[1, 2]] = [7.0, 9.0]
    c = assert_real_trip(v, "sparse")
    assert c.meta["default"] == "missing"
    na = np.ones(1000, bool)
    na[[5, 6, 7]] = False
    vals = np.zeros(1000, np.int64)
    vals[[5, 6, 7]] = [-1, I64_MAX, 3]
    c = assert_int_trip("int", vals, na=na, expect_codec="sparse")
    assert c.meta["default"] == "missing" and c.meta["inner_codec"] == "int64"


def test_ints_beyond_2_53_are_exact():
    big = 2**60
    c = assert_int_trip("int", [big, big + 1, big + 3], expect_codec="biased_int")
    assert c.nbytes == 3
    assert_int_trip("int", [I64_MIN, I64_MAX, 0, -1, 2**53 + 1], expect_codec="int64")
    assert_int_trip("int", [I64_MIN, I64_MIN + 200], expect_codec="biased_int")
    assert assert_int_trip("int", [I64_MAX - 200, I64_MAX], na=[False, True], expect_codec="biased_int").nbytes == 2
    assert_int_trip("int", [I64_MAX - 200, I64_MAX, 0], na=[False, False, True], expect_codec="biased_int")


def test_time_column_round_trips():
    ms = np.array([1_700_000_000_000, 1_700_000_000_500, 1_700_000_086_400_000 // 1000])
    assert_int_trip("time", ms, na=[False, True, False])


def test_int_given_as_float_with_nan():
    c = codecs.encode("int", np.array([1.0, np.nan, 3.0]))
    vals, na = codecs.decode_int64(c)
    assert vals.tolist() == [1, 0, 3] and na.tolist() == [False, True, False]
    with pytest.raises(InvalidParameter):
        codecs.encode("int", np.array([1.5]))


def test_enum_codes_one_byte_up_to_254():
    codes = np.array([0, 254, -1, 3], dtype=np.int32)
    c = codecs.encode("enum", codes)
    assert c.codec == "categorical" and c.nbytes == 4
    np.testing.assert_array_equal(codecs.decode_codes(wire_trip(c)), codes)
    codes[1] = 255
    c = codecs.encode("enum", codes)
    assert c.nbytes == 8
    np.testing.assert_array_equal(codecs.decode_codes(c), codes)
    codes[1] = 70000
    c = codecs.encode("enum", codes)
    assert c.nbytes == 16
    np.testing.assert_array_equal(codecs.decode_codes(c), codes)
    f = codecs.decode_float64(c)
    assert np.isnan(f[2]) and f[1] == 70000.0
    vals, na = codecs.decode_int64(c)
    assert na.tolist() == [False, False, True, False] and vals.tolist() == [0, 70000, 0, 3]


def test_enum_constant_and_remap():
    c = codecs.encode("enum", np.array([2, 2, 2], dtype=np.int32))
    assert c.codec == "constant"
    np.testing.assert_array_equal(codecs.decode_codes(c), [2, 2, 2])
    c = codecs.encode("enum", np.array([0, 1, -1, 2], dtype=np.int32))
    r = codecs.remap_codes(c, np.array([5, 3, 300], dtype=np.int32))
    np.testing.assert_array_equal(codecs.decode_codes(r), [5, 3, -1, 300])
    with pytest.raises(InvalidParameter):
        codecs.remap_codes(c, np.array([0, 1], dtype=np.int32))


def test_strings_round_trip_with_missing():
    words = ["héllo", "", "wörld", None, "🐟"]
    data = b"".join((w or "").encode() for w in words)
    offsets = np.cumsum([0] + [len((w or "").encode()) for w in words])
    na = np.array([w is None for w in words])
    c = codecs.encode("string", (offsets, np.frombuffer(data, np.uint8)), na)
    assert c.codec == "strings" and c.buffers[0].dtype == np.uint16
    assert c.raw_nbytes == 8 * 6 + len(data)
    for chunk in (c, wire_trip(c)):
        off, body, got_na = codecs.decode_strings(chunk)
        got = [None if got_na[i] else bytes(body[off[i]:off[i + 1]]).decode() for i in range(5)]
        assert got == words
    with pytest.raises(InvalidParameter):
        codecs.decode_float64(c)


def test_decode_into_caller_buffer():
    c = codecs.encode("real", np.array([1.5, 2.5, np.nan]))
    out = np.empty(3)
    assert codecs.decode_float64(c, out) is out
    with pytest.raises(ValueError):
        codecs.decode_float64(c, np.empty(4))


def test_decode_int64_refuses_real_chunks():
    with pytest.raises(InvalidParameter):
        codecs.decode_int64(codecs.encode("real", np.array([1.0, 2.0])))


def test_empty_chunk():
    c = codecs.encode("real", np.array([]))
    assert c.nrows == 0 and codecs.decode_float64(c).shape == (0,)


def test_raw_nbytes_per_type():
    assert codecs.encode("real", np.arange(10.0)).raw_nbytes == 80
    assert codecs.encode("enum", np.arange(10, dtype=np.int32)).raw_nbytes == 40
    assert codecs.encode("bool", np.arange(10) % 2).raw_nbytes == 10


def test_encode_does_not_modify_inputs():
    v = np.array([1, 2, 3], dtype=np.int64)
    na = np.array([False, True, False])
    codecs.encode("int", v, na)
    assert v.tolist() == [1, 2, 3]
    f = np.array([1.5, 2.0])
    codecs.encode("real", f, np.array([True, False]))
    assert f.tolist() == [1.5, 2.0]


def test_chunk_buffers_are_read_only():
    c = codecs.encode("int", np.array([1, 2, 300]))
    with pytest.raises(ValueError):
        c.buffers[0][0] = 7


def test_corrupt_chunks_are_refused_before_decoding():
    from shoal_server.errors import ShoalError

    good = codecs.encode("int", np.array([1, 2, 300]))
    short = Chunk(good.codec, 10, good.buffers, good.meta)          # claims more rows than stored
    with pytest.raises(ShoalError, match="corrupt"):
        codecs.decode_float64(short)
    v = np.zeros(100)
    v[5] = 2.5
    sp = codecs.encode("real", v)
    assert sp.codec == "sparse"
    bad_pos = Chunk(sp.codec, 4, sp.buffers, sp.meta)                # position 5 outside 4 rows
    with pytest.raises(ShoalError, match="corrupt"):
        codecs.decode_float64(bad_pos)
    with pytest.raises(ShoalError, match="corrupt"):
        codecs.decode_float64(Chunk("no_such_codec", 1, (), {"type": "real"}))


def test_chunks_with_unexpected_buffer_dtypes_are_refused():
    from shoal_server.errors import ShoalError

    good = codecs.encode("int", np.array([1, 2, 300]))
    wrong = Chunk(good.codec, 3, (good.buffers[0].astype(np.float32),), good.meta)
    with pytest.raises(ShoalError, match="corrupt"):
        codecs.decode_int64(wrong)
