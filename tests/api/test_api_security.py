"""Security at the edge: bearer token on every route, foreign origins, loopback binding, traversal."""
import re
import subprocess
import sys
import types

import pytest

from shoal_server.api.server import build_app
from shoal_server.config import NodeConfig

V1 = "/api/v1"
TOKEN = "s3cret-token-for-tests"


def app_routes():
    """(method, path) of every route the application serves, taken from the app itself."""
    stub = types.SimpleNamespace(config=NodeConfig(port=1))
    app = build_app(stub)
    out = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        out.append((route.method, re.sub(r"{[^}]+}", "x_1", path), route.handler))
    return out


def test_every_route_needs_the_token_except_health(node_factory):
    n = node_factory(token=TOKEN)
    routes = app_routes()
    assert len(routes) >= 18
    for method, path, handler in routes:
        public = path == f"{V1}/health"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": TOKEN}):
            import requests

            r = requests.request(method, n.url + path, headers=headers, timeout=10)
            if public:
                assert r.status_code == 200
            else:
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.json()["error"]["code"] == "unauthorized"
    # Expect: 100-continue is answered 401 before any body byte is sent
    import socket

    with socket.create_connection(("127.0.0.1", n.port)) as s:
        s.sendall(b"POST /api/v1/upload_file HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5)
        head = s.recv(4096)
    assert b" 401 " in head.split(b"\r\n")[0]
    # unknown routes do not reveal themselves without the token
    import requests

    assert requests.get(n.url + "/whatever", timeout=10).status_code == 401
    # with the token, reads work
    assert n.get(f"{V1}/frames").status_code == 200
    assert n.get(f"{V1}/cluster").status_code == 200


def test_foreign_origin_is_refused_on_state_changing_requests(node):
    evil = {"Origin": "http://evil.example"}
    checks = [("POST", f"{V1}/import_file", {"json": {"path": ["a.csv"]}}),
              ("POST", f"{V1}/upload_file", {"data": b"a\n1\n"}),
              ("POST", f"{V1}/upload_frame", {"data": b"x"}),
              ("POST", f"{V1}/parse_setup", {"json": {"path": ["a.csv"]}}),
              ("DELETE", f"{V1}/frames/x", {}),
              ("POST", f"{V1}/jobs/job_1/cancel", {}),
              ("POST", f"{V1}/shutdown", {})]
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{node.port}.evil.example",
                   f"http://127.0.0.1:{node.port + 7}"):
        for method, path, kw in checks:
            r = node.request(method, path, headers={"Origin": origin}, **kw)
            assert r.status_code == 403, (origin, path, r.status_code)
            assert r.json()["error"]["code"] == "forbidden"
    # the node's own origin is fine, and reads are not affected
    r = node.post(f"{V1}/jobs/job_1/cancel", headers={"Origin": f"http://127.0.0.1:{node.port}"})
    assert r.status_code == 404
    assert node.get(f"{V1}/frames", headers=evil).status_code == 200
    assert node.alive()


def test_non_loopback_bind_without_token_is_refused_at_startup(tmp_path):
    r = subprocess.run([sys.executable, "-m", "shoal_server", "--bind", "0.0.0.0", "--port", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "auth-token-file" in r.stderr and "0.0.0.0" in r.stderr


def test_missing_token_file_is_a_clear_startup_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "shoal_server", "--auth-token-file", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "auth token" in r.stderr


def traversal_corpus(node, outside):
    return ["../../etc/passwd", "/etc/passwd", "%2e%2e%2fetc%2fpasswd", "%252e%252e%252f", "..\\..\\etc\\passwd",
            "a.csv\x00.txt", "a" * 5000, "file:///etc/passwd", "nfs://host/x.csv", "s3://b/k",
            "http://169.254.169.254/", "link_out.csv", str(outside / "canary.csv"), "../outside/canary.csv",
            "dir_out/canary.csv", "../*", "/etc/*", "dir_out/*", "~root/.ssh/id_rsa"]


@pytest.fixture
def rooted_node(node_factory, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.csv"
    canary.write_text("secret,1\n")
    n = node_factory()
    (n.data_root / "link_out.csv").symlink_to(canary)
    (n.data_root / "dir_out").symlink_to(outside)
    return n, outside, canary


def test_traversal_corpus_is_refused_through_http(rooted_node):
    n, outside, canary = rooted_node
    before = canary.stat().st_mtime_ns
    for raw in traversal_corpus(n, outside):
        for path, body in ((f"{V1}/import_file", {"path": [raw]}), (f"{V1}/parse_setup", {"path": [raw]})):
            r = n.post(path, json=body)
            assert r.status_code == 403, (raw, path, r.status_code, r.text[:300])
            assert r.json()["error"]["code"] == "path_not_allowed"
        r = n.get(f"{V1}/files", params={"path": raw})
        assert r.status_code in (400, 403), (raw, r.status_code)  # 400: longer than the declared bound
    assert n.get(f"{V1}/jobs").json()["jobs"] == []
    assert n.get(f"{V1}/frames").json()["frames"] == []
    assert canary.read_text() == "secret,1\n" and canary.stat().st_mtime_ns == before
    assert n.alive()
