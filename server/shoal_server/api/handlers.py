"""One handler per declared operation: ``async def handler(ctx, request, params) -> dict | Response``.

Handlers receive parameters already validated against ``operations.py`` (defaults filled in). They
do no blocking work on the loop: file system and chunk access go through ``ctx.run`` (the API
executor), parsing runs as a job (``node.jobs``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import __version__, paths
from ..errors import Forbidden, InvalidParameter, PayloadTooLarge
from . import frames
from .operations import PARSE_OVERRIDES

__all__ = ["HANDLERS", "derive_frame_key"]

log = logging.getLogger(__name__)

_KEY_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")
_DATA_SUFFIXES = (".gz", ".gzip", ".bz2", ".zst", ".zstd", ".zip", ".csv", ".tsv", ".txt", ".dat", ".psv",
                  ".parquet", ".pq", ".svm", ".arff", ".data")
_UPLOAD_PIECE = 1 << 20


def derive_frame_key(name: str) -> str:
    """A frame key from a file name: ``flights.csv.gz`` → ``flights`` (H2O users expect the stem)."""
    base = os.path.basename(name.replace("\\", "/")) or "frame"
    changed = True
    while changed:
        changed = False
        low = base.lower()
        for suf in _DATA_SUFFIXES:
            if low.endswith(suf) and len(base) > len(suf):
                base = base[: -len(suf)]
                changed = True
                break
    key = _KEY_BAD.sub("_", base).strip(".")[:200]
    if not key or not re.match(r"[A-Za-z0-9_]", key[0]):
        key = "frame_" + key
    return key


def _overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The parser's setup overrides from validated API parameters (H2O's header -1/0/1 mapped)."""
    out = {k: params[k] for k in PARSE_OVERRIDES if params.get(k) is not None}
    header = out.pop("header", None)
    if isinstance(header, bool):
        out["header"] = header
    elif header in (1, -1):
        out["header"] = header == 1
    return out


def _parser():
    from .. import parser

    return parser


# ---------------------------------------------------------------------------------------------- node
async def health(ctx, request, params):
    return {"status": "ok", "version": __version__}


_DESCRIPTION_CACHE: dict[str, Any] = {}


async def metadata(ctx, request, params):
    from .server import description_document

    if "d" not in _DESCRIPTION_CACHE:
        _DESCRIPTION_CACHE["d"] = description_document()
    return _DESCRIPTION_CACHE["d"]


async def openapi(ctx, request, params):
    from .server import openapi_document

    return openapi_document(with_auth=ctx.token is not None)


async def cluster_status(ctx, request, params):
    return await ctx.run(frames.cluster_status, ctx)


async def shutdown(ctx, request, params):
    from .server import is_loopback

    if ctx.token is None and not is_loopback(request.remote):
        raise Forbidden("Shutdown is only allowed from this machine (loopback) or with the auth token.",
                        {"remote": request.remote})
    hook = ctx.shutdown_hook
    if hook is not None:
        asyncio.get_running_loop().call_later(0.2, hook)
    log.info("shutdown requested by %s", request.remote)
    return {"shutting_down": True}


# ---------------------------------------------------------------------------------------------- files
async def list_files(ctx, request, params):
    real, entries = await ctx.run(paths.list_directory, ctx.node.config, params.get("path"))
    return {"path": real, "entries": entries}


async def parse_setup(ctx, request, params):
    node = ctx.node

    def work():
        files = paths.resolve_import_paths(node.config, params["path"])
        setup = _parser().parse_setup(node, files, _overrides(params))
        return {"setup": frames.setup_to_wire(setup)}

    return await ctx.run(work)


