"""Every operation of the node API, declared once, as data.

Handlers (``api/handlers.py``) are looked up by operation name; validation, the metadata document,
the OpenAPI document and the generated clients all come from this table. To add an operation: declare
it here, write its handler, run ``python -m shoal_server.api.description`` (rewrites
``description.json``) and regenerate the clients.
"""
from __future__ import annotations

from .description import Operation, Param

__all__ = ["OPERATIONS", "OPERATIONS_BY_NAME", "PARSE_OVERRIDES", "COLUMN_TYPES", "BASE"]

BASE = "/api/v1"
COLUMN_TYPES = ("int", "real", "enum", "string", "time", "bool")
MAX_ROWS = 10_000
_TYPE_NAMES = tuple(sorted({*COLUMN_TYPES, "numeric", "num", "number", "integer", "float", "double",
                            "categorical", "factor", "category", "str", "character", "text", "date",
                            "datetime", "timestamp", "boolean", "logical"}))

_OBJ = {"type": "object"}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    s = {"type": "object", "properties": props}
    if required:
        s["required"] = required
    return s


_JOB_SCHEMA = _obj({"key": {"type": "string"}, "kind": {"type": "string"}, "description": {"type": "string"},
                    "status": {"type": "string", "enum": ["CREATED", "RUNNING", "DONE", "FAILED", "CANCELLED"]},
                    "progress": {"type": "number"}, "message": {"type": "string"},
                    "dest": {"type": "string", "nullable": True},
                    "error": {"type": "object", "nullable": True},
                    "created_ms": {"type": "integer"},
                    "started_ms": {"type": "integer", "nullable": True},
                    "ended_ms": {"type": "integer", "nullable": True},
                    "cancel_requested": {"type": "boolean"},
                    "max_runtime_secs": {"type": "number"}},
                   ["key", "kind", "status", "progress"])
_FRAME_INFO = _obj({"key": {"type": "string"}, "nrow": {"type": "integer"}, "ncol": {"type": "integer"},
                    "nchunks": {"type": "integer"}, "bytes": {"type": "integer"},
                    "created_ms": {"type": "integer"}}, ["key", "nrow", "ncol"])

_FRAME_PATH = Param("key", "frame_key", "Key of the frame.", required=True, location="path")
_JOB_PATH = Param("key", "job_key", "Key of the job.", required=True, location="path")


def _overrides(location: str) -> tuple[Param, ...]:
    return (
        Param("sep", "string", "Field separator (one character); guessed when not given.",
              min_len=1, max_len=1, location=location),
        Param("header", "bool|int", "Whether the first line holds the column names: true / false, or as in H2O-3 "
              "1 (yes), -1 (no), 0 (guess). Default: guess.", values=(-1, 0, 1), location=location),
        Param("col_names", "list[string]", "Column names, in order (override the header or the guess).",
              max_len=1_000_000, location=location),
        Param("col_types", "list[string]|dict",
              "Column types: a list in column order, or an object from column name or 0-based index to type "
              "(int, real, enum, string, time, bool; aliases such as numeric, factor, date are accepted).",
              values=_TYPE_NAMES, location=location, dict_values="string"),
        Param("na_strings", "list[string]|dict",
              "Strings read as missing: a list for every column, or an object from column name or index to a list.",
              location=location, dict_values="list[string]"),
        Param("skipped_columns", "list[int]|list[string]", "Columns not to load: 0-based indices or names.",
              location=location, level="advanced"),
        Param("quote", "string", "Quote character (one character); default `\"`.", min_len=1, max_len=1,
              location=location, level="advanced"),
    )


PARSE_OVERRIDES = tuple(p.name for p in _overrides("body"))

_MAX_RUNTIME = ("max_runtime_secs", "float", "Stop the job after this many seconds (0: no limit).")


def _max_runtime(location: str) -> Param:
    return Param(*_MAX_RUNTIME, default=0.0, min=0.0, max=1e9, location=location, level="advanced")


_DEST = "Key of the frame to create; default: derived from the file name."

