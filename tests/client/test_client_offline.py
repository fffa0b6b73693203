"""Client pieces that need no node: query encoding, error mapping, generated wrappers, progress bar,
HTML escaping, and the client's import hygiene."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

import shoal
from shoal import errors
from shoal._generated import operations as ops
from shoal.connection import encode_query, path_param
from shoal.frame import Frame
from shoal.jobs import ProgressBar


class RecordingConn:
    """Stands in for Connection: records what a generated wrapper asks the transport to do."""

    def __init__(self, reply=None):
        self.calls = []
        self.reply = reply if reply is not None else {}

    def call(self, method, path, query=None, body=None, **kw):
        self.calls.append(("call", method, path, query, body))
        return self.reply

    def upload(self, path, body, query=None, **kw):
        self.calls.append(("upload", "POST", path, query, kw))
        return self.reply

    def download(self, path, query=None, progress=None):
        self.calls.append(("download", "GET", path, query, None))
        return b""


def test_client_imports_neither_numba_nor_zmq_nor_the_server():
    code = ("import shoal, sys; bad = [m for m in ('numba', 'zmq', 'shoal_server', 'aiohttp') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_query_encoding_follows_the_api_conventions():
    q = encode_query({"a": True, "b": False, "c": 3, "d": ["x", "y"], "e": {"k": 1}, "f": None, "g": 1.5})
    assert q == {"a": "true", "b": "false", "c": "3", "d": '["x","y"]', "e": '{"k":1}', "g": "1.5"}


def test_path_parameters_cannot_change_the_route():
    assert path_param("../x/y?z") == "..%2Fx%2Fy%3Fz"
    conn = RecordingConn()
    ops.get_frame(conn, "a/../b")
    assert conn.calls[0][2] == "/api/v1/frames/a%2F..%2Fb"


def test_generated_wrappers_send_only_what_the_user_set():
    conn = RecordingConn()
    ops.get_frame(conn, "fr", histogram=True)
    kind, method, path, query, body = conn.calls[-1]
    assert (kind, method, path) == ("call", "GET", "/api/v1/frames/fr")
    assert {k: v for k, v in query.items() if v is not None} == {"histogram": True}
    ops.import_file(conn, ["a.csv"], sep=",")
    kind, method, path, query, body = conn.calls[-1]
    import json
    from pathlib import Path

    desc = json.loads((Path(__file__).resolve().parents[2] / "server/shoal_server/api/description.json").read_text())
    declared = next(op for op in desc["operations"] if op["name"] == "import_file")
    assert method == declared["method"] == "POST" and path == declared["path"]
    assert {k: v for k, v in body.items() if v is not None} == {"path": ["a.csv"], "sep": ","}


def test_transport_drops_unset_parameters_from_json_bodies(monkeypatch):
    conn = shoal.Connection("http://127.0.0.1:9")
    sent = {}

    def fake_request(method, path, **kw):
        sent.update(kw)

        class R:
            content = b'{"ok": 1}'

            @staticmethod
            def json():
                return {"ok": 1}
        return R()

    monkeypatch.setattr(conn, "request", fake_request)
    assert conn.call("POST", "/x", body={"a": 1, "b": None}) == {"ok": 1}
    assert sent["json_body"] == {"a": 1}


def test_generated_wrappers_have_numpydoc_from_the_help_text():
    doc = ops.import_file.__doc__
    assert "Parameters\n    ----------" in doc and "destination_frame : str, optional" in doc
    assert "Returns" in doc and "Raises" in doc and "PathNotAllowed" in doc


def test_every_catalog_code_has_its_class():
    from shoal._generated.errors import ERROR_CLASSES

    for code in ("invalid_parameter", "frame_not_found", "parse_error", "path_not_allowed", "job_cancelled",
                 "node_lost", "unauthorized"):
        klass = errors.error_class(code)
        assert klass is ERROR_CLASSES[code] and klass.code == code and issubclass(klass, shoal.ShoalError)
    assert errors.FrameNotFound.http_status == 404


def test_error_envelope_becomes_the_code_class_with_details():
    exc = errors.error_from_response(400, {"error": {"code": "invalid_parameter", "message": "Bad.",
                                                      "details": {"problems": [{"parameter": "x",
                                                                                 "message": "x is wrong"}]}}})
    assert isinstance(exc, errors.InvalidParameter)
    assert exc.details["problems"][0]["parameter"] == "x" and "x is wrong" in str(exc)
    unknown = errors.error_from_response(418, {"error": {"code": "teapot", "message": "short"}})
    assert type(unknown) is shoal.ShoalError and unknown.code == "teapot"
    plain = errors.error_from_response(404, None, "<html>nope</html>")
    assert isinstance(plain, errors.NotFound) and plain.http_status == 404


def test_unreachable_node_raises_connection_error():
    port = __import__("tests.conftest", fromlist=["free_port"]).free_port()
    conn = shoal.Connection(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(errors.ShoalConnectionError, match="Cannot reach"):
        ops.health(conn)


def test_progress_bar_redraws_one_line():
    out = io.StringIO()
    bar = ProgressBar("parse", width=10, stream=out, live=True)
    bar.update(0.0)
    bar.update(0.5, "parsing")
    bar.update(1.0)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    assert "|  50% parsing" in text and "█" * 10 in text


def test_progress_bar_writes_one_final_line_when_not_a_terminal():
    out = io.StringIO()  # not a tty: no redraws in logs
    bar = ProgressBar("parse", width=10, stream=out)
    for f in (0.0, 0.3, 0.6, 1.0):
        bar.update(f, "x")
    bar.close()
    assert out.getvalue() == "parse |██████████| 100% x\n"


def test_html_repr_escapes_every_name_and_value():
    hostile = '<script>alert("x")</script>'
    fr = Frame._existing("k<i>", conn=None)
    fr._summary = {"key": "k<i>", "nrow": 1, "ncol": 1, "bytes": 10, "raw_bytes": 20,
                   "compression_ratio": 2.0,
                   "columns": [{"name": hostile, "type": "enum", "min": None, "max": None, "mean": None,
                                "sd": None, "missing": 0, "zeros": 0, "cardinality": 1,
                                "encodings": {hostile: 1}, "bytes": 10, "raw_bytes": 20}]}
    html = fr._repr_html_()
    assert "<script>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "k&lt;i&gt;" in html


def test_ctrl_c_while_waiting_cancels_the_job(monkeypatch):
    from shoal import jobs

    cancelled = []

    def fake_get_job(conn, key):
        raise KeyboardInterrupt

    def fake_cancel(conn, key):
        cancelled.append(key)
        return {"job": {"key": key, "status": "RUNNING"}}

    monkeypatch.setattr(jobs.ops, "get_job", fake_get_job)
    monkeypatch.setattr(jobs.ops, "cancel_job", fake_cancel)
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        jobs.wait(None, {"key": "job_1", "status": "RUNNING", "progress": 0.2}, progress=False)
    assert cancelled == ["job_1"]


def test_failed_job_raises_the_class_of_its_error(monkeypatch):
    from shoal import jobs

    final = {"key": "job_2", "status": "FAILED", "progress": 0.5,
             "error": {"code": "parse_error", "message": "Bad quote in x.csv line 3, column 2.",
                       "details": {"file": "x.csv", "line": 3, "column": 2}}}
    monkeypatch.setattr(jobs.ops, "get_job", lambda conn, key: {"job": final})
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(errors.ParseError) as exc:
        jobs.wait(None, {"key": "job_2", "status": "RUNNING", "progress": 0.0}, progress=False)
    assert exc.value.details["line"] == 3 and exc.value.details["job"] == "job_2"
