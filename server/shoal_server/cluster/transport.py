"""The node's ZeroMQ sockets, request/response RPC and heartbeats, all on one asyncio loop.

Owns: one ROUTER bound at the node port (HTTP port + 1), one DEALER per peer, the handler table
(op → coroutine, or function run in the cluster's handler pool), pending calls, heartbeats, and
the optional CURVE authenticator. Knows nothing of frames or tasks.

Technical note (routes). A request to peer B leaves on our DEALER(B), arrives on B's ROUTER
and its reply comes back on the same DEALER. B's own requests and heartbeats reach us on our
ROUTER. Each DEALER's routing id is ``"<member>/<epoch>"``; the ROUTER drops any message whose
header does not name the same sender and epoch, so a message is always attributed to the
incarnation that completed the handshake. Every message goes through :mod:`.protocol`; anything
malformed, oversized or unauthenticated is counted, logged (rate-limited) and dropped: no
exception from a peer's bytes ever reaches the loop.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import itertools
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import zmq
import zmq.asyncio
from zmq.utils import z85

from .. import __version__
from ..errors import ClusterError, InternalError, NodeLost, NotFound, ShoalError
from . import security
from .membership import HEALTHY, LOST, Membership, member_address, parse_member, resolve_self_id
from .protocol import DEFAULT_LIMITS, PROTOCOL_VERSION, Envelope, Limits, ProtocolError, decode, encode

__all__ = ["ClusterSettings", "Transport", "software_version"]

log = logging.getLogger(__name__)


def software_version() -> str:
    """The version peers must match: package version and wire protocol version."""
    return f"{__version__}+p{PROTOCOL_VERSION}"


@dataclass
class ClusterSettings:
    """Everything the cluster layer needs; built from a ``NodeConfig`` by :meth:`from_config`."""

    self_id: str
    candidates: list[str]
    cluster: str = "shoal"
    version: str = field(default_factory=software_version)
    secret: bytes = b""
    bind: str = "127.0.0.1"
    port: int = 54330
    heartbeat_interval: float = 0.5
    heartbeat_timeout: float = 3.0
    curve: bool = False
    limits: Limits = DEFAULT_LIMITS
    handler_threads: int = 4

    @classmethod
    def from_config(cls, config: Any, secret: bytes | None = None, version: str | None = None) -> "ClusterSettings":
        peers = [str(p).strip() for p in (getattr(config, "peers", None) or []) if str(p).strip()]
        for p in peers:
            parse_member(p)
        bind = getattr(config, "bind", "127.0.0.1")
        port = int(getattr(config, "port"))
        if secret is None:
            secret = security.load_secret(getattr(config, "secret_file", None))
        self_id = resolve_self_id(bind, port, peers)
        curve = security.curve_wanted(str(getattr(config, "cluster_curve", "auto")), bind)
        if curve and not secret:
            raise ClusterError("CURVE encryption of node traffic needs a cluster secret (--secret-file).")
        if not secret:
            log.warning("No cluster secret (--secret-file): any process that reaches the node port of a "
                        "listed peer can join this cluster.")
        max_bytes = int(getattr(config, "cluster_max_message_bytes", 0) or DEFAULT_LIMITS.max_message_bytes)
        limits = Limits(max_header_bytes=min(DEFAULT_LIMITS.max_header_bytes, max_bytes), max_message_bytes=max_bytes)
        return cls(self_id=self_id, candidates=sorted(set(peers) | {self_id}), limits=limits,
                   cluster=getattr(config, "name", "shoal"), version=version or software_version(),
                   secret=secret, bind=bind, port=port,
                   heartbeat_interval=float(getattr(config, "heartbeat_interval", 0.5)),
                   heartbeat_timeout=float(getattr(config, "heartbeat_timeout", 3.0)), curve=curve)


Handler = Callable[[str, Any], Any]


class _CurveKeys:
    """ZAP credentials provider: admit exactly the cluster's public key."""

    def __init__(self, public_z85: bytes):
        self.public_z85 = public_z85
        self.public_raw = z85.decode(public_z85)

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in (self.public_z85, self.public_raw)
        if not ok:
            log.warning("Refused a CURVE connection with an unknown key")
        return ok


