"""Tree models as data: flat node arrays, scoring, leaf assignment, TreeSHAP, variable importance.

A tree model's ``arrays`` hold every tree as one struct of arrays (absolute node indices):
``tree_off`` int64[T+1] (tree ``t`` is nodes ``tree_off[t]..tree_off[t+1]-1``, its root first),
``tree_class`` int64[T], and per node ``col`` (predictor index, -1 at a leaf), ``thr`` (numeric:
left when ``x < thr``), ``nal`` (missing goes left), ``catp`` / ``catlen`` (categorical split: the
bitset of training levels sent left is ``catbits[catp : catp + catlen]``; a level outside the
training domain follows the missing values), ``left``, ``right``, ``value`` (leaf value, learning
rate applied), ``cover`` (training weight reaching the node) and ``gain`` (split gain).
Predictors are ordered as the design spec: categoricals first, then numerics. The training binning
travels too (``bin_edges`` / ``bin_edges_off``, ``bin_levels`` / ``bin_levels_off``: per predictor
its interior edges or level -> code map), so a checkpoint continues on the same grid.

Scoring through the framework (``common.scoring``): the model's design spec keeps categoricals as
all-level indicators with no imputation (``mode = -1``: a missing or unseen level is an all-zero
block) and numerics unscaled, imputed with the sentinel ``MISSING_SENTINEL`` (the largest float64,
read back as missing), so the generic expansion loses nothing a tree needs. Trees register a split
scorer (``score_split``): the predict task and the contributions / leaf maps read ``expand_split``'s
level indices and numerics, and never build the dense indicator rows (37 kB a row, 4.6 GB a chunk,
on the airline data with its 4 000-level ``TailNum``).
"""
from __future__ import annotations


import numpy as np

from ...store import codecs
from ...store.frame import ColumnHeader, FrameHeader
from ...tasks import MRTask, register_task
from ..common.design import DesignSpec, bind, expand_split
from ..common.frames import discard, publish, staging_key
from ..common.scoring import register_split_scorer
from . import kernels as K_
from . import shap
from .engine import ColumnBins, TreeBuffer, drf_output
from .losses import link_inverse

__all__ = ["MISSING_SENTINEL", "trees_to_arrays", "code_space", "tree_payload", "score_expanded", "raw_from_expanded",
           "varimp", "make_spec", "predict_contributions", "predict_leaf_node_assignment", "contributions_array",
           "raw_scores", "raw_from_split", "score_split"]

MISSING_SENTINEL = float(np.finfo(np.float64).max)

_NODE_KEYS = ("col", "thr", "nal", "catp", "catlen", "left", "right", "value", "cover", "gain")


def make_spec(y: str, response_type: str, domain, bins: list[ColumnBins], cat_domains: dict,
              weights_column, offset_column, nobs: int, weight_sum: float) -> DesignSpec:
    cats, nums = [], []
    for b in bins:
        if b.kind == "cat":
            cats.append({"name": b.name, "domain": list(cat_domains[b.name]), "use_all": True, "mode": -1})
        else:
            nums.append({"name": b.name, "mean": MISSING_SENTINEL, "sd": 0.0, "scale_sub": 0.0, "scale_mul": 1.0})
    return DesignSpec(response=y, response_type=response_type, response_domain=domain, cats=cats, nums=nums,
                      standardize=False, missing_values_handling="MeanImputation", weights_column=weights_column,
                      offset_column=offset_column, nobs=int(nobs), weight_sum=float(weight_sum))


def empty_arrays() -> dict:
    out = {"tree_off": np.zeros(1, np.int64), "tree_class": np.zeros(0, np.int64), "catbits": np.zeros(0, np.uint8)}
    for k in _NODE_KEYS:
        out[k] = np.zeros(0, np.float64 if k in ("thr", "value", "cover", "gain") else np.int64)
    out["nal"] = out["nal"].astype(np.uint8)
    return out


