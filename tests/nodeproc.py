"""A real node in a subprocess on a free loopback port (importable: ``from nodeproc import NodeProcess``).

Kept out of ``conftest.py`` because several test folders have a ``conftest`` module of their own,
so ``from conftest import ...`` would depend on which one pytest imported first.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

__all__ = ["NodeProcess", "free_port", "READY_TIMEOUT"]

READY_TIMEOUT = 120.0  # first start may compile numba kernels


def free_port() -> int:
    """A free TCP port on loopback whose +1 (the node port) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


class NodeProcess:
    """A running ``shoal-server`` subprocess and a small HTTP helper around it."""

    def __init__(self, tmp: Path, extra_args: list[str] | None = None, token: str | None = None,
                 data_root: Path | None = None, env: dict[str, str] | None = None):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_root = data_root or (tmp / "data")
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.spool = tmp / "spool"
        self.spool.mkdir(exist_ok=True)
        self.token = token
        self.log_path = tmp / f"node-{self.port}.log"
        args = [sys.executable, "-m", "shoal_server", "--port", str(self.port), "--data-root",
                str(self.data_root), "--spool-dir", str(self.spool), "--parent-pid", str(os.getpid())]
        if token is not None:
            tf = tmp / f"token-{self.port}"
            tf.write_text(token + "\n")
            tf.chmod(0o600)
            args += ["--auth-token-file", str(tf)]
        args += list(extra_args or [])
        self.args = args
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, env=full_env,
                                     start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}: {self.log()}")
            chunk = self.proc.stdout.read()
            if chunk:
                buf += chunk
                if b"ready at" in buf:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node did not become ready in {READY_TIMEOUT}s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    # ---------------------------------------------------------------- HTTP helpers
    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {}
        if self.token is not None:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        kw["headers"] = self.headers(kw.get("headers"))
        return requests.request(method, self.url + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def alive(self) -> bool:
        try:
            return self.get("/api/v1/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_job(self, key: str, timeout: float = 60.0) -> dict:
        """Poll a job until it ends; returns the job dict."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/api/v1/jobs/{key}").json()["job"]
            if job["status"] in ("DONE", "FAILED", "CANCELLED"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {key} still {job['status']} after {timeout}s: {job}")
            time.sleep(0.05)

    def frame_keys(self) -> list[str]:
        return [f["key"] for f in self.get("/api/v1/frames").json()["frames"]]

    # ---------------------------------------------------------------- stopping
    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def start_with_export(tmp: Path) -> NodeProcess:
    """A node whose export root is ``tmp/export`` (``save_model`` writes only there), as ``.export_root``."""
    export = tmp / "export"
    export.mkdir()
    n = NodeProcess(tmp, extra_args=["--export-root", str(export)])
    n.export_root = export
    return n
