"""Every case of the malformed-input corpus (RELIABILITY.md, R8) at the parser level.

Each case gives the behaviour documented in ``shoal_server.parser.parse`` or a ``parse_error``
naming file, line and column. Inputs are generated here.
"""
from __future__ import annotations

import bz2
import gzip
import io
import math
import os
import time
import zipfile

import numpy as np
import pytest

from shoal_server.errors import ParseError, PayloadTooLarge
from shoal_server.parser import parse_files


#: A bound that only catches hangs and quadratic blow-ups: speed itself is measured in bench/
#: (each case takes well under 5 s on an idle 2-core machine), never asserted on a shared one.
HANG_SECONDS = 60


def names(h):
    return [c.name for c in h.columns]


def types(h):
    return [c.type.value for c in h.columns]


def no_staging_left(node):
    return all(".staging." not in k for k in node.chunks.frame_keys())


# ----------------------------------------------------------------------------- structure
def test_empty_file_is_no_data(node, parse_bytes):
    with pytest.raises(ParseError, match="empty|no data") as ei:
        parse_bytes(node, b"")
    assert ei.value.details["file"].endswith("x.csv")
    assert "fr" not in node.catalog


def test_only_newlines_is_no_data(node, parse_bytes):
    with pytest.raises(ParseError, match="no data"):
        parse_bytes(node, b"\n\n\r\n\r\n")
    assert "fr" not in node.catalog


def test_header_only_gives_zero_rows(node, parse_bytes):
    h = parse_bytes(node, b"a,b,c\n").header
    assert h.nrow == 0 and names(h) == ["a", "b", "c"]


def test_utf8_bom_is_skipped(node, parse_bytes, column_values):
    h = parse_bytes(node, b"\xef\xbb\xbfid,v\n1,2\n").header
    assert names(h) == ["id", "v"] and column_values(node, h, 0) == [1]


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_recoded(node, parse_bytes, column_values, enc):
    text = "name,v\nzoë,1\n日本,2\n"
    bom = b"\xff\xfe" if enc.endswith("le") else b"\xfe\xff"
    h = parse_bytes(node, bom + text.encode(enc)).header
    assert names(h) == ["name", "v"]
    assert column_values(node, h, 0) == ["zoë", "日本"]
    assert column_values(node, h, 1) == [1, 2]


def test_invalid_utf8_in_a_field_is_replaced(node, parse_bytes, column_values):
    h = parse_bytes(node, b"s,v\nab\xffc,1\nok,2\n").header
    assert column_values(node, h, 0) == ["ab\ufffdc", "ok"]


def test_mostly_invalid_utf8_is_binary(node, parse_bytes):
    rng = np.random.default_rng(3)
    data = bytes(rng.integers(128, 256, 5000, dtype=np.uint8))
    with pytest.raises(ParseError, match="not UTF-8"):
        parse_bytes(node, data)


def test_nul_bytes_binary_refused_and_few_kept(node, parse_bytes, column_values):
    with pytest.raises(ParseError, match="NUL"):
        parse_bytes(node, b"a,b\n" + b"\x00" * 1000 + b"1,2\n")
    h = parse_bytes(node, b"a,b\n" + b"x\x00y,1\n" + b"zz,2\n" * 200, key="k2").header
    assert column_values(node, h, 0)[0] == "x\x00y"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r", "mixed"])
def test_line_ends(node, parse_bytes, frame_df, eol):
    rows = [b"a,b", b"1,x", b"2,y", b"3,z"]
    if eol == "mixed":
        data = rows[0] + b"\r\n" + rows[1] + b"\n" + rows[2] + b"\r" + rows[3] + b"\r\n"
    else:
        data = eol.join(rows) + eol
    df = frame_df(node, parse_bytes(node, data).header)
    assert list(df["a"]) == [1, 2, 3] and list(df["b"]) == ["x", "y", "z"]


