"""Scoring a frame with a model: the generic predict task, prediction frames, and model metrics.

Each algorithm registers a *row scorer* ``fn(payload, X, off) -> float64[n, k]`` (regression: the
prediction; classification: the class probabilities) with :func:`register_scorer`. The
``algos.predict`` task expands each chunk's design rows (``design.expand``), calls the scorer and
writes the prediction columns (``predict`` + one probability column per class for classification,
named as H2O does: the level, prefixed with ``p`` when it starts with a digit) under a staging key;
the frame appears only when every chunk is written.

With a fold assignment and one payload per fold, each row is scored by the model of its fold
(the holdout predictions of cross-validation). With ``extras`` the task also writes the actual
response (class index or value) and the row weight, so the metric tasks of ``metrics`` can run on
the result; those temporary frames are deleted right after.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import InvalidParameter
from ...store import codecs
from ...store.frame import ColumnHeader, FrameHeader
from ...tasks import MRTask, register_task
from .cv import fold_ids
from .design import bind, bound_columns, expand, expand_split, response_values
from .frames import delete_frame, discard, publish, staging_key

__all__ = ["register_scorer", "prediction_columns", "score_frame", "model_metrics", "class_column_name",
           "payload_of", "score_chunk", "binomial_metrics_of"]

_SCORERS: dict[str, Callable] = {}
_PAYLOADS: dict[str, Callable] = {}
_SPLIT_SCORERS: dict[str, Callable] = {}


def register_scorer(algo: str, fn: Callable, payload: Callable) -> None:
    """Register ``fn(payload, X, off)`` and ``payload(model) -> dict`` for ``algo``."""
    _SCORERS[algo] = fn
    _PAYLOADS[algo] = payload


def register_split_scorer(algo: str, fn: Callable) -> None:
    """Optionally, ``fn(payload, C, D, d0, off)``: the row scorer on ``design.expand_split``'s parts
    (categoricals kept sparse), giving the same values as the row scorer on ``expand``'s rows. When
    an algorithm registers one, the predict task never builds the dense design rows."""
    _SPLIT_SCORERS[algo] = fn


def payload_of(model) -> dict:
    return _PAYLOADS[model.algo](model)


def class_column_name(level: str) -> str:
    level = str(level)
    return f"p{level}" if (level[:1].isdigit() or level[:1] in "-.") else level


def prediction_columns(model) -> list[ColumnHeader]:
    if model.category == "Regression":
        return [ColumnHeader("predict", "real")]
    domain = [str(d) for d in model.domain]
    names = ["predict"]
    cols = [ColumnHeader("predict", "enum", tuple(domain))]
    for lv in domain:
        nm = class_column_name(lv)
        while nm in names:
            nm = nm + "_"
        names.append(nm)
        cols.append(ColumnHeader(nm, "real"))
    return cols


def _decide(category: str, probs: np.ndarray, threshold: float) -> np.ndarray:
    """Class codes (int32, -1 where the row has no prediction)."""
    bad = np.isnan(probs).any(axis=1)
    if category == "Binomial":
        cls = (probs[:, 1] >= threshold).astype(np.int32)
    else:
        cls = np.argmax(np.where(np.isnan(probs), -np.inf, probs), axis=1).astype(np.int32)
    cls[bad] = -1
    return cls


def score_chunk(params: dict, chunk_idx: int, chunks: dict):
    """One chunk's predictions ``float64[n, width]`` (NaN rows without a prediction) and, with
    ``extras``, its actual response and row weight (else None, None)."""
    spec, binding = params["spec"], params["binding"]
    split = _SPLIT_SCORERS.get(params["algo"]) if spec.get("cats") else None
    if split is not None:
        C, D, complete = expand_split(spec, binding, chunks)
        n = C.shape[0]
        d0 = _ncoef(spec) - D.shape[1]

        def scorer(pl, rows, off):
            if rows is None:
                return split(pl, C, D, d0, off)
            return split(pl, np.ascontiguousarray(C[rows]), np.ascontiguousarray(D[rows]), d0, off)
    else:
        X, complete = expand(spec, binding, chunks)
        n = X.shape[0]
        dense = _SCORERS[params["algo"]]

        def scorer(pl, rows, off):
            return dense(pl, X if rows is None else np.ascontiguousarray(X[rows]), off)
    off = np.zeros(n)
    if binding.get("offset") is not None:
        off = codecs.decode_float64(chunks[binding["offset"]])
    payloads = params["payloads"]
    y = None
    if binding.get("y") is not None:
        y = response_values(chunks[binding["y"]], binding["y_type"], binding.get("y_map"))
    f = None
    if params.get("folds") is not None:
        f = fold_ids(params["folds"], chunk_idx, int(params["starts"][chunk_idx]), n, chunks, y)
        out = np.full((n, params["width"]), np.nan)
        for k, pl in enumerate(payloads):
            if pl is None:
                continue
            rows = np.nonzero(f == k)[0]
            if rows.size:
                out[rows] = scorer(pl, rows, np.ascontiguousarray(off[rows]))
    else:
        out = scorer(payloads[0], None, off)
    out = np.asarray(out, np.float64).reshape(n, -1)
    bad = np.isnan(off)
    if spec["missing_values_handling"] == "Skip":
        bad |= ~complete
    out[bad] = np.nan
    if not params.get("extras"):
        return out, None, None
    if y is None:
        y = np.full(n, np.nan)
    w = np.ones(n) if binding.get("w") is None else codecs.decode_float64(chunks[binding["w"]])
    w = np.where(np.isnan(w), 0.0, w)
    if f is not None and params.get("holdout_only", False):
        w = np.where(f >= 0, w, 0.0)
    return out, np.asarray(y, dtype=np.float64), np.asarray(w, dtype=np.float64)


@register_task
class PredictTask(MRTask):
    """Score one chunk; params described in the module docstring. Partial: ``{"rows": [n]}``."""

    name = "algos.predict"

    def map(self, ctx, chunk_idx, chunks, params):
        ctx.check()
        out, y, w = score_chunk(params, chunk_idx, chunks)
        cat = params["category"]
        items = []
        if cat == "Regression":
            items.append(codecs.encode("real", out[:, 0], None))
        else:
            items.append(codecs.encode("enum", _decide(cat, out, params["threshold"]), None))
            for k in range(out.shape[1]):
                items.append(codecs.encode("real", np.ascontiguousarray(out[:, k]), None))
        if params.get("extras"):
            items.append(codecs.encode("real", np.ascontiguousarray(y, dtype=np.float64), None))
            items.append(codecs.encode("real", np.ascontiguousarray(w, dtype=np.float64), None))
        ctx.node.chunks.put_many(params["staging"], [(c, chunk_idx, ch) for c, ch in enumerate(items)])
        return {"rows": np.array([out.shape[0]], np.int64)}

    def reduce(self, a, b):
        return {"rows": np.concatenate([a["rows"], b["rows"]])}


@register_task
class ScoreBinomialMetricsTask(MRTask):
    """Scoring fused with the binomial metrics (``model_metrics`` of a binomial model when the
    predictions are not kept): each map scores its chunk as ``algos.predict`` does and returns the
    ``metrics.binomial`` partial of those rows, so no scored frame is written and read back. The
    metrics see the same values (the frame's codecs are lossless), so they have the same bits.
    Params: those of ``algos.predict`` with ``extras`` + ``metrics`` (``binomial``'s params)."""

    name = "algos.score_binomial_metrics"

    def map(self, ctx, chunk_idx, chunks, params):
        from ...metrics import binomial
        ctx.check()
        out, y, w = score_chunk(params, chunk_idx, chunks)
        return binomial.partial(y, np.ascontiguousarray(out[:, 1]), w, params["metrics"])

    def reduce(self, a, b):
        from ...metrics import binomial
        return binomial.merge(a, b, {})

    def finish(self, result, params):
        from ...metrics import binomial
        return binomial.finish(result, params["metrics"])


def _score_params(model, header, binding, payloads, folds, extras: bool, staging: str | None) -> dict:
    width = 1 if model.category == "Regression" else len(model.domain)
    return {"algo": model.algo, "spec": model.spec, "binding": binding, "category": model.category,
            "payloads": payloads or [payload_of(model)], "folds": folds, "staging": staging,
            "starts": [int(s) for s in header.starts], "width": width, "extras": bool(extras),
            "holdout_only": folds is not None,
            "threshold": float(model.output.get("default_threshold") or 0.5)}


def _needed_columns(binding: dict, folds: dict | None) -> list[int]:
    needed = bound_columns(binding)
    if folds is not None and folds.get("kind") == "Column":
        needed = sorted(set(needed) | {folds["col"]})
    return needed or [0]


def binomial_metrics_of(node, model, frame_key: str, job=None, payloads=None, folds=None,
                        span=(0.0, 1.0), task: str | None = None, extra: dict | None = None) -> dict:
    """``model_metrics`` of a binomial model without a scored frame (``ScoreBinomialMetricsTask``).

    ``task`` names a subclass of that task to run instead (same params plus ``extra``): the GLM
    training's metrics from its cached decoded rows (``glm.cached_binomial_metrics``)."""
    from ...metrics import binomial
    header = node.catalog.get(frame_key)
    binding = bind(_spec_obj(model.spec), header, need_response=True)
    params = _score_params(model, header, binding, payloads, folds, True, None)
    params["metrics"] = binomial._params(True, list(model.domain), "exact", 400, 400, header.nrow)
    params.update(extra or {})
    return node.runtime.run(task or ScoreBinomialMetricsTask.name, frame_key, _needed_columns(binding, folds),
                            params, job=job, span=span)


def score_frame(node, model, frame_key: str, dest_key: str, job=None, extras: bool = False,
                payloads: list | None = None, folds: dict | None = None, span=(0.0, 1.0)) -> FrameHeader:
    """Write the predictions of ``model`` on ``frame_key`` as frame ``dest_key``.

    ``extras`` adds columns ``actual`` and ``weight`` (for metrics); ``payloads`` + ``folds`` score
    each row with the model of its fold.
    """
    header = node.catalog.get(frame_key)
    binding = bind(_spec_obj(model.spec), header, need_response=extras)
    cols = prediction_columns(model)
    if extras:
        cols = cols + [ColumnHeader("actual", "real"), ColumnHeader("weight", "real")]
    needed = _needed_columns(binding, folds)
    staging = staging_key(dest_key)
    params = _score_params(model, header, binding, payloads, folds, extras, staging)
    try:
        node.runtime.run(PredictTask.name, frame_key, needed, params, job=job, span=span)
        out = FrameHeader(dest_key, tuple(cols), header.starts, header.members)
        return publish(node, staging, out)
    except BaseException:
        discard(node, staging, header.members)
        raise


def _spec_obj(spec: dict):
    from .design import DesignSpec
    return DesignSpec.from_dict(spec)


def model_metrics(node, model, frame_key: str, job=None, payloads=None, folds=None, span=(0.0, 1.0),
                  keep_as: str | None = None, distribution: dict | None = None) -> dict:
    """Metrics of ``model`` on ``frame_key`` (H2O's names), by scoring into a temporary frame.

    With ``keep_as`` the scored frame (predictions only) is kept under that key. A binomial
    model's metrics without ``keep_as`` are computed while scoring (:func:`binomial_metrics_of`).
    """
    if model.category == "Binomial" and keep_as is None:
        m = binomial_metrics_of(node, model, frame_key, job=job, payloads=payloads, folds=folds, span=span)
        m["frame"] = frame_key
        return m
    tmp = node.catalog.new_key(f"{model.key}_scored")
    header = score_frame(node, model, frame_key, tmp, job=job, extras=True, payloads=payloads, folds=folds,
                         span=span)
    try:
        from ...metrics import binomial_metrics, multinomial_metrics, regression_metrics
        cat = model.category
        if cat == "Regression":
            dist = dict(distribution or {"distribution": "gaussian"})
            name = dist.pop("distribution")
            m = regression_metrics(node, tmp, "actual", "predict", "weight", distribution=name, job=job, **dist)
        elif cat == "Binomial":
            pname = header.columns[2].name
            m = binomial_metrics(node, tmp, "actual", pname, "weight", domain=list(model.domain), job=job)
        else:
            m = multinomial_metrics(node, tmp, "actual", [c.name for c in header.columns[1:1 + len(model.domain)]],
                                    "weight", domain=list(model.domain), job=job)
        m["frame"] = frame_key
        if keep_as is not None:
            _keep_predictions(node, header, keep_as)
        return m
    finally:
        delete_frame(node, tmp)


def _keep_predictions(node, header: FrameHeader, dest: str) -> None:
    """Copy the prediction columns of a scored temporary into frame ``dest``."""
    ncol = header.ncol - 2
    staging = staging_key(dest)
    items = []
    for c in range(ncol):
        for i in range(header.nchunks):
            items.append((c, i, node.chunks.get(header.key, c, i)))
    if node.cluster is not None and list(header.members) != [node.self_id]:
        raise InvalidParameter("Keeping cross-validation predictions on a multi-node cluster is not available "
                               "in this version; set keep_cross_validation_predictions=False.", {})
    node.chunks.put_many(staging, items)
    out = FrameHeader(dest, header.columns[:ncol], header.starts, header.members)
    publish(node, staging, out)


def _ncoef(spec: dict) -> int:
    return (sum(len(c["domain"]) - (0 if c["use_all"] else 1) for c in spec["cats"]) + len(spec["nums"])
            + sum(len(i["cols"]) for i in spec.get("inters") or ()))
