"""The Python client against a real node: import, upload, exact round trips, head/tail, summaries,
frame management, error classes, and starting/stopping a node from ``shoal.init``."""
from __future__ import annotations

import gzip
import os
import time

import numpy as np
import pandas as pd
import pytest

import shoal
from shoal import errors

CSV = (
    "id,price,qty,carrier,note,flag\n"
    "1,10.5,3,AA,hello,true\n"
    "2,,4,UA,,false\n"
    "3,7.25,,AA,\"a, b\",true\n"
    "4,-1.0,0,DL,wörld,false\n"
    "5,0.0,7,UA,z,true\n"
)


@pytest.fixture(scope="module", autouse=True)
def connected(node):
    conn = shoal.init(url=node.url, verbose=False)
    yield conn


@pytest.fixture(autouse=True)
def reconnect(node, connected):
    # Tests that start their own node change the current connection; put it back.
    from shoal.connection import set_current_connection

    set_current_connection(connected)
    yield


def _mixed_df(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({
        "i": rng.integers(-1000, 1000, n).astype(np.int64),
        "big": rng.integers(-(2**40), 2**40, n).astype(np.int64),
        "x": rng.normal(size=n),
        "e": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["hi", "lo", "mid"]),
        "s": [f"s{i}é" for i in range(n)],
        "t": pd.to_datetime(1_600_000_000_000 + rng.integers(0, 10**9, n), unit="ms"),
        "b": rng.random(n) < 0.5,
    })
    df.loc[[3, 17], "x"] = np.nan
    df["e"] = df["e"].astype(object).where(~df.index.isin([5]), None).astype(
        pd.CategoricalDtype(["hi", "lo", "mid"]))
    df.loc[[2, 9], "s"] = np.nan
    df.loc[[4], "t"] = pd.NaT
    df["bn"] = pd.array([None if k % 7 == 0 else bool(k % 2) for k in range(n)], dtype="boolean")
    df["t"] = df["t"].astype("datetime64[ms]")
    return df


def test_frame_from_pandas_round_trips_exactly():
    df = _mixed_df()
    fr = shoal.Frame(df, destination_frame="rt_mixed")
    assert fr.key == "rt_mixed" and fr.shape == df.shape and len(fr) == len(df)
    assert fr.names == list(df.columns)
    assert fr.types == {"i": "int", "big": "int", "x": "real", "e": "enum", "s": "string", "t": "time",
                        "b": "bool", "bn": "bool"}
    back = fr.as_data_frame()
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_int_with_missing_comes_back_as_float_like_read_csv():
    df = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64")})
    back = shoal.Frame(df).as_data_frame()
    assert back["a"].dtype == np.float64
    np.testing.assert_array_equal(back["a"].to_numpy(), [1.0, np.nan, 3.0])


def test_frame_from_dict_and_numpy():
    fr = shoal.Frame({"a": [1, 2, 3], "b": ["x", "y", None]})
    back = fr.as_data_frame()
    assert back["a"].tolist() == [1, 2, 3] and back["b"].tolist()[:2] == ["x", "y"] and pd.isna(back["b"][2])
    arr = np.arange(12, dtype=np.float64).reshape(4, 3)
    fr = shoal.Frame(arr)
    assert fr.names == ["C1", "C2", "C3"]
    np.testing.assert_array_equal(fr.as_data_frame().to_numpy(), arr)


def test_empty_and_unicode_frames():
    df = pd.DataFrame({"naïve 日本": pd.Series([], dtype=np.float64)})
    fr = shoal.Frame(df)
    assert fr.shape == (0, 1)
    back = fr.as_data_frame()
    assert list(back.columns) == ["naïve 日本"] and len(back) == 0


def test_head_and_tail_equal_pandas():
    df = _mixed_df(30)
    fr = shoal.Frame(df)
    pd.testing.assert_frame_equal(fr.head(7), df.head(7), check_exact=True)
    pd.testing.assert_frame_equal(fr.tail(4), df.tail(4), check_exact=True)
    assert len(fr.head(100)) == 30


def test_summary_numbers_equal_pandas_describe():
    df = _mixed_df(200)
    fr = shoal.Frame(df)
    info = fr.summary()
    cols = {c["name"]: c for c in info["columns"]}
    for name in ("i", "x", "big"):
        ref = df[name].describe()
        c = cols[name]
        assert c["min"] == ref["min"] and c["max"] == ref["max"]
        assert c["mean"] == pytest.approx(ref["mean"], rel=1e-12)
        assert c["sd"] == pytest.approx(ref["std"], rel=1e-10)
        assert c["missing_count"] == int(df[name].isna().sum())
        assert c["zero_count"] == int((df[name] == 0).sum())
        assert c["nonmissing_count"] == int(ref["count"])
    assert cols["e"]["cardinality"] == 3 and cols["e"]["missing_count"] == 1
    assert cols["s"]["missing_count"] == 2 and cols["bn"]["missing_count"] == int(df["bn"].isna().sum())
    table = fr.summary_table()
    assert table.loc["x", "mean"] == pytest.approx(df["x"].mean(), rel=1e-12)
    assert table.loc["x", "missing"] == 2 and table.loc["e", "cardinality"] == 3
    assert info["nrow"] == 200 and info["ncol"] == df.shape[1]
    assert info["bytes"] > 0 and info["raw_bytes"] > 0


