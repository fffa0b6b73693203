"""Frame views for the API: list entries, summaries, JSON rows, CSV and SHOALCOL downloads, uploads.

Blocking code (chunk decoding); handlers call it through the API executor. Chunks are read where
they live: local chunks from this node's chunk store, others through the cluster view
(``node.cluster.fetch_chunk``) when there is one.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Any, Iterator

import numpy as np

from .. import __version__
from ..errors import FrameLost, ParseError
from ..store._gcpause import gc_paused

__all__ = ["list_frames", "frame_info", "frame_summary", "frame_rows", "iter_csv", "encode_columnar",
           "frame_from_shoalcol", "delete_frame", "cluster_status", "setup_to_wire", "get_header",
           "new_frame_key", "column_values"]

DOMAIN_SHOWN = 1000
CSV_ROWS_PER_PIECE = 65536


# ---------------------------------------------------------------------------------------------- access
def get_header(node, key: str):
    """The header of a frame this view can serve whole: ``frame_lost`` (before any byte is
    streamed) when some of its chunks were on a lost node."""
    header = node.catalog.get(key)
    node.runtime.check_available(header)
    return header


def get_chunk(node, header, col: int, idx: int):
    """Chunk ``idx`` of column ``col``: local, or fetched from its home through the cluster."""
    from ..store.layout import home_of

    home = home_of(idx, header.members) if header.members else node.self_id
    cluster = getattr(node, "cluster", None)
    if home != node.self_id and cluster is not None and hasattr(cluster, "fetch_chunk"):
        return cluster.fetch_chunk(home, header.key, col, idx)
    return node.chunks.get(header.key, col, idx)


# ---------------------------------------------------------------------------------------------- listing
def frame_bytes(node, header) -> int:
    """Compressed bytes of a frame over the cluster (cached with the frame)."""
    if getattr(node, "cluster", None) is None:
        return int(node.chunks.frame_bytes(header.key))
    derived = node.catalog.derived(header.key)
    size = derived.get("api.bytes")
    if size is None:
        from ..store.rollups import chunk_summary

        size = int(chunk_summary(node, header.key)["compressed_bytes"])
        node.catalog.cache_derived(header.key, "api.bytes", size, header)
    return int(size)


def frame_info(node, header) -> dict[str, Any]:
    return {"key": header.key, "nrow": header.nrow, "ncol": header.ncol, "nchunks": header.nchunks,
            "bytes": frame_bytes(node, header), "created_ms": header.created_ms}


def list_frames(node) -> list[dict[str, Any]]:
    out = []
    for header in node.catalog.list():
        if not hasattr(header, "starts"):
            continue  # models and other objects share the catalog
        try:
            node.runtime.check_available(header)
            out.append(frame_info(node, header))
        except FrameLost as exc:
            # One lost frame must not hide the others: list it, marked lost, without a size.
            out.append({"key": header.key, "nrow": header.nrow, "ncol": header.ncol, "nchunks": header.nchunks,
                        "bytes": None, "created_ms": header.created_ms, "lost": True,
                        "lost_node": exc.details.get("node")})
    return out


def new_frame_key(node) -> str:
    return node.catalog.new_key("frame")


def delete_frame(node, key: str) -> None:
    """Remove a frame here and, on a cluster, on every other member."""
    node.catalog.get(key)  # frame_not_found when absent
    deleter = getattr(node, "delete_frame", None)
    if callable(deleter):
        deleter(key)
        return
    node.catalog.remove(key)
    node.chunks.remove_frame(key)
    cluster = getattr(node, "cluster", None)
    if cluster is not None and hasattr(cluster, "broadcast_remove"):
        cluster.broadcast_remove(key)


# ---------------------------------------------------------------------------------------------- summary
def frame_summary(node, key: str, rollups: bool = True, histogram: bool = False,
                  chunk_summary: bool = False) -> dict[str, Any]:
    """Header, per-column rollups and the compression summary of a frame (docs/api.md ``Frame``)."""
    header = get_header(node, key)
    with gc_paused(getattr(header, "ncol", 0) >= 1000):  # not a frame: summarize_chunks says so
        return _frame_summary(node, header, key, rollups, histogram, chunk_summary)


def _frame_summary(node, header, key: str, rollups: bool, histogram: bool, chunk_summary: bool) -> dict[str, Any]:
    from ..store.rollups import chunk_summary as summarize_chunks
    from ..store.rollups import rollups_view

    cs = summarize_chunks(node, key)
    # the cached rollups, read only (copied value by value below): no deep copy of a wide frame's list
    roll = rollups_view(node, key) if rollups else None
    skip = ("name", "type") if histogram else ("name", "type", "histogram")
    columns = []
    for c, col in enumerate(header.columns):
        t = col.type
        entry: dict[str, Any] = {"name": col.name, "type": t.value if hasattr(t, "value") else str(t)}
        if col.domain is not None:
            entry["domain"] = list(col.domain[:DOMAIN_SHOWN])
            entry["domain_size"] = len(col.domain)
        else:
            entry["domain"] = None
            entry["domain_size"] = None
        if roll is not None:
            for k, v in roll[c].items():
                if k in skip:
                    continue
                if k == "histogram" and v is not None:
                    v = {hk: list(hv) for hk, hv in v.items()}
                entry[k] = v
        columns.append(entry)
    out = {"key": header.key, "nrow": header.nrow, "ncol": header.ncol, "nchunks": header.nchunks,
           "created_ms": header.created_ms, "columns": columns, "bytes": cs["compressed_bytes"],
           "raw_bytes": cs["raw_bytes"], "compression_ratio": cs["compression_ratio"],
           "encodings": cs["codecs"]}
    if chunk_summary:
        out["chunk_summary"] = {"codecs": cs["codecs"], "nodes": cs["nodes"]}
    return out


# ---------------------------------------------------------------------------------------------- values
def _type_name(col) -> str:
    t = col.type
    return t.value if hasattr(t, "value") else str(t)


def column_values(node, header, c: int, lo: int, hi: int) -> dict[str, Any]:
    """Values of column ``c`` for rows ``[lo, hi)`` as arrays: ``{"values", "na"}`` (strings: a list)."""
    from ..store import codecs

    col = header.columns[c]
    t = _type_name(col)
    starts = header.starts
    first = int(np.searchsorted(starts, lo, side="right") - 1)
    pieces_v, pieces_na = [], []
    i = max(first, 0)
    while i < header.nchunks and starts[i] < hi:
        a, b = int(starts[i]), int(starts[i + 1])
        s, e = max(lo, a) - a, min(hi, b) - a
        if e > s:
            ch = get_chunk(node, header, c, i)
            if t == "real":
                v = codecs.decode_float64(ch)[s:e]
                pieces_v.append(v)
                pieces_na.append(np.isnan(v))
            elif t == "enum":
                v = codecs.decode_codes(ch)[s:e]
                pieces_v.append(v)
                pieces_na.append(v < 0)
            elif t == "string":
                offsets, data, na = codecs.decode_strings(ch)
                offs = offsets[s:e + 1]
                pieces_v.append((offs - offs[0], data[offs[0]:offs[-1]]))
                pieces_na.append(na[s:e])
            else:
                v, na = codecs.decode_int64(ch)
                pieces_v.append(v[s:e])
                pieces_na.append(na[s:e])
        i += 1
    na = np.concatenate(pieces_na) if pieces_na else np.zeros(0, dtype=bool)
    if t == "string":
        if pieces_v:
            sizes = [len(p[1]) for p in pieces_v]
            base = np.cumsum([0] + sizes[:-1])
            offsets = np.concatenate([np.zeros(1, np.int64)] +
                                     [p[0][1:] + b for p, b in zip(pieces_v, base)]).astype(np.int64)
            data = np.concatenate([p[1] for p in pieces_v]) if sizes else np.zeros(0, np.uint8)
        else:
            offsets, data = np.zeros(1, np.int64), np.zeros(0, np.uint8)
        return {"type": t, "offsets": offsets, "data": data, "na": na}
    dtype = {"real": np.float64, "enum": np.int32}.get(t, np.int64)
    values = np.concatenate(pieces_v) if pieces_v else np.zeros(0, dtype=dtype)
    return {"type": t, "values": values, "na": na}


def _strings_list(v: dict) -> list:
    offsets, data, na = v["offsets"], v["data"], v["na"]
    raw = data.tobytes()
    out = []
    for k in range(len(na)):
        if na[k]:
            out.append(None)
        else:
            out.append(raw[offsets[k]:offsets[k + 1]].decode("utf-8", "replace"))
    return out


def _json_column(col, v: dict) -> list:
    """One column's values as JSON-ready Python objects (None for missing)."""
    t = v["type"]
    if t == "string":
        return _strings_list(v)
    na = v["na"]
    vals = v["values"]
    if t == "real":
        out = vals.tolist()
        return [None if m else ("Inf" if x == float("inf") else "-Inf" if x == float("-inf") else x)
                for x, m in zip(out, na.tolist())]
    if t == "enum":
        dom = col.domain or ()
        return [None if c < 0 else dom[c] for c in vals.tolist()]
    if t == "bool":
        return [None if m else bool(x) for x, m in zip(vals.tolist(), na.tolist())]
    return [None if m else x for x, m in zip(vals.tolist(), na.tolist())]


