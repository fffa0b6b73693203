"""Python emitter: the API description → ``pyclient/shoal/_generated/*.py``.

Writes four modules:

- ``operations.py``: one function per operation, ``op(conn, <path and required params>, *,
  <optional params>=None)``, with a numpydoc docstring built from the help text. A parameter left
  at ``None`` is not sent (the server owns every default).
- ``errors.py``: one ``ShoalError`` subclass per error code of the catalog, ``ERROR_CLASSES``.
- ``expressions.py``: one builder per expression op of the ``evaluate`` grammar (the description's
  ``expression_ops``), ``op(<positional sub-expressions>, *, <params>=None) -> shoal.expr.Expr``,
  with the op's help as docstring. A parameter left at ``None`` is not sent.
- ``__init__.py``: marks the package as generated.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import camel_case, errors, header_line, operations, py_identifier, wrap

__all__ = ["emit", "OWNED_GLOBS"]

#: Files this emitter owns; a file matching these that ``emit`` does not produce is stale.
OWNED_GLOBS = ("pyclient/shoal/_generated/*.py",)
_OUT = "pyclient/shoal/_generated"

_PY_TYPES = {"string": "str", "int": "int", "float": "float", "bool": "bool", "list[string]": "list[str]",
             "list[int]": "list[int]", "dict": "dict", "frame_key": "str", "job_key": "str"}


def _py_type(t: str) -> str:
    return " | ".join(_PY_TYPES.get(x, "object") for x in t.split("|"))


def _doc_text(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _default_words(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


def _param_doc(p: dict[str, Any]) -> list[str]:
    kind = _py_type(p["type"])
    lines = [f"    {py_identifier(p['name'])} : {kind}" + ("" if p.get("required") else ", optional")]
    text = p.get("help", "")
    extra = []
    if p.get("values") is not None:
        extra.append("One of " + ", ".join(_default_words(v) for v in p["values"]) + ".")
    if p.get("min") is not None or p.get("max") is not None:
        lo = "-inf" if p.get("min") is None else _default_words(p["min"])
        hi = "inf" if p.get("max") is None else _default_words(p["max"])
        extra.append(f"Range [{lo}, {hi}].")
    if not p.get("required") and p.get("default") is not None:
        extra.append(f"Server default: {_default_words(p['default'])}.")
    if p.get("level") and p["level"] != "basic":
        extra.append(f"({p['level']})")
    lines += wrap(_doc_text(" ".join([text] + extra)), indent="        ")
    return lines


def _dict_literal(params: list[dict[str, Any]]) -> str:
    items = [f"{p['name']!r}: {py_identifier(p['name'])}" for p in params]
    flat = "{" + ", ".join(items) + "}"
    if len(flat) <= 60:
        return flat
    return "{\n" + "".join(f"        {it},\n" for it in items) + "    }"


def _function(op: dict[str, Any], catalog: dict[str, tuple[str, str]]) -> str:
    name = py_identifier(op["name"])
    params = op.get("params", [])
    path_params = [p for p in params if p.get("in") == "path"]
    others = [p for p in params if p.get("in") != "path"]
    required = [p for p in others if p.get("required")]
    optional = [p for p in others if not p.get("required")]
    raw = op.get("body") == "raw"
    binary = not any(t == "application/json" for t in op.get("produces", ["application/json"]))

    reserved = {"conn", "body", "query", "progress", "total", "content_type", "path_param"}
    clash = sorted(py_identifier(p["name"]) for p in params if py_identifier(p["name"]) in reserved)
    if clash:
        raise ValueError(f"Operation `{op['name']}` has parameter(s) {clash} whose names the Python "
                         f"wrappers reserve ({sorted(reserved)}); rename them in the API description.")
    sig = ["conn"]
    sig += [py_identifier(p["name"]) for p in path_params]
    if raw:
        sig.append("body")
    sig += [py_identifier(p["name"]) for p in required]
    kw = [f"{py_identifier(p['name'])}=None" for p in optional]
    if raw or binary:
        kw.append("progress=None")
    if raw:
        kw.append("total=None")
        kw.append("content_type=None")
    if kw:
        sig += ["*"] + kw

    doc = [f'    """{_doc_text(op.get("summary", op["name"]))}', ""]
    doc += [f"    ``{op['method']} {op['path']}`` (operation ``{op['name']}``).", ""]
    doc += ["    Parameters", "    ----------", "    conn : shoal.connection.Connection",
            "        The connection to send the request on."]
    for p in path_params:
        doc += _param_doc(p)
    if raw:
        types = ", ".join(op.get("body_types", [])) or "application/octet-stream"
        doc += ["    body : str | os.PathLike | bytes | file object | iterable of bytes",
                "        The request body (a file path is opened and streamed).",
                *wrap(_doc_text(f"Content types: {types}."), indent="        ")]
    for p in required + optional:
        doc += _param_doc(p)
    if raw or binary:
        doc += ["    progress : callable, optional",
                "        ``progress(done_bytes, total_bytes)``, called while the body streams."]
    if raw:
        doc += ["    total : int, optional",
                "        Size of ``body`` in bytes when it is an iterable of pieces.",
                "    content_type : str, optional",
                f"        Media type of the body; default ``{(op.get('body_types') or ['application/octet-stream'])[0]}``."]
    doc += ["", "    Returns", "    -------"]
    if binary:
        doc += ["    bytearray", *wrap(_doc_text(op.get("result", {}).get("help", "") or "The body."),
                                      indent="        ")]
    else:
        doc += ["    dict", *wrap(_doc_text(op.get("result", {}).get("help", "") or "The decoded JSON."),
                                  indent="        ")]
    errs = [c for c in op.get("errors", []) if c in catalog]
    if errs:
        doc += ["", "    Raises", "    ------"]
        for c in errs:
            cls, help_text = catalog[c]
            doc += [f"    {cls}", *wrap(_doc_text(f"``{c}``: {help_text}"), indent="        ")]
    doc += ['    """']

    body: list[str] = []
    path_expr = repr(op["path"])
    for p in path_params:
        token = "{" + p["name"] + "}"
        path_expr = f"{path_expr}.replace({token!r}, path_param({py_identifier(p['name'])}))"
    location_query = [p for p in required + optional if p.get("in") != "body"]
    location_body = [p for p in required + optional if p.get("in") == "body"]
    q = _dict_literal(location_query)
    b = _dict_literal(location_body)
    if raw:
        ctype = (op.get("body_types") or ["application/octet-stream"])[0]
        body.append(f"    query = {q}")
        body.append(f"    return conn.upload({path_expr}, body, query=query, total=total, progress=progress,")
        body.append(f"                       content_type=content_type or {ctype!r})")
    elif binary:
        body.append(f"    query = {q}")
        body.append(f"    return conn.download({path_expr}, query=query, progress=progress)")
    elif op.get("body") == "json":
        body.append(f"    body = {b}")
        if _waits_in_request(op):   # the answer comes when the work ends: no fixed read timeout
            body.append(f"    return conn.call({op['method']!r}, {path_expr}, query={q}, body=body,")
            body.append("                     timeout=conn.work_timeout(max_runtime_secs))")
        else:
            body.append(f"    return conn.call({op['method']!r}, {path_expr}, query={q}, body=body)")
    else:
        body.append(f"    query = {q}")
        body.append(f"    return conn.call({op['method']!r}, {path_expr}, query=query)")

    head = f"def {name}({', '.join(sig)}):"
    if len(head) > 100:
        lines = [f"def {name}("]
        cur = "        "
        for i, part in enumerate(sig):
            piece = part + ("," if i < len(sig) - 1 else "")
            if len(cur) + len(piece) + 1 > 100 and cur.strip():
                lines.append(cur.rstrip())
                cur = "        "
            cur += piece + " "
        lines.append(cur.rstrip() + "):")
        head = "\n".join(lines)
    return "\n".join([head, *doc, *body]) + "\n"