def trees_to_arrays(trees: list[TreeBuffer], bins: list[ColumnBins], arrays: dict | None = None) -> dict:
    """Append grown trees (code space) to raw-space model arrays."""
    a = empty_arrays() if arrays is None else {k: np.asarray(v) for k, v in arrays.items() if not k.startswith("bin_")}
    parts = {k: [a[k]] for k in _NODE_KEYS}
    catbits = [a["catbits"]]
    ncat = int(a["catbits"].shape[0])
    base = int(a["tree_off"][-1])
    offs = list(a["tree_off"])
    classes = list(a["tree_class"])
    for t in trees:
        n = t.size
        col = np.asarray(t.col, np.int64)
        code = np.asarray(t.code, np.int64)
        thr = np.zeros(n)
        catp = np.full(n, -1, np.int64)
        catlen = np.zeros(n, np.int64)
        for j in np.unique(col[col >= 0]).tolist():
            if bins[j].kind != "cat":
                idx = np.flatnonzero(col == j)
                thr[idx] = np.asarray(bins[j].edges, np.float64)[code[idx] - 1]
        catcols = [j for j, b in enumerate(bins) if b.kind == "cat"]
        for i in np.flatnonzero(np.isin(col, catcols)).tolist():   # the bitsets in node order
            b = bins[int(col[i])]
            bits = np.asarray(t.catbins[i], np.uint8)[np.asarray(b.level_bin, np.int64)]
            catp[i] = ncat
            catlen[i] = b.card
            catbits.append(bits.astype(np.uint8))
            ncat += b.card
        left = np.asarray(t.left, np.int64)
        right = np.asarray(t.right, np.int64)
        parts["col"].append(col)
        parts["thr"].append(thr)
        parts["nal"].append(np.asarray(t.nal, np.uint8))
        parts["catp"].append(catp)
        parts["catlen"].append(catlen)
        parts["left"].append(np.where(left >= 0, left + base, -1))
        parts["right"].append(np.where(right >= 0, right + base, -1))
        parts["value"].append(np.asarray(t.value, np.float64))
        parts["cover"].append(np.asarray(t.cover, np.float64))
        parts["gain"].append(np.asarray(t.gain, np.float64))
        base += n
        offs.append(base)
        classes.append(t.k)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["nal"] = out["nal"].astype(np.uint8)
    out["catbits"] = np.concatenate(catbits).astype(np.uint8)
    out["tree_off"] = np.asarray(offs, np.int64)
    out["tree_class"] = np.asarray(classes, np.int64)
    return out


def code_space(trees: list[TreeBuffer]) -> dict:
    """The grown trees in code space (to route binned rows, e.g. of a validation frame)."""
    roots, classes, catbits = [], [], []
    cols, codes, nals, catps, lefts, rights, values = [], [], [], [], [], [], []
    base = 0
    nbits = 0
    for t in trees:
        roots.append(base)
        classes.append(t.k)
        catp = np.full(t.size, -1, np.int64)
        for i, cb in enumerate(t.catbins):
            if cb is not None:
                catp[i] = nbits
                catbits.append(np.asarray(cb, np.uint8))
                nbits += len(cb)
        cols.append(t.col)
        codes.append(t.code)
        nals.append(t.nal)
        catps.append(catp)
        lefts.append(np.where(t.left >= 0, t.left + base, -1))
        rights.append(np.where(t.right >= 0, t.right + base, -1))
        values.append(t.value)
        base += t.size

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return {"col": cat(cols, np.int64), "code": cat(codes, np.int64), "nal": cat(nals, np.uint8),
            "catp": cat(catps, np.int64), "catbits": cat(catbits, np.uint8), "left": cat(lefts, np.int32),
            "right": cat(rights, np.int32), "value": cat(values, np.float64), "roots": roots, "classes": classes}


