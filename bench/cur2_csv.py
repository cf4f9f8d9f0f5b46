#!/usr/bin/env python3
"""Rewrites a CUR 2.0 Parquet export as the same export in CSV.gz, row for row.

cur2_csv.py SRC DST: every SRC/BILLING_PERIOD=*/NAME.snappy.parquet becomes
DST/BILLING_PERIOD=*/NAME.csv.gz with a header row, the way Data Exports writes CSV: map columns
as JSON objects, timestamps as ISO 8601 in UTC (2025-01-01T00:00:00Z), nulls as empty fields.
Uses DuckDB with 2 threads. Files already converted are kept, so a rerun only finishes the rest.
"""

from __future__ import annotations

import glob
import os
import sys

import duckdb


def select_list(con: duckdb.DuckDBPyConnection, path: str) -> str:
    """Column expressions that render each CUR 2.0 column as Data Exports writes it in CSV."""
    exprs = []
    for name, dtype, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [path]).fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        if dtype.startswith("MAP("):
            exprs.append(f"to_json({quoted}) AS {quoted}")
        elif dtype.startswith("TIMESTAMP"):
            exprs.append(f"strftime({quoted}, '%Y-%m-%dT%H:%M:%SZ') AS {quoted}")
        else:
            exprs.append(quoted)
    return ", ".join(exprs)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: cur2_csv.py SRC DST", file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(src, "BILLING_PERIOD=*", "*.parquet")))
    if not files:
        print(f"cur2_csv.py: no BILLING_PERIOD=*/*.parquet under {src}", file=sys.stderr)
        return 2
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = true")
    for path in files:
        period = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path).removesuffix(".parquet").removesuffix(".snappy")
        out_dir = os.path.join(dst, period)
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, name + ".csv.gz")
        if os.path.exists(out):
            continue
        partial = out + ".partial"
        sql = (
            f"COPY (SELECT {select_list(con, path)} FROM read_parquet(?, hive_partitioning = false)) "
            f"TO '{partial.replace(chr(39), chr(39) * 2)}' (FORMAT csv, HEADER, COMPRESSION gzip)"
        )
        con.execute(sql, [path])
        os.replace(partial, out)
        print(f"{out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
