"""The node's HTTP server: an aiohttp application on the node's loop thread.

Request path: ``error_middleware`` (every failure becomes the JSON envelope; internals are logged,
never sent) → ``security_middleware`` (bearer token, foreign ``Origin`` on state-changing
methods) → the route of one declared operation, which gathers parameters from the path, the query
string and the JSON body, validates them against the declaration (all problems in one
``invalid_parameter``), and calls the operation's handler. Handlers never block the loop: work that
touches chunks or files runs in the API executor (``ApiContext.run``) or as a job.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import hmac
import ipaddress
import json
import logging
import socket
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from ..errors import (Forbidden, InvalidParameter, MethodNotAllowed, NotFound, PayloadTooLarge, ShoalError,
                      Unauthorized, UnsupportedMediaType)
from .description import build_description, build_openapi, validate_params
from .operations import OPERATIONS, Operation

__all__ = ["ApiContext", "build_app", "ServerHandle", "start_server", "is_loopback",
           "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "read_token_file"]

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 200  # expressions (evaluate) nest up to depth 64, ~3 JSON levels each
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CTX_KEY = web.AppKey("shoal_ctx", object)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1, ``localhost`` (and IPv4-mapped loopback)."""
    if not host:
        return False
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def read_token_file(path: str) -> str:
    """The bearer token in a file (surrounding whitespace dropped); refuses an empty file."""
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"auth token file {path} is empty")
    return token


