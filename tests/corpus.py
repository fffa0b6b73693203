"""The malformed-input corpus of RELIABILITY.md, generated (never downloaded).

``malformed_inputs(split=65536)`` returns ``[(name, filename, bytes)]``; ``name`` is the case id,
``filename`` the name to upload / write it under (its suffix matters for some cases). ``split`` is
the parse range size (``--chunk-bytes``) the boundary cases aim at. ``large_inputs()`` holds the
cases of tens of MB (64 MB field, 100k columns, a million levels), kept apart so that suites can
choose to run them.

Importable from tests (``from corpus import malformed_inputs``) by every helper: the parser's unit
tests and the API tests use the same cases.
"""
from __future__ import annotations

import bz2
import gzip
import io
import random
import zipfile
import zlib

__all__ = ["malformed_inputs", "large_inputs", "gzip_bomb", "boundary_inputs"]

_ROWS = "a,b,c\n1,2,x\n3,4,y\n"


def gzip_bomb(expanded: int = 256 << 20) -> bytes:
    """A small gzip stream that expands to ``expanded`` zero bytes (ratio ~1000)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    parts = [comp.compress(block) for _ in range(expanded // len(block))]
    parts.append(comp.flush())
    return b"".join(parts)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def boundary_inputs(split: int = 65536) -> list[tuple[str, str, bytes]]:
    """A quoted newline, and a multibyte character, exactly on a parallel split boundary."""
    out = []
    head = "id,text\n"
    # quoted newline at byte `split`
    rows = [head]
    size = len(head)
    i = 0
    while size < split - 40:
        line = f"{i},plain{i}\n"
        rows.append(line)
        size += len(line)
        i += 1
    pre = f"{i},\""
    pad = split - size - len(pre) - 1
    rows.append(pre + "q" * max(pad, 0) + "\ntail\"\n")  # the quoted newline is byte split-1
    rows += [f"{i + 1 + k},after{k}\n" for k in range(100)]
    out.append(("quoted_newline_on_boundary", "qnl.csv", "".join(rows).encode()))
    # multibyte (3-byte) character straddling `split`
    rows = [head]
    size = len(head)
    i = 0
    while size < split - 40:
        line = f"{i},plain{i}\n"
        rows.append(line)
        size += len(line)
        i += 1
    pre = f"{i},"
    pad = split - size - len(pre) - 1
    rows.append(pre + "m" * max(pad, 0) + "€" + "x\n")
    rows += [f"{i + 1 + k},é{k}\n" for k in range(100)]
    out.append(("multibyte_on_boundary", "mb.csv", "".join(rows).encode("utf-8")))
    return out


def malformed_inputs(split: int = 65536) -> list[tuple[str, str, bytes]]:
    """Every small case of the corpus (each well under 1 MB unless noted)."""
    rnd = random.Random(1234)
    gz = gzip.compress(_ROWS.encode())
    cases: list[tuple[str, str, bytes]] = [
        ("empty", "empty.csv", b""),
        ("header_only", "h.csv", b"a,b,c\n"),
        ("only_newlines", "nl.csv", b"\n\n\n\n"),
        ("utf8_bom", "bom.csv", b"\xef\xbb\xbf" + _ROWS.encode()),
        ("utf16_bom", "u16.csv", _ROWS.encode("utf-16")),
        ("invalid_utf8", "bad8.csv", b"a,b\n1,\xff\xfe\xfd\n2,\xc3\x28\n"),
        ("nul_bytes", "nul.csv", b"a,b\n1,x\x00y\n2,\x00\n"),
        ("cr_only", "cr.csv", _ROWS.replace("\n", "\r").encode()),
        ("crlf", "crlf.csv", _ROWS.replace("\n", "\r\n").encode()),
        ("mixed_line_ends", "mixed.csv", b"a,b\r\n1,2\n3,4\r5,6\r\n"),
        ("no_final_newline", "nofinal.csv", _ROWS.rstrip("\n").encode()),
        ("trailing_delimiter", "trail.csv", b"a,b,\n1,2,\n3,4,\n"),
        ("short_rows", "short.csv", b"a,b,c\n1,2\n3\n4,5,6\n"),
        ("long_rows", "long.csv", b"a,b\n1,2,3,4\n5,6\n"),
        ("duplicate_and_empty_names", "dup.csv", b"a,a,,b,\n1,2,3,4,5\n"),
        ("quoted_delimiter", "qd.csv", b'a,b\n"x,y",1\n"z",2\n'),
        ("doubled_quote", "dq.csv", b'a,b\n"say ""hi""",1\n'),
        ("embedded_newline", "en.csv", b'a,b\n"line1\nline2",1\n"x",2\n'),
        ("unterminated_quote", "uq.csv", b'a,b\n"never closed,1\n2,3\n'),
        ("stray_quote", "sq.csv", b'a,b\nab"c,1\nd"e"f,2\n'),
        ("semicolon", "semi.csv", b"a;b;c\n1;2;3\n4;5;6\n"),
        ("tab", "tab.tsv", b"a\tb\tc\n1\t2\t3\n4\t5\t6\n"),
        ("pipe", "pipe.psv", b"a|b|c\n1|2|3\n4|5|6\n"),
        ("one_column", "one.csv", b"a\n1\n2\n3\n"),
        ("numeric_edges", "num.csv",
         b"v\n1e309\n-0\nNA\nN/A\nnull\n?\n1,234.5\n+5\n007\n9223372036854775808\n-9223372036854775809\n"),
        ("numeric_edges_quoted", "numq.csv",
         b'v\n1e309\n-0\n"1,234.5"\n+5\n007\n99999999999999999999\n-1e-320\n'),
        ("type_change_after_sample", "tc.csv",
         ("v\n" + "".join(f"{i}\n" for i in range(20000)) + "oops\n2.5\n").encode()),
        ("invalid_dates", "dates.csv", b"d\n2013-01-01\n2013-02-30\n2013-13-01\nnot a date\n01/02/2013\n"),
        ("mixed_dates", "mdates.csv", b"d\n2013-01-01\n01/02/2013\n2013/03/04 05:06:07\n2013-01-01T00:00:00Z\n"),
        ("hostile_names", "hostile.csv",
         '<script>alert(1)</script>,../x,\u202eevil,\U0001F600,=cmd|\' /C calc\'!A0\n1,2,3,4,5\n'.encode()),
        ("formula_cells", "formula.csv", b"a,b\n=1+2,@SUM(A1)\n+cmd,-2\n"),
        ("comment_lines", "comment.csv", b"# a comment\na,b\n# another\n1,2\n"),
        ("gzip", "g.csv.gz", gz),
        ("truncated_gzip", "tg.csv.gz", gz[: len(gz) // 2]),
        ("gzip_bomb", "bomb.csv.gz", gzip_bomb()),
        ("zip_many_members", "m.zip", _zip({"a.csv": _ROWS.encode(), "b.csv": _ROWS.encode()})),
        ("zip_slip", "slip.zip", _zip({"../../evil.csv": _ROWS.encode(), "/abs/evil.csv": _ROWS.encode()})),
        ("bz2", "b.csv.bz2", bz2.compress(_ROWS.encode())),
        ("binary_named_csv", "bin.csv", bytes(rnd.getrandbits(8) for _ in range(50_000))),
        ("many_quotes", "quotes.csv", b"a\n" + b'"' * 50_000 + b"\n"),
    ]
    try:
        import zstandard

        cases.append(("zstd", "z.csv.zst", zstandard.ZstdCompressor().compress(_ROWS.encode())))
    except ImportError:  # pragma: no cover
        pass
    cases += boundary_inputs(split)
    return cases


def large_inputs() -> list[tuple[str, str, bytes]]:
    """The big cases: a 64 MB field, 100k columns, a categorical with a million levels."""
    return [
        ("field_64mb", "f64.csv", b"a,b\n1," + b"x" * (64 << 20) + b"\n2,y\n"),
        ("cols_100k", "wide.csv", (",".join(f"c{i}" for i in range(100_000)) + "\n"
                                   + ",".join("1" for _ in range(100_000)) + "\n").encode()),
        ("levels_1m", "levels.csv", ("k\n" + "".join(f"L{i}\n" for i in range(1_000_000))).encode()),
    ]
