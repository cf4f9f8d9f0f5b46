#!/usr/bin/env bash
# bench/large.sh — the manual large run (never in CI): generates an estate of about N line items
# (default 100 M, seed 42, AWS CUR 2.0 Parquet with the full Data Exports column set), times one
# `costpilot ingest` of it into an empty data dir (wall time, rows/s, peak RSS with GNU time; the
# ingest computes the rollups as it writes), shows the rollups' sizes, and runs `costpilot bench`
# (the fast-analytics suite through the semantic layer, warm, in process, median and p95 of 5).
#
#   bench/large.sh [--rows N] [--dir DIR]
#
# DIR (default ${COSTPILOT_BENCH_DIR:-~/.cache/costpilot/bench}/large) needs about 150 bytes per
# row: 15 GB at 100 M rows. Everything runs on at most 2 cores (taskset when the machine has more).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rows=100000000
dir=${COSTPILOT_BENCH_DIR:-$HOME/.cache/costpilot/bench}/large
while [[ $# -gt 0 ]]; do
  case $1 in
    --rows) rows=${2:?--rows needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/large.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $rows =~ ^[1-9][0-9]*$ ]] || { echo "bench/large.sh: --rows takes a positive integer" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench/large.sh: needs GNU time (apt-get install -y time)" >&2; exit 1; }
pin=()
if [[ $(nproc) -gt 2 ]]; then
  pin=(taskset -c "0,1")
fi

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p costpilot
bin=${CARGO_TARGET_DIR:-$root/target}/release/costpilot
mkdir -p "$dir"
estate=$dir/estate-$rows
if [[ ! -f $estate/truth.json ]]; then
  echo "generating about $rows line items into $estate" >&2
  rm -rf "$estate"
  "${pin[@]}" "$bin" generate --out "$estate" --rows-target "$rows" --seed 42 --format json >"$dir/generate.json"
fi
lake=$dir/lake-$rows
rm -rf "$lake"
echo "ingesting $estate/cur" >&2
/usr/bin/time -v -o "$dir/time.txt" "${pin[@]}" "$bin" --data-dir "$lake" ingest "$estate/cur" --format json >"$dir/ingest.json"
python3 - "$dir/ingest.json" "$dir/time.txt" <<'PY'
import json, re, sys
ingest = json.load(open(sys.argv[1]))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[2]).read()).group(1))
# Line items read per second is the figure the target and bench/run.sh use; the lake holds fewer
# rows (Savings Plan negations fold into their covered rows), counted per second too.
print(f"ingest: {ingest['rows_read']:,} line items in {ingest['seconds']:.1f} s = "
      f"{ingest['rows_read'] / ingest['seconds']:,.0f} line items/s ({ingest['rows_kept']:,} lake rows, "
      f"{ingest['rows_per_second']:,.0f}/s), {ingest['megabytes_per_second']:.0f} MB/s, "
      f"peak RSS {rss / 1e6:.2f} GB")
PY
"$bin" --data-dir "$lake" rollups status
"${pin[@]}" "$bin" --data-dir "$lake" bench --runs 5
