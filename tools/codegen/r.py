"""The R emitter: API description → ``rclient/R/generated-api.R`` and ``rclient/man/generated-*.Rd``.

One exported function ``shoal_<operation>`` per operation, with the operation's parameters under
their API names (optional ones default to ``NULL``: the client sends only what the user set, the
server owns defaults). The generated body is data only: it hands the route, the parameter values,
their declared types and locations to the hand-written ``.shoal_call()`` (``rclient/R/call.R``),
which does the HTTP call through the one transport and shapes the result (job → ShoalFrame, ...).

Raw-body operations get one extra first argument for the body, chosen by the media types the
operation accepts: a file to stream (``path``) or a data.frame sent as SHOALCOL (``data``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import header_line, operations, errors, wrap

__all__ = ["emit", "OWNED_GLOBS", "r_function_name", "r_expr_function_name", "expression_ops", "BODY_ARGUMENTS",
           "ESTIMATORS"]

OWNED_GLOBS = ("rclient/R/generated-*.R", "rclient/man/generated-*.Rd")

#: media type accepted by a raw-body operation → (R argument, kind handled by .shoal_call, help)
BODY_ARGUMENTS = {
    "application/x-shoalcol": ("data", "shoalcol",
                               "A data.frame (or a ShoalFrame, returned as is), sent in the SHOALCOL "
                               "columnar format: factor → enum, character → string, integer → int, "
                               "double → real, logical → bool, POSIXct/Date → time."),
    "text/csv": ("path", "file", "Path of a local file to upload; it is streamed, never read whole "
                                 "into memory."),
}

#: training operation → the H2O-style R estimator emitted next to it (same parameters, x / y /
#: training_frame / validation_frame first, as in h2o.glm(x, y, training_frame, ...))
ESTIMATORS = {"train_glm": "shoal_glm", "train_gbm": "shoal_gbm", "train_drf": "shoal_randomForest"}
_ESTIMATOR_FIRST = ("x", "y", "training_frame", "validation_frame")

_R_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
               "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in"}


_PROGRESS_ARG = 'progress = getOption("shoal.progress", TRUE)'
_PROGRESS_HELP = ("Show a text progress bar while the job runs (client side; default: option "
                  "`shoal.progress`, TRUE when unset).")


def r_function_name(op_name: str) -> str:
    return "shoal_" + op_name


def _r_ident(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    if ident in _R_RESERVED:
        raise ValueError(f"Parameter name `{name}` is reserved in R; rename it in the API description.")
    return ident


def _r_string(s: str) -> str:
    return json.dumps(str(s), ensure_ascii=False)


def _r_value(v: Any) -> str:
    """An R literal for a JSON default (documentation only)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _r_string(v)
    if isinstance(v, list):
        return "c(" + ", ".join(_r_value(x) for x in v) + ")"
    return _r_string(json.dumps(v))


def _body_argument(op: dict) -> tuple[str, str, str] | None:
    if op.get("body") != "raw":
        return None
    for media in op.get("body_types", []):
        if media in BODY_ARGUMENTS:
            return BODY_ARGUMENTS[media]
    raise ValueError(f"Operation `{op['name']}` takes a raw body of types {op.get('body_types')}, "
                     f"which the R emitter does not know (add it to BODY_ARGUMENTS).")


def _returns(op: dict) -> str:
    produces = op.get("produces") or ["application/json"]
    return "json" if "application/json" in produces else "raw"


def _param_help(p: dict) -> str:
    bits = [p.get("help", "").strip()]
    facts = [f"`{p['type']}`"]
    if p.get("required"):
        facts.append("required")
    elif p.get("default") is not None:
        facts.append(f"server default `{_r_value(p['default'])}`")
    if p.get("values") is not None:
        facts.append("one of " + ", ".join(f"`{_r_value(v)}`" for v in p["values"]))
    if p.get("min") is not None or p.get("max") is not None:
        lo = p.get("min")
        hi = p.get("max")
        facts.append(f"range [{'' if lo is None else _num(lo)}, {'' if hi is None else _num(hi)}]")
    if p.get("level") and p["level"] != "basic":
        facts.append(p["level"])
    text = " ".join(b for b in bits if b)
    return f"{text} ({'; '.join(facts)})"


