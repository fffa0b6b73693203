"""The base class of every client-side Shoal error (hand-written; the per-code classes are generated).

Kept apart from :mod:`shoal.errors` so the generated module ``_generated/errors.py`` can subclass it
without an import cycle.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ShoalError"]


class ShoalError(Exception):
    """An error reported by a Shoal node (or by the client about one).

    Attributes
    ----------
    code : str
        The error code from the server's catalog (``frame_not_found``, ``parse_error``, ...).
    message : str
        The server's plain-English message.
    details : dict
        Structured facts (parameter problems, file/line/column, node name, ...).
    http_status : int | None
        The HTTP status of the response, when there was one.
    """

    code = "internal_error"
    http_status: int | None = None

    def __init__(self, message: str, details: dict[str, Any] | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        text = self.message
        problems = self.details.get("problems") if isinstance(self.details, dict) else None
        if isinstance(problems, list) and problems:
            lines = []
            for p in problems:
                if isinstance(p, dict) and p.get("message") and p.get("message") not in text:
                    lines.append(f"  - {p['message']}")
            if lines:
                text = text + "\n" + "\n".join(lines)
        return text

    def __reduce__(self):
        return (type(self), (self.message, self.details, self.http_status))
