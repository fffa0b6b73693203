"""The node envelope: partials with numpy arrays round-trip bit for bit; anything malformed is refused."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from shoal_server.cluster.protocol import Envelope, Limits, ProtocolError, decode, encode, pack_partial


def _roundtrip(payload, limits=Limits()):
    env = Envelope(id=7, type="req", sender="127.0.0.1:54330", op="task.map", epoch=42, cluster="c",
                   version="v", payload=payload)
    frames = encode(env)
    return frames, decode([bytes(f) for f in frames], limits)


def _same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b and type(a) is type(b)


def test_header_fields_and_nested_arrays_round_trip():
    payload = {"x": np.array([1.5, np.nan, -0.0]), "n": [np.arange(6, dtype=np.int16).reshape(2, 3), {"b": True}],
               3: "three", "raw": b"\x00\xff", "none": None, "big": 2 ** 62}
    frames, env = _roundtrip(payload)
    assert len(frames) == 3                    # header + one frame per array
    assert (env.id, env.type, env.sender, env.op, env.epoch, env.cluster, env.version) == \
        (7, "req", "127.0.0.1:54330", "task.map", 42, "c", "v")
    _same(payload, env.payload)
    assert np.signbit(env.payload["x"][2])


def test_arrays_travel_as_separate_zero_copy_frames():
    a = np.arange(100_000, dtype=np.float64)
    frames = encode(Envelope(id=1, type="rep", sender="h:1", payload={"a": a}))
    assert isinstance(frames[1], memoryview) and np.shares_memory(np.frombuffer(frames[1], np.float64), a)
    env = decode(frames)
    assert np.shares_memory(env.payload["a"], a)     # decoding views the received buffer: no copy
    np.testing.assert_array_equal(env.payload["a"], a)


def test_numpy_scalars_tuples_and_non_contiguous_arrays_are_normalised():
    strided = np.arange(20, dtype=np.int32)[::3]
    _, env = _roundtrip({"s": np.float32(1.25), "i": np.int64(-3), "t": (1, 2), "v": strided})
    assert env.payload["s"] == 1.25 and env.payload["i"] == -3 and env.payload["t"] == [1, 2]
    np.testing.assert_array_equal(env.payload["v"], strided)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int8, np.uint16, np.int64, np.bool_,
                                         np.complex128]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
def test_any_numeric_array_round_trips_bitwise(arr):
    _, env = _roundtrip({"a": arr, "l": [arr]})
    _same({"a": arr, "l": [arr]}, env.payload)


@pytest.mark.parametrize("bad", [object(), {1.5: "float key"}, np.array(["s"]), np.array([object()]),
                                 {(1, 2): 3}, set([1])])
def test_values_that_cannot_cross_the_wire_are_refused_at_send(bad):
    with pytest.raises(ProtocolError):
        pack_partial({"x": bad})


def nested_list(depth):
    """A list nested ``depth`` levels deep."""
    x = []
    for _ in range(depth):
        x = [x]
    return x


def _header(**over):
    h = {"id": 1, "type": "req", "sender": "h:1", "reply_to": None, "op": "o", "epoch": 1, "cluster": "c",
         "version": "v", "payload": None, "buffers": []}
    h.update(over)
    return msgpack.packb(h, use_bin_type=True)


@pytest.mark.parametrize("frames, why", [
    ([], "empty"),
    ([b"\xc1"], "msgpack"),
    ([b"\x93\x01\x02\x03"], "envelope"),
    ([_header(type="exec")], "type"),
    ([_header(id="1")], "id"),
    ([_header(sender="")], "sender"),
    ([_header(epoch=1.5)], "epoch"),
    ([_header(buffers=[["<f8", [2]]])], "buffers"),
    ([_header(buffers=[["<f8", [2]]]), b"\x00" * 15], "bytes for"),
    ([_header(buffers=[["|O", [1]]]), b"\x00" * 8], "dtype"),
    ([_header(buffers=[["<U4", [1]]]), b"\x00" * 16], "dtype"),
    ([_header(buffers=[["V8", [1]]]), b"\x00" * 8], "dtype"),
    ([_header(buffers=[["<f8", [-1]]]), b""], "shape"),
    ([_header(payload=msgpack.ExtType(5, b"x"))], "ext"),
    ([_header(payload=msgpack.ExtType(1, b"\x00\x00\x00\x00"))], "beyond"),
    ([_header(payload=nested_list(500))], "nested|msgpack"),
])
def test_malformed_messages_raise_protocol_error(frames, why):
    with pytest.raises(ProtocolError, match=why):
        decode(frames)


def test_size_bounds_on_header_total_and_frame_count():
    limits = Limits(max_header_bytes=100, max_message_bytes=1000, max_frames=4)
    with pytest.raises(ProtocolError, match="header of"):
        decode([_header(op="x" * 150)], limits)
    with pytest.raises(ProtocolError, match="message of"):
        decode([_header(buffers=[["|u1", [2000]]]), b"\x00" * 2000], limits)
    with pytest.raises(ProtocolError, match="frames"):
        decode([_header()] + [b""] * 4, limits)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_random_bytes_never_raise_anything_but_protocol_error(frames):
    try:
        decode(frames)
    except ProtocolError:
        pass
