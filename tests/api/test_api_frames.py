"""Frames through HTTP: import, upload, summary, rows, downloads (CSV and SHOALCOL), delete, cancel."""
import csv
import io
import math

import numpy as np
import pandas as pd
import pytest

V1 = "/api/v1"

CSV = ("id,price,carrier,when,ok,note\n"
       "1,1.5,AA,2013-01-01 05:00:00,true,hello\n"
       "2,,UA,2013-01-02 06:30:00,false,\"a,b\"\n"
       "3,-2.25,AA,,true,\"say \"\"hi\"\"\"\n"
       "4,1e3,,2013-01-04,,plain\n")


def parse_upload(node, data: bytes, **params):
    r = node.post(f"{V1}/upload_file", data=data, params=params)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert job["status"] in ("CREATED", "RUNNING", "DONE") and job["kind"] == "parse"
    return node.wait_job(job["key"])


@pytest.fixture(scope="module")
def small(node):
    job = parse_upload(node, CSV.encode(), filename="small.csv", destination_frame="small")
    assert job["status"] == "DONE", job
    assert job["dest"] == "small" and job["progress"] == 1.0
    return "small"


def test_upload_parses_into_a_frame(node, small):
    frames = {f["key"]: f for f in node.get(f"{V1}/frames").json()["frames"]}
    assert frames["small"]["nrow"] == 4 and frames["small"]["ncol"] == 6
    assert frames["small"]["bytes"] > 0


def test_get_frame_summary_matches_pandas(node, small):
    fr = node.get(f"{V1}/frames/small", params={"histogram": "true", "chunk_summary": "true"}).json()["frame"]
    assert fr["nrow"] == 4 and [c["name"] for c in fr["columns"]] == ["id", "price", "carrier", "when", "ok", "note"]
    cols = {c["name"]: c for c in fr["columns"]}
    assert cols["carrier"]["type"] == "enum" and cols["carrier"]["domain"] == ["AA", "UA"]
    prices = pd.Series([1.5, None, -2.25, 1000.0])
    assert cols["price"]["missing_count"] == 1
    assert math.isclose(cols["price"]["mean"], prices.mean()) and math.isclose(cols["price"]["sd"], prices.std())
    assert cols["price"]["min"] == -2.25 and cols["price"]["max"] == 1000.0
    assert cols["id"]["histogram"]["counts"] and sum(cols["id"]["histogram"]["counts"]) == 4
    assert fr["bytes"] > 0 and fr["raw_bytes"] > 0 and fr["encodings"]
    assert fr["chunk_summary"]["nodes"][0]["rows"] == 4
    plain = node.get(f"{V1}/frames/small").json()["frame"]
    assert "histogram" not in plain["columns"][0]
    bare = node.get(f"{V1}/frames/small", params={"rollups": "false"}).json()["frame"]
    assert "mean" not in bare["columns"][1]


def test_frame_rows_head_and_tail(node, small):
    r = node.get(f"{V1}/frames/small/rows", params={"limit": 2}).json()
    assert r["names"][:3] == ["id", "price", "carrier"] and r["offset"] == 0 and r["nrow"] == 4
    assert r["rows"][0][:3] == [1, 1.5, "AA"] and r["rows"][1][1] is None
    assert r["rows"][1][5] == "a,b"
    tail = node.get(f"{V1}/frames/small/rows", params={"offset": -2, "limit": 10}).json()
    assert tail["offset"] == 2 and [row[0] for row in tail["rows"]] == [3, 4]
    assert tail["rows"][1][2] is None and tail["rows"][1][4] is None and tail["rows"][0][3] is None
    assert tail["rows"][0][5] == 'say "hi"'
    past = node.get(f"{V1}/frames/small/rows", params={"offset": 100}).json()
    assert past["rows"] == []