def _num(x: Any) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _emit_function(op: dict) -> list[str]:
    name = r_function_name(op["name"])
    params = op.get("params", [])
    body_arg = _body_argument(op)
    args: list[str] = []
    roxy: list[str] = []
    roxy += ["#' " + line for line in wrap(op.get("summary", op["name"]), 88)]
    roxy.append("#'")
    roxy.append(f"#' API operation `{op['name']}`: `{op['method']} {op['path']}`.")
    roxy.append("#' Only the arguments you set are sent; the server owns the defaults.")
    roxy.append("#'")
    if body_arg:
        arg, _kind, help_text = body_arg
        args.append(arg)
        roxy += _wrap_roxy(f"@param {arg} {help_text}")
    required = [p for p in params if p.get("required")]
    optional = [p for p in params if not p.get("required")]
    for p in required + optional:
        ident = _r_ident(p["name"])
        args.append(ident if p.get("required") else f"{ident} = NULL")
        roxy += _wrap_roxy(f"@param {ident} {_param_help(p)}")
    if op.get("returns_job"):
        args.append(_PROGRESS_ARG)
        roxy += _wrap_roxy(f"@param progress {_PROGRESS_HELP}")
    result = op.get("result", {}).get("help", "") if isinstance(op.get("result"), dict) else ""
    roxy += _wrap_roxy(f"@return {result or 'The parsed JSON answer.'} See `?shoal_results` for the R "
                       f"value.")
    if op.get("errors"):
        roxy.append("#' @section Errors:")
        roxy += _wrap_roxy("Classed conditions " + ", ".join(f"`shoal_error_{c}`" for c in op["errors"])
                           + " (see `?shoal_error`).", prefix="#' ")
    roxy.append(f"#' @family api")
    roxy.append("#' @export")

    def vec(entries: list[tuple[str, str]]) -> str:
        if not entries:
            return "character(0)"
        return "c(" + ", ".join(f"{k} = {_r_string(v)}" for k, v in entries) + ")"

    values = []
    for p in params:
        ident = _r_ident(p["name"])
        value = f".as_key({ident})" if p["type"] == "frame_key" else ident
        values.append(f"{p['name']} = {value}" if ident == p["name"] else f"{_r_string(p['name'])} = {value}")
    types = vec([(p["name"], p["type"]) for p in params])
    where = vec([(p["name"], p.get("in", "query")) for p in params])
    signature = f"{name} <- function({', '.join(args)}) {{"
    if len(signature) > 100:
        signature = f"{name} <- function(\n" + ",\n".join("    " + a for a in args) + ") {"
    lines = roxy + [signature]
    lines.append("  .shoal_call(")
    lines.append(f"    op = {_r_string(op['name'])}, method = {_r_string(op['method'])}, "
                 f"route = {_r_string(op['path'])},")
    if values:
        lines.append("    params = list(")
        for i, v in enumerate(values):
            lines.append(f"      {v}{',' if i < len(values) - 1 else ''}")
        lines.append("    ),")
    else:
        lines.append("    params = list(),")
    lines.append(f"    types = {types},")
    lines.append(f"    where = {where},")
    if body_arg:
        lines.append(f"    body = {body_arg[0]}, body_kind = {_r_string(body_arg[1])},")
        lines.append(f"    content_type = {_r_string(op['body_types'][0] if body_arg[1] != 'file' else 'application/octet-stream')},")
    if op.get("returns_job"):
        lines.append("    progress = progress,")
    lines.append(f"    returns = {_r_string(_returns(op))}")
    lines.append("  )")
    lines.append("}")
    lines.append("")
    return lines


def _wrap_roxy(text: str, prefix: str = "#' ") -> list[str]:
    out = wrap(text, 92 - len(prefix))
    return [prefix + out[0]] + [prefix + "  " + line for line in out[1:]]


def _estimator_args(op: dict) -> list[dict]:
    params = {p["name"]: p for p in op.get("params", [])}
    first = [params[n] for n in _ESTIMATOR_FIRST if n in params]
    return first + [p for p in op.get("params", []) if p["name"] not in _ESTIMATOR_FIRST]


def _estimator_formal(p: dict) -> str:
    ident = _r_ident(p["name"])
    return ident if p.get("required") else f"{ident} = NULL"


