"""Publishing frames that models write (predictions, holdout predictions, scoring temporaries).

The mechanism is shared with munging and lives in ``shoal_server.tasks.frames``: maps write their
output under a private staging key, :func:`publish` renames it on every member and registers the
header, :func:`discard` frees it everywhere. No partial frame is ever visible.
"""
from __future__ import annotations

from ...tasks.frames import delete_frame, discard, publish, staging_key

__all__ = ["staging_key", "publish", "discard", "delete_frame"]
