#!/usr/bin/env python3
"""DuckDB side of the query benchmark: the same SQL over the same Parquet files as costpilot.

The lake's live Parquet files (those DATA_DIR/lake/manifest.json lists) are exposed to DuckDB as a view named
`focus`, so the SQL text run by costpilot runs unchanged here. DuckDB uses 2 threads, UTC.

  duckdb_bench.py run DATA_DIR SQL          run once, print the rows as CSV (timed from outside)
  duckdb_bench.py time DATA_DIR SQL RUNS    one warm-up, then RUNS timed runs in process; prints
                                            the median seconds
  duckdb_bench.py check DATA_DIR SQL CSV    compare DuckDB's answer with costpilot's CSV output:
                                            same groups, sums equal to 1e-6; exit 1 if not
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
import time

import duckdb


def live_files(data_dir: str) -> list[str]:
    """The Parquet files of the lake's current version, as its manifest lists them."""
    root = os.path.join(data_dir, "lake")
    manifest_path = os.path.join(root, "manifest.json")
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except OSError as e:
        sys.exit(f"duckdb_bench.py: cannot read the lake manifest {manifest_path}: {e}")
    files = [os.path.join(root, *entry["path"].split("/")) for unit in manifest.get("units", [])
             for entry in unit.get("files", [])]
    if not files:
        sys.exit(f"duckdb_bench.py: the lake under {root} holds no data files")
    return sorted(files)


def connect(data_dir: str) -> duckdb.DuckDBPyConnection:
    files = live_files(data_dir)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW focus AS SELECT * FROM read_parquet([{listed}], hive_partitioning = false)")
    return con


def normalise(value: str) -> str:
    """A cell as both engines can agree on it: numbers to 6 decimals, timestamps to the second."""
    text = value.strip()
    try:
        return f"{float(text):.6f}"
    except ValueError:
        pass
    if len(text) >= 19 and text[4] == "-" and text[10] in " T":
        return text[:10] + "T" + text[11:19]
    return text


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    mode, data_dir, sql = sys.argv[1], sys.argv[2], sys.argv[3]
    con = connect(data_dir)
    if mode == "run":
        writer = csv.writer(sys.stdout)
        for row in con.execute(sql).fetchall():
            writer.writerow(row)
        return 0
    if mode == "time":
        runs = int(sys.argv[4])
        con.execute(sql).fetchall()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            times.append(time.perf_counter() - started)
        print(f"{statistics.median(times):.4f}")
        return 0
    if mode == "check":
        with open(sys.argv[4], newline="") as handle:
            theirs = [[normalise(c) for c in row] for row in csv.reader(handle)]
        # A NULL is an empty cell in costpilot's CSV.
        ours = [[normalise("" if c is None else str(c)) for c in row] for row in con.execute(sql).fetchall()]
        if theirs and ours and len(theirs) == len(ours) + 1:
            theirs = theirs[1:]  # costpilot's CSV has a header row
        if sorted(theirs) != sorted(ours):
            print(f"duckdb_bench.py: answers differ ({len(theirs)} rows from costpilot, {len(ours)} from DuckDB)",
                  file=sys.stderr)
            for a, b in list(zip(sorted(theirs), sorted(ours)))[:5]:
                print(f"  costpilot {a}\n  duckdb    {b}", file=sys.stderr)
            return 1
        print(f"same answer: {len(ours)} rows")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
