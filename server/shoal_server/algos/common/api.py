"""The Python entry points of the model framework (the API layer wires them to HTTP).

- ``train(node, algo, params, job) -> model_key``: validate, build, score, register the model.
- ``predict(node, model_key, frame_key, dest_key, job) -> FrameHeader``
- ``model_performance(node, model_key, frame_key, job) -> dict`` (metrics on any frame)
- ``get_model(node, key)``, ``list_models(node)``, ``remove_model(node, key)``
- ``model_to_json(model) -> dict``: H2O-like output (coefficients, metrics, scoring history, ...)
- ``save_model(model, path)``, ``load_model(node, path)``, ``export_scorer(model) -> str``
- ``algo_parameters(algo) -> list[dict]``: the parameter declarations for the API description.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...errors import InvalidParameter
from ..common.model import Model, check_model_key, models_of, new_model_key
from . import persist
from .params import ParamSpec
from .scoring import model_metrics, score_frame

__all__ = ["AlgoSpec", "ALGOS", "register_algo", "train", "predict", "model_performance", "get_model", "list_models",
           "remove_model", "model_to_json", "save_model", "load_model", "export_scorer", "algo_parameters"]


@dataclass(frozen=True)
class AlgoSpec:
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    train: Callable            # (node, params, job, model_key) -> Model
    scorer_source: Callable    # (model) -> str
    distribution: Callable     # (model) -> dict for regression metrics


ALGOS: dict[str, AlgoSpec] = {}


def register_algo(spec: AlgoSpec) -> None:
    ALGOS[spec.name] = spec


def _algo(name: str) -> AlgoSpec:
    spec = ALGOS.get(str(name).lower())
    if spec is None:
        raise InvalidParameter(f"Unknown algorithm `{name}`; available: {', '.join(sorted(ALGOS))}.",
                               {"algo": str(name)})
    return spec


def algo_parameters(algo: str) -> list[dict]:
    return [p.to_json() for p in _algo(algo).params]


def train(node, algo: str, params: dict, job=None) -> str:
    """Train a model of ``algo`` with ``params``; registers it and returns its key."""
    spec = _algo(algo)
    params = dict(params or {})
    key = params.get("model_id")
    if key is not None:
        check_model_key(key)
    else:
        key = new_model_key(node, spec.name)
    registry = models_of(node)
    try:
        model = spec.train(node, params, job, key)
    except BaseException:
        registry.drop_building(key)
        raise
    model.key = key
    registry.put(model)
    if job is not None:
        job.update(1.0, f"Model {key} done")
    return key


def get_model(node, key: str) -> Model:
    return models_of(node).get(key)


def list_models(node) -> list[str]:
    return models_of(node).keys()


def remove_model(node, key: str) -> bool:
    return models_of(node).remove(key) is not None


def predict(node, model_key: str, frame_key: str, dest_key: str | None = None, job=None):
    """Write the predictions of ``model_key`` on ``frame_key`` as a new frame; returns its header."""
    model = get_model(node, model_key)
    if dest_key is None:
        dest_key = node.catalog.new_key(f"prediction_{model_key}")
    return score_frame(node, model, frame_key, dest_key, job=job)


def model_performance(node, model_key: str, frame_key: str, job=None) -> dict:
    """Metrics of ``model_key`` on ``frame_key`` (which must hold the response)."""
    model = get_model(node, model_key)
    spec = _algo(model.algo)
    return model_metrics(node, model, frame_key, job=job, distribution=spec.distribution(model))


def model_to_json(model: Model) -> dict:
    """The model as H2O-like JSON: key, algo, parameters and output (tables, metrics, history)."""
    from .persist import _jsonable
    return {"model_id": model.key, "algo": model.algo, "format_version": model.format_version,
            "created_ms": model.created_ms, "parameters": _jsonable(model.params),
            "output": _jsonable(model.output)}


def save_model(model: Model, path: str) -> str:
    return persist.save_model(model, path)


def load_model(node, path: str, model_id: str | None = None) -> Model:
    """Load a saved model and register it (under ``model_id`` or its saved key)."""
    model = persist.load_model_file(path)
    _algo(model.algo)
    if model_id is not None:
        model.key = check_model_key(model_id)
    models_of(node).put(model)
    return model


def export_scorer(model: Model) -> str:
    """Standalone pure-Python scoring code for ``model`` (no Shoal, no numpy)."""
    return _algo(model.algo).scorer_source(model)