def _start_parse(ctx, files: list[Path], params: dict[str, Any], dest: str, description: str,
                 cleanup: list[Path] | None = None):
    node = ctx.node
    overrides = _overrides(params)

    def run(job):
        try:
            job.update(message="parsing")
            _parser().parse_files(node, files, overrides, dest, job)
        finally:
            for p in cleanup or ():
                try:
                    os.unlink(p)
                except OSError:
                    pass

    return node.jobs.start("parse", description, run, max_runtime_secs=params.get("max_runtime_secs") or 0.0,
                           dest=dest)


async def import_file(ctx, request, params):
    files = await ctx.run(paths.resolve_import_paths, ctx.node.config, params["path"])
    dest = params.get("destination_frame") or derive_frame_key(files[0].name)
    shown = files[0].name if len(files) == 1 else f"{files[0].name} and {len(files) - 1} more files"
    job = _start_parse(ctx, files, params, dest, f"Parse {shown}")
    return {"job": job.to_wire()}


def _upload_suffix(filename: str | None) -> str:
    if not filename:
        return ".csv"
    suffixes = "".join(Path(os.path.basename(filename)).suffixes[-2:]).lower()
    suffixes = re.sub(r"[^a-z0-9.]", "", suffixes)[:20]
    return suffixes or ".csv"