@dataclass
class ApiContext:
    """What handlers see: the node, the executor for blocking work, the token and the stop hook."""

    node: Any
    token: str | None = None
    executor: cf.ThreadPoolExecutor = field(
        default_factory=lambda: cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="shoal-api"))
    shutdown_hook: Callable[[], None] | None = None
    started_ms: int = 0
    port: int = 0
    origins: frozenset = frozenset()

    async def run(self, fn: Callable, *args: Any) -> Any:
        """Run blocking ``fn(*args)`` off the loop thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args))


def own_origins(bind: str, port: int) -> frozenset:
    """Origins a browser would send for pages served by this node."""
    hosts = {"127.0.0.1", "localhost", "[::1]"}
    if bind and bind not in ("0.0.0.0", "::"):
        hosts.add(f"[{bind}]" if ":" in bind else bind)
    else:
        try:
            hosts.add(socket.gethostname())
        except OSError:  # pragma: no cover
            pass
    return frozenset(f"{scheme}://{h}:{port}" for h in hosts for scheme in ("http", "https"))


# ---------------------------------------------------------------------------------------------- responses
def sanitize(value: Any) -> Any:
    """Make a result JSON-safe: NaN → null, ±inf → "Inf"/"-Inf", numpy scalars → Python."""
    if isinstance(value, float):
        if value != value:
            return None
        if value in (float("inf"), float("-inf")):
            return "Inf" if value > 0 else "-Inf"
        return value
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return sanitize(value.item())
        if isinstance(value, np.ndarray):
            return sanitize(value.tolist())
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def json_response(payload: Any, status: int = 200) -> web.Response:
    body = json.dumps(sanitize(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return web.Response(body=body.encode("utf-8"), status=status, content_type="application/json",
                        charset="utf-8")


def error_response(err: ShoalError) -> web.Response:
    resp = json_response(err.to_wire(), status=err.http_status)
    if err.http_status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="shoal"'
    return resp


# ---------------------------------------------------------------------------------------------- middlewares
_HTTP_TO_ERROR = {
    404: lambda r: NotFound(f"No route `{r.method} {_short(r.path)}`; `GET /api/v1/metadata` lists every "
                            f"operation.", {"method": r.method, "path": _short(r.path)}),
    405: lambda r: MethodNotAllowed(f"Route `{_short(r.path)}` does not accept `{r.method}`; "
                                    f"`GET /api/v1/metadata` lists the methods of every operation.",
                                    {"method": r.method, "path": _short(r.path)}),
    413: lambda r: PayloadTooLarge("The request body is larger than this route accepts.", {}),
}


def _short(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "..."


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ShoalError as err:
        if err.http_status >= 500:
            log.warning("%s %s -> %s: %s", request.method, _short(request.path), err.code, err.message)
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        maker = _HTTP_TO_ERROR.get(exc.status)
        if maker is not None:
            resp = error_response(maker(request))
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        err = ShoalError(f"The request failed ({exc.status} {exc.reason}).", {})
        err.http_status = exc.status  # type: ignore[misc]
        return error_response(err)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - never send internals; log them
        log.exception("unhandled error in %s %s", request.method, _short(request.path))
        return error_response(ShoalError(
            "An unexpected error happened inside the server; the request did not complete. "
            "The node log has the details.", {}))


def _public(request: web.Request) -> bool:
    route = request.match_info.route
    op = getattr(route.handler, "shoal_operation", None) if route is not None else None
    return op is not None and not op.auth


@web.middleware
async def security_middleware(request: web.Request, handler):
    ctx: ApiContext = request.app[_CTX_KEY]
    if ctx.token is not None and not _public(request):
        if not _authorized(ctx, request):
            raise Unauthorized("This node needs a bearer token: send `Authorization: Bearer <token>` "
                               "(the token is in the file given to --auth-token-file).", {})
    if request.method in STATE_CHANGING:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in ctx.origins:
            raise Forbidden(f"Requests from origin `{_short(origin, 100)}` may not change state on this node; "
                            f"only the node's own pages may.", {"origin": _short(origin, 100)})
    return await handler(request)


# ---------------------------------------------------------------------------------------------- dispatch
def _json_depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


async def read_json_body(request: web.Request, op: Operation) -> dict[str, Any]:
    """The JSON object body of a request (``{}`` for an empty body), with size and depth bounds."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The JSON body of `{op.name}` is {length} bytes; the limit is {MAX_JSON_BYTES}.",
                              {"limit": MAX_JSON_BYTES, "received": length})
    raw = bytearray()
    async for piece in request.content.iter_chunked(65536):
        raw += piece
        if len(raw) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"The JSON body of `{op.name}` is larger than {MAX_JSON_BYTES} bytes.",
                                  {"limit": MAX_JSON_BYTES})
    if not raw.strip():
        return {}
    ctype = request.content_type if request.headers.get("Content-Type") else ""
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"`{op.name}` takes a JSON body (Content-Type: application/json); "
                                   f"got `{_short(ctype, 100)}`.", {"content_type": _short(ctype, 100)})
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad_body(op, "it is not UTF-8") from None
    except RecursionError:
        raise _bad_body(op, f"it is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        msg = getattr(exc, "msg", "invalid JSON")
        where = f" at line {exc.lineno}, column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise _bad_body(op, f"it is not valid JSON ({msg}{where})") from None
    if not _json_depth_ok(value, MAX_JSON_DEPTH):
        raise _bad_body(op, f"it is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(value, dict):
        raise _bad_body(op, f"it must be a JSON object of parameters; got a {type(value).__name__}")
    return value


def _bad_body(op: Operation, why: str) -> InvalidParameter:
    return InvalidParameter(f"The request body of `{op.name}` cannot be used: {why}. Send a JSON object "
                            f"such as {{\"path\": [\"data.csv\"]}}.",
                            {"operation": op.name, "problems": [{"parameter": "(body)", "message": why}]})


def _authorized(ctx: ApiContext, request: web.Request) -> bool:
    if ctx.token is None:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode("utf-8", "replace"),
                                                              ctx.token.encode("utf-8"))


def _make_expect_handler(op: Operation):
    """``Expect: 100-continue``: refuse (credentials, declared size) before the client sends the body.

    aiohttp runs this before the middlewares, so it checks the token itself.
    """
    async def expect(request: web.Request) -> web.StreamResponse | None:
        ctx: ApiContext = request.app[_CTX_KEY]
        value = request.headers.get("Expect", "")
        if value.lower() != "100-continue" or request.version != (1, 1):
            err = ShoalError(f"Unsupported Expect header `{_short(value, 50)}`; only `100-continue` is.", {})
            err.http_status = 417  # type: ignore[misc]
            return error_response(err)
        if op.auth and not _authorized(ctx, request):
            return error_response(Unauthorized("This node needs a bearer token: send `Authorization: Bearer "
                                               "<token>`.", {}))
        limit = int(ctx.node.config.max_upload_bytes) if op.body == "raw" else MAX_JSON_BYTES
        length = request.content_length
        if length is not None and length > limit:
            return error_response(PayloadTooLarge(f"The body of `{op.name}` would be {length} bytes; the limit is "
                                                  f"{limit}.", {"limit": limit, "received": length}))
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return None

    return expect


def _make_route(op: Operation, handler: Callable):
    async def route(request: web.Request) -> web.StreamResponse:
        ctx: ApiContext = request.app[_CTX_KEY]
        raw: dict[str, Any] = {}
        from_text: set[str] = set()
        for name in set(request.query.keys()):
            values = request.query.getall(name)
            raw[name] = values[0] if len(values) == 1 else list(values)
            from_text.add(name)
        if op.body == "json":
            body = await read_json_body(request, op)
            for k, v in body.items():
                raw[k] = v
                from_text.discard(k)
        elif op.body is None and request.method in STATE_CHANGING:
            # operations without a body accept an empty one (or `{}`) and nothing else
            if request.content_length:
                body = await read_json_body(request, op)
                for k, v in body.items():
                    raw[k] = v
                    from_text.discard(k)
        for name, value in request.match_info.items():
            raw[name] = value
            from_text.add(name)
        params = validate_params(op, raw, from_text)
        result = await handler(ctx, request, params)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=op.status)

    route.shoal_operation = op  # type: ignore[attr-defined]
    route.__name__ = f"route_{op.name}"
    return route


