"""Threshold bins in the spirit of H2O's ``AUC2``: at most ``nbins`` (score, pos, neg) bins per partial.

Technical note. A chunk groups its rows by distinct score; while it holds more than ``nbins``
bins it merges adjacent pairs, cheapest first, where the cost of merging bins of weights n1, n2 at
scores t1, t2 is the squared error it adds, n1·n2/(n1+n2)·(t1-t2)², and merging two bins that
hold a single class (both only positives or only negatives) costs nothing: it does not change the
ROC curve. The merged bin's score is the weighted mean of the two. H2O merges one pair per step;
here each round merges a set of disjoint cheapest pairs at once (up to half the bins), which keeps
a chunk at O(n log n). Reduce concatenates two bin sets and shrinks them the same way.

Like H2O's, the binned curve depends on how the rows were chunked (it is still deterministic: the
same layout gives the same bits on any number of nodes or threads). With no more distinct scores
than ``nbins`` nothing is merged and the curve is exact.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["build", "merge", "shrink"]


@nb.njit(nogil=True, cache=True)
def pick_pairs(order, need, taken):
    """Greedy disjoint pairs ``(i, i+1)`` in ``order`` (IN int64[], cheapest first), at most ``need``;
    ``taken`` (INOUT bool[nbins], all False) marks used bins. Returns the sorted first indices."""
    first = np.empty(need, np.int64)
    k = 0
    for i in order:
        if k >= need:
            break
        if not taken[i] and not taken[i + 1]:
            taken[i] = True
            taken[i + 1] = True
            first[k] = i
            k += 1
    return np.sort(first[:k])


def _group(t: np.ndarray, pos: np.ndarray, neg: np.ndarray):
    order = np.lexsort((neg, pos, t))
    t, pos, neg = t[order], pos[order], neg[order]
    if t.size == 0:
        return t, pos, neg
    change = np.ones(t.size, bool)
    change[1:] = t[1:] != t[:-1]
    starts = np.flatnonzero(change)
    return t[starts], np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)


def shrink(t: np.ndarray, pos: np.ndarray, neg: np.ndarray, nbins: int):
    """Merge adjacent bins (sorted by increasing score) until at most ``nbins`` remain."""
    while t.size > nbins:
        n = pos + neg
        with np.errstate(all="ignore"):
            cost = n[:-1] * n[1:] / (n[:-1] + n[1:]) * (t[1:] - t[:-1]) ** 2
        pure = ((pos[:-1] == 0) & (pos[1:] == 0)) | ((neg[:-1] == 0) & (neg[1:] == 0))
        cost = np.where(pure, 0.0, cost)
        need = min(t.size - nbins, t.size // 2)
        order = np.argsort(cost, kind="stable").astype(np.int64)
        first = pick_pairs(order, need, np.zeros(t.size, np.bool_))
        keep = np.ones(t.size, bool)
        keep[first + 1] = False
        nt, np_, nn = t.copy(), pos.copy(), neg.copy()
        a, b = first, first + 1
        wa, wb = n[a], n[b]
        with np.errstate(all="ignore"):
            nt[a] = np.where(wa + wb > 0, (t[a] * wa + t[b] * wb) / (wa + wb), (t[a] + t[b]) / 2)
        np_[a] = pos[a] + pos[b]
        nn[a] = neg[a] + neg[b]
        t, pos, neg = nt[keep], np_[keep], nn[keep]
    return t, pos, neg


def build(scores: np.ndarray, pos_w: np.ndarray, neg_w: np.ndarray, nbins: int) -> dict:
    """The bins of one block of rows: ``{"t", "pos", "neg", "nbins"}`` sorted by increasing score."""
    t, pos, neg = _group(np.asarray(scores, np.float64) + 0.0, np.asarray(pos_w, np.float64),
                         np.asarray(neg_w, np.float64))
    t, pos, neg = shrink(t, pos, neg, nbins)
    return {"t": t, "pos": pos, "neg": neg, "nbins": int(nbins)}


def merge(a: dict, b: dict) -> dict:
    """The bins of the union of two partials (``a`` covers the lower chunks)."""
    nbins = int(a["nbins"])
    t, pos, neg = _group(np.concatenate([np.asarray(a["t"]), np.asarray(b["t"])]),
                         np.concatenate([np.asarray(a["pos"]), np.asarray(b["pos"])]),
                         np.concatenate([np.asarray(a["neg"]), np.asarray(b["neg"])]))
    t, pos, neg = shrink(t, pos, neg, nbins)
    return {"t": t, "pos": pos, "neg": neg, "nbins": nbins}