async def _spool_body(ctx, request: web.Request, limit: int, suffix: str) -> Path:
    """Stream the request body into a spool file; delete it on any failure (disconnect included)."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The upload is {length} bytes; this node accepts at most {limit} "
                              f"(--max-upload-bytes). Import the file from a data root instead.",
                              {"limit": limit, "received": length})
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=ctx.node.spool_dir)
    path = Path(name)
    ok = False
    try:
        with os.fdopen(fd, "wb") as f:
            total = 0
            buf = bytearray()
            async for piece in request.content.iter_any():
                total += len(piece)
                if total > limit:
                    raise PayloadTooLarge(f"The upload is larger than {limit} bytes (--max-upload-bytes).",
                                          {"limit": limit})
                buf += piece
                if len(buf) >= _UPLOAD_PIECE:
                    data, buf = bytes(buf), bytearray()
                    await ctx.run(f.write, data)
            if buf:
                await ctx.run(f.write, bytes(buf))
        if length is not None and total != length:
            raise InvalidParameter(f"The upload ended after {total} of {length} bytes.",
                                   {"problems": [{"parameter": "(body)", "message": "incomplete body"}]})
        ok = True
        return path
    finally:
        if not ok:
            try:
                os.unlink(path)
            except OSError:
                pass


async def upload_file(ctx, request, params):
    limit = int(ctx.node.config.max_upload_bytes)
    filename = params.get("filename") or "upload.csv"
    spool = await _spool_body(ctx, request, limit, _upload_suffix(filename))
    try:
        dest = params.get("destination_frame") or derive_frame_key(filename)
        job = _start_parse(ctx, [spool], params, dest, f"Parse upload {os.path.basename(filename)[:100]}",
                           cleanup=[spool])
    except BaseException:
        try:
            os.unlink(spool)
        except OSError:
            pass
        raise
    return {"job": job.to_wire()}


async def upload_frame(ctx, request, params):
    limit = int(ctx.node.config.max_upload_bytes)
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The upload is {length} bytes; this node accepts at most {limit} "
                              f"(--max-upload-bytes).", {"limit": limit, "received": length})
    buf = bytearray()
    async for piece in request.content.iter_any():
        buf += piece
        if len(buf) > limit:
            raise PayloadTooLarge(f"The upload is larger than {limit} bytes (--max-upload-bytes).",
                                  {"limit": limit})
    dest = params.get("destination_frame") or frames.new_frame_key(ctx.node)
    info = await ctx.run(frames.frame_from_shoalcol, ctx.node, buf, dest)
    return info


# ---------------------------------------------------------------------------------------------- frames
async def list_frames(ctx, request, params):
    return {"frames": await ctx.run(frames.list_frames, ctx.node)}


async def get_frame(ctx, request, params):
    return {"frame": await ctx.run(frames.frame_summary, ctx.node, params["key"], params["rollups"],
                                   params["histogram"], params["chunk_summary"])}


async def frame_rows(ctx, request, params):
    return await ctx.run(frames.frame_rows, ctx.node, params["key"], params["offset"], params["limit"])


async def download_frame(ctx, request, params):
    key = params["key"]
    node = ctx.node
    header = await ctx.run(frames.get_header, node, key)
    if params["format"] == "csv":
        resp = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                           "Content-Disposition": f'attachment; filename="{key}.csv"'})
        pieces = frames.iter_csv(node, header)
    else:
        encoded = await ctx.run(frames.encode_columnar, node, header)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-shoalcol",
                                           "Content-Disposition": f'attachment; filename="{key}.shoalcol"'})
        resp.content_length = encoded.nbytes
        pieces = iter(encoded.pieces())
    # the first piece is produced before the headers go out, so a failure still gives an envelope
    try:
        first = await ctx.run(next, pieces, None)
        await resp.prepare(request)
        while first is not None:
            await resp.write(first)
            first = await ctx.run(next, pieces, None)
        await resp.write_eof()
    except ConnectionError:
        log.info("download of %s stopped: the client went away", key)
    except Exception:
        if not resp.prepared:
            raise
        # headers are out: the only honest signal left is to cut the connection short
        log.exception("download of %s failed midway", key)
        if request.transport is not None:
            request.transport.close()
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # still running in the executor (cancelled mid-piece); it ends by itself
                pass
    return resp


async def delete_frame(ctx, request, params):
    await ctx.run(frames.delete_frame, ctx.node, params["key"])
    return {"deleted": params["key"]}


async def evaluate(ctx, request, params):
    """Run the expression as a job (listed, cancellable, time-limited) and answer when it ends."""
    from .. import munging
    from ..errors import ShoalError

    node = ctx.node
    expr, dest = params["expr"], params.get("dest")
    op = expr.get("op") if isinstance(expr, dict) else None
    job = node.jobs.start("evaluate", f"Evaluate {str(op)[:40]}",
                          lambda job: munging.evaluate(node, expr, dest_key=dest, job=job),
                          max_runtime_secs=params.get("max_runtime_secs") or 0.0, dest=dest)
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()   # set from the job's thread through the loop: no executor thread held, no polling delay

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(ended.set)
        except RuntimeError:   # the loop closed (node stopping): nobody waits any more
            pass

    job.on_done(wake)
    try:
        await ended.wait()
    except asyncio.CancelledError:
        job.cancel()
        raise
    if job.error is not None:
        raise ShoalError.from_wire({"error": job.error})
    return job.result


# ---------------------------------------------------------------------------------------------- jobs
async def list_jobs(ctx, request, params):
    return {"jobs": [j.to_wire() for j in ctx.node.jobs.list()]}


async def get_job(ctx, request, params):
    return {"job": ctx.node.jobs.get(params["key"]).to_wire()}


async def cancel_job(ctx, request, params):
    job = await ctx.run(ctx.node.jobs.cancel, params["key"])  # cancel hooks may block briefly
    return {"job": job.to_wire()}


HANDLERS = {
    "health": health,
    "metadata": metadata,
    "openapi": openapi,
    "cluster_status": cluster_status,
    "shutdown": shutdown,
    "list_files": list_files,
    "parse_setup": parse_setup,
    "import_file": import_file,
    "upload_file": upload_file,
    "upload_frame": upload_frame,
    "list_frames": list_frames,
    "get_frame": get_frame,
    "frame_rows": frame_rows,
    "download_frame": download_frame,
    "delete_frame": delete_frame,
    "evaluate": evaluate,
    "list_jobs": list_jobs,
    "get_job": get_job,
    "cancel_job": cancel_job,
}

from .model_ops import MODEL_HANDLERS  # noqa: E402

HANDLERS.update(MODEL_HANDLERS)
