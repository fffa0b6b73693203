"""The shoal-server CLI: options from NodeConfig, ready line, clean stop, parent watch."""
import dataclasses
import signal
import subprocess
import sys
import time

import pytest

from shoal_server.__main__ import build_parser, config_from_args, parse_bytes
from shoal_server.config import DEFAULT_PORT, NodeConfig


def test_every_config_field_is_an_option_with_help():
    parser = build_parser()
    dests = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(NodeConfig):
        assert f.name in dests, f.name
        assert dests[f.name].help, f.name


def test_options_parse_into_a_config():
    cfg = config_from_args(["--port", "6000", "--data-root", "/a", "--data-root", "/b", "--memory-budget", "2G",
                            "--peers", "h1:1,h2:2", "--threads", "3", "--chunk-bytes", "64k"])
    assert cfg.port == 6000 and cfg.data_roots == ["/a", "/b"] and cfg.memory_budget == 2 << 30
    assert cfg.peers == ["h1:1", "h2:2"] and cfg.threads == 3 and cfg.chunk_bytes == 64 << 10
    default = config_from_args([])
    assert default.port == DEFAULT_PORT == 54330 and default.bind == "127.0.0.1" and default.data_roots == []


@pytest.mark.parametrize("text,value", [("1024", 1024), ("1k", 1024), ("1.5M", 3 << 19), ("2GB", 2 << 30),
                                        ("1TiB", 1 << 40)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


def test_help_runs_without_starting_anything():
    r = subprocess.run([sys.executable, "-m", "shoal_server", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--data-root" in r.stdout and "--auth-token-file" in r.stdout


def test_sigterm_stops_the_node_cleanly(node_factory):
    n = node_factory()
    assert n.alive()
    n.proc.send_signal(signal.SIGTERM)
    assert n.proc.wait(30) == 0           # liveness: a clean stop, slower on a loaded machine
    assert not list(n.spool.iterdir())


def test_node_exits_when_its_parent_pid_dies(node_factory):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        n = node_factory(extra_args=["--parent-pid", str(parent.pid)])
        assert n.alive()
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 30   # liveness: the node polls its parent
        while n.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert n.proc.poll() == 0
    finally:
        if parent.poll() is None:
            parent.kill()
