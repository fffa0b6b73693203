"""The model base and the node's model registry.

A :class:`Model` is data only: the algorithm name, the validated parameters, the design spec, a
JSON-able ``output`` dict (H2O's model output: tables, metrics, scoring history, ...) and named
numpy ``arrays`` (coefficients, ...). Everything an algorithm needs to score is in those fields,
so a model saves and loads without pickle (``persist``) and ships to maps as task parameters.

Models live in a :class:`ModelRegistry` next to the frame catalog (``models_of(node)``; the node
gets a ``models`` attribute on first use). While a model trains, its builder publishes snapshots
(the scoring history so far) with :meth:`ModelRegistry.building`; the finished model replaces the
snapshot only when the job succeeds, so a failed or cancelled job leaves no model.

On a cluster every member holds every model (``replicate``): a model put in a node's registry is
sent to the other members in its data-only saved form, deletes and in-training snapshots follow
it, so any node reads, scores and exports a model trained through any other.
"""
from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidParameter, ModelNotFound

__all__ = ["Model", "ModelRegistry", "models_of", "MODEL_FORMAT_VERSION", "new_model_key"]

#: version of the saved-model format written by this Shoal (``persist``)
MODEL_FORMAT_VERSION = 1

_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")


@dataclass
class Model:
    """A trained model (see the module docstring)."""

    key: str
    algo: str
    params: dict
    spec: dict
    output: dict
    arrays: dict = field(default_factory=dict)
    created_ms: int = 0
    format_version: int = MODEL_FORMAT_VERSION

    @property
    def category(self) -> str:
        return self.output.get("model_category", "Regression")

    @property
    def domain(self) -> list | None:
        return self.spec.get("response_domain")


class ModelRegistry:
    """Thread-safe map of model key -> :class:`Model`, plus snapshots of models in training.

    With a ``node`` whose ``cluster`` is set, :meth:`put`, :meth:`remove`, :meth:`building` and
    :meth:`drop_building` are replicated to the other members (``replicate``); ``local=True``
    applies a change on this node only (how a member applies what a peer sent).
    """

    def __init__(self, node=None):
        self._node = node
        self._lock = threading.RLock()
        self._models: dict[str, Model] = {}
        self._building: dict[str, dict] = {}
        self._seq = 0
        #: (sender, key) -> the sequence number of the last change applied from that sender
        self._applied: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ replication plumbing
    def _cluster(self):
        node = self._node
        return getattr(node, "cluster", None) if node is not None else None

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def accept(self, sender: str, key: str, seq: int) -> bool:
        """True when change ``seq`` from ``sender`` on ``key`` is newer than the last one applied
        from that sender (snapshots travel without waiting, so one may arrive after the model)."""
        with self._lock:
            last = self._applied.get((sender, key), -1)
            if seq <= last:
                return False
            self._applied[(sender, key)] = seq
            return True

    # ------------------------------------------------------------------ the registry
    def put(self, model: Model, local: bool = False) -> None:
        with self._lock:
            self._models[model.key] = model
            self._building.pop(model.key, None)
        if not local and self._cluster() is not None:
            from .replicate import send_put
            send_put(self, self._cluster(), model, self._next_seq())

    def get(self, key: str) -> Model:
        with self._lock:
            m = self._models.get(key)
        if m is None:
            with self._lock:
                known = sorted(self._models)
            listed = ", ".join(f"`{k}`" for k in known[:10]) + (", ..." if len(known) > 10 else "")
            raise ModelNotFound(f"Model `{key}` does not exist; {len(known)} model(s) are registered"
                                + (f": {listed}" if known else "") + ". `GET /api/v1/models` lists them.",
                                {"key": str(key)})
        return m

    def find(self, key: str) -> Model | None:
        with self._lock:
            return self._models.get(key)

    def remove(self, key: str, local: bool = False) -> Model | None:
        with self._lock:
            self._building.pop(key, None)
            gone = self._models.pop(key, None)
        if not local and self._cluster() is not None:
            from .replicate import send_remove
            send_remove(self._cluster(), key, self._next_seq())
        return gone

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._models

    def building(self, key: str, snapshot: dict | None = None, local: bool = False) -> dict | None:
        """Set (``snapshot`` given) or read the in-training snapshot of ``key``."""
        with self._lock:
            if snapshot is not None:
                self._building[key] = snapshot
            out = self._building.get(key)
        if snapshot is not None and not local and self._cluster() is not None:
            from .replicate import send_building
            send_building(self._cluster(), key, snapshot, self._next_seq())
        return out

    def drop_building(self, key: str, local: bool = False) -> None:
        with self._lock:
            self._building.pop(key, None)
        if not local and self._cluster() is not None:
            from .replicate import send_drop_building
            send_drop_building(self._cluster(), key, self._next_seq())


_REG_LOCK = threading.Lock()


def models_of(node) -> ModelRegistry:
    """The node's model registry (created on first use as ``node.models``)."""
    reg = getattr(node, "models", None)
    if reg is None:
        with _REG_LOCK:
            reg = getattr(node, "models", None)
            if reg is None:
                reg = ModelRegistry(node)
                node.models = reg
    return reg


def new_model_key(node, algo: str) -> str:
    reg = models_of(node)
    while True:
        key = f"{algo}_model_{uuid.uuid4().hex[:8]}"
        if key not in reg and node.catalog.find(key) is None:
            return key


def check_model_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise InvalidParameter(f"Parameter `model_id` must be 1-200 letters, digits, '_', '.' or '-'; got {key!r}.",
                               {"parameter": "model_id"})
    return key


def now_ms() -> int:
    return int(time.time() * 1000)


def as_float_array(x: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))
