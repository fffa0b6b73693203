"""Cluster secrets: loading the shared secret, the hello HMAC, and CURVE keys derived from it.

Every node of a cluster holds the same secret. It proves membership twice: an HMAC-SHA256 over
each ``hello``/``welcome`` (so a node with the wrong secret is refused with a clear log line), and,
when CURVE is on, the curve25519 key pair that every node derives from it (so a peer without the
secret cannot even complete the ZeroMQ handshake, and nothing it sends is delivered).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import socket
from typing import Any

import msgpack
import zmq
from zmq.utils import z85

__all__ = ["load_secret", "hello_mac", "verify_mac", "curve_keypair", "is_loopback", "curve_wanted"]

log = logging.getLogger(__name__)

_MAX_SECRET_BYTES = 64 << 10


def load_secret(path: str | None) -> bytes:
    """The cluster secret from ``path`` (surrounding whitespace stripped); empty without a file."""
    if not path:
        return b""
    with open(path, "rb") as fh:
        data = fh.read(_MAX_SECRET_BYTES + 1)
    if len(data) > _MAX_SECRET_BYTES:
        raise ValueError(f"secret file {path} is larger than {_MAX_SECRET_BYTES} bytes")
    return data.strip()


def _canonical(fields: dict[str, Any]) -> bytes:
    return msgpack.packb(sorted(fields.items()), use_bin_type=True)


def hello_mac(secret: bytes, fields: dict[str, Any]) -> bytes:
    """HMAC-SHA256 of the handshake fields (a msgpack of the sorted items) under ``secret``."""
    return hmac.new(b"shoal-hello-v1:" + secret, _canonical(fields), hashlib.sha256).digest()


def verify_mac(secret: bytes, fields: dict[str, Any], mac: Any) -> bool:
    """Constant-time check of a handshake MAC."""
    if not isinstance(mac, bytes):
        return False
    return hmac.compare_digest(hello_mac(secret, fields), mac)


def curve_keypair(cluster: str, secret: bytes) -> tuple[bytes, bytes]:
    """The cluster's curve25519 key pair ``(public, secret)`` (Z85), derived from name and secret.

    Every node derives the same pair, so each can be both server and client of the others; the
    ZAP handler admits exactly this public key.
    """
    seed = hashlib.sha256(b"shoal-curve-v1:" + cluster.encode() + b":" + secret).digest()
    secret_z85 = z85.encode(seed)
    public_z85 = zmq.curve_public(secret_z85)
    return public_z85, secret_z85


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) only reaches this machine."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def curve_wanted(mode: str, bind: str) -> bool:
    """CURVE on or off for ``mode`` in ``on``/``off``/``auto`` (auto: on beyond loopback)."""
    mode = (mode or "auto").lower()
    if mode in ("on", "true", "1", "yes"):
        return True
    if mode in ("off", "false", "0", "no"):
        return False
    return not is_loopback(bind)


def random_nonce() -> bytes:
    return os.urandom(16)
