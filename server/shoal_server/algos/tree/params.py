"""Parameters shared by the tree algorithms (GBM, DRF), declared once as data."""
from __future__ import annotations

from ..common.params import COMMON_PARAMS, ParamSpec

__all__ = ["TREE_PARAMS", "HISTOGRAM_TYPES"]

HISTOGRAM_TYPES = ("AUTO", "UniformAdaptive", "QuantilesGlobal", "Random")

TREE_PARAMS: tuple[ParamSpec, ...] = COMMON_PARAMS + (
    ParamSpec("ntrees", "int", "Number of trees (boosting iterations for GBM).", default=50, min=0, max=100000,
              gridable=True),
    ParamSpec("max_depth", "int", "Maximum tree depth (0: a single leaf).", default=5, min=0, max=100, gridable=True),
    ParamSpec("min_rows", "float", "Fewest (weighted) training rows in a leaf.", default=10.0, min=0.0,
              gridable=True),
    ParamSpec("min_split_improvement", "float", "Smallest objective reduction (split gain) a split must achieve.",
              default=1e-5, min=0.0, level="advanced", gridable=True),
    ParamSpec("nbins", "int", "Bins of the numeric histograms at the deepest levels (UniformAdaptive) or overall "
              "(QuantilesGlobal).", default=20, min=2, max=65000, level="advanced", gridable=True),
    ParamSpec("nbins_top_level", "int", "Bins of the numeric histograms at the root; halved at each level down to "
              "nbins (UniformAdaptive, Random).", default=1024, min=2, max=65000, level="advanced", gridable=True),
    ParamSpec("nbins_cats", "int", "Most bins of a categorical column (more levels are grouped).", default=1024,
              min=2, max=65000, level="advanced", gridable=True),
    ParamSpec("histogram_type", "string", "How numeric columns are binned.", default="AUTO", values=HISTOGRAM_TYPES,
              level="advanced", gridable=True),
    ParamSpec("sample_rate", "float", "Row sample rate per tree (without replacement).", default=1.0, min=0.0,
              max=1.0, gridable=True),
    ParamSpec("col_sample_rate_per_tree", "float", "Column sample rate per tree.", default=1.0, min=0.0, max=1.0,
              level="advanced", gridable=True),
    ParamSpec("score_tree_interval", "int", "Score the model every this many trees (0: H2O's default schedule).",
              default=0, min=0, level="advanced"),
    ParamSpec("checkpoint", "string", "Key of a model of the same algorithm to continue training from.",
              level="advanced"),
)
