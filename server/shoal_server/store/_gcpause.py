"""``gc_paused()``: no cyclic garbage collection while building many small objects at once.

Building one dict per column of a 100k-column frame triggers full collections over a large heap
again and again (a third of the time). The objects built hold no cycles, so pausing the collector
for the duration is safe; it is re-enabled on exit unless it was already off (another thread
pausing at the same time may re-enable it early: that only costs speed).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused(enabled: bool = True):
    """Pause the cyclic collector inside the block when ``enabled`` (e.g. only for wide frames)."""
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
