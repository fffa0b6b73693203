"""The malformed-input corpus through upload AND through path import (RELIABILITY.md R8).

Each case ends, within 5 s, either DONE (a frame) or FAILED with a ``parse_error`` (or a size-bound
error) naming the problem; never a 5xx, never a hang; the node keeps serving and a failed parse leaves
no frame in ``list_frames``.
"""
import time

import pytest

from corpus import large_inputs, malformed_inputs

V1 = "/api/v1"
SPLIT = 65536
ALLOWED_FAILURES = {"parse_error", "payload_too_large", "memory_exceeded"}
CASES = malformed_inputs(SPLIT)

#: cases whose result is fixed regardless of parser choices
EXPECT_DONE_SHAPE = {
    "utf8_bom": (2, 3), "crlf": (2, 3), "cr_only": (2, 3), "no_final_newline": (2, 3), "gzip": (2, 3),
    "bz2": (2, 3), "zstd": (2, 3), "semicolon": (2, 3), "tab": (2, 3), "pipe": (2, 3), "one_column": (3, 1),
    "quoted_delimiter": (2, 2), "doubled_quote": (1, 2), "embedded_newline": (2, 2),
    "quoted_newline_on_boundary": None, "multibyte_on_boundary": None,
}
EXPECT_FAILED = {"truncated_gzip", "gzip_bomb", "binary_named_csv"}


@pytest.fixture(scope="module")
def cnode(tmp_path_factory):
    from nodeproc import NodeProcess

    n = NodeProcess(tmp_path_factory.mktemp("corpus"), extra_args=["--chunk-bytes", str(SPLIT)])
    try:
        _warm(n)
        yield n
    finally:
        n.stop()


def _warm(node):
    """Parse one ordinary file first, so the 5 s bar times the parser and not numba's one-off compile.

    In a fresh checkout the kernels' on-disk cache is empty and the first parse of the node compiles
    them (seconds on a loaded 2-core machine); R8's bar is about malformed input, after that.
    """
    data = b"a,b,c,d\n1,2.5,x,2020-01-01\n3,,y,2020-01-02\n"
    r = node.post(f"{V1}/upload_file", data=data, params={"filename": "warm.csv", "destination_frame": "warm"})
    assert r.status_code == 202, r.text[:300]
    assert node.wait_job(r.json()["job"]["key"], timeout=120)["status"] == "DONE"
    assert node.delete(f"{V1}/frames/warm").status_code < 300


def _check_outcome(node, name, resp, dest, t0):
    assert resp.status_code < 500, (name, resp.status_code, resp.text[:300])
    if resp.status_code != 202:
        err = resp.json()["error"]
        assert err["code"] in ALLOWED_FAILURES | {"invalid_parameter"}, (name, err)
        return "REFUSED", err
    job = node.wait_job(resp.json()["job"]["key"], timeout=30)
    elapsed = time.monotonic() - t0
    assert elapsed <= 5.0 + 1.0, (name, elapsed)  # 1 s of slack for the shared test machine
    if job["status"] == "FAILED":
        assert job["error"]["code"] in ALLOWED_FAILURES, (name, job["error"])
        assert "Traceback" not in job["error"]["message"]
        assert dest not in node.frame_keys(), name
    else:
        assert job["status"] == "DONE", (name, job)
        assert dest in node.frame_keys(), name
    return job["status"], job


def _frame_shape(node, key):
    fr = node.get(f"{V1}/frames/{key}", params={"rollups": "false"}).json()["frame"]
    return fr["nrow"], fr["ncol"]


def _assert_expected(node, name, status, dest):
    if name in EXPECT_FAILED:
        assert status in ("FAILED", "REFUSED"), name
    if name in EXPECT_DONE_SHAPE:
        assert status == "DONE", name
        want = EXPECT_DONE_SHAPE[name]
        if want is not None:
            assert _frame_shape(node, dest) == want, name
    if name == "quoted_newline_on_boundary" or name == "multibyte_on_boundary":
        rows = node.get(f"{V1}/frames/{dest}/rows", params={"offset": -1, "limit": 1}).json()["rows"]
        assert rows[0][0] is not None and str(rows[0][1]).endswith("99")
        nrow, ncol = _frame_shape(node, dest)
        assert ncol == 2
    if name == "utf8_bom":
        names = node.get(f"{V1}/frames/{dest}/rows", params={"limit": 0}).json()["names"]
        assert names == ["a", "b", "c"]


@pytest.mark.parametrize("name,filename,data", CASES, ids=[c[0] for c in CASES])
def test_corpus_through_upload(cnode, name, filename, data):
    dest = "up_" + name
    t0 = time.monotonic()
    r = cnode.post(f"{V1}/upload_file", data=data, params={"filename": filename, "destination_frame": dest})
    status, _ = _check_outcome(cnode, name, r, dest, t0)
    _assert_expected(cnode, name, status, dest)
    assert cnode.alive()


@pytest.mark.parametrize("name,filename,data", CASES, ids=[c[0] for c in CASES])
def test_corpus_through_path_import(cnode, name, filename, data):
    (cnode.data_root / filename).write_bytes(data)
    dest = "imp_" + name
    t0 = time.monotonic()
    r = cnode.post(f"{V1}/import_file", json={"path": [filename], "destination_frame": dest})
    status, _ = _check_outcome(cnode, name, r, dest, t0)
    _assert_expected(cnode, name, status, dest)
    assert cnode.alive()


def test_corpus_left_no_spool_files(cnode):
    deadline = time.monotonic() + 5
    while list(cnode.spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(cnode.spool.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name,filename,data", large_inputs(), ids=[c[0] for c in large_inputs()])
def test_large_corpus_through_upload(cnode, name, filename, data):
    dest = "big_" + name
    t0 = time.monotonic()
    r = cnode.post(f"{V1}/upload_file", data=data, params={"filename": filename, "destination_frame": dest},
                   timeout=120)
    assert r.status_code < 500
    if r.status_code == 202:
        job = cnode.wait_job(r.json()["job"]["key"], timeout=120)
        print(name, job["status"], round(time.monotonic() - t0, 2), "s", (job["error"] or {}).get("code"))
        assert job["status"] in ("DONE", "FAILED")
        if job["status"] == "FAILED":
            assert job["error"]["code"] in ALLOWED_FAILURES
            assert dest not in cnode.frame_keys()
    assert cnode.alive()
