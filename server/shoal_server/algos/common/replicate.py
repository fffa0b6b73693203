"""Model replication across the members of a cluster.

Every member holds every model, so any node answers ``get_model``, ``predict``,
``model_performance``, ``save_model`` and ``download_scorer`` for a model trained (or loaded)
through any other. The node where a change happens sends it to the other live members:

- ``model.put`` ``{key, seq, data}``, ``data`` the model's saved form (``persist.model_to_bytes``, a zip
  of JSON and ``.npy``) as a ``uint8`` array; blocks until every member stored it; the member reads
  it with ``persist.model_from_bytes`` (data only, never pickle) and registers it.
- ``model.remove`` ``{key, seq}``; blocks; the member drops the model and its snapshot.
- ``model.building`` ``{key, seq, snapshot}`` (JSON-able); sent without waiting; sets the snapshot.
- ``model.building.drop`` ``{key, seq}``; blocks; drops the snapshot.

``seq`` increases with every change a node sends; a member applies a change only when it is newer
than the last one it applied from that sender for that key, so a snapshot that arrives after the
finished model (snapshots do not wait) is ignored.

A member lost while a change is sent does not fail the change: the model stays registered where it
was trained and on the members that answered (a cluster that lost a member must be restarted).
Any other failure of a ``model.put`` removes the model again everywhere and raises, so a training
job never ends DONE with a model only some members hold.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import numpy as np

from ...errors import InvalidParameter, NodeLost
from .model import models_of
from .persist import _jsonable, model_from_bytes, model_to_bytes

__all__ = ["OPS", "peer_ops", "send_put", "send_remove", "send_building", "send_drop_building"]

log = logging.getLogger(__name__)

OPS = ("model.put", "model.remove", "model.building", "model.building.drop")
_TIMEOUT = 120.0


def _others(view) -> list[str]:
    me = getattr(view, "self_id", None)
    return [m for m in view.live_members() if m != me]


def _on_view_loop(view) -> bool:
    try:
        return asyncio.get_running_loop() is getattr(view, "loop", None)
    except RuntimeError:
        return False


def _log_failure(op: str, member: str) -> Callable:
    def done(fut) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None:
            log.warning("Replicating %s to %s failed: %s", op, member, getattr(exc, "message", exc))
    return done


def _send(view, op: str, payload: dict, wait: bool) -> None:
    """``op`` on every other live member; blocks until all answered when ``wait`` (and when not on
    the cluster's loop thread, where blocking is not allowed: there the sends go without waiting)."""
    if not callable(getattr(view, "submit", None)):
        return      # a view with only the map transport (the in-process test view) carries no models
    others = _others(view)
    if not others:
        return
    if _on_view_loop(view):
        for m in others:
            task = asyncio.ensure_future(view.call_async(m, op, payload, _TIMEOUT))
            task.add_done_callback(_log_failure(op, m))
        return
    futures = [view.submit(m, op, payload, _TIMEOUT) for m in others]
    if not wait:
        for m, f in zip(others, futures):
            f.add_done_callback(_log_failure(op, m))
        return
    first = None
    for m, f in zip(others, futures):
        try:
            f.result()
        except NodeLost as exc:
            log.warning("Member %s was lost while %s was replicated: %s", m, op, exc.message)
        except BaseException as exc:       # noqa: BLE001 - re-raised below, after every call ended
            first = first or exc
    if first is not None:
        raise first


def send_put(registry, view, model, seq: int) -> None:
    data = np.frombuffer(model_to_bytes(model), dtype=np.uint8)
    try:
        _send(view, "model.put", {"key": model.key, "seq": int(seq), "data": data}, wait=True)
    except BaseException:
        try:
            registry.remove(model.key)      # local and on the members that stored it
        except BaseException as exc:        # noqa: BLE001 - the put's error is the one to report
            log.warning("Removing %s after a failed replication failed too: %s", model.key,
                        getattr(exc, "message", exc))
        raise


def send_remove(view, key: str, seq: int) -> None:
    _send(view, "model.remove", {"key": str(key), "seq": int(seq)}, wait=True)


def send_building(view, key: str, snapshot: dict, seq: int) -> None:
    _send(view, "model.building", {"key": str(key), "seq": int(seq), "snapshot": _jsonable(snapshot)}, wait=False)


def send_drop_building(view, key: str, seq: int) -> None:
    try:
        _send(view, "model.building.drop", {"key": str(key), "seq": int(seq)}, wait=True)
    except BaseException as exc:            # noqa: BLE001 - the job's own error is the one to report
        log.warning("Dropping the snapshot of %s on the other members failed: %s", key,
                    getattr(exc, "message", exc))


# ---------------------------------------------------------------------------------------------- peer side
def _expect(p: Any, op: str, extra: dict[str, type]) -> dict:
    spec = {"key": str, "seq": int, **extra}
    if not isinstance(p, dict):
        raise InvalidParameter(f"{op}: the payload must be a map.", {"op": op})
    bad = [k for k, t in spec.items() if not isinstance(p.get(k), t) or isinstance(p.get(k), bool)]
    if bad:
        raise InvalidParameter(f"{op}: bad or missing fields {', '.join(bad)}.", {"op": op, "fields": bad})
    return p


def peer_ops(node) -> dict[str, Callable[[str, Any], dict]]:
    """The handlers ``fn(sender, payload) -> reply`` of :data:`OPS` for ``node`` (the cluster layer
    registers them; they run in its handler pool)."""

    def put(sender: str, p: Any) -> dict:
        p = _expect(p, "model.put", {"data": np.ndarray})
        data = p["data"]
        if data.dtype != np.uint8 or data.ndim != 1:
            raise InvalidParameter("model.put: data must be a 1-d uint8 array.", {"dtype": str(data.dtype)})
        model = model_from_bytes(data.tobytes())
        if model.key != p["key"]:
            raise InvalidParameter(f"model.put: the saved model's key `{model.key}` is not `{p['key']}`.",
                                   {"key": p["key"]})
        reg = models_of(node)
        if reg.accept(sender, p["key"], p["seq"]):
            reg.put(model, local=True)
        return {}

    def remove(sender: str, p: Any) -> dict:
        p = _expect(p, "model.remove", {})
        reg = models_of(node)
        if reg.accept(sender, p["key"], p["seq"]):
            reg.remove(p["key"], local=True)
        return {}

    def building(sender: str, p: Any) -> dict:
        p = _expect(p, "model.building", {"snapshot": dict})
        reg = models_of(node)
        if reg.accept(sender, p["key"], p["seq"]):
            reg.building(p["key"], p["snapshot"], local=True)
        return {}

    def drop(sender: str, p: Any) -> dict:
        p = _expect(p, "model.building.drop", {})
        reg = models_of(node)
        if reg.accept(sender, p["key"], p["seq"]):
            reg.drop_building(p["key"], local=True)
        return {}

    return {"model.put": put, "model.remove": remove, "model.building": building, "model.building.drop": drop}