def _operations_module(desc: dict[str, Any]) -> str:
    catalog = {e["code"]: (camel_case(e["code"]), e.get("help", "")) for e in errors(desc)}
    ops = operations(desc)
    names = [py_identifier(op["name"]) for op in ops]
    out = [header_line(),
           '"""One function per operation of the Shoal node API (generated; see tools/codegen).',
           "",
           "Every function takes the connection first. Parameters left at ``None`` are not sent, so the",
           "server's defaults apply. Hand-written client code (``shoal.frame``, ``shoal.jobs``, ...)",
           'calls these functions; users normally do not need them directly.',
           '"""',
           "from __future__ import annotations",
           "",
           "from ..connection import path_param",
           "",
           "__all__ = [",
           *[f"    {n!r}," for n in names],
           "]",
           "",
           f"API_VERSION = {desc.get('api_version', 1)!r}",
           f"SERVER_VERSION = {desc.get('version', '')!r}",
           ""]
    for op in ops:
        out += ["", _function(op, catalog)]
    return "\n".join(out).rstrip() + "\n"


def _errors_module(desc: dict[str, Any]) -> str:
    entries = errors(desc)
    out = [header_line(),
           '"""One exception class per error code of the API description (generated; see tools/codegen)."""',
           "from __future__ import annotations",
           "",
           "from .._errorbase import ShoalError",
           "",
           "__all__ = [",
           *[f"    {camel_case(e['code'])!r}," for e in entries if camel_case(e["code"]) != "ShoalError"],
           '    "ERROR_CLASSES",',
           "]",
           ""]
    for e in entries:
        cls = camel_case(e["code"])
        out += ["",
                f"class {cls}(ShoalError):",
                f'    """{_doc_text(e.get("help", e["code"]))}"""',
                "",
                f"    code = {e['code']!r}",
                f"    http_status = {int(e.get('http_status') or 500)!r}",
                ""]
    out += ["",
            "#: error code -> exception class",
            "ERROR_CLASSES = {",
            *[f"    {e['code']!r}: {camel_case(e['code'])}," for e in entries],
            "}"]
    return "\n".join(out).rstrip() + "\n"


_ARG_NAMES = ("e1", "e2", "e3")


