"""The task registry: map/reduce tasks are server classes looked up by name.

A task name that arrives from a peer is only ever a registry key; nothing received is evaluated.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..errors import InvalidParameter

__all__ = ["MRTask", "IndexedTask", "register_task", "get_task", "task_names", "load_task_modules",
           "TASK_MODULES"]

_REGISTRY: dict[str, "MRTask"] = {}

#: The server modules that define tasks. Importing them registers their tasks; a node imports all
#: of them before it looks up a name it does not know yet, so a peer's request never fails just
#: because this node has not used that part of the server itself. This fixed list is the only
#: thing imported: a name received from a peer is a registry key, never a module path.
TASK_MODULES = (
    "shoal_server.store.rollups",
    "shoal_server.tasks.frames",
    "shoal_server.parser.parse",
    "shoal_server.munging",
    "shoal_server.metrics",
    "shoal_server.algos",
)
_loaded = False


class MRTask:
    """A map/reduce over the chunks of one frame.

    ``map`` runs once per chunk, on the chunk's home node, in the compute pool; ``reduce`` combines
    two partials (``a`` always covers the lower chunk indices); ``finish`` runs once on the
    coordinator. Partials are dicts of numpy arrays and plain values, so they can cross the wire.
    Tasks keep no per-run state on ``self``: one instance serves every run.
    """

    name: ClassVar[str] = ""
    #: ``reduce`` is exact and order-free (integer sums, maxima): a node's worker threads may then
    #: fold the chunks each one maps into one partial (:meth:`map_into`), in whatever order they
    #: take them, instead of one partial per chunk in the fixed tree. The folded chunks' places
    #: hold an empty partial ``{}``, which the runtime's reduce skips.
    fold_local: ClassVar[bool] = False

    def map(self, ctx, chunk_idx: int, chunks: dict, params: dict) -> dict:  # pragma: no cover - abstract
        raise TypeError(f"task {self.name!r} defines no map")

    def map_into(self, ctx, chunk_idx: int, chunks: dict, params: dict, acc: dict | None) -> dict:
        """Map one chunk and fold it into ``acc`` (None for a thread's first chunk of the pass);
        returns the new partial (only called when :attr:`fold_local`). A task may override it to
        add into ``acc`` in place instead of building a partial per chunk."""
        r = self.map(ctx, chunk_idx, chunks, params)
        return r if acc is None else self.reduce(acc, r)

    def reduce(self, a: dict, b: dict) -> dict:  # pragma: no cover - abstract
        raise TypeError(f"task {self.name!r} defines no reduce")

    def finish(self, result: Any, params: dict) -> Any:
        return result


class IndexedTask(MRTask):
    """A map over indices ``0..n-1`` that are not chunks yet (e.g. the parser's byte ranges).

    ``map(ctx, index, params)`` runs on ``home_of(index, members)``.
    """

    def map(self, ctx, index: int, params: dict) -> dict:  # type: ignore[override]  # pragma: no cover
        raise TypeError(f"task {self.name!r} defines no map")


def register_task(cls):
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no task name")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"task name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def load_task_modules() -> None:
    """Import every module of ``TASK_MODULES`` that this installation has (registers their tasks)."""
    global _loaded
    import importlib

    for module in TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside the module must surface
                raise
    _loaded = True


def get_task(name: str) -> MRTask:
    """The registered task called ``name``; refuses unknown names."""
    task = _REGISTRY.get(name) if isinstance(name, str) else None
    if task is None and isinstance(name, str) and not _loaded:
        load_task_modules()
        task = _REGISTRY.get(name)
    if task is None:
        raise InvalidParameter(f"Unknown task {name!r}; this node knows: {', '.join(sorted(_REGISTRY))}.",
                               {"task": str(name)})
    return task


def task_names() -> list[str]:
    return sorted(_REGISTRY)
