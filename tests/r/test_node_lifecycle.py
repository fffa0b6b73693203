"""The R client's node lifecycle and credentials, through Rscript (a separate R process per test,
so that "R exits" is real)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

import shoal

from .conftest import free_port, r_env

pytestmark = pytest.mark.r


def rscript(r_lib, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("Rscript"), "-e", code], env=r_env(r_lib, **env),
                          capture_output=True, text=True, timeout=300)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_node_started_by_r_stops_when_r_exits(r_lib, tmp_path):
    pid_file = tmp_path / "pid"
    code = (f"library(shoal); options(shoal.port = {free_port()}L); "
            f"st <- shoal_init(data_roots = '{tmp_path}', verbose = FALSE); "
            f"writeLines(as.character(shoal:::.shoal$owned$pid), '{pid_file}'); "
            "stopifnot(st$node$pid == shoal:::.shoal$owned$pid); "
            "print(shoal_connection()$url)")
    proc = rscript(r_lib, code)
    assert proc.returncode == 0, proc.stderr
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"node {pid} outlived the R process that started it"


def test_shoal_init_reports_a_node_that_cannot_start(r_lib, tmp_path):
    code = (f"library(shoal); options(shoal.port = {free_port()}L, shoal.python = 'false'); "
            "e <- tryCatch(shoal_init(start_timeout = 10), error = identity); "
            "stopifnot(inherits(e, 'shoal_error_connection_error')); cat(conditionMessage(e))")
    proc = rscript(r_lib, code)
    assert proc.returncode == 0, proc.stderr
    assert "exited" in proc.stdout


def test_bearer_token_in_both_clients(r_lib, node_factory):
    n = node_factory(token="s3cret-token")
    ok = rscript(r_lib, f"library(shoal); shoal_init(url = '{n.url}', token = 's3cret-token', verbose = FALSE); "
                        "fr <- as_shoal(data.frame(a = 1:2)); cat(nrow(fr), shoal_ls()$key)")
    assert ok.returncode == 0, ok.stderr
    # SHOAL_TOKEN is the default in R as in Python
    env_ok = rscript(r_lib, f"library(shoal); shoal_init(url = '{n.url}', verbose = FALSE); cat(nrow(shoal_ls()))",
                     SHOAL_TOKEN="s3cret-token")
    assert env_ok.returncode == 0, env_ok.stderr
    bad = rscript(r_lib, f"library(shoal); e <- tryCatch(shoal_init(url = '{n.url}', token = 'wrong', "
                         "verbose = FALSE), error = identity); cat(e$code)")
    assert bad.returncode == 0, bad.stderr
    with pytest.raises(shoal.ShoalError) as exc:
        shoal.init(url=n.url, token="wrong", verbose=False)
        shoal.ls()
    assert bad.stdout.strip() == exc.value.code == "unauthorized"