def frame_rows(node, key: str, offset: int, limit: int) -> dict[str, Any]:
    header = get_header(node, key)
    n = header.nrow
    start = offset if offset >= 0 else max(0, n + offset)
    start = min(start, n)
    stop = min(n, start + limit)
    cols = [_json_column(col, column_values(node, header, c, start, stop)) for c, col in enumerate(header.columns)]
    rows = [list(r) for r in zip(*cols)] if cols else [[] for _ in range(stop - start)]
    return {"key": header.key, "offset": start, "nrow": n, "names": header.names,
            "types": [_type_name(c) for c in header.columns], "rows": rows}


def _csv_column(col, v: dict) -> list:
    """One column as CSV field values (None → empty field)."""
    t = v["type"]
    if t == "string":
        return _strings_list(v)
    na = v["na"]
    vals = v["values"]
    if t == "real":
        out = []
        for x, m in zip(vals.tolist(), na.tolist()):
            if m:
                out.append(None)
            elif x == float("inf"):
                out.append("Inf")
            elif x == float("-inf"):
                out.append("-Inf")
            else:
                out.append(repr(x))
        return out
    if t == "enum":
        dom = col.domain or ()
        return [None if c < 0 else dom[c] for c in vals.tolist()]
    if t == "bool":
        return [None if m else ("true" if x else "false") for x, m in zip(vals.tolist(), na.tolist())]
    if t == "time":
        text = np.datetime_as_string(vals.astype("datetime64[ms]"), unit="ms")
        return [None if m else s.replace("T", " ") for s, m in zip(text.tolist(), na.tolist())]
    return [None if m else str(x) for x, m in zip(vals.tolist(), na.tolist())]