def _expression_builder(entry: dict[str, Any]) -> tuple[str, str]:
    """One builder function for an expression op: (python name, source)."""
    op = entry["op"]
    name = py_identifier(op)
    lo, hi = int(entry.get("min_args", 0)), entry.get("max_args")
    params = list(entry.get("params", []))
    required = set(entry.get("required", []))
    reserved = {"args", "params", "_node"}
    clash = sorted(p for p in params if py_identifier(p) in reserved | set(_ARG_NAMES))
    if clash:
        raise ValueError(f"Expression op `{op}` has parameter(s) {clash} whose names the Python builders "
                         f"reserve; rename them in shoal_server.munging.expr.")
    sig: list[str] = []
    if hi is None:
        sig += [_ARG_NAMES[i] for i in range(min(lo, 3))] + ["*args"]
        arg_expr = "[" + ", ".join([_ARG_NAMES[i] for i in range(min(lo, 3))] + ["*args"]) + "]"
        if lo > 3:
            raise ValueError(f"Expression op `{op}`: more than 3 required arguments with no upper bound.")
    else:
        hi = int(hi)
        if hi > 3:
            raise ValueError(f"Expression op `{op}` takes up to {hi} arguments; the builders name at most 3.")
        names = list(_ARG_NAMES[:hi])
        sig += names[:lo] + [f"{n}=_UNSET" for n in names[lo:hi]]
        if hi:
            sig.append("/")
        arg_expr = "[" + ", ".join(names) + "]"
    kw = [py_identifier(p) + ("" if p in required else "=None") for p in params]
    if kw:
        sig += (["*"] if hi is not None else []) + kw
    arity = (f"{lo}" if hi == lo else f"{lo} or more" if hi is None else f"{lo} to {hi}")
    doc = [f'    """{_doc_text(entry.get("help", "") or op)}', "",
           f"    Expression op ``{op}``: {arity} positional argument(s) (expressions, frames or literals)."]
    if params:
        doc += ["", "    Parameters", "    ----------"]
        for p in params:
            doc += [f"    {py_identifier(p)} : JSON value" + ("" if p in required else ", optional"),
                    "        " + ("Required." if p in required else "Not sent when None (the server default applies).")]
    doc += ["", "    Returns", "    -------", "    shoal.expr.Expr", '    """']
    pdict = "{" + ", ".join(f"{p!r}: {py_identifier(p)}" for p in params) + "}"
    body = [f"    return _node({op!r}, {arg_expr}, {pdict})"]
    head = f"def {name}({', '.join(sig)}):"
    if len(head) > 100:
        head = f"def {name}(\n        " + ",\n        ".join(sig) + "):"
    return name, "\n".join([head, *doc, *body]) + "\n"


def _expressions_module(desc: dict[str, Any]) -> str:
    entries = list(desc.get("expression_ops", []))
    built = [_expression_builder(e) for e in entries]
    out = [header_line(),
           '"""One builder per expression op of ``POST /api/v1/evaluate`` (generated; see tools/codegen).',
           "",
           "Each function returns a :class:`shoal.expr.Expr` node; positional arguments are sub-expressions",
           "(``Expr``, ``shoal.Frame``) or literals, keyword arguments are the op's parameters (``None`` is",
           "not sent, so the server's default applies). ``shoal.expr`` and ``shoal.frame`` build on these;",
           "``OPS`` maps each op name to its builder.",
           '"""',
           "from __future__ import annotations",
           "",
           "__all__ = [",
           *[f"    {n!r}," for n, _src in built],
           '    "OPS",',
           "]",
           "",
           "_UNSET = object()",
           "",
           "",
           "def _node(op, args, params):",
           "    from ..expr import Expr",
           "",
           "    return Expr.op(op, *[a for a in args if a is not _UNSET], **params)",
           ""]
    for _n, src in built:
        out += ["", src]
    out += ["", "#: op name -> builder", "OPS = {", *[f"    {e['op']!r}: {n}," for e, (n, _s) in zip(entries, built)],
            "}"]
    return "\n".join(out).rstrip() + "\n"


def _init_module(desc: dict[str, Any]) -> str:
    return "\n".join([
        header_line(),
        '"""Wrappers generated from the API description by tools/codegen; do not edit by hand.',
        "",
        "``operations``: one function per API operation; ``errors``: one exception class per error code;",
        "``expressions``: one builder per expression op of ``evaluate``.",
        '"""',
    ]) + "\n"


def emit(description: dict[str, Any], root: Path) -> dict[str, str]:
    """The plugin entry point: relative path → file text."""
    return {
        f"{_OUT}/__init__.py": _init_module(description),
        f"{_OUT}/operations.py": _operations_module(description),
        f"{_OUT}/errors.py": _errors_module(description),
        f"{_OUT}/expressions.py": _expressions_module(description),
    }


def _waits_in_request(op: dict) -> bool:
    """An operation that runs its work as a job but answers only when it ends (``evaluate``)."""
    return not op.get("returns_job") and any(p["name"] == "max_runtime_secs" for p in op.get("params", []))
