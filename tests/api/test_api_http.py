"""Every route through real HTTP on a node subprocess: shapes, errors, validation, bounds."""
import json
import os
import socket
import time

import requests

from shoal_server.api.description import build_description, description_path
from shoal_server.api.operations import OPERATIONS

V1 = "/api/v1"


def envelope(r, status, code):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], dict)
    assert "Traceback" not in r.text
    return body["error"]


def test_health_and_metadata(node):
    r = node.get(f"{V1}/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
    meta = node.get(f"{V1}/metadata").json()
    assert meta == json.loads(json.dumps(build_description(OPERATIONS)))
    # the served description is the committed one (clients are generated from the committed file)
    assert meta == json.loads(description_path().read_text(encoding="utf-8"))
    codes = {e["code"]: e["http_status"] for e in meta["errors"]}
    assert codes["invalid_parameter"] == 400 and codes["path_not_allowed"] == 403


def test_openapi_document_is_served_and_valid(node):
    from openapi_spec_validator import validate

    doc = node.get(f"{V1}/openapi.json").json()
    validate(doc)
    assert f"{V1}/frames/{{key}}/rows" in doc["paths"]


def test_cluster_status_shape(node):
    st = node.get(f"{V1}/cluster").json()
    me = st["node"]
    assert me["address"].endswith(f":{node.port}") and me["cores"] == os.cpu_count()
    assert me["threads"] >= 1 and me["memory_budget"] > 0 and me["frame_memory"] >= 0
    assert me["healthy"] is True and me["version"]
    assert st["cluster"]["size"] == 1 and st["cluster"]["members"][0]["name"] == me["name"]
    assert st["cluster"]["locked"] in (True, False)


def test_empty_lists_and_unknown_objects(node):
    assert isinstance(node.get(f"{V1}/frames").json()["frames"], list)
    assert isinstance(node.get(f"{V1}/jobs").json()["jobs"], list)
    envelope(node.get(f"{V1}/frames/no_such_frame"), 404, "frame_not_found")
    envelope(node.get(f"{V1}/frames/no_such_frame/rows"), 404, "frame_not_found")
    envelope(node.get(f"{V1}/frames/no_such_frame/data"), 404, "frame_not_found")
    envelope(node.delete(f"{V1}/frames/no_such_frame"), 404, "frame_not_found")
    envelope(node.get(f"{V1}/jobs/job_0000"), 404, "job_not_found")
    envelope(node.post(f"{V1}/jobs/job_0000/cancel"), 404, "job_not_found")


def test_unknown_route_and_wrong_method_are_envelopes(node):
    envelope(node.get("/nope"), 404, "not_found")
    envelope(node.get(f"{V1}/frames/a/b/c/d"), 404, "not_found")
    envelope(node.request("PUT", f"{V1}/frames"), 405, "method_not_allowed")
    envelope(node.request("PATCH", f"{V1}/jobs"), 405, "method_not_allowed")


def test_validation_lists_every_problem(node):
    r = node.get(f"{V1}/frames/f/rows", params={"offset": "x", "limit": "-1", "bogus": "1"})
    err = envelope(r, 400, "invalid_parameter")
    assert {p["parameter"] for p in err["details"]["problems"]} == {"offset", "limit", "bogus"}
    assert err["message"].startswith("3 problems with the parameters of `frame_rows`")
    r = node.post(f"{V1}/import_file", json={"path": 3, "destination_frame": "bad key!", "sep": ",,",
                                               "header": "maybe", "unknown": 1})
    err = envelope(r, 400, "invalid_parameter")
    assert {p["parameter"] for p in err["details"]["problems"]} == {
        "path", "destination_frame", "sep", "header", "unknown"}
    err = envelope(node.get(f"{V1}/frames/bad%20key/rows"), 400, "invalid_parameter")
    assert err["details"]["problems"][0]["parameter"] == "key"


def test_malformed_json_bodies_are_400(node):
    for body in (b"{", b"[1,2]", b'"x"', b"\xff\xfe", b"{\"path\": [" + b"[" * 100 + b"]" * 100 + b"]}",
                 b"[" * 100000):
        r = node.post(f"{V1}/import_file", data=body, headers={"Content-Type": "application/json"})
        envelope(r, 400, "invalid_parameter")
    r = node.post(f"{V1}/import_file", data=b"path=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    envelope(r, 415, "unsupported_media_type")
    assert node.alive()


def test_oversized_json_body_is_413_before_reading(node):
    r = node.post(f"{V1}/import_file", data=b" " * (2 << 20), headers={"Content-Type": "application/json"})
    envelope(r, 413, "payload_too_large")


def test_oversized_upload_is_refused_from_content_length(node_factory):
    n = node_factory(extra_args=["--max-upload-bytes", "1000"])
    r = n.post(f"{V1}/upload_file", data=b"a,b\n" * 1000, params={"filename": "x.csv"})
    envelope(r, 413, "payload_too_large")
    assert not list(n.spool.iterdir())
    # declared size is checked before any byte is read: send only the headers
    with socket.create_connection(("127.0.0.1", n.port)) as s:
        s.sendall(b"POST /api/v1/upload_file HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        s.settimeout(5)
        head = s.recv(4096)
    assert b" 413 " in head.split(b"\r\n")[0]
    # with Expect: 100-continue the refusal comes before the client sends any body byte
    with socket.create_connection(("127.0.0.1", n.port)) as s:
        s.sendall(b"POST /api/v1/upload_file HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5)
        head = s.recv(4096)
    assert b" 413 " in head.split(b"\r\n")[0] and b"payload_too_large" in head
    with socket.create_connection(("127.0.0.1", n.port)) as s:
        s.sendall(b"POST /api/v1/upload_file HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5)
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"a\n1\n")
    assert n.alive()
    assert n.alive()


def test_huge_headers_do_not_break_the_node(node):
    try:
        r = node.get(f"{V1}/health", headers={"X-Big": "a" * 100_000})
        assert 400 <= r.status_code < 500
    except requests.ConnectionError:
        pass
    assert node.alive()


def test_upload_disconnect_leaves_no_spool_file_and_no_frame(node):
    before = set(node.frame_keys())
    for frac in (0.1, 0.5, 0.9):
        total = 200_000
        with socket.create_connection(("127.0.0.1", node.port)) as s:
            s.sendall(b"POST /api/v1/upload_file?filename=cut.csv HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % total)
            s.sendall(b"1,2\n" * int(total * frac / 4))
        deadline = time.monotonic() + 5
        while list(node.spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(node.spool.iterdir())
    assert set(node.frame_keys()) == before
    assert not [j for j in node.get(f"{V1}/jobs").json()["jobs"] if "cut" in j["description"]]
    # the next upload is fine
    r = node.post(f"{V1}/upload_file", data=b"a,b\n1,2\n", params={"filename": "next.csv"})
    assert node.wait_job(r.json()["job"]["key"])["status"] == "DONE" and "next" in node.frame_keys()
    assert node.alive()


def test_list_files_only_inside_roots(node):
    (node.data_root / "listed.csv").write_text("a\n1\n")
    r = node.get(f"{V1}/files", params={"path": str(node.data_root)}).json()
    assert "listed.csv" in {e["name"] for e in r["entries"]}
    roots = node.get(f"{V1}/files").json()["entries"]
    assert [e["path"] for e in roots] == [str(node.data_root.resolve())]
    for bad in ("/", "/etc", "..", "../..", "%2e%2e"):
        envelope(node.get(f"{V1}/files", params={"path": bad}), 403, "path_not_allowed")


def test_shutdown_stops_the_node(node_factory):
    n = node_factory()
    r = n.post(f"{V1}/shutdown")
    assert r.status_code == 200 and r.json() == {"shutting_down": True}
    n.proc.wait(15)
    assert n.proc.returncode == 0


def test_concurrent_clients_all_get_answers(node):
    from concurrent.futures import ThreadPoolExecutor

    paths = [f"{V1}/frames", f"{V1}/jobs", f"{V1}/cluster", f"{V1}/health", f"{V1}/frames/nope"]

    def hit(i):
        with requests.Session() as s:
            return [s.get(node.url + paths[(i + k) % len(paths)], timeout=30).status_code for k in range(10)]

    with ThreadPoolExecutor(32) as pool:
        codes = [c for batch in pool.map(hit, range(64)) for c in batch]
    assert len(codes) == 640
    assert set(codes) <= {200, 404} and codes.count(404) == 128