def test_describe_prints_types_rollups_and_compression(capsys):
    fr = shoal.Frame(_mixed_df(50), destination_frame="desc_me")
    fr.describe(chunk_summary=True)
    out = capsys.readouterr().out
    assert "desc_me" in out and "50 rows" in out and "ratio" in out
    for word in ("type", "min", "max", "mean", "sd", "missing", "zeros", "cardinality", "encodings"):
        assert word in out
    assert "biased_int" in out or "float" in out  # the codecs chosen for the numeric columns
    assert "Chunks:" in out


def test_import_file_parses_like_read_csv(node):
    path = node.data_root / "small.csv"
    path.write_text(CSV, encoding="utf-8")
    fr = shoal.import_file(str(path), destination_frame="small", progress=False)
    assert fr.shape == (5, 6)
    got = fr.as_data_frame()
    ref = pd.read_csv(path)
    assert got["id"].tolist() == ref["id"].tolist()
    np.testing.assert_array_equal(got["price"].to_numpy(), ref["price"].to_numpy())
    np.testing.assert_array_equal(got["qty"].to_numpy(dtype=np.float64), ref["qty"].to_numpy(dtype=np.float64))
    assert got["carrier"].astype(str).tolist() == ["AA", "UA", "AA", "DL", "UA"]
    note = got["note"].astype(object)
    assert note[0] == "hello" and pd.isna(note[1]) and note[2] == "a, b" and note[3] == "wörld"
    assert fr.types["flag"] == "bool" and got["flag"].tolist() == [True, False, True, False, True]


def test_import_file_overrides(node):
    path = node.data_root / "over.csv"
    path.write_text("1;x;NA\n2;y;3\n", encoding="utf-8")
    fr = shoal.import_file(str(path), sep=";", header=False, col_names=["n", "k", "v"],
                           col_types={"k": "string"}, na_strings=["NA"], progress=False)
    assert fr.names == ["n", "k", "v"] and fr.types["k"] == "string"
    got = fr.as_data_frame()
    assert got["n"].tolist() == [1, 2] and pd.isna(got["v"][0]) and got["v"][1] == 3


def test_parse_setup_guesses_without_parsing(node):
    path = node.data_root / "setup.csv"
    path.write_text(CSV, encoding="utf-8")
    before = set(node.frame_keys())
    setup = shoal.parse_setup(str(path))
    assert setup["col_names"] == ["id", "price", "qty", "carrier", "note", "flag"]
    assert set(node.frame_keys()) == before


def test_upload_file_streams_plain_and_gzip(tmp_path):
    p = tmp_path / "up.csv"
    p.write_text(CSV, encoding="utf-8")
    fr = shoal.upload_file(p, destination_frame="uploaded", progress=False)
    assert fr.key == "uploaded" and fr.shape == (5, 6)
    gz = tmp_path / "up.csv.gz"
    gz.write_bytes(gzip.compress(CSV.encode()))
    fr2 = shoal.upload_file(gz, progress=False)
    pd.testing.assert_frame_equal(fr2.as_data_frame(), fr.as_data_frame())


def test_ls_get_frame_remove():
    fr = shoal.Frame({"a": [1, 2]}, destination_frame="to_remove")
    listing = shoal.ls()
    assert list(listing.columns)[:3] == ["key", "nrow", "ncol"]
    row = listing[listing["key"] == "to_remove"].iloc[0]
    assert row["nrow"] == 2 and row["ncol"] == 1
    same = shoal.get_frame("to_remove")
    assert same == fr and same.shape == (2, 1)
    shoal.remove(fr)
    assert "to_remove" not in shoal.ls()["key"].tolist()
    with pytest.raises(errors.FrameNotFound):
        shoal.get_frame("to_remove")


def test_errors_raise_the_class_of_their_code(node):
    with pytest.raises(errors.FrameNotFound) as exc:
        shoal.get_frame("no_such_frame")
    assert exc.value.code == "frame_not_found" and exc.value.http_status == 404
    with pytest.raises(errors.PathNotAllowed):
        shoal.import_file("/etc/passwd", progress=False)
    with pytest.raises(errors.InvalidParameter) as exc:
        shoal.import_file(str(node.data_root / "small.csv"), header=7, sep="ab", progress=False)
    assert {p["parameter"] for p in exc.value.details["problems"]} == {"header", "sep"}
    with pytest.raises(shoal.ShoalError):
        shoal.remove("no_such_frame")


