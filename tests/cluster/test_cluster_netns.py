"""Two whole nodes in separate Linux network namespaces, joined only by a veth pair.

Nothing here uses loopback between the nodes: each node binds its veth address in its own
namespace, so cluster traffic really crosses an interface (with CURVE on, as it is by default
off loopback, and the HTTP API behind a bearer token, as required off loopback). The test talks
to each node from inside its namespace (``ip netns exec``). Needs root and ``ip netns add``;
skipped, saying why, when the machine does not permit it.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from harness import node_env

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

_CLIENT = r"""
import json, sys, urllib.request, urllib.error
url, method, body, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
headers = {"Content-Type": "application/json"}
if token != "-":
    headers["Authorization"] = "Bearer " + token
req = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        out = r.read()
        print(json.dumps({"code": r.status, "body": out.decode("utf-8", "replace")}))
except urllib.error.HTTPError as e:
    print(json.dumps({"code": e.code, "body": e.read().decode("utf-8", "replace")}))
except OSError as e:
    print(json.dumps({"code": 0, "body": str(e)}))
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def _netns_available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (`ip netns add` is not permitted for this user)"
    probe = f"shoalprobe{os.getpid()}"
    r = _run("ip", "netns", "add", probe)
    if r.returncode != 0:
        return f"`ip netns add` is not permitted here: {r.stderr.strip()[:200]}"
    _run("ip", "netns", "del", probe)
    return None


class _NsNode:
    def __init__(self, ns: str, ip: str, port: int, token: str, proc: subprocess.Popen, log: str):
        self.ns, self.ip, self.port, self.token, self.proc, self.log_path = ns, ip, port, token, proc, log

    @property
    def id(self) -> str:
        return f"{self.ip}:{self.port}"

    def request(self, method: str, path: str, body: dict | None = None, token: bool = True) -> tuple[int, object]:
        r = _run("ip", "netns", "exec", self.ns, sys.executable, "-c", _CLIENT, f"http://{self.ip}:{self.port}{path}",
                 method, json.dumps(body) if body is not None else "", self.token if token else "-")
        out = json.loads(r.stdout or '{"code": 0, "body": ""}')
        try:
            return out["code"], json.loads(out["body"])
        except ValueError:
            return out["code"], out["body"]

    def log(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()


@contextlib.contextmanager
def _two_namespaces():
    tag = f"{os.getpid() % 100000}"
    ns = [f"shoalA{tag}", f"shoalB{tag}"]
    veth = [f"shva{tag}", f"shvb{tag}"]
    ips = ["10.231.77.1", "10.231.77.2"]
    try:
        for cmd in (["ip", "netns", "add", ns[0]], ["ip", "netns", "add", ns[1]],
                    ["ip", "link", "add", veth[0], "type", "veth", "peer", "name", veth[1]],
                    ["ip", "link", "set", veth[0], "netns", ns[0]], ["ip", "link", "set", veth[1], "netns", ns[1]],
                    ["ip", "-n", ns[0], "addr", "add", f"{ips[0]}/24", "dev", veth[0]],
                    ["ip", "-n", ns[1], "addr", "add", f"{ips[1]}/24", "dev", veth[1]],
                    ["ip", "-n", ns[0], "link", "set", veth[0], "up"], ["ip", "-n", ns[1], "link", "set", veth[1], "up"],
                    ["ip", "-n", ns[0], "link", "set", "lo", "up"], ["ip", "-n", ns[1], "link", "set", "lo", "up"]):
            r = _run(*cmd)
            assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}"
        yield list(zip(ns, ips))
    finally:
        for n in ns:
            _run("ip", "netns", "del", n)          # also removes the veth pair


