"""Cluster membership as a state machine without I/O: who is in, who is lost, who is fenced.

The transport feeds it the handshake and heartbeat messages it receives and asks it, for every
other message, whether the sender may be heard. It never touches a socket, so it is unit-tested
with a fake clock.

Technical note (membership and fencing). Candidates come from the static peer list. A peer
becomes *healthy* once either side's handshake proved the shared secret (``hello`` → ``welcome``)
and we know its *epoch* (the start time of its process, in ns: one value per incarnation).
``members()`` is this node plus the healthy peers, sorted; nodes gossip their list in heartbeats,
so ``agreed()`` tells when every healthy peer reports the same list. ``lock(members)`` freezes
the list (first frame or job). A peer silent for ``heartbeat_timeout`` is declared *lost*; its
``(member, epoch)`` is fenced. After lock that is for ever: messages of that incarnation are
answered with ``fenced`` and never merged again, and a restarted node (new epoch) is refused too,
since chunks were placed over the locked list; a node that hears it was fenced stops serving.
Before lock nothing depends on the member list yet, so a lost node that answers again (a slow start
on a loaded machine) is re-admitted through a new handshake, with a warning in the log.
When this node's own heartbeat tick comes very late (the process was frozen or starved), the
peers' heartbeats may still sit unread in its sockets: silence is judged again only after a short
grace in which they are read, so a stall of this node is never mistaken for the loss of the others.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import security

__all__ = ["Membership", "PeerState", "member_address", "parse_member", "resolve_self_id"]

log = logging.getLogger(__name__)

JOINING, HEALTHY, LOST, REFUSED = "joining", "healthy", "lost", "refused"


def parse_member(member: str) -> tuple[str, int]:
    """``"host:port"`` → ``(host, port)``; raise ValueError on anything else."""
    host, sep, port = str(member).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise ValueError(f"member id must be host:port (HTTP port); got {member!r}")
    return host, int(port)


def member_address(member: str) -> str:
    """The ZeroMQ endpoint of a member: its host at HTTP port + 1."""
    host, port = parse_member(member)
    return f"tcp://{host}:{port + 1}"


def resolve_self_id(bind: str, port: int, peers: list[str]) -> str:
    """This node's member id: ``bind:port``, or the peer entry with our port when bound to all."""
    if bind not in ("0.0.0.0", "::", "*", ""):
        return f"{bind}:{port}"
    local = {"127.0.0.1", "localhost", socket.gethostname()}
    try:
        local.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    for p in peers:
        host, p_port = parse_member(p)
        if p_port == port and host in local:
            return p
    return f"{socket.gethostname()}:{port}"


@dataclass
class PeerState:
    """What this node knows of one other candidate."""

    id: str
    state: str = JOINING
    epoch: int | None = None
    welcomed: bool = False              # our hello was accepted by it
    last_seen: float = 0.0
    view: list[str] = field(default_factory=list)
    locked: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    reason: str = ""                    # why it refused us / was refused / was lost


