"""Errors raised by the client: :class:`ShoalError` and one subclass per server error code.

The per-code classes (``FrameNotFound``, ``ParseError``, ``InvalidParameter``, ...) are generated
from the error catalog of the API description into ``shoal/_generated/errors.py``; this module adds
the client-only ``ShoalConnectionError`` and the lookup :func:`error_class`.
"""
from __future__ import annotations

from typing import Any

from ._errorbase import ShoalError
from ._generated import errors as _gen
from ._generated.errors import *  # noqa: F401,F403  (the generated per-code classes)

__all__ = ["ShoalError", "ShoalConnectionError", "error_class", "error_from_response",
           "ERROR_CLASSES"] + list(_gen.__all__)


class ShoalConnectionError(ShoalError, ConnectionError):
    """The node could not be reached (refused, timed out, or the connection broke)."""

    code = "connection_error"


#: code -> exception class (generated catalog plus the client-side connection error).
ERROR_CLASSES: dict[str, type[ShoalError]] = dict(_gen.ERROR_CLASSES)
ERROR_CLASSES["connection_error"] = ShoalConnectionError

_STATUS_CODES = {400: "invalid_parameter", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 503: "cluster_error"}


def error_class(code: str) -> type[ShoalError]:
    """The exception class for an error code; :class:`ShoalError` itself for an unknown code."""
    return ERROR_CLASSES.get(code, ShoalError)


def error_from_envelope(payload: Any, http_status: int | None = None) -> ShoalError | None:
    """Build the exception for an error envelope ``{"error": {"code", "message", "details"}}``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return None
    err = payload["error"]
    code = str(err.get("code") or "internal_error")
    klass = error_class(code)
    exc = klass(str(err.get("message") or code), err.get("details") or {}, http_status)
    if klass is ShoalError:
        exc.code = code
    return exc


def error_from_response(status: int, payload: Any, text: str = "") -> ShoalError:
    """The exception for a non-2xx response, whether or not it carries the error envelope."""
    exc = error_from_envelope(payload, status)
    if exc is not None:
        return exc
    code = _STATUS_CODES.get(status, "internal_error")
    snippet = " ".join(text.split())[:200]
    exc = error_class(code)(f"The node answered HTTP {status}" + (f": {snippet}" if snippet else "."),
                            {}, status)
    return exc
