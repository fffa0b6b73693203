"""The one transport of the Python client: HTTP/JSON calls, streaming uploads, binary downloads.

Knows nothing about frames or jobs. Every response that is not 2xx becomes the exception class of
its error code (:mod:`shoal.errors`); an unreachable node becomes ``ShoalConnectionError``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests

from .errors import ShoalConnectionError, error_from_response

__all__ = ["Connection", "encode_query", "path_param", "current_connection", "set_current_connection"]

ProgressCallback = Callable[[int, int], None]
_PIECE = 1 << 20


def path_param(value: Any) -> str:
    """Quote one path segment (a frame or job key): nothing in it can change the route."""
    return quote(str(value), safe="")


def encode_query(params: dict[str, Any] | None) -> dict[str, str]:
    """Query-string encoding of the API: bools as ``true``/``false``, lists and dicts as JSON text."""
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (list, tuple, dict)):
            out[k] = json.dumps(list(v) if isinstance(v, tuple) else v, separators=(",", ":"))
        else:
            out[k] = str(v)
    return out


class _StreamBody:
    """A request body of known length, produced piece by piece, reporting progress.

    ``requests`` sends an object with ``__len__`` and ``__iter__`` with a Content-Length header and
    iterates it, so a large file or frame is never held in memory twice.
    """

    def __init__(self, pieces: Iterable[bytes | memoryview], total: int,
                 progress: ProgressCallback | None):
        self._pieces = pieces
        self._total = int(total)
        self._progress = progress

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[bytes | memoryview]:
        sent = 0
        for piece in self._pieces:
            mv = memoryview(piece).cast("B")
            for start in range(0, len(mv), _PIECE):
                part = mv[start:start + _PIECE]
                yield part
                sent += len(part)
                if self._progress is not None:
                    self._progress(sent, self._total)


def _file_pieces(fileobj) -> Iterator[bytes]:
    while True:
        b = fileobj.read(_PIECE)
        if not b:
            return
        yield b


class Connection:
    """A connection to one Shoal node.

    Parameters
    ----------
    url : str
        Base URL of the node, e.g. ``http://127.0.0.1:54330``.
    token : str, optional
        Bearer token, for nodes started with ``--auth-token-file``.
    timeout : float
        Seconds to wait for a response to an ordinary call (uploads and downloads wait longer).
    verify : bool | str
        TLS verification, passed to ``requests``.
    """

    api_prefix = "/api/v1"

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0,
                 verify: bool | str = True, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = "shoal-python/0.1"
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        # Nodes this client started (``shoal.init``); shut down on ``shoal.shutdown()`` / exit.
        self.owned_process = None

    def __repr__(self) -> str:
        return f"<shoal.Connection {self.url}>"

    # -- low level -------------------------------------------------------------------------------

    def _full(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        if not path.startswith(self.api_prefix):
            path = self.api_prefix + (path if path.startswith("/") else "/" + path)
        return self.url + path

    def request(self, method: str, path: str, *, query: dict | None = None, json_body: Any = None,
                data: Any = None, headers: dict | None = None, stream: bool = False,
                timeout: float | None = None) -> requests.Response:
        """Send one request; return the 2xx response or raise the error's exception class."""
        try:
            resp = self.session.request(method, self._full(path), params=encode_query(query),
                                        json=json_body, data=data, headers=headers, stream=stream,
                                        timeout=timeout if timeout is not None else self.timeout)
        except requests.exceptions.ConnectionError as exc:
            raise ShoalConnectionError(f"Cannot reach the Shoal node at {self.url}: "
                                       f"{_short(exc)}. Is it running? Start one with shoal.init().",
                                       {"url": self.url}) from None
        except requests.exceptions.Timeout:
            raise ShoalConnectionError(f"The Shoal node at {self.url} did not answer within "
                                       f"{timeout or self.timeout} s.", {"url": self.url}) from None
        if resp.status_code >= 400:
            text = resp.text if not stream else resp.raw.read(4096, decode_content=True).decode("utf-8", "replace")
            try:
                payload = json.loads(text)
            except ValueError:
                payload = None
            resp.close()
            raise error_from_response(resp.status_code, payload, text)
        return resp

    def work_timeout(self, max_runtime_secs: float | None = None) -> tuple[float, float | None]:
        """(connect, read) timeout of a call that answers when its server-side work ends: the usual
        connect timeout, and a read timeout of the work's own limit plus ``timeout`` (none without a
        limit; the server's job list still shows the work, and ``shoal.cancel`` stops it)."""
        read = None if not max_runtime_secs else float(max_runtime_secs) + self.timeout
        return (self.timeout, read)

    # -- the calls generated wrappers make ---------------------------------------------------------

    def call(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
             *, raw_body: Any = None, content_type: str | None = None, binary: bool = False,
             timeout: float | None = None) -> Any:
        """One API call. ``query``/``body`` drop ``None`` values (the server owns the defaults).

        Returns the decoded JSON, or ``bytes`` when ``binary`` is true.
        """
        headers = {}
        data = None
        json_body = None
        if raw_body is not None:
            data = raw_body
            headers["Content-Type"] = content_type or "application/octet-stream"
        elif body is not None:
            json_body = {k: v for k, v in body.items() if v is not None}
        if binary:
            return self.download(path, query=query, timeout=timeout)
        resp = self.request(method, path, query=query, json_body=json_body, data=data,
                            headers=headers or None, timeout=timeout)
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.call("POST", path, body=body or {})

    def upload(self, path: str, source: Any, *, query: dict | None = None,
               total: int | None = None, progress: ProgressCallback | None = None,
               content_type: str = "application/octet-stream", timeout: float | None = None) -> Any:
        """Stream a request body: a file path, a binary file object, ``bytes``, or an iterable of
        byte pieces (then ``total`` is required). ``progress(sent, total)`` is called as it goes."""
        close = None
        if isinstance(source, (str, os.PathLike)):
            close = source = open(source, "rb")
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                pieces: Iterable = [source]
                total = len(memoryview(source).cast("B"))
            elif hasattr(source, "read"):
                if total is None:
                    try:
                        total = os.fstat(source.fileno()).st_size - source.tell()
                    except (OSError, AttributeError, ValueError):
                        data = source.read()
                        pieces, total = [data], len(data)
                    else:
                        pieces = _file_pieces(source)
                else:
                    pieces = _file_pieces(source)
            else:
                if total is None:
                    raise ValueError("Uploading an iterable of pieces needs `total` (bytes).")
                pieces = source
            body = _StreamBody(pieces, total, progress)
            resp = self.request("POST", path, query=query, data=body,
                                headers={"Content-Type": content_type},
                                timeout=timeout if timeout is not None else max(self.timeout, 3600))
            return resp.json() if resp.content else {}
        finally:
            if close is not None:
                close.close()

    def download(self, path: str, *, query: dict | None = None,
                 progress: ProgressCallback | None = None, timeout: float | None = None) -> bytearray:
        """GET a binary body into memory (streamed in pieces, with an optional progress callback)."""
        resp = self.request("GET", path, query=query, stream=True,
                            headers={"Accept": "application/x-shoalcol, text/csv, */*"},
                            timeout=timeout if timeout is not None else max(self.timeout, 3600))
        try:
            total = int(resp.headers.get("Content-Length") or 0)
            buf = bytearray(total) if total else bytearray()
            got = 0
            for piece in resp.iter_content(chunk_size=_PIECE):
                n = len(piece)
                if total and got + n <= total:
                    buf[got:got + n] = piece
                else:
                    buf += piece
                got += n
                if progress is not None:
                    progress(got, total)
            if total and got != total:
                raise ShoalConnectionError(f"The download from {self.url} ended after {got} of {total} bytes.")
            return buf
        except requests.exceptions.RequestException as exc:
            raise ShoalConnectionError(f"The download from {self.url} broke: {_short(exc)}.") from None
        finally:
            resp.close()

    def close(self) -> None:
        self.session.close()


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text.split(":")[-1].strip(" )'\"")[:200] or type(exc).__name__


_current: Connection | None = None


def current_connection() -> Connection:
    """The connection made by ``shoal.init()``; raises when there is none."""
    if _current is None:
        raise ShoalConnectionError("Not connected to a Shoal node; call shoal.init() first.")
    return _current


def set_current_connection(conn: Connection | None) -> None:
    global _current
    _current = conn