class Membership:
    """Membership of one node.

    Parameters
    ----------
    self_id : str
        This node's member id.
    candidates : list of str
        The static peer list (may include ``self_id``).
    cluster, version : str
        Cluster name and software version; peers must match both.
    epoch : int
        This incarnation (start time in ns).
    secret : bytes
        Shared secret for the handshake MAC.
    heartbeat_timeout : float
        Seconds of silence after which a healthy peer is lost.
    clock : callable
        Monotonic clock (injectable for tests).
    """

    def __init__(self, self_id: str, candidates: list[str], cluster: str, version: str, epoch: int,
                 secret: bytes, heartbeat_timeout: float, clock: Callable[[], float] = time.monotonic,
                 heartbeat_interval: float | None = None):
        self.self_id = self_id
        self.cluster = cluster
        self.version = version
        self.epoch = int(epoch)
        self.secret = secret
        self.timeout = float(heartbeat_timeout)
        self.clock = clock
        self.peers: dict[str, PeerState] = {
            c: PeerState(c) for c in sorted(set(candidates)) if c != self_id
        }
        self.locked_members: list[str] | None = None
        self.fenced_epochs: set[tuple[str, int]] = set()
        self.fenced = False                 # this node was declared lost by a peer
        self.fenced_by = ""
        interval = float(heartbeat_interval) if heartbeat_interval else self.timeout / 6
        # A tick this late means our own process stalled long enough that a peer's heartbeats may
        # sit unread in our sockets: its silence cannot be judged until they are read.
        self.stall_threshold = max(self.timeout / 2, self.timeout - 2 * interval)
        self.stall_grace = max(2 * interval, 0.3)
        self._last_tick = clock()
        self._judge_after = 0.0

    # ------------------------------------------------------------------ views
    @property
    def locked(self) -> bool:
        return self.locked_members is not None

    def members(self) -> list[str]:
        """Sorted member ids: the locked list, or this node plus the healthy peers."""
        if self.locked_members is not None:
            return list(self.locked_members)
        return sorted([self.self_id] + [p.id for p in self.peers.values() if p.state == HEALTHY])

    def live_members(self) -> list[str]:
        lost = self.lost()
        return [m for m in self.members() if m not in lost]

    def lost(self) -> set[str]:
        return {p.id for p in self.peers.values() if p.state == LOST}

    def healthy(self) -> list[str]:
        return sorted(p.id for p in self.peers.values() if p.state == HEALTHY)

    def agreed(self) -> bool:
        """Every healthy peer reported (in its last heartbeat) the same member list as ours."""
        mine = self.members()
        return all(self.peers[m].view == mine for m in mine if m != self.self_id and m in self.peers)

    # ------------------------------------------------------------------ handshake
    def _fields(self, sender: str, epoch: int, target: str, nonce: bytes, kind: str) -> dict[str, Any]:
        return {"kind": kind, "sender": sender, "epoch": epoch, "target": target, "nonce": nonce,
                "cluster": self.cluster, "version": self.version}

    def make_hello(self, target: str, nonce: bytes) -> dict[str, Any]:
        mac = security.hello_mac(self.secret, self._fields(self.self_id, self.epoch, target, nonce, "hello"))
        return {"target": target, "nonce": nonce, "mac": mac}

    def make_fenced(self, target: str, target_epoch: int) -> dict[str, Any]:
        nonce = security.random_nonce()
        mac = security.hello_mac(self.secret, self._fields(self.self_id, self.epoch, target, nonce,
                                                           f"fenced:{target_epoch}"))
        return {"target": target, "target_epoch": target_epoch, "nonce": nonce, "mac": mac}

    def _check_mac(self, sender: str, epoch: int, payload: Any, kind: str) -> bool:
        if not isinstance(payload, dict):
            return False
        nonce = payload.get("nonce")
        if not isinstance(nonce, bytes) or payload.get("target") != self.self_id:
            return False
        return security.verify_mac(self.secret, self._fields(sender, epoch, self.self_id, nonce, kind),
                                   payload.get("mac"))

    def on_hello(self, sender: str, epoch: int, cluster: str, version: str,
                 payload: Any) -> tuple[str, dict[str, Any], str | None]:
        """Judge a ``hello``. Returns ``(reply_type, reply_payload, event)``.

        ``reply_type`` is ``welcome``, ``refuse`` or ``fenced``; ``event`` is ``"joined"``,
        ``"restarted"`` or None, for the transport to act on (log, fail old calls).
        """
        def refuse(reason: str):
            log.warning("Refused node %s (epoch %s): %s", sender, epoch, reason)
            return "refuse", {"reason": reason, "target": sender}, None

        if cluster != self.cluster:
            return refuse(f"it belongs to cluster {cluster!r}, this node to {self.cluster!r}")
        if version != self.version:
            return refuse(f"it runs Shoal {version}, this node {self.version}; all nodes must run the same version")
        if sender == self.self_id or sender not in self.peers:
            return refuse(f"{sender} is not in this node's peer list ({', '.join(sorted(self.peers))})")
        if not self._check_mac(sender, epoch, payload, "hello"):
            return refuse("its hello does not carry a valid HMAC: the cluster secret differs")
        if self.fenced:
            return refuse("this node was fenced and no longer admits peers; restart it")
        if (sender, epoch) in self.fenced_epochs:
            if self.locked_members is not None:
                log.warning("Fenced node %s (epoch %s) tried to rejoin; told it is fenced", sender, epoch)
                return "fenced", self.make_fenced(sender, epoch), None
            self._readmit(sender, epoch)
        peer = self.peers[sender]
        if self.locked_members is not None:
            if sender not in self.locked_members:
                return refuse(f"the cluster is locked with members {', '.join(self.locked_members)}; "
                              "restart the cluster to add a node")
            if peer.epoch is not None and peer.epoch != epoch:
                return refuse(f"{sender} restarted (epoch {epoch}, was {peer.epoch}) after the cluster locked; "
                              "its data is gone: restart the cluster")
        event = None
        if peer.epoch is None or peer.state in (JOINING, REFUSED, LOST):
            event = "joined"
        elif peer.epoch != epoch:
            if peer.epoch > epoch:
                return refuse(f"stale epoch {epoch} (current incarnation {peer.epoch})")
            self.fenced_epochs.add((sender, peer.epoch))
            event = "restarted"
        peer.epoch = int(epoch)
        peer.state = HEALTHY
        peer.reason = ""
        peer.last_seen = self.clock()
        if event:
            log.info("Node %s (epoch %s) joined; members now %s", sender, epoch, ", ".join(self.members()))
        nonce = security.random_nonce()
        mac = security.hello_mac(self.secret, self._fields(self.self_id, self.epoch, sender, nonce, "welcome"))
        return "welcome", {"target": sender, "nonce": nonce, "mac": mac,
                           "members": self.members(), "locked": self.locked}, event

    def _readmit(self, sender: str, epoch: int) -> None:
        self.fenced_epochs.discard((sender, epoch))
        log.warning("Node %s (epoch %s) answers again after it was declared lost; the cluster is not locked yet "
                    "(no frame or job depends on the member list), so it is admitted again", sender, epoch)

    def is_fenced_epoch(self, sender: str, epoch: int) -> bool:
        """Whether ``(sender, epoch)`` is fenced for good (declared lost after the cluster locked)."""
        return self.locked_members is not None and (sender, epoch) in self.fenced_epochs

    def on_welcome(self, sender: str, epoch: int, payload: Any) -> str | None:
        """Our hello was accepted. Returns ``"joined"`` when the peer just became healthy."""
        peer = self.peers.get(sender)
        if peer is None or not self._check_mac(sender, epoch, payload, "welcome"):
            log.warning("Dropped a welcome from %s with a bad HMAC", sender)
            return None
        if self.fenced:
            return None
        if (sender, epoch) in self.fenced_epochs:
            if self.locked_members is not None:
                return None
            self._readmit(sender, epoch)
        if self.locked_members is not None and (sender not in self.locked_members
                                                or (peer.epoch is not None and peer.epoch != epoch)):
            return None
        event = None
        if peer.state != HEALTHY or peer.epoch != epoch:
            event = "joined"
        peer.epoch = int(epoch)
        peer.welcomed = True
        peer.state = HEALTHY
        peer.reason = ""
        peer.last_seen = self.clock()
        lst = payload.get("members")
        if isinstance(lst, list):
            peer.view = [str(m) for m in lst]
        if event:
            log.info("Joined node %s (epoch %s); members now %s", sender, epoch, ", ".join(self.members()))
        return event

    def on_refuse(self, sender: str, payload: Any) -> None:
        peer = self.peers.get(sender)
        reason = str(payload.get("reason", ""))[:500] if isinstance(payload, dict) else ""
        if peer is None or peer.state == HEALTHY:
            return
        if peer.reason != reason:
            log.error("Node %s refused this node (%s): %s", sender, self.self_id, reason)
        peer.state = REFUSED
        peer.reason = reason

    def on_fenced(self, sender: str, epoch: int, payload: Any) -> bool:
        """A peer says this incarnation was declared lost. Returns True when we become fenced."""
        if sender not in self.peers or not isinstance(payload, dict):
            return False
        if payload.get("target_epoch") != self.epoch:
            return False
        if not self._check_mac(sender, epoch, payload, f"fenced:{self.epoch}"):
            return False
        if not self.fenced:
            self.fenced = True
            self.fenced_by = sender
            log.error("This node (%s, epoch %s) was declared lost by %s and is fenced: it no longer serves "
                      "cluster work and will not rejoin. Restart it.", self.self_id, self.epoch, sender)
        return True

    # ------------------------------------------------------------------ traffic
    def admit(self, sender: str, epoch: int) -> str:
        """May a non-handshake message from ``(sender, epoch)`` be heard?

        Returns ``"ok"`` (and refreshes the sender's liveness), ``"fenced"`` (tell it so) or
        ``"drop"``.
        """
        peer = self.peers.get(sender)
        if peer is None:
            return "drop"
        if (sender, epoch) in self.fenced_epochs:
            # after lock the incarnation is told it is fenced; before lock it may come back through a
            # new handshake (nothing was placed on the member list yet), so its traffic is just dropped
            return "fenced" if self.locked_members is not None else "drop"
        if peer.state != HEALTHY or peer.epoch != epoch:
            return "drop"
        peer.last_seen = self.clock()
        return "ok"

    def on_heartbeat(self, sender: str, payload: Any) -> None:
        peer = self.peers.get(sender)
        if peer is None or not isinstance(payload, dict):
            return
        view = payload.get("members")
        if isinstance(view, list):
            peer.view = [str(m) for m in view][:4096]
        peer.locked = bool(payload.get("locked"))
        stats = payload.get("stats")
        if isinstance(stats, dict):
            peer.stats = stats

    def tick(self) -> list[str]:
        """Declare lost every healthy peer silent for longer than the timeout; return them."""
        now = self.clock()
        gap = now - self._last_tick
        self._last_tick = now
        if gap > self.stall_threshold:
            log.warning("This node's loop stalled for %.1f s; judging peers' silence again after the messages "
                        "that arrived meanwhile are read", gap)
            self._judge_after = now + self.stall_grace
        if now < self._judge_after:
            return []
        lost = []
        for peer in self.peers.values():
            if peer.state != HEALTHY:
                continue
            silent = now - peer.last_seen
            if silent > self.timeout:
                peer.state = LOST
                peer.reason = f"no heartbeat for {silent:.1f} s"
                if peer.epoch is not None:
                    self.fenced_epochs.add((peer.id, peer.epoch))
                lost.append(peer.id)
                log.error("Node %s (epoch %s) is lost: no heartbeat for %.1f s (timeout %.1f s)",
                          peer.id, peer.epoch, silent, self.timeout)
        return lost

    # ------------------------------------------------------------------ lock
    def lock(self, members: list[str]) -> None:
        """Freeze the member list. Raise ValueError if it is not this node's current view."""
        members = sorted(str(m) for m in members)
        if self.locked_members is not None:
            if members != self.locked_members:
                raise ValueError(f"the cluster is already locked with {', '.join(self.locked_members)}")
            return
        if members != self.members():
            raise ValueError(f"this node sees members {', '.join(self.members())}, "
                             f"not {', '.join(members)}")
        self.locked_members = members
        log.info("Cluster %r locked with %d members: %s", self.cluster, len(members), ", ".join(members))

    def health(self, member: str) -> str:
        if member == self.self_id:
            return "fenced" if self.fenced else HEALTHY
        peer = self.peers.get(member)
        return peer.state if peer is not None else "unknown"