def test_parse_failure_raises_parse_error(node):
    bad = node.data_root / "bad.csv"
    bad.write_bytes(b'a,b\n1,"unterminated\n2,3\n')
    try:
        fr = shoal.import_file(str(bad), progress=False)
    except errors.ParseError as exc:
        assert "bad.csv" in str(exc) or "bad.csv" in str(exc.details)
    else:  # a documented result instead of an error is fine, but it must be a frame
        assert fr.ncol == 2


def test_html_repr_escapes_hostile_names():
    hostile = '<img src=x onerror="alert(1)">'
    fr = shoal.Frame({hostile: pd.Categorical(["<b>bold</b>", "x"])})
    html = fr._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # a value, in the first rows
    assert repr(fr).startswith("<shoal.Frame")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_init_starts_a_node_and_shutdown_stops_it(tmp_path):
    from tests.conftest import free_port

    port = free_port()
    conn = shoal.init(port=port, data_roots=[str(tmp_path)], verbose=False)
    try:
        assert conn.url == f"http://127.0.0.1:{port}"
        procs = conn.owned_process
        assert len(procs) == 1
        pid = procs[0].proc.pid
        assert shoal.cluster_status()["node"]["pid"] == pid
        fr = shoal.Frame({"a": [1.5]})
        assert fr.as_data_frame()["a"].tolist() == [1.5]
    finally:
        shoal.shutdown()
    deadline = time.monotonic() + 30       # liveness only: the node exits; slow on a loaded machine
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(pid)
    with pytest.raises(errors.ShoalConnectionError):
        shoal.connection()


def test_init_connects_to_a_running_node_without_starting_one(node):
    conn = shoal.init(url=node.url, verbose=False)
    assert conn.owned_process is None
    assert shoal.cluster_status()["cluster"]["size"] >= 1


def test_import_without_waiting_returns_a_job_that_can_be_cancelled(node):
    path = node.data_root / "many.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({"a": rng.normal(size=200_000), "b": rng.integers(0, 9, 200_000)}).to_csv(path, index=False)
    job = shoal.import_file(str(path), destination_frame="cancel_me", wait=False)
    assert isinstance(job, shoal.Job) and job.key.startswith("job_")
    shoal.cancel(job)
    try:
        job.wait(progress=False)
    except errors.JobCancelled:
        assert job.refresh().status == "CANCELLED"
        assert "cancel_me" not in node.frame_keys()
    else:  # it finished before the cancel arrived: then the frame is complete
        assert job.status == "DONE" and shoal.get_frame("cancel_me").nrow == 200_000
    job2 = shoal.import_file(str(path), destination_frame="waited", wait=False)
    fr = job2.frame(progress=False)
    assert fr.shape == (200_000, 2)


def test_nodes_started_by_a_client_stop_when_its_process_exits(tmp_path):
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    code = ("import shoal; c = shoal.init(port=%d, verbose=False); "
            "print(c.owned_process[0].proc.pid, flush=True)" % port)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    pid = int(res.stdout.split()[0])
    deadline = time.monotonic() + 30       # liveness only: the node notices its parent is gone
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(pid)


def test_token_is_sent_as_bearer(node_factory):
    secured = node_factory(token="s3cret-token")
    with pytest.raises(errors.Unauthorized):
        shoal.init(url=secured.url, token="wrong", verbose=False)
    shoal.init(url=secured.url, token="s3cret-token", verbose=False)
    fr = shoal.Frame({"a": [1, 2]})
    assert fr.as_data_frame()["a"].tolist() == [1, 2]


def test_init_with_two_nodes_forms_one_cluster_and_shutdown_stops_both():
    from tests.conftest import free_port

    port = free_port()
    conn = shoal.init(port=port, nodes=2, verbose=False)
    try:
        pids = [n.proc.pid for n in conn.owned_process]
        assert len(pids) == 2 and conn.url.endswith(f":{port}")
        deadline = time.monotonic() + 60   # two full nodes starting at once on a loaded machine
        while shoal.cluster_status()["cluster"]["size"] != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert shoal.cluster_status()["cluster"]["size"] == 2
        df = pd.DataFrame({"a": np.arange(1000, dtype=np.int64), "s": [f"v{i % 7}" for i in range(1000)]})
        pd.testing.assert_frame_equal(shoal.Frame(df).as_data_frame(), df)
    finally:
        shoal.shutdown()
    deadline = time.monotonic() + 30
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_pid_alive(p) for p in pids)