def _arrow_column(col, v: dict):
    """One column piece as a pyarrow array (missing as null), for the CSV writer."""
    import pyarrow as pa

    t = v["type"]
    na = v["na"]
    if t == "string":
        n = len(na)
        valid = np.packbits(~na, bitorder="little") if na.any() else None
        return pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(np.ascontiguousarray(v["offsets"], dtype=np.int64)),
            pa.py_buffer(np.ascontiguousarray(v["data"], dtype=np.uint8)),
            None if valid is None else pa.py_buffer(valid))
    vals = v["values"]
    mask = na if na.any() else None
    if t == "enum":
        idx = pa.array(np.where(na, 0, vals).astype(np.int32), mask=mask)
        return pa.DictionaryArray.from_arrays(idx, pa.array(list(col.domain or ()), type=pa.string()))
    if t == "real":
        return pa.array(vals, type=pa.float64(), mask=mask)
    if t == "time":
        return pa.array(vals.astype("datetime64[ms]"), mask=mask)
    if t == "bool":
        return pa.array(vals.astype(bool), mask=mask)
    return pa.array(vals, type=pa.int64(), mask=mask)


def _csv_pieces(header) -> Iterator[tuple[int, int]]:
    """Row ranges of at most CSV_ROWS_PER_PIECE * 4 rows that never straddle a chunk (one decode each)."""
    step = CSV_ROWS_PER_PIECE * 4
    for i in range(header.nchunks):
        a, b = int(header.starts[i]), int(header.starts[i + 1])
        for lo in range(a, b, step):
            yield lo, min(b, lo + step)


