"""Shoal: the thin Python client of an in-memory, distributed machine-learning platform.

>>> import shoal
>>> shoal.init()                              # connect to a local node, or start one
>>> fr = shoal.import_file("flights.csv")     # parse on the server, as a job with a progress bar
>>> fr.describe()
>>> df = fr.as_data_frame()                   # exact values through the binary columnar path

The client needs only ``requests``, ``numpy`` and ``pandas``; it never imports the server
(``shoal_server``), numba or ZeroMQ.
"""
from __future__ import annotations

import atexit
import glob as _glob
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import errors
from ._generated import operations as _ops
from .connection import Connection, current_connection, set_current_connection
from .errors import ShoalConnectionError, ShoalError
from .frame import Frame, FrameGroupBy, cbind, ifelse, merge, rbind
from .jobs import Job, cancel as _cancel, wait as _wait
from .model import DRF, GBM, GLM, ModelMetrics, get_model, list_models, load_model

__version__ = "0.1.0"

__all__ = [
    "init",
    "connection",
    "cluster_status",
    "shutdown",
    "import_file",
    "upload_file",
    "parse_setup",
    "ls",
    "get_frame",
    "remove",
    "cancel",
    "Frame",
    "FrameGroupBy",
    "ifelse",
    "merge",
    "cbind",
    "rbind",
    "Job",
    "Connection",
    "ShoalError",
    "errors",
    "DEFAULT_PORT",
    "GLM",
    "GBM",
    "DRF",
    "ModelMetrics",
    "get_model",
    "list_models",
    "load_model",
]

DEFAULT_PORT = 54330
DEFAULT_IP = "127.0.0.1"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class _NodeProcess:
    """A node process this client started (stopped by ``shutdown()`` or at interpreter exit)."""

    def __init__(self, proc: subprocess.Popen, url: str, log_path: str):
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                Connection(self.url, timeout=3).call("POST", "/shutdown")
            except ShoalError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)


_started: list[_NodeProcess] = []
_token: str | None = None


def _stop_started() -> None:
    while _started:
        _started.pop().stop()


atexit.register(_stop_started)


# ----------------------------------------------------------------------------------------- cluster

