"""R client round trips, measured next to data.table::fread in the same run, on the same file.

1. ``as.data.frame(shoal_import_file(path))``: parse on the node + download through SHOALCOL into
   an R data.frame, against ``data.table::fread(path)`` (when data.table is installed) and base
   ``read.csv`` (``--with-read-csv``; slow).
2. ``as_shoal(df)``: upload of the same 1e6-row data.frame through SHOALCOL.

Each timing is the median of ``--runs`` timed runs after one untimed warm-up. Progress goes to
stderr; stdout (and, with ``--report``, ``REPORT.md``) gets a markdown table.

    python bench/bench_r_client.py --rows 1e6 --runs 3
    python bench/bench_r_client.py --data /tmp/airline_1e6.csv --runs 3 --report
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (append_report, fmt_ratio, fmt_s, free_port, log, machine_note, md_table,  # noqa: E402
                     median)

ROOT = Path(__file__).resolve().parents[1]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(shoal))
options(shoal.progress = FALSE)
args <- commandArgs(trailingOnly = TRUE)
url <- args[1]; path <- args[2]; runs <- as.integer(args[3]); read_csv <- args[4] == "1"
shoal_init(url = url, verbose = FALSE)
emit <- function(what, secs) cat(jsonlite::toJSON(list(what = what, secs = secs), auto_unbox = TRUE), "\n")
timeit <- function(what, expr_fn) {
  expr_fn()                                  # warm-up, untimed
  for (i in seq_len(runs)) {
    gc()
    t <- system.time(expr_fn())[["elapsed"]]
    emit(what, t)
  }
}
df <- NULL
timeit("shoal import + as.data.frame", function() {
  fr <- shoal_import_file(path)
  df <<- as.data.frame(fr)
  shoal_remove(fr)
})
fr <- shoal_import_file(path)
timeit("shoal as.data.frame only", function() as.data.frame(fr))
shoal_remove(fr)
timeit("shoal as_shoal(data.frame) upload", function() shoal_remove(as_shoal(df)))
if (requireNamespace("data.table", quietly = TRUE)) {
  timeit("data.table::fread", function() data.table::fread(path, showProgress = FALSE))
}
if (read_csv) timeit("utils::read.csv", function() utils::read.csv(path))
cat(jsonlite::toJSON(list(what = "shape", secs = dim(df)), auto_unbox = TRUE), "\n")
"""


def start_node(data_root: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log_path = tmp / "node.log"
    proc = subprocess.Popen([sys.executable, "-m", "shoal_server", "--port", str(port), "--data-root",
                             str(data_root), "--parent-pid", str(os.getpid())],
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/v1/health", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"node did not start: {log_path.read_text(errors='replace')[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default=None, help="an existing airline-like CSV (default: generate one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--with-read-csv", action="store_true", help="also time base R read.csv")
    ap.add_argument("--report", action="store_true", help="append the table to bench/REPORT.md")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="shoal-bench-r-"))
    try:
        if args.data:
            path = Path(args.data).resolve()
        else:
            from datagen import generate

            path = Path(generate(int(args.rows), str(tmp / "airline.csv"), seed=args.seed))
        proc, url = start_node(path.parent, tmp)
        try:
            script = tmp / "bench.R"
            script.write_text(R_SCRIPT)
            log(f"running R timings on {path} ({path.stat().st_size / 1e6:.0f} MB), node {url}")
            out = subprocess.run([shutil.which("Rscript"), str(script), url, str(path), str(args.runs),
                                  "1" if args.with_read_csv else "0"],
                                 capture_output=True, text=True, timeout=3600)
            if out.returncode != 0:
                log(out.stdout, out.stderr)
                return 1
        finally:
            proc.terminate()
            proc.wait(20)
        times: dict[str, list[float]] = {}
        shape = None
        for line in out.stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if rec["what"] == "shape":
                shape = rec["secs"]
            else:
                times.setdefault(rec["what"], []).append(float(rec["secs"]))
        med = {k: median(v) for k, v in times.items()}
        base = med.get("data.table::fread")
        rows = [[k, fmt_s(v), fmt_ratio(v / base) if base else "—"] for k, v in med.items()]
        text = (f"### R client round trip ({shape[0]:,} rows × {shape[1]} columns, "
                f"{path.stat().st_size / 1e6:.0f} MB CSV)\n\n{machine_note()}; median of {args.runs} runs.\n\n"
                + md_table(["what", "seconds", "vs fread"], rows)
                + "\n\nReproduce: `python bench/bench_r_client.py --rows 1e6 --runs 3`\n")
        print(text)
        if args.report:
            append_report(text)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