def iter_csv(node, header) -> Iterator[bytes]:
    """The frame as RFC 4180 CSV (CRLF line ends, a header row, missing as an empty field).

    Written with pyarrow's CSV writer (strings always quoted, so an empty string ``""`` and a missing
    value differ); the standard-library writer is the fallback.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a server dependency
        yield from _iter_csv_python(node, header)
        return
    names = [c.name for c in header.columns]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow(names)
    yield buf.getvalue().encode("utf-8")
    opts = pacsv.WriteOptions(include_header=False, quoting_style="needed", eol="\r\n")
    for lo, hi in _csv_pieces(header):
        arrays = [_arrow_column(col, column_values(node, header, c, lo, hi)) for c, col in enumerate(header.columns)]
        table = pa.Table.from_arrays(arrays, names=[f"c{k}" for k in range(len(arrays))])
        out = io.BytesIO()
        pacsv.write_csv(table, out, opts)
        yield out.getvalue()


def _iter_csv_python(node, header) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header.names)
    yield buf.getvalue().encode("utf-8")
    for lo, hi in _csv_pieces(header):
        cols = [_csv_column(col, column_values(node, header, c, lo, hi)) for c, col in enumerate(header.columns)]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        if cols:
            w.writerows(zip(*cols))
        yield buf.getvalue().encode("utf-8")


def encode_columnar(node, header):
    """The frame as a prepared SHOALCOL buffer (``shoal.wire.Encoded``: ``nbytes`` and ``pieces()``)."""
    from shoal import wire

    n = header.nrow
    columns = []
    for c, col in enumerate(header.columns):
        v = column_values(node, header, c, 0, n)
        t = v["type"]
        if t == "string":
            columns.append({"name": col.name, "type": "string", "offsets": v["offsets"], "data": v["data"],
                            "valid": (~v["na"]).astype(np.uint8)})
        elif t == "enum":
            columns.append({"name": col.name, "type": "enum", "data": v["values"].astype(np.int32),
                            "domain": list(col.domain or ())})
        elif t == "time":
            columns.append({"name": col.name, "type": "time", "data": v["values"].astype(np.float64),
                            "na": v["na"]})
        elif t == "real":
            columns.append({"name": col.name, "type": "real", "data": v["values"], "na": v["na"]})
        else:
            columns.append({"name": col.name, "type": t, "data": v["values"], "na": v["na"]})
    return wire.prepare(columns, n)


# ---------------------------------------------------------------------------------------------- upload
def frame_from_shoalcol(node, buf, dest: str) -> dict[str, Any]:
    """Decode a SHOALCOL upload and register it as frame ``dest``; returns ``{"frame": FrameInfo}``."""
    from shoal import wire

    from .. import parser

    try:
        _nrow, cols = wire.decode(buf)
    except wire.WireFormatError as exc:
        raise ParseError(f"The upload is not a valid SHOALCOL buffer: {exc}", {"format": "shoalcol"}) from None
    header = parser.frame_from_columns(node, cols, dest)
    if header is None:
        header = node.catalog.get(dest)
    return {"frame": frame_info(node, header)}


# ---------------------------------------------------------------------------------------------- misc
def setup_to_wire(setup) -> dict[str, Any]:
    if hasattr(setup, "to_dict"):
        return setup.to_dict()
    if hasattr(setup, "to_wire"):
        return setup.to_wire()
    if hasattr(setup, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(setup)
    return dict(setup)


def cluster_status(ctx) -> dict[str, Any]:
    node = ctx.node
    cfg = node.config
    from ..jobs import now_ms

    frames = [h for h in node.catalog.list() if hasattr(h, "starts")]
    chunks = node.chunks
    used = int(getattr(chunks, "bytes_used", 0))
    budget = int(getattr(chunks, "budget", 0) or cfg.effective_memory_budget())
    me = {
        "name": node.self_id,
        "address": f"{cfg.bind}:{ctx.port or cfg.port}",
        "version": __version__,
        "cores": os.cpu_count() or 1,
        "threads": int(cfg.threads),
        "memory_budget": budget,
        "memory_used": _process_rss(),
        "frame_memory": used,
        "frames": len(frames),
        "jobs_running": len(node.jobs.running()),
        "healthy": True,
        "pid": os.getpid(),
        "uptime_ms": now_ms() - ctx.started_ms,
    }
    cluster = getattr(node, "cluster", None)
    members = [me]
    locked = False
    healthy = True
    if cluster is not None:
        status = getattr(cluster, "status", None)
        if callable(status):
            st = status()
            members = list(st.get("members", members))
            locked = bool(st.get("locked", False))
            healthy = bool(st.get("healthy", True))
    return {"cluster": {"name": cfg.name, "version": __version__, "healthy": healthy, "locked": locked,
                        "size": len(members), "members": members},
            "node": me}


def _process_rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0

