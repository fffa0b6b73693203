"""`ClusterView`: the thread-safe face of the cluster layer that the node and the runtime use.

Every blocking method hands a coroutine to the loop that owns the sockets and waits for it from
the calling thread (a job thread or an executor), so it must never be called on the loop thread
itself; coroutine twins (``*_async``) exist for code that runs on the loop. The view ships task
names, frame keys, indices and partials; it never imports the store or the runtime: the node
wires them in with :meth:`ClusterView.set_handlers`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import threading
import time
from typing import Any, Callable, Sequence

from ..errors import ClusterError, FrameLost, InvalidParameter, NodeLost
from .membership import HEALTHY
from .transport import ClusterSettings, Transport

__all__ = ["ClusterView"]

log = logging.getLogger(__name__)

#: Largest batch of chunk bytes sent in one ``store.put_chunks`` message.
PUT_BATCH_BYTES = 256 << 20


class ClusterView:
    """The cluster as the node sees it. Build with :meth:`start`."""

    def __init__(self, transport: Transport, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread | None = None):
        self.transport = transport
        self.loop = loop
        self._thread = thread
        self._membership = transport.membership
        self._chunk_factory: Callable | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def start(cls, config: Any, secret: bytes | None = None, loop: asyncio.AbstractEventLoop | None = None,
              version: str | None = None, epoch: int | None = None,
              settings: ClusterSettings | None = None) -> "ClusterView":
        """Start the cluster layer for ``config`` (a ``NodeConfig``).

        With ``loop`` (running in another thread) the sockets live on it; without, the view runs
        its own loop thread ``shoal-cluster``. Returns once the node port is bound.
        """
        settings = settings or ClusterSettings.from_config(config, secret=secret, version=version)
        transport = Transport(settings, epoch=epoch)
        thread = None
        if loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="shoal-cluster", daemon=True)
            thread.start()
            ready.wait()
        asyncio.run_coroutine_threadsafe(transport.start(), loop).result(timeout=30)
        return cls(transport, loop, thread)

    @classmethod
    async def start_async(cls, config: Any, secret: bytes | None = None, version: str | None = None,
                          epoch: int | None = None) -> "ClusterView":
        """Start on the running loop (for a node whose loop thread builds the view itself)."""
        transport = Transport(ClusterSettings.from_config(config, secret=secret, version=version), epoch=epoch)
        await transport.start()
        return cls(transport, asyncio.get_running_loop())

    async def close_async(self) -> None:
        """Close the sockets from the loop that owns them."""
        await self.transport.stop()

    def close(self) -> None:
        """Close the sockets (and stop the loop thread when the view owns it)."""
        if self.loop.is_closed():
            return
        if self._on_loop():
            self.loop.create_task(self.transport.stop())
            return
        try:
            asyncio.run_coroutine_threadsafe(self.transport.stop(), self.loop).result(timeout=10)
        except (cf.TimeoutError, RuntimeError):
            log.warning("cluster transport did not stop cleanly")
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    # ------------------------------------------------------------------ plumbing
    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _submit(self, coro) -> cf.Future:
        if self._on_loop():
            coro.close()
            raise RuntimeError("ClusterView blocking methods must not be called on the loop thread; "
                               "use the *_async coroutines there")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    # ------------------------------------------------------------------ membership
    @property
    def self_id(self) -> str:
        return self.transport.self_id

    @property
    def epoch(self) -> int:
        return self.transport.epoch

    @property
    def locked(self) -> bool:
        return self._membership.locked

    @property
    def fenced(self) -> bool:
        return self._membership.fenced

    def members(self) -> list[str]:
        """Sorted member ids (the locked list once :meth:`lock` ran)."""
        return self._membership.members()

    def live_members(self) -> list[str]:
        return self._membership.live_members()

    def lost(self) -> set[str]:
        return self._membership.lost()

    def is_local(self, member: str) -> bool:
        return member == self.self_id

    def agreed(self) -> bool:
        return self._membership.agreed()

    def lock(self, timeout: float = 10.0) -> list[str]:
        """Lock the membership (idempotent); returns the locked sorted member list."""
        if self._membership.locked:
            return self._membership.members()
        return self._submit(self.transport.lock(timeout)).result()

    async def lock_async(self, timeout: float = 10.0) -> list[str]:
        return await self.transport.lock(timeout)

    def wait_members(self, n: int, timeout: float = 30.0) -> list[str]:
        """Block until ``n`` members are healthy and agree; return them."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            if len(members) >= n and self.agreed():
                return members
            if time.monotonic() > deadline:
                raise ClusterError(f"Only {len(members)} of {n} nodes joined within {timeout:g} s "
                                   f"({', '.join(members)}).", {"members": members})
            time.sleep(0.05)

    def on_node_lost(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(member)`` on the loop when a member is declared lost (must not block)."""
        self.transport.on_node_lost(fn)

    # ------------------------------------------------------------------ generic RPC
    def register(self, op: str, fn: Callable[[str, Any], Any], executor: bool | None = None) -> None:
        """Serve ``op``: ``fn(sender, payload) -> payload`` (see :meth:`Transport.register`)."""
        self.transport.register(op, fn, executor)

    def submit(self, member: str, op: str, payload: Any = None, timeout: float | None = None) -> cf.Future:
        return self._submit(self.transport.call(member, op, payload, timeout))

    def call(self, member: str, op: str, payload: Any = None, timeout: float | None = None) -> Any:
        return self.submit(member, op, payload, timeout).result()

    async def call_async(self, member: str, op: str, payload: Any = None, timeout: float | None = None) -> Any:
        return await self.transport.call(member, op, payload, timeout)

    # ------------------------------------------------------------------ map/reduce transport
    async def _pairs(self, member: str, op: str, payload: dict, timeout: float | None) -> list[tuple[int, Any]]:
        reply = await self.transport.call(member, op, payload, timeout)
        return [(int(i), p) for i, p in reply["results"]]

    def submit_map(self, member: str, task_name: str, frame_key: str, columns: Sequence[int] | None,
                   params: dict | None, chunk_indices: Sequence[int], timeout: float | None = None,
                   token: str | None = None) -> cf.Future:
        """Map ``task_name`` over ``chunk_indices`` of ``frame_key`` on ``member``.

        The future resolves to ``[(chunk_idx, partial), ...]`` from the member's ``execute_map``.
        ``token`` names the request for :meth:`cancel_maps` (``task.cancel``).
        """
        payload = {"task": str(task_name), "frame": str(frame_key),
                   "columns": None if columns is None else [int(c) for c in columns],
                   "params": dict(params or {}), "indices": [int(i) for i in chunk_indices]}
        if token is not None:
            payload["token"] = str(token)
        return self._submit(self._pairs(member, "task.map", payload, timeout))

    def call_map(self, member: str, task_name: str, frame_key: str, columns: Sequence[int] | None,
                 params: dict | None, chunk_indices: Sequence[int], timeout: float | None = None,
                 token: str | None = None) -> list:
        return self.submit_map(member, task_name, frame_key, columns, params, chunk_indices, timeout,
                               token=token).result()

    def submit_indexed(self, member: str, task_name: str, params: dict | None, indices: Sequence[int],
                       timeout: float | None = None, token: str | None = None) -> cf.Future:
        """Map an indexed task over ``indices`` on ``member``; resolves to ``[(index, partial), ...]``."""
        payload = {"task": str(task_name), "params": dict(params or {}), "indices": [int(i) for i in indices]}
        if token is not None:
            payload["token"] = str(token)
        return self._submit(self._pairs(member, "task.indexed", payload, timeout))

    def call_indexed(self, member: str, task_name: str, params: dict | None, indices: Sequence[int],
                     timeout: float | None = None, token: str | None = None) -> list:
        return self.submit_indexed(member, task_name, params, indices, timeout, token=token).result()

    # ------------------------------------------------------------------ chunks and catalog
    def put_chunks(self, member: str, frame_key: str, chunks: Sequence[tuple[int, int, Any]],
                   timeout: float | None = None) -> None:
        """Store ``chunks`` (``(col_idx, chunk_idx, chunk)``) on ``member``; blocks until stored.

        Sent in batches of at most ``PUT_BATCH_BYTES`` of buffers (one chunk may exceed it); on a
        failure, raises the first error once every batch has ended.
        """
        batch: list[dict] = []
        size = 0
        futures = []
        for col, idx, chunk in chunks:
            bufs = tuple(chunk.buffers)
            nbytes = sum(int(b.nbytes) for b in bufs)
            if batch and size + nbytes > PUT_BATCH_BYTES:
                futures.append(self.submit(member, "store.put_chunks", {"frame": frame_key, "chunks": batch}, timeout))
                batch, size = [], 0
            batch.append({"col": int(col), "chunk": int(idx), "codec": str(chunk.codec), "nrows": int(chunk.nrows),
                          "buffers": list(bufs), "meta": dict(chunk.meta)})
            size += nbytes
        if batch:
            futures.append(self.submit(member, "store.put_chunks", {"frame": frame_key, "chunks": batch}, timeout))
        # every batch ends before an error is raised: a batch still in flight must not be stored
        # after the caller's clean-up (discarding what it staged) ran on the member
        _wait_all(futures)

    def fetch_chunk(self, member: str, frame_key: str, col_idx: int, chunk_idx: int,
                    timeout: float | None = 60.0) -> Any:
        """Chunk ``chunk_idx`` of column ``col_idx`` of ``frame_key`` from ``member`` (its home).

        Returns ``chunk_factory(codec, nrows, buffers, meta)`` (the node sets ``store.Chunk``), or
        the chunk dict when no factory is set. A lost home gives ``frame_lost`` naming frame and node.
        """
        if member in self.lost():
            raise _frame_lost(frame_key, member)
        try:
            reply = self.call(member, "store.get_chunk", {"frame": str(frame_key), "col": int(col_idx),
                                                          "chunk": int(chunk_idx)}, timeout)
        except NodeLost:
            raise _frame_lost(frame_key, member) from None
        return self._make_chunk(reply)

    def _make_chunk(self, d: Any) -> Any:
        d = _expect(d, {"codec": str, "nrows": int, "buffers": list, "meta": dict})
        buffers = tuple(d["buffers"])
        if self._chunk_factory is None:
            return dict(d, buffers=buffers)
        return self._chunk_factory(d["codec"], d["nrows"], buffers, d["meta"])

    def _broadcast(self, op: str, payload: Any, timeout: float | None) -> None:
        others = [m for m in self.live_members() if m != self.self_id]
        _wait_all([self.submit(m, op, payload, timeout) for m in others])

    def broadcast(self, op: str, payload: Any = None, timeout: float | None = 60.0) -> dict[str, Any]:
        """Run ``op`` with ``payload`` once on every other live member (a star: one message each,
        sent at once); blocks until all answered and returns ``{member: reply}``. The first failure
        is raised after every call ended (``node_lost`` when a member is lost meanwhile)."""
        others = [m for m in self.live_members() if m != self.self_id]
        futures = [self.submit(m, op, payload, timeout) for m in others]
        _wait_all(futures)
        return {m: f.result() for m, f in zip(others, futures)}

    def cancel_maps(self, member: str, token: str, timeout: float | None = 5.0) -> cf.Future:
        """Ask ``member`` to stop the map requests sent with ``token`` (``task.cancel``)."""
        return self.submit(member, "task.cancel", {"token": str(token)}, timeout)

    def publish_frame(self, staging_key: str, header_wire: dict, timeout: float | None = 60.0) -> None:
        """On every other live member: move the chunks staged under ``staging_key`` (if it holds any)
        to the frame's key, then apply its header (one message per member; blocks until all did).

        The coordinator does its own part (``FrameBuilder.commit``); this is the remote half. All or
        nothing: when one member fails (or is lost), the members that took their part drop the frame
        again (catalog entry and chunks) before the error is raised, so none keeps a frame whose
        other parts are missing; the caller drops its own part and the staged chunks.
        """
        others = [m for m in self.live_members() if m != self.self_id]
        payload = {"staging": str(staging_key), "header": header_wire}
        futures = []
        try:
            for m in others:
                futures.append(self.submit(m, "store.publish", payload, timeout))
            _wait_all(futures)
        except BaseException:
            key = header_wire.get("key") if isinstance(header_wire, dict) else None
            if isinstance(key, str):
                self._unpublish(key, others, timeout)
            raise

    def _unpublish(self, key: str, members: list[str], timeout: float | None) -> None:
        """Best effort: ``catalog.remove`` ``key`` on every one of ``members`` still live."""
        lost = self.lost()
        futures = {}
        for m in members:
            if m in lost:
                continue
            try:
                futures[m] = self.submit(m, "catalog.remove", {"key": str(key)}, timeout)
            except Exception as exc:  # noqa: BLE001 - e.g. shutting down: the others still drop it
                log.warning("dropping the half-published frame %s on %s failed: %s", key, m, exc)
        for m, fut in futures.items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost member holds nothing reachable
                log.warning("dropping the half-published frame %s on %s failed: %s", key, m, exc)

    def broadcast_header(self, header_wire: dict, timeout: float | None = 30.0) -> None:
        """Apply a catalog entry (``FrameHeader.to_wire()``) on every other live member."""
        self._broadcast("catalog.header", {"header": header_wire}, timeout)

    def broadcast_remove(self, key: str, timeout: float | None = 30.0) -> None:
        """Remove catalog entry ``key`` (and its chunks) on every other live member."""
        self._broadcast("catalog.remove", {"key": str(key)}, timeout)

    # ------------------------------------------------------------------ handlers (remote side)
    def set_handlers(self, execute_map: Callable | None = None, execute_indexed: Callable | None = None,
                     put_chunks: Callable | None = None, apply_header: Callable | None = None,
                     remove: Callable | None = None, stats: Callable[[], dict] | None = None,
                     get_chunk: Callable | None = None, chunk_factory: Callable | None = None,
                     rename: Callable | None = None, cancel: Callable[[str], int] | None = None,
                     store_shared: Callable[[str, Any], None] | None = None,
                     drop_shared: Callable[[str], None] | None = None) -> None:
        """Wire the node's functions behind the cluster ops (each optional).

        ``execute_map(task_name, frame_key, columns, params, chunk_indices) -> [(idx, partial)]``,
        ``execute_indexed(task_name, params, indices) -> [(idx, partial)]``,
        ``put_chunks(frame_key, chunks: list[dict])``, ``apply_header(header_wire)``,
        ``remove(key)``, ``stats() -> dict`` (cheap; called on the loop every heartbeat),
        ``get_chunk(frame_key, col_idx, chunk_idx) -> chunk`` (serves :meth:`fetch_chunk`),
        ``chunk_factory(codec, nrows, buffers, meta) -> chunk`` (builds received chunks),
        ``rename(staging_key, frame_key)`` (with ``apply_header``, serves :meth:`publish_frame`),
        ``cancel(token) -> int`` (``task.cancel``: stop the maps of requests sent with ``token``;
        ``execute_map`` / ``execute_indexed`` then receive ``token=`` when the request has one),
        ``store_shared(id, value)`` / ``drop_shared(id)`` (``task.bcast`` / ``task.bcast.drop``).
        """
        if chunk_factory is not None:
            self._chunk_factory = chunk_factory
        if get_chunk is not None:
            def _get(sender: str, p: Any) -> dict:
                p = _expect(p, {"frame": str, "col": int, "chunk": int})
                ch = get_chunk(p["frame"], p["col"], p["chunk"])
                return {"codec": str(ch.codec), "nrows": int(ch.nrows), "buffers": list(ch.buffers),
                        "meta": dict(ch.meta)}
            self.register("store.get_chunk", _get, executor=True)
        if execute_map is not None:
            def _map(sender: str, p: Any) -> dict:
                p = _expect(p, {"task": str, "frame": str, "params": dict, "indices": list})
                cols = p.get("columns")
                if cols is not None and not (isinstance(cols, list) and all(_is_int(c) for c in cols)):
                    raise InvalidParameter("task.map: columns must be a list of integers or nil.")
                kw = {"token": _token(p)} if "token" in p else {}
                return {"results": [[int(i), r] for i, r in
                                    execute_map(p["task"], p["frame"], cols, p["params"], _ints(p["indices"]), **kw)]}
            self.register("task.map", _map, executor=True)
        if execute_indexed is not None:
            def _indexed(sender: str, p: Any) -> dict:
                p = _expect(p, {"task": str, "params": dict, "indices": list})
                kw = {"token": _token(p)} if "token" in p else {}
                return {"results": [[int(i), r] for i, r in
                                    execute_indexed(p["task"], p["params"], _ints(p["indices"]), **kw)]}
            self.register("task.indexed", _indexed, executor=True)
        if cancel is not None:
            async def _cancel(sender: str, p: Any) -> dict:     # on the loop: it only sets events
                return {"cancelled": int(cancel(_token(p)))}
            self.register("task.cancel", _cancel)
        if store_shared is not None:
            def _bcast(sender: str, p: Any) -> dict:
                p = _expect(p, {"id": str})
                store_shared(p["id"], p.get("value"))
                return {}
            self.register("task.bcast", _bcast, executor=True)
        if drop_shared is not None:
            def _bdrop(sender: str, p: Any) -> dict:
                drop_shared(_expect(p, {"id": str})["id"])
                return {}
            self.register("task.bcast.drop", _bdrop, executor=True)
        if put_chunks is not None:
            def _put(sender: str, p: Any) -> dict:
                p = _expect(p, {"frame": str, "chunks": list})
                chunks = []
                for c in p["chunks"]:
                    c = _expect(c, {"col": int, "chunk": int, "codec": str, "nrows": int, "buffers": list,
                                    "meta": dict})
                    c["buffers"] = tuple(c["buffers"])
                    chunks.append(c)
                put_chunks(p["frame"], chunks)
                return {"stored": len(chunks)}
            self.register("store.put_chunks", _put, executor=True)
        if apply_header is not None and rename is not None:
            def _publish(sender: str, p: Any) -> dict:
                p = _expect(p, {"staging": str, "header": dict})
                key = p["header"].get("key")
                if not isinstance(key, str):
                    raise InvalidParameter("store.publish: header.key must be a string.")
                rename(p["staging"], key)
                apply_header(p["header"])
                return {}
            self.register("store.publish", _publish, executor=True)
        if apply_header is not None:
            def _header(sender: str, p: Any) -> dict:
                apply_header(_expect(p, {"header": dict})["header"])
                return {}
            self.register("catalog.header", _header, executor=True)
        if remove is not None:
            def _remove(sender: str, p: Any) -> dict:
                remove(_expect(p, {"key": str})["key"])
                return {}
            self.register("catalog.remove", _remove, executor=True)
        if stats is not None:
            self.transport.stats_provider = stats

    # ------------------------------------------------------------------ status
    def cluster_status(self) -> list[dict]:
        """One dict per candidate node, sorted by id (from the latest heartbeats; never blocks)."""
        m = self._membership
        now = time.monotonic()
        rows = []
        me = {"id": self.self_id, "self": True, "health": m.health(self.self_id), "locked": m.locked,
              "epoch": self.epoch, "version": self.transport.settings.version, "last_seen_ms": 0,
              "member": self.self_id in m.members(), "reason": f"fenced by {m.fenced_by}" if m.fenced else ""}
        rows.append({**_status_stats(self.transport._base_stats()), **me})
        for peer in m.peers.values():
            row = {"id": peer.id, "self": False, "health": peer.state, "locked": peer.locked,
                   "epoch": peer.epoch, "version": self.transport.settings.version if peer.state == HEALTHY else None,
                   "last_seen_ms": int((now - peer.last_seen) * 1000) if peer.last_seen else None,
                   "member": peer.id in m.members(), "reason": peer.reason}
            rows.append({**_status_stats(peer.stats), **row})
        rows.sort(key=lambda r: r["id"])
        return rows

    def status(self) -> dict:
        """Cluster status for the API: ``{members: [...], locked, healthy, size, self}``.

        Each member row has ``name`` (the member id), ``health``, ``healthy``, ``locked``,
        ``last_seen_ms`` and every stat the node reported in its last heartbeat (``cores``,
        ``memory_budget``, ``frame_memory``, ``frames``, ...).
        """
        rows = []
        for r in self.cluster_status():
            row = dict(r)
            row["name"] = row["id"]
            row["healthy"] = row["health"] == HEALTHY
            rows.append(row)
        return {"members": rows, "locked": self.locked, "self": self.self_id, "size": len(self.members()),
                "healthy": not self.fenced and not self.lost()}

    def counters(self) -> dict[str, int]:
        """Messages received and dropped, by kind (for operations and tests)."""
        return dict(self.transport.counters)


_STATUS_KEYS = ("pid", "cores", "memory_total", "memory_budget", "frame_memory", "frames")


def _wait_all(futures: list[cf.Future]) -> None:
    """Wait for every future, then raise the first failure (so no call is left running unseen)."""
    first: BaseException | None = None
    for fut in futures:
        try:
            fut.result()
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first


def _status_stats(stats: dict) -> dict:
    """The standard stats (None when unknown) plus any other scalar the node reported."""
    out = {k: stats.get(k) for k in _STATUS_KEYS}
    for k, v in list(stats.items())[:64]:
        if k not in out and isinstance(k, str) and (v is None or isinstance(v, (bool, int, float, str))):
            out[k] = v
    return out


def _frame_lost(frame_key: str, member: str) -> FrameLost:
    return FrameLost(f"Frame `{frame_key}` had chunks on node {member}, which was lost; it cannot be read any "
                     f"more. Re-import or recompute it.", {"frame": str(frame_key), "node": member})


def _token(p: Any) -> str:
    tok = p.get("token") if isinstance(p, dict) else None
    if not isinstance(tok, str) or not 0 < len(tok) <= 64:
        raise InvalidParameter("token must be a string of 1 to 64 characters.")
    return tok


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _ints(xs: list) -> list[int]:
    if not all(_is_int(x) for x in xs):
        raise InvalidParameter("indices must be integers.")
    return xs


def _expect(p: Any, spec: dict[str, type]) -> dict:
    """Check a peer's payload has the keys and types of ``spec`` (one error naming every problem)."""
    if not isinstance(p, dict):
        raise InvalidParameter("payload must be a map.")
    problems = [f"{k} must be {t.__name__}" for k, t in spec.items()
                if not isinstance(p.get(k), t) or (t is int and isinstance(p.get(k), bool))]
    if problems:
        raise InvalidParameter("Bad node payload: " + "; ".join(problems) + ".", {"problems": problems})
    return p

