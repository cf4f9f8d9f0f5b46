#!/usr/bin/env bash
# bench/run.sh — the costpilot benchmark (a benchmark, not a test: CI never runs it).
#
#   bench/run.sh [--rows "1000000 10000000"] [--runs 5] [--no-csv] [--out bench/results.md]
#                [--inputs-only]
#
# For each row count it
#   1. generates an estate of about that many line items with `costpilot generate --rows-target N
#      --seed 42` (AWS CUR 2.0 Parquet with the full Data Exports column set) and the same rows as
#      CSV.gz with bench/cur2_csv.py, cached under ${COSTPILOT_BENCH_DIR:-~/.cache/costpilot/bench}
#      (regenerated only when the generator's sources or the row count change);
#   2. times `costpilot ingest` of the Parquet and of the CSV.gz export into an empty data dir:
#      whole-process wall time, median of --runs runs after one warm-up (hyperfine), and peak RSS
#      of one more run (/usr/bin/time -v);
#   3. times the fast-analytics suite as plain SQL over the raw lake (daily by account, monthly by
#      service, top 50 resources of the last 30 days, cost by team tag, untagged share, hourly by
#      account and service over the last 7 days, month over month by region, instance-hours by
#      type) with `costpilot query` and with DuckDB (Python, 2 threads) over the very Parquet
#      files of costpilot's lake, whole process both, plus DuckDB's in-process query time, and
#      checks that both engines give the same answer.
# It writes a Markdown report (default bench/results.md) with the machine, the method and the
# figures. Everything runs on at most 2 cores (taskset when the machine has more).
# --inputs-only stops after making (or finding) the cached inputs.
# Needs: cargo, python3, and (installed with apt-get when missing and running as root) hyperfine
# and GNU time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=${COSTPILOT_BENCH_DIR:-$HOME/.cache/costpilot/bench}
venv=${COSTPILOT_BENCH_VENV:-$HOME/.cache/costpilot/bench-venv}
sizes="1000000 10000000"
runs=5
with_csv=1
inputs_only=0
out=$root/bench/results.md

while [[ $# -gt 0 ]]; do
  case $1 in
    --rows) sizes=${2:?--rows needs a value}; shift 2 ;;
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    --no-csv) with_csv=0; shift ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --inputs-only) inputs_only=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --runs must be a positive integer" >&2; exit 2; }
for n in $sizes; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --rows takes positive integers, got $n" >&2; exit 2; }
done

