"""``shoal-server``: start one node (HTTP API on the loop thread, compute pool, jobs).

Every option comes from a :class:`~shoal_server.config.NodeConfig` field and its help. The node
prints one line with its URL when it serves (``Shoal node <name> ready at http://...``), stops
cleanly on SIGTERM / SIGINT / ``POST /api/v1/shutdown``, and exits when ``--parent-pid`` dies.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import logging
import os
import re
import signal
import sys
import threading
from typing import Any, Sequence

from . import __version__
from .config import NodeConfig

__all__ = ["main", "build_parser", "config_from_args", "parse_bytes"]

log = logging.getLogger("shoal_server")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: CLI flag names that differ from the field name (repeatable flags are singular).
_FLAG = {"data_roots": "--data-root"}
_BYTE_FIELDS = {"memory_budget", "chunk_bytes", "max_upload_bytes"}


def parse_bytes(text: str) -> int:
    """``"4G"``, ``"512m"``, ``"1.5GB"``, ``"1048576"`` → bytes."""
    m = _SIZE.match(str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (examples: 1048576, 512M, 4G)")
    return int(float(m.group(1)) * _MULT[m.group(2).lower()])


def _list_arg(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoal-server", description="Start a Shoal node.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"shoal-server {__version__}")
    defaults = NodeConfig()
    for f in dataclasses.fields(NodeConfig):
        flag = _FLAG.get(f.name, "--" + f.name.replace("_", "-"))
        help_text = (f.metadata.get("help", "") or f.name).replace("%", "%%")  # argparse formats help with %
        default = getattr(defaults, f.name)
        kw: dict[str, Any] = {"dest": f.name, "help": help_text}
        if f.name == "data_roots":
            kw.update(action="append", default=None, metavar="DIR")
        elif f.name == "peers":
            kw.update(type=_list_arg, default=None, metavar="HOST:PORT,...")
        elif f.name in _BYTE_FIELDS:
            kw.update(type=parse_bytes, default=default, metavar="BYTES")
        elif isinstance(default, bool):
            kw.update(action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, int):
            kw.update(type=int, default=default)
        elif isinstance(default, float):
            kw.update(type=float, default=default)
        else:
            kw.update(type=str, default=default)
        p.add_argument(flag, **kw)
    return p


def config_from_args(argv: Sequence[str] | None = None) -> NodeConfig:
    args = build_parser().parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(NodeConfig)}
    values["data_roots"] = values["data_roots"] or []
    values["peers"] = values["peers"] or []
    return NodeConfig(**values)


#: How long start-up waits for the kernels before it announces "ready" (they keep compiling after).
_WARM_WAIT_SECONDS = 15.0
_WARM_MODULES = (("shoal_server.store", "warm"), ("shoal_server.parser.parse", "warm"),
                 ("shoal_server.munging.kernels", "warm_up"), ("shoal_server.munging.join", "warm_up"),
                 ("shoal_server.metrics", "warm"),
                 ("shoal_server.algos", "warm"))


def _import_task_modules() -> None:
    """Import the modules that register tasks (a peer may ask for one as soon as we answer)."""
    from .tasks.registry import load_task_modules

    load_task_modules()


def _warm(node, done: threading.Event | None = None) -> None:
    """Compile (or load from cache) the numba kernels the node needs, via each package's ``warm()``."""
    import importlib

    try:
        for name, attr in _WARM_MODULES:
            try:
                mod = importlib.import_module(name)
            except ImportError:
                continue
            fn = getattr(mod, attr, None)
            if callable(fn):
                try:
                    fn()
                except Exception:  # noqa: BLE001 - a failed warm-up only costs compile time later
                    log.exception("warming %s failed", name)
    finally:
        if done is not None:
            done.set()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


async def _call_hook(fn, *args) -> None:
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


async def serve(config: NodeConfig, ready_stream=None) -> int:
    """Run a node until it is asked to stop; returns the exit code."""
    from .api.server import read_token_file, start_server
    from .node import Node

    token = read_token_file(config.auth_token_file) if config.auth_token_file else None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop() -> None:
        loop.call_soon_threadsafe(stop.set)

    node = Node(config)
    node.loop = loop
    node.request_stop = request_stop
    try:
        await loop.run_in_executor(None, _import_task_modules)
        handle = await start_server(node, token=token, shutdown_hook=request_stop)
        # Kernels compile in a thread once the server answers. With a warm numba cache that takes a
        # few seconds and "ready" waits for it; a cold cache (a fresh clone) takes a minute, so
        # "ready" comes after _WARM_WAIT_SECONDS at most and warming goes on behind it (numba's
        # compile lock makes a request that needs a kernel meanwhile wait for it, never fail).
        warmed = threading.Event()
        threading.Thread(target=_warm, args=(node, warmed), name="shoal-warm", daemon=True).start()
        if not await loop.run_in_executor(None, warmed.wait, _WARM_WAIT_SECONDS):
            log.info("kernels still compiling after %.0f s (cold numba cache); serving meanwhile",
                     _WARM_WAIT_SECONDS)
        cluster_mod = None
        if config.peers:
            from . import cluster as cluster_mod  # noqa: F811
            start = getattr(cluster_mod, "start", None)
            if callable(start):
                await _call_hook(start, node)
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except Exception:  # noqa: BLE001 - no signal support here (non-main thread or platform)
                pass
        watcher = None
        if config.parent_pid:
            watcher = asyncio.create_task(_watch_parent(config.parent_pid, stop))
        print(f"Shoal node {config.name} ready at {handle.url}", file=ready_stream or sys.stdout, flush=True)
        log.info("serving %s (data roots: %s)", handle.url, ", ".join(map(str, config.resolved_roots())))
        await stop.wait()
        log.info("stopping")
        if watcher is not None:
            watcher.cancel()
        await loop.run_in_executor(None, node.jobs.cancel_all, 2.0)
        if cluster_mod is not None and callable(getattr(cluster_mod, "stop", None)):
            await _call_hook(cluster_mod.stop, node)
        await handle.stop()
    finally:
        node.close()
    return 0


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    first_ppid = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(0.5)
        if not _pid_alive(pid) or (first_ppid == pid and os.getppid() != pid):
            log.info("parent process %d is gone; stopping", pid)
            stop.set()
            return


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    logging.basicConfig(level=getattr(logging, str(config.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from .api.server import is_loopback

    if not is_loopback(config.bind) and not config.auth_token_file:
        print(f"shoal-server: refusing to bind {config.bind}, which is not a loopback address, without "
              f"authentication. Give --auth-token-file FILE (clients send the token as a bearer token), or "
              f"use --bind 127.0.0.1.", file=sys.stderr)
        return 2
    if config.auth_token_file:
        try:
            from .api.server import read_token_file

            read_token_file(config.auth_token_file)
        except (OSError, ValueError) as exc:
            print(f"shoal-server: cannot read the auth token: {exc}", file=sys.stderr)
            return 2
    for root in config.data_roots:
        if not os.path.isdir(root):
            print(f"shoal-server: data root {root} is not a directory.", file=sys.stderr)
            return 2
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        print(f"shoal-server: cannot serve on {config.bind}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - signal arrived before the handler was installed
        return 130


if __name__ == "__main__":
    sys.exit(main())
