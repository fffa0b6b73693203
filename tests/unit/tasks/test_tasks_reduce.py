"""The fixed reduction tree: shape, order, and independence from how partials were grouped."""
import numpy as np
import pytest

from shoal_server.tasks.reduce import split_point, tree_reduce


def test_tree_shape_for_five_items_is_balanced_on_powers_of_two():
    # [0,5) splits at 4 (largest power of two below 5), [0,4) at 2, [0,2) at 1.
    expr = tree_reduce(list("abcde"), lambda a, b: f"({a}{b})")
    assert expr == "(((ab)(cd))e)"


@pytest.mark.parametrize("lo,hi,mid", [(0, 2, 1), (0, 3, 2), (0, 4, 2), (0, 5, 4), (8, 16, 12), (8, 11, 10)])
def test_split_point_hand_computed(lo, hi, mid):
    assert split_point(lo, hi) == mid


def test_aligned_blocks_are_subtrees():
    # Pre-reducing every aligned block of 4 then reducing the block results gives the same bits
    # as reducing all items: what lets a node reduce a whole block locally.
    rng = np.random.default_rng(7)
    vals = list(rng.standard_normal(23) * 10.0 ** rng.integers(-8, 8, 23))
    full = tree_reduce(vals, lambda a, b: a + b)
    blocks = [tree_reduce(vals[i:i + 4], lambda a, b: a + b) for i in range(0, 23, 4)]
    assert tree_reduce(blocks, lambda a, b: a + b) == full


def test_lower_range_is_always_first_argument():
    seen = []

    def red(a, b):
        seen.append((a[0], b[0]))
        return (min(a[0], b[0]), max(a[1], b[1]))

    tree_reduce([(i, i) for i in range(9)], red)
    assert all(a < b for a, b in seen)


def test_empty_is_refused():
    with pytest.raises(ValueError):
        tree_reduce([], lambda a, b: a)
