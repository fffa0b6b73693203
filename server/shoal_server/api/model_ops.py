"""The model operations of the node API: declarations and handlers.

Training is one operation per algorithm (``train_glm``, ``train_gbm``, ``train_drf`` at
``POST /api/v1/model_builders/<algo>``, as H2O-3's ModelBuilders; ``/models/<algo>`` would collide
with ``/models/{key}``) so that every algorithm's parameters are published in the API
description with their own type, default, range, help, level and ``gridable`` flag (taken from
``shoal_server.algos.algo_parameters``), validated at the edge, and turned into client wrappers with
exactly those parameters. Training and prediction run as jobs; the job's ``dest`` is the
model key (training) or the result frame's key (predict, and the tree models' per-row outputs
``model_contributions`` / ``model_leaf_node_assignment``, which refuse models without trees).

``operations.py`` appends :data:`MODEL_OPERATIONS` to its table and ``handlers.py`` merges
:data:`MODEL_HANDLERS`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import paths
from ..errors import FrameNotFound, ModelNotFound, NotFound
from .description import Operation, Param

__all__ = ["MODEL_OPERATIONS", "MODEL_HANDLERS", "TRAIN_ALGOS", "TREE_ALGOS", "LEAF_TYPES", "AlgoParam"]

BASE = "/api/v1"
#: algorithms reachable over HTTP, in the order of the description
TRAIN_ALGOS = ("glm", "gbm", "drf")
#: algorithms whose models have trees (contributions, leaf node assignment)
TREE_ALGOS = ("gbm", "drf")
#: ``type`` of ``model_leaf_node_assignment`` (H2O-3's names)
LEAF_TYPES = ("Path", "Node_ID")


@dataclass(frozen=True)
class AlgoParam(Param):
    """An algorithm parameter: a :class:`Param` that also says whether a grid search may vary it."""

    gridable: bool = False

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["gridable"] = self.gridable
        return out


def _obj(props: dict, required: list[str] | None = None) -> dict:
    s: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        s["required"] = required
    return s


_JOB = _obj({"key": {"type": "string"}, "kind": {"type": "string"}, "status": {"type": "string"},
             "progress": {"type": "number"}, "dest": {"type": "string", "nullable": True},
             "error": {"type": "object", "nullable": True}}, ["key", "kind", "status", "progress"])
_MODEL_INFO = _obj({"model_id": {"type": "string"}, "algo": {"type": "string"},
                    "model_category": {"type": "string", "nullable": True},
                    "response": {"type": "string", "nullable": True},
                    "training_frame": {"type": "string", "nullable": True},
                    "created_ms": {"type": "integer"}}, ["model_id", "algo"])
_MODEL_PATH = Param("key", "frame_key", "Key of the model.", required=True, location="path")
_MAX_RUNTIME = Param("max_runtime_secs", "float", "Stop the job after this many seconds (0: no limit).",
                     default=0.0, min=0.0, max=1e9, location="body", level="advanced")
_AUTH = ("unauthorized", "forbidden", "unsupported_media_type", "payload_too_large")


def _algo_params(algo: str) -> tuple[Param, ...]:
    from .. import algos

    out = []
    for spec in algos.algo_parameters(algo):
        out.append(AlgoParam(spec["name"], spec["type"], spec["help"], required=bool(spec.get("required")),
                             default=spec.get("default"),
                             values=tuple(spec["values"]) if spec.get("values") is not None else None,
                             min=spec.get("min"), max=spec.get("max"), level=spec.get("level", "basic"),
                             location="body", gridable=bool(spec.get("gridable"))))
    return tuple(out)


def _algo_description(algo: str) -> str:
    from .. import algos

    return algos.ALGOS[algo].description


def _train_operation(algo: str) -> Operation:
    return Operation(
        f"train_{algo}", "POST", f"{BASE}/model_builders/{algo}",
        f"Train a {algo.upper()} model, as a job: {_algo_description(algo)}",
        params=_algo_params(algo),
        result="202 {job: Job}; the job's dest is the new model's key.",
        result_schema=_obj({"job": _JOB}, ["job"]), body="json", status=202, job=True,
        errors=("invalid_parameter", "frame_not_found", "column_not_found") + _AUTH,
        tags=("models",))


def _operations() -> tuple[Operation, ...]:
    trains = tuple(_train_operation(a) for a in TRAIN_ALGOS)
    return trains + (
        Operation("list_models", "GET", f"{BASE}/models", "Every model on the node.",
                  result="{models: [ModelInfo]}",
                  result_schema=_obj({"models": {"type": "array", "items": _MODEL_INFO}}, ["models"]),
                  errors=("unauthorized",), tags=("models",)),
        Operation("get_model", "GET", f"{BASE}/models/{{key}}",
                  "A model: parameters and output (coefficients, metrics, variable importances, scoring "
                  "history); while it trains, the snapshot so far (status RUNNING).",
                  params=(_MODEL_PATH,),
                  result="{model: {model_id, algo, status, parameters, output}}",
                  result_schema=_obj({"model": _OBJ}, ["model"]),
                  errors=("invalid_parameter", "model_not_found", "unauthorized"), tags=("models",)),
        Operation("delete_model", "DELETE", f"{BASE}/models/{{key}}", "Delete a model.",
                  params=(_MODEL_PATH,), result="{deleted: key}",
                  result_schema=_obj({"deleted": {"type": "string"}}, ["deleted"]),
                  errors=("invalid_parameter", "model_not_found", "unauthorized", "forbidden"), tags=("models",)),
        Operation("predict", "POST", f"{BASE}/models/{{key}}/predict",
                  "Score a frame with a model, as a job; the predictions (and per-class probabilities) "
                  "become a new frame.",
                  params=(_MODEL_PATH,
                          Param("frame", "frame_key", "Key of the frame to score.", required=True, location="body"),
                          Param("destination_frame", "frame_key", "Key of the prediction frame; default: a new key.",
                                location="body"),
                          _MAX_RUNTIME),
                  result="202 {job: Job}; the job's dest is the prediction frame's key.",
                  result_schema=_obj({"job": _JOB}, ["job"]), body="json", status=202, job=True,
                  errors=("invalid_parameter", "model_not_found", "frame_not_found", "column_not_found") + _AUTH,
                  tags=("models",)),
        Operation("model_contributions", "POST", f"{BASE}/models/{{key}}/contributions",
                  "TreeSHAP contributions of every row (GBM, DRF), as a job: one column per predictor plus "
                  "`BiasTerm`, summing per row to the raw prediction (no offset); multinomial models get one "
                  "such block per class, columns `<predictor>.<class>`.",
                  params=(_MODEL_PATH,
                          Param("frame", "frame_key", "Key of the frame to explain.", required=True, location="body"),
                          Param("destination_frame", "frame_key",
                                "Key of the contributions frame; default: a new key.", location="body"),
                          _MAX_RUNTIME),
                  result="202 {job: Job}; the job's dest is the contributions frame's key.",
                  result_schema=_obj({"job": _JOB}, ["job"]), body="json", status=202, job=True,
                  errors=("invalid_parameter", "model_not_found", "frame_not_found", "column_not_found") + _AUTH,
                  tags=("models",)),
        Operation("model_leaf_node_assignment", "POST", f"{BASE}/models/{{key}}/leaf_node_assignment",
                  "The leaf every row reaches in every tree (GBM, DRF), as a job: one column per tree, `T1`, "
                  "`T2`, ... (multinomial: `T1.C1`, `T1.C2`, ... per class).",
                  params=(_MODEL_PATH,
                          Param("frame", "frame_key", "Key of the frame to route.", required=True, location="body"),
                          Param("type", "string", "`Path`: a categorical of the leaf's path from the root "
                                "(`L`/`R` per split, e.g. `LRRL`); `Node_ID`: the leaf's node index within its "
                                "tree (integers).", default="Path", values=LEAF_TYPES, location="body"),
                          Param("destination_frame", "frame_key",
                                "Key of the assignment frame; default: a new key.", location="body"),
                          _MAX_RUNTIME),
                  result="202 {job: Job}; the job's dest is the assignment frame's key.",
                  result_schema=_obj({"job": _JOB}, ["job"]), body="json", status=202, job=True,
                  errors=("invalid_parameter", "model_not_found", "frame_not_found", "column_not_found") + _AUTH,
                  tags=("models",)),
        Operation("model_performance", "POST", f"{BASE}/models/{{key}}/performance",
                  "Metrics of a model on a frame that holds the response.",
                  params=(_MODEL_PATH,
                          Param("frame", "frame_key", "Key of the frame to score (must hold the response).",
                                required=True, location="body")),
                  result="{metrics: {...}} (the same shape as a model's training_metrics)",
                  result_schema=_obj({"metrics": _OBJ}, ["metrics"]), body="json",
                  errors=("invalid_parameter", "model_not_found", "frame_not_found", "column_not_found") + _AUTH,
                  tags=("models",)),
        Operation("save_model", "POST", f"{BASE}/models/{{key}}/save",
                  "Save a model to a file inside the export root (versioned, data-only format).",
                  params=(_MODEL_PATH,
                          Param("path", "string", "File to write, inside the export root (relative paths are "
                                "taken relative to it).", required=True, min_len=1, max_len=4096, location="body"),
                          Param("force", "bool", "Replace an existing file.", default=False, location="body")),
                  result="{path: str}", result_schema=_obj({"path": {"type": "string"}}, ["path"]), body="json",
                  errors=("invalid_parameter", "model_not_found", "path_not_allowed", "not_found", "conflict")
                  + _AUTH, tags=("models",)),
        Operation("load_model", "POST", f"{BASE}/load_model",
                  "Load a saved model from a file inside a data root or the export root.",
                  params=(Param("path", "string", "The model file (inside a data root or the export root).",
                                required=True, min_len=1, max_len=4096, location="body"),
                          Param("model_id", "frame_key", "Key to register the model under; default: its saved key.",
                                location="body")),
                  result="{model: ModelInfo}", result_schema=_obj({"model": _MODEL_INFO}, ["model"]), body="json",
                  errors=("invalid_parameter", "path_not_allowed", "not_found") + _AUTH, tags=("models",)),
        Operation("download_scorer", "GET", f"{BASE}/models/{{key}}/scorer",
                  "Standalone scoring code for a model: one pure-Python file (no Shoal, no numpy needed) "
                  "giving the same predictions as the node.",
                  params=(_MODEL_PATH,), result="text/x-python source", produces=("text/x-python",),
                  errors=("invalid_parameter", "model_not_found", "unauthorized"), tags=("models",)),
    )


_OBJ = {"type": "object"}
MODEL_OPERATIONS: tuple[Operation, ...] = _operations()


# ---------------------------------------------------------------------------------------------- helpers
def _algos():
    from .. import algos

    return algos


def _model(node, key: str):
    """The registered model ``key``, or ``model_not_found``."""
    from ..algos.common.model import models_of

    m = models_of(node).find(key)
    if m is None:
        raise ModelNotFound(f"Model `{key}` does not exist; `GET /api/v1/models` lists the models.",
                            {"key": str(key)})
    return m


def _frame(node, key: str | None, parameter: str) -> None:
    if key is not None and node.catalog.find(key) is None:
        raise FrameNotFound(f"Frame `{key}` (parameter `{parameter}`) does not exist.",
                            {"key": key, "parameter": parameter})


def model_info(model) -> dict[str, Any]:
    out = model.output or {}
    return {"model_id": model.key, "algo": model.algo, "model_category": out.get("model_category"),
            "response": out.get("response") or (model.params or {}).get("y"),
            "training_frame": (model.params or {}).get("training_frame"), "created_ms": model.created_ms}


# ---------------------------------------------------------------------------------------------- handlers
def _train_handler(algo: str):
    async def train(ctx, request, params):
        from ..algos.common.model import check_model_key, new_model_key

        node = ctx.node
        given = {k: v for k, v in params.items() if v is not None}
        _frame(node, given.get("training_frame"), "training_frame")
        _frame(node, given.get("validation_frame"), "validation_frame")
        key = given.get("model_id")
        key = check_model_key(key) if key is not None else new_model_key(node, algo)
        given["model_id"] = key
        algos = _algos()

        def run(job):
            job.update(message=f"training {algo}")
            algos.train(node, algo, given, job)

        job = node.jobs.start("train", f"Train {algo.upper()} {key}", run,
                              max_runtime_secs=given.get("max_runtime_secs") or 0.0, dest=key)
        return {"job": job.to_wire()}

    train.__name__ = f"train_{algo}"
    return train


async def list_models(ctx, request, params):
    from ..algos.common.model import models_of

    reg = models_of(ctx.node)
    out = []
    for key in reg.keys():
        m = reg.find(key)
        if m is not None:
            out.append(model_info(m))
    return {"models": out}


async def get_model(ctx, request, params):
    from ..algos.common.model import models_of

    key = params["key"]
    reg = models_of(ctx.node)
    m = reg.find(key)
    if m is not None:
        doc = _algos().model_to_json(m)
        doc["status"] = "DONE"
        return {"model": doc}
    snap = reg.building(key)
    if snap is not None:
        output = {k: v for k, v in snap.items() if k not in ("model_id", "algo", "status")}
        algo = snap.get("algo") or key.split("_model_")[0]
        return {"model": {"model_id": key, "algo": algo, "status": "RUNNING", "parameters": {}, "output": output}}
    _model(ctx.node, key)
    raise ModelNotFound(f"Model `{key}` does not exist.", {"key": key})  # pragma: no cover


async def delete_model(ctx, request, params):
    _model(ctx.node, params["key"])
    await ctx.run(_algos().remove_model, ctx.node, params["key"])     # off the loop: replicated to the members
    return {"deleted": params["key"]}


async def predict(ctx, request, params):
    node = ctx.node
    key = params["key"]
    _model(node, key)
    _frame(node, params["frame"], "frame")
    dest = params.get("destination_frame") or node.catalog.new_key(f"prediction_{key}")
    algos = _algos()

    def run(job):
        job.update(message="scoring")
        try:
            algos.predict(node, key, params["frame"], dest, job)
        except NotFound as exc:
            if _missing_model(node, key):
                raise ModelNotFound(f"Model `{key}` was deleted while scoring.", {"key": key}) from exc
            raise

    job = node.jobs.start("predict", f"Predict {key[:60]} on {params['frame'][:60]}", run,
                          max_runtime_secs=params.get("max_runtime_secs") or 0.0, dest=dest)
    return {"job": job.to_wire()}


def _tree_model(node, key: str, what: str):
    """The registered model ``key`` if it has trees, else ``invalid_parameter`` naming its algorithm."""
    from ..errors import InvalidParameter

    m = _model(node, key)
    if m.algo not in TREE_ALGOS or "tree_off" not in (m.arrays or {}):
        raise InvalidParameter(
            f"Model `{key}` is a {str(m.algo).upper()} model; {what} is computed for tree models only "
            f"(algorithms {', '.join(TREE_ALGOS)}).",
            {"parameter": "key", "key": key, "algo": str(m.algo), "allowed": list(TREE_ALGOS)})
    return m


def _tree_rows_job(ctx, params, what: str, kind: str, prefix: str, compute):
    """Start the job writing per-row tree outputs (``compute(node, model, frame, dest, job)``)."""
    node = ctx.node
    key = params["key"]
    _tree_model(node, key, what)
    _frame(node, params["frame"], "frame")
    dest = params.get("destination_frame") or node.catalog.new_key(f"{prefix}_{key}")

    def run(job):
        job.update(message=what)
        try:
            model = _tree_model(node, key, what)
            compute(node, model, params["frame"], dest, job)
        except NotFound as exc:
            if _missing_model(node, key):
                raise ModelNotFound(f"Model `{key}` was deleted while computing {what}.", {"key": key}) from exc
            raise

    job = node.jobs.start(kind, f"{what.capitalize()} of {key[:60]} on {params['frame'][:60]}", run,
                          max_runtime_secs=params.get("max_runtime_secs") or 0.0, dest=dest)
    return {"job": job.to_wire()}


async def model_contributions(ctx, request, params):
    from ..algos.tree import predict_contributions

    def compute(node, model, frame, dest, job):
        predict_contributions(node, model, frame, dest, job=job)

    return _tree_rows_job(ctx, params, "contributions", "contributions", "contributions", compute)


async def model_leaf_node_assignment(ctx, request, params):
    from ..algos.tree import predict_leaf_node_assignment

    kind = params.get("type") or "Path"

    def compute(node, model, frame, dest, job):
        predict_leaf_node_assignment(node, model, frame, dest, job=job, type=kind)

    return _tree_rows_job(ctx, params, "leaf node assignment", "leaf_node_assignment", "leaf_assignment",
                          compute)


def _missing_model(node, key: str) -> bool:
    from ..algos.common.model import models_of

    return models_of(node).find(key) is None


async def model_performance(ctx, request, params):
    node = ctx.node
    key = params["key"]
    _model(node, key)
    _frame(node, params["frame"], "frame")
    metrics = await ctx.run(_algos().model_performance, node, key, params["frame"], None)
    return {"metrics": metrics}


def _save(node, key: str, raw: str, force: bool) -> str:
    from ..errors import Conflict

    model = _model(node, key)
    target = paths.resolve_export_path(node.config, raw)
    if target.exists() and not force:
        raise Conflict(f"File `{raw}` exists in the export root; pass force=true to replace it.",
                       {"path": raw})
    _algos().save_model(model, str(target))
    return str(target)


async def save_model(ctx, request, params):
    path = await ctx.run(_save, ctx.node, params["key"], params["path"], bool(params.get("force")))
    return {"path": path}


def _load(node, raw: str, model_id: str | None) -> dict[str, Any]:
    cfg = node.config
    roots = [str(r) for r in cfg.resolved_roots()]
    if cfg.export_root:
        roots.append(os.path.realpath(cfg.export_root))
    files = paths.resolve_import_path(dataclasses.replace(cfg, data_roots=roots), raw)
    if len(files) != 1:
        raise NotFound(f"`{raw}` names {len(files)} files; give one model file.", {"path": raw})
    model = _algos().load_model(node, str(files[0]), model_id)
    return model_info(model)


async def load_model(ctx, request, params):
    return {"model": await ctx.run(_load, ctx.node, params["path"], params.get("model_id"))}


async def download_scorer(ctx, request, params):
    key = params["key"]
    model = _model(ctx.node, key)
    source = await ctx.run(_algos().export_scorer, model)
    return web.Response(body=source.encode("utf-8"), content_type="text/x-python", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{key}.py"'})


MODEL_HANDLERS = {
    **{f"train_{a}": _train_handler(a) for a in TRAIN_ALGOS},
    "list_models": list_models,
    "get_model": get_model,
    "delete_model": delete_model,
    "predict": predict,
    "model_performance": model_performance,
    "model_contributions": model_contributions,
    "model_leaf_node_assignment": model_leaf_node_assignment,
    "save_model": save_model,
    "load_model": load_model,
    "download_scorer": download_scorer,
}
