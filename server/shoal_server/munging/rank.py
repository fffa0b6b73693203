"""``rank_within_group_by``: H2O-3's rank of each row within its group, in a sort order.

Semantics (H2O-3 ``h2o.rank_within_group_by`` / ``AstRankWithinGroupBy``):

1. the rows are sorted by the ``group_by_cols`` (always ascending) and then the ``sort_cols``
   (``ascending`` per sort column), with ``sort``'s order: stable, enum by level order, strings by
   UTF-8 bytes, missing values last in either direction;
2. a new int column ``new_col_name`` (default ``New_Rank_column``) holds 1, 2, ... within each
   group, in that order;
3. a row with a missing value in any sort column gets a missing rank and is not counted (H2O-3:
   "If there is any NAs in the sorting columns, the rank of that row will be NA as well"); rows
   with missing group keys form a group of their own (per distinct key, missing equal to missing)
   and are ranked, as in H2O-3 (checked on 3.46; H2O-3 sorts missing values first, Shoal last as
   its `sort`: the ranks are the same, only the order of those rows differs);
4. ``sort_cols_sorted=True`` re-sorts the result by the sort columns alone (their directions,
   stable: ties keep the group order of step 1).

Like ``sort``, the frame's columns come to the coordinator (``ctx.gather``); the running count
then runs once over the whole sorted order (a group that spans chunk boundaries is one segment
there, so no per-chunk carry is needed; large inputs count two halves on two threads and carry the
spanning run over). One group column and one sort column with small groups take a shorter path
(:func:`order_and_ranks_by_segments`: radix by the group key, then each group sorted and ranked),
which gives the same order. Each result chunk takes its rows while it is encoded
in the compute pool (``store_columns(rows=...)``). The result is therefore the same on one node or
many and for any chunk size.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .frames import ColumnData, store_columns
from .reorg import _sort_key, sort_order
from .values import FrameVal, column_header

__all__ = ["OPS", "DEFAULT_RANK_NAME", "segmented_ranks"]

#: H2O-3's default name of the rank column.
DEFAULT_RANK_NAME = "New_Rank_column"


def _err(*a, **k):
    from .evaluate import _err as e
    return e(*a, **k)


def _frame_arg(ctx, n, i=0):
    from .evaluate import _frame_arg as f
    return f(ctx, n, i)


@nb.njit(cache=True, nogil=True)
def segmented_ranks(order: np.ndarray, gkeys: np.ndarray, skeys: np.ndarray, ranks: np.ndarray,
                    missing: np.ndarray, lo: int, hi: int) -> None:
    """Running count within each run of equal group keys, walking sorted positions ``lo:hi``.

    Parameters
    ----------
    order : int64[n]
        IN: the sorted row order (row positions of the input).
    gkeys, skeys : float64[ngroup_cols, n], float64[nsort_cols, n]
        IN: group key and sort key columns in input row order (NaN missing; missing equals missing
        in a group key).
    ranks : int64[n]
        OUT, by input row position: 1, 2, ... for the rows of each run whose sort values are all
        present (0 where one is missing). The count restarts at ``lo``: a run that began before
        ``lo`` is completed by :func:`carry_ranks`.
    missing : bool[n]
        OUT, by input row position: True where a sort value is missing (the rank is NA, not counted).
    lo, hi : int
        IN: the sorted positions to walk.
    """
    count = 0
    prev = -1
    for i in range(lo, hi):
        row = order[i]
        if prev >= 0 and not _same_group(gkeys, row, prev):
            count = 0
        prev = row
        ok = True
        for j in range(skeys.shape[0]):
            v = skeys[j, row]
            if v != v:
                ok = False
                break
        if ok:
            count += 1
            ranks[row] = count
            missing[row] = False
        else:
            ranks[row] = 0
            missing[row] = True


@nb.njit(cache=True, nogil=True)
def _same_group(gkeys, a, b) -> bool:
    for j in range(gkeys.shape[0]):
        x = gkeys[j, a]
        y = gkeys[j, b]
        if x != y and not (x != x and y != y):
            return False
    return True


@nb.njit(cache=True, nogil=True)
def carry_ranks(order: np.ndarray, gkeys: np.ndarray, ranks: np.ndarray, missing: np.ndarray, cut: int) -> None:
    """After :func:`segmented_ranks` ran on ``[.., cut)`` and ``[cut, ..)`` separately: add the count
    the run spanning ``cut`` had reached before it to its ranked rows from ``cut`` on."""
    n = order.shape[0]
    if cut <= 0 or cut >= n or not _same_group(gkeys, order[cut], order[cut - 1]):
        return
    carry = 0
    for i in range(cut - 1, -1, -1):  # the last counted row of the run before the cut holds its count
        row = order[i]
        if not _same_group(gkeys, row, order[cut]):
            break
        if not missing[row]:
            carry = ranks[row]
            break
    if carry == 0:
        return
    for i in range(cut, n):
        row = order[i]
        if not _same_group(gkeys, row, order[cut - 1]):
            break
        if not missing[row]:
            ranks[row] += carry


@nb.njit(cache=True, nogil=True)
def _segment_bounds(order: np.ndarray, gbits: np.ndarray) -> np.ndarray:
    """Start positions (and ``n`` last) of the runs of equal ``gbits[order[i]]``."""
    n = order.shape[0]
    starts = np.empty(n + 1, np.int64)
    m = 0
    for i in range(n):
        if i == 0 or gbits[order[i]] != gbits[order[i - 1]]:
            starts[m] = i
            m += 1
    starts[m] = n
    return starts[:m + 1]


@nb.njit(cache=True, nogil=True)
def _sort_and_rank_segments(order: np.ndarray, starts: np.ndarray, a: int, b: int, sbits: np.ndarray,
                            ranks: np.ndarray, missing: np.ndarray) -> None:
    """For runs ``a..b-1`` of ``starts`` (rows of one group, in input order): stable-sort the run by
    ``sbits`` (a sort key's order-preserving bits, missing = all ones) and rank its rows 1, 2, ...
    (a missing sort value: rank 0, ``missing`` True, not counted)."""
    nan_key = np.uint64(0xFFFFFFFFFFFFFFFF)
    for r in range(a, b):
        s = starts[r]
        e = starts[r + 1]
        if e - s > 1:
            seg = order[s:e].copy()
            keys = np.empty(e - s, np.uint64)
            for i in range(e - s):
                keys[i] = sbits[seg[i]]
            perm = np.argsort(keys, kind="mergesort")
            for i in range(e - s):
                order[s + i] = seg[perm[i]]
        count = 0
        for i in range(s, e):
            row = order[i]
            if sbits[row] == nan_key:
                ranks[row] = 0
                missing[row] = True
            else:
                count += 1
                ranks[row] = count
                missing[row] = False


#: The one-group-column, one-sort-column path sorts within groups when the groups average at most
#: this many rows (small in-cache sorts beat six more radix passes over every row).
_SEGMENT_MAX_MEAN = 2048


def order_and_ranks_by_segments(gkey: np.ndarray, skey: np.ndarray, asc: bool):
    """``(order, ranks, missing)`` for one group key and one sort key, or None when the groups are too
    large on average: a stable radix order by the group key, then each group's rows stable-sorted
    by the sort key and ranked in one pass. ``order`` equals ``sort_order([gkey, skey], [True, asc])``."""
    from .radix import _ordered_bits, _pool, radix_order
    n = gkey.shape[0]
    order = radix_order([gkey], [True])
    gbits = _ordered_bits(np.ascontiguousarray(gkey, dtype=np.float64), True)
    starts = _segment_bounds(order, gbits)
    nseg = starts.shape[0] - 1
    if nseg == 0 or n / nseg > _SEGMENT_MAX_MEAN:
        return None
    sbits = _ordered_bits(np.ascontiguousarray(skey, dtype=np.float64), bool(asc))
    ranks = np.empty(n, np.int64)
    miss = np.empty(n, np.bool_)
    if n < _SPLIT_MIN_ROWS or nseg < 2:
        _sort_and_rank_segments(order, starts, 0, nseg, sbits, ranks, miss)
    else:
        mid = nseg // 2
        list(_pool().map(lambda ab: _sort_and_rank_segments(order, starts, ab[0], ab[1], sbits, ranks, miss),
                         [(0, mid), (mid, nseg)]))
    return order, ranks, miss


#: From this many rows the running count walks two halves of the sorted order on two threads.
_SPLIT_MIN_ROWS = 1_000_000


def _ranks(order: np.ndarray, gkeys: np.ndarray, skeys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = order.shape[0]
    ranks = np.empty(n, np.int64)
    miss = np.empty(n, np.bool_)
    if n < _SPLIT_MIN_ROWS:
        segmented_ranks(order, gkeys, skeys, ranks, miss, 0, n)
        return ranks, miss
    from .radix import _pool
    cut = n // 2
    list(_pool().map(lambda b: segmented_ranks(order, gkeys, skeys, ranks, miss, b[0], b[1]), [(0, cut), (cut, n)]))
    carry_ranks(order, gkeys, ranks, miss, cut)
    return ranks, miss


def _names(v, what: str, n) -> list:
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in items):
        raise _err(f"`{what}` of `rank_within_group_by` is a column name (or index) or a non-empty list of them; "
                   f"got {v!r}.", n, parameter=what)
    return items


def _ascending(v, nkeys: int, n) -> list[bool]:
    if v is None:
        return [True] * nkeys
    if isinstance(v, bool):
        return [v] * nkeys
    if isinstance(v, list) and not v:
        return [True] * nkeys
    if isinstance(v, list) and len(v) == nkeys and all(isinstance(a, bool) for a in v):
        return list(v)
    raise _err(f"`ascending` of `rank_within_group_by` is true/false or a list of {nkeys} of them (one per sort "
               f"column); got {v!r}.", n, parameter="ascending")


def _op_rank_within_group_by(ctx, n):
    fv: FrameVal = _frame_arg(ctx, n)
    gidx = [fv.col_index(c) for c in _names(n.params["group_by_cols"], "group_by_cols", n)]
    sidx = [fv.col_index(c) for c in _names(n.params["sort_cols"], "sort_cols", n)]
    asc = _ascending(n.params.get("ascending"), len(sidx), n)
    name = n.params.get("new_col_name", DEFAULT_RANK_NAME)
    if name is None:
        name = DEFAULT_RANK_NAME
    if not isinstance(name, str) or not name:
        raise _err(f"`new_col_name` of `rank_within_group_by` must be a non-empty string; got {name!r}.", n,
                   parameter="new_col_name")
    if name in fv.names:
        raise _err(f"`new_col_name` {name!r} of `rank_within_group_by` is already a column of the frame (columns: "
                   f"{', '.join(fv.names[:50])}); choose another name.", n, parameter="new_col_name")
    resort = n.params.get("sort_cols_sorted", False)
    if not isinstance(resort, bool):
        raise _err(f"`sort_cols_sorted` of `rank_within_group_by` must be true or false; got {resort!r}.", n,
                   parameter="sort_cols_sorted")
    data = ctx.gather(fv)
    gkeys = [_sort_key(data[i]) for i in gidx]
    skeys = [_sort_key(data[i]) for i in sidx]
    fast = order_and_ranks_by_segments(gkeys[0], skeys[0], asc[0]) \
        if len(gkeys) == 1 and len(skeys) == 1 and len(gkeys[0]) >= _SPLIT_MIN_ROWS else None
    if fast is not None:
        order, ranks, miss = fast
    else:
        order = sort_order(gkeys + skeys, [True] * len(gidx) + asc)
        nrow = len(order)
        ranks, miss = _ranks(order, np.array(gkeys, np.float64).reshape(len(gkeys), nrow),
                             np.array(skeys, np.float64).reshape(len(skeys), nrow))
    rank_col = ColumnData(column_header(name, "int"), ranks, miss)
    if resort and len(order):
        order = order[sort_order([k[order] for k in skeys], asc)]
    return FrameVal.of(store_columns(ctx.node, ctx.temp_key(), list(data) + [rank_col], rows=order))


OPS = {"rank_within_group_by": _op_rank_within_group_by}
