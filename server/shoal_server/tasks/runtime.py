"""The map/reduce runtime: run a registered task over a frame's chunks where they live.

Technical note (the fan-out). ``Runtime.run`` sorts the frame's chunk indices by home node
(``store.layout.home_of``). Local chunks are mapped in this node's compute pool by one runner per
pool thread, each taking the next chunk until none is left (numba kernels release the GIL, so the
pool really runs in parallel; the caller wakes once per pass, not once per chunk). Chunks of other
nodes are sent, as one request per node, through the cluster view; each node maps its chunks the
same way and returns ``(chunk_idx, partial)`` pairs. The coordinator then reduces all partials in
the fixed pairwise tree of ``tasks.reduce`` and calls ``finish``. Because the tree depends only on
the chunk count, the result has the same bits on one node or three.

Maps must not submit work to the runtime themselves (a map that waits for the pool it runs in
could deadlock); orchestration that needs several passes calls ``run`` several times.

Technical note (remote cancel). Every fan-out carries a token (a random id) in its requests. A
member registers the token while it maps; when the coordinator stops waiting (the job was
cancelled, timed out, or another member failed), it sends ``task.cancel {token}`` to every member
it asked, and their maps stop within one chunk's time (the same ``ctx.check()`` a local job uses).
A cancel that arrives before its request is remembered, so a late request ends at once.

Technical note (broadcast). ``broadcast(value)`` sends a large parameter once to every other live
member (``task.bcast``, one message each: a star) and returns a :class:`BroadcastRef`; a ref put at
the top level of ``params`` travels as its id and every member's maps see the value itself, so a
parameter used by many passes crosses the wire once per node instead of once per request.
``release(ref)`` frees it everywhere.
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Iterable, Sequence

from ..errors import FrameLost, JobCancelled, NodeLost, ShoalError
from ..store.layout import home_of
from .reduce import tree_reduce
from .registry import IndexedTask, MRTask, get_task

__all__ = ["Runtime", "TaskContext", "BroadcastRef"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1
#: How long a failed fan-out waits for the other members to end their cancelled requests (a map
#: stops at its next check, normally within milliseconds). Bounded, so a member stuck in a long
#: stretch without checks (e.g. a kernel compiling on a cold numba cache) cannot hold the job's
#: failure beyond the R3 bar (FAILED <= 10 s after a loss); past it a warning is logged.
_STOP_GRACE_SECONDS = 5.0
_BCAST_TAG = "__shoal_bcast__"
_MAX_CANCELLED = 4096


class BroadcastRef:
    """A parameter sent once to every node (:meth:`Runtime.broadcast`); put it in ``params``."""

    __slots__ = ("id", "value")

    def __init__(self, id_: str, value: Any):
        self.id = id_
        self.value = value

    def __repr__(self) -> str:
        return f"BroadcastRef({self.id!r})"


class _RemoteRequest:
    """The stand-in job of a map request from another node: cancelled by ``task.cancel``."""

    __slots__ = ("token", "event")

    def __init__(self, token: str):
        self.token = token
        self.event = threading.Event()

    def check(self) -> None:
        if self.event.is_set():
            raise JobCancelled("The coordinating node cancelled this work.", {"token": self.token})

    def update(self, progress=None, message=None) -> None:
        return None


class _FanOutWatch:
    """The job a fan-out's local maps see: the caller's job (cancel, time limit, progress) plus the
    first failure of a request to another member, so the local maps stop as soon as another member
    failed or was lost instead of after this node's whole share."""

    __slots__ = ("job", "failure")

    def __init__(self, job):
        self.job = job
        self.failure: BaseException | None = None

    def remote_done(self, fut: cf.Future) -> None:
        if fut.cancelled() or self.failure is not None:
            return
        exc = fut.exception()
        if exc is not None:
            self.failure = exc

    def check(self) -> None:
        if self.job is not None:
            self.job.check()
        if self.failure is not None:
            raise self.failure

    def update(self, progress=None, message=None) -> None:
        if self.job is not None:
            self.job.update(progress=progress, message=message)


class TaskContext:
    """What a map sees of the world: the node, and a cancellation check."""

    __slots__ = ("node", "job", "span")

    def __init__(self, node, job=None, span: tuple[float, float] = (0.0, 1.0)):
        self.node = node
        self.job = job
        self.span = span

    def check(self) -> None:
        """Raise ``job_cancelled`` / ``job_timeout`` when the job should stop."""
        if self.job is not None:
            self.job.check()