def test_no_final_newline(node, parse_bytes, column_values):
    h = parse_bytes(node, b"a,b\n1,2\n3,4").header
    assert column_values(node, h, 1) == [2, 4]


def test_trailing_delimiter_adds_no_column(node, parse_bytes, column_values):
    h = parse_bytes(node, b"a,b,\n1,2,\n3,4,\n").header
    assert names(h) == ["a", "b"] and column_values(node, h, 1) == [2, 4]
    # data rows only: the extra empty field is dropped
    h = parse_bytes(node, b"a,b\n1,2,\n3,4,\n", key="k2").header
    assert names(h) == ["a", "b"] and column_values(node, h, 0) == [1, 3]


def test_short_rows_fill_missing(node, parse_bytes, column_values):
    h = parse_bytes(node, b"a,b,c\n1,2,3\n4\n5,6\n").header
    assert column_values(node, h, 0) == [1, 4, 5]
    assert column_values(node, h, 1) == [2, None, 6]
    assert column_values(node, h, 2) == [3, None, None]


def test_long_row_is_parse_error_with_line_and_column(node, parse_bytes):
    with pytest.raises(ParseError) as ei:
        parse_bytes(node, b"a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    d = ei.value.details
    assert d["line"] == 4 and d["column"] == 3 and d["file"].endswith("x.csv")
    assert "line 4" in ei.value.message
    assert "fr" not in node.catalog and no_staging_left(node)


def test_duplicate_and_empty_names(node, parse_bytes):
    h = parse_bytes(node, b"a,a,,b,a\n1,2,3,4,5\n").header
    assert names(h) == ["a", "a_2", "C3", "b", "a_3"]


def test_quoted_delimiter_doubled_quote_embedded_newline(node, parse_bytes, column_values):
    data = b'id,text\n1,"a,b"\n2,"say ""hi"""\n3,"line1\nline2"\n4,"cr\r\nlf"\n'
    h = parse_bytes(node, data).header
    assert column_values(node, h, 0) == [1, 2, 3, 4]
    assert column_values(node, h, 1) == ["a,b", 'say "hi"', "line1\nline2", "cr\r\nlf"]


def test_unterminated_quote_names_line_and_column(node, parse_bytes):
    with pytest.raises(ParseError, match="never") as ei:
        parse_bytes(node, b'a,b\n1,2\n3,"open\n4,5\n')
    assert ei.value.details["line"] == 3 and ei.value.details["column"] == 2
    assert no_staging_left(node)


def test_stray_quote_in_unquoted_field_is_literal(make_node, parse_bytes, column_values):
    data = b"h,v\n" + b'5\'10",1\nab"c,2\nx,3\n' * 20
    for cb in (4 << 20, 16):
        node = make_node(chunk_bytes=cb)
        h = parse_bytes(node, data).header
        vals = column_values(node, h, 0)
        assert vals[:3] == ["5'10\"", 'ab"c', "x"] and h.nrow == 60
        assert column_values(node, h, 1)[:3] == [1, 2, 3]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separators_are_guessed(node, parse_bytes, column_values, sep):
    s = sep.encode()
    h = parse_bytes(node, b"a" + s + b"b" + s + b"c\n1" + s + b"2.5" + s + b"x\n3" + s + b"4" + s + b"y\n").header
    assert names(h) == ["a", "b", "c"] and column_values(node, h, 1) == [2.5, 4.0]


def test_one_column(node, parse_bytes, column_values):
    h = parse_bytes(node, b"v\n1\n2\n\n3\n").header
    assert names(h) == ["v"] and column_values(node, h, 0) == [1, 2, 3]


def test_64mb_field(make_node, parse_bytes, column_values):
    node = make_node(chunk_bytes=8 << 20)
    big = b"x" * (64 << 20)
    t0 = time.time()
    h = parse_bytes(node, b"id,text\n1," + big + b"\n2,small\n3,tail\n").header
    assert time.time() - t0 < HANG_SECONDS
    # the sample grows until it holds a whole record: the column is seen to be long text
    assert h.nrow == 3 and types(h)[1] == "string"
    vals = column_values(node, h, 1)
    assert len(vals[0]) == 64 << 20 and vals[1:] == ["small", "tail"]
    # after the sampled rows, the big field is a (big) level of a categorical column
    h = parse_bytes(node, b"id,text\n1,small\n2," + big + b"\n3,small\n", key="k2").header
    assert types(h)[1] == "enum" and h.nrow == 3
    vals = column_values(node, h, 1)
    assert vals[0] == vals[2] == "small" and len(vals[1]) == 64 << 20


def test_100k_columns(node, parse_bytes, column_values):
    n = 100_000
    head = ",".join(f"c{i}" for i in range(n)).encode()
    row = ",".join(str(i % 7) for i in range(n)).encode()
    t0 = time.time()
    h = parse_bytes(node, head + b"\n" + row + b"\n" + row + b"\n").header
    assert time.time() - t0 < HANG_SECONDS
    assert h.ncol == n and h.nrow == 2
    assert column_values(node, h, n - 1) == [(n - 1) % 7] * 2


def test_numeric_edges(node, parse_bytes, column_values):
    data = (b"x\n1e309\n-0\nNA\nN/A\nnull\n?\n+5\n007\n-1e309\n1.5\n")
    h = parse_bytes(node, data).header
    assert types(h) == ["real"]
    v = column_values(node, h, 0)
    assert v[0] == math.inf and v[1] == 0.0 and math.copysign(1, v[1]) == -1
    assert all(math.isnan(x) for x in v[2:6])
    assert v[6:] == [5.0, 7.0, -math.inf, 1.5]


def test_int64_overflow_becomes_real_and_int_edges(node, parse_bytes, column_values):
    h = parse_bytes(node, b"a,b\n9223372036854775807,99999999999999999999\n-9223372036854775808,1\n").header
    assert types(h) == ["int", "real"]
    assert column_values(node, h, 0) == [9223372036854775807, -9223372036854775808]
    assert column_values(node, h, 1) == [1e20, 1.0]


def test_thousands_separator_after_sample_is_missing_and_counted(make_node, parse_bytes, column_values):
    node = make_node(chunk_bytes=64 << 10)
    rows = b"".join(b"%d,%d\n" % (i, i) for i in range(60_000))
    r = parse_bytes(node, b"a,b\n" + rows + b'1,"1,234.5"\n')
    h = r.header
    assert types(h) == ["int", "int"]
    assert column_values(node, h, 1)[-1] is None
    (w,) = r.warnings
    assert w["column"] == "b" and w["count"] == 1 and w["first_line"] == 60_002


def test_type_change_after_sample_becomes_missing_with_warning(make_node, parse_bytes, column_values):
    node = make_node(chunk_bytes=64 << 10)
    rows = b"".join(b"%d\n" % i for i in range(60_000))
    r = parse_bytes(node, b"v\n" + rows + b"abc\ndef\n7\n")
    assert types(r.header) == ["int"]
    vals = column_values(node, r.header, 0)
    assert vals[-3:] == [None, None, 7] and len(vals) == 60_003
    assert r.warnings[0]["count"] == 2 and r.warnings[0]["first_line"] == 60_002


def test_invalid_and_mixed_dates(make_node, parse_bytes, column_values):
    node = make_node()
    h = parse_bytes(node, b"d\n2020-01-02\n2020/01/03\n01/04/2020\n2020-01-05 10:30:00.250\n").header
    assert types(h) == ["time"]
    day = 86_400_000
    base = 18263 * day  # 2020-01-02
    assert column_values(node, h, 0) == [base, base + day, base + 2 * day, base + 3 * day + 37_800_250]
    # an invalid date inside the sample makes the column categorical
    h = parse_bytes(node, b"d\n2020-01-02\n2020-02-30\n", key="k2").header
    assert types(h) == ["enum"]
    # an invalid date after the sample becomes missing and is counted
    node2 = make_node(chunk_bytes=64 << 10)
    rows = b"".join(b"2020-01-%02d\n" % (1 + i % 28) for i in range(70_000))
    r = parse_bytes(node2, b"d\n" + rows + b"2021-13-01\n", key="k3")
    assert types(r.header) == ["time"] and column_values(node2, r.header, 0)[-1] is None
    assert r.warnings[0]["count"] == 1


def test_million_level_categorical_is_fast(make_node, parse_bytes):
    node = make_node(chunk_bytes=1 << 20)
    levels = np.arange(1_000_000)
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.zeros(5000, np.int64), rng.permutation(levels)])
    body = "\n".join("L%d" % c for c in codes.tolist()).encode()
    t0 = time.time()
    h = parse_bytes(node, b"cat\n" + body + b"\n").header
    elapsed = time.time() - t0
    assert h.nrow == 1_005_000
    assert types(h) == ["enum"] and len(h.columns[0].domain) == 1_000_000
    assert list(h.columns[0].domain) == sorted(h.columns[0].domain)
    assert elapsed < HANG_SECONDS


