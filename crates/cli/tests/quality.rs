//! End to end over data quality and allocation on a generated estate: with the shipped rules and
//! the estate's CMDB, the unallocated cost is exactly what the generator's truth says has no owner
//! and what DuckDB computes over the raw CUR; the report's coverage and rule hits match DuckDB;
//! `--explain` shows the chain of rules; allocations sum to the cent; suggestions carry the cost
//! they allocate; bad rules files are refused with line and column and change nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

struct Fixture {
    /// The generated estate.
    estate: PathBuf,
    /// A lake of the estate with the shipped rules and the estate's CMDB in force.
    ruled: PathBuf,
    /// A lake of the same estate with no rules.
    bare: PathBuf,
}

/// One estate for every test here, ingested twice (with and without rules).
fn fixture() -> Fixture {
    // Shared accounts and a CMDB resource entry exist at 120 accounts; seed 23 was not used to
    // tune the generator.
    let ruled = estate(&two_periods("23"), Rules::Shipped);
    let bare = estate(&two_periods("23"), Rules::Bare);
    Fixture { estate: ruled.estate.clone(), ruled: ruled.lake.clone(), bare: bare.lake.clone() }
}

/// The raw CUR rows as a DuckDB subquery: currency, period, account, resource, service,
/// EffectiveCost, whether a team tag (any spelling, as the shipped rules alias them) has a value,
/// whether a tag spelled `team` in any case has one (what no rules at all see), whether the
/// `owner-team` spelling has one, and whether the CMDB lists the account or the resource.
/// The raw CUR rows as the lake holds them: a Savings Plan negation folds into its covered row
/// (its EffectiveCost is 0, so no sum changes; its tags would count the row twice).
fn raw(estate: &Path) -> String {
    let cmdb = format!("read_csv('{}/cmdb.csv', all_varchar = true)", estate.display());
    let has = |keys: &str| {
        format!(
            "coalesce(len(list_filter(map_entries(resource_tags), lambda e: \
               lower(e.key) IN ({keys}) AND trim(coalesce(e.value, '')) <> '')), 0) > 0"
        )
    };
    format!(
        "(SELECT line_item_currency_code AS currency, \
           strftime(bill_billing_period_start_date AT TIME ZONE 'UTC', '%Y-%m') AS period, \
           line_item_usage_account_id AS account, coalesce(line_item_resource_id, '') AS resource, \
           product['servicename'] AS service, {} AS effective, \
           {} AS team_tag, {} AS exact_team_tag, {} AS owner_team_tag, \
           line_item_usage_account_id IN (SELECT id FROM {cmdb} WHERE kind = 'account') AS cmdb_account, \
           coalesce(line_item_resource_id, '') IN (SELECT id FROM {cmdb} WHERE kind = 'resource') AS cmdb_resource \
         FROM read_parquet('{}/cur/*/data/*/*.parquet') \
         WHERE line_item_line_item_type <> 'SavingsPlanNegation')",
        effective_cost(),
        has("'user_team', 'user_owner-team'"),
        has("'user_team'"),
        has("'user_owner-team'"),
        estate.display()
    )
}

fn truth(estate: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(estate.join("truth.json")).unwrap()).unwrap()
}

/// Per currency, the `effective_cost` of a list of shares or amounts.
fn by_currency(list: &Value, field: &str) -> BTreeMap<String, String> {
    list.as_array().unwrap().iter().map(|s| (text(&s["currency"]), text(&s[field]))).collect()
}

