"""Inputs of a parse: expanding paths, decompressing, recoding, and refusing what is not text.

- ``expand_paths``: a file, a directory (its regular files, sorted by name, not recursive, hidden
  files skipped), a glob (sorted matches) or a list of those becomes one ordered list of files.
  Paths arrive already resolved inside the data roots (``shoal_server.paths``); this module never
  widens them.
- Compressed inputs are recognised by their magic bytes, not their names: gzip, bz2, zstd and zip
  are streamed into a spool file under the node's spool directory. The output is bounded: more than
  ``max_decompressed_ratio`` times the compressed size (and at least 16 MiB) stops the stream with
  ``payload_too_large`` (a gzip bomb never fills the disk). A truncated stream is a ``parse_error``.
  Each zip member becomes its own input (in archive order); a member name that is absolute or has a
  ``..`` component (zip-slip) refuses the whole archive.
- A UTF-16 file (BOM ``FF FE`` / ``FE FF``) is recoded to UTF-8 into a spool file; a UTF-8 BOM is
  skipped by the parser.
- Parquet files (``PAR1``) are read with pyarrow (``read_parquet_columns``).
- A file whose first 64 KiB hold more than 1% NUL bytes, or more than 10% bytes that are not valid
  UTF-8, is refused as binary (``parse_error``). Fewer NULs / invalid bytes are kept as data.

Every spool file is registered in a :class:`Spool` that the caller deletes on success and failure.
"""
from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import ParseError, PayloadTooLarge

__all__ = ["TextSource", "Spool", "expand_paths", "detect_kind", "prepare_sources", "read_sample",
           "check_text", "read_parquet_columns"]

_BLOCK = 1 << 20
_MIN_LIMIT = 16 << 20
_SNIFF = 64 << 10


@dataclass
class TextSource:
    """One UTF-8 text input ready for the parser."""

    path: str        # the file to read (the original, or a spool file)
    name: str        # what errors call it: the original path (``archive.zip!member`` for zip members)
    size: int
    bom: int = 0     # bytes to skip at the start (UTF-8 BOM)


class Spool:
    """Temporary files of one parse, deleted together by :meth:`cleanup`."""

    def __init__(self, spool_dir: str):
        self.dir = spool_dir
        self.files: list[str] = []

    def new_file(self, suffix: str = ".txt"):
        os.makedirs(self.dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="parse-", suffix=suffix, dir=self.dir)
        self.files.append(path)
        return os.fdopen(fd, "wb"), path

    def cleanup(self) -> None:
        for p in self.files:
            try:
                os.unlink(p)
            except OSError:
                pass
        self.files.clear()


def _is_glob(p: str) -> bool:
    return any(ch in p for ch in "*?[")


def expand_paths(paths) -> list[str]:
    """Files named by ``paths`` (a path or a list): directories and globs expanded, sorted.

    Raises ``parse_error`` when nothing is left to parse.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            names = sorted(n for n in os.listdir(p) if not n.startswith("."))
            out.extend(os.path.join(p, n) for n in names if _regular(os.path.join(p, n)))
        elif not os.path.exists(p) and _is_glob(p):
            out.extend(m for m in sorted(glob.glob(p)) if _regular(m))
        else:
            if not _regular(p):
                raise ParseError(f"`{p}` is not a readable regular file.", {"file": p})
            out.append(p)
    if not out:
        raise ParseError("No files to parse: the paths name no regular files.", {"paths": [str(p) for p in paths]})
    return out


def _regular(p: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(p).st_mode)
    except OSError:
        return False


def detect_kind(path: str) -> str:
    """``gzip``, ``bz2``, ``zstd``, ``zip``, ``parquet``, ``utf16`` or ``text`` from the magic bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf16"
    return "text"


def _limit(compressed: int, ratio: int) -> int:
    return max(int(ratio) * max(int(compressed), 1), _MIN_LIMIT)


def _copy_bounded(reader, out, limit: int, name: str, job) -> int:
    total = 0
    while True:
        try:
            block = reader.read(_BLOCK)
        except (EOFError, OSError, zlib.error, ValueError) as e:
            raise ParseError(f"`{name}` is a damaged or truncated compressed file ({e}).", {"file": name}) from None
        except Exception as e:  # zstandard.ZstdError and similar codec errors
            raise ParseError(f"`{name}` is a damaged or truncated compressed file ({e}).", {"file": name}) from None
        if not block:
            return total
        total += len(block)
        if total > limit:
            raise PayloadTooLarge(
                f"`{name}` expands to more than {limit} bytes, over the decompression bound "
                f"(max_decompressed_ratio times its compressed size); it was refused.",
                {"file": name, "limit_bytes": int(limit)})
        out.write(block)
        if job is not None:
            job.check()


