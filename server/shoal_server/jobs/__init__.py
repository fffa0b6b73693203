"""Jobs: registry, progress, cancellation, time limits."""
from .registry import (CANCELLED, CREATED, DONE, FAILED, RUNNING, TERMINAL, Job, JobRegistry, JobStatus,
                       now_ms)

__all__ = ["Job", "JobRegistry", "JobStatus", "CREATED", "RUNNING", "DONE", "FAILED", "CANCELLED",
           "TERMINAL", "now_ms"]
