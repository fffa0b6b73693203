"""CSV import, frame memory and as_data_frame: Shoal against H2O-3, pyarrow, polars and pandas.

Everything runs in one process tree, in the same run, on the same file, and the report gives
ratios between tools measured side by side. Runs are interleaved (run 1 of every tool, then run 2
of every tool, ...) so a burst of load from elsewhere on the machine hits every tool alike, and
the tables quote medians.

    python bench/bench_parse.py --rows 1000000 --runs 3
    python bench/bench_parse.py --rows 1e7 --runs 1 --tools h2o,pyarrow,polars,pandas,shoal --no-as-df
    python bench/bench_parse.py --rows 1e6 --runs 3 --report   # also append the tables to bench/REPORT.md

The CSV is generated from the seed (`bench/datagen.py`) into a temporary directory that is removed
at the end (unless --keep or --data is given). Every tool is limited to 2 threads.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (append_report, fmt_mb, fmt_ratio, fmt_s, free_port, loadavg, log,  # noqa: E402
                     machine_note, md_table, median, port_in_use, timer_cpu)
import datagen  # noqa: E402

THREADS = 2
os.environ.setdefault("POLARS_MAX_THREADS", str(THREADS))

ALL_TOOLS = ["shoal", "h2o", "pyarrow", "polars", "pandas", "pandas_cat"]
LABELS = {
    "shoal": "Shoal",
    "h2o": "H2O-3",
    "pyarrow": "pyarrow",
    "polars": "polars",
    "pandas": "pandas",
    "pandas_cat": "pandas (category dtypes)",
    "h2o_mt": "H2O-3 (use_multi_thread=True)",
    "pyarrow_to_pandas": "pyarrow Table.to_pandas (reference)",
}


# ---------------------------------------------------------------------------------------- peers

class Runner:
    """One tool: setup once, then parse / nbytes / shape / as_df / free per run, close at the end."""

    name = ""

    def setup(self, path: str) -> None:
        pass

    def parse(self, path: str, run: int):
        raise RuntimeError("abstract")

    def nbytes(self, handle) -> int | None:
        return None

    def shape(self, handle) -> tuple[int, int]:
        return handle.shape

    def as_df(self, handle):
        return None

    def free(self, handle) -> None:
        del handle
        gc.collect()

    def server_pid(self) -> int | None:
        """The separate server process whose CPU time counts too (H2O-3's JVM, the Shoal node)."""
        return None

    def close(self) -> None:
        pass

    def note(self) -> str:
        return ""


class PyarrowRunner(Runner):
    name = "pyarrow"

    def setup(self, path):
        import pyarrow as pa
        import pyarrow.csv as pacsv
        pa.set_cpu_count(THREADS)
        pa.set_io_thread_count(THREADS)
        self.pacsv = pacsv
        self.version = pa.__version__

    def parse(self, path, run):
        conv = self.pacsv.ConvertOptions(strings_can_be_null=True)
        return self.pacsv.read_csv(path, read_options=self.pacsv.ReadOptions(use_threads=True),
                                   convert_options=conv)

    def nbytes(self, t):
        return t.nbytes

    def shape(self, t):
        return (t.num_rows, t.num_columns)

    def as_df(self, t):
        return t.to_pandas()

    def note(self):
        return f"pyarrow {self.version}, `pyarrow.csv.read_csv`, {THREADS} threads, strings as `string`"


class PolarsRunner(Runner):
    name = "polars"

    def setup(self, path):
        import polars as pl
        self.pl = pl
        self.version = pl.__version__

    def parse(self, path, run):
        return self.pl.read_csv(path)

    def nbytes(self, df):
        return int(df.estimated_size())

    def note(self):
        return (f"polars {self.version}, `polars.read_csv`, {self.pl.thread_pool_size()} threads, "
                "strings as `String`, size from `estimated_size()`")


class PandasRunner(Runner):
    name = "pandas"
    categories = False

    def setup(self, path):
        import pandas as pd
        self.pd = pd
        self.version = pd.__version__

    def parse(self, path, run):
        if self.categories:
            dtype = {c: "category" for c in datagen.CATEGORICAL}
            return self.pd.read_csv(path, engine="c", dtype=dtype)
        return self.pd.read_csv(path, engine="c")

    def nbytes(self, df):
        return int(df.memory_usage(deep=True).sum())

    def note(self):
        kind = "the 5 categorical columns as `category`" if self.categories else "default dtypes"
        return f"pandas {self.version}, `read_csv(engine='c')`, 1 thread, {kind}, size from `memory_usage(deep=True)`"


class PandasCatRunner(PandasRunner):
    name = "pandas_cat"
    categories = True


class H2ORunner(Runner):
    """H2O-3 from the `h2o` PyPI package (bundled server jar), nthreads=2, started once per bench run."""

    name = "h2o"

    def __init__(self, max_mem: str):
        self.max_mem = max_mem
        self.started = False

    def setup(self, path):
        import h2o
        self.h2o = h2o
        port = 54321
        if port_in_use(port) or port_in_use(port + 1):
            port = free_port()
            log(f"h2o: port 54321 is busy; starting H2O-3 on {port}")
        with contextlib.redirect_stdout(sys.stderr):
            h2o.init(nthreads=THREADS, max_mem_size=self.max_mem, port=port, verbose=False)
        conn = h2o.connection()
        if conn is None or conn.local_server is None:
            # Connected to a cluster somebody else runs: never benchmark (or shut down) that.
            with contextlib.suppress(Exception):
                h2o.connection().close()
            raise RuntimeError("h2o.init attached to an H2O-3 cluster this script did not start")
        self.started = True
        h2o.no_progress()
        self.version = h2o.cluster().version

    def parse(self, path, run):
        return self.h2o.import_file(path, destination_frame=f"bench_parse_{run}")

    def nbytes(self, fr):
        info = self.h2o.frame(fr.frame_id)
        return int(info["frames"][0]["byte_size"])

    def shape(self, fr):
        return fr.shape

    def as_df(self, fr):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fr.as_data_frame()

    def server_pid(self):
        server = self.h2o.connection().local_server
        proc = getattr(server, "_process", None)
        return proc.pid if proc is not None else None

    def as_df_mt(self, fr):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fr.as_data_frame(use_multi_thread=True)

    def free(self, fr):
        with contextlib.suppress(Exception):
            self.h2o.remove(fr)
        gc.collect()

    def close(self):
        if not self.started:
            return
        server = self.h2o.connection().local_server
        with contextlib.redirect_stdout(sys.stderr):
            with contextlib.suppress(Exception):
                self.h2o.cluster().shutdown()
        # make sure no JVM is left behind
        proc = getattr(server, "_process", None)
        if proc is not None:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.started = False

    def note(self):
        return (f"H2O-3 {self.version} (`h2o` PyPI package, Java 17), `h2o.init(nthreads={THREADS}, "
                f"max_mem_size='{self.max_mem}')`, `h2o.import_file`; size is the frame's `byte_size` "
                "from `/3/Frames`")


class ShoalRunner(Runner):
    """A Shoal node started here (`python -m shoal_server`), or the one at --shoal-url."""

    name = "shoal"

    def __init__(self, url: str | None, workdir: str):
        self.url = url
        self.workdir = workdir
        self.proc = None
        self.logfile = None

    def setup(self, path):
        import shoal
        self.shoal = shoal
        if self.url is None:
            port = free_port()
            while port_in_use(port + 1):
                port = free_port()
            self.logfile = open(os.path.join(self.workdir, "shoal_node.log"), "wb")
            # the data root defaults to the node's working directory: the CSV's directory
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shoal_server", "--port", str(port), "--threads", str(THREADS),
                 "--parent-pid", str(os.getpid())],
                cwd=os.path.dirname(os.path.abspath(path)), stdout=self.logfile, stderr=subprocess.STDOUT)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 120
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"shoal node exited with {self.proc.returncode}; "
                                       f"log: {self.logfile.name}")
                if port_in_use(port):
                    break
                if time.time() > deadline:
                    raise RuntimeError("shoal node did not start in 120 s")
                time.sleep(0.2)
        with contextlib.redirect_stdout(sys.stderr):
            shoal.init(url=self.url)
        self.version = getattr(shoal, "__version__", "?")

    def parse(self, path, run):
        with contextlib.redirect_stdout(sys.stderr):
            return self.shoal.import_file(os.path.abspath(path), destination_frame=f"bench_parse_{run}",
                                          progress=False)

    def nbytes(self, fr):
        return shoal_frame_bytes(fr)

    def shape(self, fr):
        return (fr.nrow, fr.ncol)

    def as_df(self, fr):
        return fr.as_data_frame()

    def server_pid(self):
        return self.proc.pid if self.proc is not None else None

    def free(self, fr):
        with contextlib.suppress(Exception):
            self.shoal.remove(fr)
        gc.collect()

    def close(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        if self.logfile is not None:
            self.logfile.close()

    def note(self):
        return (f"Shoal {self.version}, one node, `--threads {THREADS}`, `shoal.import_file` (server-side path "
                "import); size is the sum of the frame's compressed chunk bytes")


def shoal_frame_bytes(fr) -> int | None:
    """The compressed bytes of a Shoal frame, from its summary (the client API is young: look in the
    few places it may be)."""
    keys = ("compressed_bytes", "compressed_size", "byte_size", "nbytes", "bytes")
    with contextlib.suppress(Exception):
        b = fr.summary().get("bytes")  # the frame's compressed bytes (the server's get_frame)
        if isinstance(b, int):
            return b
    for k in keys:
        v = getattr(fr, k, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
    for meth in ("summary", "describe"):
        f = getattr(fr, meth, None)
        if f is None:
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr):
                d = f() if meth == "summary" else f(show=False)
        except TypeError:
            continue
        except Exception:
            continue
        found = _find_key(d, keys)
        if found is not None:
            return int(found)
    return None


def _find_key(d, keys):
    if isinstance(d, dict):
        for k in keys:
            v = d.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
        for v in d.values():
            r = _find_key(v, keys)
            if r is not None:
                return r
    return None


# ------------------------------------------------------------------------------------------ run

def make_runner(tool: str, args, workdir: str) -> Runner:
    if tool == "shoal":
        return ShoalRunner(args.shoal_url, workdir)
    if tool == "h2o":
        return H2ORunner(args.h2o_mem)
    return {"pyarrow": PyarrowRunner, "polars": PolarsRunner, "pandas": PandasRunner,
            "pandas_cat": PandasCatRunner}[tool]()


def warm(path: str) -> None:
    """Read the file once so every tool reads it from the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_bench(args) -> dict:
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in ALL_TOOLS:
            raise SystemExit(f"unknown tool {t!r}; choose from {', '.join(ALL_TOOLS)}")
    workdir = tempfile.mkdtemp(prefix="shoal_bench_")
    rows = int(float(args.rows))
    try:
        if args.data:
            path = args.data
        else:
            path = os.path.join(workdir, f"airline_{rows}_{args.seed}.csv")
            datagen.generate(rows, path, args.seed, verbose=True)
        size = os.path.getsize(path)
        warm(path)
        res = {"rows": rows, "file_bytes": size, "runs": args.runs, "warmup": args.warmup, "seed": args.seed,
               "machine": machine_note(), "tools": {}, "as_df": {}, "notes": {}, "errors": {}}
        runners: dict[str, Runner] = {}
        for t in tools:
            r = make_runner(t, args, workdir)
            try:
                log(f"{t}: setup")
                r.setup(path)
                runners[t] = r
                res["notes"][t] = r.note()
            except Exception as e:  # a peer that cannot start is reported, not fatal
                log(f"{t}: setup failed: {e!r}")
                res["errors"][t] = f"setup failed: {type(e).__name__}: {e}"
                with contextlib.suppress(Exception):
                    r.close()
        try:
            times = {t: [] for t in runners}
            cpus = {t: [] for t in runners}
            cold = {t: [] for t in runners}
            cold_cpu = {t: [] for t in runners}
            total = args.warmup + args.runs
            for run in range(total):
                for t, r in runners.items():
                    if t in res["errors"]:
                        continue
                    try:
                        gc.collect()
                        out = cold[t] if run < args.warmup else times[t]
                        out_cpu = cold_cpu[t] if run < args.warmup else cpus[t]
                        with timer_cpu(out, out_cpu, r.server_pid()):
                            h = r.parse(path, run)
                        rec = res["tools"].setdefault(t, {})
                        if run == 0:
                            rec["shape"] = list(r.shape(h))
                            rec["nbytes"] = r.nbytes(h)
                        kind = "warm-up" if run < args.warmup else "run"
                        log(f"{t}: {kind} {run + 1}/{total}: {out[-1]:.3f}s  (load {loadavg()})")
                        r.free(h)
                        del h
                        time.sleep(args.settle)  # let background work (JVM GC, frees) finish first
                    except Exception as e:
                        log(f"{t}: parse failed: {e!r}")
                        res["errors"][t] = f"parse failed: {type(e).__name__}: {e}"
            for t, ts in times.items():
                if ts and t not in res["errors"]:
                    res["tools"].setdefault(t, {})["times"] = ts
                    res["tools"][t]["warmup_times"] = cold[t]
                    res["tools"][t]["cpu"] = cpus[t]
            shapes = [v["shape"][0] for v in res["tools"].values() if v.get("shape")]
            if shapes:
                res["rows"] = max(set(shapes), key=shapes.count)

            if not args.no_as_df:
                run_as_df(args, runners, path, res)
        finally:
            for t, r in runners.items():
                log(f"{t}: close")
                with contextlib.suppress(Exception):
                    r.close()
        res["load_end"] = loadavg()
        return res
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_as_df(args, runners, path, res) -> None:
    """Time frame -> pandas for the tools that keep a frame outside pandas."""
    plan = []
    if "shoal" in runners:
        plan.append(("shoal", runners["shoal"], runners["shoal"].as_df))
    if "h2o" in runners:
        plan.append(("h2o", runners["h2o"], runners["h2o"].as_df))
        plan.append(("h2o_mt", runners["h2o"], runners["h2o"].as_df_mt))
    if "pyarrow" in runners:
        plan.append(("pyarrow_to_pandas", runners["pyarrow"], runners["pyarrow"].as_df))
    handles = {}
    try:
        for key, r, _ in plan:
            if r.name in res["errors"] or r.name in handles:
                continue
            handles[r.name] = r.parse(path, 100)
        ts = {key: [] for key, _, _ in plan}
        cs = {key: [] for key, _, _ in plan}
        for run in range(args.warmup + args.runs):
            for key, r, fn in plan:
                if r.name not in handles or f"as_df {key}" in res["errors"]:
                    continue
                try:
                    gc.collect()
                    warmup = run < args.warmup
                    w, c = ([], []) if warmup else (ts[key], cs[key])
                    with timer_cpu(w, c, r.server_pid()):
                        df = fn(handles[r.name])
                    if run == 0:
                        res["as_df"].setdefault(key, {})["shape"] = list(df.shape)
                    del df
                    time.sleep(args.settle)
                    log(f"as_df {key}: {'warm-up' if warmup else 'run'} {run + 1}/{args.warmup + args.runs}: "
                        f"{w[-1]:.3f}s")
                except Exception as e:
                    log(f"as_df {key}: failed: {e!r}")
                    res["errors"][f"as_df {key}"] = f"{type(e).__name__}: {e}"
        for key, t in ts.items():
            if t and f"as_df {key}" not in res["errors"]:
                res["as_df"].setdefault(key, {})["times"] = t
                res["as_df"][key]["cpu"] = cs[key]
    finally:
        for name, h in handles.items():
            with contextlib.suppress(Exception):
                runners[name].free(h)


# --------------------------------------------------------------------------------------- report

def _paired(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i]: both measured in the same round, so a burst of outside
    load hits both (more robust than a ratio of medians on a shared machine)."""
    n = min(len(a), len(b))
    return median([a[i] / b[i] for i in range(n) if b[i] > 0]) if n else float("nan")


def render(res: dict) -> str:
    mb = res["file_bytes"] / 1e6
    warm = (f" after {res['warmup']} untimed warm-up run{'s' if res['warmup'] != 1 else ''} per tool"
            if res.get("warmup") else ", no warm-up")
    out = [f"### Parse: {res['rows']:,} rows × 14 columns, {mb:,.1f} MB CSV "
           f"(seed {res['seed']}, median of {res['runs']} run{'s' if res['runs'] != 1 else ''}{warm})",
           "", f"Machine: {res['machine']}; load average at end {res.get('load_end', 'n/a')}.", ""]
    tools = res["tools"]
    med = {t: median(v.get("times", [])) for t, v in tools.items()}
    sh = tools.get("shoal", {})
    rows = []
    for t, v in tools.items():
        ts = v.get("times", [])
        m = med[t]
        ratio = _paired(ts, sh["times"]) if sh.get("times") and t != "shoal" else None
        cold = " / ".join(fmt_s(x) for x in v.get("warmup_times", [])) or "—"
        rows.append([LABELS[t], fmt_s(m), f"{mb / m:,.1f}" if m == m else "—", fmt_s(median(v.get("cpu", []))),
                     " / ".join(fmt_s(x) for x in ts), cold, fmt_ratio(ratio),
                     "×".join(str(x) for x in v.get("shape", []))])
    out.append(md_table(["tool", "median wall s", "MB/s", "median CPU s", "timed runs (s)", "warm-up (s)",
                         "Shoal speed-up vs this (paired)", "shape"], rows))
    out.append("")
    shoal_b = sh.get("nbytes")
    rows = []
    for t, v in tools.items():
        b = v.get("nbytes")
        ratio = (shoal_b / b) if shoal_b and b and t != "shoal" else None
        rows.append([LABELS[t], fmt_mb(b), fmt_ratio(b / res["file_bytes"] if b else None), fmt_ratio(ratio)])
    out.append(md_table(["tool", "in-memory MB", "vs CSV size", "Shoal bytes / this"], rows))
    out.append("")
    if res["as_df"]:
        sa = res["as_df"].get("shoal", {})
        rows = []
        for k, v in res["as_df"].items():
            ts = v.get("times", [])
            ratio = _paired(ts, sa["times"]) if sa.get("times") and k != "shoal" else None
            rows.append([LABELS[k], fmt_s(median(ts)), fmt_s(median(v.get("cpu", []))),
                         " / ".join(fmt_s(x) for x in ts), fmt_ratio(ratio),
                         "×".join(str(x) for x in v.get("shape", []))])
        out.append(f"as_data_frame → pandas ({res['rows']:,} rows, median of {res['runs']}"
                   f"{' after the same warm-up' if res.get('warmup') else ''}):")
        out.append("")
        out.append(md_table(["tool", "median wall s", "median CPU s", "runs (s)", "Shoal speed-up vs this (paired)",
                             "shape"], rows))
        out.append("")
    g = goals(res)
    if g:
        out.append(md_table(["goal", "measured (ratio of medians; paired median)", "met"], g))
        out.append("")
    out.append("CPU s is user + system time of the client process plus, for H2O-3 and Shoal, the server "
               "process. Speed-ups are medians of per-round ratios (runs are interleaved across tools).")
    out.append("")
    for t, n in res["notes"].items():
        out.append(f"- {LABELS[t]}: {n}")
    for t, e in res["errors"].items():
        out.append(f"- **{t}: {e}**")
    return "\n".join(out) + "\n"


def goals(res: dict) -> list[list[str]]:
    tools = res["tools"]
    sh = tools.get("shoal", {})
    if not sh.get("times"):
        return []
    s = median(sh["times"])
    g = []

    def row(label, ratio, paired, target):
        g.append([label, f"{fmt_ratio(ratio)}; {fmt_ratio(paired)}", "yes" if ratio >= target else "**no**"])

    for tool, label, target in (("h2o", "parse throughput ≥ 2× H2O-3", 2.0),
                                ("pyarrow", "parse throughput ≥ 0.7× pyarrow", 0.7)):
        ts = tools.get(tool, {}).get("times")
        if ts:
            row(label, median(ts) / s, _paired(ts, sh["times"]), target)
    sb = sh.get("nbytes")
    if sb:
        hb = tools.get("h2o", {}).get("nbytes")
        if hb:
            g.append(["memory ≤ H2O-3's compressed size", f"{sb / 1e6:.1f} MB = {sb / hb:.2f}× H2O-3's",
                      "yes" if sb <= hb else "**no**"])
        pb = tools.get("pandas", {}).get("nbytes")
        if pb:
            g.append(["memory ≤ 40 % of pandas", f"{100 * sb / pb:.0f} % of pandas",
                      "yes" if sb <= 0.4 * pb else "**no**"])
    sa = res["as_df"].get("shoal", {}).get("times")
    ha = res["as_df"].get("h2o", {}).get("times")
    if sa and ha:
        row("as_data_frame ≥ 5× faster than H2O-3", median(ha) / median(sa), _paired(ha, sa), 5.0)
    return g


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="CSV import benchmark: Shoal vs H2O-3, pyarrow, polars, pandas.")
    ap.add_argument("--rows", default="1e6", help="rows of generated data (1e6, 1e7, ...)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool; the tables quote medians")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed warm-up parses per tool before the timed runs (shown as 'cold run')")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds of pause after each timed step")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated: " + ",".join(ALL_TOOLS))
    ap.add_argument("--data", default=None, help="use this CSV instead of generating one (made by datagen.py)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-as-df", action="store_true", help="skip the as_data_frame comparison")
    ap.add_argument("--h2o-mem", default="6G", help="H2O-3 max_mem_size")
    ap.add_argument("--shoal-url", default=None, help="use a running Shoal node instead of starting one")
    ap.add_argument("--report", action="store_true", help="append the tables to bench/REPORT.md")
    ap.add_argument("--json", default=None, help="also write the raw results to this JSON file")
    args = ap.parse_args(argv)
    res = run_bench(args)
    text = render(res)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.report:
        append_report(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
