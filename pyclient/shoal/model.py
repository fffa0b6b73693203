"""Models: estimators (``shoal.GLM``, ``shoal.GBM``, ``shoal.DRF``), trained models and their metrics.

>>> m = shoal.GLM(family="binomial", alpha=0.5)
>>> m.train(x=["a", "b"], y="late", training_frame=train, validation_frame=valid)
>>> m.auc(valid=True), m.coef(), m.varimp()
>>> pred = m.predict(test)

An estimator's parameters are the keyword parameters of its generated wrapper
(``shoal._generated.operations.train_<algo>``); only the ones you set are sent, the server owns
every default. Each method is one API call; the model's JSON is cached and refreshed on demand.
"""
from __future__ import annotations

import difflib
import html
import inspect
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ._generated import operations as ops
from .connection import Connection, current_connection
from .frame import Frame
from .jobs import wait as _wait

__all__ = ["ModelBase", "TreeModel", "GLM", "GBM", "DRF", "ModelMetrics", "get_model", "load_model", "list_models",
           "ESTIMATORS"]

#: parameters that ``train()`` takes as its own arguments
_TRAIN_ARGS = ("x", "y", "training_frame", "validation_frame")


def _key_of(frame: Any) -> str | None:
    if frame is None:
        return None
    if isinstance(frame, Frame):
        return frame.key
    if isinstance(frame, str):
        return frame
    raise TypeError(f"Expected a shoal.Frame or a frame key; got {type(frame).__name__}.")


def table_to_df(table: dict | None) -> pd.DataFrame | None:
    """An H2O-style table ``{name, columns, types, data}`` as a pandas DataFrame."""
    if not isinstance(table, dict) or "columns" not in table:
        return None
    df = pd.DataFrame([list(r) for r in table.get("data") or []], columns=list(table["columns"]))
    for col, t in zip(table["columns"], table.get("types") or []):
        if t in ("double", "float", "int", "long") and len(df):
            df[col] = pd.to_numeric(df[col].map(lambda v: float("nan") if v is None else
                                                (float(v) if isinstance(v, str) and v in ("Inf", "-Inf", "NaN")
                                                 else v)))
    df.attrs["name"] = table.get("name", "")
    df.attrs["description"] = table.get("description", "")
    return df


def _num(v: Any) -> Any:
    if isinstance(v, str) and v in ("Inf", "-Inf", "NaN"):
        return float(v)
    if v is None:
        return float("nan")
    return v


