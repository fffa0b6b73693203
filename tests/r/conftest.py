"""Fixtures for the R client tests: the R package built from this checkout, R through rpy2.

``r_lib`` installs ``rclient/`` (``R CMD INSTALL``) into a private library once per session, so the
tests exercise the sources in this checkout, never a stale installed copy. ``r`` is the embedded R
(rpy2) with that library first on ``.libPaths()``, ``library(shoal)`` attached and the helpers of
``helpers.R`` defined. R, the R packages and rpy2 are part of the project's set-up (``make install``):
missing ones fail these tests rather than skip them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nodeproc import free_port  # noqa: F401  (one port-pair finder for every test folder)

ROOT = Path(__file__).resolve().parents[2]
RCLIENT = ROOT / "rclient"
HELPERS = Path(__file__).with_name("helpers.R")

pytestmark = pytest.mark.r


@pytest.fixture(scope="session")
def r_lib(tmp_path_factory) -> Path:
    """A private R library holding the R package built from this checkout."""
    rbin = shutil.which("R")
    assert rbin, "R is not installed (make install installs it)"
    lib = tmp_path_factory.mktemp("rlib")
    proc = subprocess.run([rbin, "CMD", "INSTALL", "--no-multiarch", "--no-test-load",
                           f"--library={lib}", str(RCLIENT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"R CMD INSTALL failed:\n{proc.stdout}\n{proc.stderr}"
    assert (lib / "shoal" / "DESCRIPTION").exists()
    return lib


def r_env(r_lib: Path, **extra: str) -> dict[str, str]:
    """Environment for an Rscript child: our library first, no inherited Shoal settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env["R_LIBS"] = str(r_lib) + (os.pathsep + env["R_LIBS"] if env.get("R_LIBS") else "")
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def r(r_lib):
    """The embedded R session (rpy2) with the shoal package attached."""
    before = os.environ.get("LD_LIBRARY_PATH")
    import rpy2.robjects as ro  # noqa: PLC0415 - only the R tests need rpy2

    # rpy2 prepends R's library directories to LD_LIBRARY_PATH when it starts R. The embedded R
    # has its libraries loaded by now; left in place, the variable would make every Python child
    # (the test nodes) load the system's libpython and lose its site-packages.
    if before is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = before
    ro.r(f'.libPaths(c("{r_lib}", .libPaths()))')
    ro.r("suppressPackageStartupMessages(library(shoal))")
    ro.r("options(shoal.progress = FALSE, shoal.quiet = TRUE)")
    ro.r.source(str(HELPERS))
    return ro.r
