"""Membership as a state machine with a fake clock: handshake, agreement, lock, loss, fencing."""
from __future__ import annotations

import pytest

from shoal_server.cluster import security
from shoal_server.cluster.membership import Membership, member_address, parse_member

A, B, C = "127.0.0.1:1000", "127.0.0.1:2000", "127.0.0.1:3000"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def node(me, secret=b"s", clock=None, cluster="c", version="v", epoch=None, timeout=2.0):
    return Membership(me, [A, B, C], cluster, version, epoch or {A: 10, B: 20, C: 30}[me], secret, timeout,
                      clock=clock or Clock())


def handshake(x: Membership, y: Membership):
    """x says hello to y; y's answer goes back to x."""
    kind, payload, _ = y.on_hello(x.self_id, x.epoch, x.cluster, x.version, x.make_hello(y.self_id, b"n" * 16))
    if kind == "welcome":
        x.on_welcome(y.self_id, y.epoch, payload)
    elif kind == "refuse":
        x.on_refuse(y.self_id, payload)
    return kind, payload


def test_member_ids_and_node_port():
    assert parse_member("10.0.0.5:54330") == ("10.0.0.5", 54330)
    assert member_address("10.0.0.5:54330") == "tcp://10.0.0.5:54331"
    for bad in ("nohost", ":1", "h:", "h:0", "h:99999", "h:x"):
        with pytest.raises(ValueError):
            parse_member(bad)


def test_handshake_makes_both_sides_healthy_and_members_sorted():
    a, b = node(A), node(B)
    assert a.members() == [A]
    kind, _ = handshake(a, b)
    assert kind == "welcome"
    assert a.members() == [A, B] and b.members() == [A, B]
    assert a.peers[B].epoch == 20 and b.peers[A].epoch == 10


@pytest.mark.parametrize("kw, reason", [({"secret": b"other"}, "secret differs"),
                                        ({"cluster": "x"}, "belongs to cluster"),
                                        ({"version": "v2"}, "same version")])
def test_wrong_secret_name_or_version_is_refused(kw, reason):
    a, b = node(A, **kw), node(B)
    kind, payload = handshake(a, b)
    assert kind == "refuse" and reason in payload["reason"]
    assert b.members() == [B] and a.peers[B].state == "refused"


def test_a_stranger_not_in_the_peer_list_is_refused():
    b = node(B)
    stranger = Membership("127.0.0.1:9000", [A, B, C, "127.0.0.1:9000"], "c", "v", 5, b"s", 2.0)
    kind, payload = handshake(stranger, b)
    assert kind == "refuse" and "not in this node's peer list" in payload["reason"]


def test_a_replayed_hello_for_another_target_is_refused():
    a, b, c = node(A), node(B), node(C)
    hello_for_c = a.make_hello(C, b"n" * 16)
    kind, _, _ = b.on_hello(A, a.epoch, "c", "v", hello_for_c)
    assert kind == "refuse"


def test_agreement_lock_and_joiner_after_lock():
    clock = Clock()
    a, b, c = node(A, clock=clock), node(B, clock=clock), node(C, clock=clock)
    handshake(a, b)
    handshake(b, a)
    a.on_heartbeat(B, {"members": b.members()})
    b.on_heartbeat(A, {"members": a.members()})
    assert a.agreed() and b.agreed()
    a.lock([A, B])
    b.lock([B, A])
    with pytest.raises(ValueError):
        a.lock([A, B, C])
    kind, payload = handshake(c, a)
    assert kind == "refuse" and "locked" in payload["reason"]
    assert a.members() == [A, B]


def test_a_silent_peer_is_lost_after_the_timeout_and_its_epoch_fenced():
    clock = Clock()
    a, b = node(A, clock=clock), node(B, clock=clock)
    handshake(b, a)
    for _ in range(3):               # ticks every 0.5 s; b stays silent
        clock.t += 0.5
        assert a.tick() == []
    clock.t += 0.6
    assert a.tick() == [B]
    assert a.lost() == {B} and a.members() == [A]          # not locked: the lost node leaves the list
    assert a.admit(B, 20) == "drop"                        # its traffic is not heard ...
    # ... but before lock nothing depends on it, so a new handshake admits it again
    assert handshake(b, a)[0] == "welcome" and a.members() == [A, B] and a.admit(B, 20) == "ok"
    # a restart (new epoch) may rejoin before lock too
    b2 = node(B, clock=clock, epoch=21)
    assert handshake(b2, a)[0] == "welcome" and a.members() == [A, B] and a.peers[B].epoch == 21


def test_after_lock_a_lost_incarnation_is_told_it_is_fenced_and_stops():
    clock = Clock()
    a, b = node(A, clock=clock), node(B, clock=clock)
    handshake(b, a)
    a.lock([A, B])
    for _ in range(6):
        clock.t += 0.5
        a.tick()
    assert a.admit(B, 20) == "fenced"
    kind, payload, _ = a.on_hello(B, 20, "c", "v", b.make_hello(A, b"n" * 16))
    assert kind == "fenced"
    assert b.on_fenced(A, a.epoch, payload) and b.fenced
    assert b.health(B) == "fenced"


def test_after_lock_a_lost_member_stays_in_the_list_and_cannot_rejoin_even_restarted():
    clock = Clock()
    a, b = node(A, clock=clock), node(B, clock=clock)
    handshake(b, a)
    a.lock([A, B])
    for _ in range(6):
        clock.t += 0.5
        a.tick()
    assert a.lost() == {B} and a.members() == [A, B] and a.live_members() == [A]
    kind, payload = handshake(node(B, clock=clock, epoch=99), a)
    assert kind == "refuse" and "after the cluster locked" in payload["reason"]


def test_after_its_own_stall_a_node_reads_queued_heartbeats_before_judging_silence():
    clock = Clock()
    a, b, c = node(A, clock=clock), node(B, clock=clock), node(C, clock=clock)
    handshake(b, a)
    handshake(c, a)
    clock.t += 30.0                  # this process was frozen
    assert a.tick() == []            # no judgement right after the stall
    a.admit(B, 20)                   # b's queued heartbeat is read; c stays silent
    clock.t += a.stall_grace + 0.01
    assert a.tick() == [C]


def test_ticks_a_little_late_under_load_still_detect_a_silent_peer():
    clock = Clock()
    a, b = node(A, clock=clock), node(B, clock=clock)
    handshake(b, a)
    lost = []
    for _ in range(10):              # every tick 0.9 s late-ish: below the stall threshold
        clock.t += 0.9
        lost += a.tick()
    assert lost == [B]


def test_a_forged_fenced_notice_is_ignored():
    a, b = node(A), node(B)
    handshake(b, a)
    forged = node(A, secret=b"wrong").make_fenced(B, b.epoch)
    assert not b.on_fenced(A, a.epoch, forged) and not b.fenced
    wrong_epoch = a.make_fenced(B, b.epoch + 1)
    assert not b.on_fenced(A, a.epoch, wrong_epoch)


def test_curve_keys_are_derived_deterministically_from_name_and_secret():
    p1, s1 = security.curve_keypair("team", b"k")
    assert (p1, s1) == security.curve_keypair("team", b"k")
    assert p1 != security.curve_keypair("team", b"k2")[0] != security.curve_keypair("other", b"k")[0]
    assert len(p1) == len(s1) == 40
    assert security.curve_wanted("auto", "127.0.0.1") is False
    assert security.curve_wanted("auto", "0.0.0.0") is True
    assert security.curve_wanted("off", "0.0.0.0") is False
