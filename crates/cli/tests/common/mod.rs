//! Helpers shared by the CLI's end-to-end tests: run the real binary, hash folders, and call the
//! independent Python side (DuckDB, pyarrow) that expected values come from.

#![allow(dead_code)]

use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock, PoisonError};

use costpilot_model::money::parse_decimal;
use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A test data file under `crates/ingest/testdata`.
pub fn testdata(rel: &str) -> PathBuf {
    repo_root().join("crates/ingest/testdata").join(rel)
}

/// Runs `costpilot --data-dir DIR ARGS...`.
pub fn costpilot(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costpilot"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run costpilot")
}

/// Runs costpilot with extra environment variables.
pub fn costpilot_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costpilot"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run costpilot")
}

/// Runs costpilot and returns stdout, failing the test with stderr if it failed.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = costpilot(data_dir, args);
    assert!(
        out.status.success(),
        "costpilot {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs costpilot with `--format json` appended and parses stdout.
pub fn json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&ok(data_dir, &all)).expect("JSON output")
}

/// SHA-256 of every file under `dir`, by relative path: equal maps mean byte-for-byte equal trees.
pub fn hash_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read file");
                let rel = p.strip_prefix(dir).expect("under dir").display().to_string();
                out.insert(rel, hex::encode(Sha256::digest(&bytes)));
            }
        }
    }
    out
}

/// The Python interpreter with pyarrow and duckdb that scripts/test sets up.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("COSTPILOT_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let fallback = PathBuf::from(home).join(".cache/costpilot/venv/bin/python");
    assert!(
        fallback.exists(),
        "no Python with pyarrow and duckdb: run scripts/test (it sets COSTPILOT_PYTHON)"
    );
    fallback
}

