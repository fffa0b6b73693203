"""The radix row order of ``sort`` equals numpy's stable sorts (lexsort) exactly."""
import numpy as np
import pytest

from shoal_server.munging.radix import radix_order

_SPECIAL = np.array([np.nan, -0.0, 0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, 3.0, -1e300, 5e-324, -5e-324])


def _numpy_order(keys, ascending):
    cols = [k if a else -k for k, a in zip(keys, ascending)]
    return np.lexsort(cols[::-1])


@pytest.mark.parametrize("seed", range(40))
def test_radix_order_equals_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    keys = []
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(0, 3)
        if kind == 0:
            k = rng.choice(_SPECIAL, n)
        elif kind == 1:
            k = rng.normal(size=n).round(1)
        else:
            k = rng.integers(-5, 100_000, n).astype(np.float64)
            k[rng.random(n) < 0.05] = np.nan
        keys.append(k)
    asc = [bool(rng.integers(0, 2)) for _ in keys]
    assert np.array_equal(radix_order(keys, asc), _numpy_order(keys, asc))


def test_missing_last_in_both_directions_and_ties_stable():
    k = np.array([2.0, np.nan, -0.0, 0.0, np.nan, 2.0, -3.0])
    assert radix_order([k], [True]).tolist() == [6, 2, 3, 0, 5, 1, 4]
    assert radix_order([k], [False]).tolist() == [0, 5, 2, 3, 6, 1, 4]
    assert radix_order([np.zeros(0)], [True]).tolist() == []


def test_two_block_passes_give_the_same_order(monkeypatch):
    """Large inputs run each pass as two row blocks on two threads: still the stable order."""
    import shoal_server.munging.radix as R
    monkeypatch.setattr(R, "_PARALLEL_MIN_ROWS", 10)
    rng = np.random.default_rng(7)
    for n in (10, 11, 501, 4000):
        keys = [rng.integers(0, 7, n).astype(np.float64), rng.choice(_SPECIAL, n), rng.normal(size=n).round(2)]
        asc = [True, False, True]
        assert np.array_equal(R.radix_order(keys, asc), _numpy_order(keys, asc))