class Runtime:
    """Runs tasks for one node. Created by :class:`shoal_server.node.Node`."""

    def __init__(self, node):
        self.node = node
        self.threads = max(1, int(node.config.threads))
        self.pool = cf.ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="shoal-compute")
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._requests: dict[str, list[_RemoteRequest]] = {}   # token -> running requests from peers
        self._cancelled: OrderedDict[str, None] = OrderedDict()  # tokens cancelled (bounded memory)
        self._shared: dict[str, Any] = {}                        # broadcast id -> value
        self.remote_maps_started = 0
        self.remote_maps_cancelled = 0

    # ------------------------------------------------------------------ membership
    @property
    def self_id(self) -> str:
        return self.node.self_id

    def members(self) -> list[str]:
        """The sorted member list that places new chunks (just this node without a cluster).

        Asking for it locks the cluster's membership (as H2O-3 does at the first frame or job):
        from then on chunk homes never move. A member lost since is refused with ``node_lost``
        rather than silently skipped, so a frame is never placed on a dead node.
        """
        cluster = self.node.cluster
        if cluster is None:
            return [self.node.self_id]
        members = list(cluster.lock())
        lost = sorted(set(members) & set(cluster.lost()))
        if lost:
            raise NodeLost(f"Node {lost[0]} of this cluster was lost; new frames cannot be placed. "
                           f"Restart the cluster to continue.", {"node": lost[0]})
        return members

    # ------------------------------------------------------------------ public entry points
    def run(self, task_name: str, frame_key: str, columns: Sequence[int] | None = None,
            params: dict | None = None, job=None, span: tuple[float, float] = (0.0, 1.0)) -> Any:
        """Map ``task_name`` over every chunk of ``frame_key``; reduce in the fixed tree; finish.

        Returns ``task.finish(None, params)`` for a frame without chunks. ``span`` is the part of
        the job's progress bar this pass fills (a job of several passes gives each its share).
        """
        task = get_task(task_name)
        params = dict(params or {})
        header = self.node.catalog.get(frame_key)
        self._check_not_lost(header, job)
        cols = list(range(header.ncol)) if columns is None else [int(c) for c in columns]
        homes = [home_of(i, header.members) for i in range(header.nchunks)]
        local_params, wire_params = self._params_pair(params)
        partials = self._fan_out(task, homes, job, span,
                                 local=lambda idx, ctx: self.execute_map(task_name, frame_key, cols, local_params, idx,
                                                                         ctx=ctx),
                                 remote=lambda member, idx, token: self.node.cluster.submit_map(
                                     member, task_name, frame_key, cols, wire_params, idx, token=token))
        if not partials:
            return task.finish(None, params)
        return task.finish(tree_reduce(partials, _folded_reduce(task) if task.fold_local else task.reduce), params)

    def run_indexed(self, task_name: str, n: int, params: dict | None = None, job=None,
                    reduce: bool = False, members: Sequence[str] | None = None,
                    span: tuple[float, float] = (0.0, 1.0)) -> Any:
        """Map an :class:`IndexedTask` over ``0..n-1``, index ``i`` on ``home_of(i, members)``.

        Returns the per-index partials in index order, or with ``reduce=True`` the finished
        tree-reduction of them.
        """
        task = get_task(task_name)
        if not isinstance(task, IndexedTask):
            raise TypeError(f"task {task_name!r} is not an indexed task")
        params = dict(params or {})
        members = list(members) if members is not None else self.members()
        homes = [home_of(i, members) for i in range(int(n))]
        local_params, wire_params = self._params_pair(params)
        partials = self._fan_out(task, homes, job, span,
                                 local=lambda idx, ctx: self.execute_indexed(task_name, local_params, idx, ctx=ctx),
                                 remote=lambda member, idx, token: self.node.cluster.submit_indexed(
                                     member, task_name, wire_params, idx, token=token))
        if not reduce:
            return partials
        if not partials:
            return task.finish(None, params)
        return task.finish(tree_reduce(partials, task.reduce), params)

    def run_on_each_live(self, task_name: str, params: dict | None, members: Sequence[str],
                         timeout: float = 30.0) -> dict[str, BaseException]:
        """Best effort: run indexed task ``task_name`` once on every live member of ``members``
        (index ``i`` on ``members[i]``) and wait for all of them; return the failures by member.

        For clean-up after a failure (freeing staged chunks): one member that fails or was lost
        must not stop the others, so unlike :meth:`run_indexed` nothing is cancelled and lost
        members are skipped instead of failing the call.
        """
        if not isinstance(get_task(task_name), IndexedTask):
            raise TypeError(f"task {task_name!r} is not an indexed task")
        members = list(members)
        cluster = self.node.cluster
        lost = set(cluster.lost()) if cluster is not None else set()
        local_params, wire_params = self._params_pair(dict(params or {}))
        me = self.node.self_id
        futures, failed = {}, {}
        for i, member in enumerate(members):
            if member == me or member in lost:
                continue
            if cluster is None:
                failed[member] = ShoalError(f"Node {member} is not in this cluster.", {"node": member})
                continue
            try:
                futures[member] = cluster.submit_indexed(member, task_name, wire_params, [i], token=uuid.uuid4().hex)
            except Exception as exc:  # noqa: BLE001 - e.g. the cluster closing: the others still run
                failed[member] = exc
        if me in members:
            try:
                self.execute_indexed(task_name, local_params, [members.index(me)])
            except Exception as exc:  # noqa: BLE001 - reported to the caller with the others
                failed[me] = exc
        deadline = time.monotonic() + timeout          # one budget for all, not one per member
        for member, fut in futures.items():
            try:
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except BaseException as exc:  # noqa: BLE001 - best effort, reported to the caller
                if not fut.done():
                    fut.cancel()
                failed[member] = exc
        return failed

    # ------------------------------------------------------------------ node-local execution
    def execute_map(self, task_name: str, frame_key: str, columns: Sequence[int], params: dict,
                    chunk_indices: Iterable[int], ctx: TaskContext | None = None,
                    token: str | None = None) -> list[tuple[int, dict]]:
        """Map a task over chunks held by this node (also the handler for peers' requests, which
        pass the coordinator's cancel ``token``)."""
        task = get_task(task_name)
        store = self.node.chunks
        cols = list(columns)
        with self._remote_request(token, ctx) as ctx:
            params = self._resolve(params) if token is not None else params

            def chunks_of(idx: int) -> dict:
                return {c: store.get(frame_key, c, idx) for c in cols}

            if task.fold_local:
                return self.map_local(lambda idx, acc: task.map_into(ctx, idx, chunks_of(idx), params, acc),
                                      chunk_indices, ctx, fold=True)
            return self.map_local(lambda idx: task.map(ctx, idx, chunks_of(idx), params), chunk_indices, ctx)

    def execute_indexed(self, task_name: str, params: dict, indices: Iterable[int],
                        ctx: TaskContext | None = None, token: str | None = None) -> list[tuple[int, dict]]:
        task = get_task(task_name)
        with self._remote_request(token, ctx) as ctx:
            params = self._resolve(params) if token is not None else params
            return self.map_local(lambda idx: task.map(ctx, idx, params), indices, ctx)

    # ------------------------------------------------------------------ remote cancel
    def cancel_remote(self, token: str) -> int:
        """Stop the maps that peers' requests with ``token`` run here (``task.cancel``); returns
        how many requests were running. Remembered, so a request arriving later ends at once."""
        with self._lock:
            self._cancelled[token] = None
            while len(self._cancelled) > _MAX_CANCELLED:
                self._cancelled.popitem(last=False)
            reqs = list(self._requests.get(token, ()))
        for r in reqs:
            r.event.set()
        if reqs:
            self.remote_maps_cancelled += len(reqs)
            log.info("cancelled %d map request(s) of %s at the coordinator's request", len(reqs), token)
        return len(reqs)

    def remote_maps_running(self) -> int:
        """Map requests from other nodes running here now (a heartbeat stat)."""
        with self._lock:
            return sum(len(v) for v in self._requests.values())

    def _remote_request(self, token: str | None, ctx: TaskContext | None):
        runtime = self

        class _Scope:
            def __enter__(self_inner) -> TaskContext:
                if token is None:
                    self_inner.req = None
                    return ctx or TaskContext(runtime.node)
                req = _RemoteRequest(str(token))
                with runtime._lock:
                    if token in runtime._cancelled:
                        req.event.set()
                    runtime._requests.setdefault(token, []).append(req)
                    runtime.remote_maps_started += 1
                self_inner.req = req
                req.check()
                return TaskContext(runtime.node, req)

            def __exit__(self_inner, *exc) -> None:
                req = self_inner.req
                if req is None:
                    return
                with runtime._lock:
                    lst = runtime._requests.get(token, [])
                    if req in lst:
                        lst.remove(req)
                    if not lst:
                        runtime._requests.pop(token, None)

        return _Scope()

    def _cancel_remote_work(self, token: str, members: Iterable[str]) -> None:
        """Ask ``members`` to stop the maps of ``token`` (fire and forget; lost members are skipped)."""
        cluster = self.node.cluster
        if cluster is None:
            return
        lost = set(cluster.lost())
        for member in members:
            if member in lost:
                continue
            try:
                fut = cluster.submit(member, "task.cancel", {"token": token}, timeout=5.0)
                fut.add_done_callback(_ignore_result)
            except Exception:  # the member went away meanwhile: nothing to stop there
                log.debug("task.cancel to %s not sent", member, exc_info=True)

    # ------------------------------------------------------------------ broadcast
    def broadcast(self, value: Any, timeout: float | None = 120.0) -> BroadcastRef:
        """Send ``value`` (a partial-like object: arrays, dicts, lists, scalars) once to every other
        live member; returns the ref to put in ``params``. Blocks until every member holds it."""
        ref = BroadcastRef(uuid.uuid4().hex, value)
        with self._lock:
            self._shared[ref.id] = value
        cluster = self.node.cluster
        if cluster is not None:
            try:
                cluster.broadcast("task.bcast", {"id": ref.id, "value": value}, timeout=timeout)
            except BaseException:
                self.release(ref)
                raise
        return ref

    def release(self, ref: BroadcastRef) -> None:
        """Free a broadcast value here and on every other live member."""
        with self._lock:
            self._shared.pop(ref.id, None)
        cluster = self.node.cluster
        if cluster is not None:
            try:
                cluster.broadcast("task.bcast.drop", {"id": ref.id}, timeout=10.0)
            except ShoalError:
                log.warning("releasing broadcast %s: a member did not answer", ref.id)

    def store_shared(self, id_: str, value: Any) -> None:
        """Hold a broadcast value sent by the coordinator (``task.bcast``)."""
        with self._lock:
            self._shared[str(id_)] = value

    def drop_shared(self, id_: str) -> None:
        with self._lock:
            self._shared.pop(str(id_), None)

    def shared_count(self) -> int:
        with self._lock:
            return len(self._shared)

    @staticmethod
    def _params_pair(params: dict) -> tuple[dict, dict]:
        """``(params for local maps, params for the wire)``: refs become values / ids."""
        if not any(isinstance(v, BroadcastRef) for v in params.values()):
            return params, params
        local = {k: (v.value if isinstance(v, BroadcastRef) else v) for k, v in params.items()}
        wire = {k: ({_BCAST_TAG: v.id} if isinstance(v, BroadcastRef) else v) for k, v in params.items()}
        return local, wire

    def _resolve(self, params: dict) -> dict:
        """A peer's params with broadcast ids replaced by the values this node holds."""
        if not isinstance(params, dict):
            return params
        out = None
        for k, v in params.items():
            if isinstance(v, dict) and len(v) == 1 and _BCAST_TAG in v:
                with self._lock:
                    if v[_BCAST_TAG] not in self._shared:
                        raise ShoalError(f"Broadcast value {v[_BCAST_TAG]!r} is not held on {self.node.self_id} "
                                         "(released, or the node joined after it was sent).",
                                         {"broadcast": str(v[_BCAST_TAG])})
                    val = self._shared[v[_BCAST_TAG]]
                if out is None:
                    out = dict(params)
                out[k] = val
        return params if out is None else out

    def map_local(self, fn: Callable[..., Any], indices: Iterable[int],
                  ctx: TaskContext | None = None, fold: bool = False) -> list[tuple[int, Any]]:
        """Run ``fn(idx)`` in the compute pool for each index; results as ``(idx, result)`` in index order.

        With ``fold`` (tasks whose reduce is exact, :attr:`MRTask.fold_local`) each runner folds
        the indices it takes: ``acc = fn(idx, acc)`` (``acc`` None at its first), and its partial
        stands at its first index; the other indices it took hold ``{}``.

        One pass submits one runner per pool thread (at most one per index); the runners take the
        indices in ascending order from a shared counter (:class:`_LocalMap`), and the caller sleeps
        until the last map ends, waking every ``_POLL_SECONDS`` to report progress and check for
        cancellation. On the first failure (or cancellation) no new map starts; the maps already
        running are waited for (so none writes after the caller's clean-up, e.g. a staging chunk
        after ``frames.discard``) and the error is re-raised.
        """
        ctx = ctx or TaskContext(self.node)
        order = sorted(int(i) for i in indices)
        if not order:
            return []
        run = _LocalMap(fn, order, fold)
        runners: list[cf.Future] = []
        try:
            for _ in range(min(self.threads, len(order))):
                fut = self.pool.submit(run.runner)
                runners.append(fut)
                fut.add_done_callback(run.runner_ended)
            while not run.wait(_POLL_SECONDS):
                self._progress(ctx, run.ndone, len(order))
                ctx.check()
            if run.failure is not None:
                raise run.failure
            self._progress(ctx, len(order), len(order))
            ctx.check()
        except BaseException:
            run.stop = True
            for fut in runners:
                fut.cancel()
            cf.wait([f for f in runners if not f.cancelled()])
            raise
        return list(zip(order, run.results))

    # ------------------------------------------------------------------ internals
    def _fan_out(self, task: MRTask, homes: list[str], job, span, local, remote) -> list[Any]:
        """Run the maps for every index on its home; return partials in index order.

        The first failure anywhere ends the fan-out: a remote failure (a lost member) stops the
        local maps at their next check instead of after this node's whole share. Before the error
        reaches the caller, the other members are told to stop and waited for (as ``map_local``
        waits for its running maps), so none of their maps writes after the caller's clean-up.
        """
        watch = _FanOutWatch(job)
        ctx = TaskContext(self.node, watch, span)
        by_member: dict[str, list[int]] = {}
        for idx, member in enumerate(homes):
            by_member.setdefault(member, []).append(idx)
        me = self.node.self_id
        remote_futures: list[cf.Future] = []
        token = uuid.uuid4().hex
        asked: list[str] = []
        try:
            for member, idx in sorted(by_member.items()):
                if member == me:
                    continue
                if self.node.cluster is None:
                    raise ShoalError(f"Chunks of this frame live on node {member}, which is not in this cluster.",
                                     {"node": member})
                fut = remote(member, idx, token)
                remote_futures.append(fut)
                asked.append(member)
                fut.add_done_callback(watch.remote_done)
            pairs = list(local(by_member.get(me, []), ctx)) if me in by_member else []
            pending = set(remote_futures)
            while pending:
                done, pending = cf.wait(pending, timeout=_POLL_SECONDS, return_when=cf.FIRST_EXCEPTION)
                for fut in done:
                    pairs.extend(fut.result())
                ctx.check()
        except BaseException:
            running = [(m, f) for m, f in zip(asked, remote_futures) if not f.done()]
            # the members keep mapping unless told: stop them (within one chunk's time) and wait
            self._cancel_remote_work(token, [m for m, _f in running])
            self._wait_stopped(running)
            raise
        pairs.sort(key=lambda p: p[0])
        if [p[0] for p in pairs] != list(range(len(homes))):
            raise ShoalError(f"Task {task.name!r} returned partials for the wrong chunks.",
                             {"task": task.name})
        return [p[1] for p in pairs]

    def _wait_stopped(self, running: list[tuple[str, cf.Future]], grace: float | None = None) -> None:
        """Wait until the cancelled requests ``running`` ended (a member answers once its maps
        stopped; a lost member's request fails when the loss is detected), at most ``grace`` s."""
        if not running:
            return
        grace = _STOP_GRACE_SECONDS if grace is None else grace
        _done, not_done = cf.wait([f for _m, f in running], timeout=grace)
        for member, fut in running:
            if fut in not_done:
                fut.cancel()
                log.warning("node %s did not end a cancelled map request within %g s; its maps may still "
                            "write", member, grace)

    def check_available(self, frame) -> None:
        """Raise ``frame_lost`` when ``frame`` (a key or a header) has chunks on a lost node (for
        views that stream, so they can refuse before the first byte instead of cutting short)."""
        header = self.node.catalog.get(frame) if isinstance(frame, str) else frame
        self._check_not_lost(header)

    def _check_not_lost(self, header, job=None) -> None:
        """A frame with chunks on a lost node answers ``frame_lost``, never a wrong result; a job
        that needs it fails with ``node_lost`` naming the node (as when the loss hits mid-pass)."""
        cluster = self.node.cluster
        if cluster is None:
            return
        gone = sorted(set(header.members) & set(cluster.lost()))
        if gone and header.nchunks > 0 and job is not None:
            raise NodeLost(f"Node {gone[0]} was lost; frame `{header.key}` had chunks on it, so this job cannot "
                           f"go on. The other nodes keep serving.", {"node": gone[0], "frame": header.key})
        if gone and header.nchunks > 0:
            raise FrameLost(f"Frame `{header.key}` had chunks on node {gone[0]}, which was lost; it cannot be "
                            f"computed on any more. Re-import or recompute it.",
                            {"frame": header.key, "node": gone[0]})

    @staticmethod
    def _progress(ctx: TaskContext, done: int, total: int) -> None:
        job = ctx.job
        if job is not None and total:
            lo, hi = ctx.span
            job.update(progress=lo + (hi - lo) * done / total)

    def close(self) -> None:
        with self._lock:
            for reqs in self._requests.values():
                for r in reqs:
                    r.event.set()
        if not self._closed.is_set():
            self._closed.set()
            self.pool.shutdown(wait=False, cancel_futures=True)