def build_app(node: Any, token: str | None = None, shutdown_hook: Callable[[], None] | None = None,
              port: int | None = None) -> web.Application:
    """The aiohttp application of a node (routes from ``operations.OPERATIONS``)."""
    from . import handlers
    from ..jobs import now_ms

    app = web.Application(middlewares=[error_middleware, security_middleware],
                          client_max_size=MAX_JSON_BYTES)
    port = int(port if port is not None else node.config.port)
    ctx = ApiContext(node=node, token=token, shutdown_hook=shutdown_hook, started_ms=now_ms(), port=port,
                     origins=own_origins(node.config.bind, port))
    app[_CTX_KEY] = ctx
    for op in OPERATIONS:
        fn = handlers.HANDLERS[op.name]
        app.router.add_route(op.method, op.path, _make_route(op, fn), expect_handler=_make_expect_handler(op))
    _install_web_ui(app, node)

    async def _api_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/api/"):
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Cache-Control", "no-store")

    app.on_response_prepare.append(_api_headers)

    async def _close(_app: web.Application) -> None:
        ctx.executor.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_close)
    return app


def _install_web_ui(app: web.Application, node: Any) -> None:
    """Let the web UI package (``shoal_server.web``) add its routes when it provides ``setup``."""
    try:
        from .. import web as web_ui
    except ImportError:
        return
    setup = getattr(web_ui, "setup", None)
    if callable(setup):
        setup(app, node)


def api_context(app: web.Application) -> ApiContext:
    return app[_CTX_KEY]


def description_document() -> dict[str, Any]:
    return build_description(OPERATIONS)


def openapi_document(with_auth: bool = False) -> dict[str, Any]:
    return build_openapi(OPERATIONS, with_auth=with_auth)


# ---------------------------------------------------------------------------------------------- running
class ServerHandle:
    """A started HTTP server (``await handle.stop()`` to stop it)."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite, url: str, port: int):
        self.runner = runner
        self.site = site
        self.url = url
        self.port = port

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(node: Any, token: str | None = None,
                       shutdown_hook: Callable[[], None] | None = None) -> ServerHandle:
    """Bind and start the HTTP server of ``node`` on ``config.bind:config.port`` (port 0: any free)."""
    cfg = node.config
    if not is_loopback(cfg.bind) and token is None:
        raise ValueError(f"refusing to serve on non-loopback address {cfg.bind} without authentication; "
                         f"give --auth-token-file FILE (or bind 127.0.0.1)")
    app = build_app(node, token=token, shutdown_hook=shutdown_hook, port=cfg.port)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           max_line_size=65536, max_field_size=16384, max_headers=128,
                           auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, cfg.bind, cfg.port, backlog=1024, reuse_address=True)
    await site.start()
    port = cfg.port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        port = server.sockets[0].getsockname()[1]
    if port != cfg.port:
        api_context(app).port = port
        api_context(app).origins = own_origins(cfg.bind, port)
    host = f"[{cfg.bind}]" if ":" in cfg.bind else cfg.bind
    return ServerHandle(runner, site, f"http://{host}:{port}", port)