def tree_payload(model) -> dict:
    """What a map needs to score: arrays, initial prediction, kind of output."""
    o = model.output
    pl = {k: model.arrays[k] for k in ("tree_off", "tree_class", "catbits", *_NODE_KEYS)}
    pl.update(init_f=list(o["init_f"]), K=int(o["ntrees_per_iteration"]), drf=model.algo == "drf",
              ntrees=int(o["ntrees"]), category=model.category, dist=o["dist"],
              widths=[len(c["domain"]) for c in model.spec["cats"]], nnum=len(model.spec["nums"]))
    return pl


def raw_from_expanded(payload: dict, X: np.ndarray) -> np.ndarray:
    """Undo the framework's expansion: categorical blocks -> level index, sentinel -> NaN."""
    n = X.shape[0]
    widths = payload["widths"]
    p = len(widths) + int(payload["nnum"])
    R = np.empty((n, p))
    j = 0
    for c, wd in enumerate(widths):
        blk = X[:, j:j + wd]
        hit = blk.max(axis=1) > 0.5 if wd else np.zeros(n, bool)
        R[:, c] = np.where(hit, np.argmax(blk, axis=1) if wd else 0, np.nan)
        j += wd
    num = X[:, j:]
    R[:, len(widths):] = np.where(num == MISSING_SENTINEL, np.nan, num)
    return R