def test_hostile_names_kept_verbatim(node, parse_bytes):
    hostile = ["<script>alert(1)</script>", "../x", "\u202eevil", "😀", "=cmd|' /C calc'!A0"]
    head = ",".join('"%s"' % n.replace('"', '""') for n in hostile).encode()
    h = parse_bytes(node, head + b"\n1,2,3,4,5\n").header
    assert names(h) == hostile


def test_formula_cells_are_text(node, parse_bytes, column_values):
    h = parse_bytes(node, b"f,v\n=SUM(A1:A2),1\n+cmd,2\n@x,3\n").header
    assert column_values(node, h, 0) == ["=SUM(A1:A2)", "+cmd", "@x"]


def test_comment_lines_are_data(node, parse_bytes, column_values):
    r = parse_bytes(node, b"a,b\n# a comment\n1,2\n")
    assert r.header.nrow == 2
    assert column_values(node, r.header, 0)[0] == "# a comment"


# ----------------------------------------------------------------------------- compression
CSV = b"a,b\n" + b"".join(b"%d,v%d\n" % (i, i % 5) for i in range(1000))


def _check_plain(node, h, column_values):
    assert h.nrow == 1000 and names(h) == ["a", "b"]
    assert column_values(node, h, 0) == list(range(1000))


def test_gzip(node, parse_bytes, column_values):
    _check_plain(node, parse_bytes(node, gzip.compress(CSV), name="x.csv.gz").header, column_values)


