"""The API description model: parameter and operation declarations, validation, metadata, OpenAPI.

Operations are declared once, as data, in :mod:`shoal_server.api.operations`. From those
declarations this module derives everything else: request validation at the edge (all problems in
one ``invalid_parameter`` error), the metadata document (``GET /api/v1/metadata``, committed as
``api/description.json`` for the client generator) and the OpenAPI 3.0 document.

Parameter types (the closed set the generators map to Python and R):

=====================  ======================================================================
``string``             text
``int`` / ``float``    numbers (an ``int`` accepts an integral float such as ``5.0``)
``bool``               true / false (query string: ``true``/``false``/``1``/``0``)
``list[string]``       JSON array of strings; a single string is taken as a one-element list
``list[int]``          JSON array of integers in [0, 2^31] (indices)
``dict``               JSON object
``frame_key``          a frame key (``^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$``)
``job_key``            a job key
``a|b``                either type (e.g. ``list[string]|dict``)
=====================  ======================================================================
"""
from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..errors import ERROR_CATALOG, InvalidParameter

__all__ = ["Param", "Operation", "validate_params", "build_description", "build_openapi",
           "description_path", "write_description", "API_VERSION", "KEY_PATTERN", "TYPES"]

API_VERSION = 1
KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$"
_KEY_RE = re.compile(KEY_PATTERN)
TYPES = ("string", "int", "float", "bool", "list[string]", "list[int]", "dict", "frame_key", "job_key")
_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One parameter of an operation.

    ``location`` is ``path``, ``query`` or ``body`` (a JSON body field); ``values`` the allowed values;
    ``min``/``max`` an inclusive range for numbers (``min_len``/``max_len`` for strings and lists);
    ``level`` ``basic`` / ``advanced`` / ``expert`` as in H2O-3.
    """

    name: str
    type: str
    help: str
    required: bool = False
    default: Any = None
    values: tuple | None = None
    min: float | None = None
    max: float | None = None
    min_len: int | None = None
    max_len: int | None = None
    level: str = "basic"
    location: str = "query"
    dict_values: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required,
                               "default": self.default, "help": self.help, "level": self.level,
                               "in": self.location}
        if self.values is not None:
            out["values"] = list(self.values)
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.min_len is not None:
            out["min_len"] = self.min_len
        if self.max_len is not None:
            out["max_len"] = self.max_len
        if self.dict_values is not None:
            out["dict_values"] = self.dict_values
        return out

    def describe(self) -> str:
        """What is allowed, in words, for error messages."""
        kinds = [_TYPE_WORDS.get(t, t) for t in self.type.split("|")]
        text = " or ".join(kinds)
        if self.values is not None:
            text = "one of " + ", ".join(json.dumps(v) for v in self.values)
        elif self.min is not None and self.max is not None:
            text += f" in [{_num(self.min)}, {_num(self.max)}]"
        elif self.min is not None:
            text += f" ≥ {_num(self.min)}"
        elif self.max is not None:
            text += f" ≤ {_num(self.max)}"
        if self.max_len is not None and self.type in ("string", "list[string]", "list[int]"):
            unit = "characters" if self.type == "string" else "items"
            text += f" (at most {self.max_len} {unit})"
        return text


_TYPE_WORDS = {"string": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
               "list[string]": "a list of strings", "list[int]": "a list of integers",
               "dict": "an object", "frame_key": "a frame key (letters, digits, _ . -)",
               "job_key": "a job key"}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Operation:
    """One API operation: route, parameters, result and the error codes it can return.

    ``body`` is ``json`` (parameters in a JSON object body), ``raw`` (the body is data; parameters in
    the query string) or None (no body). ``body_types`` lists accepted media types of a raw body.
    """

    name: str
    method: str
    path: str
    summary: str
    params: tuple[Param, ...] = ()
    result: str = ""
    result_schema: dict = field(default_factory=lambda: {"type": "object"})
    errors: tuple[str, ...] = ()
    body: str | None = None
    body_types: tuple[str, ...] = ()
    status: int = 200
    produces: tuple[str, ...] = ("application/json",)
    auth: bool = True
    job: bool = False
    tags: tuple[str, ...] = ()

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "summary": self.summary,
            "params": [p.to_json() for p in self.params],
            "body": self.body,
            "body_types": list(self.body_types),
            "status": self.status,
            "produces": list(self.produces),
            "result": {"help": self.result, "schema": self.result_schema},
            "returns_job": self.job,
            "auth": self.auth,
            "errors": list(self.errors),
            "tags": list(self.tags),
        }


# ---------------------------------------------------------------------------------------------- validation
def _coerce_text(p_type: str, text: str) -> Any:
    """A query-string value into the declared type; raises ValueError with a reason."""
    if p_type in ("string", "frame_key", "job_key"):
        return text
    if p_type == "int":
        t = text.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", t):
            raise ValueError
        return int(t)
    if p_type == "float":
        t = text.strip().lower()
        if t in ("nan", "+nan", "-nan") or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|[+-]?inf(inity)?", t):
            raise ValueError
        return float(t)
    if p_type == "bool":
        t = text.strip().lower()
        if t in ("true", "1"):
            return True
        if t in ("false", "0"):
            return False
        raise ValueError
    # list / dict types: JSON text; a plain string for list[string]
    s = text.strip()
    if s[:1] in ("[", "{", '"'):
        return json.loads(s)
    if p_type == "list[string]":
        return text
    if p_type == "list[int]":
        return [int(x) for x in s.split(",")] if s else []
    raise ValueError


def _check_type(p_type: str, value: Any) -> tuple[bool, Any]:
    """(ok, normalised value) for a JSON value against one declared type."""
    if p_type == "string":
        return isinstance(value, str), value
    if p_type in ("frame_key", "job_key"):
        return isinstance(value, str) and bool(_KEY_RE.match(value)), value
    if p_type == "int":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return -(2 ** 63) <= value < 2 ** 63, value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)
        return False, value
    if p_type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        v = float(value)
        return math.isfinite(v), v
    if p_type == "bool":
        return isinstance(value, bool), value
    if p_type == "list[string]":
        if isinstance(value, str):
            return True, [value]
        return isinstance(value, list) and all(isinstance(v, str) for v in value), value
    if p_type == "list[int]":
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2 ** 31
                                           for v in value):
            return True, value
        return False, value
    if p_type == "dict":
        return isinstance(value, dict), value
    return False, value


def _received(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_params(op: Operation, raw: dict[str, Any], from_text: Iterable[str] = ()) -> dict[str, Any]:
    """Check ``raw`` against the declaration of ``op``; return the values (defaults filled in).

    ``from_text`` names the entries of ``raw`` that came as text (query string or path) and must be
    converted to their declared type first. Every problem is collected; one
    :class:`InvalidParameter` lists them all.
    """
    from_text = set(from_text)
    problems: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    names = [p.name for p in op.params]
    for name in raw:
        if op.param(name) is None:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            allowed = ", ".join(names) if names else "none"
            problems.append({"parameter": name,
                             "message": f"Parameter `{name}` is not a parameter of `{op.name}` "
                                        f"(parameters: {allowed}){hint}"})
    for p in op.params:
        value = raw.get(p.name, _MISSING)
        if isinstance(value, dict) and p.dict_values is not None and "dict" in p.type.split("|"):
            bad = [k for k, v in value.items() if not _check_type(p.dict_values, v)[0]
                   or (p.dict_values == "list[string]" and not isinstance(v, list))]
            if bad:
                problems.append({"parameter": p.name,
                                 "message": f"Parameter `{p.name}` of `{op.name}` must map each key to "
                                            f"{_TYPE_WORDS[p.dict_values]}; the value of {_received(bad[0])} "
                                            f"is {_received(value[bad[0]])}"})
                continue
        if value is _MISSING or (value is None and not p.required):
            if p.required:
                problems.append({"parameter": p.name,
                                 "message": f"Parameter `{p.name}` of `{op.name}` is required: "
                                            f"{p.describe()}"})
            else:
                out[p.name] = p.default
            continue
        types = p.type.split("|")
        ok, norm = False, value
        for t in types:
            v = value
            if p.name in from_text and isinstance(value, str):
                try:
                    v = _coerce_text(t, value)
                except (ValueError, RecursionError):
                    continue
            ok, norm = _check_type(t, v)
            if ok:
                break
        problem = None
        if not ok:
            problem = f"must be {p.describe()}"
        else:
            problem = _check_range(p, norm)
        if problem:
            problems.append({"parameter": p.name,
                             "message": f"Parameter `{p.name}` of `{op.name}` {problem}; got "
                                        f"{_received(value)}"})
        else:
            out[p.name] = norm
    if problems:
        if len(problems) == 1:
            msg = problems[0]["message"] + "."
        else:
            msg = (f"{len(problems)} problems with the parameters of `{op.name}`: "
                   + " ".join(pr["message"] + "." for pr in problems))
        raise InvalidParameter(msg + " See `GET /api/v1/metadata` for every parameter.",
                               {"operation": op.name, "problems": problems})
    return out


def _check_range(p: Param, v: Any) -> str | None:
    if p.values is not None:
        items = v if isinstance(v, list) else [v]
        if isinstance(v, dict):
            items = list(v.values())
        if any(i not in p.values for i in items if not isinstance(i, (list, dict))):
            return f"must be {p.describe()}"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
            return f"must be {p.describe()}"
    if isinstance(v, (str, list, dict)):
        n = len(v)
        if p.max_len is not None and n > p.max_len:
            return f"must be {p.describe()}"
        if p.min_len is not None and n < p.min_len:
            unit = "characters" if isinstance(v, str) else "items"
            return f"must have at least {p.min_len} {unit}"
    return None


# ---------------------------------------------------------------------------------------------- documents
def build_description(operations: Iterable[Operation]) -> dict[str, Any]:
    """The metadata document (published and committed as ``description.json``)."""
    return {
        "api_version": API_VERSION,
        "version": __version__,
        "base_path": f"/api/v{API_VERSION}",
        "types": list(TYPES),
        "key_pattern": KEY_PATTERN,
        "operations": [op.to_json() for op in operations],
        "errors": [{"code": code, "http_status": klass.http_status, "help": klass.help}
                   for code, klass in ERROR_CATALOG.items()],
        # The closed set of expression primitives `evaluate` accepts (docs/munging.md): the clients
        # generate one builder function per entry from this list, as they do for operations.
        "expression_ops": _expression_ops(),
    }


def _expression_ops() -> list[dict[str, Any]]:
    from ..munging.expr import describe

    return describe()


def _schema_for(p: Param) -> dict[str, Any]:
    def one(t: str) -> dict[str, Any]:
        if t == "string":
            s: dict[str, Any] = {"type": "string"}
            if p.max_len is not None:
                s["maxLength"] = p.max_len
            if p.min_len is not None:
                s["minLength"] = p.min_len
            if p.values is not None:
                s["enum"] = list(p.values)
            return s
        if t in ("frame_key", "job_key"):
            return {"type": "string", "pattern": KEY_PATTERN}
        if t == "int":
            s = {"type": "integer", "format": "int64"}
            if p.min is not None:
                s["minimum"] = int(p.min)
            if p.max is not None:
                s["maximum"] = int(p.max)
            if p.values is not None:
                s["enum"] = list(p.values)
            return s
        if t == "float":
            s = {"type": "number"}
            if p.min is not None:
                s["minimum"] = p.min
            if p.max is not None:
                s["maximum"] = p.max
            return s
        if t == "bool":
            return {"type": "boolean"}
        if t == "list[string]":
            item: dict[str, Any] = {"type": "string"}
            if p.values is not None:
                item["enum"] = list(p.values)
            s = {"type": "array", "items": item}
            if p.max_len is not None:
                s["maxItems"] = p.max_len
            if p.min_len is not None:
                s["minItems"] = p.min_len
            single = dict(item)
            return {"anyOf": [single, s]}  # a single string is taken as a one-element list
        if t == "list[int]":
            s = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 2 ** 31}}
            if p.max_len is not None:
                s["maxItems"] = p.max_len
            return s
        if t == "dict":
            s = {"type": "object"}
            if p.dict_values == "string":
                vs: dict[str, Any] = {"type": "string"}
                if p.values is not None:
                    vs["enum"] = list(p.values)
                s["additionalProperties"] = vs
            elif p.dict_values == "list[string]":
                s["additionalProperties"] = {"type": "array", "items": {"type": "string"}}
            return s
        return {}

    types = p.type.split("|")
    schema = one(types[0]) if len(types) == 1 else {"anyOf": [one(t) for t in types]}
    schema["description"] = p.help
    if p.default is not None:
        schema["default"] = p.default
    return schema


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "details": {"type": "object"}}}},
}


def build_openapi(operations: Iterable[Operation], with_auth: bool = False) -> dict[str, Any]:
    """An OpenAPI 3.0 document of the operations."""
    paths: dict[str, Any] = {}
    for op in operations:
        item: dict[str, Any] = {"operationId": op.name, "summary": op.summary,
                                "description": op.result, "tags": list(op.tags) or ["shoal"]}
        parameters = []
        body_props: dict[str, Any] = {}
        body_required: list[str] = []
        for p in op.params:
            if p.location == "body":
                body_props[p.name] = _schema_for(p)
                if p.required:
                    body_required.append(p.name)
                continue
            schema = _schema_for(p)
            if p.type.startswith("list") or p.type == "dict" or "|" in p.type:
                # complex values travel as JSON text in the query string
                parameters.append({"name": p.name, "in": p.location, "required": p.required or p.location == "path",
                                   "description": p.help,
                                   "content": {"application/json": {"schema": schema}}})
            else:
                parameters.append({"name": p.name, "in": p.location,
                                   "required": p.required or p.location == "path",
                                   "description": p.help, "schema": schema})
        if parameters:
            item["parameters"] = parameters
        if op.body == "json":
            body_schema: dict[str, Any] = {"type": "object", "properties": body_props,
                                           "additionalProperties": False}
            if body_required:
                body_schema["required"] = body_required
            item["requestBody"] = {"required": bool(body_required),
                                   "content": {"application/json": {"schema": body_schema}}}
        elif op.body == "raw":
            item["requestBody"] = {"required": False, "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in op.body_types}}
        responses: dict[str, Any] = {}
        ok_content: dict[str, Any] = {}
        for media in op.produces:
            if media == "application/json":
                ok_content[media] = {"schema": op.result_schema}
            else:
                ok_content[media] = {"schema": {"type": "string", "format": "binary"}}
        responses[str(op.status)] = {"description": op.result or "OK", "content": ok_content}
        statuses = sorted({ERROR_CATALOG[c].http_status for c in op.errors if c in ERROR_CATALOG})
        for st in statuses:
            codes = [c for c in op.errors if c in ERROR_CATALOG and ERROR_CATALOG[c].http_status == st]
            responses[str(st)] = {"description": "Error: " + ", ".join(codes),
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        responses["default"] = {"description": "Error envelope",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        item["responses"] = responses
        if not op.auth:
            item["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = item
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Shoal node API", "version": __version__,
                 "description": "Every operation of a Shoal node; generated from the API description."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR_SCHEMA},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    if with_auth:
        doc["security"] = [{"bearer": []}]
    return doc


def description_path() -> Path:
    return Path(__file__).with_name("description.json")


def dumps_description(desc: dict[str, Any]) -> str:
    return json.dumps(desc, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def write_description(path: str | Path | None = None) -> Path:
    """Write the committed copy of the description (run after changing an operation)."""
    from .operations import OPERATIONS

    target = Path(path) if path else description_path()
    target.write_text(dumps_description(build_description(OPERATIONS)), encoding="utf-8")
    return target


if __name__ == "__main__":  # python -m shoal_server.api.description
    print(write_description())