def _emit_estimator(op: dict) -> list[str]:
    """``shoal_glm()`` & co: the training operation with H2O's argument order; returns a ShoalModel."""
    name = ESTIMATORS[op["name"]]
    params = _estimator_args(op)
    roxy = ["#' " + line for line in wrap(op.get("summary", op["name"]), 88)]
    roxy += ["#'", f"#' Calls `{r_function_name(op['name'])}()` (API operation `{op['name']}`), waits for the job and",
             "#' returns the trained model (a `ShoalModel`). Only the arguments you set are sent.", "#'"]
    for p in params:
        roxy += _wrap_roxy(f"@param {_r_ident(p['name'])} {_param_help(p)}")
    roxy += _wrap_roxy(f"@param progress {_PROGRESS_HELP}")
    roxy += ["#' @return A `ShoalModel`.", "#' @family models", "#' @export"]
    formals = [_estimator_formal(p) for p in params] + [_PROGRESS_ARG]
    lines = roxy + [f"{name} <- function(\n" + ",\n".join("    " + a for a in formals) + ") {"]
    call_args = [f"{_r_ident(p['name'])} = {_r_ident(p['name'])}" for p in params] + ["progress = progress"]
    lines.append(f"  {r_function_name(op['name'])}(")
    lines += [f"    {a}{',' if i < len(call_args) - 1 else ''}" for i, a in enumerate(call_args)]
    lines += ["  )", "}", ""]
    return lines


def _emit_estimator_rd(op: dict) -> str:
    name = ESTIMATORS[op["name"]]
    params = _estimator_args(op)
    usage = ", ".join([_estimator_formal(p) for p in params] + [_PROGRESS_ARG])
    out = [header_line("%"), f"\\name{{{name}}}", f"\\alias{{{name}}}",
           f"\\title{{{_rd_escape(op.get('summary', name).rstrip('.'))}}}",
           "\\usage{", f"{name}({usage})", "}", "\\arguments{"]
    for p in params:
        out.append(f"\\item{{{_r_ident(p['name'])}}}{{{_rd_escape(_param_help(p))}}}")
    out.append(f"\\item{{progress}}{{{_rd_escape(_PROGRESS_HELP)}}}")
    out += ["}", "\\value{A \\code{ShoalModel}: \\code{predict()}, \\code{print()}, \\code{summary()}, "
            "\\code{\\link{shoal_performance}()}.}", "\\description{", _rd_escape(op.get("summary", "")), "",
            f"Calls \\code{{{r_function_name(op['name'])}()}} (API operation \\code{{{op['name']}}}), waits for "
            "the job and returns the trained model. Only the arguments you set are sent; the server owns the "
            "defaults.", "}", "\\concept{models}"]
    return "\n".join(out) + "\n"


def _emit_r(desc: dict) -> str:
    lines = [header_line("#"), ""]
    lines.append("# One function per API operation. Each body is data for .shoal_call() (R/call.R).")
    lines.append("")
    for op in operations(desc):
        lines += _emit_function(op)
        if op["name"] in ESTIMATORS:
            lines += _emit_estimator(op)
    lines.append("# The error catalog: code -> help. Every code is signalled as class shoal_error_<code>.")
    lines.append(".shoal_error_catalog <- c(")
    errs = errors(desc)
    for i, e in enumerate(errs):
        lines.append(f"  {e['code']} = {_r_string(e.get('help', ''))}{',' if i < len(errs) - 1 else ''}")
    lines.append(")")
    lines.append("")
    lines.append("# Operation name -> exported R function (the parity tests read this too).")
    lines.append(".shoal_operations <- c(")
    ops = operations(desc)
    for i, op in enumerate(ops):
        lines.append(f"  {op['name']} = {_r_string(r_function_name(op['name']))}{',' if i < len(ops) - 1 else ''}")
    lines.append(")")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ Rd
def _rd_escape(text: str) -> str:
    text = str(text).replace("\\", "\\\\").replace("%", "\\%").replace("{", "\\{").replace("}", "\\}")
    # `code` spans → \code{}
    return re.sub(r"`([^`]+)`", _rd_code, text)


def _rd_code(m: "re.Match[str]") -> str:
    # \code{} is R-like text where a lone quote opens a string; \verb{} takes it literally.
    span = m.group(1)
    return ("\\verb{" if any(q in span for q in "\"'") else "\\code{") + span + "}"


