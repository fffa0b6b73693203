"""The error catalog: one exception class per error code, and the wire error envelope.

Every user-visible failure in the server is a :class:`ShoalError` subclass. The catalog below is
published in the API description (so clients generate one class / condition per code). Messages
say what is wrong in API names, what is allowed, what was received, and the next step.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "ShoalError",
    "ERROR_CATALOG",
    "error_class",
    "InvalidParameter",
    "FrameNotFound",
    "ColumnNotFound",
    "JobNotFound",
    "ModelNotFound",
    "NotFound",
    "ParseError",
    "PathNotAllowed",
    "PayloadTooLarge",
    "MemoryExceeded",
    "JobCancelled",
    "JobTimeout",
    "NodeLost",
    "FrameLost",
    "Unauthorized",
    "Forbidden",
    "Conflict",
    "MethodNotAllowed",
    "UnsupportedMediaType",
    "ClusterError",
    "InternalError",
]


class ShoalError(Exception):
    """Base of every error that crosses the API boundary.

    Parameters
    ----------
    message : str
        Plain-English sentence(s): what is wrong, what is allowed, what was received.
    details : dict, optional
        Structured, JSON-able facts (parameter names, file/line/column, node id, ...).
    """

    code = "internal_error"
    http_status = 500
    help = "An unexpected error inside the server; the request did not complete."

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})

    def to_wire(self) -> dict[str, Any]:
        """The error envelope sent to clients and between nodes."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> "ShoalError":
        """Rebuild an error from its envelope (e.g. one raised on a peer node)."""
        err = payload.get("error", payload)
        klass = ERROR_CATALOG.get(str(err.get("code")), InternalError)
        return klass(str(err.get("message", "")), err.get("details") or {})

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}({self.message!r})"


def _make(name: str, code: str, status: int, help_text: str) -> type[ShoalError]:
    return type(name, (ShoalError,), {"code": code, "http_status": status, "help": help_text,
                                      "__module__": __name__})


InvalidParameter = _make("InvalidParameter", "invalid_parameter", 400,
                         "One or more request parameters are missing, of the wrong type or out of range; "
                         "details.problems lists each one.")
FrameNotFound = _make("FrameNotFound", "frame_not_found", 404, "No frame with that key exists.")
ColumnNotFound = _make("ColumnNotFound", "column_not_found", 404, "A named column is not in the frame.")
JobNotFound = _make("JobNotFound", "job_not_found", 404, "No job with that key exists.")
ModelNotFound = _make("ModelNotFound", "model_not_found", 404, "No model with that key exists.")
NotFound = _make("NotFound", "not_found", 404, "No such route or object.")
ParseError = _make("ParseError", "parse_error", 400,
                   "The input could not be parsed; details name the file, line and column.")
PathNotAllowed = _make("PathNotAllowed", "path_not_allowed", 403,
                       "The path is outside every configured data root, or is not a plain local path.")
PayloadTooLarge = _make("PayloadTooLarge", "payload_too_large", 413,
                        "The request body, a header, a field or a decompressed stream exceeds its size bound.")
MemoryExceeded = _make("MemoryExceeded", "memory_exceeded", 507,
                       "Storing the result would exceed the node's memory budget; nothing was stored.")
JobCancelled = _make("JobCancelled", "job_cancelled", 409, "The job was cancelled; it left no output.")
JobTimeout = _make("JobTimeout", "job_timeout", 408, "The job passed its max_runtime_secs; it left no output.")
NodeLost = _make("NodeLost", "node_lost", 503, "A cluster node stopped answering; work that needed it failed.")
FrameLost = _make("FrameLost", "frame_lost", 410,
                  "The frame had chunks on a node that was lost; it cannot answer correctly any more.")
Unauthorized = _make("Unauthorized", "unauthorized", 401, "Missing or wrong credentials.")
Forbidden = _make("Forbidden", "forbidden", 403,
                  "The request is not allowed (foreign origin, or an object of another user).")
Conflict = _make("Conflict", "conflict", 409, "The object is in a state that does not allow this request.")
MethodNotAllowed = _make("MethodNotAllowed", "method_not_allowed", 405, "The route does not accept this method.")
UnsupportedMediaType = _make("UnsupportedMediaType", "unsupported_media_type", 415,
                             "The request body is not of a content type this operation accepts.")
ClusterError = _make("ClusterError", "cluster_error", 503,
                     "The cluster is not in a state to accept this request (membership, version).")
InternalError = ShoalError

#: code -> class; published in the API description.
ERROR_CATALOG: dict[str, type[ShoalError]] = {
    k.code: k
    for k in (InvalidParameter, FrameNotFound, ColumnNotFound, JobNotFound, ModelNotFound, NotFound, ParseError,
              PathNotAllowed, PayloadTooLarge, MemoryExceeded, JobCancelled, JobTimeout, NodeLost,
              FrameLost, Unauthorized, Forbidden, Conflict, MethodNotAllowed, UnsupportedMediaType,
              ClusterError, InternalError)
}


def error_class(code: str) -> type[ShoalError]:
    """The exception class for an error code (``internal_error`` for unknown codes)."""
    return ERROR_CATALOG.get(code, InternalError)
