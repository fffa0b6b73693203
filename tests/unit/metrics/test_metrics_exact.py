"""Exact sums: equal to the exactly rounded rational sum, whatever the order or the split."""
import math
from fractions import Fraction

import numpy as np

from shoal_server.metrics import exact


def _rational_sum(x):
    return float(sum((Fraction(float(v)) for v in x), Fraction(0)))


def test_sum_is_the_correctly_rounded_exact_sum_over_the_whole_range():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(3000) * 10.0 ** rng.integers(-300, 300, 3000)
    x = np.concatenate([x, [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                            -1.7976931348623157e308, -0.0, 1e-310, 1.0, 1e-16, -1.0]])
    assert exact.to_floats(exact.exact_sums(x))[0] == _rational_sum(x)


def test_cancellation_is_exact_where_naive_summation_fails():
    x = np.array([1e20, 1.0, -1e20, 1e-30] * 5)
    assert float(np.sum(x)) != 5.0 + 5e-30  # the naive sum loses the small terms
    assert exact.to_floats(exact.exact_sums(x))[0] == 5.0 + 5e-30


def test_split_and_merge_in_any_order_gives_the_same_bits():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5000) * 10.0 ** rng.integers(-20, 20, 5000)
    whole = exact.to_floats(exact.exact_sums(x))[0]
    for size in (1, 7, 333):
        parts = [exact.exact_sums(x[i:i + size]) for i in range(0, x.size, size)]
        acc = parts[-1]
        for p in reversed(parts[:-1]):  # another order and association
            acc = exact.merge(p, acc)
        assert exact.to_floats(acc)[0] == whole


def test_several_accumulators_and_bincount():
    rng = np.random.default_rng(2)
    v = rng.random(1000)
    idx = rng.integers(0, 4, 1000)
    got = exact.to_floats(exact.exact_bincount(v, idx, 5))
    want = [_rational_sum(v[idx == j]) for j in range(5)]
    assert list(got) == want
    rows = exact.to_floats(exact.exact_sums(np.vstack([v, -v, v * 1e-5])))
    assert list(rows) == [_rational_sum(v), -_rational_sum(v), _rational_sum(v * 1e-5)]


def test_nan_and_infinities_are_counted_apart():
    sums = exact.to_floats(exact.exact_sums(np.array([[1.0, np.inf], [np.nan, 2.0], [np.inf, -np.inf]])
                                            .reshape(3, 2)))
    assert sums[0] == math.inf and math.isnan(sums[1]) and math.isnan(sums[2])


def test_partial_keeps_only_the_used_limbs():
    p = exact.exact_sums(np.random.default_rng(3).random(100))
    assert p["limbs"].shape[1] <= 4
    assert exact.exact_sums(np.zeros(10))["limbs"].shape[1] == 0