say() { printf '\n==== %s\n' "$*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
say "tools"
need_apt=()
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
[[ -x /usr/bin/time ]] || need_apt+=(time)
if [[ ${#need_apt[@]} -gt 0 ]]; then
  [[ $(id -u) == 0 ]] || die "please install: ${need_apt[*]} (apt-get install -y ${need_apt[*]})"
  apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq "${need_apt[@]}" >/dev/null; } ||
    die "apt-get could not install ${need_apt[*]}"
fi
pin=()
if [[ $(nproc) -gt 2 ]]; then
  pin=(taskset -c "0,1")
fi

mkdir -p "$bench_dir"
want=$(sha256sum "$root/bench/requirements.txt" | cut -d' ' -f1)
if [[ $(cat "$venv/.costpilot-requirements" 2>/dev/null || true) != "$want" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/bench/requirements.txt"
  echo "$want" >"$venv/.costpilot-requirements"
fi
py=$venv/bin/python

# ---------------------------------------------------------------------------------------------
# The cached export for N rows: reused only when made by the same generator with the same rows.
ensure_inputs() {
  local n=$1 src=$bench_dir/cur2-$1 csv=$bench_dir/cur2-$1-csv aws=$bench_dir/cur2-$1-aws stamp
  stamp="$(cat "$root"/crates/generate/src/*.rs "$root"/crates/generate/src/*/*.rs | sha256sum | cut -d' ' -f1) rows=$n seed=42"
  if [[ $(cat "$src/.complete" 2>/dev/null || true) != "$stamp" ]]; then
    say "generate about $n line items of CUR 2.0 Parquet"
    rm -rf "$src" "$csv"
    "$bin" generate --out "$src" --rows-target "$n" --seed 42 --format json >"$bench_dir/gen-$n.json"
    "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["rows"])' "$src/truth.json" >"$src/.rows"
    echo "$stamp" >"$src/.complete"
  fi
  if [[ $(cat "$aws/.complete" 2>/dev/null || true) != "$stamp" ]]; then
    say "generate the same $n line items typed as AWS writes them ('' for none)"
    rm -rf "$aws"
    echo '{"empty_text": true}' >"$bench_dir/knobs-aws.json"
    "$bin" generate --out "$aws" --rows-target "$n" --seed 42 --knobs "$bench_dir/knobs-aws.json" --format json >/dev/null
    echo "$stamp" >"$aws/.complete"
  fi
  if [[ $with_csv == 1 && $(cat "$csv/.complete" 2>/dev/null || true) != "$stamp" ]]; then
    say "convert $n rows to CSV.gz"
    "$py" "$root/bench/cur2_csv.py" "$src/cur/costpilot-demo/data" "$csv"
    echo "$stamp" >"$csv/.complete"
  fi
}

# Median seconds of a hyperfine JSON export.
median_of() {
  "$py" -c 'import json, sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$1" "${2:-0}"
}

# Peak RSS in MB of a command, from GNU time's report.
peak_rss_mb() {
  local report=$1
  shift
  "${pin[@]}" /usr/bin/time -v -o "$report" "$@" >/dev/null 2>&1 || { cat "$report" >&2; die "failed: $*"; }
  awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$report"
}

quote() { printf '%q ' "$@"; }

ingest_rows=()
query_rows=()

# Times one ingest of folder $2 (format label $1) into $work/$3; leaves that lake in place.
bench_ingest() {
  local label=$1 src=$2 name=$3 n=$4 files bytes json median rss rows
  files=$(find "$src" -name '*.parquet' -o -name '*.csv.gz' | wc -l)
  bytes=$(find "$src" \( -name '*.parquet' -o -name '*.csv.gz' \) -printf '%s\n' | awk '{ s += $1 } END { print s }')
  json=$work/ingest-$name.json
  say "ingest $label, $n rows: $runs runs after a warm-up"
  hyperfine --warmup 1 --runs "$runs" --style basic --export-json "$json" \
    --prepare "rm -rf $(quote "$work/$name")" \
    "$(quote "${pin[@]}" "$bin" --data-dir "$work/$name" ingest "$src")" >&2
  median=$(median_of "$json")
  rm -rf "$work/$name-rss"
  rss=$(peak_rss_mb "$work/time-$name.txt" "$bin" --data-dir "$work/$name-rss" ingest "$src")
  rm -rf "$work/$name-rss"
  rows=$("$bin" --data-dir "$work/$name" query --sql "SELECT count(*) AS n FROM focus" --format csv | tail -n 1)
  # The lake holds fewer rows than the export has line items (negations fold into their covered
  # rows) and a few more (unused commitments split off): both counts go in the table.
  [[ $rows -gt 0 ]] || die "the lake holds no rows after ingesting $src"
  ingest_rows+=("$(printf '| %s | %s | %s | %d | %.1f | %s | %s | %s | %s |' "$label" \
    "$(group "$n")" "$(group "$rows")" "$files" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$median" \
    "$(group "$(awk -v n="$n" -v s="$median" 'BEGIN { printf "%.0f", n / s }')")" \
    "$(awk -v b="$bytes" -v s="$median" 'BEGIN { printf "%.1f", b / 1e6 / s }')" "$rss")")
}

# 1234567 -> 1,234,567
group() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta' <<<"$1"; }

# The fast-analytics suite as plain SQL over the raw lake, the same text for both engines (the
# normalised-tag queries read the raw `team` tag: DuckDB has no tag rules).
QUERY_NAMES=(
  "daily EffectiveCost by account"
  "monthly EffectiveCost by service"
  "top 50 resources, last 30 days"
  "EffectiveCost by team tag"
  "untagged share"
  "hourly by account x service, last 7 days (first 1,000 rows)"
  "month over month by region"
  "instance-hours by instance type"
)
LAST="(SELECT max(ChargePeriodEnd) FROM focus)"
QUERY_SQL=(
  "SELECT date_trunc('day', ChargePeriodStart) AS day, SubAccountId, BillingCurrency, SUM(EffectiveCost) AS cost FROM focus GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
  "SELECT date_trunc('month', ChargePeriodStart) AS month, ServiceName, BillingCurrency, SUM(EffectiveCost) AS cost FROM focus GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
  "SELECT ResourceId, BillingCurrency, SUM(EffectiveCost) AS cost FROM focus WHERE ResourceId IS NOT NULL AND ChargePeriodStart >= $LAST - INTERVAL '30 days' GROUP BY 1, 2 ORDER BY cost DESC, ResourceId LIMIT 50"
  "SELECT map_extract(Tags, 'team')[1] AS team, BillingCurrency, SUM(EffectiveCost) AS cost FROM focus GROUP BY 1, 2 ORDER BY 1, 2"
  "SELECT BillingCurrency, SUM(CASE WHEN map_extract(Tags, 'team')[1] IS NULL THEN EffectiveCost ELSE 0 END) AS untagged, SUM(EffectiveCost) AS total FROM focus GROUP BY 1 ORDER BY 1"
  "SELECT date_trunc('hour', ChargePeriodStart) AS hour, SubAccountId, ServiceName, BillingCurrency, SUM(EffectiveCost) AS cost FROM focus WHERE ChargePeriodStart >= $LAST - INTERVAL '7 days' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT 1000"
  "SELECT RegionId, BillingCurrency, SUM(CASE WHEN date_trunc('month', ChargePeriodStart) = m.last THEN EffectiveCost ELSE 0 END) AS this_month, SUM(CASE WHEN date_trunc('month', ChargePeriodStart) = m.last - INTERVAL '1 month' THEN EffectiveCost ELSE 0 END) AS previous_month FROM focus CROSS JOIN (SELECT date_trunc('month', max(ChargePeriodStart)) AS last FROM focus) m GROUP BY 1, 2 ORDER BY 1, 2"
  "SELECT x_InstanceType, SUM(ConsumedQuantity) AS hours FROM focus WHERE x_InstanceType IS NOT NULL AND ConsumedUnit = 'Hours' GROUP BY 1 ORDER BY 1"
)

bench_queries() {
  local n=$1 lake=$work/parquet i json cp dd dd_in answer
  for i in "${!QUERY_SQL[@]}"; do
    local sql=${QUERY_SQL[$i]}
    say "query, $n rows: ${QUERY_NAMES[$i]}"
    answer=$work/answer-$i.csv
    "$bin" --data-dir "$lake" query --sql "$sql" --format csv >"$answer"
    "$py" "$root/bench/duckdb_bench.py" check "$lake" "$sql" "$answer" >&2 ||
      die "costpilot and DuckDB disagree on: $sql"
    json=$work/query-$i.json
    hyperfine --warmup 1 --runs "$runs" --style basic --export-json "$json" \
      -n costpilot "$(quote "${pin[@]}" "$bin" --data-dir "$lake" query --sql "$sql" --format csv)" \
      -n duckdb "$(quote "${pin[@]}" "$py" "$root/bench/duckdb_bench.py" run "$lake" "$sql")" >&2
    cp=$(median_of "$json" 0)
    dd=$(median_of "$json" 1)
    dd_in=$("${pin[@]}" "$py" "$root/bench/duckdb_bench.py" time "$lake" "$sql" "$runs")
    query_rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$(group "$n")" "${QUERY_NAMES[$i]}" \
      "$(($(wc -l <"$answer") - 1))" "$cp" "$dd" "$dd_in" \
      "$(awk -v a="$cp" -v b="$dd" 'BEGIN { printf "%.2f", a / b }')")")
  done
}

# The same suite through the semantic layer, warm and in process (`costpilot bench`).
semantic_rows=()
bench_semantic() {
  local n=$1 json=$work/semantic.json
  say "semantic layer, $n rows"
  "${pin[@]}" "$bin" --data-dir "$work/parquet" bench --runs "$runs" --format json >"$json"
  while IFS= read -r line; do
    semantic_rows+=("| $(group "$n") | $line |")
  done < <("$py" -c '
import json, sys
r = json.load(open(sys.argv[1]))
for q in r["queries"]:
    print("{} | {} | {:.1f} | {:.1f} | {} of {} | {:.0f}".format(q["name"], q["rows"], q["p50_ms"], q["p95_ms"], r["rollup_hits"], len(r["queries"]), r["peak_rss_bytes"] / 1e6))
' "$json")
}

say "build costpilot (release)"
(cd "$root" && cargo build --release --bin costpilot)
bin=${CARGO_TARGET_DIR:-$root/target}/release/costpilot
[[ -x $bin ]] || die "no binary at $bin"

for n in $sizes; do
  ensure_inputs "$n"
done
[[ $inputs_only == 0 ]] || exit 0

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $sizes; do
  work=$bench_dir/work-$n
  mkdir -p "$work"
  rows=$(cat "$bench_dir/cur2-$n/.rows")
  bench_ingest "CUR 2.0 Parquet" "$bench_dir/cur2-$n/cur" parquet "$rows"
  bench_ingest "CUR 2.0 Parquet, '' for none" "$bench_dir/cur2-$n-aws/cur" aws "$rows"
  rm -rf "$work/aws"
  if [[ $with_csv == 1 ]]; then
    bench_ingest "CUR 2.0 CSV.gz" "$bench_dir/cur2-$n-csv" csv "$rows"
    rm -rf "$work/csv"
  fi
  bench_queries "$rows"
  bench_semantic "$rows"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
say "write $out"
columns=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["columns"])' "$bench_dir/cur2-${sizes%% *}/truth.json")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || commit="$commit (with local changes)"
{
  echo "# costpilot benchmark"
  echo
  echo "Made by \`bench/run.sh\` on $(date -u +%Y-%m-%d) at commit $commit."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')$(lscpu | sed -n 's/^Hypervisor vendor: */, guest of /p')); $(nproc) cores available, benchmarks limited to 2"
  echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); OS: $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), kernel $(uname -r)"
  echo "- $(rustc --version), release profile; $(hyperfine --version); DuckDB $("$py" -c 'import duckdb; print(duckdb.__version__)') (Python $("$py" -c 'import platform; print(platform.python_version())'))"
  echo "- load average before / after: $load_before / $load_after"
  echo
  echo "## Method"
  echo
  echo "- Input: \`costpilot generate --rows-target N --seed 42\` (docs/generator.md): the default estate of"
  echo "  120 accounts over 90 days (three billing periods, a USD and a EUR payer) as AWS CUR 2.0 Data Exports"
  echo "  Parquet with $columns columns (the flat ones and the product, resource_tags and cost_category maps; the EDP"
  echo "  discount as EdpDiscount lines, so no discount map, as AWS writes it with manual discount compatibility),"
  echo "  every line item type the generator writes, snappy files of at most 1,000,000 rows under"
  echo "  \`BILLING_PERIOD=YYYY-MM/\`, with their Data Exports manifests. CSV.gz: the same rows written by DuckDB"
  echo "  (\`bench/cur2_csv.py\`). \"'' for none\": the same estate generated with the knob \`empty_text\`, so every"
  echo "  text column (the text-typed rates and reservation units included) holds '' where a line item has no"
  echo "  value, as AWS Data Exports write it."
  echo "- Every figure is whole-process wall time (the \`costpilot\` binary from start to exit), the median of"
  echo "  $runs runs after one warm-up run, measured with hyperfine; inputs are in the page cache. Ingest runs start"
  echo "  from an empty data dir each time. MB are 10^6 bytes of input files. Peak RSS is GNU time's maximum"
  echo "  resident set size of one further ingest."
  echo "- Queries: the same SQL text through \`costpilot query --format csv\` and through DuckDB (Python, 2"
  echo "  threads) over the very Parquet files of costpilot's lake, exposed as a view \`focus\`. Both answers are"
  echo "  checked equal before timing. \"DuckDB whole process\" includes starting Python and importing duckdb;"
  echo "  \"DuckDB in process\" is the query alone (median of $runs after a warm-up)."
  echo
  echo "## Ingest"
  echo
  echo "| input | rows in | rows in lake | files | input MB | median s | rows in/s | MB/s | peak RSS MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ingest_rows[@]}"
  echo
  echo "## SQL over the lake vs DuckDB over the same Parquet"
  echo
  echo "| rows | query | groups | costpilot s | DuckDB whole process s | DuckDB in process s | costpilot / DuckDB whole |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${query_rows[@]}"
  echo
  echo "## The suite through the semantic layer (warm, in process)"
  echo
  echo "\`costpilot bench --runs $runs\`: each request once to warm up, then $runs timed runs in one process;"
  echo "p50 and p95 by nearest rank. Ingest computes the rollups, so every request of the suite reads one."
  echo
  echo "| rows | request | rows out | p50 ms | p95 ms | rollup hits | peak RSS MB |"
  echo "|---:|---|---:|---:|---:|---|---:|"
  printf '%s\n' "${semantic_rows[@]}"
  echo
  echo "Queries:"
  echo
  for i in "${!QUERY_SQL[@]}"; do
    echo "- ${QUERY_NAMES[$i]}: \`${QUERY_SQL[$i]}\`"
  done
} >"$out"
cat "$out"
