"""Real multi-process clusters on loopback for tests: start n nodes, wait for membership, always clean up.

``with cluster(n=3) as c:`` starts three node processes on free ports (each its own process:
``python -m shoal_server.cluster.testnode``, the cluster layer alone, or with ``full=True`` the whole
node, ``python -m shoal_server``), waits until every node reports the same n members, and on exit
kills every process it started and checks that none is left behind. ``Cluster.start_node`` adds late joiners or misconfigured nodes to the same
candidate list. Each node's log is kept and printed when a test fails inside the block.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterator

__all__ = ["cluster", "Cluster", "NodeProc", "NodeStartError", "free_port_pair", "wait_until"]

NODE_MODULE = "shoal_server.cluster.testnode"
FULL_MODULE = "shoal_server"
#: the source tree these tests belong to: node processes import it first, whatever is installed
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE_PATHS = [os.path.join(ROOT, "server"), os.path.join(ROOT, "pyclient")]


def node_env() -> dict:
    """The environment of node processes: this tree's packages ahead of any installed copy."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(SOURCE_PATHS + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_pair(taken: set[int] | None = None) -> int:
    """A port p such that p and p+1 are free on loopback (HTTP and node port)."""
    taken = taken or set()
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p < 64000 and not {p, p + 1} & taken and _port_free(p + 1) and _port_free(p):
            return p
    raise RuntimeError("no free port pair on loopback")


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``pred()`` until truthy; return its value or raise AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@dataclass
class NodeProc:
    """One node process."""

    port: int
    proc: subprocess.Popen
    log_path: str
    args: list[str] = field(default_factory=list)
    full: bool = False

    @property
    def id(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def node_port(self) -> int:
        return self.port + 1

    def _request(self, path: str, body: dict | None, timeout: float, method: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method or ("GET" if body is None else "POST"),
                                     headers={} if body is None else {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def status(self, timeout: float = 5.0) -> dict:
        """The node's cluster view: ``self, members, locked, lost, agreed, nodes`` (both node kinds)."""
        if not self.full:
            code, body = self._request("/status", None, timeout)
            assert code == 200, body
            return body
        code, body = self._request("/api/v1/cluster", None, timeout)
        assert code == 200, body
        rows = body["cluster"]["members"]
        return {"self": self.id, "pid": self.pid, "members": sorted(r["name"] for r in rows if r.get("member", True)),
                "locked": body["cluster"]["locked"], "lost": sorted(r["name"] for r in rows if r.get("health") == "lost"),
                "agreed": True, "nodes": rows, "healthy": body["cluster"]["healthy"]}

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, Any]:
        return self._request(path, None, timeout)

    def post(self, path: str, body: dict, timeout: float = 60.0) -> tuple[int, Any]:
        return self._request(path, body, timeout)

    def delete(self, path: str, timeout: float = 30.0) -> tuple[int, Any]:
        return self._request(path, None, timeout, method="DELETE")

    def post_raw(self, path: str, data: bytes, content_type: str = "application/octet-stream",
                 timeout: float = 60.0) -> tuple[int, Any]:
        """POST a raw body (``path`` carries the query string)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method="POST",
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def download(self, key: str, fmt: str = "csv", timeout: float = 30.0) -> tuple[int, bytes]:
        """``GET /frames/{key}/data``: (status, body); an error body is returned as bytes too."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/frames/{key}/data?format={fmt}",
                                        timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def job(self, key: str) -> dict:
        code, body = self.get(f"/api/v1/jobs/{key}", timeout=5.0)
        assert code == 200, body
        return body["job"]

    def wait_job(self, key: str, timeout: float = 300.0) -> dict:
        """Wait until job ``key`` ends; return it."""
        return wait_until(lambda: (lambda j: j if j["status"] in ("DONE", "FAILED", "CANCELLED") else None)(
            self.job(key)), timeout=timeout, interval=0.1, what=f"job {key} to end")

    def log(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()

    def alive(self) -> bool:
        return self.proc.poll() is None


class NodeStartError(RuntimeError):
    """A node process did not come up (``port_clash``: another process took one of its ports)."""

    def __init__(self, message: str, port_clash: bool = False):
        super().__init__(message)
        self.port_clash = port_clash


class Cluster:
    """The node processes of one test; every candidate shares one peer list."""

    def __init__(self, n_candidates: int, *, name: str = "shoal", secret: str = "test-secret",
                 heartbeat_interval: float = 0.2, heartbeat_timeout: float = 1.5, curve: str = "off",
                 extra_args: list[str] | None = None, full: bool = False):
        self.full = full
        self.dir = tempfile.mkdtemp(prefix="shoal-cluster-")
        taken: set[int] = set()
        self.ports = []
        for _ in range(n_candidates):
            p = free_port_pair(taken)
            taken |= {p, p + 1}
            self.ports.append(p)
        self.name = name
        self.secret = secret
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.curve = curve
        self.extra_args = list(extra_args or [])
        self.nodes: list[NodeProc] = []
        self._all: list[NodeProc] = []
        self.keep = False            # keep the directory (logs) after a failed test

    @property
    def peers(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def secret_file(self, secret: str) -> str:
        path = os.path.join(self.dir, f"secret-{abs(hash(secret))}.key")
        with open(path, "w") as fh:
            fh.write(secret + "\n")
        return path

    def start_node(self, i: int, *, secret: str | None = None, name: str | None = None,
                   peers: str | None = None, extra_args: list[str] | None = None) -> NodeProc:
        """Start candidate ``i`` (its port is ``self.ports[i]``) and wait until it serves."""
        node = self.spawn_node(i, secret=secret, name=name, peers=peers, extra_args=extra_args)
        self.wait_serving(node)
        return node

    def spawn_node(self, i: int, *, secret: str | None = None, name: str | None = None,
                   peers: str | None = None, extra_args: list[str] | None = None,
                   module: str | None = None) -> NodeProc:
        """Start candidate ``i``'s process without waiting (see :meth:`wait_serving`)."""
        port = self.ports[i]
        log_path = os.path.join(self.dir, f"node-{port}.log")
        module = module or (FULL_MODULE if self.full else NODE_MODULE)
        full = module == FULL_MODULE
        if full:
            data = os.path.join(self.dir, "data")
            os.makedirs(data, exist_ok=True)
            extra_args = ["--data-root", data, "--spool-dir", os.path.join(self.dir, f"spool-{port}"),
                          *(extra_args or [])]
        args = [sys.executable, "-m", module, "--port", str(port), "--peers", peers or self.peers,
                "--name", name or self.name, "--secret-file", self.secret_file(secret or self.secret),
                "--heartbeat-interval", str(self.heartbeat_interval),
                "--heartbeat-timeout", str(self.heartbeat_timeout), "--cluster-curve", self.curve,
                "--parent-pid", str(os.getpid()), *(self.extra_args if full == self.full else []),
                *(extra_args or [])]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                                    env=node_env())
        node = NodeProc(port, proc, log_path, args, full)
        self._all.append(node)
        self.nodes.append(node)
        return node

    def wait_serving(self, node: NodeProc) -> NodeProc:
        deadline = time.monotonic() + (120 if node.full else 30)
        while True:
            if not node.alive():
                raise NodeStartError(f"node {node.id} exited with {node.proc.returncode}:\n{node.log()[-3000:]}",
                                     port_clash="Address already in use" in node.log())
            try:
                node.status(timeout=1.0)
                return node
            except (OSError, urllib.error.URLError, ValueError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise NodeStartError(f"node {node.id} did not serve within the time limit:\n{node.log()[-3000:]}")
            time.sleep(0.1)

    def wait_members(self, nodes: list[NodeProc] | None = None, timeout: float = 60.0) -> list[str]:
        """Wait until each of ``nodes`` reports exactly their ids as the agreed members."""
        nodes = nodes if nodes is not None else self.nodes
        want = sorted(n.id for n in nodes)

        def ok():
            for n in nodes:
                st = n.status(timeout=2.0)
                if st["members"] != want or not st["agreed"]:
                    return False
            return want

        return wait_until(ok, timeout=timeout, what=f"members {want}")

    def kill(self, node: NodeProc, sig: int = signal.SIGKILL) -> None:
        os.kill(node.pid, sig)

    def shutdown(self) -> list[str]:
        """Kill every process this cluster started; return the ids of any that survived."""
        for node in self._all:
            if node.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.pid, signal.SIGCONT)
                    node.proc.terminate()
        deadline = time.monotonic() + 2    # then SIGKILL: spool files live in self.dir, removed with it
        for node in self._all:
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(timeout=5)
        left = []
        for node in self._all:
            try:
                os.kill(node.pid, 0)
                if node.proc.poll() is None:
                    left.append(node.id)
            except ProcessLookupError:
                pass
        return left

    def logs(self) -> str:
        return "\n".join(f"----- {n.id} (pid {n.pid})\n{n.log()[-4000:]}" for n in self._all)


@contextlib.contextmanager
def cluster(n: int = 3, *, candidates: int | None = None, wait: bool = True, **kwargs) -> Iterator[Cluster]:
    """Start ``n`` node processes (of ``candidates`` in the peer list, default n), wait for them
    to agree on membership, yield the :class:`Cluster`, and always kill every process.

    Raises AssertionError at exit if a process is left behind.
    """
    for attempt in range(3):
        c = Cluster(candidates or n, **kwargs)
        try:
            started = [c.spawn_node(i) for i in range(n)]     # in parallel: full nodes take seconds to warm
            for node in started:
                c.wait_serving(node)
            break
        except NodeStartError as exc:
            left = c.shutdown()
            shutil.rmtree(c.dir, ignore_errors=True)
            assert not left, f"node processes left behind: {left}"
            if not exc.port_clash or attempt == 2:   # ports are picked free, but others may take them first
                raise
    failed = False
    try:
        if wait and n:
            c.wait_members(c.nodes[:n])
        yield c
    except BaseException:
        failed = True
        sys.stderr.write(c.logs())
        raise
    finally:
        left = c.shutdown()
        if not failed and not c.keep:
            shutil.rmtree(c.dir, ignore_errors=True)
        assert not left, f"node processes left behind: {left}"
