"""Histogram partials of ``tree.hist``: dense or sparse (non-empty rows only), merged exactly."""
from __future__ import annotations

import itertools

import numpy as np

from shoal_server.algos.tree import engine as E


def _partial(rng, total, used):
    h = np.zeros((total, 3), np.int64)
    rows = rng.choice(total, size=used, replace=False)
    h[rows] = rng.integers(-2**50, 2**50, size=(used, 3))
    h[rows[:3], 0] = 0          # a row with only hessian / weight still counts as used
    return h


def test_sparse_and_dense_partials_merge_to_the_numpy_sum_in_any_order():
    rng = np.random.default_rng(3)
    total = 20000
    parts = [_partial(rng, total, u) for u in (50, 300, 4999, 12000, 0, 2)]
    expect = np.sum(parts, axis=0)
    packed = [E._pack_hist(h.copy()) for h in parts]
    # the small partials travel sparse, the dense-ish one (12 000 of 20 000 rows) dense
    assert ["hist" in p for p in packed] == [False, False, False, True, False, False]
    assert packed[0]["idx"].shape == (50,) and packed[4]["idx"].shape == (0,)
    for perm in itertools.islice(itertools.permutations(range(len(parts))), 0, 720, 37):
        acc = E._pack_hist(parts[perm[0]].copy())
        for i in perm[1:]:
            acc = E._merge_hist(acc, E._pack_hist(parts[i].copy()))
        np.testing.assert_array_equal(E._dense_hist(acc), expect)
    # read-only dense partials (as decoded from another node) are not written to
    ro = parts[3].copy()
    ro.flags.writeable = False
    out = E._merge_hist({"hist": ro}, E._pack_hist(parts[0].copy()))
    np.testing.assert_array_equal(E._dense_hist(out), parts[3] + parts[0])
    np.testing.assert_array_equal(ro, parts[3])
    # small histograms always travel dense
    assert "hist" in E._pack_hist(np.zeros((100, 3), np.int64))
