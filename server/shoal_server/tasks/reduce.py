"""The fixed reduction tree: partials combine in an order fixed by chunk indices alone.

Technical note. Floating-point addition is not associative, so a reduction whose order followed
thread timing or node count would give different bits on different runs. Shoal combines per-chunk
partials in one balanced pairwise tree over the chunk indices ``0..n-1``: the range ``[lo, hi)``
splits at ``lo + 2**(ceil(log2(hi - lo)) - 1)``. The tree depends only on ``n``, so one node and
three nodes, two threads or twenty, produce the same bits. Every aligned power-of-two block of
indices is a subtree, which lets a node that holds a whole block pre-reduce it locally.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

__all__ = ["tree_reduce", "split_point"]

T = TypeVar("T")


def split_point(lo: int, hi: int) -> int:
    """Where the range ``[lo, hi)`` (``hi - lo >= 2``) splits in the fixed tree."""
    size = hi - lo
    half = 1 << ((size - 1).bit_length() - 1)
    return lo + half


def tree_reduce(items: Sequence[T], reduce: Callable[[T, T], T]) -> T:
    """Reduce ``items`` (ordered by chunk index) in the fixed pairwise tree.

    ``reduce(a, b)`` always receives the lower index range as ``a``.
    """
    n = len(items)
    if n == 0:
        raise ValueError("tree_reduce needs at least one partial")

    def rec(lo: int, hi: int) -> T:
        if hi - lo == 1:
            return items[lo]
        mid = split_point(lo, hi)
        return reduce(rec(lo, mid), rec(mid, hi))

    return rec(0, n)
