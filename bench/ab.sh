#!/usr/bin/env bash
# bench/ab.sh A B [ROWS...] — interleaved A/B comparison of two costpilot binaries (a change
# against its parent), on the cached inputs of bench/run.sh (run `bench/run.sh --inputs-only`
# first). For each row count: ingest of the CUR 2.0 Parquet estate into an empty data directory,
# alternating A and B (RUNS, default 5, each), whole-process wall time; then `costpilot bench`
# (the semantic-layer suite, warm, in process) on each binary's own lake, alternating again.
# Prints medians per binary and the B/A ratio. Alternating runs share the machine's drift (other
# load, thermal state) instead of giving it all to one side.
set -euo pipefail
a=$(realpath "$1")
b=$(realpath "$2")
shift 2
sizes=${*:-1000000}
runs=${RUNS:-5}
bench_dir=${COSTPILOT_BENCH_DIR:-$HOME/.cache/costpilot/bench}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pin=()
if [[ $(nproc) -gt 2 ]]; then pin=(taskset -c 0,1); fi

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

for n in $sizes; do
  input=$bench_dir/cur2-$n/cur
  [[ -d $input ]] || { echo "no cached input $input: run bench/run.sh --inputs-only --rows $n" >&2; exit 1; }
  : >"$scratch/a.ingest"
  : >"$scratch/b.ingest"
  for ((i = 0; i < runs; i++)); do
    for side in a b; do
      bin=$a
      [[ $side == b ]] && bin=$b
      rm -rf "$scratch/$side-lake"
      start=$(date +%s.%N)
      "${pin[@]}" "$bin" --data-dir "$scratch/$side-lake" ingest "$input" --format json >/dev/null
      end=$(date +%s.%N)
      echo "$end - $start" | bc >>"$scratch/$side.ingest"
    done
  done
  : >"$scratch/a.semantic"
  : >"$scratch/b.semantic"
  for ((i = 0; i < 2; i++)); do
    for side in a b; do
      bin=$a
      [[ $side == b ]] && bin=$b
      "${pin[@]}" "$bin" --data-dir "$scratch/$side-lake" bench --runs "$runs" --format json |
        python3 -c 'import json, sys; print(sum(q["p50_ms"] for q in json.load(sys.stdin)["queries"]))' \
          >>"$scratch/$side.semantic"
    done
  done
  ia=$(median <"$scratch/a.ingest")
  ib=$(median <"$scratch/b.ingest")
  sa=$(median <"$scratch/a.semantic")
  sb=$(median <"$scratch/b.semantic")
  printf '%s rows: ingest median A %.3f s, B %.3f s (B/A %.3f); semantic suite Σ p50 A %.1f ms, B %.1f ms (B/A %.3f)\n' \
    "$n" "$ia" "$ib" "$(echo "$ib / $ia" | bc -l)" "$sa" "$sb" "$(echo "$sb / $sa" | bc -l)"
  echo "  ingest A: $(tr '\n' ' ' <"$scratch/a.ingest")"
  echo "  ingest B: $(tr '\n' ' ' <"$scratch/b.ingest")"
done
