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

Fused with a row filter on the rank (:func:`fused_rank_rows`, called by the evaluator's ``rows``):
``r[r["New_Rank_column"] <= k, cols]`` arrives as one expression whose rank node is written twice;
when the two are structurally equal (:func:`canonical`) the order and ranks are computed once and
only the passing rows are stored. One group column and one sort column with ``<=``/``<``/``==``
take the per-group top-k pass (:func:`top_k_by_segments`: one pass over the rows, a buffer of k per
group, no sort of the rows). A rank node written twice elsewhere in one expression is computed once.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .frames import ColumnData, store_columns
from .reorg import _sort_key, sort_order
from .values import FrameVal, column_header

__all__ = ["OPS", "DEFAULT_RANK_NAME", "segmented_ranks", "fused_rank_rows", "top_k_by_segments", "canonical"]

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


def _spec(ctx, n):
    """The validated parameters of a ``rank_within_group_by`` node: ``(fv, gidx, sidx, asc, name, resort)``."""
    fv: FrameVal = _frame_arg(ctx, n)
    gidx = [fv.col_index(c) for c in _names(n.params["group_by_cols"], "group_by_cols", n)]
    sidx = [fv.col_index(c) for c in _names(n.params["sort_cols"], "sort_cols", n)]
    asc = _ascending(n.params.get("ascending"), len(sidx), n)
    name = _rank_name(n)
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
    return fv, gidx, sidx, asc, name, resort


def _rank_name(n):
    name = n.params.get("new_col_name", DEFAULT_RANK_NAME)
    return DEFAULT_RANK_NAME if name is None else name


def _order_and_ranks(gkeys: list, skeys: list, asc: list):
    """``(order, ranks, missing)``: the sorted row order, and by input row the rank and whether it is missing."""
    fast = order_and_ranks_by_segments(gkeys[0], skeys[0], asc[0]) \
        if len(gkeys) == 1 and len(skeys) == 1 and len(gkeys[0]) >= _SPLIT_MIN_ROWS else None
    if fast is not None:
        return fast
    order = sort_order(gkeys + skeys, [True] * len(gkeys) + asc)
    nrow = len(order)
    ranks, miss = _ranks(order, np.array(gkeys, np.float64).reshape(len(gkeys), nrow),
                         np.array(skeys, np.float64).reshape(len(skeys), nrow))
    return order, ranks, miss


def _op_rank_within_group_by(ctx, n):
    memo = _memo(ctx)
    key = canonical(n)
    hit = memo.get(key)
    if hit is not None:  # the same node twice in one expression (r[r["rank"] <= 2, ...]): computed once
        return hit
    fv, gidx, sidx, asc, name, resort = _spec(ctx, n)
    data = ctx.gather(fv)
    gkeys = [_sort_key(data[i]) for i in gidx]
    skeys = [_sort_key(data[i]) for i in sidx]
    order, ranks, miss = _order_and_ranks(gkeys, skeys, asc)
    rank_col = ColumnData(column_header(name, "int"), ranks, miss)
    if resort and len(order):
        order = order[sort_order([k[order] for k in skeys], asc)]
    out = FrameVal.of(store_columns(ctx.node, ctx.temp_key(), list(data) + [rank_col], rows=order))
    memo[key] = out
    return out


# ================================================================================ fused rank -> row filter
def canonical(x):
    """A hashable structural key of a parsed expression (two equal subtrees have equal keys; a literal's
    type is part of its key, so ``1``, ``1.0`` and ``true`` differ)."""
    from .expr import Node
    if isinstance(x, Node):
        return ("node", x.op, tuple(canonical(a) for a in x.args),
                tuple(sorted((k, canonical(v)) for k, v in x.params.items())))
    if isinstance(x, list):
        return ("list", tuple(canonical(v) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple(sorted((str(k), canonical(v)) for k, v in x.items())))
    return (type(x).__name__, x)


def _memo(ctx) -> dict:
    memo = getattr(ctx, "rank_memo", None)
    if memo is None:
        memo = {}
        ctx.rank_memo = memo
    return memo


#: Row filters on the rank column that the fused path understands: ``rank <op> constant``.
_CMP = {"le": np.less_equal, "lt": np.less, "eq": np.equal, "ne": np.not_equal, "ge": np.greater_equal,
        "gt": np.greater}
_MIRROR = {"le": "ge", "lt": "gt", "eq": "eq", "ne": "ne", "ge": "le", "gt": "lt"}

#: Column-only ops allowed between the rank node and the row filter (``r[mask, ["a", "b"]]``).
_COLUMN_OPS = ("cols", "col", "drop", "rename")

#: The per-group top-k pass keeps at most this many rows per group; larger bounds sort every group.
_TOPK_MAX = 64


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _frame_child(node):
    """The frame operand of a column-only op (its argument, or ``col``'s ``frame`` expression)."""
    from .expr import Node
    if node.args:
        return node.args[0] if len(node.args) == 1 else None
    src = node.params.get("frame")
    return src if isinstance(src, Node) else None


def _rank_column_of(x):
    """The rank node ``x`` takes the rank column of (``col`` by the rank's name or index -1, or a one-name
    ``cols``), else None."""
    from .expr import Node
    if not isinstance(x, Node) or x.op not in ("col", "cols"):
        return None
    src = _frame_child(x)
    if not isinstance(src, Node) or src.op != "rank_within_group_by":
        return None
    name = _rank_name(src)
    if x.op == "col":
        sel = x.params.get("name", x.params.get("index"))
    else:
        sel = x.params.get("select")
        if isinstance(sel, list) and len(sel) == 1:
            sel = sel[0]
    if (isinstance(sel, str) and sel == name) or (isinstance(sel, int) and not isinstance(sel, bool) and sel == -1):
        return src
    return None


def _rank_test(mask):
    """``(rank_node, op, constant)`` when ``mask`` is ``rank <op> constant`` (either side), else None."""
    from .expr import Node
    if not isinstance(mask, Node) or mask.op not in _CMP or len(mask.args) != 2 or mask.params:
        return None
    a, b = mask.args
    ra, rb = _rank_column_of(a), _rank_column_of(b)
    if ra is not None and _is_number(b):
        return ra, mask.op, float(b)
    if rb is not None and _is_number(a):
        return rb, _MIRROR[mask.op], float(a)
    return None


def fusable_rank_filter(n):
    """For a ``rows(frame, mask)`` node: ``(rank_node, op, constant)`` when ``frame`` is a rank node (under
    column-only ops) and ``mask`` compares that same rank node's rank column with a number; else None."""
    from .expr import Node
    if len(n.args) != 2 or n.params:
        return None
    test = _rank_test(n.args[1])
    if test is None:
        return None
    f = n.args[0]
    while isinstance(f, Node) and f.op in _COLUMN_OPS:
        f = _frame_child(f)
    if not isinstance(f, Node) or f.op != "rank_within_group_by":
        return None
    rnode, op, c = test
    if canonical(rnode) != canonical(f):
        return None
    return f, op, c


def _top_bound(op: str, c: float) -> int | None:
    """The largest rank that can pass ``rank <op> c`` (0: none can), or None when it is unbounded."""
    import math
    if op == "le":
        return max(int(math.floor(c)), 0) if math.isfinite(c) else (None if c > 0 else 0)
    if op == "lt":
        return max(int(math.ceil(c)) - 1, 0) if math.isfinite(c) else (None if c > 0 else 0)
    if op == "eq":
        return int(c) if math.isfinite(c) and c == int(c) and c >= 1 else 0
    return None


@nb.njit(cache=True, nogil=True, inline="always")
def _mix(x):
    """splitmix64's finalizer: every input bit moves every output bit (float keys end in zero bits)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@nb.njit(cache=True, nogil=True)
def _insert_top(bkeys, brows, base: int, m: int, k: int, key, row) -> int:
    """Insert ``(key, row)`` into the sorted buffer ``bkeys/brows[base:base + m]`` of at most ``k`` entries
    (after equal keys: the earlier row wins a tie; dropped when the buffer is full and ``key`` is not
    smaller than its last). Returns the new fill."""
    if m == k:
        if key >= bkeys[base + k - 1]:
            return m
        j = k - 1
    else:
        j = m
        m += 1
    while j > 0 and bkeys[base + j - 1] > key:
        bkeys[base + j] = bkeys[base + j - 1]
        brows[base + j] = brows[base + j - 1]
        j -= 1
    bkeys[base + j] = key
    brows[base + j] = row
    return m


@nb.njit(cache=True, nogil=True)
def _group_ids(gbits: np.ndarray, lo: int, hi: int):
    """``(ids, keys)``: for input rows ``lo:hi``, a dense id per distinct ``gbits`` (an open-addressing
    hash table; ids in order of first appearance) and the key of each id."""
    n = hi - lo
    ids = np.empty(n, np.int32)
    tbits = 10
    cap = 1 << tbits
    tkeys = np.empty(cap, np.uint64)
    tslot = np.full(cap, -1, np.int64)
    keys = np.empty(max(n, 1), np.uint64)
    ng = 0
    for i in range(n):
        gk = gbits[lo + i]
        h = np.int64(_mix(gk) & np.uint64(cap - 1))
        while True:
            s = tslot[h]
            if s < 0 or tkeys[h] == gk:
                break
            h = (h + 1) & (cap - 1)
        if s < 0:
            s = ng
            ng += 1
            keys[s] = gk
            tslot[h] = s
            tkeys[h] = gk
            if 2 * ng > cap:  # keep the table at most half full
                tbits += 1
                cap = 1 << tbits
                tkeys = np.empty(cap, np.uint64)
                tslot = np.full(cap, -1, np.int64)
                for q in range(ng):
                    x = keys[q]
                    hh = np.int64(_mix(x) & np.uint64(cap - 1))
                    while tslot[hh] >= 0:
                        hh = (hh + 1) & (cap - 1)
                    tslot[hh] = q
                    tkeys[hh] = x
        ids[i] = s
    return ids, keys[:ng].copy()


@nb.njit(cache=True, nogil=True)
def _integer_span(g: np.ndarray):
    """``(ok, lo, hi)``: whether every present value of ``g`` is a whole number (then ``lo``/``hi`` are
    the smallest and largest; ``ok`` is False when none is present)."""
    ok = False
    lo = 0.0
    hi = 0.0
    for i in range(g.shape[0]):
        v = g[i]
        if v != v:
            continue
        if v != np.floor(v) or abs(v) > 9.0e15:
            return False, 0.0, 0.0
        if not ok:
            lo = v
            hi = v
            ok = True
        elif v < lo:
            lo = v
        elif v > hi:
            hi = v
    return ok, lo, hi


@nb.njit(cache=True, nogil=True)
def _topk_fill(ids: np.ndarray, ng: int, sbits: np.ndarray, lo: int, k: int):
    """One pass over input rows ``lo:lo + len(ids)`` in order: per group id the ``k`` rows of smallest
    ``sbits`` (all-ones = missing, never kept; the earlier row wins a tie). Returns ``(fills, buffer
    keys, buffer rows)``; buffer ``g`` is ``[g * k, g * k + fill)``, sorted."""
    nan_key = np.uint64(0xFFFFFFFFFFFFFFFF)
    fill = np.zeros(ng, np.int64)
    bkeys = np.empty(ng * k, np.uint64)
    brows = np.empty(ng * k, np.int64)
    bar = np.full(ng, nan_key, np.uint64)  # a full buffer's last key (a row must beat it); all ones: not full
    for i in range(ids.shape[0]):
        row = lo + i
        key = sbits[row]
        g = ids[i]
        if key >= bar[g]:  # also every missing sort value (all ones)
            continue
        base = g * k
        m = _insert_top(bkeys, brows, base, fill[g], k, key, row)
        fill[g] = m
        if m == k:
            bar[g] = bkeys[base + k - 1]
    return fill, bkeys, brows


@nb.njit(cache=True, nogil=True)
def _topk_fill_dense(g: np.ndarray, gmin: float, span: int, x: np.ndarray, asc: bool, lo: int, hi: int, k: int):
    """:func:`_topk_fill` for whole-number group keys (id ``g - gmin``, missing -> ``span``), the sort
    key's order-preserving bits computed on the way (as ``radix._ordered_bits``): no id or key arrays."""
    nan_key = np.uint64(0xFFFFFFFFFFFFFFFF)
    sign = np.uint64(1) << np.uint64(63)
    xb = x.view(np.uint64)
    ng = span + 1
    fill = np.zeros(ng, np.int64)
    bkeys = np.empty(ng * k, np.uint64)
    brows = np.empty(ng * k, np.int64)
    bar = np.full(ng, nan_key, np.uint64)
    for row in range(lo, hi):
        v = x[row]
        if v != v:
            continue
        b = np.uint64(0) if v == 0.0 else xb[row]
        key = ~b if (b & sign) else (b | sign)
        if not asc:
            key = ~key
        gv = g[row]
        gid = span if gv != gv else np.int64(gv - gmin)
        if key >= bar[gid]:
            continue
        base = gid * k
        m = _insert_top(bkeys, brows, base, fill[gid], k, key, row)
        fill[gid] = m
        if m == k:
            bar[gid] = bkeys[base + k - 1]
    return fill, bkeys, brows


def _topk_scan(gbits: np.ndarray, sbits: np.ndarray, k: int, lo: int, hi: int):
    """Rows ``lo:hi``: ``(group keys, fills, buffer keys, buffer rows)`` (see :func:`_topk_fill`)."""
    ids, keys = _group_ids(gbits, lo, hi)
    fill, bkeys, brows = _topk_fill(ids, keys.shape[0], sbits, lo, k)
    return keys, fill, bkeys, brows


@nb.njit(cache=True, nogil=True)
def _topk_emit(order: np.ndarray, gkey: np.ndarray, fill: np.ndarray, bkeys: np.ndarray, brows: np.ndarray,
               k: int, out_rows: np.ndarray, out_ranks: np.ndarray) -> int:
    """Walk the groups of several scans in ``order`` (by group key, then scan): the entries of equal
    keys (earlier scans first) are merged into one buffer of ``k``, then written with ranks 1..."""
    mk = np.empty(k, np.uint64)
    mr = np.empty(k, np.int64)
    w = 0
    i = 0
    n = order.shape[0]
    while i < n:
        g = gkey[order[i]]
        m = 0
        while i < n and gkey[order[i]] == g:
            q = order[i]
            for j in range(fill[q]):
                m = _insert_top(mk, mr, 0, m, k, bkeys[q * k + j], brows[q * k + j])
            i += 1
        for j in range(m):
            out_rows[w] = mr[j]
            out_ranks[w] = j + 1
            w += 1
    return w


def top_k_by_segments(gkey: np.ndarray, skey: np.ndarray, asc: bool, k: int):
    """``(rows, ranks)``: per group of ``gkey`` (ascending, missing last, missing equal to missing) the
    ``k`` first rows in ``skey`` order (``asc``; stable; missing sort values never kept), groups in
    order, each with its rank 1..k: the rows of ``rank_within_group_by`` whose rank is at most ``k``,
    in its row order — found in one pass over the rows (group ids from whole-number keys in a small
    range, else from a hash table of the keys; a buffer of ``k`` per group), without sorting the
    rows. Large inputs scan two halves on two threads and merge their buffers."""
    from .radix import _ordered_bits, _pool
    n = gkey.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g = np.ascontiguousarray(gkey, dtype=np.float64)
    x = np.ascontiguousarray(skey, dtype=np.float64)
    bounds = [(0, n)] if n < _SPLIT_MIN_ROWS else [(0, n // 2), (n // 2, n)]
    ok, gmin, gmax = _integer_span(g)
    span = int(gmax - gmin) + 1 if ok else 0
    if ok and span <= 2 * n + 1024:  # whole-number keys in a small range (ints, enum codes): ids by value
        keys = _ordered_bits(np.append(gmin + np.arange(span, dtype=np.float64), np.nan), True)

        def scan(ab):
            return (keys,) + _topk_fill_dense(g, gmin, span, x, bool(asc), ab[0], ab[1], k)
    else:  # any keys: ids from a hash table of the keys' bits
        gbits = _ordered_bits(g, True)
        sbits = _ordered_bits(x, bool(asc))

        def scan(ab):
            return _topk_scan(gbits, sbits, k, ab[0], ab[1])
    parts = [scan(bounds[0])] if len(bounds) == 1 else list(_pool().map(scan, bounds))
    gk = np.concatenate([p[0] for p in parts])
    fill = np.concatenate([p[1] for p in parts])
    bk = np.concatenate([p[2] for p in parts])
    br = np.concatenate([p[3] for p in parts])
    order = np.argsort(gk, kind="stable")  # by group key; equal keys keep the scans' order
    total = int(fill.sum())
    out_rows = np.empty(total, np.int64)
    out_ranks = np.empty(total, np.int64)
    w = _topk_emit(order, gk, fill, bk, br, k, out_rows, out_ranks)
    return out_rows[:w], out_ranks[:w]


def fused_rank_rows(ctx, n):
    """``rows(<column ops>(rank_within_group_by(...)), rank <op> constant)`` in one pass, or None when
    ``n`` is not of that form. The order and ranks are computed once and only the rows that pass are
    stored (the unfused evaluation stores every ranked row, then filters them): same columns, values
    and row order. A missing rank never passes. One group and one sort column with ``<=``, ``<``
    or ``==`` keep at most k rows per group while walking the group order (no per-group sort)."""
    from .evaluate import eval_node
    m = fusable_rank_filter(n)
    if m is None:
        return None
    rnode, op, c = m
    fv, gidx, sidx, asc, name, resort = _spec(ctx, rnode)
    data = ctx.gather(fv)
    gkeys = [_sort_key(data[i]) for i in gidx]
    skeys = [_sort_key(data[i]) for i in sidx]
    k = _top_bound(op, c)
    if k is not None and len(gidx) == 1 and len(sidx) == 1 and k <= _TOPK_MAX:
        sel, sel_ranks = top_k_by_segments(gkeys[0], skeys[0], asc[0], k)
        keep = _CMP[op](sel_ranks.astype(np.float64), c)
        if not keep.all():
            sel, sel_ranks = sel[keep], sel_ranks[keep]
    else:
        order, ranks, miss = _order_and_ranks(gkeys, skeys, asc)
        r = ranks[order]
        keep = ~miss[order] & _CMP[op](r.astype(np.float64), c)
        sel, sel_ranks = order[keep], r[keep]
    if resort and len(sel):
        perm = sort_order([k_[sel] for k_ in skeys], asc)
        sel, sel_ranks = sel[perm], sel_ranks[perm]
    cols = [col.take(sel) for col in data]
    cols.append(ColumnData(column_header(name, "int"), np.ascontiguousarray(sel_ranks, np.int64),
                           np.zeros(len(sel), np.bool_)))
    filtered = FrameVal.of(store_columns(ctx.node, ctx.temp_key(), cols))
    subst = getattr(ctx, "substitute", None)
    if subst is None:
        subst = {}
        ctx.substitute = subst
    subst[id(rnode)] = filtered  # the column ops above the rank node now read the filtered rows
    try:
        return eval_node(ctx, n.args[0])
    finally:
        subst.pop(id(rnode), None)


OPS = {"rank_within_group_by": _op_rank_within_group_by}
