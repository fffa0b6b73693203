"""Helpers shared by the benchmark scripts: timing, medians, the machine note, markdown tables."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPORT = BENCH_DIR / "REPORT.md"


def log(*args) -> None:
    """Progress goes to stderr, so stdout holds only the markdown."""
    print(*args, file=sys.stderr, flush=True)


@contextmanager
def timer(out: list):
    t0 = time.perf_counter()
    yield
    out.append(time.perf_counter() - t0)


def proc_cpu_seconds(pid: int | None) -> float:
    """user + system CPU seconds of another process (all its threads), from /proc; 0 when unknown."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


@contextmanager
def timer_cpu(wall: list, cpu: list, server_pid: int | None = None):
    """Wall seconds into `wall`; CPU seconds of this process plus the server process into `cpu`."""
    c0 = time.process_time() + proc_cpu_seconds(server_pid)
    t0 = time.perf_counter()
    yield
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() + proc_cpu_seconds(server_pid) - c0)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def loadavg() -> str:
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "n/a"


def machine_note() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, "
            f"{mem:.0f} GiB RAM; {platform.platform()}; Python {platform.python_version()}; "
            f"load average at start {loadavg()}")


def fmt_s(x: float) -> str:
    if x != x:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_mb(nbytes) -> str:
    return "—" if nbytes is None else f"{nbytes / 1e6:,.1f}"


def fmt_ratio(x) -> str:
    return "—" if x is None or x != x else f"{x:.2f}×"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def append_report(text: str, path: Path = REPORT) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n" + text.rstrip() + "\n")
    log(f"appended to {path}")
