"""The task registry: map/reduce tasks are server classes looked up by name.

A task name that arrives from a peer is only ever a registry key; nothing received is evaluated.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..errors import InvalidParameter

__all__ = ["MRTask", "IndexedTask", "register_task", "get_task", "task_names"]

_REGISTRY: dict[str, "MRTask"] = {}


class MRTask:
    """A map/reduce over the chunks of one frame.

    ``map`` runs once per chunk, on the chunk's home node, in the compute pool; ``reduce`` combines
    two partials (``a`` always covers the lower chunk indices); ``finish`` runs once on the
    coordinator. Partials are dicts of numpy arrays and plain values, so they can cross the wire.
    Tasks keep no per-run state on ``self``: one instance serves every run.
    """

    name: ClassVar[str] = ""

    def map(self, ctx, chunk_idx: int, chunks: dict, params: dict) -> dict:  # pragma: no cover - abstract
        raise TypeError(f"task {self.name!r} defines no map")

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


def get_task(name: str) -> MRTask:
    """The registered task called ``name``; refuses unknown names."""
    task = _REGISTRY.get(name) if isinstance(name, str) else None
    if task is None:
        raise InvalidParameter(f"Unknown task {name!r}; this node knows: {', '.join(sorted(_REGISTRY))}.",
                               {"task": str(name)})
    return task


def task_names() -> list[str]:
    return sorted(_REGISTRY)
