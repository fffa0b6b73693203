"""Cross-validation folds, computed inside every map instead of stored as a column.

A fold assignment is a small dict (``folds`` task parameter): ``{"kind": "Random" | "Modulo" |
"Stratified" | "Column", "nfolds", "seed", "col", "domain_map"}``. Each map derives its rows'
folds from the chunk index, the chunk's first row and (for stratified folds) the response, so no
fold column is materialized and a model trained "on every fold but k" is just a weight mask.

- Random: each chunk draws from its own stream ``numpy PCG64(SeedSequence([seed, chunk_idx]))``,
  so a seeded assignment does not depend on thread timing or node count.
- Modulo: fold = global row index mod nfolds (independent of the chunking).
- Stratified: within each chunk, the rows of each class are shuffled by the chunk's stream and
  dealt round-robin from a random start, so every class is spread evenly over the folds.
- Column: the fold column's values (integers 0..k-1, or enum levels in sorted order).
"""
from __future__ import annotations

import numpy as np

from ...store import codecs

__all__ = ["fold_ids", "fold_spec", "fold_weights"]


def fold_spec(params: dict, header, seed: int) -> dict | None:
    """The fold assignment for ``params`` (None when there is no cross-validation)."""
    if params.get("fold_column"):
        col = header.column(params["fold_column"])
        if col.type.value == "enum":
            nfolds = len(col.domain or ())
        else:
            nfolds = None  # found by the caller from the column's max
        return {"kind": "Column", "col": header.col_index(params["fold_column"]), "col_type": col.type.value,
                "nfolds": nfolds, "seed": int(seed)}
    nfolds = int(params.get("nfolds") or 0)
    if nfolds < 2:
        return None
    kind = params.get("fold_assignment") or "AUTO"
    if kind == "AUTO":
        kind = "Random"
    return {"kind": kind, "nfolds": nfolds, "seed": int(seed)}


def fold_ids(folds: dict, chunk_idx: int, start_row: int, n: int, chunks: dict | None = None,
             y: np.ndarray | None = None) -> np.ndarray:
    """int64[n] fold of each row of one chunk (-1 where a fold column is missing)."""
    kind = folds["kind"]
    k = int(folds["nfolds"])
    if kind == "Modulo":
        return (np.arange(start_row, start_row + n, dtype=np.int64) % k)
    if kind == "Column":
        ch = chunks[folds["col"]]
        if folds.get("col_type") == "enum":
            return codecs.decode_codes(ch).astype(np.int64)
        v = codecs.decode_float64(ch)
        return np.where(np.isnan(v), -1, np.nan_to_num(v, nan=-1.0)).astype(np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(folds["seed"]) & (2 ** 63 - 1),
                                                                      int(chunk_idx)])))
    if kind == "Stratified" and y is not None:
        out = np.empty(n, np.int64)
        cls = np.where(np.isnan(y), -1, y).astype(np.int64)
        for c in np.unique(cls):
            rows = np.nonzero(cls == c)[0]
            perm = rng.permutation(rows.size)
            startf = int(rng.integers(0, k))
            out[rows[perm]] = (np.arange(rows.size) + startf) % k
        return out
    return rng.integers(0, k, size=n, dtype=np.int64)


def fold_weights(folds: dict | None, fold_mode: str | None, fold: int, chunk_idx: int, start_row: int, n: int,
                 chunks: dict, y: np.ndarray | None) -> np.ndarray | None:
    """A 0/1 row mask: ``fold_mode`` "train" keeps rows not in ``fold``, "holdout" only rows in it."""
    if folds is None or fold_mode is None:
        return None
    f = fold_ids(folds, chunk_idx, start_row, n, chunks, y)
    if fold_mode == "train":
        return ((f != fold) & (f >= 0)).astype(np.float64)
    return (f == fold).astype(np.float64)
