"""The munging engine: frame operations as a JSON expression tree over a closed set of primitives.

``evaluate(node, expr, dest_key=None, job=None)`` validates an expression (``expr.py``), plans it
(``evaluate.py``: lazy, fused elementwise plans) and runs it where the chunks live through the
runtime (``chunkeval.py`` per chunk, ``frames.py`` for all-or-nothing results). One module per
family: ``reduce`` (reducers, scans, unique, table), ``group_by``, ``reorg`` (quantile, sort, merge,
split, folds, duplicates, fill, impute). Importing the package registers its tasks. See
``docs/munging.md`` for the grammar.
"""
from .evaluate import evaluate, frame_summary
from .expr import OPS, parse
from .kernels import warm_up

__all__ = ["evaluate", "parse", "OPS", "frame_summary", "warm_up"]
