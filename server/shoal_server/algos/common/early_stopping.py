"""Early stopping on a moving average of scoring events, as H2O-3's ``ScoreKeeper.stopEarly``.

With ``k = stopping_rounds``, the history needs at least ``2k`` events. The moving averages of
length ``k`` are computed; the reference is the best average *before* the last ``k`` averages,
and training stops unless the best of the last ``k`` averages improved on it by more than
``stopping_tolerance`` (relatively).
"""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["stop_early", "MORE_IS_BETTER"]

MORE_IS_BETTER = {"AUC": True, "AUCPR": True, "r2": True}


def stop_early(values: Sequence[float], k: int, tolerance: float, more_is_better: bool = False) -> bool:
    """True when the last ``k`` scoring events did not improve the moving average enough."""
    if k <= 0:
        return False
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(vals) < 2 * k:
        return False
    avg = [sum(vals[i:i + k]) / k for i in range(len(vals) - k + 1)]
    before, last = avg[:-k], avg[-k:]
    if not before:
        return False
    ref = max(before) if more_is_better else min(before)
    best = max(last) if more_is_better else min(last)
    if ref == 0:
        return best == 0 or (best < 0 if more_is_better else best > 0)
    if more_is_better:
        return not (best > ref * (1 + tolerance) if ref > 0 else best > ref * (1 - tolerance))
    return not (best < ref * (1 - tolerance) if ref > 0 else best < ref * (1 + tolerance))
