"""Airline-like CSV generator for the benchmarks, from a seed.

The file looks like the classic airline on-time data that H2O-3 benchmarks use:

| column        | kind        | values                                            |
|---------------|-------------|---------------------------------------------------|
| Year          | small int   | 1987..2008                                        |
| Month         | small int   | 1..12                                             |
| DayofMonth    | small int   | 1..31                                             |
| DayOfWeek     | small int   | 1..7                                              |
| DepTime       | wider int   | hhmm, 1..2359                                     |
| ArrTime       | wider int   | hhmm, 1..2359                                     |
| Distance      | wider int   | 31..4962 miles                                    |
| DepDelay      | decimal     | minutes with one decimal, -30.0..900.0, skewed    |
| UniqueCarrier | categorical | 20 two-letter codes                               |
| Origin        | categorical | 300 three-letter airport codes (Zipf-like)        |
| Dest          | categorical | the same 300 codes                                |
| TailNum       | categorical | 4000 tail numbers like N123AB                     |
| IsDepDelayed  | categorical | YES / NO                                          |
| Cancelled     | flag        | 0 / 1 (about 2 % ones)                            |

8 numeric columns, 5 categorical columns and one 0/1 flag: 14 columns. About 2 % of the cells of
every column are missing (empty fields), independently per column. Rows are produced in blocks of
`BLOCK` rows; block *b* draws from `numpy.random.default_rng([seed, b])`, so the same seed and row
count always give the same bytes.

    python bench/datagen.py --rows 1000000 --seed 42 --out /tmp/airline_1e6.csv
"""
from __future__ import annotations

import argparse
import os
import string
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["generate", "COLUMNS", "NUMERIC", "CATEGORICAL", "FLAGS"]

BLOCK = 1_000_000
MISSING_RATE = 0.02

NUMERIC = ["Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "ArrTime", "Distance", "DepDelay"]
CATEGORICAL = ["UniqueCarrier", "Origin", "Dest", "TailNum", "IsDepDelayed"]
FLAGS = ["Cancelled"]
COLUMNS = NUMERIC[:6] + ["UniqueCarrier"] + ["Origin", "Dest", "TailNum"] + NUMERIC[6:] + ["IsDepDelayed"] + FLAGS


def _levels(seed: int) -> dict[str, np.ndarray]:
    """The categorical domains, fixed by the seed (independent of the row count)."""
    rng = np.random.default_rng([seed, 10**9])
    upper = np.array(list(string.ascii_uppercase))

    def codes(n: int, width: int, alphabet: np.ndarray) -> np.ndarray:
        seen: set[str] = set()
        out: list[str] = []
        while len(out) < n:
            s = "".join(rng.choice(alphabet, width))
            if s not in seen:
                seen.add(s)
                out.append(s)
        return np.array(out, dtype=object)

    alnum = np.array(list(string.ascii_uppercase + string.digits))
    airports = codes(300, 3, upper)
    carriers = codes(20, 2, alnum)
    tails: list[str] = []
    seen: set[str] = set()
    while len(tails) < 4000:
        t = "N%d%s" % (rng.integers(10, 9999), "".join(rng.choice(upper, 2)))
        if t not in seen:
            seen.add(t)
            tails.append(t)
    return {
        "UniqueCarrier": carriers,
        "Origin": airports,
        "Dest": airports,
        "TailNum": np.array(tails, dtype=object),
        "IsDepDelayed": np.array(["NO", "YES"], dtype=object),
    }


def _zipf_p(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _block(seed: int, b: int, n: int, levels: dict[str, np.ndarray]) -> pa.Table:
    """Rows of block b as an Arrow table (missing values are nulls, written as empty fields)."""
    rng = np.random.default_rng([seed, b])
    cols: dict[str, pa.Array] = {}

    def hhmm(minutes: np.ndarray) -> np.ndarray:
        minutes = np.clip(minutes, 1, 1439)
        return (minutes // 60) * 100 + minutes % 60

    dep_min = rng.normal(800, 240, n).astype(np.int64)
    distance = np.clip(rng.lognormal(6.4, 0.65, n), 31, 4962).astype(np.int64)
    # + 0.0 turns the -0.0 that rounding makes of small negatives into 0.0 (no "-0" in the file)
    dep_delay = np.round(np.clip(rng.gamma(0.7, 18.0, n) - 9.0, -30.0, 900.0), 1) + 0.0
    arr_min = dep_min + (distance // 8 + 30) + np.round(dep_delay).astype(np.int64)
    ints = {
        "Year": rng.integers(1987, 2009, n),
        "Month": rng.integers(1, 13, n),
        "DayofMonth": rng.integers(1, 32, n),
        "DayOfWeek": rng.integers(1, 8, n),
        "DepTime": hhmm(dep_min),
        "ArrTime": hhmm(arr_min % 1440),
        "Distance": distance,
        "Cancelled": (rng.random(n) < 0.02).astype(np.int64),
    }
    codes = {
        "UniqueCarrier": rng.choice(20, n, p=_zipf_p(20, 0.8)),
        "Origin": rng.choice(300, n, p=_zipf_p(300, 1.0)),
        "Dest": rng.choice(300, n, p=_zipf_p(300, 1.0)),
        "TailNum": rng.integers(0, 4000, n),
        "IsDepDelayed": (dep_delay > 0).astype(np.int64),
    }
    for name in COLUMNS:
        miss = rng.random(n) < MISSING_RATE
        if name in ints:
            cols[name] = pa.array(ints[name], type=pa.int64(), mask=miss)
        elif name == "DepDelay":
            cols[name] = pa.array(dep_delay, type=pa.float64(), mask=miss)
        else:
            dom = pa.array(levels[name].tolist(), type=pa.string())
            idx = pa.array(codes[name].astype(np.int32), type=pa.int32(), mask=miss)
            cols[name] = pa.DictionaryArray.from_arrays(idx, dom).cast(pa.string())
    return pa.table(cols)


def generate(rows: int, path: str | None = None, seed: int = 42, verbose: bool = False) -> str:
    """Write `rows` airline-like rows to `path` (default: a new temporary directory); return the path."""
    if path is None:
        path = os.path.join(tempfile.mkdtemp(prefix="shoal_bench_"), f"airline_{rows}_{seed}.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    levels = _levels(seed)
    t0 = time.perf_counter()
    tmp = path + ".part"
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    writer = None
    sink = None
    try:
        # the header is written by hand: Arrow quotes header names whatever the quoting style
        sink = pa.OSFile(tmp, "wb")
        sink.write((",".join(COLUMNS) + "\n").encode())
        done = 0
        b = 0
        while done < rows:
            n = min(BLOCK, rows - done)
            table = _block(seed, b, n, levels)
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema, write_options=opts)
            writer.write_table(table)
            done += n
            b += 1
            if verbose:
                print(f"  {done:,} rows", file=sys.stderr)
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
    os.replace(tmp, path)
    if verbose:
        size = os.path.getsize(path)
        print(f"wrote {path}: {rows:,} rows, {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e6, help="number of rows (1e6, 1e7, ...)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="output CSV path (default: a new temporary directory)")
    args = ap.parse_args(argv)
    path = generate(int(args.rows), args.out, args.seed, verbose=True)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