def test_download_csv_round_trips_through_pandas(node, small):
    r = node.get(f"{V1}/frames/small/data", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert b"\r\n" in r.content
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == ["id", "price", "carrier", "when", "ok", "note"]
    assert rows[2][1] == "" and rows[2][5] == "a,b" and rows[3][5] == 'say "hi"' and rows[4][2] == ""
    df = pd.read_csv(io.BytesIO(r.content))
    assert df["id"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(df["price"].to_numpy(), [1.5, np.nan, -2.25, 1000.0])


def test_download_columnar_decodes_exactly(node, small):
    from shoal import wire

    r = node.get(f"{V1}/frames/small/data", params={"format": "columnar"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-shoalcol"
    assert int(r.headers["Content-Length"]) == len(r.content)
    nrow, cols = wire.decode(r.content)
    assert nrow == 4
    by = {c["name"]: c for c in cols}
    np.testing.assert_array_equal(np.isnan(by["price"]["data"]), [False, True, False, False])
    assert by["price"]["data"][0] == 1.5 and by["price"]["data"][3] == 1000.0
    assert by["carrier"]["domain"] == ["AA", "UA"] and by["carrier"]["data"].tolist() == [0, 1, 0, -1]
    assert by["when"]["data"][0] == pd.Timestamp("2013-01-01 05:00:00").value // 10**6


def test_upload_frame_round_trip_and_delete(node):
    from shoal import wire

    n = 1000
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    x[::10] = np.nan
    cols = [{"name": "x", "type": "real", "data": x},
            {"name": "k", "type": "int", "data": np.arange(n, dtype=np.int64)},
            {"name": "s", "type": "string", "values": [None if i % 7 == 0 else f"v{i}" for i in range(n)]}]
    body = wire.encode_columns(cols, n)
    r = node.post(f"{V1}/upload_frame", data=body, params={"destination_frame": "up"},
                  headers={"Content-Type": "application/x-shoalcol"})
    assert r.status_code == 201, r.text
    assert r.json()["frame"] == {**r.json()["frame"], "key": "up", "nrow": n, "ncol": 3}
    got = node.get(f"{V1}/frames/up/data", params={"format": "columnar"}).content
    nrow, back = wire.decode(got)
    assert nrow == n
    np.testing.assert_array_equal(back[0]["data"], x)   # NaN positions compare equal
    assert back[1]["data"].tolist() == list(range(n))
    assert wire.strings_to_object(back[2]).tolist() == cols[2]["values"]
    rows = node.get(f"{V1}/frames/up/rows", params={"offset": 9, "limit": 2}).json()["rows"]
    assert rows[0][2] == "v9" and rows[1][0] is None and rows[1][1] == 10
    assert node.delete(f"{V1}/frames/up").json() == {"deleted": "up"}
    assert "up" not in node.frame_keys()
    assert node.get(f"{V1}/frames/up").status_code == 404


def test_bad_shoalcol_upload_is_a_parse_error(node):
    r = node.post(f"{V1}/upload_frame", data=b"not shoalcol at all", params={"destination_frame": "bad"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "parse_error"
    assert "bad" not in node.frame_keys()


def test_import_file_from_the_data_root(node):
    (node.data_root / "imp.csv").write_text(CSV)
    r = node.post(f"{V1}/import_file", json={"path": ["imp.csv"]})
    assert r.status_code == 202
    job = node.wait_job(r.json()["job"]["key"])
    assert job["status"] == "DONE" and job["dest"] == "imp"
    assert node.get(f"{V1}/frames/imp").json()["frame"]["nrow"] == 4
    r = node.post(f"{V1}/import_file", json={"path": "missing.csv"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_parse_setup_guesses_and_applies_overrides(node):
    (node.data_root / "setup.csv").write_text("a;b\n1;x\n2;y\n")
    s = node.post(f"{V1}/parse_setup", json={"path": ["setup.csv"]}).json()["setup"]
    assert s["sep"] == ";" and s["header"] is True and s["col_names"] == ["a", "b"]
    assert s["col_types"][0] == "int"
    s = node.post(f"{V1}/parse_setup", json={"path": ["setup.csv"], "header": -1,
                                             "col_names": ["p", "q"]}).json()["setup"]
    assert s["header"] is False and s["col_names"] == ["p", "q"]


def test_parse_overrides_reach_the_parser(node):
    job = parse_upload(node, b"a|b\n1|NA\n-|3\n", filename="o.psv", destination_frame="ovr", sep="|",
                       na_strings='["-"]', col_types='{"b": "real"}')
    assert job["status"] == "DONE", job
    rows = node.get(f"{V1}/frames/ovr/rows").json()
    assert rows["types"] == ["int", "real"]
    assert rows["rows"][0][0] == 1 and rows["rows"][1] == [None, 3.0]


def test_cancel_a_parse_job_leaves_no_frame(node):
    big = ("a,b,c\n" + "".join(f"{i},{i * 0.5},k{i % 50}\n" for i in range(400_000))).encode()
    r = node.post(f"{V1}/upload_file", data=big, params={"filename": "big.csv", "destination_frame": "big",
                                                          "max_runtime_secs": 120})
    key = r.json()["job"]["key"]
    c = node.post(f"{V1}/jobs/{key}/cancel").json()["job"]
    assert c["key"] == key and c["cancel_requested"] in (True, False)
    job = node.wait_job(key, timeout=10)
    print("cancel outcome", job["status"], job["ended_ms"] - job["started_ms"])
    if job["status"] == "CANCELLED":
        assert job["error"]["code"] == "job_cancelled"
        assert "big" not in node.frame_keys()
        assert job["ended_ms"] - c.get("created_ms", job["created_ms"]) >= 0
    else:  # finished before the cancel arrived
        assert job["status"] == "DONE"
    assert not list(node.spool.iterdir())
    listed = node.get(f"{V1}/jobs").json()["jobs"]
    assert key in [j["key"] for j in listed]


def test_time_limit_fails_a_parse_job(node):
    big = ("a,b\n" + "".join(f"{i},{i}\n" for i in range(300_000))).encode()
    job = parse_upload(node, big, filename="slow.csv", destination_frame="slow", max_runtime_secs=0.001)
    assert job["status"] in ("FAILED", "DONE")
    if job["status"] == "FAILED":
        assert job["error"]["code"] == "job_timeout" and "slow" not in node.frame_keys()


def test_evaluate_runs_an_expression_as_a_listed_job(node, small):
    col = {"op": "col", "frame": "small", "name": "price"}
    r = node.post(f"{V1}/evaluate", json={"expr": {"op": "mean", "args": [col], "na_rm": True}})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "scalar"
    assert math.isclose(r.json()["value"], pd.Series([1.5, None, -2.25, 1000.0]).mean())
    r = node.post(f"{V1}/evaluate", json={"expr": {"op": "cols", "args": [{"op": "frame", "key": "small"}],
                                                   "select": ["id", "price"]}, "dest": "two"})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "frame" and r.json()["frame"]["key"] == "two"
    assert node.get(f"{V1}/frames/two/rows").json()["names"] == ["id", "price"]
    kinds = [j["kind"] for j in node.get(f"{V1}/jobs").json()["jobs"]]
    assert "evaluate" in kinds
    bad = node.post(f"{V1}/evaluate", json={"expr": {"op": "system", "args": ["rm -rf /"]}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"
    missing = node.post(f"{V1}/evaluate", json={"expr": {"op": "frame", "key": "nope"}})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "frame_not_found"
