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
there, so no per-chunk carry is needed), and each result chunk takes its rows while it is encoded
in the compute pool (``store_columns(rows=...)``). The result is therefore the same on one node or
many and for any chunk size.
"""
from __future__ import annotations

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


def segmented_ranks(group_keys: list[np.ndarray], eligible: np.ndarray) -> np.ndarray:
    """Running count of the ``eligible`` rows within each run of equal group keys.

    Parameters
    ----------
    group_keys : list of float64[n]
        IN: the group key columns in sorted row order (NaN missing; missing equals missing).
    eligible : bool[n]
        IN: rows that are counted (no missing sort value).

    Returns
    -------
    float64[n]
        1, 2, ... for the eligible rows of each run, NaN for the others.
    """
    n = len(eligible)
    if n == 0:
        return np.zeros(0, np.float64)
    new = np.zeros(n, np.bool_)
    new[0] = True
    for k in group_keys:
        a, b = k[1:], k[:-1]
        new[1:] |= (a != b) & ~(np.isnan(a) & np.isnan(b))
    counts = np.cumsum(eligible, dtype=np.int64)
    starts = np.flatnonzero(new)
    before = counts[starts] - eligible[starts]  # eligible rows before each run
    run = np.cumsum(new) - 1  # run index of each row
    out = (counts - before[run]).astype(np.float64)
    out[~eligible] = np.nan
    return out


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
    order = sort_order(gkeys + skeys, [True] * len(gidx) + asc)
    eligible = np.ones(len(order), np.bool_)
    for k in skeys:
        eligible &= ~np.isnan(k[order])
    ranks_sorted = segmented_ranks([k[order] for k in gkeys], eligible)
    ranks = np.empty(len(order), np.float64)
    ranks[order] = ranks_sorted  # back in the input's row positions: every column takes the same rows
    miss = np.isnan(ranks)
    rank_col = ColumnData(column_header(name, "int"), np.where(miss, 0, ranks).astype(np.int64), miss)
    if resort and len(order):
        order = order[sort_order([k[order] for k in skeys], asc)]
    return FrameVal.of(store_columns(ctx.node, ctx.temp_key(), list(data) + [rank_col], rows=order))


OPS = {"rank_within_group_by": _op_rank_within_group_by}