def test_bz2(node, parse_bytes, column_values):
    _check_plain(node, parse_bytes(node, bz2.compress(CSV), name="x.csv.bz2").header, column_values)


def test_zstd(node, parse_bytes, column_values):
    import zstandard
    data = zstandard.ZstdCompressor().compress(CSV)
    _check_plain(node, parse_bytes(node, data, name="x.csv.zst").header, column_values)


def test_truncated_gzip_is_parse_error(node, parse_bytes):
    data = gzip.compress(CSV * 20)
    with pytest.raises(ParseError, match="truncated|damaged"):
        parse_bytes(node, data[: len(data) // 2], name="x.csv.gz")
    assert not os.listdir(node.spool_dir)


def test_truncated_zstd_is_parse_error(node, parse_bytes):
    import zstandard
    data = zstandard.ZstdCompressor().compress(CSV * 20)
    with pytest.raises(ParseError):
        parse_bytes(node, data[: len(data) // 2], name="x.csv.zst")


def test_gzip_bomb_is_refused(node, parse_bytes):
    bomb = gzip.compress(b"0" * (200 << 20), compresslevel=9)
    t0 = time.time()
    with pytest.raises(PayloadTooLarge):
        parse_bytes(node, bomb, name="bomb.csv.gz")
    assert time.time() - t0 < HANG_SECONDS
    assert not os.listdir(node.spool_dir)


def test_zip_with_several_members(node, parse_bytes, column_values):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("part1.csv", b"a,b\n1,x\n2,y\n")
        z.writestr("dir/", b"")
        z.writestr("part2.csv", b"a,b\n3,z\n")
    h = parse_bytes(node, buf.getvalue(), name="x.zip").header
    assert column_values(node, h, 0) == [1, 2, 3]
    assert column_values(node, h, 1) == ["x", "y", "z"]


@pytest.mark.parametrize("bad", ["../evil.csv", "/abs.csv", "a/../../b.csv"])
def test_zip_slip_names_are_refused(node, parse_bytes, bad):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ok.csv", b"a\n1\n")
        z.writestr(bad, b"a\n2\n")
    with pytest.raises(ParseError, match="outside"):
        parse_bytes(node, buf.getvalue(), name="x.zip")


def test_binary_file_named_csv(node, parse_bytes):
    import struct
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(2000)
    with pytest.raises(ParseError, match="not a text file|not UTF-8"):
        parse_bytes(node, png, name="image.csv")


def test_50k_consecutive_quotes(make_node, parse_bytes, column_values):
    # an opening quote, 49_998 quotes (= 24_999 literal quotes), a closing quote
    for cb in (4 << 20, 4096):
        node = make_node(chunk_bytes=cb)
        t0 = time.time()
        h = parse_bytes(node, b"a,b\n" + b'"' * 50_000 + b",1\nx,2\n").header
        assert time.time() - t0 < HANG_SECONDS
        assert column_values(node, h, 0)[0] == '"' * 24_999
        assert column_values(node, h, 1) == [1, 2]
    # an odd run never closes
    node = make_node()
    with pytest.raises(ParseError, match="never"):
        parse_bytes(node, b"a,b\n" + b'"' * 50_001 + b",1\n")


@pytest.mark.parametrize("chunk_bytes", list(range(20, 40)))
def test_quoted_newline_and_multibyte_char_on_split_boundary(make_node, parse_bytes, column_values, chunk_bytes):
    data = 'id,text\n1,"ab\ncd"\n2,"é€😀,x"\n3,日本語\n4,"q""\r\nz"\n'.encode()
    node = make_node(chunk_bytes=chunk_bytes)
    h = parse_bytes(node, data).header
    assert column_values(node, h, 0) == [1, 2, 3, 4]
    assert column_values(node, h, 1) == ["ab\ncd", "é€😀,x", "日本語", 'q"\r\nz']


def test_file_truncated_while_being_read(make_node, tmp_path, monkeypatch):
    import shoal_server.parser.parse as P
    node = make_node(chunk_bytes=1 << 12)
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(20_000)))
    real = P._sample_setup

    def setup_then_truncate(src, overrides):
        setup = real(src, overrides)
        with open(path, "r+b") as f:
            f.truncate(src.size // 3)
        return setup

    monkeypatch.setattr(P, "_sample_setup", setup_then_truncate)
    with pytest.raises(ParseError, match="changed while"):
        parse_files(node, [str(path)], {}, "t")
    assert "t" not in node.catalog and no_staging_left(node)


def test_single_stray_quote_takes_the_exact_slow_path(make_node, parse_bytes, column_values, caplog):
    # one unmatched quote flips the parity of every later range: the chain check notices and the
    # ranges are parsed again from exact record starts, giving the single-range result
    data = b"h,v\n" + b'ab"c,0\n' + b"".join(b"r%d,%d\n" % (i, i) for i in range(1, 200))
    ref_node = make_node()
    ref = column_values(ref_node, parse_bytes(ref_node, data).header, 1)
    node = make_node(chunk_bytes=64)
    with caplog.at_level("INFO", logger="shoal_server.parser.parse"):
        h = parse_bytes(node, data).header
    assert any("exact record starts" in r.message for r in caplog.records)
    assert column_values(node, h, 1) == ref == list(range(200))
    assert column_values(node, h, 0)[0] == 'ab"c'
    assert no_staging_left(node)