def _emit_rd(op: dict) -> str:
    name = r_function_name(op["name"])
    params = op.get("params", [])
    body_arg = _body_argument(op)
    required = [p for p in params if p.get("required")]
    optional = [p for p in params if not p.get("required")]
    usage_args = ([body_arg[0]] if body_arg else []) + \
        [_r_ident(p["name"]) for p in required] + [f"{_r_ident(p['name'])} = NULL" for p in optional] + \
        ([_PROGRESS_ARG] if op.get("returns_job") else [])
    out = [header_line("%"),
           f"\\name{{{name}}}",
           f"\\alias{{{name}}}",
           f"\\title{{{_rd_escape(op.get('summary', name).rstrip('.'))}}}",
           "\\usage{",
           f"{name}({', '.join(usage_args)})",
           "}"]
    if usage_args:
        out.append("\\arguments{")
        if body_arg:
            out.append(f"\\item{{{body_arg[0]}}}{{{_rd_escape(body_arg[2])}}}")
        for p in required + optional:
            out.append(f"\\item{{{_r_ident(p['name'])}}}{{{_rd_escape(_param_help(p))}}}")
        if op.get("returns_job"):
            out.append(f"\\item{{progress}}{{{_rd_escape(_PROGRESS_HELP)}}}")
        out.append("}")
    result = op.get("result", {}).get("help", "") if isinstance(op.get("result"), dict) else ""
    out.append(f"\\value{{{_rd_escape(result or 'The parsed JSON answer.')} See "
               f"\\code{{\\link{{shoal_results}}}} for the R value.}}")
    out.append("\\description{")
    out.append(_rd_escape(op.get("summary", "")))
    out.append("")
    out.append(f"API operation \\code{{{op['name']}}}: \\code{{{op['method']} {_rd_escape(op['path'])}}}. "
               "Only the arguments you set are sent; the server owns the defaults.")
    out.append("}")
    if op.get("errors"):
        out.append("\\section{Errors}{")
        out.append("Classed conditions " + ", ".join(f"\\code{{shoal_error_{c}}}" for c in op["errors"])
                   + " (see \\code{\\link{shoal_error}}).")
        out.append("}")
    out.append("\\concept{api}")
    return "\n".join(out) + "\n"


def emit(description: dict, root: Path) -> dict[str, str]:
    """``{relative path: text}`` for the R client; depends only on ``description``."""
    files = {"rclient/R/generated-api.R": _emit_r(description)}
    for op in operations(description):
        files[f"rclient/man/generated-{r_function_name(op['name'])}.Rd"] = _emit_rd(op)
        if op["name"] in ESTIMATORS:
            files[f"rclient/man/generated-{ESTIMATORS[op['name']]}.Rd"] = _emit_estimator_rd(op)
    if expression_ops(description):
        files[EXPR_R] = _emit_expr_r(description)
        files[EXPR_RD] = _emit_expr_rd(description)
    return files


# ------------------------------------------------------------------------------------ expressions
#: the expression builders' file and their one grouped help page
EXPR_R = "rclient/R/generated-expr.R"
EXPR_RD = "rclient/man/generated-shoal_expr.Rd"


def expression_ops(desc: dict) -> list[dict]:
    """Expression ops (``expression_ops`` of the description) in description order."""
    return list(desc.get("expression_ops", []))


def r_expr_function_name(op: str) -> str:
    return "shoal_expr_" + re.sub(r"[^A-Za-z0-9_.]", "_", op)


def _expr_positional(e: dict) -> list[tuple[str, bool]]:
    """The positional formals of a builder: (name, optional); ``...`` when the arity is open."""
    lo, hi = int(e.get("min_args") or 0), e.get("max_args")
    if hi is None:
        return [("...", False)]
    hi = int(hi)
    names = ["x", "y", "z"] if hi <= 3 else [f"arg{i + 1}" for i in range(hi)]
    if set(names[:hi]) & {_r_ident(p) for p in e.get("params", [])}:
        names = [f"arg{i + 1}" for i in range(hi)]
    return [(names[i], i >= lo) for i in range(hi)]


def _expr_formals(e: dict) -> list[str]:
    out = [n if (n == "..." or not opt) else f"{n} = NULL" for n, opt in _expr_positional(e)]
    req = set(e.get("required", []))
    out += [_r_ident(p) if p in req else f"{_r_ident(p)} = NULL" for p in e.get("params", [])]
    return out


