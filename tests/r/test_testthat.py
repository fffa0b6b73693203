"""Run the R package's testthat suite natively (Rscript), against a real node.

The driver starts a node (the ``node`` fixture), gives its URL and data root to testthat through
``SHOAL_TEST_URL`` / ``SHOAL_TEST_DATA_DIR``, and fails unless every test ran and passed: a skipped
server test would mean the suite did not really run.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import RCLIENT, r_env

pytestmark = pytest.mark.r

RUNNER = r"""
res <- testthat::test_dir(Sys.getenv("TT_DIR"), reporter = "summary", stop_on_failure = FALSE,
                          load_package = "installed", package = "shoal")
df <- as.data.frame(res)
utils::write.csv(df[, c("file", "test", "nb", "failed", "skipped", "error", "warning")],
                 Sys.getenv("TT_OUT"), row.names = FALSE)
"""


def _run_testthat(r_lib: Path, tmp_path: Path, **env: str) -> list[dict[str, str]]:
    out = tmp_path / "testthat.csv"
    proc = subprocess.run([shutil.which("Rscript"), "-e", RUNNER],
                          env=r_env(r_lib, TT_DIR=str(RCLIENT / "tests" / "testthat"), TT_OUT=str(out),
                                    **env),
                          capture_output=True, text=True, timeout=600)
    assert out.exists(), f"testthat did not run:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r for r in rows if r["failed"] != "0" or r["error"] == "TRUE" or r["skipped"] == "TRUE"]
    assert not bad, ("testthat failures or skips:\n" + "\n".join(f"{r['file']}: {r['test']}" for r in bad)
                     + f"\n{proc.stdout[-8000:]}")
    return rows


def test_testthat_suite_passes_against_a_node(r_lib, node, tmp_path):
    rows = _run_testthat(r_lib, tmp_path, SHOAL_TEST_URL=node.url, SHOAL_TEST_DATA_DIR=str(node.data_root))
    files = {r["file"] for r in rows}
    # one test file per R source file (httr2 layout)
    for src in sorted((RCLIENT / "R").glob("*.R")):
        assert f"test-{src.name}" in files, f"no testthat file for R/{src.name}"
    assert len(rows) >= 40


def test_testthat_runs_offline_tests_without_a_node(r_lib, tmp_path):
    """Without SHOAL_TEST_URL the server tests skip; the wire tests still pass with no server."""
    out = tmp_path / "offline.csv"
    proc = subprocess.run([shutil.which("Rscript"), "-e", RUNNER],
                          env=r_env(r_lib, TT_DIR=str(RCLIENT / "tests" / "testthat"), TT_OUT=str(out)),
                          capture_output=True, text=True, timeout=600)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    wire = [r for r in rows if r["file"] == "test-wire.R"]
    assert wire and all(r["failed"] == "0" and r["skipped"] == "FALSE" and r["error"] == "FALSE" for r in wire), proc.stdout