def _healthy(url: str, token: str | None, timeout: float = 2.0) -> bool:
    try:
        res = _ops.health(Connection(url, token=token, timeout=timeout))
    except ShoalError:
        return False
    return isinstance(res, dict) and res.get("status") == "ok"


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port_pair(host: str = "127.0.0.1") -> int:
    """A port P such that P (HTTP) and P+1 (node port) are both free."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_free(port + 1, host):
            return port
    raise ShoalConnectionError("Could not find two consecutive free ports to start a node on.")


def _start_nodes(ip: str, ports: list[int], *, data_roots, threads, memory_budget, name,
                 extra_args, wait_secs: float, verbose: bool) -> list[_NodeProcess]:
    peers = ",".join(f"{ip}:{p}" for p in ports) if len(ports) > 1 else None
    logdir = tempfile.mkdtemp(prefix="shoal-node-logs-")
    nodes = []
    for port in ports:
        args = [sys.executable, "-m", "shoal_server", "--port", str(port), "--bind", ip,
                "--parent-pid", str(os.getpid())]
        for root in ([data_roots] if isinstance(data_roots, (str, os.PathLike)) else data_roots or []):
            args += ["--data-root", os.fspath(root)]
        if threads:
            args += ["--threads", str(threads)]
        if memory_budget:
            args += ["--memory-budget", str(memory_budget)]
        if name:
            args += ["--name", name]
        if peers:
            args += ["--peers", peers]
        args += list(extra_args or [])
        log_path = os.path.join(logdir, f"node-{port}.log")
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            log.close()
        node = _NodeProcess(proc, f"http://{ip}:{port}", log_path)
        nodes.append(node)
        _started.append(node)
    deadline = time.monotonic() + wait_secs
    for node in nodes:
        while not _healthy(node.url, _token, timeout=1.0):
            if node.proc.poll() is not None:
                raise ShoalConnectionError(
                    f"The Shoal node on {node.url} exited with code {node.proc.returncode} while starting. "
                    f"Log ({node.log_path}):\n{node.log_tail()}")
            if time.monotonic() > deadline:
                node.stop(timeout=2)
                raise ShoalConnectionError(
                    f"The Shoal node on {node.url} did not answer within {wait_secs:.0f} s. "
                    f"Log ({node.log_path}):\n{node.log_tail()}")
            time.sleep(0.2)
        if verbose:
            print(f"Started a Shoal node at {node.url} (pid {node.proc.pid}, log {node.log_path}).",
                  file=sys.stderr)
    return nodes


def init(url: str | None = None, ip: str | None = None, port: int | None = None, nodes: int = 1,
         start: bool = True, token: str | None = None, data_roots: str | list[str] | None = None,
         threads: int | None = None, memory_budget: int | None = None, name: str | None = None,
         server_args: list[str] | None = None, timeout: float = 60.0, start_timeout: float = 120.0,
         verify: bool | str = True, verbose: bool = True) -> Connection:
    """Connect to a Shoal node, starting a local one when none answers (like ``h2o.init``).

    Parameters
    ----------
    url : str, optional
        URL of a running node (``http://host:port``); never starts one.
    ip, port : str, int, optional
        Where to look for a node; default ``127.0.0.1:54330``. When nothing answers there and
        ``start`` is true, a node is started on ``port`` if given, else on a free port.
    nodes : int
        Number of local nodes to start as one cluster (only when starting).
    start : bool
        Start a local node when none answers.
    token : str, optional
        Bearer token for nodes that require one (default: ``$SHOAL_TOKEN``).
    data_roots : str | list[str], optional
        Directories a started node may import from (default: the current directory).
    threads, memory_budget, name, server_args
        Passed to the started node (``shoal-server --help`` lists every option).
    timeout : float
        Seconds to wait for an ordinary API call.
    start_timeout : float
        Seconds to wait for a started node to answer.

    Returns
    -------
    Connection
        The connection, also kept as the current one (see :func:`connection`).
    """
    global _token
    _token = token if token is not None else os.environ.get("SHOAL_TOKEN") or None
    if url is None and ip is None and port is None and os.environ.get("SHOAL_URL"):
        url = os.environ["SHOAL_URL"]
    if url is not None:
        conn = Connection(url, token=_token, timeout=timeout, verify=verify)
        _ops.health(conn)  # raises ShoalConnectionError with a clear message
    else:
        ip = ip or DEFAULT_IP
        probe = port or DEFAULT_PORT
        probe_url = f"http://{ip}:{probe}"
        if _healthy(probe_url, _token):
            conn = Connection(probe_url, token=_token, timeout=timeout, verify=verify)
        elif not start:
            raise ShoalConnectionError(f"No Shoal node answers at {probe_url} (and start=False).")
        else:
            if ip not in _LOOPBACK:
                raise ShoalConnectionError(f"No Shoal node answers at {probe_url}; a node can only be "
                                           "started on this machine (ip=127.0.0.1).")
            ports = [port] if port is not None else []
            while len(ports) < max(1, int(nodes)):
                p = _free_port_pair(ip)
                if all(abs(p - q) > 1 for q in ports):
                    ports.append(p)
            started = _start_nodes(ip, ports, data_roots=data_roots, threads=threads,
                                   memory_budget=memory_budget, name=name, extra_args=server_args,
                                   wait_secs=start_timeout, verbose=verbose)
            conn = Connection(started[0].url, token=_token, timeout=timeout, verify=verify)
            conn.owned_process = started
    # One authenticated call, so a wrong or missing token fails here rather than later.
    status = _ops.cluster_status(conn)
    server_version = (status.get("cluster") or {}).get("version")
    if server_version and _ops.SERVER_VERSION and server_version != _ops.SERVER_VERSION:
        import warnings

        warnings.warn(f"The Shoal node at {conn.url} runs version {server_version}; this client was generated "
                      f"for {_ops.SERVER_VERSION}. Operations that changed may fail.", stacklevel=2)
    set_current_connection(conn)
    if verbose:
        node = status.get("node", {})
        cl = status.get("cluster", {})
        print(f"Connected to Shoal {cl.get('version', '')} at {conn.url}: cluster {cl.get('name', '?')!r}, "
              f"{cl.get('size', 1)} node(s), {node.get('cores', '?')} cores.", file=sys.stderr)
    return conn


def connection() -> Connection:
    """The current connection (made by :func:`init`)."""
    return current_connection()


def cluster_status() -> dict[str, Any]:
    """Cluster and node status: name, version, members, cores, threads, memory, frames."""
    return _ops.cluster_status(current_connection())


def shutdown(timeout: float = 15.0) -> None:
    """Stop the node(s) this client started, and wait until their processes are gone.

    When this client started no node, ask the node it is connected to to shut down (as
    ``h2o.cluster().shutdown()`` does). The connection is forgotten either way.
    """
    try:
        conn = current_connection()
    except ShoalConnectionError:
        conn = None
    owned = [n for n in _started if conn is None or n in (conn.owned_process or [])] if conn else list(_started)
    if owned:
        for node in owned:
            node.stop(timeout=timeout)
            _started.remove(node)
    elif conn is not None:
        try:
            _ops.shutdown(conn)
        except ShoalConnectionError:
            pass
    set_current_connection(None)


# ------------------------------------------------------------------------------------------ frames

def _overrides(sep, header, col_names, col_types, na_strings, skipped_columns, quote) -> dict:
    """Normalise the parse overrides and keep only those the user set (the server owns defaults)."""
    if isinstance(col_types, dict):
        col_types = {str(k): v for k, v in col_types.items()}
    elif isinstance(col_types, tuple):
        col_types = list(col_types)
    if isinstance(na_strings, dict):
        na_strings = {str(k): ([v] if isinstance(v, str) else list(v)) for k, v in na_strings.items()}
    elif isinstance(na_strings, str):
        na_strings = [na_strings]
    elif na_strings is not None:
        na_strings = list(na_strings)
    if isinstance(col_names, str):
        col_names = [col_names]
    elif col_names is not None:
        col_names = list(col_names)
    if isinstance(skipped_columns, (int, str)):
        skipped_columns = [skipped_columns]
    elif skipped_columns is not None:
        skipped_columns = [int(i) if isinstance(i, (int, np.integer)) else str(i) for i in skipped_columns]
    given = {"sep": sep, "header": header, "col_names": col_names, "col_types": col_types,
             "na_strings": na_strings, "skipped_columns": skipped_columns, "quote": quote}
    return {k: v for k, v in given.items() if v is not None}


def _server_paths(path: str | os.PathLike | list, conn: Connection) -> list[str]:
    """Paths as the server should see them. For a node on this machine, a relative path or ``~``
    that exists here is made absolute (the node may run in another directory)."""
    items = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    local = any(h in conn.url for h in ("://127.0.0.1", "://localhost", "://[::1]"))
    out = []
    for p in items:
        p = os.fspath(p)
        if local:
            q = os.path.expanduser(p)
            if not os.path.isabs(q) and (os.path.exists(q) or _glob.has_magic(q)):
                q = os.path.abspath(q)
            p = q
        out.append(p)
    return out


def import_file(path: str | os.PathLike | list, destination_frame: str | None = None, sep: str | None = None,
                header: int | bool | None = None, col_names: list[str] | None = None,
                col_types: list[str] | dict | None = None, na_strings: list[str] | dict | None = None,
                skipped_columns: list[int | str] | None = None, quote: str | None = None,
                max_runtime_secs: float | None = None,
                progress: bool = True, wait: bool = True) -> Frame | Job:
    """Import and parse files that the node can read (a file, a directory, a glob or a list of
    them) into one frame. The parse runs on the server as a job; a progress bar shows meanwhile.

    Parameters
    ----------
    path : str | list[str]
        Server-side path(s), inside the node's data roots. Compressed files (.gz, .bz2, .zst,
        .zip) are decompressed.
    destination_frame : str, optional
        Key of the new frame (default: derived from the file name).
    sep, header, col_names, col_types, na_strings, skipped_columns, quote
        Override the guessed parse setup: ``header`` is ``True``/``False`` or, as in H2O-3, ``1``
        (the first line has the names), ``-1`` (no header), ``0`` (guess); ``col_types`` a list in
        column order or a dict from name or 0-based index to ``int``/``real``/``enum``/``string``/
        ``time``/``bool``; ``na_strings`` a list for every column or a dict column → list;
        ``skipped_columns`` 0-based indices or names.
    max_runtime_secs : float, optional
        Stop the parse after this many seconds.
    progress : bool
        Show a progress bar.
    wait : bool
        Wait for the parse (default). With ``wait=False`` the :class:`Job` is returned at once:
        ``job.wait()``, ``job.frame()``, ``shoal.cancel(job)``.

    Returns
    -------
    Frame, or Job when ``wait=False``
    """
    conn = current_connection()
    res = _ops.import_file(conn, _server_paths(path, conn), destination_frame=destination_frame,
                           max_runtime_secs=max_runtime_secs,
                           **_overrides(sep, header, col_names, col_types, na_strings, skipped_columns,
                                        quote))
    if not wait:
        return Job(res["job"], conn)
    job = _wait(conn, res["job"], progress=progress)
    return Frame._existing(job["dest"], conn)


def upload_file(path: str | os.PathLike, destination_frame: str | None = None, sep: str | None = None,
                header: int | bool | None = None, col_names: list[str] | None = None,
                col_types: list[str] | dict | None = None, na_strings: list[str] | dict | None = None,
                skipped_columns: list[int | str] | None = None, quote: str | None = None,
                max_runtime_secs: float | None = None,
                progress: bool = True, wait: bool = True) -> Frame | Job:
    """Upload a local file to the node (streamed, never read whole into memory) and parse it.

    Takes the same parse overrides as :func:`import_file`. A compressed file (.gz, .bz2, .zst,
    .zip) is decompressed on the node.

    Returns
    -------
    Frame, or Job when ``wait=False``
    """
    conn = current_connection()
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_file():
        raise FileNotFoundError(f"No such local file: {p}")
    from .frame import _bytes_bar

    res = _ops.upload_file(conn, p, filename=p.name, destination_frame=destination_frame,
                           max_runtime_secs=max_runtime_secs,
                           progress=_bytes_bar(f"upload {p.name}"[:30]) if progress else None,
                           **_overrides(sep, header, col_names, col_types, na_strings, skipped_columns,
                                        quote))
    if not wait:
        return Job(res["job"], conn)
    job = _wait(conn, res["job"], progress=progress)
    return Frame._existing(job["dest"], conn)


def parse_setup(path: str | os.PathLike | list, sep: str | None = None, header: int | bool | None = None,
                col_names: list[str] | None = None, col_types: list[str] | dict | None = None,
                na_strings: list[str] | dict | None = None, skipped_columns: list[int | str] | None = None,
                quote: str | None = None) -> dict[str, Any]:
    """The parse setup the node would use for these files (separator, header, column names and
    types, NA strings), with the given overrides applied. Nothing is parsed."""
    conn = current_connection()
    res = _ops.parse_setup(conn, _server_paths(path, conn),
                           **_overrides(sep, header, col_names, col_types, na_strings, skipped_columns,
                                        quote))
    return res["setup"]


def ls() -> pd.DataFrame:
    """Every frame on the cluster: key, rows, columns, chunks, compressed bytes, creation time."""
    frames = _ops.list_frames(current_connection())["frames"]
    cols = ["key", "nrow", "ncol", "nchunks", "bytes", "created_ms"]
    df = pd.DataFrame([{c: f.get(c) for c in cols} for f in frames], columns=cols)
    df["created"] = pd.to_datetime(df.pop("created_ms"), unit="ms")
    return df


def get_frame(key: str) -> Frame:
    """The frame with this key (raises ``FrameNotFound`` when there is none)."""
    conn = current_connection()
    info = _ops.get_frame(conn, key, rollups=False)["frame"]
    return Frame._existing(info["key"], conn, info)


def remove(frame: Frame | str | list) -> None:
    """Delete frame(s) from the cluster, by Frame or key."""
    items = frame if isinstance(frame, (list, tuple)) else [frame]
    conn = current_connection()
    for f in items:
        _ops.delete_frame(conn, f.key if isinstance(f, Frame) else str(f))


def cancel(job: Job | dict | str) -> dict[str, Any]:
    """Ask the node to cancel a job (by Job, job dict or key)."""
    return _cancel(current_connection(), job)