def _emit_expr_function(e: dict) -> list[str]:
    name = r_expr_function_name(e["op"])
    pos = _expr_positional(e)
    args = "list(...)" if pos and pos[0][0] == "..." else "list(" + ", ".join(n for n, _ in pos) + ")"
    params = e.get("params", [])
    plist = "list(" + ", ".join(
        f"{p} = {_r_ident(p)}" if _r_ident(p) == p else f"{_r_string(p)} = {_r_ident(p)}" for p in params) + ")"
    roxy = ["#' " + line for line in wrap(e.get("help") or e["op"], 88)]
    roxy += [f"#' Expression op `{e['op']}` (see `?shoal_expr`).", "#' @rdname shoal_expr", "#' @export"]
    signature = f"{name} <- function({', '.join(_expr_formals(e))}) {{"
    lines = roxy + [signature]
    lines.append(f"  .shoal_expr({_r_string(e['op'])}, {args}, {plist})")
    lines += ["}", ""]
    return lines


def _emit_expr_r(desc: dict) -> str:
    ops = expression_ops(desc)
    lines = [header_line("#"), "",
             "# One builder per expression op (docs/munging.md). Each returns the op's node as a plain",
             "# list tree (op, args, params) that jsonlite serialises as the JSON the server expects;",
             "# .shoal_expr() (R/frame-ops.R) checks the arity and turns ShoalFrames into frame leaves.",
             ""]
    for e in ops:
        lines += _emit_expr_function(e)
    lines.append("# Expression op -> builder, arity (min, max; NA: open) and parameters (parity tests read this).")
    lines.append(".shoal_expr_ops <- list(")
    for i, e in enumerate(ops):
        hi = "NA_integer_" if e.get("max_args") is None else f"{int(e['max_args'])}L"
        params = "character(0)" if not e.get("params") else \
            "c(" + ", ".join(_r_string(p) for p in e["params"]) + ")"
        lines.append(f"  {_r_string(e['op'])} = list(fn = {_r_string(r_expr_function_name(e['op']))}, "
                     f"min_args = {int(e.get('min_args') or 0)}L, max_args = {hi}, params = {params})"
                     f"{',' if i < len(ops) - 1 else ''}")
    lines.append(")")
    return "\n".join(lines) + "\n"


def _emit_expr_rd(desc: dict) -> str:
    ops = expression_ops(desc)
    out = [header_line("%"), "\\name{shoal_expr}", "\\alias{shoal_expr}"]
    out += [f"\\alias{{{r_expr_function_name(e['op'])}}}" for e in ops]
    out += ["\\title{Expression builders: one function per server expression op}", "\\usage{"]
    out += [f"{r_expr_function_name(e['op'])}({', '.join(_expr_formals(e))})" for e in ops]
    out += ["}", "\\arguments{"]
    out.append("\\item{x, y, z, arg1, arg2, arg3, ...}{Positional operands: a \\code{ShoalFrame} (sent as "
               "its key), another builder's expression, or a literal (a number, a string, \\code{TRUE}/"
               "\\code{FALSE}, \\code{NA} for null).}")
    used: dict[str, list[str]] = {}
    for e in ops:
        for p in e.get("params", []):
            used.setdefault(p, []).append(e["op"])
    for p in sorted(used):
        out.append(f"\\item{{{_r_ident(p)}}}{{Parameter \\code{{{_rd_escape(p)}}} of op(s) "
                   + ", ".join(f"\\code{{{_rd_escape(o)}}}" for o in used[p])
                   + " (a plain JSON value, never an expression; wrap a one-element vector in "
                     "\\code{I()} to send it as a list).}")
    out += ["}", "\\value{The op's node: a list \\code{list(op = , args = , <params>)} that "
            "\\code{\\link{shoal_evaluate}()} sends as JSON.}", "\\description{",
            "Build the JSON expression trees of the server's munging API (docs/munging.md) from R. "
            "Nothing runs until \\code{shoal_evaluate(expr, dest)}. Arguments left \\code{NULL} are not "
            "sent; the server owns the defaults and validates the whole tree.", "}",
            "\\details{", "\\describe{"]
    for e in ops:
        pos = ", ".join(n for n, _ in _expr_positional(e)) or "no operands"
        out.append(f"\\item{{\\code{{{_rd_escape(e['op'])}}}}}{{{_rd_escape(e.get('help', ''))} "
                   f"Operands: {_rd_escape(pos)}.}}")
    out += ["}", "}", "\\examples{", "\\dontrun{",
            "e <- shoal_expr_gt(shoal_expr_col(frame = \"flights\", name = \"dep_delay\"), 15)",
            "shoal_evaluate(shoal_expr_sum(e, na_rm = TRUE))", "}", "}", "\\concept{munging}"]
    return "\n".join(out) + "\n"
