"""The R Markdown vignette runs end to end against a node it starts itself.

With knitr installed the vignette is knitted (``knitr::knit``, Markdown output: no pandoc needed);
without knitr its R chunks are extracted and run by Rscript in order. Either way a chunk error
fails the test, and the node the vignette started must be gone afterwards.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from .conftest import ROOT, free_port, r_env

pytestmark = pytest.mark.r

VIGNETTE = ROOT / "vignettes" / "shoal-intro.Rmd"
CHUNK = re.compile(r"^```\{r[^}]*\}\s*$(.*?)^```\s*$", re.S | re.M)


def r_chunks(text: str) -> list[str]:
    return [m.group(1) for m in CHUNK.finditer(text)]


def test_vignette_has_r_chunks():
    chunks = r_chunks(VIGNETTE.read_text(encoding="utf-8"))
    assert len(chunks) >= 8
    joined = "\n".join(chunks)
    for call in ("shoal_init(", "shoal_import_file(", "summary(", "as.data.frame(", "as_shoal(mtcars",
                 "shoal_ls()", "shoal_remove(", "shoal_shutdown()"):
        assert call in joined, call


def _has_knitr(env) -> bool:
    return subprocess.run([shutil.which("Rscript"), "-e", "quit(status = !requireNamespace('knitr', quietly = TRUE))"],
                          env=env, capture_output=True, timeout=60).returncode == 0


def test_vignette_runs_end_to_end(r_lib, tmp_path):
    env = r_env(r_lib)
    # Probe a port where no node listens, so the vignette starts (and later stops) its own node
    # instead of connecting to one that may be running on 54330.
    probe = free_port()
    preamble = f"options(shoal.port = {probe}L)\n"
    if _has_knitr(env):
        script = tmp_path / "knit.R"
        out = tmp_path / "shoal-intro.md"
        script.write_text(preamble + "knitr::opts_chunk$set(error = FALSE)\n"
                          f"knitr::knit({str(VIGNETTE)!r}, output = {str(out)!r}, quiet = TRUE)\n")
    else:
        script = tmp_path / "chunks.R"
        out = None
        script.write_text(preamble + "\n".join(r_chunks(VIGNETTE.read_text(encoding="utf-8"))))
    proc = subprocess.run([shutil.which("Rscript"), str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"vignette failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    text = out.read_text(encoding="utf-8") if out is not None else proc.stdout
    assert "ShoalFrame 'flights': 1000 rows x 4 columns" in text
    urls = re.findall(r"Connected to Shoal \S* at (http://127\.0\.0\.1:\d+)", proc.stdout + proc.stderr + text)
    assert urls, proc.stderr[-3000:]
    with pytest.raises(requests.RequestException):
        requests.get(urls[0] + "/api/v1/health", timeout=3)
