"""The cluster layer on real node processes over loopback: membership, RPC, refusal, loss, fencing, CURVE."""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from harness import wait_until
from shoal_server.cluster.security import curve_keypair
from shoal_server.cluster.testnode import digest, seeded_arrays

pytestmark = pytest.mark.cluster


def _flatten(obj, prefix=""):
    """Expected digests, computed here from the arrays that were sent."""
    out = {}
    if isinstance(obj, np.ndarray):
        out[prefix] = digest(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}/{i}"))
    else:
        out[prefix] = repr(obj)
    return out


def test_three_nodes_agree_on_the_sorted_member_list_and_lock_it(make_cluster):
    c = make_cluster(3)
    want = sorted(f"127.0.0.1:{p}" for p in c.ports)
    for node in c.nodes:
        st = node.status()
        assert st["members"] == want
        assert st["self"] == node.id
        assert [n["health"] for n in st["nodes"]] == ["healthy"] * 3
        assert st["locked"] is False
    code, body = c.nodes[1].post("/lock", {})
    assert code == 200 and body["members"] == want
    for node in c.nodes:
        assert wait_until(lambda: node.status()["locked"], timeout=15, what="lock to spread")
        st = wait_until(lambda: (lambda s: s if all(n["cores"] for n in s["nodes"]) else None)(node.status()),
                        timeout=15, what="every node's stats in the heartbeats")
        assert st["members"] == want
        assert {n["id"]: n["cores"] for n in st["nodes"]} == {m: os.cpu_count() for m in want}


def test_rpc_echo_returns_numpy_buffers_bitwise_equal(make_cluster):
    c = make_cluster(2)
    a, b = c.nodes
    for seed, n in [(1, 1000), (2, 1), (3, 300_000)]:
        code, body = a.post("/echo", {"member": b.id, "seed": seed, "n": n})
        assert code == 200, body
        assert body["digests"] == _flatten(seeded_arrays(seed, n))


def test_remote_errors_come_back_as_the_error_envelope_prefixed_with_node_and_op(make_cluster):
    c = make_cluster(2)
    a, b = c.nodes
    code, body = a.post("/call", {"member": b.id, "op": "test.fail"})
    assert code == 400
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["message"].startswith(f"[{b.id}:test.fail] Parameter `x`")
    code, body = a.post("/call", {"member": b.id, "op": "test.crash"})
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["message"] == f"[{b.id}:test.crash] RuntimeError: boom"
    code, body = a.post("/call", {"member": b.id, "op": "no.such.op"})
    assert body["error"]["code"] == "not_found" and body["error"]["message"].startswith(f"[{b.id}:no.such.op]")
    code, body = a.post("/call", {"member": b.id, "op": "test.sleep", "payload": {"secs": 5}, "timeout": 0.3})
    assert body["error"]["code"] == "cluster_error" and "no reply within 0.3 s" in body["error"]["message"]


def _valid_header(**over):
    head = {"id": 1, "type": "req", "sender": "127.0.0.1:1", "reply_to": None, "op": "test.echo", "epoch": 1,
            "cluster": "shoal", "version": "x", "payload": None, "buffers": []}
    head.update(over)
    return msgpack.packb(head, use_bin_type=True)


def test_garbage_and_oversized_messages_on_the_node_port_are_dropped_without_crashing(make_cluster):
    c = make_cluster(2, extra_args=["--max-message-bytes", str(1 << 20)])
    a, b = c.nodes
    ctx = zmq.Context()
    try:
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(f"tcp://127.0.0.1:{a.node_port}")
        rng = np.random.default_rng(0)
        messages = [
            [b""], [b"\xc1"], [rng.bytes(100)], [b"\x00" * 5000], [msgpack.packb([1, 2, 3])],
            [_valid_header(type="nonsense")], [_valid_header(buffers=[["<f8", [10]]]), b"short"],
            [_valid_header(buffers=[["|O", [1]]]), b"\x00" * 8],            # object dtype
            [_valid_header(payload=msgpack.ExtType(9, b"x"))],
            [_valid_header(payload=msgpack.ExtType(1, b"\x05\x00\x00\x00"))],  # array ref beyond buffers
            [_valid_header()],                                               # unknown sender
            [_valid_header(sender=b.id, epoch=123)],                         # wrong identity/epoch
            [_valid_header(type="hello", sender=b.id, payload={"nonce": b"n", "mac": b"m", "target": a.id})],
            [b"x" * (2 << 20)],                                              # oversized frame
            [_valid_header()] + [b""] * 3,
        ]
        for m in messages:
            d.send_multipart(m)
        # a peer that does not even speak ZMTP
        with socket.create_connection(("127.0.0.1", a.node_port), timeout=2) as s:
            s.sendall(rng.bytes(4096))
        assert d.poll(500) == 0                     # nothing answers the garbage
        counters = wait_until(lambda: (lambda cn: cn if cn.get("dropped.malformed", 0) >= 9 else None)(
            a.status()["counters"]), timeout=15, what="drops to be counted")
        assert counters.get("received.req", 0) == 0
    finally:
        ctx.destroy(linger=0)
    assert a.alive() and b.alive()
    code, body = a.post("/echo", {"member": b.id, "seed": 5, "n": 100})
    assert code == 200 and body["digests"] == _flatten(seeded_arrays(5, 100))
    assert a.status()["members"] == sorted([a.id, b.id])