def raw_from_split(payload: dict, C: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Raw rows from ``design.expand_split``'s parts (categoricals never expanded into indicators).

    ``C[:, k]`` is the expanded column of categorical ``k``'s level (-1: missing or unseen), ``D`` the
    numerics (``MISSING_SENTINEL`` where missing): the same rows as :func:`raw_from_expanded`.
    """
    widths = payload["widths"]
    n = C.shape[0]
    R = np.empty((n, len(widths) + D.shape[1]))
    j = 0
    for c, wd in enumerate(widths):
        R[:, c] = np.where(C[:, c] >= 0, C[:, c] - j, np.nan)
        j += wd
    R[:, len(widths):] = np.where(D == MISSING_SENTINEL, np.nan, D)
    return R


def raw_scores(payload: dict, R: np.ndarray) -> np.ndarray:
    """Raw scores (n, K): the initial prediction plus the trees (no offset; DRF: the tree average)."""
    n = R.shape[0]
    K = int(payload["K"])
    out = np.zeros((n, K))
    from .engine import predict_payload
    predict_payload(payload, R, out)
    if payload["drf"]:
        return out / max(int(payload["ntrees"]), 1)
    return np.asarray(payload["init_f"], np.float64)[None, :] + out


def score_expanded(payload: dict, X: np.ndarray, off: np.ndarray) -> np.ndarray:
    """The framework's row scorer: predictions (n, k) from expanded design rows."""
    return _score_raw(payload, raw_from_expanded(payload, X), off)


def score_split(payload: dict, C: np.ndarray, D: np.ndarray, d0: int, off: np.ndarray) -> np.ndarray:
    """The same predictions from ``expand_split``'s parts: the framework never builds the dense
    indicator rows (8 bytes per level of every categorical per row: 37 kB a row for the airline
    data's 4 000 + 2 x 300 + 20 levels)."""
    return _score_raw(payload, raw_from_split(payload, C, D), off)


def _score_raw(payload: dict, R: np.ndarray, off: np.ndarray) -> np.ndarray:
    raw = raw_scores(payload, R)
    if payload["drf"]:
        return drf_output(raw, payload["category"])
    return link_inverse(payload["dist"], raw + off[:, None], payload["category"])


def varimp(arrays: dict, names: list[str]) -> np.ndarray:
    """Split-gain importance per predictor (sum of the gains of its splits)."""
    imp = np.zeros(len(names))
    col = np.asarray(arrays["col"], np.int64)
    gain = np.asarray(arrays["gain"], np.float64)
    m = col >= 0
    np.add.at(imp, col[m], gain[m])
    return imp


def tree_depths(arrays: dict) -> list[int]:
    """The depth of each tree (0 for a single leaf)."""
    offs = np.asarray(arrays["tree_off"], np.int64)
    left, right = np.asarray(arrays["left"], np.int64), np.asarray(arrays["right"], np.int64)
    if offs.size < 2:
        return []
    depth = np.zeros(left.shape[0], np.int64)
    frontier = offs[:-1]
    d = 0
    while frontier.size:   # one level of every tree at a time (children are absolute node indices)
        depth[frontier] = d
        inner = frontier[left[frontier] >= 0]
        frontier = np.concatenate([left[inner], right[inner]])
        d += 1
    return [int(x) for x in np.maximum.reduceat(depth, offs[:-1])]


def contributions_array(payload: dict, R: np.ndarray) -> np.ndarray:
    """TreeSHAP contributions (n, K, p + 1) of raw rows ``R`` (:mod:`.shap`); the last entry is the bias term.

    For each row and class the entries sum to the raw score (:func:`raw_scores`).
    """
    n, p = R.shape
    K = int(payload["K"])
    out = np.zeros((n, K, p + 1))
    shap.contributions(payload, R, out)
    if payload["drf"]:
        out /= max(int(payload["ntrees"]), 1)
    else:
        out[:, :, p] += np.asarray(payload["init_f"], np.float64)[None, :]
    return out


# ============================================================================================ frames
def _predictor_names(model) -> list[str]:
    return [c["name"] for c in model.spec["cats"]] + [n["name"] for n in model.spec["nums"]]


@register_task
class TreeRowsTask(MRTask):
    """Write per-row tree outputs of one chunk (contributions or leaf assignment) under a staging key."""

    name = "tree.rows"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        pl = params["payload"]
        C, D, _complete = expand_split(params["spec"], params["binding"], chunks)
        R = raw_from_split(pl, C, D)
        del C, D
        n = R.shape[0]
        items = []
        if params["what"] == "contributions":
            C = contributions_array(pl, R)
            for k in range(C.shape[1]):
                for j in range(C.shape[2]):
                    items.append(codecs.encode("real", np.ascontiguousarray(C[:, k, j]), None))
        else:
            offs = np.asarray(pl["tree_off"], np.int64)
            out = np.zeros((n, offs.shape[0] - 1), np.int32)
            K_.leaf_assignment(np.ascontiguousarray(R), offs, np.asarray(pl["col"], np.int64),
                               np.asarray(pl["thr"], np.float64), np.asarray(pl["nal"], np.uint8),
                               np.asarray(pl["catp"], np.int64), np.asarray(pl["catlen"], np.int64),
                               np.asarray(pl["catbits"], np.uint8), np.asarray(pl["left"], np.int64),
                               np.asarray(pl["right"], np.int64), out)
            paths = params.get("path_codes")
            for t in range(out.shape[1]):
                if paths is None:
                    items.append(codecs.encode("int", out[:, t].astype(np.int64), None))
                else:
                    items.append(codecs.encode("enum", np.asarray(paths[t], np.int32)[out[:, t]], None))
        ctx.node.chunks.put_many(params["staging"], [(c, chunk_idx, ch) for c, ch in enumerate(items)])
        return {"rows": n}

    def reduce(self, a, b):
        return {"rows": a["rows"] + b["rows"]}


def leaf_paths(arrays: dict) -> list[list[str]]:
    """Per tree, the path of every node from the root (``"L"``/``"R"`` per edge; the root is ``""``)."""
    offs, left, right = arrays["tree_off"], arrays["left"], arrays["right"]
    out = []
    for t in range(len(offs) - 1):
        base = int(offs[t])
        paths = [""] * (int(offs[t + 1]) - base)
        stack = [base]
        while stack:
            nd = stack.pop()
            if left[nd] >= 0:
                paths[int(left[nd]) - base] = paths[nd - base] + "L"
                paths[int(right[nd]) - base] = paths[nd - base] + "R"
                stack.extend((int(left[nd]), int(right[nd])))
        out.append(paths)
    return out


def _rows_frame(node, model, frame_key: str, dest_key: str, what: str, cols: list[ColumnHeader], job=None,
                path_codes=None):
    header = node.catalog.get(frame_key)
    spec = DesignSpec.from_dict(model.spec)
    binding = bind(spec, header)
    needed = [c["col"] for c in binding["cats"]] + list(binding["nums"]) or [0]
    pl = tree_payload(model)
    staging = staging_key(dest_key)
    params = {"spec": model.spec, "binding": binding, "payload": pl, "what": what, "staging": staging,
              "path_codes": path_codes}
    try:
        node.runtime.run(TreeRowsTask.name, frame_key, sorted(set(needed)), params, job=job)
        out = FrameHeader(dest_key, tuple(cols), header.starts, header.members)
        return publish(node, staging, out)
    except BaseException:
        discard(node, staging, header.members)
        raise


def predict_contributions(node, model, frame_key: str, dest_key: str | None = None, job=None) -> FrameHeader:
    """TreeSHAP contributions of every row as a frame: one column per predictor plus ``BiasTerm``.

    Multinomial models get one such group per class, named ``<column>.<class>``. Each row's
    group sums to the raw prediction of its class (log-odds, log, identity scale; without offset).
    """
    names = _predictor_names(model) + ["BiasTerm"]
    K = int(model.output["ntrees_per_iteration"])
    if K == 1:
        cols = [ColumnHeader(nm, "real") for nm in names]
    else:
        dom = model.output["domain"]
        cols = [ColumnHeader(f"{nm}.{dom[k]}", "real") for k in range(K) for nm in names]
    dest_key = dest_key or node.catalog.new_key(f"contributions_{model.key}")
    return _rows_frame(node, model, frame_key, dest_key, "contributions", cols, job)


def predict_leaf_node_assignment(node, model, frame_key: str, dest_key: str | None = None, job=None,
                                 type: str = "Path") -> FrameHeader:  # noqa: A002 - H2O-3's parameter name
    """The leaf each row reaches in each tree, one column per tree (``T<i>``, ``T<i>.C<k>`` per class).

    ``type="Path"`` (H2O-3's default): a categorical of the leaf's path from the root (``"LRL"``);
    ``type="Node_ID"``: the node's index within its tree (integers).
    """
    K = int(model.output["ntrees_per_iteration"])
    T = len(model.arrays["tree_class"])
    names = [f"T{t + 1}" for t in range(T)] if K == 1 else [f"T{t // K + 1}.C{t % K + 1}" for t in range(T)]
    dest_key = dest_key or node.catalog.new_key(f"leaf_assignment_{model.key}")
    if type == "Node_ID":
        cols = [ColumnHeader(nm, "int") for nm in names]
        return _rows_frame(node, model, frame_key, dest_key, "leaves", cols, job)
    if type != "Path":
        from ...errors import InvalidParameter
        raise InvalidParameter(f"Parameter `type` must be `Path` or `Node_ID`; got {type!r}.", {"parameter": "type"})
    paths = leaf_paths(model.arrays)
    cols, codes = [], []
    col = model.arrays["col"]
    offs = model.arrays["tree_off"]
    for t, nm in enumerate(names):
        leaves = [i for i in range(len(paths[t])) if col[int(offs[t]) + i] < 0]
        domain = sorted(paths[t][i] for i in leaves)
        index = {p: k for k, p in enumerate(domain)}
        code = np.full(len(paths[t]), -1, np.int32)
        for i in leaves:
            code[i] = index[paths[t][i]]
        cols.append(ColumnHeader(nm, "enum", tuple(domain)))
        codes.append(code)
    return _rows_frame(node, model, frame_key, dest_key, "leaves", cols, job, path_codes=codes)


# the framework's predict task scores trees from expand_split's parts (as glm.model registers its own)
for _algo in ("gbm", "drf"):
    register_split_scorer(_algo, score_split)