/// Runs a DuckDB query in Python and returns its rows as JSON values (decimals as text).
pub fn duckdb(sql: &str) -> Vec<Vec<serde_json::Value>> {
    let script = r#"
import duckdb, json, sys, decimal
con = duckdb.connect()
# A slow query would otherwise draw a progress bar on stdout, in the middle of the JSON.
con.execute("SET enable_progress_bar = false")
rows = con.execute(sys.argv[1]).fetchall()
def enc(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v
print(json.dumps([[enc(v) for v in r] for r in rows], default=str))
"#;
    let out = Command::new(python()).arg("-c").arg(script).arg(sql).output().expect("run python");
    assert!(out.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

/// An amount's exact decimal text in units of 10^-15.
pub fn units(text: &str) -> i128 {
    parse_decimal(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Asserts two decimal texts are equal to 10^-6 (far below a cent). The lake keeps 15 decimals
/// of amounts CUR Parquet stores as doubles; DuckDB and truth.json keep ten.
pub fn assert_amount(what: &str, got: &serde_json::Value, want: &str) {
    let got = got.as_str().unwrap_or_else(|| panic!("{what}: not an amount: {got}"));
    let diff = (units(got) - units(want)).abs();
    assert!(diff <= 1_000_000_000, "{what}: {got} ≠ {want}");
}

/// A CUR amount column as an exact decimal (doubles in the file carry ten decimals).
pub fn d(column: &str) -> String {
    format!("coalesce(CAST({column} AS DECIMAL(38, 10)), 0)")
}

/// EffectiveCost of a CUR 2.0 row, as docs/mapping.md defines it.
pub fn effective_cost() -> String {
    format!(
        "CASE \
           WHEN line_item_line_item_type = 'DiscountedUsage' THEN {} \
           WHEN line_item_line_item_type = 'SavingsPlanCoveredUsage' THEN {} \
           WHEN line_item_line_item_type IN ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') THEN 0 \
           WHEN line_item_line_item_type = 'SavingsPlanRecurringFee' THEN {} - {} \
           WHEN line_item_line_item_type = 'RIFee' THEN {} + {} \
           WHEN line_item_line_item_type = 'Fee' AND (coalesce(reservation_reservation_a_r_n, '') <> '' \
             OR coalesce(savings_plan_savings_plan_a_r_n, '') <> '') THEN 0 \
           ELSE {} END",
        d("reservation_effective_cost"),
        d("savings_plan_savings_plan_effective_cost"),
        d("savings_plan_total_commitment_to_date"),
        d("savings_plan_used_commitment"),
        d("reservation_unused_amortized_upfront_fee_for_billing_period"),
        d("reservation_unused_recurring_fee"),
        d("line_item_unblended_cost"),
    )
}

/// The rows a set of CUR 2.0 line items gives in the lake, as an aggregate over them: Savings
/// Plan negations fold into their covered rows, and a RIFee or Savings Plan recurring fee with an
/// unused commitment gives a second (Unused) row (docs/mapping.md).
pub fn lake_rows() -> String {
    let t = "line_item_line_item_type";
    format!(
        "(count(*) - count(*) FILTER (WHERE {t} = 'SavingsPlanNegation') \
          + count(*) FILTER (WHERE ({t} = 'RIFee' AND coalesce(reservation_reservation_a_r_n, '') <> '' \
              AND {} + {} <> 0) \
            OR ({t} = 'SavingsPlanRecurringFee' AND coalesce(savings_plan_savings_plan_a_r_n, '') <> '' \
              AND {} - {} <> 0)))",
        d("reservation_unused_amortized_upfront_fee_for_billing_period"),
        d("reservation_unused_recurring_fee"),
        d("savings_plan_total_commitment_to_date"),
        d("savings_plan_used_commitment"),
    )
}

/// Generates an estate with the generator's `options` (`--accounts`, `--seed`, ...) into `estate`
/// and ingests its bill into the lake at `lake`.
pub fn generate_and_ingest(estate: &Path, lake: &Path, options: &[&str]) {
    let mut args = vec!["generate", "--out", estate.to_str().expect("UTF-8 path")];
    args.extend(options);
    ok(lake, &args);
    ok(lake, &["ingest", estate.join("cur").to_str().expect("UTF-8 path")]);
}

/// Puts the shipped tag and allocation rules (`examples/rules/`) and the estate's CMDB in force in
/// the lake at `lake`.
pub fn apply_shipped_rules(estate: &Path, lake: &Path) {
    let examples = repo_root().join("examples/rules");
    for (kind, file) in [
        ("tags", examples.join("tags.yaml")),
        ("cmdb", estate.join("cmdb.csv")),
        ("allocation", examples.join("allocation.yaml")),
    ] {
        ok(lake, &["rules", "apply", kind, file.to_str().expect("UTF-8 path")]);
    }
}

/// What `make` returns, made once per test binary and `key` and shared by the binary's tests (they
/// run as threads of one process), with a folder of its own that `make` fills.
///
/// The folder is `CARGO_TARGET_TMPDIR/<test binary>/<key>`, emptied before `make` runs, rather
/// than a temporary folder: a static is never dropped, so a `TempDir` held by one would never be
/// removed, and every run would leave its estates behind.
pub fn shared<T: Send + Sync + 'static>(key: &str, make: impl FnOnce(&Path) -> T) -> &'static T {
    type Cell = OnceLock<Box<dyn Any + Send + Sync>>;
    static CELLS: Mutex<BTreeMap<String, &'static Cell>> = Mutex::new(BTreeMap::new());
    // The map is locked only to find the key's cell, so that making one value (an estate) may
    // ask for another (the lake of an estate asks for the estate).
    let cell: &'static Cell = CELLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.to_string())
        .or_insert_with(|| Box::leak(Box::default()));
    let value = cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_CRATE_NAME")).join(key);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Box::new(make(&dir))
    });
    value.downcast_ref().unwrap_or_else(|| panic!("{key} is shared as another type"))
}

/// The rules in force in the lake of a shared [`Estate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// None: the bill as ingested.
    Bare,
    /// The shipped tag and allocation rules and the estate's CMDB ([`apply_shipped_rules`]).
    Shipped,
}

/// A generated estate whose bill is ingested into a lake, shared by the tests of one test binary.
pub struct Estate {
    /// The folder the generator wrote: the bill and its side files (`truth.json`, `cmdb.csv`, ...).
    pub estate: PathBuf,
    /// The data directory (`--data-dir`) the bill is ingested into.
    pub lake: PathBuf,
    /// A folder of this lake's for the files a test writes.
    pub dir: PathBuf,
}

/// The estate the generator writes with `options` (`--accounts`, `--seed`, ...), its bill ingested
/// into a lake with `rules` in force. The estate is generated once per test binary and `options`,
/// the lake made once per `options` and `rules`: lakes with different rules share one estate.
pub fn estate(options: &[&str], rules: Rules) -> &'static Estate {
    let name: Vec<&str> = options
        .iter()
        .flat_map(|o| o.split(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let name = name.join("-");
    let generated: &'static PathBuf = shared(&name, |dir| {
        let out = dir.join("estate");
        let mut args = vec!["generate", "--out", out.to_str().expect("UTF-8 path")];
        args.extend(options);
        ok(dir, &args);
        out
    });
    let key = match rules {
        Rules::Bare => format!("{name}-bare"),
        Rules::Shipped => format!("{name}-shipped-rules"),
    };
    shared(&key, |dir| {
        let lake = dir.join("lake");
        ok(&lake, &["ingest", generated.join("cur").to_str().expect("UTF-8 path")]);
        if rules == Rules::Shipped {
            apply_shipped_rules(generated, &lake);
        }
        Estate { estate: generated.clone(), lake, dir: dir.to_path_buf() }
    })
}

/// Generator options for 120 accounts over all of January 2025 and nine days of February (one
/// invoiced period and one open), about 300,000 line items, with `seed`.
pub fn two_periods(seed: &'static str) -> [&'static str; 10] {
    ["--accounts", "120", "--days", "40", "--start", "2025-01-01", "--rows-target", "300000", "--seed", seed]
}

/// A JSON value that must be text, as a String.
pub fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not text: {v}")).to_string()
}

/// The Parquet files under `dir`, sorted by path.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// CSV text parsed by Python's `csv` module, as a spreadsheet or a BI tool would read it: rows of
/// cells, quotes and doubled quotes resolved (the bytes are decoded as they are, so a carriage
/// return in a cell stays one).
pub fn python_csv(text: &str) -> Vec<Vec<String>> {
    use std::io::Write as _;
    let script = "import csv, io, json, sys\n\
                  print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.buffer.read().decode(), newline='')))))";
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write CSV to python");
    let out = child.wait_with_output().expect("python output");
    assert!(out.status.success(), "python csv failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

/// A CSV cell as a CSV writer writes it: quoted, quotes doubled, when it needs quoting.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