def _decompress(path: str, kind: str, spool: Spool, ratio: int, job) -> list[TextSource]:
    size = os.path.getsize(path)
    limit = _limit(size, ratio)
    if kind == "zip":
        return _unzip(path, spool, limit, job)
    out, spath = spool.new_file()
    with out:
        if kind == "gzip":
            reader = gzip.open(path, "rb")
        elif kind == "bz2":
            reader = bz2.open(path, "rb")
        else:
            import zstandard
            reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True,
                                                                closefd=True)
        with reader:
            _copy_bounded(reader, out, limit, path, job)
            if kind == "zstd":
                _check_zstd_complete(path)
    return [TextSource(spath, path, os.path.getsize(spath))]


def _check_zstd_complete(path: str) -> None:
    """zstandard's stream reader stops quietly at a truncated frame; decompress-check the tail."""
    import zstandard
    dobj = zstandard.ZstdDecompressor().decompressobj()
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if not block:
                break
            try:
                dobj.decompress(block)
            except zstandard.ZstdError as e:
                raise ParseError(f"`{path}` is a damaged zstd file ({e}).", {"file": path}) from None
            if dobj.eof:
                rest = dobj.unused_data + f.read()
                if rest:
                    dobj = zstandard.ZstdDecompressor().decompressobj()
                    try:
                        dobj.decompress(rest)
                    except zstandard.ZstdError as e:
                        raise ParseError(f"`{path}` is a damaged zstd file ({e}).", {"file": path}) from None
                    if not dobj.eof:
                        break
                return
    if not dobj.eof:
        raise ParseError(f"`{path}` is a truncated zstd file (the last frame does not end).", {"file": path})