OPERATIONS: tuple[Operation, ...] = (
    Operation("health", "GET", f"{BASE}/health", "Liveness check (needs no credentials).",
              result="{status: 'ok', version}",
              result_schema=_obj({"status": {"type": "string"}, "version": {"type": "string"}}, ["status"]),
              auth=False, tags=("node",)),
    Operation("metadata", "GET", f"{BASE}/metadata",
              "The API description: every operation, parameter and error code.",
              result="{api_version, version, operations: [...], errors: [{code, http_status, help}], types}",
              result_schema=_obj({"operations": {"type": "array"}, "errors": {"type": "array"}},
                                 ["operations", "errors"]),
              errors=("unauthorized",), tags=("node",)),
    Operation("openapi", "GET", f"{BASE}/openapi.json", "The API as an OpenAPI 3.0 document.",
              result="OpenAPI 3.0 document", errors=("unauthorized",), tags=("node",)),
    Operation("cluster_status", "GET", f"{BASE}/cluster",
              "Cluster and node status: cores, threads, memory, frames, members.",
              result="{cluster: {name, version, healthy, locked, size, members: [Node]}, node: Node}",
              result_schema=_obj({"cluster": _OBJ, "node": _OBJ}, ["cluster", "node"]),
              errors=("unauthorized",), tags=("node",)),
    Operation("list_files", "GET", f"{BASE}/files",
              "List a directory inside a data root (the roots themselves without `path`).",
              params=(Param("path", "string", "Directory to list; empty: the data roots.", max_len=4096),),
              result="{path, entries: [{name, path, is_dir, size}]}",
              result_schema=_obj({"path": {"type": "string"}, "entries": {"type": "array"}}, ["entries"]),
              errors=("invalid_parameter", "path_not_allowed", "not_found", "unauthorized"), tags=("files",)),
    Operation("parse_setup", "POST", f"{BASE}/parse_setup",
              "Guess how to parse files (separator, header, names, types, NA strings); overrides apply.",
              params=(Param("path", "list[string]", "Server paths (files, directories or globs) inside a data root.",
                            required=True, min_len=1, max_len=10_000, location="body"),) + _overrides("body"),
              result="{setup: {sep, header, col_names, col_types, na_strings, quote, skipped_columns, ncols, sample_rows}}",
              result_schema=_obj({"setup": _OBJ}, ["setup"]), body="json",
              errors=("invalid_parameter", "path_not_allowed", "not_found", "parse_error", "unauthorized",
                      "forbidden", "unsupported_media_type", "payload_too_large"),
              tags=("frames",)),
    Operation("import_file", "POST", f"{BASE}/import_file",
              "Import and parse server files (a file, directory, glob or list) into one frame, as a job.",
              params=(Param("path", "list[string]", "Server paths (files, directories or globs) inside a data root.",
                            required=True, min_len=1, max_len=10_000, location="body"),
                      Param("destination_frame", "frame_key", _DEST, location="body"))
              + _overrides("body") + (_max_runtime("body"),),
              result="202 {job: Job}; the job's dest is the new frame's key.",
              result_schema=_obj({"job": _JOB_SCHEMA}, ["job"]), body="json", status=202, job=True,
              errors=("invalid_parameter", "path_not_allowed", "not_found", "unauthorized", "forbidden",
                      "unsupported_media_type", "payload_too_large"),
              tags=("frames",)),
    Operation("upload_file", "POST", f"{BASE}/upload_file",
              "Upload a file (the request body) and parse it into a frame, as a job.",
              params=(Param("filename", "string", "Name of the uploaded file; its suffix selects decompression "
                            "(.gz, .bz2, .zst, .zip).", max_len=255),
                      Param("destination_frame", "frame_key", _DEST))
              + _overrides("query") + (_max_runtime("query"),),
              result="202 {job: Job}; the job's dest is the new frame's key.",
              result_schema=_obj({"job": _JOB_SCHEMA}, ["job"]), body="raw",
              body_types=("application/octet-stream", "text/csv", "text/plain"), status=202, job=True,
              errors=("invalid_parameter", "payload_too_large", "unauthorized", "forbidden"),
              tags=("frames",)),
    Operation("upload_frame", "POST", f"{BASE}/upload_frame",
              "Upload a frame in the SHOALCOL columnar format (from pandas or an R data.frame).",
              params=(Param("destination_frame", "frame_key", "Key of the frame to create; default: a new key."),),
              result="201 {frame: FrameInfo}",
              result_schema=_obj({"frame": _FRAME_INFO}, ["frame"]), body="raw",
              body_types=("application/x-shoalcol", "application/octet-stream"), status=201,
              errors=("invalid_parameter", "parse_error", "payload_too_large", "memory_exceeded", "unauthorized",
                      "forbidden"),
              tags=("frames",)),
    Operation("list_frames", "GET", f"{BASE}/frames", "Every frame on the cluster.",
              result="{frames: [FrameInfo]}",
              result_schema=_obj({"frames": {"type": "array", "items": _FRAME_INFO}}, ["frames"]),
              errors=("unauthorized",), tags=("frames",)),
    Operation("get_frame", "GET", f"{BASE}/frames/{{key}}",
              "A frame's header and per-column summary (rollups), with its compression.",
              params=(_FRAME_PATH,
                      Param("rollups", "bool", "Include per-column min, max, mean, sd, missing, zeros, cardinality.",
                            default=True),
                      Param("histogram", "bool", "Include per-column histograms.", default=False),
                      Param("chunk_summary", "bool", "Include one entry per chunk (rows, bytes, encodings, home).",
                            default=False, level="advanced")),
              result="{frame: Frame}", result_schema=_obj({"frame": _OBJ}, ["frame"]),
              errors=("invalid_parameter", "frame_not_found", "frame_lost", "unauthorized"), tags=("frames",)),
    Operation("frame_rows", "GET", f"{BASE}/frames/{{key}}/rows",
              "Rows of a frame as JSON (head / tail); missing values are null.",
              params=(_FRAME_PATH,
                      Param("offset", "int", "First row (0-based); negative counts from the end (-5: the last 5).",
                            default=0),
                      Param("limit", "int", "Number of rows.", default=10, min=0, max=MAX_ROWS)),
              result="{key, offset, nrow, names, types, rows: [[...]]}",
              result_schema=_obj({"key": {"type": "string"}, "offset": {"type": "integer"},
                                  "names": {"type": "array"}, "types": {"type": "array"},
                                  "rows": {"type": "array"}}, ["rows", "names"]),
              errors=("invalid_parameter", "frame_not_found", "frame_lost", "unauthorized"), tags=("frames",)),
    Operation("download_frame", "GET", f"{BASE}/frames/{{key}}/data",
              "A whole frame: CSV (RFC 4180, NA as empty) or SHOALCOL columnar.",
              params=(_FRAME_PATH,
                      Param("format", "string", "csv or columnar (SHOALCOL).", default="csv",
                            values=("csv", "columnar"))),
              result="text/csv or application/x-shoalcol bytes",
              produces=("text/csv", "application/x-shoalcol"),
              errors=("invalid_parameter", "frame_not_found", "frame_lost", "unauthorized"), tags=("frames",)),
    Operation("delete_frame", "DELETE", f"{BASE}/frames/{{key}}", "Delete a frame and free its memory.",
              params=(_FRAME_PATH,), result="{deleted: key}",
              result_schema=_obj({"deleted": {"type": "string"}}, ["deleted"]),
              errors=("invalid_parameter", "frame_not_found", "conflict", "unauthorized", "forbidden"),
              tags=("frames",)),
    Operation("list_jobs", "GET", f"{BASE}/jobs", "Every job of this node, newest first.",
              result="{jobs: [Job]}",
              result_schema=_obj({"jobs": {"type": "array", "items": _JOB_SCHEMA}}, ["jobs"]),
              errors=("unauthorized",), tags=("jobs",)),
    Operation("get_job", "GET", f"{BASE}/jobs/{{key}}", "One job: status, progress, message, dest, error.",
              params=(_JOB_PATH,), result="{job: Job}", result_schema=_obj({"job": _JOB_SCHEMA}, ["job"]),
              errors=("invalid_parameter", "job_not_found", "unauthorized"), tags=("jobs",)),
    Operation("cancel_job", "POST", f"{BASE}/jobs/{{key}}/cancel",
              "Cancel a job; it ends CANCELLED within seconds and leaves no output.",
              params=(_JOB_PATH,), result="{job: Job}", result_schema=_obj({"job": _JOB_SCHEMA}, ["job"]),
              errors=("invalid_parameter", "job_not_found", "unauthorized", "forbidden"), tags=("jobs",)),
    Operation("evaluate", "POST", f"{BASE}/evaluate",
              "Evaluate a frame expression (a JSON tree over the server's closed set of primitives; docs/munging.md).",
              params=(Param("expr", "dict", "The expression: {\"op\": name, \"args\": [...], param: value, ...}.",
                            required=True, location="body"),
                      Param("dest", "frame_key", "Key of the result frame (replaced if it exists); default: a new key.",
                            location="body"),
                      _max_runtime("body")),
              result="{kind: 'frame', frame: FrameInfo} | {kind: 'frames', frames: [...]} | "
                     "{kind: 'scalar', value} | {kind: 'list', values: [...]}",
              result_schema=_obj({"kind": {"type": "string", "enum": ["frame", "frames", "scalar", "list"]}},
                                 ["kind"]),
              body="json",
              errors=("invalid_parameter", "frame_not_found", "column_not_found", "memory_exceeded", "job_cancelled",
                      "job_timeout", "frame_lost", "node_lost", "unauthorized", "forbidden", "unsupported_media_type",
                      "payload_too_large"),
              tags=("frames",)),
    Operation("shutdown", "POST", f"{BASE}/shutdown",
              "Stop this node (allowed from loopback, or with the auth token).",
              result="{shutting_down: true}", result_schema=_obj({"shutting_down": {"type": "boolean"}}),
              errors=("unauthorized", "forbidden"), tags=("node",)),
)

# the model operations (training per algorithm, predict, performance, persistence, scorer)
from .model_ops import MODEL_OPERATIONS  # noqa: E402

OPERATIONS = OPERATIONS + MODEL_OPERATIONS

OPERATIONS_BY_NAME = {op.name: op for op in OPERATIONS}
