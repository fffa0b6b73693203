"""The catalog: key -> header of every frame (later also models), replicated on every node.

Thread-safe. Besides headers it keeps, per key, a small dict of *derived* values (the rollups
cache, for instance) that is dropped whenever the key is replaced or removed, so a cached value can
never outlive the frame it describes.
"""
from __future__ import annotations

import re
import threading
import uuid
from typing import Any

from ..errors import FrameNotFound, InvalidParameter

__all__ = ["Catalog", "valid_key"]

_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")


def valid_key(key: str) -> str:
    """Check a user-given key: 1-200 of letters, digits, ``_ . -``."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise InvalidParameter(f"A key must be 1-200 letters, digits, '_', '.' or '-'; got {key!r}.",
                               {"key": str(key)[:200]})
    return key


class Catalog:
    """Thread-safe map of key -> header (any object with a ``key`` attribute, usually a FrameHeader)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._items: dict[str, Any] = {}
        self._derived: dict[str, dict] = {}

    def put(self, header, replace: bool = True) -> None:
        """Register ``header`` under ``header.key`` (replacing any older entry unless ``replace=False``)."""
        with self._lock:
            if not replace and header.key in self._items:
                raise InvalidParameter(f"Key `{header.key}` already exists.", {"key": header.key})
            self._items[header.key] = header
            self._derived.pop(header.key, None)

    def get(self, key: str):
        """The header of ``key``; raises ``frame_not_found``."""
        with self._lock:
            item = self._items.get(key)
        if item is None:
            raise FrameNotFound(f"Frame `{key}` does not exist.", {"key": str(key)})
        return item

    def find(self, key: str):
        """The header of ``key`` or None."""
        with self._lock:
            return self._items.get(key)

    def remove(self, key: str):
        """Remove ``key``; returns its header, or None if it was not there."""
        with self._lock:
            self._derived.pop(key, None)
            return self._items.pop(key, None)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._items)

    def list(self) -> list:
        """Every header, sorted by key."""
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def derived(self, key: str) -> dict:
        """The derived-values dict of ``key`` (created on first use; dropped with the key)."""
        with self._lock:
            if key not in self._items:
                raise FrameNotFound(f"Frame `{key}` does not exist.", {"key": str(key)})
            return self._derived.setdefault(key, {})

    def cache_derived(self, key: str, name: str, value, header=None) -> None:
        """Store a derived value, unless ``key`` was replaced/removed since ``header`` was read."""
        with self._lock:
            current = self._items.get(key)
            if current is None or (header is not None and current is not header):
                return
            self._derived.setdefault(key, {})[name] = value

    def new_key(self, prefix: str = "frame") -> str:
        """A fresh key ``<prefix>_<8 hex>`` not in the catalog."""
        prefix = re.sub(r"[^A-Za-z0-9_.\-]", "_", prefix)[:100] or "frame"
        with self._lock:
            while True:
                key = f"{prefix}_{uuid.uuid4().hex[:8]}"
                if key not in self._items:
                    return key