class ModelMetrics:
    """Metrics of a model on one frame (training, validation, cross-validation or any frame)."""

    def __init__(self, metrics: dict):
        self._m = dict(metrics or {})

    def __getitem__(self, name: str) -> Any:
        return self._m[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._m.get(name, default)

    @property
    def raw(self) -> dict:
        """The metrics as the server sent them."""
        return self._m

    def _scalar(self, name: str) -> float:
        if name not in self._m:
            kind = self._m.get("model_category", "this model")
            raise ValueError(f"Metric `{name}` is not available for {kind} metrics; have: "
                             f"{', '.join(k for k, v in self._m.items() if not isinstance(v, (dict, list)))}.")
        return _num(self._m[name])

    def auc(self) -> float:
        return self._scalar("auc")

    def aucpr(self) -> float:
        return self._scalar("aucpr")

    def gini(self) -> float:
        return self._scalar("gini")

    def logloss(self) -> float:
        return self._scalar("logloss")

    def rmse(self) -> float:
        return self._scalar("rmse")

    def mse(self) -> float:
        return self._scalar("mse")

    def mae(self) -> float:
        return self._scalar("mae")

    def r2(self) -> float:
        return self._scalar("r2")

    def mean_per_class_error(self) -> float:
        return self._scalar("mean_per_class_error")

    def mean_residual_deviance(self) -> float:
        return self._scalar("mean_residual_deviance")

    def confusion_matrix(self) -> pd.DataFrame | None:
        return table_to_df(self._m.get("confusion_matrix"))

    def thresholds_and_metric_scores(self) -> pd.DataFrame | None:
        return table_to_df(self._m.get("thresholds_and_metric_scores"))

    def max_criteria(self) -> pd.DataFrame | None:
        return table_to_df(self._m.get("max_criteria_and_metric_scores"))

    def gains_lift(self) -> pd.DataFrame | None:
        return table_to_df(self._m.get("gains_lift_table"))

    def scalars(self) -> dict[str, Any]:
        return {k: _num(v) for k, v in self._m.items()
                if isinstance(v, (int, float, str)) and not isinstance(v, bool) and k not in ("frame", "auc_type")
                and not (isinstance(v, str) and v not in ("Inf", "-Inf", "NaN"))}

    def __repr__(self) -> str:
        cat = self._m.get("model_category", "")
        body = "\n".join(f"  {k}: {v}" for k, v in self.scalars().items())
        return f"ModelMetrics ({cat})\n{body}"


_WHICH = (("train", "training_metrics"), ("valid", "validation_metrics"), ("xval", "cross_validation_metrics"))


class ModelBase:
    """An estimator before training; the trained model after ``train()`` (or from ``get_model``)."""

    algo = ""

    def __init__(self, *, conn: Connection | None = None, **params: Any):
        self._conn = conn
        allowed = self.parameter_names()
        bad = [k for k in params if k not in allowed]
        if bad:
            hints = []
            for k in bad:
                close = difflib.get_close_matches(k, allowed, n=1)
                hints.append(f"`{k}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
            raise TypeError(f"{type(self).__name__} has no parameter {', '.join(hints)}; parameters: "
                            f"{', '.join(allowed)}.")
        self._params = {k: v for k, v in params.items() if v is not None}
        self._key: str | None = None
        self._json: dict | None = None
        self.job: dict | None = None

    # -- parameters --------------------------------------------------------------------------------
    @classmethod
    def _wrapper(cls):
        return getattr(ops, f"train_{cls.algo}")

    @classmethod
    def parameter_names(cls) -> list[str]:
        """Names of the parameters of this algorithm (from the generated wrapper)."""
        sig = inspect.signature(cls._wrapper())
        return [n for n in list(sig.parameters)[1:] if n not in _TRAIN_ARGS]

    @property
    def params(self) -> dict[str, Any]:
        """The parameters you set (the server fills in the rest; see ``actual_params``)."""
        return dict(self._params)

    @property
    def actual_params(self) -> dict[str, Any]:
        """Every parameter as the server used it."""
        return dict(self._model_json().get("parameters") or {})

    @property
    def conn(self) -> Connection:
        return self._conn if self._conn is not None else current_connection()

    @property
    def model_id(self) -> str | None:
        return self._key

    key = model_id

    # -- training ----------------------------------------------------------------------------------
    def train(self, x: list[str] | str | None = None, y: str | None = None, training_frame: Any = None,
              validation_frame: Any = None, progress: bool = True, **kw: Any) -> "ModelBase":
        """Train on ``training_frame`` (a job with a progress bar); returns ``self``, now the model.

        Keyword arguments are parameters of the algorithm and override those given to the constructor.
        """
        if y is None or training_frame is None:
            raise TypeError("train() needs y (the response column) and training_frame.")
        extra = type(self)(conn=self._conn, **kw)._params  # same checks as the constructor
        params = {**self._params, **extra}
        if isinstance(x, str):
            x = [x]
        res = self._wrapper()(self.conn, _key_of(training_frame), y, x=list(x) if x is not None else None,
                              validation_frame=_key_of(validation_frame), **params)
        self.job = res["job"]
        self._key = self.job["dest"]
        self._json = None
        self.job = _wait(self.conn, self.job, progress=progress)
        self._json = None
        return self

    # -- model data --------------------------------------------------------------------------------
    def _require(self) -> str:
        if self._key is None:
            raise ValueError(f"This {type(self).__name__} is not trained yet; call train() first.")
        return self._key

    def _model_json(self, refresh: bool = False) -> dict:
        key = self._require()
        if self._json is None or refresh or self._json.get("status") != "DONE":
            self._json = ops.get_model(self.conn, key)["model"]
        return self._json

    def refresh(self) -> "ModelBase":
        self._json = None
        return self

    @property
    def output(self) -> dict:
        """The model's output as the server sent it (tables, metrics, coefficients, ...)."""
        return self._model_json().get("output") or {}

    @property
    def status(self) -> str:
        return str(self._model_json(refresh=True).get("status", ""))

    def _metrics(self, which: str) -> ModelMetrics | None:
        m = self.output.get(which)
        return ModelMetrics(m) if isinstance(m, dict) else None

    def training_metrics(self) -> ModelMetrics | None:
        return self._metrics("training_metrics")

    def validation_metrics(self) -> ModelMetrics | None:
        return self._metrics("validation_metrics")

    def cross_validation_metrics(self) -> ModelMetrics | None:
        return self._metrics("cross_validation_metrics")

    def _pick(self, name: str, train: bool, valid: bool, xval: bool) -> Any:
        flags = {"train": train, "valid": valid, "xval": xval}
        wanted = [w for w, on in flags.items() if on] or ["train"]
        out = {}
        for w, field in _WHICH:
            if w not in wanted:
                continue
            m = self._metrics(field)
            if m is None:
                raise ValueError(f"Model {self._key} has no {field.replace('_', ' ')}.")
            value = getattr(m, name)()
            out[w] = value
        return out[wanted[0]] if len(wanted) == 1 else out

    def auc(self, train: bool = False, valid: bool = False, xval: bool = False):
        """AUC on the training data (default), the validation frame or cross-validation; several
        flags give a dict."""
        return self._pick("auc", train, valid, xval)

    def aucpr(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("aucpr", train, valid, xval)

    def logloss(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("logloss", train, valid, xval)

    def rmse(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("rmse", train, valid, xval)

    def mse(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("mse", train, valid, xval)

    def r2(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("r2", train, valid, xval)

    def confusion_matrix(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._pick("confusion_matrix", train, valid, xval)

    def coef(self) -> dict[str, float]:
        """Coefficients on the original scale (GLM)."""
        c = self.output.get("coefficients")
        if c is None:
            raise ValueError(f"A {self.algo.upper()} model has no coefficients.")
        return {k: _num(v) for k, v in c.items()}

    def coef_norm(self) -> dict[str, float]:
        """Coefficients of the standardized predictors (GLM)."""
        c = self.output.get("standardized_coefficients")
        if c is None:
            raise ValueError(f"A {self.algo.upper()} model has no standardized coefficients.")
        return {k: _num(v) for k, v in c.items()}

    def varimp(self) -> pd.DataFrame | None:
        """Variable importances (variable, relative, scaled, percentage)."""
        return table_to_df(self.output.get("variable_importances"))

    def scoring_history(self) -> pd.DataFrame | None:
        """The scoring history; while the model trains, the history so far."""
        return table_to_df(self._model_json(refresh=self._json is not None and
                                            self._json.get("status") != "DONE").get("output", {})
                           .get("scoring_history"))

    def model_summary(self) -> pd.DataFrame | None:
        return table_to_df(self.output.get("model_summary"))

    # -- using the model ---------------------------------------------------------------------------
    def predict(self, frame: Any, destination_frame: str | None = None, progress: bool = True) -> Frame:
        """Predictions (and per-class probabilities) on ``frame``, as a new frame."""
        res = ops.predict(self.conn, self._require(), _key_of(frame), destination_frame=destination_frame)
        job = _wait(self.conn, res["job"], progress=progress)
        return Frame._existing(job["dest"], self._conn)

    def model_performance(self, frame: Any = None, train: bool = False, valid: bool = False,
                          xval: bool = False) -> ModelMetrics:
        """Metrics on ``frame`` (which must hold the response); without a frame, the stored ones."""
        if frame is None:
            which = "validation_metrics" if valid else "cross_validation_metrics" if xval else "training_metrics"
            m = self._metrics(which)
            if m is None:
                raise ValueError(f"Model {self._key} has no {which.replace('_', ' ')}.")
            return m
        return ModelMetrics(ops.model_performance(self.conn, self._require(), _key_of(frame))["metrics"])

    def save(self, path: str, force: bool = False) -> str:
        """Save the model on the node, inside its export root; returns the server path."""
        return ops.save_model(self.conn, self._require(), path=str(path), force=force or None)["path"]

    def download_scorer(self, path: str | os.PathLike) -> str:
        """Write the standalone pure-Python scorer to the local file ``path``; returns the path."""
        data = ops.download_scorer(self.conn, self._require())
        p = Path(path)
        p.write_bytes(bytes(data))
        return str(p)

    def delete(self) -> None:
        ops.delete_model(self.conn, self._require())

    # -- display -----------------------------------------------------------------------------------
    def _summary_parts(self) -> list[tuple[str, Any]]:
        parts: list[tuple[str, Any]] = []
        summary = self.model_summary()
        if summary is not None:
            parts.append(("Model summary", summary))
        for title, field in (("Training metrics", "training_metrics"), ("Validation metrics", "validation_metrics"),
                             ("Cross-validation metrics", "cross_validation_metrics")):
            m = self._metrics(field)
            if m is not None:
                parts.append((title, pd.DataFrame({"value": pd.Series(m.scalars(), dtype=object)})))
        if "coefficients_table" in self.output:
            parts.append(("Coefficients", table_to_df(self.output["coefficients_table"])))
        vi = self.varimp()
        if vi is not None:
            parts.append(("Variable importances", vi.head(10)))
        return parts

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._key is None:
            return f"<shoal.{name} (not trained) {self._params}>"
        try:
            doc = self._model_json()
        except Exception as exc:  # noqa: BLE001 - a repr must not raise
            return f"<shoal.{name} {self._key} ({type(exc).__name__}: {exc})>"
        lines = [f"shoal.{name}: {self._key} ({doc.get('status', '')})"]
        for title, df in self._summary_parts():
            lines += ["", f"{title}:", df.to_string()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        name = html.escape(type(self).__name__)
        if self._key is None:
            return f"<p><b>shoal.{name}</b> (not trained)</p>"
        try:
            doc = self._model_json()
        except Exception as exc:  # noqa: BLE001
            return f"<p><b>shoal.{name}</b> {html.escape(str(self._key))}: {html.escape(str(exc))}</p>"
        out = [f"<div><p><b>shoal.{name}</b>: {html.escape(str(self._key))} "
               f"({html.escape(str(doc.get('status', '')))})</p>"]
        for title, df in self._summary_parts():
            out.append(f"<p><b>{html.escape(title)}</b></p>")
            out.append(df.to_html(escape=True))
        out.append("</div>")
        return "\n".join(out)


class GLM(ModelBase):
    """Generalized linear model (parameters: ``GLM.parameter_names()``)."""

    algo = "glm"


class TreeModel(ModelBase):
    """What tree models (GBM, DRF) add: TreeSHAP contributions and leaf node assignment."""

    def _tree_job(self, op, frame: Any, progress: bool, **kw: Any) -> Frame:
        res = op(self.conn, self._require(), _key_of(frame), **kw)
        job = _wait(self.conn, res["job"], progress=progress)
        return Frame._existing(job["dest"], self._conn)

    def predict_contributions(self, frame: Any, destination_frame: str | None = None,
                              progress: bool = True) -> Frame:
        """TreeSHAP contributions of every row of ``frame``, as a new frame.

        One column per predictor (categoricals first, then numerics, as the model orders them) plus
        ``BiasTerm``; each row sums to the raw prediction (regression: the prediction; bernoulli:
        the log-odds; poisson/gamma/tweedie: the log; no offset; DRF: the tree average). Multinomial
        models (which H2O-3 refuses) give one such block per class, in the order of the response
        domain, with the class as suffix: ``x.cls1, ..., BiasTerm.cls1, x.cls2, ...``; each block sums
        to that class's raw score.
        """
        return self._tree_job(ops.model_contributions, frame, progress, destination_frame=destination_frame)

    def predict_leaf_node_assignment(self, frame: Any, type: str = "Path",  # noqa: A002 - H2O-3's name
                                     destination_frame: str | None = None, progress: bool = True) -> Frame:
        """The leaf each row of ``frame`` reaches in each tree, as a new frame.

        Columns ``T1, T2, ...`` (multinomial: ``T1.C1, T1.C2, ...``, one tree per class and
        iteration). ``type="Path"``: categorical columns holding the leaf's path from the root
        (``"L"``/``"R"`` per split, e.g. ``"LRRL"``); ``type="Node_ID"``: integer columns with the
        leaf's node index within its tree.
        """
        return self._tree_job(ops.model_leaf_node_assignment, frame, progress, type=type,
                              destination_frame=destination_frame)


class GBM(TreeModel):
    """Gradient boosting machine (parameters: ``GBM.parameter_names()``)."""

    algo = "gbm"


class DRF(TreeModel):
    """Distributed random forest (parameters: ``DRF.parameter_names()``)."""

    algo = "drf"


ESTIMATORS = {"glm": GLM, "gbm": GBM, "drf": DRF}


def _from_json(doc: dict, conn: Connection | None) -> ModelBase:
    cls = ESTIMATORS.get(str(doc.get("algo")), ModelBase)
    m = cls.__new__(cls)
    m._conn = conn
    m._params = {}
    m._key = doc["model_id"]
    m._json = doc
    m.job = None
    return m


def get_model(model_id: str, conn: Connection | None = None) -> ModelBase:
    """The model ``model_id`` (while it trains: its snapshot so far, ``status == "RUNNING"``)."""
    c = conn if conn is not None else current_connection()
    return _from_json(ops.get_model(c, model_id)["model"], conn)


def list_models(conn: Connection | None = None) -> pd.DataFrame:
    """Every model on the node: model_id, algo, model_category, response, training_frame, created_ms."""
    c = conn if conn is not None else current_connection()
    rows = ops.list_models(c)["models"]
    cols = ["model_id", "algo", "model_category", "response", "training_frame", "created_ms"]
    return pd.DataFrame([[r.get(k) for k in cols] for r in rows], columns=cols)


def load_model(path: str, model_id: str | None = None, conn: Connection | None = None) -> ModelBase:
    """Load a model saved with ``model.save(path)`` (a file inside a data root or the export root)."""
    c = conn if conn is not None else current_connection()
    info = ops.load_model(c, str(path), model_id=model_id)["model"]
    return get_model(info["model_id"], conn)
