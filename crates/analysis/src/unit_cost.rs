//! Unit cost: EffectiveCost divided by a volume of a business metric (see
//! [`costpilot_query::business`]).
//!
//! [`unit_cost`] joins Σ EffectiveCost by time bucket, allocation dimensions and currency with Σ
//! of a metric by the same bucket and dimensions (the metric's dimension columns carry the names
//! of the rules' dimensions), and shows both inputs beside the quotient.

use costpilot_query::QueryError;
use costpilot_query::business::BUSINESS_TABLE;
use costpilot_query::columns::{amount, amounts, literal, opt_amount, strings, times};
use costpilot_query::dimensions::column_of;
use costpilot_query::semantic::{Grain, TimeRange};
use costpilot_query::session::LakeSession;
use serde::Serialize;

/// One bucket of unit cost.
#[derive(Debug, Clone, Serialize)]
pub struct UnitCost {
    /// The bucket's start (RFC 3339).
    pub bucket: String,
    /// The value of each requested dimension.
    pub dimensions: Vec<Option<String>>,
    /// BillingCurrency.
    pub currency: String,
    /// Σ EffectiveCost.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ of the metric.
    #[serde(serialize_with = "amount")]
    pub volume: i128,
    /// `effective_cost / volume`, exact to 10^-15; `None` when the volume is zero.
    #[serde(serialize_with = "opt_amount")]
    pub unit_cost: Option<i128>,
}

/// EffectiveCost per unit of `metric`, by `grain` and the allocation dimensions `by`, in `range`
/// when given. Buckets where either side has
/// nothing are left out: a unit cost needs both.
pub async fn unit_cost(
    session: &LakeSession,
    metric: &str,
    by: &[String],
    grain: Grain,
    range: Option<TimeRange>,
) -> Result<Vec<UnitCost>, QueryError> {
    let dims = session.resolver().dimensions();
    if let Some(bad) = by.iter().find(|d| !dims.contains(d)) {
        return Err(QueryError::Query(format!(
            "unit cost by '{bad}': not an allocation dimension; the rules have {}",
            dims.join(", ")
        )));
    }
    if session.context().table_exist(BUSINESS_TABLE)? {
        let known = session.sql(&format!("SELECT DISTINCT name FROM {BUSINESS_TABLE} ORDER BY 1")).await?;
        let names: Vec<String> = known
            .batches
            .iter()
            .map(|b| strings(b, 0))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        if !names.iter().any(|n| n == metric) {
            return Err(QueryError::Query(format!(
                "no business metric '{metric}'; imported: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            )));
        }
    } else {
        return Err(QueryError::Query(
            "no business metrics imported; import some with: costpilot metrics import FILE".into(),
        ));
    }
    let time = |column: &str| {
        let mut w = Vec::new();
        if let Some(r) = range {
            w.push(format!("{column} >= to_timestamp_micros({})", r.start));
            w.push(format!("{column} < to_timestamp_micros({})", r.end));
        }
        w
    };
    let g = grain.name();
    let cost_dims: Vec<String> =
        by.iter().enumerate().map(|(i, d)| format!("{} AS d{i}", column_of(d))).collect();
    let metric_dims: Vec<String> =
        by.iter().enumerate().map(|(i, d)| format!("dimensions['{d}'] AS d{i}")).collect();
    let keys: Vec<String> = (0..by.len()).map(|i| format!("d{i}")).collect();
    let on: Vec<String> = std::iter::once("c.b = m.b".to_string())
        .chain(keys.iter().map(|k| format!("c.{k} = m.{k}")))
        .collect();
    let select_keys = |prefix: &str| keys.iter().map(|k| format!(", {prefix}{k}")).collect::<String>();
    let mut cost_where = time("ChargePeriodStart");
    cost_where.extend(by.iter().map(|d| format!("{} IS NOT NULL", column_of(d))));
    let mut metric_where = time("timestamp");
    metric_where.push(format!("name = {}", literal(metric)));
    let sql = format!(
        "SELECT c.b, c.c, c.cost, m.v{ck} FROM \
           (SELECT date_trunc('{g}', ChargePeriodStart) AS b{cd}, BillingCurrency AS c, sum(EffectiveCost) AS cost \
            FROM focus {cw} GROUP BY 1{cg}, BillingCurrency) c \
         JOIN (SELECT date_trunc('{g}', timestamp) AS b{md}, sum(value) AS v FROM {BUSINESS_TABLE} {mw} GROUP BY 1{mg}) m \
           ON {on} \
         ORDER BY c.b{ck}, c.c",
        ck = select_keys("c."),
        cd = cost_dims.iter().map(|d| format!(", {d}")).collect::<String>(),
        md = metric_dims.iter().map(|d| format!(", {d}")).collect::<String>(),
        cg = keys.iter().map(|k| format!(", {k}")).collect::<String>(),
        mg = keys.iter().map(|k| format!(", {k}")).collect::<String>(),
        cw = where_clause(&cost_where),
        mw = where_clause(&metric_where),
        on = on.join(" AND "),
    );
    let result = session.sql(&sql).await?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let bucket = times(batch, 0)?;
        let currency = strings(batch, 1)?;
        let cost = amounts(batch, 2)?;
        let volume = amounts(batch, 3)?;
        let dims: Vec<Vec<Option<String>>> =
            (0..by.len()).map(|i| strings(batch, 4 + i)).collect::<Result<_, _>>()?;
        for r in 0..batch.num_rows() {
            let (c, v) = (cost[r].unwrap_or(0), volume[r].unwrap_or(0));
            out.push(UnitCost {
                bucket: bucket[r].map(costpilot_model::time::format_micros).unwrap_or_default(),
                dimensions: dims.iter().map(|d| d[r].clone()).collect(),
                currency: currency[r].clone().unwrap_or_default(),
                effective_cost: c,
                volume: v,
                unit_cost: divide(c, v),
            });
        }
    }
    Ok(out)
}

fn where_clause(parts: &[String]) -> String {
    if parts.is_empty() { String::new() } else { format!("WHERE {}", parts.join(" AND ")) }
}

/// `cost / volume` in units of 10^-15, rounded half away from zero; exact while the numbers fit.
fn divide(cost: i128, volume: i128) -> Option<i128> {
    if volume == 0 {
        return None;
    }
    const SCALE: i128 = 1_000_000_000_000_000;
    match cost.checked_mul(SCALE) {
        Some(n) => {
            let (q, r) = (n / volume, n % volume);
            let up = (r.abs() * 2 >= volume.abs()) as i128;
            Some(q + up * (n.signum() * volume.signum()))
        }
        None => Some((cost as f64 / volume as f64 * SCALE as f64).round() as i128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_is_exact_and_rounds_half_away_from_zero() {
        const U: i128 = 1_000_000_000_000_000;
        assert_eq!(divide(10 * U, 4 * U), Some(2_500_000_000_000_000));
        assert_eq!(divide(U, 3 * U), Some(333_333_333_333_333));
        assert_eq!(divide(2 * U, 3 * U), Some(666_666_666_666_667));
        assert_eq!(divide(-2 * U, 3 * U), Some(-666_666_666_666_667));
        assert_eq!(divide(U, 0), None);
    }
}
