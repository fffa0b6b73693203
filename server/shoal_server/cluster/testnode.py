"""A node that runs only the cluster layer, with a small JSON control port (tests and operations).

``python -m shoal_server.cluster.testnode --port 54330 --peers 127.0.0.1:54330,127.0.0.1:54340``
binds the node port (54331) like a full node and serves, on the HTTP port (loopback only):

- ``GET /status``: self id, members, locked, fenced, lost, agreed, per-node status, counters
- ``POST /lock``: lock the membership
- ``POST /call`` ``{"member", "op", "payload", "timeout"}``: one RPC; JSON payloads only
- ``POST /echo`` ``{"member", "seed", "n"}``: send seeded numpy arrays through ``test.echo`` and
  return the SHA-256 of each array that came back (dtype, shape and bytes)
- ``POST /bench`` ``{"kind": "rpc"|"map"|"loop", "repeat": k}``: per-round seconds of an empty
  RPC / empty map sent to every other member at once (``loop``: one hop onto the cluster loop)

It is useful to check a network before starting full nodes: same flags, same ports, same secret.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InvalidParameter, ShoalError
from .view import ClusterView

__all__ = ["main", "seeded_arrays", "digest"]

log = logging.getLogger("shoal.testnode")

_MAX_BODY = 1 << 20


def seeded_arrays(seed: int, n: int) -> dict[str, Any]:
    """The arrays ``/echo`` sends: several dtypes and shapes, derived from ``seed`` alone."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n)
    f[:: max(1, n // 7)] = np.nan
    return {
        "f8": f,
        "i4": rng.integers(-(2 ** 31), 2 ** 31 - 1, size=n, dtype=np.int32),
        "u1": rng.integers(0, 256, size=(n, 3), dtype=np.uint8),
        "b": rng.random(n) < 0.5,
        "f4_strided": rng.standard_normal(2 * n).astype(np.float32)[::2],
        "empty": np.zeros(0, dtype=np.int64),
        "nested": [{"x": rng.integers(0, 10, size=5, dtype=np.int16)}, "text", 3, 2.5, None],
    }


def digest(arr: np.ndarray) -> str:
    """SHA-256 over dtype, shape and the C-order bytes of ``arr``."""
    arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
    h = hashlib.sha256(f"{arr.dtype.str}|{list(arr.shape)}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _digests(obj: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(obj, np.ndarray):
        out[prefix] = digest(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_digests(v, f"{prefix}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_digests(v, f"{prefix}/{i}"))
    else:
        out[prefix] = repr(obj)
    return out


def _register_test_ops(view: ClusterView) -> None:
    async def echo(sender: str, payload: Any) -> Any:
        return payload

    async def sleep(sender: str, payload: Any) -> Any:
        secs = float(payload.get("secs", 1.0)) if isinstance(payload, dict) else 1.0
        await asyncio.sleep(min(secs, 300.0))
        return {"slept": secs}

    def fail(sender: str, payload: Any) -> Any:
        raise InvalidParameter("Parameter `x` of `test.fail` must be positive; got -1.", {"parameter": "x"})

    def crash(sender: str, payload: Any) -> Any:
        raise RuntimeError("boom")

    def total(sender: str, payload: Any) -> Any:
        return {"sum": float(np.sum(payload["values"]))}

    view.register("test.echo", echo)
    view.register("test.sleep", sleep)
    view.register("test.fail", fail)
    view.register("test.crash", crash)
    view.register("test.sum", total)
    view.set_handlers(execute_map=lambda task, frame, cols, params, idx: [(i, {}) for i in idx],
                      execute_indexed=lambda task, params, idx: [(i, {"i": i}) for i in idx],
                      stats=lambda: {"frame_memory": 0, "frames": 0})


def _bench(view: ClusterView, kind: str, repeat: int) -> list[float]:
    others = [m for m in view.members() if m != view.self_id]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        if kind == "loop":
            futs = [view._submit(asyncio.sleep(0))]
        elif kind == "map":
            futs = [view.submit_map(m, "bench.empty", "bench", None, {}, [0]) for m in others]
        else:
            futs = [view.submit(m, "cluster.ping", None) for m in others]
        for f in futs:
            f.result()
        times.append(time.perf_counter() - t0)
    return times


def _make_handler(view: ClusterView):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: the test output stays readable
            pass

        def _send(self, code: int, obj: Any) -> None:
            body = json.dumps(obj, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            if n > _MAX_BODY:
                raise InvalidParameter("body too large")
            data = json.loads(self.rfile.read(n) or b"{}")
            if not isinstance(data, dict):
                raise InvalidParameter("body must be a JSON object")
            return data

        def do_GET(self):
            if self.path != "/status":
                return self._send(404, {"error": {"code": "not_found", "message": self.path}})
            self._send(200, {"self": view.self_id, "pid": os.getpid(), "epoch": view.epoch,
                             "members": view.members(), "locked": view.locked, "fenced": view.fenced,
                             "lost": sorted(view.lost()), "agreed": view.agreed(),
                             "nodes": view.cluster_status(), "counters": view.counters()})

        def do_POST(self):
            try:
                body = self._body()
                if self.path == "/lock":
                    return self._send(200, {"members": view.lock(float(body.get("timeout", 10)))})
                if self.path == "/call":
                    result = view.call(str(body["member"]), str(body["op"]), body.get("payload"),
                                       body.get("timeout"))
                    return self._send(200, {"result": result})
                if self.path == "/echo":
                    sent = seeded_arrays(int(body["seed"]), int(body["n"]))
                    back = view.call(str(body["member"]), "test.echo", sent, body.get("timeout"))
                    return self._send(200, {"digests": _digests(back)})
                if self.path == "/bench":
                    times = _bench(view, str(body.get("kind", "rpc")), int(body.get("repeat", 100)))
                    return self._send(200, {"seconds": times})
                return self._send(404, {"error": {"code": "not_found", "message": self.path}})
            except ShoalError as exc:
                return self._send(exc.http_status, exc.to_wire())
            except (KeyError, ValueError, TypeError) as exc:
                return self._send(400, {"error": {"code": "invalid_parameter", "message": str(exc)}})

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shoal_server.cluster.testnode", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="HTTP (control) port; the node port is port+1")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--peers", default="", help="comma-separated host:port of every member (HTTP ports)")
    ap.add_argument("--peers-file", default=None, help="file with one host:port per line")
    ap.add_argument("--name", default="shoal")
    ap.add_argument("--secret-file", default=None)
    ap.add_argument("--heartbeat-interval", type=float, default=0.5)
    ap.add_argument("--heartbeat-timeout", type=float, default=3.0)
    ap.add_argument("--cluster-curve", default="auto", choices=["on", "off", "auto"])
    ap.add_argument("--max-message-bytes", type=int, default=0, help="bound on inbound node messages")
    ap.add_argument("--version-override", default=None, help="pretend another software version (tests)")
    ap.add_argument("--parent-pid", type=int, default=0, help="exit when this process exits")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if args.peers_file:
        with open(args.peers_file) as fh:
            peers += [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    config = SimpleNamespace(port=args.port, bind=args.bind, name=args.name, peers=peers,
                             secret_file=args.secret_file, heartbeat_interval=args.heartbeat_interval,
                             heartbeat_timeout=args.heartbeat_timeout, cluster_curve=args.cluster_curve,
                             cluster_max_message_bytes=args.max_message_bytes)
    view = ClusterView.start(config, version=args.version_override)
    _register_test_ops(view)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _make_handler(view))
    server.daemon_threads = True
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    print(json.dumps({"ready": view.self_id, "pid": os.getpid()}), flush=True)
    while not stop.wait(0.5):
        if args.parent_pid and not _alive(args.parent_pid):
            break
    server.shutdown()
    view.close()
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


if __name__ == "__main__":
    sys.exit(main())
