"""Algorithm parameters declared as data, and their validation (all problems in one error).

Every algorithm lists its parameters once as :class:`ParamSpec` rows: name, type (the closed set of
the API description: ``string``, ``int``, ``float``, ``bool``, ``list[string]``, ``dict``,
``frame_key``), default, allowed values or an inclusive range, help, level (``basic`` /
``advanced`` / ``expert`` as in H2O-3) and whether a grid search may vary it. The API layer turns
these rows into its ``Param`` declarations (``ParamSpec.to_json`` has the same keys), so the
description, the validation and the generated clients all come from here.

:func:`validate` checks a user's dict against the specs and raises one ``invalid_parameter`` error
whose ``details.problems`` lists every problem (unknown names with a close-match hint, wrong types,
values out of range); algorithm-specific cross checks add to the same list before it is raised.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ...errors import InvalidParameter

__all__ = ["ParamSpec", "COMMON_PARAMS", "validate", "Problems", "params_to_json"]

_MISSING = object()

#: H2O-3 names that differ here (reserved words in Python or R)
ALIASES = {"lambda": "lambda_value", "lambda_": "lambda_value"}


@dataclass(frozen=True)
class ParamSpec:
    """One algorithm parameter (see the module docstring)."""

    name: str
    type: str
    help: str
    default: Any = None
    values: tuple | None = None
    min: float | None = None
    max: float | None = None
    level: str = "basic"
    gridable: bool = False
    required: bool = False
    #: exclusive bounds (``min`` < x instead of ``min`` <= x), for e.g. tweedie powers
    min_exclusive: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required,
                               "default": self.default, "help": self.help, "level": self.level,
                               "gridable": self.gridable}
        if self.values is not None:
            out["values"] = list(self.values)
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def describe_allowed(self) -> str:
        if self.values is not None:
            return "one of " + ", ".join(repr(v) for v in self.values)
        if self.type in ("int", "float"):
            kind = "an integer" if self.type == "int" else "a number"
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            lb = "(" if (self.min is None or self.min_exclusive) else "["
            return f"{kind} in {lb}{lo}, {hi}{']' if self.max is not None else ')'}"
        return {"string": "a string", "bool": "true or false", "list[string]": "a list of strings",
                "dict": "an object", "frame_key": "a frame key"}.get(self.type, self.type)


class Problems:
    """Collects parameter problems; :meth:`raise_if_any` raises them as one ``invalid_parameter``."""

    def __init__(self, algo: str):
        self.algo = algo
        self.items: list[dict] = []

    def add(self, parameter: str, message: str) -> None:
        self.items.append({"parameter": parameter, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            msg = self.items[0]["message"]
        else:
            msg = (f"{len(self.items)} problems with the parameters of `{self.algo}`: "
                   + " ".join(p["message"] for p in self.items))
        raise InvalidParameter(msg, {"algo": self.algo, "problems": list(self.items)})


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("training_frame", "frame_key", "Key of the frame to train on.", required=True),
    ParamSpec("validation_frame", "frame_key", "Key of a frame to score the model on while training.",
              level="basic"),
    ParamSpec("model_id", "string", "Key of the model to create (default: a generated key).", level="basic"),
    ParamSpec("y", "string", "Name of the response column.", required=True),
    ParamSpec("x", "list[string]", "Names of the predictor columns (default: every column but the response, "
              "weights, offset, fold and ignored columns)."),
    ParamSpec("ignored_columns", "list[string]", "Names of columns not to use as predictors.", level="advanced"),
    ParamSpec("weights_column", "string", "Name of a column of non-negative row weights (0 drops the row).",
              level="advanced"),
    ParamSpec("offset_column", "string", "Name of a column added to the linear predictor (not fitted).",
              level="advanced"),
    ParamSpec("ignore_const_cols", "bool", "Drop constant predictor columns.", default=True, level="advanced"),
    ParamSpec("seed", "int", "Random seed (folds, sampling); -1 picks one.", default=-1, min=-1,
              max=2 ** 63 - 1, level="advanced"),
    ParamSpec("max_runtime_secs", "float", "Stop training after this many seconds (0: no limit).", default=0.0,
              min=0.0, level="advanced"),
    ParamSpec("nfolds", "int", "Number of cross-validation folds (0: none; otherwise at least 2).", default=0,
              min=0, max=1000),
    ParamSpec("fold_assignment", "string", "How rows are put in folds when nfolds > 0.", default="AUTO",
              values=("AUTO", "Random", "Modulo", "Stratified"), level="advanced"),
    ParamSpec("fold_column", "string", "Name of a column giving each row's fold (instead of nfolds).",
              level="advanced"),
    ParamSpec("keep_cross_validation_predictions", "bool", "Keep the holdout predictions of the "
              "cross-validation models as a frame.", default=False, level="advanced"),
    ParamSpec("stopping_rounds", "int", "Early stopping: stop when the moving average of this many "
              "scoring events did not improve (0: off).", default=0, min=0, max=1000, level="advanced"),
    ParamSpec("stopping_metric", "string", "Metric for early stopping.", default="AUTO",
              values=("AUTO", "deviance", "logloss", "MSE", "RMSE", "MAE", "AUC", "AUCPR",
                      "misclassification", "mean_per_class_error"), level="advanced"),
    ParamSpec("stopping_tolerance", "float", "Early stopping: relative improvement needed.", default=1e-3,
              min=0.0, level="advanced"),
)


def _type_ok(spec: ParamSpec, v: Any) -> tuple[bool, Any]:
    t = spec.type
    if t in ("string", "frame_key"):
        return isinstance(v, str), v
    if t == "bool":
        return isinstance(v, bool), v
    if t == "int":
        if isinstance(v, bool):
            return False, v
        if isinstance(v, int):
            return True, v
        if isinstance(v, float) and math.isfinite(v) and v == int(v):
            return True, int(v)
        return False, v
    if t == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False, v
        return math.isfinite(float(v)), float(v)
    if t == "list[string]":
        if isinstance(v, str):
            return True, [v]
        if isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v):
            return True, list(v)
        return False, v
    if t == "dict":
        return isinstance(v, dict), v
    return True, v


def validate(algo: str, specs: Sequence[ParamSpec], given: dict,
             checks: Iterable[Callable[[dict, Problems], None]] = ()) -> dict:
    """Validate ``given`` against ``specs``; return the full parameter dict (defaults filled in).

    ``None`` means "not set" (the default applies). Every problem is collected, then ``checks``
    (functions ``(params, problems)`` for cross-parameter rules) run on the filled dict, and all
    problems are raised together as one ``invalid_parameter`` error.
    """
    problems = Problems(algo)
    by_name = {s.name: s for s in specs}
    if not isinstance(given, dict):
        problems.add("params", f"The parameters of `{algo}` must be an object; got {type(given).__name__}.")
        problems.raise_if_any()
    for name in given:
        if name not in by_name:
            close = [ALIASES[name]] if name in ALIASES and ALIASES[name] in by_name else \
                difflib.get_close_matches(str(name), list(by_name), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            problems.add(str(name), f"`{algo}` has no parameter `{name}`.{hint}")
    out: dict[str, Any] = {}
    for spec in specs:
        v = given.get(spec.name, _MISSING)
        if v is _MISSING or v is None:
            if spec.required:
                problems.add(spec.name, f"Parameter `{spec.name}` of `{algo}` is required.")
            out[spec.name] = list(spec.default) if isinstance(spec.default, (list, tuple)) else spec.default
            continue
        ok, v2 = _type_ok(spec, v)
        bad = not ok
        if ok and spec.values is not None:
            if spec.type == "list[string]":
                bad = any(s not in spec.values for s in v2)
            else:
                match = [a for a in spec.values if isinstance(a, str) and isinstance(v2, str)
                         and a.lower() == v2.lower()]
                if v2 in spec.values:
                    pass
                elif match:
                    v2 = match[0]
                else:
                    bad = True
        if ok and not bad and spec.type in ("int", "float"):
            if spec.min is not None and (v2 < spec.min or (spec.min_exclusive and v2 == spec.min)):
                bad = True
            if spec.max is not None and v2 > spec.max:
                bad = True
        if bad:
            shown = repr(v)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            problems.add(spec.name, f"Parameter `{spec.name}` of `{algo}` must be {spec.describe_allowed()}; "
                                    f"got {shown}.")
            out[spec.name] = spec.default
        else:
            out[spec.name] = v2
    if not problems:
        for check in checks:
            check(out, problems)
    problems.raise_if_any()
    return out


def params_to_json(specs: Sequence[ParamSpec]) -> list[dict]:
    """The parameter rows as JSON (for the API description)."""
    return [s.to_json() for s in specs]