class Transport:
    """The sockets and RPC of one node. Create, then ``await start()`` on the owning loop."""

    def __init__(self, settings: ClusterSettings, epoch: int | None = None):
        self.settings = settings
        self.self_id = settings.self_id
        self.epoch = int(epoch if epoch is not None else time.time_ns())
        self.membership = Membership(settings.self_id, settings.candidates, settings.cluster, settings.version,
                                     self.epoch, settings.secret, settings.heartbeat_timeout,
                                     heartbeat_interval=settings.heartbeat_interval)
        self.handlers: dict[str, tuple[Handler, bool]] = {}
        self.counters: Counter = Counter()
        self.stats_provider: Callable[[], dict] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, str, asyncio.Future]] = {}
        self._lost_callbacks: list[Callable[[str], None]] = []
        self._executor = cf.ThreadPoolExecutor(max_workers=settings.handler_threads,
                                               thread_name_prefix="shoal-rpc")
        self._tasks: set[asyncio.Task] = set()
        self._dealers: dict[str, zmq.asyncio.Socket] = {}
        self._dealer_tasks: dict[str, asyncio.Task] = {}
        self._keys: tuple = (None, None)
        self._router: zmq.asyncio.Socket | None = None
        self._ctx: zmq.asyncio.Context | None = None
        self._auth = None
        self._last_log: dict[str, float] = {}
        self._last_hello: dict[str, float] = {}
        self._closed = False
        self.register("cluster.lock", self._handle_lock)
        self.register("cluster.ping", self._handle_ping)

    # ------------------------------------------------------------------ handler table
    def register(self, op: str, fn: Handler, executor: bool | None = None) -> None:
        """Serve ``op`` with ``fn(sender, payload) -> payload``.

        Coroutine functions run on the loop (they must not block); plain functions run in the
        handler pool (``executor`` forces either way).
        """
        if executor is None:
            executor = not inspect.iscoroutinefunction(fn)
        self.handlers[op] = (fn, bool(executor))

    def on_node_lost(self, fn: Callable[[str], None]) -> None:
        self._lost_callbacks.append(fn)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        s = self.settings
        self.loop = asyncio.get_running_loop()
        self._ctx = zmq.asyncio.Context()
        public = secret = None
        if s.curve:
            from zmq.auth.asyncio import AsyncioAuthenticator

            public, secret = security.curve_keypair(s.cluster, s.secret)
            self._auth = AsyncioAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve_callback("shoal", credentials_provider=_CurveKeys(public))
        router = self._ctx.socket(zmq.ROUTER)
        self._common_options(router)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.SNDHWM, 0)
        if s.curve:
            router.curve_server = True
            router.curve_secretkey = secret
            router.curve_publickey = public
            router.zap_domain = b"shoal"
        host = "*" if s.bind in ("0.0.0.0", "*", "") else s.bind
        router.bind(f"tcp://{host}:{s.port + 1}")
        self._router = router
        self._keys = (public, secret)
        for peer in self.membership.peers:
            self._open_dealer(peer)
        self._spawn(self._router_loop())
        self._spawn(self._heartbeat_loop())
        log.info("Cluster %r: node %s (epoch %s) listening on tcp://%s:%d%s; candidates: %s", s.cluster,
                 self.self_id, self.epoch, host, s.port + 1, " with CURVE" if s.curve else "",
                 ", ".join(s.candidates))

    def _open_dealer(self, peer: str) -> None:
        public, secret = self._keys
        dealer = self._ctx.socket(zmq.DEALER)
        self._common_options(dealer)
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.routing_id = f"{self.self_id}/{self.epoch}".encode()
        if self.settings.curve:
            dealer.curve_serverkey = public
            dealer.curve_publickey = public
            dealer.curve_secretkey = secret
        dealer.connect(member_address(peer))
        self._dealers[peer] = dealer
        self._dealer_tasks[peer] = self._spawn(self._dealer_loop(peer, dealer))

    def _close_dealer(self, peer: str, reopen: bool) -> None:
        """Close the socket to ``peer`` (a lost member after lock, or a TCP self-connection)."""
        task = self._dealer_tasks.pop(peer, None)
        if task is not None:
            task.cancel()
        dealer = self._dealers.pop(peer, None)
        if dealer is not None:
            dealer.close(linger=0)
        if reopen and not self._closed:
            self._open_dealer(peer)

    def _common_options(self, sock: zmq.Socket) -> None:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, int(self.settings.limits.max_message_bytes))
        sock.setsockopt(zmq.RCVHWM, 10000)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)

    async def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for _, _, fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(ClusterError(f"Node {self.self_id} is shutting down."))
        await asyncio.sleep(0)
        for sock in [self._router, *self._dealers.values()]:
            if sock is not None:
                sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        if self._ctx is not None:
            self._ctx.destroy(linger=0)     # closes any socket still open, so term never waits
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, coro: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ sending
    def _envelope(self, type_: str, payload: Any = None, op: str = "", reply_to: int | None = None) -> Envelope:
        return Envelope(id=next(self._ids), type=type_, sender=self.self_id, reply_to=reply_to, op=op,
                        epoch=self.epoch, cluster=self.settings.cluster, version=self.settings.version,
                        payload=payload)

    async def _send_dealer(self, peer: str, env: Envelope) -> bool:
        """Send without waiting: False when the peer is not connected (or its queue is full).

        Every send on the loop is non-blocking, so a dead peer never holds up a heartbeat or
        another call (a blocked send would queue every later send on that socket behind it).
        """
        return self._try_send(peer, encode(env), env.type)

    def _try_send(self, peer: str, frames: list, what: str) -> bool:
        dealer = self._dealers.get(peer)
        if dealer is None:
            return False
        try:
            # with NOBLOCK (and no blocking send ever queued) the future is already resolved;
            # pyzmq then also re-arms the socket's pending receives
            dealer.send_multipart(frames, flags=zmq.NOBLOCK, copy=False).result()
        except zmq.Again:
            return False
        self._count_sent(what, frames)
        return True

    def _count_sent(self, what: str, frames: list) -> None:
        self.counters[f"sent_bytes.{what}"] += sum(len(f) if isinstance(f, bytes) else f.nbytes for f in frames)
        self.counters[f"sent.{what}"] += 1

    async def _send_request(self, member: str, op: str, frames: list, fut: asyncio.Future) -> None:
        """Send a request as soon as the member's socket takes it, unless the call ended meanwhile."""
        delay = 0.001
        while not self._try_send(member, frames, f"req:{op}"):
            if fut.done():
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def _send_router(self, ident: bytes, env: Envelope) -> None:
        try:
            frames = encode(env)
        except ProtocolError as exc:
            frames = encode(self._error_reply(env.reply_to or 0, env.op,
                                              InternalError(f"[{self.self_id}:{env.op}] the reply cannot "
                                                            f"cross the wire: {exc}")))
        try:
            self._router.send_multipart([ident, *frames], flags=zmq.NOBLOCK, copy=False).result()
        except zmq.ZMQError as exc:
            self._drop("reply_undeliverable", f"{ident[:80]!r}: {exc}")
            return
        self._count_sent(f"{env.type}:{env.op}" if env.op else env.type, frames)

    def _error_reply(self, reply_to: int, op: str, err: ShoalError) -> Envelope:
        return self._envelope("err", err.to_wire(), op=op, reply_to=reply_to)

    # ------------------------------------------------------------------ RPC
    async def call(self, member: str, op: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Run ``op`` on ``member`` and return its reply payload (arrays arrive as numpy arrays).

        Raises the remote :class:`ShoalError` (message prefixed ``[member:op]``), ``node_lost``
        when the member is lost before it answers, ``cluster_error`` on timeout or when the member
        is not reachable.
        """
        m = self.membership
        if m.fenced:
            raise ClusterError(f"Node {self.self_id} was fenced (declared lost by {m.fenced_by}); "
                               "it no longer runs cluster work. Restart it.", {"node": self.self_id})
        peer = m.peers.get(member)
        if peer is None:
            raise ClusterError(f"Node {member} is not a cluster candidate of {self.self_id}.", {"node": member})
        if peer.state == LOST:
            raise self._lost_error(member)
        if peer.state != HEALTHY:
            raise ClusterError(f"Node {member} has not joined the cluster ({peer.state}"
                               f"{': ' + peer.reason if peer.reason else ''}).", {"node": member})
        env = self._envelope("req", payload, op=op)
        fut = self.loop.create_future()
        self._pending[env.id] = (member, op, fut)
        try:
            try:
                frames = encode(env)
            except ProtocolError as exc:
                raise InternalError(f"The request {op!r} cannot cross the wire: {exc}") from None

            async def exchange() -> Any:
                await self._send_request(member, op, frames, fut)
                return await fut

            if timeout is None:
                return await exchange()
            try:
                return await asyncio.wait_for(exchange(), timeout)
            except asyncio.TimeoutError:
                raise ClusterError(f"[{member}:{op}] no reply within {timeout:g} s.",
                                   {"node": member, "op": op, "timeout": timeout}) from None
        finally:
            self._pending.pop(env.id, None)

    def _lost_error(self, member: str) -> NodeLost:
        peer = self.membership.peers.get(member)
        why = f" ({peer.reason})" if peer is not None and peer.reason else ""
        return NodeLost(f"Node {member} was lost{why}; the work that needed it failed. The other nodes keep "
                        "serving; restart the cluster to recover the data it held.", {"node": member})

    async def _serve(self, ident: bytes, env: Envelope) -> None:
        op = env.op
        try:
            if self.membership.fenced:
                raise ClusterError(f"Node {self.self_id} was fenced and no longer serves cluster work.",
                                   {"node": self.self_id})
            entry = self.handlers.get(op)
            if entry is None:
                raise NotFound(f"Unknown node operation {op!r}.", {"op": op})
            fn, in_executor = entry
            if in_executor:
                result = await self.loop.run_in_executor(self._executor, fn, env.sender, env.payload)
            else:
                result = await fn(env.sender, env.payload)
            reply = self._envelope("rep", result, op=op, reply_to=env.id)
        except asyncio.CancelledError:
            raise
        except ShoalError as exc:
            details = dict(exc.details)
            details.setdefault("node", self.self_id)
            err = type(exc)(f"[{self.self_id}:{op}] {exc.message}", details)
            reply = self._error_reply(env.id, op, err)
        except Exception as exc:  # a handler bug must still answer the caller
            log.exception("Handler for %r failed (request from %s)", op, env.sender)
            err = InternalError(f"[{self.self_id}:{op}] {type(exc).__name__}: {exc}", {"node": self.self_id})
            reply = self._error_reply(env.id, op, err)
        await self._send_router(ident, reply)

    # ------------------------------------------------------------------ receiving
    def _drop(self, reason: str, detail: str = "") -> None:
        self.counters[f"dropped.{reason}"] += 1
        now = time.monotonic()
        if now - self._last_log.get(reason, 0.0) > 5.0:
            self._last_log[reason] = now
            log.warning("Dropped a node message (%s)%s [%d so far]", reason, f": {detail}" if detail else "",
                        self.counters[f"dropped.{reason}"])

    async def _router_loop(self) -> None:
        router = self._router
        while True:
            try:
                frames = await router.recv_multipart(copy=False)
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as exc:
                if self._closed:
                    return
                self._drop("recv_error", str(exc))
                await asyncio.sleep(0.01)
                continue
            try:
                ident = frames[0].bytes
                try:
                    env = decode(frames[1:], self.settings.limits)
                except ProtocolError as exc:
                    self._drop("malformed", str(exc)[:200])
                    continue
                if ident != f"{env.sender}/{env.epoch}".encode():
                    self._drop("identity_mismatch", env.sender[:80])
                    continue
                self.counters[f"received.{env.type}"] += 1
                await self._on_router(ident, env)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let a message kill the loop
                log.exception("Error while handling a node message")
                self.counters["dropped.handler_error"] += 1

    async def _on_router(self, ident: bytes, env: Envelope) -> None:
        m = self.membership
        if env.type == "hello":
            reply_type, payload, event = m.on_hello(env.sender, env.epoch, env.cluster, env.version, env.payload)
            if event == "restarted":
                self._fail_pending(env.sender, self._lost_error(env.sender))
            await self._send_router(ident, self._envelope(reply_type, payload, reply_to=env.id))
            if event and m.peers[env.sender].state == HEALTHY:
                await self._hello(env.sender, force=True)
            return
        if env.cluster != self.settings.cluster:
            self._drop("other_cluster", env.sender[:80])
            return
        if env.type == "fenced":
            self._on_fenced(env)
            return
        verdict = m.admit(env.sender, env.epoch)
        if verdict == "fenced":
            await self._send_router(ident, self._envelope("fenced", m.make_fenced(env.sender, env.epoch)))
            return
        if verdict != "ok":
            self._drop(f"not_admitted.{env.type}", env.sender[:80])
            return
        if env.type == "hb":
            m.on_heartbeat(env.sender, env.payload)
            self._maybe_adopt_lock(env.sender)
        elif env.type == "req":
            self._spawn(self._serve(ident, env))
        else:
            self._drop(f"unexpected.{env.type}", env.sender[:80])

    async def _dealer_loop(self, peer: str, dealer: zmq.asyncio.Socket) -> None:
        m = self.membership
        while True:
            try:
                frames = await dealer.recv_multipart(copy=False)
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as exc:
                if self._closed:
                    return
                self._drop("recv_error", str(exc))
                await asyncio.sleep(0.01)
                continue
            try:
                try:
                    env = decode(frames, self.settings.limits)
                except ProtocolError as exc:
                    self._drop("malformed", str(exc)[:200])
                    continue
                if env.sender == self.self_id and env.epoch == self.epoch:
                    # TCP self-connection: connecting to a local port nobody listens on can, rarely,
                    # pick that same port as source and talk to itself. Start a fresh socket.
                    log.warning("The socket to %s connected to itself; reopening it", peer)
                    self.loop.call_soon(self._close_dealer, peer, True)
                    return
                if env.sender != peer or env.cluster != self.settings.cluster:
                    self._drop("wrong_sender", env.sender[:80])
                    continue
                self.counters[f"received.{env.type}"] += 1
                if env.type == "welcome":
                    if m.is_fenced_epoch(peer, env.epoch):
                        await self._send_dealer(peer, self._envelope("fenced", m.make_fenced(peer, env.epoch)))
                        continue
                    m.on_welcome(peer, env.epoch, env.payload)
                elif env.type == "refuse":
                    m.on_refuse(peer, env.payload)
                elif env.type == "fenced":
                    self._on_fenced(env)
                elif env.type in ("rep", "err"):
                    verdict = m.admit(peer, env.epoch)
                    if verdict != "ok":
                        self._drop(f"not_admitted.{env.type}", peer)
                        continue
                    entry = self._pending.get(env.reply_to)
                    if entry is None or entry[0] != peer:
                        self._drop("unknown_reply", f"{peer} #{env.reply_to}")
                        continue
                    fut = entry[2]
                    if fut.done():
                        continue
                    if env.type == "rep":
                        fut.set_result(env.payload)
                    else:
                        fut.set_exception(ShoalError.from_wire(env.payload if isinstance(env.payload, dict) else {}))
                else:
                    self._drop(f"unexpected.{env.type}", peer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Error while handling a reply from %s", peer)
                self.counters["dropped.handler_error"] += 1

    def _on_fenced(self, env: Envelope) -> None:
        if self.membership.on_fenced(env.sender, env.epoch, env.payload):
            err = ClusterError(f"Node {self.self_id} was fenced (declared lost by {env.sender}); restart it.",
                               {"node": self.self_id})
            for member in list(self.membership.peers):
                self._fail_pending(member, err)

    def _maybe_adopt_lock(self, sender: str) -> None:
        m = self.membership
        peer = m.peers[sender]
        if m.locked or not peer.locked:
            return
        if peer.view == m.members():
            try:
                m.lock(peer.view)
            except ValueError:
                pass

    # ------------------------------------------------------------------ heartbeats and loss
    async def _hello(self, peer: str, force: bool = False) -> None:
        now = time.monotonic()
        state = self.membership.peers[peer].state
        pause = {HEALTHY: 0.0, LOST: 1.0, "refused": 2.0}.get(state, self.settings.heartbeat_interval)
        if not force and now - self._last_hello.get(peer, 0.0) < pause:
            return
        self._last_hello[peer] = now
        env = self._envelope("hello", self.membership.make_hello(peer, security.random_nonce()))
        await self._send_dealer(peer, env)

    def _base_stats(self) -> dict:
        stats = {"pid": os.getpid(), "cores": os.cpu_count() or 1, "memory_total": _physical_memory()}
        if self.stats_provider is not None:
            try:
                stats.update(self.stats_provider() or {})
            except Exception:  # a stats bug must not stop heartbeats
                log.exception("stats provider failed")
        return stats

    async def _heartbeat_loop(self) -> None:
        m = self.membership
        interval = self.settings.heartbeat_interval
        while True:
            try:
                if not m.fenced:
                    for member in m.tick():
                        self._declare_lost(member)
                if not m.fenced:
                    payload = {"members": m.members(), "locked": m.locked, "stats": self._base_stats()}
                    for peer, state in list((p.id, p.state) for p in m.peers.values()):
                        if state == HEALTHY:
                            if not m.peers[peer].welcomed:
                                await self._hello(peer)
                            await self._send_dealer(peer, self._envelope("hb", payload))
                        elif not m.locked:
                            await self._hello(peer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Heartbeat round failed")
            await asyncio.sleep(interval)

    def _declare_lost(self, member: str) -> None:
        self._fail_pending(member, self._lost_error(member))
        if self.membership.locked:
            self._close_dealer(member, reopen=False)   # it can never rejoin; stop reconnecting
        for fn in list(self._lost_callbacks):
            try:
                fn(member)
            except Exception:
                log.exception("on_node_lost callback failed for %s", member)

    def _fail_pending(self, member: str, err: ShoalError) -> None:
        for mid, (who, op, fut) in list(self._pending.items()):
            if who == member and not fut.done():
                fut.set_exception(err)

    # ------------------------------------------------------------------ built-in ops
    async def _handle_lock(self, sender: str, payload: Any) -> dict:
        members = payload.get("members") if isinstance(payload, dict) else None
        if not isinstance(members, list) or not all(isinstance(x, str) for x in members):
            raise ClusterError("cluster.lock needs a list of member ids.")
        try:
            self.membership.lock(members)
        except ValueError as exc:
            raise ClusterError(f"Cannot lock: {exc}.") from None
        return {"members": self.membership.members()}

    async def _handle_ping(self, sender: str, payload: Any) -> Any:
        return payload

    async def lock(self, timeout: float = 10.0) -> list[str]:
        """Lock the membership on every member; return the locked list (idempotent)."""
        m = self.membership
        deadline = time.monotonic() + timeout
        last = "the members do not report the same list yet"
        while True:
            if m.locked:
                return m.members()
            members = m.members()
            if m.agreed():
                others = [p for p in members if p != self.self_id]
                results = await asyncio.gather(
                    *(self.call(p, "cluster.lock", {"members": members}, timeout=max(1.0, 2 * self.settings.heartbeat_timeout))
                      for p in others), return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                if not errors:
                    try:
                        m.lock(members)
                        return m.members()
                    except ValueError as exc:
                        last = str(exc)
                else:
                    last = str(errors[0])
            if time.monotonic() > deadline:
                raise ClusterError(f"The cluster membership did not settle within {timeout:g} s ({last}); "
                                   "check that every node started with the same peers, name and secret.",
                                   {"members": members})
            await asyncio.sleep(self.settings.heartbeat_interval / 2)


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0
