"""The node-to-node envelope: a msgpack header frame followed by raw numpy buffer frames.

Owns the wire format of the cluster and nothing else (no sockets, no frames of data).

A message is one ZeroMQ multipart message::

    frame 0   msgpack map {id, type, sender, reply_to, op, epoch, cluster, version, payload, buffers}
    frame 1.. one raw buffer per numpy array found in ``payload``

``payload`` is a nested *partial*: dicts (str or int keys), lists, tuples, str, bytes, bool, int,
float, None, numpy scalars and numpy arrays. Arrays are replaced in the header by a msgpack ext
value holding their buffer index; ``buffers`` in the header lists ``[dtype, shape]`` for each.
Received arrays are built with ``np.frombuffer`` over the ZeroMQ frame (zero copy, read-only).

Everything here is data: no pickle, no eval, no object dtype. A message that breaks any rule
raises :class:`ProtocolError`, which the transport logs and drops.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack
import numpy as np

__all__ = [
    "PROTOCOL_VERSION",
    "Envelope",
    "ProtocolError",
    "Limits",
    "encode",
    "decode",
    "pack_partial",
    "unpack_partial",
    "MESSAGE_TYPES",
]

PROTOCOL_VERSION = 1

#: Message types. ``req``/``rep``/``err`` are RPC; the rest belong to membership.
MESSAGE_TYPES = frozenset({"req", "rep", "err", "hello", "welcome", "refuse", "hb", "fenced"})

_EXT_ARRAY = 1          # msgpack ext code: a numpy array, data = uint32 buffer index
_ALLOWED_KINDS = frozenset("biufc")
_HEADER_KEYS = ("id", "type", "sender", "reply_to", "op", "epoch", "cluster", "version", "payload", "buffers")


class ProtocolError(ValueError):
    """A message that does not follow the protocol (dropped by the transport)."""


@dataclass(frozen=True)
class Limits:
    """Size bounds on inbound messages."""

    max_header_bytes: int = 16 << 20
    max_message_bytes: int = 1 << 30
    max_frames: int = 65536
    max_ndim: int = 8


DEFAULT_LIMITS = Limits()


@dataclass
class Envelope:
    """One node-to-node message.

    Parameters
    ----------
    id : int
        Message id, unique per sender incarnation.
    type : str
        One of :data:`MESSAGE_TYPES`.
    sender : str
        Member id of the sender (``"host:httpport"``).
    reply_to : int or None
        For ``rep``/``err``: the id of the request answered.
    op : str
        For ``req``: the operation name (a key of the handler table, never evaluated).
    epoch : int
        The sender's incarnation (start time in ns); fences a node that was declared lost.
    cluster : str
        Cluster name.
    version : str
        Software version of the sender.
    payload : Any
        A nested partial (see module docstring); arrays in it travel as buffer frames.
    """

    id: int
    type: str
    sender: str
    reply_to: int | None = None
    op: str = ""
    epoch: int = 0
    cluster: str = ""
    version: str = ""
    payload: Any = None
    nbytes: int = field(default=0, compare=False)


# ---------------------------------------------------------------------------- partials

def pack_partial(obj: Any) -> tuple[Any, list[np.ndarray]]:
    """Split a nested partial into a msgpack-able tree and the list of its arrays.

    Returns ``(tree, arrays)``; in ``tree`` each array is replaced by an ext marker holding its
    index in ``arrays``. Arrays are made C-contiguous (copied only when they are not).
    """
    arrays: list[np.ndarray] = []

    def walk(x: Any, depth: int) -> Any:
        if depth > 64:
            raise ProtocolError("partial nested deeper than 64 levels")
        if x is None or isinstance(x, (bool, int, float, str, bytes)):
            return x
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in _ALLOWED_KINDS:
                raise ProtocolError(f"arrays of dtype {x.dtype} cannot cross the wire")
            arrays.append(x if x.flags.c_contiguous else x.copy(order="C"))
            return msgpack.ExtType(_EXT_ARRAY, struct.pack("<I", len(arrays) - 1))
        if isinstance(x, np.generic):
            if x.dtype.kind not in _ALLOWED_KINDS:
                raise ProtocolError(f"scalars of dtype {x.dtype} cannot cross the wire")
            if x.dtype.kind == "c":
                return walk(np.asarray(x), depth)
            return x.item()
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if isinstance(k, np.integer):
                    k = int(k)
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise ProtocolError(f"partial keys must be str or int; got {type(k).__name__}")
                out[k] = walk(v, depth + 1)
            return out
        if isinstance(x, (list, tuple)):
            return [walk(v, depth + 1) for v in x]
        raise ProtocolError(f"values of type {type(x).__name__} cannot cross the wire")

    return walk(obj, 0), arrays


def unpack_partial(tree: Any, arrays: Sequence[np.ndarray]) -> Any:
    """Inverse of :func:`pack_partial` for a tree decoded with the ext hook of :func:`decode`."""

    def walk(x: Any, depth: int = 0) -> Any:
        if depth > 64:
            raise ProtocolError("payload nested deeper than 64 levels")
        if isinstance(x, _ArrayRef):
            if x.index >= len(arrays):
                raise ProtocolError(f"array reference {x.index} beyond the {len(arrays)} buffers")
            return arrays[x.index]
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise ProtocolError("partial keys must be str or int")
                out[k] = walk(v, depth + 1)
            return out
        if isinstance(x, list):
            return [walk(v, depth + 1) for v in x]
        if x is None or isinstance(x, (bool, int, float, str, bytes)):
            return x
        raise ProtocolError(f"unexpected value of type {type(x).__name__} in a payload")

    return walk(tree)


class _ArrayRef:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_ARRAY and len(data) == 4:
        return _ArrayRef(struct.unpack("<I", data)[0])
    raise ProtocolError(f"unknown msgpack ext type {code}")


def _dtype_of(spec: Any) -> np.dtype:
    if not isinstance(spec, str) or len(spec) > 8:
        raise ProtocolError("buffer dtype must be a short string")
    try:
        dt = np.dtype(spec)
    except TypeError as exc:
        raise ProtocolError(f"unknown buffer dtype {spec!r}") from exc
    if dt.kind not in _ALLOWED_KINDS or dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise ProtocolError(f"buffer dtype {spec!r} is not allowed")
    return dt


# ---------------------------------------------------------------------------- envelope

def encode(env: Envelope) -> list:
    """Frames for ``env``: ``[header bytes, buffer, buffer, ...]`` (buffers are zero-copy views)."""
    tree, arrays = pack_partial(env.payload)
    header = {
        "id": int(env.id), "type": env.type, "sender": env.sender, "reply_to": env.reply_to,
        "op": env.op, "epoch": int(env.epoch), "cluster": env.cluster, "version": env.version,
        "payload": tree,
        "buffers": [[a.dtype.str, list(a.shape)] for a in arrays],
    }
    frames: list = [msgpack.packb(header, use_bin_type=True)]
    for a in arrays:
        frames.append(memoryview(a.reshape(-1).view(np.uint8)) if a.size else b"")
    return frames


def _frame_bytes(f: Any) -> memoryview | bytes:
    """Bytes of a received frame: ``zmq.Frame`` (copy=False) or bytes (copy=True)."""
    buf = getattr(f, "buffer", None)
    if buf is not None:
        return buf
    return f


def decode(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Parse a received multipart message; raise :class:`ProtocolError` if it breaks any rule."""
    if not frames:
        raise ProtocolError("empty message")
    if len(frames) > limits.max_frames:
        raise ProtocolError(f"{len(frames)} frames (at most {limits.max_frames})")
    parts = [_frame_bytes(f) for f in frames]
    total = sum(len(p) for p in parts)
    if total > limits.max_message_bytes:
        raise ProtocolError(f"message of {total} bytes (at most {limits.max_message_bytes})")
    head = parts[0]
    if len(head) > limits.max_header_bytes:
        raise ProtocolError(f"header of {len(head)} bytes (at most {limits.max_header_bytes})")
    try:
        header = msgpack.unpackb(bytes(head), raw=False, ext_hook=_ext_hook, strict_map_key=False,
                                 use_list=True)
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack raises several unrelated classes on garbage
        raise ProtocolError(f"header is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(header, dict) or any(k not in header for k in _HEADER_KEYS):
        raise ProtocolError("header is not an envelope map")
    mid, mtype, sender = header["id"], header["type"], header["sender"]
    reply_to, op, epoch = header["reply_to"], header["op"], header["epoch"]
    cluster, version, specs = header["cluster"], header["version"], header["buffers"]
    if not isinstance(mid, int) or isinstance(mid, bool):
        raise ProtocolError("id must be an integer")
    if mtype not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {str(mtype)[:32]!r}")
    if not isinstance(sender, str) or not sender or len(sender) > 300:
        raise ProtocolError("sender must be a member id")
    if reply_to is not None and (not isinstance(reply_to, int) or isinstance(reply_to, bool)):
        raise ProtocolError("reply_to must be an integer or nil")
    if not isinstance(op, str) or len(op) > 200:
        raise ProtocolError("op must be a short string")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise ProtocolError("epoch must be an integer")
    if not isinstance(cluster, str) or not isinstance(version, str):
        raise ProtocolError("cluster and version must be strings")
    if not isinstance(specs, list) or len(specs) != len(parts) - 1:
        raise ProtocolError(f"header describes {len(specs) if isinstance(specs, list) else '?'} buffers; "
                            f"message has {len(parts) - 1}")
    arrays = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, list) or len(spec) != 2 or not isinstance(spec[1], list):
            raise ProtocolError(f"buffer {i}: spec must be [dtype, shape]")
        dt = _dtype_of(spec[0])
        shape = spec[1]
        if len(shape) > limits.max_ndim or any(not isinstance(s, int) or isinstance(s, bool) or s < 0
                                                for s in shape):
            raise ProtocolError(f"buffer {i}: bad shape")
        count = 1
        for s in shape:
            count *= s
        buf = parts[i + 1]
        if count * dt.itemsize != len(buf):
            raise ProtocolError(f"buffer {i}: {len(buf)} bytes for {count} values of {dt}")
        arr = np.frombuffer(buf, dtype=dt, count=count) if count else np.empty(0, dtype=dt)
        if not arr.flags.aligned:
            arr = arr.copy()
        arrays.append(arr.reshape(shape))
    payload = unpack_partial(header["payload"], arrays)
    return Envelope(id=mid, type=mtype, sender=sender, reply_to=reply_to, op=op, epoch=epoch,
                    cluster=cluster, version=version, payload=payload, nbytes=total)