#[test]
fn the_shipped_rules_leave_unallocated_exactly_the_cost_without_an_owner() {
    let f = fixture();
    let report = json(&f.ruled, &["quality"]);
    assert_eq!(report["owner_dimension"], "team");
    let truth = truth(&f.estate);
    let unowned = by_currency(&truth["unowned"], "effective_cost");
    let unallocated = by_currency(&report["unallocated"], "effective_cost");
    assert_eq!(unallocated.keys().collect::<Vec<_>>(), unowned.keys().collect::<Vec<_>>());
    for (currency, want) in &unowned {
        assert_amount(
            &format!("{currency} unallocated vs truth"),
            &Value::String(unallocated[currency].clone()),
            want,
        );
    }
    // DuckDB over the raw files: no team tag, and the CMDB lists neither account nor resource.
    let duck = duckdb(&format!(
        "SELECT currency, \
           sum(CASE WHEN team_tag OR cmdb_account OR cmdb_resource THEN 0 ELSE effective END)::VARCHAR, \
           sum(CASE WHEN exact_team_tag THEN 0 ELSE effective END)::VARCHAR, sum(effective)::VARCHAR \
         FROM {} GROUP BY 1 ORDER BY 1",
        raw(&f.estate)
    ));
    let without = by_currency(&report["unallocated_without_rules"], "effective_cost");
    for r in &duck {
        let currency = text(&r[0]);
        assert_amount(
            &format!("{currency} unallocated vs DuckDB"),
            &Value::String(unallocated[&currency].clone()),
            &text(&r[1]),
        );
        assert_amount(
            &format!("{currency} without rules"),
            &Value::String(without[&currency].clone()),
            &text(&r[2]),
        );
        let share = units(&text(&r[1])) as f64 / units(&text(&r[3])) as f64;
        let before = units(&text(&r[2])) as f64 / units(&text(&r[3])) as f64;
        assert!(share < before, "{currency}: the rules allocate nothing ({before} → {share})");
    }
    // The untagged ~20 % of resources falls to what truly has no owner.
    let usd = report["unallocated"].as_array().unwrap().iter().find(|s| s["currency"] == "USD").unwrap();
    let usd_without = report["unallocated_without_rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["currency"] == "USD")
        .unwrap();
    assert!(usd_without["share"].as_f64().unwrap() > 0.15, "{usd_without}");
    assert!(usd["share"].as_f64().unwrap() < 0.12, "{usd}");

    // The view: x_team per currency is the truth's cost per team, to the cent.
    let rows = json(
        &f.ruled,
        &[
            "query",
            "--sql",
            "SELECT BillingCurrency AS c, x_team AS t, CAST(sum(EffectiveCost) AS VARCHAR) AS e FROM focus GROUP BY 1, 2",
        ],
    );
    let got: BTreeMap<(String, Option<String>), String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ((text(&r["c"]), r["t"].as_str().map(str::to_string)), text(&r["e"])))
        .collect();
    let want: BTreeMap<(String, Option<String>), String> = truth["by_team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| ((text(&t["currency"]), t["team"].as_str().map(str::to_string)), text(&t["effective_cost"])))
        .collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (key, w) in &want {
        assert_amount(&format!("{key:?}"), &Value::String(got[key].clone()), w);
    }
}

#[test]
fn coverage_periods_and_rule_hits_match_duckdb() {
    let f = fixture();
    let report = json(&f.ruled, &["quality"]);
    let duck = duckdb(&format!(
        "SELECT currency, sum(CASE WHEN team_tag THEN effective ELSE 0 END)::VARCHAR, sum(effective)::VARCHAR, \
           count(*) FILTER (WHERE owner_team_tag), count(DISTINCT resource) FILTER (WHERE resource <> ''), \
           count(DISTINCT resource) FILTER (WHERE resource <> '' AND team_tag) \
         FROM {} GROUP BY 1 ORDER BY 1",
        raw(&f.estate)
    ));
    let team = report["tag_coverage"].as_array().unwrap().iter().find(|k| k["key"] == "team").unwrap();
    assert_eq!(team["spellings"], serde_json::json!(["Team", "owner-team", "team"]));
    let cost = by_currency(&team["cost"], "effective_cost");
    let mut owner_team_rows = 0;
    for r in &duck {
        let currency = text(&r[0]);
        assert_amount(
            &format!("{currency} team coverage"),
            &Value::String(cost[&currency].clone()),
            &text(&r[1]),
        );
        owner_team_rows += r[3].as_u64().unwrap();
    }
    // Resources are counted across currencies: an id is one resource.
    let resources = duckdb(&format!(
        "SELECT count(DISTINCT resource), count(DISTINCT resource) FILTER (WHERE team_tag) FROM {} WHERE resource <> ''",
        raw(&f.estate)
    ));
    assert_eq!(team["total_resources"], resources[0][0]);
    assert_eq!(team["resources"], resources[0][1]);

    // The alias rule `team: [owner-team, ...]` fired once for every row spelled owner-team.
    let hits = report["rule_hits"].as_array().unwrap();
    let alias = hits.iter().find(|h| h["rule"] == "keys.team").unwrap();
    assert_eq!(alias["rows"].as_u64().unwrap(), owner_team_rows);
    assert!(owner_team_rows > 0);

    // Unallocated per period, and the change in points against the period before.
    let per_period = duckdb(&format!(
        "SELECT currency, period, \
           sum(CASE WHEN team_tag OR cmdb_account OR cmdb_resource THEN 0 ELSE effective END)::VARCHAR, \
           sum(effective)::VARCHAR FROM {} GROUP BY 1, 2 ORDER BY 1, 2",
        raw(&f.estate)
    ));
    let periods = report["periods"].as_array().unwrap();
    assert_eq!(periods.len(), per_period.len());
    for (i, (p, r)) in periods.iter().zip(&per_period).enumerate() {
        assert_eq!((text(&p["unallocated"]["currency"]), text(&p["period"])), (text(&r[0]), text(&r[1])));
        assert_amount("period unallocated", &p["unallocated"]["effective_cost"], &text(&r[2]));
        let share = units(&text(&r[2])) as f64 / units(&text(&r[3])) as f64;
        if i > 0 && per_period[i - 1][0] == r[0] {
            let prev = &per_period[i - 1];
            let before = units(&text(&prev[2])) as f64 / units(&text(&prev[3])) as f64;
            let change = p["change_points"].as_f64().unwrap();
            assert!((change - (share - before) * 100.0).abs() < 1e-9, "{change}");
        } else {
            assert_eq!(p["change_points"], Value::Null);
        }
    }
}

#[test]
fn explain_shows_every_rule_from_the_raw_value_to_the_final_one() {
    let f = fixture();
    // A resource whose team tag is spelled other than `team`, with a drifted value (owner-team
    // first: it takes an alias where `Team` takes only case folding).
    let found = duckdb(&format!(
        "SELECT id, e.key, e.value FROM (SELECT line_item_resource_id AS id, unnest(map_entries(resource_tags)) AS e \
           FROM read_parquet('{}/cur/*/data/*/*.parquet')) \
         WHERE e.key IN ('user_Team', 'user_owner-team') AND e.value <> lower(trim(e.value)) \
         ORDER BY e.key DESC, id LIMIT 1",
        f.estate.display()
    ));
    let (id, raw_key, raw_team) = (text(&found[0][0]), text(&found[0][1]), text(&found[0][2]));
    let raw_key = raw_key.strip_prefix("user_").unwrap().to_string();
    let out = json(&f.ruled, &["quality", "--explain", &id]);
    let entries = out.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    let team = &entries[0]["explanation"]["dimensions"][0];
    assert_eq!(team["dimension"], "team");
    assert_eq!(team["source"], "tag");
    assert_eq!(team["origin"], Value::String(raw_key.clone()));
    assert_eq!(team["raw"], Value::String(raw_team.clone()));
    let want = raw_team.trim().to_lowercase();
    assert_eq!(team["value"], Value::String(want.clone()));
    let steps: Vec<(String, String, String, String)> = team["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (text(&s["label"]), text(&s["action"]), text(&s["from"]), text(&s["to"])))
        .collect();
    let first = match raw_key.as_str() {
        "owner-team" => ("keys.team".into(), "key alias".into(), raw_key.clone(), "team".into()),
        _ => (
            "keys: matched without regard to case".into(),
            "key folded".into(),
            raw_key.clone(),
            "team".into(),
        ),
    };
    let mut value = raw_team.clone();
    let mut expected = vec![first];
    if value.trim() != value {
        expected.push(("values[0] (team)".into(), "trim".into(), value.clone(), value.trim().into()));
        value = value.trim().to_string();
    }
    if value.to_lowercase() != value {
        expected.push(("values[0] (team)".into(), "lower-case".into(), value.clone(), want.clone()));
    }
    assert_eq!(steps, expected);
    // The team's account is in the CMDB too: its entry is shown as what the tag shadowed.
    assert_eq!(team["shadowed"][0], serde_json::json!(["cmdb_account", want]));

    let text_out = ok(&f.ruled, &["quality", "--explain", &id]);
    assert!(
        text_out.contains(&format!("team: \"{want}\" ← {raw_team:?} from tag ({raw_key})")),
        "{text_out}"
    );

    let out = costpilot(&f.ruled, &["quality", "--explain", "i-0nothere"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no row of the lake has ResourceId 'i-0nothere'\n"
    );
}

#[test]
fn allocations_sum_to_the_cent_per_period_and_currency() {
    let f = fixture();
    let a = json(&f.ruled, &["allocate"]);
    assert_eq!(a["dimension"], "business_unit");
    let truth = truth(&f.estate);
    let cents = |text: &str| {
        let u = units(text);
        let c = 10_000_000_000_000i128;
        (if u >= 0 { (u + c / 2) / c } else { (u - c / 2) / c }) as i64
    };
    let support = duckdb(&format!(
        "SELECT currency, period, sum(effective)::VARCHAR FROM {} WHERE service = 'AWS Support (Business)' GROUP BY 1, 2",
        raw(&f.estate)
    ));
    let mut pools_seen = 0;
    for p in a["periods"].as_array().unwrap() {
        let (period, currency) = (text(&p["period"]), text(&p["currency"]));
        let t = truth["periods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["billing_period"] == period.as_str() && t["currency"] == currency.as_str())
            .unwrap();
        assert_eq!(
            p["total_cents"].as_i64().unwrap(),
            cents(&text(&t["effective_cost"])),
            "{period} {currency}"
        );
        let sum = |v: &Value| v.as_array().unwrap().iter().map(|s| s["cents"].as_i64().unwrap()).sum::<i64>();
        for pool in p["pools"].as_array().unwrap() {
            assert_eq!(sum(&pool["shares"]), pool["amount_cents"].as_i64().unwrap(), "{pool}");
            pools_seen += 1;
            if pool["name"] == "support" {
                let s = support.iter().find(|r| text(&r[0]) == currency && text(&r[1]) == period).unwrap();
                assert_eq!(pool["amount_cents"].as_i64().unwrap(), cents(&text(&s[2])));
                // Proportional to direct spend: every share within a cent of its exact part.
                let direct: BTreeMap<String, i64> = p["direct"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (text(&s["value"]), s["cents"].as_i64().unwrap()))
                    .collect();
                let weight: i64 = direct.values().filter(|c| **c > 0).sum();
                let amount = pool["amount_cents"].as_i64().unwrap();
                for s in pool["shares"].as_array().unwrap() {
                    let exact = amount as f64 * direct[&text(&s["value"])].max(0) as f64 / weight as f64;
                    assert!((s["cents"].as_i64().unwrap() as f64 - exact).abs() < 1.0, "{s} vs {exact}");
                }
            }
        }
        assert_eq!(
            sum(&p["totals"])
                + p["unallocated_cents"].as_i64().unwrap()
                + p["rounding_cents"].as_i64().unwrap(),
            p["total_cents"].as_i64().unwrap(),
            "{period} {currency}"
        );
    }
    assert!(pools_seen >= 4, "{a}");
    let csv = ok(&f.ruled, &["allocate", "--format", "csv"]);
    assert!(csv.starts_with("period,currency,business_unit,part,amount\n"), "{csv}");
}

#[test]
fn suggestions_carry_the_cost_they_allocate_and_apply_only_when_accepted() {
    let f = fixture();
    let out = f.bare.join("suggested.yaml");
    let s = json(&f.bare, &["quality", "--suggest", "--out", out.to_str().unwrap()]);
    assert!(!f.bare.join("rules/tags.yaml").exists(), "a suggestion was put in force");
    let alias = s["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "alias" && s["to"] == "team")
        .unwrap_or_else(|| panic!("no team alias: {s}"));
    assert_eq!(alias["from"], serde_json::json!(["owner-team"]));
    // The cost it would allocate: rows spelled owner-team, which never carry `team` too.
    let duck = duckdb(&format!(
        "SELECT currency, round(sum(effective), 2)::VARCHAR FROM {} WHERE owner_team_tag GROUP BY 1 ORDER BY 1",
        raw(&f.estate)
    ));
    let want: Vec<(String, String)> = duck.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    let got: Vec<(String, String)> = alias["cost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (text(&c["currency"]), text(&c["amount"])))
        .collect();
    assert_eq!(got, want);

    let before = json(&f.bare, &["quality"]);
    ok(&f.bare, &["rules", "apply", "tags", out.to_str().unwrap()]);
    let after = json(&f.bare, &["quality"]);
    for (currency, amount) in &want {
        let u = |r: &Value| units(&by_currency(&r["unallocated"], "effective_cost")[currency]);
        let fell = u(&before) - u(&after);
        // The owner-team rows are now allocated (and the case rule changes no allocation).
        let c = 10_000_000_000_000i128;
        assert!((fell - units(amount)).abs() <= c / 2, "{currency}: fell by {fell}, want {amount}");
    }
}

fn fails(data_dir: &Path, args: &[&str], message: &str) {
    let out = costpilot(data_dir, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"), "{args:?}");
}

#[test]
fn bad_rules_files_are_refused_with_line_and_column_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write("good.yaml", "version: 1\nkeys:\n  team: [owner-team]\n");
    let applied = json(&data, &["rules", "apply", "tags", good.to_str().unwrap()]);
    assert_eq!(applied["version"], 1);
    assert_eq!(applied["unchanged"], false);
    let again = json(&data, &["rules", "apply", "tags", good.to_str().unwrap()]);
    assert_eq!((again["version"].as_u64(), again["unchanged"].as_bool()), (Some(1), Some(true)));
    let in_force = hash_tree(&data);

    let cases = [
        (
            "syntax.yaml",
            "version: 1\nkeys:\n  team: [owner-team\n",
            "did not find expected ',' or ']' at line 4 column 1, while parsing a flow sequence at line 3 column 9",
        ),
        (
            "unknown.yaml",
            "version: 1\nkey:\n  team: [owner-team]\n",
            "unknown field `key`, expected one of `version`, `dimensions`, `owner_dimension`, `keys`, `values`, `virtual`, `defaults`",
        ),
        (
            "cycle.yaml",
            "version: 1\nkeys:\n  team: [squad]\n  squad: [team]\n",
            "cyclic aliases: squad → team → squad",
        ),
    ];
    for (name, body, message) in cases {
        let p = write(name, body);
        let (line, column) = match name {
            "syntax.yaml" => (4, 1),
            "unknown.yaml" => (2, 1),
            _ => (3, 10),
        };
        fails(
            &data,
            &["rules", "apply", "tags", p.to_str().unwrap()],
            &format!("{}:{line}:{column}: {message}", p.display()),
        );
        assert_eq!(hash_tree(&data), in_force, "{name} changed the rules in force");
    }
    let alloc = write(
        "alloc.yaml",
        "version: 1\npools:\n  - name: support\n    select: {services: [Support]}\n    method: fixed\n    percentages: {Retail: 60, Payments: 30}\n",
    );
    let out = costpilot(&data, &["rules", "apply", "allocation", alloc.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.starts_with(&format!("error: {}:6:", alloc.display())), "{err}");
    assert!(err.ends_with("pool 'support': percentages sum to 90, not 100\n"), "{err}");
    let missing = dir.path().join("missing.yaml");
    fails(
        &data,
        &["rules", "apply", "tags", missing.to_str().unwrap()],
        &format!("{}: No such file or directory (os error 2)", missing.display()),
    );
    let cmdb = write("cmdb.csv", "kind,id,team\naccount,1,payments\nvm,2,search\n");
    fails(
        &data,
        &["rules", "apply", "cmdb", cmdb.to_str().unwrap()],
        &format!("{}:3:1: row 2, column 'kind': 'vm' is not account or resource", cmdb.display()),
    );
    assert_eq!(hash_tree(&data), in_force);
}