class _LocalMap:
    """One ``map_local`` pass: the runners' shared state.

    A runner takes the next index (``next`` on an ``itertools.count`` is atomic under the GIL), maps
    it and stores the result at its position, until no index is left or ``stop`` is set. ``done``
    is set when every map ended, at the first failure, or when a runner was cancelled before it
    started (the pool shut down), so the caller wakes once per pass instead of once per index.
    """

    __slots__ = ("fn", "order", "fold", "results", "ndone", "failure", "stop", "done", "_next", "_lock")

    def __init__(self, fn: Callable[..., Any], order: list[int], fold: bool = False):
        self.fn = fn
        self.order = order
        self.fold = fold
        self.results: list[Any] = [None] * len(order)
        self.ndone = 0
        self.failure: BaseException | None = None
        self.stop = False
        self.done = threading.Event()
        self._next = itertools.count()
        self._lock = threading.Lock()

    def runner(self) -> None:
        n = len(self.order)
        acc = None
        first = -1
        while not self.stop:
            j = next(self._next)
            if j >= n:
                return
            try:
                if self.fold:
                    acc = self.fn(self.order[j], acc)
                else:
                    r = self.fn(self.order[j])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which re-raises it
                self.fail(exc)
                return
            if self.fold:
                # the runner's partial so far stands at its first index (stored before the count,
                # so it is in place when the caller wakes); its other indices hold {}
                if first < 0:
                    first = j
                else:
                    self.results[j] = {}
                self.results[first] = acc
            else:
                self.results[j] = r
            with self._lock:
                self.ndone += 1
                if self.ndone == n:
                    self.done.set()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = exc
            self.stop = True
        self.done.set()

    def runner_ended(self, fut: cf.Future) -> None:
        if fut.cancelled():
            self.fail(cf.CancelledError("a map of this pass was cancelled before it started (pool shut down)"))

    def wait(self, timeout: float) -> bool:
        """Sleep until the pass ended or failed (True), or ``timeout`` s passed (False)."""
        return self.done.wait(timeout)


def _folded_reduce(task: MRTask) -> Callable[[dict, dict], dict]:
    """``task.reduce`` skipping the empty partials of folded chunks (:attr:`MRTask.fold_local`)."""
    def reduce(a: dict, b: dict) -> dict:
        if not b:
            return a
        if not a:
            return b
        return task.reduce(a, b)
    return reduce


def _ignore_result(fut: cf.Future) -> None:
    if not fut.cancelled():
        fut.exception()