def test_a_joiner_after_lock_is_refused_with_a_clear_log_line(make_cluster):
    c = make_cluster(2, candidates=3)
    first = list(c.nodes)
    code, body = first[0].post("/lock", {})
    assert code == 200 and body["members"] == sorted(n.id for n in first)
    late = c.start_node(2)
    wait_until(lambda: "locked" in late.log(), timeout=30, what="the refusal in the joiner's log")
    assert "refused this node" in late.log() and "the cluster is locked" in late.log()
    for node in first:
        wait_until(lambda: "Refused node " + late.id in node.log(), timeout=30, what="the refusal log line")
        assert node.status()["members"] == sorted(n.id for n in first)
    st = late.status()
    assert st["members"] == [late.id]
    assert {n["id"]: n["health"] for n in st["nodes"] if not n["self"]} == {n.id: "refused" for n in first}


@pytest.mark.parametrize("flag, value, reason", [
    ("secret", "another-secret", "the cluster secret differs"),
    ("name", "other-team", "belongs to cluster"),
    ("version", "9.9.9", "all nodes must run the same version"),
])
def test_a_node_with_another_secret_name_or_version_is_refused(make_cluster, flag, value, reason):
    c = make_cluster(2, candidates=3)
    if flag == "version":
        odd = c.start_node(2, extra_args=["--version-override", value])
    else:
        odd = c.start_node(2, **{flag: value})
    wait_until(lambda: reason in odd.log(), timeout=30, what=f"refusal ({reason})")
    time.sleep(3 * c.heartbeat_interval)
    for node in c.nodes[:2]:
        wait_until(lambda: reason in node.log(), timeout=30, what=f"refusal logged by {node.id}")
        assert node.status()["members"] == sorted(n.id for n in c.nodes[:2])
    assert odd.status()["members"] == [odd.id]


def test_kill9_a_node_is_lost_within_5s_and_an_inflight_call_fails_naming_it(make_cluster):
    c = make_cluster(3)
    a, b, victim = c.nodes
    a.post("/lock", {})
    result = {}

    def inflight():
        result["reply"] = a.post("/call", {"member": victim.id, "op": "test.sleep", "payload": {"secs": 60}})
        result["t"] = time.monotonic()

    th = threading.Thread(target=inflight)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    c.kill(victim, signal.SIGKILL)
    for node in (a, b):
        wait_until(lambda: victim.id in node.status()["lost"], timeout=5, what=f"{node.id} to see the loss")
    assert time.monotonic() - t0 <= 5.0
    th.join(timeout=10)
    assert not th.is_alive()
    code, body = result["reply"]
    assert body["error"]["code"] == "node_lost"
    assert victim.id in body["error"]["message"] and body["error"]["details"]["node"] == victim.id
    assert result["t"] - t0 <= 5.0
    # the rest of the cluster keeps serving
    code, body = a.post("/echo", {"member": b.id, "seed": 7, "n": 10})
    assert code == 200
    health = {n["id"]: n["health"] for n in b.status()["nodes"]}
    assert health == {a.id: "healthy", b.id: "healthy", victim.id: "lost"}
    assert b.status()["members"] == sorted(n.id for n in c.nodes)   # locked list keeps the lost member


