"""Numba kernels of the tree engine: binning, histograms, split search, routing, prediction.

Kernels see only arrays and scalars (no frames, jobs or logging), are compiled ``nogil=True,
cache=True`` and document each argument as IN / OUT / INOUT.

Conventions shared by every kernel:

- A *code* is a column value binned on the column's global fine grid (``uint16``; ``NA_CODE`` is
  missing). For a numeric column with interior edges ``e[0..F-2]`` (sorted) the code of ``x`` is the
  number of edges ``<= x``, so ``code < t`` holds exactly when ``x < e[t-1]``: a split found on codes
  is the raw threshold ``e[t-1]`` and routes every value, binned or raw, the same way. For a
  categorical column the code is the level's bin (the level itself unless ``nbins_cats`` groups
  levels).
- A histogram slot is one open leaf; per (slot, column) the fine code range ``[lo, hi)`` of the
  leaf is cut into ``nb`` bins by ``bin = (code - lo) * nb // (hi - lo)``; bin ``nb`` is the NA
  bin. Slot ``s`` column ``jj`` occupies ``hist[off[s, jj] : off[s, jj] + nb[s, jj] + 1]``.
- Gradient, hessian and weight sums are ``int64`` fixed-point values (see ``engine``), so sums are
  exact and independent of the order of addition.
- Trees are flat arrays (struct of arrays): per node ``col`` (-1 for a leaf), ``thr``, ``nal`` (NA
  goes left), ``catp`` (offset of the node's level bitset in ``catbits`` or -1), ``left``,
  ``right`` (absolute node indices), ``value``, ``cover``.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["NA_CODE", "bin_numeric", "bin_levels", "quantize_rows",
           "level_histograms", "derive_histograms", "find_splits", "apply_splits", "scatter_add",
           "nonzero_rows", "scatter_rows", "predict_trees", "leaf_assignment", "splitmix_uniform",
           "route_codes", "partition_rows", "partition_histograms",
           "partition_finish", "add_leaf_values", "add_leaf_values_oob", "scale_hist"]

NA_CODE = 0xFFFF


@nb.njit(nogil=True, cache=True)
def bin_numeric(x, edges, out):
    """IN x float64[n] (NaN missing), edges float64[F-1] sorted; OUT out uint16[n] codes.

    The code is the number of edges ``<= x``. It is first guessed by interpolating between the
    first and last edge (exact after a step or two on equal-width grids), checked, and found by
    binary search when the guess is off by more than a few edges (quantile grids).
    """
    m = edges.shape[0]
    if m == 0:
        for i in range(x.shape[0]):
            out[i] = NA_CODE if math.isnan(x[i]) else 0
        return
    e0 = edges[0]
    e1 = edges[m - 1]
    scale = (m - 1) / (e1 - e0) if e1 > e0 else 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if math.isnan(v):
            out[i] = NA_CODE
            continue
        if v < e0:
            out[i] = 0
            continue
        if v >= e1:
            out[i] = m
            continue
        # e0 <= v < e1: the count is in [1, m - 1]
        g = int((v - e0) * scale) + 1
        if g < 1:
            g = 1
        elif g > m - 1:
            g = m - 1
        steps = 0
        while steps < 4 and edges[g] <= v:
            g += 1
            steps += 1
        while steps < 4 and edges[g - 1] > v:
            g -= 1
            steps += 1
        if edges[g - 1] <= v < edges[g]:
            out[i] = g
            continue
        lo, hi = 0, m
        while lo < hi:  # number of edges <= v
            mid = (lo + hi) >> 1
            if edges[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo


@nb.njit(nogil=True, cache=True)
def bin_levels(codes, level_bin, out):
    """IN codes int32[n] training level (-1 missing/unseen), level_bin int32[card]; OUT out uint16[n]."""
    card = level_bin.shape[0]
    for i in range(codes.shape[0]):
        c = codes[i]
        if c < 0 or c >= card:
            out[i] = NA_CODE
        else:
            out[i] = level_bin[c]


@nb.njit(nogil=True, cache=True)
def quantize_rows(g, h, w, active, sg, sh, sw, gq, hq, wq):
    """The rows' fixed-point gradient, hessian and weight for the histograms, in one pass.

    IN g, h, w float64[n], active uint8[n], the scales sg, sh, sw (powers of two); OUT gq, hq, wq
    int64[n] = ``rint(g·wa·sg)``, ``rint(h·wa·sh)``, ``rint(wa·sw)`` with ``wa`` the weight of an
    active row and 0 otherwise (the operations of the numpy expression, so the same bits).
    """
    for i in range(g.shape[0]):
        wa = w[i] if active[i] == 1 else 0.0
        wq[i] = np.int64(np.rint(wa * sw))
        gq[i] = np.int64(np.rint(g[i] * wa * sg))
        hq[i] = np.int64(np.rint(h[i] * wa * sh))


@nb.njit(nogil=True, cache=True)
def splitmix_uniform(seed, stream, row0, n, out):
    """OUT out float64[n]: uniforms in [0, 1) from a counter hash of (seed, stream, global row).

    The draw of a row depends only on its global index, never on the chunking or the node.
    """
    base = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(stream) * np.uint64(0xD1B54A32D192ED03)
    for i in range(n):
        z = base + np.uint64(row0 + i) * np.uint64(0x94D049BB133111EB)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        out[i] = float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(nogil=True, cache=True)
def level_histograms(codes, cols, nid, active, split_of_node, scol, scode, snal, scat, catleft, sleft, sright,
                     slot_of_node, nslot, build, gq, hq, wq, lo, hi, nbin, off, hist, pack=0, out=None,
                     luts=None):
    """One chunk's whole ``tree.hist`` pass for one tree: apply the previous level's splits, group the
    active rows of the open leaves by slot, and histogram the (slot, column) pairs with ``build == 1``.

    IN codes uint16[p, n]; cols int64[m]; the splits as in :func:`apply_splits` (``split_of_node``
    may be empty: nothing to apply); slot_of_node int32[nnodes], nslot; build uint8[S, m]; gq, hq, wq
    int64[n]; lo, hi, nbin, off int64[S, m]. INOUT nid int32[n], hist int64[total, 3].

    The bins are those of the module's convention (``bin = (code - lo) * nb // (hi - lo)``, NA bin
    ``nb``) and the sums int64, so the result does not depend on the order rows are added in. The
    work: one pass over the rows applies the splits and counts the slots; the rows' gradient,
    hessian and weight are gathered into slot order once; then :func:`_slot_passes` adds up to four
    columns per pass over a slot's rows (the row's sums are read once per pass). When one slot holds
    every row (a tree's first level without row sampling) the passes read the codes in place instead
    of through the row order (about twice as fast per row and column).

    ``pack > 0`` (every active row has the same weight, so a bin's weight is its row count times the
    rows' ``wq``; the count is below ``2^pack``): a row adds ``hq·2^pack + 1`` into the hessian slot
    and nothing into the weight slot, two additions per (row, column) instead of three; the hessian
    sums and weights are unpacked at the end. The rows of this call's (slot, column) pairs must then
    be zero on entry (the other rows are left alone: several trees share one ``hist``). With ``out``
    (int64[total, 3]) they are unpacked into ``out`` (added) and ``hist`` is left zero again: a
    worker thread's scratch, folding its chunks into one partial. ``luts`` (int32[>= m, NA_CODE + 1],
    contents ignored) is the passes' code -> bin table space; None allocates it (~0.25 MB a
    column), which a caller that histograms many small chunks keeps instead.
    """
    n = nid.shape[0]
    nn = split_of_node.shape[0]
    ns = slot_of_node.shape[0]
    m = cols.shape[0]
    slot = np.empty(n, np.int32)
    cnt = np.zeros(nslot + 1, np.int64)
    for i in range(n):
        nd = nid[i]
        if nd >= 0 and nd < nn:
            s = split_of_node[nd]
            if s >= 0:
                c = codes[scol[s], i]
                if c == NA_CODE:
                    go = snal[s] == 1
                elif scat[s] == 1:
                    go = catleft[s, c] == 1 if c < catleft.shape[1] else snal[s] == 1
                else:
                    go = c < scode[s]
                nd = sleft[s] if go else sright[s]
                nid[i] = nd
        sl = -1
        if active[i] != 0 and nd >= 0 and nd < ns:
            sl = slot_of_node[nd]
        slot[i] = sl
        if sl >= 0:
            cnt[sl + 1] += 1
    start = np.empty(nslot + 1, np.int64)
    start[0] = 0
    for s in range(nslot):
        start[s + 1] = start[s] + cnt[s + 1]
    nr = start[nslot]
    pos = start[:nslot].copy()
    direct = False
    for s in range(nslot):
        if cnt[s + 1] == n:
            direct = True   # one slot holds every row in order: the passes read the codes in place
    order = np.empty(nr, np.int32)
    hf = hist.reshape(hist.shape[0] * 3)   # flat (bin, stat) view: one index per update
    if pack > 0:
        gw = np.empty((nr, 2), np.int64)
        mul = np.int64(1) << np.int64(pack)
        wc = np.int64(0)
        for i in range(n):
            sl = slot[i]
            if sl >= 0:
                q = pos[sl]
                order[q] = i
                gw[q, 0] = gq[i]
                gw[q, 1] = hq[i] * mul + 1
                wc = wq[i]
                pos[sl] = q + 1
        if direct:
            _slot_passes(codes, cols, None, start[:nslot], start[1:], nslot, build, lo, hi, nbin, off, gw, hf, True,
                         _lut_space(luts, cols.shape[0]))
        else:
            _slot_passes(codes, cols, order, start[:nslot], start[1:], nslot, build, lo, hi, nbin, off, gw, hf, True,
                         _lut_space(luts, cols.shape[0]))
        if out is None:
            _unpack(hist, pack, wc, nslot, build, off, nbin, hist[:0])
        else:
            _unpack(hist, pack, wc, nslot, build, off, nbin, out)
        return
    gw = np.empty((nr, 3), np.int64)
    for i in range(n):
        sl = slot[i]
        if sl >= 0:
            q = pos[sl]
            order[q] = i
            gw[q, 0] = gq[i]
            gw[q, 1] = hq[i]
            gw[q, 2] = wq[i]
            pos[sl] = q + 1
    if direct:
        _slot_passes(codes, cols, None, start[:nslot], start[1:], nslot, build, lo, hi, nbin, off, gw, hf, False,
                     _lut_space(luts, cols.shape[0]))
    else:
        _slot_passes(codes, cols, order, start[:nslot], start[1:], nslot, build, lo, hi, nbin, off, gw, hf, False,
                     _lut_space(luts, cols.shape[0]))


@nb.njit(nogil=True, cache=True)
def _unpack(hist, pack, wc, nslot, build, off, nbin, out):
    """Split the packed hessian slot (``h·2^pack + count``) of the (slot, column) pairs with
    ``build == 1`` into the hessian sum and the weight ``count · wc`` (the other trees' rows of a
    shared ``hist`` are left alone): in place, or with a non-empty ``out`` added into ``out``
    while ``hist``'s rows are zeroed again (a row was touched exactly when its packed slot holds a
    count)."""
    mask = (np.int64(1) << np.int64(pack)) - 1
    m = build.shape[1]
    k0 = hist.shape[0]
    k1 = 0
    for s in range(nslot):
        for jj in range(m):
            if build[s, jj] == 1:
                k0 = min(k0, off[s, jj])
                k1 = max(k1, off[s, jj] + nbin[s, jj] + 1)
    if out.shape[0] == 0:
        for k in range(k0, k1):
            v = hist[k, 1]
            if v != 0:
                hist[k, 1] = v >> np.int64(pack)
                hist[k, 2] = (v & mask) * wc
        return
    for k in range(k0, k1):
        v = hist[k, 1]
        if v != 0:
            out[k, 0] += hist[k, 0]
            out[k, 1] += v >> np.int64(pack)
            out[k, 2] += (v & mask) * wc
            hist[k, 0] = 0
            hist[k, 1] = 0


@nb.njit(nogil=True, cache=True, inline="always")
def _go_left(c, cut, nal, cat, catrow, F):
    if c == NA_CODE:
        return nal
    if cat:
        return catrow[c] == 1 if c < F else nal
    return c < cut


@nb.njit(nogil=True, cache=True, inline="always")
def _put_both(dperm, dgw, lq, rq, i, g0, g1, g2, three):
    """The branch-free step of :func:`partition_rows`: row ``i`` and its sums at both cursors."""
    dperm[lq] = i
    dperm[rq] = i
    dgw[lq, 0] = g0
    dgw[lq, 1] = g1
    dgw[rq, 0] = g0
    dgw[rq, 1] = g1
    if three:
        dgw[lq, 2] = g2
        dgw[rq, 2] = g2


@nb.njit(nogil=True, cache=True)
def partition_rows(codes, sperm, sgw, sbeg, send, snode, first, active, gq, hq, wq, pack,
                   split_of_node, scol, scode, snal, scat, catleft, sleft, sright, slot_of_node, nslot,
                   nid, dperm, dgw, dbeg, dend):
    """One level of the row partition (LightGBM's data partition: a tree's rows stay grouped by
    open leaf from level to level): split each previous leaf's rows into its open children.

    IN codes uint16[p, n]; sperm int32[*] the chunk row of each position of the previous level,
    sgw int64[*, w] their (gradient, hessian[, weight]) sums; sbeg, send int64[S], snode int32[S]:
    previous leaf ``ps`` holds positions ``sbeg[ps]:send[ps]`` and is node ``snode[ps]``
    (``first``: the level below the root, whose one leaf holds the chunk's rows ``0..n-1``, of
    which those with ``active == 1`` are kept; the positions are the rows and the sums come from
    gq, hq, wq, packed as in :func:`level_histograms` when ``pack > 0``); the splits as in
    :func:`apply_splits`; slot_of_node int32[nnodes] / nslot the open leaves of the new level.
    OUT dperm, dgw, dbeg, dend int64[nslot]: slot ``s`` holds positions ``dbeg[s]:dend[s]``
    (within the positions of its parent: the left child's rows from the start, in order, the
    right child's from the end, in reverse order; one pass, no counting; when both children stay
    open a row is written at both cursors and only one advances, which is safe because a leaf's
    range always has a free position for each of its remaining rows, and spares the mispredicted
    branch of a data-dependent side: ~20 % faster). INOUT nid int32[n]: a
    row that leaves the partition (its leaf is not split, or its child does not stay open) gets
    its final node here.
    """
    S = snode.shape[0]
    nn = split_of_node.shape[0]
    nsn = slot_of_node.shape[0]
    F = catleft.shape[1]
    w = dgw.shape[1]
    three = w == 3
    mul = np.int64(1) << np.int64(pack)
    for s in range(nslot):
        dbeg[s] = 0
        dend[s] = 0
    for ps in range(S):
        a = sbeg[ps]
        b = send[ps]
        nd = snode[ps]
        sp = split_of_node[nd] if 0 <= nd < nn else -1
        if sp < 0:
            for q in range(a, b):
                if first:
                    if active[q] != 0:
                        nid[q] = nd
                else:
                    nid[sperm[q]] = nd
            continue
        cl = sleft[sp]
        cr = sright[sp]
        sl_l = slot_of_node[cl] if cl < nsn else -1
        sl_r = slot_of_node[cr] if cr < nsn else -1
        col = codes[scol[sp]]
        cut = scode[sp]
        nal = snal[sp] == 1
        cat = scat[sp] == 1
        catrow = catleft[sp]
        lq = a
        rq = b
        if sl_l >= 0 and sl_r >= 0 and not first:
            for q in range(a, b):
                i = sperm[q]
                gi = np.int64(_go_left(col[i], cut, nal, cat, catrow, F))
                r1 = rq - 1
                _put_both(dperm, dgw, lq, r1, i, sgw[q, 0], sgw[q, 1], sgw[q, 2] if three else 0, three)
                lq += gi
                rq = r1 + gi
        elif sl_l >= 0 and sl_r >= 0:
            for q in range(a, b):
                if active[q] == 0:
                    continue
                gi = np.int64(_go_left(col[q], cut, nal, cat, catrow, F))
                r1 = rq - 1
                _put_both(dperm, dgw, lq, r1, q, gq[q], hq[q] * mul + 1 if pack > 0 else hq[q],
                          wq[q] if three else 0, three)
                lq += gi
                rq = r1 + gi
        else:
            for q in range(a, b):
                if first:
                    if active[q] == 0:
                        continue
                    i = q
                else:
                    i = sperm[q]
                if _go_left(col[i], cut, nal, cat, catrow, F):
                    if sl_l < 0:
                        nid[i] = cl
                        continue
                    d = lq
                    lq += 1
                else:
                    if sl_r < 0:
                        nid[i] = cr
                        continue
                    rq -= 1
                    d = rq
                dperm[d] = i
                if first:
                    dgw[d, 0] = gq[i]
                    dgw[d, 1] = hq[i] * mul + 1 if pack > 0 else hq[i]
                    if three:
                        dgw[d, 2] = wq[i]
                else:
                    for t in range(w):
                        dgw[d, t] = sgw[q, t]
        if sl_l >= 0:
            dbeg[sl_l] = a
            dend[sl_l] = lq
        if sl_r >= 0:
            dbeg[sl_r] = rq
            dend[sl_r] = b


@nb.njit(nogil=True, cache=True)
def partition_histograms(codes, cols, perm, beg, end, nslot, build, lo, hi, nbin, off, gw, hist, pack, wc, out=None,
                         luts=None):
    """The histograms of a partitioned level (slot ``s``: positions ``beg[s]:end[s]`` of ``perm``
    and ``gw``, see :func:`partition_rows`): the passes of :func:`level_histograms`.
    ``pack``/``wc`` (the active rows' common quantized weight), ``out`` and ``luts`` as there."""
    hf = hist.reshape(hist.shape[0] * 3)
    _slot_passes(codes, cols, perm, beg, end, nslot, build, lo, hi, nbin, off, gw, hf, pack > 0,
                 _lut_space(luts, cols.shape[0]))
    if pack > 0:
        if out is None:
            _unpack(hist, pack, wc, nslot, build, off, nbin, hist[:0])
        else:
            _unpack(hist, pack, wc, nslot, build, off, nbin, out)


@nb.njit(nogil=True, cache=True)
def partition_finish(codes, perm, beg, end, snode, first, active, split_of_node, scol, scode, snal, scat, catleft,
                     sleft, sright, col, code, nal, catp, catbits, left, right, root, walk, nid):
    """The rows' final nodes at the end of a partitioned tree: the rows still in the partition
    (positions and leaves as in :func:`partition_rows`) get the child of the last level's split
    of their leaf (or the leaf); rows with ``active == 0`` (never in the partition) walk the
    code-space tree (arrays as in :func:`route_codes`) from node 0. The rows that left the
    partition at an earlier level already hold their node. The walk (only with ``walk``) starts at
    node ``root`` of the code-space arrays and stores the node index less ``root`` (the tree's own
    numbering). INOUT nid int32[n]."""
    S = snode.shape[0]
    nn = split_of_node.shape[0]
    F = catleft.shape[1]
    for ps in range(S):
        a = beg[ps]
        b = end[ps]
        nd = snode[ps]
        sp = split_of_node[nd] if 0 <= nd < nn else -1
        if sp < 0:
            for q in range(a, b):
                if first:
                    if active[q] != 0:
                        nid[q] = nd
                else:
                    nid[perm[q]] = nd
            continue
        c_ = codes[scol[sp]]
        cut = scode[sp]
        nl = snal[sp] == 1
        cat = scat[sp] == 1
        catrow = catleft[sp]
        for q in range(a, b):
            if first:
                if active[q] == 0:
                    continue
                i = q
            else:
                i = perm[q]
            nid[i] = sleft[sp] if _go_left(c_[i], cut, nl, cat, catrow, F) else sright[sp]
    if not walk:
        return
    for i in range(codes.shape[1]):
        if active[i] == 0:
            nid[i] = _walk_codes(codes, i, root, col, code, nal, catp, catbits, left, right) - root


_QUAD_BINS = 1200   # up to four columns share a pass while their bins fit the L1 cache (24 bytes a bin)


@nb.njit(nogil=True, cache=True)
def _lut_space(luts, m):
    """The code -> bin table space of :func:`_slot_passes`: ``luts``, or a new one when None."""
    if luts is None:
        return np.empty((m, NA_CODE + 1), np.int32)
    return luts


@nb.njit(nogil=True, cache=True)
def _slot_passes(codes, cols, order, beg, end, nslot, build, lo, hi, nbin, off, gw, hf, two, luts):
    """The histograms of every slot (rows ``beg[s]:end[s]`` of ``gw``; the chunk row of ``gw``
    row ``q`` is ``order[q]``, or ``q`` when ``order`` is None), up to four columns per pass.

    A *plain* column (one code per bin from code 0: categoricals, small integer columns, the first
    level) takes its bin as ``min(code, nb)`` (the missing code lands on the NA bin); the others go
    through a code -> bin table (missing code included), kept per column and refilled only when
    the column's (range, bins) changes between slots (columns no ancestor split on share one table
    across a level's slots); a slot with fewer rows than a quarter of the column's range and no
    fitting table divides per row instead. Plain columns, then table columns, are grouped four to a
    pass while their histograms fit the L1 cache, else two; a last plain and a last table column
    share a pass. ``two``: ``gw`` holds (gradient, packed hessian) and the weight slot is left alone.
    ``luts`` int32[>= m, NA_CODE + 1]: the tables' space (filled here as needed).
    """
    m = cols.shape[0]
    key = np.full((m, 3), -1, np.int64)
    pl = np.empty(m, np.int64)   # the slot's plain columns
    tl = np.empty(m, np.int64)   # the slot's table columns
    b4 = np.empty(4, np.int64)
    o4 = np.empty(4, np.int64)
    for s in range(nslot):
        r0 = beg[s]
        r1 = end[s]
        if r1 <= r0:
            continue
        rows = r1 - r0
        npl = 0
        ntl = 0
        for jj in range(m):
            if build[s, jj] == 0:
                continue
            l0 = lo[s, jj]
            span = hi[s, jj] - l0
            B = nbin[s, jj]
            if l0 == 0 and span == B:
                pl[npl] = jj
                npl += 1
                continue
            cached = key[jj, 0] == l0 and key[jj, 1] == span and key[jj, 2] == B
            if 4 * rows < span and not cached:
                _one_div(codes[cols[jj]], l0, span, B, off[s, jj], order, r0, r1, gw, hf, two)
                continue
            if not cached:
                lt = luts[jj]
                for c in range(span):
                    lt[l0 + c] = (c * B) // span
                lt[NA_CODE] = B
                key[jj, 0] = l0
                key[jj, 1] = span
                key[jj, 2] = B
            tl[ntl] = jj
            ntl += 1
        p = 0
        while p + 1 < npl:
            a = pl[p]
            b = pl[p + 1]
            if p + 3 < npl:
                c = pl[p + 2]
                d = pl[p + 3]
                if nbin[s, a] + nbin[s, b] + nbin[s, c] + nbin[s, d] + 4 <= _QUAD_BINS:
                    for t in range(4):
                        b4[t] = nbin[s, pl[p + t]]
                        o4[t] = off[s, pl[p + t]]
                    _quad_plain(codes[cols[a]], codes[cols[b]], codes[cols[c]], codes[cols[d]], b4, o4,
                                order, r0, r1, gw, hf, two)
                    p += 4
                    continue
            _pair_plain(codes[cols[a]], codes[cols[b]], nbin[s, a], nbin[s, b], off[s, a], off[s, b],
                        order, r0, r1, gw, hf, two)
            p += 2
        t = 0
        while t + 1 < ntl:
            a = tl[t]
            b = tl[t + 1]
            if t + 3 < ntl:
                c = tl[t + 2]
                d = tl[t + 3]
                if nbin[s, a] + nbin[s, b] + nbin[s, c] + nbin[s, d] + 4 <= _QUAD_BINS:
                    for u in range(4):
                        o4[u] = off[s, tl[t + u]]
                    _quad_table(codes[cols[a]], codes[cols[b]], codes[cols[c]], codes[cols[d]],
                                luts[a], luts[b], luts[c], luts[d], o4, order, r0, r1, gw, hf, two)
                    t += 4
                    continue
            _pair_table(codes[cols[a]], codes[cols[b]], luts[a], luts[b], off[s, a], off[s, b],
                        order, r0, r1, gw, hf, two)
            t += 2
        if p < npl and t < ntl:
            a = pl[p]
            b = tl[t]
            _pair_mixed(codes[cols[a]], nbin[s, a], off[s, a], codes[cols[b]], luts[b], off[s, b],
                        order, r0, r1, gw, hf, two)
        elif p < npl:
            a = pl[p]
            _one_plain(codes[cols[a]], nbin[s, a], off[s, a], order, r0, r1, gw, hf, two)
        elif t < ntl:
            b = tl[t]
            _one_table(codes[cols[b]], luts[b], off[s, b], order, r0, r1, gw, hf, two)


# The passes over one slot's rows (``gw[q]`` for q in ``[r0, r1)``: the row's quantized gradient,
# hessian, weight; its chunk row ``order[q]``, or ``q`` when ``order`` is None: the branch is
# resolved when the kernel is compiled) add into the flat histogram ``hf`` (``3 * bin + stat``).
# Index arithmetic is unsigned (no negative-index check per access) and every pass is a straight
# loop over two rows per step, whose code and table loads all come before their histogram updates
# (numba cannot prove the histogram does not alias the codes, so a one-row loop waits for each
# row's stores before the next row's loads: two rows per step cut a pass by ~30 %); ``two``
# (gradient and packed hessian only) is loop-invariant.
@nb.njit(nogil=True, cache=True)
def _pair_plain(c1, c2, b1, b2, o1, o2, order, r0, r1, gw, hf, two):
    """Two plain columns: bin ``min(code, b)``."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    B1 = np.uint64(b1)
    u1 = np.uint64(o1)
    B2 = np.uint64(b2)
    u2 = np.uint64(o2)
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + min(np.uint64(c2[i]), B2)) * three
        l1 = (u1 + min(np.uint64(c1[j]), B1)) * three
        l2 = (u2 + min(np.uint64(c2[j]), B2)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        hf[l2] += g2
        hf[l2 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[l1 + two_] += w2
            hf[l2 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + min(np.uint64(c2[i]), B2)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w


@nb.njit(nogil=True, cache=True)
def _pair_table(c1, c2, t1, t2, o1, o2, order, r0, r1, gw, hf, two):
    """Two columns binned through their code -> bin tables."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    u1 = np.uint64(o1)
    u2 = np.uint64(o2)
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        l1 = (u1 + np.uint64(t1[c1[j]])) * three
        l2 = (u2 + np.uint64(t2[c2[j]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        hf[l2] += g2
        hf[l2 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[l1 + two_] += w2
            hf[l2 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w


@nb.njit(nogil=True, cache=True)
def _pair_mixed(c1, b1, o1, c2, t2, o2, order, r0, r1, gw, hf, two):
    """A plain column and a table column in one pass."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    B1 = np.uint64(b1)
    u1 = np.uint64(o1)
    u2 = np.uint64(o2)
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        l1 = (u1 + min(np.uint64(c1[j]), B1)) * three
        l2 = (u2 + np.uint64(t2[c2[j]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        hf[l2] += g2
        hf[l2 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[l1 + two_] += w2
            hf[l2 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w


@nb.njit(nogil=True, cache=True)
def _quad_plain(c1, c2, c3, c4, b4, o4, order, r0, r1, gw, hf, two):
    """Four plain columns (bins ``b4``, offsets ``o4`` int64[4])."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    B1 = np.uint64(b4[0])
    u1 = np.uint64(o4[0])
    B2 = np.uint64(b4[1])
    u2 = np.uint64(o4[1])
    B3 = np.uint64(b4[2])
    u3 = np.uint64(o4[2])
    B4 = np.uint64(b4[3])
    u4 = np.uint64(o4[3])
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + min(np.uint64(c2[i]), B2)) * three
        k3 = (u3 + min(np.uint64(c3[i]), B3)) * three
        k4 = (u4 + min(np.uint64(c4[i]), B4)) * three
        l1 = (u1 + min(np.uint64(c1[j]), B1)) * three
        l2 = (u2 + min(np.uint64(c2[j]), B2)) * three
        l3 = (u3 + min(np.uint64(c3[j]), B3)) * three
        l4 = (u4 + min(np.uint64(c4[j]), B4)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[k3] += g
        hf[k3 + one] += h
        hf[k4] += g
        hf[k4 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        hf[l2] += g2
        hf[l2 + one] += h2
        hf[l3] += g2
        hf[l3 + one] += h2
        hf[l4] += g2
        hf[l4 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[k3 + two_] += w
            hf[k4 + two_] += w
            hf[l1 + two_] += w2
            hf[l2 + two_] += w2
            hf[l3 + two_] += w2
            hf[l4 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        k2 = (u2 + min(np.uint64(c2[i]), B2)) * three
        k3 = (u3 + min(np.uint64(c3[i]), B3)) * three
        k4 = (u4 + min(np.uint64(c4[i]), B4)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[k3] += g
        hf[k3 + one] += h
        hf[k4] += g
        hf[k4 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[k3 + two_] += w
            hf[k4 + two_] += w


@nb.njit(nogil=True, cache=True)
def _quad_table(c1, c2, c3, c4, t1, t2, t3, t4, o4, order, r0, r1, gw, hf, two):
    """Four table columns (offsets ``o4`` int64[4])."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    u1 = np.uint64(o4[0])
    u2 = np.uint64(o4[1])
    u3 = np.uint64(o4[2])
    u4 = np.uint64(o4[3])
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        k3 = (u3 + np.uint64(t3[c3[i]])) * three
        k4 = (u4 + np.uint64(t4[c4[i]])) * three
        l1 = (u1 + np.uint64(t1[c1[j]])) * three
        l2 = (u2 + np.uint64(t2[c2[j]])) * three
        l3 = (u3 + np.uint64(t3[c3[j]])) * three
        l4 = (u4 + np.uint64(t4[c4[j]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[k3] += g
        hf[k3 + one] += h
        hf[k4] += g
        hf[k4 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        hf[l2] += g2
        hf[l2 + one] += h2
        hf[l3] += g2
        hf[l3 + one] += h2
        hf[l4] += g2
        hf[l4 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[k3 + two_] += w
            hf[k4 + two_] += w
            hf[l1 + two_] += w2
            hf[l2 + two_] += w2
            hf[l3 + two_] += w2
            hf[l4 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        k2 = (u2 + np.uint64(t2[c2[i]])) * three
        k3 = (u3 + np.uint64(t3[c3[i]])) * three
        k4 = (u4 + np.uint64(t4[c4[i]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[k2] += g
        hf[k2 + one] += h
        hf[k3] += g
        hf[k3 + one] += h
        hf[k4] += g
        hf[k4 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w
            hf[k2 + two_] += w
            hf[k3 + two_] += w
            hf[k4 + two_] += w


@nb.njit(nogil=True, cache=True)
def _one_plain(c1, b1, o1, order, r0, r1, gw, hf, two):
    """One plain column."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    B1 = np.uint64(b1)
    u1 = np.uint64(o1)
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        l1 = (u1 + min(np.uint64(c1[j]), B1)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[l1 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + min(np.uint64(c1[i]), B1)) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w


@nb.njit(nogil=True, cache=True)
def _one_table(c1, t1, o1, order, r0, r1, gw, hf, two):
    """One table column."""
    one = np.uint64(1)
    two_ = np.uint64(2)
    three = np.uint64(3)
    u1 = np.uint64(o1)
    q = r0
    while q + 1 < r1:   # two rows per step: their loads are issued before their stores
        i = np.uint64(q) if order is None else np.uint64(order[q])
        j = np.uint64(q + 1) if order is None else np.uint64(order[q + 1])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        l1 = (u1 + np.uint64(t1[c1[j]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        g2 = gw[q + 1, 0]
        h2 = gw[q + 1, 1]
        hf[k1] += g
        hf[k1 + one] += h
        hf[l1] += g2
        hf[l1 + one] += h2
        if not two:
            w = gw[q, 2]
            w2 = gw[q + 1, 2]
            hf[k1 + two_] += w
            hf[l1 + two_] += w2
        q += 2
    if q < r1:
        i = np.uint64(q) if order is None else np.uint64(order[q])
        k1 = (u1 + np.uint64(t1[c1[i]])) * three
        g = gw[q, 0]
        h = gw[q, 1]
        hf[k1] += g
        hf[k1 + one] += h
        if not two:
            w = gw[q, 2]
            hf[k1 + two_] += w


@nb.njit(nogil=True, cache=True)
def _one_div(c1, l0, span, b1, o1, order, r0, r1, gw, hf, two):
    """A column of a small slot binned by division per row (no table to fill)."""
    for q in range(r0, r1):
        c = c1[q] if order is None else c1[order[q]]
        if c == NA_CODE:
            k = o1 + b1
        else:
            k = o1 + ((np.int64(c) - l0) * b1) // span
        k *= 3
        hf[k] += gw[q, 0]
        hf[k + 1] += gw[q, 1]
        if not two:
            hf[k + 2] += gw[q, 2]


@nb.njit(nogil=True, cache=True)
def derive_histograms(hist, prev, pairs, lo, hi, nbin, off, plo, phi, pnb, poff, build):
    """Sibling subtraction: the histogram of a larger child = its parent's − its smaller sibling's.

    INOUT hist int64[total, 3] (this level; the small siblings are complete, the large children's
    columns with ``build == 0`` are filled here). IN prev int64[ptotal, 3] the parent level's full
    histograms; pairs int64[npairs, 3] = (large slot, small slot, parent slot); lo, hi, nbin, off
    int64[S, m] this level's layout, plo, phi, pnb, poff the parent level's; build uint8[S, m].
    A parent bin maps to the child bin holding its codes: a parent with one code per bin maps any
    child layout; otherwise the child must have the parent's range with the same or half the bins.
    A small sibling with another range of the column (the split column) shares only the NA bin.
    Sums are int64, so a derived histogram has the bits of a directly built one.
    """
    m = lo.shape[1]
    for q in range(pairs.shape[0]):
        L = pairs[q, 0]
        Sm = pairs[q, 1]
        P = pairs[q, 2]
        for jj in range(m):
            if build[L, jj] == 1:
                continue
            pl = plo[P, jj]
            pb = pnb[P, jj]
            po = poff[P, jj]
            cl = lo[L, jj]
            ch = hi[L, jj]
            cb = nbin[L, jj]
            co = off[L, jj]
            ident = pb == phi[P, jj] - pl
            for b in range(pb):
                if ident:
                    c = pl + b
                    if c < cl or c >= ch:
                        continue
                    bb = ((c - cl) * cb) // (ch - cl)
                else:
                    bb = (b * cb) // pb
                for t in range(3):
                    hist[co + bb, t] += prev[po + b, t]
            for t in range(3):
                hist[co + cb, t] += prev[po + pb, t]
            so = off[Sm, jj]
            if lo[Sm, jj] == cl and hi[Sm, jj] == ch and nbin[Sm, jj] == cb:
                for b in range(cb + 1):
                    for t in range(3):
                        hist[co + b, t] -= hist[so + b, t]
            else:
                sb = nbin[Sm, jj]
                for t in range(3):
                    hist[co + cb, t] -= hist[so + sb, t]


@nb.njit(nogil=True, cache=True)
def scale_hist(hq, r0, r1, sg, sh, sw, out):
    """OUT out[r0:r1] float64 = the fixed-point sums ``hq[r0:r1]`` int64 divided by their scales
    (gradient ``sg``, hessian ``sh``, weight ``sw``): numpy's ``astype`` and division, one pass."""
    for k in range(r0, r1):
        out[k, 0] = np.float64(hq[k, 0]) / sg
        out[k, 1] = np.float64(hq[k, 1]) / sh
        out[k, 2] = np.float64(hq[k, 2]) / sw


@nb.njit(nogil=True, cache=True)
def _side_gain(G, H, lb, ub):
    """Objective reduction of a leaf with sums (G, H) and its Newton value clipped to [lb, ub]."""
    if H <= 0.0:
        return 0.0, 0.0
    v = -G / H
    if v < lb:
        v = lb
    elif v > ub:
        v = ub
    return -(2.0 * G * v + H * v * v), v


@nb.njit(nogil=True, cache=True)
def find_splits(hist, off, nbin, iscat, allowed, rand_cut, mono, bounds, min_rows, min_hess,
                out_i, out_f, out_catleft):
    """Best split of every slot (open leaf) over its allowed columns.

    IN hist float64[total, 3] (G, H, W per bin); off, nbin int64[S, m]; iscat uint8[m];
    allowed uint8[S, m]; rand_cut int64[S, m] (-1: scan every boundary; else the one numeric
    boundary to try, histogram_type Random); mono int64[m] (-1, 0, 1); bounds float64[S, 2] value
    bounds of the slot (monotone constraints); min_rows, min_hess float.
    OUT out_i int64[S, 3] = (column jj or -1, boundary bin b, NA goes left);
    out_f float64[S, 13] = (gain, GL, HL, WL, GR, HR, WR, vL, vR, parent objective, G, H, W);
    out_catleft uint8[S, maxbins] bins sent left (categorical splits).

    Numeric: left = bins < b. Categorical (iscat 1): bins with weight sorted by G/H, left = a prefix;
    iscat 2 (bins that group several levels): bins in level order, left = a prefix.
    Gain is the reduction of the second-order objective, with leaf values clipped to the bounds.
    """
    S, m = off.shape
    maxb = 1
    for s in range(S):
        for jj in range(m):
            maxb = max(maxb, nbin[s, jj])
    idx = np.empty(maxb, np.int64)
    key = np.empty(maxb, np.float64)
    for s in range(S):
        out_i[s, 0] = -1
        out_f[s, 0] = 0.0
        lb = bounds[s, 0]
        ub = bounds[s, 1]
        # totals from the first allowed column (every column sums to the same totals; a slot
        # without allowed columns has column 0 histogrammed)
        j0 = 0
        for jj in range(m):
            if allowed[s, jj] == 1:
                j0 = jj
                break
        G = 0.0
        H = 0.0
        W = 0.0
        o0 = off[s, j0]
        for b in range(nbin[s, j0] + 1):
            G += hist[o0 + b, 0]
            H += hist[o0 + b, 1]
            W += hist[o0 + b, 2]
        parent, _vp = _side_gain(G, H, lb, ub)
        out_f[s, 9] = parent
        out_f[s, 10] = G
        out_f[s, 11] = H
        out_f[s, 12] = W
        best = 0.0
        for jj in range(m):
            if allowed[s, jj] == 0:
                continue
            o = off[s, jj]
            B = nbin[s, jj]
            gN = hist[o + B, 0]
            hN = hist[o + B, 1]
            wN = hist[o + B, 2]
            if iscat[jj] >= 1:
                k = _cat_order(hist, o, B, iscat[jj], idx, key)
                if k < 1:
                    continue
                nas = 2 if wN > 0.0 else 1
                for na in range(nas):
                    gl = 0.0
                    hl = 0.0
                    wl = 0.0
                    if wN > 0.0 and na == 1:
                        gl = gN
                        hl = hN
                        wl = wN
                    for q in range(k - 1 + (1 if (wN > 0.0 and na == 0) else 0)):
                        if q >= k:
                            break
                        b = idx[q]
                        gl += hist[o + b, 0]
                        hl += hist[o + b, 1]
                        wl += hist[o + b, 2]
                        gr = G - gl
                        hr = H - hl
                        wr = W - wl
                        if wl < min_rows or wr < min_rows or hl < min_hess or hr < min_hess:
                            continue
                        gainl, vl = _side_gain(gl, hl, lb, ub)
                        gainr, vr = _side_gain(gr, hr, lb, ub)
                        gain = gainl + gainr - parent
                        if gain > best:
                            best = gain
                            out_i[s, 0] = jj
                            out_i[s, 1] = q + 1
                            nal = na == 1
                            if wN <= 0.0:
                                nal = wl >= wr
                            out_i[s, 2] = 1 if nal else 0
                            out_f[s, 0] = gain
                            out_f[s, 1] = gl
                            out_f[s, 2] = hl
                            out_f[s, 3] = wl
                            out_f[s, 4] = gr
                            out_f[s, 5] = hr
                            out_f[s, 6] = wr
                            out_f[s, 7] = vl
                            out_f[s, 8] = vr
                continue
            # numeric
            b_from = 1
            b_to = B
            if rand_cut[s, jj] >= 0:
                b_from = rand_cut[s, jj]
                b_to = b_from + 1
            nas = 2 if wN > 0.0 else 1
            for na in range(nas):
                gl = 0.0
                hl = 0.0
                wl = 0.0
                if na == 1:
                    gl = gN
                    hl = hN
                    wl = wN
                for b in range(1, b_to):
                    gl += hist[o + b - 1, 0]
                    hl += hist[o + b - 1, 1]
                    wl += hist[o + b - 1, 2]
                    if b < b_from:
                        continue
                    gr = G - gl
                    hr = H - hl
                    wr = W - wl
                    if wl < min_rows or wr < min_rows or hl < min_hess or hr < min_hess:
                        continue
                    if hist[o + b - 1, 2] <= 0.0 and b_to - b_from > 1:
                        continue  # the same partition was already tried at the previous boundary
                    gainl, vl = _side_gain(gl, hl, lb, ub)
                    gainr, vr = _side_gain(gr, hr, lb, ub)
                    if mono[jj] != 0 and (vr - vl) * mono[jj] < 0.0:
                        continue
                    gain = gainl + gainr - parent
                    if gain > best:
                        best = gain
                        out_i[s, 0] = jj
                        out_i[s, 1] = b
                        nal = na == 1
                        if wN <= 0.0:
                            nal = wl >= wr
                        out_i[s, 2] = 1 if nal else 0
                        out_f[s, 0] = gain
                        out_f[s, 1] = gl
                        out_f[s, 2] = hl
                        out_f[s, 3] = wl
                        out_f[s, 4] = gr
                        out_f[s, 5] = hr
                        out_f[s, 6] = wr
                        out_f[s, 7] = vl
                        out_f[s, 8] = vr
        jj = out_i[s, 0]
        if jj >= 0 and iscat[jj] >= 1:
            # the winning categorical's left bins: the first ``q`` of its sorted bins (sorted again
            # here, once, instead of at every improvement of the scan)
            o = off[s, jj]
            B = nbin[s, jj]
            _cat_order(hist, o, B, iscat[jj], idx, key)
            for b2 in range(out_catleft.shape[1]):
                out_catleft[s, b2] = 0
            for q2 in range(out_i[s, 1]):
                out_catleft[s, idx[q2]] = 1
            if out_i[s, 2] == 1:  # levels without rows here follow the missing values
                for b2 in range(B):
                    if hist[o + b2, 2] <= 0.0:
                        out_catleft[s, b2] = 1


@nb.njit(nogil=True, cache=True)
def _cat_order(hist, o, B, kind, idx, key):
    """The bins with weight of a categorical column's histogram (rows ``o .. o+B-1``) in scan order,
    into ``idx[:k]``; returns ``k``. ``kind`` 1: sorted by G/H (stable, ties in level order);
    2 (bins that group several levels): level order."""
    k = 0
    for b in range(B):
        if hist[o + b, 2] > 0.0:
            idx[k] = b
            hb = hist[o + b, 1]
            key[k] = hist[o + b, 0] / hb if hb > 0.0 else 0.0
            k += 1
    if kind == 1 and k > 1:
        order = np.argsort(key[:k], kind="mergesort")
        for q in range(k):
            key[q] = float(idx[order[q]])
        for q in range(k):
            idx[q] = np.int64(key[q])
    return k


@nb.njit(nogil=True, cache=True)
def apply_splits(codes, nid, split_of_node, scol, scode, snal, scat, catleft, sleft, sright):
    """Move each row of a split node to its child.

    IN codes uint16[p, n]; split_of_node int32[nnodes] (-1: not split now); per split s: scol int64
    (feature row), scode int64 (numeric: left when code < scode), snal uint8, scat uint8,
    catleft uint8[nsplit, F] (left by code), sleft, sright int32 (child node ids). INOUT nid int32[n].
    """
    nn = split_of_node.shape[0]
    for i in range(nid.shape[0]):
        nd = nid[i]
        if nd < 0 or nd >= nn:
            continue
        s = split_of_node[nd]
        if s < 0:
            continue
        c = codes[scol[s], i]
        if c == NA_CODE:
            go = snal[s] == 1
        elif scat[s] == 1:
            go = catleft[s, c] == 1 if c < catleft.shape[1] else snal[s] == 1
        else:
            go = c < scode[s]
        nid[i] = sleft[s] if go else sright[s]


@nb.njit(nogil=True, cache=True)
def add_leaf_values(value, nid, f):
    """INOUT f float64[n] += value[nid[i]] (a tree's leaf values into the rows' predictions)."""
    for i in range(f.shape[0]):
        f[i] += value[nid[i]]


@nb.njit(nogil=True, cache=True)
def add_leaf_values_oob(value, nid, f, active, w, oob_sum):
    """:func:`add_leaf_values`, and the value also into ``oob_sum`` for the rows the tree did not
    see (``active == 0``) that have a positive weight (DRF's out-of-bag votes)."""
    for i in range(f.shape[0]):
        v = value[nid[i]]
        f[i] += v
        if active[i] == 0 and w[i] > 0:
            oob_sum[i] += v


@nb.njit(nogil=True, cache=True)
def route_codes(codes, col, code, nal, catp, catbits, left, right, root):
    """The node index of ``root``'s subtree that each row reaches, walking on codes.

    IN codes uint16[p, n]; a code-space tree (``col`` is the feature row, ``code`` the numeric
    split code, ``catp`` the offset of the node's bitset over codes in ``catbits``). Returns int32[n].
    """
    n = codes.shape[1]
    out = np.empty(n, np.int32)
    for i in range(n):
        out[i] = _walk_codes(codes, i, root, col, code, nal, catp, catbits, left, right)
    return out


@nb.njit(nogil=True, cache=True, inline="always")
def _walk_codes(codes, i, nd, col, code, nal, catp, catbits, left, right):
    """The node row ``i`` reaches from node ``nd`` of a code-space tree (:func:`route_codes`)."""
    while col[nd] >= 0:
        c = codes[col[nd], i]
        if c == NA_CODE:
            go = nal[nd] == 1
        elif catp[nd] >= 0:
            go = catbits[catp[nd] + c] == 1
        else:
            go = c < code[nd]
        nd = left[nd] if go else right[nd]
    return nd


@nb.njit(nogil=True, cache=True)
def _walk(X, i, nd, col, thr, nal, catp, catlen, catbits, left, right):
    while col[nd] >= 0:
        v = X[i, col[nd]]
        if math.isnan(v):
            go = nal[nd] == 1
        elif catp[nd] >= 0:
            lv = int(v)
            if lv < 0 or lv >= catlen[nd]:
                go = nal[nd] == 1
            else:
                go = catbits[catp[nd] + lv] == 1
        else:
            go = v < thr[nd]
        nd = left[nd] if go else right[nd]
    return nd


@nb.njit(nogil=True, cache=True)
def predict_trees(X, tree_off, tree_class, col, thr, nal, catp, catlen, catbits, left, right, value, out):
    """Sum of the trees' leaf values per class.

    IN X float64[n, p] raw predictors (categoricals as training level index, NaN missing);
    tree_off int64[T+1] (root of tree t = tree_off[t]); tree_class int64[T]; node arrays.
    INOUT out float64[n, K] (added to).
    """
    T = tree_class.shape[0]
    for i in range(X.shape[0]):
        for t in range(T):
            nd = _walk(X, i, tree_off[t], col, thr, nal, catp, catlen, catbits, left, right)
            out[i, tree_class[t]] += value[nd]


@nb.njit(nogil=True, cache=True)
def leaf_assignment(X, tree_off, col, thr, nal, catp, catlen, catbits, left, right, out):
    """OUT out int32[n, T]: the leaf each row reaches in each tree (index within the tree)."""
    T = tree_off.shape[0] - 1
    for i in range(X.shape[0]):
        for t in range(T):
            nd = _walk(X, i, tree_off[t], col, thr, nal, catp, catlen, catbits, left, right)
            out[i, t] = nd - tree_off[t]


# ------------------------------------------------------------------------------------------- TreeSHAP
@nb.njit(nogil=True, cache=True)
def nonzero_rows(hist, max_rows):
    """The rows of ``hist`` int64[L, 3] with a non-zero entry: (idx int64[q], val int64[q, 3]), or
    empty arrays with q = -1 signalled by ``idx.shape[0] == 0 and val.shape[0] == 1`` when more than
    ``max_rows`` rows are used (the caller then keeps the dense array)."""
    L = hist.shape[0]
    q = 0
    for r in range(L):
        if hist[r, 0] != 0 or hist[r, 1] != 0 or hist[r, 2] != 0:
            q += 1
            if q > max_rows:
                return np.empty(0, np.int64), np.zeros((1, 3), np.int64)
    idx = np.empty(q, np.int64)
    val = np.empty((q, 3), np.int64)
    q = 0
    for r in range(L):
        if hist[r, 0] != 0 or hist[r, 1] != 0 or hist[r, 2] != 0:
            idx[q] = r
            val[q, 0] = hist[r, 0]
            val[q, 1] = hist[r, 1]
            val[q, 2] = hist[r, 2]
            q += 1
    return idx, val


@nb.njit(nogil=True, cache=True)
def scatter_rows(out, idx, val):
    """INOUT out int64[L, 3]: ``out[idx[i]] += val[i]`` (IN idx int64[q], val int64[q, 3]; repeats add up)."""
    for i in range(idx.shape[0]):
        r = idx[i]
        out[r, 0] += val[i, 0]
        out[r, 1] += val[i, 1]
        out[r, 2] += val[i, 2]


@nb.njit(nogil=True, cache=True)
def scatter_add(out, rows, cols, values):
    """INOUT out int64[L, B]: ``out[rows[i], cols[i]] += values[i]`` (IN int64 arrays of one length)."""
    for i in range(rows.shape[0]):
        out[rows[i], cols[i]] += values[i]