def test_two_nodes_in_separate_network_namespaces_form_a_cluster_over_a_veth_pair():
    reason = _netns_available()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")
    tmp = tempfile.mkdtemp(prefix="shoal-netns-")
    port = 47310
    procs: list[subprocess.Popen] = []
    try:
        with _two_namespaces() as spaces:
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            secret, token = os.path.join(tmp, "s.key"), os.path.join(tmp, "t.key")
            with open(secret, "w") as fh:
                fh.write("netns-secret\n")
            with open(token, "w") as fh:
                fh.write("netns-token\n")
            peers = ",".join(f"{ip}:{port}" for _ns, ip in spaces)
            nodes = []
            for ns, ip in spaces:
                log = os.path.join(tmp, f"{ns}.log")
                with open(log, "wb") as fh:
                    proc = subprocess.Popen(
                        ["ip", "netns", "exec", ns, sys.executable, "-m", "shoal_server", "--bind", ip, "--port",
                         str(port), "--peers", peers, "--secret-file", secret, "--auth-token-file", token,
                         "--data-root", data, "--spool-dir", os.path.join(tmp, f"spool-{ns}"),
                         "--heartbeat-interval", "0.2", "--heartbeat-timeout", "2.0", "--chunk-bytes", "4096",
                         "--parent-pid", str(os.getpid())],
                        stdout=subprocess.DEVNULL, stderr=fh, stdin=subprocess.DEVNULL, env=node_env())
                procs.append(proc)
                nodes.append(_NsNode(ns, ip, port, "netns-token", proc, log))
            a, b = nodes
            deadline = time.monotonic() + 120
            while True:                                   # both serve and agree on the two members
                sts = [n.request("GET", "/api/v1/cluster") for n in nodes]
                if all(code == 200 and sorted(r["name"] for r in st["cluster"]["members"] if r.get("member"))
                       == sorted(n.id for n in nodes) and st["cluster"]["healthy"] for code, st in sts):
                    break
                assert all(p.poll() is None for p in procs), "\n".join(n.log()[-2000:] for n in nodes)
                assert time.monotonic() < deadline, f"no agreement: {sts}\n" + "\n".join(n.log()[-2000:] for n in nodes)
                time.sleep(0.5)
            assert "with CURVE" in a.log() and "with CURVE" in b.log()     # encrypted off loopback
            # the HTTP API refuses a request without the token
            assert b.request("GET", "/api/v1/frames", token=False)[0] == 401
            rng = np.random.default_rng(8)
            x = rng.integers(0, 10_000, 4000)
            path = os.path.join(data, "ns.csv")
            with open(path, "w") as fh:
                fh.write("x\n" + "\n".join(map(str, x)) + "\n")
            code, res = a.request("POST", "/api/v1/import_file", {"path": [path], "destination_frame": "ns"})
            assert code == 202, res
            key = res["job"]["key"]
            deadline = time.monotonic() + 60
            while True:
                code, res = a.request("GET", f"/api/v1/jobs/{key}")
                if res["job"]["status"] != "RUNNING" and res["job"]["status"] != "CREATED":
                    break
                assert time.monotonic() < deadline
                time.sleep(0.3)
            assert res["job"]["status"] == "DONE", res
            summaries = []
            for n in nodes:
                code, res = n.request("GET", "/api/v1/frames/ns?chunk_summary=true")
                assert code == 200, res
                summaries.append(res["frame"])
            assert summaries[0] == summaries[1]
            spread = {r["node"]: r["rows"] for r in summaries[0]["chunk_summary"]["nodes"]}
            assert sorted(spread) == sorted(n.id for n in nodes) and all(spread.values())   # spans both nodes
            col = summaries[0]["columns"][0]
            assert col["mean"] == pytest.approx(x.mean(), rel=1e-12) and col["max"] == x.max()
            # cutting the wire: B is lost to A within 5 s
            b.proc.send_signal(signal.SIGKILL)
            t0 = time.monotonic()
            while True:
                code, st = a.request("GET", "/api/v1/cluster")
                rows = {r["name"]: r["health"] for r in st["cluster"]["members"]}
                if rows.get(b.id) == "lost":
                    break
                assert time.monotonic() - t0 <= 5.0, rows
                time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    assert all(p.poll() is not None for p in procs)