def test_a_frozen_node_is_lost_then_fenced_when_it_resumes(make_cluster):
    c = make_cluster(3)
    a, b, frozen = c.nodes
    a.post("/lock", {})
    c.kill(frozen, signal.SIGSTOP)
    t0 = time.monotonic()
    for node in (a, b):
        wait_until(lambda: frozen.id in node.status()["lost"], timeout=5, what="the frozen node to be lost")
    assert time.monotonic() - t0 <= 5.0
    c.kill(frozen, signal.SIGCONT)
    wait_until(lambda: frozen.status()["fenced"], timeout=15, what="the resumed node to learn it is fenced")
    time.sleep(5 * c.heartbeat_interval)
    for node in (a, b):
        st = node.status()
        assert st["lost"] == [frozen.id]                     # not silently merged back
        code, body = node.post("/call", {"member": frozen.id, "op": "test.echo"})
        assert body["error"]["code"] == "node_lost"
    code, body = frozen.post("/call", {"member": a.id, "op": "test.echo"})
    assert body["error"]["code"] == "cluster_error" and "fenced" in body["error"]["message"]
    assert "is fenced" in frozen.log()
    assert frozen.status()["nodes"][[n["self"] for n in frozen.status()["nodes"]].index(True)]["health"] == "fenced"


def test_with_curve_a_plain_socket_gets_nothing_delivered(make_cluster):
    c = make_cluster(2, curve="on")
    a, b = c.nodes
    code, body = a.post("/echo", {"member": b.id, "seed": 11, "n": 500})
    assert code == 200 and body["digests"] == _flatten(seeded_arrays(11, 500))
    time.sleep(5 * c.heartbeat_interval)       # nodes start at once: let b's handshake traffic settle
    before = a.status()["counters"]
    ctx = zmq.Context()
    try:
        plain = ctx.socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(f"tcp://127.0.0.1:{a.node_port}")
        wrong = ctx.socket(zmq.DEALER)
        wrong.setsockopt(zmq.LINGER, 0)
        pub, sec = zmq.curve_keypair()
        wrong.curve_serverkey = pub            # not the cluster's key
        wrong.curve_publickey, wrong.curve_secretkey = pub, sec
        wrong.connect(f"tcp://127.0.0.1:{a.node_port}")
        # knows the server's public key (public keys are not secret) but not the cluster's key pair
        cluster_public, _ = curve_keypair(c.name, c.secret.encode())
        stranger = ctx.socket(zmq.DEALER)
        stranger.setsockopt(zmq.LINGER, 0)
        stranger.curve_serverkey = cluster_public
        stranger.curve_publickey, stranger.curve_secretkey = pub, sec
        stranger.connect(f"tcp://127.0.0.1:{a.node_port}")
        for sock in (plain, wrong, stranger):
            for _ in range(5):
                sock.send_multipart([b"garbage"], flags=zmq.NOBLOCK) if sock.poll(0, zmq.POLLOUT) else None
                sock.send_multipart([_valid_header(type="hello")], flags=zmq.NOBLOCK) \
                    if sock.poll(0, zmq.POLLOUT) else None
        assert plain.poll(1000) == 0 and wrong.poll(200) == 0 and stranger.poll(200) == 0
        wait_until(lambda: "Refused a CURVE connection with an unknown key" in a.log(), timeout=15,
                   what="the ZAP handler to refuse the stranger's key")
    finally:
        ctx.destroy(linger=0)
    after = a.status()["counters"]
    for key in ("dropped.malformed", "dropped.identity_mismatch", "received.hello"):
        assert after.get(key, 0) == before.get(key, 0), key
    assert a.status()["members"] == sorted([a.id, b.id])


def test_before_lock_a_frozen_node_that_resumes_is_admitted_again_with_a_warning(make_cluster):
    c = make_cluster(2)
    a, frozen = c.nodes
    c.kill(frozen, signal.SIGSTOP)
    wait_until(lambda: frozen.id in a.status()["lost"], timeout=5, what="the frozen node to be lost")
    assert a.status()["members"] == [a.id]               # before lock the lost node leaves the list
    c.kill(frozen, signal.SIGCONT)
    c.wait_members(timeout=30)
    assert "admitted again" in a.log() and not frozen.status()["fenced"]
    code, body = a.post("/echo", {"member": frozen.id, "seed": 2, "n": 10})
    assert code == 200 and body["digests"] == _flatten(seeded_arrays(2, 10))
