"""The map/reduce runtime: run a registered task over a frame's chunks where they live.

Technical note (the fan-out). ``Runtime.run`` sorts the frame's chunk indices by home node
(``store.layout.home_of``). Local chunks are mapped in this node's compute pool, one chunk per
pool task (numba kernels release the GIL, so the pool really runs in parallel). Chunks of other
nodes are sent, as one request per node, through the cluster view; each node maps its chunks the
same way and returns ``(chunk_idx, partial)`` pairs. The coordinator then reduces all partials in
the fixed pairwise tree of ``tasks.reduce`` and calls ``finish``. Because the tree depends only on
the chunk count, the result has the same bits on one node or three.

Maps must not submit work to the runtime themselves (a map that waits for the pool it runs in
could deadlock); orchestration that needs several passes calls ``run`` several times.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
from typing import Any, Callable, Iterable, Sequence

from ..errors import FrameLost, NodeLost, ShoalError
from ..store.layout import home_of
from .reduce import tree_reduce
from .registry import IndexedTask, MRTask, get_task

__all__ = ["Runtime", "TaskContext"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1


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
        self.pool = cf.ThreadPoolExecutor(max_workers=max(1, int(node.config.threads)),
                                          thread_name_prefix="shoal-compute")
        self._closed = threading.Event()

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
        self._check_not_lost(header)
        cols = list(range(header.ncol)) if columns is None else [int(c) for c in columns]
        homes = [home_of(i, header.members) for i in range(header.nchunks)]
        partials = self._fan_out(task, homes, job, span,
                                 local=lambda idx, ctx: self.execute_map(task_name, frame_key, cols, params, idx,
                                                                         ctx=ctx),
                                 remote=lambda member, idx: self.node.cluster.submit_map(
                                     member, task_name, frame_key, cols, params, idx))
        if not partials:
            return task.finish(None, params)
        return task.finish(tree_reduce(partials, task.reduce), params)

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
        partials = self._fan_out(task, homes, job, span,
                                 local=lambda idx, ctx: self.execute_indexed(task_name, params, idx, ctx=ctx),
                                 remote=lambda member, idx: self.node.cluster.submit_indexed(
                                     member, task_name, params, idx))
        if not reduce:
            return partials
        if not partials:
            return task.finish(None, params)
        return task.finish(tree_reduce(partials, task.reduce), params)

    # ------------------------------------------------------------------ node-local execution
    def execute_map(self, task_name: str, frame_key: str, columns: Sequence[int], params: dict,
                    chunk_indices: Iterable[int], ctx: TaskContext | None = None) -> list[tuple[int, dict]]:
        """Map a task over chunks held by this node (also the handler for peers' requests)."""
        task = get_task(task_name)
        ctx = ctx or TaskContext(self.node)
        store = self.node.chunks
        cols = list(columns)

        def one(idx: int) -> dict:
            chunks = {c: store.get(frame_key, c, idx) for c in cols}
            return task.map(ctx, idx, chunks, params)

        return self.map_local(one, chunk_indices, ctx)

    def execute_indexed(self, task_name: str, params: dict, indices: Iterable[int],
                        ctx: TaskContext | None = None) -> list[tuple[int, dict]]:
        task = get_task(task_name)
        ctx = ctx or TaskContext(self.node)
        return self.map_local(lambda idx: task.map(ctx, idx, params), indices, ctx)

    def map_local(self, fn: Callable[[int], Any], indices: Iterable[int],
                  ctx: TaskContext | None = None) -> list[tuple[int, Any]]:
        """Run ``fn(idx)`` in the compute pool for each index; results as ``(idx, result)`` in index order.

        Checks for cancellation while waiting; on the first failure, cancels what has not started
        and re-raises.
        """
        ctx = ctx or TaskContext(self.node)
        order = sorted(int(i) for i in indices)
        if not order:
            return []
        futures = {self.pool.submit(fn, idx): idx for idx in order}
        results: dict[int, Any] = {}
        pending = set(futures)
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=_POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    results[futures[fut]] = fut.result()
                self._progress(ctx, len(results), len(order))
                ctx.check()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
        return [(idx, results[idx]) for idx in order]

    # ------------------------------------------------------------------ internals
    def _fan_out(self, task: MRTask, homes: list[str], job, span, local, remote) -> list[Any]:
        """Run the maps for every index on its home; return partials in index order."""
        ctx = TaskContext(self.node, job, span)
        by_member: dict[str, list[int]] = {}
        for idx, member in enumerate(homes):
            by_member.setdefault(member, []).append(idx)
        me = self.node.self_id
        remote_futures = []
        for member, idx in sorted(by_member.items()):
            if member == me:
                continue
            if self.node.cluster is None:
                raise ShoalError(f"Chunks of this frame live on node {member}, which is not in this cluster.",
                                 {"node": member})
            remote_futures.append(remote(member, idx))
        try:
            pairs = list(local(by_member.get(me, []), ctx)) if me in by_member else []
            for fut in remote_futures:
                while True:
                    try:
                        pairs.extend(fut.result(timeout=_POLL_SECONDS))
                        break
                    except cf.TimeoutError:
                        ctx.check()
        except BaseException:
            for fut in remote_futures:
                fut.cancel()
            raise
        pairs.sort(key=lambda p: p[0])
        if [p[0] for p in pairs] != list(range(len(homes))):
            raise ShoalError(f"Task {task.name!r} returned partials for the wrong chunks.",
                             {"task": task.name})
        return [p[1] for p in pairs]

    def _check_not_lost(self, header) -> None:
        """A frame with chunks on a lost node answers ``frame_lost``, never a wrong result."""
        cluster = self.node.cluster
        if cluster is None:
            return
        gone = sorted(set(header.members) & set(cluster.lost()))
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
        if not self._closed.is_set():
            self._closed.set()
            self.pool.shutdown(wait=False, cancel_futures=True)
