"""DRF (random forest) parameters (H2O-3's names and defaults)."""
from __future__ import annotations

import dataclasses

from ..common.params import ParamSpec
from ..tree.params import TREE_PARAMS

__all__ = ["DRF_PARAMS"]

_DEFAULTS = {"max_depth": 20, "min_rows": 1.0, "sample_rate": 0.632}

DRF_PARAMS: tuple[ParamSpec, ...] = tuple(
    dataclasses.replace(p, default=_DEFAULTS[p.name]) if p.name in _DEFAULTS else p for p in TREE_PARAMS
) + (
    ParamSpec("mtries", "int", "Columns tried at each split (-1: sqrt(p) for classification, p/3 for regression; "
              "-2: all).", default=-1, min=-2, gridable=True),
    ParamSpec("binomial_double_trees", "bool", "Grow one tree per class for two classes (instead of one).",
              default=False, level="advanced"),
)