def _bad_member(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return True
    if len(name) >= 2 and name[1] == ":":
        return True
    return any(part == ".." for part in name.split("/"))


def _unzip(path: str, spool: Spool, limit: int, job) -> list[TextSource]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ParseError(f"`{path}` is not a readable zip archive ({e}).", {"file": path}) from None
    out_sources = []
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        bad = [i.filename for i in infos if _bad_member(i.filename)]
        if bad:
            raise ParseError(f"Zip archive `{path}` has member names that point outside the archive "
                             f"(absolute or with `..`): {', '.join(repr(b) for b in bad[:5])}; it was refused.",
                             {"file": path, "members": bad[:20]})
        if not infos:
            raise ParseError(f"Zip archive `{path}` holds no files.", {"file": path})
        used = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise ParseError(f"Zip member `{info.filename}` of `{path}` is encrypted.", {"file": path})
            out, spath = spool.new_file()
            name = f"{path}!{info.filename}"
            try:
                with out, zf.open(info) as reader:
                    used += _copy_bounded(reader, out, limit - used, name, job)
            except zipfile.BadZipFile as e:
                raise ParseError(f"`{name}` is damaged ({e}).", {"file": name}) from None
            out_sources.append(TextSource(spath, name, os.path.getsize(spath)))
    return out_sources


def _recode_utf16(src: TextSource, spool: Spool, job) -> TextSource:
    with open(src.path, "rb") as f:
        bom = f.read(2)
        enc = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
        dec = codecs.getincrementaldecoder(enc)(errors="replace")
        out, spath = spool.new_file()
        with out:
            while True:
                block = f.read(_BLOCK)
                text = dec.decode(block, final=not block)
                if text:
                    out.write(text.encode("utf-8"))
                if not block:
                    break
                if job is not None:
                    job.check()
    return TextSource(spath, src.name, os.path.getsize(spath))


def read_sample(src: TextSource, nbytes: int) -> bytes:
    """The first ``nbytes`` of the text after the BOM."""
    with open(src.path, "rb") as f:
        f.seek(src.bom)
        return f.read(nbytes)


def check_text(src: TextSource) -> None:
    """Refuse a file that is not text (see the module docstring)."""
    with open(src.path, "rb") as f:
        head = f.read(_SNIFF)
    if head.startswith(b"\xef\xbb\xbf"):
        src.bom = 3
        head = head[3:]
    if not head:
        return
    arr = np.frombuffer(head, dtype=np.uint8)
    nul = int(np.count_nonzero(arr == 0))
    if nul > 0.01 * len(head):
        raise ParseError(f"`{src.name}` is not a text file: {nul} of its first {len(head)} bytes are NUL "
                         f"(a binary file, or UTF-16 without a byte-order mark).", {"file": src.name})
    if int(np.count_nonzero(arr >= 0x80)):
        cut = head
        if len(head) == _SNIFF:  # a multibyte character may be cut at the end of the sniff
            cut = head[:-3]
        bad = cut.decode("utf-8", errors="replace").count("\ufffd")
        if bad > 0.1 * len(cut):
            raise ParseError(f"`{src.name}` is not UTF-8 text: {bad} of its first {len(cut)} bytes are "
                             f"not valid UTF-8 (a binary file?).", {"file": src.name})


def prepare_sources(paths: list[str], spool: Spool, max_ratio: int, job=None):
    """Turn input files into UTF-8 text sources (decompressing / recoding into ``spool``).

    Returns ``(text_sources, parquet_paths)``; mixing parquet and text inputs is refused.
    """
    texts: list[TextSource] = []
    parquets: list[str] = []
    for p in paths:
        kind = detect_kind(p)
        if kind == "parquet":
            parquets.append(p)
            continue
        if kind in ("gzip", "bz2", "zstd", "zip"):
            srcs = _decompress(p, kind, spool, max_ratio, job)
        else:
            srcs = [TextSource(p, p, os.path.getsize(p))]
        for s in srcs:
            with open(s.path, "rb") as f:
                head = f.read(2)
            if head in (b"\xff\xfe", b"\xfe\xff"):
                s = _recode_utf16(s, spool, job)
            check_text(s)
            texts.append(s)
    if texts and parquets:
        raise ParseError("Parquet files cannot be parsed together with text files into one frame.",
                         {"files": parquets[:5]})
    return texts, parquets


def read_parquet_columns(paths: list[str]) -> list[dict]:
    """Read parquet files into column dicts ``{name, type, data, na | offsets/data/valid | domain}``.

    Type mapping: integers → ``int``, floats → ``real``, booleans → ``bool``, timestamps and dates
    → ``time`` (ms, UTC), strings and dictionaries → ``string`` (the caller turns low-cardinality
    ones into ``enum``, as for CSV). Other types are refused.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for p in paths:
        try:
            tables.append(pq.read_table(p))
        except Exception as e:  # pyarrow raises many classes for damaged files
            raise ParseError(f"`{p}` is not a readable parquet file ({e}).", {"file": p}) from None
    try:
        table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    except Exception as e:
        raise ParseError(f"The parquet files do not share one schema ({e}).", {"files": paths[:5]}) from None
    cols = []
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        na = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_boolean(t):
            data = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
            cols.append({"name": name, "type": "bool", "data": data, "na": na})
        elif pa.types.is_integer(t):
            data = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
            cols.append({"name": name, "type": "int", "data": data, "na": na})
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            data = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
            cols.append({"name": name, "type": "real", "data": data, "na": na | np.isnan(data)})
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            if pa.types.is_date(t):
                col = col.cast(pa.timestamp("ms"))
            ms = col.cast(pa.timestamp("ms", tz=getattr(col.type, "tz", None))).cast(pa.int64())
            data = np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            cols.append({"name": name, "type": "time", "data": data, "na": na})
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
            if pa.types.is_binary(t):
                col = col.cast(pa.string())
            col = col.cast(pa.large_string())
            buffers = col.buffers()
            n = len(col)
            offsets = np.frombuffer(buffers[1], dtype=np.int64)[col.offset:col.offset + n + 1].copy()
            data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
            data = data[offsets[0]:offsets[-1]].copy()
            offsets -= offsets[0]
            cols.append({"name": name, "type": "string", "offsets": offsets, "data": data,
                         "valid": (~na).astype(np.uint8), "guess_enum": True})
        else:
            raise ParseError(f"Parquet column `{name}` has type {t}, which Shoal cannot load "
                             f"(allowed: integers, floats, decimals, booleans, strings, timestamps, dates).",
                             {"column": name, "type": str(t)})
    return cols
